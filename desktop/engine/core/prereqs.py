"""System packages Enclave needs from outside Python, found before they are missed.

Two groups: the shared libraries Qt's platform plugin loads (the window; Qt aborts with exit 134
when one is missing), and the build tools the one-time compile of llama-cpp-python needs (a C and
a C++ compiler, the Python headers; cmake and ninja come from the package index when absent).
Pack builders also want Tesseract (`--ocr`), which reads scanned pages. Each missing item is named with the package that provides it on this distribution (apt, dnf,
pacman, zypper, from /etc/os-release ID and ID_LIKE) and one install command for all of them.

Standard library only, and runnable as a script with any Python 3.11+, so setup and the offline
kit can run it before a virtual environment (or PySide6) exists:

    python3 desktop/engine/core/prereqs.py --window --build [--ocr] [--warn-only]

With PySide6 installed, the window check asks the dynamic linker (`ldd`) what the platform plugin
itself lacks; before that, it looks up the libraries the plugin is known to need.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

FAMILIES = ("apt", "dnf", "pacman", "zypper")
INSTALL_COMMANDS = {
    "apt": "sudo apt-get install -y",
    "dnf": "sudo dnf install -y",
    "pacman": "sudo pacman -S --needed",
    "zypper": "sudo zypper install -y",
}
_FAMILY_OF_ID = {
    "debian": "apt",
    "ubuntu": "apt",
    "linuxmint": "apt",
    "pop": "apt",
    "fedora": "dnf",
    "rhel": "dnf",
    "centos": "dnf",
    "rocky": "dnf",
    "almalinux": "dnf",
    "arch": "pacman",
    "manjaro": "pacman",
    "endeavouros": "pacman",
    "opensuse": "zypper",
    "suse": "zypper",
    "sles": "zypper",
}


def _pkgs(apt: str, dnf: str, pacman: str, zypper: str) -> dict[str, str]:
    return {"apt": apt, "dnf": dnf, "pacman": pacman, "zypper": zypper}


# Shared libraries the Qt 6 xcb platform plugin (libqxcb.so, libQt6XcbQpa), QtGui and QtDBus need
# from the system (their ELF NEEDED entries in PySide6-Essentials 6.11; a test keeps this in step),
# with the package that provides each.
QT_LIBRARIES: dict[str, dict[str, str]] = {
    "libxcb-cursor.so.0": _pkgs(
        "libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor", "libxcb-cursor0"
    ),
    "libxcb-icccm.so.4": _pkgs("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm", "libxcb-icccm4"),
    "libxcb-keysyms.so.1": _pkgs(
        "libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms", "libxcb-keysyms1"
    ),
    "libxcb-image.so.0": _pkgs(
        "libxcb-image0", "xcb-util-image", "xcb-util-image", "libxcb-image0"
    ),
    "libxcb-render-util.so.0": _pkgs(
        "libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil", "libxcb-render-util0"
    ),
    "libxcb-util.so.1": _pkgs("libxcb-util1", "xcb-util", "xcb-util", "libxcb-util1"),
    "libxcb-randr.so.0": _pkgs("libxcb-randr0", "libxcb", "libxcb", "libxcb-randr0"),
    "libxcb-shm.so.0": _pkgs("libxcb-shm0", "libxcb", "libxcb", "libxcb-shm0"),
    "libxcb-sync.so.1": _pkgs("libxcb-sync1", "libxcb", "libxcb", "libxcb-sync1"),
    "libxcb-xfixes.so.0": _pkgs("libxcb-xfixes0", "libxcb", "libxcb", "libxcb-xfixes0"),
    "libxcb-render.so.0": _pkgs("libxcb-render0", "libxcb", "libxcb", "libxcb-render0"),
    "libxcb-shape.so.0": _pkgs("libxcb-shape0", "libxcb", "libxcb", "libxcb-shape0"),
    "libxcb-xkb.so.1": _pkgs("libxcb-xkb1", "libxcb", "libxcb", "libxcb-xkb1"),
    "libxcb.so.1": _pkgs("libxcb1", "libxcb", "libxcb", "libxcb1"),
    "libX11-xcb.so.1": _pkgs("libx11-xcb1", "libX11-xcb", "libx11", "libX11-xcb1"),
    "libX11.so.6": _pkgs("libx11-6", "libX11", "libx11", "libX11-6"),
    "libxkbcommon.so.0": _pkgs("libxkbcommon0", "libxkbcommon", "libxkbcommon", "libxkbcommon0"),
    "libxkbcommon-x11.so.0": _pkgs(
        "libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11", "libxkbcommon-x11-0"
    ),
    "libGL.so.1": _pkgs("libgl1", "libglvnd-glx", "libglvnd", "libGL1"),
    "libEGL.so.1": _pkgs("libegl1", "libglvnd-egl", "libglvnd", "libEGL1"),
    "libfontconfig.so.1": _pkgs("libfontconfig1", "fontconfig", "fontconfig", "libfontconfig1"),
    "libfreetype.so.6": _pkgs("libfreetype6", "freetype", "freetype2", "libfreetype6"),
    "libglib-2.0.so.0": _pkgs("libglib2.0-0", "glib2", "glib2", "libglib-2_0-0"),
    "libgthread-2.0.so.0": _pkgs("libglib2.0-0", "glib2", "glib2", "libgthread-2_0-0"),
    "libz.so.1": _pkgs("zlib1g", "zlib", "zlib", "libz1"),
    "libdbus-1.so.3": _pkgs("libdbus-1-3", "dbus-libs", "dbus", "libdbus-1-3"),
    "libwayland-client.so.0": _pkgs(
        "libwayland-client0", "libwayland-client", "wayland", "libwayland-client0"
    ),
    "libwayland-cursor.so.0": _pkgs(
        "libwayland-cursor0", "libwayland-cursor", "wayland", "libwayland-cursor0"
    ),
    "libwayland-egl.so.1": _pkgs("libwayland-egl1", "libwayland-egl", "wayland", "libwayland-egl1"),
}
XCB_PLUGIN_LIBRARIES = tuple(n for n in QT_LIBRARIES if not n.startswith("libwayland"))

BUILD_TOOLS: dict[str, dict[str, str]] = {
    "a C compiler (cc, gcc or clang)": _pkgs("build-essential", "gcc", "gcc", "gcc"),
    "a C++ compiler (c++, g++ or clang++)": _pkgs("build-essential", "gcc-c++", "gcc", "gcc-c++"),
    "the Python headers (Python.h)": _pkgs(
        "python3-dev", "python3-devel", "python", "python3-devel"
    ),
}
# The extra tools a GPU build of llama.cpp needs (installer/build_llama.sh BACKEND). CUDA comes
# from NVIDIA's repositories on dnf and zypper systems; the names are those packages'.
GPU_TOOLS: dict[str, dict[str, dict[str, str]]] = {
    "cuda": {
        "the CUDA compiler (nvcc)": _pkgs("nvidia-cuda-toolkit", "cuda-toolkit", "cuda", "cuda"),
    },
    "vulkan": {
        "the Vulkan headers (vulkan/vulkan.h)": _pkgs(
            "libvulkan-dev", "vulkan-loader-devel", "vulkan-headers", "vulkan-devel"
        ),
        "the shader compiler (glslc)": _pkgs("glslc", "glslc", "shaderc", "shaderc"),
    },
}
# Tesseract reads scanned pages at pack build (`enclave admin build`; the app never runs it).
OCR_TOOL = "Tesseract OCR (tesseract)"
OCR_TOOLS: dict[str, dict[str, str]] = {
    OCR_TOOL: _pkgs(
        "tesseract-ocr",
        "tesseract tesseract-langpack-eng",
        "tesseract tesseract-data-eng",
        "tesseract-ocr tesseract-ocr-traineddata-english",
    ),
}
_LIB_DIRS = (
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/lib64",
    "/usr/lib",
    "/lib",
)


@dataclass(frozen=True)
class Distro:
    """This machine's distribution as /etc/os-release names it, and its package-manager family."""

    id: str
    name: str
    family: str | None  # apt | dnf | pacman | zypper, or None when not one we know


