"""Netlist format v1: gate semantics, load/save, malformed files, difflogic import, pruning."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from hwtrain.errors import HwtrainError
from hwtrain.golden.logic import LogicNetwork
from hwtrain.logic.netlist import (GATE_NAMES, FORMAT, GroupSum, Layer, Netlist, Thermometer,
                                   from_difflogic, gate_value, random_netlist)
from hwtrain.logic.prune import prune

# difflogic's relaxed functions (bin_op in difflogic/functional.py), evaluated at 0/1.
DIFFLOGIC = [
    lambda a, b: 0, lambda a, b: a * b, lambda a, b: a - a * b, lambda a, b: a,
    lambda a, b: b - a * b, lambda a, b: b, lambda a, b: a + b - 2 * a * b,
    lambda a, b: a + b - a * b, lambda a, b: 1 - (a + b - a * b),
    lambda a, b: 1 - (a + b - 2 * a * b), lambda a, b: 1 - b, lambda a, b: 1 - b + a * b,
    lambda a, b: 1 - a, lambda a, b: 1 - a + a * b, lambda a, b: 1 - a * b, lambda a, b: 1,
]


def test_gate_ids_follow_difflogic_order():
    for op in range(16):
        for a, b in itertools.product((0, 1), repeat=2):
            assert gate_value(op, a, b) == DIFFLOGIC[op](a, b), (op, GATE_NAMES[op], a, b)
    assert GATE_NAMES[1] == "a_and_b" and GATE_NAMES[6] == "a_xor_b" and GATE_NAMES[7] == "a_or_b"


def naive_outputs(nl: Netlist, bits: np.ndarray) -> np.ndarray:
    """Per-sample, per-gate evaluation straight from the format's definition."""
    op, a, b = nl.all_gates()
    out = []
    for row in bits:
        v = list(int(x) for x in row)
        for o, x, y in zip(op.tolist(), a.tolist(), b.tolist()):
            v.append(gate_value(o, v[x], v[y]))
        out.append([v[j] for j in nl.outputs])
    return np.array(out)


@pytest.mark.parametrize("samples", [1, 63, 64, 65, 130])
def test_bit_parallel_evaluator_matches_naive(samples):
    nl = random_netlist(7, [20, 15, 9], 3, seed=samples, skip=True)
    bits = np.random.default_rng(samples).integers(0, 2, (samples, 7))
    assert (LogicNetwork(nl).output_bits(bits) == naive_outputs(nl, bits)).all()


