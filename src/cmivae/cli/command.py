"""One ``cmivae`` command as a record: its name, its one-line help, the function that declares its
arguments and the function that runs it, defined side by side in the module of its concept
(:mod:`cmivae.cli.runs`, :mod:`cmivae.cli.configs`, :mod:`cmivae.cli.images`, :mod:`cmivae.cli.speech`,
:mod:`cmivae.cli.video`, :mod:`cmivae.cli.sweeps`). :data:`cmivae.cli.main.COMMAND_LIST` is the one
list of them; :func:`cmivae.cli.main.build_parser` walks it and calls :func:`add_command` for each.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Run = Callable[[argparse.Namespace], int]
AddArguments = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    """A command: ``name`` is ``"train"``, or ``"data fetch"`` for a command of the ``data`` group;
    ``help`` is its line in ``cmivae --help`` (or ``cmivae GROUP --help``); ``add_arguments(p)``
    declares its arguments on its parser ``p``; ``run(args)`` does the work and returns the exit code."""

    name: str
    help: str
    add_arguments: AddArguments
    run: Run

    @property
    def group(self) -> str | None:
        """``"data"`` for ``"data fetch"``; ``None`` for a top-level command."""
        return self.name.split(" ", 1)[0] if " " in self.name else None

    @property
    def leaf(self) -> str:
        """The last word of the name: what its parent's sub-parsers call it (``"fetch"``)."""
        return self.name.rsplit(" ", 1)[-1]


def add_command(subparsers: Any, command: Command) -> argparse.ArgumentParser:
    """Add ``command`` to ``subparsers`` (an ``add_subparsers()`` result): its parser, its
    arguments, and ``func`` bound to its ``run``."""
    parser = subparsers.add_parser(command.leaf, help=command.help)
    command.add_arguments(parser)
    parser.set_defaults(func=command.run)
    return parser

