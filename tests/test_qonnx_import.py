"""hwtrain import qonnx: QONNX graphs built here with onnx.helper (as Brevitas exports them) fold
into hwtrain models whose golden model agrees with the qonnx executor on every class and every
integer pre-activation; a deliberately wrong fold is caught by the same comparison."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("qonnx")
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from hwtrain.errors import HwtrainError  # noqa: E402
from hwtrain.inference.model import BinaryMLP  # noqa: E402
from hwtrain.inference.qonnx_import import (check, check_fold, golden_preactivations, import_qonnx,  # noqa: E402
                                            save_imported)

QD = "qonnx.custom_op.general"


class Graph:
    """A tiny QONNX graph builder: nodes in order, initializers by name."""

    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def const(self, name, value, dtype=np.float32):
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(self, op, inputs, domain="", name=None, **attrs):
        self.n += 1
        out = f"t{self.n}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name or f"{op}_{self.n}",
                                           domain=domain, **attrs))
        return out

    def bipolar_weights(self, w, scale=1.0):
        """Float initializer -> BipolarQuant, as Brevitas exports a binary weight quantizer."""
        k = len(self.inits)
        return self.node("BipolarQuant", [self.const(f"w{k}", w), self.const(f"ws{k}", scale)], domain=QD)

    def save(self, path, in_shape, out, classes):
        g = helper.make_graph(self.nodes, "mlp",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, classes])],
                              self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QD, 1)])
        onnx.save(m, str(path))
        return path


def rng_pm(rng, *shape):
    return rng.choice([-1.0, 1.0], shape).astype(np.float32) * rng.uniform(0.2, 1.5, shape).astype(np.float32)


def samples(k, n=200, seed=0):
    return np.random.default_rng(seed).integers(0, 2, (n, k)).astype(np.uint8)


def mt_graph(path, rng, sizes=(16, 12, 8), classes=4):
    """Flatten -> BipolarQuant input -> [MatMul -> MultiThreshold (bipolar)]* -> MatMul."""
    g = Graph()
    cur = g.node("Flatten", ["x"], axis=1)
    cur = g.node("BipolarQuant", [cur, g.const("in_scale", 1.0)], domain=QD)
    for l in range(len(sizes) - 1):
        k, n = sizes[l], sizes[l + 1]
        cur = g.node("MatMul", [cur, g.bipolar_weights(rng_pm(rng, k, n))])
        # thresholds on y (same parity as K: ties reachable), half-integers and out-of-range ones
        thr = rng.integers(-k // 2, k // 2 + 1, (n, 1)) * 2 + (k % 2)
        thr = thr.astype(np.float32) + np.where(np.arange(n)[:, None] % 3 == 0, 0.5, 0.0).astype(np.float32)
        thr[0, 0] = k + 3          # never fires
        thr[1, 0] = -k - 3         # always fires
        cur = g.node("MultiThreshold", [cur, g.const(f"thr{l}", thr)], domain=QD,
                     out_dtype="BIPOLAR", out_scale=2.0, out_bias=-1.0)
    cur = g.node("MatMul", [cur, g.bipolar_weights(rng_pm(rng, sizes[-1], classes))])
    return g.save(path, (1, 1, 4, sizes[0] // 4), cur, classes)


def bn_graph(path, rng, k=15, n=9, classes=3, *, final_bias=None):
    """BipolarQuant input -> MatMul -> BatchNormalization (negative scales, exact ties) -> BipolarQuant
    -> MatMul -> Mul (TensorNorm-like scalar) [-> Add per-class bias]."""
    g = Graph()
    cur = g.node("BipolarQuant", ["x", g.const("in_scale", 1.0)], domain=QD)
    cur = g.node("MatMul", [cur, g.bipolar_weights(rng_pm(rng, k, n))])
    gamma = rng.uniform(0.5, 2.0, n).astype(np.float32) * np.where(np.arange(n) % 2, -1, 1).astype(np.float32)
    mean = (rng.integers(-3, 4, n) * 2 + 1).astype(np.float32)          # odd: y = mean is reachable (K odd)
    beta = np.zeros(n, np.float32)
    beta[4:] = rng.uniform(-1.0, 1.0, n - 4).astype(np.float32)        # neurons 0..3: exact ties at y = mean
    var = np.full(n, 4.0, np.float32)                                 # sqrt(var + 0) = 2 exactly
    cur = g.node("BatchNormalization", [cur, g.const("g", gamma), g.const("b", beta), g.const("m", mean),
                                        g.const("v", var)], epsilon=0.0)
    cur = g.node("BipolarQuant", [cur, g.const("act_scale", 1.0)], domain=QD)
    cur = g.node("MatMul", [cur, g.bipolar_weights(rng_pm(rng, n, classes))])
    cur = g.node("Mul", [cur, g.const("tn_scale", -0.75)])               # decreasing: classifier negated
    if final_bias is not None:
        cur = g.node("Add", [cur, g.const("tn_bias", final_bias)])
    return g.save(path, (1, k), cur, classes), gamma, mean


def test_multithreshold_mlp(tmp_path):
    rng = np.random.default_rng(1)
    imp = import_qonnx(mt_graph(tmp_path / "mt.onnx", rng))
    m = imp.model
    assert m.sizes == (16, 12, 8) and m.classes == 4
    assert m.thresholds[0][0] == 17 and m.thresholds[0][1] == 0      # never / always fire: K+1 and 0
    r = check(imp, samples(16))
    assert r["samples"] == 200 and r["layers"] == 3
    assert r["fold_pairs_equal"] == 17 * 12 + 13 * 8          # every (neuron, dot product) pair
    # the file round-trips through the inference cores' reader
    save_imported(tmp_path / "mt.npz", imp)
    back = BinaryMLP.load(tmp_path / "mt.npz")
    for a, b in zip(back.thresholds, m.thresholds):
        assert np.array_equal(a, b)
    assert check(imp, samples(16, 50, 3), back)["samples"] == 50


def test_batchnorm_negative_scale_and_ties(tmp_path):
    rng = np.random.default_rng(2)
    path, gamma, mean = bn_graph(tmp_path / "bn.onnx", rng)
    imp = import_qonnx(path)
    neg = imp.negated[0]
    assert np.array_equal(neg, gamma < 0)                 # a negative BN scale negates the row
    assert imp.negated[1].all()                           # the decreasing output map negates the classifier
    x = samples(15, 300)
    check(imp, x)
    # the ties are really exercised: y == mean for the tie neurons 0..3 in some samples
    pre, _ = golden_preactivations(imp.model, x)
    y = np.where(neg[None, :], -pre[0], pre[0])
    assert all((y[:, j] == mean[j]).any() for j in range(4))
    # tie semantics: at y == mean, z == 0 and BipolarQuant (x >= 0) gives +1, whatever gamma's sign
    k = 15
    for j in range(4):
        c = (mean[j] + k) / 2                             # agreements of the graph's row at the tie
        t = imp.model.thresholds[0][j]
        assert (t == c) if gamma[j] > 0 else (t == k - c)


def test_wrong_fold_is_detected(tmp_path):
    """Negative controls: '>' instead of '>=' at the ties, and a BN sign ignored, both fail the
    sample check and the exhaustive fold check."""
    rng = np.random.default_rng(2)
    path, gamma, _ = bn_graph(tmp_path / "bn.onnx", rng)
    imp = import_qonnx(path)
    x = samples(15, 300)
    m = imp.model
    strict = [t.copy() for t in m.thresholds]
    strict[0][:4] += 1                                    # ties decided as z > 0
    with pytest.raises(HwtrainError, match="differ"):
        check(imp, x, BinaryMLP(m.weights, m.classifier, strict))
    with pytest.raises(HwtrainError, match="layer 0: the fold differs from the graph at 4 "):
        check_fold(imp, BinaryMLP(m.weights, m.classifier, strict))     # exactly the 4 ties
    unsigned = [w.copy() for w in m.weights]
    j = int(np.flatnonzero(gamma < 0)[0])
    unsigned[0][j] *= -1                                  # the row as the graph has it, gamma's sign ignored
    with pytest.raises(HwtrainError, match="differ"):
        check(imp, x, BinaryMLP(unsigned, m.classifier, m.thresholds))
    with pytest.raises(HwtrainError, match=f"layer 0: the fold differs from the graph .* first neuron {j} "):
        check_fold(imp, BinaryMLP(unsigned, m.classifier, m.thresholds))


def test_gemm_with_bias(tmp_path):
    """Gemm (transB, as torch.nn.Linear exports) with alpha and a bias; per-neuron weight scales;
    MultiThreshold as the input quantizer; a Gemm classifier with the same bias for every class."""
    rng = np.random.default_rng(3)
    k, n, c = 12, 10, 5
    g = Graph()
    cur = g.node("Reshape", ["x", g.const("shape", [1, -1], np.int64)])   # as qonnx-cleanup leaves a flatten
    cur = g.node("MultiThreshold", [cur, g.const("in_thr", np.zeros((1, 1)))], domain=QD,
                 out_dtype="BIPOLAR", out_scale=1.0, out_bias=-0.5)           # +-0.5
    w = np.where(rng.random((n, k)) < 0.5, -1.0, 1.0) * np.array([0.25, 0.5, 1, 2, 4] * 2)[:, None]
    bias = rng.uniform(-3, 3, n).astype(np.float32)
    bias[:3] = [1.0, -2.0, 0.0]                            # exact ties on y * 0.5 * s + bias
    cur = g.node("Gemm", [cur, g.const("W", w), g.const("B", bias)], transB=1, alpha=1.0, beta=1.0)
    cur = g.node("BipolarQuant", [cur, g.const("act", 2.0)], domain=QD)
    cur = g.node("Gemm", [cur, g.bipolar_weights(rng_pm(rng, c, n)), g.const("B2", np.full(c, 0.3))],
                 transB=1)
    path = g.save(tmp_path / "gemm.onnx", (1, 3, k // 3), cur, c)
    imp = import_qonnx(path)
    r = check(imp, samples(k, 300, 4))
    assert r["samples"] == 300


def test_gemm_one_sample_at_a_time(tmp_path, monkeypatch):
    """A graph that only runs with batch 1 (its input Reshape kept at (1, K0)) is checked one
    sample at a time; the classifier's output is the graph output (one tensor, two roles)."""
    import qonnx.core.onnx_exec as ex
    test_gemm_with_bias(tmp_path)
    imp = import_qonnx(tmp_path / "gemm.onnx")
    imp.reshapes = []                                   # the batch-widening rewrite left out
    calls = []
    run = ex.execute_onnx
    monkeypatch.setattr(ex, "execute_onnx", lambda *a, **k: calls.append(1) or run(*a, **k))
    assert check(imp, samples(12, 30, 5))["samples"] == 30
    assert len(calls) == 30                             # no batched copy (shapes fail), 30 single runs