@dataclass(frozen=True)
class Missing:
    """One missing prerequisite: what it is, what needs it, and the package that provides it."""

    item: str
    needed_for: str  # "window" | "build" | "ocr"
    package: str | None


@dataclass(frozen=True)
class Prereqs:
    distro: Distro
    missing: tuple[Missing, ...]

    @property
    def ok(self) -> bool:
        return not self.missing

    def packages(self) -> list[str]:
        return sorted({m.package for m in self.missing if m.package})

    def install_command(self) -> str | None:
        """One command that installs every missing package, or None (nothing missing, or a
        distribution we have no package names for)."""
        if not self.missing or self.distro.family is None:
            return None
        return f"{INSTALL_COMMANDS[self.distro.family]} {' '.join(self.packages())}"


def parse_os_release(text: str) -> Distro:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            values[key.strip()] = value.strip().strip("\"'")
    ids = [values.get("ID", "").lower(), *values.get("ID_LIKE", "").lower().split()]
    family = next((_family(i) for i in ids if _family(i)), None)
    return Distro(values.get("ID", ""), values.get("PRETTY_NAME", values.get("NAME", "")), family)


def _family(distro_id: str) -> str | None:
    if distro_id.startswith("opensuse"):
        return "zypper"
    return _FAMILY_OF_ID.get(distro_id)


