"""Each redaction kind: what is found (and what look-alikes are not), the checksums, the policy's
national id patterns, and `redact_text` for the audit log. Streaming is in test_output_streaming.py;
the measured recall and precision on the generated fixture in bench/eval_redaction.py."""

from __future__ import annotations

from dataclasses import replace

import pytest

from desktop.engine.guard.pii import (
    ContactError,
    Finder,
    Kind,
    PatternError,
    PublishedContacts,
    card_issuer,
    compile_national_id,
    iban_valid,
    luhn_valid,
    redact_text,
)
from desktop.engine.guard.toxicity import ToxicityScreen


def kinds(text: str, finder: Finder | None = None) -> list[tuple[Kind, str]]:
    return [(f.kind, text[f.start : f.end]) for f in (finder or Finder()).find(text)]


@pytest.mark.parametrize(
    ("text", "kind", "span"),
    [
        ("Write to jane.doe+hr@example.co.uk today.", Kind.EMAIL, "jane.doe+hr@example.co.uk"),
        ("Call +44 20 7946 0958 now", Kind.PHONE, "+44 20 7946 0958"),
        ("Call (212) 736-5000 now", Kind.PHONE, "(212) 736-5000"),
        ("Ring 020 7946 0958 today", Kind.PHONE, "020 7946 0958"),
        ("Berlin office: +49 30 901820.", Kind.PHONE, "+49 30 901820"),
        ("London (+44 20 7946 0958) too", Kind.PHONE, "+44 20 7946 0958"),
        ("Pay to GB82 WEST 1234 5698 7654 32 AND thanks", Kind.IBAN, "GB82 WEST 1234 5698 7654 32"),
        ("IBAN DE89370400440532013000.", Kind.IBAN, "DE89370400440532013000"),
        ("Card 4111 1111 1111 1111 expires", Kind.CARD, "4111 1111 1111 1111"),
        ("Amex 378282246310005 on file", Kind.CARD, "378282246310005"),
        ("Mastercard 5555-5555-5555-4444.", Kind.CARD, "5555-5555-5555-4444"),
        ("SSN 123-45-6789 on the form", Kind.NATIONAL_ID, "123-45-6789"),
        ("NINO AB 12 34 56 C on payslips", Kind.NATIONAL_ID, "AB 12 34 56 C"),
        ("key AKIAIOSFODNN7EXAMPLE in the config", Kind.TOKEN, "AKIAIOSFODNN7EXAMPLE"),
        (
            "token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 leaked",
            Kind.TOKEN,
            "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        ),
        (
            "slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx here",
            Kind.TOKEN,
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        ),
        (
            "maps AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW here",
            Kind.TOKEN,
            "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW",
        ),
        (
            "Authorization: Bearer abcDEF0123456789ghiJKL",
            Kind.TOKEN,
            "abcDEF0123456789ghiJKL",
        ),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U x",
            Kind.TOKEN,
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ),
        ('api_key = "s3cr3tValue99"', Kind.TOKEN, "s3cr3tValue99"),
        (
            "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----",
            Kind.PRIVATE_KEY,
            "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----",
        ),
    ],
)
def test_each_kind_is_found_with_its_exact_span(text: str, kind: Kind, span: str) -> None:
    assert kinds(text) == [(kind, span)]


@pytest.mark.parametrize(
    "text",
    [
        "The handbook was updated on 2024-01-15 and again on 15/01/2024.",
        "Install version 1.2.3 (build 4.5.6.7) from section 4.2.1.",
        "Card 4111 1111 1111 1112 fails the Luhn check.",  # one digit off
        "IBAN GB82 WEST 1234 5698 7654 33 has a wrong checksum.",
        "The SSN 000-12-3456 and 666-12-3456 are never issued.",
        "NINO QQ 12 34 56 C is the HMRC example prefix (never issued).",
        "Use api_key = YOUR_API_KEY in the template.",
        "Room 2104, extension 4471, invoice 20231104.",
        "Write to us at the address below; pricing is 12,500 per year.",
        "A PUBLIC KEY block is not secret: -----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----",
    ],
)
def test_look_alikes_are_left_alone(text: str) -> None:
    assert kinds(text) == []


