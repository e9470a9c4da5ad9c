"""Every email a reader gets, rendered once for the tests that look at them all (in chromium,
against caniemail's data) and for docs/screenshots.py: each variant of the example issue and
each transactional mail, as the web service and the scheduler write them."""

from __future__ import annotations

from pipeline.audience.preferences import Profile
from pipeline.audience.signup import Contact
from pipeline.config import Config
from pipeline.deliver.notify import editors_letter
from pipeline.i18n import load_translations, use_language
from pipeline.issue import load_issue
from pipeline.render import render_issue
from pipeline.render.letters import Letter, lint_letter, render_letter
from pipeline.web.letters import board_letter, confirm_letter, welcome_letter
from tests.conftest import EXAMPLE, ROOT

LINK = "https://nyhetsbrev.lansstyrelsen.se/vastmanland/bekrafta/EXEMPEL"


def letters(config: Config) -> dict[str, tuple[Letter, str]]:
    """One of each transactional mail, as the web service and the scheduler write them."""
    out: dict[str, tuple[Letter, str]] = {}
    for language in ("sv", "en"):
        t = load_translations(language)
        sara = Profile(1, "sara.lind@sala.example", "Sara Lind", "Sala kommun",
                       ["makt", "halsa"], {})
        out[f"confirm-{language}"] = (confirm_letter(config, t, language, LINK, False),
                                      language)
        out[f"confirm-join-{language}"] = (confirm_letter(config, t, language, LINK, True),
                                           language)
        out[f"welcome-{language}"] = (welcome_letter(
            config, t, language, sara, f"{config.web_url}/installningar/EXEMPEL"), language)
    t = load_translations("sv")
    out["board-sv"] = (board_letter(config, t, "sv", "Sala kommun", "sala kommun",
                                    "212000-2098", [Contact("bo.ek@sala.example", "Bo Ek")]),
                       "sv")
    use_language("sv")  # the scheduler speaks newsletter.toml's language
    try:
        out["editors-sv"] = (editors_letter(config, "2027-1: fel att rätta före utskicket",
                                            ["newsletter check hittar 1 fel i 2027-1."],
                                            ["issues/2027-1/01-ledare.md:4: länktexten säger "
                                             "inte vart länken leder [link-text]"]), "sv")
    finally:
        use_language("en")
    return out


def every_email(config: Config) -> dict[str, str]:
    """name → HTML: ``issue-<variant>`` and each letter (which must pass the issue's rules)."""
    rendered = render_issue(load_issue(EXAMPLE, config), config)
    html = {f"issue-{key.name}": mail.html for key, mail in rendered.variants.items()}
    for name, (letter, language) in letters(config).items():
        email = render_letter(config, letter)
        assert lint_letter(config, email, language) == [], name
        html[name] = email.html
    return html


def from_disk(route) -> None:
    """The issue's images and the brand files from disk; nothing leaves the host."""
    url = route.request.url
    name = url.rsplit("/", 1)[-1]
    for folder, marker in ((EXAMPLE / "images", "/images/"),
                           (ROOT / "templates" / "brand", "/material/")):
        if marker in url and (folder / name).is_file():
            return route.fulfill(path=folder / name)
    if url.startswith(("about:", "data:")):
        return route.continue_()
    return route.abort()
