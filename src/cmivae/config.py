"""Typed experiment configuration: a leaf module (imports no registry and no torch).

A config is four sections (``data``, ``model``, ``objective``, ``train``), loaded from a
YAML file or a shipped preset name (``cmivae presets`` lists them), then changed with
``--set section.key=value`` overrides (values parsed as YAML). ``data`` and ``train`` are
typed dataclasses checked field by field (:mod:`cmivae.fields`); ``model`` and
``objective`` are both ``{name, params}``: their names and params are checked against the
model's and the objective's own config dataclass by :func:`cmivae.registry.resolve`,
which also checks the model against the data modality. Every invalid value raises
:class:`cmivae.infra.errors.ConfigError` saying what was wrong and what is expected.

Two dicts come out of a config:

- :meth:`ExperimentConfig.to_dict`: the sections as the user gave them (``data``/``train``
  with every field). Its run id and the shape ``config.json["config"]`` stores are
  :mod:`cmivae.runs.legacy`'s (the one place that keeps the committed runs' ids); this module
  knows no objective.
- :func:`cmivae.registry.resolve` gives the *resolved* model and objective configs (every
  default filled in), written to ``config.json["resolved"]`` so a saved run rebuilds the
  same model.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cmivae.fields import check_fields, coerce_numbers, in_range, one_of, positive, reject_unknown_keys
from cmivae.infra.errors import ConfigError
from cmivae.modality import DATASET_MODALITY, DATASETS_NEEDING_ROOT, IMAGE, SPEECH, VIDEO, is_image_dataset

PRESET_DIR = Path(__file__).parent / "configs"
IMAGE_DATASETS = tuple(name for name, kind in DATASET_MODALITY.items() if kind == IMAGE)
SPEECH_DATASETS = tuple(name for name, kind in DATASET_MODALITY.items() if kind == SPEECH)
SECTION_NAMES = ("data", "model", "objective", "train")
MAX_SEED = 2**32 - 1  # numpy's and torch's seeds are unsigned 32/64-bit; epoch orders multiply it


def _non_negative_int(where: str, value: int, high: int | None = None) -> None:
    if value < 0 or (high is not None and value > high):
        raise ConfigError(f"{where} must be an integer in [0, {high if high is not None else 'inf'}], got {value!r}")


def _non_empty(where: str, value: str | None) -> None:
    if value is not None and not value.strip():
        raise ConfigError(f"{where} must be a non-empty string (or left out), got {value!r}")


def _plain(value: Any) -> bool:
    """JSON-like data: what a config param may hold."""
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


@dataclass
class DataConfig:
    """Which data set and how it is split.

    Attributes:
        name: ``mnist``, ``fashion-mnist`` (statically binarized, paper G.2),
            ``synthetic-speech`` (espeak-ng speakers), ``timit``, ``speech-folder`` or ``sprites``
            (video, Li & Mandt 2018; ``cmivae data make-sprites``).
        data_dir: where data sets are fetched/built (default ``$CMIVAE_DATA`` or ``~/.cache/cmivae``).
        root: speech only: the TIMIT or speech-folder path given by the user.
        speaker_pattern: speech-folder only: regex with a ``(?P<speaker>...)`` group
            matched against file names of one flat folder.
        gender_table: speech-folder only: CSV ``speaker,gender``.
        val_fraction: part of the official training set held out for validation
            (0.2 for images, 0.1 for TIMIT, paper G.1-G.2).
        split_seed: seed of the train/validation split (recorded in config.json).
        num_train: optional cap on training examples (CPU presets, tests).
        num_test: optional cap on test examples.
        num_speakers: synthetic-speech only: how many speakers to synthesize.
        synthetic_version: synthetic-speech only: 1 (clean fixed voices, the committed
            results) or 2 (per-utterance rate/pitch/loudness/channel/noise, the corpus with headroom).
        split: speech-folder / synthetic-speech: ``speaker`` (speaker-disjoint train/val/test,
            for verification of unseen speakers) or ``utterance`` (every speaker in every split).
        test_fraction: speech-folder: share of speakers (or utterances) held out for testing.
        on_bad_file: speech: ``error`` (stop at the first unreadable or too-short file, naming it)
            or ``skip`` (leave it out; one summary line, the list in the run directory).
        last_segment: speech: ``drop`` the last partial 200 ms segment of an utterance or
            ``pad`` it (edge-repeat of the last frame); the dropped share is reported.
        sample_rate: speech: Hz of the features (16000: G.1's 201 bins; 8000: 101 bins, see
            :mod:`cmivae.data.speech.features`); ``None`` = 16000, refusing corpora recorded
            below it (their top bins would hold only the resampler's mirror image).
        max_frequency_hz: speech: keep only the bins up to this frequency (an explicit band limit).
        frame_size: video (``sprites``): frame side in pixels, 64 (the benchmark) or 32 (2 x 2 means,
            :mod:`cmivae.data.video.sprites`).
    """

    name: str = "fashion-mnist"
    data_dir: str | None = None
    root: str | None = None
    speaker_pattern: str | None = None
    gender_table: str | None = None
    val_fraction: float = 0.2
    split_seed: int = 0
    num_train: int | None = None
    num_test: int | None = None
    num_speakers: int | None = None
    synthetic_version: int = 1
    split: str = "speaker"
    test_fraction: float = 0.25
    on_bad_file: str = "error"
    last_segment: str = "drop"
    sample_rate: int | None = None
    max_frequency_hz: float | None = None
    frame_size: int = 64

    def __post_init__(self) -> None:
        check_fields(self, "data")
        known = tuple(DATASET_MODALITY)
        if self.name not in known:
            raise ConfigError(f"unknown data set {self.name!r}; known data sets: {', '.join(known)}")
        in_range("data.val_fraction", self.val_fraction, 0.0, 1.0, low_open=True, high_open=True)
        for name in ("num_train", "num_test", "num_speakers", "sample_rate", "max_frequency_hz"):
            positive(f"data.{name}", getattr(self, name))
        _non_negative_int("data.split_seed", self.split_seed, MAX_SEED)
        for name in ("data_dir", "root", "speaker_pattern", "gender_table"):
            _non_empty(f"data.{name}", getattr(self, name))
        if self.speaker_pattern is not None:
            try:
                re.compile(self.speaker_pattern)
            except re.error as err:
                raise ConfigError(f"data.speaker_pattern is not a valid regular expression ({err}); "
                                  f"e.g. --set 'data.speaker_pattern=(?P<speaker>[^_]+)_'") from None
        if self.synthetic_version not in (1, 2):
            raise ConfigError(f"data.synthetic_version must be 1 (clean voices) or 2 (per-utterance variation), "
                              f"got {self.synthetic_version!r}")
        one_of("data.split", self.split, ("speaker", "utterance"))
        one_of("data.on_bad_file", self.on_bad_file, ("error", "skip"))
        one_of("data.last_segment", self.last_segment, ("drop", "pad"))
        if not 0.0 < self.test_fraction < 1.0 or self.test_fraction + self.val_fraction >= 1.0:
            raise ConfigError(f"data.test_fraction must be in (0, 1) with test_fraction + val_fraction < 1, "
                              f"got {self.test_fraction} (val_fraction {self.val_fraction})")
        if self.frame_size not in (64, 32):
            raise ConfigError(f"data.frame_size must be 64 or 32 (Sprites frames, 32 = 2 x 2 means), "
                              f"got {self.frame_size!r}")
        if self.frame_size != 64 and DATASET_MODALITY[self.name] != VIDEO:
            raise ConfigError(f"data.frame_size={self.frame_size} applies to video data sets (sprites) only, not "
                              f"{self.name!r}; drop it")
        if self.name != "synthetic-speech":  # a preset's synthetic-only setting means nothing here: not recorded
            self.num_speakers = None
        if self.name in DATASETS_NEEDING_ROOT and not self.root:
            raise ConfigError(f"data set {self.name!r} needs data.root: the folder holding it "
                              f"(e.g. --set data.root=/path/to/TIMIT)")

    @property
    def is_image(self) -> bool:
        return is_image_dataset(self.name)


def _check_named(section: str, name: Any, params: Any) -> None:
    """Shape checks shared by the ``{name, params}`` sections (the registry checks the rest)."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{section}.name must be a string naming a registered {section} "
                          f"(`cmivae show-config` lists them), got {name!r}")
    if not isinstance(params, dict):
        raise ConfigError(f"{section} params must be a mapping of key: value, got {params!r}")
    for key, value in params.items():
        if not isinstance(key, str) or not _plain(value):
            raise ConfigError(f"{section}.{key} must be a finite number, string, boolean or list of them, "
                              f"got {value!r}")


