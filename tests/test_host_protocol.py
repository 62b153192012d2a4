"""The protocol engine (HostLink + a small inference core) in Amaranth's simulator,
byte for byte against its golden model (protocol.BoardModel), including malformed
frames, garbage between frames and timeouts; plus the framing functions themselves."""

import random

import pytest
from amaranth.sim import Simulator

from hwtrain.protocol import board as P
from hwtrain.boards.design import golden_engine, inference_spec
from hwtrain.boards.top import HostLink
from hwtrain.hdl.inference import InferenceCore
from hwtrain.inference import InferenceConfig

TIMEOUT = 200


def test_crc8_is_crc8_smbus():
    assert P.crc8(b"123456789") == 0xF4          # the catalogued check value of CRC-8/SMBUS
    assert P.crc8(b"") == 0


def test_reply_decoder_hunts_sync_and_flags_bad_crc():
    good = P.encode_frame(P.PING | P.REPLY, b"\x01\x02")
    bad = bytearray(P.encode_frame(P.INFER | P.REPLY, b"\x07"))
    bad[-1] ^= 1
    d = P.ReplyDecoder()
    frames = d.feed(b"\x00\x13" + good[:3]) + d.feed(good[3:] + bytes(bad))
    assert frames == [(P.PING | P.REPLY, b"\x01\x02", True), (P.INFER | P.REPLY, b"\x07", False)]
    assert d.dropped == 2


def test_model_rejects_malformed_frames():
    spec = P.BoardSpec(input_bits=12, classes=3, max_payload=8, timeout_clocks=TIMEOUT, divisor=4)
    model = P.BoardModel(spec, lambda payload: bytes(len(payload) // 2))
    err = lambda code, cmd: P.encode_frame(P.ERROR, bytes([code, cmd]))
    assert model.feed(P.encode_frame(P.INFER, bytes(3))) == err(P.E_LENGTH, P.INFER)
    assert model.feed(P.encode_frame(P.INFER, bytes(9))[:4]) == err(P.E_LENGTH, P.INFER)
    assert model.feed(P.encode_frame(0x42)) == err(P.E_UNKNOWN, 0x42)
    assert model.feed(P.encode_frame(P.LOAD_WEIGHTS)) == err(P.E_UNSUPPORTED, P.LOAD_WEIGHTS)
    assert model.feed(P.encode_frame(P.INFER, bytes(4))) == P.encode_frame(P.INFER | P.REPLY, bytes(2))
    assert model.feed(P.encode_frame(P.PING)[:3]) == b"" and model.timeout() == err(P.E_TIMEOUT, P.PING)
    assert model.counters["frame_errors"] == 4 and model.counters["timeouts"] == 1


def small_link(logits_out=True, max_payload=64):
    cfg = InferenceConfig(sizes=(12, 8), classes=3, impl=("serial:2",), logits_out=logits_out, seed=3)
    model = cfg.load_model()
    from hwtrain.golden.inference import InferenceCore as Golden
    spec = inference_spec(cfg, model, clock_hz=1_000_000, divisor=4, timeout_clocks=TIMEOUT,
                          max_payload=max_payload)
    return HostLink(spec, InferenceCore(cfg, model)), spec, P.BoardModel(spec, golden_engine(spec, Golden(cfg, model)))


def traffic(spec, seed):
    """Events: request bytes (valid, corrupted, truncated, garbage) and quiet gaps."""
    rng = random.Random(seed)
    events = []
    for _ in range(14):
        r = rng.random()
        n = rng.randint(1, spec.max_samples)
        frame = bytearray(P.encode_frame(P.INFER, bytes(rng.getrandbits(8) for _ in range(n * spec.sample_bytes))))
        if r < 0.35:
            pass
        elif r < 0.45:
            frame = bytearray(P.encode_frame(rng.choice([P.PING, P.COUNTERS, 0x55, P.TRAIN])))
        elif r < 0.55:
            frame[rng.randrange(1, len(frame))] ^= 1 << rng.randrange(8)     # corrupt one bit
        elif r < 0.65:
            frame = bytearray(P.encode_frame(P.INFER, bytes(spec.sample_bytes + 1)))   # ragged samples
        elif r < 0.75:
            frame = bytearray(bytes([P.SYNC, P.INFER, 0xFF, 0x7F]))          # longer than the buffer
        elif r < 0.85:
            frame = frame[:rng.randrange(1, len(frame))]                     # truncated: times out
            events.append(bytes(frame))
            events.append(("quiet", TIMEOUT + 5))
            continue
        else:
            frame = bytearray(rng.choice([0x00, 0xFF, 0x13]) for _ in range(rng.randint(1, 6)))
        events.append(bytes(frame))
    events.append(P.encode_frame(P.COUNTERS))
    return events


def simulate(link, events, gap_seed=1):
    rng = random.Random(gap_seed)
    got = []

    async def host(ctx):
        for ev in events:
            if isinstance(ev, tuple):
                await ctx.tick().repeat(ev[1])
                continue
            for byte in ev:
                if rng.random() < 0.3:
                    await ctx.tick().repeat(rng.randint(1, 20))
                ctx.set(link.rx.valid, 1)
                ctx.set(link.rx.payload, byte)
                await ctx.tick().until(link.rx.ready)
                ctx.set(link.rx.valid, 0)
        await ctx.tick().repeat(3000)

    async def reader(ctx):
        while True:
            ctx.set(link.tx.ready, rng.random() < 0.7)
            *_, valid, ready, payload = await ctx.tick().sample(link.tx.valid, link.tx.ready, link.tx.payload)
            if valid and ready:
                got.append(payload)

    sim = Simulator(link)
    sim.add_clock(1e-6)
    sim.add_testbench(host)
    sim.add_process(reader)
    sim.run()
    return bytes(got)


@pytest.mark.parametrize("logits_out, seed", [(True, 1), (False, 2)])
def test_host_link_matches_board_model(logits_out, seed):
    link, spec, model = small_link(logits_out)
    events = traffic(spec, seed)
    want = b"".join(model.timeout() if isinstance(e, tuple) else model.feed(e) for e in events)
    got = simulate(link, events)
    assert model.counters["samples"] > 0 and model.counters["crc_errors"] + model.counters["frame_errors"] > 0
    assert got == want
