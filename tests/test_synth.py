"""The synthesis flow measures real designs on both targets (small cores, seconds each)."""

import json
import re

import pytest

from hwtrain.config import DatapathConfig
from hwtrain.flows import timing_paths
from hwtrain.flows.synth import synthesize
from hwtrain.hdl.datapath import XnorPopcountArray


@pytest.mark.parametrize("target, harness", [("ecp5", "ooc"), ("ecp5", "scan"), ("ice40", None)])
def test_small_datapath_places_and_routes(target, harness, tmp_path):
    # 7 x 3 and 8 x 3 behind the ECP5 scan harness crash YoWASP's ABC (hwtrain.flows.synth)
    cfg = DatapathConfig(7, 3, pipeline=2) if harness != "scan" else DatapathConfig(16, 4, pipeline=2)
    r = synthesize(XnorPopcountArray(cfg), "dp7x3", target=target, work_dir=tmp_path,
                   harness=harness)
    assert r.lut4 > 0 and r.fmax_mhz is not None and r.fmax_mhz > 10
    # pipeline registers of the neurons plus registered or scanned ports
    out_bits = cfg.neurons * (1 + cfg.popcount_width)
    assert r.ff >= out_bits
    used = {k: v["used"] for k, v in r.utilization.items()}
    assert used, "nextpnr reported no utilisation"
    log = (tmp_path / "nextpnr.log").read_text()
    if harness == "ooc":
        assert r.device.endswith("(out-of-context)") and r.harness_ff == 0
    else:
        # scanned in: i.payload, i.valid, o.ready; captured: i.ready, o.payload, o.valid
        assert r.harness_ff == (cfg.inputs + 1 + 1) + (1 + out_bits + 1)
    if target == "ecp5":
        # behind pins the clock is promoted to a global network (a DCCA);
        # out-of-context it is routed on general fabric
        dcca = re.search(r"DCCA:\s+(\d+)/", log)
        assert dcca and (int(dcca.group(1)) > 0) == (harness == "scan"), dcca
    report = json.loads((tmp_path / "report_hwtrain.json").read_text())
    assert report["lut4"] == r.lut4 and report["fmax_mhz"] == r.fmax_mhz
    # every endpoint's arrival is in the report: the latest is nextpnr's critical path (Fmax adds the setup)
    ends = timing_paths.endpoints(json.loads((tmp_path / "report.json").read_text()))
    assert r.fmax_mhz - 0.01 <= 1e3 / ends[0].arrival <= 1.1 * r.fmax_mhz
    assert (tmp_path / "timing_paths.txt").read_text().startswith(f"{r.failing_endpoints or 0} of {len(ends)} ")


def test_reset_less_clock_has_no_reset_pin(tmp_path):
    """reset_less: the harness's sync domain has a clock pin and no reset pin, as a board build has;
    the scan harness and the measurement are otherwise the same."""
    cfg = DatapathConfig(16, 4, pipeline=2)
    r = synthesize(XnorPopcountArray(cfg), "dp16x4", target="ecp5", harness="scan", work_dir=tmp_path,
                   reset_less=True)
    top = (tmp_path / "top.il").read_text()
    module = top[top.index("module \\top\n"):]
    inputs = re.findall(r"wire width \d+ input \d+\s+\\(\S+)", module[:module.index("\nend\n")])
    assert "clk" in inputs and "rst" not in inputs, inputs
    assert r.reset_less and r.fmax_mhz is not None and r.fmax_mhz > 10
    assert "reset-less" in r.table()
    out_bits = cfg.neurons * (1 + cfg.popcount_width)
    assert r.harness_ff == (cfg.inputs + 1 + 1) + (1 + out_bits + 1)


def test_unknown_target_is_refused():
    from hwtrain.errors import HwtrainError
    core = XnorPopcountArray(DatapathConfig(3, 1))
    core._MustUse__silence = True            # never elaborated, by design of this test
    with pytest.raises(HwtrainError, match="unknown target 'gowin'"):
        synthesize(core, "x", target="gowin")


def test_unknown_harness_is_refused():
    from hwtrain.errors import HwtrainError
    core = XnorPopcountArray(DatapathConfig(3, 1))
    core._MustUse__silence = True
    with pytest.raises(HwtrainError, match="unknown harness 'ooc' for ice40"):
        synthesize(core, "x", target="ice40", harness="ooc")