def test_checksums() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert card_issuer("378282246310005") == "American Express"
    assert card_issuer("9111111111111111") is None
    assert iban_valid("GB82WEST12345698765432") and not iban_valid("GB82WEST12345698765433")
    assert not iban_valid("GB82WEST1234569876543")  # one character short for GB


def test_a_card_beside_another_number_is_still_found() -> None:
    text = "Order 20231104 card 4111 1111 1111 1111 thanks"
    assert kinds(text) == [(Kind.CARD, "4111 1111 1111 1111")]


def test_an_unterminated_private_key_is_redacted_to_the_end() -> None:
    text = "Here it is:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA"
    assert redact_text(text) == "Here it is:\n[private key removed]"


def test_national_id_patterns_come_from_the_policy() -> None:
    finder = Finder(
        national_ids={"FR INSEE": r"(?<!\d)[12] ?\d{2} ?\d{2} ?\d{5} ?\d{3} ?\d{2}(?!\d)"}
    )
    text = "Numéro 1 84 12 76451 089 46, SSN 123-45-6789."
    assert kinds(text, finder) == [(Kind.NATIONAL_ID, "1 84 12 76451 089 46")]
    with pytest.raises(PatternError, match="not a regular expression"):
        compile_national_id("broken", "([0-9]")


def test_a_policys_own_patterns_redact_whole_texts() -> None:
    finder = Finder(national_ids={"Staff id": r"\bEMP-\d{6}\b"})
    assert finder.redact("Badge EMP-123456, mail a@example.org") == (
        "Badge [national id removed], mail [e-mail removed]"
    )


def test_only_the_kinds_asked_for_are_found() -> None:
    text = "jane@example.org, +44 20 7946 0958"
    assert kinds(text, Finder(kinds=[Kind.PHONE])) == [(Kind.PHONE, "+44 20 7946 0958")]


def test_phone_regions_decide_which_national_formats_count() -> None:
    text = "Ring 020 7946 0958 or (212) 736-5000."
    assert [k for k, _ in kinds(text, Finder(phone_regions=["GB"]))] == [Kind.PHONE]
    assert len(kinds(text, Finder(phone_regions=["US", "GB"]))) == 2


def test_redact_text_replaces_every_kind_with_its_mark() -> None:
    text = (
        "Mail jane@example.org or +44 20 7946 0958; card 4111 1111 1111 1111; "
        "key AKIAIOSFODNN7EXAMPLE; SSN 123-45-6789."
    )
    assert redact_text(text) == (
        "Mail [e-mail removed] or [phone number removed]; card [card number removed]; "
        "key [secret removed]; SSN [national id removed]."
    )


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Honestly, you are such an idiot.", "insult"),
        ("What a stupid question that is.", "insult"),
        ("This is bullshit.", "profanity"),
        ("I will hurt you if you ask again.", "threat"),
        ("Just kill yourself.", "threat"),
    ],
)
def test_toxicity_rules_name_their_category(text: str, category: str) -> None:
    assert [s.category for s in ToxicityScreen().find(text)] == [category]


@pytest.mark.parametrize(
    "text",
    [
        "How do I kill a Python process that hangs?",
        "Where can I shoot photos in the office?",
        "The Scunthorpe office runs the assessment class.",
        "Execute the script and terminate the child processes.",
        "You are a valued member of the team.",
    ],
)
def test_benign_text_that_sounds_alarming_is_not_toxic(text: str) -> None:
    assert ToxicityScreen().find(text) == []


def test_the_policy_adds_its_own_toxicity_terms() -> None:
    screen = ToxicityScreen(["frobnicator"])
    assert [s.category for s in screen.find("You Frobnicator!")] == ["custom"]


