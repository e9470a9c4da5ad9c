"""The board's identity and legal links on the service's pages, over real HTTP (uvicorn on
127.0.0.1): the logotype with its alt text linking to the board's site, the favicon, the
privacy notice and the accessibility statement in every footer, the privacy notice beside
every consent, links onward from the pages that end something, and no empty link or image
when ``[brand]`` is left out."""

from __future__ import annotations

import re
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

from pipeline.audience.store import Store
from pipeline.audience.tokens import Purpose, make_token
from pipeline.config import Config
from pipeline.settings import BrandSettings
from tests.conftest import ROOT
from tests.test_web_account import join, person
from tests.webserver import SECRET, csrf_of, local, outbox_mails, request, served, text_of

HOME = "https://www.lansstyrelsen.se/vastmanland"
PRIVACY = ("https://www.lansstyrelsen.se/vastmanland/om-oss/om-webbplatsen/"
           "behandling-av-personuppgifter.html")
ARCHIVE = "https://nyhetsbrev.lansstyrelsen.se/vastmanland/jamstalldhet"


class Elements(HTMLParser):
    """Every element's tag and attributes, and each link's text, in document order."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []
        self.links: list[tuple[str, str]] = []  # (href, text)
        self.open: list[str] = []  # the text of links being read
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {key: value or "" for key, value in attrs}
        self.found.append((tag, found))
        if tag == "a":
            self.open.append(found.get("href", ""))
            self.links.append((found.get("href", ""), ""))
        elif tag == "img" and self.open:
            self.links[-1] = (self.links[-1][0], self.links[-1][1] + found.get("alt", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.open:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        if self.open:
            self.links[-1] = (self.links[-1][0], self.links[-1][1] + data)

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.found if name == tag]


def links(page: str) -> dict[str, str]:
    """href → the link's text (an image's alt text counts as text)."""
    return {href: " ".join(text.split()) for href, text in Elements(page).links}




def pages(base: str, store: Store) -> dict[str, str]:
    token = make_token(SECRET, Purpose.PREFERENCES, person(store, "sara.ek@example.se").id)
    found = {path: request(f"{base}{path}") for path in (
        "/prenumerera", "/anslut", f"/installningar/{token}", "/avregistrera/trasig")}
    assert [status for status, _, _ in found.values()] == [200, 200, 200, 400]
    return {path: page for path, (_, _, page) in found.items()}


def test_every_page_has_the_logotype_linking_home_and_the_legal_links(web) -> None:
    base, store, _ = web
    for path, page in pages(base, store).items():
        html = Elements(page)
        [logo] = html.all("img")
        assert logo == {"src": "/material/logotyp.png", "alt": "Länsstyrelsen Västmanland",
                        "width": "200", "height": "48"}, path
        assert links(page)[HOME] == "Länsstyrelsen Västmanland", path  # the logotype, home
        assert {"rel": "icon", "type": "image/png", "href": "/material/favicon.png"} in \
            html.all("link"), path
        footer = page[page.index("<footer"):]
        assert links(footer) == {PRIVACY: "Så behandlar vi personuppgifter",
                                 f"{ARCHIVE}/tillganglighet/": "Tillgänglighetsredogörelse"}, path
        assert links(page)[f"{ARCHIVE}/"] == "Ett jämställt Västmanland", path


def test_the_service_serves_the_brand_files_itself_and_nothing_beside_them(web) -> None:
    base, _, _ = web
    for name in ("logotyp.png", "favicon.png", "klistermarke.png"):  # the letters link them
        with urllib.request.urlopen(f"{base}/material/{name}", timeout=30) as answer:
            assert answer.headers["Content-Type"] == "image/png", name
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
            assert answer.read() == (ROOT / "templates" / "brand" / name).read_bytes()
    for name in ("..%2Fnewsletter.toml", "..%2F..%2Fnewsletter.toml", "logotyp.PNG", "style.css",
                 "symbol.png"):
        assert request(f"{base}/material/{name}")[0] == 404, name
    _, headers, _ = request(f"{base}/prenumerera")
    policy = headers["content-security-policy"]
    assert policy.startswith("default-src 'self';") and "img-src" not in policy
    assert "http" not in policy  # no other origin may load anything into the pages


def test_consent_links_the_privacy_notice_where_data_is_collected(web) -> None:
    base, _, _ = web
    for path in ("/prenumerera", "/anslut"):
        page = request(f"{base}{path}")[2]
        [box] = [a for a in Elements(page).all("input") if a.get("id") == "consent"]
        assert box["aria-describedby"] == "consent-hint", path
        hint = re.search(r'<span class="hint" id="consent-hint">(.*?)</span>', page, re.S)
        assert hint is not None, path
        assert links(hint.group(1)) == {PRIVACY: "Så behandlar vi personuppgifter"}, path
        assert "version 2026-1" in hint.group(1), path


def test_pages_that_end_something_lead_to_the_archive_and_the_boards_site(web) -> None:
    base, store, outbox = web
    onward = {f"{ARCHIVE}/": "Läs tidigare nummer av Ett jämställt Västmanland",
              HOME: "Till webbplatsen för Länsstyrelsen Västmanland"}

    def main_links(page: str) -> dict[str, str]:
        return links(page[page.index("<main"):page.index("</main>")])

    form = request(f"{base}/prenumerera")[2]
    status, _, sent = request(f"{base}/prenumerera", {"csrf": csrf_of(form), "consent": "ja",
                                                       "email": "ny.lasare@example.se"})
    assert status == 200 and main_links(sent) == onward
    [mail] = outbox_mails(outbox)
    token = text_of(mail).split("/bekrafta/")[1].split()[0]
    confirm = request(f"{base}/bekrafta/{token}")[2]
    status, _, thanks = request(f"{base}/bekrafta/{token}", {"csrf": csrf_of(confirm)})
    assert status == 200 and "Tack!" in thanks and main_links(thanks) == onward

    status, joined = join(base, organisation="Sala kommun", org_number="222000-0018",
                          kind="kommun", contact_1_email="eva@sala.example", focus="makt",
                          consent="ja")
    assert status == 200 and main_links(joined) == onward

    token = make_token(SECRET, Purpose.UNSUBSCRIBE, person(store, "sara.ek@example.se").id)
    page = request(f"{base}/avregistrera/{token}")[2]
    status, _, left = request(f"{base}/avregistrera/{token}",
                              {"csrf": csrf_of(page), "scope": "*"})
    assert status == 200 and main_links(left) == onward


def test_without_brand_settings_no_link_or_image_is_empty(store: Store, config: Config,
                                                          tmp_path: Path) -> None:
    plain = local(config, tmp_path).model_copy(update={"brand": BrandSettings()})
    with served(plain, store) as base:
        for path in ("/prenumerera", "/anslut", "/avregistrera/trasig"):
            page = request(f"{base}{path}")[2]
            html = Elements(page)
            assert html.all("img") == [], path
            assert all(link.get("rel") != "icon" for link in html.all("link")), path
            assert all(href.startswith(("https://", "/", "#")) for href in links(page)), path
            assert all(text.strip() for text in links(page).values()), path
            assert HOME not in links(page) and PRIVACY not in links(page), path
            assert f"{ARCHIVE}/tillganglighet/" in links(page), path
            assert 'href=""' not in page and 'src=""' not in page, path
        form = request(f"{base}/prenumerera")[2]
        assert "Integritetsmeddelande, version 2026-1" in form
        status, _, sent = request(f"{base}/prenumerera", {
            "csrf": csrf_of(form), "consent": "ja", "email": "ny@example.se"})
        main = sent[sent.index("<main"):sent.index("</main>")]
        assert status == 200 and list(links(main)) == [f"{ARCHIVE}/"]
        assert request(f"{base}/material/logotyp.png")[0] == 404
