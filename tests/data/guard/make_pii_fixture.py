"""Generate pii_fixture.jsonl: sentences with known PII and secrets, and hard negatives.

    python tests/data/guard/make_pii_fixture.py        # rewrites pii_fixture.jsonl beside it

Two splits from two seeds: `dev` (seed 1301, the only rows looked at while the finders were
written) and `test` (seed 7919, generated once and only measured: bench/eval_redaction.py reports
it). Each row: {"id", "split", "text", "spans": [{"kind", "start", "end", "value"}], "negative":
what look-alike the row carries, if any}. Positives are valid by construction (IBAN mod-97 check
digits and country lengths, Luhn check digits with real issuer prefixes, SSNs and NINOs in issued
ranges, phone numbers in real area codes, tokens in their vendors' published shapes); negatives
are what a finder is likely to confuse with them: dates, times, versions, handbook numbers, IP
addresses, coordinates, invalid checksums, placeholders, public keys, certificates, @handles.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("pii_fixture.jsonl")
SEEDS = {"dev": 1301, "test": 7919}
ROWS_PER_KIND = 60
NEGATIVE_ROWS = 240

ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits

FIRST = ["jane", "omar", "li", "priya", "sam", "ana", "kwame", "eva", "tomás", "noor", "max"]
LAST = ["doe", "haddad", "wei", "natarajan", "lee", "silva", "mensah", "berg", "ruiz", "khan"]
DOMAINS = [
    "example.org",
    "gsa.gov",
    "mail.example.co.uk",
    "acme-corp.com",
    "uni.edu",
    "fr.example.net",
]


def _email(rng: random.Random) -> str:
    first, last = rng.choice(FIRST).replace("á", "a"), rng.choice(LAST)
    local = rng.choice(
        [f"{first}.{last}", f"{first[0]}{last}", f"{first}_{last}{rng.randint(1, 99)}",
         f"{first}+hr", f"{last}.{first}", f"{first.upper()}.{last.capitalize()}"]
    )  # fmt: skip
    return f"{local}@{rng.choice(DOMAINS)}"


US_AREAS = ["212", "415", "617", "202", "312", "646", "718", "305", "206", "512", "303", "404"]


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _phone(rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind <= 2:  # US
        area, exchange, line = (
            rng.choice(US_AREAS),
            f"{rng.randint(2, 9)}{_digits(rng, 2)}",
            _digits(rng, 4),
        )
        if exchange[1:] == "11" or exchange == "555":
            exchange = "736"
        return rng.choice(
            [f"({area}) {exchange}-{line}", f"{area}-{exchange}-{line}", f"{area}.{exchange}.{line}",
             f"+1 {area} {exchange} {line}", f"+1-{area}-{exchange}-{line}"]
        )  # fmt: skip
    if kind <= 4:  # UK
        choice = rng.randrange(4)
        if choice == 0:
            return f"020 7{_digits(rng, 3)} {_digits(rng, 4)}"
        if choice == 1:
            return f"+44 20 3{_digits(rng, 3)} {_digits(rng, 4)}"
        if choice == 2:
            return f"0161 {rng.randint(2, 9)}{_digits(rng, 2)} {_digits(rng, 4)}"
        return f"07{rng.choice('3456789')}{_digits(rng, 2)} {_digits(rng, 6)}"
    if kind == 5:
        return f"+49 30 {rng.randint(2, 9)}{_digits(rng, 7)}"
    if kind == 6:
        return f"+33 1 {' '.join(_digits(rng, 2) for _ in range(4))}"
    return f"+31 20 {rng.randint(2, 9)}{_digits(rng, 2)} {_digits(rng, 4)}"


IBAN_FORMATS = {  # country: BBAN shape (n = digits, a = capitals, c = letters or digits)
    "GB": "aaaannnnnnnnnnnnnn", "DE": "nnnnnnnnnnnnnnnnnn", "FR": "nnnnnnnnnncccccccccccnn",
    "NL": "aaaannnnnnnnnn", "ES": "nnnnnnnnnnnnnnnnnnnn", "IT": "annnnnnnnnncccccccccccc",
    "BE": "nnnnnnnnnnnn", "CH": "nnnnnnnnnnnnnnnnn", "IE": "aaaannnnnnnnnnnnnn",
    "PL": "nnnnnnnnnnnnnnnnnnnnnnnn", "SE": "nnnnnnnnnnnnnnnnnnnn", "AT": "nnnnnnnnnnnnnnnn",
}  # fmt: skip


def _check_digits(country: str, bban: str) -> str:
    number = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{98 - number % 97:02d}"


def _iban_compact(rng: random.Random, broken: bool = False) -> str:
    country = rng.choice(sorted(IBAN_FORMATS))
    pick = {"n": string.digits, "a": string.ascii_uppercase, "c": UPPER_ALNUM}
    bban = "".join(rng.choice(pick[c]) for c in IBAN_FORMATS[country])
    check = _check_digits(country, bban)
    if broken:
        check = f"{(int(check) + rng.randint(1, 9)) % 100:02d}"
    return country + check + bban


def _grouped(compact: str) -> str:
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def _iban(rng: random.Random) -> str:
    compact = _iban_compact(rng)
    return compact if rng.random() < 0.4 else _grouped(compact)


def _luhn_complete(partial: str) -> str:
    for digit in string.digits:
        candidate = partial + digit
        total = 0
        for i, char in enumerate(reversed(candidate)):
            value = int(char) * (2 if i % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


def _card_digits(rng: random.Random) -> str:
    prefix, length = rng.choice(
        [("4", 16), ("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15),
         ("6011", 16), ("65", 16), ("3530", 16)]
    )  # fmt: skip
    return _luhn_complete(prefix + _digits(rng, length - len(prefix) - 1))


def _card_format(rng: random.Random, digits: str) -> str:
    style = rng.randrange(3)
    if style == 0:
        return digits
    sep = " " if style == 1 else "-"
    if len(digits) == 15:
        return sep.join((digits[:4], digits[4:10], digits[10:]))
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


def _card(rng: random.Random) -> str:
    return _card_format(rng, _card_digits(rng))


NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
NINO_SECOND = "ABCEGHJKLMNPRSTWXYZ"


def _national_id(rng: random.Random) -> str:
    if rng.random() < 0.5:
        area = rng.randint(1, 899)
        while area == 666:
            area = rng.randint(1, 899)
        sep = rng.choice(["-", " "])
        return f"{area:03d}{sep}{rng.randint(1, 99):02d}{sep}{rng.randint(1, 9999):04d}"
    prefix = rng.choice(NINO_FIRST) + rng.choice(NINO_SECOND)
    while prefix in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ"):
        prefix = rng.choice(NINO_FIRST) + rng.choice(NINO_SECOND)
    digits = [_digits(rng, 2) for _ in range(3)]
    suffix = rng.choice("ABCD")
    return (
        f"{prefix} {' '.join(digits)} {suffix}"
        if rng.random() < 0.6
        else prefix + "".join(digits) + suffix
    )


def _b64url(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(ALNUM + "-_") for _ in range(n))


def _token(rng: random.Random) -> str:
    kind = rng.randrange(11)
    if kind == 0:
        return "AKIA" + "".join(rng.choice(UPPER_ALNUM) for _ in range(16))
    if kind == 1:
        return "ghp_" + "".join(rng.choice(ALNUM) for _ in range(36))
    if kind == 2:
        return "github_pat_" + "".join(rng.choice(ALNUM + "_") for _ in range(82))
    if kind == 3:
        return f"xoxb-{_digits(rng, 12)}-{_digits(rng, 13)}-" + "".join(
            rng.choice(ALNUM) for _ in range(24)
        )
    if kind == 4:
        return "AIza" + _b64url(rng, 35)
    if kind == 5:
        return "sk_live_" + "".join(rng.choice(ALNUM) for _ in range(24))
    if kind == 6:
        header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
        body = (
            base64.urlsafe_b64encode(
                json.dumps({"sub": _digits(rng, 8), "iat": rng.randint(10**9, 2 * 10**9)}).encode()
            )
            .decode()
            .rstrip("=")
        )
        return f"{header}.{body}.{_b64url(rng, 43)}"
    if kind == 7:
        return "sk-proj-" + _b64url(rng, 48)
    if kind == 8:
        return "ya29." + _b64url(rng, 60)
    if kind == 9:
        return "".join(rng.choice("0123456789abcdef") for _ in range(32))  # needs its context
    return "".join(rng.choice(ALNUM) for _ in range(rng.randint(12, 20))) + _digits(rng, 2)


def _private_key(rng: random.Random) -> str:
    label = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    body = "\n".join(base64.b64encode(rng.randbytes(48)).decode() for _ in range(rng.randint(3, 6)))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"


GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "email": _email,
    "phone": _phone,
    "iban": _iban,
    "card": _card,
    "national_id": _national_id,
    "token": _token,
    "private_key": _private_key,
}

TEMPLATES = {
    "email": ["For payroll questions write to {v}.", "Contact: {v}", "Send the form to <{v}> by Friday.",
              "Her address ({v}) is in the directory.", "E-mail {v} or ask at the front desk."],
    "phone": ["Call the help desk on {v}.", "Phone: {v} (weekdays).", "Reach Omar at {v} after nine.",
              "The emergency line is {v}; it is staffed at night.", "Tel. {v}"],
    "iban": ["Refunds go to IBAN {v}.", "Account: {v} (Acme Ltd).", "Pay the deposit into {v} by Monday.",
             "IBAN {v}, reference TRAVEL."],
    "card": ["The corporate card is {v}.", "Charge it to card {v}, expiry 09/27.",
             "Card number: {v}", "Use {v} for conference fees."],
    "national_id": ["Her SSN is {v}.", "NI number {v} is on the payslip.", "Tax id: {v}",
                    "Enter {v} in the benefits form."],
    "token": ["Deploy with {v} as the key.", "Authorization: Bearer {v}", "api_key = \"{v}\"",
              "The bot token is {v}.", "export GITHUB_TOKEN={v}", "password: {v}"],
    "private_key": ["The server key:\n{v}\nKeep it safe.", "Paste this into the vault:\n{v}"],
}  # fmt: skip
CONTEXT_NEEDED = {'api_key = "{v}"', "Authorization: Bearer {v}", "password: {v}"}


def _positive(rng: random.Random, kind: str) -> tuple[str, dict[str, Any]]:
    value = GENERATORS[kind](rng)
    templates = TEMPLATES[kind]
    if kind == "token" and not value.startswith(
        ("AKIA", "ghp_", "github_pat_", "xox", "AIza", "sk_", "eyJ", "sk-", "ya29.")
    ):
        templates = sorted(CONTEXT_NEEDED)  # a bare random string is a secret only in context
    template = rng.choice(templates)
    if kind == "token" and "password" in template:
        value = "".join(rng.choice(ALNUM) for _ in range(10)) + _digits(rng, 2)
    text = template.replace("{v}", value)
    start = text.index(value)
    return text, {"kind": kind, "start": start, "end": start + len(value), "value": value}


def _negatives(rng: random.Random) -> list[tuple[str, str]]:
    year = rng.randint(2015, 2027)
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    version = ".".join(str(rng.randint(0, 20)) for _ in range(rng.randint(2, 4)))
    broken_card = _card_digits(rng)
    broken_card = broken_card[:-1] + str((int(broken_card[-1]) + rng.randint(1, 9)) % 10)
    unknown_issuer = _luhn_complete("9" + _digits(rng, 14))
    pub = base64.b64encode(rng.randbytes(48)).decode()
    return [
        ("date", f"The policy changed on {year}-{month:02d}-{day:02d}."),
        ("date", f"Submit timesheets by {day:02d}/{month:02d}/{year}."),
        ("date", f"Effective {month:02d}.{day:02d}.{year}, see the memo."),
        ("time", f"Core hours are {rng.randint(8, 10)}:00-{rng.randint(15, 17)}:30 ET."),
        ("version", f"Install version {version} of the client."),
        ("version", f"Build 10.0.{rng.randint(10000, 22999)}.{rng.randint(100, 4000)} is required."),
        ("handbook number", f"See section {rng.randint(1, 9)}.{rng.randint(1, 9)}.{rng.randint(1, 9)} of the handbook."),
        ("handbook number", f"File form SF-{rng.randint(50, 3000)} with HR."),
        ("handbook number", f"Grade GS-{rng.randint(5, 15)} step {rng.randint(1, 10)} pays more."),
        ("handbook number", f"Room {rng.randint(1000, 7999)}{rng.choice('ABCDEF')}, floor {rng.randint(1, 9)}."),
        ("handbook number", f"Ticket #{rng.randint(10000, 99999)} tracks the request."),
        ("handbook number", f"Executive Order {rng.randint(13000, 14200)} applies."),
        ("amount", f"The budget is ${rng.randint(1, 999)},{rng.randint(100, 999)},{rng.randint(100, 999)}.{rng.randint(10, 99)}."),
        ("zip", f"Mail it to Washington, DC {rng.randint(20001, 20599)}."),
        ("ip address", f"The printer is at 10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}."),
        ("coordinates", f"Meet at {rng.uniform(-80, 80):.4f}, {rng.uniform(-170, 170):.4f}."),
        ("invoice", f"Invoice {year}{month:02d}{day:02d}{rng.randint(10, 99)} is paid."),
        ("card, Luhn fails", f"The test number {_card_format(rng, broken_card)} is declined."),
        ("card, unknown issuer", f"Tracking number {unknown_issuer} for the parcel."),
        ("IBAN, checksum fails", f"The IBAN {_grouped(_iban_compact(rng, broken=True))} was rejected."),
        ("SSN, never issued", f"Example SSN {rng.choice(['000', '666', '9' + _digits(rng, 2)])}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}."),
        ("NINO, invalid", f"Temporary number {rng.choice(['QQ', 'GB', 'DF', 'TN'])} {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)} {rng.choice('ABCD')}."),
        ("placeholder", rng.choice(["Set api_key = YOUR_API_KEY before running.", "password: <your password>",
                                     "token=xxxxxxxx in the template", "Use Bearer <token> in the header."])),
        ("public key", f"-----BEGIN PUBLIC KEY-----\n{pub}\n-----END PUBLIC KEY-----"),
        ("certificate", f"-----BEGIN CERTIFICATE-----\n{pub}\n-----END CERTIFICATE-----"),
        ("handle", f"Ping @{rng.choice(FIRST)}-{rng.choice(LAST)} on Slack."),
        ("file name", f"Use icon@{rng.randint(2, 3)}x.png for retina screens."),
        ("git sha", "Fixed in commit " + "".join(rng.choice("0123456789abcdef") for _ in range(40)) + "."),
        ("uuid", f"Request id {rng.randbytes(4).hex()}-{rng.randbytes(2).hex()}-4{rng.randbytes(2).hex()[1:]}-a{rng.randbytes(2).hex()[1:]}-{rng.randbytes(6).hex()}."),
        ("phone-like", f"Serial {_digits(rng, 3)}-{_digits(rng, 3)}-{_digits(rng, 3)}-{_digits(rng, 3)}."),
        ("phone-like", f"Order {rng.randint(1000000, 9999999)} ships today."),
    ]  # fmt: skip


def rows(split: str) -> list[dict[str, Any]]:
    rng = random.Random(SEEDS[split])
    out: list[dict[str, Any]] = []
    for kind in GENERATORS:
        for _ in range(ROWS_PER_KIND):
            text, span = _positive(rng, kind)
            if rng.random() < 0.3:  # a look-alike in the same text
                negative, filler = rng.choice(_negatives(rng))
                text = f"{filler} {text}"
                span = {
                    **span,
                    "start": int(span["start"]) + len(filler) + 1,
                    "end": int(span["end"]) + len(filler) + 1,
                }
                out.append({"text": text, "spans": [span], "negative": negative})
            else:
                out.append({"text": text, "spans": [span], "negative": ""})
    for _ in range(NEGATIVE_ROWS):
        negative, text = rng.choice(_negatives(rng))
        out.append({"text": text, "spans": [], "negative": negative})
    for index, row in enumerate(out):
        row["id"] = f"{split}-{index:04d}"
        row["split"] = split
        for span in row["spans"]:
            assert row["text"][span["start"] : span["end"]] == span["value"]
    return out


def main() -> None:
    lines = [
        json.dumps(row, ensure_ascii=False, sort_keys=True)
        for split in SEEDS
        for row in rows(split)
    ]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} rows to {OUT}")


if __name__ == "__main__":
    main()