def test_identical_neurons_are_synthesized_once(tmp_path):
    """Weights as ports make every neuron the same module: the flow keeps one
    and maps it once, and the flattened result counts every neuron."""
    from amaranth.back import rtlil
    from hwtrain.flows.synth import RegisteredPorts, dedup_modules
    cfg = DatapathConfig(9, 4, pipeline=2, weights="port", popcount="compressor")
    wrapper = RegisteredPorts(XnorPopcountArray(cfg))
    text, merged = dedup_modules(rtlil.convert(wrapper, name="top", ports=wrapper.ports,
                                               emit_src=False))
    assert merged == 3
    assert text.count("\nmodule ") + text.startswith("module ") == 3   # top, core, one neuron
    assert text.count("cell \\top.core.n0 ") == 4

    merged_run = synthesize(XnorPopcountArray(cfg), "n4", work_dir=tmp_path / "a", pnr=False)
    flat_run = synthesize(XnorPopcountArray(cfg), "n4", work_dir=tmp_path / "b", pnr=False,
                          dedup=False)
    assert merged_run.merged_modules == 3 and flat_run.merged_modules == 0
    # The same registers; abc maps one neuron on its own instead of the whole
    # flattened layer, which may cost a few LUTs of cross-neuron optimisation.
    assert merged_run.ff == flat_run.ff
    assert flat_run.lut4 * 0.9 <= merged_run.lut4 <= flat_run.lut4 * 1.1


def test_specialised_neurons_are_not_merged():
    from amaranth.back import rtlil
    from hwtrain.flows.synth import RegisteredPorts, dedup_modules
    wrapper = RegisteredPorts(XnorPopcountArray(DatapathConfig(9, 4, weights="const")))
    _, merged = dedup_modules(rtlil.convert(wrapper, name="top", ports=wrapper.ports,
                                            emit_src=False))
    assert merged == 0



def test_abc_death_is_one_clear_error(monkeypatch, tmp_path):
    """YoWASP's ABC ending yosys without a message (the log stops at its command) is reported as a
    toolchain fault with the log, not as a design error or a traceback."""
    import hwtrain.flows.synth as synth
    from hwtrain.errors import HwtrainError

    def run(cmd, cwd, log, what, timeout):
        log.write_text("2.46.16.5. Executing ABC9.\nRunning ABC command: \"/yosys-abc\" -s -f x 2>&1\n")
        raise HwtrainError(f"{what} failed")

    monkeypatch.setattr(synth, "run", run)
    core = XnorPopcountArray(DatapathConfig(inputs=4, neurons=2))
    with pytest.raises(HwtrainError, match="ABC exited without a message while mapping t .*toolchain fault"):
        synthesize(core, "t", work_dir=tmp_path, pnr=False, dedup=False)


def test_abc9_failure_falls_back_to_classic_abc(monkeypatch, tmp_path):
    """yosys 0.70's abc9 fails an assertion on some netlists (the BEP folded trainer); the flow maps
    them with classic ABC in synth_ecp5's own script and says so in the report."""
    import json
    import hwtrain.flows.synth as synth
    from hwtrain.errors import HwtrainError
    scripts = []

    def run(cmd, cwd, log, what, timeout):
        script = cmd[-1]
        scripts.append(script)
        if "abc -dress -lut 4:7" not in script:
            log.write_text("2.46.16.7. Executing ABC_OPS_REINTEGRATE pass (reintegrate ABC mapped design into module).\n")
            raise HwtrainError(f"{what} failed")
        (cwd / "stat.json").write_text(json.dumps({"design": {"num_cells_by_type": {"LUT4": 7}}}))
        log.write_text("ok\n")
        return 1.0

    monkeypatch.setattr(synth, "run", run)
    core = XnorPopcountArray(DatapathConfig(inputs=4, neurons=2))
    r = synthesize(core, "t", work_dir=tmp_path, pnr=False, dedup=False)
    assert r.abc == "abc" and r.lut4 == 7
    assert len(scripts) == 2 and "-run :map_luts" in scripts[1] and "-run map_cells:" in scripts[1]
    # a forced mapper is the only attempt; an unknown one is refused before any work
    scripts.clear()
    with pytest.raises(HwtrainError, match="ABC exited without a message"):
        synthesize(core, "t", work_dir=tmp_path, pnr=False, dedup=False, abc="abc9")
    assert len(scripts) == 1
    with pytest.raises(HwtrainError, match="unknown LUT mapper 'abc10'; expected abc9 or abc"):
        synthesize(core, "t", work_dir=tmp_path, pnr=False, dedup=False, abc="abc10")


