"""The package's own exceptions: user errors that the command line prints as one message."""
from __future__ import annotations


class LfwSiameseError(Exception):
    """A problem the user can fix; the message says what, where and how."""


class DataError(LfwSiameseError, ValueError):
    """The data folder, an image or an archive is missing, malformed or not the expected one."""


class ProtocolError(DataError):
    """A protocol file (pairs/people) does not parse or does not match the images."""

    def __init__(self, source: str, line_no: int | None, line: str | None, expected: str) -> None:
        where = f"{source}:{line_no}" if line_no is not None else source
        shown = f": {line!r}" if line is not None else ""
        super().__init__(f"{where}{shown}: {expected}")
        self.source = source
        self.line_no = line_no
        self.line = line
        self.expected = expected


class ConfigError(LfwSiameseError, ValueError):
    """A configuration value or override is invalid."""


class RunError(LfwSiameseError):
    """A run folder is incomplete or does not match the model asked for."""


class RunLockedError(RunError):
    """Another process is training this run right now."""


class OutputError(LfwSiameseError, OSError):
    """An output location cannot be used (a file where a folder belongs, a folder that cannot be created or
    written) or a write failed (a full disk): the message names the path, where it came from and what to do."""


class RunsFailedError(LfwSiameseError):
    """Some runs of a plan failed; the others are recorded. The command line exits 1 (2 is a bad command line)."""

    def __init__(self, message: str, records: list | None = None, failed: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.records = list(records or [])  # the records the plan did produce
        self.failed = list(failed or [])  # (run name, error) of each failed run
