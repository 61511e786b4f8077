"""``--help`` reads as plain text (no Sphinx markup), every argument says what it is, and
``--version`` prints the version."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cmivae import __version__, cli

MARKUP = re.compile(r"``|:(func|mod|data|class|meth|attr):`")


def parsers(parser: argparse.ArgumentParser, name: str = "cmivae"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from parsers(sub, f"{name} {sub_name}")


def test_every_argument_has_help_and_no_help_has_sphinx_markup() -> None:
    for name, parser in parsers(cli.build_parser()):
        text = parser.format_help()
        assert not MARKUP.search(text), f"{name} --help shows markup: {MARKUP.search(text).group(0)}"
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"{name}: argument {action.dest} has no help text"


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"cmivae {__version__}"


def test_convert_on_a_missing_file_says_so(tmp_path: Path, capsys) -> None:
    assert cli.main(["convert", str(tmp_path), str(tmp_path / "nope.wav"), str(tmp_path / "b.wav"),
                     "--out", str(tmp_path / "c.wav")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: the source audio {tmp_path / 'nope.wav'} does not exist; give a WAV or FLAC file\n"


def test_help_runs_as_a_program() -> None:
    proc = subprocess.run([sys.executable, "-m", "cmivae", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--version" in proc.stdout and "``" not in proc.stdout
