"""Layered Boolean networks: the netlist format (versions 1 and 2), its checks, load and save.

The format is specified in ``docs/logic_netlist.md``; this module is its reference
implementation. In short:

* **Nodes** carry one bit each and have global ids. Ids ``0 .. inputs-1`` are the
  encoded input bits; then come the gates of layer 0, layer 1, ... in order.
* **Gates** have a function id ``op`` in 0..15 (difflogic's order, see
  :data:`GATE_NAMES`) and two input node ids ``a`` and ``b``. A gate of layer ``l``
  may read any node created before layer ``l`` (an input or a gate of an earlier
  layer): skip connections are allowed, reads within a layer are not. Gates that
  ignore an input (constants, identities, negations) still name a valid node.
* **Function ids**: ``f_op(a, b) = (op >> (3 - 2*a - b)) & 1``, i.e. the truth table of ``op`` read
  MSB first over (a, b) = (0,0), (0,1), (1,0), (1,1). ``op=1`` is AND, ``op=6`` XOR,
  ``op=7`` OR, ``op=3`` is ``a``, ``op=12`` is ``not a``.
* **LUT nodes** (version 2): a layer may instead hold k-input LUTs (k = 1..6), each
  a truth table ``table`` and k input node ids ``ins``: the node is
  ``(table >> (2**k - 1 - c)) & 1`` with ``c = sum_i x_i << (k - 1 - i)``, MSB first
  like ``op`` (a 2-input LUT's table is its gate's ``op``). Same reading rule as gates.
* **Outputs**: a list of node ids feeding the decoder.
* **Encoder** (optional): a thermometer over ``features`` unsigned integers of
  ``feature_bits`` bits. Input bit ``f * T + t`` is ``x[f] > thresholds[f][t]``.
* **Decoder**: GroupSum over ``classes`` contiguous groups of the outputs (group
  ``c`` is outputs ``c*g .. c*g+g-1``, ``g = len(outputs) / classes``); the class
  count is the number of ones in its group, the prediction is the class with the
  largest count, ties going to the lowest class index. ``tau`` divides the counts
  into logits for training; it does not change the prediction.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import HwtrainError, require
from ..npzfile import read_npz

FORMAT = "hwtrain-logic-netlist"
#: Versions read; a netlist is written as 1 while every layer is a gate layer, 2 with LUT layers.
VERSIONS = (1, 2)
#: Largest LUT a LUT layer may hold (its table is one uint64).
MAX_LUT_INPUTS = 6

#: Names of the 16 bivariate functions in difflogic's order (function id = index).
GATE_NAMES = (
    "false", "a_and_b", "a_and_not_b", "a", "not_a_and_b", "b", "a_xor_b", "a_or_b",
    "a_nor_b", "a_xnor_b", "not_b", "a_or_not_b", "not_a", "not_a_or_b", "a_nand_b", "true",
)

#: Bit ``2*a + b`` of TRUTH[op] is f_op(a, b).
TRUTH = tuple(sum(((op >> (3 - (2 * a + b))) & 1) << (2 * a + b) for a in (0, 1) for b in (0, 1))
              for op in range(16))


def gate_value(op: int, a: int, b: int) -> int:
    """f_op(a, b) for single bits (the definition every evaluator must agree with)."""
    return (op >> (3 - 2 * a - b)) & 1


def op_from_truth(t: int) -> int:
    """Function id whose truth table (bit ``2*a + b``) is ``t``."""
    return sum(((t >> (2 * a + b)) & 1) << (3 - 2 * a - b) for a in (0, 1) for b in (0, 1))


def op_depends(op: int) -> tuple[bool, bool]:
    """Whether f_op depends on its first and on its second input."""
    dep_a = any(gate_value(op, 0, b) != gate_value(op, 1, b) for b in (0, 1))
    dep_b = any(gate_value(op, a, 0) != gate_value(op, a, 1) for a in (0, 1))
    return dep_a, dep_b


@dataclass
class Thermometer:
    """Thermometer encoder: bit ``f*T + t`` is ``x[f] > thresholds[f, t]``."""

    thresholds: np.ndarray          # (features, T) int64
    feature_bits: int

    def __post_init__(self):
        thr = np.asarray(self.thresholds)
        require(thr.ndim == 2 and thr.shape[0] >= 1 and thr.shape[1] >= 1,
                f"thermometer thresholds must be a non-empty (features, T) table, got shape {thr.shape}")
        require(thr.dtype.kind in "iu" or (thr.dtype.kind == "f" and np.all(thr == np.round(thr))),
                "thermometer thresholds must be integers")
        self.thresholds = thr.astype(np.int64)
        require(isinstance(self.feature_bits, (int, np.integer)) and 1 <= int(self.feature_bits) <= 32,
                f"feature_bits must be an integer in 1..32, got {self.feature_bits!r}")
        self.feature_bits = int(self.feature_bits)
        top = (1 << self.feature_bits) - 1
        require(bool(((self.thresholds >= 0) & (self.thresholds <= top)).all()),
                f"thermometer thresholds must lie in 0..{top} for {self.feature_bits}-bit features")

    @property
    def features(self) -> int:
        return self.thresholds.shape[0]

    @property
    def levels(self) -> int:
        return self.thresholds.shape[1]

    @property
    def bits(self) -> int:
        return self.features * self.levels

    @classmethod
    def uniform(cls, features: int, levels: int, feature_bits: int, lo: int = 0, hi: int | None = None):
        """Equally spaced thresholds over ``[lo, hi]`` (default the full feature range)."""
        hi = (1 << feature_bits) - 1 if hi is None else hi
        require(levels >= 1, f"a thermometer needs at least one level, got {levels}")
        thr = [int(lo + (hi - lo + 1) * (t + 1) // (levels + 1)) for t in range(levels)]
        return cls(np.tile(np.array(thr, dtype=np.int64), (features, 1)), feature_bits)

    def to_dict(self) -> dict:
        return {"type": "thermometer", "feature_bits": self.feature_bits,
                "thresholds": self.thresholds.tolist()}


@dataclass
class GroupSum:
    """GroupSum decoder over ``classes`` contiguous groups of output bits."""

    classes: int
    tau: float = 1.0

    def __post_init__(self):
        require(isinstance(self.classes, (int, np.integer)) and int(self.classes) >= 1,
                f"GroupSum needs a positive number of classes, got {self.classes!r}")
        self.classes = int(self.classes)
        require(isinstance(self.tau, (int, float)) and float(self.tau) > 0,
                f"GroupSum tau must be a positive number, got {self.tau!r}")
        self.tau = float(self.tau)

    def to_dict(self) -> dict:
        return {"type": "groupsum", "classes": self.classes, "tau": self.tau}


#: (16, 2) bool: whether f_op depends on its first and on its second input.
_OP_DEPENDS = np.array([op_depends(op) for op in range(16)], dtype=bool)


@dataclass
class Layer:
    op: np.ndarray   # (n,) uint8
    a: np.ndarray    # (n,) int64 global node ids
    b: np.ndarray

    def __len__(self) -> int:
        return int(self.op.shape[0])

    def reads(self) -> np.ndarray:
        """(n, 2) node ids each gate names (also those its function ignores)."""
        return np.stack([self.a, self.b], axis=1)

    def depends(self) -> np.ndarray:
        """(n, 2) bool: whether each gate's function depends on ``a`` and on ``b``."""
        return _OP_DEPENDS[self.op.astype(np.int64)]


