"""Video commands of the ``cmivae`` command line (listed in :data:`cmivae.cli.main.COMMANDS`).

* ``cmivae data make-sprites [--data-dir DIR] [--assets DIR]``: build the Sprites benchmark
  (Li & Mandt 2018) from the LPC sheets packaged with cmivae, see :mod:`cmivae.data.video.sprites`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def cmd_data_make_sprites(args: argparse.Namespace) -> int:
    from cmivae.data.video.sprites import make_sprites

    result = make_sprites(args.data_dir, args.assets, progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"sprites: {result.folder}")
    return 0


def register(data: Any) -> None:
    """Add ``make-sprites`` to ``cmivae data``."""
    p = data.add_parser("make-sprites", help="build the Sprites video benchmark (Li & Mandt 2018) from the packaged "
                                             "LPC sheets: train.npz, test.npz, manifest.json")
    p.add_argument("--data-dir", help="default: $CMIVAE_DATA or ~/.cache/cmivae (files go to <data dir>/sprites)")
    p.add_argument("--assets", help="another copy of the sheets (body/, bottomwear/, topwear/, hair/ 0-5.png, "
                                    "shoes/1.png); default: the copy packaged with cmivae")
    p.set_defaults(func=cmd_data_make_sprites)
