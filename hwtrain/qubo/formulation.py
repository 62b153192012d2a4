"""Training a layered binary network written as one QUBO (derivation: docs/qubo.md).

Variables are 0/1 bits ``x``; the energy is ``sum_i lin_i x_i + sum_{i<j} Q_ij x_i x_j + offset``
with *integer* coefficients (penalty weights are integers), so the annealer can take
the problem without rounding.

Network (the ``BinaryMLP`` inference semantics): inputs ``a_0`` in {-1,+1}^K0 (a
constant +1 pixel serves as a bias), hidden layers ``a_l = sign(W_l a_{l-1})``, an
output layer ``W_out`` (C x K_L) read as the classifier: class = argmax ``W_out a_L``.
Every fan-in must be odd, so a +-1 dot product is never 0 and sign needs no tie rule.

Variable blocks (in this order; weights first so decoding is a slice):

* ``w{l}`` (K_l x K_{l-1}) and, unless the classifier is fixed, ``w_out`` (C x K_L):
  weight bits, W = 2w - 1.
* per sample n: ``p{l}`` (N x K_l x K_{l-1}) product bits ``w*a`` for layers l >= 2;
  ``s{l}`` (N x K_l x B_l) slack bits and ``a{l}`` (N x K_l) activation bits of the hidden
  sign constraints; ``p_out`` (N x C x K_L, trained classifier only); ``s_out``
  (N x (C-1) x B_out) slacks of the pairwise classification constraints.

Penalties (weights ``sign``, ``classify``, ``product``; regulariser weight ``margin``):

* agreements of a neuron: ``A = sum_j [W_ij == a_j]``, linear in w (layer 1: a is data)
  or in (w, a, p) via ``[W == a] = 1 - w - a + 2p``.
* hidden sign constraint with t = (K+1)/2 and slack S in [0, t-1]: ``sign * (A - t*a - S)^2``,
  zero iff ``a = [A >= t]`` (exactly one slack value fits).
* classification, for every sample and class c != y: ``classify * (A_y - A_c - 1 - S)^2``
  with S in [0, K_L - 1]: zero iff the label's score beats class c by at least 2.
* products: Rosenberg ``product * (w*a - 2*w*p - 2*a*p + 3*p)``, zero iff p = w*a.
* margin regulariser: ``-margin * min(margin of the neuron, margin_cap)`` for every neuron
  and sample (unary slack only).
* dropout-style scheme: ``bias`` adds ``-b_k * (2 w_k - 1)`` per weight bit (train.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ..errors import HwtrainError, require
from ..npzfile import one_line


@dataclass(frozen=True)
class Topology:
    """``sizes`` = (K0, K1, ..., KL) input and hidden widths; ``classes`` output neurons."""
    sizes: tuple
    classes: int

    def __post_init__(self):
        require(len(self.sizes) >= 2, f"a topology needs an input and at least one hidden layer, got {list(self.sizes)}")
        require(all(int(k) >= 1 for k in self.sizes), f"layer sizes must be positive, got {list(self.sizes)}")
        require(self.classes >= 2, f"need at least 2 classes, got {self.classes}")
        for l, k in enumerate(self.sizes):
            require(k % 2 == 1, f"fan-in {k} of layer {l + 1} is even; QUBO training needs odd fan-ins "
                                f"(sizes {list(self.sizes)}) so that sign never sees 0")


@dataclass(frozen=True)
class Penalties:
    """Integer penalty weights and the slack encoding (see module doc).

    ``sign`` weighs the hidden sign constraints, ``classify`` the pairwise classification
    constraints. A wrong hidden activation must never pay for itself by fixing output
    constraints, which needs ``sign`` large against ``classify`` (docs/qubo.md).
    ``margin`` (0 = off) rewards every neuron's margin up to ``margin_cap`` agreements;
    it needs the unary slack encoding. ``slack`` is "unary" (t-1 bits of weight 1: any
    change of a pre-activation by one is absorbed by one bit flip) or "binary"
    (1, 2, 4, ...: fewer bits, but a change by one may need a carry over many bits).
    """
    sign: int = 0             # 0: derived, 4 * K_L * (C - 1) * classify + 2 * margin * (C - 1) + 1
    classify: int = 1
    product: int = 0          # 0: derived per layer as weight * (fan-in + 1)
    margin: int = 0
    margin_cap: int = 2
    slack: str = "unary"

    def __post_init__(self):
        for k in ("sign", "classify", "product", "margin", "margin_cap"):
            v = getattr(self, k)
            require(isinstance(v, (int, np.integer)) and v >= 0, f"penalty {k} must be a non-negative integer, got {v!r}")
        require(self.classify >= 1, "the classify penalty must be at least 1")
        require(self.slack in ("unary", "binary"), f"slack encoding must be 'unary' or 'binary', got {self.slack!r}")
        require(not self.margin or (self.slack == "unary" and self.margin_cap >= 1),
                "the margin regulariser needs slack='unary' and margin_cap >= 1")


def slack_coefficients(r: int) -> list[int]:
    """Bits encoding an integer in exactly [0, r]: 1, 2, 4, ... and a capped last coefficient."""
    out, total = [], 0
    while total < r:
        c = min(1 << len(out), r - total)
        out.append(c)
        total += c
    return out


def slack_bits(r: int, slack: str = "unary") -> list[int]:
    """Coefficients of the slack bits of a range [0, r] in encoding ``slack``."""
    return [1] * r if slack == "unary" else slack_coefficients(r)


@dataclass
class Qubo:
    """An integer QUBO plus the layout of its variable blocks."""
    n: int
    linear: np.ndarray                    # (n,) int64
    rows: np.ndarray                      # quadratic terms, rows < cols, no duplicates
    cols: np.ndarray
    vals: np.ndarray                      # int64
    offset: int
    blocks: dict = field(default_factory=dict)     # name -> (start, shape)
    topology: Topology | None = None
    slack: str = "unary"                  # slack encoding (for ``complete``)
    classifier: np.ndarray | None = None  # the fixed output layer, if any

    def energy(self, x) -> np.ndarray:
        """Energies of 0/1 assignments ``x`` (n,) or (m, n), as int64."""
        x = np.atleast_2d(np.asarray(x)).astype(np.int64)
        require(x.shape[1] == self.n, f"assignment has {x.shape[1]} variables, the QUBO has {self.n}")
        return x @ self.linear + (x[:, self.rows] * x[:, self.cols]) @ self.vals + self.offset

    def to_bqm(self):
        """The same problem as a ``dimod.BinaryQuadraticModel`` (BINARY, integer labels 0..n-1)."""
        dimod = require_dimod()
        return dimod.BinaryQuadraticModel.from_numpy_vectors(
            self.linear.astype(float), (self.rows, self.cols, self.vals.astype(float)),
            float(self.offset), dimod.BINARY)

    def block(self, x, name: str) -> np.ndarray:
        start, shape = self.blocks[name]
        return np.asarray(x)[..., start:start + int(np.prod(shape))].reshape(np.shape(x)[:-1] + tuple(shape))

    def sizes(self) -> dict:
        out = {name: int(np.prod(shape)) for name, (_, shape) in self.blocks.items()}
        out.update(variables=self.n, quadratic_terms=int(self.vals.size))
        return out

    def weight_variables(self) -> int:
        return sum(int(np.prod(s)) for k, (_, s) in self.blocks.items() if k.startswith("w"))


#: Largest |bias| read from a BQM: every integer up to 2**53 is exact in a float64,
#: and sums of many of them still fit the int64 energies.
MAX_BIAS = 2 ** 53


def require_dimod():
    try:
        import dimod
    except ImportError:
        raise HwtrainError("QUBO export needs dimod (pip install 'hwtrain[qubo]')") from None
    return dimod


def from_bqm(bqm) -> Qubo:
    """An integer :class:`Qubo` from a dimod BQM with labels 0..n-1 and integral biases."""
    dimod = require_dimod()
    require(isinstance(bqm, dimod.BinaryQuadraticModel), f"expected a dimod BinaryQuadraticModel, got {type(bqm).__name__}")
    b = bqm.change_vartype(dimod.BINARY, inplace=False)
    n = b.num_variables
    require(n >= 1, "the QUBO has no variables")
    require(set(b.variables) == set(range(n)), "QUBO variables must be labelled 0..n-1")
    lin, (r, c, v), off = b.to_numpy_vectors(variable_order=list(range(n)))
    for name, arr in (("linear", lin), ("quadratic", v), ("offset", np.array([off]))):
        require(bool(np.isfinite(arr).all()), f"QUBO {name} biases must be finite")
        require(bool((arr == np.round(arr)).all()), f"QUBO {name} biases must be integers (scale them first)")
        require(bool((np.abs(arr) <= MAX_BIAS).all()),
                f"QUBO {name} biases must lie within +-2**53 (exact integers in a float), got "
                f"{float(np.abs(arr).max()):g}")
    return _finish(n, lin.astype(np.int64), r, c, v.astype(np.int64), int(off), {}, None)


BQM_MAGIC = b"DIMODBQM"


def check_bqm_bytes(raw: bytes) -> None:
    """Check the structure of a dimod BQM file (format versions 1 and 2, dimod's
    ``BinaryQuadraticModel.to_file``) before dimod parses it: dimod's C++ core
    trusts the neighbour indices it reads, and a damaged file crashes the
    interpreter (segmentation fault) instead of raising. Raises ``HwtrainError``."""
    import struct

    require(raw[:8] == BQM_MAGIC, f"it does not start with {BQM_MAGIC!r}")
    require(len(raw) >= 14, "truncated header")
    major, _minor = raw[8], raw[9]
    require(major in (1, 2), f"BQM file format version {major}; this hwtrain reads versions 1 and 2")
    (hlen,) = struct.unpack("<I", raw[10:14])
    require(14 + hlen <= len(raw), "truncated header")
    try:
        head = json.loads(raw[14:14 + hlen].decode("ascii"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HwtrainError("its header is not JSON") from None
    require(isinstance(head, dict), "its header is not a JSON object")
    shape = head.get("shape")
    require(isinstance(shape, list) and len(shape) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in shape),
            f"bad shape {shape!r} in its header")
    nv, ni = shape
    kinds = {"dtype": ("float32", "float64"),
             "itype": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"),
             "ntype": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")}
    for key, allowed in kinds.items():
        require(head.get(key) in allowed, f"bad {key} {head.get(key)!r} in its header")
    require(head.get("vartype") in ("BINARY", "SPIN"), f"bad vartype {head.get('vartype')!r}")
    dt, it, nt = (np.dtype(head[k]) for k in ("dtype", "itype", "ntype"))
    lin = np.dtype([("nidx", nt), ("bias", dt)])
    quad = np.dtype([("outvar", it), ("bias", dt)])
    pos = 14 + hlen + dt.itemsize
    need = pos + nv * lin.itemsize + 2 * ni * quad.itemsize
    require(need <= len(raw), f"it declares {nv} variables and {ni} interactions ({need} bytes) "
                              f"but holds {len(raw)} bytes")
    if not nv:
        require(ni == 0, "interactions without variables")
        return
    ldata = np.frombuffer(raw, dtype=lin, count=nv, offset=pos)
    nidx = ldata["nidx"].astype(np.int64)
    ends = np.append(nidx[1:], 2 * ni)
    require(nidx[0] == 0 and bool((ends >= nidx).all()),
            "its neighbourhood offsets are not increasing from 0 to twice the interactions")
    qdata = np.frombuffer(raw, dtype=quad, count=2 * ni, offset=pos + nv * lin.itemsize)
    outvar = qdata["outvar"].astype(np.int64)
    owner = np.repeat(np.arange(nv), ends - nidx)
    require(bool(((outvar >= 0) & (outvar < nv) & (outvar != owner)).all()),
            "a neighbour index is out of range (or a variable is its own neighbour)")
    require(bool((np.diff(outvar)[np.diff(owner) == 0] > 0).all()) if outvar.size > 1 else True,
            "neighbour indices are not sorted")


def read_bqm(path) -> Qubo:
    """An integer :class:`Qubo` from a dimod BQM file (``BinaryQuadraticModel.to_file``)."""
    import os
    dimod = require_dimod()
    path = os.fspath(path)
    require(os.path.isfile(path), f"cannot read {path}: no such file (expected a dimod BQM file)")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise HwtrainError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        check_bqm_bytes(raw)
    except HwtrainError as e:
        raise HwtrainError(f"{path} is not a dimod BQM file: {e}") from None
    try:
        bqm = dimod.BinaryQuadraticModel.from_file(raw)
    except Exception as e:  # noqa: BLE001 - dimod raises assorted types for a malformed file
        raise HwtrainError(f"{path} is not a dimod BQM file ({type(e).__name__}: {one_line(e)})") from None
    try:
        return from_bqm(bqm)
    except HwtrainError as e:
        raise HwtrainError(f"{path}: {e}") from None


def _finish(n, linear, rows, cols, vals, offset, blocks, topology) -> Qubo:
    """Sum duplicate terms, fold x_i*x_i into the linear part, order each pair as i < j."""
    rows, cols, vals = (np.asarray(a, dtype=np.int64).ravel() for a in (rows, cols, vals))
    diag = rows == cols
    linear = linear.copy()
    np.add.at(linear, rows[diag], vals[diag])
    lo, hi, v = np.minimum(rows, cols)[~diag], np.maximum(rows, cols)[~diag], vals[~diag]
    key = lo * n + hi
    uniq, inv = np.unique(key, return_inverse=True)
    summed = np.zeros(uniq.size, dtype=np.int64)
    np.add.at(summed, inv, v)
    keep = summed != 0
    return Qubo(n, linear, (uniq // n)[keep], (uniq % n)[keep], summed[keep], int(offset), blocks, topology)


class _Builder:
    """Collects integer QUBO terms added group by group (vectorised over constraints)."""

    def __init__(self):
        self.n = 0
        self.blocks = {}
        self.lin_idx, self.lin_val = [], []
        self.q_rows, self.q_cols, self.q_vals = [], [], []
        self.offset = 0

    def alloc(self, name, shape) -> np.ndarray:
        size = int(np.prod(shape))
        self.blocks[name] = (self.n, tuple(shape))
        idx = np.arange(self.n, self.n + size).reshape(shape)
        self.n += size
        return idx

    def linear(self, idx, val):
        idx, val = np.broadcast_arrays(np.asarray(idx), np.asarray(val, dtype=np.int64))
        self.lin_idx.append(idx.ravel())
        self.lin_val.append(val.ravel())

    def quadratic(self, i, j, val):
        i, j, val = np.broadcast_arrays(np.asarray(i), np.asarray(j), np.asarray(val, dtype=np.int64))
        self.q_rows.append(i.ravel())
        self.q_cols.append(j.ravel())
        self.q_vals.append(val.ravel())

    def squared(self, weight: int, var, coef, const):
        """``weight * (sum_l coef[m,l] x[var[m,l]] + const[m])^2`` for every row m."""
        var, coef = np.asarray(var), np.asarray(coef, dtype=np.int64)
        const = np.asarray(const, dtype=np.int64)
        self.linear(var, weight * (coef * coef + 2 * const[:, None] * coef))
        a, b = np.triu_indices(var.shape[1], 1)
        self.quadratic(var[:, a], var[:, b], 2 * weight * coef[:, a] * coef[:, b])
        self.offset += int(weight * (const * const).sum())

    def build(self, topology) -> Qubo:
        cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0, dtype=np.int64)
        linear = np.zeros(self.n, dtype=np.int64)
        np.add.at(linear, cat(self.lin_idx).astype(np.int64), cat(self.lin_val))
        return _finish(self.n, linear, cat(self.q_rows), cat(self.q_cols), cat(self.q_vals),
                       self.offset, self.blocks, topology)


MAX_VARIABLES = 200_000


def estimate_variables(topology: Topology, samples: int, slack: str = "unary", fixed_classifier: bool = False) -> int:
    s, c = topology.sizes, topology.classes
    weights = sum(s[l + 1] * s[l] for l in range(len(s) - 1)) + (0 if fixed_classifier else c * s[-1])
    per_sample = 0
    for l in range(1, len(s)):
        per_sample += s[l] * (1 + len(slack_bits((s[l - 1] - 1) // 2, slack)))
        if l >= 2:
            per_sample += s[l] * s[l - 1]
    per_sample += (0 if fixed_classifier else c * s[-1]) + (c - 1) * len(slack_bits(s[-1] - 1, slack))
    return weights + samples * per_sample


def sign_penalty(topology: Topology, penalties: Penalties) -> int:
    """``penalties.sign`` or, if 0, the smallest weight at which no wrong activation of the last
    hidden layer pays for itself: flipping one changes every A_y - A_c by at most 2, which saves
    at most ``classify * 4 K_L`` (residual r <= K_L + 1 down to r - 2) and ``2 margin`` per
    pairwise constraint, of which a sample has C - 1. Deeper layers are not covered by this bound."""
    if penalties.sign:
        return int(penalties.sign)
    c = topology.classes - 1
    return 4 * topology.sizes[-1] * c * int(penalties.classify) + 2 * int(penalties.margin) * c + 1


def _others(y, classes):
    """(N, C-1): for each sample the classes other than its label, in increasing order."""
    cls = np.arange(classes)[None, :]
    rest = np.argsort(cls == y[:, None], axis=1, kind="stable")[:, : classes - 1]
    return rest


def build_qubo(x, y, topology: Topology, penalties: Penalties = Penalties(), *, bias=None,
               classifier=None, max_variables: int = MAX_VARIABLES) -> Qubo:
    """The training QUBO for +-1 inputs ``x`` (N, K0) with labels ``y`` (N,) in 0..C-1.

    ``classifier`` (optional, +-1 (C, K_L)) fixes the output layer, as CP+R and BEP do: its
    weights are then no variables and the classification constraints are linear in the
    last hidden activations (no product bits).

    ``bias`` (optional, one integer per weight variable) adds ``-bias_k * (2 w_k - 1)``:
    the linear penalties the dropout-style scheme adjusts.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    require(x.ndim == 2 and x.shape[1] == topology.sizes[0],
            f"inputs must be (N, {topology.sizes[0]}), got shape {x.shape}")
    require(y.shape == (x.shape[0],), f"labels must be ({x.shape[0]},), got shape {y.shape}")
    require(x.shape[0] >= 1, "need at least one training sample")
    require(bool(np.isin(x, (-1, 1)).all()), "QUBO inputs must be +-1")
    require(y.dtype.kind in "iu" and bool(((y >= 0) & (y < topology.classes)).all()),
            f"labels must lie in 0..{topology.classes - 1}")
    enc = penalties.slack
    if classifier is not None:
        classifier = np.asarray(classifier)
        require(classifier.shape == (topology.classes, topology.sizes[-1]) and bool(np.isin(classifier, (-1, 1)).all()),
                f"a fixed classifier must be +-1 of shape ({topology.classes}, {topology.sizes[-1]}), "
                f"got shape {classifier.shape}")
    need = estimate_variables(topology, x.shape[0], enc, fixed_classifier=classifier is not None)
    require(need <= max_variables, f"the QUBO would have {need} variables, more than the limit {max_variables}; "
                                   f"use fewer samples or smaller layers")
    s, C, N = topology.sizes, topology.classes, x.shape[0]
    mu = int(penalties.margin)
    b = _Builder()
    weights = [b.alloc(f"w{l}", (s[l], s[l - 1])) for l in range(1, len(s))]
    if classifier is None:
        weights.append(b.alloc("w_out", (C, s[-1])))

    prev = None                                   # activation bits of the previous layer (N, K)
    for l in range(1, len(s)):                    # hidden layers: sign constraints
        k_in, k_out = s[l - 1], s[l]
        w = weights[l - 1]                        # (k_out, k_in)
        t = (k_in + 1) // 2
        lam = sign_penalty(topology, penalties)
        if prev is None:                          # agreements are linear in w: [W == x] = w if x=+1 else 1-w
            xv = x.astype(np.int64)
            var = np.broadcast_to(w[None], (N, k_out, k_in))
            coef = np.broadcast_to(xv[:, None, :], (N, k_out, k_in))
            const = np.broadcast_to((xv < 0).sum(1)[:, None], (N, k_out))
        else:                                     # [W == a] = 1 - w - a + 2p with p = w*a
            p = b.alloc(f"p{l}", (N, k_out, k_in))
            var, coef, const = _products(b, w, prev, p, int(penalties.product) or 4 * lam * k_in + 1)
        sc = np.asarray(slack_bits(t - 1, enc), dtype=np.int64)
        slack = b.alloc(f"s{l}", (N, k_out, sc.size))
        act = b.alloc(f"a{l}", (N, k_out))
        cvar = np.concatenate([var, act[:, :, None], slack], axis=2)
        ccoef = np.concatenate([coef, np.full(act.shape + (1,), -t, np.int64),
                                np.broadcast_to(-sc, slack.shape)], axis=2)
        L = cvar.shape[2]
        b.squared(lam, cvar.reshape(-1, L), ccoef.reshape(-1, L), np.asarray(const).reshape(-1))
        if mu:
            # capped margin, unary slack S = A - t (firing) or A (not firing), margin a ? S : t-1-S:
            # -mu * a * (first m slack bits)  - mu * (1-a) * (zeros among the last m slack bits)
            m = min(int(penalties.margin_cap), t - 1)
            if m:
                av = np.broadcast_to(act[:, :, None], (N, k_out, m))
                first, last = slack[:, :, :m], slack[:, :, t - 1 - m:]
                b.quadratic(av, first, -mu)
                b.quadratic(av, last, -mu)
                b.linear(last, mu)
                b.linear(act, mu * m)
                b.offset -= mu * m * N * k_out
        prev = act

    # output layer: pairwise classification constraints A_y - A_c >= 1 for every c != y
    K = s[-1]
    lam = int(penalties.classify)
    oth = _others(y, C)                                                   # (N, C-1)
    n_idx = np.arange(N)[:, None]
    one = np.ones((N, C - 1, K), np.int64)
    if classifier is None:
        w = weights[-1]
        p = b.alloc("p_out", (N, C, K))
        _products(b, w, prev, p, int(penalties.product) or 4 * lam * K * (C - 1) + 2 * mu * (C - 1) + 1)
    sc = np.asarray(slack_bits(K - 1, enc), dtype=np.int64)
    slack = b.alloc("s_out", (N, C - 1, sc.size))
    if classifier is None:
        wy = np.broadcast_to(w[y][:, None, :], (N, C - 1, K))
        wc = w[oth]                                                       # (N, C-1, K)
        py = np.broadcast_to(p[np.arange(N), y][:, None, :], (N, C - 1, K))
        pc = p[n_idx, oth]                                                # (N, C-1, K)
        cvar = np.concatenate([wy, py, wc, pc, slack], axis=2)
        ccoef = np.concatenate([-one, 2 * one, one, -2 * one, np.broadcast_to(-sc, slack.shape)], axis=2)
        cconst = np.full(N * (C - 1), -1, np.int64)
    else:                                                                 # [P == a] = a if P = +1 else 1 - a
        P = classifier.astype(np.int64)
        ab = np.broadcast_to(prev[:, None, :], (N, C - 1, K))
        cvar = np.concatenate([ab, ab, slack], axis=2)
        ccoef = np.concatenate([np.broadcast_to(P[y][:, None, :], ab.shape), -P[oth],
                                np.broadcast_to(-sc, slack.shape)], axis=2)
        neg = (P < 0).sum(1)
        cconst = (neg[y][:, None] - neg[oth] - 1).reshape(-1)
    L = cvar.shape[2]
    b.squared(lam, cvar.reshape(-1, L), ccoef.reshape(-1, L), cconst)
    if mu:
        m = min(int(penalties.margin_cap), K - 1)
        if m:
            b.linear(slack[:, :, :m], -mu)

    if bias is not None:
        nw = sum(int(w.size) for w in weights)
        bias = np.asarray(bias, dtype=np.int64)
        require(bias.shape == (nw,), f"bias must hold one integer per weight variable ({nw}), got shape {bias.shape}")
        b.linear(np.arange(nw), -2 * bias)
        b.offset += int(bias.sum())
    q = b.build(topology)
    q.slack = enc
    q.classifier = None if classifier is None else classifier.astype(np.int8)
    return q


