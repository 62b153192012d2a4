"""Property-based fuzzing of every reader of user files and of the board protocol's parsers.

Truncated, bit-flipped, wrong-kind and oversized inputs must give either a
correct result or one ``HwtrainError`` line; any other exception (or a hang) is a
bug. Valid inputs still round-trip. Hypothesis runs derandomized without an
example database, so every run tries the same inputs.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import io
import json
import os
import pickle
import signal
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwtrain.errors import HwtrainError

# HWTRAIN_FUZZ_EXAMPLES scales every test (e.g. 2000 for a long hunting run); the
# default keeps the whole file at a few seconds of CPU.
EXAMPLES = int(os.environ.get("HWTRAIN_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck), print_blob=False)
FEW = settings(FUZZ, max_examples=max(1, EXAMPLES // 2))


@contextlib.contextmanager
def time_limit(seconds: float = 10):
    """Fail (instead of hanging) when a reader uses more than ``seconds`` of CPU time.
    CPU time, not wall time: a starved process on a loaded machine does not time out."""
    def expire(*_):
        raise TimeoutError(f"reader still running after {seconds} s of CPU time")
    old = signal.signal(signal.SIGPROF, expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


def check(fn, *args, **kw):
    """``fn(*args)``: its result, or the ``HwtrainError`` it raised (one non-empty line).

    Any other exception propagates and fails the test."""
    try:
        with time_limit():
            return fn(*args, **kw)
    except HwtrainError as e:
        msg = str(e)
        assert msg.strip() and "\n" not in msg and "Traceback" not in msg, repr(msg)
        return e


def ok(result) -> bool:
    return not isinstance(result, HwtrainError)


# --- mutation strategies ---------------------------------------------------------------

@st.composite
def mutated_bytes(draw, raw: bytes) -> bytes:
    """``raw`` truncated, bit-flipped, overwritten, extended, or replaced."""
    kind = draw(st.sampled_from(["truncate", "flip", "flips", "overwrite", "append", "random", "empty"]))
    n = len(raw)
    if kind == "truncate":
        return raw[:draw(st.integers(0, max(n - 1, 0)))]
    if kind in ("flip", "flips"):
        b = bytearray(raw)
        for _ in range(1 if kind == "flip" else draw(st.integers(2, 8))):
            i = draw(st.integers(0, n - 1))
            b[i] ^= 1 << draw(st.integers(0, 7))
        return bytes(b)
    if kind == "overwrite":
        i = draw(st.integers(0, n - 1))
        return raw[:i] + draw(st.binary(min_size=1, max_size=16)) + raw[i + 16:]
    if kind == "append":
        return raw + draw(st.binary(min_size=1, max_size=64))
    if kind == "random":
        return draw(st.binary(max_size=256))
    return b""


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
    | st.text(max_size=6) | st.sampled_from([0, 1, 2, -1, 3, "", "H1", "P0", [], {}, [[1]], 1e300]),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    max_leaves=6)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated_json(draw, obj):
    """A deep copy of ``obj`` with one to three values replaced, deleted or added."""
    obj = json.loads(json.dumps(obj))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(obj))
        path = draw(st.sampled_from(paths))
        if not path:
            if draw(st.integers(0, 9)) == 0:
                return copy.deepcopy(draw(JSON_VALUES))
            continue
        parent = obj
        for k in path[:-1]:
            parent = parent[k]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = copy.deepcopy(draw(JSON_VALUES))
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=4))] = copy.deepcopy(draw(JSON_VALUES))
        else:
            parent.append(copy.deepcopy(draw(JSON_VALUES)))
    return obj


ARRAYS = st.one_of(
    st.builds(lambda shape, dt: np.zeros(shape, dtype=dt),
              st.lists(st.integers(0, 4), max_size=3).map(tuple),
              st.sampled_from([np.int8, np.int32, np.uint32, np.float64, np.bool_, "U3"])),
    st.lists(st.integers(-2**31, 2**31 - 1), max_size=6).map(lambda v: np.array(v, dtype=np.int64)),
    st.just(np.array(np.nan)), st.just(np.array("text")))


@st.composite
def mutated_arrays(draw, arrays: dict) -> dict:
    """``arrays`` with one or two arrays dropped, replaced, reshaped or retyped, or one added."""
    arrays = dict(arrays)
    for _ in range(draw(st.integers(1, 2))):
        name = draw(st.sampled_from(sorted(arrays) + ["extra"]))
        action = draw(st.sampled_from(["drop", "replace", "reshape", "retype", "scale"]))
        if action == "drop" or name not in arrays:
            arrays.pop(name, None)
            if name == "extra":
                arrays[name] = draw(ARRAYS)
        elif action == "replace":
            arrays[name] = draw(ARRAYS)
        elif action == "reshape":
            arrays[name] = arrays[name].reshape(-1)[: draw(st.integers(0, arrays[name].size))]
        elif action == "retype" and arrays[name].dtype.kind in "iubf":
            with np.errstate(all="ignore"):
                arrays[name] = arrays[name].astype(draw(st.sampled_from([np.float32, np.uint8, np.int64, "U4"])))
        else:
            a = arrays[name]
            if a.dtype.kind in "iub":
                arrays[name] = a.astype(np.int64) * draw(st.sampled_from([-1, 0, 3, 2**40]))
    return arrays


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def put(work, name: str, raw: bytes):
    p = work / name
    p.write_bytes(raw)
    return p


def npz_bytes(arrays: dict, compressed: bool = True) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


# --- fixtures: one valid file of each kind -------------------------------------------

@pytest.fixture(scope="module")
def trainer():
    from hwtrain.golden.train import TrainConfig, make_trainer
    tr = make_trainer(TrainConfig(algorithm="cpr", inputs=9, hidden=(6,), classes=2, gamma=(3,),
                                  batch=1, seed=3))
    x = (np.random.default_rng(1).random((8, 9)) > 0.5).astype(np.int8) * 2 - 1
    tr.fit(x, np.arange(8) % 2, epochs=1)          # non-trivial weights, PRNG and schedule state
    return tr


@pytest.fixture(scope="module")
def model_file(trainer, work):
    from hwtrain.golden.train.model import save_model
    p = work / "model.npz"
    save_model(p, trainer)
    return p


@pytest.fixture(scope="module")
def netlist():
    from hwtrain.logic.netlist import Thermometer, random_netlist
    return random_netlist(6, [8, 6], 2, seed=1, skip=True,
                          encoder=Thermometer(np.array([[1, 5, 9], [2, 3, 14]]), 4))


def _model_arrays(path) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _meta(arrays) -> dict:
    return json.loads(arrays["meta"].tobytes().decode())


def _with_meta(arrays, meta) -> dict:
    return {**arrays, "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}


# --- model files ------------------------------------------------------------------------

def test_model_round_trip(trainer, model_file):
    from hwtrain.golden.train.model import load_model
    from hwtrain.inference.model import BinaryMLP
    tr = load_model(model_file)
    assert tr.cfg == trainer.cfg
    for a, b in zip(tr.H + tr.P, trainer.H + trainer.P):
        np.testing.assert_array_equal(a, b)
    for name, st_ in trainer.prng_states().items():
        np.testing.assert_array_equal(tr.prng_states()[name], st_)
    assert (tr.epoch, tr.steps_done, tr.stale) == (trainer.epoch, trainer.steps_done, trainer.stale)
    m = BinaryMLP.load(model_file)
    np.testing.assert_array_equal(m.weights[0], np.where(trainer.H[0] >= 0, 1, -1))
    np.testing.assert_array_equal(m.classifier, trainer.P[-1])


def test_qubo_model_round_trip(work):
    from hwtrain.inference.model import BinaryMLP
    from hwtrain.qubo.model_file import save_qubo_model
    rng = np.random.default_rng(2)
    m = BinaryMLP([rng.choice([-1, 1], (5, 7)).astype(np.int8), rng.choice([-1, 1], (3, 5)).astype(np.int8)],
                  rng.choice([-1, 1], (2, 3)).astype(np.int8))
    save_qubo_model(work / "q.npz", m)
    back = BinaryMLP.load(work / "q.npz")
    for a, b in zip(back.weights + [back.classifier], m.weights + [m.classifier]):
        np.testing.assert_array_equal(a, b)
    from hwtrain.golden.train.model import load_model
    e = check(load_model, work / "q.npz")          # a QUBO model cannot resume training
    assert not ok(e) and "QUBO" in str(e)


def _model_readers(path):
    from hwtrain.golden.train.model import load_model, read_meta
    from hwtrain.inference.model import BinaryMLP
    return [check(f, path) for f in (read_meta, load_model, BinaryMLP.load)]


@FUZZ
@given(data=st.data())
def test_model_file_bytes(model_file, work, data):
    raw = data.draw(mutated_bytes(model_file.read_bytes()))
    _model_readers(put(work, "m_bytes.npz", raw))


@FUZZ
@given(data=st.data())
def test_model_file_uncompressed_bytes(model_file, work, data):
    """Stored (uncompressed) members: flips reach the .npy headers, not only the deflate stream."""
    raw = data.draw(mutated_bytes(npz_bytes(_model_arrays(model_file), compressed=False)))
    _model_readers(put(work, "m_raw.npz", raw))


@FUZZ
@given(data=st.data())
def test_model_file_meta(model_file, work, data):
    arrays = _model_arrays(model_file)
    meta = data.draw(mutated_json(_meta(arrays)))
    p = put(work, "m_meta.npz", npz_bytes(_with_meta(arrays, meta), compressed=False))
    from hwtrain.golden.train.model import load_model
    tr = check(load_model, p)
    if ok(tr):       # whatever loaded must be usable
        x = np.ones((2, tr.cfg.inputs), dtype=np.int8)
        tr.predict(x)
    _model_readers(p)


@FUZZ
@given(data=st.data())
def test_model_file_arrays(model_file, work, data):
    arrays = data.draw(mutated_arrays(_model_arrays(model_file)))
    p = put(work, "m_arrays.npz", npz_bytes(arrays, compressed=False))
    from hwtrain.golden.train.model import load_model
    from hwtrain.inference.model import BinaryMLP
    tr = check(load_model, p)
    if ok(tr):
        tr.predict(np.ones((2, tr.cfg.inputs), dtype=np.int8))
    m = check(BinaryMLP.load, p)
    if ok(m):
        assert all(np.isin(w, (-1, 1)).all() for w in m.weights)


def _wrong_kinds(work, netlist):
    kinds = {
        "directory": work,
        "missing": work / "does-not-exist.npz",
        "empty file": put(work, "empty.npz", b""),
        "empty npz": put(work, "empty_archive.npz", npz_bytes({})),
        "text": put(work, "text.npz", b"hello world\n"),
        "random": put(work, "random.npz", bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8))),
        "pickled objects": put(work, "objects.npz", npz_bytes({"meta": np.array([{"a": 1}, None], dtype=object)})),
        "meta not JSON": put(work, "notjson.npz", npz_bytes({"meta": np.arange(5, dtype=np.uint8)})),
        "meta not utf8": put(work, "notutf8.npz", npz_bytes({"meta": np.array([0xff, 0xfe], dtype=np.uint8)})),
        "meta as text": put(work, "metatext.npz", npz_bytes({"meta": np.array('{"format": 1}')})),
        "zip of text": put(work, "plainzip.npz", _zip({"meta.npy": b"not an npy"})),
        "zip of other": put(work, "otherzip.npz", _zip({"readme.txt": b"hi"})),
    }
    netlist.save(work / "netlist.npz")
    netlist.save(work / "netlist.json")
    kinds["netlist npz"] = work / "netlist.npz"
    kinds["netlist json"] = work / "netlist.json"
    return kinds


def _zip(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, v in members.items():
            z.writestr(k, v)
    return buf.getvalue()


def _npy_header(shape, descr="<i4") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_model_readers_reject_wrong_kinds(work, netlist):
    for kind, path in _wrong_kinds(work, netlist).items():
        for r in _model_readers(path):
            assert not ok(r), kind


def test_npy_headers_numpy_cannot_tokenize(work):
    """numpy parses the .npy header as a Python literal; a damaged one raised
    tokenize.TokenError / SyntaxError past the readers."""
    from hwtrain.npzfile import read_array, read_npz
    for header in (b"{'descr': '<i2', 'fortran_order': False, 'shape':((4, 6), }",
                   b"{'descr': '<i2', 'fortran_order': False, 'shape': (4, 6)]}"):
        raw = b"\x93NUMPY\x01\x00" + len(header + b"\n").to_bytes(2, "little") + header + b"\n" + bytes(48)
        assert not ok(check(read_array, put(work, "tok.npy", raw)))
        assert not ok(check(read_npz, put(work, "tok.npz", _zip({"x.npy": raw}))))


def test_npz_with_forged_huge_array_is_refused_before_allocating(work):
    """A .npy header that declares a terabyte array in a tiny archive."""
    from hwtrain.golden.train.model import read_meta
    from hwtrain.npzfile import read_npz
    p = put(work, "huge.npz", _zip({"meta.npy": _npy_header((1 << 40,), "|u1") + b"{}"}))
    for f in (read_meta, read_npz):
        e = check(f, p)
        assert not ok(e) and "declares" in str(e)


@FUZZ
@given(data=st.data(), fortran=st.booleans(), npz=st.booleans())
def test_single_array_files(work, data, fortran, npz):
    """``read_array``: .npy (or one-array .npz) sample files, e.g. inputs sent to a board."""
    from hwtrain.npzfile import read_array
    x = np.arange(24, dtype=np.int16).reshape(4, 6)
    x = np.asfortranarray(x) if fortran else x
    buf = io.BytesIO()
    np.save(buf, x)
    raw = npz_bytes({"x": x}, compressed=False) if npz else buf.getvalue()
    np.testing.assert_array_equal(read_array(put(work, "ok_arr.npy", raw)), x)
    r = check(read_array, put(work, "arr.npy", data.draw(mutated_bytes(raw))))
    if ok(r):
        assert r.dtype.kind in "biufcSUV"


def test_single_array_readers_reject_wrong_kinds(work, netlist):
    from hwtrain.npzfile import read_array
    kinds = {k: v for k, v in _wrong_kinds(work, netlist).items() if not k.startswith("meta")}  # those hold one array
    kinds["object npy"] = put(work, "obj.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, "
                                               b"'shape': (2,), }" + b" " * 52 + b"\n" + bytes(16))
    kinds["forged npy"] = put(work, "forged.npy", _npy_header((1 << 40,), "<f8"))
    for kind, path in kinds.items():
        assert not ok(check(read_array, path)), kind


# --- logic netlists and the difflogic importer -------------------------------------

def test_netlist_round_trip(netlist, work):
    from hwtrain.logic.netlist import Netlist
    for name in ("rt.json", "rt.npz"):
        netlist.save(work / name)
        back = Netlist.load(work / name)
        assert back.to_dict() == netlist.to_dict()


@FUZZ
@given(data=st.data(), suffix=st.sampled_from([".json", ".npz"]))
def test_netlist_file_bytes(netlist, work, data, suffix):
    from hwtrain.logic.netlist import Netlist
    netlist.save(work / f"nl_ok{suffix}")
    raw = data.draw(mutated_bytes((work / f"nl_ok{suffix}").read_bytes()))
    check(Netlist.load, put(work, f"nl_bytes{suffix}", raw))


@FUZZ
@given(data=st.data())
def test_netlist_json_fields(netlist, work, data):
    from hwtrain.golden.logic import LogicNetwork
    from hwtrain.logic.netlist import Netlist
    d = data.draw(mutated_json(netlist.to_dict()))
    nl = check(Netlist.load, put(work, "nl_fields.json", json.dumps(d).encode()))
    if ok(nl):                   # a netlist that loads must evaluate
        LogicNetwork(nl).predict_bits(np.zeros((2, nl.inputs), dtype=np.uint8))


@FUZZ
@given(data=st.data())
def test_netlist_npz_arrays(netlist, work, data):
    from hwtrain.logic.netlist import Netlist
    netlist.save(work / "nl_src.npz")
    arrays = _model_arrays(work / "nl_src.npz")
    if data.draw(st.booleans()):
        header = data.draw(mutated_json(json.loads(str(arrays["header"]))))
        arrays["header"] = np.array(json.dumps(header))
    else:
        arrays = data.draw(mutated_arrays(arrays))
    check(Netlist.load, put(work, "nl_arrays.npz", npz_bytes(arrays, compressed=False)))


def test_netlist_rejects_wrong_kinds(work, netlist, model_file):
    from hwtrain.logic.netlist import Netlist
    kinds = {k: v for k, v in _wrong_kinds(work, netlist).items() if not k.startswith("netlist")}
    kinds["model file"] = model_file
    kinds["binary .json"] = put(work, "binary.json", b"\xff\xfe\x00garbage")
    for kind, path in kinds.items():
        assert not ok(check(Netlist.load, path)), kind


@FUZZ
@given(layers=st.lists(st.tuples(ARRAYS | st.lists(st.integers(-3, 20), max_size=4),
                                 ARRAYS | st.lists(st.integers(-3, 20), max_size=4),
                                 ARRAYS | st.lists(st.integers(-3, 20), max_size=4)), max_size=3),
       classes=st.integers(-1, 4), inputs=st.integers(-1, 6),
       tau=st.sampled_from([1.0, 0.0, -1.0, float("nan"), "x"]))
def test_difflogic_import(layers, classes, inputs, tau):
    from hwtrain.logic.netlist import from_difflogic
    check(from_difflogic, layers, classes, inputs=inputs, tau=tau)


def test_difflogic_import_round_trip():
    from hwtrain.golden.logic import LogicNetwork
    from hwtrain.logic.netlist import from_difflogic
    rng = np.random.default_rng(4)
    w = rng.random((6, 16))
    nl = from_difflogic([(w, rng.integers(0, 4, 6), rng.integers(0, 4, 6)),
                         (rng.integers(0, 16, 4), rng.integers(0, 6, 4), rng.integers(0, 6, 4))],
                        2, inputs=4)
    np.testing.assert_array_equal(nl.layers[0].op, w.argmax(axis=1))
    LogicNetwork(nl).predict_bits(np.zeros((1, 4), dtype=np.uint8))


# --- configuration JSON ---------------------------------------------------------------

def _config_cases():
    from hwtrain.config import DatapathConfig, PrngConfig
    from hwtrain.golden.annealer import AnnealerConfig
    from hwtrain.golden.bop import BopConfig
    from hwtrain.golden.ep import EpConfig
    from hwtrain.golden.train import TrainConfig
    from hwtrain.inference.config import InferenceConfig
    return [
        (DatapathConfig, DatapathConfig(inputs=9, neurons=3).to_dict()),
        (PrngConfig, PrngConfig(lanes=3).to_dict()),
        (InferenceConfig, InferenceConfig(sizes=(16, 8, 4), classes=3, impl=("folded:2x4", "serial:2")).to_dict()),
        (TrainConfig, TrainConfig(algorithm="bep", inputs=9, hidden=(6, 4), classes=2).to_dict()),
        (TrainConfig, TrainConfig(algorithm="bep_tt", inputs=4, hidden=(6, 4), classes=2, steps=3).to_dict()),
        (EpConfig, EpConfig(inputs=8, hidden=6, classes=2, replicas=2).to_dict()),
        (BopConfig, BopConfig().to_dict()),
        (AnnealerConfig, {"h": [1, -2], "J": [[0, 1], [1, 0]], "betas": [0.5, 1.0], "sweeps": 2,
                          "lut_depth": 16, "seed": 1}),
    ]


def test_configs_round_trip():
    for cls, d in _config_cases():
        cfg = cls.from_dict(d)
        assert cls.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


@settings(FUZZ, max_examples=2 * EXAMPLES)
@given(data=st.data(), case=st.integers(0, 7))
def test_config_fields(data, case):
    cls, d = _config_cases()[case]
    cfg = check(cls.from_dict, data.draw(mutated_json(d)))
    if ok(cfg):
        assert cls.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


@pytest.mark.parametrize("case", [
    ("inference", {"sizes": [16, 10**12], "classes": 3, "impl": ["folded:7x1"]}),
    ("inference", {"sizes": [10**12 + 1, 4], "classes": 3, "impl": ["serial:7"]}),
    ("train", {"algorithm": "bep", "inputs": 9, "hidden": [10**12], "classes": 2, "gamma": [7]}),
], ids=["folded", "serial", "train"])
def test_configs_with_huge_sizes_answer_quickly(case):
    """A mistyped size (10**12) must not make the error message enumerate its divisors forever."""
    from hwtrain.golden.train import TrainConfig
    from hwtrain.inference.config import InferenceConfig
    kind, d = case
    r = check((InferenceConfig if kind == "inference" else TrainConfig).from_dict, d)
    assert not ok(r) and "divisors" in str(r)


@FEW
@given(text=st.text(max_size=40) | st.binary(max_size=40).map(lambda b: b.decode("latin1")))
def test_config_json_text(text):
    from hwtrain.golden.ep import EpConfig
    from hwtrain.golden.train import TrainConfig
    for cls in (TrainConfig, EpConfig):
        check(cls.from_json, text)


@FEW
@given(data=st.data(), case=st.sampled_from([2, 3]))
def test_board_design_json(work, data, case):
    """``config_from_design``: a .json inference or training configuration for a board."""
    from hwtrain.boards.design import config_from_design
    d = data.draw(mutated_json(_config_cases()[case][1]))
    raw = json.dumps(d).encode() if data.draw(st.integers(0, 3)) else data.draw(mutated_bytes(json.dumps(d).encode()))
    check(config_from_design, str(put(work, "design.json", raw)))


def test_board_design_wrong_kinds(work, netlist):
    from hwtrain.boards.design import config_from_design
    for kind, path in _wrong_kinds(work, netlist).items():
        r = check(lambda p: config_from_design(str(p)).load_model(), path)
        assert not ok(r), kind


# --- dimod BQM files -----------------------------------------------------------------

@pytest.fixture(scope="module")
def bqm_bytes():
    pytest.importorskip("dimod")
    from hwtrain.qubo.formulation import Qubo
    q = Qubo(3, np.array([1, -2, 0]), np.array([0, 1]), np.array([1, 2]), np.array([3, -1]), 4)
    return q, q.to_bqm().to_file().read()


def test_bqm_round_trip(bqm_bytes, work):
    from hwtrain.qubo.formulation import read_bqm
    q, raw = bqm_bytes
    back = read_bqm(put(work, "ok.bqm", raw))
    x = np.array(np.meshgrid(*[[0, 1]] * 3)).reshape(3, -1).T
    np.testing.assert_array_equal(back.energy(x), q.energy(x))


@FUZZ
@given(data=st.data())
def test_bqm_file_bytes(bqm_bytes, work, data):
    from hwtrain.qubo.formulation import read_bqm
    q = check(read_bqm, put(work, "fuzz.bqm", data.draw(mutated_bytes(bqm_bytes[1]))))
    if ok(q):
        q.energy(np.zeros((1, q.n), dtype=np.int8))


def test_bqm_with_negative_neighbour_index_is_refused_not_a_crash(bqm_bytes, work):
    """dimod 0.12's from_file dies with a segmentation fault on this file; read_bqm refuses it."""
    from hwtrain.qubo.formulation import read_bqm
    raw = bytearray(bqm_bytes[1])
    hlen = struct.unpack("<I", raw[10:14])[0]
    quad = 14 + hlen + 8 + 3 * 12                     # after the offset and three (nidx, bias) rows
    raw[quad:quad + 4] = (-5).to_bytes(4, "little", signed=True)
    r = check(read_bqm, put(work, "negative.bqm", bytes(raw)))
    assert not ok(r) and "neighbour index" in str(r)


