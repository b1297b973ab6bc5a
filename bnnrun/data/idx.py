"""The IDX file format of MNIST and Fashion-MNIST, gzipped: read, checked, never guessed.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian uint32 per dimension, then the values in C order. MNIST's files hold unsigned
bytes (type ``0x08``): images ``[n, rows, cols]`` and labels ``[n]``. A file that is not gzip,
is cut short, has a bad CRC or a header that does not match its length raises
:class:`~bnnrun.errors.DataError`; it never yields partial data.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from bnnrun.errors import DataError

_UBYTE = 0x08


def _fail(path: Path, what: str) -> DataError:
    return DataError(
        f"{path}: {what}; the file is truncated or corrupt: delete it and put a complete copy "
        "there (or let bnnrun download it again)"
    )


def read_idx(path: Path | str, *, ndim: int) -> np.ndarray:
    """The uint8 array in a gzipped IDX file with ``ndim`` dimensions.

    Raises:
        DataError: the file is missing, not gzip, truncated, corrupt, not unsigned bytes, or
            has another number of dimensions than ``ndim``.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a directory, not an IDX file") from None
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise _fail(path, f"cannot decompress it ({exc})") from None
    return _parse(path, raw, ndim=ndim)


def read_idx_shape(path: Path | str, *, ndim: int) -> tuple[int, ...]:
    """The shape that a gzipped IDX file's header declares, read without decompressing the
    rest (what a run checks before it starts; :func:`read_idx` checks the whole file).

    Raises:
        DataError: the file is missing, a directory, not gzip, or its header is not that of
            an IDX file of unsigned bytes with ``ndim`` dimensions.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read(4 + 4 * ndim)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a directory, not an IDX file") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise _fail(path, f"cannot decompress it ({exc})") from None
    _check_header(path, raw, ndim=ndim)
    return struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])


def _check_header(path: Path, raw: bytes, *, ndim: int) -> None:
    if len(raw) < 4:
        raise _fail(path, f"only {len(raw)} bytes after decompression, not an IDX header")
    zero, type_code, dims = struct.unpack(">HBB", raw[:4])
    if zero != 0 or type_code != _UBYTE or dims != ndim:
        raise _fail(
            path,
            f"its header (magic {raw[:4].hex()}) is not an IDX file of unsigned bytes with "
            f"{ndim} dimensions (magic {(_UBYTE << 8 | ndim):08x})",
        )
    if len(raw) < 4 + 4 * ndim:
        raise _fail(path, "its header is cut short")


def _parse(path: Path, raw: bytes, *, ndim: int) -> np.ndarray:
    """The array of a whole decompressed IDX file ``raw``, checked against its header."""
    _check_header(path, raw, ndim=ndim)
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != expected:
        raise _fail(
            path,
            f"its header promises {expected} values of shape {shape} but it holds "
            f"{len(raw) - header}",
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