def _products(b, w, prev, p, lam_p):
    """Rosenberg terms for p = w*a and the agreements ``[W == a] = 1 - w - a + 2p`` as
    (var, coef, const) over (N, k_out, k_in)."""
    wb = np.broadcast_to(w[None], p.shape)
    ab = np.broadcast_to(prev[:, None, :], p.shape)
    b.quadratic(wb, ab, lam_p)
    b.quadratic(wb, p, -2 * lam_p)
    b.quadratic(ab, p, -2 * lam_p)
    b.linear(p, 3 * lam_p)
    var = np.concatenate([wb, ab, p], axis=2)
    coef = np.concatenate([-np.ones(wb.shape, np.int64), -np.ones(ab.shape, np.int64),
                           2 * np.ones(p.shape, np.int64)], axis=2)
    const = np.full(p.shape[:2], p.shape[2], dtype=np.int64)
    return var, coef, const


def decode(qubo: Qubo, x):
    """The ``BinaryMLP`` whose weights are the weight bits of assignment ``x`` (n,)."""
    from ..inference.model import BinaryMLP
    t = qubo.topology
    require(t is not None, "this QUBO carries no network layout to decode")
    x = np.asarray(x)
    require(x.shape == (qubo.n,), f"assignment must have shape ({qubo.n},), got {x.shape}")
    mats = [(2 * qubo.block(x, f"w{l}").astype(np.int8) - 1) for l in range(1, len(t.sizes))]
    out = qubo.classifier if qubo.classifier is not None else 2 * qubo.block(x, "w_out").astype(np.int8) - 1
    return BinaryMLP(mats, out.copy())


