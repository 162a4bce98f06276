"""The command line as a user and a script see it: streamed answers, JSON, history, doctor, help."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from desktop.cli import EPILOG, _parser, main

ROOT = Path(__file__).resolve().parents[1]


def test_ask_streams_an_answer(capsys) -> None:
    assert (
        main(["ask", "What is the capital of France? Answer in one word.", "--max-tokens", "12"])
        == 0
    )
    captured = capsys.readouterr()
    assert "Paris" in captured.out
    assert "AI-generated" in captured.err and "tok/s" in captured.err


def test_ask_json_for_scripts(capsys) -> None:
    assert (
        main(
            [
                "ask",
                "What is the capital of France? Answer in one word.",
                "--json",
                "--max-tokens",
                "12",
            ]
        )
        == 0
    )
    payload = json.loads(capsys.readouterr().out)
    assert "Paris" in payload["answer"]
    assert payload["model"]["id"] == "smollm2-135m-instruct"
    assert payload["metrics"]["completion_tokens"] > 0 and payload["ai_generated"] is True


@pytest.mark.parametrize("question", ["", "   "])
def test_ask_empty_question_is_a_usage_error(question, capsys) -> None:
    assert main(["ask", question]) == 2
    assert "empty" in capsys.readouterr().err


def test_ask_save_without_keyring_refuses_to_store(monkeypatch, capsys) -> None:
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    monkeypatch.setattr("keyring.backend.get_all_keyring", lambda: [fail.Keyring()])
    try:
        assert main(["ask", "hello", "--save"]) == 5
    finally:
        keyring.set_keyring(previous)
    assert "keyring" in capsys.readouterr().err.lower()


def test_history_round_trip(memory_keyring, tmp_path, capsys) -> None:
    assert (
        main(
            [
                "ask",
                "What is the capital of France? Answer in one word.",
                "--save",
                "--max-tokens",
                "8",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["history", "list"]) == 0
    listing = capsys.readouterr().out
    conversation_id = int(listing.split()[0])
    assert "capital of France" in listing
    assert main(["ask", "And of Spain?", "--conversation", str(conversation_id), "--json"]) == 0
    capsys.readouterr()
    assert main(["history", "search", "spain"]) == 0
    assert "And of Spain" in capsys.readouterr().out
    out = tmp_path / "c.json"
    assert (
        main(["history", "export", str(conversation_id), "--format", "json", "--output", str(out)])
        == 0
    )
    messages = json.loads(out.read_text())["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[1]["model_sha256"] and messages[3]["metrics"]["reused_prefix_tokens"] >= 0
    assert main(["history", "delete", str(conversation_id)]) == 0
    capsys.readouterr()
    assert main(["history", "list"]) == 0
    assert capsys.readouterr().out.strip() == ""


def test_doctor_reports_everything(capsys) -> None:
    code = main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["llama_cpp"]["llama_cpp_python"] == "0.3.36"
    assert report["cpu"]["threads"] >= 1 and "gpu_offload" in report["llama_cpp"]
    assert {m["id"] for m in report["models"] if m["verified"]} >= {
        "smollm2-135m-instruct",
        "all-minilm-l6-v2",
    }
    assert "keyring" in report and "data_dir" in report and "packs" in report
    main(["doctor"])
    assert "Threads:" in capsys.readouterr().out


def test_every_command_is_documented_in_help_and_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    parser = _parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert isinstance(commands, dict)
    for name, sub in commands.items():
        assert name in EPILOG, name
        assert f"enclave {name}" in readme, name
        actions = [a for a in sub._actions if a.choices and isinstance(a.choices, dict)]
        for action in actions:
            for verb in action.choices:
                assert re.search(rf"enclave {name}[^`\n]*\b{verb}\b", readme), f"{name} {verb}"