def test_thermometer_and_groupsum_semantics():
    enc = Thermometer(np.array([[2, 5], [0, 7]]), 3)
    # identity net: outputs are the 4 encoded bits, 2 classes of 2
    nl = Netlist(4, [], np.arange(4), GroupSum(2), enc)
    g = LogicNetwork(nl)
    x = np.array([[2, 0], [3, 1], [6, 7], [5, 7], [0, 0]])
    assert g.encode(x).tolist() == [[0, 0, 0, 0], [1, 0, 1, 0], [1, 1, 1, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    assert g.counts(x).tolist() == [[0, 0], [1, 1], [2, 1], [1, 1], [0, 0]]
    assert g.predict(x).tolist() == [0, 0, 0, 0, 0]   # ties -> lowest class
    with pytest.raises(HwtrainError, match="0..7"):
        g.encode(np.array([[8, 0]]))
    with pytest.raises(HwtrainError, match=r"\(samples, 2\)"):
        g.encode(np.array([[1, 2, 3]]))


def test_tie_break_lowest_class():
    counts = np.array([[1, 3, 3], [2, 2, 2], [0, 0, 1]])
    assert LogicNetwork.argmax(counts).tolist() == [1, 0, 2]


@pytest.mark.parametrize("ext", ["json", "npz"])
def test_save_load_roundtrip(tmp_path, ext):
    enc = Thermometer.uniform(5, 3, 4)
    nl = random_netlist(15, [12, 8, 6], 3, seed=2, skip=True, encoder=enc)
    nl.meta["note"] = "x"
    path = tmp_path / f"net.{ext}"
    nl.save(path)
    back = Netlist.load(path)
    assert back.to_dict() == nl.to_dict()
    X = np.random.default_rng(0).integers(0, 16, (50, 5))
    assert (LogicNetwork(back).counts(X) == LogicNetwork(nl).counts(X)).all()


def _write(tmp_path, d):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(d))
    return p


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(version=3), "unsupported netlist version 3"),
    (lambda d: d.update(format="other"), "not an hwtrain logic netlist"),
    (lambda d: d["layers"][1]["a"].__setitem__(0, 999), r"input 'a' = 999 is out of range"),
    (lambda d: d["layers"][0]["b"].__setitem__(2, -1), r"input 'b' = -1 is out of range"),
    (lambda d: d["layers"][1]["a"].__setitem__(0, 10 + 6), r"layer 1.*out of range"),  # same layer
    (lambda d: d["layers"][0]["op"].__setitem__(1, 16), "unknown gate function id"),
    (lambda d: d["layers"][0].pop("b"), "layer 0 is missing 'b'"),
    (lambda d: d.pop("decoder"), "missing the 'decoder'"),
    (lambda d: d["decoder"].update(classes=4), "do not split into 4"),
    (lambda d: d["outputs"].__setitem__(0, 10_000), "out of range"),
    (lambda d: d["encoder"].update(feature_bits=2), "thresholds must lie in 0..3"),
    (lambda d: d.update(inputs=7), "makes 6 bits"),
    (lambda d: d["layers"][0].update(a=[0, 1]), r"'a' has shape \(2,\)"),
])
def test_malformed_files_raise_one_line_errors(tmp_path, mutate, message):
    enc = Thermometer(np.array([[1, 2, 3], [4, 5, 6]]), 3)
    nl = random_netlist(6, [6, 6], 3, seed=0, encoder=enc)
    d = nl.to_dict()
    mutate(d)
    with pytest.raises(HwtrainError, match=message) as e:
        Netlist.load(_write(tmp_path, d))
    assert "\n" not in str(e.value)


