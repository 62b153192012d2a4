"""Training a layered binary network written as one QUBO (derivation: docs/qubo.md).

Variables are 0/1 bits ``x``; the energy is ``sum_i lin_i x_i + sum_{i<j} Q_ij x_i x_j + offset``
with *integer* coefficients (penalty weights are integers), so the annealer can take
the problem without rounding.

Network (the ``BinaryMLP`` inference semantics): inputs ``a_0`` in {-1,+1}^K0 (a
constant +1 pixel serves as a bias), hidden layers ``a_l = sign(W_l a_{l-1})``, an
output layer ``W_out`` (C x K_L) read as the classifier: class = argmax ``W_out a_L``.
Every fan-in must be odd, so a +-1 dot product is never 0 and sign needs no tie rule.

Variable blocks (in this order; weights first so decoding is a slice):

* ``w{l}`` (K_l x K_{l-1}) and ``w_out`` (C x K_L): weight bits, W = 2w - 1.
* per sample n: ``a{l}`` (N x K_l) hidden activation bits; ``s{l}`` (N x K_l x B_l) slack
  bits of the sign constraint; ``p{l}`` (N x K_l x K_{l-1}) product bits ``w*a`` for layers
  whose inputs are variables (l >= 2 and the output layer); ``s_out`` (N x C x B_out).

Penalties (weights ``sign``, ``product``; regulariser weight ``margin``):

* agreements of a neuron: ``A = sum_j [W_ij == a_j]``, linear in w (layer 1: a is data)
  or in (w, a, p) via ``[W == a] = 1 - w - a + 2p``.
* sign constraint with t = (K+1)/2 and slack S in [0, t-1]:  ``sign * (A - t*a - S)^2``;
  zero iff ``a = [A >= t]`` (exactly one slack value fits). For the output layer ``a`` is the
  target (1 for the label, 0 otherwise): the classification constraint.
* products: Rosenberg ``product * (w*a - 2*w*p - 2*a*p + 3*p)``, zero iff p = w*a.
* margin regulariser: ``-margin * (2a - 1) * (2A - K)`` summed over all neurons and samples:
  the signed pre-activation on the side the activation says, rewarded linearly.
* dropout-style scheme: ``bias`` adds ``-b_k * (2 w_k - 1)`` per weight bit (see dropout.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import HwtrainError, require


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
    """Integer penalty weights (see module doc); ``margin = 0`` switches the regulariser off.

    ``sign`` weighs the hidden sign constraints, ``classify`` the output (classification)
    constraints. A wrong hidden activation must never pay for itself by fixing output
    constraints, which needs ``sign`` large against ``classify`` (docs/qubo.md).
    """
    sign: int = 8
    classify: int = 1
    product: int = 0          # 0: derived per layer as weight * (fan-in + 1)
    margin: int = 0

    def __post_init__(self):
        for k in ("sign", "classify", "product", "margin"):
            v = getattr(self, k)
            require(isinstance(v, (int, np.integer)) and v >= 0, f"penalty {k} must be a non-negative integer, got {v!r}")
        require(self.sign >= 1 and self.classify >= 1, "the sign and classify penalties must be at least 1")


def slack_coefficients(r: int) -> list[int]:
    """Bits encoding an integer in exactly [0, r]: 1, 2, 4, ... and a capped last coefficient."""
    out, total = [], 0
    while total < r:
        c = min(1 << len(out), r - total)
        out.append(c)
        total += c
    return out


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
    return _finish(n, lin.astype(np.int64), r, c, v.astype(np.int64), int(off), {}, None)


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


def estimate_variables(topology: Topology, samples: int) -> int:
    s, c = topology.sizes, topology.classes
    weights = sum(s[l + 1] * s[l] for l in range(len(s) - 1)) + c * s[-1]
    per_sample = 0
    for l in range(1, len(s)):
        per_sample += s[l] * (1 + len(slack_coefficients((s[l - 1] - 1) // 2)))
        if l >= 2:
            per_sample += s[l] * s[l - 1]
    per_sample += c * (s[-1] + len(slack_coefficients((s[-1] - 1) // 2)))
    return weights + samples * per_sample


def build_qubo(x, y, topology: Topology, penalties: Penalties = Penalties(), *, bias=None,
               max_variables: int = MAX_VARIABLES) -> Qubo:
    """The training QUBO for +-1 inputs ``x`` (N, K0) with labels ``y`` (N,) in 0..C-1.

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
    require(bool(((y >= 0) & (y < topology.classes)).all()), f"labels must lie in 0..{topology.classes - 1}")
    need = estimate_variables(topology, x.shape[0])
    require(need <= max_variables, f"the QUBO would have {need} variables, more than the limit {max_variables}; "
                                   f"use fewer samples or smaller layers")
    s, C, N = topology.sizes, topology.classes, x.shape[0]
    mu = int(penalties.margin)
    b = _Builder()
    weights = [b.alloc(f"w{l}", (s[l], s[l - 1])) for l in range(1, len(s))]
    weights.append(b.alloc("w_out", (C, s[-1])))

    prev = None                                   # activation bits of the previous layer (N, K)
    layers = len(s)                               # hidden layers 1..L, then the output layer
    for l in range(1, layers + 1):
        out = l == layers
        k_in, k_out = s[l - 1], (C if out else s[l])
        w = weights[l - 1]                        # (k_out, k_in)
        t = (k_in + 1) // 2
        lam = int(penalties.classify if out else penalties.sign)
        if prev is None:                          # agreements are linear in w: [W == x] = w if x=+1 else 1-w
            xv = x.astype(np.int64)
            var = np.broadcast_to(w[None], (N, k_out, k_in))
            coef = np.broadcast_to(xv[:, None, :], (N, k_out, k_in))
            const = np.broadcast_to((xv < 0).sum(1)[:, None], (N, k_out))
        else:                                     # [W == a] = 1 - w - a + 2p with p = w*a
            name = "p_out" if out else f"p{l}"
            p = b.alloc(name, (N, k_out, k_in))
            wb = np.broadcast_to(w[None], p.shape)
            ab = np.broadcast_to(prev[:, None, :], p.shape)
            lam_p = int(penalties.product) or lam * (k_in + 1)
            b.quadratic(wb, ab, lam_p)
            b.quadratic(wb, p, -2 * lam_p)
            b.quadratic(ab, p, -2 * lam_p)
            b.linear(p, 3 * lam_p)
            var = np.concatenate([wb, ab, p], axis=2)
            coef = np.concatenate([-np.ones(wb.shape, np.int64), -np.ones(ab.shape, np.int64),
                                   2 * np.ones(p.shape, np.int64)], axis=2)
            const = np.full((N, k_out), k_in, dtype=np.int64)
        sc = np.asarray(slack_coefficients(t - 1), dtype=np.int64)
        slack = b.alloc("s_out" if out else f"s{l}", (N, k_out, sc.size))
        if out:
            target = (y[:, None] == np.arange(C)[None, :]).astype(np.int64)      # (N, C)
            cvar = np.concatenate([var, slack], axis=2)
            ccoef = np.concatenate([coef, np.broadcast_to(-sc, slack.shape)], axis=2)
            cconst = const - t * target
        else:
            act = b.alloc(f"a{l}", (N, k_out))
            cvar = np.concatenate([var, act[:, :, None], slack], axis=2)
            ccoef = np.concatenate([coef, np.full(act.shape + (1,), -t, np.int64),
                                    np.broadcast_to(-sc, slack.shape)], axis=2)
            cconst = const
        L = cvar.shape[2]
        b.squared(lam, cvar.reshape(-1, L), ccoef.reshape(-1, L), np.asarray(cconst).reshape(-1))
        if mu:
            # -mu (2a - 1)(2A - K) with A = sum coef*x + const:  -2mu a(2A-K) + mu(2A-K)
            v2, c2 = var.reshape(N * k_out, -1), coef.reshape(N * k_out, -1)
            k2 = 2 * np.asarray(const).reshape(-1) - k_in
            if out:
                sgn = (2 * target - 1).reshape(-1)                                  # constant activation
                b.linear(v2, -mu * sgn[:, None] * 2 * c2)
                b.offset += int(-mu * (sgn * k2).sum())
            else:
                av = act.reshape(-1)
                b.quadratic(av[:, None], v2, -2 * mu * 2 * c2)
                b.linear(av, -2 * mu * k2)
                b.linear(v2, mu * 2 * c2)
                b.offset += int(mu * k2.sum())
        prev = None if out else act

    if bias is not None:
        nw = sum(int(w.size) for w in weights)
        bias = np.asarray(bias, dtype=np.int64)
        require(bias.shape == (nw,), f"bias must hold one integer per weight variable ({nw}), got shape {bias.shape}")
        b.linear(np.arange(nw), -2 * bias)
        b.offset += int(bias.sum())
    return b.build(topology)


