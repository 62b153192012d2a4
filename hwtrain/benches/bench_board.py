"""cocotb bench: the whole board top level (UART + HostLink + inference core) driven
by the host driver's own code (hwtrain.boards.host.BoardClient) through a UART
model, bit-exact with the golden core; every byte the board sends is compared with
the golden protocol model (BoardModel), through malformed frames and resynchronisation."""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, FallingEdge
from cocotb.utils import get_sim_time

from hwtrain.protocol import board as P
from hwtrain.boards.design import golden_engine, inference_spec
from hwtrain.boards.host import BoardClient, BoardError
from hwtrain.golden.inference import InferenceCore
from hwtrain.inference.config import InferenceConfig
from streams import bench_params, random_bits, reset, write_summary

CLOCK_NS = 10


class CocotbUart:
    """The board's serial port as a cocotb model: a ``Transport`` for BoardClient."""

    def __init__(self, dut, divisor: int):
        self.dut, self.divisor = dut, divisor
        self.baud, self.latency = 1e9 / (CLOCK_NS * divisor), 0.0
        self.pending = bytearray()      # received, not yet read by the driver
        self.received = bytearray()     # everything the board ever sent
        self.sent = []                  # (bytes) or ("quiet",) events, for the golden model
        dut.rx.value = 1
        cocotb.start_soon(self._monitor())

    async def _monitor(self):
        clk, d = self.dut.clk, self.divisor
        while True:
            await FallingEdge(self.dut.tx)
            await ClockCycles(clk, d // 2)
            if int(self.dut.tx.value):
                continue                                   # a glitch
            value = 0
            for i in range(8):
                await ClockCycles(clk, d)
                value |= int(self.dut.tx.value) << i
            await ClockCycles(clk, d)
            assert int(self.dut.tx.value) == 1, "board sent a low stop bit"
            self.pending.append(value)
            self.received.append(value)

    async def write(self, data: bytes) -> None:
        self.sent.append(bytes(data))
        for byte in data:
            for level in P.uart_bits(byte):
                self.dut.rx.value = level
                await ClockCycles(self.dut.clk, self.divisor)

    async def read(self, n: int, timeout: float) -> bytes:
        deadline = get_sim_time("ns") + timeout * 1e9
        while len(self.pending) < n and get_sim_time("ns") < deadline:
            await ClockCycles(self.dut.clk, self.divisor)
        data = bytes(self.pending[:n])
        del self.pending[:n]
        return data

    async def discard_input(self) -> None:
        self.pending.clear()

    async def quiet(self, clocks: int) -> None:
        self.sent.append(("quiet",))
        await ClockCycles(self.dut.clk, clocks)


@cocotb.test()
async def host_to_board(dut):
    p = bench_params()
    if p.get("engine") == "trainer":
        return await trainer_over_uart(dut, p)
    cfg = InferenceConfig.from_dict(p["config"])
    model = cfg.load_model()
    golden = InferenceCore(cfg, model)
    spec = inference_spec(cfg, model, clock_hz=int(1e9 / CLOCK_NS), divisor=p["divisor"],
                          timeout_clocks=p["timeout_clocks"], max_payload=p["max_payload"])
    await reset(dut)
    uart = CocotbUart(dut, p["divisor"])
    client = BoardClient(uart, spec)
    quiet_s = 2 * spec.timeout_clocks * CLOCK_NS * 1e-9
    log = {}

    # 1. PING: the board reports the spec it was built with.
    info = await client.info()
    log["info_matches"] = info.info_bytes() == spec.info_bytes() and info.sample_bytes == spec.sample_bytes

    # 2. Inference in several requests (more samples than the board buffers).
    x = random_bits(cfg.sizes[0], p["samples"], p["seed"])
    want_cls, want_logits = golden(x)
    got_cls, got_logits = await client.infer(x)
    bad = np.flatnonzero(got_cls != want_cls).tolist()
    if cfg.logits_out:
        bad = sorted(set(bad) | set(np.flatnonzero((got_logits != want_logits).any(axis=1)).tolist()))

    # 3. Malformed frames: each gets its error reply, through the driver's code path.
    async def expect_error(frame: bytes, cmd: int, code: int):
        try:
            await client.exchange(frame, cmd)
        except BoardError as e:
            log.setdefault("errors", []).append([e.code, e.cmd])
            assert (e.code, e.cmd) == (code, cmd), f"error {e.code} for 0x{e.cmd:02x}, want {code}"
            return
        raise AssertionError(f"frame {frame.hex()} was accepted")

    corrupted = bytearray(P.encode_frame(P.INFER, spec.encode_samples(x[:3])))
    corrupted[5] ^= 0x10
    await expect_error(bytes(corrupted), P.INFER, P.E_CRC)
    await expect_error(P.encode_frame(0x42), 0x42, P.E_UNKNOWN)
    await expect_error(P.encode_frame(P.LOAD_WEIGHTS, b"\x00"), P.LOAD_WEIGHTS, P.E_UNSUPPORTED)
    await expect_error(P.encode_frame(P.INFER, bytes(spec.sample_bytes + 1)), P.INFER, P.E_LENGTH)
    await expect_error(P.encode_frame(P.COUNTERS, b"\x01"), P.COUNTERS, P.E_LENGTH)
    await expect_error(bytes([P.SYNC, P.INFER, 0xFF, 0xFF]), P.INFER, P.E_LENGTH)
    # A truncated frame: the board abandons it after its timeout and says so.
    await expect_error(P.encode_frame(P.INFER, spec.encode_samples(x[:2]))[:-3], P.INFER, P.E_TIMEOUT)

    # 4. Garbage on the line (with a stray SYNC), then resynchronisation: inference works again.
    await uart.write(bytes([0x00, 0x13, 0xFF, 0x37, P.SYNC, 0x55, 0x01]))
    await uart.quiet(spec.timeout_clocks + 50)
    await client.resync(quiet_s)
    again_cls, again_logits = await client.infer(x[:5])
    bad_again = np.flatnonzero(again_cls != want_cls[:5]).tolist()
    if cfg.logits_out:
        bad_again += np.flatnonzero((again_logits != want_logits[:5]).any(axis=1)).tolist()
    counters = await client.counters()

    # 5. Every byte the board sent equals the golden protocol model's reply to what it received.
    board_model = P.BoardModel(spec, golden_engine(spec, golden))
    want_stream = b"".join(board_model.timeout() if isinstance(ev, tuple) else board_model.feed(ev)
                           for ev in _with_timeouts(uart.sent, spec))
    stream_ok = bytes(uart.received) == want_stream
    summary = {"design": "UartLink", "config": cfg.to_dict(), "samples": len(x) + 5,
               "mismatches": len(bad) + len(bad_again), "first_mismatches": bad[:5],
               "stream_bytes": len(uart.received), "stream_matches_model": stream_ok,
               "counters": counters, "model_counters": board_model.counters,
               "sim_time_us": get_sim_time("ns") / 1e3, **log}
    write_summary(p, summary)
    assert log["info_matches"], f"INFO {info} differs from {spec}"
    assert not bad and not bad_again, f"samples {bad[:5]} {bad_again[:5]} differ from the golden model"
    assert stream_ok, "the board's byte stream differs from the golden protocol model"
    assert counters == {k: v for k, v in board_model.counters.items()}, (counters, board_model.counters)


def _with_timeouts(sent, spec):
    """The host's events as the board saw them: a truncated frame followed by the
    driver's wait for a reply is a quiet line, i.e. a timeout."""
    events = []
    for ev in sent:
        events.append(ev)
        if isinstance(ev, bytes) and len(ev) >= P.HEADER_BYTES and ev[0] == P.SYNC:
            length = ev[2] | ev[3] << 8
            if length <= spec.max_payload and len(ev) < P.HEADER_BYTES + length + 1:
                events.append(("quiet",))
    return events


async def trainer_over_uart(dut, p):
    """The on-chip trainer behind the host link: hwtrain.trainer_host.TrainerHost (the
    driver the trainer's own bench uses) over BoardClient and the UART model trains one
    epoch; every prediction, every hidden weight and every counter equals the golden
    trainer's, and the board's own frame counters are what the exchange implies."""
    from hwtrain.boards.design import trainer_spec
    from hwtrain.boards.host import TrainerOverUart
    from hwtrain.data.presets import binarized
    from hwtrain.golden.train.config import TrainConfig
    from hwtrain.golden.trainer import OnlineTrainer as Golden
    from hwtrain.trainer_host import TrainerHost

    cfg = TrainConfig.from_dict(p["config"])
    spec = trainer_spec(cfg, clock_hz=int(1e9 / CLOCK_NS), divisor=p["divisor"],
                        timeout_clocks=p["timeout_clocks"], max_payload=p["max_payload"])
    d = binarized("digits")
    keep = d.y_train < cfg.classes
    x, y = d.x_train[keep][:p["samples"]], d.y_train[keep][:p["samples"]]
    await reset(dut)
    uart = CocotbUart(dut, p["divisor"])
    client = BoardClient(uart, spec)
    info = await client.info()
    try:                                             # an inference request to a trainer
        await client.request(P.INFER, bytes(1))
        refused = None
    except BoardError as e:
        refused = [e.code, e.cmd]
    host = TrainerHost(cfg, TrainerOverUart(client))
    golden = Golden(cfg)
    run = await host.train_epoch(x, y)
    order = golden.order(len(y))
    bad = [int(i) for pos, i in enumerate(order)
           if golden.train_sample(x[i], int(y[i])) != run["preds"][pos]]
    H = await host.read_weights()
    bad_layers = [l for l, (a, b) in enumerate(zip(H, golden.H)) if not np.array_equal(a, b)]
    counters, want_counters = await host.counters(), golden.counters()
    frames = await client.counters()
    summary = {"design": "UartLink(OnlineTrainer)", "config": cfg.to_dict(), "samples": len(y),
               "mismatches": len(bad) + len(bad_layers) + int(counters != want_counters),
               "first_mismatches": bad[:5], "layers_differing": bad_layers,
               "trainer_counters": counters, "golden_counters": want_counters,
               "board_counters": frames, "order_matches": list(run["order"]) == list(order),
               "info_matches": info.info_bytes() == spec.info_bytes(), "infer_refused": refused,
               "sim_time_us": get_sim_time("ns") / 1e3}
    write_summary(p, summary)
    assert summary["info_matches"] and summary["order_matches"]
    assert refused == [P.E_UNKNOWN, P.INFER], refused
    assert not bad and not bad_layers and counters == want_counters, summary
