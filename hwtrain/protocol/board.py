"""The UART host protocol, in Python: framing, commands, and the golden model of
the board's protocol engine (``BoardModel``, twin of ``hwtrain.boards.top.HostLink``).

The specification is docs/host_protocol.md; everything here follows it byte for
byte, and the host driver (``hwtrain.boards.host``) uses exactly these functions.

Frame (both directions)::

    SYNC (0xA5) | CMD | LEN (u16 LE) | PAYLOAD (LEN bytes) | CRC-8 over CMD, LEN, PAYLOAD
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

SYNC = 0xA5
HEADER_BYTES = 4                       # SYNC, CMD, LEN_LO, LEN_HI
INFO_BYTES = 18                        # PING reply payload (BoardSpec.info_bytes)
REPLY = 0x80                           # reply command = request command | REPLY
ERROR = 0x7F                           # error reply; payload: error code, request command

# Commands. An engine answers PING, COUNTERS and its record command (spec.command):
# INFER for inference cores, TRAIN for the on-chip trainer; the other one of
# RESERVED gets E_UNSUPPORTED.
PING = 0x01                            # reply: INFO payload (see BoardSpec.info_bytes)
INFER = 0x02                           # payload: samples; reply: one result per sample
COUNTERS = 0x03                        # reply: COUNTER_NAMES as u32 LE each
LOAD_WEIGHTS = 0x10                    # reserved: inference cores with writable weights
TRAIN = 0x11                           # payload: trainer command words; reply: one response each
WORDS = 0x12                           # word-stream engines: payload R (u32) + command words; reply: R words
RESERVED = (LOAD_WEIGHTS, TRAIN, WORDS)
COMMAND_NAMES = {PING: "PING", INFER: "INFER", COUNTERS: "COUNTERS", LOAD_WEIGHTS: "LOAD_WEIGHTS",
                 TRAIN: "TRAIN", WORDS: "WORDS"}
WORD_BYTES = 4                         # WORDS: 32-bit words, little-endian
MAX_REPLY_WORDS = 0xFFFF // WORD_BYTES  # a reply payload of R words must fit LEN (u16)

# Error codes (first payload byte of an ERROR reply).
E_CRC = 1                              # CRC mismatch
E_LENGTH = 2                           # LEN above the buffer, or wrong for the command
E_UNKNOWN = 3                          # unknown command
E_UNSUPPORTED = 4                      # reserved command this engine does not implement
E_TIMEOUT = 5                          # the line went quiet in the middle of a frame
ERROR_NAMES = {E_CRC: "CRC mismatch", E_LENGTH: "bad length", E_UNKNOWN: "unknown command",
               E_UNSUPPORTED: "command not supported by this engine",
               E_TIMEOUT: "frame timed out"}

COUNTER_NAMES = ("frames_ok", "crc_errors", "frame_errors", "timeouts", "dropped_bytes",
                 "uart_errors", "samples")
PROTOCOL_VERSION = 1
ENGINE_INFERENCE, ENGINE_TRAINER, ENGINE_WORDS = 1, 2, 3
CAP_INFER, CAP_LOAD_WEIGHTS, CAP_TRAIN, CAP_WORDS = 1, 2, 4, 8


def crc8(data: bytes, crc: int = 0) -> int:
    """CRC-8, polynomial x^8 + x^2 + x + 1 (0x07), initial value 0, no reflection."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def encode_frame(cmd: int, payload: bytes = b"") -> bytes:
    body = bytes([cmd]) + struct.pack("<H", len(payload)) + bytes(payload)
    return bytes([SYNC]) + body + bytes([crc8(body)])


def uart_bits(byte: int) -> list[int]:
    """Line levels of one 8N1 byte: start bit, data LSB first, stop bit."""
    return [0] + [(byte >> i) & 1 for i in range(8)] + [1]


