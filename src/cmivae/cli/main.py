"""The ``cmivae`` command line: the entry point, the parser and the one error path.

Every command is a :class:`~cmivae.cli.command.Command` record (name, help, ``add_arguments``,
``run``) defined beside its function in the module of its concept: :mod:`cmivae.cli.runs` (train,
evaluate, sample, compare), :mod:`cmivae.cli.configs` (presets, show-config), :mod:`cmivae.cli.images`
(data fetch/pack/import), :mod:`cmivae.cli.speech` (convert, data make-speech), :mod:`cmivae.cli.video`
(data make-sprites, judge train), :mod:`cmivae.cli.sweeps` (sweep, sweep-status, report).
:data:`COMMAND_LIST` is the one list of them, in the order ``--help`` shows them; :func:`build_parser`
walks it. One error path: :func:`main` prints every user error
(:class:`cmivae.infra.errors.CmivaeError`, and argparse's usage errors) as one line ``error: ...``
and exits 2 for bad input, 1 for failures during work.
"""

from __future__ import annotations

import argparse
import sys
import typing
from typing import Any

from cmivae import __version__
from cmivae.cli import configs, images, runs, speech, sweeps, video
from cmivae.cli.command import Command, Run, add_command
from cmivae.infra.errors import CmivaeError

DESCRIPTION = ("Sequential VAEs (PixelCNN-VAE, DSAE) with the ELBO, beta-VAE, MI-VAE and CMI-VAE objectives: "
               "train, evaluate, sample, compare, sweep and report. `cmivae COMMAND --help` for each command.")

# Every command of ``cmivae``, in the order of ``cmivae --help`` (a group appears where its first
# command does). Adding a command: its record beside its function, and one line here.
COMMAND_LIST: tuple[Command, ...] = (
    runs.TRAIN,
    runs.EVALUATE,
    runs.SAMPLE,
    configs.PRESETS,
    configs.SHOW_CONFIG,
    runs.COMPARE,
    images.DATA_FETCH,
    images.DATA_PACK,
    images.DATA_IMPORT,
    video.JUDGE_TRAIN,
    sweeps.SWEEP,
    sweeps.SWEEP_STATUS,
    sweeps.REPORT,
    speech.CONVERT,
    speech.DATA_MAKE_SPEECH,
    video.DATA_MAKE_SPRITES,
)

# The command groups (``cmivae data fetch``): group -> its line in ``cmivae --help``.
GROUPS: dict[str, str] = {
    "data": "get data sets",
    "judge": "the Sprites judge (a classifier of real sequences that scores generated ones)",
}

# Every command's name (``data fetch`` for a command of a group) -> its function, read from COMMAND_LIST.
COMMANDS: dict[str, Run] = {command.name: command.run for command in COMMAND_LIST}


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the one error path: a usage error is one ``error:`` line, exit 2."""

    def error(self, message: str) -> typing.NoReturn:
        print(f"error: {self.prog}: {message}; see `{self.prog} --help`", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The ``cmivae`` parser: every command of :data:`COMMAND_LIST` with the arguments its
    ``add_arguments`` declares, ``func`` bound to its ``run``."""
    parser = ArgumentParser(prog="cmivae", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"cmivae {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups: dict[str, Any] = {}  # group name -> its sub-parsers, made where its first command is listed
    for command in COMMAND_LIST:
        parent = sub
        if command.group is not None:
            if command.group not in groups:
                groups[command.group] = sub.add_parser(command.group, help=GROUPS[command.group]).add_subparsers(
                    dest=f"{command.group}_command", required=True, metavar=f"{command.group.upper()}_COMMAND")
            parent = groups[command.group]
        add_command(parent, command)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CmivaeError as err:
        print("error: " + " ".join(str(err).split("\n")), file=sys.stderr)  # one line, always
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `cmivae sweep --dry-run | head`: the reader left; no traceback, as `yes | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the flush at exit must not fail again
        return 141
    except OSError as err:  # a file operation no module turned into a CmivaeError: still one line
        where = f" {err.filename}" if err.filename else ""
        print(f"error: could not access{where}: {err.strerror or err}; check that the path exists, is a "
              f"directory where one is expected, and is writable (and that the disk is not full)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
