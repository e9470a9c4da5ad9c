"""Klarspråk: LIX on texts counted by hand, long sentences, words to avoid and spelling, each
at its line, through check_issue and through `newsletter check`; the example issue is clean."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config import Config, load_config
from pipeline.issue import load_issue
from pipeline.lint import check_issue
from pipeline.plain import lix, section_readability, segment_readability, variant_readability
from pipeline.plain.prose import Block
from pipeline.render.variants import VariantKey
from pipeline.settings import Rule
from tests.conftest import BASE_ISSUE, EXAMPLE, ROOT, require

PLAIN = {Rule.LIX, Rule.LONG_SENTENCE, Rule.PLAIN_WORDS, Rule.SPELLING}
DICTIONARY = Path("/usr/share/hunspell/sv_SE.dic")


def _require_dictionary() -> None:
    require(DICTIONARY.is_file(), "Debian's Swedish dictionary is missing (apt-get install "
            "hunspell-sv)")
    require(importlib.util.find_spec("hunspell") is not None, "chunspell is not installed")


def _config(tmp_path: Path, edits: dict[str, str] | None = None,
            files: dict[str, str] | None = None) -> Config:
    text = (ROOT / "newsletter.toml").read_text(encoding="utf-8").replace(
        'templates_dir = "templates"', f'templates_dir = "{ROOT / "templates"}"')
    for old, new in (edits or {}).items():
        assert old in text
        text = text.replace(old, new)
    (tmp_path / "newsletter.toml").write_text(text, encoding="utf-8")
    for name, content in (files or {}).items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    return load_config(tmp_path / "newsletter.toml")


def _plain(folder: Path, config: Config) -> list[str]:
    """The klarspråk problems as 'file:line: key: message', file relative to the issue."""
    return [f"{Path(p.path).relative_to(folder)}:{p.line}: {p.key}: {p.message}"
            for p in check_issue(folder, config).problems
            if any(p.message.endswith(f"[{rule}]") for rule in PLAIN)]


# LIX = words / sentences + 100 * words of more than six letters / words, counted by hand.
@pytest.mark.parametrize(("text", "expected"), [
    # 9 words, 2 sentences, long: springer, trädgården → 4.5 + 22.22
    ("Katten sitter på mattan. Hunden springer ut i trädgården.", 9 / 2 + 100 * 2 / 9),
    # abbreviations, times and dates end no sentence: 11 + 4 words, 2 sentences, long: Västerås
    ("Vi ses kl. 13.00 den 16 feb. 2027, t.ex. i Västerås. Anmäl dig senast fredag.",
     15 / 2 + 100 * 1 / 15),
    # a heading is no sentence; link text counts, its URL, inline code and bare URLs do not:
    # Läs rapporten om jämställdhet här | Kör först | Se för mer: 10 words, 3 sentences, 2 long
    ("### En lång rubrik som inte räknas\n\nLäs [rapporten om jämställdhet]"
     "(https://example.se/rapport) här. Kör `newsletter check` först.\n\n"
     "Se https://example.se/sida för mer.\n", 10 / 3 + 100 * 2 / 10),
    # "m.m." closes a sentence when a capital follows; "bl.a." does not: 6 + 2 words
    ("Vi köper kaffe, te m.m. Sedan bl.a. Kalle.", 8 / 2 + 0),
    # a full stop after a number ends a sentence: 4 + 4 words; long: Anmälan, stänger,
    # klockan, Därefter
    ("Anmälan stänger klockan 17. Därefter är det fullt.", 8 / 2 + 100 * 4 / 8),
    ("", 0.0),
])
def test_lix_of_texts_counted_by_hand(text: str, expected: float) -> None:
    assert lix(text) == pytest.approx(expected)


def test_sentences_start_at_their_own_line() -> None:
    block = Block("Kort mening. En andra\nmening som fortsätter. Hon sa: ”Ja.” Nästa\nrad.", 7,
                  True)
    assert [(s.line, s.text) for s in block.sentences()] == [
        (7, "Kort mening."), (7, "En andra mening som fortsätter."), (8, "Hon sa: ”Ja.”"),
        (8, "Nästa rad.")]


def test_readability_per_section_and_segment(make_issue, config: Config) -> None:
    yaml = "  - 02-bild.md\n"
    issue = load_issue(make_issue({
        "issue.yaml": str(BASE_ISSUE["issue.yaml"]).replace(yaml, yaml + "  - 03-bara.md\n"),
        "03-bara.md": "---\naudience: general\n---\nEndast prenumeranter läser detta.\n"}),
        config)
    sections = section_readability(issue, config)
    assert [(s.section, s.segments, s.readability.words, s.readability.sentences,
             s.readability.long_words) for s in sections] == [
        ("intro", ("connected", "general"), 6, 2, 2),  # Hej och välkommen. Läs om strategin.
        ("bild", ("connected", "general"), 3, 1, 0),   # Text om hälsa.
        ("bara", ("general",), 4, 1, 1)]               # "Endast" has six letters: not long
    segments = segment_readability(issue, config, sections)
    assert segments["connected"].lix == pytest.approx(9 / 3 + 100 * 2 / 9)
    assert segments["general"].lix == pytest.approx(13 / 4 + 100 * 3 / 13)
    variants = variant_readability(issue, config, [VariantKey("connected", ("bild",)),
                                                   VariantKey("general")])
    assert variants == {"connected+bild": segments["connected"], "general": segments["general"]}


TWENTY_SIX = ("Den här meningen är skriven för att vara lång och den fortsätter med fler ord "
              "tills den har blivit för lång att läsa i ett svep")


def test_a_long_sentence_is_reported_at_the_line_it_starts(make_issue, tmp_path: Path) -> None:
    assert len(TWENTY_SIX.split()) == 26
    words = TWENTY_SIX.split()
    body = (f"Kort början. {' '.join(words[:10])}\n{' '.join(words[10:])}.\n\n"
            f"{' '.join(words[:25])}.\n")  # 25 words: not over the limit
    folder = make_issue({"01-intro.md": f"---\nheading: Inledning\n---\n{body}"})
    config = _config(tmp_path)
    assert _plain(folder, config) == [
        "01-intro.md:4: body: sentence of 26 words (over 25): 'Den här meningen är skriven för "
        "…'; split it into shorter sentences [long-sentence]"]
    stricter = _config(tmp_path, {"sentence_max_words = 25": "sentence_max_words = 20"})
    assert [p.split(": ")[0] for p in _plain(folder, stricter)] == ["01-intro.md:4",
                                                                    "01-intro.md:7"]


def test_words_to_avoid_at_their_lines_with_the_plain_word(make_issue, tmp_path: Path) -> None:
    folder = make_issue({
        "issue.yaml": str(BASE_ISSUE["issue.yaml"]).replace(
            "preheader: En förhandstext", "preheader: Här erhåller du nyheter"),
        "01-intro.md": "---\nheading: Inledning samt nyheter\n---\n"
                       "Vi erhöll ett besked i enlighet\nmed lagen. Det var ett bra samtal.\n\n"
                       "Mötet Äger Rum i maj och vi ska implementera planen.\n"})
    config = _config(tmp_path)
    assert _plain(folder, config) == [
        "01-intro.md:2: heading: 'samt' is stiff; write 'och' instead [plain-words]",
        "01-intro.md:4: body: 'erhöll' is stiff; write 'få' instead [plain-words]",
        "01-intro.md:4: body: 'i enlighet med' is stiff; write 'enligt' instead [plain-words]",
        "01-intro.md:7: body: 'implementera' is stiff; write 'genomföra' or 'införa' instead "
        "[plain-words]",
        "01-intro.md:7: body: 'Äger Rum' is stiff; write 'hållas' or 'vara' instead [plain-words]",
        "issue.yaml:4: preheader: 'erhåller' is stiff; write 'få' instead [plain-words]"]


def test_the_board_extends_the_word_list(make_issue, tmp_path: Path) -> None:
    folder = make_issue({"01-intro.md": "---\nheading: Inledning\n---\nVi har en kickoff.\n"})
    config = _config(tmp_path, files={"egna-ord.txt": "# styrelsens egna\nkickoff* → startmöte\n"
                                      "en rad utan pil\n"},
                     edits={'avoid_words = "ord-att-undvika.txt"': 'avoid_words = "egna-ord.txt"'})
    problems = [p.message for p in check_issue(folder, config).problems
                if p.message.endswith("[plain-words]")]
    assert problems == [
        "write one entry a line as 'stiff word → plain word', for example 'erhålla, erhöll → få'"
        " [plain-words]",
        "'kickoff' is stiff; write 'startmöte' instead [plain-words]"]
    bad_line = next(p for p in check_issue(folder, config).problems if p.key == "word list")
    assert (Path(bad_line.path).name, bad_line.line) == ("egna-ord.txt", 3)


def test_spelling_finds_planted_errors_with_suggestions(make_issue, tmp_path: Path) -> None:
    _require_dictionary()
    folder = make_issue({"01-intro.md": (
        "---\nheading: Inledning\n---\n"
        "Arbetet med jämställdhet fortsätter.\nVi skriver om jämstäldhet och\n"
        "om jämstäldhet igen, sa Ylvarinda Blomqvistsson i Västerås.\n\n"
        "Webbinariet hålls i maj. Bokstäverna SCB, HBTQI och e-post i issue.yaml.\n")})
    config = _config(tmp_path, files={"ordlista.txt": "# namn och termer\nwebbinariet\n"})
    assert _plain(folder, config) == [
        "01-intro.md:5: body: 'jämstäldhet' is not in the dictionary; did you mean "
        "'jämställdhet'? If it is right, add it to ordlista.txt [spelling]"]
    (tmp_path / "utan").mkdir()
    without_list = _config(tmp_path / "utan")
    assert [p.split(": ")[0] for p in _plain(folder, without_list)] == [
        "01-intro.md:5", "01-intro.md:8"]  # Webbinariet starts a sentence: checked


def test_the_example_issue_is_clean(config: Config) -> None:
    _require_dictionary()
    assert _plain(EXAMPLE, config) == []


def test_a_missing_dictionary_is_one_warning_and_the_rest_still_runs(
        make_issue, tmp_path: Path) -> None:
    folder = make_issue({"01-intro.md": "---\nheading: Inledning\n---\nVi erhöll jämstäldhet.\n",
                         "02-bild.md": str(BASE_ISSUE["02-bild.md"]) + "Mer jämstäldhet.\n"})
    config = _config(tmp_path, {'dictionary = "/usr/share/hunspell/sv_SE"':
                                f'dictionary = "{tmp_path / "saknas" / "sv_SE"}"'})
    assert _plain(folder, config) == [
        "01-intro.md:4: body: 'erhöll' is stiff; write 'få' instead [plain-words]",
        f"issue.yaml:1: spelling: spelling was not checked: {tmp_path}/saknas/sv_SE.dic is "
        "missing; install Debian's hunspell-sv (./dev test does) or set dictionary under "
        "[check.plain] in newsletter.toml [spelling]"]


def test_lix_above_the_segment_targets(make_issue, tmp_path: Path) -> None:
    folder = make_issue()
    # intro: 6 words, 2 sentences, 2 long → LIX 36; bild: 3, 1, 0 → 3; both segments get both:
    # 9 words, 3 sentences, 2 long → 25. General's own target (30) is met; connected's is not.
    config = _config(tmp_path, {"lix_max = 50": "lix_max = 20",
                                "# lix_by_segment = { general = 45 }":
                                "lix_by_segment = { general = 30 }",
                                "lix_min_words = 100": "lix_min_words = 5"})
    guide = "(30–40 is newspaper text, above 50 is hard)"
    assert _plain(folder, config) == [
        f"01-intro.md:4: body: LIX 36, above the target 20 for Anslutna aktörer {guide}; write "
        "shorter sentences and swap long words for short ones [lix]",
        f"issue.yaml:9: sections: the Anslutna aktörer email has LIX 25, above its target 20 "
        f"{guide}; hardest first: 01-intro.md (36), 02-bild.md (3) [lix]"]
    few_words = _config(tmp_path, {"lix_max = 50": "lix_max = 20"})  # 9 words: unmeasurable
    assert _plain(folder, few_words) == []


def test_newsletter_check_reports_in_english_and_swedish(make_issue) -> None:
    _require_dictionary()
    folder = make_issue({"01-intro.md": "---\nheading: Inledning\n---\n"
                                        "Du erhåller nyheter om jämstäldhet.\n"})
    config = ["--config", str(ROOT / "newsletter.toml")]
    result = CliRunner().invoke(main, ["check", str(folder), *config])
    assert [line.split("; LIX ")[0] for line in result.output.splitlines()] == [
        f"{folder}/01-intro.md:4: warning: body: 'erhåller' is stiff; write 'få' instead "
        "[plain-words]",
        f"{folder}/01-intro.md:4: warning: body: 'jämstäldhet' is not in the dictionary; did you "
        "mean 'jämställdhet'? If it is right, add it to ordlista.txt [spelling]",
        f"{folder}: 0 error(s), 2 warning(s), 3 variant(s) rendered"]
    assert result.exit_code == 0
    swedish = CliRunner().invoke(main, ["check", str(folder), *config, "--lang", "sv"])
    assert swedish.output.splitlines()[:2] == [
        f"{folder}/01-intro.md:4: varning: text: 'erhåller' går att byta mot ett enklare ord: "
        "skriv hellre 'få' [plain-words]",
        f"{folder}/01-intro.md:4: varning: text: 'jämstäldhet' finns inte i ordboken; menar du "
        "'jämställdhet'? Lägg till ordet i ordlista.txt om det är rätt [spelling]"]


def test_render_reports_lix_per_variant_segment_and_section(make_issue, tmp_path: Path) -> None:
    folder = make_issue()
    out = tmp_path / "ut"
    result = CliRunner().invoke(main, ["render", str(folder), "--out", str(out),
                                       "--config", str(ROOT / "newsletter.toml")])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    both = {"lix": 25.2, "words": 9, "sentences": 3, "long_words": 2}
    assert report["readability"] == {
        "issue": both, "segments": {"connected": both, "general": both},
        "sections": [
            {"section": "intro", "file": "01-intro.md", "segments": ["connected", "general"],
             "lix": 36.3, "words": 6, "sentences": 2, "long_words": 2},
            {"section": "bild", "file": "02-bild.md", "segments": ["connected", "general"],
             "lix": 3.0, "words": 3, "sentences": 1, "long_words": 0}]}
    assert {v["name"]: v["lix"] for v in report["variants"]} == {
        "connected": 25.2, "connected+bild": 25.2, "general": 25.2}


def test_a_partly_loaded_issue_is_still_checked(make_issue, tmp_path: Path) -> None:
    folder = make_issue({"01-intro.md": "---\nheading: Inledning\n---\nVi erhöll svar.\n",
                         "02-bild.md": "---\nheading: [trasig\n---\nText.\n"})
    assert "01-intro.md:4: body: 'erhöll' is stiff; write 'få' instead [plain-words]" in \
        _plain(folder, _config(tmp_path))


def test_without_the_hunspell_library_spelling_is_one_warning(
        make_issue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.plain import spelling

    _require_dictionary()  # the files are there; only the library is not
    folder = make_issue({"01-intro.md": "---\nheading: Inledning\n---\nVi erhöll jämstäldhet.\n"})
    monkeypatch.setitem(sys.modules, "hunspell", None)  # import hunspell → ImportError
    spelling._speller.cache_clear()
    try:
        assert _plain(folder, _config(tmp_path)) == [
            "01-intro.md:4: body: 'erhöll' is stiff; write 'få' instead [plain-words]",
            "issue.yaml:1: spelling: spelling was not checked: the Python library chunspell is "
            "missing; install the newsletter package again (pip install -e .) [spelling]"]
    finally:
        spelling._speller.cache_clear()


def test_links_addresses_files_and_placeholders_are_not_prose() -> None:
    """What the spelling and LIX rules never read, wherever it sits in a sentence; and a long
    run of letters or dots is read once, not tried again from each of its characters."""
    from pipeline.plain.prose import plain_blocks

    text = ("Läs (https://www.lansstyrelsen.se/vastmanland/jamstalldhet.html), skriv till "
            "anna.berg+nyhetsbrev@lansstyrelsen.se eller www.example.se; bifoga plan.docx, "
            "hej {{ reader_greeting }} och <b>fet</b> text.")
    block, = plain_blocks(text, 1)
    assert block.text.split() == ["Läs", "(", "),", "skriv", "till", "eller", ";", "bifoga", ",",
                                  "hej", "och", "fet", "text."]
    long_word = "a" * 200_000 + " slut"  # linear: was minutes at this length
    assert plain_blocks(long_word, 1)[0].text == long_word
    dotted = "a." * 100_000
    assert plain_blocks(dotted, 1)[0].text == dotted
