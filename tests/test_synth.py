"""The synthesis flow measures real designs on both targets (small cores, seconds each)."""

import json

import pytest

from hwtrain.config import DatapathConfig
from hwtrain.flows.synth import synthesize
from hwtrain.hdl.datapath import XnorPopcountArray


@pytest.mark.parametrize("target", ["ecp5", "ice40"])
def test_small_datapath_places_and_routes(target, tmp_path):
    cfg = DatapathConfig(7, 3, pipeline=2)
    r = synthesize(XnorPopcountArray(cfg), "dp7x3", target=target, work_dir=tmp_path)
    assert r.lut4 > 0 and r.fmax_mhz is not None and r.fmax_mhz > 10
    # pipeline registers of 3 neurons plus registered or scanned ports
    out_bits = 3 + 3 * cfg.popcount_width
    assert r.ff >= out_bits
    used = {k: v["used"] for k, v in r.utilization.items()}
    assert used, "nextpnr reported no utilisation"
    if target == "ice40":
        # scanned in: i.payload, i.valid, o.ready; captured: i.ready, o.payload, o.valid
        assert r.harness_ff == (7 + 1 + 1) + (1 + out_bits + 1)
    report = json.loads((tmp_path / "report_hwtrain.json").read_text())
    assert report["lut4"] == r.lut4 and report["fmax_mhz"] == r.fmax_mhz


def test_unknown_target_is_refused():
    from hwtrain.errors import HwtrainError
    core = XnorPopcountArray(DatapathConfig(3, 1))
    core._MustUse__silence = True            # never elaborated, by design of this test
    with pytest.raises(HwtrainError, match="unknown target 'gowin'"):
        synthesize(core, "x", target="gowin")
