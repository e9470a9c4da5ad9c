"""Parser and schema errors → what to change, in words a communicator acts on.

PyYAML and pydantic describe what *they* expected ("mapping values are not allowed here",
"input should be a valid integer"). An author needs the fix: quote a title with a colon in
it, indent with spaces, put a dash before a list item, describe the image. ``yaml_fix`` reads
the offending line to propose the corrected one; ``schema_message`` words each pydantic error
type, and a missing key by what it is for. Anything unforeseen keeps the parser's own words.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from typing import TYPE_CHECKING, Any, get_args, get_origin

import yaml
from pydantic import BaseModel

from pipeline.i18n import _, or_list

if TYPE_CHECKING:
    from pipeline.config import Config

Loc = tuple[str | int, ...]

_KEY_VALUE = re.compile(
    r"^(?P<lead>\s*(?:-\s+)?)(?P<key>[A-Za-z_][\w.-]*):[ \t]+(?P<value>.+?)\s*$")
_ITEM = re.compile(r"^(?P<indent>\s*)-\s")


def quoted(value: str) -> str:
    """``value`` as a YAML string a communicator can copy: single quotes if it holds ``"``."""
    if '"' in value and "'" not in value:
        return f"'{value}'"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def yaml_fix(exc: yaml.MarkedYAMLError, text: str) -> tuple[int, str]:
    """(0-based line, message) for a YAML syntax error, with the fix where it is clear."""
    problem, context = exc.problem or "", exc.context or ""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line if mark else 0
    source = text.splitlines()

    def at(number: int) -> str:
        return source[number] if 0 <= number < len(source) else ""

    if "'\\t'" in problem or "\t" in at(line)[: len(at(line)) - len(at(line).lstrip())]:
        return line, _("a tab character; indent with spaces, not tabs")
    if (opened := _unclosed_quote(source, line)) is not None:
        return opened, _("a quotation mark that is never closed; end the text with the same "
                         "quotation mark on this line")
    if "could not find expected ':'" in problem and exc.context_mark:
        line = exc.context_mark.line
        previous = next((at(n) for n in range(line - 1, -1, -1) if at(n).strip()), "")
        if item := _ITEM.match(previous):
            fixed = f"{item['indent']}- {at(line).strip()}"
            return line, _("a list item without a dash; write it as: %(fixed)s") % {
                "fixed": fixed.strip()}
        return line, _("this line is neither 'key: value' nor a list item ('- …'); write "
                       "key: value, or put text that goes on over several lines in quotes")
    if "quoted scalar" in context and exc.context_mark:
        return exc.context_mark.line, _(
            "a quotation mark that is never closed; end the text with the same quotation "
            "mark on this line")
    if "flow sequence" in context and exc.context_mark:
        line = exc.context_mark.line
        if (match := _KEY_VALUE.match(at(line))) and match["value"].startswith("["):
            return line, _("a [ that is never closed: end a list with ], %(list)s, or put "
                           "text that starts with [ in quotes, %(text)s") % {
                "list": f"{match['key']}: {match['value'].rstrip(',')}]",
                "text": f"{match['key']}: {quoted(match['value'])}"}
        return line, _("a list in [ ] that is never closed; write it on one line, such as "
                       "[halsa, vald]")
    match = _KEY_VALUE.match(at(line))
    if match and "mapping values" in problem and ": " in match["value"]:
        return line, _("text with a colon (:) must be in quotes: %(fixed)s") % {
            "fixed": f"{match['key']}: {quoted(match['value'])}"}
    if match and match["value"][0] in "[{\"'&*!|>%@`" and (
            "block mapping" in context or "alias" in context or "anchor" in context
            or "cannot start any token" in problem):
        return line, _("text that starts with %(char)s must be in quotes: %(fixed)s") % {
            "char": match["value"][0], "fixed": f"{match['key']}: {quoted(match['value'])}"}
    if "mapping values" in problem:
        return line, _("a ':' where none is expected; indent this key like the keys above "
                       "it, or put text with a colon in quotes")
    what = " ".join(p for p in (context, problem) if p)
    return line, _("%(what)s; check the indentation and quoting") % {"what": what}


def _unclosed_quote(source: list[str], line: int) -> int | None:
    """The line, at or above ``line``, of a value whose opening quotation mark is never
    closed there (PyYAML reads on into the next lines and reports the error further down)."""
    for number in range(min(line, len(source) - 1), -1, -1):
        match = _KEY_VALUE.match(source[number])
        value = match["value"] if match else ""
        after = _KEY_VALUE.match(source[number + 1]) if number + 1 < len(source) else None
        if value[:1] in ("'", '"') and value.replace("\\" + value[0], "").count(value[0]) == 1 \
                and after is not None and match and after["lead"] == match["lead"]:
            return number  # the next line is the next key: the text never ended
    return None