@dataclass
class LutLayer:
    """k-input LUT nodes: node ``j`` is bit ``2**k - 1 - c`` of ``table[j]`` with
    ``c = sum_i x_i << (k - 1 - i)``, ``x_i`` the value of node ``ins[j, i]``."""

    table: np.ndarray   # (n,) uint64 truth tables, MSB first
    ins: np.ndarray     # (n, k) int64 global node ids

    def __len__(self) -> int:
        return int(self.table.shape[0])

    @property
    def k(self) -> int:
        return int(self.ins.shape[1])

    def reads(self) -> np.ndarray:
        return self.ins

    def depends(self) -> np.ndarray:
        return lut_depends(self.table, self.k)


def lut_value(table: int, bits) -> int:
    """A LUT's value for single input bits ``bits`` (x_0 first): the definition
    every evaluator must agree with."""
    k = len(bits)
    c = sum(int(b) << (k - 1 - i) for i, b in enumerate(bits))
    return (int(table) >> ((1 << k) - 1 - c)) & 1


def lut_depends(table: np.ndarray, k: int) -> np.ndarray:
    """(n, k) bool: whether each LUT's function depends on each of its inputs."""
    t = np.asarray(table, dtype=np.uint64)
    bits = (t[:, None] >> np.arange((1 << k) - 1, -1, -1, dtype=np.uint64)[None]) & np.uint64(1)
    bits = bits.reshape((len(t),) + (2,) * k)
    return np.stack([np.any(np.take(bits, 0, axis=1 + i) != np.take(bits, 1, axis=1 + i),
                            axis=tuple(range(1, k))) for i in range(k)], axis=1) if len(t) else \
        np.zeros((0, k), dtype=bool)