@dataclass
class ModelConfig:
    """Model name plus its own parameters as given (checked against the model's config
    dataclass by :func:`cmivae.registry.resolve`)."""

    name: str = "pixelcnn_vae"
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_named("model", self.name, self.params)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.params}




@dataclass
class ObjectiveConfig:
    """The training objective (Sec. 3.2, appendix H): a name and its params as given.

    ``name`` is a key of :data:`cmivae.registry.OBJECTIVES` (``elbo``, ``beta``, ``mi``,
    ``cmi``); ``params`` are checked against that objective's own config dataclass
    (``cmivae.objectives.*Config``: gamma, alpha, critic width/steps/lr, similarity, ...)
    by :func:`cmivae.registry.resolve`.
    """

    name: str = "cmi"
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_named("objective", self.name, self.params)

    @property
    def gamma(self) -> float:
        """``objective.gamma`` as given, 0 if not (labels); the resolved config holds the checked value."""
        return self.params.get("gamma", 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.params}


@dataclass
class TrainConfig:
    """Optimization and run-time settings.

    Attributes:
        epochs: passes over the training set (300 PixelCNN-VAE, 6000 DSAE in the paper);
            ``None``: as many as ``max_steps`` needs (a budget in updates, whatever the corpus size).
        batch_size: examples per VAE update.
        lr: Adam learning rate of the VAE (1e-4 PixelCNN-VAE, 2e-4 DSAE).
        seed: seeds every random generator; same seed, same run.
        precision: ``auto`` (bf16 autocast where the CPU/GPU computes bf16 natively; fp16 with
            loss scaling on older GPUs), ``bf16``, ``fp16``, ``tf32`` or ``fp32``
            (:mod:`cmivae.infra.precision`).
        device: ``auto`` (CUDA if available, else CPU), ``cpu`` or ``cuda[:N]``
            (``cuda:LOCAL_RANK`` under torchrun; :mod:`cmivae.infra.device`).
        max_steps: cap on VAE updates: training stops after this many, mid-epoch if need be
            (validated and checkpointed there). With ``epochs: null`` it is the whole budget,
            so a preset means "N updates" on any corpus (the dsae-*-v2 presets).
        checkpoint_every_steps: also checkpoint every N steps (0 = only at epoch ends).
        checkpoint_every_minutes: also checkpoint every N minutes (0 = off).
        nonfinite: ``stop`` (clean stop with a record) or ``skip`` (drop the batch, count it)
            when a loss or gradient is not finite.
        max_skipped_fraction: with ``nonfinite=skip``, the run fails (exit 1, ``failure.json``)
            once more than this fraction of its batches was skipped.
        compile: wrap the model's forward in ``torch.compile`` (measured 25% slower than
            eager oneDNN on a 2-core CPU, plus minutes of compilation: BENCHMARKS.md; may help on GPUs).
        compile_mode: ``torch.compile`` mode when ``compile`` is true: ``default``,
            ``reduce-overhead`` (CUDA graphs) or ``max-autotune``.
        eval_batch_size: batch size for validation and test passes.
        deterministic: deterministic algorithms (cuDNN autotuning off): bit-identical resume on CUDA.
        data_on_device: keep the training set on the device (``auto``: on CUDA when it fits), true or false.
        channels_last: the PixelCNN decoder in channels_last: ``auto`` (per device), true or false.
        tensorboard: also write TensorBoard event files to ``RUN_DIR/tensorboard/`` (every
            per-epoch term, critic diagnostics, speed; the sample grid at evaluation); needs
            ``pip install 'cmivae[tensorboard]'``.
        max_memory_gb: refuse a config whose estimated training memory (:mod:`cmivae.budget`)
            exceeds this many GiB (``None``: only the machine's or GPU's memory bounds it).
    """

    epochs: int | None = 10
    batch_size: int = 64
    lr: float = 1e-4
    seed: int = 0
    precision: str = "auto"
    device: str = "auto"
    max_steps: int | None = None
    checkpoint_every_steps: int = 0
    checkpoint_every_minutes: float = 10.0
    nonfinite: str = "stop"
    max_skipped_fraction: float = 0.1
    compile: bool = False
    compile_mode: str = "default"
    eval_batch_size: int = 500
    deterministic: bool = False
    data_on_device: bool | str = "auto"
    channels_last: bool | str = "auto"
    tensorboard: bool = False
    max_memory_gb: float | None = None

    def __post_init__(self) -> None:
        for name in ("data_on_device", "channels_last"):
            value = getattr(self, name)
            if not (isinstance(value, bool) or value == "auto"):
                raise ConfigError(f"train.{name} must be auto, true or false, got {value!r}; "
                                  f"set it with --set train.{name}=auto")
        check_fields(self, "train")
        for name in ("epochs", "batch_size", "eval_batch_size", "lr", "max_steps", "max_memory_gb"):
            positive(f"train.{name}", getattr(self, name))
        if self.epochs is None and self.max_steps is None:
            raise ConfigError("train.epochs is null (train by updates) but train.max_steps is not set; give "
                              "train.max_steps=N updates, or a number of epochs")
        _non_negative_int("train.seed", self.seed, MAX_SEED)
        one_of("train.precision", self.precision, ("auto", "bf16", "fp16", "tf32", "fp32"))
        one_of("train.nonfinite", self.nonfinite, ("stop", "skip"))
        one_of("train.compile_mode", self.compile_mode, ("default", "reduce-overhead", "max-autotune"))
        in_range("train.max_skipped_fraction", self.max_skipped_fraction, 0.0, 1.0)
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise ConfigError(f"train.device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        _non_negative_int("train.checkpoint_every_steps", self.checkpoint_every_steps)
        if self.checkpoint_every_minutes < 0:
            raise ConfigError(f"train.checkpoint_every_minutes must be >= 0 (0 = off), "
                              f"got {self.checkpoint_every_minutes!r}")


SECTIONS = {"data": DataConfig, "train": TrainConfig}


@dataclass
class ExperimentConfig:
    """The whole resolved configuration of one run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        num_train = self.data.num_train
        if num_train is not None and self.train.batch_size > num_train:  # before any directory or data
            raise ConfigError(f"train.batch_size={self.train.batch_size} is larger than the training set "
                              f"(data.num_train={num_train}); lower train.batch_size or raise data.num_train")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ExperimentConfig:
        """Build and validate from nested dicts; unknown sections or keys are errors."""
        if not isinstance(raw, dict):
            raise ConfigError(f"a config must be a mapping with sections data/model/objective/train, got {raw!r}")
        unknown = sorted(str(k) for k in set(raw) - {*SECTION_NAMES, "preset"})
        if unknown:
            raise ConfigError(f"unknown config section(s): {', '.join(unknown)}; known: {', '.join(SECTION_NAMES)}")
        for section in SECTION_NAMES:
            if raw.get(section) is not None and not isinstance(raw[section], dict):
                raise ConfigError(f"config section {section!r} must be a mapping of key: value, "
                                  f"got {raw[section]!r}")
        parts: dict[str, Any] = {}
        for section, klass in SECTIONS.items():
            values = raw.get(section) or {}
            reject_unknown_keys(values, klass, section, section)
            try:
                parts[section] = klass(**coerce_numbers(klass, values, section))
            except TypeError as err:
                raise ConfigError(f"invalid {section} config: {err}") from err
        model = dict(raw.get("model") or {})
        parts["model"] = ModelConfig(name=model.pop("name", "pixelcnn_vae"), params=model)
        objective = dict(raw.get("objective") or {})
        parts["objective"] = ObjectiveConfig(name=objective.pop("name", "cmi"), params=objective)
        return cls(**parts)

    def to_dict(self) -> dict[str, Any]:
        """The sections as given (``data``/``train`` with every field); its run id is
        :func:`cmivae.runs.legacy.run_id`'s."""
        return {"data": dataclasses.asdict(self.data), "model": self.model.to_dict(),
                "objective": self.objective.to_dict(), "train": dataclasses.asdict(self.train)}


def list_presets() -> list[str]:
    """Names of the shipped presets (``src/cmivae/configs/*.yaml``)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_description(name: str) -> str:
    """What ``cmivae presets`` shows for a preset: its file's first comment line, one whole
    sentence for users (the lines after it are the notes for developers)."""
    return (PRESET_DIR / f"{name}.yaml").read_text().splitlines()[0].lstrip("#").strip()


def _cycle(value: Any, seen: tuple[int, ...] = ()) -> bool:
    """Whether ``value`` contains itself (a YAML anchor used inside itself: ``&x [1, *x]``)."""
    if isinstance(value, (list, dict)):
        if id(value) in seen:
            return True
        children = value.values() if isinstance(value, dict) else value
        return any(_cycle(child, (*seen, id(value))) for child in children)
    return False


def parse_yaml(text: str | bytes, where: str) -> Any:
    """The data of a YAML text (a config file, a ``--set`` value), or one :class:`ConfigError`
    naming ``where``: bytes that are not UTF-8, invalid YAML, a tag whose value cannot be
    built (``!!float x``), or a structure that refers to itself (``&x [1, *x]``)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ConfigError(f"{where} is not UTF-8 text (byte {err.start} is 0x{text[err.start]:02x}); "
                              f"give a YAML file saved as UTF-8") from err
    try:
        value = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:  # what is wrong and where, without PyYAML's echo of the text
        mark = err.problem_mark
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        what = ": ".join(part for part in (err.context, err.problem) if part) or type(err).__name__
        raise ConfigError(f"{where} is not valid YAML: {' '.join(what.split())}{at}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{where} is not valid YAML: {' '.join(str(err).split())}") from err
    except (ValueError, TypeError, OverflowError) as err:  # a tag's constructor: `!!float x`, `!!int 1.5.2`
        raise ConfigError(f"{where} is not valid YAML: a tagged value cannot be built ({err})") from err
    except RecursionError as err:
        raise ConfigError(f"{where} is not valid YAML: it nests too deeply") from err
    if _cycle(value):
        raise ConfigError(f"{where} holds a value that refers to itself (a YAML anchor used inside itself, "
                          f"e.g. &x [1, *x]); write the value out")
    return value


def read_config_file(source: str | Path) -> dict[str, Any]:
    """Raw dict of a YAML file path or a shipped preset name."""
    path = Path(source)
    if not path.suffix and not path.exists():
        preset = PRESET_DIR / f"{source}.yaml"
        if not preset.exists():
            raise ConfigError(f"no config file or preset named {str(source)!r}; presets: {', '.join(list_presets())}")
        path = preset
    if not path.exists():
        raise ConfigError(f"config file {str(path)!r} does not exist; give a YAML path or one of the presets: "
                          f"{', '.join(list_presets())}")
    try:
        content = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {err.strerror or err}") from err
    raw = parse_yaml(content, f"config file {str(path)!r}") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of sections, got {type(raw).__name__}")
    return raw


def parse_override_value(flag: str, item: str, text: str, example: str = "model.encoder_channels=[32, 64]") -> Any:
    """The YAML value ``text`` of a command-line ``SECTION.KEY=VALUE`` item (``--set``, ``cmivae sweep --set``
    and ``--only``), or one :class:`ConfigError` line naming the flag and the item, what a value must be and
    how to fix it, with ``example`` (an item of that flag) as the model (:func:`parse_yaml` does the parsing)."""
    try:
        return parse_yaml(text, f"{flag} {item!r}: the value {text!r}")
    except ConfigError as err:
        raise ConfigError(f"{err}; expected a YAML value (a number, a word, or a list such as [0, 1] with its "
                          f"brackets and quotes closed): correct the value and quote the whole item for the "
                          f"shell, e.g. {flag} '{example}'") from None


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as YAML: :func:`parse_override_value`) to a raw config."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects section.key=value, got {item!r} (e.g. --set objective.gamma=0.3)")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) != 2 or parts[0] not in SECTION_NAMES or not parts[1]:
            raise ConfigError(f"--set key {key!r} must be section.key with section one of data, model, objective, "
                              f"train (e.g. --set train.epochs=5)")
        value = parse_override_value("--set", item, text)
        raw.setdefault(parts[0], {})
        if raw[parts[0]] is None:
            raw[parts[0]] = {}
        if not isinstance(raw[parts[0]], dict):
            raise ConfigError(f"config section {parts[0]!r} must be a mapping of key: value, got {raw[parts[0]]!r}")
        raw[parts[0]][parts[1]] = value
    return raw


def load_config(source: str | Path | dict[str, Any], overrides: list[str] | None = None) -> ExperimentConfig:
    """Load, override and check a config from a YAML path, preset name or dict.

    Checks every ``data``/``train`` field and the shape of ``model``/``objective``; use
    :func:`cmivae.registry.load_resolved` to also check names and params against the
    registries (what ``cmivae train`` does before touching any directory).
    """
    raw = source if isinstance(source, dict) else read_config_file(source)
    return ExperimentConfig.from_dict(apply_overrides(raw, overrides or []))
