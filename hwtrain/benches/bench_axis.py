"""cocotb bench: a core with AXI4-Stream ports, driven through a top that only sees those ports.

Parameters (``HWTRAIN_BENCH``): ``names`` maps the roles ``clk, resetn, s_data, s_valid, s_ready,
m_data, m_valid, m_ready`` to the top's port names; ``inputs`` are the TDATA words sent,
``expected`` the TDATA words the core must answer, in order; ``latency`` the cycles from an input
handshake to the first TVALID when nothing stalls (checked when given); ``p_in_stall`` and
``p_out_stall`` the probabilities that the bench withholds TVALID or TREADY in a cycle.

Besides the words, the AXI4-Stream rules are checked on the master side: once TVALID is high it
stays high, with TDATA unchanged, until the transfer; TVALID is low while ``aresetn`` is low.
"""

from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly

from streams import Stalls, bench_params, write_summary


async def _run(dut, n, inputs, *, p_in: float, p_out: float, seed: int, limit: int):
    """Send ``inputs``, collect as many outputs; returns (outputs, first output cycle, rule violations)."""
    s_data, s_valid, s_ready = (getattr(dut, n[k]) for k in ("s_data", "s_valid", "s_ready"))
    m_data, m_valid, m_ready = (getattr(dut, n[k]) for k in ("m_data", "m_valid", "m_ready"))
    in_stalls, out_stalls = Stalls(p_in, seed), Stalls(p_out, seed + 1)
    outputs, sent, offered, first, violations = [], 0, False, None, []
    held = None                                    # (tdata) of a master beat offered but not taken
    for cycle in range(limit):
        if not offered and sent < len(inputs) and not in_stalls.stall():
            s_data.value = inputs[sent]
            offered = True
        s_valid.value = int(offered)
        m_ready.value = int(not out_stalls.stall())
        await ReadOnly()
        valid, data = int(m_valid.value), int(m_data.value) if int(m_valid.value) else None
        if held is not None and (not valid or data != held):
            violations.append(f"cycle {cycle}: m_axis_tvalid/tdata changed before the transfer")
        if offered and int(s_ready.value):
            sent, offered = sent + 1, False
        if valid and int(m_ready.value):
            outputs.append(data)
            first = cycle if first is None else first
            held = None
        else:
            held = data if valid else None
        await FallingEdge(getattr(dut, n["clk"]))
        if len(outputs) == len(inputs):
            s_valid.value = 0
            return outputs, first, violations
    raise AssertionError(f"stream stalled: {sent}/{len(inputs)} sent, {len(outputs)} received "
                         f"after {limit} cycles")


@cocotb.test()
async def axis_words(dut):
    p = bench_params()
    n = p["names"]
    clk, resetn = getattr(dut, n["clk"]), getattr(dut, n["resetn"])
    Clock(clk, 10, unit="ns").start()
    resetn.value = 0
    getattr(dut, n["s_valid"]).value = 0
    getattr(dut, n["m_ready"]).value = 0
    await ClockCycles(clk, 3)
    await ReadOnly()
    reset_valid = int(getattr(dut, n["m_valid"]).value)
    await FallingEdge(clk)
    resetn.value = 1
    inputs, expected = p["inputs"], p["expected"]
    limit = 50 * (len(inputs) + 10) * max(1, p.get("cycles_per_sample") or 1)
    stalled, _, v1 = await _run(dut, n, inputs, p_in=p["p_in_stall"], p_out=p["p_out_stall"],
                                seed=p.get("seed", 1), limit=limit)
    free, first, v2 = await _run(dut, n, inputs, p_in=0.0, p_out=0.0, seed=1, limit=limit)
    mismatches = [{"sample": i % len(inputs), "got": got, "want": expected[i % len(inputs)]}
                  for i, got in enumerate(stalled + free) if got != expected[i % len(inputs)]]
    write_summary(p, {"samples": len(stalled) + len(free), "mismatches": len(mismatches),
                      "first_mismatches": mismatches[:3], "latency_cycles": first,
                      "expected_latency_cycles": p.get("latency"), "m_axis_tvalid_in_reset": reset_valid,
                      "rule_violations": (v1 + v2)[:5]})
    assert not mismatches, mismatches[:3]
    assert not v1 + v2, (v1 + v2)[:3]
    assert reset_valid == 0, "m_axis_tvalid high while aresetn is low"
    if p.get("latency") is not None:
        assert first == p["latency"], (first, p["latency"])
