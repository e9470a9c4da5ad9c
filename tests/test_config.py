"""newsletter.toml is validated like an issue: every problem with its line."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.errors import ConfigError, Severity
from pipeline.settings import Rule
from tests.conftest import ROOT

BAD_EMAIL = 'email = "vastmanland"'
SOURCE = (ROOT / "newsletter.toml").read_text(encoding="utf-8")


RULES = [str(rule) for rule in Rule]


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "newsletter.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [str(p).replace(f"{path}", "newsletter.toml") for p in caught.value.problems]


def _line(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_shipped_config_is_valid() -> None:
    config = load_config(ROOT / "newsletter.toml")
    assert [s.slug for s in config.segments] == ["connected", "general"]
    assert len(config.focus_areas) == 6
    assert config.timezone == "Europe/Stockholm"
    assert config.check.level(Rule.SUBJECT_LENGTH) is Severity.WARNING
    assert config.check.level(Rule.LINK_TEXT) is Severity.ERROR


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    text = (SOURCE.replace('timezone = "Europe/Stockholm"', 'timezone = "Europe/Västerås"')
            .replace('archive_url = "https://', 'archive_url = "http://')
            .replace('email = "vastmanland@lansstyrelsen.se"', 'email = "vastmanland"', 1)
            .replace('slug = "halsa"', 'slug = "Hälsa"')
            .replace('subject-length = "warning"', 'subject-lenght = "warning"'))
    assert sorted(_problems(tmp_path, text)) == sorted([
        f"newsletter.toml:{_line(text, 'archive_url =')}: archive_url: 'http://nyhetsbrev."
        "lansstyrelsen.se/vastmanland/jamstalldhet' must be an absolute https:// URL",
        f"newsletter.toml:{_line(text, 'subject-lenght')}: check.severity.subject-lenght: "
        f"must be one of: {', '.join(RULES[:-1])} or {RULES[-1]}",
        f"newsletter.toml:{_line(text, 'Hälsa')}: focus_areas[4].slug: 'Hälsa' is not a slug "
        "(lower-case letters, digits and hyphens)",
        f"newsletter.toml:{_line(text, BAD_EMAIL)}: sender.email: "
        "'vastmanland' is not an email address",
        f"newsletter.toml:{_line(text, 'timezone')}: timezone: unknown time zone "
        "'Europe/Västerås'; use an IANA name such as 'Europe/Stockholm'",
    ])


def test_a_reader_link_base_must_be_ascii_and_says_how_to_write_it(tmp_path: Path) -> None:
    """web_url goes into every message's List-Unsubscribe header as it is, and a header is
    ASCII: with a non-ASCII one no message of a delivery could be built."""
    before = re.search(r'web_url = "[^"]*"', SOURCE)
    assert before is not None
    text = SOURCE.replace(before.group(), 'web_url = "https://jämställt.example/läs"')
    assert _problems(tmp_path, text) == [
        f"newsletter.toml:{_line(text, 'web_url =')}: web_url: 'https://jämställt.example/läs'"
        " must be written in ASCII, as mail headers carry it: write it as "
        "https://xn--jmstllt-5wad.example/l%C3%A4s"]


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    text = SOURCE.replace('language = "sv"', 'language = "sv')
    assert _problems(tmp_path, text) == [
        f"newsletter.toml:{_line(text, 'language')}: toml: Illegal character '\\n'; check the "
        "quotation marks, brackets and = on this line"]


def test_duplicate_focus_slugs_are_refused(tmp_path: Path) -> None:
    text = SOURCE.replace('slug = "vald"', 'slug = "halsa"')
    assert _problems(tmp_path, text) == [
        "newsletter.toml:1: (file): focus_areas: duplicate slug(s) halsa"]


def test_missing_config_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found; run from the project folder"):
        load_config(tmp_path / "nope.toml")


def test_no_pydantic_wording_reaches_the_reader(tmp_path: Path) -> None:
    text = (ROOT / "newsletter.toml").read_text(encoding="utf-8")
    text = (text.replace('weekday = "tuesday"', 'weekday = "tisdag"')
            .replace("lix_max = 50", 'lix_max = "femtio"'))
    assert sorted(_problems(tmp_path, text)) == sorted([
        f"newsletter.toml:{_line(text, 'tisdag')}: schedule.weekday: must be one of: monday, "
        "tuesday, wednesday, thursday, friday, saturday or sunday",
        f"newsletter.toml:{_line(text, 'femtio')}: check.plain.lix_max: write a number, such "
        "as 1.5"])


def test_brand_files_must_be_images_in_the_templates_folder_and_the_logo_needs_alt_text(
        tmp_path: Path) -> None:
    (tmp_path / "templates" / "brand").mkdir(parents=True)
    for name in ("logotyp.png", "favicon.png"):
        (tmp_path / "templates" / "brand" / name).write_bytes(b"\x89PNG")
    text = SOURCE.replace('logo_alt = "Länsstyrelsen Västmanland"', 'logo_alt = " "')
    assert _problems(tmp_path, text) == [
        f"newsletter.toml:{_line(text, '[brand]')}: brand: brand.logo needs logo_alt: the "
        "board's name, as the logotype says it"]
    assert _problems(tmp_path, SOURCE) == [
        f"newsletter.toml:{_line(SOURCE, 'logo = ')}: brand.logo: 'brand/logotyp.png' "
        "is not a PNG or JPEG image",
        f"newsletter.toml:{_line(SOURCE, 'favicon = ')}: brand.favicon: "
        "'brand/favicon.png' is not a PNG or JPEG image",
        f"newsletter.toml:{_line(SOURCE, 'welcome_package = ')}: web.welcome_package[0].download: "
        "'brand/klistermarke.png' is not a file in the templates folder "
        f"({tmp_path / 'templates'}); give its path from there, e.g. brand/klistermarke.png"]
    for name in ("logotyp.png", "favicon.png", "klistermarke.png"):
        (tmp_path / "templates" / "brand" / name).write_bytes(
            (ROOT / "templates" / "brand" / name).read_bytes())  # the real images
    text = SOURCE.replace('favicon = "brand/favicon.png"', 'favicon = "../favicon.png"')
    assert _problems(tmp_path, text) == [
        f"newsletter.toml:{_line(text, 'favicon = ')}: brand.favicon: '../favicon.png' is not a "
        f"file in the templates folder ({tmp_path / 'templates'}); give its path from there, "
        "e.g. brand/favicon.png"]
    outside = tmp_path / "outside"  # a linked folder would publish what is outside
    outside.mkdir()
    shutil.copy(ROOT / "templates" / "brand" / "logotyp.png", outside / "hemlig.png")
    (tmp_path / "templates" / "ext").symlink_to(outside)
    text = SOURCE.replace('logo = "brand/logotyp.png"', 'logo = "ext/hemlig.png"')
    assert _problems(tmp_path, text) == [
        f"newsletter.toml:{_line(text, 'logo = ')}: brand.logo: 'ext/hemlig.png' is not a file "
        f"in the templates folder ({tmp_path / 'templates'}); give its path from there, e.g. "
        "brand/hemlig.png"]
    (tmp_path / "templates" / "brand" / "broschyr.pdf").write_bytes(b"%PDF-1.4")
    text = SOURCE.replace('download = "brand/klistermarke.png"', 'download = "brand/broschyr.pdf"')
    assert _problems(tmp_path, text) == [
        f"newsletter.toml:{_line(text, 'welcome_package = ')}: web.welcome_package[0].download: "
        "'brand/broschyr.pdf' is neither an image (JPEG, PNG, GIF, WebP) nor a text file (.csv, "
        ".md, .txt): the archive publishes only what it can check for personal data; link a "
        "PDF from the board's own site instead"]
    config = load_config(ROOT / "newsletter.toml")
    assert config.material_url(config.brand.logo or "") == (
        f"{config.archive_url}/material/logotyp.png")


def test_smtp_connections_is_a_whole_number_from_1_to_16(tmp_path: Path) -> None:
    assert load_config(ROOT / "newsletter.toml").delivery.smtp_connections == 1
    assert "smtp_connections = 1 " in SOURCE  # shipped, with a comment saying what it is for
    for value, problem in (("0", "must be 1 or more"), ("17", "must be 16 or less"),
                           ('"fyra"', "write a whole number, such as 1"),
                           ("2.5", "write a whole number, such as 1")):
        text = SOURCE.replace("smtp_connections = 1 ", f"smtp_connections = {value} ")
        assert _problems(tmp_path, text) == [
            f"newsletter.toml:{_line(text, 'smtp_connections')}: delivery.smtp_connections: "
            f"{problem}"]
    text = SOURCE.replace("smtp_connections = 1 ", "smtp_connections = 4 ")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")  # the brand's files
    path = tmp_path / "newsletter.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    assert config.delivery.smtp_connections == 4
    from pipeline.deliver.transports import open_transport

    transport = open_transport("smtp", config)
    assert transport.new_batch().endswith("-4")
