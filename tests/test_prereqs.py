"""System prerequisites: the distribution, the packages named for what is missing, and real checks
of this machine's Qt platform plugin with the dynamic linker."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.engine.core import prereqs

DEBIAN = prereqs.parse_os_release(
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nID=debian\n'
)
ISSUE_LIBS = {"libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"}
BASE_LIBS = {
    "libc.so.6",
    "libm.so.6",
    "libstdc++.so.6",
    "libgcc_s.so.1",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
}
linux_only = pytest.mark.skipif(sys.platform != "linux", reason="Linux shared libraries")


def _without(missing: set[str]):
    return lambda soname: soname not in missing


@pytest.mark.parametrize(
    ("text", "family"),
    [
        ("ID=debian\n", "apt"),
        ('ID=ubuntu\nID_LIKE="debian"\n', "apt"),
        ("ID=fedora\n", "dnf"),
        ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "dnf"),
        ("ID=arch\n", "pacman"),
        ('ID="opensuse-leap"\nID_LIKE="suse opensuse"\n', "zypper"),
        ("ID=endeavouros\nID_LIKE=arch\n", "pacman"),
        ("ID=nixos\n", None),
    ],
)
def test_distribution_family_from_os_release(text: str, family: str | None) -> None:
    assert prereqs.parse_os_release(text).family == family


@pytest.mark.parametrize(
    ("os_release", "command"),
    [
        ("ID=debian\n", "sudo apt-get install -y libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1"),
        ("ID=fedora\n", "sudo dnf install -y xcb-util-cursor xcb-util-keysyms xcb-util-wm"),
        ("ID=arch\n", "sudo pacman -S --needed xcb-util-cursor xcb-util-keysyms xcb-util-wm"),
        (
            "ID=opensuse-tumbleweed\n",
            "sudo zypper install -y libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1",
        ),
    ],
)
def test_the_issue_machine_gets_one_install_command(os_release: str, command: str) -> None:
    """Debian 12 without libxcb-cursor0, -icccm4, -keysyms1 (the issue), and its equivalents."""
    distro = prereqs.parse_os_release(os_release)
    missing = prereqs.window_missing(
        distro, plugins=["xcb"], plugin_dir=Path("/nonexistent"), lookup=_without(ISSUE_LIBS)
    )
    report = prereqs.Prereqs(distro, tuple(missing))
    assert {m.item for m in missing} == ISSUE_LIBS
    assert report.install_command() == command
    assert command in prereqs.describe(report)


def test_unknown_distribution_names_the_library_files() -> None:
    distro = prereqs.parse_os_release('ID=nixos\nPRETTY_NAME="NixOS 24.05"\n')
    missing = prereqs.window_missing(
        distro, plugins=["xcb"], plugin_dir=Path("/nonexistent"), lookup=_without(ISSUE_LIBS)
    )
    report = prereqs.Prereqs(distro, tuple(missing))
    assert report.install_command() is None
    assert "Install the packages of NixOS 24.05 that provide: libxcb-cursor.so.0" in (
        prereqs.describe(report)
    )


def test_a_complete_fallback_plugin_means_nothing_is_missing() -> None:
    """In a Wayland session Qt falls back to xcb: missing Wayland libraries alone do not block."""
    wayland_gone = {n for n in prereqs.QT_LIBRARIES if n.startswith("libwayland")}
    args = {"plugin_dir": Path("/nonexistent"), "lookup": _without(wayland_gone)}
    assert prereqs.window_missing(DEBIAN, plugins=["wayland", "xcb"], **args) == []
    assert prereqs.window_missing(DEBIAN, plugins=["wayland"], **args)


@pytest.mark.parametrize(
    ("env", "plugins"),
    [
        ({"QT_QPA_PLATFORM": "offscreen"}, []),
        ({"QT_QPA_PLATFORM": "xcb"}, ["xcb"]),
        ({"DISPLAY": ":0"}, ["xcb"]),
        ({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}, ["wayland", "xcb"]),
    ],
)
@linux_only
def test_which_platform_plugin_qt_would_load(env: dict[str, str], plugins: list[str]) -> None:
    assert prereqs.platform_plugins(env) == plugins


def test_build_tools_and_headers() -> None:
    none = prereqs.build_missing(DEBIAN, which=lambda _name: None, python_include="/nonexistent")
    report = prereqs.Prereqs(DEBIAN, tuple(none))
    assert len(none) == 3
    assert report.install_command() == "sudo apt-get install -y build-essential python3-dev"
    fedora = prereqs.parse_os_release("ID=fedora\n")
    names = prereqs.Prereqs(fedora, tuple(prereqs.build_missing(fedora, which=lambda _n: None)))
    assert {"gcc", "gcc-c++"} <= set(names.packages())


def test_ldd_output_parsing() -> None:
    output = (
        "\tlinux-vdso.so.1 (0x00007ffd)\n"
        "\tlibxcb-cursor.so.0 => not found\n"
        "\tlibGL.so.1 => /lib/x86_64-linux-gnu/libGL.so.1 (0x00007f45)\n"
        "\tlibxcb-icccm.so.4 => not found\n"
    )
    assert prereqs.parse_ldd_missing(output) == ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]


@linux_only
@pytest.mark.skipif(not (shutil.which("cc") and shutil.which("ldd")), reason="needs cc and ldd")
def test_real_ldd_finds_a_library_a_plugin_lacks(tmp_path: Path) -> None:
    """A real ELF plugin linked against a library that is then removed: the linker says so."""
    lib = tmp_path / "libenclave-test-gone.so.1"
    (tmp_path / "gone.c").write_text("int enclave_gone(void) { return 1; }\n")
    (tmp_path / "plugin.c").write_text(
        "int enclave_gone(void);\nint f(void) { return enclave_gone(); }\n"
    )
    cc = ["cc", "-shared", "-fPIC", "-o"]
    soname = "-Wl,-soname,libenclave-test-gone.so.1"
    subprocess.run([*cc, str(lib), soname, str(tmp_path / "gone.c")], check=True)
    plugins = tmp_path / "platforms"
    plugins.mkdir()
    plugin = plugins / "libqxcb.so"
    link = ["-Wl,--no-as-needed", f"-L{tmp_path}", "-l:libenclave-test-gone.so.1"]
    rpath = "-Wl,-rpath,$ORIGIN/.."
    subprocess.run([*cc, str(plugin), str(tmp_path / "plugin.c"), *link, rpath], check=True)
    assert prereqs.window_missing(DEBIAN, plugins=["xcb"], plugin_dir=plugins) == []
    lib.unlink()
    missing = prereqs.window_missing(DEBIAN, plugins=["xcb"], plugin_dir=plugins)
    assert missing == [prereqs.Missing("libenclave-test-gone.so.1", "window", None)]


def _needed(binary: Path) -> set[str]:
    out = subprocess.run(
        ["readelf", "-d", str(binary)], capture_output=True, text=True, check=True
    ).stdout
    return {line.split("[")[1].split("]")[0] for line in out.splitlines() if "(NEEDED)" in line}


@linux_only
@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs readelf (binutils)")
def test_the_library_table_covers_what_this_pyside6_needs() -> None:
    """Every system library the installed Qt's xcb plugin, XcbQpa, Gui and DBus link against is
    in the table (so the check before PySide6 exists names its package)."""
    plugins = prereqs.qt_plugin_dir()
    assert plugins is not None
    qt = plugins.parent.parent
    binaries = [
        plugins / "libqxcb.so",
        qt / "lib" / "libQt6XcbQpa.so.6",
        qt / "lib" / "libQt6Gui.so.6",
        qt / "lib" / "libQt6DBus.so.6",
    ]
    needed = set().union(*(_needed(b) for b in binaries))
    system = {n for n in needed if not n.startswith(("libQt6", "ld-linux"))} - BASE_LIBS
    assert system - set(prereqs.QT_LIBRARIES) == set()


@linux_only
def test_real_check_of_this_machine_agrees_with_the_linker_cache(tmp_path: Path) -> None:
    """The ldd check on the installed plugin and the table + linker-cache check (used before
    PySide6 exists) give the same answer on this machine."""
    distro = prereqs.this_distro()
    by_ldd = {m.item for m in prereqs.window_missing(distro, plugins=["xcb"])}
    by_table = {
        m.item for m in prereqs.window_missing(distro, plugins=["xcb"], plugin_dir=tmp_path)
    }
    assert by_ldd == by_table


def test_script_mode_runs_with_the_standard_library_only(tmp_path: Path) -> None:
    """setup.sh and the offline kit run the file with a plain Python before any venv exists."""
    script = Path(prereqs.__file__)
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(script), "--build", "--warn-only"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr


def test_doctor_names_missing_window_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    from desktop.engine import doctor

    real = doctor.report()
    assert "System:" in doctor.format_text(real)
    assert real["system"]["window_missing"] == [m.item for m in prereqs.check(window=True).missing]
    missing = prereqs.window_missing(
        DEBIAN, plugins=["xcb"], plugin_dir=Path("/nonexistent"), lookup=_without(ISSUE_LIBS)
    )
    fake = prereqs.Prereqs(DEBIAN, tuple(missing))
    nothing = prereqs.Prereqs(DEBIAN, ())
    monkeypatch.setattr(prereqs, "check", lambda **kw: fake if kw.get("window") else nothing)
    rep = doctor.report()
    text = doctor.format_text(rep)
    assert "MISSING 3 libraries for the window" in text
    assert "sudo apt-get install -y libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in text
    assert not doctor.healthy(rep)


def test_gpu_build_tools_are_named_per_backend(tmp_path: Path) -> None:
    none = prereqs.gpu_missing(
        DEBIAN, "vulkan", which=lambda _name: None, include_dirs=[str(tmp_path)]
    )
    report = prereqs.Prereqs(DEBIAN, tuple(none))
    assert report.install_command() == "sudo apt-get install -y glslc libvulkan-dev"
    (tmp_path / "vulkan").mkdir()
    (tmp_path / "vulkan" / "vulkan.h").write_text("")
    found = prereqs.gpu_missing(
        DEBIAN, "vulkan", which=lambda name: f"/usr/bin/{name}", include_dirs=[str(tmp_path)]
    )
    assert found == []
    arch = prereqs.parse_os_release("ID=arch\n")
    cuda = prereqs.gpu_missing(arch, "cuda", which=lambda _name: None)
    assert [m.package for m in cuda] == (
        [] if Path("/usr/local/cuda/bin/nvcc").exists() else ["cuda"]
    )


def test_build_llama_script_refuses_an_unknown_backend_and_knows_its_folders(
    tmp_path: Path,
) -> None:
    script = Path(prereqs.__file__).parents[3] / "installer" / "build_llama.sh"
    env = {"PATH": "/usr/bin:/bin", "ENCLAVE_WHEEL_CACHE": str(tmp_path)}
    folder = subprocess.run(
        ["bash", str(script), "--dir", "cuda"], capture_output=True, text=True, env=env
    )
    assert folder.stdout.strip() == str(tmp_path / "llama-cuda")
    bad = subprocess.run(["bash", str(script), "opencl"], capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and "unknown backend 'opencl'" in bad.stderr
