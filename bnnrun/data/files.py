"""Where the IDX files of MNIST and Fashion-MNIST come from: looked up, else downloaded.

A data set's four files (:data:`IDX_FILES`) are looked up, in order, in

1. ``dataset.data_dir``, or the data set's environment variable (``BNNRUN_MNIST_DIR``,
   ``BNNRUN_FASHION_MNIST_DIR``);
2. the system location of a distribution package (Debian's ``dataset-fashion-mnist`` installs
   Fashion-MNIST to ``/usr/share/datasets/fashion-mnist``);
3. bnnrun's cache, ``<cache>/data/<name>`` (``~/.cache/bnnrun`` or ``$BNNRUN_CACHE_DIR``).

The first folder that holds all four files wins. If none does and downloads are allowed, the
files are fetched from the data set's public mirrors into the cache, each checked against its
published SHA-256 before it is given its final name. Otherwise a :class:`DataError` lists the
folders searched and where to put the files.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bnnrun.errors import DataError
from bnnrun.rundir import atomic_path
from bnnrun.runtime import default_cache_dir

log = logging.getLogger(__name__)

#: The four files of an MNIST-format data set, by role.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


@dataclass(frozen=True)
class IDXSource:
    """Where one MNIST-format data set may be found.

    Attributes:
        env_var: environment variable naming a folder with the files.
        system_dirs: folders where a distribution package installs them.
        mirrors: base URLs the files can be downloaded from (file name appended).
        sha256: published SHA-256 of each downloaded file, by file name.
    """

    env_var: str
    system_dirs: tuple[str, ...]
    mirrors: tuple[str, ...]
    sha256: dict[str, str]


SOURCES: dict[str, IDXSource] = {
    "mnist": IDXSource(
        env_var="BNNRUN_MNIST_DIR",
        system_dirs=(),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        sha256={
            "train-images-idx3-ubyte.gz": (
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
            ),
            "train-labels-idx1-ubyte.gz": (
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
            ),
            "t10k-images-idx3-ubyte.gz": (
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
            ),
            "t10k-labels-idx1-ubyte.gz": (
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
            ),
        },
    ),
    "fashion_mnist": IDXSource(
        env_var="BNNRUN_FASHION_MNIST_DIR",
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        sha256={
            "train-images-idx3-ubyte.gz": (
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
            ),
            "train-labels-idx1-ubyte.gz": (
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
            ),
            "t10k-images-idx3-ubyte.gz": (
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
            ),
            "t10k-labels-idx1-ubyte.gz": (
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
            ),
        },
    ),
}

#: Opens a URL for reading; injectable so that tests can stand in for the network.
Fetch = Callable[[str], BinaryIO]


def _urlopen(url: str) -> BinaryIO:
    return urllib.request.urlopen(url, timeout=60)


def cache_data_dir(name: str, *, cache_dir: Path | None = None) -> Path:
    """The folder in bnnrun's cache where data set ``name`` is downloaded to."""
    return (cache_dir or default_cache_dir()) / "data" / name


def search_dirs(
    name: str, *, data_dir: str | None, cache_dir: Path | None = None
) -> list[tuple[str, Path]]:
    """The folders searched for data set ``name``, in order, each with what put it there."""
    source = SOURCES[name]
    dirs: list[tuple[str, Path]] = []
    if data_dir:
        dirs.append(("dataset.data_dir", Path(data_dir).expanduser()))
    if env := os.environ.get(source.env_var):
        dirs.append((f"${source.env_var}", Path(env).expanduser()))
    dirs += [("system package", Path(d)) for d in source.system_dirs]
    dirs.append(("cache", cache_data_dir(name, cache_dir=cache_dir)))
    return dirs


def _complete(folder: Path) -> bool:
    return all((folder / f).is_file() for f in IDX_FILES.values())


