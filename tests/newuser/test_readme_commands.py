"""Every short command of the README runs as written, in order, from an empty folder: the
``cmivae`` lines of its bash blocks and its Python API snippet, each made tiny by appended
overrides only (a small model, one epoch, few metrics), never by rewriting the command.

Left out, and why: ``make`` and ``torchrun`` lines (the set-up and multi-process training
have their own tests), the TIMIT line (licensed data), the Sprites lines (``make-sprites``, the
judge, the video DSAE and its evaluation: minutes even at tiny scale; tests/data and the video
tests cover them). Substituted: the sweep runs as
``--dry-run`` (a real sweep trains dozens of runs), and ``sweep-status`` / ``report`` read
the committed ``study/results/cpu-fashion`` sweep instead of the one the dry run did not make;
``convert``'s ``source.wav`` / ``target.wav`` are two speakers of the tiny corpus.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
TINY_IMAGE = ["--set", "data.num_train=1500", "--set", "data.num_test=300", "--set", "train.epochs=1",
              "--set", "train.batch_size=100", "--set", "model.kernel_sizes=[5,3]", "--set", "model.channels=8",
              "--set", "model.inject_after=1", "--set", "objective.critic_hidden_dim=8", "--no-progress"]
TINY_SPEECH = ["--set", "data.num_speakers=6", "--set", "train.epochs=1", "--set", "model.hidden_dim=8",
               "--set", "model.rnn_dim=8", "--set", "model.prior_dim=8", "--set", "model.decoder_hidden_dim=8",
               "--set", "objective.critic_hidden_dim=8", "--no-progress"]


def readme_commands() -> list[str]:
    """The ``cmivae ...`` lines of the README's bash blocks, comments stripped, in order."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("cmivae "):
                commands.append(line)
    return commands


def readme_python() -> str:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)[0]


def tiny(args: list[str], corpus: Path) -> list[str] | None:
    """The command at tiny scale (overrides appended), or ``None`` if it is left out."""
    command = args[0]
    if "/path/to/" in " ".join(args) or "sprites" in " ".join(args) or command == "judge":
        return None
    if command == "data" and args[1] == "fetch":
        return [*args, "--no-download"]
    if command == "data" and args[1] == "make-speech":
        return [*args, "--num-speakers", "6"]
    if command == "train":
        return [*args, *(TINY_SPEECH if args[1].startswith("dsae") else TINY_IMAGE)]
    if command == "evaluate":
        return [*args, "--metrics", "elbo", "aolr", "mcas", "baseline"] if "dsae" not in args[1] else args
    if command == "convert":
        speakers = sorted(p for p in corpus.iterdir() if p.is_dir())
        return [{"source.wav": str(speakers[0] / "s00.wav"), "target.wav": str(speakers[-1] / "s01.wav")}.get(a, a)
                for a in args]
    if command == "sweep":
        return [a for a in args if not a.startswith("[")] + ["--dry-run"]
    if command in ("sweep-status", "report"):
        return [{"sweeps/cpu-fashion": "study/results/cpu-fashion"}.get(a, a) for a in args]
    return args


def test_readme_lists_the_commands_a_newcomer_needs() -> None:
    commands = readme_commands()
    names = [shlex.split(c)[1] for c in commands]
    for needed in ("presets", "train", "evaluate", "sample", "compare", "sweep", "report", "sweep-status"):
        assert needed in names, needed
    trained = {shlex.split(c)[shlex.split(c).index("--out") + 1] for c in commands if " train " in f" {c} "
               and "--out" in c}
    for c in commands:  # every run a command reads was made by an earlier command
        args = shlex.split(c)
        if args[1] in ("evaluate", "sample", "compare", "convert"):
            for run in (a for a in args[2:] if a.startswith("runs/")):
                assert run in trained, f"{c}: {run} is never trained in the README"
    assert "source .venv/bin/activate" in README.read_text()


@pytest.mark.slow
def test_every_readme_command_runs_in_order_at_tiny_scale(tmp_path: Path, fashion_mnist_dir: str, monkeypatch,
                                                          capsys) -> None:
    """In-process through the CLI's entry function (the same ``main`` as the ``cmivae`` script),
    from an empty folder holding only a link to ``study/``."""
    from cmivae import cli

    work = tmp_path / "clone"
    work.mkdir()
    (work / "study").symlink_to(REPO / "study")
    monkeypatch.chdir(work)
    data = tmp_path / "data"  # the fetched image sets linked in; the tiny speech corpus is built here
    data.mkdir()
    for name in ("fashion-mnist", "mnist"):
        if (Path(fashion_mnist_dir) / name).is_dir():
            (data / name).symlink_to(Path(fashion_mnist_dir) / name)
    monkeypatch.setenv("CMIVAE_DATA", str(data))
    from cmivae.data.speech.synthetic_speakers import corpus_folder_name

    corpus = data / corpus_folder_name(6)  # where `data make-speech --num-speakers 6` builds the default corpus
    ran = []
    for line in readme_commands():
        args = tiny(shlex.split(line)[1:], corpus)
        if args is None:
            continue
        code = cli.main(args)
        out, err = capsys.readouterr()
        assert code == 0, f"`{line}` failed:\n{out[-2000:]}\n{err[-3000:]}"
        ran.append(args[0])
        if args[0] == "compare":
            assert "higher is better" in out and " on the global representation" in out.splitlines()[-1], out
    assert {"train", "evaluate", "sample", "compare", "convert", "report", "sweep-status"} <= set(ran)
    assert (work / "runs" / "cmi-0.3" / "samples-10x10-seed0.png").exists()
    assert (work / "runs" / "cmi-0.3" / "samples.png").exists(), "evaluate's grid is not overwritten by sample"

    code = readme_python()
    overrides = '"objective.name=cmi", "objective.gamma=0.3"'
    assert overrides in code and 'evaluate_run("runs/api-cmi-0.3")' in code
    tiny_sets = ", ".join(f'"{a}"' for a in TINY_IMAGE[1:-1:2])
    code = code.replace(overrides, f"{overrides}, {tiny_sets}").replace(
        'evaluate_run("runs/api-cmi-0.3")', 'evaluate_run("runs/api-cmi-0.3", ["elbo"])')
    exec(compile(code, "README.md (Python API)", "exec"), {})
    assert (work / "runs" / "api-cmi-0.3" / "eval.json").exists()


