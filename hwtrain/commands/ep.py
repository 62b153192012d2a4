"""``hwtrain ep train``: train the fully binarized EP golden model on binarized digits.

    hwtrain ep train [--config JSON] [--epochs N] [--json result.json]

The engine itself is a design of the registry: ``hwtrain generate|verify|synth ep``.

``--config`` is a JSON object of ``EpConfig`` fields (or @file.json); fields
left out keep the digits-engine defaults.
"""

from __future__ import annotations

import argparse
import json

from .. import args as checked
from ..errors import HwtrainError
from ..golden.ep import EpConfig


def _config(text: str) -> EpConfig:
    from ..args import read_config_text
    return EpConfig.from_dict(read_config_text(text))


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("ep", help="fully binarized Equilibrium Propagation with BOP",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="ep_command", required=True)
    t = sub.add_parser("train", help="train the golden model online on binarized digits")
    t.add_argument("--config", default="{}", help="EpConfig as a JSON file, @file or inline JSON")
    t.add_argument("--epochs", type=checked.positive, default=10)
    t.add_argument("--json", type=checked.output_file, default=None, help="write the curve as JSON here")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    cfg = _config(args.config)
    if args.ep_command == "train":
        from ..golden.ep import EpEngine, digits_binary
        if args.epochs < 1:
            raise HwtrainError(f"--epochs must be at least 1, got {args.epochs}")
        xtr, ytr, xte, yte = digits_binary()
        if cfg.inputs != xtr.shape[1] or cfg.classes != 10:
            raise HwtrainError(f"digits need inputs=64 and classes=10, got inputs={cfg.inputs}, "
                               f"classes={cfg.classes}")
        e, curve = EpEngine(cfg), []
        for epoch in range(args.epochs):
            preds = e.train_epoch(xtr, ytr)
            curve.append({"epoch": epoch + 1, "train_acc_online": float((preds == ytr).mean()),
                          "test_acc": e.accuracy(xte, yte), "flips": e.flips})
            print(f"epoch {epoch + 1}: train (online) {checked.percent(curve[-1]['train_acc_online'])}, "
                  f"test {checked.percent(curve[-1]['test_acc'])}", flush=True)
        if args.json:
            checked.prepare_output(args.json).write_text(json.dumps({"config": cfg.to_dict(), "curve": curve}, indent=1))
        return 0
    raise HwtrainError(f"unknown ep command {args.ep_command!r}")
