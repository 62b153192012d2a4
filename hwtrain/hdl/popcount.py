"""Popcount structures with pipeline registers at chosen levels.

A popcount structure turns a vector of bits into the number of ones. It is
built combinationally level by level; ``stages`` pipeline registers are placed
at evenly spaced level boundaries, each loaded only when ``en`` is high so that
a stalled pipeline holds its data.

Two structures (``hwtrain.config.POPCOUNT_STRUCTURES``):

``tree``
    Pairwise adder tree (``a + b``, widths growing). The plain reference: easy
    to read, but on LUT4 fabrics every small adder is mapped on its own and it
    costs about 4-5 LUT4 per input bit (see docs/popcount.md).

``compressor``
    A Dadda tree of full adders (3:2 counters) over a *bit heap* (a list of
    columns, column ``c`` holding bits of weight ``2**c``), reduced until every
    column holds at most two bits, then one carry-propagate adder. A full adder
    is exactly two LUT3s (sum, majority), the cheapest way a LUT4 fabric has to
    remove a bit from the heap; the final adder is wide, which is where carry
    chains (CCU2C, SB_CARRY) pay off. Extra addends join the heap for free,
    which is how the threshold comparison is merged into the tree
    (:func:`popcount_at_least`).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Signal, Value

from ..config import SplitLayout, join_plans, popcount_levels
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


# --- plain adder tree (reference) -------------------------------------------

def popcount_tree(m, bits: Value, *, stages: int, en: Value, name: str) -> Value:
    """Pairwise adder tree; every intermediate sum is a named signal of exact width."""
    k = len(bits)
    levels = popcount_levels("tree", k)
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


# --- compressor tree ----------------------------------------------------------

def _full_adders(m, a, b, c, name):
    """A column's full adders side by side: bit i of each vector is one adder.

    Each sum and carry bit maps to one LUT3. Building them as vectors keeps the
    Amaranth netlist small (one statement per column, not per adder).
    """
    s, co = Signal(len(a), name=f"{name}_s"), Signal(len(a), name=f"{name}_c")
    m.d.comb += [s.eq(a ^ b ^ c), co.eq((a & b) | (a & c) | (b & c))]
    return s, co


def _half_adders(m, a, b, name):
    s, co = Signal(len(a), name=f"{name}_s"), Signal(len(a), name=f"{name}_c")
    m.d.comb += [s.eq(a ^ b), co.eq(a & b)]
    return s, co


def _bits(v):
    return [v[i] for i in range(len(v))]


def _register_heap(m, heap, en, name):
    """Register every bit of the heap (one named register per column)."""
    out = []
    for c, col in enumerate(heap):
        if not col:
            out.append([])
            continue
        reg = _register(m, Cat(*col), en, f"{name}_c{c}_q")
        out.append([reg[i] for i in range(len(col))])
    return out


def _reduce_stage(m, heap, plan, name):
    """One Dadda stage: ``plan[c] = (full adders, half adders)`` in column ``c``.

    Adders take bits from the column as it was at the start of the stage; sums
    stay in the column and carries go to the next one, for the next stage.
    """
    out = [[] for _ in range(len(heap) + 1)]
    for c, col in enumerate(heap):
        fas, has = plan[c] if c < len(plan) else (0, 0)
        if fas:
            s, co = _full_adders(m, Cat(*col[0:3 * fas:3]), Cat(*col[1:3 * fas:3]),
                                 Cat(*col[2:3 * fas:3]), f"{name}_c{c}_fa")
            out[c] += _bits(s)
            out[c + 1] += _bits(co)
        i = 3 * fas
        if has:
            s, co = _half_adders(m, Cat(*col[i:i + 2 * has:2]), Cat(*col[i + 1:i + 2 * has:2]),
                                 f"{name}_c{c}_ha")
            out[c] += _bits(s)
            out[c + 1] += _bits(co)
        out[c].extend(col[i + 2 * has:])
    while out and not out[-1]:
        out.pop()
    return out


def compress_heap(m, heap: list[list[Value]], *, stages: int, en: Value, name: str,
                  late: list[list[Value]] = ()) -> Value:
    """Sum a bit heap (``heap[c]``: bits of weight ``2**c``): a Dadda tree of
    full adders down to two rows, then one carry-propagate adder.

    ``late`` bits join the heap after it is down to two rows (one more stage
    brings it back to two): a value computed beside the tree, such as the
    layer's shared popcount of the ``split`` structure. It must have passed
    through :func:`join_registers` registers by then.

    Levels are the reduction stages plus the final adder; ``stages`` registers
    go at level boundaries as in :func:`register_levels`.
    """
    heights = [len(col) for col in heap]
    before, after = join_plans(heights, [len(col) for col in late])
    levels = len(before) + len(after) + 1
    regs = set(register_levels(levels, stages))
    top = (sum(h << c for c, h in enumerate(heights))          # largest possible sum
           + sum(len(col) << c for c, col in enumerate(late)))
    if 0 in regs:
        heap = _register_heap(m, heap, en, f"{name}_l0")
    if not before and late:
        heap = _join(heap, late)
    for level, stage_plan in enumerate(before + after, start=1):
        heap = _reduce_stage(m, heap, stage_plan, f"{name}_l{level}")
        if level in regs:
            heap = _register_heap(m, heap, en, f"{name}_l{level}")
        if level == len(before) and late:
            heap = _join(heap, late)
    # Two rows left: name them, then one adder (a carry chain where it is wide).
    rows = []
    for r in range(2):
        row = Signal(len(heap), name=f"{name}_row{r}")
        m.d.comb += row.eq(Cat(*[col[r] if len(col) > r else Const(0, 1) for col in heap]))
        rows.append(row)
    total = Signal(range(top + 1), name=f"{name}_sum")
    m.d.comb += total.eq(rows[0] + rows[1])
    if levels in regs:
        total = _register(m, total, en, f"{name}_sum_q")
    return total


def _join(heap, late):
    width = max(len(heap), len(late))
    return [(list(heap[c]) if c < len(heap) else []) + (list(late[c]) if c < len(late) else [])
            for c in range(width)]


def join_registers(heights: list[int], late_heights: list[int], stages: int) -> int:
    """Registers a heap of ``heights`` passes before ``late`` bits join it."""
    before, after = join_plans(heights, late_heights)
    levels = len(before) + len(after) + 1
    return sum(1 for b in register_levels(levels, stages) if b <= len(before))


def popcount_compressor(m, bits: Value, *, stages: int, en: Value, name: str) -> Value:
    return compress_heap(m, [[bits[i] for i in range(len(bits))]], stages=stages, en=en,
                         name=name)


# --- split: each neuron compresses the smaller half, the layer shares popcount(x)

def split_fire(m, x: Value, shared: Value, weights_row, threshold: int, *, stages: int,
               en: Value, name: str) -> Value:
    """``popcount(~(x ^ w)) >= threshold`` for constant weights, given ``shared``
    = popcount(x) delayed by :func:`split_shared_registers` registers.

    See :class:`hwtrain.config.SplitLayout`: the neuron's heap holds only the
    agreeing bits of S (the smaller of its +1/-1 input sets) at weight 2 and
    the constant c'; the shared count (inverted when S is the +1 set) joins it
    once it is down to two rows, and ``fire`` is bit ``m`` of the sum.
    """
    layout = SplitLayout(len(x))
    on_w1, idx, c_off = layout.constant(weights_row, threshold)
    heap = [[] for _ in range(layout.m + 1)]
    for c in range(layout.m + 1):
        heap[c].append(Const(c_off >> c & 1, 1))
    heap[1] += [x[i] if on_w1 else ~x[i] for i in idx]
    heap[1] += [Const(0, 1)] * (layout.s_max - len(idx))
    r = Signal(layout.wp, name=f"{name}_shared")
    m.d.comb += r.eq(~shared if on_w1 else shared)
    total = compress_heap(m, heap, stages=stages, en=en, name=name,
                          late=[[r[c]] for c in range(layout.wp)])
    return total[layout.m]


def split_shared_registers(k: int, stages: int) -> int:
    """Registers the shared popcount(x) of a ``split`` layer passes before it
    joins the neurons' heaps (every neuron of the layer has the same shape)."""
    layout = SplitLayout(k)
    return join_registers(layout.heights, [1] * layout.wp, stages)