@dataclass(frozen=True)
class BoardSpec:
    """What the host must know about a board's engine; the board reports it in INFO.

    input_bits   K0, bits per sample (bit i of the little-endian sample bytes = input i).
    classes      classes of the result.
    logit_bits   width of each logit the core outputs (0 = class only).
    max_payload  bytes the board buffers per request frame.
    design_id    CRC-32 of the configuration and model, to check the host talks to
                 the bitstream it thinks it does.
    clock_hz, divisor  board clock and UART clock cycles per bit.
    timeout_clocks     quiet clock cycles after which a partial frame is abandoned.
    """

    input_bits: int
    classes: int
    logit_bits: int = 0
    max_payload: int = 512
    design_id: int = 0
    clock_hz: int = 12_000_000
    divisor: int = 104
    timeout_clocks: int = 1_200_000
    capabilities: int = CAP_INFER
    engine: int = ENGINE_INFERENCE
    # The command that carries records to the engine: INFER for inference cores. An
    # engine with another record format (the on-chip trainer's command words) uses the
    # same path with its own command code, input_bits and result_bytes.
    command: int = INFER
    result_bits: int = 0         # 0: class byte (+ logits); else result_bytes = ceil(result_bits / 8)

    @property
    def sample_bytes(self) -> int:
        return (self.input_bits + 7) // 8

    @property
    def result_bytes(self) -> int:
        """Class (u8), then one i16 LE per class when the core outputs logits."""
        if self.result_bits:
            return (self.result_bits + 7) // 8
        return 1 + (2 * self.classes if self.logit_bits else 0)

    @property
    def max_samples(self) -> int:
        return self.max_payload // self.sample_bytes

    @property
    def baud(self) -> float:
        return self.clock_hz / self.divisor

    def info_bytes(self) -> bytes:
        """The PING reply payload (18 bytes, little-endian)."""
        return struct.pack("<BBBHBBBHII", PROTOCOL_VERSION, self.engine, self.capabilities,
                           self.input_bits, self.classes, self.result_bytes,
                           self.logit_bits, self.max_payload, self.design_id, self.clock_hz)

    @classmethod
    def from_info(cls, info: bytes, **known) -> "BoardSpec":
        """The spec a board reports in its PING reply; a reply that no engine of this
        protocol could send raises ``HwtrainError``."""
        from ..errors import require
        require(len(info) == INFO_BYTES,
                f"the board's INFO reply has {len(info)} bytes, expected {INFO_BYTES}")
        version, engine, caps, k, classes, result_bytes, logit_bits, max_payload, design_id, clock = \
            struct.unpack("<BBBHBBBHII", info)
        require(version == PROTOCOL_VERSION, f"board speaks protocol version {version}; this host speaks "
                                             f"{PROTOCOL_VERSION}")
        require(engine in (ENGINE_INFERENCE, ENGINE_TRAINER, ENGINE_WORDS),
                f"the board reports unknown engine {engine}")
        trainer = engine in (ENGINE_TRAINER, ENGINE_WORDS)
        want = "at least 1" if trainer else str(1 + (2 * classes if logit_bits else 0))
        if engine == ENGINE_WORDS:
            require(k == 8 * WORD_BYTES and result_bytes == WORD_BYTES,
                    f"the board's INFO reply is malformed: a word-stream engine with input_bits {k} and "
                    f"result_bytes {result_bytes} (expected {8 * WORD_BYTES} and {WORD_BYTES})")
        problems = [what for what, bad in (
            ("input_bits 0", k == 0), ("classes 0", classes == 0), ("clock_hz 0", clock == 0),
            (f"logit_bits {logit_bits} (at most 16)", logit_bits > 16),
            (f"result_bytes {result_bytes} (expected {want})",
             result_bytes == 0 if trainer else result_bytes != int(want)),
            (f"max_payload {max_payload} (less than one {(k + 7) // 8}-byte sample)", max_payload < (k + 7) // 8),
        ) if bad]
        require(not problems, f"the board's INFO reply is malformed: {', '.join(problems)}")
        return cls(input_bits=k, classes=classes, logit_bits=logit_bits, max_payload=max_payload,
                   design_id=design_id, clock_hz=clock, capabilities=caps, engine=engine,
                   command={ENGINE_TRAINER: TRAIN, ENGINE_WORDS: WORDS}.get(engine, INFER),
                   result_bits=8 * result_bytes if trainer else 0, **known)

    def encode_words(self, reply_words: int, words) -> bytes:
        """WORDS request payload: the number of response words expected, then the command words."""
        from ..errors import require
        words = [int(w) for w in words]
        require(0 <= reply_words <= MAX_REPLY_WORDS,
                f"a WORDS reply holds at most {MAX_REPLY_WORDS} words, {reply_words} were asked for")
        require(words and all(0 <= w >> 32 == 0 for w in words), "WORDS needs at least one 32-bit command word")
        require(WORD_BYTES * (1 + len(words)) <= self.max_payload,
                f"{len(words)} command words need {WORD_BYTES * (1 + len(words))} bytes; the board buffers "
                f"{self.max_payload} per request")
        return struct.pack(f"<{1 + len(words)}I", reply_words, *words)

    def encode_samples(self, samples) -> bytes:
        """(S, K0) 0/1 (or +-1) samples -> request payload, ``sample_bytes`` per sample."""
        import numpy as np
        x = np.asarray(samples) > 0
        out = bytearray()
        for row in x:
            value = sum(1 << i for i, b in enumerate(row) if b)
            out += value.to_bytes(self.sample_bytes, "little")
        return bytes(out)

    def encode_results(self, classes, logits=None) -> bytes:
        out = bytearray()
        for s, c in enumerate(classes):
            out.append(int(c))
            if self.logit_bits:
                out += struct.pack(f"<{self.classes}h", *(int(v) for v in logits[s]))
        return bytes(out)

    def decode_results(self, payload: bytes):
        """Reply payload of INFER -> (classes, logits or None) as numpy arrays."""
        import numpy as np

        from ..errors import require
        require(len(payload) % self.result_bytes == 0,
                f"a reply of {len(payload)} bytes is not a whole number of {self.result_bytes}-byte results")
        n = len(payload) // self.result_bytes
        rows = [payload[s * self.result_bytes:(s + 1) * self.result_bytes] for s in range(n)]
        classes = np.array([r[0] for r in rows], dtype=np.int64)
        if not self.logit_bits:
            return classes, None
        logits = np.array([struct.unpack(f"<{self.classes}h", r[1:]) for r in rows],
                          dtype=np.int64).reshape(n, self.classes)
        return classes, logits


class ReplyDecoder:
    """Incremental frame parser (host side): hunts SYNC, checks length and CRC.

    ``feed(data)`` returns the complete frames as ``(cmd, payload, crc_ok)``;
    bytes before a SYNC are counted in ``dropped``.
    """

    def __init__(self):
        self.buf = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes, bool]]:
        self.buf += data
        frames = []
        while True:
            start = self.buf.find(bytes([SYNC]))
            if start < 0:
                self.dropped += len(self.buf)
                self.buf.clear()
                return frames
            self.dropped += start
            del self.buf[:start]
            if len(self.buf) < HEADER_BYTES:
                return frames
            length = self.buf[2] | self.buf[3] << 8
            if len(self.buf) < HEADER_BYTES + length + 1:
                return frames
            body = bytes(self.buf[1:HEADER_BYTES + length])
            ok = crc8(body) == self.buf[HEADER_BYTES + length]
            frames.append((body[0], body[3:], ok))
            del self.buf[:HEADER_BYTES + length + 1]

    def needed(self) -> int:
        """Bytes still missing before the frame in the buffer is complete (at least 1)."""
        if len(self.buf) < HEADER_BYTES:
            return HEADER_BYTES + 1 - len(self.buf)
        length = self.buf[2] | self.buf[3] << 8
        return max(1, HEADER_BYTES + length + 1 - len(self.buf))