def test_bqm_wrong_kinds(bqm_bytes, work, netlist, model_file):
    import dimod

    from hwtrain.qubo.formulation import read_bqm
    kinds = dict(_wrong_kinds(work, netlist), model=model_file)
    kinds["labels"] = put(work, "labels.bqm", dimod.BQM({"a": 1.0}, {}, 0.0, "BINARY").to_file().read())
    kinds["fractional"] = put(work, "frac.bqm", dimod.BQM({0: 0.5}, {}, 0.0, "BINARY").to_file().read())
    kinds["infinite"] = put(work, "inf.bqm", dimod.BQM({0: float("inf")}, {}, 0.0, "BINARY").to_file().read())
    kinds["huge"] = put(work, "big.bqm", dimod.BQM({0: 1e30}, {}, 0.0, "BINARY").to_file().read())
    for kind, path in kinds.items():
        assert not ok(check(read_bqm, path)), kind


# --- IDX, MNIST pickle, UCR .ts -------------------------------------------------------

def _idx(arr: np.ndarray, code: int) -> bytes:
    return bytes([0, 0, code, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape) + \
        arr.astype(arr.dtype.newbyteorder(">")).tobytes()


IMAGES = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 2, 2)
LABELS = np.array([1, 0, 9], dtype=np.uint8)