# --- entry points ---------------------------------------------------------------

_BUILDERS = {"tree": popcount_tree, "compressor": popcount_compressor}


def popcount(m, bits: Value, *, structure: str, stages: int, en: Value, name: str) -> Value:
    """Build the chosen popcount structure over ``bits``."""
    require(structure in _BUILDERS, f"unknown popcount structure {structure!r}")
    return _BUILDERS[structure](m, bits, stages=stages, en=en, name=name)


def popcount_at_least(m, bits: Value, threshold: Value, *, stages: int, en: Value,
                      name: str) -> Value:
    """``popcount(bits) >= threshold`` with the comparison merged into a compressor.

    With ``W = len(threshold)`` (so ``popcount < 2**W`` and ``threshold < 2**W``),
    ``popcount + (2**W - threshold)`` reaches ``2**W`` exactly when the count
    reaches the threshold. ``2**W - threshold = ~threshold + 1`` joins the bit
    heap as extra addends (constants when the threshold is constant), so the
    comparison costs a few more full adders instead of a separate comparator
    after the final adder, and the answer is bit ``W`` of the final sum.
    """
    w = len(threshold)
    require(len(bits) < 2 ** w, f"threshold of {w} bits cannot reach a count of {len(bits)}")
    heap = [[bits[i] for i in range(len(bits))]] + [[] for _ in range(w)]
    if isinstance(threshold, Const):
        # A constant addend is just its one bits in the heap.
        offset = 2 ** w - threshold.value
        for c in range(w + 1):
            if offset >> c & 1:
                heap[c].append(Const(1, 1))
    else:
        neg = Signal(w, name=f"{name}_tneg")
        m.d.comb += neg.eq(~threshold)
        heap[0].append(Const(1, 1))
        for c in range(w):
            heap[c].append(neg[c])
    while not heap[-1]:
        heap.pop()
    total = compress_heap(m, heap, stages=stages, en=en, name=name)
    # A constant threshold above K leaves the sum below 2**W: never fires.
    return total[w] if len(total) > w else Const(0, 1)