def test_published_contacts_match_however_the_number_is_written() -> None:
    published = PublishedContacts.parse(
        ["ITServiceDesk@gsa.example", "@help.acme.example", "+1 (866) 450-5250"]
    )
    assert published.covers(Kind.EMAIL, "itservicedesk@GSA.example")
    assert published.covers(Kind.EMAIL, "anyone@help.acme.example")
    assert published.covers(Kind.EMAIL, "desk@eu.help.acme.example")  # a subdomain
    assert not published.covers(Kind.EMAIL, "someone@acme.example")
    assert not published.covers(Kind.EMAIL, "x@nothelp.acme.example")
    assert published.covers(Kind.PHONE, "866-450-5250")
    assert published.covers(Kind.PHONE, "+1 866 450 5250")
    assert not published.covers(Kind.PHONE, "866-450-5251")
    assert not published.covers(Kind.IBAN, "866-450-5250")
    assert not PublishedContacts.parse([])


def test_a_published_number_is_one_number_not_its_last_ten_digits() -> None:
    """Numbers compare as E.164 in the policy's regions: the same ten digits under another
    country code, a reading in another region, or an unpublished extension are other numbers."""
    us = PublishedContacts.parse(["+1 866 450 5250"])
    assert not us.covers(Kind.PHONE, "+91 86645 05250")  # India, the same last ten digits
    assert not us.covers(Kind.PHONE, "866-450-5250 ext. 12")  # someone's extension
    assert PublishedContacts.parse(["866-450-5250 ext. 12"]).covers(
        Kind.PHONE, "+1 (866) 450-5250 x12"
    )
    london = PublishedContacts.parse(["+44 (0)20 7946 0958"])
    assert london.covers(Kind.PHONE, "020 7946 0958")
    assert london.covers(Kind.PHONE, "+44 20 7946 0958")
    # Also a number in Maine when read in the US: shown only when every reading is published.
    assert not london.covers(Kind.PHONE, "(207) 946-0958")
    assert not london.covers(Kind.PHONE, "+1 207 946 0958")
    berlin = PublishedContacts.parse(["030 901820"], regions=("DE",))
    assert berlin.covers(Kind.PHONE, "+49 30 901820")
    with pytest.raises(ContactError, match="write it with its \\+country code"):
        PublishedContacts.parse(["030 901820"])  # not a number in the US or the UK
    with pytest.raises(ContactError, match="reads as another number"):
        PublishedContacts.parse(["(207) 946-0958"])  # Maine in the US, London in the UK


def test_a_published_address_inside_a_longer_one_is_still_redacted() -> None:
    from desktop.engine.answer.output_guard import OutputGuard
    from desktop.engine.policy.rules import Action, Policy

    policy = Policy(
        rules={"output.pii.email": Action.REDACT}, published_contacts=("desk@acme.example",)
    )
    shown, _ = OutputGuard(policy).scan("Write to desk@acme.example or jo!desk@acme.example.")
    assert shown.startswith("Write to desk@acme.example or ")
    assert "jo!desk@acme.example" not in shown
    wrapped = "Write to **desk@acme.example** or `desk@acme.example`."
    assert OutputGuard(policy).scan(wrapped)[0] == wrapped
    # Streamed in pieces, a pending match pulled back to the start keeps its real context.
    # ("aws" opens a partial AWS-secret match at the address's start.)
    jaws = replace(policy, published_contacts=("jaws@acme.example",))
    run = OutputGuard(jaws).start()
    text = "Mail x!jaws@acme.example secret then more words here to end."
    pieces = ["Mail x!", "jaws@acme.example secret", " then more words here to end."]
    shown = "".join(run.feed(p) for p in pieces) + run.finish()
    assert "x!jaws@acme.example" not in shown and shown.startswith("Mail x!")
    assert shown == OutputGuard(jaws).scan(text)[0]


@pytest.mark.parametrize("entry", ["itservicedesk", "helpdesk.example", "12345", "call us"])
def test_a_published_contact_that_is_none_of_the_three_is_refused(entry: str) -> None:
    with pytest.raises(ContactError, match="not an e-mail address"):
        PublishedContacts.parse([entry])
