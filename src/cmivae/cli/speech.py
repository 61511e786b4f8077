"""Speech commands of the ``cmivae`` command line (records listed in :data:`cmivae.cli.main.COMMAND_LIST`).

* ``cmivae convert RUN_DIR SOURCE.wav TARGET.wav --out OUT.wav [--png OUT.png]``: voice
  conversion with a trained DSAE (the z swap of appendix J), see :mod:`cmivae.voice_conversion`.
* ``cmivae data make-speech [--out DIR] [--num-speakers N] [--corpus-version 2|1] [--jobs J]``: build the synthetic
  espeak-ng speaker corpus (the TIMIT stand-in of Sec. 5.2), see
  :mod:`cmivae.data.speech.synthetic_speakers`.

Each command's arguments, function and :class:`~cmivae.cli.command.Command` record sit together.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cmivae.cli.command import Command


def add_convert_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a finished DSAE run directory (config.json, best.pt)")
    p.add_argument("source", help="audio whose words are kept (WAV/FLAC, resampled to 16 kHz)")
    p.add_argument("target", help="audio whose voice is used")
    p.add_argument("--out", required=True, help="output WAV (16 kHz, 16-bit)")
    p.add_argument("--png", help="also save the source/target/converted spectrograms as this PNG")
    p.add_argument("--iters", type=int, default=60, help="Griffin-Lim iterations (default 60)")
    p.add_argument("--seed", type=int, default=0, help="seed of Griffin-Lim's initial phase")


def cmd_convert(args: argparse.Namespace) -> int:
    from cmivae.voice_conversion import convert

    out = convert(args.run_dir, args.source, args.target, args.out, args.png, num_iters=args.iters, seed=args.seed)
    print(f"converted speech: {out}" + (f"\nspectrograms: {args.png}" if args.png else ""))
    return 0


CONVERT = Command("convert", "voice conversion with a trained DSAE run (content of SOURCE, voice of TARGET)",
                  add_convert_arguments, cmd_convert)


def add_data_make_speech_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="corpus folder (default: <data dir>/synthetic-speech-<N>, where training finds it)")
    p.add_argument("--num-speakers", type=int, help="speakers to synthesize (default 200 for v2, 100 for v1)")
    p.add_argument("--corpus-version", type=int, choices=(1, 2), default=2,
                   help="2 (default): per-utterance rate, pitch, loudness, channel and noise, off the EER ceiling; "
                        "1: the clean fixed-voice corpus of the committed results (train with "
                        "data.synthetic_version=1)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")


def cmd_data_make_speech(args: argparse.Namespace) -> int:
    import sys

    from cmivae.data.images.fetch import resolve_data_dir
    from cmivae.data.speech.synthetic_speakers import (
        DEFAULT_NUM_SPEAKERS,
        DEFAULT_NUM_SPEAKERS_V2,
        corpus_folder_name,
        make_synthetic_speech,
    )

    version = args.corpus_version
    num_speakers = args.num_speakers if args.num_speakers is not None else (  # 0 is bad input, not "default"
        DEFAULT_NUM_SPEAKERS_V2 if version == 2 else DEFAULT_NUM_SPEAKERS)
    out = Path(args.out) if args.out else resolve_data_dir(None) / corpus_folder_name(num_speakers, version)
    path = make_synthetic_speech(out, num_speakers=num_speakers, jobs=args.jobs, corpus_version=version,
                                 progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"synthetic-speech v{version} ({num_speakers} speakers): {path}")
    return 0


DATA_MAKE_SPEECH = Command("data make-speech", "build the synthetic espeak-ng speaker corpus (needs espeak-ng)",
                           add_data_make_speech_arguments, cmd_data_make_speech)