def test_idx_round_trip(work):
    from hwtrain.data.files import load_idx_dir, read_idx
    for code, arr in ((0x08, IMAGES), (0x0C, IMAGES.astype(">i4") - 5), (0x0D, IMAGES.astype(">f4") / 3)):
        np.testing.assert_array_equal(read_idx(put(work, "a.idx", _idx(arr, code))), arr)
        np.testing.assert_array_equal(read_idx(put(work, "a.idx.gz", gzip.compress(_idx(arr, code)))), arr)
    d = work / "idxdir"
    d.mkdir(exist_ok=True)
    for prefix in ("train", "t10k"):
        put(d, f"{prefix}-images-idx3-ubyte", _idx(IMAGES, 0x08))
        put(d, f"{prefix}-labels-idx1-ubyte.gz", gzip.compress(_idx(LABELS, 0x08)))
    ds = load_idx_dir(d)
    np.testing.assert_array_equal(ds.x_train, IMAGES.reshape(3, 4))


@FUZZ
@given(data=st.data(), gz=st.booleans())
def test_idx_bytes(work, data, gz):
    from hwtrain.data.files import read_idx
    raw = data.draw(mutated_bytes(_idx(IMAGES, 0x08)))
    r = check(read_idx, put(work, "f.idx", gzip.compress(raw) if gz else raw))
    if ok(r):
        assert r.size * r.itemsize == len(raw) - 4 - 4 * r.ndim