def _refused(tmp_path, build, match):
    g = Graph()
    cur = build(g)
    path = g.save(tmp_path / "bad.onnx", (1, 8), cur, 2)
    with pytest.raises(HwtrainError, match=match) as e:
        import_qonnx(path)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_unsupported_nodes_refused(tmp_path):
    rng = np.random.default_rng(4)

    def relu(g):
        cur = g.node("BipolarQuant", ["x", g.const("s", 1.0)], domain=QD)
        cur = g.node("MatMul", [cur, g.bipolar_weights(rng_pm(rng, 8, 6))], name="fc0")
        cur = g.node("Relu", [cur], name="act0")
        return g.node("MatMul", [cur, g.bipolar_weights(rng_pm(rng, 6, 2))])
    msg = _refused(tmp_path, relu, r"node 3 'act0' \(Relu\) is not supported")
    assert "MatMul" in msg

    def int8(g):
        cur = g.node("Quant", ["x", g.const("s", 1.0), g.const("z", 0.0), g.const("bw", 8.0)], domain=QD,
                     name="inq", signed=1, narrow=0, rounding_mode="ROUND")
        cur = g.node("MatMul", [cur, g.bipolar_weights(rng_pm(rng, 8, 6))])
        return cur
    _refused(tmp_path, int8, r"'inq' \(Quant\) quantizes activations to 8 bit")

    def not_bipolar(g):
        cur = g.node("BipolarQuant", ["x", g.const("s", 1.0)], domain=QD)
        cur = g.node("MatMul", [cur, g.const("w", rng.normal(size=(8, 6)))], name="fc0")
        cur = g.node("BipolarQuant", [cur, g.const("s2", 1.0)], domain=QD)
        return g.node("MatMul", [cur, g.bipolar_weights(rng_pm(rng, 6, 2))])
    _refused(tmp_path, not_bipolar, r"'fc0' \(MatMul\): weights are not bipolar")

    def class_bias(g):
        cur = g.node("BipolarQuant", ["x", g.const("s", 1.0)], domain=QD)
        cur = g.node("MatMul", [cur, g.bipolar_weights(rng_pm(rng, 8, 6))])
        cur = g.node("BipolarQuant", [cur, g.const("s2", 1.0)], domain=QD)
        cur = g.node("MatMul", [cur, g.bipolar_weights(rng_pm(rng, 6, 2))])
        return g.node("Add", [cur, g.const("cb", [0.5, -0.5])])
    _refused(tmp_path, class_bias, "differ between classes")


