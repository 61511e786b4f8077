"""The command line is one package with one COMMANDS dict and one error path."""

from __future__ import annotations

import argparse

import pytest

from cmivae.cli import COMMANDS, build_parser, main


def _leaf_commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, object]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(_leaf_commands(sub, f"{prefix}{name} "))
    if not found and prefix:
        found[prefix.strip()] = parser.get_default("func")
    return found


def test_every_command_is_in_commands_and_bound_to_its_function() -> None:
    leaves = _leaf_commands(build_parser())
    assert set(leaves) == set(COMMANDS)
    assert all(leaves[name] is COMMANDS[name] for name in COMMANDS)
    assert {"train", "evaluate", "sample", "compare", "data fetch", "data pack", "data import", "data make-speech",
            "data make-sprites", "judge train",
            "convert", "sweep", "sweep-status", "report", "presets", "show-config"} == set(COMMANDS)


@pytest.mark.parametrize("argv", [["train"], ["nonsense"], ["evaluate", "--seed", "x", "r"], [],
                                  ["sweep-status"], ["data", "fetch", "cifar"]])
def test_usage_errors_are_one_error_line_and_exit_2(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1 and not captured.out


def test_multiline_messages_are_printed_on_one_line(capsys) -> None:
    assert main(["show-config", "pixelcnn-cpu", "--set", "train.epochs=[1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
