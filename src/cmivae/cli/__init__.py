"""The ``cmivae`` command line (:mod:`cmivae.cli.main`): :data:`~cmivae.cli.main.COMMAND_LIST` is
the one list of commands (each a :class:`~cmivae.cli.command.Command` record defined beside its
function and its arguments), :data:`COMMANDS` maps every command to that function; :func:`main`
is the entry point and the one error path."""

from cmivae.cli.main import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]
