"""`hwtrain board info|infer|counters --port PORT`: talk to a board over its UART."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("board", help="talk to a board built with `hwtrain build` (UART)")
    sub = p.add_subparsers(dest="board_command", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB1 or COM5")
    common.add_argument("--baud", type=int, default=115200)
    sub.add_parser("info", parents=[common], help="what the bitstream runs (PING)")
    sub.add_parser("counters", parents=[common], help="the board's frame and sample counters")
    q = sub.add_parser("infer", parents=[common], help="classify samples on the board")
    q.add_argument("--design", help="the model/config the bitstream was built from: checks the "
                                    "board runs it, and compares with the golden model")
    src = q.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="binarized test split of a dataset (e.g. digits)")
    src.add_argument("--inputs", type=Path, help=".npy of (S, K0) 0/1 samples")
    q.add_argument("--data-path")
    q.add_argument("--limit", type=int, help="first N samples only")
    return p


def run(args) -> int:
    import numpy as np

    from .host import open_board
    board = open_board(args.port, args.baud)
    if args.board_command == "info":
        s = board.info()
        print(f"inputs {s.input_bits} bits, {s.classes} classes, logits {s.logit_bits or 'no'}, "
              f"{s.max_samples} samples per request, clock {s.clock_hz / 1e6:g} MHz, "
              f"design 0x{s.design_id:08x}")
        return 0
    if args.board_command == "counters":
        for name, value in board.counters().items():
            print(f"{name:14s} {value}")
        return 0
    labels = None
    if args.dataset:
        from ..data.presets import binarized
        d = binarized(args.dataset, args.data_path)
        x, labels = d.x_test > 0, d.y_test
    else:
        x = np.load(args.inputs) > 0
    if args.limit:
        x = x[:args.limit]
        labels = None if labels is None else labels[:args.limit]
    golden = None
    if args.design:
        from ..golden.inference import InferenceCore
        from .design import config_from_design, design_id
        cfg = config_from_design(args.design)
        model = cfg.load_model()
        board.check_design(design_id(cfg, model))
        golden = InferenceCore(cfg, model)
    classes, _ = board.infer(x)
    print(f"{len(classes)} samples classified on the board")
    ok = True
    if golden is not None:
        differ = int(np.sum(classes != golden(x)[0]))
        ok = differ == 0
        print(f"golden model agreement: {len(classes) - differ}/{len(classes)}")
    if labels is not None:
        print(f"accuracy: {np.mean(classes == labels):.4f}")
    return 0 if ok else 1
