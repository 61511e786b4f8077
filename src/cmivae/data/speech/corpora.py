"""Corpus discovery for the speech experiments (paper Sec. 5.2, appendix G.1): which audio
files a corpus holds and whose speaker each is.

* TIMIT at a user's path (never downloaded): ``{TRAIN,TEST}/DR*/<speaker>/<utterance>.WAV``
  (NIST SPHERE, read by soundfile), names matched case-insensitively; speaker id = folder
  name, gender = its first letter.
* any folder of audio: ``root/<speaker>/**/*.wav|flac`` or, given ``speaker_pattern``, one
  flat folder whose file names carry the speaker in the regex group ``(?P<speaker>...)``;
  genders from an optional CSV/TSV ``speaker,gender`` table.
* the synthetic espeak-ng corpus (:mod:`cmivae.data.speech.synthetic_speakers`, built on first use):
  a folder corpus with its split in ``manifest.json`` and genders in ``speakers.csv``.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

from cmivae.data.speech import synthetic_speakers
from cmivae.data.speech.audio import AUDIO_EXTENSIONS
from cmivae.infra.errors import DataError

__all__ = [
    "Utterance",
    "find_timit_utterances",
    "find_folder_utterances",
    "read_gender_table",
    "subsample_per_speaker",
    "synthetic_corpus",
]


@dataclass(frozen=True)
class Utterance:
    """One audio file: its path, speaker id and a name unique in the corpus (``speaker/utt``)."""

    path: Path
    speaker: str
    name: str


def _casefold_child(parent: Path, name: str) -> Path | None:
    for child in sorted(parent.iterdir()):
        if child.is_dir() and child.name.lower() == name.lower():
            return child
    return None


def _find_timit_root(root: Path) -> Path | None:
    """The folder holding TRAIN and TEST: ``root`` itself or up to two levels below it."""
    level = [root]
    for _ in range(3):
        for folder in level:
            if _casefold_child(folder, "train") and _casefold_child(folder, "test"):
                return folder
        level = [child for folder in level for child in sorted(folder.iterdir())
                 if child.is_dir() and not child.name.startswith(".")]
    return None


def _audio_files(folder: Path, recursive: bool) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern)
                  if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith("."))


def find_timit_utterances(root: str | Path) -> tuple[list[Utterance], list[Utterance]]:
    """List TIMIT's training and test utterances under ``root``.

    Expects ``root/{TRAIN,TEST}/DR*/<speaker>/<utterance>.WAV`` (any letter case; ``root``
    may also be one or two folders above ``TRAIN``/``TEST``, as on the LDC disc). When one
    utterance has several files (e.g. ``SA1.WAV`` and a converted ``SA1.WAV.wav``), the
    first in sorted order is used.

    Returns:
        ``(train, test)`` utterances sorted by speaker then name.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"TIMIT path {root} is not a folder; expected the TIMIT folder holding TRAIN/ and TEST/ "
                        f"(pass data.root=/path/to/TIMIT)")
    base = _find_timit_root(root)
    if base is None:
        found = ", ".join(sorted(p.name for p in root.iterdir())[:10]) or "nothing"
        raise DataError(f"{root} is not a TIMIT tree: expected TRAIN/ and TEST/ folders (any case) laid out as "
                        f"TRAIN/DR1/FCJF0/SA1.WAV, found {found}. Point data.root at the TIMIT folder from LDC.")
    splits: list[list[Utterance]] = []
    for split in ("train", "test"):
        folder = _casefold_child(base, split)
        assert folder is not None
        utterances: dict[tuple[str, str], Utterance] = {}
        for region in sorted(p for p in folder.iterdir() if p.is_dir() and p.name.lower().startswith("dr")):
            for speaker_dir in sorted(p for p in region.iterdir() if p.is_dir()):
                speaker = speaker_dir.name.upper()
                for path in _audio_files(speaker_dir, recursive=False):
                    utt = path.name.split(".")[0].upper()
                    utterances.setdefault((speaker, utt), Utterance(path, speaker, f"{speaker}/{utt}"))
        if not utterances:
            raise DataError(f"no audio found in TIMIT folder {folder}: expected {folder.name}/DR*/<speaker>/*.WAV "
                            f"(NIST SPHERE or WAV). Check that the corpus was copied completely.")
        splits.append([utterances[key] for key in sorted(utterances)])
    bad = sorted({u.speaker for split in splits for u in split if u.speaker[:1] not in ("F", "M")})
    if bad:
        raise DataError(f"TIMIT speaker folders must start with F or M (the gender), found {', '.join(bad[:5])}; "
                        f"is {root} really TIMIT? Use source='folder' for other corpora.")
    return splits[0], splits[1]


