"""``cmivae data fetch/pack NAME``: the choices come from the one torch-free list of image data sets
(:data:`cmivae.modality.IMAGE_DATASETS`), which the fetch recipes (``data.images.fetch.DATASET_SPECS``) are
keyed by; building the parser still imports no torch (a first attempt imported the recipes, and with them
``cmivae.data``'s torch-importing ``__init__``)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from cmivae.cli import build_parser
from cmivae.modality import IMAGE_DATASETS
from tests.cli.test_command_list import _leaves

SRC = Path(__file__).resolve().parents[2] / "src"


def test_fetch_recipes_are_keyed_by_the_image_data_sets() -> None:
    from cmivae.data.images.fetch import DATASET_SPECS

    assert list(DATASET_SPECS) == list(IMAGE_DATASETS) == ["mnist", "fashion-mnist"]


def test_data_fetch_and_pack_choose_from_the_one_list_with_the_same_help() -> None:
    leaves = dict(_leaves(build_parser()))
    for command in ("data fetch", "data pack"):
        (name,) = [a for a in leaves[command]._actions if a.dest == "name"]
        assert name.choices == list(IMAGE_DATASETS) and name.help == "which data set"
        assert re.search(r"\{mnist,fashion-mnist\}\s+which data set", leaves[command].format_help())


def test_building_the_parser_and_refusing_a_name_import_no_torch() -> None:
    code = ("import sys\nfrom cmivae.cli.main import build_parser, main\nbuild_parser()\n"
            "assert 'torch' not in sys.modules, 'building the parser imported torch'\n"
            "try:\n    main(['data', 'fetch', 'cifar'])\nexcept SystemExit as stop:\n    code = stop.code\n"
            "assert 'torch' not in sys.modules, 'the refusal imported torch'\nprint(code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2" and "invalid choice: 'cifar'" in done.stderr
