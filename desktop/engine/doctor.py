"""A plain report of what this installation has and can do, for `enclave doctor` and About."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from desktop import __version__
from desktop.engine.core import paths
from desktop.engine.core.errors import EngineError
from desktop.engine.policy.signed import policy_status, status_lines
from desktop.engine.runtime import hardware, modelfiles
from desktop.engine.runtime.catalog import TRANSLATOR_ENV, Catalog


def _llama_info() -> dict[str, Any]:
    import llama_cpp

    return {
        "llama_cpp_python": llama_cpp.__version__,
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
        "amx_kernels_bypassed": hardware.amx_build(),
    }


def _keyring_info() -> dict[str, Any]:
    from desktop.engine.storage import secrets

    return secrets.describe_backend()


def _trust_info() -> dict[str, Any]:
    """Every key this profile trusts and the pack ids it may sign; files that trust nothing."""
    from desktop.engine.packs import trust

    trusted = trust.trusted_keys()
    override = paths.config_override()
    return {
        "root": str(trust.trusted_keys_dir()),
        "override": f"{paths.CONFIG_OVERRIDE_ENV}={override}" if override else "",
        "keys": [
            {
                "key_id": k.key_id,
                "name": k.name,
                "packs": list(k.packs),
                "demo": k.demo,
                "file": k.source,
            }
            for k in trusted.keys
        ],
        "ignored": [{"file": i.path, "reason": i.reason} for i in trusted.ignored],
    }


def _recovery_info() -> dict[str, Any]:
    from desktop.engine.storage import history

    try:
        status = history.recovery_status()
    except (OSError, ValueError) as exc:
        return {"state": f"unreadable ({exc})", "mismatch": False}
    return {"state": status.describe(), "mismatch": status.mismatch}


def _system_info() -> dict[str, Any]:
    """System packages the window and a llama.cpp rebuild need, with the install command."""
    from desktop.engine.core import prereqs

    window = prereqs.check(window=True, build=False)
    frozen = getattr(sys, "frozen", False)  # a bundle never compiles llama-cpp-python
    build = prereqs.check(window=False, build=not frozen, distro=window.distro)
    return {
        "distro": window.distro.name or window.distro.id or platform.system(),
        "family": window.distro.family,
        "qt_platforms": prereqs.platform_plugins(),
        "window_missing": [m.item for m in window.missing],
        "window_command": window.install_command(),
        "build_missing": [m.item for m in build.missing],
        "build_command": build.install_command(),
        "ocr_missing": [m.item for m in prereqs.ocr_missing(window.distro)],
        "ocr_command": prereqs.ocr_install_hint(window.distro),
        "text": prereqs.describe(window),
    }


def _provisioning_info() -> dict[str, Any]:
    """The drop folders this account reads at start (read-only here: doctor installs nothing)."""
    from desktop.engine.packs import provision

    folders = []
    for label, folder in provision.drop_folders():
        files = sum(1 for _ in provision.candidates(folder)) if folder.is_dir() else None
        warning = provision.writable_warning(folder) if label.startswith("machine") else ""
        folders.append({"label": label, "path": str(folder), "files": files, "warning": warning})
    return {"folders": folders}


def _audit_info() -> dict[str, Any]:
    """Whether this profile has an audit log and how long it is, read from `audit.head` (no key
    needed: `enclave audit verify` checks the chain itself), and what the policy keeps."""
    from desktop.engine.audit.store import HEAD_NAME, audit_path

    store = audit_path()
    info: dict[str, Any] = {"path": str(store), "present": store.exists(), "records": 0}
    try:
        head = json.loads((store.parent / HEAD_NAME).read_text(encoding="ascii"))
        info["records"] = int(head["seq"])
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        info["records"] = None  # unreadable: `enclave audit verify` says what is wrong
    return info


def _packs(data: Path) -> list[str]:
    packs = data / "packs"
    return sorted(p.name for p in packs.iterdir() if p.is_dir()) if packs.is_dir() else []


def report() -> dict[str, Any]:
    threads = hardware.plan_threads()
    out: dict[str, Any] = {
        "enclave": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "llama_cpp": _llama_info(),
        "cpu": {
            "features": hardware.cpu_features(),
            "physical_cores": threads.physical_cores,
            "logical_cpus": threads.logical_cpus,
            "threads": threads.n_threads,
            "threads_batch": threads.n_threads_batch,
        },
        "gpu_layers": hardware.default_gpu_layers(),
        "data_dir": str(paths.data_dir()),
        "config_dir": str(paths.system_config_dir()),
        "packs": _packs(paths.data_dir()),
    }
    try:
        catalog = Catalog.load()
        out["models"] = [
            {
                "id": s.entry.id,
                "role": s.entry.role,
                "license": s.entry.license,
                "present": s.present,
                "verified": s.verified,
                "problem": s.problem,
                "on_demand": s.entry.on_demand,
                "translates": s.entry.translates,
                "path": str(s.entry.path),
            }
            for s in (modelfiles.status(e) for e in catalog)
        ]
        translator = catalog.translator()
        # Which model puts questions not in English into English: ENCLAVE_TRANSLATOR may name
        # another, or "chat" (then the chat model does it, and a `translates` entry is unused).
        out["translator"] = translator.id if translator is not None else "chat model"
    except EngineError as exc:
        out["models"] = [{"error": str(exc)}]
    out["keyring"] = _keyring_info()
    out["system"] = _system_info()
    out["provisioning"] = _provisioning_info()
    out["trust"] = _trust_info()
    out["recovery"] = _recovery_info()
    out["policy"] = policy_status().as_dict()
    out["audit"] = _audit_info()
    out["native_crashes"] = _native_crashes()
    return out


def _native_crashes() -> list[dict[str, str]]:
    """Reports left by processes that died inside native code (`core.native_crash`)."""
    from desktop.engine.core import native_crash

    try:
        found = native_crash.reports()
    except EngineError:
        return []
    return [{"path": str(p), "failed": native_crash.what_failed(p, with_frame=True)} for p in found]


def healthy(rep: dict[str, Any]) -> bool:
    """True when the default models are usable and the window's system libraries are present;
    keyring problems are reported, not fatal here, nor a missing translator (the chat model
    translates then)."""
    models = rep.get("models", [])
    optional = ("on_demand", "translates")
    needed = [
        m
        for m in models
        if "error" in m or not (any(m.get(k) for k in optional) and not m.get("present"))
    ]
    window_ok = not rep.get("system", {}).get("window_missing")
    policy_ok = rep.get("policy", {}).get("state") != "refused"  # a refused policy answers nothing
    return (
        bool(needed)
        and all(m.get("verified") for m in needed if "error" not in m)
        and window_ok
        and policy_ok
    )


def format_text(rep: dict[str, Any]) -> str:
    lines = [
        f"Enclave {rep['enclave']}  (Python {rep['python']}, {rep['platform']})",
        f"llama.cpp:   llama-cpp-python {rep['llama_cpp']['llama_cpp_python']}, "
        f"GPU offload {'supported' if rep['llama_cpp']['gpu_offload'] else 'not in this build'}",
        f"             {rep['llama_cpp']['system_info']}",
        *(
            [
                "             this build has Intel AMX kernels, which crash on some CPUs: models "
                "load with plain CPU kernels (rerun `bash installer/setup.sh` to rebuild without AMX)"
            ]
            if rep["llama_cpp"].get("amx_kernels_bypassed")
            else []
        ),
        f"CPU:         {rep['cpu']['physical_cores']} physical cores, "
        f"{rep['cpu']['logical_cpus']} logical; features {', '.join(rep['cpu']['features']) or '-'}",
        f"Threads:     {rep['cpu']['threads']} for generation, "
        f"{rep['cpu']['threads_batch']} for prompt evaluation",
        f"GPU layers:  {rep['gpu_layers']} (-1 = all)",
        f"Data dir:    {rep['data_dir']}",
        f"Config dir:  {rep['config_dir']} (trusted admin keys and policy)",
        f"Keyring:     {rep['keyring']['backend']} -> "
        f"{'usable' if rep['keyring']['secure'] else 'NOT usable: ' + rep['keyring']['reason']}",
    ]
    lines += _system_lines(rep["system"])
    lines.append("Models:")
    for model in rep["models"]:
        if "error" in model:
            lines.append(f"  ! {model['error']}")
            continue
        state = "verified" if model["verified"] else model["problem"]
        if model.get("on_demand") and not model["present"]:
            state = "on demand: `enclave models fetch --id ID`"
        elif model.get("translates") and not model["present"]:
            state = (
                "not installed: the chat model translates questions not in English "
                f"(`enclave models fetch --id {model['id']}`)"
            )
        elif model["id"] == rep.get("translator") and model["verified"]:
            state = "verified; translates questions not in English for retrieval"
        elif model.get("translates") and model["verified"]:
            override = os.environ.get(TRANSLATOR_ENV, "")
            state = f"verified; not used to translate ({TRANSLATOR_ENV}={override})"
        lines.append(f"  {model['id']:<26} {model['role']:<9} {model['license']:<11} {state}")
    lines.append(f"Packs:       {', '.join(rep['packs']) or 'none installed'}")
    lines += _provisioning_lines(rep["provisioning"])
    lines += _trust_lines(rep["trust"])
    lines.append(f"Recovery:    history key {rep['recovery']['state']}")
    lines += status_lines(rep["policy"])
    audit = rep["audit"]
    if not audit["present"]:
        lines.append("Audit log:   none yet (created with the first answer)")
    elif audit["records"] is None:
        lines.append("Audit log:   its head file is unreadable: run `enclave audit verify`")
    else:
        lines.append(
            f"Audit log:   {audit['records']} records written to {audit['path']} "
            "(`enclave audit verify` checks the chain)"
        )
    for crash in rep.get("native_crashes", [])[:3]:
        lines.append(f"Crashed:     inside native code ({crash['failed']}): {crash['path']}")
    return "\n".join(lines)


def _provisioning_lines(info: dict[str, Any]) -> list[str]:
    lines = ["Drop folders (verified and installed at start):"]
    for folder in info["folders"]:
        count = "absent" if folder["files"] is None else f"{folder['files']} pack/grant file(s)"
        lines.append(f"  {folder['label']:<15} {folder['path']}  ({count})")
        if folder["warning"]:
            lines.append(f"  ! {folder['warning']}")
    return lines


def _system_lines(info: dict[str, Any]) -> list[str]:
    family = f" ({info['family']})" if info["family"] else ""
    platforms = "/".join(info["qt_platforms"]) or "none needing system libraries"
    if info["window_missing"]:
        count = len(info["window_missing"])
        window = f"MISSING {count} {'library' if count == 1 else 'libraries'} for the window"
    else:
        window = "window libraries present"
    lines = [f"System:      {info['distro']}{family}; Qt platform {platforms}: {window}"]
    if info["window_missing"]:
        lines += [f"  ! {line}" for line in info["text"].splitlines()]
    if info["build_missing"]:
        lines.append(
            f"  (to compile llama-cpp-python again: {', '.join(info['build_missing'])}; "
            f"{info['build_command'] or 'install them'})"
        )
    if info.get("ocr_missing"):
        lines.append(
            f"  (to OCR scanned pages when building packs: Tesseract; {info['ocr_command']})"
        )
    return lines


def _trust_lines(info: dict[str, Any]) -> list[str]:
    override = f" (set by {info['override']}: an administrator's or test override)"
    lines = [f"Trust root:  {info['root']}{override if info['override'] else ''}"]
    if not info["keys"]:
        lines.append("Trusted keys: none (no pack or grant will verify)")
    else:
        lines.append("Trusted keys (each may sign only the packs named):")
    for key in info["keys"]:
        scope = ", ".join("every pack (*)" if p == "*" else p for p in key["packs"])
        demo = " [DEMO key, this profile only]" if key["demo"] else ""
        lines.append(f"  {key['key_id'][:16]}  {key['name']:<16} may sign: {scope}{demo}")
        lines.append(f"  {'':16}  from {key['file']}")
    for ignored in info["ignored"]:
        lines.append(f"  ! {ignored['file']}: trusts nothing. {ignored['reason']}")
    return lines
