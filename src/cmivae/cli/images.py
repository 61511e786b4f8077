"""The commands of the binarized image sets (:mod:`cmivae.data.images`): ``data fetch``, ``data pack``,
``data import``. Each command's arguments, function and :class:`~cmivae.cli.command.Command` record
sit together; :data:`cmivae.cli.main.COMMAND_LIST` lists the records.
"""

from __future__ import annotations

import argparse

from cmivae.cli.command import Command
from cmivae.modality import IMAGE_DATASETS  # torch-free: building the parser imports no torch


def add_data_fetch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", choices=list(IMAGE_DATASETS), help="which data set")
    p.add_argument("--data-dir", help="default: $CMIVAE_DATA or ~/.cache/cmivae")
    p.add_argument("--no-download", action="store_true", help="use only local sources (no internet mirrors)")


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from cmivae.data.images.fetch import fetch_dataset

    path = fetch_dataset(args.name, args.data_dir, allow_download=not args.no_download)
    print(f"{args.name}: {path}")
    return 0


DATA_FETCH = Command("data fetch", "fetch MNIST or Fashion-MNIST into the data directory", add_data_fetch_arguments,
                     cmd_data_fetch)


def add_data_pack_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", choices=list(IMAGE_DATASETS), help="which data set")
    p.add_argument("--out", required=True, help="the .npz file to write")
    p.add_argument("--data-dir", help="where the IDX files are (default: $CMIVAE_DATA or ~/.cache/cmivae)")


def cmd_data_pack(args: argparse.Namespace) -> int:
    """Write a compact verified copy of a binarized image set (:mod:`cmivae.data.images.pack`)."""
    from cmivae.data.images.binarized import write_pack

    out = write_pack(args.name, args.out, args.data_dir)
    print(f"{args.name}: {out} ({out.stat().st_size / 2**20:.1f} MiB)")
    return 0


DATA_PACK = Command("data pack", "write a compact verified copy of a binarized image set (for offline machines)",
                    add_data_pack_arguments, cmd_data_pack)


def add_data_import_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pack", help="the .npz file")
    p.add_argument("--data-dir", help="default: $CMIVAE_DATA or ~/.cache/cmivae")


def cmd_data_import(args: argparse.Namespace) -> int:
    """Install a pack written by ``cmivae data pack`` into the data directory."""
    from cmivae.data.images.pack import import_pack

    target = import_pack(args.pack, args.data_dir)
    print(f"installed {target}")
    return 0


DATA_IMPORT = Command("data import", "install a data pack made by `cmivae data pack` into the data directory",
                      add_data_import_arguments, cmd_data_import)
