"""An embedded speech corpus of many synthetic speakers (espeak-ng), standing in for TIMIT.

Paper Sec. 5.2 measures speaker verification EER on TIMIT (appendix G.1), which is
LDC-licensed and cannot be shipped. This module builds a corpus with the same shape --
many speakers reading the same short English sentences at 16 kHz -- with the espeak-ng
formant synthesizer, deterministically (byte-identical for one espeak-ng version).

Speakers are custom espeak-ng *voice variants*. What makes them distinguishable is pitch
and formants (vocal-tract length); speaking rate and accent do not help a speaker
embedding, so every speaker uses the ``en-us`` voice at 175 words per minute. Per speaker
(seeded by ``(seed, speaker index)``, so a larger corpus extends a smaller one):

* gender alternates F, M, F, ... (balanced);
* pitch: base ``U(150, 235)`` Hz and top ``base + U(40, 100)`` Hz for F,
  ``U(75, 135)`` and ``base + U(25, 60)`` for M;
* formant frequency scale: ``U(1.03, 1.20)`` for F, ``U(0.85, 1.00)`` for M (shorter
  vocal tract, higher formants), with an individual ``+-4 %`` offset per formant 1-5,
  formant heights ``U(80, 120) %`` and widths ``U(90, 160) %`` for formants 1-3;
* flutter 0-12 and roughness 0-4 (voice quality).

Layout of ``out_dir``: ``<speaker>/sNN.wav`` (16 kHz, 16-bit PCM; espeak-ng writes 22050 Hz,
resampled with ``scipy.signal.resample_poly(x, 320, 441)``), ``speakers.csv`` (speaker,
gender, split and every voice parameter) and ``manifest.json`` (build settings, the
espeak-ng version, the sentences and a speaker-disjoint, gender-stratified train/val/test
split with fractions 0.65/0.10/0.25, the test share of TIMIT's 168 of 630 speakers).

espeak-ng pitfall: with more than ~349 voice files in its data folder it silently falls
back to the default voice. So each worker copies the data folder once into a private
temporary folder and rewrites a single variant file there per speaker, calling
``espeak-ng --path=DIR -v en-us+<variant>``; a check that the first sentence differs from
the default voice catches any fallback.

The build is atomic and resumable: it happens in a hidden sibling ``.<name>.partial``
(each speaker folder is itself renamed into place when complete, so an interrupted build
resumes with the missing speakers) and is renamed to ``out_dir`` at the end; a lock file
``.<name>.lock`` next to it serializes concurrent builders.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from cmivae.data.speech import synthetic_variation
from cmivae.data.speech.splits import split_speakers
from cmivae.infra.errors import DataError

__all__ = [
    "SENTENCES",
    "DEFAULT_NUM_SPEAKERS",
    "MANIFEST",
    "SPEAKER_TABLE",
    "VoiceParams",
    "make_voice",
    "find_espeak",
    "make_synthetic_speech",
]

log = logging.getLogger(__name__)

# Ten sentences written for this corpus (not TIMIT's): statements, questions, numbers, lists;
# most English phonemes; about 2.5-3.5 s each at 175 words per minute.
SENTENCES: tuple[str, ...] = (
    "The old lighthouse keeper counted seven ships before the storm arrived.",
    "Could you bring the blue folder to the meeting on Thursday afternoon?",
    "A quiet breeze moved through the tall grass near the river bank.",
    "Her brother fixed the broken bicycle chain with a small pair of pliers.",
    "We measured twenty three samples and found that only four were usable.",
    "Why does the museum close so early on public holidays?",
    "Fresh bread, warm soup and sharp cheese were waiting on the kitchen table.",
    "The children laughed when the puppy chased its own shadow across the yard.",
    "Please check the final figures twice before you sign the contract.",
    "Thunder rolled over the distant hills while the whole village slept.",
)

DEFAULT_NUM_SPEAKERS = 100
DEFAULT_NUM_SPEAKERS_V2 = 200  # version 2: more speakers, so EER is measured over 50 test speakers
DEFAULT_VERSION = 2  # what `cmivae data make-speech` and `make demo-speech` build
_BATCH_SPEAKERS = 10  # speakers per worker task (a progress line after each)
MANIFEST = "manifest.json"
SPEAKER_TABLE = "speakers.csv"
SAMPLE_RATE = 16000
ESPEAK_RATE = 22050
WORDS_PER_MINUTE = 175
VAL_FRACTION = 0.10
TEST_FRACTION = 0.25
_FORMAT = 1
_VARIANT = "cmivae_speaker"  # the one variant file each worker rewrites
_KNOWN_DATA_DIRS = (
    "/usr/lib/x86_64-linux-gnu/espeak-ng-data",
    "/usr/lib/aarch64-linux-gnu/espeak-ng-data",
    "/usr/lib/espeak-ng-data",
    "/usr/share/espeak-ng-data",
    "/usr/local/share/espeak-ng-data",
    "/opt/homebrew/share/espeak-ng-data",
)


@dataclass(frozen=True)
class VoiceParams:
    """One synthetic speaker: an espeak-ng voice variant.

    Attributes:
        name: speaker id, gender letter then index (``F0000``, ``M0001``, ...).
        gender: ``F`` or ``M``.
        pitch_base_hz, pitch_top_hz: the variant's ``pitch`` line (base and top of the range).
        formant_scale: overall formant frequency factor (vocal-tract length).
        formant_freq: percent frequency of formants 0-8.
        formant_height: percent strength of formants 0-8.
        formant_width: percent bandwidth of formants 0-8.
        flutter: pitch flutter (espeak-ng default 64 is shaky; 0-12 here).
        roughness: creaky voice, 0-4.
    """

    name: str
    gender: str
    pitch_base_hz: int
    pitch_top_hz: int
    formant_scale: float
    formant_freq: tuple[int, ...]
    formant_height: tuple[int, ...]
    formant_width: tuple[int, ...]
    flutter: int
    roughness: int

    def variant_file(self, name: str = _VARIANT) -> str:
        """The espeak-ng variant file text (``voices/!v/<name>``)."""
        lines = ["language variant", f"name {name}", f"gender {'female' if self.gender == 'F' else 'male'}", "",
                 f"pitch {self.pitch_base_hz} {self.pitch_top_hz}", f"flutter {self.flutter}",
                 f"roughness {self.roughness}"]
        lines += [f"formant {k} {f} {h} {w}" for k, (f, h, w)
                  in enumerate(zip(self.formant_freq, self.formant_height, self.formant_width, strict=True))]
        return "\n".join(lines) + "\n"

    def table_row(self) -> dict[str, Any]:
        """Flat row for ``speakers.csv``."""
        row: dict[str, Any] = {"speaker": self.name, "gender": self.gender, "pitch_base_hz": self.pitch_base_hz,
                               "pitch_top_hz": self.pitch_top_hz, "formant_scale": f"{self.formant_scale:.4f}"}
        for k in range(len(self.formant_freq)):
            row[f"formant{k}_freq"] = self.formant_freq[k]
            row[f"formant{k}_height"] = self.formant_height[k]
            row[f"formant{k}_width"] = self.formant_width[k]
        row.update(flutter=self.flutter, roughness=self.roughness)
        return row


def make_voice(index: int, seed: int = 0, overlapping_genders: bool = False) -> VoiceParams:
    """Speaker ``index`` of the corpus with ``seed`` (independent of the corpus size).

    ``overlapping_genders`` (corpus version 2): pitch and formant ranges of the two genders
    overlap as in real speech (F base ``U(135, 230)`` Hz, scale ``U(0.98, 1.16)``; M base
    ``U(85, 165)`` Hz, scale ``U(0.88, 1.06)``) instead of being disjoint, so neither gender
    (VC-mCAS) nor speaker identity is read off one number.
    """
    rng = np.random.default_rng([seed, index])
    female = index % 2 == 0
    if overlapping_genders:
        base = rng.uniform(135, 230) if female else rng.uniform(85, 165)
        top = base + (rng.uniform(40, 100) if female else rng.uniform(25, 70))
        scale = rng.uniform(0.98, 1.16) if female else rng.uniform(0.88, 1.06)
    elif female:
        base = rng.uniform(150, 235)
        top = base + rng.uniform(40, 100)
        scale = rng.uniform(1.03, 1.20)
    else:
        base = rng.uniform(75, 135)
        top = base + rng.uniform(25, 60)
        scale = rng.uniform(0.85, 1.00)
    offsets = np.concatenate([[0.0], rng.uniform(-0.04, 0.04, size=5), [0.0, 0.0, 0.0]])  # formants 0-8
    heights = np.concatenate([[100.0], rng.uniform(80, 120, size=3), [100.0] * 5])
    widths = np.concatenate([[100.0], rng.uniform(90, 160, size=3), [100.0] * 5])
    return VoiceParams(
        name=f"{'F' if female else 'M'}{index:04d}", gender="F" if female else "M",
        pitch_base_hz=int(round(base)), pitch_top_hz=int(round(top)), formant_scale=round(float(scale), 4),
        formant_freq=tuple(int(round(100 * scale * (1 + o))) for o in offsets),
        formant_height=tuple(int(round(h)) for h in heights), formant_width=tuple(int(round(w)) for w in widths),
        flutter=int(rng.integers(0, 13)), roughness=int(rng.integers(0, 5)),
    )


# --------------------------------------------------------------------------- espeak-ng


def find_espeak() -> tuple[str, str, Path]:
    """``(executable, version, data folder)`` of the installed espeak-ng.

    Raises:
        DataError: espeak-ng is not installed, or its data folder cannot be found.
    """
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise DataError("espeak-ng is not installed; the synthetic speech corpus needs it: run "
                        "`sudo apt-get install -y espeak-ng` (or `make` in the cmivae repository, which installs it)")
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise DataError(f"cannot run {exe} --version ({err}); reinstall it: `sudo apt-get install -y espeak-ng`") \
            from err
    match = re.search(r"text-to-speech:\s*(\S+)", out)
    version = match.group(1) if match else "unknown"
    candidates = []
    match = re.search(r"Data at:\s*(.+?)\s*$", out, flags=re.MULTILINE)
    if match:
        candidates.append(match.group(1))
    candidates += list(_KNOWN_DATA_DIRS)
    for candidate in candidates:
        path = Path(candidate)
        if (path / "phontab").is_file() and (path / "voices").is_dir():
            return exe, version, path
    raise DataError(f"cannot find the espeak-ng-data folder (looked in {', '.join(candidates)}); "
                    f"reinstall espeak-ng: `sudo apt-get install -y --reinstall espeak-ng`")


def _speak(exe: str, workdir: Path, variant: str | None, text: str, words_per_minute: int = WORDS_PER_MINUTE
           ) -> bytes:
    """espeak-ng's 22050 Hz WAV bytes for ``text`` with ``en-us`` (+ ``variant``) from ``workdir``'s data."""
    out = workdir / "utterance.wav"
    voice = "en-us" if variant is None else f"en-us+{variant}"
    cmd = [exe, f"--path={workdir}", "-v", voice, "-s", str(words_per_minute), "-z", "-w", str(out), "--stdin"]
    proc = subprocess.run(cmd, input=text, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0 or not out.is_file():
        raise DataError(f"espeak-ng failed (exit {proc.returncode}) on {text!r}: {proc.stderr.strip()}; "
                        f"check the installation with `espeak-ng -v en-us 'hello'`")
    data = out.read_bytes()
    out.unlink()
    return data


def _to_16k(wav_bytes: bytes) -> np.ndarray:
    """int16 samples at 16 kHz from espeak-ng's 22050 Hz WAV."""
    audio, rate = sf.read(io.BytesIO(wav_bytes), dtype="float64")  # (num_samples,) in [-1, 1]
    if rate != ESPEAK_RATE:
        raise DataError(f"espeak-ng wrote {rate} Hz audio, expected {ESPEAK_RATE} Hz; this espeak-ng is not "
                        f"supported, install the Debian package `espeak-ng`")
    audio = resample_poly(audio, 320, 441)  # 22050 * 320 / 441 = 16000
    return np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)


