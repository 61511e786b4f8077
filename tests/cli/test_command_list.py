"""Each ``cmivae`` command's arguments live beside its function, and ``COMMAND_LIST`` is the one
list of commands: the parser holds exactly its records, in its order, and every record's
``add_arguments`` sits next to its ``run`` in the module of its concept. Every command parses an
example the README documents for it."""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import re
import shlex

import pytest

from cmivae.cli import build_parser
from cmivae.cli.main import COMMAND_LIST, COMMANDS, GROUPS
from tests.newuser.test_readme_commands import README, readme_commands


def _leaves(parser: argparse.ArgumentParser, prefix: str = "") -> list[tuple[str, argparse.ArgumentParser]]:
    """``(name, parser)`` of every command that takes no sub-command, in ``--help`` order."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.extend(_leaves(sub, f"{prefix}{name} "))
    return found or ([(prefix.strip(), parser)] if prefix else [])


def test_the_parser_holds_the_command_list_in_its_order() -> None:
    leaves = _leaves(build_parser())
    names = [command.name for command in COMMAND_LIST]
    assert len(set(names)) == len(names), f"a command is listed twice: {names}"
    in_help_order: dict[str, list[str]] = {}  # a group where its first command is listed, its commands in order
    for command in COMMAND_LIST:
        in_help_order.setdefault(command.group or command.name, []).append(command.name)
    assert [name for name, _ in leaves] == [name for group in in_help_order.values() for name in group]
    by_name = {command.name: command for command in COMMAND_LIST}
    for name, parser in leaves:
        assert parser.get_default("func") is by_name[name].run, name
    assert COMMANDS == {command.name: command.run for command in COMMAND_LIST}
    assert set(GROUPS) == {command.group for command in COMMAND_LIST if command.group}, "a group without a command"


@pytest.mark.parametrize("command", COMMAND_LIST, ids=[command.name for command in COMMAND_LIST])
def test_each_commands_arguments_are_declared_beside_its_function(command) -> None:
    module_name = command.run.__module__
    assert command.add_arguments.__module__ == module_name, \
        f"{command.name}: arguments in {command.add_arguments.__module__}, function in {module_name}"
    assert module_name.startswith("cmivae.cli.") and module_name != "cmivae.cli.main", \
        f"{command.name}: declared in {module_name}; cli/main only walks COMMAND_LIST"
    module = importlib.import_module(module_name)
    assert any(value is command for value in vars(module).values()), \
        f"{command.name}: its Command record is not defined in {module_name}"
    # Next to each other: no other command's function or arguments between them in the source.
    commands_here = [c for c in COMMAND_LIST if c.run.__module__ == module_name]
    defined_at = sorted((inspect.getsourcelines(f)[1], c.name) for c in commands_here for f in (c.add_arguments, c.run))
    at = [line for line, name in defined_at if name == command.name]
    between = {name for line, name in defined_at if min(at) < line < max(at)}
    assert not between, f"{command.name}: {sorted(between)} declared between its arguments and its function"
    # The arguments are declared only there: no add_argument call in cli/main.
    main_tree = ast.parse(inspect.getsource(importlib.import_module("cmivae.cli.main")))
    calls = [n for n in ast.walk(main_tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr == "add_argument"]
    assert len(calls) == 1, "cli/main declares arguments other than --version"


def _readme_examples() -> list[str]:
    """The README's ``cmivae ...`` bash lines and inline code spans."""
    inline = re.findall(r"`(cmivae [^`]*)`", README.read_text())
    return readme_commands() + inline


def _parse(argv: list[str]) -> argparse.Namespace | None:
    try:
        return build_parser().parse_args(argv)
    except SystemExit:  # a usage error, or --help / --version
        return None


def test_every_readme_bash_line_parses() -> None:
    for line in readme_commands():
        assert _parse(shlex.split(line)[1:]) is not None, f"README: `{line}` does not parse"


@pytest.mark.parametrize("command", COMMAND_LIST, ids=[command.name for command in COMMAND_LIST])
def test_every_command_parses_an_example_the_readme_documents(command, capsys) -> None:
    examples = [shlex.split(e)[1:] for e in _readme_examples()]
    words = command.name.split()
    mine = [argv for argv in examples if argv[:len(words)] == words]
    assert mine, f"the README shows no `cmivae {command.name}` example"
    parsed = [_parse(argv) for argv in mine]
    capsys.readouterr()  # the usage errors of partial inline mentions (`cmivae train`)
    assert any(args is not None and args.func is command.run for args in parsed), \
        f"no README example of `cmivae {command.name}` parses: {mine}"


def _add_toy_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("word", help="what to print")
    p.add_argument("--times", type=int, default=1, help="how often (default 1)")


def _toy(args: argparse.Namespace) -> int:
    print(" ".join([args.word] * args.times))
    return 3 if args.word == "fail" else 0


def test_adding_a_command_is_its_record_and_one_line_of_the_list(monkeypatch, capsys) -> None:
    """The cost stated in docs/ARCHITECTURE.md, measured: a command defined here (its arguments,
    its function, its record) joins ``cmivae`` by one entry in ``COMMAND_LIST`` (as one line of
    cli/main.py would), with its help, its usage errors and its exit code; nothing else is edited."""
    from cmivae import cli
    from cmivae.cli.command import Command

    main_module = importlib.import_module("cmivae.cli.main")  # cmivae.cli.main is also the name of the function

    toy = Command("data toy", "print a word", _add_toy_arguments, _toy)
    monkeypatch.setattr(main_module, "COMMAND_LIST", (*COMMAND_LIST, toy))
    assert cli.main(["data", "toy", "hi", "--times", "2"]) == 0 and capsys.readouterr().out == "hi hi\n"
    assert cli.main(["data", "toy", "fail"]) == 3
    help_text = {name: parser.format_help() for name, parser in _leaves(cli.build_parser())}["data toy"]
    assert "what to print" in help_text and "how often (default 1)" in help_text
    with pytest.raises(SystemExit) as exit_:
        cli.main(["data", "toy", "hi", "--times", "x"])
    assert exit_.value.code == 2 and capsys.readouterr().err.startswith("error: cmivae data toy: argument --times")