def _memory_core(attrs):
    from amaranth.hdl import Module
    from amaranth.lib import wiring
    from amaranth.lib.memory import Memory
    from amaranth.lib.wiring import In, Out

    class Core(wiring.Component):
        ra: In(6)
        wa: In(6)
        wd: In(72)
        we: In(1)
        rd: Out(72)

        def elaborate(self, platform):
            m = Module()
            m.submodules.mem = mem = Memory(shape=72, depth=64, init=[], attrs=attrs)
            r, w = mem.read_port(), mem.write_port()
            m.d.comb += [r.addr.eq(self.ra), w.addr.eq(self.wa), w.data.eq(self.wd), w.en.eq(self.we)]
            m.d.sync += self.rd.eq(r.data)
            return m
    return Core()


def test_no_rw_check_drops_the_read_first_emulation(tmp_path):
    """A block RAM whose reads never collide with its writes (``no_rw_check``) maps to bare DP16KDs:
    no register of the write data, no compare, no multiplexer behind the block RAM output. Without
    the attribute yosys emulates read-first behaviour (the negative control)."""
    from hwtrain.flows.synth import honour_no_rw_check
    marked = synthesize(_memory_core({"ram_style": "block", "no_rw_check": 1}), "m1", work_dir=tmp_path / "a",
                        pnr=False, dedup=False)
    plain = synthesize(_memory_core({"ram_style": "block"}), "m0", work_dir=tmp_path / "b", pnr=False, dedup=False)
    # 4 x (6 address + 72 data + 1 enable) port registers of the ooc harness + 72 read registers
    assert marked.ebr == plain.ebr == 2
    assert marked.lut4 == 0 < plain.lut4 and marked.ff < plain.ff
    assert plain.ff - marked.ff >= 72          # the emulation's copy of the write data
    assert "COLLISION_X_MASK 1'1" in (tmp_path / "a" / "top.il").read_text()
    assert honour_no_rw_check("module \\t\nend\n") == "module \\t\nend\n"


def test_run_stop_ends_a_tool_that_does_not(tmp_path):
    """A router that reports iteration after iteration without end is stopped by router_limit at the
    limit, with where it stood; the process is gone; a tool that ends is not stopped."""
    import sys
    import time
    from hwtrain.flows.synth import router_limit
    from hwtrain.flows.toolchain import ToolStopped, run

    forever = [sys.executable, "-u", "-c",
               "import itertools, time\n"
               "for i in itertools.count(1):\n"
               "    print(f'Info:     iter={i} wires=100 overused=0 overuse=0 tmgfail={40 - i % 7} archfail=NA')\n"
               "    time.sleep(0.02)\n"]
    t0 = time.monotonic()
    with pytest.raises(ToolStopped, match=r"router2 at iteration (\d+), past the limit of 5: 0 overused wires, "
                                          r"\d+ arcs failing timing") as e:
        run(forever, cwd=tmp_path, log=tmp_path / "pnr.log", what="router", stop=router_limit(5), poll=0.2, timeout=60)
    assert time.monotonic() - t0 < 20
    assert int(re.search(r"iteration (\d+)", str(e.value))[1]) > 5
    time.sleep(0.3)
    size = (tmp_path / "pnr.log").stat().st_size
    time.sleep(0.3)
    assert (tmp_path / "pnr.log").stat().st_size == size          # killed: the log no longer grows
    # a tool that finishes under the limit runs to its end; the timeout still applies
    done = [sys.executable, "-c", "print('Info:     iter=1 wires=1 overused=0 overuse=0 archfail=NA')"]
    assert run(done, cwd=tmp_path, log=tmp_path / "ok.log", what="router", stop=router_limit(5), poll=0.1) >= 0
    assert router_limit(None) is None
    from hwtrain.flows.toolchain import ToolTimedOut
    with pytest.raises(ToolTimedOut, match="did not finish within 1 s"):
        run(forever, cwd=tmp_path, log=tmp_path / "t.log", what="router", timeout=1, poll=0.2)