@dataclass
class Netlist:
    """A layered Boolean network with its encoder and decoder (format version 1)."""

    inputs: int
    layers: list[Layer]
    outputs: np.ndarray
    decoder: GroupSum
    encoder: Thermometer | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.layers = [Layer(np.asarray(l.op), np.asarray(l.a), np.asarray(l.b)) if isinstance(l, Layer)
                       else LutLayer(np.asarray(l.table), np.asarray(l.ins)) if isinstance(l, LutLayer)
                       else _layer_from(l, i) for i, l in enumerate(self.layers)]
        self.outputs = np.asarray(self.outputs)
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> "Netlist":
        require(isinstance(self.inputs, (int, np.integer)) and int(self.inputs) >= 1,
                f"netlist needs at least one input bit, got inputs={self.inputs!r}")
        self.inputs = int(self.inputs)
        if self.encoder is not None:
            require(self.encoder.bits == self.inputs,
                    f"thermometer encoder makes {self.encoder.bits} bits "
                    f"({self.encoder.features} features x {self.encoder.levels} levels) "
                    f"but the netlist has {self.inputs} inputs")
        start = self.inputs
        for li, layer in enumerate(self.layers):
            if isinstance(layer, LutLayer):
                self._validate_lut(li, layer, start)
                start += len(layer)
                continue
            n = len(layer.op)
            for name, arr in (("op", layer.op), ("a", layer.a), ("b", layer.b)):
                require(arr.ndim == 1 and arr.shape[0] == n,
                        f"layer {li}: '{name}' has shape {arr.shape}, expected ({n},) like 'op'")
                require(n == 0 or arr.dtype.kind in "iu",
                        f"layer {li}: '{name}' must hold integers, got dtype {arr.dtype}")
            if n:
                bad = np.flatnonzero((layer.op < 0) | (layer.op > 15))
                require(bad.size == 0,
                        f"layer {li}, gate {bad[:1].tolist()}: unknown gate function id "
                        f"{layer.op[bad[:1]].tolist()} (valid ids are 0..15)")
                for name, arr in (("a", layer.a), ("b", layer.b)):
                    bad = np.flatnonzero((arr < 0) | (arr >= start))
                    require(bad.size == 0,
                            f"layer {li}, gate {int(bad[0]) if bad.size else 0}: input '{name}' = "
                            f"{int(arr[bad[0]]) if bad.size else 0} is out of range (a gate of layer {li} "
                            f"may read node ids 0..{start - 1})")
            layer.op = layer.op.astype(np.uint8)
            layer.a = layer.a.astype(np.int64)
            layer.b = layer.b.astype(np.int64)
            start += n
        out = self.outputs
        require(out.ndim == 1 and out.shape[0] >= 1, f"netlist needs a 1-D non-empty output list, got shape {out.shape}")
        require(out.dtype.kind in "iu", f"outputs must be integer node ids, got dtype {out.dtype}")
        bad = np.flatnonzero((out < 0) | (out >= start))
        require(bad.size == 0, f"output {int(bad[0]) if bad.size else 0} names node "
                f"{int(out[bad[0]]) if bad.size else 0}, out of range 0..{start - 1}")
        self.outputs = out.astype(np.int64)
        require(len(self.outputs) % self.decoder.classes == 0,
                f"{len(self.outputs)} outputs do not split into {self.decoder.classes} equal GroupSum groups")
        return self

    @staticmethod
    def _validate_lut(li: int, layer: "LutLayer", start: int) -> None:
        t, ins = layer.table, layer.ins
        require(t.ndim == 1, f"layer {li}: 'table' must be a 1-D array, got shape {t.shape}")
        n = t.shape[0]
        require(ins.ndim == 2 and ins.shape[0] == n and 1 <= ins.shape[1] <= MAX_LUT_INPUTS,
                f"layer {li}: 'inputs' has shape {ins.shape}, expected ({n}, k) with k in 1..{MAX_LUT_INPUTS}")
        require(n == 0 or (t.dtype.kind in "iu" and ins.dtype.kind in "iu"),
                f"layer {li}: 'table' and 'inputs' must hold integers, got {t.dtype} and {ins.dtype}")
        k = ins.shape[1]
        if n:
            bits = 1 << k
            bad = np.flatnonzero((t < 0) if t.dtype.kind == "i" else np.zeros(n, dtype=bool))
            if bits < 64:
                bad = np.union1d(bad, np.flatnonzero(t.astype(np.uint64) >> np.uint64(bits)))
            require(bad.size == 0, f"layer {li}, LUT {int(bad[0]) if bad.size else 0}: truth table "
                    f"{int(t[bad[0]]) if bad.size else 0} does not fit {bits} bits (k = {k})")
            bad = np.argwhere((ins < 0) | (ins >= start))
            require(bad.size == 0, f"layer {li}, LUT {int(bad[0, 0]) if bad.size else 0}: input "
                    f"{int(bad[0, 1]) if bad.size else 0} = {int(ins[tuple(bad[0])]) if bad.size else 0} "
                    f"is out of range (a node of layer {li} may read node ids 0..{start - 1})")
        layer.table = t.astype(np.uint64)
        layer.ins = ins.astype(np.int64)

    @property
    def has_luts(self) -> bool:
        return any(isinstance(l, LutLayer) for l in self.layers)

    # ------------------------------------------------------------------ shape
    @property
    def gates(self) -> int:
        return sum(len(l) for l in self.layers)

    @property
    def nodes(self) -> int:
        return self.inputs + self.gates

    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def classes(self) -> int:
        return self.decoder.classes

    @property
    def group_size(self) -> int:
        return len(self.outputs) // self.decoder.classes

    def layer_starts(self) -> list[int]:
        """Global id of the first gate of each layer (plus the end as last entry)."""
        starts = [self.inputs]
        for l in self.layers:
            starts.append(starts[-1] + len(l))
        return starts

    def last_use(self) -> np.ndarray:
        """For every node, the last layer that reads it (``depth`` for an output, -1 if nothing
        does): a pipeline keeps a node in its registers up to that layer."""
        last = np.full(self.nodes, -1, dtype=np.int64)
        for l, layer in enumerate(self.layers):
            last[layer.reads()[layer.depends()]] = l
        last[self.outputs] = self.depth
        return last

    def all_gates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(op, a, b) of every gate concatenated in id order (gate layers only)."""
        require(not self.has_luts, "this netlist has LUT layers; all_gates() lists 2-input gates only")
        if not self.layers:
            e = np.zeros(0, dtype=np.int64)
            return e.astype(np.uint8), e, e
        return (np.concatenate([l.op for l in self.layers]), np.concatenate([l.a for l in self.layers]),
                np.concatenate([l.b for l in self.layers]))

    def op_histogram(self) -> dict[str, int]:
        """Gates per function name; LUT nodes count as ``lut<k>``."""
        out: dict[str, int] = {}
        gates = [l.op for l in self.layers if isinstance(l, Layer)]
        if gates:
            counts = np.bincount(np.concatenate(gates), minlength=16)
            out = {GATE_NAMES[i]: int(c) for i, c in enumerate(counts) if c}
        for l in self.layers:
            if isinstance(l, LutLayer) and len(l):
                out[f"lut{l.k}"] = out.get(f"lut{l.k}", 0) + len(l)
        return out

    def summary(self) -> dict:
        return {"inputs": self.inputs, "gates": self.gates, "layers": [len(l) for l in self.layers],
                "outputs": len(self.outputs), "classes": self.classes, "group_size": self.group_size,
                "encoder": None if self.encoder is None else
                {"features": self.encoder.features, "levels": self.encoder.levels,
                 "feature_bits": self.encoder.feature_bits}}

    # ------------------------------------------------------------------ io
    def to_dict(self) -> dict:
        return {
            "format": FORMAT, "version": self.version, "inputs": self.inputs,
            "encoder": None if self.encoder is None else self.encoder.to_dict(),
            "layers": [{"lut": l.k, "table": [int(t) for t in l.table], "inputs": l.ins.tolist()}
                       if isinstance(l, LutLayer) else
                       {"op": l.op.tolist(), "a": l.a.tolist(), "b": l.b.tolist()} for l in self.layers],
            "outputs": self.outputs.tolist(), "decoder": self.decoder.to_dict(), "meta": self.meta,
        }

    @property
    def version(self) -> int:
        """Format version this netlist needs: 2 with LUT layers, else 1 (older readers)."""
        return 2 if self.has_luts else 1

    @classmethod
    def from_dict(cls, d) -> "Netlist":
        require(isinstance(d, dict), "netlist must be a JSON object")
        require(d.get("format") == FORMAT,
                f"not an hwtrain logic netlist (format is {d.get('format')!r}, expected {FORMAT!r})")
        ver = d.get("version")
        require(ver in VERSIONS, f"unsupported netlist version {ver!r}; this hwtrain reads versions "
                                 f"{', '.join(map(str, VERSIONS))}")
        for key in ("inputs", "layers", "outputs", "decoder"):
            require(key in d, f"netlist is missing the '{key}' field")
        dec = d["decoder"]
        require(isinstance(dec, dict) and dec.get("type") == "groupsum",
                f"unknown decoder {dec.get('type') if isinstance(dec, dict) else dec!r}; expected 'groupsum'")
        require("classes" in dec, "GroupSum decoder is missing 'classes'")
        decoder = GroupSum(dec["classes"], dec.get("tau", 1.0))
        enc = d.get("encoder")
        encoder = None
        if enc is not None:
            require(isinstance(enc, dict) and enc.get("type") == "thermometer",
                    f"unknown encoder {enc.get('type') if isinstance(enc, dict) else enc!r}; expected 'thermometer'")
            for key in ("feature_bits", "thresholds"):
                require(key in enc, f"thermometer encoder is missing '{key}'")
            encoder = Thermometer(_int_array(enc["thresholds"], "encoder thresholds", ndim=2), enc["feature_bits"])
        require(isinstance(d["layers"], list), "'layers' must be a list")
        require(isinstance(d.get("meta") or {}, dict), "'meta' must be a JSON object")
        layers = [_layer_from(l, i) for i, l in enumerate(d["layers"])]
        return cls(inputs=d["inputs"], layers=layers, outputs=_int_array(d["outputs"], "outputs"),
                   decoder=decoder, encoder=encoder, meta=dict(d.get("meta") or {}))

    def save(self, path) -> None:
        """Write JSON (``.json``) or compressed NumPy (``.npz``) by file extension."""
        path = os.fspath(path)
        if path.endswith(".npz"):
            arrays = {"header": np.array(json.dumps({
                "format": FORMAT, "version": self.version, "inputs": self.inputs,
                "encoder": None if self.encoder is None else {"type": "thermometer",
                                                                 "feature_bits": self.encoder.feature_bits},
                "decoder": self.decoder.to_dict(), "meta": self.meta, "layers": len(self.layers)}))}
            if self.encoder is not None:
                arrays["encoder_thresholds"] = self.encoder.thresholds
            arrays["outputs"] = self.outputs
            for i, l in enumerate(self.layers):
                if isinstance(l, LutLayer):
                    arrays[f"layer{i}_table"], arrays[f"layer{i}_inputs"] = l.table, l.ins
                else:
                    arrays[f"layer{i}_op"], arrays[f"layer{i}_a"], arrays[f"layer{i}_b"] = l.op, l.a, l.b
            np.savez_compressed(path, **arrays)
        else:
            with open(path, "w") as f:
                json.dump(self.to_dict(), f, separators=(",", ":"))

    @classmethod
    def load(cls, path) -> "Netlist":
        path = os.fspath(path)
        require(os.path.exists(path), f"netlist file {path} does not exist")
        require(os.path.isfile(path), f"netlist file {path} is a directory, expected a .json or .npz netlist")
        if path.endswith(".npz"):
            z = read_npz(path, "an hwtrain logic netlist (.npz)")
            require("header" in z, f"{path}: not an hwtrain netlist (.npz without 'header')")
            header = z["header"]
            require(header.dtype.kind == "U" and header.ndim == 0,
                    f"{path}: malformed netlist header (a {header.dtype} array of shape {header.shape}, "
                    f"expected a JSON string)")
            try:
                d = json.loads(str(header))
            except json.JSONDecodeError as e:
                raise HwtrainError(f"{path}: malformed netlist header ({e})") from None
            require(isinstance(d, dict) and isinstance(d.get("layers"), int)
                    and not isinstance(d["layers"], bool) and d["layers"] >= 0,
                    f"{path}: malformed netlist header (expected an object with a layer count)")
            layers = []
            for i in range(d["layers"]):
                if f"layer{i}_table" in z:
                    require(f"layer{i}_inputs" in z, f"{path}: layer {i} has a 'table' but no 'inputs' array")
                    ins = z[f"layer{i}_inputs"]
                    layers.append({"lut": int(ins.shape[1]) if ins.ndim == 2 else 0,
                                   "table": z[f"layer{i}_table"], "inputs": ins})
                    continue
                keys = [f"layer{i}_{k}" for k in ("op", "a", "b")]
                require(all(k in z for k in keys), f"{path}: layer {i} arrays are missing")
                layers.append({"op": z[keys[0]], "a": z[keys[1]], "b": z[keys[2]]})
            d["layers"] = layers
            require("outputs" in z, f"{path}: 'outputs' array is missing")
            d["outputs"] = z["outputs"]
            enc = d.get("encoder")
            if enc is not None:
                require(isinstance(enc, dict), f"{path}: malformed encoder in the netlist header")
                require("encoder_thresholds" in z, f"{path}: encoder thresholds are missing")
                enc["thresholds"] = z["encoder_thresholds"]
            try:
                return cls.from_dict(d)
            except HwtrainError as e:
                raise HwtrainError(f"{path}: {e}") from None
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise HwtrainError(f"{path}: netlist is not valid JSON: {e}") from None
        except OSError as e:
            raise HwtrainError(f"cannot read netlist {path}: {e.strerror or e}") from None
        try:
            return cls.from_dict(d)
        except HwtrainError as e:
            raise HwtrainError(f"{path}: {e}") from None


def _int_array(x, what: str, ndim: int = 1) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except ValueError:
        raise HwtrainError(f"{what} must be a rectangular array of integers") from None
    if arr.size == 0:
        arr = arr.astype(np.int64).reshape((0,) * ndim if ndim == 1 else arr.shape)
    require(arr.ndim == ndim, f"{what} must be a {ndim}-D array of integers, got shape {arr.shape}")
    require(arr.dtype.kind in "iu" or arr.size == 0, f"{what} must hold integers, got {arr.dtype}")
    return arr.astype(np.int64)


def _uint_array(x, what: str) -> np.ndarray:
    """Truth tables up to 64 bits (JSON integers beyond int64 included)."""
    try:
        arr = np.asarray(x) if isinstance(x, np.ndarray) else np.array([int(v) for v in x], dtype=np.uint64)
    except (TypeError, ValueError, OverflowError):
        raise HwtrainError(f"{what} must be a list of integers 0 .. 2**64 - 1") from None
    require(arr.ndim == 1 and (arr.dtype.kind in "iu" or arr.size == 0),
            f"{what} must be a 1-D array of integers, got shape {arr.shape}, dtype {arr.dtype}")
    require(arr.size == 0 or arr.dtype.kind == "u" or int(arr.min()) >= 0, f"{what} must not be negative")
    return arr.astype(np.uint64)


def _layer_from(l, i: int) -> Layer | LutLayer:
    if isinstance(l, (Layer, LutLayer)):
        return l
    require(isinstance(l, dict), f"layer {i} must be an object with 'op', 'a', 'b' or 'lut', 'table', 'inputs'")
    if "lut" in l:
        for key in ("table", "inputs"):
            require(key in l, f"layer {i} (LUT layer) is missing '{key}'")
        k = l["lut"]
        require(isinstance(k, (int, np.integer)) and not isinstance(k, bool) and 1 <= k <= MAX_LUT_INPUTS,
                f"layer {i}: 'lut' must be the LUT size 1..{MAX_LUT_INPUTS}, got {k!r}")
        table = _uint_array(l["table"], f"layer {i} 'table'")
        ins = _int_array(l["inputs"], f"layer {i} 'inputs'", ndim=2) if len(table) else \
            np.zeros((0, int(k)), dtype=np.int64)
        require(ins.shape[1] == k, f"layer {i}: 'inputs' has {ins.shape[1]} columns, expected lut = {k}")
        return LutLayer(table, ins)
    for key in ("op", "a", "b"):
        require(key in l, f"layer {i} is missing '{key}'")
    return Layer(*(_int_array(l[k], f"layer {i} '{k}'") for k in ("op", "a", "b")))


def from_difflogic(layers, classes: int, *, inputs: int, tau: float = 1.0,
                   encoder: Thermometer | None = None, meta: dict | None = None) -> Netlist:
    """Build a netlist from difflogic-style layers.

    ``layers`` is a sequence of ``(ops, a, b)`` per layer, where ``ops`` are gate
    function ids in difflogic's order (or an (n, 16) array of gate weights, whose
    argmax is taken, as difflogic discretizes) and ``a``/``b`` index the previous
    layer's outputs (layer 0 indexes the input bits). The last layer feeds GroupSum.
    """
    out_layers = []
    prev_start, prev_n = 0, int(inputs)
    require(prev_n >= 1, f"inputs must be positive, got {inputs}")
    require(len(layers) >= 1, "a difflogic model needs at least one layer")
    start = prev_n
    for i, item in enumerate(layers):
        require(len(item) == 3, f"layer {i}: expected (ops, a, b), got {len(item)} items")
        ops, a, b = (np.asarray(v) for v in item)
        if ops.ndim == 2:
            require(ops.shape[1] == 16, f"layer {i}: gate weights must have 16 columns, got {ops.shape[1]}")
            ops = ops.argmax(axis=1)
        a = _int_array(a, f"layer {i} a")
        b = _int_array(b, f"layer {i} b")
        ops = _int_array(ops, f"layer {i} ops")
        require(a.shape == b.shape == ops.shape,
                f"layer {i}: ops, a and b have shapes {ops.shape}, {a.shape}, {b.shape}")
        for name, arr in (("a", a), ("b", b)):
            bad = np.flatnonzero((arr < 0) | (arr >= prev_n))
            require(bad.size == 0, f"layer {i}: input index {name}={int(arr[bad[0]]) if bad.size else 0} "
                    f"is out of range for a previous layer of {prev_n} nodes")
        out_layers.append(Layer(ops, a + prev_start, b + prev_start))
        prev_start, prev_n = start, len(ops)
        start += len(ops)
    outputs = np.arange(prev_start, prev_start + prev_n)
    return Netlist(inputs=int(inputs), layers=out_layers, outputs=outputs,
                   decoder=GroupSum(classes, tau), encoder=encoder, meta=dict(meta or {}))


def random_netlist(inputs: int, widths, classes: int, *, seed: int = 0, skip: bool = False,
                   encoder: Thermometer | None = None, lut: int = 0) -> Netlist:
    """A random layered netlist (tests and benchmarks). The last width must divide by ``classes``.

    With ``skip`` gates may read any earlier node; otherwise only the previous layer.
    ``lut = k > 0``: layers of random k-input LUTs instead of gates.
    """
    rng = np.random.default_rng(seed)
    layers = []
    prev_start, start = 0, inputs
    for w in widths:
        lo = 0 if skip else prev_start
        if lut:
            bits = rng.integers(0, 2, (w, 1 << lut)).astype(np.uint64)
            tables = (bits << np.arange(1 << lut, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)
            layers.append(LutLayer(tables, rng.integers(lo, start, (w, lut))))
        else:
            layers.append(Layer(rng.integers(0, 16, w).astype(np.uint8),
                                rng.integers(lo, start, w), rng.integers(lo, start, w)))
        prev_start, start = start, start + w
    require(widths[-1] % classes == 0, f"last width {widths[-1]} does not divide into {classes} classes")
    return Netlist(inputs, layers, np.arange(prev_start, start), GroupSum(classes), encoder)
