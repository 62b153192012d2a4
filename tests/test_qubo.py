"""The BNN-training QUBO: energies against an independent count, its Ising form, dimod
export, solvers, decoding into a model file, errors."""

import json

import numpy as np
import pytest

from hwtrain.errors import HwtrainError
from hwtrain.golden.annealer import IsingProblem
from hwtrain.qubo.formulation import (Penalties, Topology, build_qubo, complete, decode, estimate_variables, from_bqm,
                                      predict, slack_coefficients)


def tiny(seed=0, n=3, k0=3, hidden=1, classes=2):
    rng = np.random.default_rng(seed)
    x = rng.choice([-1, 1], (n, k0)).astype(np.int8)
    y = np.arange(n) % classes
    return x, y, Topology((k0, hidden), classes)


def all_assignments(n):
    return ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(np.int8)


def forward(model, x):
    a, z = x.astype(np.int64), []
    for w in model.weights:
        z.append(a @ w.T)
        a = np.where(z[-1] >= 0, 1, -1)
    return a, z


def residual_energy(model, x, y, classify):
    """classify * sum over samples and wrong classes c of (1 - (A_y - A_c))^2 when A_y - A_c < 1,
    with A the agreements of the output neurons: zero iff every sample is strictly right."""
    a, _ = forward(model, x)
    k = a.shape[1]
    agree = (a @ model.classifier.T.astype(np.int64) + k) // 2
    d = agree[np.arange(len(y)), y][:, None] - agree
    r = np.maximum(1 - d, 0)
    r[np.arange(len(y)), y] = 0
    return classify * int((r * r).sum())