ROUTER1_LOG = """Info: Routing 248464 arcs.
Info:            |   (re-)routed arcs  |   delta    | remaining|       time spent     |
Info:    IterCnt |  w/ripup   wo/ripup |  w/r  wo/r |      arcs| batch(sec) total(sec)|
Info:       1000 |       12        987 |   12   987 |    247486|       4.42       4.42|
Info:      74000 |    24391      49608 |  380   620 |    226276|      28.51     785.03|
"""


def fake_tools(nextpnr):
    """A stand-in for the synthesis flow's ``run``: yosys writes a stat.json of 7 LUT4 and 3 FF, nextpnr
    is ``nextpnr(log, what, timeout, stop)``."""
    def run(cmd, cwd, log, what, timeout, stop=None):
        if "nextpnr" in what:
            return nextpnr(log, what, timeout, stop)
        (cwd / "stat.json").write_text(json.dumps({"design": {"num_cells_by_type": {"LUT4": 7, "TRELLIS_FF": 3}}}))
        log.write_text("ok\n")
        return 1.0
    return run


def test_router_status_reads_both_routers():
    from hwtrain.flows.synth import router_status
    assert router_status(ROUTER1_LOG) == ("router1 after 785 s of routing: 74,000 arcs routed (24,391 of them "
                                          "ripping others up), 226,276 left")
    assert router_status("Info:     iter=9 wires=1 overused=2 overuse=2 tmgfail=3 archfail=NA") == \
        "router2 at iteration 9: 2 overused wires, 3 arcs failing timing"
    assert router_status("Info: Program finished normally.") is None


def test_a_router_past_the_timeout_keeps_the_resources(monkeypatch, tmp_path):
    """nextpnr past synthesize()'s timeout: the yosys resources stand, no Fmax, and pnr_stopped says
    how far the router got; yosys past it is still an error."""
    import hwtrain.flows.synth as synth
    from hwtrain.flows.toolchain import ToolTimedOut

    def nextpnr(log, what, timeout, stop):
        log.write_text(ROUTER1_LOG)
        raise ToolTimedOut(f"{what} did not finish within {timeout:.0f} s (log: {log})")

    monkeypatch.setattr(synth, "run", fake_tools(nextpnr))
    core = XnorPopcountArray(DatapathConfig(inputs=4, neurons=2))
    r = synthesize(core, "t", work_dir=tmp_path, dedup=False, router="router1", timeout=60)
    assert r.lut4 == 7 and r.ff == 3 and r.fmax_mhz is None
    assert r.pnr_stopped.startswith("nextpnr (LFE5U-85F (out-of-context)) did not finish within 60 s")
    assert r.pnr_stopped.endswith("; router1 after 785 s of routing: 74,000 arcs routed (24,391 of them "
                                  "ripping others up), 226,276 left")

    def yosys_late(cmd, cwd, log, what, timeout, stop=None):
        log.write_text("4.1. Executing SYNTH_ECP5 pass.\n")
        raise ToolTimedOut(f"{what} did not finish within {timeout:.0f} s (log: {log})")
    monkeypatch.setattr(synth, "run", yosys_late)
    with pytest.raises(ToolTimedOut, match="yosys synth_ecp5 did not finish within 60 s"):
        synthesize(core, "t2", work_dir=tmp_path / "b", dedup=False, timeout=60)


def test_a_stopped_router_keeps_the_resources(monkeypatch, tmp_path):
    """When router_iterations stops nextpnr the report has the yosys resources, no Fmax, and the
    reason, in the returned report and in report_hwtrain.json; a limit below 1 is refused."""
    import hwtrain.flows.synth as synth
    from hwtrain.errors import HwtrainError
    from hwtrain.flows.toolchain import ToolStopped
    seen = {}

    def nextpnr(log, what, timeout, stop):
        seen["stop"] = stop
        raise ToolStopped(f"{what} stopped: {stop('iter=9 wires=1 overused=2 overuse=2 tmgfail=3 archfail=NA')}")

    monkeypatch.setattr(synth, "run", fake_tools(nextpnr))
    core = XnorPopcountArray(DatapathConfig(inputs=4, neurons=2))
    r = synthesize(core, "t", work_dir=tmp_path, dedup=False, router="router2", router_iterations=8)
    assert r.lut4 == 7 and r.ff == 3 and r.fmax_mhz is None
    assert r.pnr_stopped == ("nextpnr (LFE5U-85F (out-of-context)) stopped: router2 at iteration 9, past the "
                             "limit of 8: 2 overused wires, 3 arcs failing timing")
    assert "not routed (nextpnr" in r.table()
    assert json.loads((tmp_path / "report_hwtrain.json").read_text())["pnr_stopped"] == r.pnr_stopped
    with pytest.raises(HwtrainError, match="router_iterations must be at least 1, got 0"):
        synthesize(core, "t", work_dir=tmp_path, dedup=False, router_iterations=0)


