"""Bit-parallel evaluator of layered Boolean networks (golden twin of hwtrain.hdl.logic).

Samples are packed 64 per ``uint64`` word *along the sample axis*: node values
are an array ``(nodes, words)`` and bit ``s % 64`` of word ``s // 64`` is sample
``s``. Every layer is evaluated with one vectorised NumPy expression per gate
function present in it, over all its gates of that function and all words at once.

Semantics (docs/logic_netlist.md):

* thermometer: encoded bit ``f*T + t`` is ``x[f] > thresholds[f, t]``;
* gate: ``f_op(a, b) = (op >> (3 - 2a - b)) & 1`` (difflogic's order);
* k-input LUT: ``(table >> (2**k - 1 - c)) & 1``, ``c = sum_i x_i << (k - 1 - i)``,
  evaluated as a Shannon tree over the packed words (:func:`_lut`);
* GroupSum: ``count[c]`` = ones among outputs ``c*g .. c*g + g - 1``;
* prediction: ``argmax(count)``, ties go to the lowest class index.

The hardware finds the argmax with a balanced tournament (hwtrain.hdl.argmax,
pipelined or not); :func:`tournament_argmax` is its bracket, round by round,
and is tested equal to ``np.argmax``: the pipelined head has no semantics of
its own beyond this.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..config import ConfigBase
from ..errors import require
from ..logic.netlist import LutLayer, Netlist

WORD = 64
_ONES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)

#: GroupSum/argmax heads, pipeline flows and tournament pipelines of the hardware
#: (hwtrain.hdl.logic, hwtrain.hdl.argmax); none of them changes a result.
HEADS = ("comb", "pipelined", "fused")
FLOWS = ("stall", "credit")
FIFOS = ("shift", "lutram")
TOURNAMENT_PIPELINES = ("round", "compare", "split")


@dataclass(frozen=True)
class LogicCoreConfig(ConfigBase):
    """A learned Boolean network as a streaming core: the netlist file and how it is pipelined.

    netlist           path of a netlist file (.json or .npz, hwtrain.logic.netlist).
    register_every    a register after every k gate layers (0: combinational), or
                      "lut4": wherever a cone would exceed one LUT4.
    register_after    gate layers (0-based) followed by a register, instead of register_every.
    register_encoder  register the thermometer bits.
    head              GroupSum/argmax head: "comb" (one stage), "pipelined" (compressor
                      popcounts and a pipelined tournament) or "fused" (as "pipelined", with the
                      last gate stage absorbed into the popcounts' first level: hwtrain.hdl.logic).
    head_levels       adder levels per register of the pipelined head.
    argmax_pipeline   tournament registers of the pipelined head: "round", "compare" or "split".
    flow              "stall" (one global enable) or "credit" (free-running pipeline into
                      an output FIFO).
    fifo              the credit flow's output FIFO: "shift" (flip-flops) or "lutram" (a memory
                      with asynchronous read: distributed RAM on ECP5).
    encoded           the input payload is the encoded bits, not raw features through the
                      netlist's thermometer encoder.
    counts_out        also stream out every class's GroupSum count.
    serial            features per beat of a serial input (hwtrain.hdl.logic_serial: the bits the
                      network reads are captured as their features pass; a sample takes
                      features / serial + 3 cycles); 0: every feature in one beat.

    The golden model (:class:`LogicNetwork`) takes ``load_netlist()``; the options choose
    registers only, so every setting computes the same function (docs/logic.md).
    """

    netlist: str
    register_every: int | str = 0
    register_after: tuple[int, ...] | None = None
    register_encoder: bool = False
    head: str = "comb"
    head_levels: int = 2
    argmax_pipeline: str = "split"
    flow: str = "stall"
    fifo: str = "shift"
    encoded: bool = False
    counts_out: bool = True
    serial: int = 0

    def __post_init__(self):
        require(isinstance(self.netlist, str) and self.netlist,
                f"netlist must be the path of a netlist file (.json or .npz), got {self.netlist!r}")
        k = self.register_every
        require(k == "lut4" or (isinstance(k, int) and not isinstance(k, bool) and k >= 0),
                f"register_every must be a non-negative integer or 'lut4', got {k!r}")
        require(self.register_after is None or all(isinstance(l, int) and l >= 0 for l in self.register_after),
                f"register_after must list gate layers (integers >= 0), got {self.register_after!r}")
        require(self.head in HEADS, f"head must be one of {', '.join(HEADS)}, got {self.head!r}")
        require(self.flow in FLOWS, f"flow must be one of {', '.join(FLOWS)}, got {self.flow!r}")
        require(self.fifo in FIFOS, f"fifo must be one of {', '.join(FIFOS)}, got {self.fifo!r}")
        require(self.argmax_pipeline in TOURNAMENT_PIPELINES,
                f"argmax_pipeline must be one of {', '.join(TOURNAMENT_PIPELINES)}, got {self.argmax_pipeline!r}")
        require(isinstance(self.head_levels, int) and not isinstance(self.head_levels, bool)
                and self.head_levels >= 1, f"head_levels must be a positive integer, got {self.head_levels!r}")
        require(isinstance(self.serial, int) and not isinstance(self.serial, bool) and self.serial >= 0,
                f"serial must be a number of features per beat (0: all in one beat), got {self.serial!r}")
        require(not (self.serial and self.encoded),
                "serial takes raw features through the netlist's thermometer encoder; encoded takes the "
                "encoded bits in one beat: choose one")
        require(not (self.serial and self.register_encoder),
                "a serial input captures the encoded bits in flip-flops already: leave register_encoder off")

    @classmethod
    def complete(cls, values: dict) -> dict:
        """The netlist path made absolute (benches and tools run in other folders)."""
        if isinstance(values.get("netlist"), (str, os.PathLike)) and values["netlist"]:
            values = {**values, "netlist": os.path.abspath(values["netlist"])}
        return values

    def load_netlist(self) -> Netlist:
        return Netlist.load(self.netlist)

    @property
    def raw(self) -> bool | None:
        """Raw features through the encoder (None: whatever the netlist has); a serial
        input's core takes the bits its encoder captured."""
        return False if self.encoded or self.serial else None


