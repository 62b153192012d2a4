"""8N1 UART receiver and transmitter with stream ports (golden twin of the line
format: :func:`hwtrain.protocol.board.uart_bits`).

A byte on the line is a start bit (0), eight data bits LSB first and a stop bit
(1), each ``divisor`` clock cycles long. The receiver samples each bit in its
middle, so it tolerates a clock mismatch of a few percent either way.
"""


from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from ..errors import require


def _check_divisor(divisor: int) -> None:
    require(isinstance(divisor, int) and divisor >= 4,
            f"UART divisor (clock cycles per bit) must be an integer >= 4, got {divisor!r}")


class UARTRx(wiring.Component):
    """Line ``rx`` in, received bytes out on stream ``o``.

    ``framing_error`` pulses for one cycle when a byte's stop bit is low (the byte
    is dropped; the receiver then waits for the line to return high, so a break
    counts once). ``overrun`` pulses when a byte completes while the previous one
    was not yet taken (the new byte is dropped). ``rx`` passes a two-flop
    synchronizer first: it may come straight from a pin.
    """

    rx: In(1, init=1)
    o: Out(stream.Signature(8))
    framing_error: Out(1)
    overrun: Out(1)

    def __init__(self, divisor: int):
        _check_divisor(divisor)
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, line, init=1)
        timer = Signal(range(self.divisor))
        bits = Signal(range(9))
        shreg = Signal(8)

        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        m.d.sync += [self.framing_error.eq(0), self.overrun.eq(0)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    # Wait half a bit: the next check is in the middle of the start bit.
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(line):
                        m.next = "IDLE"              # a glitch, not a start bit
                    with m.Else():
                        m.d.sync += [timer.eq(self.divisor - 1), bits.eq(0)]
                        m.next = "DATA"
            with m.State("DATA"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self.divisor - 1), bits.eq(bits + 1)]
                    with m.If(bits == 8):            # the stop bit
                        with m.If(line):
                            with m.If(self.o.valid & ~self.o.ready):
                                m.d.sync += self.overrun.eq(1)
                            with m.Else():
                                m.d.sync += [self.o.payload.eq(shreg), self.o.valid.eq(1)]
                            m.next = "IDLE"
                        with m.Else():
                            m.d.sync += self.framing_error.eq(1)
                            m.next = "BREAK"
                    with m.Else():
                        m.d.sync += shreg.eq(Cat(shreg[1:], line))
            with m.State("BREAK"):
                with m.If(line):
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    """Bytes in on stream ``i``, line ``tx`` out (idle high)."""

    i: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, divisor: int):
        _check_divisor(divisor)
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        frame = Signal(10, init=1)                   # stop, data[7:0], start; bit 0 on the line
        left = Signal(range(11))
        # Ready in the last cycle of the stop bit too: back-to-back bytes leave no gap.
        m.d.comb += [self.i.ready.eq((left == 0) | ((left == 1) & (timer == 0))),
                     self.tx.eq(frame[0])]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [frame.eq(Cat(0, self.i.payload, 1)), left.eq(10),
                         timer.eq(self.divisor - 1)]
        with m.Elif(left != 0):
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 0):
                m.d.sync += [frame.eq(Cat(frame[1:], 1)), left.eq(left - 1),
                             timer.eq(self.divisor - 1)]
        return m
