# ruff: noqa: E501  (expected messages, one a line, as check prints them)
"""The broken-issue corpus of test_check_errors.py in Swedish, the language `check`
speaks by default: every message exactly, and the summary line."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from tests.conftest import ROOT
from tests.test_check_errors import CASES

SWEDISH: dict[str, list[str]] = {
    "yaml syntax": [
        "{d}/issue.yaml:2: yaml: en [ avslutas aldrig: avsluta en lista med ], title: [Testnummer], eller sätt text som börjar med [ inom citattecken, title: \"[Testnummer\"",
    ],
    "tab indentation": [
        "{d}/issue.yaml:7: yaml: ett tabbtecken; använd mellanslag, inte tabb, för att dra in raden",
    ],
    "colon in a title": [
        "{d}/issue.yaml:2: yaml: text med kolon (:) måste stå inom citattecken: title: \"Våren 2027: nätverk\"",
    ],
    "list item without a dash": [
        "{d}/issue.yaml:11: yaml: en rad i en lista saknar bindestreck; skriv den så här: - 02-bild.md",
    ],
    "quotation mark never closed": [
        "{d}/issue.yaml:2: yaml: ett citattecken avslutas aldrig; avsluta texten med samma citattecken på den här raden",
    ],
    "unknown key with suggestion": [
        "{d}/issue.yaml:1: title: rubriken saknas: lägg till title: med den rubrik läsarna ser",
        "{d}/issue.yaml:2: titel: okänd nyckel; menar du 'title'?",
    ],
    "missing subject": [
        "{d}/issue.yaml:1: subject: ämnesraden saknas: lägg till subject: med det som syns i inkorgen",
    ],
    "number not a number": [
        "{d}/issue.yaml:1: number: skriv ett heltal, till exempel 1",
    ],
    "number out of range": [
        "{d}/issue.yaml:1: number: måste vara 1 eller mer",
    ],
    "number does not match folder": [
        "{d}/issue.yaml:1: number: 2 stämmer inte med mappens namn '2027-1'",
    ],
    "impossible date": [
        "{d}/issue.yaml:5: send_at: '2027-02-30 09:00' är inte ett datum och en tid; skriv 'ÅÅÅÅ-MM-DD TT:MM' i svensk tid",
    ],
    "date in words": [
        "{d}/issue.yaml:5: send_at: 'nästa tisdag' är inte ett datum och en tid; skriv 'ÅÅÅÅ-MM-DD TT:MM' i svensk tid",
    ],
    "empty issue.yaml": [
        "{d}/issue.yaml:1: (filen): är tom; docs/skribentguide.md visar vilka nycklar som behövs",
    ],
    "issue.yaml is a list": [
        "{d}/issue.yaml:1: (filen): måste bestå av rader med nyckel: värde, inte en lista",
    ],
    "duplicate key": [
        "{d}/issue.yaml:4: subject: nyckeln finns redan (första gången på rad 3)",
    ],
    "no sections": [
        "{d}/issue.yaml:9: sections: lägg till minst 1, en per rad som börjar med '- '",
    ],
    "section file missing": [
        "{d}/issue.yaml:11: sections[1]: '03-saknas.md' finns inte i {d}",
    ],
    "section listed twice": [
        "{d}/issue.yaml:12: sections[2]: '01-intro.md' står två gånger i listan",
    ],
    "section not markdown": [
        "{d}/issue.yaml:11: sections[1]: '02-bild.txt' måste vara en Markdown-fil (.md)",
    ],
    "section outside the folder": [
        "{d}/issue.yaml:11: sections[1]: '../02-bild.md' måste vara en fil i numrets mapp",
    ],
    "editor email invalid": [
        "{d}/issue.yaml:8: editor.email: 'redaktionen' är ingen e-postadress",
    ],
    "subject with a line break": [
        "{d}/issue.yaml:3: subject: får bara vara en rad",
    ],
    "front matter never closed": [
        "{d}/01-intro.md:1: inställningar: börjar med '---' men saknar en avslutande rad med '---'",
    ],
    "front matter bad yaml": [
        "{d}/01-intro.md:3: yaml: en [ avslutas aldrig: avsluta en lista med ], focus: [halsa], eller sätt text som börjar med [ inom citattecken, focus: \"[halsa\"",
    ],
    "front matter unknown key": [
        "{d}/01-intro.md:2: rubrik: okänd nyckel; tillåtna nycklar: heading, kind, until, image, cta, audience, focus, recurring",
    ],
    "image without alt": [
        "{d}/02-bild.md:3: image.alt: bilden saknar alt-text: beskriv vad bilden visar (alt: …)",
    ],
    "image file missing": [
        "{d}/02-bild.md:4: image.src: 'images/b.png' finns inte i {d}",
    ],
    "unknown focus area": [
        "{d}/02-bild.md:6: focus[1]: 'miljo' är inget fokusområde; använd något av ekonomi, halsa, makt, omsorg, utbildning, vald",
    ],
    "focus area written with å, ä or ö": [
        "{d}/02-bild.md:6: focus[0]: 'hälsa' är inget fokusområde; menar du 'halsa'? Fokusområden skrivs utan å, ä och ö: ekonomi, halsa, makt, omsorg, utbildning, vald",
    ],
    "image name in other capitals": [
        "{d}/02-bild.md:4: image.src: 'images/A.png' finns inte, men images/a.png finns: skriv namnet precis som filen heter (webbservern skiljer på stora och små bokstäver, även om din dator inte gör det)",
    ],
    "unknown audience": [
        "{d}/01-intro.md:3: audience: 'alla' är varken 'all' eller en målgrupp (connected, general)",
    ],
    "until on an article": [
        "{d}/01-intro.md:3: until: gäller bara avsnitt med kind: notice",
    ],
    "call to action over http": [
        "{d}/01-intro.md:5: cta.url: 'http://example.se/anmalan' måste vara en fullständig adress som börjar med https://",
    ],
    "section not utf-8": [
        "{d}/01-intro.md:1: teckenkodning: inte UTF-8-text; spara filen som UTF-8",
    ],
    "empty section": [
        "{d}/01-intro.md:4: text: avsnittet är tomt; skriv text eller ta bort det från issue.yaml",
    ],
    "markdown image without alt": [
        "{d}/01-intro.md:4: bild: images/a.png saknar alt-text; skriv ![vad bilden visar](images/a.png) [image]",
    ],
    "markdown image missing": [
        "{d}/01-intro.md:4: bild: images/karta.png finns inte i {d} [image]",
    ],
    "link on a later line of its paragraph": [
        "{d}/01-intro.md:6: länk: 'klicka här' säger inte vart länken leder; beskriv målet [link-text]",
    ],
    "markdown image name in other capitals": [
        "{d}/01-intro.md:4: bild: images/A.PNG finns inte, men images/a.png finns: skriv namnet precis som filen heter (webbservern skiljer på stora och små bokstäver, även om din dator inte gör det) [image]",
    ],
    "vague link text": [
        "{d}/01-intro.md:4: länk: 'klicka här' säger inte vart länken leder; beskriv målet [link-text]",
    ],
    "läs mer": [
        "{d}/01-intro.md:6: länk: 'Läs mer' säger inte vart länken leder; beskriv målet [link-text]",
    ],
    "http link": [
        "{d}/01-intro.md:4: länk: 'http://example.se/kalender' måste vara en fullständig länk som börjar med https:// eller mailto: [link-scheme]",
    ],
    "relative link": [
        "{d}/01-intro.md:4: länk: 'kalender.html' måste vara en fullständig länk som börjar med https:// eller mailto: [link-scheme]",
    ],
    "bare url": [
        "{d}/01-intro.md:4: länk: webbadressen https://example.se/strategi står utan länktext; skriv [beskrivande text](https://example.se/strategi) [link-text]",
    ],
    "url as link text": [
        "{d}/01-intro.md:4: länk: länktexten är en webbadress; beskriv https://example.se/strategi med ord [link-text]",
    ],
    "heading above the section heading": [
        "{d}/01-intro.md:4: rubrik: '# Stor rubrik' är en högre nivå än avsnittets rubrik; använd ### för mellanrubriker [heading-order]",
    ],
    "heading skips a level": [
        "{d}/01-intro.md:8: rubrik: '##### Detalj' hoppar över en nivå; använd #### [heading-order]",
    ],
    "reserved placeholder in text": [
        "{d}/01-intro.md:4: text: {{{{unsubscribe_url}}}} fylls i för varje läsare av mallen; ta bort det ur texten [placeholder]",
    ],
    "unknown placeholder": [
        "{d}/issue.yaml:1: variant connected: platshållaren {{{{ namn }}}} fylls aldrig i [placeholder]",
        "{d}/issue.yaml:1: variant connected+bild: platshållaren {{{{ namn }}}} fylls aldrig i [placeholder]",
        "{d}/issue.yaml:1: variant general: platshållaren {{{{ namn }}}} fylls aldrig i [placeholder]",
    ],
    "no preheader": [
        "{d}/issue.yaml:1: preheader: saknas; skriv raden som inkorgen visar efter ämnesraden [preheader]",
    ],
}


def test_the_corpus_has_a_swedish_expectation_for_every_case() -> None:
    assert list(SWEDISH) == list(CASES)


@pytest.mark.parametrize("case", SWEDISH, ids=list(SWEDISH))
def test_check_speaks_swedish_by_default(case: str, make_issue, monkeypatch) -> None:
    monkeypatch.delenv("NEWSLETTER_LANG")  # newsletter.toml says language = "sv"
    folder = make_issue(CASES[case][0])
    result = CliRunner().invoke(main, ["check", str(folder), "--config",
                                       str(ROOT / "newsletter.toml")])
    lines = result.output.splitlines()
    assert lines[:-1] == [line.format(d=folder) for line in SWEDISH[case]]
    assert lines[-1].startswith(f"{folder}: {len(SWEDISH[case])} fel, 0 varningar")
    assert result.exit_code == 1


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_lang_en_gives_the_english_corpus(case: str, make_issue, monkeypatch) -> None:
    monkeypatch.delenv("NEWSLETTER_LANG")
    changes, expected = CASES[case]
    folder = make_issue(changes)
    result = CliRunner().invoke(main, ["check", str(folder), "--lang", "en", "--config",
                                       str(ROOT / "newsletter.toml")])
    assert result.output.splitlines()[:-1] == [line.format(d=folder) for line in expected]


def test_newsletter_toml_language_sets_the_default(make_issue, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("NEWSLETTER_LANG")
    folder = make_issue(CASES["missing subject"][0])
    english = tmp_path / "newsletter.toml"
    english.write_text((ROOT / "newsletter.toml").read_text(encoding="utf-8").replace(
        'language = "sv"', 'language = "en"'), encoding="utf-8")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    result = CliRunner().invoke(main, ["check", str(folder), "--config", str(english)])
    assert "subject: the subject line is missing" in result.output
    assert result.output.splitlines()[-1].startswith(f"{folder}: 1 error(s)")
    result = CliRunner().invoke(main, ["check", str(folder), "--config", str(english),
                                       "--lang", "sv"])  # the option wins
    assert "subject: ämnesraden saknas" in result.output
