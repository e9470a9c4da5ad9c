"""What identifies and describes an organisation, checked alike by ``newsletter audience
import`` and the join form: its Swedish organisation number and its kind.

An organisation number is ten ASCII digits written NNNNNN-NNNN (the dash optional, spaces
ignored, an optional two-digit century such as 16 or 19 in front) whose last digit is the Luhn
check digit of the other nine; it is stored as NNNNNN-NNNN. A kind is an
``OrganisationKind`` slug, read in any case and with å, ä and ö allowed ("Företag").
"""

from __future__ import annotations

import re

from pipeline.audience.models import OrganisationKind

_ORG_NUMBER = re.compile(r"(?:16|19|20)?([0-9]{6})-?([0-9]{4})")  # an optional century


def org_number_digits(value: str) -> str | None:
    """The ten digits of something written like an organisation number (ASCII digits,
    NNNNNN-NNNN, the dash optional, an optional century in front), check digit unchecked."""
    match = _ORG_NUMBER.fullmatch(value.replace(" ", ""))
    return "".join(match.groups()) if match else None


def luhn_ok(digits: str) -> bool:
    """The last digit is the Luhn check digit of the others."""
    total = sum(sum(divmod(int(d) * (2 - i % 2), 10)) for i, d in enumerate(digits[:-1]))
    return (10 - total % 10) % 10 == int(digits[-1])


def org_number(value: str) -> str | None:
    """The number as NNNNNN-NNNN if it is a valid Swedish organisation number (ASCII digits,
    an optional century, the Luhn check digit), else None. The import and the join form."""
    digits = org_number_digits(value)
    if digits is None or not luhn_ok(digits):
        return None
    return f"{digits[:6]}-{digits[6:]}"


_FOLD = str.maketrans("åäö", "aao")


def organisation_kind(value: str) -> OrganisationKind | None:
    """A kind of organisation by its slug, any case, å, ä and ö allowed ('Företag')."""
    try:
        return OrganisationKind(value.strip().lower().translate(_FOLD))
    except ValueError:
        return None
