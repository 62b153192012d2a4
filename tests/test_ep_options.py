"""The thesis options of the golden EP model (issue 21, docs/semantics_ep.md):
each against an independent pure-Python construction, the fast engine against
the reference bit for bit, and the hardware's refusal of what it does not build."""

import dataclasses

import numpy as np
import pytest

from hwtrain.core.prng import Xorshift32, index_of, stream_seed
from hwtrain.errors import HwtrainError
from hwtrain.golden.ep import EpConfig, EpEngine, FastEpEngine

BASE = EpConfig(inputs=7, hidden=5, classes=3, replicas=2, state_bits=5, state_init=16, in_shift=2,
                bias_bits=7, bias_frac=2, nudge=64, free_steps=4, nudged_steps=3, mom_bits=6,
                gamma_shift=2, tau_hidden=0, tau_output=0, seed=6)

OPTIONS = {
    "default": {},
    "state_nudge": {"nudge_mode": "state"},
    "constant_nudge": {"nudge_mode": "constant"},
    "random_beta": {"beta_sign": "random"},
    "random_beta_state": {"beta_sign": "random", "nudge_mode": "state"},
    "mom_frac": {"mom_frac": 2},
    "alpha_per_matrix": {"in_shift_output": -1},
    "bias_state": {"bias_mode": "state", "bias_frac": 3},
    "bias_state_alpha": {"bias_mode": "state", "in_shift_output": 1, "in_shift": 3},
    "batch": {"batch": 4},
    "tau_schedule": {"tau_schedule": ((9, 1, 0), (20, 2, 1))},
    "tau_schedule_batch": {"tau_schedule": ((7, 1, 0), (8, 0, 1)), "batch": 4},   # 7 and 8 both begin at 8
    "thesis_all": {"nudge_mode": "state", "beta_sign": "random", "mom_frac": 1, "in_shift_output": 1,
                   "bias_mode": "state", "batch": 3, "state_init": 31},
}


def data(cfg, n, seed=11):
    d = Xorshift32(seed, cfg.inputs + 1).draws(n)
    return (d[:, :cfg.inputs] >> 31).astype(int), index_of(d[:, cfg.inputs], cfg.classes).astype(int)


def floor_shift(v, sh):
    return v * 2 ** sh if sh >= 0 else v // 2 ** -sh


