"""The HTML reports in headless Debian chromium: axe-core finds no WCAG 2.1 A/AA violation at
1280 and 320 px and nothing scrolls sideways, every chart is an SVG file chromium draws, with a
caption, a text alternative and its data table right after it; masked counts read "färre än 5"
in the page. The charts are the same bytes on every run. Screenshots in
test-artifacts/report/."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.audience.store import Store
from pipeline.config import Config
from pipeline.deliver.events import apply_events
from pipeline.i18n import use_language
from pipeline.report.issue import issue_report
from pipeline.report.output import write_html
from pipeline.report.strategy import strategy_report
from tests.conftest import ROOT, assert_accessible
from tests.test_report import AT, events_for, sent_issue, strategy_register

ARTIFACTS = ROOT / "test-artifacts" / "report"


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory, config: Config) -> dict[str, Path]:
    """Both reports written as HTML, in Swedish, from one hand-built register."""
    folder = tmp_path_factory.mktemp("reports")
    store = Store.open(config, f"sqlite:///{folder / 'register.db'}")
    try:
        strategy_register(store)
        apply_events(store, events_for(store, sent_issue(store)))
        use_language("sv")
        write_html(strategy_report(store, config, AT), folder / "strategy", AT, config.zone)
        write_html(issue_report(store, config, "2026-3"), folder / "issue", AT, config.zone)
    finally:
        store.close()
        use_language("en")
    return {"strategy": folder / "strategy", "issue": folder / "issue"}


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 320])
@pytest.mark.parametrize("name", ["strategy", "issue"])
def test_the_report_page_is_accessible_with_its_charts(browser, pages: dict[str, Path],
                                                       name: str, width: int) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.goto((pages[name] / "index.html").as_uri(), wait_until="load")
        assert page.evaluate("document.documentElement.lang") == "sv"
        charts = page.evaluate("""() => [...document.querySelectorAll('figure')].map(f => {
            const img = f.querySelector('img');
            const next = f.parentElement.querySelector('figure ~ .table table');
            return {src: img.getAttribute('src'), alt: img.alt, width: img.naturalWidth,
                    caption: f.querySelector('figcaption').textContent,
                    table: next ? next.querySelector('caption').textContent : null};
        })""")
        assert len(charts) == (5 if name == "strategy" else 2)
        for chart in charts:
            assert chart["src"].endswith(".svg") and chart["width"] > 0, chart
            assert chart["alt"].endswith("siffrorna står i tabellen nedan.")
            assert chart["caption"] and chart["table"], chart
        assert "färre än 5" in page.inner_text("main")
        assert_accessible(page, ARTIFACTS / f"{name}-{width}.png", width)
    finally:
        page.close()


def test_charts_are_the_same_bytes_on_every_run(pages: dict[str, Path], config: Config,
                                                tmp_path: Path) -> None:
    from pipeline.report.charts import draw_chart

    use_language("sv")
    store = Store.open(config, f"sqlite:///{pages['strategy'].parent / 'register.db'}")
    try:
        report = strategy_report(store, config, AT)
    finally:
        store.close()
    for chart in report.charts:
        drawn = draw_chart(chart)
        assert drawn == (pages["strategy"] / f"{chart.name}.svg").read_text(encoding="utf-8")
        assert "<dc:date>" not in drawn and "<text" not in drawn  # text drawn as paths
