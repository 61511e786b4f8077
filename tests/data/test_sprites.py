"""Sprites (issue 29): the benchmark regenerated bit for bit, its files, its reader and its loader.

Fast tests compose a few characters from the packaged sheets (digests pinned below) and exercise the
files on small arrays in the documented format; the one full build (9,000 / 2,664 sequences, every
array's digest pinned) is slow-marked.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from cmivae.data.video import sprites
from cmivae.data.video import sprites_sheets as sheets_mod
from cmivae.data.video.frames import to_unit_float
from cmivae.infra.errors import ConfigError, DataError

# The recipe (/work/shared/sprites/README.md), written out here independently of the module's tables.
ROWS = {"walk": {"front": 10, "left": 9, "right": 11}, "spellcard": {"front": 2, "left": 1, "right": 3},
        "slash": {"front": 14, "left": 13, "right": 15}}
COLUMNS = {"spellcard": [0, 1, 2, 3, 4, 5, 4, 6], "walk": [8, 1, 2, 3, 4, 5, 6, 7], "slash": [0, 1, 2, 3, 4, 5, 4, 0]}
ACTIONS, DIRECTIONS = ("walk", "spellcard", "slash"), ("front", "left", "right")

# 8 characters covering every partially transparent sheet used (body 0 and 3: alpha 230; bottomwear 4: 253;
# topwear 0 and 4: 253 and 83): bodies (0, 3) x bottom 4 x tops (0, 4) x hairs (1, 5).
SUBSET = {"bodies": (0, 3), "bottoms": (4,), "tops": (0, 4), "hairs": (1, 5)}
SUBSET_CHARACTERS = [145, 149, 169, 173, 793, 797, 817, 821]
SUBSET_FRAMES_SHA256 = "4e6411954f03712b6a1f7161beef70290ee925c4ddaa1e92457a0c013f1c4a60"  # (8, 9, 8, 64, 64, 3)

# The full set (make_sprites; array digests over C-order bytes).
FULL_ARRAYS_SHA256 = {
    "train": {"frames": "d1d0adec757a9f4209c677635a6aa85cda333037e4b0fea1898291cf43973f15",
              "attributes": "a2fe755bf654e9041fb9328be538e8c6fa4f0d9ba274c922fa2237dfdd17534b",
              "action": "a9f4ea8905a7a8d8bf57d36beb74407a630e09fbffd60b7a21cb6a23c078b721",
              "character": "8ca4ec12ae45d5e079245bef4283a527bd1ac64e2fca4a2360b362b3af173a91"},
    "test": {"frames": "b13df2521dd5e612f9b20250a79bbb33352380b5528d526f9bcd75ddd0a7bac2",
             "attributes": "121c5a63fff25cd76f3c919f241fd325105943d4372df96db1603318c8559421",
             "action": "6cc830c10227e7d18bdb0e641e22ea5516457f5e89a9986200a6db8cad262c6c",
             "character": "08671b310123efdcb746db608cf07c812877584e396de98577dfe5bd2c066060"},
}


@pytest.fixture(scope="module")
def packaged_sheets() -> sheets_mod.Sheets:
    return sheets_mod.load_sheets()


@pytest.fixture(scope="module")
def subset(packaged_sheets: sheets_mod.Sheets) -> tuple[np.ndarray, np.ndarray]:
    parts = list(sheets_mod.compose_characters(packaged_sheets, **SUBSET))
    return np.concatenate([c for c, _ in parts]), np.concatenate([f for _, f in parts])  # (8,), (8, 9, 8, 64, 64, 3)


def _pillow_character(folder: Path, body: int, bottom: int, top: int, hair: int) -> np.ndarray:
    """The recipe done with Pillow on whole sheets: (9, 8, 64, 64, 3) uint8."""
    from PIL import Image

    canvas = Image.new("RGBA", (832, 1344), (0, 0, 0, 255))
    for layer, variant in (("body", body), ("bottomwear", bottom), ("topwear", top), ("hair", hair), ("shoes", 1)):
        with Image.open(folder / layer / f"{variant}.png") as sheet:
            canvas = Image.alpha_composite(canvas, sheet.convert("RGBA"))
    pixels = np.asarray(canvas)
    assert (pixels[..., 3] == 255).all()  # the canvas stays opaque
    out = np.zeros((9, 8, 64, 64, 3), dtype=np.uint8)
    for a, action in enumerate(ACTIONS):
        for d, direction in enumerate(DIRECTIONS):
            row = ROWS[action][direction]
            for t, col in enumerate(COLUMNS[action]):
                out[3 * a + d, t] = pixels[row * 64:(row + 1) * 64, col * 64:(col + 1) * 64, :3]
    return out


# --------------------------------------------------------------------------- composition


def test_compositing_is_pillows_alpha_composite_over_opaque_canvas() -> None:
    """Every (source value, source alpha) pair over 52 destination values, against Image.alpha_composite."""
    from PIL import Image

    v, a, d = np.meshgrid(np.arange(256), np.arange(256), np.arange(0, 256, 5), indexing="ij")
    v, a, d = (x.ravel().astype(np.uint8) for x in (v, a, d))  # (K,) each
    side = (256, len(v) // 256)
    src = np.stack([v, 255 - v, v // 2, a], axis=-1).reshape(*side, 4)
    dst = np.stack([d, d, 255 - d, np.full_like(d, 255)], axis=-1).reshape(*side, 4)
    ref = np.asarray(Image.alpha_composite(Image.fromarray(dst, "RGBA"), Image.fromarray(src, "RGBA")))
    mine = sheets_mod.composite_over_opaque(dst[..., :3].reshape(-1, 3), src[..., :3].reshape(-1, 3),
                                            src[..., 3].reshape(-1))
    assert (ref[..., 3] == 255).all()
    assert np.array_equal(mine, ref[..., :3].reshape(-1, 3))


def test_packaged_sheets_are_the_benchmarks_with_partial_alpha_where_expected() -> None:
    folder = sheets_mod.PACKAGED_ASSETS
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*.png")) == sorted(sheets_mod.sheet_names())
    for name in ("CC-BY-SA-3.0-LICENSE", "GNU-GPL-3.0-LICENSE", "CREDITS.md"):
        assert (folder / name).stat().st_size > 1000
    assert "Li" in (folder / "CREDITS.md").read_text() and "Liberated Pixel Cup" in (folder / "CREDITS.md").read_text()
    partial = set()
    for name in sheets_mod.sheet_names():
        alpha = sheets_mod.read_sheet(folder / name)[..., 3]
        if np.any((alpha > 0) & (alpha < 255)):
            partial.add(name)
    assert {"body/0.png", "body/3.png", "bottomwear/4.png", "topwear/4.png"} <= partial


def test_subset_matches_pinned_digest_and_pillow(subset: tuple[np.ndarray, np.ndarray]) -> None:
    characters, frames = subset
    assert characters.tolist() == SUBSET_CHARACTERS
    assert frames.shape == (8, 9, 8, 64, 64, 3) and frames.dtype == np.uint8
    assert hashlib.sha256(frames.data).hexdigest() == SUBSET_FRAMES_SHA256
    for g, (body, bottom, top, hair) in ((0, (0, 4, 0, 1)), (7, (3, 4, 4, 5))):
        assert sheets_mod.character_index(body, bottom, top, hair) == characters[g]
        assert np.array_equal(frames[g], _pillow_character(sheets_mod.PACKAGED_ASSETS, body, bottom, top, hair))


def test_frames_show_the_action_and_direction_of_their_label(subset: tuple[np.ndarray, np.ndarray]) -> None:
    """Walk frames move (no two consecutive walk frames equal); left/right are mirror-like: the
    character's drawn pixels sit differently; every frame has a figure on black."""
    _, frames = subset
    seq = frames[0]  # (9, T, H, W, C)
    drawn = seq.max(axis=-1) > 0  # (9, T, H, W)
    assert drawn.any(axis=(2, 3)).all() and (~drawn).any(axis=(2, 3)).all()
    walk = seq[:3]
    assert all(not np.array_equal(walk[d, t], walk[d, t + 1]) for d in range(3) for t in range(7))
    for d in range(3):  # frames 4 and 6 of spellcard and slash repeat (column 4), walk's never
        spell, slash = seq[3 + d], seq[6 + d]  # (T, H, W, C)
        assert np.array_equal(spell[4], spell[6]) and np.array_equal(slash[4], slash[6])
        assert np.array_equal(slash[0], slash[7])  # slash ends on column 0
    assert not np.array_equal(seq[1], seq[2])  # walk left != walk right


