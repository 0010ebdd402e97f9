"""What every command-line test checks the same way: run `main` in-process, and a failure is one `error:` line."""
from __future__ import annotations

import pytest

from lfwsiamese.cli import main


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """Run the command line in this process; return its exit status, standard output and standard error."""
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def one_error(rc: int, err: str, *fragments: str) -> None:
    """A user error: exit status 2, exactly one `error:` line holding every fragment, and no traceback."""
    assert rc == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    for f in fragments:
        assert f in errors[0], errors[0]