def _check_folder(what: str, folder: Path) -> None:
    """Refuse a folder the user named (``what``: ``dataset.data_dir`` or an environment
    variable) that is a file, or that holds a directory under an IDX file's name: neither is
    "not found"."""
    if folder.exists() and not folder.is_dir():
        raise DataError(
            f"{what}={folder} is a file, not a directory: it must be the folder of "
            f"{', '.join(IDX_FILES.values())}"
        )
    for filename in IDX_FILES.values():
        if (folder / filename).is_dir():
            raise DataError(f"{folder / filename} is a directory, not an IDX file")


def find_local(
    name: str, *, data_dir: str | None = None, cache_dir: Path | None = None
) -> Path | None:
    """The first folder of :func:`search_dirs` that holds data set ``name``'s four IDX files;
    None if none does (nothing is downloaded).

    Raises:
        DataError: a folder the user named is a file, or holds a directory under an IDX
            file's name; a folder cannot be searched (its name is too long for the file
            system, or it is not readable).
    """
    source = SOURCES[name]
    for what, folder in search_dirs(name, data_dir=data_dir, cache_dir=cache_dir):
        try:
            if what in ("dataset.data_dir", f"${source.env_var}"):
                _check_folder(what, folder)
            if _complete(folder):
                return folder
        except OSError as exc:  # a name too long for the file system, a folder not readable
            raise DataError(f"{what} {folder} cannot be searched: {exc.strerror}") from exc
    return None


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(
    filename: str, *, mirrors: Sequence[str], sha256: str, dest: Path, fetch: Fetch = _urlopen
) -> None:
    """Fetch ``filename`` from the first mirror that serves it with the right SHA-256, into
    ``dest`` (written atomically: a failed or wrong download leaves nothing behind).

    Raises:
        DataError: no mirror served a file with that checksum.
    """
    failures = []
    for base in mirrors:
        url = base + filename
        try:
            with atomic_path(dest) as tmp:
                with contextlib.closing(fetch(url)) as response, open(tmp, "wb") as out:
                    for block in iter(lambda r=response: r.read(1 << 20), b""):
                        out.write(block)
                got = sha256_of(tmp)
                if got != sha256:
                    raise DataError(f"{url}: SHA-256 {got} is not the published {sha256}")
            return
        except DataError as exc:
            failures.append(str(exc))
        except OSError as exc:  # URLError, HTTPError and timeouts are OSErrors
            failures.append(f"{url}: {exc}")
        log.warning("download failed: %s", failures[-1])
    raise DataError(f"could not download {filename}: {'; '.join(failures)}")


def locate(
    name: str,
    *,
    data_dir: str | None = None,
    allow_download: bool = True,
    cache_dir: Path | None = None,
    fetch: Fetch = _urlopen,
) -> Path:
    """The folder holding data set ``name``'s four IDX files, downloading them if need be.

    Raises:
        DataError: the files are nowhere, and could not (or may not) be downloaded.
    """
    source = SOURCES[name]
    dirs = search_dirs(name, data_dir=data_dir, cache_dir=cache_dir)
    found = find_local(name, data_dir=data_dir, cache_dir=cache_dir)
    if found is not None:
        return found
    for what, folder in dirs:
        if what in ("dataset.data_dir", f"${source.env_var}"):
            log.warning("%s=%s lacks some of %s", what, folder, ", ".join(IDX_FILES.values()))
    target = dirs[-1][1]
    searched = ", ".join(str(d) for _, d in dirs)
    where = (
        f"put {', '.join(IDX_FILES.values())} into one of them, or set dataset.data_dir "
        f"(or ${source.env_var}) to their folder"
    )
    if not allow_download:
        raise DataError(
            f"{name} files not found (searched {searched}) and dataset.download=false: {where}"
        )
    log.info("downloading %s into %s", name, target)
    try:
        for filename in IDX_FILES.values():
            if not (target / filename).is_file():
                download(
                    filename,
                    mirrors=source.mirrors,
                    sha256=source.sha256[filename],
                    dest=target / filename,
                    fetch=fetch,
                )
    except DataError as exc:
        raise DataError(f"{name} files not found (searched {searched}); {exc}; {where}") from None
    return target
