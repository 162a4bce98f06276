"""Finders for personal data and secrets in text, and the marks that replace them.

Each kind has a candidate pattern (the `regex` module, for its partial matching) and, where a
format carries one, a validator: IBANs by their country length and ISO 13616 mod-97 checksum, card
numbers by issuer prefix and the Luhn checksum, phone numbers by libphonenumber's numbering plans
(`phonenumbers`, Apache-2.0) for the regions the policy names, national ids by the patterns the
policy configures (US SSN and UK NINO by default). API keys and tokens are recognised by the
published formats of AWS, GitHub, Slack, Google, Stripe and OpenAI keys, JWTs, `Bearer` tokens and
`api_key = ...` assignments; private keys by their PEM armour.

`Finder.find` returns validated, non-overlapping spans; `Finder.hold_from` says from where a
stream's tail could still be the start of a match, so a streaming filter never shows part of one.
`redact_text` replaces everything found under the built-in defaults by marks such as
"[e-mail removed]" (the audit log's "redacted" content uses it). `PublishedContacts` holds what the
policy says the organisation publishes (a service desk's number, a team mailbox, a whole
domain), which the output filter leaves as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import phonenumbers
import regex


class Kind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    IBAN = "iban"
    CARD = "card"
    NATIONAL_ID = "national_id"
    TOKEN = "token"  # API keys, access tokens, bearer tokens, JWTs
    PRIVATE_KEY = "private_key"


RULE_IDS: Mapping[Kind, str] = {
    Kind.EMAIL: "output.pii.email",
    Kind.PHONE: "output.pii.phone",
    Kind.IBAN: "output.pii.iban",
    Kind.CARD: "output.pii.card",
    Kind.NATIONAL_ID: "output.pii.national_id",
    Kind.TOKEN: "output.secret.token",
    Kind.PRIVATE_KEY: "output.secret.private_key",
}

MARKS: Mapping[Kind, str] = {
    Kind.EMAIL: "[e-mail removed]",
    Kind.PHONE: "[phone number removed]",
    Kind.IBAN: "[IBAN removed]",
    Kind.CARD: "[card number removed]",
    Kind.NATIONAL_ID: "[national id removed]",
    Kind.TOKEN: "[secret removed]",
    Kind.PRIVATE_KEY: "[private key removed]",
}

# Which kind wins when two spans overlap (a card number is also a run of digits a phone
# pattern would look at; a token inside a private key block is part of the key).
_PRIORITY: Mapping[Kind, int] = {
    Kind.PRIVATE_KEY: 0,
    Kind.TOKEN: 1,
    Kind.IBAN: 2,
    Kind.CARD: 3,
    Kind.NATIONAL_ID: 4,
    Kind.EMAIL: 5,
    Kind.PHONE: 6,
}

DEFAULT_NATIONAL_IDS: Mapping[str, str] = {
    # Area 000, 666 and 900-999, group 00 and serial 0000 are never issued; separators required
    # (nine bare digits are too often something else) and the same one twice.
    "US SSN": r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])",
    # HMRC: no D, F, I, Q, U or V in either prefix letter, no O second, reserved pairs excluded.
    "UK NINO": r"(?<![A-Za-z0-9])(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r" ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])",
}
DEFAULT_PHONE_REGIONS: tuple[str, ...] = ("US", "GB")
MAX_PATTERN_CHARS = 500  # a policy's national id pattern: long enough for any real format


class ContactError(ValueError):
    """A published contact that is neither an e-mail address, an @domain nor a phone number."""


_EMAIL_ADDRESS = regex.compile(r"[^@\s]{1,64}@(?:[a-z0-9-]{1,63}\.){1,8}[a-z]{2,24}", regex.I)
_DOMAIN = regex.compile(r"@(?:[a-z0-9-]{1,63}\.){1,8}[a-z]{2,24}", regex.I)
_PHONE_CHARS = regex.compile(
    r"(?P<number>\+?[\d\s().-]{7,40}?)(?:\s*(?:ext\.?|extension|x)\s*\d{1,6})?", regex.I
)


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _phone_keys(text: str, regions: Sequence[str]) -> frozenset[str]:
    """Every valid reading of the phone number `text` as E.164 (with its extension, if any): one
    when it is written with +country, else one per region of `regions` where it is valid."""
    keys: set[str] = set()
    for region in ("ZZ",) if text.lstrip().startswith("+") else regions:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            key = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            keys.add(f"{key};ext={number.extension}" if number.extension else key)
    return frozenset(keys)


# The local-part characters besides letters and digits (RFC 5322 atext and the dot): an exact
# published address preceded by a run of them and then a letter or digit ("jo!desk@...") is part
# of another address; preceded by them alone ("**desk@...**", "`desk@...`") it is wrapped.
_LOCAL_PART_STR = "!#$%&'*+-/=?^_`{|}~."


@dataclass(frozen=True)
class PublishedContacts:
    """E-mail addresses, whole @domains and phone numbers the organisation publishes to the
    people who read its documents: `output.pii.email` and `output.pii.phone` leave them in
    answers. Phone numbers are compared as E.164 numbers, read in the policy's phone `regions`
    unless written with +country, so "+1 (866) 450-5250" and "866-450-5250" are the same number
    while "+91 86645 05250" is not; a number found in an answer stays only when every region's
    reading of it is published (an extension must be published too)."""

    emails: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()
    regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS

    @classmethod
    def parse(
        cls, entries: Iterable[str], regions: Sequence[str] = DEFAULT_PHONE_REGIONS
    ) -> PublishedContacts:
        emails: set[str] = set()
        domains: set[str] = set()
        phones: set[str] = set()
        regions = tuple(regions) or ("ZZ",)
        for entry in entries:
            text = entry.strip()
            if _DOMAIN.fullmatch(text):
                domains.add(text[1:].lower())
            elif _EMAIL_ADDRESS.fullmatch(text):
                emails.add(text.lower())
            elif (phone := _PHONE_CHARS.fullmatch(text)) and 7 <= len(
                _digits(phone.group("number"))
            ) <= 15:
                keys = _phone_keys(text, regions)
                if len(keys) != 1:
                    why = (
                        "is a valid number in none of" if not keys else "reads as another number in"
                    )
                    raise ContactError(
                        f"published contact {entry!r} {why} the policy's phone regions "
                        f"({', '.join(regions)}); write it with its +country code"
                    )
                phones.update(keys)
            else:
                raise ContactError(
                    f"published contact {entry!r} is not an e-mail address, an @domain or a "
                    "phone number"
                )
        return cls(frozenset(emails), frozenset(domains), frozenset(phones), regions)

    def __bool__(self) -> bool:
        return bool(self.emails or self.domains or self.phones)

    def covers(self, kind: Kind, text: str) -> bool:
        """Whether `text`, found as `kind`, is one of these published contacts."""
        if kind is Kind.EMAIL:
            address = text.strip().lower()
            domain = address.rpartition("@")[2]
            return address in self.emails or any(
                domain == d or domain.endswith("." + d) for d in self.domains
            )
        if kind is Kind.PHONE:
            keys = _phone_keys(text, self.regions)
            return bool(keys) and keys <= self.phones
        return False

    def covers_at(self, finding: Finding, text: str, before: str = "") -> bool:
        """Whether `finding` in `text` is a published contact standing on its own: an address
        whose match starts inside a longer address ("jo!desk@...") is not, one wrapped in
        Markdown or quotes ("**desk@...**") is. `before`: the text preceding `text`, if any (a
        stream's earlier part)."""
        if finding.kind is Kind.EMAIL:
            preceding = (before + text[: finding.start]).rstrip(_LOCAL_PART_STR)
            if preceding[-1:].isalnum():
                return False
        return self.covers(finding.kind, text[finding.start : finding.end])


@dataclass(frozen=True)
class Finding:
    """One span of `text[start:end]` found to be `kind`; `detail` names the format."""

    kind: Kind
    start: int
    end: int
    detail: str = ""

    @property
    def rule(self) -> str:
        return RULE_IDS[self.kind]

    @property
    def mark(self) -> str:
        return MARKS[self.kind]


class PatternError(ValueError):
    """A national id pattern from a policy that does not compile."""


@dataclass(frozen=True)
class _Pattern:
    kind: Kind
    detail: str
    pattern: regex.Pattern[str]
    check: Callable[[str], bool] | None = None  # validator of the matched (secret) text
    group: str | None = None  # only this named group is the secret (the rest is context)
    # An answer that ends inside a match (cut by the token limit) still hides it: a partial match
    # at the very end of a finished text at least this long (0: never) that passes `cut_check`.
    cut_min: int = 0
    cut_check: Callable[[str], bool] | None = None

    def spans(self, text: str) -> Iterable[Finding]:
        for match in self.pattern.finditer(text, overlapped=False):
            start, end = match.span(self.group) if self.group else match.span()
            if start < 0 or end <= start:
                continue
            if self.check is None or self.check(text[start:end]):
                yield Finding(self.kind, start, end, self.detail)

    def cut_off(self, text: str) -> Finding | None:
        """A match the end of a finished `text` cut in two, if it is long enough to be one."""
        if not self.cut_min:
            return None
        for match in self.pattern.finditer(text, partial=True):
            if not match.partial or match.end() != len(text):
                continue
            part = match.group()
            if len(part) >= self.cut_min and (self.cut_check is None or self.cut_check(part)):
                return Finding(self.kind, match.start(), len(text), f"{self.detail} (cut off)")
        return None

    def open_from(self, text: str) -> int | None:
        """The start of a match that more text could still complete or extend, if any."""
        earliest: int | None = None
        for match in self.pattern.finditer(text, partial=True):
            start = match.start()
            if start >= len(text):
                continue
            if match.partial or self.pattern.fullmatch(text, pos=start, partial=True):
                earliest = start if earliest is None else min(earliest, start)
                break  # later matches start later
        return earliest


# -- validators -------------------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if i % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_issuer(digits: str) -> str | None:
    """The card scheme a number's prefix and length belong to (ISO/IEC 7812 ranges), or None."""
    n = len(digits)
    two, four, six = int(digits[:2]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4" and n in (13, 16, 19):
        return "Visa"
    if (51 <= two <= 55 or 2221 <= four <= 2720) and n == 16:
        return "Mastercard"
    if two in (34, 37) and n == 15:
        return "American Express"
    if (four == 6011 or two == 65 or 644 <= int(digits[:3]) <= 649) and n in (16, 19):
        return "Discover"
    if 3528 <= four <= 3589 and n in (16, 19):
        return "JCB"
    if (two in (36, 38, 39) or 300 <= int(digits[:3]) <= 305) and n in (14, 16, 19):
        return "Diners Club"
    if two == 62 and 16 <= n <= 19:
        return "UnionPay"
    if (two == 50 or 56 <= two <= 69 or six in (676770, 676774)) and 12 <= n <= 19:
        return "Maestro"
    return None


def _card_valid(text: str) -> bool:
    digits = "".join(c for c in text if c.isdigit())
    return 13 <= len(digits) <= 19 and card_issuer(digits) is not None and luhn_valid(digits)


# ISO 13616 registry: the length of each country's IBAN.
IBAN_LENGTHS: Mapping[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def iban_valid(compact: str) -> bool:
    """Country length and the mod-97 check (the number with its first four characters moved to
    the end, letters as 10..35, leaves 1)."""
    compact = compact.upper()
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    if not rearranged.isalnum() or not rearranged.isascii():
        return False
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


class _IbanPattern(_Pattern):
    """An IBAN is as long as its country says: take that many characters, spaces aside, so a
    following word in capitals is not swallowed."""

    def spans(self, text: str) -> Iterable[Finding]:
        for match in self.pattern.finditer(text):
            length = IBAN_LENGTHS.get(match.group()[:2])
            if length is None:
                continue
            taken, end = 0, match.start()
            while end < match.end() and taken < length:
                taken += text[end] != " "
                end += 1
            compact = text[match.start() : end].replace(" ", "")
            after = text[end : end + 1]
            if taken == length and not after.isalnum() and iban_valid(compact):
                yield Finding(self.kind, match.start(), end, f"IBAN ({compact[:2]})")


class _CardPattern(_Pattern):
    """Digits in groups: the longest run of whole groups that is a valid card number, so a
    reference number written next to a card does not hide it."""

    def spans(self, text: str) -> Iterable[Finding]:
        for match in self.pattern.finditer(text):
            groups = [(g.start(), g.end()) for g in regex.finditer(r"\d+", match.group())]
            found = _best_card(match.group(), groups)
            if found is not None:
                start, end = found
                digits = "".join(c for c in match.group()[start:end] if c.isdigit())
                issuer = card_issuer(digits) or "card"
                yield Finding(self.kind, match.start() + start, match.start() + end, issuer)


def _best_card(text: str, groups: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    for size in range(len(groups), 0, -1):
        for first in range(0, len(groups) - size + 1):
            start, end = groups[first][0], groups[first + size - 1][1]
            if _card_valid(text[start:end]):
                return start, end
    return None


def _assigned_cut(text: str) -> bool:
    """A cut `key = value` assignment: only once six characters of the value have been shown."""
    return regex.search(r"[:=]\s*[\"']?\S{6,}$", text) is not None


def _email_cut(text: str) -> bool:
    return "@" in text[:-1]


def _phone_cut(text: str) -> bool:
    return sum(c.isdigit() for c in text) >= 7


def _token_value(text: str) -> bool:
    """A value assigned to `api_key`/`token`/`secret`/`password`: a secret when it looks random
    (letters and digits mixed, or long), not a placeholder such as YOUR_API_KEY or <token>."""
    if text.strip("<>{}[]").upper().replace("-", "_").startswith(("YOUR_", "MY_", "XXX")):
        return False
    has_digit = any(c.isdigit() for c in text)
    has_alpha = any(c.isalpha() for c in text)
    return (has_digit and has_alpha) or len(text) >= 24


# -- the patterns ------------------------------------------------------------------------------

# A "domain" ending in a file extension is a file name ("icon@2x.png"), not an address.
_FILE_ENDINGS = "png|jpe?g|gif|svg|webp|bmp|ico|tiff?|pdf|css|js|json|html?|md|txt|zip|py"
_EMAIL = (
    r"(?<![\w.+%-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    rf"(?!(?:{_FILE_ENDINGS})(?![\w-]))[A-Za-z]{{2,24}}(?![\w-])"
)
# Digit groups with one separator between them (an optional +/00 country prefix, brackets around
# an area code): the shape libphonenumber is then asked about, and what a stream holds back.
# A model sometimes writes the brackets square ("[877] 472-6716"): held back the same way.
_PHONE = r"(?<![\w+.-])(?:\+|00)?[(\[]?\d{1,5}[)\]]?(?:[ .\-/]?[(\[]?\d{1,5}[)\]]?){1,6}(?![\w])"
_CARD = r"(?<![\d-])\d{2,8}(?:[ -]?\d{2,8}){0,7}(?![\d])"
_IBAN = r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,32}"
_PRIVATE_KEY_BEGIN = r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
_PRIVATE_KEY = _PRIVATE_KEY_BEGIN + r"[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"

_TOKENS: Sequence[tuple[str, str, str | None]] = (
    ("AWS access key id", r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Z0-9])", None),
    (
        "AWS secret access key",
        r"(?i)aws.{0,24}?(?:secret|key).{0,16}?[:=]\s*[\"']?(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        "secret",
    ),
    ("GitHub token", r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36,255}(?![A-Za-z0-9_])", None),
    ("GitHub token", r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,255}(?![A-Za-z0-9_])", None),
    ("Slack token", r"(?<![A-Za-z0-9-])xox[abposr]-[A-Za-z0-9-]{10,250}(?![A-Za-z0-9-])", None),
    ("Slack webhook", r"https://hooks\.slack\.com/services/[A-Za-z0-9_/]{20,120}", None),
    ("Google API key", r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])", None),
    ("Google OAuth token", r"(?<![A-Za-z0-9_-])ya29\.[0-9A-Za-z_-]{20,}", None),
    ("Stripe key", r"(?<![A-Za-z0-9_])(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}(?![A-Za-z0-9])", None),
    ("OpenAI key", r"(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{32,}(?![A-Za-z0-9_-])", None),
    (
        "JWT",
        r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}(?![A-Za-z0-9_-])",
        None,
    ),
    ("bearer token", r"(?i)\bbearer\s+(?P<secret>[A-Za-z0-9._~+/-]{16,}=*)", "secret"),
    (
        "assigned secret",
        r"(?i)\b(?:api[_-]?key|access[_-]?token|auth[_-]?token|secret[_-]?key|client[_-]?secret"
        r"|password|passwd|token|secret)[\"']?\s*[:=]\s*[\"']?(?P<secret>[A-Za-z0-9_\-./+=!@#$%^&*]{8,200})",
        "secret",
    ),
)  # fmt: skip


