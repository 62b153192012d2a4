"""Small yosys-only probes behind the fused head and the LUT-RAM FIFO (issue 20).

    nice -n 10 .venv/bin/python benchmarks/logic_head_probes.py --out benchmarks/results/logic_head_probes.json

1. What the credit flow's output FIFO costs: the GroupSum head of a digits net
   alone (``head_only``: its output bits are the inputs), pipelined, with
   ``flow="stall"`` (no FIFO), ``flow="credit", fifo="shift"`` and
   ``flow="credit", fifo="lutram"``.
2. Popcounts on ECP5 LUT4s: the Dadda compressor (``compress_heap``, full
   adders of two LUT3s and one carry chain) against a carry-chain adder tree
   (one level of LUT full adders, then pairs of numbers added as
   ``Cat(cin, a) + Cat(cin, b)`` so that a third bit rides in as the carry-in:
   yosys maps narrow adders to LUTs, only wide ones to CCU2C).

``synth_ecp5 -nowidelut`` (and ``-noflatten`` for 1), no place-and-route.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwtrain.flows.synth import synthesize
from hwtrain.hdl.logic import LogicNetwork
from hwtrain.hdl.popcount import compress_heap
from hwtrain.logic.netlist import Netlist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from logic_latency import head_only  # noqa: E402


def chain_tree(m, bits, name):
    """LUT full adders over triples, then a tree of carry-chain adders (a register per level)."""
    n = len(bits)
    nums = []
    for k, i in enumerate(range(0, n - n % 3, 3)):
        a, b, c = bits[i:i + 3]
        v = Signal(2, name=f"{name}_fa{k}")
        m.d.comb += v.eq(Cat(a ^ b ^ c, (a & b) | (a & c) | (b & c)))
        nums.append(v)
    spare = list(bits[n - n % 3:])

    def reg(v, nm):
        r = Signal(len(v), name=nm)
        m.d.sync += r.eq(v)
        return r
    nums = [reg(v, f"{name}_q0_{i}") for i, v in enumerate(nums)]
    spare = [reg(v, f"{name}_sq0_{i}") for i, v in enumerate(spare)]
    lvl = 0
    while len(nums) + bool(spare) > 1:
        lvl += 1
        nums.sort(key=len)
        nxt = []
        while len(nums) >= 2:
            a, b = nums.pop(0), nums.pop(0)
            cin = spare.pop() if spare else Const(0, 1)
            w = max(len(a), len(b))
            t = Signal(w + 2, name=f"{name}_t{lvl}_{len(nxt)}")
            m.d.comb += t.eq(Cat(cin, a) + Cat(cin, b))
            v = Signal(w + 1, name=f"{name}_n{lvl}_{len(nxt)}")
            m.d.comb += v.eq(t[1:])
            nxt.append(v)
        if nums:
            v = nums.pop()
            if spare:
                c = spare.pop()
                t = Signal(len(v) + 2)
                m.d.comb += t.eq(Cat(c, v) + Cat(c, Const(0, len(v))))
                v = t[1:]
            nxt.append(v)
        nums = [reg(v, f"{name}_q{lvl}_{i}") for i, v in enumerate(nxt)]
        spare = [reg(v, f"{name}_sq{lvl}_{i}") for i, v in enumerate(spare)]
    return nums[0]


class Popcount(wiring.Component):
    def __init__(self, n, kind):
        self.n, self.kind = n, kind
        super().__init__({"x": In(n), "y": Out(16)})

    def elaborate(self, platform):
        m = Module()
        bits = [self.x[i] for i in range(self.n)]
        if self.kind == "dadda":
            t = compress_heap(m, [bits], stages=3, en=Const(1), name="p")
        else:
            t = chain_tree(m, bits, "p")
        m.d.sync += self.y.eq(t)
        return m


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--netlist", default="benchmarks/results/logic_nets/digits_200x200_s400.npz")
    ap.add_argument("--bits", default="20,80")
    ap.add_argument("--out", default="benchmarks/results/logic_head_probes.json")
    a = ap.parse_args(argv)
    rows = []
    nl = Netlist.load(a.netlist)
    for flow, fifo in (("stall", "shift"), ("credit", "shift"), ("credit", "lutram")):
        core = LogicNetwork(head_only(nl), counts_out=False, head="pipelined", head_levels=2,
                            argmax_pipeline="split", flow=flow, fifo=fifo)
        r = synthesize(core, f"probe_head_{flow}_{fifo}", target="ecp5", pnr=False,
                       synth_args="-nowidelut -noflatten")
        rows.append({"probe": "head_only", "netlist": a.netlist, "flow": flow, "fifo": fifo,
                     "lut4": r.lut4, "carry": r.carry, "lutram": r.lutram, "ff": r.ff})
        print(json.dumps(rows[-1]), flush=True)
    for n in map(int, a.bits.split(",")):
        for kind in ("dadda", "chain_tree"):
            r = synthesize(Popcount(n, kind), f"probe_pop_{kind}_{n}", target="ecp5", pnr=False,
                           synth_args="-nowidelut")
            rows.append({"probe": "popcount", "bits": n, "structure": kind, "lut4": r.lut4, "carry": r.carry,
                         "lut4_equivalent": r.lut4_equivalent, "ff": r.ff})
            print(json.dumps(rows[-1]), flush=True)
    command = "nice -n 10 .venv/bin/python " + " ".join(map(shlex.quote, ["benchmarks/logic_head_probes.py",
                                                                         *(sys.argv[1:] if argv is None else argv)]))
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"benchmark": "logic_head_probes", "command": command, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "logic_head_probes.py"))
