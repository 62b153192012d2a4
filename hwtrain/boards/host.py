"""Host driver for a hwtrain board: the protocol of docs/host_protocol.md over any transport.

``BoardClient`` holds all protocol logic and is written once, as coroutines, so
the same code drives a real board (``SerialTransport`` over pyserial, run by
``asyncio``) and the simulated board (the cocotb UART model in hwtrain/benches/bench_board.py).

    from hwtrain.boards.host import open_board
    board = open_board("/dev/ttyUSB1")           # a synchronous facade
    print(board.info())
    classes, logits = board.infer(x)             # x: (S, K0) 0/1 or +-1
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import numpy as np

from ..errors import HwtrainError
from ..protocol import board as P
from ..trainer_folded_host import FoldedTrainerHost


class Transport(Protocol):
    """A byte pipe to the board. ``baud`` sizes the timeouts; ``latency`` (s) adds
    the fixed delay of the link (USB frames; 0 in simulation)."""

    baud: float
    latency: float

    async def write(self, data: bytes) -> None: ...

    async def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` bytes; fewer only when ``timeout`` seconds pass first."""

    async def discard_input(self) -> None: ...


class BoardError(HwtrainError):
    """The board answered with an ERROR frame."""

    def __init__(self, code: int, cmd: int):
        self.code, self.cmd = code, cmd
        super().__init__(f"board refused {P.COMMAND_NAMES.get(cmd, hex(cmd))}: "
                         f"{P.ERROR_NAMES.get(code, f'error {code}')}")


class BoardClient:
    """Requests and replies. Every request: flush stale input, send one frame, read
    exactly one reply frame (hunting SYNC), check its CRC and command."""

    def __init__(self, transport: Transport, spec: P.BoardSpec | None = None, *,
                 timeout_bytes: int = 64):
        self.t, self.spec, self.timeout_bytes = transport, spec, timeout_bytes

    def _seconds(self, n_bytes: int) -> float:
        return self.t.latency + (n_bytes + self.timeout_bytes) * 10 / self.t.baud

    async def request(self, cmd: int, payload: bytes = b"", *, reply_bytes: int = 64) -> bytes:
        """Send one frame; return the reply's payload. ``reply_bytes`` sizes the timeout."""
        return await self.exchange(P.encode_frame(cmd, payload), cmd, reply_bytes=reply_bytes)

    async def exchange(self, frame: bytes, cmd: int, *, reply_bytes: int = 64) -> bytes:
        """Send raw bytes (normally one frame of ``cmd``) and read one reply frame."""
        await self.t.discard_input()
        await self.t.write(frame)
        decoder = P.ReplyDecoder()
        deadline = self._seconds(len(frame) + reply_bytes + P.HEADER_BYTES + 1)
        start = time.monotonic() if self.t.latency else None
        while True:
            want = decoder.needed()
            data = await self.t.read(want, deadline)
            if not data:
                raise HwtrainError(f"no reply to {P.COMMAND_NAMES.get(cmd, hex(cmd))} from the board "
                                   f"(is the bitstream loaded and the baud rate {self.t.baud:g}?)")
            frames = decoder.feed(data)
            if frames:
                rcmd, rpayload, ok = frames[0]
                if not ok:
                    raise HwtrainError("reply with a bad CRC: the link is corrupting bytes")
                if rcmd == P.ERROR:
                    raise BoardError(rpayload[0], rpayload[1])
                if rcmd != cmd | P.REPLY:
                    raise HwtrainError(f"reply 0x{rcmd:02x} to request 0x{cmd:02x}")
                return rpayload
            if start is not None and time.monotonic() - start > deadline:
                raise HwtrainError("the board's reply stopped half-way")

    async def info(self) -> P.BoardSpec:
        """PING: the board's spec (also remembered for ``infer``)."""
        known = {} if self.spec is None else {"divisor": self.spec.divisor,
                                              "timeout_clocks": self.spec.timeout_clocks}
        self.spec = P.BoardSpec.from_info(await self.request(P.PING), **known)
        return self.spec

    async def check_design(self, expected_id: int) -> None:
        spec = self.spec or await self.info()
        if spec.design_id != expected_id:
            raise HwtrainError(f"the board runs design 0x{spec.design_id:08x}, not the expected "
                               f"0x{expected_id:08x}: build and load the bitstream of this model")

    async def infer(self, samples) -> tuple[np.ndarray, np.ndarray | None]:
        """Classes (and logits when the core outputs them) of (S, K0) samples, in
        requests of as many samples as the board buffers."""
        spec = self.spec or await self.info()
        x = np.asarray(samples)
        if x.ndim != 2 or x.shape[1] != spec.input_bits:
            raise HwtrainError(f"samples must be (S, {spec.input_bits}); got shape {x.shape}")
        classes, logits = [], []
        for lo in range(0, len(x), spec.max_samples):
            chunk = x[lo:lo + spec.max_samples]
            reply = await self.request(P.INFER, spec.encode_samples(chunk),
                                       reply_bytes=len(chunk) * spec.result_bytes)
            if len(reply) != len(chunk) * spec.result_bytes:
                raise HwtrainError(f"{len(reply)} result bytes for {len(chunk)} samples")
            c, l = spec.decode_results(reply)
            classes.append(c)
            logits.append(l)
        return (np.concatenate(classes) if classes else np.zeros(0, np.int64),
                np.concatenate(logits) if spec.logit_bits and logits else None)

    async def counters(self) -> dict[str, int]:
        return P.decode_counters(await self.request(P.COUNTERS))

    async def resync(self, quiet_seconds: float) -> None:
        """Let the board abandon a partial frame (its timeout), then drop stale input."""
        await self.t.read(1 << 16, quiet_seconds)
        await self.t.discard_input()


