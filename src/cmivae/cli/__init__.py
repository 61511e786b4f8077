"""The ``cmivae`` command line (:mod:`cmivae.cli.main`): :data:`COMMANDS` maps every command
to a plain function; :func:`main` is the entry point and the one error path."""

from cmivae.cli.main import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]
