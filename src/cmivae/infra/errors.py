"""Errors a user can act on. Each message says what was wrong, what was expected and
how to fix it; the CLI prints it on one line and exits with :attr:`exit_code`
(2 for bad input, 1 for failures during work)."""

from __future__ import annotations


class CmivaeError(Exception):
    """Base class of every error the command line reports without a traceback."""

    exit_code = 1


class ConfigError(CmivaeError, ValueError):
    """A config value, preset name, ``--set`` key or CLI argument is invalid."""

    exit_code = 2


class DataError(CmivaeError, ValueError):
    """A data file or folder is missing, unreadable, corrupt or inconsistent."""

    exit_code = 2


class CheckpointError(CmivaeError):
    """A checkpoint or run directory cannot be used (corrupt, foreign, mismatched)."""

    exit_code = 1


class TrainingError(CmivaeError):
    """Training stopped: e.g. a non-finite loss or gradient."""

    exit_code = 1
