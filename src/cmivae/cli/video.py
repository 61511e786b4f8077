"""Video commands of the ``cmivae`` command line (records listed in :data:`cmivae.cli.main.COMMAND_LIST`).

* ``cmivae data make-sprites [--data-dir DIR] [--assets DIR]``: build the Sprites benchmark
  (Li & Mandt 2018) from the LPC sheets packaged with cmivae, see :mod:`cmivae.data.video.sprites`.
* ``cmivae judge train sprites [--size 64|32] ...``: train (or reuse) the Sprites judge, see
  :mod:`cmivae.judge.command`.

Each command's arguments, function and :class:`~cmivae.cli.command.Command` record sit together.
"""

from __future__ import annotations

import argparse
import sys

from cmivae.cli.command import Command
from cmivae.judge import DEFAULT_EPOCHS as DEFAULT_JUDGE_EPOCHS


def add_data_make_sprites_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="default: $CMIVAE_DATA or ~/.cache/cmivae (files go to <data dir>/sprites)")
    p.add_argument("--assets", help="another copy of the sheets (body/, bottomwear/, topwear/, hair/ 0-5.png, "
                                    "shoes/1.png); default: the copy packaged with cmivae")


def cmd_data_make_sprites(args: argparse.Namespace) -> int:
    from cmivae.data.video.sprites import make_sprites

    result = make_sprites(args.data_dir, args.assets, progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"sprites: {result.folder}")
    return 0


DATA_MAKE_SPRITES = Command("data make-sprites", "build the Sprites video benchmark (Li & Mandt 2018) from the "
                                                 "packaged LPC sheets: train.npz, test.npz, manifest.json",
                            add_data_make_sprites_arguments, cmd_data_make_sprites)


def add_judge_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", choices=["sprites"], help="which data set (sprites)")
    p.add_argument("--size", type=int, choices=[64, 32], default=64, help="frame size the judge reads (default 64)")
    p.add_argument("--data-dir", help="default: $CMIVAE_DATA or ~/.cache/cmivae")
    p.add_argument("--epochs", type=int, default=DEFAULT_JUDGE_EPOCHS, help="training epochs (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialization and batch order (default 0)")
    p.add_argument("--force", action="store_true", help="retrain even a usable cached judge")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda[:N] or auto: where the judge trains")


def cmd_judge_train(args: argparse.Namespace) -> int:
    """Train (or reuse) the Sprites judge of a frame size (:mod:`cmivae.judge.command`)."""
    from cmivae.judge.cache import judge_paths
    from cmivae.judge.command import ensure_judge

    record, _ = ensure_judge(args.size, args.data_dir, epochs=args.epochs, seed=args.seed, force=args.force,
                             device=args.device)
    print(f"judge: {judge_paths(args.size, args.data_dir)[0]} (SHA-256 {record.sha256}), trained in "
          f"{record.train_seconds:.0f} s; {record.accuracy_text()}")
    print(f"note: {record.note}")
    return 0


JUDGE_TRAIN = Command("judge train", "train the judge on the training split (cached under <data dir>/sprites/judge/ "
                                     "with its SHA-256 and real-test accuracies); a usable cached judge is reused",
                      add_judge_train_arguments, cmd_judge_train)
