"""Import a binarized MLP exported by Brevitas as QONNX into an hwtrain model (docs/qonnx.md).

What imports: one graph input, optionally reshaped/flattened (C order) and
binarized by a bipolar quantizer (``BipolarQuant`` or a one-threshold bipolar
``MultiThreshold``); then per layer a ``MatMul`` or ``Gemm`` with bipolar
weights (``+-s_j`` per output neuron, constant, e.g. ``BipolarQuant`` of an
initializer), any chain of per-neuron affine nodes (``Add``/``Sub``/``Mul``/
``Div`` by constants, ``BatchNormalization``, Gemm's bias) and a bipolar
activation (``BipolarQuant`` with ``>= 0``, or ``MultiThreshold`` with one
threshold per neuron and outputs ``+-s``); the last ``MatMul``/``Gemm`` is the
classifier, optionally followed by an affine map that is the same for every
class (it leaves the argmax unchanged; a decreasing one negates the classifier).

The fold is exact: for every neuron the affine chain and the activation are
evaluated in exact decimal arithmetic (``decimal`` at 120 digits: every float32
parameter is exact there, and ``sqrt`` of a batch norm's variance is correctly
rounded, so a tie ``z == 0`` is found exactly) on every possible integer dot
product ``y = 2 c - K`` (c agreements). The set of firing c must be ``c >= T``
(the threshold of the hwtrain model) or ``c <= T'`` (a negative batch-norm
scale or slope: the weight row is negated, so its agreements become ``K - c``
and the threshold ``K - T'``). Ties are decided by the graph's own comparison
(``BipolarQuant``: ``x >= 0``; ``MultiThreshold``: ``x >= t``).

``check`` runs the graph with the ``qonnx`` executor on samples and requires
the same classes and the same integer pre-activations (each ``MatMul``/``Gemm``
output, unscaled) as hwtrain's golden model; ``check_fold`` runs each hidden
layer's nodes after its MatMul/Gemm through the executor on every reachable
dot product of every neuron and requires the folded thresholds' decisions.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from ..errors import HwtrainError, require
from .model import BinaryMLP

PRECISION = 120
CUSTOM_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general", "finn")
AFFINE = ("Add", "Sub", "Mul", "Div", "BatchNormalization")
RESHAPE = ("Reshape", "Flatten", "Identity")
SUPPORTED = "MatMul, Gemm, BipolarQuant, MultiThreshold, BatchNormalization, Add/Sub/Mul/Div by constants, " \
            "Reshape/Flatten/Identity before the first layer"


def require_qonnx():
    import importlib.util
    missing = [m for m in ("qonnx", "onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    require(not missing, f"importing QONNX needs the qonnx extra ({', '.join(missing)} missing): "
                         f"pip install 'hwtrain[qonnx]'")


@dataclass
class Layer:
    """One MatMul/Gemm and what follows it up to the next activation (or the output)."""
    index: int                  # node position of the MatMul/Gemm
    name: str
    weights: np.ndarray         # (N, K) +-1
    scale: np.ndarray           # (N,) the MatMul output is in_scale * scale[j] * y_j (+ gemm offset)
    probe: str                  # tensor holding that output
    probe_offset: np.ndarray    # (N,) added to it inside a Gemm with bias (0 otherwise)
    chain: list = field(default_factory=list)       # [(op, params...)] per-neuron affine ops
    act: tuple | None = None    # ("ge", thr (N,) Decimals, lo, hi) or None for the classifier
    act_name: str = ""
    tail: list = field(default_factory=list)        # outputs of the nodes after the MatMul/Gemm


@dataclass
class Imported:
    model: BinaryMLP
    negated: list               # per layer (classifier last): bool (N,), rows negated by the fold
    probes: list                # per layer: (tensor, scale (N,), offset (N,)) of the graph's pre-activation
    input_name: str
    input_shape: tuple
    output_name: str
    wrapper: object             # qonnx ModelWrapper of the source graph
    summary: list               # one line per layer: what was folded
    reshapes: list = field(default_factory=list)   # node positions of the input's Reshape nodes
    tails: list = field(default_factory=list)      # per hidden layer: outputs of the nodes after
                                                   # its MatMul/Gemm, the activation's last


def _dec(v) -> Decimal:
    return Decimal(float(v))


def _node_label(i: int, node) -> str:
    return f"node {i} {node.name or '(unnamed)'!r} ({node.op_type})"


def _const_eval(node, consts: dict, i: int) -> None:
    """Evaluate a node whose inputs are all constants (weights, scales, shapes)."""
    ins = [consts[n] if n else None for n in node.input]
    attrs = {a.name: a for a in node.attribute}
    op = node.op_type
    from onnx import helper, numpy_helper
    if op == "Constant":
        out = numpy_helper.to_array(attrs["value"].t)
    elif op == "Identity":
        out = ins[0]
    elif op == "Transpose":
        perm = list(attrs["perm"].ints) if "perm" in attrs else None
        out = np.transpose(ins[0], perm)
    elif op == "Reshape":
        out = ins[0].reshape([int(d) if d != 0 else ins[0].shape[k] for k, d in enumerate(ins[1])])
    elif op in ("Mul", "Div", "Add", "Sub", "Neg", "Sqrt", "Reciprocal", "Pow"):
        a = ins[0]
        out = {"Mul": lambda: a * ins[1], "Div": lambda: a / ins[1], "Add": lambda: a + ins[1],
               "Sub": lambda: a - ins[1], "Neg": lambda: -a, "Sqrt": lambda: np.sqrt(a),
               "Reciprocal": lambda: 1 / a, "Pow": lambda: a ** ins[1]}[op]()
        out = np.asarray(out, dtype=a.dtype)     # float32 stays float32, as in the graph
    elif op == "Cast":
        out = ins[0].astype(helper.tensor_dtype_to_np_dtype(attrs["to"].i))
    elif op in ("BipolarQuant", "Quant", "MultiThreshold") and node.domain in CUSTOM_DOMAINS:
        from qonnx.custom_op.registry import getCustomOp
        ctx = {n: consts[n] for n in node.input if n}
        ctx.update({n: None for n in node.output})
        getCustomOp(node).execute_node(ctx, None)
        out = ctx[node.output[0]]
    else:
        raise HwtrainError(f"{_node_label(i, node)} on constants is not supported (constant inputs of "
                           f"the layers may use Constant, Identity, Transpose, Reshape, Cast, Mul, Div, Add, "
                           f"Sub, Neg, Sqrt, Reciprocal, Pow, BipolarQuant, Quant)")
    consts[node.output[0]] = np.asarray(out)


def _per_neuron(c: np.ndarray, n: int, what: str) -> np.ndarray:
    """A constant that broadcasts onto a (1, N) tensor, as N values."""
    try:
        return np.broadcast_to(np.asarray(c, dtype=np.float64), (1, n))[0].copy()
    except ValueError:
        raise HwtrainError(f"{what}: constant of shape {np.shape(c)} does not broadcast onto "
                           f"(1, {n}) per-neuron values") from None


def _bipolar_weights(w: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, K) weights +-1 and (N,) positive scales from a (N, K) weight matrix of +-s_j."""
    s = np.abs(w).max(axis=1)
    require(bool((s > 0).all()) and bool((np.abs(w) == s[:, None]).all()),
            f"{what}: weights are not bipolar (each output neuron's weights must be +-s with one "
            f"positive s; found {len(np.unique(np.abs(w)))} distinct magnitudes)")
    return np.where(w > 0, 1, -1).astype(np.int8), s.astype(np.float64)


