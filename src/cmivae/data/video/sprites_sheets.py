"""The LPC sprite sheets of the Sprites benchmark and the composition of its 1296 characters.

The facts (Li & Mandt 2018, the DSAE paper; the sheets and recipe of ``YingzhenLi/Sprites`` commit
3ce4048; ``/work/shared/sprites/README.md``): each sheet is an 832 x 1344 PNG of 13 columns x 21
rows of 64 x 64 cells, all sheets aligned cell for cell. A character is one (body, bottomwear,
topwear, hair) in {0..5}^4, composed on an opaque black RGBA canvas by alpha compositing in the
order body, bottomwear, topwear, hair, ``shoes/1.png``. Nine of the 21 rows are used: 3 actions x
3 directions, 8 frames each, taken from the columns of :data:`FRAME_COLUMNS`.

Some sheets have partially transparent pixels (alpha 230 in body 0 and 3, 253 in bottomwear 4,
83-253 in topwear 0-4), so the compositing rule matters bit for bit: it is Pillow's
``Image.alpha_composite`` (integer arithmetic with 7 extra bits, rounded divisions by 255),
reimplemented in numpy by :func:`composite_over_opaque` for an opaque destination (the canvas
stays opaque, alpha 255, after every layer) and tested equal to Pillow on every
(source value, source alpha, destination value) triple.

The sheets travel with the library (``assets/sprites/``: CC-BY-SA 3.0 or GPL 3.0, credits in
``CREDITS.md`` there); ``--assets DIR`` takes another copy of the same layout.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cmivae.infra.digests import array_sha256
from cmivae.infra.errors import DataError

PACKAGED_ASSETS = Path(__file__).parent / "assets" / "sprites"

CELL = 64  # pixels per cell side, and the frame size
SHEET_COLUMNS, SHEET_ROWS = 13, 21
SHEET_SIZE = (SHEET_COLUMNS * CELL, SHEET_ROWS * CELL)  # (width, height) = (832, 1344), as Pillow gives it

NUM_VARIANTS = 6  # variants 0..5 of each attribute layer are the benchmark's static classes
ATTRIBUTE_LAYERS = ("body", "bottomwear", "topwear", "hair")  # the attribute order of the files
SHOES = ("shoes", 1)  # the one shoes sheet every character wears, composed last
NUM_CHARACTERS = NUM_VARIANTS ** len(ATTRIBUTE_LAYERS)  # 1296; c = body*216 + bottom*36 + top*6 + hair

ACTIONS = ("walk", "spellcard", "slash")
DIRECTIONS = ("front", "left", "right")
NUM_ACTIONS = len(ACTIONS) * len(DIRECTIONS)  # 9 dynamic classes: label = 3 * action + direction
NUM_FRAMES = 8
# LPC rows of each (action, direction); rows 0, 8, 12 ("back"), thrust, shoot and hurt are unused.
SHEET_ROW = {
    ("spellcard", "left"): 1, ("spellcard", "front"): 2, ("spellcard", "right"): 3,
    ("walk", "left"): 9, ("walk", "front"): 10, ("walk", "right"): 11,
    ("slash", "left"): 13, ("slash", "front"): 14, ("slash", "right"): 15,
}
# Which column of the row gives frame 0..7 (spellcard has 7 LPC frames and slash 6, so frames repeat;
# walk takes the 8 moving frames of its 9-column cycle, column 0 being the standing pose, rotated by one).
FRAME_COLUMNS = {
    "spellcard": (0, 1, 2, 3, 4, 5, 4, 6),
    "walk": (8, 1, 2, 3, 4, 5, 6, 7),
    "slash": (0, 1, 2, 3, 4, 5, 4, 0),
}

# SHA-256 of each sheet's decoded RGBA pixels (Pillow's ``convert("RGBA")``, C order (1344, 832, 4)):
# a copy given with --assets may be re-encoded, but its pixels must be the benchmark's.
SHEET_PIXELS_SHA256 = {
    "body/0.png": "b0a5fe765bea7044717ba6250ff9ce05adae3f0837fbbf3ffde53cd246f0b0ee",
    "body/1.png": "47edb8749b7569147d54b6e2a9b1150687adcf1b51ea152a979de9d46ee331fb",
    "body/2.png": "fbb7ef42e4077be243d2c2e7690e1641aa1d42e5172c9257178a065240ddcce6",
    "body/3.png": "b92b952a69666f3aafdef2de1078ce4d449336455c41e00ad0831481f8afa36a",
    "body/4.png": "d2462708e49868175e585d983e9bae6e0c4a0c24b0a1f724e23444c2ca66e0c0",
    "body/5.png": "d7a1b0e6925aa3fa38254c333c6dcb4688b28d276a644d5d30622574af472e46",
    "bottomwear/0.png": "54433163c41ecf7cd4b2f714c15cc526c774257c5ce8ff49a38f4b55982bbb6d",
    "bottomwear/1.png": "fb2381f67fcf7a80da910dc50813f0aad3283be6b784dcb749572ded3c57266d",
    "bottomwear/2.png": "92d83adc827244245e9730b82fe41975d6a04b410bcfa901c5aeaf4605261f06",
    "bottomwear/3.png": "3f3c50caf8317e2367d4a0bdc9aca4b51f9ee3fd44c499c1243b940260d5212d",
    "bottomwear/4.png": "01d5799d54a6590a2da4bcd386c9d162f4fd82946344138828648f7856725b68",
    "bottomwear/5.png": "a1227044ab0ef538fe7073074c9f3e1dd4036def336e21e2451be0a7d710f4dc",
    "topwear/0.png": "e0cb5e4826ba10f9ead9d21d60b905f74e7a267be7c331f3caf93827b7d69a42",
    "topwear/1.png": "fa61a61d8c9fbdfd95cd70387000785393c4221adf4f25a0c82c31b118c8a9e4",
    "topwear/2.png": "b45a1b0a9a9d5cb5613cd3f7a6d1ecb7fef9c4e52a49fc7df9b777549eddc1cf",
    "topwear/3.png": "a2f8e3457cca8c183e939baf76bc0ef2c71a98eac7e8dd158224fd27cd3b06f1",
    "topwear/4.png": "b034eed8ac8fd5032f47f29bbc97981b6a76f5536924fcb0387dd4ab252d6c5f",
    "topwear/5.png": "59834221d4e6bc39b745f3b42a5a15d56637d3c10cf4943d8139da0217e7cb99",
    "hair/0.png": "2e2317c354f94568604ad70562e461d87c67ae0d74cf5bbb8f7c08494450356e",
    "hair/1.png": "f35f0332806bd98166c8e6297a710e54890cb8a85e4dc2eeec341eb3ea157b25",
    "hair/2.png": "0ac764e40bc81afa2c0b34aead2ae71c4bebe7afa99a7f66741126382773f66b",
    "hair/3.png": "b83be2258831f45473ac0842962a891aab6c199e2c03f34ac27b4844c9a9b47d",
    "hair/4.png": "0c7fc0d1088735d747693eac9e9181e50ec49a3e6b7bf3a6df71569defb34dcc",
    "hair/5.png": "8f5f8e8058b6cc4424320e3dd7d9017bad64cadf254d50f99e9f3db653ac58bf",
    "shoes/1.png": "94991148af34d8395b5ebef7b155b7b23d048e05e6cd9df45c64172128fcb2a2",
}


def label_of(action: str, direction: str) -> int:
    """The dynamic class of ``(action, direction)``: ``3 * ACTIONS.index(action) + DIRECTIONS.index(direction)``."""
    return len(DIRECTIONS) * ACTIONS.index(action) + DIRECTIONS.index(direction)


def sequence_cells() -> np.ndarray:
    """``(9, 8, 2)`` int64: the (row, column) sheet cell of frame t of dynamic class ``label``."""
    cells = np.zeros((NUM_ACTIONS, NUM_FRAMES, 2), dtype=np.int64)
    for action in ACTIONS:
        for direction in DIRECTIONS:
            label = label_of(action, direction)
            cells[label, :, 0] = SHEET_ROW[(action, direction)]
            cells[label, :, 1] = FRAME_COLUMNS[action]
    return cells


def sheet_names() -> list[str]:
    """The sheets the benchmark reads, relative to the assets folder (``body/0.png`` ... ``shoes/1.png``)."""
    layers = [f"{layer}/{v}.png" for layer in ATTRIBUTE_LAYERS for v in range(NUM_VARIANTS)]
    return [*layers, f"{SHOES[0]}/{SHOES[1]}.png"]


def read_sheet(path: Path) -> np.ndarray:
    """The RGBA pixels ``(1344, 832, 4)`` uint8 of one sheet (palette transparency applied by Pillow).

    Raises:
        DataError: the file is missing, not a decodable image, or not 832 x 1344 (one line naming it).
    """
    from PIL import Image, UnidentifiedImageError

    fix = "use the sheets packaged with cmivae (drop --assets) or a complete copy of them"
    if not path.is_file():
        raise DataError(f"sprite sheet {path} is missing; expected an {SHEET_SIZE[0]} x {SHEET_SIZE[1]} PNG there; "
                        f"{fix}")
    try:
        with Image.open(path) as image:
            image.load()
            size = image.size
            rgba = np.asarray(image.convert("RGBA"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, zlib.error) as err:
        raise DataError(f"sprite sheet {path} is damaged: it does not decode as an image ({err}); {fix}") from None
    if size != SHEET_SIZE:
        raise DataError(f"sprite sheet {path} is {size[0]} x {size[1]} pixels; expected {SHEET_SIZE[0]} x "
                        f"{SHEET_SIZE[1]} (13 x 21 cells of 64 x 64); {fix}")
    return rgba


@dataclass(frozen=True)
class SequenceLayer:
    """One sheet cut to the benchmark's sequences, flattened over pixels.

    Attributes:
        rgb: ``(P, 3)`` uint8, P = 9 classes x 8 frames x 64 x 64 (C order over (label, t, h, w)).
        alpha: ``(P,)`` uint8.
        drawn: ``(K,)`` int64 indices of the pixels with alpha > 0 (the only ones compositing changes).
    """

    rgb: np.ndarray
    alpha: np.ndarray
    drawn: np.ndarray


def cut_sequences(rgba: np.ndarray) -> SequenceLayer:
    """A sheet ``(1344, 832, 4)`` -> its 9 x 8 frames as a :class:`SequenceLayer`."""
    cells = sequence_cells()  # (9, 8, 2)
    grid = rgba.reshape(SHEET_ROWS, CELL, SHEET_COLUMNS, CELL, 4).transpose(0, 2, 1, 3, 4)  # (R, Cols, 64, 64, 4)
    frames = grid[cells[..., 0], cells[..., 1]]  # (9, 8, 64, 64, 4)
    flat = frames.reshape(-1, 4)  # (P, 4)
    alpha = np.ascontiguousarray(flat[:, 3])
    return SequenceLayer(rgb=np.ascontiguousarray(flat[:, :3]), alpha=alpha, drawn=np.flatnonzero(alpha))


def composite_over_opaque(dst: np.ndarray, src: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Pillow's ``Image.alpha_composite(dst, src)`` for an opaque ``dst`` (alpha 255), on RGB values.

    With ``dst`` alpha 255 Pillow's coefficients are exact: ``coef1 = a * 128``, ``coef2 = (255 - a) * 128``,
    and each channel is ``div255(src * coef1 + dst * coef2 + (128 << 7)) >> 7`` with
    ``div255(v) = ((v >> 8) + v) >> 8``; a pixel with ``a == 0`` keeps ``dst``; the result stays opaque.

    Args:
        dst: ``(..., K, 3)`` uint8 canvas values.
        src: ``(K, 3)`` uint8 layer values (broadcast over the leading axes of ``dst``).
        alpha: ``(K,)`` uint8 layer alpha.

    Returns:
        ``(..., K, 3)`` uint8.
    """
    a = alpha.astype(np.int32)[:, None]  # (K, 1)
    mixed = src.astype(np.int32) * (a << 7) + dst.astype(np.int32) * ((255 - a) << 7) + (0x80 << 7)
    out = ((((mixed >> 8) + mixed) >> 8) >> 7).astype(np.uint8)
    return np.where(a > 0, out, dst)


