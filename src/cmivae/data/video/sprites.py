"""Sprites (Li & Mandt 2018, the DSAE paper): the benchmark regenerated bit for bit, its files and its reader.

``cmivae data make-sprites [--assets DIR]`` (:func:`make_sprites`) composes the 1296 LPC characters
(:mod:`cmivae.data.video.sprites_sheets`), splits them by character and writes, under
``$CMIVAE_DATA/sprites/``:

- ``train.npz`` (9,000 sequences of the 1000 training characters) and ``test.npz`` (2,664 sequences of
  the other 296), compressed ``.npz`` archives (the format of ``np.savez_compressed``, zlib level 6: the
  frames are mostly black, so 1.15 GB of arrays take about 35 MB) anyone loads with ``numpy.load``:

  ========== ====== ====================== ===========================================================
  array      dtype  shape                  meaning
  ========== ====== ====================== ===========================================================
  frames     uint8  (N, 8, 64, 64, 3)      RGB frames, channels last; the float value is pixel / 256
  attributes int64  (N, 4)                 body, bottom, top, hair, each 0..5
  action     int64  (N,)                   3 * action + direction, 0..8; actions (walk, spellcard,
                                           slash), directions (front, left, right)
  character  int64  (N,)                   body*216 + bottom*36 + top*6 + hair, 0..1295
  ========== ====== ====================== ===========================================================

  Sequences are character-major: sequence ``9 * k + label`` is dynamic class ``label`` of the split's
  k-th character, the characters in the order of the split permutation (so any 9 consecutive
  sequences from a multiple of 9 are one character's 9 actions).
- ``manifest.json``: the SHA-256 of each file and of each array (C-order bytes), their shapes and dtypes,
  and of each sheet's decoded pixels. The archives are written with a fixed zip timestamp, so the same
  sheets give the same file bytes (with the same zlib); the array digests are the benchmark's identity.

The split (the recipe): ``np.random.seed(423); np.random.permutation(1296)``; the first 1000
characters are the training characters, the remaining 296 the test characters; a character's 9
sequences are all in one split, so test characters never appear in training.

:func:`read_sprites` returns a split channels-first ``(N, T, 3, H, W)`` uint8 (``frame_size`` 64, or 32:
each output pixel is the mean of a 2 x 2 block rounded half up, ``(a + b + c + d + 2) // 4``), read
in chunks so no second copy of the frames is ever held.
"""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from cmivae.data.video.sprites_sheets import (
    CELL,
    NUM_ACTIONS,
    NUM_CHARACTERS,
    NUM_FRAMES,
    Sheets,
    character_attributes,
    compose_characters,
    load_sheets,
)
from cmivae.infra.digests import array_sha256, file_sha256
from cmivae.infra.errors import DataError

FOLDER = "sprites"
SPLITS = ("train", "test")
MANIFEST = "manifest.json"
FORMAT = "cmivae-sprites-1"
SPLIT_SEED = 423  # np.random.seed(423); np.random.permutation(1296): the recipe's character split
NUM_TRAIN_CHARACTERS = 1000
FRAME_SIZES = (64, 32)
ARRAYS = ("frames", "attributes", "action", "character")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: the same arrays give the same file bytes
_CHUNK = 256  # sequences read (and downsampled, transposed) at a time


def split_characters() -> dict[str, np.ndarray]:
    """The recipe's split: ``{"train": (1000,), "test": (296,)}`` character indices, in permutation order
    (numpy's legacy generator: ``np.random.seed(423); np.random.permutation(1296)``, without touching
    the global state)."""
    perm = np.random.RandomState(SPLIT_SEED).permutation(NUM_CHARACTERS)  # (1296,)
    return {"train": perm[:NUM_TRAIN_CHARACTERS].astype(np.int64), "test": perm[NUM_TRAIN_CHARACTERS:].astype(np.int64)}


def sprites_folder(data_dir: str | Path | None = None) -> Path:
    """``<data dir>/sprites`` (data dir: ``data_dir``, else ``$CMIVAE_DATA``, else ``~/.cache/cmivae``)."""
    from cmivae.data.images.fetch import resolve_data_dir

    return resolve_data_dir(data_dir) / FOLDER


