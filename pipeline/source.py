"""Read authored files (YAML, TOML, front matter) keeping the line of every key.

``unsafe_path``, ``raster_format`` and ``image_folder_problems`` decide which files of an issue
folder may be read at all: no symbolic links, nothing outside the folder, and in ``images/``
only JPEG, PNG, GIF and WebP images (everything there is published).

``load_yaml`` parses with a YAML 1.2-like resolver (only ``true``/``false`` are booleans, dates
stay strings for the schema to parse), rejects duplicate keys, and returns the data with a
``Lines`` map from key path to source line. ``validate`` runs a pydantic schema over the data and
turns every error into a ``Problem`` with ``path:line: key: message``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import yaml
from PIL import Image as PILImage
from pydantic import BaseModel, ValidationError

from pipeline.errors import Problem
from pipeline.hints import schema_message, yaml_fix
from pipeline.i18n import _

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

_BOOL = "tag:yaml.org,2002:bool"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


MAX_YAML_BYTES = 256 * 1024
MAX_DEPTH = 20


class _Refused(yaml.MarkedYAMLError):
    """YAML that authors never need and attackers use: anchors, aliases, deep nesting."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1 surprises: ``no`` is a string, dates are strings.

    Anchors and aliases are refused (an alias bomb expands a few hundred bytes into
    gigabytes), and so is nesting deeper than ``MAX_DEPTH`` (it would exhaust the stack).
    """

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(_("an alias (*%(name)s); anchors and aliases are not allowed, "
                             "write the value out") % {"name": event.anchor}, event.start_mark)
        if getattr(event, "anchor", None):
            raise _Refused(_("an anchor (&%(name)s); anchors and aliases are not allowed, "
                             "write the value out") % {"name": event.anchor}, event.start_mark)
        if self.depth >= MAX_DEPTH:
            raise _Refused(_("nested more than %(depth)d levels deep") % {"depth": MAX_DEPTH},
                           event.start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass
class Lines:
    """Source line of each key path; unknown paths fall back to their nearest parent."""

    path: str
    by_loc: dict[Loc, int] = field(default_factory=dict)

    def line(self, loc: Loc) -> int:
        while loc and loc not in self.by_loc:
            loc = loc[:-1]
        return self.by_loc.get(loc, 1)


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(file)"


def load_yaml(text: str, lines: Lines, first_line: int = 1) -> tuple[Any, list[Problem]]:
    """Parse one YAML document; lines are numbered from ``first_line``."""
    offset = first_line - 1
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_YAML_BYTES:
        return None, [Problem(lines.path, first_line, "yaml", _(
            "%(size).1f KB is over the %(max)d KB limit for YAML") % {
                "size": size / 1024, "max": MAX_YAML_BYTES // 1024})]
    try:
        loader = _StrictLoader(text)
        try:
            node = loader.get_single_node()
            problems: list[Problem] = []
            data = _construct(loader, node, (), lines, offset, problems) if node else None
        finally:
            loader.dispose()
    except _Refused as exc:
        line = (exc.problem_mark.line + 1 if exc.problem_mark else 1) + offset
        return None, [Problem(lines.path, line, "yaml", str(exc.problem))]
    except yaml.MarkedYAMLError as exc:
        line, hint = yaml_fix(exc, text)
        return None, [Problem(lines.path, line + 1 + offset, "yaml", hint)]
    except yaml.YAMLError as exc:
        return None, [Problem(lines.path, first_line, "yaml", str(exc))]
    return data, problems


def _construct(
    loader: _StrictLoader, node: yaml.Node, loc: Loc, lines: Lines, offset: int,
    problems: list[Problem],
) -> Any:
    lines.by_loc.setdefault(loc, node.start_mark.line + 1 + offset)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            line = key_node.start_mark.line + 1 + offset
            if not isinstance(key, str):
                problems.append(Problem(lines.path, line, format_loc(loc) if loc else "yaml",
                                        _("key %(key)r must be text") % {"key": key}))
                continue
            if key in out:
                problems.append(Problem(lines.path, line, format_loc((*loc, key)), _(
                    "duplicate key (first on line %(line)d)") % {"line": lines.line((*loc, key))}))
                continue
            lines.by_loc[(*loc, key)] = line
            out[key] = _construct(loader, value_node, (*loc, key), lines, offset, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, child, (*loc, i), lines, offset, problems)
                for i, child in enumerate(node.value)]
    return loader.construct_object(node)


RASTER_FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
NOT_RASTER = "not a JPEG, PNG, GIF or WebP image"


def not_raster() -> str:
    return _("not a JPEG, PNG, GIF or WebP image")


def symlink() -> str:
    return _("a symbolic link; put the file itself in the issue folder")


def unsafe_path(folder: Path, name: str) -> str | None:
    """Why ``folder/name`` may not be read as part of the issue (None: it may).

    A symbolic link anywhere below ``folder`` could point at ``/proc/self/environ`` or a
    subscriber file and publish it; so could a path that resolves outside the folder.
    """
    current = folder
    for part in PurePosixPath(name).parts:
        current = current / part
        if current.is_symlink():
            return _("is %(what)s") % {"what": symlink()}
    root, target = folder.resolve(), (folder / name).resolve()
    if target != root and root not in target.parents:
        return _("is outside the issue folder")
    return None


def raster_format(source: Path | bytes) -> str | None:
    """The image's format if it is a JPEG, PNG, GIF or WebP Pillow can read, else None."""
    try:
        with PILImage.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            kind = image.format
            image.verify()
    except (OSError, SyntaxError, ValueError, PILImage.DecompressionBombError):
        return None
    return kind if kind in RASTER_FORMATS else None