def margin_reward(model, x, y, cap):
    """sum over hidden neurons and samples of min(cap, distance of the agreements beyond the
    threshold), plus over samples and wrong classes of min(cap, A_y - A_c - 1) (when >= 0)."""
    a, zs = forward(model, x)
    total = 0
    for z in zs:
        total += np.minimum((np.abs(z) - 1) // 2, cap).sum()      # z odd: |z| = 2*margin + 1
    k = a.shape[1]
    agree = (a @ model.classifier.T.astype(np.int64) + k) // 2
    d = agree[np.arange(len(y)), y][:, None] - agree - 1
    d[np.arange(len(y)), y] = -1
    return int(np.minimum(np.maximum(d, 0), cap).sum())+ int(total)


def test_slack_coefficients_cover_exactly_the_range():
    for r in range(0, 40):
        c = slack_coefficients(r)
        sums = {int(np.dot(b, c)) for b in all_assignments(len(c))} if c else {0}
        assert sums == set(range(r + 1))


@pytest.mark.parametrize("slack", ["unary", "binary"])
def test_min_over_auxiliaries_is_the_completion_and_counts_output_violations(slack):
    x, y, topo = tiny()
    q = build_qubo(x, y, topo, Penalties(classify=3, slack=slack))
    X = all_assignments(q.n)
    E = q.energy(X)
    nw = q.weight_variables()
    key = (X[:, :nw].astype(np.int64) << np.arange(nw)).sum(1)
    best = np.full(2 ** nw, np.iinfo(np.int64).max)
    np.minimum.at(best, key, E)
    for k in range(2 ** nw):
        bits = np.zeros(q.n, np.int8)
        bits[:nw] = (k >> np.arange(nw)) & 1
        model = decode(q, bits)
        assert q.energy(complete(q, model, x, y))[0] == best[k] == residual_energy(model, x, y, 3)
    # zero energy is reached exactly by the weights that classify every sample correctly
    assert ((best == 0) == np.array([(predict(decode(q, np.r_[(k >> np.arange(nw)) & 1,
                                                             np.zeros(q.n - nw, int)]), x) == y).all()
                                     for k in range(2 ** nw)])).all()


def test_two_hidden_layers_and_margin_term_match_an_independent_count():
    rng = np.random.default_rng(4)
    x = rng.choice([-1, 1], (6, 5)).astype(np.int8)
    y = np.arange(6) % 3
    topo = Topology((5, 3, 3), 3)
    mu = 2
    q0 = build_qubo(x, y, topo, Penalties(sign=50, classify=2))
    assert estimate_variables(topo, 6) == q0.n
    qm = build_qubo(x, y, topo, Penalties(sign=50, classify=2, margin=mu))
    for trial in range(5):
        bits = rng.integers(0, 2, q0.n).astype(np.int8)
        model = decode(q0, bits)
        c = complete(q0, model, x, y)
        assert q0.energy(c)[0] == residual_energy(model, x, y, 2)
        assert qm.energy(complete(qm, model, x, y))[0] == residual_energy(model, x, y, 2) - mu * margin_reward(model, x, y, 2)


def test_bias_adds_the_linear_weight_penalty():
    x, y, topo = tiny(1)
    q = build_qubo(x, y, topo)
    nw = q.weight_variables()
    bias = np.arange(nw) - 2
    qb = build_qubo(x, y, topo, bias=bias)
    X = np.random.default_rng(0).integers(0, 2, (50, q.n)).astype(np.int8)
    w = 2 * X[:, :nw].astype(np.int64) - 1
    assert np.array_equal(qb.energy(X), q.energy(X) - w @ bias)


def test_ising_form_is_exactly_four_times_the_qubo():
    x, y, topo = tiny(2, n=4, k0=5, hidden=3, classes=3)
    q = build_qubo(x, y, topo, Penalties(margin=1))
    ip = IsingProblem.from_qubo(q)
    X = np.random.default_rng(1).integers(0, 2, (200, q.n)).astype(np.int8)
    assert np.array_equal(ip.energy(2 * X.astype(np.int64) - 1) + ip.offset, 4 * q.energy(X))


def test_predict_is_the_inference_core_semantics():
    from hwtrain.golden.inference import InferenceCore
    from hwtrain.inference.config import InferenceConfig
    x, y, topo = tiny(3, n=40, k0=7, hidden=5, classes=3)
    q = build_qubo(x, y, topo)
    model = decode(q, np.random.default_rng(2).integers(0, 2, q.n).astype(np.int8))
    core = InferenceCore(InferenceConfig(sizes=model.sizes, classes=3), model)
    assert np.array_equal(core(x > 0)[0], predict(model, x))


def test_malformed_inputs_are_refused_in_one_line():
    x, y, topo = tiny()
    with pytest.raises(HwtrainError, match="even"):
        Topology((4, 3), 2)
    with pytest.raises(HwtrainError, match="labels must lie"):
        build_qubo(x, y + 5, topo)
    with pytest.raises(HwtrainError, match="\\+-1"):
        build_qubo(x * 2, y, topo)
    with pytest.raises(HwtrainError, match="17 variables, more than the limit 10;"):
        build_qubo(x, y, topo, max_variables=10)
    with pytest.raises(HwtrainError, match="non-negative integer"):
        Penalties(margin=-1)


@pytest.fixture
def dimod():
    """Only the tests that take this fixture need dimod (optional extra hwtrain[qubo])."""
    return pytest.importorskip("dimod", reason="dimod not installed (optional extra hwtrain[qubo])")


def test_bqm_export_has_the_same_energies_and_round_trips(dimod):
    x, y, topo = tiny(5, n=4, k0=5, hidden=3)
    q = build_qubo(x, y, topo, Penalties(margin=1))
    bqm = q.to_bqm()
    X = np.random.default_rng(3).integers(0, 2, (30, q.n)).astype(np.int8)
    assert np.array_equal(dimod.as_samples(X)[0], X)
    assert np.array_equal(bqm.energies((X, range(q.n))), q.energy(X))
    back = from_bqm(bqm)
    assert np.array_equal(back.energy(X), q.energy(X))
    bad = dimod.BinaryQuadraticModel({0: 0.5}, {}, 0, dimod.BINARY)
    with pytest.raises(HwtrainError, match="integers"):
        from_bqm(bad)


@pytest.mark.parametrize("solver", ["dwave", "annealer"])
def test_solvers_reach_the_brute_force_minimum_of_a_tiny_problem(solver):
    pytest.importorskip("dwave.samplers")
    from hwtrain.qubo.solve import solve
    x, y, topo = tiny(6)
    q = build_qubo(x, y, topo, Penalties(sign=4))
    best = q.energy(all_assignments(q.n)).min()
    sol = solve(q, solver, sweeps=300, restarts=4, seed=3)
    assert sol.energy == best == q.energy(sol.x)[0]


def test_cli_train_writes_a_model_the_inference_cores_load(tmp_path, capsys):
    pytest.importorskip("dwave.samplers")
    import argparse
    from hwtrain.inference.model import BinaryMLP
    from hwtrain.commands import qubo as cli_qubo
    from hwtrain.qubo.train import digits_4x4
    p = argparse.ArgumentParser()
    cli_qubo.add_parser(p.add_subparsers(dest="cmd"))
    out = tmp_path / "q.npz"
    args = p.parse_args(["qubo", "train", "--classes", "0,1", "--hidden", "3", "--samples", "12",
                         "--sweeps", "200", "--restarts", "2", "--polish", "--json", str(tmp_path / "r" / "q.json"),
                         "-o", str(out)])
    assert cli_qubo.run(args) == 0
    assert f"wrote {tmp_path / 'r' / 'q.json'}" in capsys.readouterr().out
    info = json.loads((tmp_path / "r" / "q.json").read_text())
    model = BinaryMLP.load(out)
    assert model.sizes == (17, 3) and model.classes == 2
    x, y, xt, yt = digits_4x4((0, 1), n_train=12)
    assert info["test_acc"] == float((predict(model, xt) == yt).mean())
    assert info["train_acc"] == float((predict(model, x) == y).mean())
    bqm_path = tmp_path / "p.bqm"
    assert cli_qubo.run(p.parse_args(["qubo", "build", "--classes", "0,1", "--hidden", "3", "--samples", "4",
                                      "-o", str(bqm_path)])) == 0
    capsys.readouterr()
    assert cli_qubo.run(p.parse_args(["qubo", "solve", str(bqm_path), "--solver", "annealer",
                                      "--sweeps", "20", "--restarts", "2"])) == 0
    assert json.loads(capsys.readouterr().out)["best_energy"] >= 0
    (tmp_path / "junk.bqm").write_bytes(b"not a bqm")
    with pytest.raises(HwtrainError, match="not a dimod BQM"):
        cli_qubo.run(p.parse_args(["qubo", "solve", str(tmp_path / "junk.bqm")]))


def test_fixed_classifier_min_over_auxiliaries_is_the_completion():
    """With the output layer fixed (as CP+R/BEP have it) there are no product bits and the
    minimum over auxiliaries is still the honest forward pass with pairwise residuals."""
    x, y, topo = tiny(7, n=4, k0=3, hidden=3)
    x[:, 0] = 1                                   # a bias input
    P = np.array([[1, 1, -1], [-1, 1, 1]], np.int8)
    q = build_qubo(x, y, topo, Penalties(classify=3, slack="binary"), classifier=P)
    assert "w_out" not in q.blocks and "p_out" not in q.blocks
    assert estimate_variables(topo, 4, "binary", fixed_classifier=True) == q.n == 9 + 4 * (3 * 2 + 2)
    nw = q.weight_variables()
    assert nw == 9
    best = np.full(2 ** nw, np.iinfo(np.int64).max)
    for k in range(2 ** nw):
        bits = np.zeros(q.n, np.int8)
        bits[:nw] = (k >> np.arange(nw)) & 1
        model = decode(q, bits)
        assert np.array_equal(model.classifier, P)
        # auxiliaries of different samples do not interact: the minimum is the per-sample sum
        best[k] = sum(build_qubo(x[i:i + 1], y[i:i + 1], topo, Penalties(classify=3, slack="binary"),
                                 classifier=P).energy(np.c_[np.broadcast_to(bits[:nw], (2 ** 8, nw)),
                                                            all_assignments(8)]).min() for i in range(4))
        assert q.energy(complete(q, model, x, y))[0] == best[k] == residual_energy(model, x, y, 3)
    with pytest.raises(HwtrainError, match="fixed classifier"):
        build_qubo(x, y, topo, classifier=P[:, :2])


def test_a_network_that_predicts_one_class_is_not_a_minimum():
    """The old per-output-neuron constraints let 'every output neuron just fires' cost 1 per
    sample, below an honest classifier with one error; the pairwise form charges a wrong or
    tied sample at least ``classify`` and a right one nothing."""
    x, y, topo = tiny(8, n=8, k0=5, hidden=3)
    q = build_qubo(x, y, topo, Penalties(classify=4))
    rng = np.random.default_rng(0)
    for _ in range(20):
        model = decode(q, rng.integers(0, 2, q.n).astype(np.int8))
        e = q.energy(complete(q, model, x, y))[0]
        wrong = int((predict(model, x) != y).sum())
        assert 4 * wrong <= e and (e == 0) == (wrong == 0)


def test_digits_01_are_separable_at_4x4():
    """Binarized at the pooled median (3.25 of 16), a 0 and a 1 look alike at 4x4 and a
    nearest-centroid rule managed 80 % on the test digits; at half-scale it is above 85 %."""
    pytest.importorskip("sklearn")
    from hwtrain.qubo.train import digits_4x4
    x, y, xt, yt = digits_4x4((0, 1), n_train=1000, seed=1)
    assert x.shape[1] == 17 and set(np.unique(x)) == {-1, 1} and (x[:, -1] == 1).all()
    assert len(xt) == 71 and np.bincount(yt).tolist() == [35, 36]
    c = np.stack([x[y == k].mean(0) for k in (0, 1)])
    assert (np.argmax(xt @ c.T, 1) == yt).mean() > 0.85
    x8, _, _, _ = digits_4x4((0, 1), n_train=4, seed=1, side=8)
    assert x8.shape == (4, 65)
    with pytest.raises(HwtrainError, match="side"):
        digits_4x4((0, 1), side=2)


def test_cpr_and_bep_coincide_with_one_hidden_layer_only():
    """Why the accuracy table shows CP+R = BEP at 17-H-2: with one hidden layer both rules
    are 'easiest wrong perceptron against the (same) output classifier' and train the
    same weights; with two hidden layers they differ."""
    from hwtrain.golden.train import TrainConfig, make_trainer
    rng = np.random.default_rng(9)
    x = rng.choice([-1, 1], (40, 17)).astype(np.int8)
    y = rng.integers(0, 2, 40)
    def weights(algo, hidden):
        tr = make_trainer(TrainConfig(algorithm=algo, inputs=17, hidden=hidden, classes=2, batch=1, seed=3))
        tr.fit(x, y, 3)
        return tr.H
    assert all(np.array_equal(a, b) for a, b in zip(weights("cpr", (5,)), weights("bep", (5,))))
    assert not all(np.array_equal(a, b) for a, b in zip(weights("cpr", (5, 5)), weights("bep", (5, 5))))


def test_relaxed_anneal_and_repair_trains_where_the_sound_anneal_freezes():
    """Issue 9: single-spin annealing of the sound QUBO freezes the weights (one weight flip
    moves every sample's sign constraint by P_sign); annealing the relaxed QUBO (sign 1,
    classification 16) with hwtrain's golden annealer (the hardware's arithmetic) and then
    recomputing every auxiliary bit exactly does train. Same data, seed and sweep budget."""
    pytest.importorskip("sklearn")
    from hwtrain.golden.train import TrainConfig, make_trainer
    from hwtrain.qubo.train import digits_4x4, solve_repaired, train_qubo
    x, y, _, _ = digits_4x4((0, 1), n_train=12, seed=1)
    topo = Topology((17, 3), 2)
    P = make_trainer(TrainConfig(algorithm="cpr", inputs=17, hidden=(3,), classes=2, batch=1, seed=1)).P[-1]
    run = dict(solver="annealer", sweeps=100, restarts=2, seed=1, classifier=P)
    _, sound, _, info0 = train_qubo(x, y, topo, relax=0, **run)
    model, sol, q, info = train_qubo(x, y, topo, relax=16, **run)
    assert info0["train_acc"] < 0.75 and info["train_acc"] >= 0.9
    assert sol.energy < sound.energy and info["annealed_energy"] != sol.energy
    # every returned state is the exact completion of its weights, scored on the sound QUBO
    q2, sol2, _ = solve_repaired(x, y, topo, Penalties(), relax=16, solver="annealer", sweeps=100,
                                 restarts=2, seed=1, classifier=P)
    assert np.array_equal(q2.energy(np.zeros(q2.n, np.int8)), q.energy(np.zeros(q.n, np.int8)))
    for s, e in zip(sol2.samples, sol2.energies):
        assert np.array_equal(s, complete(q2, decode(q2, s), x, y)) and q2.energy(s)[0] == e
    assert np.array_equal(sol2.x, sol.x) and sol2.energy == sol.energy == min(sol2.energies)
    assert sol.energy == residual_energy(model, x, y, 1)
    with pytest.raises(HwtrainError, match="relax"):
        solve_repaired(x, y, topo, Penalties(), relax=-1, classifier=P)


def test_check_fits_counts_ebr_blocks_not_only_bits():
    """The 631-spin relaxed digits problem passes a block-RAM bit count (3,714,521 of
    3,833,856) but its coupling memory is 631 deep and 5,679 bits wide: yosys mapped it to
    278 EBR of the ECP5-85F's 208 (docs/qubo.md). check_fits now counts EBRs like that."""
    pytest.importorskip("sklearn")
    from hwtrain.golden.annealer import Schedule, check_fits, hardware_cost
    from hwtrain.golden.train import TrainConfig, make_trainer
    from hwtrain.qubo.train import digits_4x4
    x, y, _, _ = digits_4x4((0, 1), n_train=20, seed=1)
    P = make_trainer(TrainConfig(algorithm="cpr", inputs=17, hidden=(3,), classes=2, batch=1, seed=1)).P[-1]
    p = IsingProblem.from_qubo(build_qubo(x, y, Topology((17, 3), 2), Penalties(sign=1, classify=16), classifier=P))
    sch = Schedule.geometric(p, 16, 1, lut_depth=256)
    c = hardware_cost(p, sch)
    assert p.n == 631 and c["coupling_bits"] + c["lut_bits"] == 3_714_521
    assert (c["coupling_ebr"], c["lut_ebr"], c["ebr"]) == (270, 8, 278)
    with pytest.raises(HwtrainError, match="278 EBR"):
        check_fits(p, sch)
    r = IsingProblem.random(64, 7, jmax=15)                  # the synthesized 64-spin design: yosys 24
    assert hardware_cost(r, Schedule.geometric(r, 32, 1, lut_depth=256))["ebr"] == 25
    check_fits(r, Schedule.geometric(r, 32, 1, lut_depth=256))