def test_the_cli_entry_point_is_the_one_tested() -> None:
    """The ``cmivae`` script of pyproject.toml calls the ``main`` the test above runs."""
    assert 'cmivae = "cmivae.cli:main"' in (REPO / "pyproject.toml").read_text()
    proc = subprocess.run([sys.executable, "-m", "cmivae", "presets"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert proc.returncode == 0 and "pixelcnn-cpu" in proc.stdout


def test_the_readme_states_the_paths_and_counts_the_code_has() -> None:
    """Issue 31 items 5, 6 and 16: what the README states is read back from the code's own
    constants, so a changed default (200 speakers of corpus version 2, not 100) fails here."""
    from cmivae.config import load_config
    from cmivae.data.speech.synthetic_speakers import (
        DEFAULT_NUM_SPEAKERS,
        DEFAULT_NUM_SPEAKERS_V2,
        DEFAULT_VERSION,
        corpus_folder_name,
    )
    from cmivae.metrics.preflight import min_num_train

    text = README.read_text()
    default_corpus = corpus_folder_name(DEFAULT_NUM_SPEAKERS_V2 if DEFAULT_VERSION == 2 else DEFAULT_NUM_SPEAKERS,
                                        DEFAULT_VERSION)
    corpora = re.findall(r"~/\.cache/cmivae/(synthetic-speech[-\w]*)", text)
    assert corpora and set(corpora) == {default_corpus}, f"make-speech builds {default_corpus}, README: {corpora}"
    for line in text.splitlines():  # "N speakers" beside make-speech: the count it builds
        if "make-speech" in line or "data make-speech" in line:
            for count in re.findall(r"\b(\d+) speakers", line):
                v1 = "--corpus-version 1" in line or "version 1" in line
                assert int(count) == (DEFAULT_NUM_SPEAKERS if v1 else DEFAULT_NUM_SPEAKERS_V2), line
    speech_paragraph = text[text.index("`data make-speech` prints its progress"):][:200]
    assert f"the {DEFAULT_NUM_SPEAKERS_V2} speakers" in speech_paragraph, speech_paragraph

    preset = load_config("pixelcnn-cpu")
    stated = re.search(r"`pixelcnn-cpu`: ([\d,]+) training images, (\d+) epochs", text)
    assert stated and (int(stated[1].replace(",", "")), int(stated[2])) == (preset.data.num_train,
                                                                            preset.train.epochs), stated
    minimum = re.search(r"`data\.num_train` of at\s+least ~?([\d,]+)", text)
    assert minimum and int(minimum[1].replace(",", "")) == min_num_train("aolr"), minimum

    commands = [shlex.split(c) for c in readme_commands()]
    fetched = {args[3] for args in commands if args[1:3] == ["data", "fetch"]}
    for args in commands:  # every image preset trained is on a data set the README fetches
        if args[1] == "train" and not any(a.startswith("data.name=") for a in args):
            data = load_config(args[2]).data
            assert not data.is_image or data.name in fetched, \
                f"`{' '.join(args)}` trains on {data.name}; the README fetches {sorted(fetched)}"


def test_the_aolr_minimum_is_what_the_preflight_recommends() -> None:
    """Item 6: one owner (metrics.preflight.MIN_NUM_TRAIN) for the error and the README: a
    1,000-image split short of 100 per class is told that number, not a noisy estimate."""
    import numpy as np

    from cmivae.infra.errors import ConfigError
    from cmivae.metrics.preflight import check_image_metrics, min_num_train

    labels = np.repeat(np.arange(10), [60, *[104] * 9])  # 996 images, the rarest class 60
    assert min_num_train("aolr") == 1500 and min_num_train("mcas") == 200 and min_num_train("elbo") is None
    with pytest.raises(ConfigError, match=rf"--set data.num_train={min_num_train('aolr')} or more"):
        check_image_metrics(["aolr"], labels, 1000)
