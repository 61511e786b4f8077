"""Typed experiment configuration, validated before any work.

A config is four sections (``data``, ``model``, ``objective``, ``train``), loaded from a
YAML file or a shipped preset name (``cmivae presets`` lists them), then changed with
``--set section.key=value`` overrides (values parsed as YAML). Every invalid value
raises :class:`cmivae.errors.ConfigError` saying what was wrong and what is expected.
The resolved config is saved with every run (``config.json``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cmivae.errors import ConfigError

PRESET_DIR = Path(__file__).parent / "configs"
IMAGE_DATASETS = ("mnist", "fashion-mnist")
SPEECH_DATASETS = ("synthetic-speech", "timit", "speech-folder")


def _positive(section: str, name: str, value: float | None, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value is None or value <= 0:
        raise ConfigError(f"{section}.{name} must be a positive number, got {value!r}")


def reject_unknown_keys(values: dict[str, Any], klass: type, prefix: str, owner: str) -> None:
    """Raise :class:`ConfigError` naming every key of ``values`` that is not a field of the
    dataclass ``klass`` (written ``prefix.key``) and listing the known ones of ``owner``."""
    known = {f.name for f in dataclasses.fields(klass)}
    bad = sorted(set(values) - known)
    if bad:
        raise ConfigError(f"unknown key(s) {', '.join(prefix + '.' + k for k in bad)} of {owner}; "
                          f"known keys: {', '.join(sorted(known))}")


@dataclass
class DataConfig:
    """Which data set and how it is split.

    Attributes:
        name: ``mnist``, ``fashion-mnist`` (statically binarized, paper G.2),
            ``synthetic-speech`` (espeak-ng speakers), ``timit`` or ``speech-folder``.
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
            :mod:`cmivae.data.speech_features`); ``None`` = 16000, refusing corpora recorded
            below it (their top bins would hold only the resampler's mirror image).
        max_frequency_hz: speech: keep only the bins up to this frequency (an explicit band limit).
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

    def __post_init__(self) -> None:
        known = IMAGE_DATASETS + SPEECH_DATASETS
        if self.name not in known:
            raise ConfigError(f"unknown data set {self.name!r}; known data sets: {', '.join(known)}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"data.val_fraction must be in (0, 1), got {self.val_fraction}")
        _positive("data", "num_train", self.num_train, allow_none=True)
        _positive("data", "num_test", self.num_test, allow_none=True)
        _positive("data", "num_speakers", self.num_speakers, allow_none=True)
        _positive("data", "sample_rate", self.sample_rate, allow_none=True)
        _positive("data", "max_frequency_hz", self.max_frequency_hz, allow_none=True)
        if self.synthetic_version not in (1, 2):
            raise ConfigError(f"data.synthetic_version must be 1 (clean voices) or 2 (per-utterance variation), "
                              f"got {self.synthetic_version!r}")
        for key, allowed in (("split", ("speaker", "utterance")), ("on_bad_file", ("error", "skip")),
                             ("last_segment", ("drop", "pad"))):
            if getattr(self, key) not in allowed:
                raise ConfigError(f"data.{key} must be {' or '.join(allowed)}, got {getattr(self, key)!r}")
        if not 0.0 < self.test_fraction < 1.0 or self.test_fraction + self.val_fraction >= 1.0:
            raise ConfigError(f"data.test_fraction must be in (0, 1) with test_fraction + val_fraction < 1, "
                              f"got {self.test_fraction} (val_fraction {self.val_fraction})")
        if self.name != "synthetic-speech":  # a preset's synthetic-only setting means nothing here: not recorded
            self.num_speakers = None
        if self.name in ("timit", "speech-folder") and not self.root:
            raise ConfigError(f"data set {self.name!r} needs data.root: the folder holding it "
                              f"(e.g. --set data.root=/path/to/TIMIT)")

    @property
    def is_image(self) -> bool:
        return self.name in IMAGE_DATASETS


@dataclass
class ModelConfig:
    """Model name plus its own parameters (checked against the model's config dataclass)."""

    name: str = "pixelcnn_vae"
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from cmivae.models import MODELS, model_config

        if self.name in MODELS:
            self.params = coerce_numbers(MODELS[self.name].config_class, self.params)
        model_config(self.name, self.params)  # raises ConfigError on unknown names/keys/values

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.params}


@dataclass
class ObjectiveConfig:
    """The training objective (Sec. 3.2, appendix H).

    Attributes:
        name: ``elbo`` (Eqs. 2-3), ``beta`` (Eqs. 5-6), ``mi`` (Eq. 26), ``cmi`` (Eqs. 13-14) or
            ``mmd`` (Eq. 14 with the critic term replaced by a kernel MMD, no critic).
        gamma: weight in [0, 1); beta = 1 - gamma.
        alpha: weight of I(z; s) in CMI-VAE (Eq. 8); 1 in the paper. The critic term of
            ``cmi`` (and the MMD term of ``mmd``) is weighted ``gamma * alpha``.
        critic_lr: Adam learning rate of the discriminator (1e-3 PixelCNN, 2e-3 DSAE).
        critic_steps: discriminator updates per VAE update (2 in the paper).
        critic_hidden_dim: width of the critic's hidden layers; default the paper's
            (appendix I: 400 for MI-VAE's D(z), 256 for CMI-VAE's D(z, s)).
        critic_path: CMI-VAE only: which latents the *model-side* critic term
            ``gamma * alpha * logit(z, s)`` differentiates through: ``both`` (the paper),
            ``z`` (s detached: the term reaches only the encoder, through z) or ``s`` (z
            detached: it reaches only the layers that produce s; for the PixelCNN-VAE the
            decoder layers 1..inject_after). The critic's own update is unchanged.
        critic: CMI-VAE only: the discriminator family: ``paper`` (appendix I: inner
            product / scaled cosine of z with a pooled embedding of s, linear in z) or
            ``mlp`` (the paper's logit plus an MLP over ``[z, embedding]``, able to represent
            a Gaussian log density ratio; :mod:`cmivae.objectives.critics`).
        kernel_scale: ``mmd`` only: the MMD^2 (a number in [0, 2], not nats) is multiplied
            by this before the weight ``gamma * alpha`` (:mod:`cmivae.objectives.kernel_mmd`).
    """

    name: str = "cmi"
    gamma: float = 0.0
    alpha: float = 1.0
    critic_lr: float = 1e-3
    critic_steps: int = 2
    critic_hidden_dim: int | None = None
    critic_path: str = "both"
    critic: str = "paper"
    kernel_scale: float = 100.0

    def __post_init__(self) -> None:
        from cmivae.objectives import CRITIC_FAMILIES, CRITIC_PATHS, OBJECTIVES

        if self.name not in OBJECTIVES:
            raise ConfigError(f"unknown objective {self.name!r}; known objectives: {', '.join(sorted(OBJECTIVES))}")
        if not 0.0 <= self.gamma < 1.0:
            raise ConfigError(f"objective.gamma must be in [0, 1) (beta = 1 - gamma > 0), got {self.gamma}")
        if self.alpha < 0:
            raise ConfigError(f"objective.alpha must be >= 0, got {self.alpha}")
        _positive("objective", "critic_lr", self.critic_lr)
        _positive("objective", "critic_hidden_dim", self.critic_hidden_dim, allow_none=True)
        if int(self.critic_steps) != self.critic_steps or self.critic_steps < 1:
            raise ConfigError(f"objective.critic_steps must be a positive integer, got {self.critic_steps}")
        if self.critic_path not in CRITIC_PATHS:
            raise ConfigError(f"objective.critic_path must be one of {', '.join(CRITIC_PATHS)}, "
                              f"got {self.critic_path!r}")
        if self.critic_path != "both" and self.name not in ("cmi", "mmd"):
            raise ConfigError(f"objective.critic_path={self.critic_path} applies to the cmi and mmd objectives "
                              f"only, not {self.name!r}; drop it or set objective.name=cmi")
        if self.critic not in CRITIC_FAMILIES:
            raise ConfigError(f"objective.critic must be one of {', '.join(CRITIC_FAMILIES)}, got {self.critic!r}")
        if self.critic != "paper" and self.name != "cmi":
            raise ConfigError(f"objective.critic={self.critic} applies to the cmi objective only, not "
                              f"{self.name!r}; drop it or set objective.name=cmi")
        _positive("objective", "kernel_scale", self.kernel_scale)


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
            (:mod:`cmivae.training.precision`).
        device: ``auto`` (CUDA if available, else CPU), ``cpu`` or ``cuda[:N]``
            (``cuda:LOCAL_RANK`` under torchrun; :mod:`cmivae.training.device`).
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

    def __post_init__(self) -> None:
        if not isinstance(self.tensorboard, bool):
            raise ConfigError(f"train.tensorboard must be true or false, got {self.tensorboard!r}")
        for name in ("batch_size", "eval_batch_size"):
            _positive("train", name, getattr(self, name))
        _positive("train", "epochs", self.epochs, allow_none=True)
        if self.epochs is None and self.max_steps is None:
            raise ConfigError("train.epochs is null (train by updates) but train.max_steps is not set; give "
                              "train.max_steps=N updates, or a number of epochs")
        _positive("train", "lr", self.lr)
        _positive("train", "max_steps", self.max_steps, allow_none=True)
        if self.precision not in ("auto", "bf16", "fp16", "tf32", "fp32"):
            raise ConfigError(f"train.precision must be auto, bf16, fp16, tf32 or fp32, got {self.precision!r}")
        for name in ("data_on_device", "channels_last"):
            if getattr(self, name) not in ("auto", True, False):
                raise ConfigError(f"train.{name} must be auto, true or false, got {getattr(self, name)!r}")
        if self.compile_mode not in ("default", "reduce-overhead", "max-autotune"):
            raise ConfigError(f"train.compile_mode must be default, reduce-overhead or max-autotune, "
                              f"got {self.compile_mode!r}")
        if self.nonfinite not in ("stop", "skip"):
            raise ConfigError(f"train.nonfinite must be stop or skip, got {self.nonfinite!r}")
        if not (isinstance(self.max_skipped_fraction, (int, float)) and not isinstance(self.max_skipped_fraction, bool)
                and 0 <= self.max_skipped_fraction <= 1):
            raise ConfigError(f"train.max_skipped_fraction must be a number from 0 to 1, "
                              f"got {self.max_skipped_fraction!r}")
        if not (self.device in ("auto", "cpu") or self.device.startswith("cuda")):
            raise ConfigError(f"train.device must be auto, cpu or cuda[:N], got {self.device!r}")
        if self.checkpoint_every_steps < 0 or self.checkpoint_every_minutes < 0:
            raise ConfigError("train.checkpoint_every_steps and train.checkpoint_every_minutes must be >= 0")


def coerce_numbers(klass: type, values: dict[str, Any]) -> dict[str, Any]:
    """Turn numeric strings into the declared ``float``/``int`` of ``klass``'s fields.

    YAML 1.1 (PyYAML) reads ``1e-3`` (no dot) and ``1.0e30`` as strings; a user writing
    ``lr: 1e-3`` means a number. Anything that is not a number is left for validation.
    """
    types = {f.name: str(f.type) for f in dataclasses.fields(klass)}
    out = dict(values)
    for name, value in values.items():
        declared = types.get(name, "")
        if not isinstance(value, str):
            continue
        for kind, cast in (("float", float), ("int", int)):
            if declared.split(" |")[0] == kind:
                try:
                    out[name] = cast(value)
                except ValueError:
                    section = klass.__name__.replace("Config", "").lower()
                    raise ConfigError(f"{section}.{name} must be a number ({kind}), got {value!r}") from None
    return out


SECTIONS = {"data": DataConfig, "objective": ObjectiveConfig, "train": TrainConfig}


@dataclass
class ExperimentConfig:
    """The whole resolved configuration of one run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ExperimentConfig:
        """Build and validate from nested dicts; unknown sections or keys are errors."""
        if not isinstance(raw, dict):
            raise ConfigError(f"a config must be a mapping with sections data/model/objective/train, got {raw!r}")
        unknown = sorted(set(raw) - {"data", "model", "objective", "train", "preset"})
        if unknown:
            raise ConfigError(f"unknown config section(s): {', '.join(unknown)}; known: data, model, objective, train")
        parts: dict[str, Any] = {}
        for section, klass in SECTIONS.items():
            values = raw.get(section) or {}
            reject_unknown_keys(values, klass, section, section)
            try:
                parts[section] = klass(**coerce_numbers(klass, values))
            except TypeError as err:
                raise ConfigError(f"invalid {section} config: {err}") from err
        model = dict(raw.get("model") or {})
        parts["model"] = ModelConfig(name=model.pop("name", "pixelcnn_vae"), params=model)
        return cls(**parts)

    def to_dict(self) -> dict[str, Any]:
        return {"data": dataclasses.asdict(self.data), "model": self.model.to_dict(),
                "objective": dataclasses.asdict(self.objective), "train": dataclasses.asdict(self.train)}

    def config_hash(self) -> str:
        """Stable short hash of the resolved config (sweep run ids).

        Fields added after results were committed are left out of the hash while they hold
        their default (:data:`HASH_NEUTRAL_DEFAULTS`), so a new option never renames the
        committed runs; a non-default value is hashed like any other field.
        """
        return config_hash(self.to_dict())


# (section, key) -> default of a field added after the committed results (results/): such a
# field is dropped from the hashed dict while it equals this value. Add every new config field
# here with its default; tests/test_config_hash.py re-hashes every committed run.
HASH_NEUTRAL_DEFAULTS: dict[tuple[str, str], Any] = {
    ("data", "synthetic_version"): 1,
    ("data", "split"): "speaker",
    ("data", "test_fraction"): 0.25,
    ("data", "on_bad_file"): "error",
    ("data", "last_segment"): "drop",
    ("data", "sample_rate"): None,
    ("data", "max_frequency_hz"): None,
    ("objective", "critic_path"): "both",
    ("objective", "critic"): "paper",
    ("objective", "kernel_scale"): 100.0,
    ("train", "compile_mode"): "default",
    ("train", "deterministic"): False,
    ("train", "data_on_device"): "auto",
    ("train", "channels_last"): "auto",
    ("train", "tensorboard"): False,
    ("train", "max_skipped_fraction"): 0.1,
}


def without_neutral_defaults(resolved: dict[str, Any]) -> dict[str, Any]:
    """A copy of a resolved config dict without the :data:`HASH_NEUTRAL_DEFAULTS` fields that
    hold their default: what is hashed, and what is compared with a run's saved config (so a
    run saved before a field existed still matches)."""
    hashed = {section: dict(values) if isinstance(values, dict) else values for section, values in resolved.items()}
    for (section, key), default in HASH_NEUTRAL_DEFAULTS.items():
        values = hashed.get(section)
        if isinstance(values, dict) and key in values and values[key] == default:
            del values[key]
    return hashed


def config_hash(resolved: dict[str, Any]) -> str:
    """The 12-hex-digit run id of a resolved config dict (``ExperimentConfig.to_dict()``)."""
    text = json.dumps(without_neutral_defaults(resolved), sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def list_presets() -> list[str]:
    """Names of the shipped presets (``src/cmivae/configs/*.yaml``)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


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
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of sections, got {type(raw).__name__}")
    return raw


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as YAML) to a raw config."""
    raw = json.loads(json.dumps(raw))  # deep copy of plain data
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects section.key=value, got {item!r} (e.g. --set objective.gamma=0.3)")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) != 2 or parts[0] not in ("data", "model", "objective", "train"):
            raise ConfigError(f"--set key {key!r} must be section.key with section one of data, model, objective, "
                              f"train (e.g. --set train.epochs=5)")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"--set {item!r}: value is not valid YAML: {err}") from err
        raw.setdefault(parts[0], {})
        if raw[parts[0]] is None:
            raw[parts[0]] = {}
        raw[parts[0]][parts[1]] = value
    return raw


def load_config(source: str | Path | dict[str, Any], overrides: list[str] | None = None) -> ExperimentConfig:
    """Load, override and validate a config from a YAML path, preset name or dict."""
    raw = source if isinstance(source, dict) else read_config_file(source)
    return ExperimentConfig.from_dict(apply_overrides(raw, overrides or []))