class SerialTransport:
    """pyserial port (install with ``pip install 'hwtrain[board]'``)."""

    def __init__(self, port: str, baud: int = 115200, latency: float = 0.05):
        try:
            import serial
        except ImportError:
            raise HwtrainError("the board link needs pyserial: pip install 'hwtrain[board]' "
                               "(or pip install 'pyserial>=3.5')") from None
        try:
            self.port = serial.Serial(port, baud, timeout=0)
        except serial.SerialException as e:
            raise HwtrainError(f"cannot open {port}: {e}") from None
        self.baud, self.latency = baud, latency

    async def write(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    async def read(self, n: int, timeout: float) -> bytes:
        self.port.timeout = timeout
        return self.port.read(n)

    async def discard_input(self) -> None:
        self.port.reset_input_buffer()

    def close(self) -> None:
        self.port.close()


class Board:
    """Synchronous facade over ``BoardClient`` for scripts and the command line."""

    def __init__(self, transport: Transport):
        self.client = BoardClient(transport)

    def _run(self, coro):
        return asyncio.run(coro)

    def info(self) -> P.BoardSpec:
        return self._run(self.client.info())

    def infer(self, samples):
        return self._run(self.client.infer(samples))

    def counters(self) -> dict[str, int]:
        return self._run(self.client.counters())

    def check_design(self, expected_id: int) -> None:
        return self._run(self.client.check_design(expected_id))


def open_board(port: str, baud: int = 115200) -> Board:
    return Board(SerialTransport(port, baud))


class TrainerOverUart:
    """The on-chip trainer's transport (``put``/``get`` of hwtrain.trainer_host.TrainerHost)
    over the board link: each command travels as one TRAIN frame, its response in the reply."""

    def __init__(self, client: BoardClient):
        self.client, self._pending = client, None

    async def put(self, op, arg, data):
        from ..protocol.trainer import ARG_BITS
        self._pending = op | (int(arg) << 3) | (int(data) << (3 + ARG_BITS))

    async def get(self) -> int:
        spec = self.client.spec or await self.client.info()
        record, self._pending = self._pending, None
        reply = await self.client.request(P.TRAIN, record.to_bytes(spec.sample_bytes, "little"),
                                          reply_bytes=spec.result_bytes)
        return int.from_bytes(reply, "little")


class WordsOverUart:
    """A word-stream engine's transport over the board link: ``transact(words, n_resp)`` sends the
    command words in one WORDS frame that asks for ``n_resp`` response words, and returns them."""

    def __init__(self, client: BoardClient):
        self.client = client

    async def transact(self, words, n_resp: int) -> list[int]:
        import struct
        spec = self.client.spec or await self.client.info()
        if spec.command != P.WORDS:
            raise HwtrainError("the board does not run a word-stream engine (its INFO reports engine "
                               f"{spec.engine}); build a folded trainer design")
        reply = await self.client.request(P.WORDS, spec.encode_words(n_resp, words),
                                          reply_bytes=P.WORD_BYTES * n_resp)
        if len(reply) != P.WORD_BYTES * n_resp:
            raise HwtrainError(f"a WORDS reply of {len(reply)} bytes; {n_resp} words were asked for")
        return list(struct.unpack(f"<{n_resp}I", reply))


class FoldedTrainerOverUart(FoldedTrainerHost):
    """``hwtrain.trainer_folded_host.FoldedTrainerHost`` (its packing, schedules and epochs) over the
    board link: each of its requests (a command's words and the number of response words it
    expects) travels as one WORDS frame."""

    def __init__(self, cfg, client: BoardClient):
        super().__init__(cfg, WordsOverUart(client))

    async def request(self, words, n_resp: int = 1) -> list[int]:
        return await self.io.transact(words, n_resp)
