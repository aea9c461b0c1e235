from __future__ import annotations

from pathlib import Path

from gomatrix.core.platform import emulation_problem

DEBIAN_ENTRY = """enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: PF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
"""


def test_native_needs_nothing(tmp_path: Path) -> None:
    assert emulation_problem("amd64", "amd64", tmp_path) is None


def test_registered_with_fix_binary_flag_is_usable(tmp_path: Path) -> None:
    (tmp_path / "qemu-aarch64").write_text(DEBIAN_ENTRY)
    assert emulation_problem("arm64", "amd64", tmp_path) is None


def test_missing_registration_names_the_fix(tmp_path: Path) -> None:
    problem = emulation_problem("arm64", "amd64", tmp_path)
    assert problem is not None
    assert "apt-get install qemu-user-static binfmt-support" in problem
    assert "update-binfmts --enable qemu-aarch64" in problem


def test_disabled_or_without_f_flag(tmp_path: Path) -> None:
    (tmp_path / "qemu-aarch64").write_text(DEBIAN_ENTRY.replace("enabled", "disabled", 1))
    assert "disabled" in (emulation_problem("arm64", "amd64", tmp_path) or "")
    (tmp_path / "qemu-aarch64").write_text(DEBIAN_ENTRY.replace("flags: PF", "flags: P"))
    assert "F flag" in (emulation_problem("arm64", "amd64", tmp_path) or "")