@FUZZ
@given(code=st.integers(0, 255), dims=st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 4), max_size=6),
       nd_extra=st.integers(-2, 300), body=st.integers(0, 64))
def test_idx_headers_including_huge_sizes(work, code, dims, nd_extra, body):
    """Forged headers: any element type, any rank (up to 255), sizes up to 2**32 - 1 per axis."""
    from hwtrain.data.files import read_idx
    nd = max(0, min(255, len(dims) + nd_extra if nd_extra > 0 else len(dims)))
    raw = bytes([0, 0, code, nd]) + b"".join(d.to_bytes(4, "big") for d in dims) + bytes(body)
    r = check(read_idx, put(work, "h.idx", raw))
    if ok(r):
        assert r.ndim == nd


def test_idx_empty_array_with_huge_axes(work):
    """Shape (0, 119361, 2696556, 28656150): zero bytes, so the size check passes, but
    numpy refuses the shape (ValueError 'array is too big')."""
    from hwtrain.data.files import read_idx
    raw = bytes([0, 0, 8, 4]) + b"".join(d.to_bytes(4, "big") for d in (0, 119361, 2696556, 28656150))
    r = check(read_idx, put(work, "zero.idx", raw))
    assert not ok(r) and "shape" in str(r)


def test_idx_readers_reject_wrong_kinds(work, netlist):
    from hwtrain.data.files import load_idx_dir, read_idx
    for kind, path in _wrong_kinds(work, netlist).items():
        assert not ok(check(read_idx, path)), kind
    assert not ok(check(load_idx_dir, work / "netlist.json"))
    d = work / "mixed"
    d.mkdir(exist_ok=True)
    for prefix in ("train", "t10k"):
        put(d, f"{prefix}-images-idx3-ubyte", _idx(IMAGES, 0x08))
        put(d, f"{prefix}-labels-idx1-ubyte", _idx(IMAGES, 0x08))      # labels of the wrong rank
    assert not ok(check(load_idx_dir, d))


