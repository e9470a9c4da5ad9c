"""What the service refuses: text it will not store or mail, and requests past a rate.

Fields, checked before anything is stored or mailed. Every text field refuses control and
line-separator characters: C0 (including CR, LF, TAB and NUL), DEL, C1 (including NEL),
U+2028/U+2029 and the bidirectional overrides. A name with a line break could split a mail
header, a NUL cannot be stored in PostgreSQL, ESC and BEL reach terminals and spreadsheets,
and a bidi override makes one name look like another. The organisation number is a Swedish
one: NNNNNN-NNNN (ASCII digits, the dash optional) whose last digit is the Luhn check digit
of the other nine, as ``newsletter audience import`` checks it.

Rates, for subscribe and join: sliding one-hour windows in memory, per process.

Keys are canonical, so variants of one client or one address share a window:

* a client address is the IP itself for IPv4 (and IPv4-mapped IPv6), and its /64 network
  for IPv6, since one subscriber line is usually given a whole /64;
* an email address is lower-cased, with any ``+tag`` cut from the local part (sub-addressing
  at every provider that has it, and harmless for the rest: a limit may only get stricter),
  and, for Gmail (``gmail.com``, ``googlemail.com``), with the dots removed from the local
  part and the domain written ``gmail.com``, as Gmail delivers all of them to one mailbox.

Entries expire: a key whose newest request is older than the window is dropped by a sweep at
most once a minute, and at most ``MAX_KEYS`` keys are held (past that, the service refuses new
keys until the sweep frees some, rather than growing without bound).
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import time
from collections import deque
from collections.abc import Callable

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def has_control(value: str) -> bool:
    """True when ``value`` holds a character no text field may hold."""
    return _CONTROL.search(value) is not None


def same(given: str, expected: str) -> bool:
    """Constant-time comparison that takes any text (``hmac.compare_digest`` refuses a
    non-ASCII ``str`` with a TypeError)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                               expected.encode("utf-8", "surrogatepass"))


def is_stamp(value: str) -> bool:
    """A Unix time in ASCII digits (``str.isdigit`` also takes '²' and '١')."""
    return value.isascii() and value.isdigit() and len(value) <= 12


GMAIL = frozenset({"gmail.com", "googlemail.com"})
MAX_KEYS = 200_000


def client_key(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def address_key(address: str) -> str:
    local, _, domain = address.lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


class RateLimit:
    """Sliding one-hour windows per client and per address, forgetting idle keys."""

    WINDOW = 3600.0
    SWEEP_EVERY = 60.0

    def __init__(self, per_client: int, per_address: int) -> None:
        self.limits = {"client": per_client, "address": per_address}
        self.seen: dict[str, deque[float]] = {}
        self.clock: Callable[[], float] = time.monotonic
        self.swept = self.clock()

    def allow(self, kind: str, key: str) -> bool:
        moment = self.clock()
        if moment - self.swept >= self.SWEEP_EVERY:
            self.sweep(moment)
        name = f"{kind}:{client_key(key) if kind == 'client' else address_key(key)}"
        stamps = self.seen.get(name)
        if stamps is None:
            if len(self.seen) >= MAX_KEYS:
                return False
            stamps = self.seen[name] = deque()
        while stamps and stamps[0] <= moment - self.WINDOW:
            stamps.popleft()
        if len(stamps) >= self.limits[kind]:
            return False
        stamps.append(moment)
        return True

    def sweep(self, moment: float) -> None:
        """Drop every key with no request inside the window."""
        self.swept = moment
        for name in [n for n, s in self.seen.items() if not s or s[-1] <= moment - self.WINDOW]:
            del self.seen[name]
