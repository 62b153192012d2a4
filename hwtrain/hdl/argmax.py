"""Combinational argmax with the repo's tie-break: the lowest index wins.

A balanced tournament (depth ceil(log2 n)) rather than a running maximum
(depth n - 1): each node keeps (value, index) and its right operand, which
always holds the higher indices, wins only when strictly larger. Used by the
inference classifier, the logic-network head and the EP engine's prediction.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal


def tournament(m: Module, values, name: str = "argmax"):
    """Index (a ``Signal(range(len(values)))``) of the largest of ``values``."""
    n = len(values)
    if n == 0:
        raise ValueError("argmax of no values")
    nodes = [(v, Const(k, range(n))) for k, v in enumerate(values)]
    level = 0
    while len(nodes) > 1:
        nxt = []
        for j in range(0, len(nodes) - 1, 2):
            (va, ia), (vb, ib) = nodes[j], nodes[j + 1]
            right = Signal(name=f"{name}{level}_{j // 2}_right")
            v = Signal.like(va if len(va) >= len(vb) else vb, name=f"{name}{level}_{j // 2}_value")
            i = Signal(range(n), name=f"{name}{level}_{j // 2}_index")
            m.d.comb += [right.eq(vb > va), v.eq(Mux(right, vb, va)), i.eq(Mux(right, ib, ia))]
            nxt.append((v, i))
        if len(nodes) % 2:
            nxt.append(nodes[-1])
        nodes, level = nxt, level + 1
    index = Signal(range(n), name=f"{name}_index")
    m.d.comb += index.eq(nodes[0][1])
    return index