def over(canvas: np.ndarray, layer: SequenceLayer) -> np.ndarray:
    """``layer`` composited over every canvas of ``canvas`` ``(G, P, 3)`` uint8 (a new array)."""
    out = canvas.copy()
    idx = layer.drawn
    out[:, idx] = composite_over_opaque(canvas[:, idx], layer.rgb[idx], layer.alpha[idx])
    return out


@dataclass(frozen=True)
class Sheets:
    """The benchmark's sheets cut to sequences: ``layers[name][variant]`` for the four attribute
    layers and ``shoes``; ``pixel_digests`` maps each sheet's relative path to its pixels' SHA-256."""

    layers: dict[str, list[SequenceLayer]]
    shoes: SequenceLayer
    pixel_digests: dict[str, str]


def load_sheets(assets: str | Path | None = None, *, check_pixels: bool = True) -> Sheets:
    """Read and check every sheet the benchmark uses, before any work is done.

    Args:
        assets: folder with ``body/0.png`` ... ``shoes/1.png`` (default: the copy packaged with cmivae).
        check_pixels: refuse a sheet whose decoded pixels differ from the benchmark's
            (:data:`SHEET_PIXELS_SHA256`), naming it.

    Raises:
        DataError: a sheet is missing, undecodable, wrongly sized or (``check_pixels``) not the benchmark's.
    """
    folder = PACKAGED_ASSETS if assets is None else Path(assets).expanduser()
    if not folder.is_dir():
        raise DataError(f"sprite assets folder {folder} does not exist; expected body/, bottomwear/, topwear/, "
                        f"hair/ (0-5.png) and shoes/1.png there; drop --assets to use the sheets packaged with cmivae")
    cut: dict[str, SequenceLayer] = {}
    digests: dict[str, str] = {}
    for name in sheet_names():
        rgba = read_sheet(folder / name)
        digests[name] = array_sha256(rgba)
        expected = SHEET_PIXELS_SHA256.get(name)
        if check_pixels and expected and digests[name] != expected:
            raise DataError(f"sprite sheet {folder / name} decodes to other pixels than the benchmark's sheet "
                            f"(SHA-256 {digests[name][:12]}..., expected {expected[:12]}...); it would build another "
                            f"data set; use the sheets packaged with cmivae (drop --assets)")
        cut[name] = cut_sequences(rgba)
    layers = {layer: [cut[f"{layer}/{v}.png"] for v in range(NUM_VARIANTS)] for layer in ATTRIBUTE_LAYERS}
    return Sheets(layers=layers, shoes=cut[f"{SHOES[0]}/{SHOES[1]}.png"], pixel_digests=digests)