def _op(op: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Gate function ``op`` applied bitwise to packed words."""
    if op == 0:
        return np.zeros_like(a)
    if op == 1:
        return a & b
    if op == 2:
        return a & ~b
    if op == 3:
        return a.copy()
    if op == 4:
        return ~a & b
    if op == 5:
        return b.copy()
    if op == 6:
        return a ^ b
    if op == 7:
        return a | b
    if op == 8:
        return ~(a | b)
    if op == 9:
        return ~(a ^ b)
    if op == 10:
        return ~b
    if op == 11:
        return a | ~b
    if op == 12:
        return ~a
    if op == 13:
        return ~a | b
    if op == 14:
        return ~(a & b)
    return np.full_like(a, _ONES)


def _lut(table: np.ndarray, x: list[np.ndarray]) -> np.ndarray:
    """k-input LUTs (``table`` (n,), inputs ``x[i]`` (n, W) packed words) applied bitwise:
    the truth table's entries as all-ones/all-zeros words, then one multiplexer
    level per input from the last (entry pairs ``2c, 2c + 1`` differ in ``x[k-1]``)."""
    k = len(x)
    t = np.asarray(table, dtype=np.uint64)
    shifts = np.arange((1 << k) - 1, -1, -1, dtype=np.uint64)
    cur = ((t[:, None] >> shifts[None]) & np.uint64(1)) * _ONES        # (n, 2**k): entry c
    cur = cur[:, :, None]
    for i in range(k - 1, -1, -1):
        lo, hi = cur[:, 0::2], cur[:, 1::2]
        xi = x[i][:, None, :]
        cur = (hi & xi) | (lo & ~xi)
    return cur[:, 0]


def pack_samples(bits: np.ndarray) -> np.ndarray:
    """(S, K) 0/1 or bool -> (K, ceil(S/64)) uint64, sample s in bit s%64 of word s//64."""
    bits = np.asarray(bits)
    require(bits.ndim == 2, f"expected (samples, bits), got shape {bits.shape}")
    s, k = bits.shape
    words = (s + WORD - 1) // WORD
    padded = np.zeros((k, words * WORD), dtype=np.uint8)
    padded[:, :s] = bits.T != 0
    return np.ascontiguousarray(np.packbits(padded, axis=1, bitorder="little")).view("<u8").astype(np.uint64)


def unpack_samples(words: np.ndarray, samples: int) -> np.ndarray:
    """Inverse of :func:`pack_samples`: (K, W) words -> (samples, K) uint8 bits."""
    words = np.ascontiguousarray(np.asarray(words, dtype=np.uint64))
    bits = np.unpackbits(words.view(np.uint8), axis=1, bitorder="little")[:, :samples]
    return bits.T


def tournament_argmax(values) -> np.ndarray:
    """Argmax along the last axis by the hardware's bracket: pairs (0,1), (2,3), ...
    meet, an odd last value gets a bye, and the right (higher-index) side wins
    only when strictly larger, so ties go to the lowest index."""
    v = np.asarray(values)
    require(v.ndim >= 1 and v.shape[-1] >= 1, "argmax of no values")
    idx = np.broadcast_to(np.arange(v.shape[-1]), v.shape)
    while v.shape[-1] > 1:
        n = v.shape[-1] - v.shape[-1] % 2
        va, vb, ia, ib = v[..., 0:n:2], v[..., 1:n:2], idx[..., 0:n:2], idx[..., 1:n:2]
        right = vb > va
        nv, ni = np.where(right, vb, va), np.where(right, ib, ia)
        if v.shape[-1] % 2:
            nv = np.concatenate([nv, v[..., -1:]], axis=-1)
            ni = np.concatenate([ni, idx[..., -1:]], axis=-1)
        v, idx = nv, ni
    return idx[..., 0]


class LogicNetwork:
    """Golden model of a layered Boolean network with thermometer encoder and GroupSum."""

    def __init__(self, netlist: Netlist):
        self.netlist = netlist
        starts = netlist.layer_starts()
        # Per layer: list of (op, local gate positions, a ids, b ids).
        self._plan = []
        for l, layer in enumerate(netlist.layers):
            if isinstance(layer, LutLayer):
                self._plan.append((starts[l], len(layer), layer))
                continue
            groups = []
            for op in np.unique(layer.op):
                pos = np.flatnonzero(layer.op == op)
                groups.append((int(op), pos, layer.a[pos], layer.b[pos]))
            self._plan.append((starts[l], len(layer), groups))

    # ------------------------------------------------------------------ encoder
    def encode(self, x) -> np.ndarray:
        """Raw integer features (S, F) -> encoded input bits (S, F*T) uint8."""
        enc = self.netlist.encoder
        require(enc is not None, "this netlist has no thermometer encoder; pass encoded bits")
        x = np.asarray(x)
        require(x.ndim == 2 and x.shape[1] == enc.features,
                f"expected raw features of shape (samples, {enc.features}), got {x.shape}")
        require(x.dtype.kind in "iub", f"raw features must be integers, got dtype {x.dtype}")
        top = (1 << enc.feature_bits) - 1
        require(x.size == 0 or (int(x.min()) >= 0 and int(x.max()) <= top),
                f"raw features must lie in 0..{top} ({enc.feature_bits} bits)")
        bits = x.astype(np.int64)[:, :, None] > enc.thresholds[None]
        return bits.reshape(x.shape[0], -1).astype(np.uint8)

    # ------------------------------------------------------------------ core
    def eval_packed(self, inputs: np.ndarray) -> np.ndarray:
        """Packed input bits (inputs, W) -> packed node values of the outputs (outputs, W)."""
        nl = self.netlist
        inputs = np.asarray(inputs, dtype=np.uint64)
        require(inputs.ndim == 2 and inputs.shape[0] == nl.inputs,
                f"expected packed inputs of shape ({nl.inputs}, words), got {inputs.shape}")
        vals = np.empty((nl.nodes, inputs.shape[1]), dtype=np.uint64)
        vals[:nl.inputs] = inputs
        for start, n, groups in self._plan:
            out = vals[start:start + n]
            if isinstance(groups, LutLayer):
                out[:] = _lut(groups.table, [vals[c] for c in groups.ins.T])
                continue
            for op, pos, a, b in groups:
                out[pos] = _op(op, vals[a], vals[b])
        return vals[nl.outputs]

    def output_bits(self, bits, *, chunk: int = 8192) -> np.ndarray:
        """Encoded input bits (S, inputs) -> output bits (S, outputs) uint8."""
        bits = np.asarray(bits)
        require(bits.ndim == 2 and bits.shape[1] == self.netlist.inputs,
                f"expected input bits of shape (samples, {self.netlist.inputs}), got {bits.shape}")
        out = np.empty((bits.shape[0], len(self.netlist.outputs)), dtype=np.uint8)
        for s in range(0, bits.shape[0], chunk):
            part = bits[s:s + chunk]
            out[s:s + chunk] = unpack_samples(self.eval_packed(pack_samples(part)), part.shape[0])
        return out

    def counts_from_bits(self, bits) -> np.ndarray:
        """Encoded input bits (S, inputs) -> GroupSum counts (S, classes) int64."""
        out = self.output_bits(bits)
        c = self.netlist.classes
        return out.reshape(out.shape[0], c, -1).sum(axis=2, dtype=np.int64)

    def counts(self, x) -> np.ndarray:
        """Raw features (through the encoder) -> GroupSum counts (S, classes)."""
        return self.counts_from_bits(self.encode(x))

    @staticmethod
    def argmax(counts) -> np.ndarray:
        """Class with the largest count; ties go to the lowest class index."""
        return np.asarray(counts).argmax(axis=1)  # NumPy returns the first maximum

    def predict_bits(self, bits) -> np.ndarray:
        return self.argmax(self.counts_from_bits(bits))

    def predict(self, x) -> np.ndarray:
        return self.argmax(self.counts(x))

    def accuracy(self, x, y, *, encoded: bool = False) -> float:
        pred = self.predict_bits(x) if encoded else self.predict(x)
        return float((pred == np.asarray(y)).mean())
