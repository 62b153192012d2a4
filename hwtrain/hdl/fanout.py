"""Fan-out for the wide folded engines: copies of a register, each driving a share of its loads,
and a row memory kept as column slices with an address per slice.

Why: a folded engine reads a row memory at an address from one S0 register, and that address
reaches every block RAM of the memory (25 DP16KD per PE lane of the 784-input trainer, ~57 in
the BEP-TT engine's output bank), placed wherever the die has block RAMs. At 255,255 the BEP-TT
engine's critical path was that one net (17.3 ns of routing, docs/trainer_rnn.md). With a copy
of the register per slice of a few block RAMs, the placer can put each copy beside its blocks,
and the net left to cross the die is the copies' common input, a clock earlier.

yosys merges flip-flops with equal inputs (``opt_merge``), which would undo the copies: they
carry the attribute :data:`COPY_ATTR`, and the synthesis flows mark their ``$dff`` cells
``keep`` (``flows.synth.keep_copies``). Nothing here changes what the design computes.
"""

from __future__ import annotations

from math import lcm

from amaranth.hdl import Module, Shape, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

COPY_ATTR = "hwtrain_copy"

# block RAMs a slice's address copy drives (the LFE5U's DP16KD: 16 Kbit, up to 36 bits wide)
BLOCKS_PER_SLICE = 8
BLOCK_BITS = 512 * 36


class Copies:
    """``n`` flip-flops that hold the same value, one per group of loads.

    Assign them like one register (``m.d.sync += copies.eq(v)``); read copy ``i`` where
    its loads are.
    """

    def __init__(self, shape, n: int, *, name: str, init=None, reset_less: bool = False):
        # a single copy is left to yosys, which merges it with any equal register
        attrs = {COPY_ATTR: 1} if n > 1 else {}
        self.regs = [Signal(shape, name=f"{name}_copy{i}", init=init, attrs=attrs, reset_less=reset_less)
                     for i in range(n)]

    def eq(self, value) -> list:
        return [r.eq(value) for r in self.regs]

    def drive(self, ports, first: int = 0) -> list:
        """``ports[i]`` from copy ``first + i``: one copy per slice of a :class:`SlicedMemory` port."""
        return [port.eq(self.regs[first + i]) for i, port in enumerate(ports)]

    def __getitem__(self, i: int) -> Signal:
        return self.regs[i]

    def __len__(self) -> int:
        return len(self.regs)


def block_width(depth: int) -> int:
    """Data bits of one DP16KD at ``depth`` words: 512 x 36, 1024 x 18, 2048 x 9; deeper memories
    cascade 2048 x 9 blocks in depth (what yosys picks: fewer blocks than 4096 x 4 for most widths)."""
    w = 36
    while w > 9 and depth * w > BLOCK_BITS:
        w //= 2
    return w


# DP16KD modes (words, data bits), widest first
BLOCK_MODES = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))


def one_block_width(depth: int) -> int:
    """Data bits of one DP16KD in its widest mode that holds ``depth`` words, i.e. the widest
    slice of a ``depth``-word memory that takes one block and no cascade in depth."""
    for words, bits in BLOCK_MODES:
        if depth <= words:
            return bits
    raise ValueError(f"{depth} words are deeper than one DP16KD ({BLOCK_MODES[-1][0]} words)")


def column_slices(columns: int, column_bits: int, depth: int, blocks: int = BLOCKS_PER_SLICE) -> list[range]:
    """``columns`` split into consecutive slices of at most ``blocks`` block RAMs each.

    A slice is a whole number of units ``lcm(column_bits, block width)`` bits wide, so the
    slices together use as many block RAMs as the unsplit memory would. A memory deeper than
    one block cascades blocks in depth, and yosys decodes the write enable of each cascade
    level in one LUT for all the blocks of a slice: its slices are cut to whole blocks instead
    (a few more block RAMs for their unused bits; BEP-TT bank S, 4,080 x 512: 128 instead of 114,
    and the decoded enable's 12.1 ns route to a 32-block unit was the 67.3 MHz critical path).
    """
    bw = block_width(depth)
    deep = -(-depth * bw // BLOCK_BITS)
    unit = lcm(column_bits, bw)
    unit_cols, unit_blocks = unit // column_bits, unit // bw * deep
    if deep == 1 or unit_blocks <= blocks:
        per = max(1, blocks // unit_blocks) * unit_cols
    else:
        per = max(1, blocks // deep * bw // column_bits)
    return [range(c, min(c + per, columns)) for c in range(0, columns, per)]


# columns of a LUT-RAM slice (ECP5 TRELLIS_DPR16X4: 16 words x 4 bits, so 8 cells a slice per 16 words)
LUTRAM_SLICE_BITS = 32


class SlicedMemory(wiring.Component):
    """``depth`` words of ``columns`` signed or unsigned ``shape`` columns in one memory per column
    slice (:func:`column_slices`, ``per_slice`` columns each, or the caller's ``slices``: consecutive
    ranges that cover the columns in order), each slice with its own read
    address, write address and write enable; one read port (``read_domain="sync"``: data the clock
    after the address; ``"comb"``: asynchronous, for LUT RAM) and one write port.

    Behaves as one :class:`~amaranth.lib.memory.Memory` of ``ArrayLayout(shape, columns)``
    whose ports all slices share, when every slice gets the same address and enable.
    """

    def __init__(self, shape, columns: int, depth: int, init, attrs=None, blocks: int = BLOCKS_PER_SLICE, *,
                 per_slice: int | None = None, slices: list[range] | None = None, read_domain: str = "sync"):
        self.shape, self.columns, self.depth, self.init, self.attrs = shape, columns, depth, init, attrs
        self.read_domain = read_domain
        if slices is not None:
            if [c for r in slices for c in r] != list(range(columns)):
                raise ValueError(f"slices {slices} do not cover columns 0..{columns - 1} in order")
            self.slices = list(slices)
        elif per_slice is None:
            self.slices = column_slices(columns, Shape.cast(shape).width, depth, blocks)
        else:
            self.slices = [range(c, min(c + per_slice, columns)) for c in range(0, columns, per_slice)]
        abits = max(1, (depth - 1).bit_length())
        n = len(self.slices)
        word = data.ArrayLayout(shape, columns)
        super().__init__({"raddr": In(data.ArrayLayout(abits, n)), "rdata": Out(word),
                          "waddr": In(data.ArrayLayout(abits, n)), "wdata": In(word), "wen": In(n)})

    def elaborate(self, platform):
        m = Module()
        for i, cols in enumerate(self.slices):
            init = [row[cols.start:cols.stop] for row in self.init]
            mem = Memory(shape=data.ArrayLayout(self.shape, len(cols)), depth=self.depth, init=init,
                         attrs=self.attrs)
            m.submodules[f"slice{i}"] = mem
            rd, wr = mem.read_port(domain=self.read_domain), mem.write_port()
            m.d.comb += [rd.addr.eq(self.raddr[i]), wr.addr.eq(self.waddr[i]), wr.en.eq(self.wen[i])]
            for j, c in enumerate(cols):
                m.d.comb += [self.rdata[c].eq(rd.data[j]), wr.data[j].eq(self.wdata[c])]
        return m
