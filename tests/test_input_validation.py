"""Attack tests: names and inputs are checked before they become paths, catalog entries or output.

Each test performs the attack through the CLI. Before the fix a user name or pack id from an
enrolment request, a grant or the command line could climb out of the folder it names a file in,
a name holding ESC sequences was printed raw, a control character in `--license` broke the model
catalog for every later command, `models add` checked only four magic bytes, and an unknown
conversation or a missing grant file ended in a traceback.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from desktop.cli import main
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.packs import grants
from desktop.engine.packs.manifest import format_time
from desktop.engine.packs.signing import load_private_key, sign
from desktop.engine.storage import sealing

ESCAPES = "\x1b[2J\x1b]0;owned\x07"


def _request(user: str) -> dict[str, Any]:
    """An enrolment request for `user`, as anyone can write one (no keyring needed)."""
    public = sealing.public_bytes(X25519PrivateKey.generate().public_key())
    return {
        "type": grants.REQUEST_TYPE,
        "user": user,
        "machine": "laptop",
        "public_key": base64.b64encode(public).decode(),
        "fingerprint": grants.fingerprint(public),
        "created": format_time(datetime.now(UTC)),
    }


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    assert main(["admin", "init", str(root)]) == 0
    keys = {"pack_id": "handbook", "version": 1, "audiences": {"everyone": "00" * 32}}
    (root / "packs" / "handbook-v1.keys.json").write_text(json.dumps(keys))
    return root


def _enrolled(workspace: Path, users: dict[str, dict[str, Any]]) -> None:
    """users.json as an earlier version (or a hand edit) could have left it."""
    records = {name: {"roles": ["employee"], "request": request} for name, request in users.items()}
    (workspace / "users.json").write_text(json.dumps(records))


def test_admin_enrol_refuses_a_user_name_that_is_a_path(workspace: Path, tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    for hostile in ("../../../outside", f"eve{ESCAPES}", "a/b", ".hidden", "x" * 65):
        request.write_text(json.dumps(_request(hostile)))
        enrol = ["admin", "enrol", str(request), "--roles", "employee"]
        code = main([*enrol, "--workspace", str(workspace)])
        assert code == ExitCode.PACK_REJECTED, hostile
    assert not (workspace / "users.json").exists()
    request.write_text(json.dumps(_request("José García@corp")))
    assert (
        main(["admin", "enrol", str(request), "--roles", "employee", "--workspace", str(workspace)])
        == 0
    )


def test_admin_grant_refuses_names_that_leave_the_grants_folder(
    workspace: Path, tmp_path: Path, capsys
) -> None:
    _enrolled(workspace, {"../../escape": _request("../../escape"), "alice": _request("alice")})
    code = main(
        ["admin", "grant", "../../escape", "--pack-id", "handbook", "--workspace", str(workspace)]
    )
    assert code == ExitCode.USAGE
    assert not list(tmp_path.glob("escape-*")), "a grant was written outside the workspace"
    # A pack id is globbed for its keys file: `..` reached keys outside the packs folder.
    (workspace / "outside-v1.keys.json").write_text(
        (workspace / "packs" / "handbook-v1.keys.json").read_text()
    )
    code = main(
        ["admin", "grant", "alice", "--pack-id", "../outside", "--workspace", str(workspace)]
    )
    assert code == ExitCode.USAGE
    assert "Pack id '../outside'" in capsys.readouterr().err
    assert (
        main(["admin", "grant", "alice", "--pack-id", "handbook", "--workspace", str(workspace)])
        == 0
    )
    assert (workspace / "grants" / "alice-handbook-v1.json").is_file()


def test_admin_output_escapes_control_characters(workspace: Path, capsys) -> None:
    _enrolled(workspace, {f"eve{ESCAPES}": _request("eve")})
    assert main(["admin", "users", "--workspace", str(workspace)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "eve\\x1b[2J\\x1b]0;owned\\x07" in out


def _trust(workspace: Path, config: Path) -> None:
    """Trust the workspace key for every pack id (both trust-file formats)."""
    folder = config / "trusted-keys"
    folder.mkdir(parents=True, exist_ok=True)
    public = (workspace / "admin.pub").read_text().strip()
    (folder / "admin.pub").write_text(public + "\n")
    (folder / "admin.toml").write_text(f'key = "{public}"\npacks = ["*"]\n')


def _forged_grant(workspace: Path, **fields: Any) -> dict[str, Any]:
    """A grant signed by the trusted admin key, sealed to this user, with hostile names."""
    request = grants.enrolment_request(user="alice", machine="laptop")
    recipient = sealing.load_public_key(request["public_key"])
    pack_id = fields.get("pack_id", "handbook")
    signed = {
        "type": grants.GRANT_TYPE,
        "spec_version": 1,
        "grant_id": secrets.token_hex(8),
        "user": "alice",
        "machine": "laptop",
        "fingerprint": request["fingerprint"],
        "pack_id": pack_id,
        "pack_version": 1,
        "roles": ["employee"],
        "audiences": {
            "everyone": sealing.seal(
                b"\0" * 32, recipient, f"{grants.AUDIENCE_KEY_LABEL}:{pack_id}:1:everyone"
            )
        },
        "issued": format_time(datetime.now(UTC)),
        "expires": format_time(datetime.now(UTC) + timedelta(days=30)),
    }
    signed.update(fields)
    return sign(signed, load_private_key(workspace / "admin.key"))


@pytest.mark.parametrize(
    "fields",
    [{"pack_id": "../../escaped"}, {"grant_id": "../../../escaped"}, {"user": f"alice{ESCAPES}"}],
    ids=["pack-id", "grant-id", "user"],
)
def test_grants_import_refuses_hostile_names_in_a_signed_grant(
    memory_keyring, workspace: Path, tmp_path: Path, capsys, fields: dict[str, str]
) -> None:
    _trust(workspace, tmp_path / "config")
    grant = tmp_path / "grant.json"
    grant.write_text(json.dumps(_forged_grant(workspace, **fields)))
    assert main(["grants", "import", str(grant)]) == ExitCode.PACK_REJECTED
    captured = capsys.readouterr()
    assert "not allowed" in captured.err
    assert "\x1b" not in captured.out + captured.err
    assert not list(tmp_path.rglob("*escaped*")), "a grant was written outside the grants folder"
    assert main(["grants", "list"]) == 0
    assert "alice" not in capsys.readouterr().out
    grant.write_text(json.dumps(_forged_grant(workspace)))
    assert main(["grants", "import", str(grant)]) == 0  # the same grant with plain names


def test_enrol_refuses_a_user_name_that_is_a_path(memory_keyring, tmp_path: Path) -> None:
    out = tmp_path / "request.json"
    assert main(["enrol", "--user", "../../x", "--out", str(out)]) == ExitCode.USAGE
    assert not out.exists()


def test_a_profile_that_is_a_path_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """Already refused by `paths.profile()` (checked here so it stays so)."""
    monkeypatch.setenv("ENCLAVE_PROFILE", "")  # main() sets it; restored after the test
    with pytest.raises(SystemExit) as exit_info:
        main(["--profile", "../x", "grants", "list"])
    assert exit_info.value.code == ExitCode.USAGE
    assert "invalid profile name" in capsys.readouterr().err


def test_a_missing_grant_file_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["grants", "import", str(tmp_path / "nope.json")]) == ExitCode.PACK_REJECTED
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_ask_with_an_unknown_conversation_is_a_clear_error(memory_keyring, capsys) -> None:
    assert main(["ask", "Hello?", "--conversation", "99999"]) == ExitCode.STORAGE
    assert "Conversation 99999 does not exist" in capsys.readouterr().err


# -- models add ---------------------------------------------------------------------------------


def _tiny_gguf(path: Path) -> Path:
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_context_length(64)
    writer.add_tensor("weight", np.zeros((4, 32), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("ENCLAVE_MODELS_DIR", str(folder))
    return folder


@pytest.mark.parametrize(
    "option",
    [
        ("--license", "MIT\x1b[31m"),
        ("--license", "MIT\n[[model]]"),
        ("--description", "line\rover"),
        ("--description", "\u202eevil"),
        ("--id", "../escape"),
    ],
    ids=["license-escape", "license-newline", "description-cr", "description-bidi", "id-path"],
)
def test_models_add_refuses_control_characters_and_the_catalog_keeps_working(
    models_dir: Path, tmp_path: Path, capsys, option: tuple[str, str]
) -> None:
    model = _tiny_gguf(tmp_path / "tiny.gguf")
    args = {"--id": "tiny", "--license": "MIT", "--description": "", **dict([option])}
    command = ["models", "add", str(model)] + [x for pair in args.items() for x in pair]
    assert main(command) == ExitCode.USAGE
    assert "refused" in capsys.readouterr().err
    assert main(["models", "list"]) == ExitCode.OK
    assert not list(models_dir.glob("*.gguf"))


def test_models_add_walks_the_whole_gguf_header(models_dir: Path, tmp_path: Path, capsys) -> None:
    good = _tiny_gguf(tmp_path / "good.gguf")
    huge_counts = tmp_path / "counts.gguf"
    huge_counts.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1 << 40, 0) + b"\0" * 4096)
    long_key = tmp_path / "key.gguf"
    long_key.write_bytes(b"GGUF" + struct.pack("<IQQQ", 3, 0, 1, 1 << 62) + b"\0" * 4096)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(good.read_bytes()[:-64])
    for bad, reason in (
        (huge_counts, "tensors"),
        (long_key, "string"),
        (truncated, "past the end"),
    ):
        assert main(["models", "add", str(bad), "--id", bad.stem, "--license", "MIT"]) == (
            ExitCode.MODEL_INVALID
        )
        assert reason in capsys.readouterr().err, bad.name
    assert main(["models", "add", str(good), "--id", "good", "--license", "MIT"]) == 0
    assert not (models_dir / "counts.gguf").exists()
    capsys.readouterr()
    assert main(["models", "list"]) == 0
    assert "verified" in next(
        line for line in capsys.readouterr().out.splitlines() if "good" in line
    )
    assert os.path.getsize(models_dir / "good.gguf") == good.stat().st_size


def test_error_messages_never_carry_terminal_escapes(tmp_path, capsys) -> None:
    """A hostile file name in an error message is printed with its escapes shown, not obeyed."""
    from desktop.cli import main

    hostile = tmp_path / "pack\x1b]0;pwned\x07\x1b[2J.enclavepack"
    code = main(["packs", "install", str(hostile)])
    err = capsys.readouterr().err
    assert code != 0 and "\x1b" not in err and "\x07" not in err
    assert "\\x1b" in err