def this_distro() -> Distro:
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            return parse_os_release(Path(path).read_text(encoding="utf-8"))
        except OSError:
            continue
    return Distro("", sys.platform, None)


def parse_ldd_missing(output: str) -> list[str]:
    """The sonames `ldd` reports as "not found"."""
    return sorted({m.group(1) for m in re.finditer(r"^\s*(\S+) => not found", output, re.M)})


def ldd_missing(binary: Path) -> list[str]:
    """Ask the dynamic linker which libraries `binary` lacks (empty when `ldd` is unavailable)."""
    ldd = shutil.which("ldd")
    if ldd is None or not binary.is_file():
        return []
    result = subprocess.run(
        [ldd, str(binary)], capture_output=True, text=True, check=False, timeout=30
    )
    return parse_ldd_missing(result.stdout + result.stderr)


def _ldconfig_paths() -> dict[str, list[str]] | None:
    """soname -> the paths the linker cache (`ldconfig -p`) gives for it; None without one."""
    ldconfig = shutil.which("ldconfig") or next(
        (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.path.exists(p)), None
    )
    if ldconfig is None:
        return None
    try:
        result = subprocess.run(
            [ldconfig, "-p"], capture_output=True, text=True, check=False, timeout=30
        )
    except OSError:
        return None
    if result.returncode != 0:
        return None
    found: dict[str, list[str]] = {}
    for line in result.stdout.splitlines()[1:]:
        name, arrow, path = line.strip().partition(" => ")
        if arrow:
            found.setdefault(name.split(" ")[0], []).append(path.strip())
    return found


def system_library_lookup() -> Callable[[str], bool]:
    """A lookup "is this soname installed?": a linker-cache entry whose file exists (a cache can
    be stale), else the file in one of the usual library folders."""
    cached = _ldconfig_paths() or {}

    def present(soname: str) -> bool:
        if any(os.path.exists(path) for path in cached.get(soname, [])):
            return True
        return any(os.path.exists(os.path.join(d, soname)) for d in _LIB_DIRS)

    return present


