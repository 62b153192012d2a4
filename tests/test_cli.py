"""The command line: outputs, and one-line errors instead of tracebacks."""

import json
import re
import subprocess
import sys

import pytest

from hwtrain.cli import main


def test_generate_writes_verilog_and_manifest(tmp_path, capsys):
    assert main(["generate", "datapath", "--inputs", "7", "--neurons", "2", "--out", str(tmp_path)]) == 0
    v = list(tmp_path.glob("*.v"))
    assert len(v) == 1 and "module xnor_popcount_k7_n2" in v[0].read_text()
    info = json.loads(v[0].with_suffix(".json").read_text())
    assert info["config"]["inputs"] == 7 and info["block"] == "XnorPopcountArray"
    assert "wrote" in capsys.readouterr().out


def test_config_file_and_override(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"inputs": 9, "neurons": 2, "pipeline": 2}))
    assert main(["generate", "datapath", "--config", str(cfg), "--neurons", "3",
                 "--out", str(tmp_path)]) == 0
    assert (tmp_path / "xnor_popcount_k9_n3_p2_const_tree_pc4_s1.v").exists()


@pytest.mark.parametrize("argv, message", [
    (["generate", "datapath", "--inputs", "0", "--neurons", "3"], "inputs (K) must be a positive integer"),
    (["generate", "datapath", "--neurons", "3"], "datapath needs --inputs"),
    (["generate", "datapath", "--inputs", "64", "--neurons", "3", "--popcount-width", "5"],
     "cannot hold a count of up to K=64"),
    (["synth", "datapath", "--inputs", "4", "--neurons", "1", "--target", "xc7"], "unknown target 'xc7'"),
    (["verify", "datapath", "--inputs", "4", "--neurons", "1", "--sim", "modelsim"],
     "unknown simulator 'modelsim'"),
    (["verify", "datapath", "--inputs", "4", "--neurons", "1", "--samples", "0"], "--samples"),
    (["generate", "datapath", "--config", "/nonexistent.json"], "cannot read configuration"),
])
def test_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_tool_is_reported(monkeypatch, capsys):
    import hwtrain.flows.toolchain as tc
    monkeypatch.setattr(tc.shutil, "which", lambda name: None)
    monkeypatch.setattr(tc.sys, "executable", "/nonexistent/python")
    with pytest.raises(tc.ToolMissing, match="iverilog not found"):
        tc.simulator_env("icarus")


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "hwtrain.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "generate" in out.stdout and "synth" in out.stdout


def test_config_file_values_survive_option_defaults(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"inputs": 9, "neurons": 2, "pipeline": 3, "weights": "port",
                               "popcount_out": False}))
    assert main(["generate", "datapath", "--config", str(cfg), "--out", str(tmp_path)]) == 0
    info = json.loads((tmp_path / "xnor_popcount_k9_n2_p3_port_tree_s1.json").read_text())
    assert info["config"]["pipeline"] == 3 and info["config"]["weights"] == "port"
    assert info["config"]["popcount_out"] is False


