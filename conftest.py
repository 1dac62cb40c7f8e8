"""Test-wide settings: notebooks under nbval show recorded runs only and never start training."""

import os

import pytest

os.environ["RESNET_LIB_REPORT_ONLY"] = "1"


@pytest.fixture
def cli(capsys):
    """`cli("train", "--arch", ...)` runs `python -m resnet_lib train --arch ...` in this process (no interpreter
    and torch start-up; an uncaught exception fails the test) and returns (exit status, stdout, stderr)."""
    from resnet_lib.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main(list(args))
        except SystemExit as stop:  # argparse's own errors
            code = stop.code
        out, err = capsys.readouterr()
        return code, out, err
    return run