def _activation(i: int, node, consts: dict, n: int) -> tuple:
    """("ge", thresholds (N,), low value, high value): output high iff z >= threshold."""
    label = _node_label(i, node)
    if node.op_type == "BipolarQuant":
        require(node.input[1] in consts, f"{label}: the scale must be a constant")
        s = np.asarray(consts[node.input[1]], dtype=np.float64)
        require(s.size == 1 and float(s.reshape(-1)[0]) > 0,
                f"{label}: hwtrain takes one positive activation scale per layer, got {s.reshape(-1)[:4]}")
        s = float(s.reshape(-1)[0])
        return ("ge", [Decimal(0)] * n, -s, s)
    attrs = {a.name: a for a in node.attribute}
    require(node.input[1] in consts, f"{label}: the thresholds must be a constant")
    t = np.asarray(consts[node.input[1]], dtype=np.float64)
    require(t.ndim == 2 and t.shape[1] == 1 and t.shape[0] in (1, n),
            f"{label}: a bipolar activation has one threshold per neuron, got thresholds of shape {t.shape}")
    scale = attrs["out_scale"].f if "out_scale" in attrs else 1.0
    bias = attrs["out_bias"].f if "out_bias" in attrs else 0.0
    lo, hi = bias, bias + scale
    require(lo == -hi and hi != 0,
            f"{label}: outputs {lo} / {hi} are not bipolar (+-s); set out_scale=2s, out_bias=-s")
    return ("ge", [_dec(v) for v in np.broadcast_to(t[:, 0], (n,))], lo, hi)


