"""``hwtrain train``: train a binary network with CP+R, BEP, BEP-TT or the straight-through estimator.

``-a ste`` trains off-chip in floating point (FINN/BNN style, docs/training.md "STE") and
writes the network folded into per-neuron integer thresholds, proven against the golden
inference model on the test split before the file is written.

Wire-up (hwtrain/cli.py): ``add_parser(subparsers)`` then, for the
parsed namespace, ``run(args)`` (returns the exit status).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from ..args import percent


def add_parser(subparsers):
    from .. import args as checked
    p = subparsers.add_parser("train", help="train a binary network (CP+R, BEP, BEP-TT in the golden model; "
                                            "STE off-chip)",
                              description=__doc__.splitlines()[0])
    p.add_argument("--algorithm", "-a", choices=("cpr", "bep", "bep_tt", "ste"), default="cpr",
                   help="cpr, bep, bep_tt (fully binary rules, as the hardware trainers run them) or ste "
                        "(straight-through estimator with batch norm and Adam, off-chip; image datasets "
                        "binarized fixed:0.5 by default, as FINN does)")
    p.add_argument("--dataset", "-d", default="random_prototypes", choices=_dataset_names(), metavar="DATASET",
                   help="random_prototypes, digits, fashion_mnist, mnist, italy_power, japanese_vowels")
    p.add_argument("--data-path", default=None, help="directory / file / aeon wheel holding the dataset")
    p.add_argument("--binarize", type=checked.binarize_scheme, default=None, metavar="SCHEME",
                   help="image datasets: " + _binarize_help() + " (default: median)")
    p.add_argument("--hidden", type=checked.int_list(1), default=(135, 135), help="layer sizes, e.g. 135,135 (bep_tt: K_s,K_y)")
    p.add_argument("--epochs", type=checked.positive, default=50)
    p.add_argument("--batch", type=checked.positive, default=100, help="mini-batch size (the papers' bs)")
    p.add_argument("--online", action="store_true",
                   help="online training: batch 1, reinforcement every --batch samples")
    p.add_argument("--bits", type=checked.integer(2, 24), default=None, help="hidden-weight width B (default cpr 8, bep 16)")
    p.add_argument("--gamma", type=checked.int_list(1), default=None, help="group size(s), e.g. 45 or 45,45 (default: paper rule / 15)")
    p.add_argument("--gamma-patience", type=checked.natural, default=0, help="epochs without improvement before gamma grows")
    p.add_argument("--r", type=checked.real(0.0), default=None, help="robustness margin (default cpr 0.25, bep 0.5)")
    p.add_argument("--nu", type=checked.probability, default=0.05, help="gating threshold (bep, bep_tt)")
    p.add_argument("--p-r", type=checked.probability, default=0.5, help="reinforcement probability")
    p.add_argument("--pr-schedule", choices=("cumulative", "error", "constant"), default="error")
    p.add_argument("--classifier", choices=("random", "bef"), default=None)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--n-train", type=checked.positive, default=10_000, help="random_prototypes: training samples")
    p.add_argument("--n-test", type=checked.natural, default=2_000, help="random_prototypes: test samples")
    p.add_argument("--flip", type=checked.probability, default=0.44, help="random_prototypes: flip probability p")
    p.add_argument("--cv", type=checked.natural, default=0, help="UCR: k-fold split of train+test merged (0: official split)")
    p.add_argument("--fold", type=checked.natural, default=0, help="UCR: which fold is the test set (with --cv)")
    p.add_argument("--window", type=checked.positive, default=24, help="sequence window length (UCR)")
    p.add_argument("--thermo-bits", type=checked.positive, default=10, help="thermometer bits per channel (UCR)")
    p.add_argument("--expand", type=checked.natural, default=0, help="bep_tt: width of the fixed +-1 expansion layer "
                                                         "(0: K_s)")
    p.add_argument("--tt-update", choices=("sum", "sign"), default="sum",
                   help="bep_tt: per-sample row update = temporal sum (paper) or its ternary sign")
    p.add_argument("--tt-mask", choices=("last", "sum"), default="last",
                   help="bep_tt: state mask from the last step (default) or from the temporal stability sum")
    p.add_argument("--zero-target", choices=("plus", "skip"), default=None,
                   help="bep/bep_tt: a back-projection of 0 gives target +1 (plus) or no target (skip); "
                        "default skip for bep_tt, plus for bep")
    p.add_argument("--lr", type=checked.real(0.0, lo_open=True), default=0.005,
                   help="ste: Adam learning rate of the first epoch")
    p.add_argument("--lr-final", type=checked.real(0.0, lo_open=True), default=0.0005,
                   help="ste: learning rate of the last epoch (exponential decay in between)")
    p.add_argument("--dropout", type=checked.real(0.0, 1.0, hi_open=True), default=0.0,
                   help="ste: dropout probability on inputs and hidden activations while training")
    p.add_argument("-o", "--output", type=checked.output_file, default="model.npz", help="model file to write")
    p.add_argument("--plot", type=checked.output_file, default=None, help="PNG of the accuracy curves")
    p.add_argument("--json", type=checked.output_file, default=None, help="write the per-epoch history as JSON")
    p.add_argument("--quiet", "-q", action="store_true")
    return p


def _binarize_help() -> str:
    from ..data.binarize import BINARIZE_HELP
    return BINARIZE_HELP


def _dataset_names():
    from ..data.presets import NAMES
    return NAMES


def build(args):
    """(TrainConfig, Binarized data) from parsed arguments."""
    from ..data.presets import binarized
    from ..errors import require, require_memory
    from ..golden.train.config import TrainConfig

    require(args.cv != 1, "--cv must be 0 (the official split) or a number of folds >= 2, got 1")
    require(args.cv == 0 or args.fold < args.cv, f"--fold must be below --cv {args.cv}, got {args.fold}")
    require(args.cv > 0 or args.fold == 0, "--fold needs --cv K (k-fold cross-validation)")

    data = binarized(args.dataset, args.data_path, binarize=getattr(args, "binarize", None), seed=args.seed,
                     window=args.window,
                     thermo_bits=args.thermo_bits, n_train=args.n_train, n_test=args.n_test, p=args.flip,
                     cv=args.cv, fold=args.fold)
    hidden = tuple(args.hidden)
    alg = args.algorithm
    bep = alg != "cpr"
    gamma = None
    if args.gamma:
        g = tuple(args.gamma)
        gamma = g if len(g) > 1 else g[0]
    elif bep:
        gamma = 15
    kw = dict(hidden_bits=args.bits or (16 if bep else 8), gamma=gamma,
              r=args.r if args.r is not None else (0.5 if bep else 0.25), nu=args.nu, p_r=args.p_r,
              pr_schedule=args.pr_schedule, gamma_patience=args.gamma_patience,
              classifier=args.classifier or ("bef" if bep else "random"), seed=args.seed,
              batch=1 if args.online else args.batch,
              reinforce_every=args.batch if args.online else 1)
    if bep:
        kw.update(zero_target=getattr(args, "zero_target", None))
    if alg == "bep_tt":
        from ..errors import require
        require(data.sequential, f"bep_tt needs a sequence dataset, {args.dataset} is not one")
        ks = hidden[0]
        k0 = args.expand or ks
        kw.update(steps=data.x_train.shape[1], raw_inputs=data.x_train.shape[2], tt_update=args.tt_update,
                  tt_mask=getattr(args, "tt_mask", "last"))
        cfg = TrainConfig(alg, k0, hidden, data.classes, **kw)
    else:
        if data.sequential:
            n, t, f = data.x_train.shape
            data.x_train = data.x_train.reshape(n, t * f)
            data.x_test = data.x_test.reshape(len(data.x_test), t * f)
        cfg = TrainConfig(alg, data.x_train.shape[1], hidden, data.classes, **kw)
    # hidden weights (int32) and their signs (float32) per matrix, plus per-sample work arrays
    weights = sum(int(np.prod(shape)) for shape in cfg.shapes.values())
    require_memory(16 * weights, f"a {'-'.join(map(str, (cfg.inputs,) + tuple(hidden)))} network")
    return cfg, data


def plot_history(history, path, title=""):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ep, [100 * h["train_acc"] for h in history], label="train")
    if history and "test_acc" in history[0]:
        ax.plot(ep, [100 * h["test_acc"] for h in history], label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args) -> int:
    from ..args import prepare_output
    from ..golden.train import make_trainer
    from ..golden.train.model import save_model

    if args.algorithm == "ste":
        return run_ste(args)
    cfg, data = build(args)
    tr = make_trainer(cfg)
    out = sys.stderr

    def progress(done, total):
        if args.quiet or not out.isatty():
            return
        w = 30
        f = int(w * done / total)
        out.write(f"\r  epoch {tr.epoch + 1}/{args.epochs} [{'#' * f}{'.' * (w - f)}] {done}/{total}")
        out.flush()

    def log(rec):
        if args.quiet:
            return
        if out.isatty():
            out.write("\r" + " " * 70 + "\r")
        t = f" test {percent(rec['test_acc'])}" if "test_acc" in rec else ""
        print(f"epoch {rec['epoch']:3d}  train {percent(rec['train_acc'])}{t}  "
              f"online err {percent(rec['train_error_online'])}  {rec['samples_per_s']:.0f} samples/s  "
              f"p_r {rec['p_r']:.4g}  gamma {rec['gamma']}", flush=True)

    t0 = time.perf_counter()
    tr.fit(data.x_train, data.y_train, args.epochs, data.x_test, data.y_test, log=log, progress=progress)
    extra = {"dataset": args.dataset, "seconds": time.perf_counter() - t0}
    if getattr(args, "binarize", None):
        extra["binarize"] = args.binarize           # verify reads it back: the same bits as in training
    # Output paths were checked when the options were parsed; the model goes first, so a
    # failing plot can never lose the trained network.
    save_model(prepare_output(args.output), tr, extra)
    if not args.quiet:
        print(f"model written to {args.output}")
    if args.json:
        with open(prepare_output(args.json), "w") as f:
            json.dump({"config": cfg.to_dict(), "history": tr.history, **extra}, f, indent=1)
    if args.plot:
        plot_history(tr.history, prepare_output(args.plot), f"{cfg.algorithm} {args.dataset} {cfg.hidden}")
    return 0


# Options of the fully binary rules that mean nothing to the STE trainer: (attribute, option, default).
_NOT_STE = (("online", "--online", False), ("bits", "--bits", None), ("gamma", "--gamma", None),
            ("gamma_patience", "--gamma-patience", 0), ("r", "--r", None), ("nu", "--nu", 0.05),
            ("p_r", "--p-r", 0.5), ("pr_schedule", "--pr-schedule", "error"), ("classifier", "--classifier", None),
            ("expand", "--expand", 0), ("zero_target", "--zero-target", None))


def run_ste(args) -> int:
    """``hwtrain train -a ste``: train, fold batch norm into thresholds, prove the fold, write."""
    from ..args import prepare_output
    from ..data.presets import IMAGES, binarized
    from ..errors import require, require_memory
    from ..golden.train.ste import SteConfig, SteTrainer, check_export, save_ste

    given = [opt for attr, opt, default in _NOT_STE if getattr(args, attr, default) != default]
    require(not given, f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to cpr/bep/bep_tt, "
                       f"not to -a ste (its options: --hidden, --epochs, --batch, --lr, --lr-final, --dropout, --seed)")
    require(args.batch >= 2, f"-a ste uses batch norm: --batch must be at least 2, got {args.batch}")
    require(args.cv != 1, "--cv must be 0 (the official split) or a number of folds >= 2, got 1")
    require(args.cv == 0 or args.fold < args.cv, f"--fold must be below --cv {args.cv}, got {args.fold}")
    require(args.cv > 0 or args.fold == 0, "--fold needs --cv K (k-fold cross-validation)")
    scheme = args.binarize or ("fixed:0.5" if args.dataset in IMAGES else None)
    data = binarized(args.dataset, args.data_path, binarize=scheme, seed=args.seed, window=args.window,
                     thermo_bits=args.thermo_bits, n_train=args.n_train, n_test=args.n_test, p=args.flip,
                     cv=args.cv, fold=args.fold)
    x, xt = data.x_train.reshape(len(data.x_train), -1), data.x_test.reshape(len(data.x_test), -1)
    require(len(x) >= args.batch, f"{args.dataset} has {len(x)} training samples, fewer than --batch {args.batch}")
    cfg = SteConfig((x.shape[1],) + tuple(args.hidden), data.classes, batch=args.batch, lr=args.lr,
                    lr_final=args.lr_final, dropout=args.dropout, seed=args.seed)
    dims = list(cfg.sizes) + [cfg.classes]
    require_memory(20 * sum(a * b for a, b in zip(dims[:-1], dims[1:])) + 40 * args.batch * sum(dims),
                   f"a {'-'.join(map(str, dims))} network")
    tr = SteTrainer(cfg)
    if not args.quiet:
        print(f"ste: {'-'.join(map(str, dims))} on {args.dataset} ({len(x)} train, {len(xt)} test"
              f"{', binarized ' + scheme if scheme else ''}), batch {cfg.batch}, Adam lr {cfg.lr:g} -> "
              f"{cfg.lr_final:g}, dropout {cfg.dropout:g}, seed {cfg.seed}", flush=True)

    def log(rec):
        if not args.quiet:
            print(f"epoch {rec['epoch']:3d}  loss {rec['loss']:.4f}  train (batches) "
                  f"{percent(rec['train_acc_batches'])}  test {percent(rec['test_acc'])}  lr {rec['lr']:.3g}  "
                  f"{rec['samples_per_s']:.0f} samples/s", flush=True)

    t0 = time.perf_counter()
    tr.fit(x, data.y_train, args.epochs, xt, data.y_test, log=log)
    seconds = time.perf_counter() - t0
    model, negated = tr.fold()
    proof = check_export(tr, model, xt)          # raises on any difference: no file is written then
    acc = float(np.mean(tr.predict(xt) == data.y_test))
    extra = {"dataset": args.dataset, "seconds": seconds, "test_acc": acc, "check": proof,
             "negated_rows": [int(n.sum()) for n in negated]}
    if scheme:
        extra["binarize"] = scheme                   # verify reads it back: the same bits as in training
    save_ste(prepare_output(args.output), tr, model, extra)
    if not args.quiet:
        print(f"folded: thresholds {', '.join(f'{int(t.min())}..{int(t.max())}' for t in model.thresholds)}, "
              f"negated rows {extra['negated_rows']}; the golden inference model on the folded network gives "
              f"all {proof['classes_equal']} test classes and {proof['activations_equal']} hidden activations "
              f"of the trainer")
        print(f"test accuracy {percent(acc)}; model written to {args.output}")
    if args.json:
        with open(prepare_output(args.json), "w") as f:
            json.dump({"config": cfg.to_dict(), "history": tr.history, **extra}, f, indent=1)
    if args.plot:
        hist = [{"epoch": h["epoch"], "train_acc": h["train_acc_batches"], "test_acc": h["test_acc"]}
                for h in tr.history]
        plot_history(hist, prepare_output(args.plot), f"ste {args.dataset} {tuple(args.hidden)}")
    return 0
