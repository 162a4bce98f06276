"""Keys are not silently replaced (issue 11, class 7).

Each test performs the replacement as it would happen: an administrator re-running
`enclave history recovery-keygen` over the organisation's recovery key; someone dropping their own
`recovery.pub` into the config folder; a keyring that lost the enrolment key. Before the fix each
one replaced the key without a word; now each is refused with what to do, and happens only on an
explicit `--replace` / `--replace-key`, with a notice.
"""

from __future__ import annotations

import json
import logging
import os
import secrets as pysecrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from desktop.cli import main
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.packs import grants, trust
from desktop.engine.storage import history


def test_recovery_keygen_refuses_to_overwrite_the_recovery_key(tmp_path, capsys) -> None:
    out = tmp_path / "recovery"
    assert main(["history", "recovery-keygen", str(out)]) == ExitCode.OK
    original = (out / "recovery.key").read_text()
    capsys.readouterr()

    assert main(["history", "recovery-keygen", str(out)]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "not overwritten" in err and "--replace" in err
    assert (out / "recovery.key").read_text() == original

    assert main(["history", "recovery-keygen", str(out), "--replace"]) == ExitCode.OK
    assert "previous pair was kept" in capsys.readouterr().err
    assert (out / "recovery.key").read_text() != original
    kept = [p for p in out.iterdir() if p.name.startswith("recovery-replaced-")]
    assert sorted(p.suffix for p in kept) == [".key", ".pub"]
    assert next(p for p in kept if p.suffix == ".key").read_text() == original


def test_a_dropped_recovery_pub_does_not_reseal_the_history_key(
    memory_keyring, tmp_path, capsys, caplog
) -> None:
    config = Path(os.environ["ENCLAVE_CONFIG_DIR"])
    config.mkdir(parents=True)
    assert main(["history", "recovery-keygen", str(tmp_path / "org")]) == ExitCode.OK
    assert main(["history", "recovery-keygen", str(tmp_path / "attacker")]) == ExitCode.OK
    org_pub = (tmp_path / "org" / "recovery.pub").read_text().strip()
    (config / "recovery.pub").write_text(org_pub + "\n")
    assert main(["history", "list"]) == ExitCode.OK  # first use: sealed to the org's key
    assert json.loads(history.sealed_key_path().read_text())["recipient"] == org_pub

    attacker_pub = (tmp_path / "attacker" / "recovery.pub").read_text().strip()
    (config / "recovery.pub").write_text(attacker_pub + "\n")
    with caplog.at_level(logging.WARNING, logger="enclave.keys"):
        assert main(["history", "list"]) == ExitCode.OK
    assert json.loads(history.sealed_key_path().read_text())["recipient"] == org_pub
    assert "not re-sealed" in caplog.text
    capsys.readouterr()
    main(["doctor", "--json"])
    recovery = json.loads(capsys.readouterr().out)["recovery"]
    assert recovery["mismatch"] and "recovery-reseal --replace" in recovery["state"]

    assert main(["history", "recovery-reseal"]) == ExitCode.USAGE
    assert "Nothing was changed" in capsys.readouterr().err
    assert json.loads(history.sealed_key_path().read_text())["recipient"] == org_pub
    assert main(["history", "recovery-reseal", "--replace"]) == ExitCode.OK
    assert "notice" in capsys.readouterr().out
    assert json.loads(history.sealed_key_path().read_text())["recipient"] == attacker_pub


def _trust_admin(admin: Ed25519PrivateKey) -> None:
    folder = Path(os.environ["ENCLAVE_CONFIG_DIR"]) / trust.TRUSTED_DIR_NAME
    folder.mkdir(parents=True)
    (folder / "org.toml").write_text(trust.trust_file_text(admin.public_key(), ["handbook"]))


def test_a_lost_keyring_does_not_silently_replace_the_enrolment_key(
    memory_keyring, tmp_path, capsys
) -> None:
    admin = Ed25519PrivateKey.generate()
    _trust_admin(admin)
    assert main(["enrol", "--user", "alice", "--out", str(tmp_path / "request.json")]) == 0
    request = json.loads((tmp_path / "request.json").read_text())
    grant = grants.issue_grant(
        request,
        pack_id="handbook",
        pack_version=1,
        roles=["employee"],
        audience_keys={"everyone": pysecrets.token_bytes(32)},
        expires=datetime.now(UTC) + timedelta(days=30),
        admin_key=admin,
    )
    (tmp_path / "grant.json").write_text(json.dumps(grant))
    assert main(["grants", "import", str(tmp_path / "grant.json")]) == ExitCode.OK
    capsys.readouterr()

    memory_keyring.store.clear()  # the keyring lost its entries
    again = tmp_path / "request-again.json"
    assert main(["enrol", "--user", "alice", "--out", str(again)]) == ExitCode.KEYRING
    err = capsys.readouterr().err
    assert "missing from the keyring" in err and "Nothing was replaced" in err
    assert "--replace-key" in err and request["fingerprint"] in err
    assert not again.exists()
    assert main(["grants", "list"]) == ExitCode.KEYRING  # the grant is not silently dropped
    capsys.readouterr()

    new = tmp_path / "request-new.json"
    assert main(["enrol", "--user", "alice", "--replace-key", "--out", str(new)]) == 0
    err = capsys.readouterr().err
    assert "notice: new enrolment key" in err and "1 grant(s)" in err
    assert json.loads(new.read_text())["fingerprint"] != request["fingerprint"]
    assert main(["grants", "list"]) == ExitCode.OK  # the old grant opens nothing now


def test_a_new_profile_still_gets_its_key_without_being_asked(memory_keyring, tmp_path) -> None:
    assert main(["enrol", "--out", str(tmp_path / "r.json")]) == ExitCode.OK
    assert main(["enrol", "--out", str(tmp_path / "r2.json")]) == ExitCode.OK
    first, second = (json.loads((tmp_path / n).read_text()) for n in ("r.json", "r2.json"))
    assert first["fingerprint"] == second["fingerprint"]
