"""The preview's pages: an inbox list, one page per variant, and problems where they belong.

Every author-written string is escaped here; the pages run only /preview.js (CSP). A variant
page has the parts the live script swaps in place (``data-live``: inbox row, problems, LIX,
text part), the email at two widths in same-origin frames that run no script (sandbox without
allow-scripts, and the email's own CSP), and the form that sends test copies.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path

from pipeline.errors import Problem
from pipeline.plain import section_readability, segment_readability
from pipeline.preview.state import Snapshot
from pipeline.render.email import RenderedEmail
from pipeline.render.personalise import SAMPLE_READER, personalise
from pipeline.render.variants import VariantKey

# iPhone Mail in portrait at the default text size shows about 35–40 characters of a subject
# before "…", Gmail's and Outlook's phone apps about the same (Litmus' and Campaign Monitor's
# subject-line guides); 38 is the middle: a subject that is whole here is whole on most phones.
PHONE_SUBJECT_CHARS = 38
# The preview text under it: two lines on those phones, about 90 characters.
PHONE_PREHEADER_CHARS = 90
FRAME_SANDBOX = "allow-same-origin allow-popups allow-popups-to-escape-sandbox"

_SHELL = """<!DOCTYPE html>
<html lang="sv"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/preview.css"></head><body>
<header><strong>Förhandsvisning</strong> <nav>{nav}</nav></header>
<main {data}>{body}</main>
<script src="/preview.js"></script></body></html>"""


def _e(text: object) -> str:
    return html.escape(str(text))


def cut(text: str, limit: int) -> str:
    """``text`` as a phone shows it: whole, or cut at ``limit`` characters with "…"."""
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def shell(snapshot: Snapshot, title: str, body: str, variant: str = "") -> bytes:
    links = ['<a href="/">Översikt</a>']
    links += [f'<a href="/variant/{_e(name)}">{_e(label)}</a>'
              for name, label in snapshot.labels.items()]
    if snapshot.rendered:
        links.append('<a href="/web">Webbversion</a>')
    data = (f'data-version="{snapshot.version}" data-variant="{_e(variant)}" '
            f'data-variants="{_e(" ".join(snapshot.names))}"'
            + (" data-broken" if snapshot.rendered is None else ""))
    return _SHELL.format(title=_e(title), nav=" ".join(links), data=data, body=body).encode()


def inbox_row(sender: str, email: RenderedEmail, href: str = "") -> str:
    subject = cut(email.subject, PHONE_SUBJECT_CHARS)
    preheader = cut(email.preheader, PHONE_PREHEADER_CHARS)
    whole = (f"; en mobil visar ungefär de första {PHONE_SUBJECT_CHARS}"
             if subject != email.subject else "")
    sender_html = f'<a href="{_e(href)}">{_e(sender)}</a>' if href else _e(sender)
    return (f'<div class="inbox"><span class="from">{sender_html}</span>'
            f'<span class="subject" title="{_e(email.subject)}">{_e(subject)}</span>'
            f'<span class="preheader">{_e(preheader)}</span>'
            f'<span class="note">Ämnesraden har {len(email.subject)} tecken{whole}</span>'
            "</div>")


def _problem_list(problems: Iterable[Problem], folder: Path, heading: str) -> str:
    shown = [str(p).replace(f"{folder}/", "") for p in problems]
    if not shown:
        return ""
    items = "".join(f"<li><code>{_e(p)}</code></li>" for p in shown)
    return f'<section class="problems"><h2>{heading}</h2><ul>{items}</ul></section>'


def variant_problems(snapshot: Snapshot, key: VariantKey) -> tuple[list[Problem], list[Problem]]:
    """(problems of this variant and of the sections it contains, problems of the issue)."""
    issue = snapshot.issue()
    sections = issue.sections if issue else ()
    own = {str(s.path) for s in sections if s.for_segment(key.segment)}
    others = {str(s.path) for s in sections} - own
    mine, general = [], []
    for problem in snapshot.problems:
        if problem.key == f"variant {key.name}" or problem.path in own:
            mine.append(problem)
        elif not problem.key.startswith("variant ") and problem.path not in others:
            general.append(problem)
    return mine, general


def broken_body(snapshot: Snapshot, folder: Path) -> str:
    return ('<h1>Förhandsvisningen kunde inte göras</h1><p>Rätta det här, spara, så visas '
            "numret igen.</p>" + _problem_list(snapshot.problems, folder, "Problem"))


def overview_body(snapshot: Snapshot, sender: str, folder: Path) -> str:
    assert snapshot.rendered is not None
    rows = "".join(
        f'<li><h2><a href="/variant/{_e(key.name)}">{_e(snapshot.labels[key.name])}</a></h2>'
        f"{inbox_row(sender, email)}</li>"
        for key, email in snapshot.rendered.variants.items())
    return (f'<h1>Varianter</h1><div id="overview" data-live><ul class="inboxes">{rows}</ul>'
            + _problem_list(snapshot.problems, folder, "Problem i numret") + "</div>")


def info_panel(snapshot: Snapshot, key: VariantKey, sender: str, folder: Path) -> str:
    assert snapshot.rendered is not None
    email = snapshot.rendered.variants[key]
    mine, general = variant_problems(snapshot, key)
    return (f'<div id="info" data-live>{inbox_row(sender, email)}'
            + _problem_list(mine, folder, "Problem i den här varianten")
            + _problem_list(general, folder, "Problem i hela numret")
            + lix_panel(snapshot, key) + "</div>")


def lix_panel(snapshot: Snapshot, key: VariantKey) -> str:
    """The variant's LIX against its audience's target, and each of its sections' LIX."""
    assert snapshot.rendered is not None and snapshot.config is not None
    issue, config = snapshot.rendered.issue, snapshot.config
    sections = [s for s in section_readability(issue, config) if key.segment in s.segments]
    total = segment_readability(issue, config, sections)[key.segment]
    target = config.check.plain.lix_target(key.segment)
    verdict = "över målet" if total.lix > target else "inom målet"
    rows = "".join(
        f"<li{' class=over' if s.lix > target and s.readability.words else ''}>"
        f"{_e(s.section)}: {s.lix:.0f} ({s.readability.words} ord)</li>" for s in sections)
    return (f'<div class="lix" id="lix"><p><strong>LIX {total.lix:.0f}</strong> ({verdict}: '
            f"högst {target:g} för {_e(config.segment(key.segment).name)}). 30–40 är vanlig "
            "tidningstext, över 50 är svår text.</p>"
            f"<details><summary>LIX per avsnitt</summary><ul>{rows}</ul></details></div>")


