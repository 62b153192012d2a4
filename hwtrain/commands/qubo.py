"""``hwtrain qubo ...``: train binary networks as QUBO problems.

    hwtrain qubo build --classes 0,1,2 --hidden 5 --samples 30 -o train.bqm
    hwtrain qubo solve train.bqm --solver annealer --sweeps 500
    hwtrain qubo train --classes 0,1,2 --hidden 5 --samples 30 --margin 1 --polish -o qubo.npz
"""

from __future__ import annotations

import json


from .. import args as checked
from ..errors import HwtrainError, require


def _ints(text: str, what: str) -> tuple:
    try:
        return tuple(int(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise HwtrainError(f"{what} must be comma-separated integers, got {text!r}") from None


def add_parser(subparsers):
    p = subparsers.add_parser("qubo", help="train binary networks as QUBO problems (annealing)")
    sub = p.add_subparsers(dest="qubo_cmd", required=True)

    def problem_args(q):
        q.add_argument("--classes", default="0,1,2", help="digits to classify (4x4 binarized digits)")
        q.add_argument("--hidden", default="5", help="hidden layer sizes, odd, e.g. 5 or 5,3")
        q.add_argument("--samples", type=checked.positive, default=30, help="training samples (spread over classes)")
        q.add_argument("--sign", type=checked.natural, default=0,
                       help="hidden sign-constraint penalty (0: derived, docs/qubo.md)")
        q.add_argument("--classify", type=checked.positive, default=1, help="pairwise classification penalty")
        q.add_argument("--margin", type=checked.natural, default=0, help="margin regulariser weight (0 = off)")
        q.add_argument("--seed", type=int, default=1)

    b = sub.add_parser("build", help="write the training QUBO as a dimod BQM file")
    problem_args(b)
    b.add_argument("-o", "--output", type=checked.output_file, required=True)

    s = sub.add_parser("solve", help="anneal a BQM file and print the best energy")
    s.add_argument("bqm", type=checked.input_file)
    s.add_argument("--solver", default="dwave", choices=("dwave", "annealer"))
    s.add_argument("--sweeps", type=checked.positive, default=1000)
    s.add_argument("--restarts", type=checked.positive, default=4)
    s.add_argument("--seed", type=int, default=1)

    t = sub.add_parser("train", help="build, solve, decode into a model file, report accuracy")
    problem_args(t)
    t.add_argument("--solver", default="dwave", choices=("dwave", "annealer"))
    t.add_argument("--sweeps", type=checked.positive, default=1000)
    t.add_argument("--restarts", type=checked.positive, default=4)
    t.add_argument("--dropout-rounds", type=checked.natural, default=0, help="dropout-style rounds (0 = off)")
    t.add_argument("--keep", type=checked.real(0.0, 1.0, lo_open=True), default=0.6,
                   help="fraction of hidden neurons kept per round")
    t.add_argument("--relax", type=checked.natural, default=None,
                   help="classification penalty of the relaxed QUBO that is annealed (sign penalty 1), "
                        "then every auxiliary bit is repaired exactly; 0 = anneal the sound QUBO "
                        "(default: hwtrain.qubo.train.RELAX, docs/qubo.md)")
    t.add_argument("--polish", action="store_true", help="weight-flip descent after annealing")
    t.add_argument("--json", type=checked.output_file, default=None, help="write the result here as JSON")
    t.add_argument("-o", "--output", type=checked.output_file, default=None,
                   help="model file (.npz) for the inference cores")
    return p


def _problem(args):
    from ..qubo.formulation import Penalties, Topology
    from ..qubo.train import digits_4x4
    classes = _ints(args.classes, "--classes")
    hidden = _ints(args.hidden, "--hidden")
    require(args.samples >= 1, f"--samples must be >= 1, got {args.samples}")
    data = digits_4x4(classes, n_train=args.samples, n_test=0, seed=args.seed)
    topo = Topology((data[0].shape[1],) + hidden, len(classes))
    pen = Penalties(sign=args.sign, classify=args.classify, margin=args.margin)
    return data, topo, pen


def run(args) -> int:
    from ..qubo.formulation import build_qubo, predict
    from ..qubo.solve import solve
    if args.qubo_cmd == "build":
        (x, y, _, _), topo, pen = _problem(args)
        q = build_qubo(x, y, topo, pen)
        with open(checked.prepare_output(args.output), "wb") as f:
            f.write(q.to_bqm().to_file().read())
        print(json.dumps({"output": str(args.output), **q.sizes()}))
        return 0
    if args.qubo_cmd == "solve":
        from ..qubo.formulation import read_bqm
        # read_bqm checks the file's structure before dimod sees it (a malformed file can
        # crash dimod's reader outright)
        sol = solve(read_bqm(args.bqm), args.solver, sweeps=args.sweeps, restarts=args.restarts, seed=args.seed)
        print(json.dumps({"solver": args.solver, "best_energy": sol.energy,
                          "energies": sol.energies.tolist(), "seconds": round(sol.seconds, 3),
                          "updates_per_s": round(sol.updates_per_s)}))
        return 0
    from ..qubo.model_file import save_qubo_model
    from ..qubo.train import RELAX, train_qubo
    (x, y, xt, yt), topo, pen = _problem(args)
    model, sol, q, info = train_qubo(x, y, topo, pen, solver=args.solver, sweeps=args.sweeps,
                                     restarts=args.restarts, seed=args.seed,
                                     dropout_rounds=args.dropout_rounds, keep=args.keep, polish=args.polish,
                                     relax=RELAX if args.relax is None else args.relax)
    info["test_acc"] = float((predict(model, xt) == yt).mean())
    info["sizes"] = list(topo.sizes) + [topo.classes]
    if args.output:
        save_qubo_model(checked.prepare_output(args.output), model,
                        {"qubo": {k: v for k, v in info.items() if k != "rounds"}})
        info["output"] = str(args.output)
    if args.json:
        checked.prepare_output(args.json).write_text(json.dumps(info, indent=1))
    print(f"QUBO {q.n} variables ({q.weight_variables()} weights), energy {info['energy']}"
          + (f" (relaxed anneal {info['annealed_energy']}, repaired)" if "annealed_energy" in info else "")
          + (f" -> {info['polished_energy']} polished" if "polished_energy" in info else "")
          + f"; train accuracy {checked.percent(info['train_acc'])}, "
            f"test accuracy {checked.percent(info['test_acc'])}"
          + (f"; model {args.output}" if args.output else ""))
    if args.json:
        print(f"wrote {args.json}")
    return 0
