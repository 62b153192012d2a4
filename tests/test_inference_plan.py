"""hwtrain fold: the folding plan of an inference core (hwtrain/flows/inference_plan.py)."""

import json

import pytest

from hwtrain.cli import main
from hwtrain.errors import HwtrainError
from hwtrain.flows import inference_plan as ip
from hwtrain.inference.config import InferenceConfig

DEV = ip.device("LFE5U-85F")


@pytest.mark.parametrize("rate", [5e6, 1e6, 2e5])
def test_a_rate_sets_every_layers_clock_budget(rate):
    p = ip.plan((784, 128, 128, 128), 10, DEV, rate=rate, clock_mhz=100)
    budget = int(100e6 // rate)
    assert all(p.config.layer_cycles(l) <= budget for l in range(3))
    assert p.samples_per_s >= rate and p.fits()
    # the cheapest per layer: a slower rate never costs more logic
    if rate < 5e6:
        assert p.estimate["lut4"] <= ip.plan((784, 128, 128, 128), 10, DEV, rate=5e6).estimate["lut4"]


def test_fastest_fits_and_a_smaller_device_gets_a_slower_core():
    big = ip.plan((784, 128, 64), 10, DEV, headroom=0.1)
    small = ip.plan((784, 128, 64), 10, ip.device("25F"), headroom=0.1)
    assert big.fits(0.1) and small.fits(0.1)
    assert small.config.cycles_per_sample > big.config.cycles_per_sample


def test_the_chosen_core_is_buildable_and_the_sweep_command_names_it(tmp_path, capsys):
    out = tmp_path / "plan.json"
    assert main(["fold", "--sizes", "64,32,16", "--classes", "4", "--rate", "2e7", "--json", str(out)]) == 0
    plan = json.loads(out.read_text())
    cfg = InferenceConfig((64, 32, 16), 4, impl=tuple(plan["impl"]), store=plan["store"])
    assert cfg.cycles_per_sample == plan["cycles_per_sample"] <= 5
    assert ",".join(plan["impl"]) in plan["sweep_command"] and "FITS" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--sizes", "64,32", "--classes", "4", "--rate", "2e8"], "more than one sample per clock"),
    (["--sizes", "64,x", "--classes", "4", "--fastest"], "cannot read --sizes"),
    (["--sizes", "64", "--classes", "4", "--fastest"], "at least one hidden width"),
    (["--classes", "4", "--fastest"], "give --model, or --sizes"),
    (["--sizes", "64,32", "--classes", "4", "--fastest", "--device", "LFE5U-12F"], "unknown device"),
    (["--sizes", "100000,4096", "--classes", "4", "--fastest", "--device", "25F"], "no folding of 100000-4096 fits"),
    (["--sizes", "784,128", "--classes", "10", "--rate", "1e5", "--device", "25F", "--store", "registers"],
     "no folding of 784-128 reaches 1000 clocks per sample"),
])
def test_bad_requests_are_explained(argv, message, capsys):
    assert main(["fold", *argv]) == 2
    assert message in capsys.readouterr().err


def test_fit_recovers_a_linear_model_and_reports_its_error():
    truth = {"lut4": {"rom_luts": 1.0, "lanes": 2.0, "const_bits": 1.0, "acc_bits": 2.0, "io_bits": 1.0,
                      "layer": 50.0},
             "ff": {"const_bits": 0.1, "acc_bits": 1.0, "io_bits": 1.5, "reg_bits": 1.0, "pipe_bits": 0.5,
                    "copy_bits": 3.0, "layer": 100.0}}
    cfgs = [InferenceConfig(s, 10, impl=i, store=st) for s, i, st in [
        ((64, 32, 16), ("folded:8x16", "folded:4x8"), "rom"),
        ((128, 32, 16), ("folded:4x8", "folded:2x8"), "rom"),
        ((256, 64, 32), ("folded:32x64:p3:c8", "folded:8x16"), "rom"),
        ((64, 32, 16), ("folded:8x8", "folded:4x8"), "registers"),
        ((64, 32, 16), ("parallel:2", "parallel:2"), "rom"),
        ((196, 64, 32), ("folded:16x49:p2", "parallel:2"), "rom"),
        ((256, 64, 32), ("folded:16x32", "folded:8x16"), "bram"),
        ((64, 32, 16), ("serial:4", "serial:2"), "registers"),
    ]]
    points = [(c, {**ip.estimate(c, truth), "name": str(i)}) for i, c in enumerate(cfgs)]
    model, report = ip.fit(points)
    assert report["in_sample_max"]["lut4"] < 0.02 and report["points"] == len(cfgs)
    assert all(abs(ip.estimate(c, model)["lut4"] / r["lut4"] - 1) < 0.02 for c, r in points)


def test_the_shipped_model_states_its_measured_error():
    err = ip.MODEL["error"]
    assert err["points"] >= 10 and 0 < err["leave_one_out_max"]["lut4"] < 1