def image_problem(folder: Path, src: str) -> str | None:
    """Why the image ``src`` a section names cannot be used (None: it can)."""
    if why := unsafe_path(folder, src):
        return why
    if (actual := _named_otherwise(folder, src)) is not None:
        return _("not found, but %(actual)s is: write the name exactly as the file is named "
                 "(the web server tells capital letters apart, even if your computer does "
                 "not)") % {"actual": actual}
    if not (folder / src).is_file():
        return _("not found in %(folder)s") % {"folder": folder}
    if raster_format(folder / src) is None:
        return _("is %(what)s; export it as one of those") % {"what": not_raster()}
    return None


def _named_otherwise(folder: Path, src: str) -> str | None:
    """The file's real name if ``src`` differs from it only in capital letters. macOS and
    Windows find ``Bild.JPG`` as ``bild.jpg``; the Linux server that publishes does not."""
    path = PurePosixPath(src)
    parent = folder.joinpath(*path.parts[:-1])
    try:
        names = [entry.name for entry in parent.iterdir()]
    except OSError:
        return None
    if path.name in names:
        return None
    same = [name for name in names if name.casefold() == path.name.casefold()]
    return str(path.with_name(same[0])) if same else None


def image_folder_problems(folder: Path, checked: set[str]) -> list[Problem]:
    """Every file in ``folder/images`` (but the ``checked`` ones, already reported where
    they are used) must be a real file holding a raster image: all of them are published."""
    images = folder / "images"
    if images.is_symlink():
        return [Problem(str(images), 1, "image", symlink())]
    if not images.is_dir():
        return []
    problems = []
    for file in sorted(images.iterdir()):
        if file.name.startswith(".") or f"images/{file.name}" in checked:
            continue
        if file.is_symlink():
            problems.append(Problem(str(file), 1, "image", symlink()))
        elif file.is_file() and raster_format(file) is None:
            problems.append(Problem(str(file), 1, "image", _(
                "%(what)s; export it as one of those, or remove it from images/") % {
                    "what": not_raster()}))
    return problems


def validate(model: type[M], data: Any, lines: Lines) -> tuple[M | None, list[Problem]]:
    """Validate ``data`` against ``model``; every error becomes a located Problem."""
    if data is None:
        return None, [Problem(lines.path, 1, "(file)",
                              _("is empty; docs/skribentguide.md shows the keys it needs"))]
    if not isinstance(data, dict):
        kind = _("a list") if isinstance(data, list) else _("a single value")
        return None, [Problem(lines.path, 1, "(file)", _(
            "must be a mapping of keys to values, not %(kind)s") % {"kind": kind})]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc: Loc = tuple(p for p in err["loc"] if isinstance(p, str | int) and p != "[key]")
            problems.append(Problem(lines.path, lines.line(loc), format_loc(loc),
                                    schema_message(model, err, loc)))
        return None, problems


_TABLE = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"]+)\s*\]\]?")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")


def toml_lines(text: str, path: str) -> Lines:
    """Locate keys in a TOML file written in the usual style (tables, arrays of tables).

    tomllib keeps no positions; this maps ``[table]``, ``[[array]]`` and ``key =`` lines to key
    paths, which is all an error message needs.
    """
    lines = Lines(path)
    table: Loc = ()
    counts: dict[Loc, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if match := _TABLE.match(raw):
            parts: Loc = tuple(p.strip('"') for p in match.group(2).split("."))
            if match.group(1) == "[[":
                index = counts.get(parts, -1) + 1
                counts[parts] = index
                parts = (*parts, index)
            table = parts
            lines.by_loc.setdefault(table, number)
        elif match := _KEY.match(raw):
            lines.by_loc.setdefault((*table, match.group(1)), number)
    return lines