def _pkl(obj) -> bytes:
    return gzip.compress(pickle.dumps(obj, protocol=2))


VALID_MNIST = tuple((np.zeros((n, 4), dtype=np.float32), np.arange(n) % 10) for n in (3, 2, 2))


def test_mnist_pickle_round_trip(work):
    from hwtrain.data.files import load_mnist_pkl
    ds = load_mnist_pkl(put(work, "mnist.pkl.gz", _pkl(VALID_MNIST)), merge_validation=True)
    assert ds.x_train.shape == (5, 4) and list(ds.y_test) == [0, 1]


PY_OBJECTS = st.recursive(
    st.none() | st.integers() | st.text(max_size=3) | st.binary(max_size=3) | st.floats()
    | st.builds(lambda n, k: np.zeros((n, k)), st.integers(0, 3), st.integers(0, 3))
    | st.builds(lambda n: np.arange(n), st.integers(0, 3)),
    lambda c: st.lists(c, max_size=3) | st.lists(c, max_size=3).map(tuple)
    | st.dictionaries(st.integers(0, 3), c, max_size=2),
    max_leaves=8)


@FUZZ
@given(obj=PY_OBJECTS | st.lists(PY_OBJECTS, min_size=3, max_size=3).map(tuple)
       | st.tuples(*[st.tuples(PY_OBJECTS, PY_OBJECTS)] * 3))
