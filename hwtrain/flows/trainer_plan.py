"""Plan of the folded on-chip trainer for a device: fits or not, resources, cycles, PE/SIMD search.

``verdict(cfg, device)`` sets the folded engine's (``hwtrain.hdl.trainer_folded``)
resources against an ECP5 device's totals:

* DP16KD: the hidden-weight memories counted exactly as ``golden.trainer_folded.plan``
  does (``PE * ebr_blocks(SIMD*B, NG*W)`` per layer); the small memories (winner lists,
  classifier ROMs, bep z memories) are in LUT RAM or LUTs by the engine's attributes;
* LUT4, CCU2C and FF: an **estimate**, a linear model of per-layer structural
  counts (``features``) whose coefficients are fitted to yosys measurements
  (``benchmarks/trainer_plan_calibration.py``, which rewrites ``MODEL`` below;
  its measured error is ``MODEL["error"]``). The device's logic total is nextpnr's
  TRELLIS_COMB count; the engine's COMB is estimated as
  ``pack * (LUT4 + 2 * CCU2C)`` (``pack`` measured on the 784-135-135 engine).

Cycles per sample come from the golden cycle model (``cycles_per_sample``,
``cycle_bound``), which the tests check clock for clock against the engine.

``search(cfg, device)`` finds the PE/SIMD per layer with the fewest typical cycles
per sample that fits the device (ties: fewer resources). Cycles and resources
are sums of per-layer terms plus constants, so each layer's (PE, SIMD) options
are reduced to their Pareto front (cycles, DP16KD, COMB, FF) and the fronts are
combined layer by layer, pruning dominated partial sums.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import HwtrainError
from ..golden.trainer_folded import (DECIDE, RF_START, TAIL, FoldedTrainConfig, apply_cycles, apply_layer_cycles,
                                     backproject_cycles, cycle_bound, cycles_per_sample, decision_latency, forward_cycles, layer_geometry,
                                     mask_sweep_cycles, plan, reinforce_cycles, reinforce_layer_cycles,
                                     stage_bounds, stage_cycles, stream_period, update_cycles)


@dataclass(frozen=True)
class Device:
    name: str
    comb: int          # LUT4 sites (nextpnr TRELLIS_COMB; a CCU2C takes two)
    ff: int
    dp16kd: int


# Totals as nextpnr-ecp5 reports them (Device utilisation); the LFE5UM/LFE5UM5G parts share the die.
DEVICES = {d.name: d for d in (
    Device("LFE5U-25F", 24288, 24288, 56),
    Device("LFE5U-45F", 43848, 43848, 108),
    Device("LFE5U-85F", 83640, 83640, 208),
)}
DEFAULT_DEVICE = "LFE5U-85F"


def device(name: str) -> Device:
    key = name.strip().upper()
    m = re.fullmatch(r"(?:LFE5UM5G|LFE5UM|LFE5U)-(\d+)F?|(\d+)[KF]?", key)
    if m:
        key = f"LFE5U-{m.group(1) or m.group(2)}F"
    if key not in DEVICES:
        raise HwtrainError(f"unknown device {name!r}; expected one of {', '.join(DEVICES)}")
    return DEVICES[key]


# --- the resource model --------------------------------------------------------------
# BEGIN MODEL (rewritten by benchmarks/trainer_plan_calibration.py; do not edit by hand)
MODEL = {'lut4': {'weight_bits': 3.4857,
          'lanes': 41.8819,
          'ring_words': 1.6109,
          'pe': 42.1741,
          'layer': 1000.9495,
          'bp_ring_bits': 1.5201},
 'carry': {'weight_bits': 0.5186,
           'lanes': 16.0921,
           'ring_words': 0.1787,
           'layer': 189.6334,
           'bp_ring_bits': 0.0},
 'ff': {'weight_bits': 2.6286, 'lanes': 4.1761, 'layer': 789.852, 'bp_ring_bits': 0.5102},
 'pack': 1.1028,
 'error': {'in_sample_max': {'lut4': 0.0565, 'carry': 0.0355, 'ff': 0.0807, 'ebr': 0.0},
           'leave_one_out_max': {'lut4': 0.2643, 'carry': 0.0445, 'ff': 0.1375, 'ebr': 0.0},
           'points': 7}}
# END MODEL

FEATURES = ("weight_bits", "lanes", "ring_words", "pe", "layer", "bp_ring_bits")
FEATURE_DOC = {
    "weight_bits": "PE*SIMD*B: weight bits read, stepped and written per clock (row registers, step units, XNOR/popcount)",
    "lanes": "SIMD: reinforcement lanes (one xorshift32 step and a 33-bit compare each)",
    "ring_words": "W*SIMD: lane-ring and input-word columns (the ring's PRNG state: 32 FF per head lane and the LUT-RAM queue, both counted exactly)",
    "pe": "PE: forward lanes (accumulator, z, drain register, row-word multiplexers)",
    "layer": "1 per layer: issue counters, drain, winner tracker, logits, decision, its share of the host interface",
    "bp_ring_bits": "bep, layers above the first: W*SIMD*(bitlen(K)+1) back-projection ring bits",
}
RING_FF = 32            # xorshift32 state per lane of the ring's head word (SIMD per layer): exact, not fitted
RING_RAM_COMB = 6       # TRELLIS_COMB per TRELLIS_DPR16X4 of the ring's LUT-RAM queue (784-135-135, nextpnr)


def ring_ram(d: dict) -> int:
    """TRELLIS_DPR16X4 (16 x 4 bits) of a layer's lane-ring queue: the W - 1 words behind the head."""
    w = d["words"]
    return 0 if w == 1 else 8 * d["simd"] * -(-(w - 1) // 16)

# The engine's small memories (winner lists, bep z memories: LUT RAM; classifier and target ROMs:
# LUTs) are placed by attributes in hdl/trainer_folded.py, so the only block RAM is the hidden
# weights, and the small memories' LUTs are carried by the fitted model.


def geometry(cfg: FoldedTrainConfig) -> list[dict]:
    """Per-layer folding as ``plan()`` computes it, without its device check (the search needs
    the sizes of configurations over the 85F too). tests/test_trainer_plan.py checks it equals plan()."""
    sizes = (cfg.inputs,) + tuple(cfg.hidden)
    return [layer_geometry(sizes[l], sizes[l + 1], cfg.pe[l], cfg.simd[l], cfg.hidden_bits, cfg.batch > 1)
            for l in range(cfg.layers)]


def layer_features(d: dict, l: int, B: int, algorithm: str) -> dict:
    pe, simd, w, k = d["pe"], d["simd"], d["words"], d["neurons"]
    return {"weight_bits": pe * simd * B, "lanes": simd, "ring_words": w * simd, "pe": pe,
            "layer": 1,
            "bp_ring_bits": w * simd * (k.bit_length() + 1) if algorithm == "bep" and l > 0 else 0}


def features(cfg: FoldedTrainConfig) -> dict:
    tot = dict.fromkeys(FEATURES, 0)
    for l, d in enumerate(geometry(cfg)):
        for key, v in layer_features(d, l, cfg.hidden_bits, cfg.algorithm).items():
            tot[key] += v
    return tot


def _model() -> dict:
    if MODEL is None:
        raise HwtrainError("the trainer plan's resource model is not fitted yet: run "
                           "benchmarks/trainer_plan_calibration.py")
    return MODEL


def _dot(coef: dict, feats: dict) -> float:
    return sum(coef.get(k, 0.0) * v for k, v in feats.items())


def _layer_counts(model: dict, d: dict, l: int, L: int, B: int, classes: int, algorithm: str) -> dict:
    f = layer_features(d, l, B, algorithm)
    lut, cc = _dot(model["lut4"], f), _dot(model["carry"], f)
    ff = _dot(model["ff"], f) + RING_FF * f["lanes"]
    return {"lut4": lut, "carry": cc, "ff": ff, "comb": model["pack"] * (lut + 2 * cc) + RING_RAM_COMB * ring_ram(d),
            "ebr": d["ebr"]}


def layer_resources(d: dict, l: int, cfg: FoldedTrainConfig) -> dict:
    """One layer's share of the estimate (the model has no engine-wide constant: its
    'layer' term carries the control)."""
    return _layer_counts(_model(), d, l, cfg.layers, cfg.hidden_bits, cfg.classes, cfg.algorithm)


def _counts(model: dict, cfg: FoldedTrainConfig) -> dict:
    tot = dict.fromkeys(("lut4", "carry", "ff", "comb", "ebr"), 0.0)
    for l, d in enumerate(geometry(cfg)):
        for k, v in _layer_counts(model, d, l, cfg.layers, cfg.hidden_bits, cfg.classes, cfg.algorithm).items():
            tot[k] += v
    return tot


def resources(cfg: FoldedTrainConfig) -> dict:
    """Estimated LUT4, CCU2C, FF and COMB, and DP16KD (the hidden weights, exact) of the engine."""
    return {k: int(round(v)) for k, v in _counts(_model(), cfg).items()}


# --- fitting (benchmarks/trainer_plan_calibration.py) --------------------------------
FIT = {   # features each count is fitted on; FF also gets 32 per head lane, exactly
    "lut4": ("weight_bits", "lanes", "ring_words", "pe", "layer", "bp_ring_bits"),
    "carry": ("weight_bits", "lanes", "ring_words", "layer", "bp_ring_bits"),
    "ff": ("weight_bits", "lanes", "layer", "bp_ring_bits"),
}


def _nnls_rel(rows: list[dict], ys: list[float], keys: tuple, offsets: list[float]) -> dict:
    """Non-negative least squares of (y - offset) on ``keys``, each row weighted by 1/y
    (i.e. on relative error)."""
    import numpy as np
    from scipy.optimize import nnls
    A = np.array([[r[k] for k in keys] for r in rows], dtype=float)
    y = np.array(ys, dtype=float) - np.array(offsets, dtype=float)
    wgt = 1.0 / np.array(ys, dtype=float)
    x, _ = nnls(A * wgt[:, None], y * wgt)
    return {k: float(v) for k, v in zip(keys, x)}


def fit(points: list) -> tuple[dict, dict]:
    """Fit MODEL to ``points`` = [(cfg, measured dict with lut4, carry, ff, ebr[, comb_nextpnr], name)];
    returns (model, error report: each point's relative error, in-sample and leave-one-out)."""
    feats = [features(c) for c, _ in points]
    zero = {"lut4": {}, "carry": {}, "ff": {}, "pack": 1.0}
    exact_ff = [_counts(zero, c)["ff"] for c, _ in points]       # ring state

    def fit_on(idx):
        model = {}
        for key, keys in FIT.items():
            off = [exact_ff[i] if key == "ff" else 0 for i in idx]
            model[key] = _nnls_rel([feats[i] for i in idx], [points[i][1][key] for i in idx], keys, off)
        packs = [(points[i][1]["comb_nextpnr"] - RING_RAM_COMB * sum(ring_ram(d) for d in geometry(points[i][0])))
                 / (points[i][1]["lut4"] + 2 * points[i][1]["carry"])
                 for i in idx if points[i][1].get("comb_nextpnr")]
        model["pack"] = round(max(packs), 4) if packs else 1.0
        return model

    def rel(model, i):
        pred, meas = _counts(model, points[i][0]), points[i][1]
        return {k: round(pred[k] / meas[k] - 1, 4) for k in ("lut4", "carry", "ff", "ebr")}

    allidx = list(range(len(points)))
    model = fit_on(allidx)
    in_sample, loo = {}, {}
    for i, (_, meas) in enumerate(points):
        name = meas.get("name", str(i))
        in_sample[name] = rel(model, i)
        loo[name] = rel(fit_on([j for j in allidx if j != i]), i)

    def worst(table):
        return {k: max(abs(v[k]) for v in table.values()) for k in ("lut4", "carry", "ff", "ebr")}

    model = {k: ({kk: round(vv, 4) for kk, vv in v.items()} if isinstance(v, dict) else v) for k, v in model.items()}
    model["error"] = {"in_sample_max": worst(in_sample), "leave_one_out_max": worst(loo), "points": len(points)}
    return model, {"in_sample": in_sample, "leave_one_out": loo, **model["error"]}


def write_model(model: dict, path: Path | None = None, script: str = "trainer_plan_calibration.py") -> None:
    """Rewrite the MODEL block of ``path`` (default this file), the one ``benchmarks/<script>`` owns."""
    import pprint
    path = Path(path or __file__)
    text = path.read_text()
    begin = f"# BEGIN MODEL (rewritten by benchmarks/{script}; do not edit by hand)\n"
    end = "# END MODEL\n"
    a, b = text.index(begin) + len(begin), text.index(end)
    body = "MODEL = " + pprint.pformat(model, width=100, sort_dicts=False) + "\n"
    path.write_text(text[:a] + body + text[b:])


# --- cycles ------------------------------------------------------------------------------
def typical_rows(cfg: FoldedTrainConfig) -> list[int]:
    """Rows updated per layer in the 'typical' step: half of the layer's groups of gamma update
    (at least one). An assumption, not a measurement: the real count depends on the data."""
    return [max(1, (k // g) // 2) for k, g in zip(cfg.hidden, cfg.gamma)]


def all_rows(cfg: FoldedTrainConfig) -> list[int]:
    return [max(1, k // g) for k, g in zip(cfg.hidden, cfg.gamma)]


def cycles(cfg: FoldedTrainConfig) -> dict:
    """Golden cycle model at three loads, the reinforcement sweep (every reinforce_every steps) and
    ``typical_total`` = typical + the sweep amortised per sample, which the search minimises."""
    typ, full = typical_rows(cfg), all_rows(cfg)
    bep = cfg.algorithm == "bep"
    reinf = reinforce_cycles(cfg)
    reinf_bound = cycle_bound(cfg, None, False, True) - cycle_bound(cfg, None, False)
    bs = cfg.batch
    apply = apply_cycles(cfg) if bs > 1 else 0
    apply_bound = cycle_bound(cfg, None, False, closes=True) - cycle_bound(cfg, None, False)
    c = {
        "no_update": cycles_per_sample(cfg, None, False),
        "typical": cycles_per_sample(cfg, typ, bep),
        "all_groups_update": cycles_per_sample(cfg, full, bep),
        "bound_no_update": cycle_bound(cfg, None, False),
        "bound_typical": cycle_bound(cfg, typ, bep),
        "bound_all_groups_update": cycle_bound(cfg, full, bep),
        "reinforce_sweep": reinf, "bound_reinforce_sweep": reinf_bound,
        "apply_sweep": apply, "bound_apply_sweep": apply_bound,
        "typical_rows": typ, "all_rows": full,
    }
    # per sample: a reinforcement sweep every reinforce_every steps, a step (and its apply sweep) per batch
    c["typical_total"] = c["typical"] + reinf / (cfg.reinforce_every * bs) + apply / bs
    c["bound_typical_total"] = c["bound_typical"] + reinf_bound / (cfg.reinforce_every * bs) + apply_bound / bs
    if cfg.overlap:
        # a stream's period (golden response_clocks over a period of the reinforcement sweeps): about the
        # slower stage plus its hand-over clock; "typical" stays one sample alone
        e = cfg.reinforce_every
        c["stages_typical"] = list(stage_cycles(cfg, typ))
        c["typical_total"] = stream_period(cfg, typ)
        (a, b), (ra, rb) = stage_bounds(cfg, typ), stage_bounds(cfg, typ, True)
        c["bound_typical_total"] = max(a + (ra - a) / e, b + (rb - b) / e)
    return c


def layer_cycles(d: dict, l: int, L: int, u: int, algorithm: str, reinforce_every: int, batch: int = 1,
                 gamma: int = 1) -> float:
    """Layer l's share of the typical cycles per sample (the golden model's terms, split by layer;
    ``cycle_constant`` holds the rest). tests/test_trainer_plan.py checks the sum against the golden model."""
    n = forward_cycles(d) + reinforce_layer_cycles(d) / (reinforce_every * batch) + update_cycles(u, d)
    if batch > 1:
        n += apply_layer_cycles(d) / batch
    if algorithm == "cpr":
        return n
    if l == L - 1:
        if L > 1:
            n += backproject_cycles(d)
    else:
        n += 1 + mask_sweep_cycles(d, first=l == 0, gamma=gamma)
    return n


def cycle_constant(cfg: FoldedTrainConfig) -> float:
    bs = cfg.batch
    n = decision_latency(cfg.classes) + DECIDE + TAIL + RF_START / (cfg.reinforce_every * bs) + (1 / bs if bs > 1 else 0)
    return n + (1 if cfg.algorithm == "bep" else 0)


# --- verdict -----------------------------------------------------------------------------
def _check_buildable(cfg: FoldedTrainConfig, geo: list[dict]) -> None:
    """plan()'s checks other than its DP16KD total against the 85F (that one is the device check here)."""
    from ..golden.trainer_folded import ECP5_85F_EBR
    try:
        plan(cfg)
    except HwtrainError:
        if sum(d["ebr"] for d in geo) > ECP5_85F_EBR:
            return                   # over the 85F's block RAM: a device verdict, not a folding error
        raise


def verdict(cfg: FoldedTrainConfig, dev: Device, clock_mhz: float = 100.0) -> dict:
    """Everything ``hwtrain trainer plan`` prints. Raises HwtrainError (one line) when the
    configuration cannot be folded at all; a configuration over the device is a verdict."""
    geo = geometry(cfg)
    _check_buildable(cfg, geo)
    est = resources(cfg)
    m = _model()
    use = {"DP16KD": (est["ebr"], dev.dp16kd), "COMB": (est["comb"], dev.comb), "FF": (est["ff"], dev.ff)}
    over = [f"{k} {u:,} > {t:,}" for k, (u, t) in use.items() if u > t]
    err = m["error"]["leave_one_out_max"]
    margin = {"DP16KD": 0.0, "COMB": max(err["lut4"], err["carry"]), "FF": err["ff"]}
    tight = [f"{k} {u / t:.0%} of the device, within the estimate's {margin[k]:.0%} error"
             for k, (u, t) in use.items() if u <= t and u > t * (1 - margin[k])]
    out = {"device": dev.name, "fits": not over, "over": over, "tight": tight, "resources": est,
           "device_totals": {"DP16KD": dev.dp16kd, "COMB": dev.comb, "FF": dev.ff},
           "hidden_weight_ebr": sum(d["ebr"] for d in geo), "layers": geo,
           "model_error": m["error"], "pack": m["pack"], "clock_mhz": clock_mhz,
           "config": {"pe": list(cfg.pe), "simd": list(cfg.simd)}}
    if sum(d["ebr"] for d in geo) <= DEVICES[DEFAULT_DEVICE].dp16kd:
        cyc = cycles(cfg)
        cyc["samples_per_s_typical"] = clock_mhz * 1e6 / cyc["typical_total"]
        out["cycles"] = cyc
    return out


def refusal(cfg: FoldedTrainConfig, v: dict) -> str:
    """The one-line reason a configuration does not fit, with its numbers."""
    mems = ", ".join(f"{d['pe']} x {d['word_bits']}b x {d['depth']}" for d in v["layers"])
    return (f"{cfg.algorithm} {'-'.join(map(str, (cfg.inputs,) + tuple(cfg.hidden)))} with pe {list(cfg.pe)}, "
            f"simd {list(cfg.simd)} does not fit the {v['device']}: " + "; ".join(v["over"])
            + f" (hidden-weight memories {mems}; LUT/FF figures are estimates)")


# --- search ------------------------------------------------------------------------------
def _simd_options(f: int) -> list[int]:
    """The smallest SIMD for each word count W = ceil(f / SIMD): a larger SIMD with the same W
    costs more and saves no clock."""
    return sorted({-(-f // w) for w in range(1, f + 1)})


def _front(items: list[tuple]) -> list[tuple]:
    """Pareto front of (cycles, ebr, comb, ff, ...payload) tuples: drop any item another one
    matches or beats in all four."""
    import numpy as np
    items = sorted(items, key=lambda t: t[:4])
    kept: list[tuple] = []
    arr = np.empty((len(items), 3))
    for it in items:              # kept items have cycles <= it's (sorted)
        n = len(kept)
        if n and np.any((arr[:n, 0] <= it[1]) & (arr[:n, 1] <= it[2]) & (arr[:n, 2] <= it[3])):
            continue
        arr[n] = it[1:4]
        kept.append(it)
    return kept


def search(cfg: FoldedTrainConfig, dev: Device, top: int = 5, headroom: float = 0.0) -> list[dict]:
    """The fastest foldings (typical cycles per sample) that fit ``dev``, best first; ties go to
    fewer resources. ``headroom``: the estimated COMB and FF may use at most (1 - headroom) of the
    device (DP16KD are counted exactly and may use all of it)."""
    sizes = (cfg.inputs,) + tuple(cfg.hidden)
    L, B = cfg.layers, cfg.hidden_bits
    typ = typical_rows(cfg)
    lim_e, lim_c, lim_f = dev.dp16kd, dev.comb * (1 - headroom), dev.ff * (1 - headroom)
    per_layer = []
    for l in range(L):
        f, k = sizes[l], sizes[l + 1]
        opts = []
        for simd in _simd_options(f):
            for pe in range(1, k + 1):
                d = layer_geometry(f, k, pe, simd, B, cfg.batch > 1)
                if d["ebr"] > lim_e:
                    break                                  # more PE only adds blocks
                r = layer_resources(d, l, cfg)
                if r["comb"] > lim_c or r["ff"] > lim_f:
                    continue
                c = layer_cycles(d, l, L, typ[l], cfg.algorithm, cfg.reinforce_every, cfg.batch, cfg.gamma[l])
                opts.append((c, r["ebr"], r["comb"], r["ff"], ((pe, simd),)))
        per_layer.append(_front(opts))
    acc = [(cycle_constant(cfg), 0, 0.0, 0.0, ())]
    for i, opts in enumerate(per_layer):
        acc = [(a[0] + o[0], a[1] + o[1], a[2] + o[2], a[3] + o[3], a[4] + o[4])
               for a in acc for o in opts
               if a[1] + o[1] <= lim_e and a[2] + o[2] <= lim_c and a[3] + o[3] <= lim_f]
        if i < L - 1:
            acc = _front(acc)        # the last layer's sums need no front: they are only ranked
    acc.sort(key=lambda t: (round(t[0], 6), t[2] / dev.comb + t[3] / dev.ff + t[1] / dev.dp16kd))
    out = []
    for c, e, comb, ff, fold in acc:
        cand = dataclasses.replace(cfg, pe=tuple(p for p, _ in fold), simd=tuple(s for _, s in fold))
        try:
            v = verdict(cand, dev)
        except HwtrainError:
            continue               # a folding plan() refuses for another reason (not seen; skipped)
        if v["fits"]:
            out.append({"config": cand, "verdict": v})
        if len(out) >= top:
            break
    if not out:
        room = f" with {headroom:.0%} headroom" if headroom else ""
        raise HwtrainError(f"no PE/SIMD folding of {cfg.algorithm} {'-'.join(map(str, sizes))} (B = {B}) fits "
                           f"the {dev.name}{room}: even PE = 1 with the narrowest words needs more than its "
                           f"{dev.dp16kd} DP16KD, {dev.comb:,} COMB or {dev.ff:,} FF (estimated)")
    return out
