"""One error hierarchy: every error says what failed, where, and what to do, and has an exit code."""

from __future__ import annotations


class GomatrixError(Exception):
    """Base of every error the tool reports to a user (never shown as a traceback)."""

    exit_code = 1
    title = "gomatrix failed"

    def __init__(self, what: str, *, where: str = "", fix: str = "") -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.message())

    def message(self) -> str:
        parts = [f"{self.title}: {self.what}"]
        if self.where:
            parts.append(f"(in {self.where})")
        text = " ".join(parts)
        if self.fix:
            text += f". {self.fix}"
        return text


class ConfigError(GomatrixError):
    exit_code = 2
    title = "invalid configuration"


class CaseError(GomatrixError):
    exit_code = 3
    title = "invalid case"


class EngineUnavailable(GomatrixError):
    exit_code = 4
    title = "container engine unavailable"


class ImageError(GomatrixError):
    exit_code = 5
    title = "image problem"


class CellFileError(GomatrixError):
    exit_code = 6
    title = "invalid cell file"


class RegistryError(GomatrixError):
    exit_code = 7
    title = "registry problem"


class ToolchainError(GomatrixError):
    exit_code = 8
    title = "Go toolchain problem"


class SandboxUnavailable(GomatrixError):
    exit_code = 11  # 10 is `nightly`: something changed
    title = "no sandbox for host cells"


class CellsFailed(GomatrixError):
    exit_code = 9
    title = "cells failed"


class BudgetsBroken(GomatrixError):
    exit_code = 12
    title = "allocation budget broken"


class Interrupted(GomatrixError):
    exit_code = 130  # as a shell reports a process stopped by SIGINT
    title = "run interrupted"
