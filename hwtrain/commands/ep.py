"""``hwtrain ep ...``: train the fully binarized EP golden model, emit the EP engine.

    hwtrain ep train [--config JSON] [--epochs N] [--out result.json]
    hwtrain ep generate [--config JSON] [--probe] [--out-dir rtl_out]

``--config`` is a JSON object of ``EpConfig`` fields (or @file.json); fields
left out keep the digits-engine defaults.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

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
    t.add_argument("--out", type=checked.output_file, default=None, help="write the curve as JSON here")
    g = sub.add_parser("generate", help="emit the EpEngine Verilog and its manifest")
    g.add_argument("--config", default="{}", help="EpConfig as a JSON file, @file or inline JSON")
    g.add_argument("--probe", action="store_true", help="add the state read-back port (benches)")
    g.add_argument("--out-dir", type=checked.output_dir, default=Path("rtl_out"))
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
            print(f"epoch {epoch + 1}: train (online) {curve[-1]['train_acc_online']:.3f} "
                  f"test {curve[-1]['test_acc']:.3f}")
        if args.out:
            checked.prepare_output(args.out).write_text(json.dumps({"config": cfg.to_dict(), "curve": curve}, indent=1))
        return 0
    from ..flows.emit import manifest, to_verilog, write_rtl
    from ..hdl.ep import EpEngine, top_name
    top = top_name(cfg, probe=args.probe)
    text = to_verilog(EpEngine(cfg, probe=args.probe), top)
    path = write_rtl(args.out_dir, top, text, manifest("EpEngine", top, cfg.to_dict(), text, design="ep"))
    print(path)
    return 0