def scalar_train(cfg, xs, ys):
    """Every rule of docs/semantics_ep.md with Python ints and loops only.
    Returns the predictions and the final state (w1, w2, m1, m2, b_h, b_y)."""
    D, H, O, R, B = cfg.inputs, cfg.hidden, cfg.outputs, cfg.replicas, cfg.state_bits
    w1 = [[bool(v) for v in row] for row in EpEngine(cfg).w1.tolist()]
    w2 = [[bool(v) for v in row] for row in EpEngine(cfg).w2.tolist()]
    m1, m2 = [[0] * D for _ in range(H)], [[0] * H for _ in range(O)]
    b_h, b_y = [0] * H, [0] * O
    pm = lambda bit: 1 if bit else -1  # noqa: E731
    sh2 = cfg.in_shift if cfg.in_shift_output is None else cfg.in_shift_output
    f = cfg.bias_frac
    lane = Xorshift32(stream_seed(cfg.seed, 2), 1).state[0].item()
    bhi = 2 ** (cfg.bias_bits - 1) - 1
    mhi = 2 ** (cfg.mom_bits - 1) - 1

    def bias_state(b):
        return (b + 2 ** (f - 1)) // 2 ** f if f else b

    def u_of(x, a_h, a_y, i=None, o=None):
        if i is not None:
            dot = sum(pm(w1[i][j]) * x[j] for j in range(D))
            up = sum(pm(w2[k][i]) * a_y[k] for k in range(O))
            if cfg.bias_mode == "pre":
                if cfg.in_shift_output is None:
                    return floor_shift(dot + up + b_h[i] // 2 ** f, cfg.in_shift)
                return floor_shift(dot + b_h[i] // 2 ** f, cfg.in_shift) + floor_shift(up, sh2)
            return floor_shift(dot, cfg.in_shift) + floor_shift(up, sh2) + bias_state(b_h[i])
        up = sum(pm(w2[o][k]) * a_h[k] for k in range(H))
        if cfg.bias_mode == "pre":
            return floor_shift(up + b_y[o] // 2 ** f, sh2)
        return floor_shift(up, sh2) + bias_state(b_y[o])

    def run(x, s_h, s_y, steps, label=None, beta=0, s_free=None):
        for _ in range(steps):
            a_h = [s >> (B - 1) for s in s_h]
            a_y = [s >> (B - 1) for s in s_y]
            nh = [min(max(s_h[i] // 2 + u_of(x, a_h, a_y, i=i) // 2, 0), 2 ** B - 1) for i in range(H)]
            ny = []
            for o in range(O):
                u = u_of(x, a_h, a_y, o=o)
                if label is not None:
                    t = int(o // R == label)
                    if cfg.nudge_mode == "activation":
                        u += beta * (t - a_y[o])
                    else:
                        ref = s_free[o] if cfg.nudge_mode == "constant" else s_y[o]
                        u += (beta * (t * 2 ** B - ref)) // 2 ** B
                ny.append(min(max(s_y[o] // 2 + u // 2, 0), 2 ** B - 1))
            s_h, s_y = nh, ny
        return s_h, s_y

    preds, flips = [], [0, 0]
    for start in range(0, len(ys), cfg.batch):
        sgn = 1
        if cfg.beta_sign == "random":
            lane ^= (lane << 13) & 0xFFFFFFFF
            lane ^= lane >> 17
            lane ^= (lane << 5) & 0xFFFFFFFF
            sgn = -1 if lane >> 31 else 1
        g1, g2 = [[0] * D for _ in range(H)], [[0] * H for _ in range(O)]
        db_h, db_y = [0] * H, [0] * O
        for x, y in zip(xs[start:start + cfg.batch], ys[start:start + cfg.batch]):
            x = [int(v) for v in x]
            s_h, s_y = run(x, [cfg.state_init] * H, [cfg.state_init] * O, cfg.free_steps)
            scores = [sum(s_y[c * R:(c + 1) * R]) for c in range(cfg.classes)]
            preds.append(scores.index(max(scores)))
            fh, fy = [s >> (B - 1) for s in s_h], [s >> (B - 1) for s in s_y]
            s_h, s_y = run(x, s_h, s_y, cfg.nudged_steps, int(y), sgn * cfg.nudge, s_y)
            nh, ny = [s >> (B - 1) for s in s_h], [s >> (B - 1) for s in s_y]
            for i in range(H):
                for j in range(D):
                    g1[i][j] += sgn * (fh[i] * x[j] - nh[i] * x[j])
                db_h[i] += sgn * (nh[i] - fh[i])
            for o in range(O):
                for i in range(H):
                    g2[o][i] += sgn * (fy[o] * fh[i] - ny[o] * nh[i])
                db_y[o] += sgn * (ny[o] - fy[o])
        tau_h, tau_y = cfg.tau_hidden, cfg.tau_output        # the schedule: the last entry begun by now
        for after, th, ty in cfg.tau_schedule:
            if start >= after:
                tau_h, tau_y = th, ty
        for w, m, g, tau in ((w1, m1, g1, tau_h), (w2, m2, g2, tau_y)):
            for r in range(len(w)):
                for k in range(len(w[r])):
                    mv = m[r][k]
                    leak = -((-mv) // 2 ** cfg.gamma_shift) if mv < 0 else mv // 2 ** cfg.gamma_shift
                    mv = min(max(mv - leak + g[r][k] * 2 ** cfg.mom_frac, -mhi), mhi)
                    m[r][k] = mv
                    if (mv if w[r][k] else -mv) > tau * 2 ** cfg.mom_frac:
                        w[r][k] = not w[r][k]
                        flips[0 if w is w1 else 1] += 1
        b_h = [min(max(b + d, -bhi), bhi) for b, d in zip(b_h, db_h)]
        b_y = [min(max(b + d, -bhi), bhi) for b, d in zip(b_y, db_y)]
    return preds, flips, {"w1": w1, "w2": w2, "m1": m1, "m2": m2, "b_hidden": b_h, "b_output": b_y}


@pytest.mark.parametrize("name", list(OPTIONS))
def test_reference_and_fast_engine_equal_the_scalar_rules(name):
    cfg = dataclasses.replace(BASE, **OPTIONS[name])
    xs, ys = data(cfg, 48)
    want_pred, flips, want = scalar_train(cfg, xs, ys)
    for engine in (EpEngine(cfg), FastEpEngine(cfg)):
        got_pred = engine.train_epoch(xs, ys).tolist()
        st = engine.state()
        assert got_pred == want_pred and engine.flips == sum(flips), type(engine).__name__
        for k, v in want.items():
            assert st[k].tolist() == v, f"{type(engine).__name__}: {k}"
    # the run is not trivial: weights flipped in both layers
    assert min(flips) > 0, flips


@pytest.mark.parametrize("kw", [
    {}, {"nudge_mode": "state", "beta_sign": "random", "batch": 16},
    {"gamma_shift": 7, "mom_bits": 8, "batch": 8, "in_shift_output": 1, "bias_mode": "state"},
    {"gamma_shift": 7, "mom_bits": 8},
], ids=["online_leaky", "batch_leaky", "batch_leak_free", "online_leak_free"])
def test_fast_engine_equals_reference_on_a_wider_net(kw):
    """More neurons than the scalar test (the row-sparse BOP path matters when the
    leak is 0), 200 samples; predictions, the whole state and the flip count."""
    cfg = EpConfig(inputs=40, hidden=24, classes=4, replicas=5, state_bits=6, state_init=0, in_shift=3,
                   nudge=128, free_steps=6, nudged_steps=5, mom_bits=7, gamma_shift=3, tau_hidden=2,
                   tau_output=2, seed=9)
    cfg = dataclasses.replace(cfg, **kw)
    xs, ys = data(cfg, 200, seed=5)
    ref, fast = EpEngine(cfg), FastEpEngine(cfg)
    assert (ref.train_epoch(xs, ys) == fast.train_epoch(xs, ys)).all()
    a, b = ref.state(), fast.state()
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    assert ref.flips == fast.flips > 0
    assert (ref.predict_many(xs[:50]) == fast.predict_many(xs[:50])).all()
    assert all((a == b).all() for a, b in zip(ref.free_phase(xs[0]), fast.free_phase(xs[0])))


def test_state_nudge_is_the_thesis_formula():
    """nudge_mode="state": u += floor(beta*(t*2**B - s)/2**B), beta = nudge/2**B,
    i.e. beta*(target - s_real) in state LSBs; the activation form only sees the top bit."""
    from hwtrain.golden.ep import nudge_term
    cfg = dataclasses.replace(BASE, nudge_mode="state")           # B = 5, nudge 64 = beta 2
    s = np.array([0, 10, 16, 31])
    assert nudge_term(cfg, 64, np.array([1, 1, 1, 1]), s >> 4, s).tolist() == [64, 44, 32, 2]
    assert nudge_term(cfg, 64, np.array([0, 0, 0, 0]), s >> 4, s).tolist() == [0, -20, -32, -62]
    assert nudge_term(cfg, -64, np.array([1, 0, 1, 0]), s >> 4, s).tolist() == [-64, 20, -32, 62]
    act = dataclasses.replace(BASE)
    assert nudge_term(act, 64, np.array([1, 1, 1, 1]), s >> 4, s).tolist() == [64, 64, 0, 0]


def test_random_beta_sign_draws_one_bit_per_update_from_its_stream():
    cfg = dataclasses.replace(BASE, beta_sign="random", batch=3)
    xs, ys = data(cfg, 12)
    e = EpEngine(cfg)
    e.train_epoch(xs, ys)                                          # 4 updates
    g = Xorshift32(stream_seed(cfg.seed, 2), 1)
    g.draws(4)
    assert (e.state()["beta_prng"] == g.state).all()
    signs = [-1 if int(v) >> 31 else 1 for v in Xorshift32(stream_seed(cfg.seed, 2), 1).draws(64)[:, 0]]
    assert 16 < signs.count(-1) < 48                                # both signs occur


def test_negative_beta_flips_the_gradient_and_the_nudge():
    """With beta < 0 the nudged phase moves away from the target, and the
    gradient is (1/beta)(AND_free - AND_nudged): its sign flips with beta's."""
    cfg = dataclasses.replace(BASE, nudge_mode="state", nudged_steps=6)
    pos = EpEngine(cfg)
    x, y = data(cfg, 1)
    s_h, s_y = pos.free_phase(x[0])
    from hwtrain.golden.ep import targets
    tgt = targets(cfg, int(y[0]))
    _, up = pos._relax(x[0], s_h, s_y, 6, tgt, +cfg.nudge, s_y)
    _, down = pos._relax(x[0], s_h, s_y, 6, tgt, -cfg.nudge, s_y)
    # the target class's outputs rise under beta > 0 and fall under beta < 0
    on = tgt == 1
    assert (up[on] >= s_y[on]).all() and (down[on] <= s_y[on]).all() and (up[on] > down[on]).any()


def test_momentum_fraction_bits_remove_the_leak_dead_zone():
    """mom_frac = gamma_shift: a lone event decays as a real EMA (it would stay
    forever with integer momenta, whose leak trunc(M/2**k) is 0 below 2**k)."""
    from hwtrain.golden.bop import bop_update
    w = np.array([[True]])
    m_int, m_frac = np.array([[0]]), np.array([[0]])
    m_int = bop_update(w, m_int, np.array([[-1]]), mom_bits=8, gamma_shift=2, tau=100)[1]
    m_frac = bop_update(w, m_frac, np.array([[-4]]), mom_bits=8, gamma_shift=2, tau=100)[1]
    for _ in range(6):
        m_int = bop_update(w, m_int, np.array([[0]]), mom_bits=8, gamma_shift=2, tau=100)[1]
        m_frac = bop_update(w, m_frac, np.array([[0]]), mom_bits=8, gamma_shift=2, tau=100)[1]
    assert m_int[0, 0] == -1                      # 1 event, forever: no decay below 2**k events
    assert m_frac[0, 0] == -3                     # 4/4 -> 3/4 of an event, then the dead zone (< 1 event)
    # the engine scales tau with the fraction bits
    cfg = dataclasses.replace(BASE, mom_frac=2, tau_hidden=3, tau_output=1)
    assert cfg.bop_hidden.tau == 12


def test_bias_state_mode_rounds_half_up_in_state_units():
    from hwtrain.golden.ep import bias_term
    cfg = dataclasses.replace(BASE, bias_mode="state", bias_frac=2)
    assert bias_term(np.array([-3, -2, -1, 0, 1, 2, 3, 5]), cfg).tolist() == [-1, 0, 0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize("kw,msg", [
    ({"nudge_mode": "spring"}, "nudge_mode must be one of activation, state, constant"),
    ({"beta_sign": "negative"}, "beta_sign must be one of positive, random"),
    ({"bias_mode": "post"}, "bias_mode must be one of pre, state"),
    ({"batch": 0}, "batch must be an integer >= 1"),
    ({"mom_frac": 7, "mom_bits": 8}, "mom_frac must be an integer in \\[0, 6\\]"),
    ({"mom_frac": 3, "tau_hidden": 16}, "tau_hidden must be below 16 events for 8-bit momenta with 3"),
    ({"in_shift_output": 17}, "in_shift_output must be an integer in \\[-16, 16\\]"),
])
def test_bad_option_values_are_refused_in_one_line(kw, msg):
    with pytest.raises(HwtrainError, match=msg):
        EpConfig.from_dict(kw)


def test_tau_schedule_changes_training():
    """The schedule is not a no-op on the scalar test's data (its tests above would pass
    for a model that ignored it otherwise), and the rule of which entry applies."""
    cfg = dataclasses.replace(BASE, **OPTIONS["tau_schedule"])
    xs, ys = data(cfg, 48)
    assert scalar_train(cfg, xs, ys)[2] != scalar_train(BASE, xs, ys)[2]
    assert [cfg.taus(n) for n in (0, 8, 9, 19, 20, 10**6)] == [(0, 0), (0, 0), (1, 0), (1, 0), (2, 1), (2, 1)]


@pytest.mark.parametrize("sched,msg", [
    ([[0, 1, 1]], "tau_schedule's after must be an integer >= 1, got 0"),
    ([[5, 1, 1], [5, 2, 2]], "tau_schedule's after must be an integer >= 6, got 5"),
    ([[5, 1]], "EpConfig field tau_schedule must be a list of a list of integers, got \\(\\(5, 1\\),\\)"),
    ([[5, 31, 1]], "tau_schedule entry \\[5, 31, 1\\]: tau must be an integer in \\[0, 30\\]"),
    ([[5, 1, -1]], "tau_schedule entry \\[5, 1, -1\\]: tau_output must be an integer >= 0"),
])
def test_bad_tau_schedules_are_refused_in_one_line(sched, msg):
    with pytest.raises(HwtrainError, match=msg):
        EpConfig.from_dict({"mom_bits": 6, "tau_schedule": sched})


def test_options_round_trip_through_json():
    cfg = EpConfig.from_dict(dict(OPTIONS["thesis_all"]))
    assert EpConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(HwtrainError, match="in_shift_output must be an integer or null"):
        EpConfig.from_dict({"in_shift_output": "1"})


@pytest.mark.parametrize("name", [n for n in OPTIONS if n not in ("default", "tau_schedule")])
def test_hardware_refuses_what_it_does_not_build(name):
    from hwtrain.hdl.ep import EpEngine as EpHardware
    from hwtrain.hdl.ep import HARDWARE_BUILDS
    cfg = dataclasses.replace(BASE, **OPTIONS[name])
    field = next(k for k, v in HARDWARE_BUILDS.items() if getattr(cfg, k) != v)
    with pytest.raises(HwtrainError, match=f"the EP engine builds only {field}="):
        EpHardware(cfg)
    EpHardware(BASE)                    # the default is built


def test_only_the_block_ram_engine_builds_a_tau_schedule():
    from hwtrain.hdl.ep import EpEngine as EpHardware
    from hwtrain.hdl.ep_bram import EpBramEngine
    cfg = dataclasses.replace(BASE, **OPTIONS["tau_schedule"])
    with pytest.raises(HwtrainError, match=r"fixed flip thresholds; tau_schedule=\[\[9, 1, 0\], \[20, 2, 1\]\] "
                                           "is built by ep_bram only"):
        EpHardware(cfg)
    EpBramEngine(cfg)


def test_hardware_refusal_reaches_the_cli(tmp_path, capsys):
    from hwtrain.cli import main
    out = tmp_path / "o"
    assert main(["generate", "ep", "--config", '{"nudge_mode": "state"}', "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "builds only nudge_mode='activation'" in err[0]
    assert not list(out.glob("*.v")) if out.exists() else True


def test_tau_schedule_on_the_command_line(tmp_path, capsys):
    """``--tau-schedule after,th,to;...`` reaches the configuration; a short entry and the
    flip-flop engine's refusal are one line each, before anything is written."""
    from hwtrain.cli import _config, build_parser, main
    args = build_parser().parse_args(["generate", "ep_bram", "--tau-schedule", "100,5,5;200,6,7"])
    assert _config(args).tau_schedule == ((100, 5, 5), (200, 6, 7))
    out = tmp_path / "o"
    assert main(["generate", "ep_bram", "--tau-schedule", "100,5", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tau_schedule must be a list of a list of integers, got ((100, 5),)" in err[0]
    assert main(["generate", "ep", "--tau-schedule", "100,5,5", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is built by ep_bram only" in err[0]
    assert not out.exists() or not list(out.glob("*.v"))
