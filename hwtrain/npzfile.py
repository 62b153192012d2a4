"""Safe reading of files users name: NumPy ``.npz`` archives, error text.

Every reader of an ``.npz`` (model files, netlists) goes through
:func:`read_npz`: it never unpickles, checks each member's declared shape and
dtype against the bytes the archive really holds before allocating anything
(a forged header cannot ask for terabytes), caps a member's size, and turns
every way the file can be broken (not a zip, truncated, CRC error, bad
compression stream, bad ``.npy`` header, object arrays) into one
``HwtrainError`` line that names the file and what was expected.
"""

from __future__ import annotations

import math
import os
import tokenize
import zipfile
import zlib

import numpy as np

from .errors import HwtrainError, require

#: Largest uncompressed member hwtrain reads (bytes); larger ones are refused.
MAX_MEMBER_BYTES = 1 << 31


def one_line(text) -> str:
    """``text`` (e.g. a library's exception message) with its whitespace runs, line
    breaks included, collapsed to single spaces: for ``HwtrainError`` messages."""
    return " ".join(str(text).split())


def read_npz(path, what: str = "a NumPy .npz archive") -> dict[str, np.ndarray]:
    """All arrays of the ``.npz`` at ``path`` by name (``x.npy`` -> ``x``).

    ``what`` names the expected content in error messages (``"an hwtrain model file"``).
    """
    path = os.fspath(path)
    require(os.path.exists(path), f"cannot read {path}: no such file (expected {what})")
    require(os.path.isfile(path), f"cannot read {path}: it is a directory, expected {what}")
    try:
        with zipfile.ZipFile(path) as zf:
            return {_name(info): _member(zf, info) for info in zf.infolist()}
    except HwtrainError as e:
        raise HwtrainError(f"{path} is not {what}: {e}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError,
            NotImplementedError, RuntimeError, OverflowError, SyntaxError, tokenize.TokenError) as e:
        # RuntimeError: encrypted member; NotImplementedError: unknown compression;
        # SyntaxError, TokenError: numpy parses a damaged .npy header as Python.
        reason = one_line(getattr(e, "strerror", None) or e) or type(e).__name__
        raise HwtrainError(f"{path} is not {what} ({type(e).__name__}: {reason})") from None


def _name(info: zipfile.ZipInfo) -> str:
    require(info.filename.endswith(".npy"), f"member {info.filename!r} is not a .npy array")
    return info.filename[:-4]


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    require(info.file_size <= MAX_MEMBER_BYTES,
            f"array {info.filename} declares {info.file_size} bytes, more than the {MAX_MEMBER_BYTES} "
            f"hwtrain reads")
    with zf.open(info) as f:
        arr = _npy(f, info.file_size, info.filename)
        f.read()                                # to the end: zipfile checks the CRC there
    return arr


def _npy(f, size: int, name: str) -> np.ndarray:
    """The array of the ``.npy`` stream ``f`` of ``size`` bytes, checked before allocating."""
    version = np.lib.format.read_magic(f)
    require(version in ((1, 0), (2, 0), (3, 0)), f"array {name} has .npy format version {version}")
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    require(not dtype.hasobject,
            f"array {name} holds Python objects (pickled data); hwtrain files hold plain numbers only")
    require(len(shape) <= 32 and all(isinstance(s, int) and s >= 0 for s in shape),
            f"array {name} has a malformed shape {shape}")
    nbytes = math.prod(shape) * dtype.itemsize
    header = f.tell()
    require(nbytes == size - header,
            f"array {name} declares shape {shape} of {dtype} ({nbytes} bytes) but holds "
            f"{size - header} bytes")
    raw = f.read(nbytes)
    require(len(raw) == nbytes, f"array {name} is truncated")
    if fortran:
        return np.frombuffer(raw, dtype=dtype).reshape(shape[::-1]).T.copy()
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def read_array(path, what: str = "a NumPy array (.npy, or an .npz holding one array)") -> np.ndarray:
    """One array from a ``.npy`` file, or the only array of an ``.npz``, read as safely
    as :func:`read_npz` (e.g. sample files handed to a board)."""
    path = os.fspath(path)
    require(os.path.exists(path), f"cannot read {path}: no such file (expected {what})")
    require(os.path.isfile(path), f"cannot read {path}: it is a directory, expected {what}")
    if zipfile.is_zipfile(path):
        arrays = read_npz(path, what)
        require(len(arrays) == 1, f"{path} holds {len(arrays)} arrays ({', '.join(sorted(arrays))}); "
                                  f"expected {what}")
        return next(iter(arrays.values()))
    size = os.path.getsize(path)
    require(size <= MAX_MEMBER_BYTES, f"{path} has {size} bytes, more than the {MAX_MEMBER_BYTES} hwtrain reads")
    try:
        with open(path, "rb") as f:
            return _npy(f, size, os.path.basename(path))
    except HwtrainError as e:
        raise HwtrainError(f"{path} is not {what}: {e}") from None
    except (OSError, ValueError, EOFError, OverflowError, SyntaxError, tokenize.TokenError) as e:
        reason = one_line(getattr(e, "strerror", None) or e) or type(e).__name__
        raise HwtrainError(f"{path} is not {what} ({type(e).__name__}: {reason})") from None