def test_command(tmp_path, capsys):
    import argparse

    from hwtrain.commands import qonnx as cmd
    rng = np.random.default_rng(1)
    src = mt_graph(tmp_path / "mt.onnx", rng)
    parser = argparse.ArgumentParser()
    cmd.add_parser(parser.add_subparsers(dest="verb"))
    args = parser.parse_args(["import", "qonnx", str(src), "-o", str(tmp_path / "out" / "m.npz"),
                              "--check-samples", "40"])
    assert cmd.run(args) == 0
    assert "agree on 40 samples (random bits)" in capsys.readouterr().out
    m = BinaryMLP.load(tmp_path / "out" / "m.npz")
    assert m.sizes == (16, 12, 8) and m.thresholds is not None


@pytest.mark.parametrize("impl, store", [(("folded:3x4", "parallel:2"), "registers"),
                                         (("serial:2", "folded:2x6"), "bram")])
def test_amaranth_core_with_thresholds(tmp_path, impl, store):
    """The inference core (Amaranth simulator) takes the imported per-neuron thresholds:
    folded lanes select their neuron's threshold by fold, and the result equals the golden
    model, which equals the QONNX graph."""
    from hwtrain.core import bits
    from hwtrain.golden.inference import InferenceCore
    from hwtrain.hdl.inference import InferenceCore as InferenceCoreHdl
    from hwtrain.hdl.stream_sim import run_stream
    from hwtrain.inference import InferenceConfig
    imp = import_qonnx(mt_graph(tmp_path / "mt.onnx", np.random.default_rng(1)))
    m = imp.model
    x = samples(16, 40, 5)
    check(imp, x)
    cfg = InferenceConfig(m.sizes, m.classes, impl=impl, store=store, logits_out=True)
    dut = InferenceCoreHdl(cfg, m)
    cls, logits = dut.golden(x)
    default_cls, _ = InferenceCore(cfg, BinaryMLP(m.weights, m.classifier))(x)
    assert (default_cls != cls).any()           # the thresholds matter on these samples
    got = run_stream(dut, bits.to_int(bits.pack(x), 16), gaps=np.random.default_rng(0).integers(0, 3, (40, 2)))
    assert [int(o.cls) for o in got] == cls.tolist()
    assert [[int(o.logits[c]) for c in range(m.classes)] for o in got] == logits.tolist()


