"""`hwtrain build --board NAME --design MODEL|CONFIG|DESIGN [--config JSON]`: a bitstream with its report.

The designs with a board top level (the inference core and the online trainers) say so in
``hwtrain designs``; a model file or a configuration file names one of them by its contents.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    from .. import args as checked
    from ..boards.build import BOARDS
    from ..inference.config import STORES
    p = subparsers.add_parser(
        "build", help="bitstream for a board: an inference core behind the UART host link",
        description="Build a bitstream for a board, with its timing and resource report. "
                    "Refuses (no bitstream) when the design does not fit or misses the board clock. "
                    "Boards: " + ", ".join(f"{b.name} ({b.device}, {b.clock_hz / 1e6:g} MHz)"
                                           for b in BOARDS.values()))
    p.add_argument("--board", required=True, choices=sorted(BOARDS))
    p.add_argument("--design", required=True, metavar="MODEL.npz|CONFIG.json|DESIGN",
                   help="model file from `hwtrain train`, an inference or training configuration (JSON), "
                        "or a registry design that has a board top level (inference, trainer_cpr, "
                        "trainer_bep, trainer_cpr_folded, trainer_bep_folded; `hwtrain designs` lists "
                        "them) with --config")
    p.add_argument("--config", metavar="FILE.json|JSON",
                   help="the configuration of a registry --design, as a JSON file, @file or inline JSON")
    p.add_argument("--impl", help="per-layer implementations, comma separated "
                                  "(default for a model file: serial:1)")
    p.add_argument("--store", choices=STORES,
                   help="weight storage of serial/folded layers (default for a model file: bram)")
    p.add_argument("--logits", action="store_true", default=None,
                   help="also return the logits of every sample")
    p.add_argument("--baud", type=checked.positive, default=115200)
    p.add_argument("--clock-mhz", type=float, metavar="F",
                   help="run the design at F MHz from the board's PLL (ECP5 boards: the ULX3S); the UART "
                        "divisor and the timing check use it (default: the board clock, no PLL)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    p.add_argument("--router", choices=("router1", "router2"),
                   help="nextpnr router (default router1; router2 converges where router1 does not on "
                        "large designs, e.g. the 784-135-135 folded trainer)")
    p.add_argument("--timeout", type=checked.positive, default=3600, metavar="SECONDS",
                   help="give up on yosys + nextpnr after this long (default 3600; the 784-135-135 "
                        "folded trainer needs more on a busy 2-core machine)")
    p.add_argument("--out", type=checked.output_dir,
                   help="run folder of the build (default hwtrain-runs/boards/BOARD/<top>)")
    return p


def run(args) -> int:
    from ..args import read_config_text
    from ..boards.build import board_designs, build_board
    from ..boards.design import config_from_design
    from ..errors import HwtrainError
    from ..flows.designs import DESIGNS, config_for
    if args.clock_mhz is not None and not 0 < args.clock_mhz <= 1000:
        raise HwtrainError(f"--clock-mhz must be a frequency in MHz (above 0, at most 1000), got {args.clock_mhz:g}")
    name = args.design if args.design in DESIGNS else None
    if name:
        if name not in board_designs():
            raise HwtrainError(f"design {name} has no board top level; hwtrain build takes "
                               f"{', '.join(board_designs())}")
        if not args.config:
            raise HwtrainError(f"--design {name} needs --config (its configuration as JSON)")
        overrides = {k: v for k, v in (("impl", tuple(args.impl.split(",")) if args.impl else None),
                                        ("store", args.store), ("logits_out", args.logits)) if v is not None}
        if overrides and name != "inference":
            raise HwtrainError(f"--impl, --store and --logits apply to the inference design, not {name}")
        cfg = config_for(name, {**read_config_text(args.config), **overrides})
    elif args.config:
        raise HwtrainError(f"--config goes with a registry --design ({', '.join(board_designs())}); "
                           f"{args.design} is a file that holds its configuration")
    else:
        cfg = config_from_design(args.design, impl=args.impl, store=args.store, logits_out=args.logits)
    result = build_board(args.board, cfg, design_name=name, baud=args.baud, out_dir=args.out, seed=args.seed,
                         clock_mhz=args.clock_mhz, timeout=args.timeout, router=args.router)
    print(result.table())
    print(f"report: {Path(result.bitstream).parent / 'report_hwtrain.json'}")
    return 0
