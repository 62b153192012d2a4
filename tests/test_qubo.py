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


def residual_energy(model, x, y, classify):
    """classify * sum of squared distances of output agreements from their allowed range."""
    a = x.astype(np.int64)
    for w in model.weights:
        a = np.where(a @ w.T >= 0, 1, -1)
    k = a.shape[1]
    agree = (a @ model.classifier.T.astype(np.int64) + k) // 2
    t = (k + 1) // 2
    on = y[:, None] == np.arange(model.classes)[None, :]
    r = np.where(on, np.maximum(t - agree, 0), np.maximum(agree - (t - 1), 0))
    return classify * int((r * r).sum())


def test_slack_coefficients_cover_exactly_the_range():
    for r in range(0, 40):
        c = slack_coefficients(r)
        sums = {int(np.dot(b, c)) for b in all_assignments(len(c))} if c else {0}
        assert sums == set(range(r + 1))


def test_min_over_auxiliaries_is_the_completion_and_counts_output_violations():
    x, y, topo = tiny()
    q = build_qubo(x, y, topo, Penalties(sign=20, classify=3))
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
    assert best.min() == 0 or residual_energy(decode(q, X[np.argmin(E)]), x, y, 3) == best.min()


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
        # margin: -mu * (2a - 1)(2A - K) over every neuron; hidden a = sign, output a = target
        margin, a = 0, x.astype(np.int64)
        for w in model.weights:
            z = a @ w.T
            margin += np.abs(z).sum()
            a = np.where(z >= 0, 1, -1)
        z = a @ model.classifier.T.astype(np.int64)
        margin += (np.where(y[:, None] == np.arange(3)[None, :], 1, -1) * z).sum()
        assert qm.energy(c)[0] == residual_energy(model, x, y, 2) - mu * margin


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
    from hwtrain.qubo import cli_qubo
    from hwtrain.qubo.train import digits_4x4
    p = argparse.ArgumentParser()
    cli_qubo.add_parser(p.add_subparsers(dest="cmd"))
    out = tmp_path / "q.npz"
    args = p.parse_args(["qubo", "train", "--classes", "0,1", "--hidden", "3", "--samples", "12",
                         "--sweeps", "200", "--restarts", "2", "--polish", "--json", "-o", str(out)])
    assert cli_qubo.run(args) == 0
    info = json.loads(capsys.readouterr().out)
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