def test_model_file_thresholds_are_checked(tmp_path):
    """A qonnx model file whose thresholds are missing or outside 0..K+1 is refused in one line."""
    imp = import_qonnx(mt_graph(tmp_path / "mt.onnx", np.random.default_rng(1)))
    save_imported(tmp_path / "m.npz", imp)
    arrays = dict(np.load(tmp_path / "m.npz"))
    for bad in ({"T1": np.full(12, 18, np.int32)}, {"T2": None}):
        a = {**arrays, **{k: v for k, v in bad.items() if v is not None}}
        a = {k: v for k, v in a.items() if k not in bad or bad[k] is not None}
        np.savez(tmp_path / "bad.npz", **a)
        with pytest.raises(HwtrainError, match="thresholds T[12] missing or malformed"):
            BinaryMLP.load(tmp_path / "bad.npz")


def brevitas_graph(path, rng, k=16, n=12, classes=6, *, untrained=False, out_scale=None):
    """The node pattern of a real ``brevitas.export.export_qonnx`` (Brevitas 0.13.4, torch 2.13's
    dynamo exporter) of QuantIdentity -> QuantLinear -> BatchNorm1d -> QuantIdentity -> QuantLinear:
    every quantizer a BipolarQuant, the activations' one scale tensor shared by the input and the
    hidden quantizer, binary weights (N, K) of Brevitas' default scale 0.1 (not a power of two)
    through BipolarQuant into Gemm(transB=1, no bias), and the exporter's duplicate-folding of
    equal initializers (an untrained BatchNorm's running mean and variance are its bias and
    weight tensors)."""
    g = Graph()
    act = g.const("inp.act_quant.export_handler.lifted_tensor_0", 1.0)
    cur = g.node("BipolarQuant", ["x", act], domain=QD, name="node__symbolic")
    w = lambda a, b: g.node("BipolarQuant", [g.const(f"slice_{len(g.inits)}", rng.normal(size=(a, b))),
                                             g.const(f"ws{len(g.inits)}", 0.1)], domain=QD)
    cur = g.node("Gemm", [cur, w(n, k)], name="node_linear", transB=1, alpha=1.0, beta=1.0, transA=0)
    if untrained:
        bn = [g.const("bn1.weight", np.ones(n)), g.const("bn1.bias", np.zeros(n))]
        bn = [bn[0], bn[1], bn[1], bn[0]]
    else:
        bn = [g.const(f"bn.{p}", v) for p, v in (("weight", rng.uniform(-1.5, 1.5, n)),
                                                 ("bias", rng.normal(size=n)),
                                                 ("running_mean", rng.normal(size=n) * 0.5),
                                                 ("running_var", rng.uniform(0.5, 2.0, n)))]
    cur = g.node("BatchNormalization", [cur, *bn], name="node__native_batch_norm_legit_no_training__0",
                 epsilon=1e-5, momentum=0.9)
    cur = g.node("BipolarQuant", [cur, act], domain=QD, name="node__symbolic_2")
    cur = g.node("Gemm", [cur, w(classes, n)], name="node_linear_1", transB=1, alpha=1.0, beta=1.0, transA=0)
    if out_scale is not None:                            # a scalar after the classifier (TensorNorm-like)
        cur = g.node("Mul", [cur, g.const("out_scale", out_scale)])
    return g.save(path, (1, k), cur, classes)


