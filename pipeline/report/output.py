"""A report written out: CSV files for spreadsheets and an accessible HTML page with charts.

CSV: one file per table, ``;``-separated, UTF-8 with a byte-order mark and CRLF line ends.
That is what Excel with Swedish settings opens by a double-click without an import dialogue:
it reads the BOM as UTF-8 (without it, å, ä and ö come out as Windows-1252 garbage) and splits
on ``;``, the list separator of the Swedish locale, where a ``,`` is the decimal comma. Counts
are plain digits so they stay numbers; masked counts are the text "färre än 5"; a cell that a
spreadsheet would run as a formula (``= + - @``) is neutralised as in the register's export.

HTML: ``index.html`` in the language of the report, with its CSS inline and each chart an
``<img>`` of its SVG file beside it: a figure whose caption is the chart's title, whose
``alt`` says what it shows, followed by the data table it was drawn from.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2

from pipeline.audience.importer import neutralise
from pipeline.i18n import _, current_language
from pipeline.report.tables import Report, Table, masked, show

PAGE = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(
    """<!doctype html>
<html lang="{{ language }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ report.title }}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Arial, sans-serif; margin: 0;
  color: #1a1a1a; background: #ffffff; line-height: 1.5; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.6rem; line-height: 1.25; }
h2 { font-size: 1.25rem; margin-top: 2.5rem; border-top: 1px solid #cccccc;
  padding-top: 1rem; }
figure { margin: 1rem 0; }
figure img { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 0.95rem; color: #333333; }
.table { overflow-x: auto; }
.table:focus { outline: 3px solid #1d1147; outline-offset: 2px; }
table { border-collapse: collapse; margin: 0.5rem 0; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: bold; padding: 0.25rem 0; }
th, td { border-bottom: 1px solid #cccccc; padding: 0.3rem 0.6rem; vertical-align: top; }
thead th { text-align: right; border-bottom: 2px solid #1a1a1a; }
thead th:first-child, tbody th { text-align: left; }
tbody th { font-weight: normal; }
td { text-align: right; white-space: nowrap; }
.note { font-size: 0.95rem; color: #333333; }
a { color: #1d1147; }
footer { font-size: 0.9rem; color: #333333; max-width: 60rem; margin: 0 auto;
  padding: 0 1rem 1rem; }
</style>
</head>
<body>
<main>
<h1>{{ report.title }}</h1>
{% for paragraph in report.lead %}
<p>{{ paragraph }}</p>
{% endfor %}
<nav aria-labelledby="contents"><h2 id="contents">{{ contents }}</h2>
<ul>
{% for table in report.tables %}
<li><a href="#{{ table.name }}">{{ table.title }}</a></li>
{% endfor %}
</ul>
</nav>
{% for table in report.tables %}
<section aria-labelledby="{{ table.name }}">
<h2 id="{{ table.name }}">{{ table.title }}</h2>
{% for chart in charts[table.name] %}
<figure>
<img src="{{ chart.name }}.svg" alt="{{ chart.summary }}">
<figcaption>{{ chart.title }}.{% if chart.table.has_masked %} {{ left_out }}{% endif %}</figcaption>
</figure>
{% endfor %}
{% if table.rows %}
<div class="table" role="region" aria-labelledby="caption-{{ table.name }}" tabindex="0">
<table>
<caption id="caption-{{ table.name }}">{{ table.title }}</caption>
<thead><tr>{% for heading in table.columns %}<th scope="col">{{ heading }}</th>{% endfor %}
</tr></thead>
<tbody>
{% for row in table.cells() %}
<tr><th scope="row">{{ row[0] }}</th>{% for cell in row[1:] %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}
</tbody>
</table>
</div>
{% else %}
<p>{{ empty }}</p>
{% endif %}
{% if table.note %}
<p class="note">{{ table.note }}</p>
{% endif %}
</section>
{% endfor %}
</main>
<footer><p>{{ made }}</p></footer>
</body>
</html>
""")


def write_csv(report: Report, folder: Path) -> list[Path]:
    """One CSV file per table in ``folder``; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for table in report.tables:
        path = folder / f"{table.name}.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as target:
            writer = csv.writer(target, delimiter=";", lineterminator="\r\n")
            writer.writerow([neutralise(c) for c in table.columns])
            writer.writerows([_csv_cell(cell, table) for cell in row] for row in table.rows)
        written.append(path)
    return written


def _csv_cell(cell: str | int | None, table: Table) -> str:
    if isinstance(cell, int) and not (table.people and masked(cell)):
        return str(cell)
    return neutralise(show(cell, table.people))


def write_html(report: Report, folder: Path, at: datetime, zone: ZoneInfo) -> list[Path]:
    """``index.html`` and one SVG file per chart in ``folder``; returns the files written."""
    from pipeline.report.charts import draw_chart
    from pipeline.report.tables import moment_label

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    charts: dict[str, list[object]] = {table.name: [] for table in report.tables}
    for chart in report.charts:
        path = folder / f"{chart.name}.svg"
        path.write_text(draw_chart(chart), encoding="utf-8")
        charts[chart.table.name].append(chart)
        written.append(path)
    page = PAGE.render(
        report=report, charts=charts, language=current_language(),
        contents=_("Contents"), empty=_("Nothing to count yet."),
        left_out=_("Counts under 5 are left out of the chart; the table says \"fewer than "
                   "5\" there."),
        made=_("Made %(when)s by newsletter report, from the register's aggregate counts "
               "only.") % {"when": moment_label(at, zone)})
    (folder / "index.html").write_text(page, encoding="utf-8")
    written.insert(0, folder / "index.html")
    return written
