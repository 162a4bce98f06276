"""Enrolment and grants: audience keys reach exactly the enrolled user, signed and dated."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from desktop.engine.packs import grants
from desktop.engine.packs.errors import GrantRejected
from desktop.engine.packs.signing import key_id, sign


@pytest.fixture
def admin():
    return Ed25519PrivateKey.generate()


@pytest.fixture
def trusted(admin):
    return {key_id(admin.public_key()): admin.public_key()}


def _issue(request, admin, days=30, keys=None):
    return json.dumps(
        grants.issue_grant(
            request,
            pack_id="handbook",
            pack_version=2,
            roles=["staff"],
            audience_keys=keys or {"everyone": b"e" * 32, "staff": b"s" * 32},
            expires=datetime.now(UTC) + timedelta(days=days),
            admin_key=admin,
        )
    ).encode()


def test_enrol_grant_open(memory_keyring, admin, trusted) -> None:
    request = grants.enrolment_request(user="alice", machine="laptop-1")
    assert request["fingerprint"].count(":") == 7
    grant = grants.open_grant(_issue(request, admin), trusted)
    assert grant.user == "alice" and grant.roles == ("staff",)
    assert grant.audience_keys == {"everyone": b"e" * 32, "staff": b"s" * 32}
    # The private key lives in the keyring and is stable across calls.
    assert grants.enrolment_request()["public_key"] == request["public_key"]


def test_grant_for_someone_else_cannot_be_used(memory_keyring, admin, trusted) -> None:
    bob = X25519PrivateKey.generate()
    import base64

    from desktop.engine.storage import sealing

    bob_pub = sealing.public_bytes(bob.public_key())
    request = {
        "type": grants.REQUEST_TYPE,
        "user": "bob",
        "machine": "m",
        "public_key": base64.b64encode(bob_pub).decode(),
        "fingerprint": grants.fingerprint(bob_pub),
        "created": "2026-11-29T00:00:00Z",
    }
    raw = _issue(request, admin)
    with pytest.raises(GrantRejected, match="another key"):
        grants.open_grant(raw, trusted)  # alice's machine
    assert grants.open_grant(raw, trusted, private=bob).user == "bob"


def test_expired_unsigned_and_tampered_grants(memory_keyring, admin, trusted) -> None:
    request = grants.enrolment_request(user="alice")
    with pytest.raises(GrantRejected, match="expired"):
        grants.open_grant(_issue(request, admin, days=-1), trusted)
    with pytest.raises(GrantRejected, match="trusts"):
        grants.open_grant(_issue(request, Ed25519PrivateKey.generate()), trusted)
    envelope = json.loads(_issue(request, admin))
    envelope["signed"]["roles"] = ["hr"]
    with pytest.raises(GrantRejected, match="signature does not match"):
        grants.open_grant(json.dumps(envelope).encode(), trusted)


def test_audience_key_moved_between_audiences_is_refused(memory_keyring, admin, trusted) -> None:
    """A sealed key is bound to its pack, version and audience name, even under a valid signature."""
    request = grants.enrolment_request(user="alice")
    envelope = json.loads(_issue(request, admin))
    signed = envelope["signed"]
    signed["audiences"]["hr"] = signed["audiences"].pop("staff")
    with pytest.raises(GrantRejected, match="cannot be unsealed"):
        grants.open_grant(json.dumps(sign(signed, admin)).encode(), trusted)


def test_bad_enrolment_request_is_refused(admin) -> None:
    with pytest.raises(GrantRejected, match="invalid"):
        grants.issue_grant(
            {
                "type": grants.REQUEST_TYPE,
                "public_key": "AAAA",
                "fingerprint": "x",
                "user": "u",
                "machine": "m",
            },
            pack_id="p",
            pack_version=1,
            roles=[],
            audience_keys={"a": os.urandom(32)},
            expires=datetime.now(UTC),
            admin_key=admin,
        )


@pytest.mark.parametrize("version", ["2", True, 0, -1, 2**60])
def test_a_signed_grant_with_a_mistyped_version_is_refused(
    memory_keyring, admin, trusted, version
) -> None:
    """Signed is not the same as well-formed: "2", true or an out-of-range number as the pack
    version of a grant is refused, not coerced (the same rule as the manifest's)."""
    request = grants.enrolment_request(user="alice", machine="laptop-1")
    document = grants.issue_grant(
        request,
        pack_id="handbook",
        pack_version=version,  # type: ignore[arg-type]
        roles=["staff"],
        audience_keys={"everyone": b"e" * 32},
        expires=datetime.now(UTC) + timedelta(days=3),
        admin_key=admin,
    )
    with pytest.raises(GrantRejected):
        grants.open_grant(json.dumps(document).encode(), trusted)


@pytest.mark.parametrize("spec", [2, "1", True, None])
def test_a_grant_of_another_format_is_refused_not_guessed(
    memory_keyring, admin, trusted, spec
) -> None:
    """A grant from a newer Enclave (or a mistyped format) is refused with what to do, even
    under a valid signature: read as format 1 it could mean something else."""
    request = grants.enrolment_request(user="alice")
    signed = json.loads(_issue(request, admin))["signed"]
    if spec is None:
        del signed["spec_version"]
    else:
        signed["spec_version"] = spec
    with pytest.raises(GrantRejected, match="format") as caught:
        grants.open_grant(json.dumps(sign(signed, admin)).encode(), trusted)
    assert "Upgrade Enclave" in caught.value.hint
