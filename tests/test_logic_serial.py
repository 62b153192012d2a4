"""Amaranth simulation of hwtrain.hdl.logic_serial (feature-serial input) against the golden model."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwtrain.errors import HwtrainError
from hwtrain.golden.logic import LogicNetwork as Golden
from hwtrain.hdl.logic import LogicNetwork, class_width, count_width
from hwtrain.hdl.logic_serial import SerialEncoder, SerialLogicNetwork
from hwtrain.logic.netlist import Thermometer, random_netlist
from hwtrain.logic.prune import prune

#: 6 features, 3 levels, 4-bit features; repeated thresholds share a comparison
ENC = Thermometer(np.array([[0, 3, 9], [5, 6, 7], [1, 2, 14], [15, 15, 15], [8, 0, 4], [3, 9, 3]]), 4)


def beats_of(row, per_beat: int, feature_bits: int) -> list[int]:
    """The beats of one sample: features in index order, ``per_beat`` to a beat."""
    return [sum(int(v) << (j * feature_bits) for j, v in enumerate(row[b:b + per_beat]))
            for b in range(0, len(row), per_beat)]


def simulate(dut, X, *, p_in=0.3, p_out=0.3, seed=1, order=None):
    """Stream every sample's beats through ``dut`` with random stalls on both sides; returns
    [(class, counts)] and the cycle of every output. ``order`` permutes the beats of a sample
    (the negative control). A design that loses or withholds outputs stops at a cycle limit
    with fewer outputs than samples."""
    nl, fb = dut.netlist, dut.netlist.encoder.feature_bits
    rng = np.random.default_rng(seed)
    in_gaps = rng.random(4096) < p_in
    out_stalls = rng.random(4096) < p_out
    iw, cw = class_width(nl.classes), count_width(nl.group_size)
    got, cycles, clock = [], [], [0]
    limit = 20 * len(X) * (dut.latency + 1) + 200

    async def producer(ctx):
        k = 0
        for row in X:
            beats = beats_of(row, dut.per_beat, fb)
            for b in (order or range(len(beats))):
                while in_gaps[k % len(in_gaps)]:
                    k += 1
                    await ctx.tick()
                k += 1
                ctx.set(dut.i.payload.as_value(), beats[b])
                ctx.set(dut.i.valid, 1)
                while not (await ctx.tick().sample(dut.i.ready))[2]:
                    if clock[0] >= limit:
                        return
                ctx.set(dut.i.valid, 0)

    async def consumer(ctx):
        k = t = 0
        while len(got) < len(X) and t < limit:
            ready = not out_stalls[k % len(out_stalls)]
            k += 1
            ctx.set(dut.o.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload.as_value())
            t += 1
            clock[0] = t
            if valid and ready:
                v = int(payload)
                got.append((v & ((1 << iw) - 1),
                            [(v >> (iw + c * cw)) & ((1 << cw) - 1) for c in range(nl.classes)]))
                cycles.append(t)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    return got, cycles


def check(nl, X, per_beat, *, p_in=0.3, p_out=0.3, seed=1, **hw):
    dut = SerialLogicNetwork(LogicNetwork(nl, raw=False, **hw), per_beat)
    counts = Golden(nl).counts(X)
    got, cycles = simulate(dut, X, p_in=p_in, p_out=p_out, seed=seed)
    assert [g[0] for g in got] == Golden(nl).argmax(counts).tolist()
    assert [g[1] for g in got] == counts.tolist()
    return dut, cycles


def _net(seed=11, classes=7):
    return prune(random_netlist(ENC.bits, [25, 17, 13, 21], classes, seed=seed, skip=True, encoder=ENC))


def _samples(n=40, seed=2):
    X = np.random.default_rng(seed).integers(0, 16, (n, ENC.features))
    X[0], X[1] = 15, 0
    return X


@pytest.mark.parametrize("per_beat", [1, 2, 3, 6])
@pytest.mark.parametrize("hw", [dict(register_every=0),
                                dict(register_every="lut4", head="pipelined", flow="credit"),
                                dict(register_every=1, head="pipelined", flow="credit", fifo="lutram")])
def test_bit_exact_with_random_stalls(per_beat, hw):
    nl, X = _net(), _samples()
    check(nl, X, per_beat, **hw)
    if hw.get("flow") == "credit":      # a finished sample waiting, and long gaps between beats
        check(nl, X, per_beat, p_in=0.05, p_out=0.9, seed=3, **hw)
        check(nl, X, per_beat, p_in=0.8, p_out=0.05, seed=4, **hw)


@pytest.mark.parametrize("per_beat", [1, 2, 6])
@pytest.mark.parametrize("hw", [dict(register_every=0),
                                dict(register_every="lut4", head="pipelined", flow="credit")])
def test_latency_and_period_at_full_rate(per_beat, hw):
    nl, X = _net(), _samples(12)
    dut, cycles = check(nl, X, per_beat, p_in=0.0, p_out=0.0, **hw)
    beats = ENC.features // per_beat
    assert dut.period == beats + 3
    assert dut.latency == beats + 2 + dut.core.latency
    # the consumer counts edges: the first beat goes in at edge 1 (the end of cycle 0) and
    # output k is valid in cycle latency + k * period, so it goes out at the edge after it
    assert cycles == [dut.latency + k * dut.period + 1 for k in range(len(X))]


def test_negative_control_beats_out_of_order():
    nl, X = _net(), _samples()
    dut = SerialLogicNetwork(LogicNetwork(nl, raw=False), 1)
    counts = Golden(nl).counts(X)
    got, _ = simulate(dut, X, order=[1, 0, 2, 3, 4, 5])     # features 0 and 1 swapped
    assert [g[1] for g in got] != counts.tolist()


def test_only_the_bits_the_network_reads_are_captured():
    nl = _net(seed=3)
    enc = SerialEncoder(nl, 2)
    read = int((nl.last_use()[:nl.inputs] >= 0).sum())
    assert 0 < read < nl.inputs
    from amaranth.back import rtlil
    text = rtlil.convert(enc)
    widths = [int(line.split()[2]) for line in text.splitlines()
              if line.strip().startswith("wire width") and line.split()[-1] in ("\\cap", "$cap")]
    assert widths == [read]


def test_bad_arguments():
    nl = _net()
    with pytest.raises(HwtrainError, match="positive divisor of the netlist's 6 features"):
        SerialEncoder(nl, 4)
    with pytest.raises(HwtrainError, match="positive divisor"):
        SerialEncoder(nl, 0)
    with pytest.raises(HwtrainError, match="register_encoder"):
        SerialLogicNetwork(LogicNetwork(nl, raw=False, register_encoder=True))
    with pytest.raises(HwtrainError, match="raw=False"):
        SerialLogicNetwork(LogicNetwork(nl, raw=True))
    bare = random_netlist(6, [8, 4], 2, seed=1)
    with pytest.raises(HwtrainError, match="thermometer encoder"):
        SerialEncoder(bare)