def test_every_design_names_its_hardware_golden_twin_and_bench(capsys):
    """The registry is where a newcomer finds a block: each path resolves to a class, each bench exists."""
    from hwtrain.flows.designs import DESIGNS
    from hwtrain.flows.simulate import sim_dir
    for name, d in DESIGNS.items():
        assert isinstance(d.resolve("hardware"), type) and isinstance(d.resolve("golden"), type), name
        assert d.bench is None or (sim_dir() / f"{d.bench}.py").is_file(), name
    assert main(["designs"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in DESIGNS)


def test_generate_writes_into_the_run_folder_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HWTRAIN_RUNS", str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "prng", "--lanes", "2"]) == 0
    assert (tmp_path / "runs" / "prng" / "xorshift32_l2_s1.v").is_file()
    assert not (tmp_path / "rtl_out").exists()


def test_generate_logic_from_a_netlist_file(tmp_path, monkeypatch, capsys):
    """A netlist is a registry design: its options are the pipelining of ``LogicNetwork``; the
    module name changes with the netlist's content and with every option."""
    from hwtrain.logic.netlist import Thermometer, random_netlist
    import numpy as np
    monkeypatch.setenv("HWTRAIN_RUNS", str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)
    enc = Thermometer(np.array([[2, 5], [1, 7], [3, 3]]), 3)
    random_netlist(enc.bits, [9, 8], 2, seed=2, encoder=enc).save("net-a.json")
    args = ["generate", "logic", "--netlist", "net-a.json", "--register-every", "lut4", "--head", "pipelined"]
    assert main(args) == 0
    (v,) = (tmp_path / "runs" / "logic").glob("*.v")
    assert v.name.startswith("logic_net_a_rlut4_pipelined_stall_") and f"module {v.stem}" in v.read_text()
    info = json.loads(v.with_suffix(".json").read_text())
    assert info["design"] == "logic" and info["block"] == "LogicNetwork"
    assert info["config"]["netlist"] == str(tmp_path / "net-a.json")    # absolute: benches run elsewhere
    assert info["config"]["register_every"] == "lut4" and info["config"]["head"] == "pipelined"
    assert main(args + ["--flow", "credit"]) == 0
    random_netlist(enc.bits, [9, 8], 2, seed=3, encoder=enc).save("net-a.json")
    assert main(args) == 0
    assert len(list((tmp_path / "runs" / "logic").glob("*.v"))) == 3
    # a serial input (hwtrain.hdl.logic_serial) is another design; a beat must divide the features
    assert main(args + ["--serial", "3"]) == 0
    assert len(list((tmp_path / "runs" / "logic").glob("*.v"))) == 4
    assert main(args + ["--serial", "2"]) == 2
    assert "positive divisor of the netlist's 3 features" in capsys.readouterr().err


def test_logic_core_config_round_trip_and_clear_errors():
    from hwtrain.errors import HwtrainError
    from hwtrain.golden.logic import LogicCoreConfig
    cfg = LogicCoreConfig.from_dict({"netlist": "n.json", "register_every": "lut4", "register_after": [1, 3]})
    assert LogicCoreConfig.from_json(cfg.to_json()) == cfg and cfg.register_after == (1, 3)
    for bad, message in (({"netlist": "n.json", "regster_every": 1}, "unknown LogicCoreConfig keys"),
                         ({"netlist": "n.json", "head_levels": "2"}, "head_levels must be an integer"),
                         ({"netlist": "n.json", "head_levels": 0}, "head_levels must be a positive integer"),
                         ({"register_every": 1}, "LogicCoreConfig needs netlist")):
        with pytest.raises(HwtrainError, match=message):
            LogicCoreConfig.from_dict(bad)


def test_a_reader_that_goes_away_ends_quietly():
    """`hwtrain designs | head -1`: the pipe closes before hwtrain writes; no traceback, exit 141."""
    import os
    r, w = os.pipe()
    os.close(r)                                        # the reader is gone before the first write
    proc = subprocess.run([sys.executable, "-c", "import sys; from hwtrain.cli import main; sys.exit(main(['designs']))"],
                          stdout=w, stderr=subprocess.PIPE, text=True, timeout=60)
    os.close(w)
    assert proc.returncode == 141, proc.stderr
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_inference_options_that_change_the_hardware_change_its_name():
    """Run folders and synthesis work directories are named after the design: two different
    cores must not share one (the defaults keep the names existing run folders have)."""
    from hwtrain.flows.designs import design
    from hwtrain.inference.config import InferenceConfig
    d = design("inference")
    base = InferenceConfig(sizes=(16, 8), classes=4, impl=("folded:2x4",))
    names = {d.top_name(base)} | {d.top_name(InferenceConfig(sizes=(16, 8), classes=4, impl=("folded:2x4",), **kw))
                                  for kw in ({"argmax_pipeline": "round"}, {"register_slices": False},
                                             {"logits_out": True}, {"classifier_pipeline": 2})}
    assert len(names) == 5, names
    assert d.top_name(base) == "mlp_16_8_c4_folded2x4_auto_compressor_s1"


def test_synth_reset_less_reaches_the_flow(tmp_path):
    """`hwtrain synth --reset-less` measures the core in a clock domain without a reset pin, as a board
    build has it, and says so in its report."""
    from hwtrain.cli import main
    out = tmp_path / "r.json"
    assert main(["synth", "datapath", "--inputs", "8", "--neurons", "2", "--reset-less",
                 "--out", str(tmp_path / "work"), "--json", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert rep["reset_less"] is True and rep["fmax_mhz"]
    ports = re.findall(r"wire width \d+ input \d+\s+\\(\S+)", (tmp_path / "work" / "top.il").read_text())
    assert "clk" in ports and "rst" not in ports, ports


@pytest.mark.parametrize("target,expected", [("ecp5", "-nowidelut -noflatten"), ("ice40", "")])
def test_synth_passes_a_designs_own_options_to_synth_ecp5_only(tmp_path, monkeypatch, target, expected):
    """A design's measured synth options are synth_ecp5's: synth_ice40 has no -nowidelut and
    refused the whole run (`hwtrain synth logic --head pipelined --target ice40`)."""
    import numpy as np
    import hwtrain.flows.synth as fs
    from hwtrain.logic.netlist import Thermometer, random_netlist
    enc = Thermometer(np.array([[2, 5], [1, 7], [3, 3]]), 3)
    random_netlist(enc.bits, [9, 8], 2, seed=2, encoder=enc).save(tmp_path / "net.json")
    seen = {}

    class Report:
        def table(self):
            return ""

    def fake(core, name, **kw):
        core._MustUse__silence = True
        seen.update(kw)
        return Report()

    monkeypatch.setattr(fs, "synthesize", fake)
    assert main(["synth", "logic", "--netlist", str(tmp_path / "net.json"), "--head", "pipelined",
                 "--target", target, "--out", str(tmp_path / "run")]) == 0
    assert seen["synth_args"] == expected
