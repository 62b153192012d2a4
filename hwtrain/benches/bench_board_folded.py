"""cocotb bench: the folded trainer behind the board's UART host link (WORDS frames).

The host driver's own code (``hwtrain.boards.host.FoldedTrainerOverUart``: the folded host
driver's packing and schedules, each request one WORDS frame through ``BoardClient``) trains
the board through the cocotb UART model: every prediction, every hidden weight and the
counters equal the golden trainer's; malformed WORDS frames get their error replies; a reply
that asks for more words than the engine produces is padded after the watchdog; and every
byte the board sent equals the golden protocol model's (``BoardModel`` with the golden word
engine ``FoldedWordsGolden``).

Parameters: config (FoldedTrainConfig dict), divisor, timeout_clocks, max_payload, samples,
epochs, seed, and optionally golden_config (a deliberately different golden model: the
negative control).
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.utils import get_sim_time

from bench_board import CocotbUart, _with_timeouts
from hwtrain.boards.design import FoldedWordsGolden, folded_spec
from hwtrain.boards.host import BoardClient, BoardError, FoldedTrainerOverUart
from hwtrain.data.presets import binarized
from hwtrain.golden.trainer_folded import FoldedGolden, FoldedTrainConfig
from hwtrain.protocol import board as P
from hwtrain.protocol.trainer_folded import OP_READ_REG, REG_SAMPLES, header
from streams import bench_params, reset, write_summary

CLOCK_NS = 10


@cocotb.test()
async def folded_trainer_over_uart(dut):
    p = bench_params()
    cfg = FoldedTrainConfig.from_dict(p["config"])
    gcfg = FoldedTrainConfig.from_dict(p.get("golden_config", p["config"]))
    spec = folded_spec(cfg, clock_hz=int(1e9 / CLOCK_NS), divisor=p["divisor"],
                       timeout_clocks=p["timeout_clocks"], max_payload=p["max_payload"])
    d = binarized("random_prototypes", k=cfg.inputs, n_train=4 * p["samples"], n_test=10, p=0.3, seed=p["seed"])
    keep = d.y_train < cfg.classes
    x, y = d.x_train[keep][:p["samples"]], d.y_train[keep][:p["samples"]]
    await reset(dut)
    uart = CocotbUart(dut, p["divisor"])
    client = BoardClient(uart, spec)
    info = await client.info()
    log = {"info_matches": info.info_bytes() == spec.info_bytes() and info.command == P.WORDS}

    golden = FoldedGolden(gcfg)
    host = FoldedTrainerOverUart(cfg, client)
    bad, n = [], 0
    for epoch in range(p["epochs"]):
        run = await host.train_epoch(x, y)
        order = golden.order(len(y))
        if list(run["order"]) != list(order):
            bad.append({"epoch": epoch, "order": "differs"})
        for pos, i in enumerate(order):
            want = golden.train_sample(x[i], int(y[i]))
            if run["preds"][pos] != want:
                bad.append({"epoch": epoch, "sample": int(i), "pred": run["preds"][pos], "want": want})
        n += len(order)
        golden.end_epoch(run["train_error"])
        await host.end_epoch(run["train_error"])
    H = await host.read_weights()
    layers = [l for l, (a, b) in enumerate(zip(H, golden.H)) if not np.array_equal(a, b)]
    counters, want_counters = await host.counters(), golden.counters()

    # Malformed WORDS frames: each gets its error reply through the driver's code path.
    async def expect_error(frame: bytes, cmd: int, code: int):
        try:
            await client.exchange(frame, cmd)
        except BoardError as e:
            log.setdefault("errors", []).append([e.code, e.cmd])
            assert (e.code, e.cmd) == (code, cmd), f"error {e.code} for 0x{e.cmd:02x}, want {code}"
            return
        raise AssertionError(f"frame {frame.hex()} was accepted")

    await expect_error(P.encode_frame(P.WORDS, bytes(6)), P.WORDS, P.E_LENGTH)            # not whole words
    await expect_error(P.encode_frame(P.WORDS, (1).to_bytes(4, "little")), P.WORDS, P.E_LENGTH)   # no command
    await expect_error(P.encode_frame(P.WORDS, (P.MAX_REPLY_WORDS + 1).to_bytes(4, "little") + bytes(4)),
                       P.WORDS, P.E_LENGTH)                                                # reply over 64 KiB
    await expect_error(P.encode_frame(P.TRAIN, bytes(4)), P.TRAIN, P.E_UNSUPPORTED)
    await expect_error(P.encode_frame(P.INFER, bytes(4)), P.INFER, P.E_UNKNOWN)
    # A reply that asks for one word more than READ_REG produces (2): padded after the watchdog.
    padded = await client.request(P.WORDS, spec.encode_words(3, [header(OP_READ_REG, 0, REG_SAMPLES)]),
                                  reply_bytes=12)
    log["padded_reply"] = list(np.frombuffer(padded, "<u4").tolist())
    frames = await client.counters()

    # Every byte the board sent equals the golden protocol model's reply to what it received.
    model = P.BoardModel(spec, FoldedWordsGolden(gcfg))
    want_stream = b"".join(model.timeout() if isinstance(ev, tuple) else model.feed(ev)
                           for ev in _with_timeouts(uart.sent, spec))
    stream_ok = bytes(uart.received) == want_stream
    summary = {"design": "UartLink(FoldedTrainer)", "config": cfg.to_dict(), "samples": n,
               "mismatches": len(bad) + len(layers) + int(counters != want_counters) + int(not stream_ok),
               "first_mismatches": bad[:5], "layers_differing": layers, "trainer_counters": counters,
               "golden_counters": want_counters, "board_counters": frames, "model_counters": model.counters,
               "stream_bytes": len(uart.received), "stream_matches_model": stream_ok,
               "sim_time_us": get_sim_time("ns") / 1e3, **log}
    write_summary(p, summary)
    assert log["info_matches"], f"INFO {info} differs from {spec}"
    assert log["padded_reply"] == [counters["samples"], 0, 0], log["padded_reply"]
    assert not bad and not layers and counters == want_counters, summary
    assert stream_ok, "the board's byte stream differs from the golden protocol model"
    assert frames == model.counters, (frames, model.counters)