def find_folder_utterances(root: str | Path, speaker_pattern: str | None = None) -> list[Utterance]:
    """List a generic corpus: ``root/<speaker>/**/*.wav|flac``, or a flat folder with ``speaker_pattern``.

    Args:
        root: the corpus folder.
        speaker_pattern: regex with a named group ``speaker`` searched in each file name of
            the flat folder ``root/*.wav|flac`` (e.g. ``r"^(?P<speaker>[a-z]+\\d+)_"``); every
            file must match. ``None`` means one sub-folder per speaker.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"speech folder {root} does not exist or is not a folder; expected root/<speaker>/*.wav "
                        f"or a flat folder of .wav files with data.speaker_pattern")
    if speaker_pattern is None:
        utterances = []
        for speaker_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for path in _audio_files(speaker_dir, recursive=True):
                rel = path.relative_to(speaker_dir).with_suffix("").as_posix()
                utterances.append(Utterance(path, speaker_dir.name, f"{speaker_dir.name}/{rel}"))
        if not utterances:
            flat = _audio_files(root, recursive=False)
            hint = (f" It holds {len(flat)} audio files directly: pass a speaker_pattern (data.speaker_pattern) "
                    f"with a (?P<speaker>...) group to read the speaker from each file name.") if flat else ""
            raise DataError(f"no audio found in {root}: expected one folder per speaker with .wav/.flac files "
                            f"inside (root/<speaker>/*.wav).{hint}")
        return utterances
    try:
        regex = re.compile(speaker_pattern)
    except re.error as err:
        raise DataError(f"speaker_pattern {speaker_pattern!r} is not a valid regular expression: {err}") from err
    if "speaker" not in regex.groupindex:
        raise DataError(f"speaker_pattern {speaker_pattern!r} has no named group 'speaker'; expected e.g. "
                        f"r'^(?P<speaker>[^_]+)_' to take the text before the first underscore")
    files = _audio_files(root, recursive=False)
    if not files:
        raise DataError(f"no audio found in {root}: expected .wav/.flac files directly in it "
                        f"(a flat folder, since a speaker_pattern was given)")
    utterances, unmatched = [], []
    for path in files:
        match = regex.search(path.name)
        if match is None or not match.group("speaker"):
            unmatched.append(path.name)
            continue
        speaker = match.group("speaker")
        utterances.append(Utterance(path, speaker, f"{speaker}/{path.stem}"))
    if not utterances:
        raise DataError(f"speaker_pattern {speaker_pattern!r} matches none of the {len(files)} file names in {root} "
                        f"(e.g. {files[0].name!r}); fix the pattern so its (?P<speaker>...) group finds the speaker")
    if unmatched:
        raise DataError(f"speaker_pattern {speaker_pattern!r} does not match {len(unmatched)} of {len(files)} files "
                        f"in {root} (e.g. {', '.join(unmatched[:3])}); every file needs a speaker: fix the pattern "
                        f"or move those files out")
    return sorted(utterances, key=lambda u: (u.speaker, u.name))


_GENDERS = {"f": "F", "female": "F", "w": "F", "woman": "F", "m": "M", "male": "M", "man": "M"}


def read_gender_table(path: str | Path) -> dict[str, str]:
    """Read a CSV or TSV table with a header holding columns ``speaker`` and ``gender``.

    Gender values F/M (also female/male, any case); other columns are ignored.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read gender table {path}: {err}; expected a CSV/TSV file "
                        f"with a header 'speaker,gender'") from err
    lines = text.splitlines()
    delimiter = "\t" if lines and "\t" in lines[0] else ","
    rows = list(csv.DictReader(lines, delimiter=delimiter))
    header = [h.strip().lower() for h in (rows[0].keys() if rows else (lines[0].split(delimiter) if lines else []))]
    if "speaker" not in header or "gender" not in header:
        raise DataError(f"gender table {path} must have a header with columns 'speaker' and 'gender', "
                        f"found {header}; e.g. first line 'speaker,gender' then 'p225,F'")
    table: dict[str, str] = {}
    for line_no, row in enumerate(rows, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        gender = _GENDERS.get(row["gender"].lower())
        if gender is None:
            raise DataError(f"gender table {path} line {line_no}: gender {row['gender']!r} of speaker "
                            f"{row['speaker']!r} is not F or M (female/male)")
        table[row["speaker"]] = gender
    return table


def subsample_per_speaker(utterances: list[Utterance], max_per_speaker: int | None) -> list[Utterance]:
    """Keep each speaker's first ``max_per_speaker`` utterances (all when ``None``)."""
    if max_per_speaker is None:
        return utterances
    if max_per_speaker < 1:
        raise DataError(f"max_utterances_per_speaker must be a positive integer or None, got {max_per_speaker!r}")
    kept, counts = [], {}
    for utt in utterances:  # sorted by speaker then name: keeps each speaker's first ones
        counts[utt.speaker] = counts.get(utt.speaker, 0) + 1
        if counts[utt.speaker] <= max_per_speaker:
            kept.append(utt)
    return kept


def synthetic_corpus(root: Path, num_speakers: int | None, seed: int | None, corpus_version: int | None = None
                     ) -> tuple[dict[str, list[str]], Path]:
    """The split and speaker table of the synthetic corpus in ``root``, built first if missing.

    An existing corpus is used as it is (no espeak-ng needed) unless it contradicts an
    explicitly asked ``num_speakers``, ``seed`` or ``corpus_version`` (1: clean, 2: with
    per-utterance variation, :mod:`cmivae.data.speech.synthetic_variation`).
    """
    manifest_path = root / synthetic_speakers.MANIFEST
    wanted = {key: value for key, value in (("num_speakers", num_speakers), ("seed", seed),
                                            ("corpus_version", corpus_version)) if value is not None}
    if not manifest_path.exists():
        synthetic_speakers.make_synthetic_speech(root, **wanted)
    try:
        manifest = json.loads(manifest_path.read_text())
        settings = manifest["settings"]
        split = {name: list(manifest["split"][name]) for name in ("train", "val", "test")}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(f"synthetic corpus manifest {manifest_path} is unreadable or incomplete ({err}); "
                        f"delete {root} and it is rebuilt on the next load") from err
    settings = {"corpus_version": 1, **settings}  # version-1 manifests do not name their version
    clash = {key: value for key, value in wanted.items() if settings.get(key) != value}
    if clash:
        found = ", ".join(f"{key}={settings.get(key)!r} (asked {value!r})" for key, value in clash.items())
        raise DataError(f"{root} holds a synthetic corpus built with other settings: {found}; delete it to "
                        f"rebuild, or choose another folder")
    return split, root / synthetic_speakers.SPEAKER_TABLE