def character_index(body: int, bottom: int, top: int, hair: int) -> int:
    """``body*216 + bottom*36 + top*6 + hair`` (the recipe's character index)."""
    return ((body * NUM_VARIANTS + bottom) * NUM_VARIANTS + top) * NUM_VARIANTS + hair


def character_attributes(characters: np.ndarray) -> np.ndarray:
    """Character indices ``(N,)`` -> attributes ``(N, 4)`` int64 (body, bottom, top, hair), each 0..5."""
    characters = np.asarray(characters, dtype=np.int64)
    digits = [(characters // NUM_VARIANTS ** k) % NUM_VARIANTS for k in (3, 2, 1, 0)]
    return np.stack(digits, axis=1)  # (N, 4)


def compose_characters(sheets: Sheets, bodies: tuple[int, ...] = tuple(range(NUM_VARIANTS)),
                       bottoms: tuple[int, ...] = tuple(range(NUM_VARIANTS)),
                       tops: tuple[int, ...] = tuple(range(NUM_VARIANTS)),
                       hairs: tuple[int, ...] = tuple(range(NUM_VARIANTS)),
                       progress: Callable[[int], None] | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Compose characters group by group, sharing the layers they have in common.

    Yields, for each (body, bottom) pair, ``(characters (G,), frames (G, 9, 8, 64, 64, 3) uint8)`` with
    ``G = len(tops) * len(hairs)`` characters (top-major, then hair): frames[g, label, t] is frame t of
    dynamic class ``label`` of character ``characters[g]``. ``progress(done)`` gets the characters done.
    """
    num_pixels = sheets.shoes.rgb.shape[0]  # P = 9 * 8 * 64 * 64
    black = np.zeros((1, num_pixels, 3), dtype=np.uint8)  # opaque black canvas (alpha 255 throughout)
    done = 0
    for body in bodies:
        with_body = over(black, sheets.layers["body"][body])  # (1, P, 3)
        for bottom in bottoms:
            with_bottom = over(with_body, sheets.layers["bottomwear"][bottom])  # (1, P, 3)
            dressed = np.concatenate([over(with_bottom, sheets.layers["topwear"][t]) for t in tops])  # (Tops, P, 3)
            haired = np.stack([over(dressed, sheets.layers["hair"][h]) for h in hairs], axis=1)  # (Tops, Hairs, P, 3)
            shod = over(haired.reshape(-1, num_pixels, 3), sheets.shoes)  # (G, P, 3), G = Tops * Hairs
            characters = np.array([character_index(body, bottom, t, h) for t in tops for h in hairs], dtype=np.int64)
            done += len(characters)
            if progress is not None:
                progress(done)
            yield characters, shod.reshape(len(characters), NUM_ACTIONS, NUM_FRAMES, CELL, CELL, 3)
