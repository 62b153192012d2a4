"""`hwtrain demo` without its long steps: the golden model trains for real, both designs are
emitted for real; the two cocotb benches and the synthesis are replaced by stand-ins that
report what the real ones report. Checks that every verdict and number the demo prints comes
from those reports (a bench that reports a mismatch makes the demo say MISMATCH), and that the
README's `make demo` output is what this code prints (numbers and paths aside)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import hwtrain.flows.demo as demo
from hwtrain.core.report import percent

README = Path(__file__).resolve().parents[1] / "README.md"


class Benches:
    """Stand-ins for ``run_bench``: the trainer bench's curve is the golden trainer's (as the
    real bench measures it from the RTL), unless ``wrong_epoch`` changes one epoch's error."""

    def __init__(self, wrong_epoch: int | None = None, inference_mismatches: int = 0):
        self.wrong_epoch, self.inference_mismatches, self.calls = wrong_epoch, inference_mismatches, []

    def __call__(self, path, top, bench, params, *, work_dir=None, progress=None, sim="verilator"):
        self.calls.append((bench, Path(path), params))
        assert Path(path).is_file() and f"module {top}" in Path(path).read_text()
        if bench == "bench_trainer_folded":
            from hwtrain.golden.trainer_folded import FoldedGolden, FoldedTrainConfig
            cfg = FoldedTrainConfig.from_dict(params["config"])
            xtr, ytr, _, _ = demo._digits(cfg.classes)
            g, curve = FoldedGolden(cfg), []
            for epoch in range(params["epochs"]):
                order = g.order(len(ytr))
                err = float(np.mean([g.train_sample(xtr[i], int(ytr[i])) != ytr[i] for i in order]))
                curve.append({"epoch": epoch + 1, "train_error_online": err + (epoch == self.wrong_epoch)})
                g.end_epoch(err)
            return {"failed": 0, "mismatches": 0, "samples": params["epochs"] * len(ytr), "cycle_checks": 1,
                    "min_cycles_per_train_sample": 90, "max_cycles_per_train_sample": 150, "log": "t.log",
                    "curve": curve}
        x, y = np.load(params["inputs_file"]), np.load(params["labels_file"])
        from hwtrain.golden.inference import InferenceCore
        from hwtrain.inference.config import InferenceConfig
        icfg = InferenceConfig.from_dict(params["config"])
        cls, _ = InferenceCore(icfg, icfg.load_model())(x)
        n = self.inference_mismatches
        return {"failed": int(n > 0), "mismatches": n, "samples": len(y) + 32, "latency_cycles": 40,
                "rtl_accuracy": float(np.mean(cls == y)), "golden_accuracy": float(np.mean(cls == y)), "log": "i.log"}


def fake_synthesize(core, name, **kw):
    from hwtrain.flows.synth import SynthReport
    core._MustUse__silence = True                       # built, not elaborated: no tools run
    # as measured: the trainer meets the 100 MHz asked for (no late endpoints, no line), the inference core does not
    return SynthReport(design=name, target="ecp5", device="LFE5U-85F (out-of-context)", lut4=1000, carry=10,
                       ff=500, fmax_mhz=75.0, yosys_seconds=1.0, nextpnr_seconds=2.0,
                       failing_endpoints=None if name.startswith("trainer") else 12)


def run(tmp_path, monkeypatch, benches, *, epochs=2, synth=True):
    monkeypatch.setattr("hwtrain.flows.simulate.run_bench", benches)
    monkeypatch.setattr("hwtrain.flows.synth.synthesize", fake_synthesize)
    lines = []
    res = demo.run_demo(tmp_path / "demo", epochs=epochs, hidden=8, synth=synth, say=lines.append)
    return res, "\n".join(lines).splitlines()


def test_demo_prints_what_its_reports_say(tmp_path, monkeypatch):
    benches = Benches()
    res, lines = run(tmp_path, monkeypatch, benches)
    assert res.ok and [b for b, _, _ in benches.calls] == ["bench_trainer_folded", "bench_inference"]
    assert benches.calls[0][2]["epochs"] == 2 and benches.calls[1][2]["samples"] == len(np.load(
        benches.calls[1][2]["labels_file"]))                       # the whole test split
    for c in res.curve:
        assert (f"      epoch {c['epoch']}: online training error {percent(c['train_error_online'])}, "
                f"test accuracy {percent(c['test_acc'])}") in lines
    n_train = benches.calls[0][2]["n_train"]
    assert (f"      BIT-EXACT: {2 * n_train} training samples; predictions, clocks per sample, hidden weights "
            f"and counters after every epoch; 0 differ") in lines
    assert any(l.startswith("      BIT-EXACT: ") and f"test accuracy of the RTL {percent(res.curve[-1]['test_acc'])}"
               in l for l in lines)                                # the model file = the trained weights
    rate = 75.0e6 / 150
    assert any(f"150 clocks per sample at most -> {rate:,.0f} training samples/s at 75.0 MHz" in l for l in lines)
    report = json.loads((tmp_path / "demo" / "demo.json").read_text())
    assert report["bit_exact"] is True and report["synth"]["trainer_samples_per_s_worst"] == rate
    assert report["curve"] == res.curve


@pytest.mark.parametrize("benches", [Benches(wrong_epoch=0), Benches(inference_mismatches=3)],
                         ids=["trainer curve differs", "inference outputs differ"])
def test_demo_says_mismatch_when_a_bench_does(tmp_path, monkeypatch, benches):
    res, lines = run(tmp_path, monkeypatch, benches, epochs=1, synth=False)
    assert not res.ok and any(l.startswith("      MISMATCH: ") for l in lines)
    assert json.loads((tmp_path / "demo" / "demo.json").read_text())["bit_exact"] is False


def _shape(line: str) -> str:
    """A printed line with numbers, paths and run-dependent names masked."""
    line = re.sub(r"\(log [^)]*\)", "(log L)", line)
    line = re.sub(r"\bin \S+/synth\)", "in S)", line)
    line = re.sub(r"(building|simulating with) \S+", r"\1 X", line)
    line = re.sub(r"LUT mapper\s+abc9?\b", "LUT mapper M", line)   # abc9, or classic abc where abc9 fails
    line = re.sub(r"\d[\d,]*(\.\d+)?", "N", line)
    line = re.sub(r"wrote \S+ and \S+", "wrote F and F", line)
    return re.sub(r"\s+", " ", line).strip()


def test_readme_shows_what_make_demo_prints(tmp_path, monkeypatch, capsys):
    """Every line of the README's `make demo` block has the shape of a line this code prints
    (run_bench's own progress lines aside, which the stand-ins do not print), in the same order."""
    text = README.read_text()
    block = text.split("## What `make demo` prints", 1)[1].split("```", 2)[1].strip("\n").splitlines()
    from hwtrain.cli import main
    monkeypatch.setattr("hwtrain.flows.simulate.run_bench", Benches())
    monkeypatch.setattr("hwtrain.flows.synth.synthesize", fake_synthesize)
    assert main(["demo", "--epochs", "5", "--hidden", "8", "--out", str(tmp_path / "d")]) == 0
    printed = [_shape(l) for l in capsys.readouterr().out.splitlines()]
    wanted = [_shape(l) for l in block if not re.match(r"\s+(building|simulating with) ", l)]
    assert [l for l in printed if l in wanted] == wanted
