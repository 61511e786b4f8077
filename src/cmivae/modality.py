"""Which kind of data each data set name holds: a leaf table (no torch).

The loaders live in :data:`cmivae.registry.DATASETS`, keyed by exactly these names (a
test checks it); torch-free readers (config validation, sweep state, reports) use this
table to tell image, speech and video runs apart without importing the registry.
"""

from __future__ import annotations

IMAGE = "image"
SPEECH = "speech"
VIDEO = "video"

DATASET_MODALITY: dict[str, str] = {
    "mnist": IMAGE,
    "fashion-mnist": IMAGE,
    "synthetic-speech": SPEECH,
    "timit": SPEECH,
    "speech-folder": SPEECH,
    "sprites": VIDEO,
}
# The image data sets (``cmivae data fetch`` / ``data pack`` take these names): the one torch-free list of
# them. Their fetch recipes, :data:`cmivae.data.images.fetch.DATASET_SPECS`, are keyed by exactly these
# names (a test checks it); the command line builds its choices from here without importing cmivae.data.
IMAGE_DATASETS: tuple[str, ...] = tuple(name for name, kind in DATASET_MODALITY.items() if kind == IMAGE)
# The labels each data set holds (what label-needing metrics read: cmivae.metric_names.METRIC_NEEDS):
# ``class`` (one class per example: the image probes), ``speaker`` (one speaker per segment: EER, VC),
# ``action`` and ``attributes`` (one action and the 4 attributes per sequence: the Sprites judge's metrics).
CLASS = "class"
SPEAKER = "speaker"
ACTION = "action"  # video: one action (3 * action + direction) per sequence (Sprites)
ATTRIBUTES = "attributes"  # video: the static attributes of a sequence's character (Sprites: body, bottom, top, hair)
DATASET_LABELS: dict[str, frozenset[str]] = {
    "mnist": frozenset({CLASS}),
    "fashion-mnist": frozenset({CLASS}),
    "synthetic-speech": frozenset({SPEAKER}),
    "timit": frozenset({SPEAKER}),
    "speech-folder": frozenset({SPEAKER}),
    "sprites": frozenset({ACTION, ATTRIBUTES}),
}
DATASETS_NEEDING_ROOT = ("timit", "speech-folder")  # licensed or user-given folders: data.root is required


def is_image_dataset(name: str) -> bool:
    """Whether data set ``name`` holds images (statically binarized MNIST / Fashion-MNIST)."""
    return DATASET_MODALITY.get(name) == IMAGE