@dataclass
class BoardModel:
    """Golden model of the board's protocol engine: request bytes in, reply bytes out.

    ``infer(samples_bytes) -> results_bytes`` is the engine (for an inference
    core: golden classes and logits, encoded by the spec); for a word-stream engine
    (``spec.command == WORDS``) ``infer(command_words) -> response words`` is the golden
    engine fed the stream, the responses it produces queue up, and each WORDS reply
    takes R of them, padded with zero words (and a timeout counted) when the queue runs
    short, as the board does when the engine stays silent. ``feed`` takes bytes
    as the board receives them; ``timeout()`` says the line went quiet for
    ``timeout_clocks``. Counters follow docs/host_protocol.md.
    """

    spec: BoardSpec
    infer: object
    counters: dict = field(default_factory=lambda: dict.fromkeys(COUNTER_NAMES, 0))

    def __post_init__(self):
        self.state, self.frame = "hunt", bytearray()
        self.queue = []                   # word-stream engine: responses produced, not yet sent

    def _error(self, code: int, cmd: int) -> bytes:
        key = {E_CRC: "crc_errors", E_TIMEOUT: "timeouts"}.get(code, "frame_errors")
        self.counters[key] += 1
        return encode_frame(ERROR, bytes([code, cmd]))

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            out += self._byte(byte)
        return bytes(out)

    def timeout(self) -> bytes:
        if self.state == "hunt":
            return b""
        cmd = self.frame[1] if len(self.frame) > 1 else 0
        self.state, self.frame = "hunt", bytearray()
        return self._error(E_TIMEOUT, cmd)

    def _byte(self, byte: int) -> bytes:
        if self.state == "hunt":
            if byte == SYNC:
                self.state, self.frame = "frame", bytearray([byte])
            else:
                self.counters["dropped_bytes"] += 1
            return b""
        self.frame.append(byte)
        f = self.frame
        if len(f) == HEADER_BYTES:
            length = f[2] | f[3] << 8
            if length > self.spec.max_payload:
                self.state = "hunt"
                return self._error(E_LENGTH, f[1])
        if len(f) < HEADER_BYTES or len(f) < HEADER_BYTES + (f[2] | f[3] << 8) + 1:
            return b""
        self.state = "hunt"
        return self._dispatch(f[1], bytes(f[HEADER_BYTES:-1]), crc8(f[1:-1]) == f[-1])

    def _dispatch(self, cmd: int, payload: bytes, crc_ok: bool) -> bytes:
        if not crc_ok:
            return self._error(E_CRC, cmd)
        if cmd in RESERVED and cmd != self.spec.command:
            return self._error(E_UNSUPPORTED, cmd)
        if cmd not in (PING, self.spec.command, COUNTERS):
            return self._error(E_UNKNOWN, cmd)
        sb = self.spec.sample_bytes
        if cmd == WORDS:
            r = int.from_bytes(payload[:WORD_BYTES], "little")
            if len(payload) < 2 * WORD_BYTES or len(payload) % WORD_BYTES or r > MAX_REPLY_WORDS:
                return self._error(E_LENGTH, cmd)
        elif (cmd == self.spec.command and (not payload or len(payload) % sb)) or (cmd != self.spec.command and payload):
            return self._error(E_LENGTH, cmd)
        self.counters["frames_ok"] += 1
        if cmd == PING:
            return encode_frame(cmd | REPLY, self.spec.info_bytes())
        if cmd == COUNTERS:
            return encode_frame(cmd | REPLY, struct.pack(f"<{len(COUNTER_NAMES)}I", *(
                self.counters[n] & 0xFFFFFFFF for n in COUNTER_NAMES)))
        if cmd == WORDS:
            words = struct.unpack(f"<{len(payload) // WORD_BYTES}I", payload)
            self.queue += [int(w) & 0xFFFFFFFF for w in self.infer(list(words[1:]))]
            got, self.queue = self.queue[:r], self.queue[r:]
            self.counters["samples"] += len(got)       # response words the engine produced and the board sent
            if len(got) < r:
                self.counters["timeouts"] += 1
            return encode_frame(cmd | REPLY, struct.pack(f"<{r}I", *(got + [0] * (r - len(got)))))
        # The samples counter counts each result as it is produced, after the header went out.
        self.counters["samples"] += len(payload) // sb
        return encode_frame(cmd | REPLY, self.infer(payload))


def decode_counters(payload: bytes) -> dict[str, int]:
    from ..errors import require
    require(len(payload) == 4 * len(COUNTER_NAMES),
            f"a COUNTERS reply of {len(payload)} bytes; expected {4 * len(COUNTER_NAMES)} "
            f"({len(COUNTER_NAMES)} u32 counters)")
    return dict(zip(COUNTER_NAMES, struct.unpack(f"<{len(COUNTER_NAMES)}I", payload)))