# What each key is for, so that a missing one is explained rather than "field required".
MISSING = {
    "number": lambda: _("the issue's number is missing: add number: 1 (its number in the "
                        "year)"),
    "title": lambda: _("the title is missing: add title: with the title readers see"),
    "subject": lambda: _("the subject line is missing: add subject: with what the inbox "
                         "shows"),
    "send_at": lambda: _('the send time is missing: add send_at: "2027-02-16 09:00"'),
    "editor": lambda: _("the editor is missing: add editor: with name: and email: indented "
                        "below it"),
    "sections": lambda: _("the sections are missing: add sections: and list the files below "
                          "it, one per line starting with '- '"),
    "alt": lambda: _("the image has no alt text: describe what the image shows (alt: …)"),
    "src": lambda: _("the image has no file: add src: images/name.jpg"),
    "text": lambda: _("the button has no text: add text: with what the reader does"),
    "url": lambda: _("the link address is missing: add url: https://…"),
    "name": lambda: _("the name is missing: add name:"),
    "email": lambda: _("the email address is missing: add email:"),
}


def schema_message(model: type[BaseModel], error: Any, loc: Loc) -> str:
    """One pydantic error, worded for the author."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        wording = MISSING.get(str(loc[-1])) if loc else None
        return wording() if wording else _("%(key)s is missing; add it") % {"key": loc[-1]}
    if kind == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
        if hint:
            return _("unknown key; did you mean '%(key)s'?") % {"key": hint[0]}
        return _("unknown key; allowed keys: %(keys)s") % {"keys": ", ".join(known)}
    simple = {
        "int_parsing": _("write a whole number, such as 1"),
        "int_type": _("write a whole number, such as 1"),
        "int_from_float": _("write a whole number, such as 1"),
        "string_type": _("must be text; put it in quotes"),
        "string_too_short": _("must not be empty"),
        "list_type": _("must be a list: write each item on its own line starting with '- '"),
        "model_type": _("must have keys indented below it, one per line"),
        "dict_type": _("must have keys indented below it, one per line"),
        "model_attributes_type": _("must have keys indented below it, one per line"),
        "bool_parsing": _("write true or false"),
        "bool_type": _("write true or false"),
        "date_from_datetime_parsing": _("write a date as YYYY-MM-DD, such as 2027-03-01"),
        "date_parsing": _("write a date as YYYY-MM-DD, such as 2027-03-01"),
        "date_type": _("write a date as YYYY-MM-DD, such as 2027-03-01"),
    }
    if kind in simple:
        return simple[kind]
    if kind == "greater_than_equal":
        return _("must be %(limit)s or more") % {"limit": _number(ctx.get("ge"))}
    if kind == "greater_than":
        return _("must be more than %(limit)s") % {"limit": _number(ctx.get("gt"))}
    if kind == "less_than_equal":
        return _("must be %(limit)s or less") % {"limit": _number(ctx.get("le"))}
    if kind == "less_than":
        return _("must be less than %(limit)s") % {"limit": _number(ctx.get("lt"))}
    if kind == "too_short":
        return _("add at least %(count)s, one per line starting with '- '") % {
            "count": ctx.get("min_length", 1)}
    if kind == "too_long":
        return _("list at most %(count)s") % {"count": ctx.get("max_length")}
    if kind in ("enum", "literal_error"):
        values = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return _("must be one of: %(expected)s") % {"expected": or_list(values)}
    if kind in ("float_parsing", "float_type"):
        return _("write a number, such as 1.5")
    if kind == "string_too_long":
        return _("at most %(count)s characters") % {"count": ctx.get("max_length")}
    message = str(error["msg"]).removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def focus_hint(written: str, config: Config) -> str:
    """What to write instead of an unknown focus area: the slug whose name, short name or
    slug it resembles once å, ä and ö are plain letters (hälsa → halsa)."""
    known = {_folded(text): area.slug for area in config.focus_areas
             for text in (area.slug, area.short or "", area.name) if text}
    guess = known.get(_folded(written)) or next(iter(
        known[m] for m in difflib.get_close_matches(_folded(written), known, n=1)), None)
    slugs = ", ".join(sorted(area.slug for area in config.focus_areas))
    if guess and not written.isascii():
        return _("'%(written)s' is not a focus area; did you mean '%(slug)s'? Focus areas "
                 "are written without å, ä and ö: %(slugs)s") % {
            "written": written, "slug": guess, "slugs": slugs}
    if guess:
        return _("'%(written)s' is not a focus area; did you mean '%(slug)s'? The focus areas "
                 "are %(slugs)s") % {"written": written, "slug": guess, "slugs": slugs}
    return _("'%(written)s' is not a focus area; use one of %(slugs)s") % {
        "written": written, "slugs": slugs}


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the (nested) model found at ``loc``."""
    current: Any = model
    for part in loc:
        while get_origin(current) is not None and not isinstance(part, int):
            current = next((a for a in get_args(current) if _is_model(a) or get_origin(a)),
                           current)
            if get_origin(current) is None:
                break
        if isinstance(part, int):
            args = get_args(current)
            current = args[0] if args else current
        elif _is_model(current) and part in current.model_fields:
            current = current.model_fields[part].annotation
        else:
            return []
    while get_origin(current) is not None:
        current = next((a for a in get_args(current) if _is_model(a)), None)
    return list(current.model_fields) if _is_model(current) else []


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)