def _synthesize_group(exe: str, data_dir: str, partial: str, worker: int, voices: list[VoiceParams],
                      sentences: list[str], seed: int = 0, variation: dict[str, Any] | None = None) -> int:
    """One worker: a private copy of espeak-ng-data, one rewritten variant file per speaker
    (version 1) or per utterance (version 2, ``variation`` given: per-utterance factors of
    :mod:`cmivae.data.speech.synthetic_variation`). Returns the number of speakers synthesized."""
    partial_dir = Path(partial)
    workdir = partial_dir / f".work-{worker}"
    shutil.rmtree(workdir, ignore_errors=True)
    shutil.copytree(data_dir, workdir / "espeak-ng-data")
    variant_path = workdir / "espeak-ng-data" / "voices" / "!v" / _VARIANT
    variant_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        reference = _speak(exe, workdir, None, sentences[0])
        params = None if variation is None else synthetic_variation.VariationParams(**variation)
        done = 0
        for voice in voices:
            final = partial_dir / voice.name
            if final.is_dir():  # finished by an earlier, interrupted build
                continue
            tmp = partial_dir / f".{voice.name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            variant_path.write_text(voice.variant_file())
            if params is not None and done == 0:  # the fallback check, once per batch, at the default rate
                if _speak(exe, workdir, _VARIANT, sentences[0]) == reference:
                    raise DataError(f"espeak-ng ignored the voice variant of speaker {voice.name} (it spoke with "
                                    f"the default voice); check that {variant_path} is readable and that "
                                    f"espeak-ng supports `--path`")
            for j, text in enumerate(sentences):
                if params is None:
                    raw = _speak(exe, workdir, _VARIANT, text)
                    if j == 0 and raw == reference:
                        raise DataError(f"espeak-ng ignored the voice variant of speaker {voice.name} (it spoke "
                                        f"with the default voice); check that {variant_path} is readable and that "
                                        f"espeak-ng supports `--path`")
                    samples = _to_16k(raw)
                else:
                    index = voice_index(voice)
                    factors = synthetic_variation.draw_factors(voice.pitch_base_hz, voice.pitch_top_hz, index, j,
                                                               seed, params)
                    variant_path.write_text(dataclasses.replace(
                        voice, pitch_base_hz=factors.pitch_base_hz, pitch_top_hz=factors.pitch_top_hz).variant_file())
                    audio = _to_16k(_speak(exe, workdir, _VARIANT, text, factors.words_per_minute)) / 32768.0
                    audio = synthetic_variation.apply_channel(audio, factors, SAMPLE_RATE, [seed, index, 2000 + j])
                    samples = np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)
                sf.write(tmp / f"s{j:02d}.wav", samples, SAMPLE_RATE, subtype="PCM_16")
            os.replace(tmp, final)
            done += 1
        return done
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------- the build


