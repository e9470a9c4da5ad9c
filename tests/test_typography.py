"""Swedish typography (pipeline/typography.py): soft hyphens in long words, no break inside
times, dates and phone numbers; only in the text readers see, never where the checks, the
text part, the privacy check or the search index read."""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import pytest

from pipeline.archive import build_archive, publish_edition
from pipeline.config import Config
from pipeline.edition import build_edition
from pipeline.issue import load_issue
from pipeline.privacy import check_private
from pipeline.render import render_issue
from pipeline.render.markdown import render_markdown
from pipeline.typography import (
    SOFT_HYPHEN,
    Nowrap,
    hyphenate,
    swedish_date,
    typeset,
    without_soft_hyphens,
)
from tests.conftest import EXAMPLE, ROOT, visible

SHY = SOFT_HYPHEN


def _pieces(word: str) -> list[str]:
    return hyphenate(word).split(SHY)


@pytest.mark.parametrize("word", ["jämställdhetsintegrering", "könsuppdelad",
                                  "länsstyrelsernas", "försörjningsärenden",
                                  "Jämställdhetsmyndighetens"])
def test_long_words_get_soft_hyphens_with_four_letters_on_each_side(word: str) -> None:
    pieces = _pieces(word)
    assert len(pieces) > 1 and "".join(pieces) == word
    assert len(pieces[0]) >= 4 and len(pieces[-1]) >= 4


def test_known_compounds_break_where_swedish_allows() -> None:
    assert _pieces("jämställdhetsintegrering") == ["jämställd", "hets", "in", "te", "gre", "ring"]
    assert _pieces("könsuppdelad") == ["könsupp", "delad"]
    assert _pieces("länsstyrelsernas") == ["läns", "sty", "rel", "sernas"]


def test_short_words_and_words_with_a_soft_hyphen_stay_as_written() -> None:
    assert hyphenate("statistik") == "statistik"          # 9 letters: fits any line
    assert hyphenate("Nätverksträff") == "Nätverksträff"  # no allowed point 4 letters in
    assert hyphenate(f"jäm{SHY}ställdhetsintegrering") == f"jäm{SHY}ställdhetsintegrering"


def test_a_hyphenated_compound_is_hyphenated_part_by_part() -> None:
    out = typeset("<p>hem- och omsorgsarbetet, jämställdhets-integreringen</p>", Nowrap.CLASS)
    assert "hem- och omsorgs" in out
    assert f"hets-inte{SHY}" in out  # nothing beside the hard hyphen
    assert f"-{SHY}" not in out and f"{SHY}-" not in out


@pytest.mark.parametrize("text", [
    "09.00", "9:00", "kl. 17.00", "17.00–18.00", "9.15-10.45",
    "2027-03-05", "5 mars 2027", "tisdag 9 februari", "fredag 5 mars", "24–25 april",
    "Tisdagen den 9 februari 2027",
    "010-224 90 00", "+46 10 224 90 00", "020-50 50 50", "08-123 456 78",
])
def test_times_dates_and_phone_numbers_stay_on_one_line(text: str) -> None:
    html = f"<p>Vi ses {text}, tack.</p>"
    assert typeset(html, Nowrap.CLASS) == f'<p>Vi ses <span class="nobr">{text}</span>, tack.</p>'
    assert typeset(html, Nowrap.STYLE) == (
        f'<p>Vi ses <span style="white-space:nowrap">{text}</span>, tack.</p>')


@pytest.mark.parametrize("text", ["version 1.2.3", "127.0.0.1", "3,14", "år 2027", "21 86",
                                  "721 86 Västerås", "sidan 12", "COVID-19"])
def test_numbers_that_are_no_time_date_or_phone_number_are_left_alone(text: str) -> None:
    assert typeset(f"<p>{text}</p>", Nowrap.CLASS) == f"<p>{text}</p>"


UNTOUCHED = [
    '<a href="https://www.jamstalldhetsmyndigheten.se/jamstalldhetsintegrering/?t=09.00">',
    '<img alt="Jämställdhetsintegrering 09.00 010-224 90 00" src="images/x.png">',
    "<title>Jämställdhetsintegrering kl. 09.00</title>",
    "<style>.jämställdhetsintegrering { margin: 09.00px }</style>",
    "<script>const länsstyrelsernas = '09.00';</script>",
    "<code>jämställdhetsintegrering 09.00</code>", "<pre>länsstyrelsernas\n010-224 90 00</pre>",
    "<!-- jämställdhetsintegrering 09.00 -->", "<!--[if mso]><p>länsstyrelsernas</p><![endif]-->",
    "https://www.jamstalldhetsmyndigheten.se/jamstalldhetsintegrering/",
    "www.lansstyrelsernasexempel.se", "jamstalldhetsintegrering.example.se",
    "vastmanland@lansstyrelsen.se", "jämställdhetsintegrering@kommunen.example",
    "{{reader_greeting_jämställdhetsintegrering}}", "&quot;",
    "<mj-head><mj-preview>Jämställdhetsintegrering kl. 09.00</mj-preview></mj-head>",
]