class _PrivateKeyPattern(_Pattern):
    """PEM armour: a block is held from its BEGIN line until its END line arrives (its body is
    base64 that no other pattern would recognise), and an unterminated block is still a key."""

    begin = regex.compile(_PRIVATE_KEY_BEGIN)

    def spans(self, text: str) -> Iterable[Finding]:
        last_end = 0
        for match in self.pattern.finditer(text):
            last_end = match.end()
            yield Finding(self.kind, match.start(), match.end(), "PEM private key")
        tail = self.begin.search(text, pos=last_end)
        if tail is not None:
            yield Finding(self.kind, tail.start(), len(text), "PEM private key (unterminated)")

    def open_from(self, text: str) -> int | None:
        last_end = 0
        for match in self.pattern.finditer(text):
            last_end = match.end()
        tail = self.begin.search(text, pos=last_end, partial=True)
        return tail.start() if tail is not None else None


def _compile(source: str) -> regex.Pattern[str]:
    return regex.compile(source, regex.VERSION0)


@lru_cache(maxsize=64)
def _patterns(national_ids: tuple[tuple[str, str], ...]) -> tuple[_Pattern, ...]:
    patterns: list[_Pattern] = [
        _PrivateKeyPattern(Kind.PRIVATE_KEY, "PEM private key", _compile(_PRIVATE_KEY)),
        *(
            _Pattern(
                Kind.TOKEN,
                detail,
                _compile(source),
                _token_value if group else None,
                group,
                cut_min=14 if group else 8,
                cut_check=_assigned_cut if group and detail != "bearer token" else None,
            )
            for detail, source, group in _TOKENS
        ),
        _IbanPattern(Kind.IBAN, "IBAN", _compile(_IBAN), cut_min=10),
        _CardPattern(Kind.CARD, "card", _compile(_CARD), cut_min=12),
        _Pattern(Kind.EMAIL, "e-mail address", _compile(_EMAIL), cut_min=3, cut_check=_email_cut),
    ]
    for name, source in national_ids:
        pattern = compile_national_id(name, source)
        patterns.append(_Pattern(Kind.NATIONAL_ID, name, pattern, cut_min=6))
    return tuple(patterns)


