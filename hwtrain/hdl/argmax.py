"""Argmax with the repo's tie-break: the lowest index wins.

A balanced tournament (depth ceil(log2 n)) rather than a running maximum
(depth n - 1): each node keeps (value, index) and its right operand, which
always holds the higher indices, wins only when strictly larger. Used by the
inference classifier, the logic-network head and the EP engine's prediction.

``pipeline`` places registers (loaded only on ``en``, so a stalled pipeline
holds them) in each round of the tournament, a round being one narrow
comparison (a carry chain) and a 2:1 multiplexer of the winner's value and index:

* ``None`` (default): combinational;
* ``"round"``: after the multiplexer of every round but the last;
* ``"compare"``: after the comparison of every round (the comparison result
  and both operands), so a stage is "multiplexer, then the next comparison";
* ``"split"``: both, so no stage holds more than one of them; the fastest.

The caller registers the returned index; the tournament adds
:func:`tournament_registers` cycles. Pipelining changes no result: the golden
twin is :func:`hwtrain.golden.logic.tournament_argmax`, equal to ``np.argmax``.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal

from ..golden.logic import TOURNAMENT_PIPELINES

PIPELINES = (None,) + TOURNAMENT_PIPELINES


def tournament_rounds(n: int) -> int:
    """Rounds of a tournament over ``n`` values (ceil(log2 n); 0 for one value)."""
    return max(0, (n - 1).bit_length())


def tournament_registers(n: int, pipeline: str | None = None) -> int:
    """Pipeline registers on the path through a tournament over ``n`` values."""
    r = tournament_rounds(n)
    return {None: 0, "round": max(0, r - 1), "compare": r, "split": max(0, 2 * r - 1)}[pipeline]


def _reg(m, en, value, name):
    q = Signal.like(value, name=name)
    with m.If(en):
        m.d.sync += q.eq(value)
    return q


def tournament(m: Module, values, name: str = "argmax", *, pipeline: str | None = None, en=None):
    """Index (a ``Signal(range(len(values)))``) of the largest of ``values``.

    With ``pipeline`` (see the module docstring) the index arrives
    :func:`tournament_registers` cycles after the values; ``en`` is then required.
    """
    n = len(values)
    if n == 0:
        raise ValueError("argmax of no values")
    if pipeline not in PIPELINES:
        raise ValueError(f"unknown tournament pipeline {pipeline!r}")
    if pipeline and en is None:
        raise ValueError("a pipelined tournament needs an enable")
    rounds = tournament_rounds(n)
    nodes = [(v, Const(k, range(n))) for k, v in enumerate(values)]
    level = 0
    while len(nodes) > 1:
        nxt = []
        for j in range(0, len(nodes) - 1, 2):
            (va, ia), (vb, ib) = nodes[j], nodes[j + 1]
            p = f"{name}{level}_{j // 2}"
            right = Signal(name=f"{p}_right")
            v = Signal.like(va if len(va) >= len(vb) else vb, name=f"{p}_value")
            i = Signal(range(n), name=f"{p}_index")
            if pipeline:
                # the borrow of va - vb (its sign bit): one carry chain whose last
                # cell drives the register, with no LUTs after it
                diff = Signal((va - vb).shape(), name=f"{p}_diff")
                m.d.comb += [diff.eq(va - vb), right.eq(diff[-1])]
            else:
                m.d.comb += right.eq(vb > va)
            if pipeline in ("compare", "split"):
                right = _reg(m, en, right, f"{p}_right_q")
                va, vb = _reg(m, en, va, f"{p}_a_q"), _reg(m, en, vb, f"{p}_b_q")
                if not isinstance(ia, Const):
                    ia = _reg(m, en, ia, f"{p}_ia_q")
                if not isinstance(ib, Const):
                    ib = _reg(m, en, ib, f"{p}_ib_q")
            m.d.comb += [v.eq(Mux(right, vb, va)), i.eq(Mux(right, ib, ia))]
            nxt.append((v, i))
        if len(nodes) % 2:
            bye_v, bye_i = nodes[-1]
            if pipeline in ("compare", "split"):
                # a bye keeps pace with the round's comparison register
                bye_v = _reg(m, en, bye_v, f"{name}{level}_bye_value_q")
                if not isinstance(bye_i, Const):
                    bye_i = _reg(m, en, bye_i, f"{name}{level}_bye_index_q")
            nxt.append((bye_v, bye_i))
        nodes, level = nxt, level + 1
        if pipeline in ("round", "split") and level < rounds:
            nodes = [(_reg(m, en, v, f"{name}{level}_{j}_value_q"),
                      i if isinstance(i, Const) else _reg(m, en, i, f"{name}{level}_{j}_index_q"))
                     for j, (v, i) in enumerate(nodes)]
    index = Signal(range(n), name=f"{name}_index")
    m.d.comb += index.eq(nodes[0][1])
    return index