def predict(model, x) -> np.ndarray:
    """Class predictions with the inference semantics (sign(0) = +1, lowest index wins ties)."""
    a = np.asarray(x, dtype=np.int64)
    for w in model.weights:
        a = np.where(a @ w.T.astype(np.int64) >= 0, 1, -1)
    return np.argmax(a @ model.classifier.T.astype(np.int64), axis=1)


def complete(qubo: Qubo, model, x, y) -> np.ndarray:
    """The assignment holding ``model``'s weights with every auxiliary bit at its best value:
    activations from the forward pass, p = w*a, slacks the residual clipped to their range
    (unary: the first S bits set, which also collects the largest margin reward)."""
    t = qubo.topology
    require(t is not None, "this QUBO carries no network layout to complete")
    x, y = np.asarray(x, dtype=np.int64), np.asarray(y)
    out = np.zeros(qubo.n, dtype=np.int8)

    def put(name, bits):
        start, shape = qubo.blocks[name]
        out[start:start + int(np.prod(shape))] = np.asarray(bits).reshape(-1)

    def put_slack(name, value, r):
        start, shape = qubo.blocks[name]
        rest = np.clip(value, 0, r)
        if qubo.slack == "unary":
            put(name, (np.arange(shape[-1]) < rest[..., None]).astype(np.int8))
            return
        bits = np.zeros(shape, dtype=np.int8)
        coefs = slack_coefficients(r)
        for i in reversed(range(len(coefs))):
            take = rest >= coefs[i]
            bits[..., i] = take
            rest = rest - coefs[i] * take
        put(name, bits)

    a = x
    for l, w in enumerate(model.weights, start=1):
        put(f"w{l}", (w > 0).astype(np.int8))
        if l >= 2:
            put(f"p{l}", (w[None] > 0) & (a[:, None, :] > 0))
        k_in = w.shape[1]
        agree = (a @ w.T.astype(np.int64) + k_in) // 2
        th = (k_in + 1) // 2
        act = (agree >= th).astype(np.int64)
        put(f"a{l}", act)
        put_slack(f"s{l}", agree - th * act, th - 1)
        a = 2 * act - 1
    w = model.classifier
    K = w.shape[1]
    if qubo.classifier is None:
        put("w_out", (w > 0).astype(np.int8))
        put("p_out", (w[None] > 0) & (a[:, None, :] > 0))
    else:
        require(np.array_equal(w, qubo.classifier), "the model's classifier is not the QUBO's fixed classifier")
    agree = (a @ w.T.astype(np.int64) + K) // 2                       # (N, C)
    oth = _others(y, w.shape[0])
    n_idx = np.arange(len(y))[:, None]
    put_slack("s_out", agree[n_idx, y[:, None]] - agree[n_idx, oth] - 1, K - 1)
    return out
