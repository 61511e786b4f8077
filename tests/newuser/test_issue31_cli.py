"""Issue 31, small CLI items: ``--num-speakers 0`` refused (1), whole preset descriptions
without internal issue numbers (12)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cmivae import cli
from cmivae.config import list_presets


@pytest.mark.parametrize("count", ["0", "-3"])
def test_make_speech_refuses_zero_speakers_like_negative(count: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "corpus"
    assert cli.main(["data", "make-speech", "--num-speakers", count, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: num_speakers must be an integer >= 3") and f"got {count}" in err, err
    assert not out.exists()


def test_presets_show_whole_sentences_and_no_issue_numbers(capsys) -> None:
    assert cli.main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list_presets()
    for line in lines:
        description = line.split(maxsplit=1)[1]
        assert description.endswith("."), f"cut mid-sentence: {line}"
        assert description.count("(") == description.count(")"), line
        assert not re.search(r"\bissue\s*\d", description, re.IGNORECASE), f"internal issue number: {line}"


def test_a_bad_wav_is_one_clean_sentence(tmp_path: Path, capsys) -> None:
    from cmivae.data.speech.audio import read_audio
    from cmivae.infra.errors import DataError

    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"this is not audio at all" * 20)
    with pytest.raises(DataError) as err:
        read_audio(bad)
    message = str(err.value)
    assert message == (f"cannot read audio file {bad} (format not recognised); check that it is a WAV, FLAC or "
                       f"NIST SPHERE file, or remove it"), message
    assert "0x" not in message and "BytesIO" not in message


def test_data_import_of_a_yaml_file_is_one_clean_sentence(tmp_path: Path, capsys) -> None:
    yaml_file = tmp_path / "config.yaml"
    yaml_file.write_text("data:\n  name: mnist\n")
    assert cli.main(["data", "import", str(yaml_file), "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {yaml_file} is not a readable cmivae data pack (not an .npz file); give the .npz file "
                   f"that `cmivae data pack NAME --out FILE` wrote\n"), err
    assert "pickle" not in err


def test_a_dry_run_into_another_sweeps_directory_says_what_is_there(tmp_path: Path, capsys) -> None:
    """Item 17: the dry run of one file into a directory holding another file's runs."""
    from cmivae.sweeps.runner import run_sweep
    from tests.sweeps.test_sweeps import fake_evaluate, tiny_data, write_sweep

    first = write_sweep(tmp_path, grid={"objective.name": ["mi"], "objective.gamma": [0.7], "train.seed": [3]},
                        name="first.yaml")
    run_sweep(first, tmp_path / "out", data_loader=tiny_data, evaluator=fake_evaluate, log=lambda m: None)
    second = write_sweep(tmp_path, name="second.yaml")
    assert cli.main(["sweep", str(second), "--dry-run", "--out", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines[1:5]] == ["new"] * 4
    note = lines[-1]
    assert note.startswith(f"note: {tmp_path / 'out'}: its sweep.json is of sweep file {first} and it holds 1 run "
                           f"directory this file does not list"), note
    assert "use another --out" in note
    assert cli.main(["sweep", str(first), "--dry-run", "--out", str(tmp_path / "out")]) == 0
    assert "note:" not in capsys.readouterr().out, "its own directory: nothing to say"