def decode(qubo: Qubo, x):
    """The ``BinaryMLP`` whose weights are the weight bits of assignment ``x`` (n,)."""
    from ..inference.model import BinaryMLP
    t = qubo.topology
    require(t is not None, "this QUBO carries no network layout to decode")
    x = np.asarray(x)
    require(x.shape == (qubo.n,), f"assignment must have shape ({qubo.n},), got {x.shape}")
    mats = [(2 * qubo.block(x, f"w{l}").astype(np.int8) - 1) for l in range(1, len(t.sizes))]
    return BinaryMLP(mats, 2 * qubo.block(x, "w_out").astype(np.int8) - 1)


def predict(model, x) -> np.ndarray:
    """Class predictions with the inference semantics (sign(0) = +1, lowest index wins ties)."""
    a = np.asarray(x, dtype=np.int64)
    for w in model.weights:
        a = np.where(a @ w.T.astype(np.int64) >= 0, 1, -1)
    return np.argmax(a @ model.classifier.T.astype(np.int64), axis=1)


def complete(qubo: Qubo, model, x, y) -> np.ndarray:
    """The assignment holding ``model``'s weights with every auxiliary bit at its best value:
    activations from the forward pass, p = w*a, slacks the residual clipped to their range."""
    t = qubo.topology
    x, y = np.asarray(x, dtype=np.int64), np.asarray(y)
    out = np.zeros(qubo.n, dtype=np.int8)

    def put(name, bits):
        start, shape = qubo.blocks[name]
        out[start:start + int(np.prod(shape))] = np.asarray(bits).reshape(-1)

    def put_slack(name, value, k_in):
        start, shape = qubo.blocks[name]
        bits = np.zeros(shape, dtype=np.int8)
        rest = np.clip(value, 0, (k_in - 1) // 2)
        coefs = slack_coefficients((k_in - 1) // 2)
        for i in reversed(range(len(coefs))):
            take = rest >= coefs[i]
            bits[..., i] = take
            rest = rest - coefs[i] * take
        put(name, bits)

    mats = list(model.weights) + [model.classifier]
    a = x
    for l, w in enumerate(mats, start=1):
        out_layer = l == len(mats)
        put("w_out" if out_layer else f"w{l}", (w > 0).astype(np.int8))
        if l >= 2:
            put("p_out" if out_layer else f"p{l}", (w[None] > 0) & (a[:, None, :] > 0))
        k_in = w.shape[1]
        agree = (a @ w.T.astype(np.int64) + k_in) // 2
        th = (k_in + 1) // 2
        if out_layer:
            target = (y[:, None] == np.arange(w.shape[0])[None, :]).astype(np.int64)
            put_slack("s_out", agree - th * target, k_in)
        else:
            act = (agree >= th).astype(np.int64)
            put(f"a{l}", act)
            put_slack(f"s{l}", agree - th * act, k_in)
            a = 2 * act - 1
    return out
