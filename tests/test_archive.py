"""The public archive: frozen issue pages, the pages and feeds around them, no personal data."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import feedparser
import pytest

from pipeline.archive import ArchiveError, build_archive, publish_edition
from pipeline.config import Config
from pipeline.edition import build_edition
from pipeline.issue import load_issue
from pipeline.render import VariantKey, render_issue
from pipeline.settings import WelcomeItem
from tests.conftest import EXAMPLE, ROOT, visible, write_second_issue


@pytest.fixture
def site(tmp_path: Path, config: Config) -> Config:
    """A project copy whose archive/ starts empty."""
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    shutil.copytree(EXAMPLE, tmp_path / "issues" / "2027-1")
    return config.model_copy(update={"root": tmp_path})


def _edition(site: Config):
    """The issue as an edition (rendered once, as `approve` does), not stored."""
    return build_edition(load_issue(site.root / "issues" / "2027-1", site), site)


def test_publish_freezes_an_accessible_private_page(site: Config) -> None:
    result = publish_edition(_edition(site), site)
    assert result.status == "published"
    page = visible((result.folder / "index.html").read_text(encoding="utf-8"))
    assert result.folder == site.root / "archive" / "2027" / "1"
    assert '<html lang="sv">' in page
    assert 'http-equiv="Content-Security-Policy"' in page and "script-src 'self'" in page
    assert "<style" not in page and " style=" not in page  # CSP: styles from style.css only
    assert f'<link rel="canonical" href="{site.archive_url}/2027/1/">' in page
    assert '<meta property="og:title" content="Nytt år, nya möjligheter' in page
    assert '<a class="skip" href="#innehall">' in page and '<main id="innehall"' in page
    assert 'href="../../tillganglighet/index.html">Tillgänglighetsredogörelse</a>' in page
    assert 'alt="Sex personer samtalar runt ett bord' in page
    assert re.search(r'<img src="images/natverk.jpg" alt="[^"]+" width="550" height="\d+">',
                     page)
    for url in re.findall(r'(?:href|src)="([^"]+)"', page):
        assert not url.startswith("/"), url  # relative: servable from any base path
    assert "{{" not in page and "avregistrera" not in page
    assert (result.folder / "images" / "natverk.jpg").stat().st_size > 0
    assert "Kartläggning om våld" in visible(
        (result.folder / "meta.json").read_text(encoding="utf-8"))


def test_a_published_page_is_the_record_and_changes_need_force(site: Config) -> None:
    publish_edition(_edition(site), site)
    assert publish_edition(_edition(site), site).status == "unchanged"
    section = site.root / "issues" / "2027-1" / "01-ledare.md"
    section.write_text(section.read_text().replace("Trevlig läsning!", "Ha det gott!"))
    with pytest.raises(ArchiveError, match=r"already published and the page would change "
                                           r"\(2 line\(s\)\).*--force"):
        publish_edition(_edition(site), site)
    result = publish_edition(_edition(site), site, force=True)
    assert result.status == "replaced"
    assert any("Ha det gott!" in line for line in result.changes if line.startswith("+"))


def test_build_writes_index_year_feeds_sitemap_and_statement(site: Config) -> None:
    publish_edition(_edition(site), site)
    files = build_archive(site)
    root = site.root / "archive"
    assert {p.relative_to(root).as_posix() for p in files} == {
        "index.html", "2027/index.html", "tillganglighet/index.html", "feed.xml", "atom.xml",
        "sitemap.xml", "style.css", "site.js", "sok/index.html", "sok/search.js",
        "material/logotyp.png", "material/favicon.png", "material/klistermarke.png"}
    assert (root / "pagefind" / "pagefind.js").exists()  # the search index
    index = visible((root / "index.html").read_text(encoding="utf-8"))
    assert '<a href="2027/1/index.html">Nytt år, nya möjligheter för ett jämställt län</a>' \
        in index
    assert "16 februari 2027" in index and "Vårens spridningskonferens, nytt nätverk" in index
    assert 'href="https://nyhetsbrev.lansstyrelsen.se/vastmanland/prenumerera"' in index
    assert "Tillgänglighetsredogörelse för arkivet" in visible(
        (root / "tillganglighet" / "index.html").read_text(encoding="utf-8"))
    for name in ("feed.xml", "atom.xml"):
        feed = feedparser.parse((root / name).read_bytes())
        assert not feed.bozo, feed.bozo_exception
        entry = feed.entries[0]
        assert entry.link == f"{site.archive_url}/2027/1/"
        content = visible(entry.content[0].value)
        assert f'src="{site.archive_url}/2027/1/images/natverk.jpg"' in content
        assert "Mäns våld mot kvinnor ska upphöra" in content
    urls = [e.text for e in ET.parse(root / "sitemap.xml").getroot()
            if e.tag.endswith("url") for e in e]
    assert f"{site.archive_url}/2027/1/" in urls and f"{site.archive_url}/" in urls


def test_personal_data_fails_publish_and_build(site: Config) -> None:
    section = site.root / "issues" / "2027-1" / "01-ledare.md"
    original = section.read_text()
    section.write_text(original + "\nHör av dig till anna.lindqvist@vasteras.example.\n")
    with pytest.raises(ArchiveError) as caught:
        publish_edition(_edition(site), site)
    assert "an email address (anna.lindqvist@vasteras.example) other than the board's" in \
        str(caught.value.problems[0])
    section.write_text(original)
    result = publish_edition(_edition(site), site)
    build_archive(site)
    before = (site.root / "archive" / "index.html").read_text(encoding="utf-8")
    page = result.folder / "index.html"  # planted after publishing, as a mistake would be
    page.write_text(page.read_text() + '\n<a href="https://x.se/avregistrera/'
                    'eyJ0b2tlbiI6MX0.abcdefgh">x</a>\n')
    with pytest.raises(ArchiveError, match="personal data in the archive; nothing was written"
                       ) as caught:
        build_archive(site)
    assert [p.message for p in caught.value.problems] == ["a personal link token"]
    assert (site.root / "archive" / "index.html").read_text(encoding="utf-8") == before


def _publish_both(site: Config) -> None:
    publish_edition(_edition(site), site)
    second = write_second_issue(site.root)
    publish_edition(build_edition(load_issue(second, site), site), site)


def test_the_brand_files_are_published_byte_for_byte_and_shown(site: Config) -> None:
    publish_edition(_edition(site), site)
    build_archive(site)
    root = site.root / "archive"
    for file in site.material_files().values():
        name = Path(file).name
        assert (root / "material" / name).read_bytes() == (ROOT / "templates" / file).read_bytes()
        assert site.material_url(file) == f"{site.archive_url}/material/{name}"
    for page, up in (("index.html", ""), ("2027/index.html", "../"),
                     ("2027/1/index.html", "../../"), ("sok/index.html", "../")):
        html = (root / page).read_text(encoding="utf-8")
        assert f'<link rel="icon" type="image/png" href="{up}material/favicon.png">' in html
        assert (f'<a href="{site.brand.home_url}"><img src="{up}material/logotyp.png" '
                'alt="Länsstyrelsen Västmanland" width="200"></a>') in html
        assert f'<a href="{site.brand.privacy_url}">Så behandlar vi person' in html
    (root / "material" / "gammal.png").write_bytes(b"stale")  # replaced by the next build
    build_archive(site)
    assert not (root / "material" / "gammal.png").exists()


@pytest.mark.parametrize(("name", "content", "why"), [
    ("broschyr.pdf", b"%PDF-1.4 anna@example.se", "not a JPEG, PNG, GIF or WebP image nor a "
     "text file (.csv, .md, .txt), so the archive cannot check it for personal data; the "
     "archive would publish it as material/broschyr.pdf"),
    ("kontakter.txt", "Ring Anna på 070-123 45 67".encode(),
     "a phone number (070-123 45 67) other than the board's"),
])
def test_material_the_archive_cannot_check_is_refused(site: Config, name: str, content: bytes,
                                                      why: str) -> None:
    (site.root / "templates" / "brand" / name).write_bytes(content)
    package = [WelcomeItem(text="Ett paket", download=f"brand/{name}")]
    odd = site.model_copy(update={"web": site.web.model_copy(
        update={"welcome_package": package})})
    publish_edition(_edition(odd), odd)
    with pytest.raises(ArchiveError, match="nothing was written") as caught:
        build_archive(odd)
    assert [p.message for p in caught.value.problems] == [why]
    assert not (site.root / "archive" / "material").exists()
    assert not (site.root / "archive" / "index.html").exists()


def test_publishing_an_issue_leaves_the_accessibility_statement_as_it_was(
        site: Config) -> None:
    publish_edition(_edition(site), site)
    build_archive(site)
    statement = site.root / "archive" / "tillganglighet" / "index.html"
    before = statement.read_bytes()
    second = write_second_issue(site.root)
    publish_edition(build_edition(load_issue(second, site), site), site)
    build_archive(site)
    assert "Nytt år" in (site.root / "archive" / "index.html").read_text(encoding="utf-8")
    assert "2027/2/index.html" in (site.root / "archive" / "index.html").read_text(
        encoding="utf-8")
    assert statement.read_bytes() == before
    assert re.search(r'uppdaterades senast <time datetime="\d{4}-\d{2}-\d{2}">\d{1,2} '
                     r"(?:januari|februari|mars|april|maj|juni|juli|augusti|september|oktober|"
                     r"november|december) \d{4}</time>\.", visible(before.decode()))


def test_the_build_marks_the_notices_already_over_in_the_stylesheet(site: Config) -> None:
    _publish_both(site)
    page = (site.root / "archive" / "2027" / "2" / "index.html").read_text(encoding="utf-8")
    assert '<section id="anmalan" class="notice" data-until="2027-05-20"' in page
    assert ('<span class="notice-urgent">Viktigt · </span><span class="notice-until">gäller '
            'till</span> <span class="nobr">20 maj 2027</span>') in page
    build_archive(site, today=date(2027, 3, 5))  # the first issue's notice on its last day
    css = (site.root / "archive" / "style.css").read_text(encoding="utf-8")
    assert css == (ROOT / "templates" / "archive" / "style.css").read_text(encoding="utf-8")
    build_archive(site, today=date(2027, 5, 20))  # the second's last day: still urgent
    css = (site.root / "archive" / "style.css").read_text(encoding="utf-8")
    assert 'data-until="2027-03-05"' in css and 'data-until="2027-05-20"' not in css
    build_archive(site, today=date(2027, 5, 21))
    css = (site.root / "archive" / "style.css").read_text(encoding="utf-8")
    assert ('section.notice.expired .notice-urgent, section.notice[data-until="2027-03-05"] '
            '.notice-urgent, section.notice[data-until="2027-05-20"] .notice-urgent {') in css
    assert 'section.notice.expired, section.notice[data-until="2027-03-05"], ' \
           'section.notice[data-until="2027-05-20"] {' in css


def test_a_notice_already_over_when_the_issue_went_out_is_not_urgent(site: Config) -> None:
    section = site.root / "issues" / "2027-1" / "02-anmalan-konferens.md"
    section.write_text(section.read_text().replace("until: 2027-03-05", "until: 2027-02-10"))
    page = _edition(site).web_page
    assert 'class="notice expired" data-until="2027-02-10"' in page
    assert '<span class="notice-until">gällde till</span>' in page


_ENGLISH = re.compile(r"\b(?:January|February|March|April|May|June|July|August|September|"
                      r"October|November|December|Monday|Tuesday|Wednesday|Thursday|Friday|"
                      r"Saturday|Sunday|(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Mon|Tue|"
                      r"Wed|Thu|Fri|Sat|Sun)\.?)\b")


def test_weekdays_and_months_are_swedish_wherever_people_read_them(site: Config) -> None:
    """Machine dates keep their formats: RFC 822 in RSS's pubDate, ISO in Atom and in
    datetime attributes."""
    _publish_both(site)
    build_archive(site)
    root = site.root / "archive"
    for path in [*root.rglob("*.html"), root / "feed.xml", root / "atom.xml"]:
        text = visible(path.read_text(encoding="utf-8"))
        if path.name == "feed.xml":
            stamps = re.findall(r"<pubDate>(.*?)</pubDate>", text)
            assert stamps and all(re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d "
                                               r"[+-]\d{4}", s) for s in stamps)
            text = re.sub(r"<pubDate>.*?</pubDate>", "", text)
        assert _ENGLISH.findall(text) == [], path
    index = visible((root / "index.html").read_text(encoding="utf-8"))
    assert '<time datetime="2027-05-11">11 maj 2027</time>' in index
    assert '<time datetime="2027-02-16">16 februari 2027</time>' in index
    assert "16 februari 2027" in visible((root / "feed.xml").read_text(encoding="utf-8"))
    for folder in (site.root / "issues" / "2027-1", site.root / "issues" / "2027-2"):
        for mail in render_issue(load_issue(folder, site), site).variants.values():
            for text in (visible(mail.html), mail.text):
                assert _ENGLISH.findall(text) == []
    second = render_issue(load_issue(site.root / "issues" / "2027-2", site), site)
    mail = second.variants[VariantKey("general")]
    assert "gäller till 20 maj 2027" in visible(mail.html) and "torsdag 20 maj 2027" in mail.text


def test_two_builds_at_once_take_turns(site: Config, monkeypatch) -> None:
    """Two deliveries publishing in the same minute both rebuild archive/: one waits for the
    other (a lock on the folder), so neither removes material/ under the other's feet."""
    import threading

    import pipeline.archive

    publish_edition(_edition(site), site)
    real = pipeline.archive.write_material
    inside, most = [0], [0]
    arrived = threading.Event()

    def watched(config: Config, root: Path) -> list[Path]:
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        if inside[0] == 2:
            arrived.set()
        else:
            arrived.wait(2)  # time for the other build to come in, if nothing stops it
        try:
            return real(config, root)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(pipeline.archive, "write_material", watched)
    failures: list[BaseException] = []

    def build() -> None:
        try:
            build_archive(site)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert failures == [] and most[0] == 1
    assert (site.root / "archive" / "material" / "logotyp.png").is_file()