def _affine(i: int, node, x: str, consts: dict, n: int) -> tuple:
    label = _node_label(i, node)
    op = node.op_type
    if op == "BatchNormalization":
        attrs = {a.name: a for a in node.attribute}
        require(all(v in consts for v in node.input[1:5]), f"{label}: scale, bias, mean and variance must be constants")
        eps = attrs["epsilon"].f if "epsilon" in attrs else 1e-5
        g, b, mu, var = (_per_neuron(consts[v], n, label) for v in node.input[1:5])
        require(bool((var + eps > 0).all()), f"{label}: variance + epsilon must be positive")
        return ("bn", g, b, mu, var, eps)
    require(len(node.input) == 2, f"{label}: expected two inputs")
    a, b = node.input
    if a == x and b in consts:
        return (op.lower(), _per_neuron(consts[b], n, label))
    if b == x and a in consts and op in ("Add", "Mul"):
        return (op.lower(), _per_neuron(consts[a], n, label))
    if b == x and a in consts and op == "Sub":
        return ("rsub", _per_neuron(consts[a], n, label))
    raise HwtrainError(f"{label}: only x + c, c + x, x - c, c - x, x * c, c * x and x / c by constants "
                       f"are supported")


def _apply(op: tuple, j: int, z: Decimal) -> Decimal:
    kind = op[0]
    if kind == "bn":
        _, g, b, mu, var, eps = op
        return _dec(g[j]) * (z - _dec(mu[j])) / (_dec(var[j]) + _dec(eps)).sqrt() + _dec(b[j])
    c = _dec(op[1][j])
    if kind == "div":
        require(c != 0, "division by a zero constant")
        return z / c
    return {"add": z + c, "sub": z - c, "rsub": c - z, "mul": z * c}[kind]


def _chain_value(layer: Layer, in_scale: float, j: int, y: int) -> Decimal:
    z = Decimal(y) * _dec(in_scale) * _dec(layer.scale[j]) + _dec(layer.probe_offset[j])
    for op in layer.chain:
        z = _apply(op, j, z)
    return z