@pytest.mark.parametrize("piece", UNTOUCHED)
def test_tags_attributes_code_urls_and_addresses_do_not_change(piece: str) -> None:
    for mode in Nowrap:
        assert typeset(f"<div>{piece}</div>", mode) == f"<div>{piece}</div>"


def test_the_head_of_a_page_is_left_alone_and_the_body_is_set() -> None:
    page = ("<html><head><meta content=\"Jämställdhetsintegrering\"><title>Länsstyrelsernas"
            "</title></head><body><h1>Länsstyrelsernas jämställdhetsintegrering</h1></body>")
    out = typeset(page, Nowrap.CLASS)
    assert out.split("<body>")[0] == page.split("<body>")[0]
    assert out.count(SHY) > 4 and without_soft_hyphens(out) == page


def test_an_email_table_cell_keeps_soft_hyphens_but_may_break_anywhere() -> None:
    """A mail program without media queries cannot stack the table: a cell must not hold a
    line that cannot break. The archive stacks it and keeps times whole."""
    cell = "<td>09.00 jämställdhetsintegrering</td>"
    assert typeset(cell, Nowrap.STYLE) == f"<td>09.00 {hyphenate('jämställdhetsintegrering')}</td>"
    assert '<span class="nobr">09.00</span>' in typeset(cell, Nowrap.CLASS)
    assert "nowrap" in typeset(f"{cell}<p>09.00</p>", Nowrap.STYLE).split("</td>")[1]


def test_swedish_dates() -> None:
    from datetime import date

    assert swedish_date(date(2027, 3, 5)) == "5 mars 2027"
    assert swedish_date(date(2027, 2, 9), weekday=True) == "tisdag 9 februari 2027"


@pytest.fixture(scope="module")
def rendered(config: Config):
    return render_issue(load_issue(EXAMPLE, config), config)


def test_emails_and_the_web_version_are_set_and_the_text_part_is_not(rendered) -> None:
    for mail in rendered.variants.values():
        assert SHY in mail.html and "white-space:nowrap>010-224 90 00</span>" in mail.html
        assert SHY in mail.mjml  # the reference MJML in the conformance test sees the same
        assert SHY not in mail.text and "nowrap" not in mail.text
        preheader = re.search(r"<div style=display:none[^>]*>([^<]*)</div>", mail.html)
        assert preheader and SHY not in preheader.group(1)  # what the inbox shows
        assert SHY not in mail.subject
    web = rendered.web_html
    assert f"Kvin{SHY}no{SHY}frids{SHY}linjen" in web and '<span class="nobr">17.00</span>' in web
    head = web.split("</head>")[0]
    assert SHY not in head and "nobr" not in head


def test_what_the_checks_read_has_no_soft_hyphens(config: Config, rendered) -> None:
    """LIX, spelling, the words to avoid and link texts read the Markdown (and the text part
    is made from it); the typography comes after."""
    from pipeline.lint import check_issue
    from pipeline.plain import section_blocks

    issue = rendered.issue
    for section in issue.sections:
        body = render_markdown(section.body)
        assert SHY not in body.text and all(SHY not in link.text for link in body.links)
        assert all(SHY not in block.text for block in section_blocks(section))
    result = check_issue(EXAMPLE, config)
    assert all(SHY not in str(problem) for problem in result.problems)
    assert "jämställdhetsintegrering" in visible(rendered.web_html)


def test_the_privacy_check_reads_past_soft_hyphens(config: Config) -> None:
    planted = f"<p>Skriv till anna.lind{SHY}qvist@vas{SHY}teras.example eller 070-123&shy;45 67</p>"
    messages = [p.message for p in check_private(planted, config, "x.html")]
    assert messages == ["an email address (anna.lindqvist@vasteras.example) other than the "
                        "board's", "a phone number (070-12345 67) other than the board's"]


def test_the_search_index_holds_the_words_without_soft_hyphens(
        config: Config, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    site = config.model_copy(update={"root": tmp_path})
    publish_edition(build_edition(load_issue(EXAMPLE, site), site), site)
    build_archive(site)
    page = (tmp_path / "archive" / "2027" / "1" / "index.html").read_text(encoding="utf-8")
    assert f"Kvin{SHY}no{SHY}frids{SHY}linjen" in page  # the page has them …
    index = b"".join(gzip.decompress(f.read_bytes())
                     for f in (tmp_path / "archive" / "pagefind").rglob("*.pf_*"))
    assert SHY.encode() not in index  # … the index (words and excerpts) does not
    assert b"kvinnofridslinj" in index  # the word, stemmed, whole
    assert b"ringa Kvinnofridslinjen p" in index and "jämställdhetsintegrering".encode() in index
    assert b"Datum: " not in index  # the table cells' labels are not indexed
