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