def test_mnist_pickle_arbitrary_objects(work, obj):
    from hwtrain.data.files import load_mnist_pkl
    check(load_mnist_pkl, put(work, "obj.pkl.gz", _pkl(obj)))


@FUZZ
@given(data=st.data())
def test_mnist_pickle_bytes(work, data):
    from hwtrain.data.files import load_mnist_pkl
    raw = pickle.dumps(VALID_MNIST, protocol=2)
    check(load_mnist_pkl, put(work, "b.pkl.gz", gzip.compress(data.draw(mutated_bytes(raw)))))
    check(load_mnist_pkl, put(work, "c.pkl.gz", data.draw(mutated_bytes(gzip.compress(raw)))))


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_mnist_pickle_refuses_code_and_wrong_kinds(work, netlist):
    from hwtrain.data.files import load_mnist_pkl
    for obj in (_Evil(), (VALID_MNIST[0], VALID_MNIST[1], _Evil()), {1, 2}, complex(1, 2)):
        r = check(load_mnist_pkl, put(work, "evil.pkl.gz", _pkl(obj)))
        assert not ok(r)
    for kind, path in _wrong_kinds(work, netlist).items():
        assert not ok(check(load_mnist_pkl, path)), kind
    assert not ok(check(load_mnist_pkl, put(work, "zip.whl", _zip({"mnist/data/mnist.pkl.gz": b"no gzip"}))))