def test_split_is_the_recipes_seed_423_permutation_character_disjoint() -> None:
    split = sprites.split_characters()
    state = np.random.get_state()
    try:
        np.random.seed(423)
        expected = np.random.permutation(1296)
    finally:
        np.random.set_state(state)
    assert np.array_equal(np.concatenate([split["train"], split["test"]]), expected)
    assert len(split["train"]) == 1000 and len(split["test"]) == 296
    assert split["train"][:4].tolist() == [1116, 1135, 17, 469] and split["test"][:4].tolist() == [884, 1285, 252, 297]
    assert not set(split["train"].tolist()) & set(split["test"].tolist())


def test_character_attributes_invert_the_index() -> None:
    chars = np.arange(1296)
    attrs = sheets_mod.character_attributes(chars)  # (1296, 4)
    assert attrs.min() == 0 and attrs.max() == 5
    assert np.array_equal(attrs @ np.array([216, 36, 6, 1]), chars)
    assert all(np.bincount(attrs[:, k]).tolist() == [216] * 6 for k in range(4))


# --------------------------------------------------------------------------- bad sheets


@pytest.fixture()
def assets_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "assets"
    shutil.copytree(sheets_mod.PACKAGED_ASSETS, folder)
    return folder


def _damage(kind: str, path: Path) -> None:
    from PIL import Image

    if kind == "missing":
        path.unlink()
    elif kind == "damaged":
        path.write_bytes(path.read_bytes()[:-4000])  # a truncated PNG
    elif kind == "garbage":
        path.write_bytes(b"\x89PNG not really" * 100)
    elif kind == "wrong size":
        with Image.open(path) as image:
            image.convert("RGBA").crop((0, 0, 832, 1280)).save(path)
    elif kind == "other art":
        with Image.open(path) as image:
            pixels = np.array(image.convert("RGBA"))
        pixels[100, 100] = (1, 2, 3, 255)
        Image.fromarray(pixels, "RGBA").save(path)


