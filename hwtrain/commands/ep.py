"""``hwtrain ep train``: train the fully binarized EP golden model on binarized digits or MNIST.

    hwtrain ep train [--config JSON] [--epochs N] [--json result.json]
    hwtrain ep train --dataset mnist [--thesis-hidden N] [--n-train K] [--n-test K] [--config JSON]

The engine itself is a design of the registry: ``hwtrain generate|verify|synth ep``.

``--config`` is a JSON object of ``EpConfig`` fields (or @file.json); fields
left out keep the digits-engine defaults, or with ``--thesis-hidden N`` the
thesis's 784-N-(10x10) recipe in integers (``hwtrain.golden.ep.thesis_config``,
docs/semantics_ep.md). MNIST comes from the ``hwtrain data`` cache (``hwtrain
data fetch mnist``) or ``--data-path``; the first ``--n-train``/``--n-test``
images are used.
"""

from __future__ import annotations

import argparse
import json

from .. import args as checked
from ..errors import HwtrainError
from ..golden.ep import EpConfig


def _config(text: str, thesis_hidden: int | None = None) -> EpConfig:
    from ..args import read_config_text
    over = read_config_text(text)
    if thesis_hidden is None:
        return EpConfig.from_dict(over)
    from ..golden.ep import thesis_config
    if not isinstance(over, dict):
        return EpConfig.from_dict(over)     # explained in one line
    return EpConfig.from_dict({**thesis_config(thesis_hidden).to_dict(), **over})


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("ep", help="fully binarized Equilibrium Propagation with BOP",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="ep_command", required=True)
    t = sub.add_parser("train", help="train the golden model on binarized digits or MNIST")
    t.add_argument("--config", default="{}", help="EpConfig as a JSON file, @file or inline JSON")
    t.add_argument("--dataset", choices=("digits", "mnist"), default="digits")
    t.add_argument("--thesis-hidden", type=checked.integer(1), default=None,
                   help="start from the thesis's 784-N-100 configuration with N hidden neurons")
    t.add_argument("--n-train", type=checked.integer(1), default=10_000, help="MNIST training images used")
    t.add_argument("--n-test", type=checked.integer(1), default=2_000, help="MNIST test images used")
    t.add_argument("--data-path", default=None, help="MNIST files (default: the hwtrain data cache)")
    t.add_argument("--epochs", type=checked.positive, default=10)
    t.add_argument("--json", type=checked.output_file, default=None, help="write the curve as JSON here")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    thesis = getattr(args, "thesis_hidden", None)
    cfg = _config(args.config, thesis)
    if args.ep_command == "train":
        from ..golden.ep import EpEngine, FastEpEngine, digits_binary, mnist_binary
        if args.epochs < 1:
            raise HwtrainError(f"--epochs must be at least 1, got {args.epochs}")
        dataset = getattr(args, "dataset", "digits")
        if dataset == "mnist":
            xtr, ytr, xte, yte = mnist_binary(n_train=args.n_train, n_test=args.n_test, path=args.data_path)
            need = "mnist needs inputs=784 and classes=10"
        else:
            xtr, ytr, xte, yte = digits_binary()
            need = "digits need inputs=64 and classes=10"
        if cfg.inputs != xtr.shape[1] or cfg.classes != 10:
            raise HwtrainError(f"{need}, got inputs={cfg.inputs}, classes={cfg.classes}")
        # The same model bit for bit (tests/test_ep_options.py); the fast one for larger nets.
        small = cfg.batch == 1 and cfg.inputs * cfg.hidden <= 64 * 256
        e, curve = (EpEngine if small else FastEpEngine)(cfg), []
        for epoch in range(args.epochs):
            preds = e.train_epoch(xtr, ytr)
            curve.append({"epoch": epoch + 1, "train_acc_online": float((preds == ytr).mean()),
                          "test_acc": e.accuracy(xte, yte), "flips": e.flips})
            print(f"epoch {epoch + 1}: train (online) {checked.percent(curve[-1]['train_acc_online'])}, "
                  f"test {checked.percent(curve[-1]['test_acc'])}", flush=True)
        if args.json:
            checked.prepare_output(args.json).write_text(json.dumps(
                {"config": cfg.to_dict(), "dataset": dataset, "curve": curve}, indent=1))
        return 0
    raise HwtrainError(f"unknown ep command {args.ep_command!r}")