def compile_national_id(name: str, source: str) -> regex.Pattern[str]:
    """A policy's national id pattern, compiled; `PatternError` naming it when it cannot be."""
    if not source or len(source) > MAX_PATTERN_CHARS:
        raise PatternError(f"the national id pattern '{name}' is empty or over 500 characters")
    try:
        return _compile(source)
    except regex.error as exc:
        raise PatternError(
            f"the national id pattern '{name}' is not a regular expression: {exc}"
        ) from None


_PHONE_PATTERN = _compile(_PHONE)
_CITATION = _compile(r"\[\d{1,3}\]")
# An area code in square brackets, as `answer.evidence.NOT_A_PHONE` tells it from a citation.
_BRACKETED_AREA = _compile(r"\[(\d{2,5})\](?=[-. ]?\d{3,4}[-. ]?\d{3,4}(?!\d))")
_IBAN_SHAPE = _compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?")
_PHONE_CONTEXT = _compile(
    r"(?i)(?:phone|tel|telephone|mobile|cell|fax|call|ring|text|whatsapp|contact)\b\W{0,6}$"
)
_PHONE_CUT = _Pattern(Kind.PHONE, "phone number", _PHONE_PATTERN, cut_min=9, cut_check=_phone_cut)


class Finder:
    """The finders for the `kinds` a policy turns on, with its national id patterns and the
    phone regions whose national formats count (numbers written with +country always do)."""

    def __init__(
        self,
        kinds: Iterable[Kind] = tuple(Kind),
        national_ids: Mapping[str, str] = DEFAULT_NATIONAL_IDS,
        phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
    ) -> None:
        self.kinds = frozenset(kinds)
        self.phone_regions = tuple(phone_regions) or ("ZZ",)
        ids = tuple(sorted(national_ids.items())) if Kind.NATIONAL_ID in self.kinds else ()
        self._patterns = tuple(p for p in _patterns(ids) if p.kind in self.kinds)

    def find(self, text: str, *, final: bool = False) -> list[Finding]:
        """Validated spans of `text`, sorted, none overlapping (the more specific kind wins).
        `final`: `text` is the end of an answer, so a match it cuts off is found too."""
        found = [f for p in self._patterns for f in p.spans(text)]
        if Kind.PHONE in self.kinds:
            found += self._phones(text)
        # Inside an IBAN-shaped string (its checksum failed, or IBANs are off) no run of its
        # digits is a card or a phone number.
        shaped = [m.span() for m in _IBAN_SHAPE.finditer(text)]
        found = [
            f
            for f in found
            if f.kind not in (Kind.CARD, Kind.PHONE)
            or not any(s <= f.start and f.end <= e for s, e in shaped)
        ]
        if final:
            patterns = [*self._patterns, *([_PHONE_CUT] if Kind.PHONE in self.kinds else [])]
            found += [f for p in patterns if (f := p.cut_off(text)) is not None]
        found.sort(key=lambda f: (_PRIORITY[f.kind], f.start, f.start - f.end))
        chosen: list[Finding] = []
        for finding in found:
            if all(finding.end <= c.start or finding.start >= c.end for c in chosen):
                chosen.append(finding)
        return sorted(chosen, key=lambda f: f.start)

    def hold_from(self, text: str) -> int:
        """Where the tail of `text` that could still become (or grow) a match begins:
        `len(text)` when nothing is open. A streaming filter shows only what comes before."""
        block = self.open_block(text)
        # An open PEM block holds all that follows it, so the other patterns look only at the
        # text before it instead of rescanning the block at every token.
        scope = text if block is None else text[:block]
        hold = len(text) if block is None else block
        patterns = [p for p in self._patterns if p.kind is not Kind.PRIVATE_KEY]
        if Kind.PHONE in self.kinds:
            patterns.append(_Pattern(Kind.PHONE, "phone", _PHONE_PATTERN))
        for pattern in patterns:
            start = pattern.open_from(scope)
            if start is not None:
                hold = min(hold, start)
        return hold

    def redact(self, text: str) -> str:
        """`text` with everything found replaced by its mark: for a policy's own patterns,
        `Finder(national_ids=policy.national_ids, phone_regions=policy.phone_regions).redact`."""
        return apply(text, self.find(text, final=True))

    def open_block(self, text: str) -> int | None:
        """Where a private key block (or what may be its BEGIN line) that has not ended starts."""
        for pattern in self._patterns:
            if pattern.kind is Kind.PRIVATE_KEY:
                return pattern.open_from(text)
        return None

    def _phones(self, text: str) -> list[Finding]:
        if not any(c.isdigit() for c in text):
            return []
        found: dict[tuple[int, int], Finding] = {}
        # Citation marks ("0958 [1].") make libphonenumber read the bracket as part of the
        # number and give it up: blank them, keeping every offset.
        # An area code a model put in brackets ("[877] 472-6716") is read as one in parentheses.
        text = _BRACKETED_AREA.sub(r"(\1)", text)
        text = _CITATION.sub(lambda m: " " * len(m.group()), text)
        for region in self.phone_regions:
            for match in phonenumbers.PhoneNumberMatcher(
                text, region, leniency=phonenumbers.Leniency.VALID
            ):
                if match.raw_string.isdigit() and not _PHONE_CONTEXT.search(
                    text, max(0, match.start - 24), match.start
                ):
                    continue  # a bare run of digits is an id or a date, unless called a phone
                region_code = phonenumbers.region_code_for_number(match.number) or region
                start = match.start
                if match.raw_string.startswith("(") and ")" not in match.raw_string:
                    start += 1  # "(+44 20 7946 0958)": the bracket is the sentence's, keep it
                found[(start, match.end)] = Finding(
                    Kind.PHONE, start, match.end, f"phone number ({region_code})"
                )
        return list(found.values())


def apply(text: str, findings: Iterable[Finding], marks: Mapping[Kind, str] = MARKS) -> str:
    """`text` with each finding's span replaced by its mark (findings must not overlap)."""
    out: list[str] = []
    position = 0
    for finding in sorted(findings, key=lambda f: f.start):
        out.append(text[position : finding.start])
        out.append(marks[finding.kind])
        position = finding.end
    out.append(text[position:])
    return "".join(out)


_DEFAULT_FINDER: Finder | None = None


def redact_text(text: str) -> str:
    """`text` with every e-mail address, phone number, IBAN, card number, national id (the
    built-in US SSN and UK NINO formats), API key or token and private key replaced by its mark."""
    global _DEFAULT_FINDER
    if _DEFAULT_FINDER is None:
        _DEFAULT_FINDER = Finder()
    return _DEFAULT_FINDER.redact(text)
