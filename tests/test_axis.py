"""`--ports axis` without a simulator: the emitted module has exactly the AXI4-Stream names (plus
passed-through level ports), the manifest describes every one of them, and designs that cannot
be wrapped are refused by name. The simulation of such a core is sim/test_axis_rtl.py."""

from __future__ import annotations

import json
import re

import pytest
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hwtrain.cli import main
from hwtrain.errors import HwtrainError
from hwtrain.flows.axis import AxisWrapper, layout_fields
from hwtrain.flows.designs import config_for, generate

AXIS = {"aclk", "aresetn", "s_axis_tdata", "s_axis_tvalid", "s_axis_tready",
        "m_axis_tdata", "m_axis_tvalid", "m_axis_tready"}


def _module_ports(path, top) -> set[str]:
    m = re.search(rf"\bmodule\s+\\?{re.escape(top)}\s*\(([^)]*)\)", path.read_text())
    return {p.strip() for p in m.group(1).split(",")}


@pytest.mark.parametrize("name, values, extra, timing", [
    ("inference", {"sizes": (16, 8), "classes": 4, "impl": ("serial:2",)}, set(), (None, None)),
    ("datapath", {"inputs": 12, "neurons": 3, "pipeline": 2}, set(), (2, 1)),
    ("datapath", {"inputs": 8, "neurons": 2, "weights": "port"}, {"weights", "thresholds"}, (2, 1)),
    ("prng", {"lanes": 2}, set(), (0, 1)),
])
def test_ports_and_manifest(tmp_path, name, values, extra, timing):
    cfg = config_for(name, values)
    path, info = generate(name, cfg, tmp_path, ports="axis")
    want = (AXIS - ({"s_axis_tdata", "s_axis_tvalid", "s_axis_tready"} if name == "prng" else set())) | extra
    assert info["top"].endswith("_axis") and _module_ports(path, info["top"]) == want
    ports = info["ports"]
    assert {s["name"] for s in ports["signals"]} == want
    on_disk = json.loads(path.with_suffix(".json").read_text())
    assert on_disk["ports"] == ports
    for s in ports["signals"]:
        assert s["direction"] in ("input", "output") and s["width"] >= 1 and s["protocol"]
        if s["name"].endswith("_tdata"):
            assert s["width"] % 8 == 0 and s["width"] - 8 < s["payload_bits"] <= s["width"]
            assert sum(f["width"] for f in s["payload"]) == s["payload_bits"]
    if name == "inference":
        timing = (cfg.latency, cfg.cycles_per_sample)
    assert (ports["latency_cycles"], ports["cycles_per_sample"]) == timing


def test_cli_generate_axis(tmp_path, capsys):
    assert main(["generate", "prng", "--lanes", "1", "--ports", "axis", "--out", str(tmp_path)]) == 0
    assert "xorshift32_l1_s1_axis.v" in capsys.readouterr().out
    assert main(["generate", "prng", "--ports", "apb", "--out", str(tmp_path)]) == 2


def test_refuses_what_it_cannot_wrap():
    class TwoInputs(wiring.Component):
        def __init__(self):
            super().__init__({"a": In(stream.Signature(4)), "b": In(stream.Signature(4)),
                              "o": Out(stream.Signature(4))})

        def elaborate(self, platform):
            return Module()

    class NoStreams(wiring.Component):
        def __init__(self):
            super().__init__({"x": In(4), "y": Out(4)})

        def elaborate(self, platform):
            return Module()

    with pytest.raises(HwtrainError, match=r"input streams \['a', 'b'\]"):
        AxisWrapper(TwoInputs())
    with pytest.raises(HwtrainError, match="has no stream ports"):
        AxisWrapper(NoStreams())


def test_layout_fields_offsets():
    from amaranth.hdl import signed
    from amaranth.lib import data
    layout = data.StructLayout({"cls": range(10), "logits": data.ArrayLayout(signed(6), 3)})
    assert layout_fields(layout) == [
        {"name": "cls", "offset": 0, "width": 4, "signed": False, "min": 0, "max": 9},
        {"name": "logits", "offset": 4, "width": 18, "array": {
            "count": 3, "stride": 6, "element": [{"name": "data", "offset": 0, "width": 6, "signed": True}]}}]