def build_sprites(sheets: Sheets, progress: Callable[[int], None] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Every character composed and placed in its split: ``{split: {array name: array}}`` (the file format)."""
    characters = split_characters()
    where = np.zeros(NUM_CHARACTERS, dtype=np.int64)  # character -> index of its split in SPLITS
    position = np.zeros(NUM_CHARACTERS, dtype=np.int64)  # character -> its rank within its split
    for s, split in enumerate(SPLITS):
        where[characters[split]] = s
        position[characters[split]] = np.arange(len(characters[split]))
    frames = {split: np.empty((len(characters[split]), NUM_ACTIONS, NUM_FRAMES, CELL, CELL, 3), dtype=np.uint8)
              for split in SPLITS}  # (K, 9, T, H, W, C) per split
    for group, composed in compose_characters(sheets, progress=progress):  # composed: (G, 9, T, H, W, C)
        for s, split in enumerate(SPLITS):
            mine = where[group] == s
            frames[split][position[group[mine]]] = composed[mine]
    out = {}
    for split in SPLITS:
        chars = characters[split]
        out[split] = {
            "frames": frames[split].reshape(-1, NUM_FRAMES, CELL, CELL, 3),  # (K * 9, T, H, W, C), character-major
            "attributes": character_attributes(np.repeat(chars, NUM_ACTIONS)),  # (N, 4)
            "action": np.tile(np.arange(NUM_ACTIONS, dtype=np.int64), len(chars)),  # (N,)
            "character": np.repeat(chars, NUM_ACTIONS),  # (N,)
        }
    return out


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Atomically write ``arrays`` as a compressed ``.npz`` (``np.savez_compressed``'s format; ``numpy.load``
    reads it) with fixed member timestamps, so the same arrays always give the same bytes."""
    from cmivae.infra.atomic import atomic_writer

    with atomic_writer(path) as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED  # zlib level 6, as np.savez_compressed
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)


