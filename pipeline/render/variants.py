"""Which distinct emails an issue needs: one per audience key.

A reader's variant depends on their segment and, for segments with focus areas (connected
actors), on which of *this issue's* sections match the focus areas they chose. Two readers whose
choices pick the same sections get the same email, so the key holds section ids, not areas:
an issue whose three tagged sections cover all six areas needs at most 2³ connected variants,
not 2⁶.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

from pipeline.config import Config
from pipeline.issue import Issue


@dataclass(frozen=True, order=True)
class VariantKey:
    segment: str
    focus_sections: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """File-name-safe label, e.g. ``general`` or ``connected+halsa-och-vald``."""
        return "+".join((self.segment, *self.focus_sections))

    @classmethod
    def parse(cls, name: str) -> VariantKey:
        segment, *sections = name.split("+")
        return cls(segment, tuple(sections))


def variant_label(key: VariantKey | str, issue: Issue, config: Config,
                  short: bool = False) -> str:
    """The variant as a communicator names it: "Prenumeranter", "Anslutna aktörer · fokus på
    hälsa och våld" (``short``: "Anslutna aktörer · hälsa, våld", for test subjects)."""
    key = VariantKey.parse(key) if isinstance(key, str) else key
    try:
        segment = config.segment(key.segment)
    except (StopIteration, KeyError):
        return key.name
    if not segment.focus:
        return segment.name
    covered = {area for section in issue.sections if section.id in key.focus_sections
               for area in section.front.focus}
    areas = [area.short or area.name for area in config.focus_areas if area.slug in covered]
    if not areas:
        return f"{segment.name} · {'inget eget fokus' if short else 'inget av numrets fokus'}"
    if short:
        return f"{segment.name} · {', '.join(areas)}"
    listed = ", ".join(areas[:-1]) + f" och {areas[-1]}" if len(areas) > 1 else areas[0]
    return f"{segment.name} · fokus på {listed}"


def variant_key(issue: Issue, config: Config, segment: str,
                focus_areas: frozenset[str] | set[str] = frozenset()) -> VariantKey:
    """The key for a reader in ``segment`` who chose ``focus_areas``."""
    if not config.segment(segment).focus:
        return VariantKey(segment)
    chosen = {
        section.id for section in issue.sections
        if section.for_segment(segment) and set(section.front.focus) & set(focus_areas)
    }
    return VariantKey(segment, tuple(s.id for s in issue.sections if s.id in chosen))


def variant_keys(issue: Issue, config: Config) -> dict[VariantKey, list[frozenset[str]]]:
    """Every key the issue can need, with the focus-area choices that lead to each."""
    out: dict[VariantKey, list[frozenset[str]]] = {}
    areas = [f.slug for f in config.focus_areas]
    for segment in config.segments:
        # a reader of a focus segment who chose no area (an import without focus areas) too
        out.setdefault(VariantKey(segment.slug), []).append(frozenset())
        if not segment.focus:
            continue
        for size in range(1, len(areas) + 1):
            for combo in combinations(areas, size):
                choice = frozenset(combo)
                out.setdefault(variant_key(issue, config, segment.slug, choice), []).append(choice)
    return dict(sorted(out.items()))


def chooser(issue: Issue, config: Config) -> Callable[[str, frozenset[str]], str]:
    """(segment, focus areas) → variant name, for ``select_recipients``."""
    return lambda segment, areas: variant_key(issue, config, segment, areas).name