def qt_plugin_dir() -> Path | None:
    """PySide6's `Qt/plugins/platforms` folder, found without importing Qt (the engine never does)."""
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):  # blocked or half-imported: no plugin folder to check
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms"
    return folder if folder.is_dir() else None


def platform_plugins(environ: dict[str, str] | os._Environ[str] | None = None) -> list[str]:
    """The Qt platform plugins this session would load, in Qt's order; [] for one with no system
    libraries (offscreen, minimal, vnc...) or outside Linux."""
    env = os.environ if environ is None else environ
    if sys.platform != "linux":
        return []
    chosen = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip().lower()
    if chosen:
        return [chosen] if chosen in ("xcb", "wayland", "wayland-egl") else []
    if env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE", "").lower() == "wayland":
        return ["wayland", "xcb"]  # Qt falls back to xcb when the Wayland plugin cannot load
    return ["xcb"]


def _plugin_missing(plugin: str, plugins: Path | None, lookup: Callable[[str], bool]) -> list[str]:
    binary = plugins / f"libq{plugin.replace('-egl', '')}.so" if plugins else None
    if binary is not None and binary.is_file():
        return ldd_missing(binary)
    expected = XCB_PLUGIN_LIBRARIES if plugin == "xcb" else tuple(QT_LIBRARIES)
    return [name for name in expected if not lookup(name)]


def window_missing(
    distro: Distro,
    *,
    plugins: Sequence[str] | None = None,
    plugin_dir: Path | None = None,
    lookup: Callable[[str], bool] | None = None,
) -> list[Missing]:
    """What the window's platform plugin lacks. When the first plugin Qt tries is unusable but a
    fallback is complete (Wayland, then xcb), nothing is missing."""
    order = platform_plugins() if plugins is None else list(plugins)
    if not order:
        return []
    folder = plugin_dir if plugin_dir is not None else qt_plugin_dir()
    present = lookup or system_library_lookup()
    first: list[str] = []
    for index, plugin in enumerate(order):
        sonames = _plugin_missing(plugin, folder, present)
        if not sonames:
            return []
        if index == 0:
            first = sonames
    return [_named(s, "window", distro, QT_LIBRARIES) for s in first]


def _named(item: str, needed_for: str, distro: Distro, table: dict[str, dict[str, str]]) -> Missing:
    package = table.get(item, {}).get(distro.family or "")
    return Missing(item, needed_for, package)


def window_packages(family: str) -> list[str]:
    """Every package the xcb platform plugin's libraries come from on `family`, sorted."""
    return sorted({QT_LIBRARIES[name][family] for name in XCB_PLUGIN_LIBRARIES})


def build_missing(
    distro: Distro,
    *,
    which: Callable[[str], str | None] = shutil.which,
    python_include: str | None = None,
) -> list[Missing]:
    """What compiling llama-cpp-python lacks: compilers and the headers of this Python."""
    include = python_include if python_include is not None else sysconfig.get_path("include")
    checks = {
        "a C compiler (cc, gcc or clang)": any(which(c) for c in ("cc", "gcc", "clang")),
        "a C++ compiler (c++, g++ or clang++)": any(which(c) for c in ("c++", "g++", "clang++")),
        "the Python headers (Python.h)": bool(include) and Path(include, "Python.h").is_file(),
    }
    return [_named(item, "build", distro, BUILD_TOOLS) for item, ok in checks.items() if not ok]


def gpu_missing(
    distro: Distro,
    backend: str,
    *,
    which: Callable[[str], str | None] = shutil.which,
    include_dirs: Sequence[str] = ("/usr/include", "/usr/local/include"),
) -> list[Missing]:
    """What a `backend` ("cuda", "vulkan") build of llama.cpp lacks beyond the C/C++ build tools."""
    table = GPU_TOOLS.get(backend, {})
    checks = {
        "the CUDA compiler (nvcc)": lambda: bool(
            which("nvcc") or os.path.exists("/usr/local/cuda/bin/nvcc")
        ),
        "the Vulkan headers (vulkan/vulkan.h)": lambda: any(
            os.path.exists(os.path.join(d, "vulkan", "vulkan.h")) for d in include_dirs
        ),
        "the shader compiler (glslc)": lambda: bool(which("glslc")),
    }
    return [_named(item, "build", distro, table) for item in table if not checks[item]()]


