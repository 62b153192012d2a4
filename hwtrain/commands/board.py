"""`hwtrain board info|infer|counters --port PORT`: talk to a board over its UART."""

from __future__ import annotations

import argparse

from .. import args as checked


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("board", help="talk to a board built with `hwtrain build` (UART)")
    sub = p.add_subparsers(dest="board_command", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB1 or COM5")
    common.add_argument("--baud", type=checked.positive, default=115200)
    sub.add_parser("info", parents=[common], help="what the bitstream runs (PING)")
    sub.add_parser("counters", parents=[common], help="the board's frame and sample counters")
    q = sub.add_parser("infer", parents=[common], help="classify samples on the board")
    q.add_argument("--design", help="the model/config the bitstream was built from: checks the "
                                    "board runs it, and compares with the golden model")
    src = q.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="binarized test split of a dataset (e.g. digits)")
    src.add_argument("--inputs", type=checked.input_file, help=".npy of (S, K0) 0/1 samples")
    q.add_argument("--data-path")
    q.add_argument("--limit", type=checked.positive, help="first N samples only")
    t = sub.add_parser("train", parents=[common], help="train on a trainer board (on-chip training)")
    t.add_argument("--design", required=True, help="the training configuration (JSON) the bitstream "
                                                   "was built from (with pe/simd: the folded trainer)")
    t.add_argument("--dataset", default="digits")
    t.add_argument("--data-path")
    t.add_argument("--epochs", type=checked.positive, default=1)
    t.add_argument("--limit", type=checked.positive, help="first N training samples only")
    t.add_argument("--no-golden", action="store_true",
                   help="skip training the golden twin beside the board")
    return p


async def _train(host, x, y, epochs, golden):
    """Epochs on the board through ``host`` (the first trainer's TrainerHost or the folded
    trainer's FoldedTrainerOverUart), the golden trainer beside it."""
    import numpy as np

    agree = True
    for epoch in range(epochs):
        run = await host.train_epoch(x, y)
        line = f"epoch {epoch + 1}: online training error {run['train_error']:.4f}"
        if golden is not None:
            want = [golden.train_sample(x[i], int(y[i])) for i in golden.order(len(y))]
            same = sum(int(a == b) for a, b in zip(run["preds"], want))
            agree &= same == len(want)
            golden.end_epoch(run["train_error"])
            line += f", predictions equal to the golden trainer: {same}/{len(want)}"
        await host.end_epoch(run["train_error"])
        print(line)
    H = await host.read_weights()
    if golden is not None:
        same = all(np.array_equal(a, b) for a, b in zip(H, golden.H))
        agree &= same
        print(f"hidden weights equal to the golden trainer: {'yes' if same else 'NO'}")
    print(f"trainer counters: {await host.counters()}")
    return agree


def run(args) -> int:
    import numpy as np

    from ..boards.host import open_board
    board = open_board(args.port, args.baud)
    if args.board_command == "info":
        s = board.info()
        from ..protocol import board as P
        if s.engine == P.ENGINE_WORDS:
            print(f"folded trainer (32-bit word stream, WORDS), {s.classes} classes, "
                  f"{s.max_payload}-byte requests, clock {s.clock_hz / 1e6:g} MHz, design 0x{s.design_id:08x}")
            return 0
        print(f"inputs {s.input_bits} bits, {s.classes} classes, logits {s.logit_bits or 'no'}, "
              f"{s.max_samples} samples per request, clock {s.clock_hz / 1e6:g} MHz, "
              f"design 0x{s.design_id:08x}")
        return 0
    if args.board_command == "counters":
        for name, value in board.counters().items():
            print(f"{name:14s} {value}")
        return 0
    if args.board_command == "train":
        import asyncio

        from ..data.presets import binarized
        from ..boards.design import config_from_design, folded_spec, trainer_spec
        from ..boards.host import FoldedTrainerOverUart, TrainerOverUart
        from ..errors import HwtrainError
        from ..golden.train.config import TrainConfig
        from ..golden.trainer_folded import FoldedTrainConfig
        cfg = config_from_design(args.design)
        if not isinstance(cfg, TrainConfig):
            raise HwtrainError(f"--design {args.design} is not a training configuration (JSON with "
                               f"'algorithm'; with 'pe' and 'simd' for the folded trainer)")
        folded = isinstance(cfg, FoldedTrainConfig)
        spec = board.info()
        want = (folded_spec if folded else trainer_spec)(cfg, clock_hz=spec.clock_hz, divisor=1)
        board.check_design(want.design_id)
        if folded:
            from ..golden.trainer_folded import FoldedGolden as Golden
            host = FoldedTrainerOverUart(cfg, board.client)
        else:
            from ..golden.trainer import OnlineTrainer as Golden
            from ..trainer_host import TrainerHost
            host = TrainerHost(cfg, TrainerOverUart(board.client))
        d = binarized(args.dataset, args.data_path)
        keep = d.y_train < cfg.classes
        x, y = d.x_train[keep], d.y_train[keep]
        if args.limit:
            x, y = x[:args.limit], y[:args.limit]
        golden = None if args.no_golden else Golden(cfg)
        return 0 if asyncio.run(_train(host, x, y, args.epochs, golden)) else 1
    labels = None
    if args.dataset:
        from ..data.presets import binarized
        d = binarized(args.dataset, args.data_path)
        x, labels = d.x_test > 0, d.y_test
    else:
        from ..npzfile import read_array
        x = read_array(args.inputs, "a .npy of (samples, inputs) 0/1 samples") > 0
    if args.limit:
        x = x[:args.limit]
        labels = None if labels is None else labels[:args.limit]
    golden = None
    if args.design:
        from ..golden.inference import InferenceCore
        from ..boards.design import config_from_design, design_id
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
        print(f"accuracy: {checked.percent(float(np.mean(classes == labels)))}")
    return 0 if ok else 1