TS = """# toy
@problemName Toy
@classLabel true a b
@data
1,2,3:4,5,6:a
2,3,4:5,6,7:b
"""

TS_TOKENS = st.sampled_from(["@data", "@classLabel", "@classlabel true", "@classlabel false a", "#", ":", ",",
                             "1", "-2.5", "?", "NaN", "inf", "1e999", "a", "\n", " ", "\x00", "é"])


def test_ts_round_trip():
    from hwtrain.data.files import parse_ts
    series, labels = parse_ts(TS)
    assert labels == ["a", "b"] and series[1].tolist() == [[2, 3, 4], [5, 6, 7]]


@FUZZ
@given(text=st.lists(TS_TOKENS, max_size=30).map("".join) | st.text(max_size=60), data=st.data())
def test_ts_text(text, data):
    from hwtrain.data.files import parse_ts
    check(parse_ts, text)
    check(parse_ts, data.draw(mutated_bytes(TS.encode())).decode("utf-8", "replace"))


def test_ucr_reader_wrong_kinds(work, netlist):
    from hwtrain.data.files import load_ucr
    d = work / "ucr"
    d.mkdir(exist_ok=True)
    put(d, "Bin_TRAIN.ts", bytes(range(256)))
    put(d, "Bin_TEST.ts", TS.encode())
    assert not ok(check(load_ucr, "Bin", str(d)))
    assert not ok(check(load_ucr, "Toy", str(work / "netlist.json")))
    assert not ok(check(load_ucr, "Toy", str(put(work, "bad.whl", _zip({"Toy_TRAIN.ts": b"@data\n"})))))


