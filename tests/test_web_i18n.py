"""The service's texts: every string has its Swedish translation, placeholders match, the
reader's language is negotiated, and a missing translation falls back to English."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from pipeline import i18n
from pipeline.audience.store import Store
from pipeline.config import Config
from pipeline.i18n import LOCALES, negotiate
from tests.conftest import ROOT
from tests.webserver import request, served

SWEDISH = LOCALES / "sv" / "LC_MESSAGES" / "messages.po"


def source_messages() -> set[str]:
    """What `pybabel extract -F babel.cfg` would find: the code's and templates' msgids."""
    found: set[str] = set()
    for folder, method in ((ROOT / "pipeline", "python"),
                           (ROOT / "templates" / "service", "jinja2"),
                           (ROOT / "pipeline" / "studio" / "templates", "jinja2")):
        pattern = "**.py" if method == "python" else "**.j2"
        for _, _, message, _, _ in extract_from_dir(folder, [(pattern, method)]):
            found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_text_has_a_swedish_translation_and_none_is_stale() -> None:
    with SWEDISH.open("rb") as source:
        catalogue = read_po(source, locale="sv")
    translated = {m.id[0] if isinstance(m.id, tuple) else m.id: m
                  for m in catalogue if m.id}
    wanted = source_messages()
    assert len(wanted) > 60
    assert sorted(wanted - set(translated)) == [], "run pybabel update (see the .po header)"
    assert sorted(set(translated) - wanted) == [], "stale entries: run pybabel update"
    for message in translated.values():
        assert message.string and all(message.string) if isinstance(message.string, tuple) \
            else message.string, f"untranslated: {message.id}"
        assert not message.fuzzy, f"fuzzy: {message.id}"
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalogue.check()]
    assert problems == []  # e.g. %(name)s in the English but not in the Swedish


@pytest.mark.parametrize(("header", "language"), [
    (None, "sv"), ("", "sv"), ("en", "en"), ("en-GB,en;q=0.9", "en"), ("sv-SE,sv;q=0.9", "sv"),
    ("en;q=0.5, sv", "sv"), ("de-DE, en;q=0.3", "en"), ("de, fr", "sv"), ("*", "sv"),
    ("en;q=0", "sv"), ("en;q=nonsense, sv;q=0.1", "sv"),
])
def test_the_language_follows_accept_language(header: str | None, language: str) -> None:
    assert negotiate(header) == language


def test_pages_are_swedish_by_default_and_english_when_asked(store: Store, config: Config
                                                            ) -> None:
    with served(config, store) as base:
        status, headers, swedish = request(f"{base}/anslut")
        assert status == 200 and '<html lang="sv">' in swedish
        assert headers["content-language"] == "sv" and "Accept-Language" in headers["vary"]
        assert "Anslut er till länsstrategin" in swedish and "Hoppa till innehållet" in swedish
        _, headers, english = request(f"{base}/anslut", headers={"Accept-Language": "en"})
        assert '<html lang="en">' in english and headers["content-language"] == "en"
        assert "Join the regional strategy" in english and "Skip to content" in english
        assert "Anslut er" not in english


def test_a_missing_translation_falls_back_to_english(store: Store, config: Config,
                                                     tmp_path: Path, monkeypatch) -> None:
    shutil.copytree(LOCALES, tmp_path / "locale")
    path = tmp_path / "locale" / "sv" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as source:
        catalogue = read_po(source, locale="sv")
    trimmed = Catalog(locale="sv")
    for message in catalogue:
        if message.id and message.id != "Skip to content":
            trimmed.add(message.id, message.string, flags=message.flags)
    with path.open("wb") as target:
        write_po(target, trimmed)
    monkeypatch.setattr(i18n, "LOCALES", tmp_path / "locale")
    with served(config, store) as base:
        _, _, page = request(f"{base}/prenumerera")
    assert "Skip to content" in page  # the English source
    assert "Prenumerera på Ett jämställt Västmanland" in page  # the rest stays Swedish
