"""Rendering the example issue: golden files, variants, the text part, the .eml."""

from __future__ import annotations

import difflib
import email
import email.policy
import re
from pathlib import Path

import pytest

from pipeline.config import Config
from pipeline.issue import load_issue
from pipeline.render import Renderer, VariantKey, render_issue, variant_key, variant_keys
from pipeline.render.mime import build_message, check_header
from pipeline.render.personalise import SAMPLE_READER, Reader, address_as, personalise, unresolved
from tests.conftest import EXAMPLE, ROOT, visible

GOLDEN = ROOT / "tests" / "golden" / "2027-1"


@pytest.fixture(scope="module")
def rendered(config: Config):
    return render_issue(load_issue(EXAMPLE, config), config)


def _readable(text: str) -> list[str]:
    return text.replace("><", ">\n<").splitlines()


def test_golden_files(rendered, request: pytest.FixtureRequest) -> None:
    """Rendered output is stable; run pytest --update-golden after an intended change."""
    outputs = {"web.html": rendered.web_html}
    for key, mail in rendered.variants.items():
        outputs[f"{key.name}.html"] = mail.html
        outputs[f"{key.name}.txt"] = mail.text
    if request.config.getoption("--update-golden"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for stale in GOLDEN.iterdir():
            stale.unlink()
        for name, content in outputs.items():
            (GOLDEN / name).write_text(content, encoding="utf-8")
    assert sorted(p.name for p in GOLDEN.iterdir()) == sorted(outputs)
    for name, content in outputs.items():
        expected = (GOLDEN / name).read_text(encoding="utf-8")
        if content != expected:
            diff = "\n".join(difflib.unified_diff(_readable(expected), _readable(content),
                                                  "golden", "now", lineterm="", n=1))
            pytest.fail(f"{name} differs from tests/golden (pytest --update-golden if "
                        f"intended):\n{diff[:4000]}")


def test_variants_follow_the_sections_that_focus_areas_pick(config: Config) -> None:
    issue = load_issue(EXAMPLE, config)
    keys = variant_keys(issue, config)
    # Three tagged sections, each covering two areas: 2^3 - 1 connected variants, the one for
    # a connected reader without focus areas (an import may bring one), and general.
    assert len(keys) == 9
    assert keys[VariantKey("general")] == [frozenset()]
    assert keys[VariantKey("connected")] == [frozenset()]
    health = variant_key(issue, config, "connected", {"halsa"})
    assert health == VariantKey("connected", ("halsa-och-vald",))
    assert variant_key(issue, config, "connected", {"halsa", "vald"}) == health
    assert variant_key(issue, config, "general", {"halsa"}) == VariantKey("general")
    every_choice = [choice for key, choices in keys.items() if key.segment == "connected"
                    for choice in choices]
    assert len(every_choice) == 2 ** 6  # each choice (none too) in exactly one variant
    assert len(set(every_choice)) == len(every_choice)


def test_connected_variant_leads_to_its_focus_sections(rendered, config: Config) -> None:
    mail = rendered.variants[VariantKey("connected", ("halsa-och-vald",))]
    block = visible(mail.html).split("Ert fokus", 1)[1].split("</ul>", 1)[0]
    # Gmail's and Outlook's apps drop in-page anchors: the link opens the section on the web,
    # where the archive page has the same id.
    target = f"{rendered.issue.archive_url(config)}#halsa-och-vald"
    assert f'href="{target}"' in block or f"href={target}>" in block
    assert "Kartläggning om våld i försörjningsärenden" in block
    assert "Nätverk för makt" not in block
    assert 'id="halsa-och-vald"' in rendered.web_html
    assert 'href="#' not in mail.html and "href=#" not in mail.html
    assert "ERT FOKUS" in mail.text


def test_audience_decides_which_sections_a_segment_sees(rendered) -> None:
    general = visible(rendered.variants[VariantKey("general")].html)
    connected = visible(rendered.variants[VariantKey("connected", ("halsa-och-vald",))].html)
    assert "Anslut er till länsstrategin" in general
    assert "Anslut er till länsstrategin" not in connected
    assert "välkomstpaket" in connected and "Det här ingår i ert" not in general
    assert "Ert fokus" not in general
    general_text = rendered.variants[VariantKey("general")].text
    connected_text = rendered.variants[VariantKey("connected", ("halsa-och-vald",))].text
    assert "Du får nyhetsbrevet eftersom du prenumererar" in general_text
    assert "anslutit sig till länsstrategin" in connected_text


def test_every_message_has_its_fixed_parts(rendered, config: Config) -> None:
    archive = f"{config.archive_url}/2027/1/"
    assert rendered.issue.archive_url(config) == archive
    for mail in rendered.variants.values():
        assert f"href={archive}" in mail.html or f'href="{archive}"' in mail.html
        assert "Visa nyhetsbrevet i webbläsaren" in visible(mail.html)
        assert config.contact_line in visible(mail.html) and config.contact_line in mail.text
        for token in ("{{reader_greeting}}", "{{unsubscribe_url}}", "{{preferences_url}}"):
            assert token in mail.html and token in mail.text
        assert unresolved(mail.html) == []
        assert re.search(r"<html[^>]*\blang=\"?sv", mail.html)
        assert f"{archive}images/natverk.jpg" in mail.html  # images absolute in email
    assert 'src="images/natverk.jpg"' in rendered.web_html   # relative in the web version
    assert "{{" not in rendered.web_html and "avregistrera" not in rendered.web_html.lower()


def test_text_part_lists_links_and_reads_plainly(rendered) -> None:
    text = rendered.variants[VariantKey("general")].text
    assert "<" not in text.replace("<stream", "")
    assert "Läs gärna Jämställdhetsmyndighetens stöd för\njämställdhetsintegrering [1]" in text
    assert "[1] https://www.jamstalldhetsmyndigheten.se/jamstalldhetsintegrering/" in text
    assert "18 mars | Spridningskonferens | Västerås" in text
    assert "VIKTIGT · gäller till 5 mars 2027" in text
    assert all(len(line) <= 100 for line in text.splitlines() if "http" not in line)


def test_personalise_fills_tokens_and_escapes_html() -> None:
    reader = Reader("Ada & Co", "https://x.example/a?t=1&u=2", "https://x.example/p")
    html = personalise('<p>{{reader_greeting}}</p><a href="{{unsubscribe_url}}">', reader,
                       is_html=True)
    assert html == '<p>Hej Ada &amp; Co!</p><a href="https://x.example/a?t=1&amp;u=2">'
    text = personalise("{{reader_greeting}} {{unsubscribe_url}}", reader, is_html=False)
    assert text == "Hej Ada & Co! https://x.example/a?t=1&u=2"
    nameless = Reader("  ", "u", "p")
    assert personalise("{{reader_greeting}}", nameless, is_html=False) == "Hej!"


def test_eml_is_multipart_alternative_utf8_swedish(rendered, config: Config) -> None:
    mail = rendered.variants[VariantKey("general")]
    raw = build_message(mail, config, SAMPLE_READER, config.sender).as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["Content-Language"] == "sv"
    assert parsed["Subject"] == "Ett jämställt Västmanland nr 1 2027: konferens och nätverk"
    assert parsed["Message-ID"].endswith("@lansstyrelsen.se>")
    plain, html = parsed.iter_parts()
    assert plain.get_content_type() == "text/plain" and plain.get_content_charset() == "utf-8"
    assert html.get_content_type() == "text/html"
    assert "Hej Förnamn!" in plain.get_content() and "Hej Förnamn!" in html.get_content()
    assert "{{" not in html.get_content()


@pytest.mark.parametrize("value", ["a\r\nBcc: x@y", "a\nb", "a\0b", "a\u2028b", "a\x85b",
                                   "a\x0bb", "a\x0cb", "a\x7fb", "a\x1bb"])
def test_header_values_with_control_characters_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="cannot be sent in a mail header"):
        check_header("Subject", value)