def _fold_hidden(layer: Layer, in_scale: float, k: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Thresholds (N,) on the agreements, rows to negate (N,), the activation's output scale."""
    _, thr, lo, hi = layer.act
    n = layer.weights.shape[0]
    t = np.zeros(n, dtype=np.int64)
    neg = np.zeros(n, dtype=bool)
    for j in range(n):
        # output is +hi when z >= thr; it is +1 (positive) when that holds and hi > 0
        high = [_chain_value(layer, in_scale, j, 2 * c - k) >= thr[j] for c in range(k + 1)]
        fires = high if hi > 0 else [not h for h in high]
        up = next((c for c in range(k + 1) if fires[c]), k + 1)
        if all(fires[c] == (c >= up) for c in range(k + 1)):
            t[j] = up
            continue
        last = max(c for c in range(k + 1) if fires[c])      # fires for c <= last: negate the row
        require(all(fires[c] == (c <= last) for c in range(k + 1)),
                f"layer {layer.name}: neuron {j}'s activation is not monotonic in its dot product")
        neg[j], t[j] = True, k - last
    return t, neg, abs(hi)


def _fold_classifier(layer: Layer, in_scale: float, k: int) -> np.ndarray:
    """Rows to negate (all or none): the output map must be the same for every class."""
    n = layer.weights.shape[0]
    vals = [[_chain_value(layer, in_scale, j, y) for y in (-k, k)] for j in range(n)]
    require(all(v == vals[0] for v in vals),
            f"classifier {layer.name}: the nodes after it ({', '.join(o[0] for o in layer.chain) or 'scales'}) "
            f"differ between classes (per-class bias, scale or batch norm), which changes the argmax; "
            f"hwtrain's classifier is a plain +-1 popcount (docs/qonnx.md)")
    require(vals[0][0] != vals[0][1], f"classifier {layer.name}: the output does not depend on the dot product")
    return np.full(n, vals[0][1] < vals[0][0])


def import_qonnx(path) -> Imported:
    """Parse and fold ``path`` (an ONNX/QONNX file) into a BinaryMLP with per-neuron thresholds."""
    require_qonnx()
    from onnx import numpy_helper
    from qonnx.core.modelwrapper import ModelWrapper
    try:
        wrapper = ModelWrapper(str(path))
    except Exception as e:  # protobuf decode errors and the like
        raise HwtrainError(f"cannot read {path} as ONNX: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    g = wrapper.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    inputs = [v for v in g.input if v.name not in consts]
    require(len(inputs) == 1, f"{path}: expected one graph input, found {len(inputs)}")
    require(len(g.output) == 1, f"{path}: expected one graph output, found {len(g.output)}")
    x = inputs[0].name
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in inputs[0].type.tensor_type.shape.dim]
    require(len(dims) >= 2 and all(d > 0 for d in dims[1:]),
            f"{path}: input {x} has shape {dims}; expected a batch dimension and fixed feature dimensions")
    k0 = int(np.prod(dims[1:]))

    layers: list[Layer] = []
    reshapes = []
    in_act = None                     # input quantizer (node index, node)
    pre: list = []                    # affine ops before the input quantizer
    stage = "input"                   # input -> (layer: after MatMul) -> (hidden: after activation)
    cur, width = x, k0
    for i, node in enumerate(g.node):
        label = _node_label(i, node)
        if node.input and all((n in consts) or not n for n in node.input) or node.op_type == "Constant":
            _const_eval(node, consts, i)
            continue
        require(cur in node.input, f"{label} does not continue the chain from {cur!r}: hwtrain imports "
                                   f"a single chain of layers (no branches)")
        require(len(node.output) == 1 or node.op_type == "BatchNormalization",
                f"{label}: expected one output")
        op = node.op_type
        custom = node.domain in CUSTOM_DOMAINS
        if op in RESHAPE:
            require(op == "Identity" or not layers,
                    f"{label}: reshapes are supported only before the first layer")
            if op == "Reshape":
                shape = [int(d) for d in consts.get(node.input[1], [])]
                require(len(shape) == 2 and shape[1] in (-1, k0) and shape[0] in (-1, 0, 1, dims[0]),
                        f"{label}: only a reshape to (batch, {k0}) is supported")
                reshapes.append(i)
            elif op == "Flatten":
                ax = [a.i for a in node.attribute if a.name == "axis"]
                require(not ax or ax[0] == 1, f"{label}: only Flatten with axis=1 is supported")
        elif op in ("BipolarQuant", "MultiThreshold") and custom:
            n = width if not layers else layers[-1].weights.shape[0]
            act = _activation(i, node, consts, n)
            if not layers:
                require(in_act is None, f"{label}: a second input quantizer")
                in_act = (i, node, act)
            else:
                require(stage == "layer", f"{label}: two activations in a row")
                layers[-1].act, layers[-1].act_name = act, f"{op} {node.name!r}"
                layers[-1].tail.append(node.output[0])
                stage = "hidden"
        elif op in ("MatMul", "Gemm"):
            require(stage != "layer", f"{label}: follows layer {layers[-1].name if layers else ''} "
                                      f"without a bipolar activation (BipolarQuant or MultiThreshold) "
                                      f"between them")
            attrs = {a.name: a for a in node.attribute}
            require(node.input[0] == cur and node.input[1] in consts,
                    f"{label}: expected activations times constant weights")
            w = np.asarray(consts[node.input[1]], dtype=np.float64)
            offset = None
            if op == "Gemm":
                require(not (attrs.get("transA") and attrs["transA"].i), f"{label}: transA is not supported")
                if attrs.get("transB") and attrs["transB"].i:
                    w = w.T
                alpha = attrs["alpha"].f if "alpha" in attrs else 1.0
                beta = attrs["beta"].f if "beta" in attrs else 1.0
                require(alpha > 0, f"{label}: alpha must be positive, got {alpha}")
                w = w * alpha
                if len(node.input) > 2 and node.input[2]:
                    require(node.input[2] in consts, f"{label}: the bias must be a constant")
                    offset = beta * _per_neuron(consts[node.input[2]], w.shape[1], label)
            require(w.ndim == 2 and w.shape[0] == width,
                    f"{label}: weights of shape {w.shape} do not take the {width} inputs before them")
            wb, s = _bipolar_weights(w.T, label)
            layers.append(Layer(i, node.name or f"{op}_{i}", wb, s, node.output[0],
                                offset if offset is not None else np.zeros(w.shape[1])))
            width, stage = w.shape[1], "layer"
        elif op in AFFINE:
            if not layers:
                pre.append(_affine(i, node, cur, consts, width))
            else:
                require(stage == "layer", f"{label}: an affine node after an activation; hwtrain folds "
                                          f"biases and batch norms between a MatMul/Gemm and its activation")
                layers[-1].chain.append(_affine(i, node, cur, consts, width))
                layers[-1].tail.append(node.output[0])
        elif op == "Quant" and custom:
            bw = consts.get(node.input[3])
            bits = "an unknown number of" if bw is None else int(np.ravel(bw)[0])
            raise HwtrainError(f"{label} quantizes activations to {bits} bit(s) on an integer grid (1 bit: "
                               f"{{-s, 0}}, not +-s): hwtrain imports bipolar networks only (Brevitas "
                               f"exports binary quantizers as BipolarQuant)")
        else:
            raise HwtrainError(f"{label} is not supported; hwtrain imports binarized MLPs built from {SUPPORTED}")
        cur = node.output[0]
    require(layers, f"{path}: no MatMul/Gemm layer found")
    require(cur == g.output[0].name, f"{path}: the graph output {g.output[0].name!r} is not the end of the chain")
    require(layers[-1].act is None, f"{path}: the last layer {layers[-1].name} ends in an activation; "
                                    f"hwtrain needs the classifier's pre-activations (logits) as the output")
    require(len(layers) >= 2, f"{path}: a single layer; hwtrain's inference cores need at least one "
                              f"hidden layer before the classifier")

    # the input: +-1 samples must pass the input quantizer (and any affine node before it) as +-s
    in_scale = 1.0
    if in_act is not None:
        i, node, (_, thr, lo, hi) = in_act
        for j in range(k0):
            zs = []
            for xv in (Decimal(1), Decimal(-1)):
                for op in pre:
                    xv = _apply(op, j, xv)
                zs.append((hi if xv >= thr[j] else lo))
            require(zs[0] > 0 and zs[1] == -zs[0],
                    f"{_node_label(i, node)}: input {j} does not map +1/-1 samples to +s/-s; hwtrain "
                    f"cores take binarized samples, so the input quantizer must keep their sign")
        in_scale = abs(hi)
    else:
        require(not pre, f"{path}: affine nodes before the first layer without an input quantizer")

    weights, thresholds, negated, probes, summary = [], [], [], [], []
    with decimal.localcontext() as ctx:
        ctx.prec = PRECISION
        for l, layer in enumerate(layers):
            k = layer.weights.shape[1]
            probes.append((layer.probe, in_scale * layer.scale, layer.probe_offset))
            if layer.act is None:
                neg = _fold_classifier(layer, in_scale, k)
                negated.append(neg)
                weights.append(np.where(neg[:, None], -layer.weights, layer.weights).astype(np.int8))
                summary.append(f"classifier {layer.name}: {k} -> {layer.weights.shape[0]}"
                               + (f", after it {', '.join(o[0] for o in layer.chain)} (same for every class)"
                                  if layer.chain else "") + (", negated (decreasing output map)" if neg[0] else ""))
                break
            t, neg, scale = _fold_hidden(layer, in_scale, k)
            negated.append(neg)
            thresholds.append(t)
            weights.append(np.where(neg[:, None], -layer.weights, layer.weights).astype(np.int8))
            summary.append(f"layer {layer.name}: {k} -> {layer.weights.shape[0]}, "
                           f"{' + '.join([o[0] for o in layer.chain] + [layer.act_name])} folded into "
                           f"thresholds {int(t.min())}..{int(t.max())} (default {(k + 1) // 2}), "
                           f"{int(neg.sum())} rows negated")
            in_scale = scale
    model = BinaryMLP(weights[:-1], weights[-1], thresholds)
    return Imported(model, negated, probes, x, tuple(dims), g.output[0].name, wrapper, summary, reshapes,
                    [layer.tail for layer in layers[:-1]])


def _batched(imp: Imported, batch: int):
    """A copy of the graph for ``batch`` samples at once, shapes inferred (None if it cannot be)."""
    import copy
    from onnx import numpy_helper
    from qonnx.transformation.infer_shapes import InferShapes
    try:
        w = copy.deepcopy(imp.wrapper)
        for i in imp.reshapes:        # the input's reshape to (1, K0) becomes (batch, K0)
            node = w.graph.node[i]
            name = f"{node.input[1]}__hwtrain_batch{i}"
            w.graph.initializer.append(numpy_helper.from_array(np.array([batch, -1], np.int64), name))
            node.input[1] = name
        w.graph.input[0].type.tensor_type.shape.dim[0].dim_value = batch
        del w.graph.value_info[:]
        for o in w.graph.output:
            o.type.tensor_type.shape.dim[0].dim_value = batch
        w = w.transform(InferShapes())
        return w if w.check_all_tensor_shapes_specified() else None
    except Exception:
        return None


def _run_tail(w, outputs: list, name: str, value: np.ndarray) -> np.ndarray:
    """The nodes of ``w`` that write ``outputs`` (in order), run by the qonnx executor's node
    functions on tensor ``name`` = ``value``; the last output."""
    from qonnx.core.onnx_exec import execute_node
    from qonnx.util.basic import get_preferred_qonnx_opset
    ctx = w.make_empty_exec_context()
    ctx[name] = value
    opsets = w.get_opset_imports()
    by_output = {n.output[0]: n for n in w.graph.node}
    for o in outputs:
        node = by_output[o]
        execute_node(node, ctx, w.graph, opsets.get(node.domain, get_preferred_qonnx_opset()))
    return np.asarray(ctx[outputs[-1]])


def check_fold(imp: Imported, model: BinaryMLP | None = None) -> int:
    """Every neuron of every hidden layer at every reachable dot product d = 2c - K: the graph's own
    nodes from the MatMul/Gemm output to the activation (qonnx executor, fed ``s d`` + Gemm bias)
    give +s exactly when the neuron of ``model`` (default: the import) fires. Returns the number of
    (neuron, d) pairs compared."""
    model = model or imp.model
    require(model.thresholds is not None, "the model has no per-neuron thresholds")
    total = 0
    for l, tail in enumerate(imp.tails):
        name, scale, offset = imp.probes[l]
        graph_rows = np.where(imp.negated[l][:, None], -imp.model.weights[l], imp.model.weights[l])
        mw = np.asarray(model.weights[l])
        neg = np.all(mw == -graph_rows, axis=1)
        require(bool(np.all(neg | np.all(mw == graph_rows, axis=1))),
                f"layer {l}: the model's weight rows are neither the graph's nor their negation")
        k = mw.shape[1]
        c = np.arange(k + 1)
        grid = ((2 * c - k)[:, None] * scale[None, :] + offset[None, :]).astype(np.float32)
        w = _batched(imp, k + 1)
        try:
            if w is not None:
                out = _run_tail(w, tail, name, grid).reshape(k + 1, -1)
            else:                     # batch 1 only: one dot product at a time
                from qonnx.transformation.infer_shapes import InferShapes
                w1 = imp.wrapper.transform(InferShapes())
                out = np.stack([_run_tail(w1, tail, name, grid[r:r + 1]).reshape(-1)
                                for r in range(k + 1)])
        except HwtrainError:
            raise
        except Exception as e:        # onnxruntime and qonnx raise assorted types
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise HwtrainError(f"the qonnx executor cannot run layer {l}'s activation: {first}") from None
        fires_graph = out > 0
        agree = np.where(neg[None, :], k - c[:, None], c[:, None])
        fires = agree >= np.asarray(model.thresholds[l])[None, :]
        bad = np.argwhere(fires_graph != fires)
        if len(bad):
            r, j = bad[0]
            raise HwtrainError(f"layer {l}: the fold differs from the graph at {len(bad)} (neuron, dot product) "
                               f"pairs, first neuron {j} at dot product {2 * r - k}: graph "
                               f"{'+1' if fires_graph[r, j] else '-1'}, hwtrain {'+1' if fires[r, j] else '-1'}")
        total += fires.size
    return total


def _run_graph(imp: Imported, x: np.ndarray, names: list) -> dict:
    """Tensors ``names`` of the graph executed by qonnx on +-1 samples ``x`` (S, K0)."""
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes
    shape = imp.input_shape
    feed = x.astype(np.float32).reshape((len(x),) + tuple(shape[1:]))
    w = _batched(imp, len(x))
    try:                              # the whole batch at once, when the graph allows it
        if w is not None:
            ctx = execute_onnx(w, {imp.input_name: feed}, return_full_exec_context=True)
            got = {n: np.asarray(ctx[n]) for n in names}
            if all(v.ndim == 2 and v.shape[0] == len(x) for v in got.values()):
                return got
    except Exception:
        pass
    out = {n: [] for n in names}
    try:                              # one sample at a time, as exported (batch 1)
        w = imp.wrapper.transform(InferShapes())
        for s in range(len(x)):
            ctx = execute_onnx(w, {imp.input_name: feed[s:s + 1].reshape(shape)}, return_full_exec_context=True)
            for n in names:
                out[n].append(np.asarray(ctx[n]).reshape(-1))
    except Exception as e:            # onnxruntime and qonnx raise assorted types
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise HwtrainError(f"the qonnx executor cannot run the graph: {first}") from None
    return {n: np.stack(v) for n, v in out.items()}


def golden_preactivations(model: BinaryMLP, x: np.ndarray) -> tuple[list, np.ndarray]:
    """hwtrain's integer pre-activations ``2 * agreements - K`` of every layer and the classes."""
    from ..core import bits
    from ..golden.inference import InferenceCore
    from .config import InferenceConfig
    cfg = InferenceConfig(sizes=model.sizes, classes=model.classes)
    core = InferenceCore(cfg, model)
    acts = core.activations(x)
    pre = []
    for l, w in enumerate(model.weights + [model.classifier]):
        k = w.shape[1]
        pre.append(2 * bits.xnor_popcount(acts[l], bits.pack(w), k).astype(np.int64) - k)
    classes, _ = core(x)
    return pre, classes


def _graph_classes(logits: np.ndarray, exact: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, int]:
    """The graph's classes (argmax of its float output ``logits``), where exact ties are broken as
    hwtrain breaks them, and how many samples needed that.

    ``exact`` are the graph's classifier pre-activations as integers (sign-corrected, so larger
    is better). When the float argmax differs from ``classes`` but both classes have the same
    integer pre-activation, the real-valued logits tie exactly: with a weight scale that is not
    a power of two (Brevitas' binary weights: 0.1) float32 summation order decides such a tie,
    while hwtrain (and the exact graph) take the lowest index."""
    got = np.argmax(logits, axis=1)
    rows = np.arange(len(got))
    tie = (got != classes) & (exact[rows, got] == exact[rows, classes]) & \
          (exact[rows, classes] == exact.max(axis=1))
    return np.where(tie, classes, got), int(tie.sum())


def check(imp: Imported, x: np.ndarray, model: BinaryMLP | None = None) -> dict:
    """Run the QONNX graph (qonnx executor) on +-1 or 0/1 samples ``x`` and require the same classes,
    integer pre-activations and hidden activations as hwtrain's golden model of ``model`` (default:
    the import); then ``check_fold`` (every neuron at every reachable dot product).

    Exact ties of the classifier (two classes with the same integer pre-activation) that the
    graph's float32 arithmetic broke differently from hwtrain's lowest index are counted
    (``class_ties_rounded``), not refused: the integer pre-activations are equal. A hidden
    activation that differs is refused; when the graph's MatMul/Gemm output is not the exact
    ``s * d`` the error says that float32 rounding of a non-power-of-two scale decided it."""
    model = model or imp.model
    x = np.asarray(x)
    xs = np.where(x > 0, 1.0, -1.0)
    acts = [t[-1] for t in imp.tails]
    names = list(dict.fromkeys([p[0] for p in imp.probes] + acts + [imp.output_name]))
    got = _run_graph(imp, xs, names)
    pre, classes = golden_preactivations(model, (xs > 0).astype(np.uint8))
    exact = None
    for l, ((name, scale, offset), neg) in enumerate(zip(imp.probes, imp.negated)):
        y = (got[name].astype(np.float64) - offset) / scale
        yi = np.rint(y).astype(np.int64)
        require(bool(np.all(np.abs(y - yi) < 1e-3)),
                f"layer {l}: the graph's pre-activations {name!r} are not integer multiples of the scale")
        want = np.where(neg[None, :], -pre[l], pre[l])
        bad = np.argwhere(yi != want)
        require(not len(bad), f"layer {l} ({name}): {len(bad)} integer pre-activations differ from the "
                              f"golden model's, first at sample {bad[0][0]} neuron {bad[0][1]}: graph "
                              f"{yi[tuple(bad[0])]}, hwtrain {want[tuple(bad[0])]}" if len(bad) else "")
        if l == len(acts):
            exact = np.where(neg[None, :], -yi, yi)
            break
        k = model.weights[l].shape[1]
        require(model.thresholds is not None, "the model has no per-neuron thresholds")
        fires = (pre[l] + k) // 2 >= np.asarray(model.thresholds[l])[None, :]
        bad = np.argwhere((got[acts[l]].reshape(len(x), -1) > 0) != fires)
        if len(bad):
            s, j = bad[0]
            v = np.float32(got[name][s, j])
            ideal = np.float32(want[s, j] * scale[j] + offset[j])
            why = (f"; the graph's {name!r} there is {float(v)!r}, not the exact s * d = {float(ideal)!r} "
                   f"(s = {scale[j]:.9g}, d = {want[s, j]}): float32 summation with a scale that is not a "
                   f"power of two rounded it across the activation's threshold. Export with power-of-two "
                   f"scales (Brevitas' SignedBinaryWeightPerTensorConst uses 0.1: pass "
                   f"weight_scaling_const=1.0 to QuantLinear)" if v != ideal else
                   f"; the graph's {name!r} there is the exact s * d = {float(v)!r}, so its nodes between "
                   f"{name!r} and {acts[l]!r} decide differently from the fold")
            raise HwtrainError(f"layer {l}: {len(bad)} hidden activations differ from the golden model's, "
                               f"first at sample {s} neuron {j}: graph {'+1' if not fires[s, j] else '-1'}, "
                               f"hwtrain {'+1' if fires[s, j] else '-1'}{why}")
    graph_classes, ties = _graph_classes(np.asarray(got[imp.output_name], dtype=np.float64).reshape(len(x), -1),
                                         exact, classes)
    bad = np.flatnonzero(graph_classes != classes)
    require(not len(bad), f"{len(bad)} of {len(x)} classes differ from the QONNX graph's, first at sample "
                          f"{bad[0]}: graph {graph_classes[bad[0]]}, hwtrain {classes[bad[0]]}" if len(bad) else "")
    return {"samples": int(len(x)), "classes_equal": int(len(x)), "class_ties_rounded": ties,
            "preactivations_equal": int(sum(p.size for p in pre)), "layers": len(pre),
            "fold_pairs_equal": check_fold(imp, model)}


def save_imported(path, imp: Imported, extra: dict | None = None) -> None:
    """Write the import as an hwtrain model file (``config.algorithm`` = "qonnx", thresholds ``T1..TL``)."""
    import json
    import os
    from ..golden.train.model import FORMAT, VERSION
    m = imp.model
    names = [f"H{l + 1}" for l in range(len(m.weights))]
    meta = {"format": FORMAT, "version": VERSION,
            "config": {"algorithm": "qonnx", "trainer": "qonnx", "sizes": list(m.sizes), "classes": int(m.classes)},
            "matrices": names, "extra": extra or {}}
    arrays = {"meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)}
    for l, (name, w) in enumerate(zip(names, m.weights)):
        arrays[name] = w.astype(np.int32)
        arrays[f"T{l + 1}"] = np.asarray(m.thresholds[l]).astype(np.int32)
    arrays["P0"] = m.classifier.astype(np.int8)
    d = os.path.dirname(os.path.abspath(path))
    require(os.path.isdir(d), f"cannot write model to {path}: directory {d} does not exist")
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