def send_form(token: str, variant: str, addresses: str, variants: int) -> str:
    return (f'<form class="testsend" method="post" action="/test-send">'
            f'<input type="hidden" name="token" value="{_e(token)}">'
            f'<input type="hidden" name="variant" value="{_e(variant)}">'
            '<label for="addresses">Skicka testexemplar till</label> '
            f'<input id="addresses" name="addresses" type="text" size="40" '
            f'value="{_e(addresses)}" placeholder="namn@lansstyrelsen.se" required> '
            "<button>Skicka test</button>"
            "<small>Ett testexemplar av varje variant (här finns "
            f"{variants}). Flera adresser: skilj dem åt med komma.</small></form>")


def result_box(lines: list[str], ok: bool) -> str:
    items = "".join(f"<li>{_e(line)}</li>" for line in lines)
    kind = "sent" if ok else "failed"
    return f'<section class="result {kind}" role="status"><ul>{items}</ul></section>'


def variant_body(snapshot: Snapshot, key: VariantKey, sender: str, folder: Path,
                 form: str) -> str:
    assert snapshot.rendered is not None
    email = snapshot.rendered.variants[key]
    src = f"/email/{_e(key.name)}"
    frames = "".join(
        f'<figure><figcaption>{caption}</figcaption><iframe class="email" title="{title}" '
        f'src="{src}" width="{width}" sandbox="{FRAME_SANDBOX}"></iframe></figure>'
        for caption, title, width in (("Dator, 600 px", "E-post i dator", 640),
                                      ("Mobil, 375 px", "E-post i mobil", 375)))
    text = personalise(email.text, SAMPLE_READER, is_html=False)
    return (f"<h1>{_e(snapshot.labels[key.name])}</h1>"
            + info_panel(snapshot, key, sender, folder) + form
            + f'<div class="frames">{frames}</div><h2>Textdel</h2>'
            + f'<pre id="text" data-live>{_e(text)}</pre>')
