"""Voice conversion a person can hear: the z swap of appendix J, turned back into audio.

DSAE separates a global z (the speaker) from local s_{1:T} (the content, Sec. 5.2).
:func:`convert` takes the content s of every 200 ms segment of a *source* utterance and
the speaker z of a *target* utterance (the mean of z over the target's segments), decodes
``decode(z_target, s_source_segment)`` (the mean of p(x_t | z, s_t)), undoes the
training-set normalization, concatenates the segments into one log-magnitude spectrogram
``(frames, F)`` and inverts it with Griffin-Lim (:func:`griffin_lim`) into a 16 kHz WAV.
Optionally a PNG shows the source, target and converted spectrograms side by side.

Griffin-Lim (Griffin & Lim 1984), in its fast form with momentum 0.99 (Perraudin et al.
2013; as torchaudio's default) and a seeded random initial phase: it alternates between
the magnitude we want and the phase of the STFT of the current signal. The STFT is the
one of the features (:mod:`cmivae.data.speech.features`, appendix G.1): a 400-sample
periodic Hann window, hop 160, 400-point FFT, no centring, so frame k covers samples
``[160 k, 160 k + 400)``. The magnitude is ``exp(log spectrum) - eps`` (clipped at 0),
inverting ``log(|X| + eps)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from scipy.signal import get_window

from cmivae.data.speech.features import DEFAULT_FEATURES, FeatureParams, segment_utterance
from cmivae.infra.errors import ConfigError, DataError

__all__ = ["griffin_lim", "log_spectrum_to_audio", "load_dsae_run", "convert_segments", "plot_spectrograms", "convert"]

GRIFFIN_LIM_ITERS = 60
GRIFFIN_LIM_MOMENTUM = 0.99
PEAK = 0.95  # the output is scaled down to this peak if it would clip


def _stft(audio: np.ndarray, window: np.ndarray, hop: int, n_fft: int) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(audio, window.shape[0])[::hop]  # (K, W) strided view
    return np.fft.rfft(frames * window, n=n_fft, axis=-1)  # (K, F) complex


def _istft(spec: np.ndarray, window: np.ndarray, hop: int, n_fft: int, norm: np.ndarray) -> np.ndarray:
    """Weighted overlap-add: the least-squares signal whose STFT is closest to ``spec`` (Griffin & Lim)."""
    frames = np.fft.irfft(spec, n=n_fft, axis=-1)[:, :window.shape[0]] * window  # (K, F) -> (K, n_fft) -> (K, W)
    starts = np.arange(spec.shape[0]) * hop  # (K,)
    index = (starts[:, None] + np.arange(window.shape[0])[None, :]).ravel()  # (K * W,) sample of each frame value
    return np.bincount(index, weights=frames.ravel(), minlength=norm.shape[0]) / norm  # (num_samples,)


def griffin_lim(magnitude: np.ndarray, *, params: FeatureParams = DEFAULT_FEATURES, num_iters: int = GRIFFIN_LIM_ITERS,
                momentum: float = GRIFFIN_LIM_MOMENTUM, seed: int = 0) -> np.ndarray:
    """Audio whose STFT magnitude approximates ``magnitude`` (fast Griffin-Lim).

    Args:
        magnitude: ``(K, F)`` STFT magnitudes, F = ``n_fft // 2 + 1`` (201), framed as in
            :func:`cmivae.data.speech.features.log_spectrogram`.
        params: window, hop and FFT size of that framing.
        num_iters: Griffin-Lim iterations (60).
        momentum: 0 is the original algorithm; 0.99 the fast variant.
        seed: seeds the random initial phase.

    Returns:
        float64 ``((K - 1) * hop + window,)`` samples.
    """
    magnitude = np.asarray(magnitude, dtype=np.float64)
    if magnitude.ndim != 2 or magnitude.shape[1] != params.num_bins or magnitude.shape[0] == 0:
        raise ValueError(f"magnitude must be (K, {params.num_bins}) with K >= 1 frames, got {magnitude.shape}")
    window = get_window("hann", params.window_length, fftbins=True)  # periodic Hann, (W,)
    num_frames, hop = magnitude.shape[0], params.hop_length
    num_samples = (num_frames - 1) * hop + params.window_length
    index = (np.arange(num_frames)[:, None] * hop + np.arange(params.window_length)[None, :]).ravel()  # (K * W,)
    norm = np.bincount(index, weights=np.tile(window ** 2, num_frames), minlength=num_samples)  # (num_samples,)
    # The first and last few samples are under the tail of a single window only; flooring the
    # normalizer keeps them from being amplified by ~1e4 (they are faded out instead).
    norm = np.maximum(norm, 0.1 * norm.max())
    rng = np.random.default_rng(seed)
    angles = np.exp(2j * np.pi * rng.random(magnitude.shape))  # (K, F) unit phases
    previous = np.zeros_like(angles)
    for _ in range(num_iters):
        rebuilt = _stft(_istft(magnitude * angles, window, hop, params.n_fft, norm), window, hop, params.n_fft)
        angles = rebuilt - (momentum / (1 + momentum)) * previous  # (K, F)
        angles = angles / (np.abs(angles) + 1e-16)
        previous = rebuilt
    return _istft(magnitude * angles, window, hop, params.n_fft, norm)


def log_spectrum_to_audio(log_spectrum: np.ndarray, *, params: FeatureParams = DEFAULT_FEATURES,
                          num_iters: int = GRIFFIN_LIM_ITERS, seed: int = 0) -> np.ndarray:
    """Invert ``log(|X| + eps)`` ``(K, F)``: magnitude ``exp(.) - eps`` (>= 0), then :func:`griffin_lim`.

    Returns float32 samples, scaled down to a peak of 0.95 only if they would clip.
    """
    magnitude = np.maximum(np.exp(np.asarray(log_spectrum, dtype=np.float64)) - params.eps, 0.0)  # (K, F)
    audio = griffin_lim(magnitude, params=params, num_iters=num_iters, seed=seed)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > PEAK:
        audio = audio * (PEAK / peak)
    return audio.astype(np.float32)


# --------------------------------------------------------------------------- a trained run


def load_dsae_run(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, Any]:
    """The best model of a DSAE run directory (``best.pt``) and its validated config.

    Raises:
        ConfigError: no ``config.json``, or the run is not a DSAE trained on speech.
        CheckpointError: no ``best.pt`` (the run is not trained yet).
    """
    from cmivae.models.capabilities import DECODE
    from cmivae.models.contract import declared_capabilities
    from cmivae.runs.trained import load_trained

    config, model, _ = load_trained(run_dir, device=str(device))
    if config.data.is_image or DECODE not in declared_capabilities(model):
        raise ConfigError(f"{run_dir} holds a {config.model.name} model trained on {config.data.name}; voice "
                          f"conversion needs a DSAE trained on speech (e.g. the dsae-cpu preset)")
    return model.to(device).eval(), config


@torch.no_grad()
def convert_segments(model: torch.nn.Module, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Decode every source segment with the target's speaker z (appendix J's swap).

    Args:
        model: a DSAE (``encode``, ``decode``).
        source: ``(N, T, F)`` normalized segments of the source utterance (content s).
        target: ``(M, T, F)`` normalized segments of the target utterance (speaker z).

    Returns:
        ``(N, T, F)`` the means of p(x_t | z_target, s_t), normalized.
    """
    _, s_source = model.encode(source)  # (N, T, D_s)
    z_target, _ = model.encode(target)  # (M, D)
    z = z_target.mean(dim=0, keepdim=True).expand(source.shape[0], -1)  # (M, D) -> (1, D) -> (N, D)
    return model.decode(z, s_source)


