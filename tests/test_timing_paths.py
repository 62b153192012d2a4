"""Late endpoints from nextpnr's detailed timing report, grouped by the signal they capture."""

import pytest

from hwtrain.flows import timing_paths


def _net(driver, port, *ends):
    return {"driver": driver, "port": port, "net": driver + "_net", "event": "posedge clk", "sources": [],
            "endpoints": [{"cell": c, "port": p, "event": "posedge clk", "delay": [0.5, ns]} for c, p, ns in ends]}


REPORT = {"detailed_net_timings": [
    _net("core.acc_TRELLIS_FF_Q_DI_LUT4_Z", "F", ("core.acc_TRELLIS_FF_Q", "DI", 12.5),
         ("core.acc_TRELLIS_FF_Q_3", "DI", 11.0)),
    _net("core.seq_state_TRELLIS_FF_Q_1_DI_LUT4_Z", "F", ("core.seq_state_TRELLIS_FF_Q_1", "DI", 10.2)),
    _net("core.rows.slice0.0.0", "DOB0", ("core.row_TRELLIS_FF_Q_6", "M", 7.0)),
    _net("core.list$RAMW_SLICE", "WDO1", ("core.list$DPRAM_COMB1", "WD", 10.5)),
    _net("rst$tr_io", "O", ("core.acc_TRELLIS_FF_Q_1", "LSR", 15.0)),     # from the reset pin: not a clocked path
]}


def test_endpoints_latest_first_and_grouped_by_signal():
    ends = timing_paths.endpoints(REPORT)
    assert [e.arrival for e in ends] == [12.5, 11.0, 10.5, 10.2, 7.0]
    assert ends[0].driver == "core.acc_TRELLIS_FF_Q_DI_LUT4_Z" and ends[0].port == "DI"
    assert [timing_paths.signal_name(e.cell) for e in ends] == ["core.acc", "core.acc", "core.list",
                                                                 "core.seq_state", "core.row"]
    text = timing_paths.summary(ends, 10.0)
    lines = text.splitlines()
    assert lines[0] == "4 of 5 endpoints arrive after 10.00 ns (worst 12.50 ns = 80.00 MHz)"
    assert lines[2].split() == ["2", "12.50", "core.acc"]      # two late bits of one register, counted together
    assert "core.row" not in text                                  # 7.0 ns is in time
    assert ["12.50", "core.acc_TRELLIS_FF_Q.DI", "<-", "core.acc_TRELLIS_FF_Q_DI_LUT4_Z.F"] in [l.split() for l in lines]


def test_report_without_detailed_timings_is_refused():
    with pytest.raises(ValueError, match="--detailed-timing-report"):
        timing_paths.endpoints({"fmax": {}, "critical_paths": []})


def _cell(type_, **ports):
    """A mapped cell: ports given as (direction, [bits])."""
    return {"type": type_, "port_directions": {p: d for p, (d, _) in ports.items()},
            "connections": {p: bits for p, (_, bits) in ports.items()}}


def test_lut_levels_count_luts_not_muxes_or_carries():
    ff = lambda d, q, port="DI": _cell("TRELLIS_FF", **{port: ("input", [d]), "Q": ("output", [q])})
    cells = {
        "a_ff": ff(90, 2),                                    # a: the start register (D from outside)
        "l1": _cell("LUT4", A=("input", [2]), Z=("output", [3])),
        "l2": _cell("LUT4", A=("input", [3]), B=("input", [2]), Z=("output", [4])),
        "mux": _cell("PFUMX", ALUT=("input", [4]), BLUT=("input", [3]), OFX=("output", [5])),
        "b_ff": ff(5, 6),                                     # a -> l1 -> l2 -> mux -> b: two LUT levels
        "c0": _cell("CCU2C", A0=("input", [2]), COUT=("output", [7])),
        "c1": _cell("CCU2C", CIN=("input", [7]), S0=("output", [8])),
        "c_ff": ff(8, 9, "CE"),                               # a -> c0 -> carry -> c1 -> c's enable: one level
        "d_ff": ff(2, 10),                                    # straight from a: none
    }
    nets = {"a": [2], "b": [6], "c": [9], "d": [10], "l1_out": [3], "x": [90]}
    netlist = {"modules": {"top": {"cells": cells, "netnames": {n: {"bits": b} for n, b in nets.items()}}}}
    rows = timing_paths.lut_levels(netlist)
    assert rows == [(2, "DI", "b", "a"), (1, "CE", "c", "a"), (0, "DI", "a", "x"), (0, "DI", "d", "a")]
    text = timing_paths.levels_summary(rows)
    assert text.splitlines()[0] == "flip-flop inputs by LUT levels in front: 0: 2, 1: 1, 2: 1"
    assert text.splitlines()[2].split() == ["2", "DI", "b", "<-", "a"]
    with pytest.raises(ValueError, match="no module 'core'"):
        timing_paths.lut_levels(netlist, top="core")