def _manifest_entry(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    return {"sha256": file_sha256(path), "bytes": path.stat().st_size,
            "arrays": {name: {"dtype": str(a.dtype), "shape": list(a.shape), "sha256": array_sha256(a)}
                       for name, a in arrays.items()}}


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of ``folder``, or ``None`` if missing or damaged (a rebuild replaces it)."""
    from cmivae.infra.json_files import DamagedFile, read_json_or_none

    try:
        manifest = read_json_or_none(folder / MANIFEST)
    except DamagedFile:
        return None
    if manifest is None or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        return None
    return manifest


def intact_files(folder: Path, manifest: dict[str, Any] | None) -> set[str]:
    """Split names whose file exists and has the SHA-256 the manifest records."""
    intact = set()
    for split in SPLITS:
        entry = (manifest or {}).get("files", {}).get(f"{split}.npz")
        path = folder / f"{split}.npz"
        if isinstance(entry, dict) and path.is_file() and path.stat().st_size == entry.get("bytes") \
                and file_sha256(path) == entry.get("sha256"):
            intact.add(split)
    return intact


@dataclass(frozen=True)
class MakeResult:
    """What :func:`make_sprites` did: the folder, and the files it (re)wrote (empty: all were intact)."""

    folder: Path
    written: tuple[str, ...]


def make_sprites(data_dir: str | Path | None = None, assets: str | Path | None = None,
                 progress: Callable[[str], None] | None = None) -> MakeResult:
    """Build ``<data dir>/sprites/{train,test}.npz`` and ``manifest.json`` (``cmivae data make-sprites``).

    Idempotent: when both files match the manifest's SHA-256 nothing is done; otherwise every sheet is
    read and checked first (a missing, undecodable, wrongly sized or foreign sheet is one
    :class:`DataError` naming it, before anything is written), the set is composed, the files that are
    missing or damaged are rewritten atomically, then the manifest. A kill at any point leaves
    complete files only (at most hidden temporaries, cleared by the next run).

    Args:
        data_dir: root data folder (default ``$CMIVAE_DATA`` or ``~/.cache/cmivae``).
        assets: folder holding the sheets (default: the copy packaged with cmivae).
        progress: where progress lines go (default: standard error).
    """
    from cmivae.infra.atomic import atomic_write_json, remove_stale_temporaries
    from cmivae.infra.locking import directory_lock
    from cmivae.infra.progress import ProgressLine

    emit = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    folder = sprites_folder(data_dir)
    with directory_lock(folder, what="data folder"):
        remove_stale_temporaries(folder)
        manifest = read_manifest(folder)
        intact = intact_files(folder, manifest)
        if intact == set(SPLITS):
            emit(f"sprites: {folder} holds train.npz and test.npz matching {MANIFEST}; nothing to do")
            return MakeResult(folder, ())
        sheets = load_sheets(assets)
        line = ProgressLine(NUM_CHARACTERS, "sprites: composing", emit, every_seconds=5.0, unit="characters")
        data = build_sprites(sheets, progress=line.update)
        written = []
        files = {}
        for split in SPLITS:
            path = folder / f"{split}.npz"
            if split not in intact:
                emit(f"sprites: writing {path}")
                write_npz(path, data[split])
                written.append(path.name)
            files[path.name] = _manifest_entry(path, data[split])
        atomic_write_json(folder / MANIFEST, {
            "format": FORMAT,
            "recipe": "Li & Mandt 2018 Sprites: 1296 LPC characters, 9 actions, 8 frames of 64x64 RGB; "
                      "split np.random.seed(423) permutation, first 1000 characters train (cmivae.data.video.sprites)",
            "files": files,
            "sheet_pixels_sha256": sheets.pixel_digests,
        })
        emit(f"sprites: wrote {', '.join(written)} and {MANIFEST} in {folder}")
        return MakeResult(folder, tuple(written))


# --------------------------------------------------------------------------- reading


@dataclass
class SpritesArrays:
    """One split of Sprites as held in memory.

    Attributes:
        frames: uint8 ``(N, T, 3, H, W)`` channels-first, ``H = W = frame_size`` (float value = pixel / 256,
            :func:`cmivae.data.video.frames.to_unit_float`).
        attributes: int64 ``(N, 4)``: body, bottom, top, hair (0..5 each).
        action: int64 ``(N,)``: 3 * action + direction (0..8).
        character: int64 ``(N,)``: 0..1295.
    """

    frames: np.ndarray
    attributes: np.ndarray
    action: np.ndarray
    character: np.ndarray


def _fix(split: str) -> str:
    return f"run `cmivae data make-sprites` (it rebuilds a missing or damaged {split}.npz)"


def split_path(split: str, data_dir: str | Path | None = None) -> Path:
    """``<data dir>/sprites/<split>.npz``; a missing file is a :class:`DataError` saying how to build it."""
    if split not in SPLITS:
        raise DataError(f"unknown Sprites split {split!r}; expected one of {', '.join(SPLITS)}")
    path = sprites_folder(data_dir) / f"{split}.npz"
    if not path.is_file():
        raise DataError(f"the Sprites data set is missing ({path} does not exist); to build it, {_fix(split)}")
    return path


def _member_header(member: IO[bytes]) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
    if fortran:
        raise ValueError("Fortran-ordered array")
    return shape, dtype


def _downsample(chunk: np.ndarray, frame_size: int) -> np.ndarray:
    """``(n, T, 64, 64, 3)`` uint8 -> ``(n, T, 3, S, S)`` uint8, S = frame_size (64: a transpose;
    32: 2 x 2 means rounded half up, ``(a + b + c + d + 2) // 4``)."""
    if frame_size == CELL:
        return chunk.transpose(0, 1, 4, 2, 3)  # (n, T, H, W, C) -> (n, T, C, H, W)
    wide = chunk.astype(np.uint16)  # (n, T, 64, 64, C)
    sums = wide[:, :, 0::2, 0::2] + wide[:, :, 0::2, 1::2] + wide[:, :, 1::2, 0::2] + wide[:, :, 1::2, 1::2]
    # sums: (n, T, 32, 32, C)
    means = ((sums + 2) >> 2).astype(np.uint8)  # rounded half up
    return means.transpose(0, 1, 4, 2, 3)  # (n, T, C, S, S)


def _iter_frames(member: IO[bytes], count: int, frame_shape: tuple[int, ...]) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, chunk (n, T, 64, 64, 3))`` over the frames array of an open ``.npy`` stream."""
    per_sequence = int(np.prod(frame_shape))
    for start in range(0, count, _CHUNK):
        n = min(_CHUNK, count - start)
        raw = member.read(n * per_sequence)
        if len(raw) != n * per_sequence:
            raise ValueError("the frames array ends early")
        yield start, np.frombuffer(raw, dtype=np.uint8).reshape(n, *frame_shape)


def _open_split(path: Path, split: str) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as err:
        raise DataError(f"{path} is damaged ({err}); {_fix(split)}") from None
    missing = [name for name in ARRAYS if f"{name}.npy" not in set(archive.namelist())]
    if missing:
        archive.close()
        raise DataError(f"{path} is damaged (it lacks the array(s) {', '.join(missing)}); {_fix(split)}")
    return archive


def _read_labels(archive: zipfile.ZipFile) -> dict[str, np.ndarray]:
    labels = {}
    for name in ("attributes", "action", "character"):
        with archive.open(f"{name}.npy") as member:
            labels[name] = np.lib.format.read_array(member, allow_pickle=False)
    _check_labels(labels)
    return labels


def read_labels(split: str, data_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """The label arrays of one split (``attributes`` (N, 4), ``action`` (N,), ``character`` (N,)), without
    the frames: what a selection of sequences is computed from."""
    path = split_path(split, data_dir)
    with _open_split(path, split) as archive:
        try:
            return _read_labels(archive)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
            raise DataError(f"{path} is damaged ({err}); {_fix(split)}") from None


def read_sprites_selected(split: str, selections: Sequence[np.ndarray | None], data_dir: str | Path | None = None,
                          frame_size: int = 64) -> list[SpritesArrays]:
    """Read one split once and return the sequences of each selection (sorted sequence indices, or
    ``None`` for all) as its own :class:`SpritesArrays`; frames are streamed chunk by chunk into
    their final arrays, so memory holds the outputs and one chunk, never a second copy of the set."""
    if frame_size not in FRAME_SIZES:
        raise DataError(f"Sprites frame_size must be 64 or 32 (2 x 2 means), got {frame_size!r}")
    path = split_path(split, data_dir)
    with _open_split(path, split) as archive:
        try:
            labels = _read_labels(archive)
            count = len(labels["action"])
            picks = [np.arange(count) if s is None else np.asarray(s, dtype=np.int64) for s in selections]
            for pick in picks:
                if len(pick) and (pick.min() < 0 or pick.max() >= count or np.any(np.diff(pick) <= 0)):
                    raise DataError(f"a Sprites selection must be sorted unique indices in 0..{count - 1}")
            outputs = [np.empty((len(p), NUM_FRAMES, 3, frame_size, frame_size), dtype=np.uint8) for p in picks]
            with archive.open("frames.npy") as member:
                shape, dtype = _member_header(member)
                if dtype != np.uint8 or tuple(shape) != (count, NUM_FRAMES, CELL, CELL, 3):
                    raise ValueError(f"frames is {dtype} {tuple(shape)}, expected uint8 ({count}, 8, 64, 64, 3)")
                for start, chunk in _iter_frames(member, count, shape[1:]):
                    small = _downsample(chunk, frame_size)  # (n, T, 3, S, S)
                    for pick, out in zip(picks, outputs, strict=True):
                        lo, hi = np.searchsorted(pick, [start, start + len(chunk)])
                        out[lo:hi] = small[pick[lo:hi] - start]
                member.read()  # to the end, so zipfile checks the CRC-32 of the whole member
        except DataError:
            raise
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
            raise DataError(f"{path} is damaged ({err}); {_fix(split)}") from None
    return [SpritesArrays(frames=out, attributes=labels["attributes"][p], action=labels["action"][p],
                          character=labels["character"][p]) for p, out in zip(picks, outputs, strict=True)]


def _check_labels(labels: dict[str, np.ndarray]) -> None:
    attributes, action, character = labels["attributes"], labels["action"], labels["character"]
    count = len(action)
    if attributes.dtype != np.int64 or attributes.shape != (count, 4) or action.dtype != np.int64 \
            or action.shape != (count,) or character.dtype != np.int64 or character.shape != (count,):
        raise ValueError("its label arrays do not have the documented dtypes and shapes")
    if count and (attributes.min() < 0 or attributes.max() > 5 or action.min() < 0 or action.max() >= NUM_ACTIONS
                  or character.min() < 0 or character.max() >= NUM_CHARACTERS):
        raise ValueError("its labels are out of range")


def read_sprites(split: str, data_dir: str | Path | None = None, frame_size: int = 64) -> SpritesArrays:
    """One split of Sprites (``"train"`` 9,000 or ``"test"`` 2,664 sequences) with channels-first uint8
    frames ``(N, 8, 3, frame_size, frame_size)``; ``frame_size`` 64, or 32 (2 x 2 means, rounded half up).

    Raises:
        DataError: the data set is missing (saying ``cmivae data make-sprites``) or its file is damaged.
    """
    return read_sprites_selected(split, [None], data_dir, frame_size)[0]


__all__ = ["ARRAYS", "FRAME_SIZES", "MakeResult", "SpritesArrays", "build_sprites", "make_sprites", "read_sprites",
           "read_labels", "read_sprites_selected", "split_characters", "sprites_folder"]
