"""Every failing endpoint of a routed design, not only the worst one nextpnr prints.

nextpnr reports one critical path per clock. A design that misses its clock by 30 % has
thousands of failing endpoints, and fixing them one place-and-route run at a time is slow.
With ``--detailed-timing-report`` nextpnr's JSON report lists, for every timed endpoint
(a register input), the net that drives it and the path's arrival time there (min, max;
nextpnr's ``detailed_net_timings``). :func:`summary` groups the late endpoints by the signal
they capture and by the cell that drives them, so one run shows every signal to re-time.

The report does not say which clock launched each arrival: paths that start at an input pin
(the scan harness's reset, ``<async>`` for nextpnr, not part of its Fmax) are left out where the
pin drives the endpoint itself; where the reset passes through logic first (a flip-flop's
``LSR`` from ``rst | clear``), its arrival can stand beside the clocked one.

:func:`lut_levels` asks the same question of the mapped netlist before place and route: how many
LUT levels stand in front of each flip-flop input (benchmarks/lut_levels.py).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# yosys names a flip-flop cell <signal>_TRELLIS_FF_Q[_<bit>] (ECP5) or <signal>_SB_DFF*[_<bit>] (iCE40),
# LUT-RAM cells <memory>$DPRAM_COMB<n>, block-RAM cells <memory>.<row>.<column>
_PIN = re.compile(r"\$tr_io$|\$sb_io$")     # an input pad cell (ECP5 TRELLIS_IO, iCE40 SB_IO)
_CELL_SUFFIX = re.compile(r"(_TRELLIS_FF_Q|_SB_DFF\w*_Q)(_\d+)?$|\$DPRAM_COMB\d+$|\$RAMW_SLICE$")


@dataclass(frozen=True)
class Endpoint:
    cell: str           # the capturing cell
    port: str
    driver: str         # the cell driving the endpoint's net (the path's last logic cell)
    driver_port: str
    arrival: float      # ns after the launching clock edge, the worst over the paths that end here


def signal_name(cell: str) -> str:
    """The signal (register, memory) a cell belongs to, from the names yosys gives mapped cells."""
    return _CELL_SUFFIX.sub("", cell)


def endpoints(report: dict) -> list[Endpoint]:
    """Every timed endpoint of a nextpnr JSON report, latest first."""
    nets = report.get("detailed_net_timings")
    if nets is None:
        raise ValueError("the nextpnr report has no detailed_net_timings (nextpnr needs --detailed-timing-report)")
    ends = [Endpoint(e["cell"], e["port"], net["driver"], net["port"], float(e["delay"][1]))
            for net in nets if not _PIN.search(net["driver"]) for e in net["endpoints"]]
    return sorted(ends, key=lambda e: -e.arrival)


def summary(ends: list[Endpoint], period_ns: float, top: int = 20) -> str:
    """The endpoints later than ``period_ns``, grouped by captured signal and by driving cell."""
    late = [e for e in ends if e.arrival > period_ns]
    if not ends:
        return "no timed endpoints"
    lines = [f"{len(late)} of {len(ends)} endpoints arrive after {period_ns:.2f} ns "
             f"(worst {ends[0].arrival:.2f} ns = {1e3 / ends[0].arrival:.2f} MHz)"]
    for title, key in (("captured signal", lambda e: signal_name(e.cell)),
                       ("driving cell's signal", lambda e: signal_name(e.driver))):
        count, worst = Counter(key(e) for e in late), {}
        for e in late:
            worst.setdefault(key(e), e.arrival)
        lines.append(f"late endpoints by {title} (count, worst ns):")
        lines += [f"  {n:6d}  {worst[s]:6.2f}  {s}" for s, n in count.most_common(top)]
    lines.append("latest endpoint of each captured signal:")
    seen = set()
    for e in late:
        if signal_name(e.cell) in seen:
            continue
        seen.add(signal_name(e.cell))
        lines.append(f"  {e.arrival:6.2f}  {e.cell}.{e.port} <- {e.driver}.{e.driver_port}")
        if len(seen) >= top:
            break
    return "\n".join(lines)


def report_file(path: Path, period_ns: float, top: int = 20) -> str:
    """:func:`summary` of a nextpnr JSON report file."""
    return summary(endpoints(json.loads(Path(path).read_text())), period_ns, top)


# Cells a path passes through between registers in a mapped ECP5 netlist; PFUMX / L6MUX21 (the wide-LUT
# multiplexers of a slice) and a carry chain's CIN -> COUT add no LUT level of their own.
_COMB = {"LUT4", "PFUMX", "L6MUX21", "CCU2C"}
_NO_LEVEL = {"PFUMX", "L6MUX21"}


def lut_levels(netlist: dict, top: str = "top") -> list[tuple[int, str, str, str]]:
    """LUT levels in front of every flip-flop input of a mapped ECP5 netlist (yosys JSON, flattened):
    ``(levels, port, captured signal, signal the deepest path starts at)``, deepest first. No placement is
    needed, so it shows what a netlist change did to its logic depth where place-and-route runs vary from
    seed to seed, and it works on a netlist that does not route."""
    mod = netlist["modules"].get(top)
    if mod is None:
        raise ValueError(f"the netlist has no module {top!r}")
    cells = mod["cells"]
    names = {}
    for n, v in mod["netnames"].items():
        for b in v["bits"]:
            if isinstance(b, int) and (b not in names or len(n) < len(names[b])):
                names[b] = n
    driver = {b: name for name, c in cells.items() for p, bits in c["connections"].items()
              if c["port_directions"].get(p) == "output" for b in bits if isinstance(b, int)}
    ends = [(n, p, b) for n, c in cells.items() if c["type"] == "TRELLIS_FF"
            for p in ("DI", "CE", "LSR", "M") for b in c["connections"].get(p, []) if isinstance(b, int)]
    depth = {}              # bit -> (levels, start bit)
    for _, _, root in ends:
        stack, open_ = [root], {root}     # depth-first without recursion (logic cones run deep)
        while stack:
            bit = stack[-1]
            if bit in depth:
                open_.discard(stack.pop())
                continue
            cell = cells.get(driver.get(bit))
            if cell is None or cell["type"] not in _COMB:
                depth[bit] = (0, bit)
                open_.discard(stack.pop())
                continue
            ins = [(p, b) for p, bits in cell["connections"].items()
                   if cell["port_directions"].get(p) == "input" for b in bits if isinstance(b, int)]
            todo = [b for _, b in ins if b not in depth and b not in open_]
            if todo:
                stack += todo
                open_.update(todo)
                continue
            best = (0, bit)
            for p, b in ins:
                lv, start = depth.get(b, (0, b))     # (a combinational loop counts from where it closes)
                lv += not (cell["type"] in _NO_LEVEL or p == "CIN")
                best = max(best, (lv, start), key=lambda x: x[0])
            depth[bit] = best
            open_.discard(stack.pop())
    rows = [(depth[b][0], p, signal_name(names.get(cells[n]["connections"]["Q"][0], n)), names.get(depth[b][1], "?"))
            for n, p, b in ends]
    return sorted(rows, key=lambda r: -r[0])


def levels_summary(rows: list[tuple[int, str, str, str]], top: int = 30) -> str:
    """A histogram of :func:`lut_levels` and its deepest endpoints, one line per (levels, port, signal, start)."""
    hist = Counter(r[0] for r in rows)
    lines = ["flip-flop inputs by LUT levels in front: " + ", ".join(f"{lv}: {hist[lv]}" for lv in sorted(hist)),
             "deepest (levels, port, captured signal <- start):"]
    lines += [f"  {r[0]:3d}  {r[1]:3s}  {r[2]} <- {r[3]}" for r in list(dict.fromkeys(rows))[:top]]
    return "\n".join(lines)