# --- board protocol frame parsers ---------------------------------------------------

@pytest.fixture(scope="module")
def spec():
    from hwtrain.protocol import board as P
    return P.BoardSpec(input_bits=12, classes=3, logit_bits=5, max_payload=16, design_id=0x1234)


FRAMES = st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=20)), max_size=5)


@FUZZ
@given(frames=FRAMES, cuts=st.lists(st.integers(0, 200), max_size=6))
def test_reply_decoder_reassembles_valid_frames(frames, cuts):
    from hwtrain.protocol import board as P
    stream = b"".join(P.encode_frame(c, p) for c, p in frames)
    dec, got = P.ReplyDecoder(), []
    edges = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    for a, b in zip(edges, edges[1:]):
        got += check(dec.feed, stream[a:b])
    assert got == [(c, p, True) for c, p in frames] and dec.dropped == 0


@FUZZ
@given(data=st.data(), frames=FRAMES)
def test_reply_decoder_on_damaged_streams(data, frames):
    from hwtrain.protocol import board as P
    stream = data.draw(mutated_bytes(b"".join(P.encode_frame(c, p) for c, p in frames) or b"\xa5"))
    dec = P.ReplyDecoder()
    frames = check(dec.feed, stream)
    for cmd, payload, crc_ok in frames:
        assert not crc_ok or P.encode_frame(cmd, payload) in stream
    # every byte is in a frame, dropped, or waiting for the rest of its frame
    assert sum(5 + len(p) for _, p, _ in frames) + dec.dropped + len(dec.buf) == len(stream)
    assert check(dec.needed) >= 1


@FUZZ
@given(data=st.data())
def test_board_model_on_arbitrary_bytes(spec, data):
    from hwtrain.protocol import board as P
    model = P.BoardModel(spec, lambda payload: spec.encode_results(
        [0] * (len(payload) // spec.sample_bytes), [[0] * spec.classes] * (len(payload) // spec.sample_bytes)))
    good = P.encode_frame(P.INFER, bytes(4))
    raw = data.draw(mutated_bytes(good + P.encode_frame(P.PING) + P.encode_frame(P.COUNTERS) + good))
    out = check(model.feed, raw) + check(model.timeout)
    replies = P.ReplyDecoder().feed(out)
    assert all(c for _, _, c in replies) and len(out) == sum(5 + len(p) for _, p, _ in replies)


def test_board_spec_info_round_trip(spec):
    from hwtrain.protocol import board as P
    back = P.BoardSpec.from_info(spec.info_bytes(), divisor=spec.divisor, timeout_clocks=spec.timeout_clocks)
    assert back == spec
    cls, logits = np.array([2, 0]), np.array([[1, -2, 3], [-16, 15, 0]])
    c2, l2 = spec.decode_results(spec.encode_results(cls, logits))
    np.testing.assert_array_equal(c2, cls)
    np.testing.assert_array_equal(l2, logits)
    counts = dict(zip(P.COUNTER_NAMES, range(7)))
    assert P.decode_counters(struct.pack("<7I", *range(7))) == counts


@FUZZ
@given(data=st.data(), spec_raw=st.binary(max_size=24))
def test_board_spec_and_result_decoders(spec, data, spec_raw):
    from hwtrain.protocol import board as P
    info = data.draw(mutated_bytes(spec.info_bytes()))
    for raw in (info, spec_raw, bytes([P.PROTOCOL_VERSION]) + spec_raw[1:]):
        s = check(P.BoardSpec.from_info, raw)
        if ok(s):
            assert s.result_bytes >= 1 and s.sample_bytes >= 1 and s.max_samples >= 1
            check(s.decode_results, data.draw(st.binary(max_size=40)))
    results = spec.encode_results([1, 2], [[1, 2, 3], [4, 5, 6]])
    r = check(spec.decode_results, data.draw(mutated_bytes(results)))
    if ok(r):
        assert len(r[0]) == r[1].shape[0]
    check(P.decode_counters, data.draw(st.binary(max_size=40)))