def test_compile_once_per_distinct_mjml(config: Config, monkeypatch) -> None:
    import pipeline.render.email as module

    calls: list[str] = []
    real = module.compile_mjml
    monkeypatch.setattr(module, "compile_mjml", lambda s, t: calls.append(s) or real(s, t))
    renderer = Renderer(config)
    issue = load_issue(EXAMPLE, config)
    key = VariantKey("general")
    first = renderer.render_email(issue, key)
    second = renderer.render_email(issue, key)
    assert first.html == second.html and len(calls) == 1
    renderer.render_email(issue, VariantKey("connected", ("halsa-och-vald",)))
    assert len(calls) == 2


def test_template_errors_name_the_template_and_line(config: Config, tmp_path: Path) -> None:
    import shutil

    from pipeline.errors import RenderError

    templates = tmp_path / "templates"
    shutil.copytree(config.templates, templates)
    (templates / "partials" / "footer.mjml.j2").write_text("<mj-section>\n{% if %}\n")
    broken = config.model_copy(update={"root": tmp_path})
    with pytest.raises(RenderError) as caught:
        render_issue(load_issue(EXAMPLE, broken), broken)
    assert str(caught.value.problems[0]).startswith(
        f"{templates}/partials/footer.mjml.j2:2: template: ")


def test_variants_have_names_a_communicator_reads(config: Config) -> None:
    from pipeline.issue import load_issue
    from pipeline.render.variants import VariantKey, variant_keys, variant_label

    issue = load_issue(EXAMPLE, config)
    labels = {key.name: variant_label(key, issue, config) for key in variant_keys(issue, config)}
    assert labels["general"] == "Prenumeranter"
    assert labels["connected+halsa-och-vald"] == "Anslutna aktörer · fokus på hälsa och våld"
    assert labels["connected+makt-och-ekonomi+utbildning-och-omsorg"] == \
        "Anslutna aktörer · fokus på makt, ekonomi, utbildning och omsorg"
    assert variant_label("connected+halsa-och-vald", issue, config, short=True) == \
        "Anslutna aktörer · hälsa, våld"
    assert variant_label(VariantKey("connected"), issue, config, short=True) == \
        "Anslutna aktörer · inget eget fokus"


@pytest.mark.parametrize(("name", "form", "greeting"), [
    ("Sara Lind", "first_name", "Hej Sara!"),
    ("Anna-Karin Berg", "first_name", "Hej Anna-Karin!"),
    ("Lind, Sara", "first_name", "Hej Sara!"),
    ("Dr. Sara Lind", "first_name", "Hej Dr. Sara Lind!"),
    ("von Essen Eva", "first_name", "Hej von Essen Eva!"),
    ("A Berg", "first_name", "Hej A Berg!"),
    ("  ", "first_name", "Hej!"), (None, "full_name", "Hej!"),
    ("Sara Lind", "full_name", "Hej Sara Lind!"), ("Sara Lind", "none", "Hej!"),
])
def test_the_greeting_uses_a_given_name_only_when_it_is_one(name: str | None, form: str,
                                                             greeting: str) -> None:
    reader = Reader(address_as(name, form), "https://x.se/a", "https://x.se/p")
    assert reader.values()["reader_greeting"] == greeting