def plot_spectrograms(spectrograms: dict[str, np.ndarray], path: str | Path,
                      params: FeatureParams = DEFAULT_FEATURES) -> Path:
    """Save log spectrograms ``{title: (K, F)}`` side by side, time (s) x frequency (kHz), one colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = np.concatenate([v.ravel() for v in spectrograms.values()])
    vmin, vmax = np.percentile(values, 1), values.max()
    fig, axes = plt.subplots(1, len(spectrograms), figsize=(4.5 * len(spectrograms), 3.6), sharey=True,
                             constrained_layout=True)
    axes = np.atleast_1d(axes)
    image = None
    for ax, (title, spec) in zip(axes, spectrograms.items(), strict=True):
        seconds = spec.shape[0] * params.hop_length / params.sample_rate
        image = ax.imshow(spec.T, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax,
                          extent=(0.0, seconds, 0.0, params.sample_rate / 2000))  # (K, F) -> (F, K)
        ax.set_title(title)
        ax.set_xlabel("time (s)")
    axes[0].set_ylabel("frequency (kHz)")
    fig.colorbar(image, ax=list(axes), label="log magnitude")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _segments(path: str | Path, features: FeatureParams) -> np.ndarray:
    from cmivae.data.speech.loader import read_audio

    audio = read_audio(path, features.sample_rate)  # (num_samples,)
    segments = segment_utterance(audio, features.sample_rate, features)  # (n, T, F)
    if segments.shape[0] == 0:
        raise DataError(f"{path} is too short: {1000 * audio.shape[0] / features.sample_rate:.0f} ms; voice "
                        f"conversion needs at least {1000 * features.min_samples / features.sample_rate:.0f} ms "
                        f"(one {features.segment_frames}-frame segment)")
    return segments


def _checked_inputs(run_dir: str | Path, source_wav: str | Path, target_wav: str | Path
                    ) -> tuple[np.ndarray, np.ndarray, FeatureParams]:
    """Both inputs' segments ``(N, T, F)``, ``(M, T, F)`` with the run's feature settings, from
    ``config.json`` alone (no model, no corpus): a missing, unreadable or too-short input fails fast."""
    from cmivae.config import ExperimentConfig
    from cmivae.data.speech.features import band_limit_bins, features_for_rate
    from cmivae.infra.errors import CheckpointError, CmivaeError
    from cmivae.runs import files
    from cmivae.runs.readers import read_config

    config_path = Path(run_dir) / files.CONFIG
    if config_path.exists() and not (Path(run_dir) / files.BEST).exists():
        raise CheckpointError(f"{run_dir} is not a trained run directory: {files.BEST} is missing; finish training "
                              f"it first (rerun `cmivae train` with --out {run_dir})")
    try:
        config = ExperimentConfig.from_dict(read_config(run_dir))
    except CmivaeError as err:
        raise ConfigError(f"{config_path} is missing or unreadable ({err}); expected a trained DSAE run directory "
                          f"(cmivae train dsae-cpu-v2 --out RUN_DIR)") from err
    if config.data.is_image:
        raise ConfigError(f"{run_dir} holds a model trained on {config.data.name}; voice conversion needs a DSAE "
                          f"trained on speech (e.g. the dsae-cpu-v2 preset)")
    for role, path in (("source", source_wav), ("target", target_wav)):
        if not Path(path).is_file():
            raise DataError(f"{role} audio {path} does not exist; expected a WAV/FLAC file")
    features = features_for_rate(config.data.sample_rate)
    bins = band_limit_bins(features, config.data.max_frequency_hz)
    source, target = _segments(source_wav, features), _segments(target_wav, features)
    return source[..., :bins], target[..., :bins], features


def convert(run_dir: str | Path, source_wav: str | Path, target_wav: str | Path, out_wav: str | Path,
            png_path: str | Path | None = None, *, num_iters: int = GRIFFIN_LIM_ITERS, seed: int = 0,
            device: str | torch.device = "cpu") -> Path:
    """Speak ``source_wav``'s words in ``target_wav``'s voice with a trained DSAE run (appendix J).

    Args:
        run_dir: a finished DSAE run (``config.json``, ``best.pt``); its data set is loaded
            (from the feature cache) for the training-set normalization statistics.
        source_wav: the utterance whose content (s) is kept.
        target_wav: the utterance whose speaker (z, averaged over its segments) is used.
        out_wav: the 16 kHz 16-bit WAV written; it covers the source's complete 200 ms
            segments (trailing frames shorter than a segment are dropped, as in training).
        png_path: optional PNG of the source, target and converted spectrograms.
        num_iters: Griffin-Lim iterations.
        seed: seeds Griffin-Lim's initial phase.
        device: where the model runs.

    Returns:
        ``out_wav`` as a :class:`Path`.
    """
    from cmivae.data.registry import load_dataset

    for role, path in (("source", source_wav), ("target", target_wav)):  # before loading anything
        if not Path(path).is_file():
            what = "is a folder" if Path(path).is_dir() else "does not exist"
            raise DataError(f"the {role} audio {path} {what}; give a WAV or FLAC file")
    # The inputs are checked first (seconds), before the model and the corpus statistics load (a minute).
    source, target, features = _checked_inputs(run_dir, source_wav, target_wav)  # (N, T, F), (M, T, F)
    model, config = load_dsae_run(run_dir, device)
    splits = load_dataset(config.data)  # mean/std of the full training split, as in training
    mean, std = splits.mean.numpy(), splits.std.numpy()  # (F,), (F,)
    if source.shape[2] != model.config.x_dim:
        raise ConfigError(f"the run's model expects {model.config.x_dim} frequency bins, the audio gives "
                          f"{source.shape[2]}")
    normalized = convert_segments(model, torch.from_numpy((source - mean) / std).to(device),
                                  torch.from_numpy((target - mean) / std).to(device))  # (N, T, F)
    converted = normalized.cpu().numpy() * std + mean  # (N, T, F) log spectra
    converted = converted.reshape(-1, converted.shape[-1])  # (N, T, F) -> (N * T, F)
    audio = log_spectrum_to_audio(converted, params=features, num_iters=num_iters, seed=seed)
    out_wav = Path(out_wav)
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    sf.write(out_wav, audio, features.sample_rate, subtype="PCM_16")
    if png_path is not None:
        flat = {f"source (words): {Path(source_wav).name}": source.reshape(-1, source.shape[-1]),  # (N * T, F)
                f"target (voice): {Path(target_wav).name}": target.reshape(-1, target.shape[-1]),  # (M * T, F)
                "converted (decoded mean, DSAE)": converted}
        plot_spectrograms(flat, png_path, features)
    return out_wav
