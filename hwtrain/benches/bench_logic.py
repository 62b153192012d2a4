"""cocotb bench: LogicNetwork RTL against its golden twin (class and GroupSum counts)."""

from __future__ import annotations

import cocotb
import numpy as np

from hwtrain.golden.logic import LogicNetwork
from hwtrain.hdl.logic import class_width, count_width
from hwtrain.logic.netlist import Netlist
from streams import bench_params, reset, stream_through, write_summary


def payloads(nl: Netlist, row, raw: bool, serial: int) -> list[int]:
    """The beats of one sample: raw features ``serial`` to a beat in index order (all in one
    beat when ``serial`` is 0), or the encoded bits."""
    if raw:
        fb, per = nl.encoder.feature_bits, serial or len(row)
        return [sum(int(v) << (j * fb) for j, v in enumerate(row[b:b + per])) for b in range(0, len(row), per)]
    return [sum(int(v) << i for i, v in enumerate(row))]


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
    beats = [payloads(nl, row, raw, p.get("serial", 0)) for row in x]
    period = p.get("period", 1)            # cycles per sample at full rate
    await reset(dut)
    outs, stalled_cycles, _ = await stream_through(
        dut, [b for s in beats for b in s], p_in_stall=p["p_in_stall"], p_out_stall=p["p_out_stall"],
        seed=p["seed"], outputs_expected=len(beats))
    n_free = min(len(beats), 64)
    free_outs, free_cycles, first_out = await stream_through(
        dut, [b for s in beats[:n_free] for b in s], outputs_expected=n_free)
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
        "register_every": p["register_every"], "serial": p.get("serial", 0), "period_cycles": period,
        "samples": len(outs) + len(free_outs),
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
    # one sample per period: the last starts (n_free - 1) periods after the first
    assert free_cycles == (n_free - 1) * period + p["latency"] + 1, f"{n_free} samples took {free_cycles} cycles"