@contextlib.contextmanager
def _build_lock(out_dir: Path) -> Iterator[None]:
    """Serialize builders of one corpus (a no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    lock_path = out_dir.parent / f".{out_dir.name}.lock"
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _settings(num_speakers: int, sentences: list[str], seed: int, version: str, corpus_version: int = 1,
              variation: synthetic_variation.VariationParams | None = None) -> dict[str, Any]:
    settings = {"format": _FORMAT, "num_speakers": num_speakers, "sentences": sentences, "seed": seed,
                "espeak_ng_version": version, "sample_rate": SAMPLE_RATE, "words_per_minute": WORDS_PER_MINUTE,
                "val_fraction": VAL_FRACTION, "test_fraction": TEST_FRACTION}
    if corpus_version == 2:  # version 1's settings stay exactly as they were, so its corpora stay valid
        assert variation is not None
        settings.update(corpus_version=2, variation=variation.to_dict())
    return settings


def voice_index(voice: VoiceParams) -> int:
    """The speaker index of ``voice`` (its name is the gender letter then the index)."""
    return int(voice.name[1:])


def corpus_folder_name(num_speakers: int, corpus_version: int = DEFAULT_VERSION) -> str:
    """Where training looks for the corpus under the data folder: ``synthetic-speech[-v2]-<N>``."""
    return f"synthetic-speech-{num_speakers}" if corpus_version == 1 else f"synthetic-speech-v2-{num_speakers}"


def _resolve_sentences(sentences: int | Sequence[str]) -> list[str]:
    if isinstance(sentences, int):
        if not 1 <= sentences <= len(SENTENCES):
            raise DataError(f"sentences={sentences}: expected 1..{len(SENTENCES)} (the built-in sentences) "
                            f"or a list of sentence strings")
        return list(SENTENCES[:sentences])
    texts = [str(s).strip() for s in sentences]
    if not texts or any(not t for t in texts):
        raise DataError("sentences must be a non-empty list of non-empty strings (or a count of built-in ones)")
    return texts


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _existing_corpus(out_dir: Path, settings: dict[str, Any]) -> bool:
    """True if ``out_dir`` holds this very corpus; DataError if it holds something else."""
    if not out_dir.exists():
        return False
    if not out_dir.is_dir():
        raise DataError(f"{out_dir} exists and is not a folder; choose another place for the synthetic corpus")
    manifest = out_dir / MANIFEST
    if not manifest.exists():
        if any(out_dir.iterdir()):
            raise DataError(f"{out_dir} is not empty and holds no {MANIFEST}, so it is not a synthetic corpus; "
                            f"choose an empty or new folder for it")
        return False
    try:
        found = json.loads(manifest.read_text())["settings"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(f"{manifest} is unreadable ({err}); delete {out_dir} to rebuild the corpus") from err
    if found != settings:
        diff = ", ".join(f"{k}={found.get(k)!r} (asked {v!r})" for k, v in settings.items() if found.get(k) != v)
        raise DataError(f"{out_dir} holds a synthetic corpus built with other settings: {diff}; delete it to "
                        f"rebuild, or choose another folder")
    return True


def make_synthetic_speech(
    out_dir: str | Path,
    num_speakers: int = DEFAULT_NUM_SPEAKERS,
    sentences: int | Sequence[str] = len(SENTENCES),
    seed: int = 0,
    jobs: int = 1,
    corpus_version: int = 1,
    variation: synthetic_variation.VariationParams = synthetic_variation.DEFAULT_VARIATION,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Build (or find) the synthetic multi-speaker corpus in ``out_dir`` (TIMIT stand-in, Sec. 5.2).

    Args:
        out_dir: the corpus folder; returned at once if it already holds this corpus.
        num_speakers: speakers to synthesize (default 100; hundreds work, e.g. 630 as TIMIT).
        sentences: how many of :data:`SENTENCES` each speaker reads, or the sentences themselves.
        seed: voice-parameter, per-utterance factor and split seed.
        jobs: worker processes (each with its own copy of espeak-ng-data).
        corpus_version: 1, the fixed-voice clean corpus (every DSAE at a ceiling), or 2, the
            same speakers with per-utterance rate, pitch contour, loudness, channel and noise
            (:mod:`cmivae.data.speech.synthetic_variation`; ``cmivae data make-speech``'s default).
        variation: version 2 only: the ranges of the per-utterance factors.
        progress: called with one line per finished batch of speakers (the CLI prints it).

    Returns:
        ``out_dir`` as a :class:`Path`, holding ``<speaker>/sNN.wav``, ``speakers.csv`` and ``manifest.json``.
    """
    out_dir = Path(out_dir).expanduser().absolute()
    if int(num_speakers) != num_speakers or num_speakers < 3:
        raise DataError(f"num_speakers must be an integer >= 3 (train, val and test need speakers), "
                        f"got {num_speakers!r}")
    if int(jobs) != jobs or jobs < 1:
        raise DataError(f"jobs must be a positive integer, got {jobs!r}")
    if corpus_version not in (1, 2):
        raise DataError(f"corpus_version must be 1 (clean, fixed voices) or 2 (per-utterance variation), "
                        f"got {corpus_version!r}")
    texts = _resolve_sentences(sentences)
    exe, version, data_dir = find_espeak()
    settings = _settings(int(num_speakers), texts, int(seed), version, corpus_version, variation)
    variation_dict = variation.to_dict() if corpus_version == 2 else None
    if _existing_corpus(out_dir, settings):
        return out_dir
    from cmivae.data.images.fetch import make_data_folder

    make_data_folder(out_dir.parent)
    with _build_lock(out_dir):
        if _existing_corpus(out_dir, settings):  # built by another process while we waited
            return out_dir
        partial = out_dir.parent / f".{out_dir.name}.partial"
        build_file = partial / "build.json"
        if partial.exists():
            try:
                resumable = json.loads(build_file.read_text()) == settings
            except (OSError, ValueError):
                resumable = False
            if not resumable:
                shutil.rmtree(partial)
        partial.mkdir(exist_ok=True)
        _write_text_atomic(build_file, json.dumps(settings, indent=1, sort_keys=True))

        overlap = corpus_version == 2 and variation.overlapping_genders
        voices = [make_voice(i, int(seed), overlap) for i in range(int(num_speakers))]
        todo = [v for v in voices if not (partial / v.name).is_dir()]
        start = time.perf_counter()
        log.info("synthesizing %d speakers x %d sentences with espeak-ng %s into %s (%d jobs)",
                 len(todo), len(texts), version, out_dir, jobs)
        # Batches of speakers (each worker copies espeak-ng-data once per batch), so progress can be shown.
        size = max(1, min(_BATCH_SPEAKERS, -(-len(todo) // jobs)))
        groups = [todo[k:k + size] for k in range(0, len(todo), size)]
        finished = len(voices) - len(todo)

        def report(count: int) -> None:
            nonlocal finished
            finished += count
            if progress is not None:
                progress(f"synthesized {finished}/{len(voices)} speakers ({time.perf_counter() - start:.0f} s)")

        if jobs == 1 or len(groups) <= 1:
            for worker, group in enumerate(groups):
                report(_synthesize_group(exe, str(data_dir), str(partial), worker, group, texts, int(seed),
                                         variation_dict))
        else:
            with ProcessPoolExecutor(max_workers=min(jobs, len(groups)), mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(_synthesize_group, exe, str(data_dir), str(partial), worker, group, texts,
                                       int(seed), variation_dict) for worker, group in enumerate(groups)]
                for future in as_completed(futures):
                    report(future.result())
        log.info("synthesized in %.1f s", time.perf_counter() - start)

        split = split_speakers([v.name for v in voices], [v.gender for v in voices], val_fraction=VAL_FRACTION,
                               test_fraction=TEST_FRACTION, seed=int(seed))
        which = {s: name for name, part in split.items() for s in part}
        table = io.StringIO()
        rows = [{**v.table_row(), "split": which[v.name]} for v in voices]
        writer = csv.DictWriter(table, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        _write_text_atomic(partial / SPEAKER_TABLE, table.getvalue())
        manifest: dict[str, Any] = {"settings": settings, "split": split,
                                    "files": {v.name: [f"s{j:02d}.wav" for j in range(len(texts))] for v in voices}}
        if corpus_version == 2:  # every factor of every utterance (recomputed: draw_factors is pure)
            manifest["factors"] = {
                v.name: {f"s{j:02d}.wav": synthetic_variation.draw_factors(
                    v.pitch_base_hz, v.pitch_top_hz, voice_index(v), j, int(seed), variation).to_dict()
                    for j in range(len(texts))} for v in voices}
        build_file.unlink()
        for leftover in partial.glob(".*"):  # worker copies or speaker folders of an interrupted run
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        _write_text_atomic(partial / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        if out_dir.exists():
            out_dir.rmdir()  # empty (checked by _existing_corpus)
        os.replace(partial, out_dir)
    return out_dir