def test_place_then_route_the_placed_design(tmp_path):
    """place_freq_mhz: one nextpnr run places (aimed at that clock) and writes the design, a second
    reads it back, keeps the placement (``--no-place``) and routes it; the report is the second run's."""
    cfg = DatapathConfig(7, 3, pipeline=2)
    r = synthesize(XnorPopcountArray(cfg), "dp7x3", target="ecp5", work_dir=tmp_path, freq_mhz=100,
                   place_freq_mhz=110)
    assert r.lut4 > 0 and r.fmax_mhz is not None and r.fmax_mhz > 10
    placed = (tmp_path / "nextpnr_place.log").read_text()
    routed = (tmp_path / "nextpnr.log").read_text()
    assert "Info: Routing" not in placed and (tmp_path / "placed.json").is_file()
    assert "FAIL at 110.00 MHz" in placed or "PASS at 110.00 MHz" in placed
    # routed aimed at freq_mhz, not at the placement's clock stored in placed.json
    assert "FAIL at 100.00 MHz" in routed or "PASS at 100.00 MHz" in routed
    # the second run neither places nor routes anything but what the first placed
    assert "Info: Routing" in routed and "placer" not in routed.lower() and "placer" in placed.lower()


def test_route_seed_routes_the_placement_in_a_run_of_its_own(tmp_path):
    """route_seed alone: placed aimed at freq_mhz in one run, routed in another."""
    r = synthesize(XnorPopcountArray(DatapathConfig(7, 3, pipeline=2)), "dp7x3", target="ecp5",
                   work_dir=tmp_path, freq_mhz=100, route_seed=5)
    assert r.fmax_mhz is not None
    placed = (tmp_path / "nextpnr_place.log").read_text()
    assert "Info: Routing" not in placed and ("FAIL at 100.00 MHz" in placed or "PASS at 100.00 MHz" in placed)
    assert "Info: Routing" in (tmp_path / "nextpnr.log").read_text()


def test_the_route_run_command():
    """The route run reads placed.json, keeps the placement, takes its own seed and one thread."""
    from hwtrain.flows.synth import _route_only
    cmd = ["nextpnr", "--json", "top.json", "--seed", "8", "--placer", "static", "--tmg-ripup"]
    assert _route_only(cmd, 3) == ["nextpnr", "--json", "placed.json", "--seed", "3", "--tmg-ripup",
                                   "--threads", "1", "--no-place"]
    assert _route_only(cmd + ["--threads", "2"], 8)[-3:] == ["--threads", "2", "--no-place"]


def test_the_route_run_gets_no_placer_options():
    from hwtrain.flows.synth import _without_placer_options
    cmd = ["nextpnr", "--json", "top.json", "--placer", "static", "--tmg-ripup", "--placer-heap-timingweight", "40",
           "--placer=heap", "--seed", "8"]
    assert _without_placer_options(cmd) == ["nextpnr", "--json", "top.json", "--tmg-ripup", "--seed", "8"]


def test_a_placement_run_that_does_not_fit_says_so(monkeypatch, tmp_path):
    """With a placement run of its own, a design too big for the part is reported from that run's log
    (nextpnr_place.log), not from a route log that was never written."""
    import hwtrain.flows.synth as synth
    from hwtrain.errors import HwtrainError

    def nextpnr(log, what, timeout, stop):
        log.write_text("Info: Device utilisation:\nInfo: \tTRELLIS_COMB: 90000/83640 107%\n"
                       "ERROR: Unable to place cell 'x', no BELs remaining to implement cell type 'TRELLIS_COMB'\n")
        raise HwtrainError(f"{what} failed (log: {log})")

    monkeypatch.setattr(synth, "run", fake_tools(nextpnr))
    core = XnorPopcountArray(DatapathConfig(inputs=4, neurons=2))
    with pytest.raises(HwtrainError, match=r"does not fit LFE5U-85F.*nextpnr_place\.log"):
        synthesize(core, "t", work_dir=tmp_path, dedup=False, route_seed=2)
    assert not (tmp_path / "nextpnr.log").exists()