def test_brevitas_export_pattern(tmp_path):
    imp = import_qonnx(brevitas_graph(tmp_path / "brevitas.onnx", np.random.default_rng(7)))
    assert imp.model.sizes == (16, 12) and imp.model.classes == 6
    assert imp.negated[0].any()                          # negative BatchNorm weights negate rows
    assert np.allclose(imp.probes[0][1], np.float32(0.1))
    r = check(imp, samples(16, 300, 8))
    assert r["samples"] == 300 and r["fold_pairs_equal"] == 17 * 12


def _perturbed(monkeypatch, change):
    """``_run_graph`` as the executor returns it, then ``change(names, tensors)``: float32 rounding
    that a different summation order (another onnxruntime build or CPU) would produce."""
    import hwtrain.inference.qonnx_import as qi
    run = qi._run_graph

    def fake(imp, x, names):
        got = run(imp, x, names)
        change(imp, got)
        return got
    monkeypatch.setattr(qi, "_run_graph", fake)


def test_classifier_ties_broken_by_float_rounding(tmp_path, monkeypatch):
    """With weight scale 0.1, two classes whose integer logits tie can come out of the graph's
    float32 sums one ulp apart; hwtrain's lowest index is as right as the graph's pick, and the
    check counts those ties instead of refusing. A class that wins by a whole step is refused."""
    imp = import_qonnx(brevitas_graph(tmp_path / "b.onnx", np.random.default_rng(7), classes=3, out_scale=2.0))
    x = samples(16, 300, 9)
    pre, classes = golden_preactivations(imp.model, x)
    logits = np.where(imp.negated[-1][None, :], -pre[-1], pre[-1])
    top = logits.max(axis=1, keepdims=True)
    tied = np.flatnonzero(((logits == top).sum(axis=1) > 1))
    assert len(tied) > 5                                 # 3 classes of 12 inputs: ties are common
    last = np.array([np.flatnonzero(logits[s] == top[s])[-1] for s in tied])

    def round_up(imp, got):                              # the tie's last class one ulp ahead
        out = got[imp.output_name]
        out[tied, last] = np.nextafter(out[tied, last], np.float32(np.inf))
    _perturbed(monkeypatch, round_up)
    r = check(imp, x)
    assert r["class_ties_rounded"] == len(tied) and r["classes_equal"] == 300

    def wrong(imp, got):                                 # an untied sample's runner-up raised after the probe
        s = np.setdiff1d(np.arange(300), tied)[0]
        got[imp.output_name][s, (classes[s] + 1) % 3] += np.float32(100.0)
    monkeypatch.undo()
    _perturbed(monkeypatch, wrong)
    with pytest.raises(HwtrainError, match=r"1 of 300 classes differ"):
        check(imp, x)