def test_not_json_and_missing_file(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{nope")
    with pytest.raises(HwtrainError, match="not valid JSON"):
        Netlist.load(p)
    with pytest.raises(HwtrainError, match="does not exist"):
        Netlist.load(tmp_path / "none.json")
    assert FORMAT == "hwtrain-logic-netlist"


def test_difflogic_import_matches_layered_evaluation():
    rng = np.random.default_rng(7)
    sizes = [10, 24, 18, 12]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers.append((rng.normal(size=(n_out, 16)), rng.integers(0, n_in, n_out), rng.integers(0, n_in, n_out)))
    nl = from_difflogic(layers, 4, inputs=10, tau=10.0)
    assert nl.decoder.tau == 10.0 and nl.group_size == 3
    bits = rng.integers(0, 2, (40, 10))
    # layered reference with local indices and argmax of weights
    v = bits
    for w, a, b in layers:
        ops = w.argmax(axis=1)
        v = np.array([[gate_value(o, r[x], r[y]) for o, x, y in zip(ops, a, b)] for r in v])
    assert (LogicNetwork(nl).output_bits(bits) == v).all()
    with pytest.raises(HwtrainError, match="out of range for a previous layer of 10"):
        from_difflogic([(np.zeros(4, int), np.array([0, 1, 2, 10]), np.zeros(4, int))], 2, inputs=10)


# ---------------------------------------------------------------- pruning

@pytest.mark.parametrize("seed", range(12))
def test_prune_preserves_outputs_exhaustively(seed):
    nl = random_netlist(8, [30, 24, 16, 12], 4, seed=seed, skip=seed % 2 == 1)
    p = prune(nl)
    bits = np.array(list(itertools.product((0, 1), repeat=8)))
    assert (LogicNetwork(p).output_bits(bits) == LogicNetwork(nl).output_bits(bits)).all()
    assert p.gates <= nl.gates
    assert prune(p).gates <= p.gates


def test_prune_preserves_outputs_on_random_inputs_large():
    nl = random_netlist(100, [2000, 1500, 1000], 10, seed=3)
    p = prune(nl)
    bits = np.random.default_rng(1).integers(0, 2, (3000, 100))
    assert (LogicNetwork(p).output_bits(bits) == LogicNetwork(nl).output_bits(bits)).all()
    assert p.gates < 0.8 * nl.gates


def test_prune_folds_identities_negations_constants_and_dead_logic():
    # inputs 0..2; layer0: g3 = not x0, g4 = x1 (identity), g5 = x0 AND 0-const?, g6 = dead
    L0 = Layer(np.array([12, 5, 0, 1]), np.array([0, 0, 0, 1]), np.array([0, 1, 0, 2]))
    # layer1: g7 = g3 AND g4 -> (not x0) and x1: one gate; g8 = g5 OR x2 -> x2; g9 = not g3 -> x0
    L1 = Layer(np.array([1, 7, 12]), np.array([3, 5, 3]), np.array([4, 2, 3]))
    # layer2: g10 = g7 xor g7 -> const 0; g11 = not g7 (negated output)
    L2 = Layer(np.array([6, 12]), np.array([7, 7]), np.array([7, 7]))
    nl = Netlist(3, [L0, L1, L2], np.array([7, 8, 9, 10, 11, 11]), GroupSum(2))
    p = prune(nl)
    # left: the AND with a negated input folded in (op 4), one NOT for output 11, one constant
    assert sorted(p.all_gates()[0].tolist()) == [0, 4, 12]
    assert p.outputs.tolist()[1:3] == [2, 0]          # x2 and x0 directly
    bits = np.array(list(itertools.product((0, 1), repeat=3)))
    assert (LogicNetwork(p).output_bits(bits) == LogicNetwork(nl).output_bits(bits)).all()


def test_prune_merges_duplicate_gates():
    L0 = Layer(np.array([1, 1, 6]), np.array([0, 1, 0]), np.array([1, 0, 1]))
    nl = Netlist(2, [L0], np.array([2, 3, 4, 4]), GroupSum(2))
    p = prune(nl)
    assert p.gates == 2
    assert p.outputs[0] == p.outputs[1]


# ---- LUT layers (format version 2)

def naive_lut_outputs(nl: Netlist, bits: np.ndarray) -> np.ndarray:
    """Per-sample, per-node evaluation straight from the format's definitions."""
    from hwtrain.logic.netlist import LutLayer, lut_value
    out = []
    for row in bits:
        v = [int(x) for x in row]
        for layer in nl.layers:
            if isinstance(layer, LutLayer):
                v += [lut_value(t, [v[i] for i in ins]) for t, ins in zip(layer.table.tolist(), layer.ins.tolist())]
            else:
                v += [gate_value(o, v[x], v[y]) for o, x, y in zip(layer.op.tolist(), layer.a.tolist(),
                                                                   layer.b.tolist())]
        out.append([v[j] for j in nl.outputs])
    return np.array(out)


def mixed_netlist(seed: int) -> Netlist:
    """LUT4, gate, LUT3 and LUT6 layers with skip connections."""
    from hwtrain.logic.netlist import LutLayer
    rng = np.random.default_rng(seed)
    parts = [random_netlist(9, [12], 1, seed=seed, lut=4, skip=True).layers[0]]
    start = 9 + 12
    parts.append(Layer(rng.integers(0, 16, 10), rng.integers(0, start, 10), rng.integers(0, start, 10)))
    start += 10
    for k, w in ((3, 8), (6, 6)):
        bits = rng.integers(0, 2, (w, 1 << k)).astype(np.uint64)
        parts.append(LutLayer((bits << np.arange(1 << k, dtype=np.uint64)).sum(1, dtype=np.uint64),
                              rng.integers(0, start, (w, k))))
        start += w
    return Netlist(9, parts, np.arange(start - 6, start), GroupSum(3))


def test_lut_value_is_the_gate_definition_for_two_inputs():
    from hwtrain.logic.netlist import lut_value
    for op in range(16):
        for a, b in itertools.product((0, 1), repeat=2):
            assert lut_value(op, [a, b]) == gate_value(op, a, b)
    assert lut_value(0x8000, [1, 1, 1, 1]) == 0 and lut_value(0x8000, [0, 0, 0, 0]) == 1   # MSB = c 0
    assert lut_value(0x0001, [1, 1, 1, 1]) == 1


@pytest.mark.parametrize("samples", [1, 64, 130])
def test_lut_layers_bit_parallel_evaluator_matches_naive(samples):
    nl = mixed_netlist(samples)
    bits = np.random.default_rng(samples).integers(0, 2, (samples, 9))
    assert (LogicNetwork(nl).output_bits(bits) == naive_lut_outputs(nl, bits)).all()
    # negative control: every entry of the first output's table flipped flips that output
    nl.layers[-1].table[0] = ~nl.layers[-1].table[0]
    diff = LogicNetwork(nl).output_bits(bits) != naive_lut_outputs(mixed_netlist(samples), bits)
    assert diff[:, 0].all() and not diff[:, 1:].any()


@pytest.mark.parametrize("ext", [".json", ".npz"])
def test_lut_netlist_roundtrip_and_versions(tmp_path, ext):
    nl = mixed_netlist(3)
    path = tmp_path / f"net{ext}"
    nl.save(path)
    back = Netlist.load(path)
    assert back.version == 2 and random_netlist(4, [4], 2).version == 1
    bits = np.random.default_rng(0).integers(0, 2, (100, 9))
    assert (LogicNetwork(back).output_bits(bits) == LogicNetwork(nl).output_bits(bits)).all()
    assert back.op_histogram()["lut6"] == 6 and back.op_histogram()["lut4"] == 12
    if ext == ".json":
        assert json.loads(path.read_text())["version"] == 2


@pytest.mark.parametrize("mutate,message", [
    (lambda l: l.update(table=[70000] + l["table"][1:]), "does not fit 16 bits"),
    (lambda l: l.update(lut=7), "'lut' must be the LUT size 1..6"),
    (lambda l: l.update(lut=3), "expected lut = 3"),
    (lambda l: l["inputs"][2].__setitem__(1, 99), "LUT 2: input 1 = 99 is out of range"),
    (lambda l: l.pop("inputs"), "missing 'inputs'"),
    (lambda l: l.update(table=[-1] + l["table"][1:]), r"list of integers 0 \.\. 2\*\*64 - 1"),
])
def test_malformed_lut_layers_raise_one_line_errors(tmp_path, mutate, message):
    d = random_netlist(5, [6, 4], 2, lut=4, seed=2).to_dict()
    mutate(d["layers"][0])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(HwtrainError, match=message):
        Netlist.load(path)


def test_prune_of_lut_netlists_removes_dead_nodes_exactly():
    from hwtrain.logic.netlist import LutLayer
    nl = mixed_netlist(5)
    # a LUT ignoring input 2 must not keep that input's source alive
    nl.layers[-1].table[0] = np.uint64(0xFFFF_FFFF_0000_0000)      # = x0
    p = prune(nl)
    assert p.gates < nl.gates and p.has_luts
    bits = np.array(list(itertools.product((0, 1), repeat=9)))
    assert (LogicNetwork(p).output_bits(bits) == LogicNetwork(nl).output_bits(bits)).all()
    assert isinstance(p.layers[-1], LutLayer) and p.layers[-1].ins[0, 1:].tolist() == [0] * 5
