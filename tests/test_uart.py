"""UARTRx / UARTTx in Amaranth's simulator against the golden line format
(protocol.uart_bits): exact bit timing out, mid-bit sampling in, framing errors."""

import pytest
from amaranth.sim import Simulator

from hwtrain.protocol.board import uart_bits
from hwtrain.errors import HwtrainError
from hwtrain.hdl.uart import UARTRx, UARTTx

DATA = [0x00, 0xFF, 0xA5, 0x5A, 0x01, 0x80, 0x3C]


@pytest.mark.parametrize("divisor", [4, 7])
def test_tx_line_is_golden_bit_sequence(divisor):
    tx = UARTTx(divisor)
    line = []

    async def bench(ctx):
        for byte in DATA:                     # back to back: the stream is always offered
            ctx.set(tx.i.valid, 1)
            ctx.set(tx.i.payload, byte)
            await ctx.tick().until(tx.i.ready)
        ctx.set(tx.i.valid, 0)

    async def probe(ctx):
        async for _, _, level in ctx.tick().sample(tx.tx):
            line.append(level)

    sim = Simulator(tx)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_process(probe)
    sim.run_until(1e-6 * (len(DATA) * 10 * divisor + 20))
    want = [b for byte in DATA for b in uart_bits(byte) for _ in range(divisor)]
    start = line.index(0)
    assert line[start:start + len(want)] == want


def drive_rx(divisor, levels, *, take=True, bit_clocks=None):
    """Drive ``levels`` (one per bit) into a UARTRx; return (bytes, framing errors, overruns)."""
    rx = UARTRx(divisor)
    got, errors = [], {"framing": 0, "overrun": 0}
    bit_clocks = bit_clocks or divisor

    async def line(ctx):
        ctx.set(rx.rx, 1)
        await ctx.tick().repeat(5)
        for level in levels:
            ctx.set(rx.rx, level)
            await ctx.tick().repeat(bit_clocks)
        ctx.set(rx.rx, 1)

    async def sink(ctx):
        ctx.set(rx.o.ready, int(take))
        async for _, _, valid, payload, fe, ov in ctx.tick().sample(rx.o.valid, rx.o.payload,
                                                                    rx.framing_error, rx.overrun):
            if valid and take:
                got.append(payload)
            errors["framing"] += fe
            errors["overrun"] += ov

    sim = Simulator(rx)
    sim.add_clock(1e-6)
    sim.add_testbench(line)
    sim.add_process(sink)
    sim.run_until(1e-6 * (len(levels) * bit_clocks + 20 * divisor + 10))
    return got, errors


@pytest.mark.parametrize("divisor", [4, 5, 16])
def test_rx_decodes_golden_bits(divisor):
    got, errors = drive_rx(divisor, [b for byte in DATA for b in uart_bits(byte)])
    assert got == DATA and errors == {"framing": 0, "overrun": 0}


@pytest.mark.parametrize("sender_clocks", [31, 33])
def test_rx_tolerates_a_sender_3_percent_off(sender_clocks):
    # 32 clocks per bit in the receiver: sampled mid-bit, the stop bit is still inside its bit.
    got, _ = drive_rx(32, [b for byte in DATA for b in uart_bits(byte)], bit_clocks=sender_clocks)
    assert got == DATA


def test_rx_drops_a_byte_with_low_stop_bit_and_resumes():
    bad = uart_bits(0x55)[:-1] + [0, 0, 1, 1]        # stop bit low, then a short break
    got, errors = drive_rx(4, uart_bits(0x12) + bad + uart_bits(0x34))
    assert got == [0x12, 0x34] and errors["framing"] == 1


def test_rx_reports_overrun_when_nobody_takes_bytes():
    _, errors = drive_rx(4, [b for byte in DATA[:3] for b in uart_bits(byte)], take=False)
    assert errors["overrun"] == 2


def test_divisor_below_four_is_refused():
    from hwtrain.hdl.uart import _check_divisor      # what UARTRx/UARTTx call first
    with pytest.raises(HwtrainError, match="divisor"):
        _check_divisor(3)