def test_hidden_tie_rounded_by_float_sums_is_named(tmp_path, monkeypatch):
    """An untrained Brevitas export (BatchNorm mean 0, bias 0: thresholds exactly at d = 0) with
    weight scale 0.1: a float32 sum of +-0.1 that should be 0 comes out -1.5e-8 and the graph's
    activation says -1 where the exact network (and hwtrain) say +1. The check stops at that
    hidden activation and names float32 rounding and the scale, not the next layer's sums."""
    imp = import_qonnx(brevitas_graph(tmp_path / "u.onnx", np.random.default_rng(7), untrained=True))
    assert all(int(t) == 8 for t in imp.model.thresholds[0])      # c >= K/2: fires at d = 0
    x = samples(16, 300, 10)
    pre, _ = golden_preactivations(imp.model, x)
    s, j = np.argwhere(pre[0] == 0)[0]
    probe, act = imp.probes[0][0], imp.tails[0][-1]
    fires = (pre[0] + 16) // 2 >= imp.model.thresholds[0][None, :]

    def exact(got):                                      # layer 0 as exact sums would give it
        got[probe][:] = (np.where(imp.negated[0][None, :], -pre[0], pre[0]) * imp.probes[0][1]).astype(np.float32)
        got[act][:] = np.where(fires, 1.0, -1.0).astype(np.float32)

    def rounded(imp, got):                               # (onnxruntime on some CPUs does this itself)
        exact(got)
        got[probe][s, j] = np.float32(-1.4901161e-08)
        got[act][s, j] = np.float32(-1.0)
    _perturbed(monkeypatch, rounded)
    with pytest.raises(HwtrainError, match=r"layer 0: 1 hidden activations differ .* float32 summation "
                                           r"with a scale that is not a power of two .*weight_scaling_const") as e:
        check(imp, x)
    assert f"sample {s} neuron {j}: graph -1, hwtrain +1" in str(e.value)
    monkeypatch.undo()

    def flipped(imp, got):                               # the exact sum, yet the activation differs
        exact(got)
        got[act][s, j] = np.float32(-1.0)
    _perturbed(monkeypatch, flipped)
    with pytest.raises(HwtrainError, match=r"is the exact s \* d = 0.0, so its nodes between"):
        check(imp, x)
