"""The commands of configs: ``presets`` lists the shipped presets, ``show-config`` prints a resolved
config. Each command's arguments, function and :class:`~cmivae.cli.command.Command` record sit
together; :data:`cmivae.cli.main.COMMAND_LIST` lists the records.
"""

from __future__ import annotations

import argparse

from cmivae.cli.command import Command


def add_presets_arguments(p: argparse.ArgumentParser) -> None:
    """``cmivae presets`` takes no argument."""


def cmd_presets(args: argparse.Namespace) -> int:
    from cmivae.config import list_presets, preset_description

    for name in list_presets():
        print(f"{name:24s} {preset_description(name)}")
    return 0


PRESETS = Command("presets", "list the shipped config presets", add_presets_arguments, cmd_presets)


def add_show_config_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML file or preset name (see `cmivae presets`)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value, e.g. --set data.name=mnist (repeatable)")


def cmd_show_config(args: argparse.Namespace) -> int:
    import yaml

    from cmivae.config import load_config

    load_config(args.config, args.set)  # a refusal of the file or a --set value: answered before torch
    from cmivae.registry import load_resolved

    resolved = load_resolved(args.config, args.set)
    shown = resolved.config.to_dict()
    shown["model"], shown["objective"] = resolved.to_dict()["model"], resolved.to_dict()["objective"]
    print(yaml.safe_dump(shown, sort_keys=False), end="")
    return 0


SHOW_CONFIG = Command("show-config", "print the resolved config of a preset/file with overrides",
                      add_show_config_arguments, cmd_show_config)
