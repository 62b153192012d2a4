"""`hwtrain build --board NAME --design MODEL|CONFIG`: a bitstream with its report."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    from .. import args as checked
    from ..boards.build import BOARDS
    p = subparsers.add_parser(
        "build", help="bitstream for a board: an inference core behind the UART host link",
        description="Build a bitstream for a board, with its timing and resource report. "
                    "Refuses (no bitstream) when the design does not fit or misses the board clock. "
                    "Boards: " + ", ".join(f"{b.name} ({b.device}, {b.clock_hz / 1e6:g} MHz)"
                                           for b in BOARDS.values()))
    p.add_argument("--board", required=True, choices=sorted(BOARDS))
    p.add_argument("--design", required=True, metavar="MODEL.npz|CONFIG.json",
                   help="model file from `hwtrain train`, or an inference configuration (JSON)")
    p.add_argument("--impl", help="per-layer implementations, comma separated "
                                  "(default for a model file: serial:1)")
    p.add_argument("--store", choices=["auto", "registers", "rom", "bram"],
                   help="weight storage of serial/folded layers (default for a model file: bram)")
    p.add_argument("--logits", action="store_true", default=None,
                   help="also return the logits of every sample")
    p.add_argument("--baud", type=checked.positive, default=115200)
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    p.add_argument("--out", type=checked.output_dir, help="build folder (default build/boards/BOARD/DESIGN)")
    return p


def run(args) -> int:
    from ..boards.build import build_board
    from ..boards.design import config_from_design
    cfg = config_from_design(args.design, impl=args.impl, store=args.store, logits_out=args.logits)
    result = build_board(args.board, cfg, baud=args.baud, out_dir=args.out, seed=args.seed)
    print(result.table())
    print(f"report: {Path(result.bitstream).parent / 'report_hwtrain.json'}")
    return 0
