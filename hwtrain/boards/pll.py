"""ECP5 PLL (EHXPLLL): the divider search and the clock domain it drives on a board.

The search is Project Trellis' ``ecppll`` (libtrellis/tools/ecppll.cpp, "simple" mode,
feedback from CLKOP): f_pfd = f_in / CLKI_DIV in 3.125..400 MHz, f_vco = f_pfd * CLKFB_DIV *
CLKOP_DIV in 400..800 MHz, f_out = f_in * CLKFB_DIV / CLKI_DIV (10..400 MHz); the smallest
error wins, ties go to the VCO nearest 600 MHz. CLKOP_CPHASE puts CLKOP 180 degrees out
(``(CLKOP_DIV - 1) // 2``, what ecppll writes), and the loop-filter attributes are ecppll's.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Instance, Module, Signal
from amaranth.lib import io

from ..errors import require

PFD_MHZ = (3.125, 400.0)
VCO_MHZ = (400.0, 800.0)
OUT_MHZ = (10.0, 400.0)
IN_MHZ = (8.0, 400.0)
CLKI_DIVS, CLKFB_DIVS, CLKOP_DIVS = range(1, 129), range(1, 81), range(1, 129)
TOLERANCE = 0.005                      # a PLL clock more than 0.5 % off the request is refused


@dataclass(frozen=True)
class PllParams:
    clkin_hz: int
    clki_div: int
    clkfb_div: int
    clkop_div: int

    @property
    def clkout(self) -> Fraction:
        return Fraction(self.clkin_hz * self.clkfb_div, self.clki_div)

    @property
    def clkout_hz(self) -> int:
        return round(self.clkout)

    @property
    def vco_hz(self) -> Fraction:
        return self.clkout * self.clkop_div

    @property
    def clkop_cphase(self) -> int:
        return (self.clkop_div - 1) // 2

    def describe(self) -> str:
        return (f"EHXPLLL {self.clkin_hz / 1e6:g} MHz / {self.clki_div} x {self.clkfb_div} = "
                f"{float(self.clkout) / 1e6:.4f} MHz (VCO {float(self.vco_hz) / 1e6:.1f} MHz, "
                f"CLKOP_DIV {self.clkop_div})")


def ecp5_pll(clkin_hz: int, want_hz: float, tolerance: float = TOLERANCE) -> PllParams:
    """Dividers for ``want_hz`` from ``clkin_hz``; refuses, with the numbers, a frequency outside
    the PLL's output range or one it can make only more than ``tolerance`` (relative) off."""
    fin = clkin_hz / 1e6
    want = want_hz / 1e6
    require(IN_MHZ[0] <= fin <= IN_MHZ[1], f"the ECP5 PLL takes an input clock of {IN_MHZ[0]:g}-{IN_MHZ[1]:g} "
                                           f"MHz, not {fin:g} MHz")
    require(OUT_MHZ[0] <= want <= OUT_MHZ[1], f"the ECP5 PLL makes {OUT_MHZ[0]:g}-{OUT_MHZ[1]:g} MHz; "
                                              f"{want:g} MHz was asked for")
    best, key = None, None
    for ref in CLKI_DIVS:
        pfd = fin / ref
        if not PFD_MHZ[0] <= pfd <= PFD_MHZ[1]:
            continue
        for fb in CLKFB_DIVS:
            out = pfd * fb
            if not OUT_MHZ[0] <= out <= OUT_MHZ[1]:
                continue
            for od in CLKOP_DIVS:
                vco = out * od
                if vco > VCO_MHZ[1]:
                    break
                if vco < VCO_MHZ[0]:
                    continue
                k = (abs(out - want), abs(vco - 600))
                if key is None or k < key:
                    best, key = PllParams(int(clkin_hz), ref, fb, od), k
    require(best is not None, f"no EHXPLLL setting makes {want:g} MHz from {fin:g} MHz")
    got = float(best.clkout) / 1e6
    err = abs(got - want) / want
    require(err <= tolerance, f"the ECP5 PLL cannot make {want:g} MHz from {fin:g} MHz within "
                              f"{100 * tolerance:g} %: nearest {got:.4f} MHz ({100 * err:.2f} % off; "
                              f"f_in / {best.clki_div} x {best.clkfb_div}); pick another --clock-mhz")
    return best


class PllDomain(Elaboratable):
    """Drives the clock of the ``sync`` domain (defined by the parent, reset-less:
    ``PllDomain.domain()``) from an EHXPLLL on the platform's default clock.

    Like Amaranth's own ECP5 default domain, ``sync`` is reset-less and the global set/reset
    (SGSR) holds every flip-flop at its initial value, here until the PLL reports lock
    (two synchronising flip-flops in the PLL clock, then SGSR)."""

    def __init__(self, params: PllParams):
        self.params = params
        self.locked = Signal()

    @staticmethod
    def domain() -> ClockDomain:
        return ClockDomain("sync", reset_less=True)

    def elaborate(self, platform):
        p = self.params
        m = Module()
        clk_io = platform.request(platform.default_clk, dir="-")
        m.submodules.clk_buf = buf = io.Buffer("i", clk_io)
        clk = Signal()
        m.d.comb += ClockSignal("sync").eq(clk)
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{p.clkin_hz / 1e6:g}", a_FREQUENCY_PIN_CLKOP=f"{float(p.clkout) / 1e6:.4f}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
            p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
            p_CLKI_DIV=p.clki_div, p_CLKFB_DIV=p.clkfb_div, p_CLKOP_ENABLE="ENABLED",
            p_CLKOP_DIV=p.clkop_div, p_CLKOP_CPHASE=p.clkop_cphase, p_CLKOP_FPHASE=0,
            p_FEEDBK_PATH="CLKOP",
            i_CLKI=buf.i, i_CLKFB=clk, i_RST=0, i_STDBY=0, i_PHASESEL0=0, i_PHASESEL1=0,
            i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0,
            o_CLKOP=clk, o_LOCK=self.locked)
        gsr0, gsr1 = Signal(), Signal()
        m.submodules += [
            Instance("FD1S3AX", p_GSR="DISABLED", i_CK=clk, i_D=self.locked, o_Q=gsr0),
            Instance("FD1S3AX", p_GSR="DISABLED", i_CK=clk, i_D=gsr0, o_Q=gsr1),
            Instance("SGSR", i_CLK=clk, i_GSR=gsr1),
        ]
        return m


def fastest_below(clkin_hz: int, limit_hz: float) -> float | None:
    """The highest PLL output frequency (Hz) at or below ``limit_hz`` (None if none): the
    ``--clock-mhz`` to try after a build misses its PLL clock."""
    fin = clkin_hz / 1e6
    best = None
    for ref in CLKI_DIVS:
        pfd = fin / ref
        if not PFD_MHZ[0] <= pfd <= PFD_MHZ[1]:
            continue
        for fb in CLKFB_DIVS:
            out = pfd * fb
            if out * 1e6 > limit_hz or not OUT_MHZ[0] <= out <= OUT_MHZ[1]:
                continue
            if any(VCO_MHZ[0] <= out * od <= VCO_MHZ[1] for od in CLKOP_DIVS) and (best is None or out > best):
                best = out
    return None if best is None else best * 1e6
