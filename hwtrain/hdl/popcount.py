"""Popcount structures with pipeline registers at chosen levels.

A popcount structure turns a vector of bits into the number of ones. It is
built combinationally level by level; ``stages`` pipeline registers are placed
at evenly spaced level boundaries, each loaded only when ``en`` is high so that
a stalled pipeline holds its data.
"""

from __future__ import annotations

from amaranth.hdl import Signal, Value

from ..config import tree_levels
from ..errors import require


def register_levels(levels: int, stages: int) -> list[int]:
    """Level boundaries (0 = inputs .. ``levels`` = final sum) after which a
    register goes, spreading ``stages`` registers over ``levels + 1`` boundaries
    plus the caller's final stage (comparison into the output register)."""
    steps = levels + 2
    require(0 <= stages <= levels + 1,
            f"{stages} register stages do not fit in {levels + 1} level boundaries")
    return [-(-i * steps // (stages + 1)) - 1 for i in range(1, stages + 1)]


def _register(m, value: Value, en: Value, name: str) -> Signal:
    reg = Signal(value.shape(), name=name)
    with m.If(en):
        m.d.sync += reg.eq(value)
    return reg


def popcount_tree(m, bits: Value, *, stages: int, en: Value, name: str) -> Value:
    """Pairwise adder tree; every intermediate sum is a named signal of exact width."""
    k = len(bits)
    levels = tree_levels(k)
    regs = set(register_levels(levels, stages))
    # Each operand is (value, largest value it can hold); widths follow the maxima.
    operands = [(bits[i], 1) for i in range(k)]
    if 0 in regs:
        vec = _register(m, bits, en, f"{name}_l0")
        operands = [(vec[i], 1) for i in range(k)]
    for level in range(1, levels + 1):
        nxt = []
        for j in range(0, len(operands) - 1, 2):
            (a, amax), (b, bmax) = operands[j], operands[j + 1]
            s = Signal(range(amax + bmax + 1), name=f"{name}_l{level}_{j // 2}")
            m.d.comb += s.eq(a + b)
            if level in regs:
                s = _register(m, s, en, f"{name}_l{level}_{j // 2}_q")
            nxt.append((s, amax + bmax))
        if len(operands) % 2:
            a, amax = operands[-1]
            if level in regs:
                a = _register(m, a, en, f"{name}_l{level}_carry_q")
            nxt.append((a, amax))
        operands = nxt
    return operands[0][0]


def popcount(m, bits: Value, *, structure: str, stages: int, en: Value, name: str) -> Value:
    """Build the chosen popcount structure over ``bits``."""
    require(structure == "tree", f"unknown popcount structure {structure!r}")
    return popcount_tree(m, bits, stages=stages, en=en, name=name)
