"""cocotb bench: LogicNetwork RTL against its golden twin (class and GroupSum counts)."""

from __future__ import annotations

import cocotb
import numpy as np

from hwtrain.golden.logic import LogicNetwork
from hwtrain.hdl.logic import class_width, count_width
from hwtrain.logic.netlist import Netlist
from streams import bench_params, reset, stream_through, write_summary


def payload(nl: Netlist, row, raw: bool) -> int:
    if raw:
        fb = nl.encoder.feature_bits
        return sum(int(v) << (f * fb) for f, v in enumerate(row))
    return sum(int(v) << i for i, v in enumerate(row))


@cocotb.test()
async def bit_exact(dut):
    p = bench_params()
    nl = Netlist.load(p["netlist"])
    x = np.load(p["inputs"])
    raw = p["raw"]
    golden = LogicNetwork(nl)
    counts = golden.counts(x) if raw else golden.counts_from_bits(x)
    pred = golden.argmax(counts)
    iw, cw = class_width(nl.classes), count_width(nl.group_size)
    payloads = [payload(nl, row, raw) for row in x]
    await reset(dut)
    outs, stalled_cycles, _ = await stream_through(
        dut, payloads, p_in_stall=p["p_in_stall"], p_out_stall=p["p_out_stall"], seed=p["seed"])
    n_free = min(len(payloads), 64)
    free_outs, free_cycles, first_out = await stream_through(dut, payloads[:n_free])
    mismatches = []
    for s, word in enumerate(outs + free_outs):
        src = s if s < len(outs) else s - len(outs)
        cls = word & ((1 << iw) - 1)
        got = [(word >> (iw + c * cw)) & ((1 << cw) - 1) for c in range(nl.classes)] if p["counts_out"] else None
        if cls != int(pred[src]) or (got is not None and got != counts[src].tolist()):
            mismatches.append({"sample": src, "cls": cls, "want_cls": int(pred[src]),
                               "counts": got, "want_counts": counts[src].tolist()})
    labels = p.get("labels")
    summary = {
        "design": "LogicNetwork", "gates": nl.gates, "depth": nl.depth,
        "register_every": p["register_every"], "samples": len(outs) + len(free_outs),
        "mismatches": len(mismatches), "first_mismatches": mismatches[:3],
        "latency_cycles": first_out, "expected_latency_cycles": p["latency"],
        "cycles_unstalled": free_cycles, "samples_unstalled": n_free, "cycles_stalled": stalled_cycles,
        "rtl_accuracy": None if labels is None else
        float(np.mean([(w & ((1 << iw) - 1)) == y for w, y in zip(outs, labels)])),
        "golden_accuracy": None if labels is None else float(np.mean(pred == np.asarray(labels))),
    }
    write_summary(p, summary)
    assert not mismatches, f"{len(mismatches)} outputs differ from the golden model: {mismatches[:2]}"
    assert first_out == p["latency"], f"latency {first_out} cycles, expected {p['latency']}"
    assert free_cycles == n_free + p["latency"], f"{n_free} samples took {free_cycles} cycles"
