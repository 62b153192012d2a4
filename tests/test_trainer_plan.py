"""`hwtrain trainer plan` for the folded engine: verdict, estimate, PE/SIMD search, refusals.

No synthesis here: the resource model's coefficients come from
benchmarks/trainer_plan_calibration.py (measured yosys runs).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random

import pytest

from hwtrain.cli import main
from hwtrain.errors import HwtrainError
from hwtrain.flows import trainer_plan as tp
from hwtrain.golden.trainer_folded import FoldedTrainConfig, cycles_per_sample, plan


def folded(inputs=784, hidden=(135, 135), pe=(5, 5), simd=(112, 27), **kw):
    base = dict(algorithm="cpr", inputs=inputs, hidden=hidden, classes=10, hidden_bits=8, batch=1,
                reinforce_every=100, pe=pe, simd=simd, seed=1)
    base.update(kw)
    return FoldedTrainConfig(**base)


def cfg_json(**kw) -> str:
    return json.dumps(folded(**kw).to_dict())


def random_configs(n: int, seed: int = 1):
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        L = rng.choice([1, 2, 3])
        hidden = tuple(rng.randint(2, 60) for _ in range(L))
        inputs = rng.randint(2, 300)
        fan = (inputs,) + hidden[:-1]
        alg = rng.choice(["cpr", "bep"])
        c = FoldedTrainConfig(algorithm=alg, inputs=inputs, hidden=hidden, classes=rng.randint(2, 12),
                              batch=rng.choice([1, 1, 10, 100]),
                              pe=tuple(rng.randint(1, k) for k in hidden),
                              simd=tuple(rng.randint(1, f) for f in fan), gamma=(1,) * L,
                              zero_target="plus", reinforce_every=rng.randint(1, 100))
        try:
            plan(c)
        except HwtrainError:
            continue
        out.append(c)
    return out


# --- the model's pieces equal the golden model's ------------------------------------------
def test_geometry_and_cycle_split_equal_the_golden_plan_and_cycles():
    """The search's per-layer sizes and cycle shares add up to plan() and cycles_per_sample exactly
    (when the golden formulas change, this fails until trainer_plan follows)."""
    for c in random_configs(120):
        p = plan(c)
        for a, b in zip(p["layers"], tp.geometry(c)):
            assert {k: a[k] for k in b} == b
        typ = tp.typical_rows(c)
        split = tp.cycle_constant(c) + sum(tp.layer_cycles(d, l, c.layers, typ[l], c.algorithm, c.reinforce_every,
                                                           c.batch, c.gamma[l]) for l, d in enumerate(tp.geometry(c)))
        assert split == pytest.approx(tp.cycles(c)["typical_total"], abs=1e-9)
        assert tp.cycles(c)["no_update"] == cycles_per_sample(c)


def test_estimate_reproduces_the_calibration_within_its_stated_error():
    """Every calibration point (benchmarks/results/trainer_plan_calibration.json) is within the
    in-sample error MODEL states; DP16KD exactly."""
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        from trainer_plan_calibration import REFERENCE, make_config
    finally:
        sys.path.pop(0)
    data = json.loads((root / "benchmarks/results/trainer_plan_calibration.json").read_text())
    err = tp.MODEL["error"]["in_sample_max"]
    for rec in [r for r in data["records"] if r["fitted"]] + [REFERENCE]:
        est = tp.resources(make_config(rec["config"]))
        assert est["ebr"] == rec["ebr"], rec["name"]
        for k in ("lut4", "carry", "ff"):
            assert abs(est[k] / rec[k] - 1) <= err[k] + 1e-3, (rec["name"], k, est[k], rec[k])


# --- verdicts ---------------------------------------------------------------------------------
def test_784_fits_the_85f_not_the_45f():
    v = tp.verdict(folded(), tp.device("LFE5U-85F"))
    assert v["fits"] and v["resources"]["ebr"] == 155 and v["hidden_weight_ebr"] == 155
    assert v["cycles"]["no_update"] == 369 and v["cycles"]["all_groups_update"] == 389   # docs/trainer_folded.md
    small = tp.verdict(folded(), tp.device("LFE5U-45F"))
    assert not small["fits"] and any(o.startswith("DP16KD 155 > 108") for o in small["over"])


def test_device_names():
    assert tp.device("lfe5u-45f").name == "LFE5U-45F"
    assert tp.device("LFE5UM5G-85F").name == "LFE5U-85F"
    assert tp.device("25k").name == "LFE5U-25F"
    with pytest.raises(HwtrainError, match="unknown device 'XC7A35T'; expected one of LFE5U-25F"):
        tp.device("XC7A35T")


def run_cli(argv, capsys):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(status, err, message):
    assert status == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err and message in err, err


def test_cli_plan_prints_the_verdict(capsys):
    status, out, err = run_cli(["trainer", "plan", "--config", cfg_json(), "--clock-mhz", "100"], capsys)
    assert status == 0, err
    assert "on the LFE5U-85F: FITS" in out and "DP16KD" in out and "155" in out
    assert "estimate" in out and "leave-one-out" in out and "samples/s at 100 MHz" in out


# --- refusals: one line with the numbers ------------------------------------------------------
@pytest.mark.parametrize("kw, device, message", [
    # 1000-135-135 at PE 8: 8 x ceil(1000/36)... over the 85F's 208 blocks
    (dict(inputs=1000, pe=(8, 5), simd=(125, 27)), "LFE5U-85F", "does not fit the LFE5U-85F: DP16KD 2"),
    (dict(), "LFE5U-45F", "does not fit the LFE5U-45F: DP16KD 155 > 108"),
    (dict(), "LFE5U-25F", "DP16KD 155 > 56"),
])
def test_plan_refuses_what_does_not_fit(kw, device, message, capsys):
    status, out, err = run_cli(["trainer", "plan", "--config", cfg_json(**kw), "--device", device], capsys)
    one_line_error(status, err, message)
    assert "DOES NOT FIT" in out                       # the table still shows where it goes over


def test_plan_refuses_logic_over_the_device(capsys):
    """Block RAM fits the 25F (55 of 56 blocks) but the estimated logic does not (54 forward lanes
    over 512 words each: 2,048 inputs in words of 4)."""
    c = folded(inputs=2048, hidden=(54, 4), pe=(54, 1), simd=(4, 4))
    v = tp.verdict(c, tp.device("LFE5U-25F"))
    assert v["resources"]["ebr"] <= 56 and v["over"] == [f"COMB {v['resources']['comb']:,} > 24,288"]
    status, out, err = run_cli(["trainer", "plan", "--config", json.dumps(c.to_dict()), "--device", "25F"], capsys)
    one_line_error(status, err, "does not fit the LFE5U-25F: COMB")


@pytest.mark.parametrize("values, message", [
    (dict(pe=[136, 5]), "pe of layer 1 is 136, more than its 135 neurons"),
    (dict(simd=[785, 27]), "simd of layer 1 is 785, more than its fan-in 784"),
    (dict(simd=[0, 27]), "simd of layer 1 must be a positive integer, got 0"),
    (dict(pe=[5]), "pe has 1 entries but there are 2 layers"),
    (dict(reinforce_every=70000), "reinforce_every 70000 does not fit the 16-bit register"),
    (dict(batch=200), "a batch holds at most 127 samples; got batch 200"),
])
def test_plan_refuses_what_cannot_be_folded(values, message, capsys):
    d = folded().to_dict()
    d.update(values)
    status, out, err = run_cli(["trainer", "plan", "--config", json.dumps(d)], capsys)
    one_line_error(status, err, message)


def test_plan_options_refused(capsys):
    status, _, err = run_cli(["trainer", "plan", "--config", cfg_json(), "--device", "XC7A35T"], capsys)
    one_line_error(status, err, "unknown device 'XC7A35T'")
    first = json.dumps({"algorithm": "cpr", "inputs": 64, "hidden": [16], "classes": 10, "batch": 1})
    status, _, err = run_cli(["trainer", "plan", "--config", first, "--device", "LFE5U-45F"], capsys)
    one_line_error(status, err, "--device plans the folded engine")
    status, _, err = run_cli(["trainer", "plan", "--config", cfg_json(), "--clock-mhz", "0"], capsys)
    one_line_error(status, err, "--clock-mhz")


def test_first_engine_plan_still_works(capsys):
    first = json.dumps({"algorithm": "cpr", "inputs": 64, "hidden": [16], "classes": 10, "batch": 1})
    status, out, err = run_cli(["trainer", "plan", "--config", first], capsys)
    assert status == 0, err
    d = json.loads(out)
    assert d["engine"].startswith("first") and sum(d["ebr_blocks"]) > 0


def test_generate_refuses_before_writing(tmp_path, capsys):
    """hwtrain generate has no device: plan()'s DP16KD check against the LFE5U-85F refuses, and
    the output folder is not even created."""
    cfg = tmp_path / "c.json"
    cfg.write_text(cfg_json(inputs=1000, pe=(8, 5), simd=(125, 27)))
    out = tmp_path / "rtl"
    status, _, err = run_cli(["generate", "trainer_cpr_folded", "--config", str(cfg), "--out", str(out)], capsys)
    one_line_error(status, err, "DP16KD blocks")
    assert not out.exists()


# --- search -----------------------------------------------------------------------------------
def exhaustive_best(c: FoldedTrainConfig, dev) -> float:
    sizes = (c.inputs,) + tuple(c.hidden)
    best = None
    for fold in itertools.product(*[[(p, s) for p in range(1, sizes[l + 1] + 1) for s in range(1, sizes[l] + 1)]
                                    for l in range(c.layers)]):
        cand = dataclasses.replace(c, pe=tuple(p for p, _ in fold), simd=tuple(s for _, s in fold))
        v = tp.verdict(cand, dev)
        if v["fits"]:
            cyc = v["cycles"]["typical_total"]
            best = cyc if best is None else min(best, cyc)
    return best


@pytest.mark.parametrize("alg", ["cpr", "bep"])
def test_search_finds_the_exhaustive_optimum(alg):
    """On a shape small enough to try every PE/SIMD (12-6-4: 72 x 24 foldings), on a device whose
    logic total rules out the fastest foldings, the search's first answer has the fewest typical
    cycles of all foldings that fit."""
    c = folded(inputs=12, hidden=(6, 4), pe=(1, 1), simd=(1, 1), algorithm=alg, zero_target="plus", gamma=(1, 1))
    free = tp.search(c, tp.device("LFE5U-85F"), top=1)[0]["verdict"]
    dev = tp.Device("test", comb=int(0.8 * free["resources"]["comb"]), ff=10 ** 6, dp16kd=10 ** 3)
    found = tp.search(c, dev, top=3)
    best = exhaustive_best(c, dev)
    assert found[0]["verdict"]["cycles"]["typical_total"] == pytest.approx(best)
    assert best > free["cycles"]["typical_total"]                       # the device total did bind
    cyc = [f["verdict"]["cycles"]["typical_total"] for f in found]
    assert cyc == sorted(cyc) and all(f["verdict"]["fits"] for f in found)


def test_search_784_on_the_85f_beats_or_equals_the_hand_folding():
    hand = tp.verdict(folded(), tp.device("LFE5U-85F"))
    found = tp.search(folded(pe=(1, 1), simd=(1, 1)), tp.device("LFE5U-85F"), top=5)
    best = found[0]["verdict"]
    assert best["fits"] and best["cycles"]["typical_total"] <= hand["cycles"]["typical_total"]
    roomy = tp.search(folded(pe=(1, 1), simd=(1, 1)), tp.device("LFE5U-85F"), top=1, headroom=0.1)[0]["verdict"]
    assert roomy["resources"]["comb"] <= 0.9 * 83640 and roomy["resources"]["ff"] <= 0.9 * 83640
    assert roomy["cycles"]["typical_total"] >= best["cycles"]["typical_total"]
    small = tp.search(folded(pe=(1, 1), simd=(1, 1)), tp.device("LFE5U-45F"), top=1)[0]["verdict"]
    assert small["fits"] and small["resources"]["ebr"] <= 108
    assert small["cycles"]["typical_total"] > best["cycles"]["typical_total"]      # a smaller device is slower


def test_cli_search_prints_a_table_and_a_config_for_generate(capsys, tmp_path):
    status, out, err = run_cli(["trainer", "plan", "--config", cfg_json(), "--search", "--top", "3",
                                "--json", str(tmp_path / "p.json")], capsys)
    assert status == 0, err
    chosen = out.split("--config FILE):\n")[1].splitlines()[0]
    c = FoldedTrainConfig.from_dict(json.loads(chosen))
    assert tp.verdict(c, tp.device("LFE5U-85F"))["fits"]
    assert len(json.loads((tmp_path / "p.json").read_text())["search"]) == 3


def test_search_refuses_when_nothing_fits(capsys):
    big = json.dumps(folded(inputs=20000, hidden=(400, 400), pe=(1, 1), simd=(1, 1)).to_dict())
    status, _, err = run_cli(["trainer", "plan", "--config", big, "--search", "--device", "LFE5U-25F"], capsys)
    one_line_error(status, err, "no PE/SIMD folding of cpr 20000-400-400 (B = 8) fits the LFE5U-25F")


def test_the_chosen_configuration_generates(tmp_path, capsys):
    """--search's JSON goes straight into hwtrain generate trainer_cpr_folded --config."""
    small = json.dumps(folded(inputs=16, hidden=(8, 6), pe=(1, 1), simd=(1, 1), classes=4).to_dict())
    status, out, err = run_cli(["trainer", "plan", "--config", small, "--search", "--device", "LFE5U-25F"], capsys)
    assert status == 0, err
    (tmp_path / "c.json").write_text(out.split("--config FILE):\n")[1].splitlines()[0])
    status, out, err = run_cli(["generate", "trainer_cpr_folded", "--config", str(tmp_path / "c.json"),
                                "--out", str(tmp_path / "rtl")], capsys)
    assert status == 0, err
    assert list((tmp_path / "rtl").glob("trainer_folded_cpr_16_8_6_*.v"))


def test_overlap_period_is_the_slower_stage():
    """With overlap the plan's typical clocks are a stream's period: the golden response_clocks of a
    stream of typical steps (a reinforcement sweep owed every reinforce_every of them) average to it."""
    from hwtrain.golden.trainer_folded import response_clocks
    cfg = FoldedTrainConfig(algorithm="cpr", inputs=784, hidden=(135, 135), classes=10, batch=1,
                            pe=(4, 2), simd=(112, 68), overlap=True, reinforce_every=100)
    c = tp.cycles(cfg)
    typ, n = c["typical_rows"], 300
    clocks = response_clocks(cfg, [(typ, i > 0 and i % 100 == 0) for i in range(n + 1)])
    # (the first period starts from an empty pipeline, so two of three are compared)
    assert (clocks[-1] - clocks[100]) / 200 == pytest.approx(c["typical_total"], abs=1e-9)
    a, b = c["stages_typical"]
    assert max(a, b) + 1 < c["typical_total"] < max(a, b) + 1 + 15      # the sweeps amortised
    plain = tp.cycles(dataclasses.replace(cfg, overlap=False))
    assert c["typical_total"] < 0.7 * plain["typical_total"]