def ocr_missing(
    distro: Distro, *, which: Callable[[str], str | None] = shutil.which
) -> list[Missing]:
    """Tesseract, when it is not on PATH (scanned pages are then skipped at build, with a reason)."""
    return [] if which("tesseract") else [_named(OCR_TOOL, "ocr", distro, OCR_TOOLS)]


def ocr_install_hint(distro: Distro | None = None) -> str:
    """How to install Tesseract here: this family's command, Homebrew on macOS, else all of them."""
    if sys.platform == "darwin":
        return "brew install tesseract"
    here = distro or this_distro()
    if here.family is not None:
        return f"{INSTALL_COMMANDS[here.family]} {OCR_TOOLS[OCR_TOOL][here.family]}"
    known = "; ".join(f"{INSTALL_COMMANDS[f]} {OCR_TOOLS[OCR_TOOL][f]}" for f in FAMILIES)
    return (
        f"install Tesseract OCR with your package manager ({known}; macOS: brew install tesseract)"
    )


def check(*, window: bool = True, build: bool = False, distro: Distro | None = None) -> Prereqs:
    here = distro or this_distro()
    missing = (window_missing(here) if window else []) + (build_missing(here) if build else [])
    return Prereqs(here, tuple(missing))


def describe(report: Prereqs) -> str:
    """What is missing, what for, and the command that installs it (empty when nothing is)."""
    if report.ok:
        return ""
    purposes = {
        "window": "the window (Qt's platform plugin; the terminal commands work without it)",
        "build": "compiling llama-cpp-python once",
        "ocr": "OCR of scanned pages when building packs (admin build)",
    }
    lines = []
    for needed_for, purpose in purposes.items():
        items = [m for m in report.missing if m.needed_for == needed_for]
        if items:
            lines.append(f"Missing for {purpose}:")
            lines += [
                f"  {m.item}" + (f"  (package {m.package})" if m.package else "") for m in items
            ]
    command = report.install_command()
    unnamed = [m.item for m in report.missing if not m.package]
    if command:
        lines.append(f"Install with:\n  {command}")
    if unnamed:
        where = report.distro.name or "this system"
        lines.append(f"Install the packages of {where} that provide: {', '.join(unnamed)}")
    return "\n".join(lines)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the system packages Enclave needs.")
    parser.add_argument("--window", action="store_true", help="libraries the window needs")
    parser.add_argument("--build", action="store_true", help="tools to compile llama-cpp-python")
    parser.add_argument("--ocr", action="store_true", help="Tesseract, for scanned pages at build")
    parser.add_argument("--warn-only", action="store_true", help="report, but exit 0")
    parser.add_argument(
        "--gpu", choices=sorted(GPU_TOOLS), help="also what a GPU build of llama.cpp needs"
    )
    parser.add_argument(
        "--packages",
        choices=FAMILIES,
        help="print the packages the window needs on this family (e.g. a .deb's Depends), then exit",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.packages:
        print(" ".join(window_packages(args.packages)))
        return 0
    window = args.window or not (args.build or args.gpu or args.ocr)
    distro = this_distro()
    missing = (window_missing(distro) if window else []) + (
        build_missing(distro) if args.build else []
    )
    if args.gpu:
        missing += gpu_missing(distro, args.gpu)
    if args.ocr:
        missing += ocr_missing(distro)
    report = Prereqs(distro, tuple(missing))
    if report.ok:
        return 0
    print(describe(report), file=sys.stderr)
    return 0 if args.warn_only else 1


if __name__ == "__main__":
    sys.exit(main())