@pytest.mark.parametrize("kind", ["missing", "damaged", "garbage", "wrong size", "other art"])
def test_a_bad_sheet_is_one_data_error_naming_it_and_nothing_is_written(kind: str, assets_copy: Path,
                                                                       tmp_path: Path) -> None:
    bad = assets_copy / "topwear" / "3.png"
    _damage(kind, bad)
    with pytest.raises(DataError) as info:
        sprites.make_sprites(tmp_path / "data", assets_copy, progress=lambda line: None)
    message = str(info.value)
    assert str(bad) in message and "\n" not in message
    folder = tmp_path / "data" / "sprites"
    assert not [p.name for p in folder.iterdir() if p.name != ".cmivae.lock"]


def test_a_reencoded_copy_of_the_sheets_is_accepted(assets_copy: Path) -> None:
    from PIL import Image

    path = assets_copy / "hair" / "2.png"
    with Image.open(path) as image:
        image.convert("RGBA").save(path, optimize=True)  # other bytes, same pixels
    assert sheets_mod.load_sheets(assets_copy).pixel_digests == sheets_mod.load_sheets().pixel_digests


def test_cli_reports_a_bad_sheet_on_one_line_exit_2(assets_copy: Path, tmp_path: Path, capsys) -> None:
    from cmivae.cli.main import main

    (assets_copy / "shoes" / "1.png").unlink()
    code = main(["data", "make-sprites", "--data-dir", str(tmp_path / "data"), "--assets", str(assets_copy)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error:") and "shoes/1.png" in err[0]


# --------------------------------------------------------------------------- files (small arrays)


def _small_split(characters: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Arrays in the documented format for ``characters`` (random frames)."""
    n = len(characters) * 9
    return {"frames": rng.integers(0, 256, size=(n, 8, 64, 64, 3), dtype=np.uint8),
            "attributes": sheets_mod.character_attributes(np.repeat(characters, 9)),
            "action": np.tile(np.arange(9, dtype=np.int64), len(characters)),
            "character": np.repeat(characters, 9).astype(np.int64)}


@pytest.fixture()
def small_build(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, np.ndarray]]:
    """make_sprites with the composition replaced by small arrays (20 train, 4 test characters)."""
    split = sprites.split_characters()
    rng = np.random.default_rng(0)
    data = {"train": _small_split(split["train"][:20], rng), "test": _small_split(split["test"][:4], rng)}
    calls = []

    def fake_build(sheets, progress=None):
        calls.append(1)
        return data

    monkeypatch.setattr(sprites, "build_sprites", fake_build)
    data["calls"] = calls  # type: ignore[assignment]
    return data


def test_files_are_plain_numpy_with_a_manifest_and_a_rerun_does_nothing(small_build, tmp_path: Path) -> None:
    first = sprites.make_sprites(tmp_path, progress=lambda line: None)
    folder = tmp_path / "sprites"
    assert first.folder == folder and first.written == ("train.npz", "test.npz")
    manifest = json.loads((folder / "manifest.json").read_text())
    for split in ("train", "test"):
        with np.load(folder / f"{split}.npz") as loaded:  # plain numpy, no pickle
            assert sorted(loaded.files) == sorted(sprites.ARRAYS)
            for name in sprites.ARRAYS:
                assert np.array_equal(loaded[name], small_build[split][name])
                entry = manifest["files"][f"{split}.npz"]["arrays"][name]
                assert entry["sha256"] == hashlib.sha256(np.ascontiguousarray(loaded[name]).data).hexdigest()
                assert entry["shape"] == list(loaded[name].shape) and entry["dtype"] == str(loaded[name].dtype)
        assert manifest["files"][f"{split}.npz"]["sha256"] == sprites.file_sha256(folder / f"{split}.npz")
    assert set(manifest["sheet_pixels_sha256"]) == set(sheets_mod.sheet_names())
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.suffix != ".lock"}
    lines: list[str] = []
    again = sprites.make_sprites(tmp_path, progress=lines.append)
    assert again.written == () and "nothing to do" in lines[-1] and len(small_build["calls"]) == 1
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.suffix != ".lock"} == before


def test_same_arrays_give_the_same_file_bytes(tmp_path: Path) -> None:
    arrays = _small_split(np.array([3, 5]), np.random.default_rng(1))
    sprites.write_npz(tmp_path / "a.npz", arrays)
    sprites.write_npz(tmp_path / "b.npz", arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_a_damaged_file_is_refused_by_the_reader_and_rebuilt_alone(small_build, tmp_path: Path) -> None:
    sprites.make_sprites(tmp_path, progress=lambda line: None)
    folder = tmp_path / "sprites"
    path = folder / "test.npz"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte inside the compressed frames
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="make-sprites"):
        sprites.read_sprites("test", tmp_path)
    train_mtime = (folder / "train.npz").stat().st_mtime_ns
    result = sprites.make_sprites(tmp_path, progress=lambda line: None)
    assert result.written == ("test.npz",) and (folder / "train.npz").stat().st_mtime_ns == train_mtime
    assert np.array_equal(sprites.read_sprites("test", tmp_path).action, small_build["test"]["action"])


def test_a_failed_write_leaves_no_file_and_no_temporary(small_build, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real = np.lib.format.write_array

    def half_then_fail(fp, array, **kwargs):
        if array.ndim == 5:
            fp.write(b"x" * 1000)
            raise OSError(28, "No space left on device")
        return real(fp, array, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", half_then_fail)
    with pytest.raises(OSError, match="disk is full"):
        sprites.make_sprites(tmp_path, progress=lambda line: None)
    assert [p.name for p in (tmp_path / "sprites").iterdir()] == [".cmivae.lock"]


def test_missing_data_says_make_sprites(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cmivae data make-sprites"):
        sprites.read_sprites("train", tmp_path)


def test_read_sprites_is_channels_first_and_32_is_rounded_2x2_means(small_build, tmp_path: Path) -> None:
    sprites.make_sprites(tmp_path, progress=lambda line: None)
    frames = small_build["test"]["frames"]  # (N, T, 64, 64, C)
    full = sprites.read_sprites("test", tmp_path)
    assert full.frames.dtype == np.uint8 and full.frames.shape == (36, 8, 3, 64, 64)
    assert np.array_equal(full.frames, frames.transpose(0, 1, 4, 2, 3))
    small = sprites.read_sprites("test", tmp_path, frame_size=32)
    blocks = frames.reshape(36, 8, 32, 2, 32, 2, 3).astype(np.float64).mean(axis=(3, 5))  # (N, T, 32, 32, C)
    expected = np.floor(blocks + 0.5).astype(np.uint8).transpose(0, 1, 4, 2, 3)  # half up
    assert small.frames.shape == (36, 8, 3, 32, 32) and np.array_equal(small.frames, expected)
    assert np.any(blocks % 1 == 0.5)  # the rounding rule was exercised
    with pytest.raises(DataError, match="64 or 32"):
        sprites.read_sprites("test", tmp_path, frame_size=16)


def test_to_unit_float_is_value_over_256() -> None:
    x = torch.tensor([0, 1, 128, 255], dtype=torch.uint8)
    assert torch.equal(to_unit_float(x), torch.tensor([0.0, 1 / 256, 0.5, 255 / 256]))


# --------------------------------------------------------------------------- the loader and its config


def _data_config(tmp_path: Path, **kwargs):
    from cmivae.config import DataConfig

    return DataConfig(name="sprites", data_dir=str(tmp_path), **kwargs)


def test_loader_splits_by_character_and_never_uses_test_characters(small_build, tmp_path: Path) -> None:
    from cmivae.data.registry import DATASETS, load_dataset
    from cmivae.modality import DATASET_MODALITY, VIDEO

    assert DATASET_MODALITY["sprites"] == VIDEO == "video" and "sprites" in DATASETS
    sprites.make_sprites(tmp_path, progress=lambda line: None)
    splits = load_dataset(_data_config(tmp_path, val_fraction=0.25, split_seed=3, frame_size=32))
    train, val, test = (set(getattr(splits, f"{p}_character").tolist()) for p in ("train", "val", "test"))
    assert len(val) == 5 and len(train) == 15 and len(test) == 4  # 25 % of 20 training characters
    assert not (train & val) and not (test & (train | val))
    assert test <= set(sprites.split_characters()["test"].tolist())
    assert splits.train_x.dtype == torch.uint8 and splits.train_x.shape == (135, 8, 3, 32, 32)
    assert splits.val_x.shape == (45, 8, 3, 32, 32) and splits.test_x.shape == (36, 8, 3, 32, 32)
    for part in ("train", "val", "test"):  # every character keeps its 9 actions, labels stay aligned
        action, character = getattr(splits, f"{part}_action"), getattr(splits, f"{part}_character")
        assert torch.equal(torch.bincount(action), torch.full((9,), len(action) // 9))
        assert torch.equal(getattr(splits, f"{part}_attributes") @ torch.tensor([216, 36, 6, 1]), character)
    other = load_dataset(_data_config(tmp_path, val_fraction=0.25, split_seed=4))
    assert set(other.val_character.tolist()) != val  # the seed picks the validation characters
    assert other.train_x.shape[-1] == 64


def test_loader_caps_by_sequences(small_build, tmp_path: Path) -> None:
    from cmivae.data.registry import load_dataset

    sprites.make_sprites(tmp_path, progress=lambda line: None)
    splits = load_dataset(_data_config(tmp_path, val_fraction=0.25, num_train=18, num_test=9))
    assert len(splits.train_x) == 18 and len(splits.val_x) == 6 and len(splits.test_x) == 9
    assert torch.equal(torch.bincount(splits.train_action), torch.full((9,), 2))
    with pytest.raises(ConfigError, match="num_train"):
        load_dataset(_data_config(tmp_path, val_fraction=0.25, num_train=10_000))


def test_frame_size_config_and_run_ids() -> None:
    from cmivae.config import DataConfig, ExperimentConfig
    from cmivae.runs.legacy import HASH_NEUTRAL_DEFAULTS, run_id

    assert HASH_NEUTRAL_DEFAULTS[("data", "frame_size")] == 64
    assert DataConfig(name="sprites", frame_size=32).frame_size == 32
    with pytest.raises(ConfigError, match="64 or 32"):
        DataConfig(name="sprites", frame_size=48)
    with pytest.raises(ConfigError, match="video"):
        DataConfig(name="mnist", frame_size=32)
    config = ExperimentConfig()
    hashed = config.to_dict()
    assert hashed["data"].pop("frame_size") == 64
    assert run_id(hashed) == run_id(config)  # the default leaves the run id as it was


# --------------------------------------------------------------------------- the full set (slow)


@pytest.mark.slow
def test_full_build_matches_pinned_digests_and_counts(tmp_path: Path, subset: tuple[np.ndarray, np.ndarray]) -> None:
    lines: list[str] = []
    result = sprites.make_sprites(tmp_path, progress=lines.append)
    assert result.written == ("train.npz", "test.npz") and any("1296/1296" in line for line in lines)
    manifest = json.loads((result.folder / "manifest.json").read_text())
    for split, expected in FULL_ARRAYS_SHA256.items():
        arrays = manifest["files"][f"{split}.npz"]["arrays"]
        assert {name: arrays[name]["sha256"] for name in expected} == expected
    split = sprites.split_characters()
    with np.load(result.folder / "train.npz") as train, np.load(result.folder / "test.npz") as test:
        assert train["frames"].shape == (9000, 8, 64, 64, 3) and test["frames"].shape == (2664, 8, 64, 64, 3)
        assert hashlib.sha256(train["frames"].data).hexdigest() == FULL_ARRAYS_SHA256["train"]["frames"]
        assert np.bincount(train["action"]).tolist() == [1000] * 9 and np.bincount(test["action"]).tolist() == [296] * 9
        for k in range(4):  # each attribute class once per (other attributes, action): balanced over all 1296
            total = sum(np.bincount(a["attributes"][:, k], minlength=6) for a in (train, test))
            assert total.tolist() == [216 * 9] * 6
        assert np.array_equal(np.unique(train["character"]), np.sort(split["train"]))
        assert np.array_equal(np.unique(test["character"]), np.sort(split["test"]))
        for split_name, arrays in (("train", train), ("test", test)):  # the pinned subset sits where its split says
            for character, frames in zip(*subset, strict=True):
                rank = np.flatnonzero(split[split_name] == character)
                if len(rank):
                    assert np.array_equal(arrays["frames"][9 * rank[0]:9 * rank[0] + 9], frames)
                    assert arrays["character"][9 * rank[0]] == character
    assert sprites.make_sprites(tmp_path, progress=lines.append).written == ()
    with zipfile.ZipFile(result.folder / "train.npz") as archive:
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in archive.infolist())


def test_an_installed_wheel_carries_the_sheets_and_licences() -> None:
    """pyproject's package-data globs cover every packaged asset (what `pip install` copies)."""
    import fnmatch

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    root = Path(__file__).resolve().parents[2]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["cmivae"]
    package = root / "src" / "cmivae"
    assets = [p.relative_to(package).as_posix() for p in sheets_mod.PACKAGED_ASSETS.rglob("*") if p.is_file()]
    assert len(assets) == 25 + 3
    assert all(any(fnmatch.fnmatchcase(path, glob) for glob in globs) for path in assets)
