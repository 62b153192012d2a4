"""Board top level: an engine (inference core or on-chip trainer) behind the UART host protocol.

Data flow::

    pin rx -> UARTRx -> HostLink -> core.i          core.o -> HostLink -> UARTTx -> pin tx

``HostLink`` is the protocol engine (golden twin: ``hwtrain.protocol.board.BoardModel``):
it buffers a request frame in one block RAM, checks its CRC, then executes it, so a
corrupted frame never reaches the core. ``UartLink`` adds the UART; ``BoardTop`` binds
it to a board's clock and pins.
"""


from amaranth.hdl import Array, Cat, Const, Elaboratable, Module, Mux, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..errors import require
from ..hdl.uart import UARTRx, UARTTx
from ..protocol import board as P


def crc8_next(crc: Value, byte: Value) -> Value:
    """CRC-8 (poly 0x07) after one more byte, as logic (``protocol.crc8`` for one byte)."""
    # CRC over one byte is linear in crc ^ byte: output bit j is the XOR of the
    # input bits whose single-bit CRC has bit j set (a nested Mux chain would
    # duplicate its operands 2^8 times in the emitted Verilog).
    c = crc ^ byte
    taps = [P.crc8(bytes([1 << i])) for i in range(8)]
    return Cat(*(Cat(*(c[i] for i in range(8) if taps[i] >> j & 1)).xor() for j in range(8)))


def inference_result(payload, spec: P.BoardSpec) -> Value:
    """An InferenceCore result as the reply's bytes: class u8, then each logit i16 LE."""
    cls = Value.cast(payload.cls)
    parts = [cls, Const(0, 8 - len(cls))]
    if spec.logit_bits:
        for c in range(spec.classes):
            v = Value.cast(payload.logits[c])
            parts.append(Cat(v, v[-1].replicate(16 - len(v))))   # sign-extend to i16
    return Cat(*parts)


class StreamRegister(wiring.Component):
    """One register between two streams: ``o.valid``, ``o.payload`` and ``i.ready`` all come
    from flip-flops, so no combinational path crosses it (half throughput: a word every two
    clocks, far above a UART's rate). HostLink puts one on each side of a word-stream engine."""

    def __init__(self, width: int):
        super().__init__({"i": In(stream.Signature(width)), "o": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        full = Signal()
        data = Signal.like(self.i.payload)
        m.d.comb += [self.i.ready.eq(~full), self.o.valid.eq(full), self.o.payload.eq(data)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += full.eq(0)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [full.eq(1), data.eq(self.i.payload)]
        return m


class HostLink(wiring.Component):
    """Request bytes on ``rx``, reply bytes on ``tx``; samples to ``core.i``, results from ``core.o``.

    ``uart_error`` pulses count UART framing errors and overruns.
    """

    def __init__(self, spec: P.BoardSpec, core, *, i: str = "i", o: str = "o", result=None):
        """``core`` takes records (``spec.input_bits``) on stream ``i`` and answers each
        with one result on stream ``o``; ``result(payload, spec)`` turns that payload
        into the reply's bytes (default: ``inference_result``).

        A word-stream engine (``spec.command == WORDS``) takes 32-bit command words on ``i``
        and answers with any number of 32-bit words on ``o``: a WORDS request's words go in
        while the R response words its first word asks for go out (docs/host_protocol.md)."""
        require(spec.max_payload >= spec.sample_bytes,
                f"max_payload {spec.max_payload} holds no record of {spec.sample_bytes} bytes")
        require(spec.classes <= 256, f"the protocol carries classes in one byte; {spec.classes} classes")
        require(spec.logit_bits <= 16, f"logits of {spec.logit_bits} bits do not fit the protocol's i16")
        require(spec.max_samples * spec.result_bytes < 1 << 16,
                f"{spec.max_samples} results of {spec.result_bytes} bytes exceed a 64 KiB reply; "
                f"lower max_payload")
        require(spec.timeout_clocks >= 4 * spec.divisor * 10,
                "timeout_clocks must cover several byte times")
        self.spec, self.core = spec, core
        self.core_i, self.core_o = getattr(core, i), getattr(core, o)
        self.words = spec.command == P.WORDS
        if self.words:
            require(spec.input_bits == spec.result_bits == 8 * P.WORD_BYTES,
                    f"a word-stream engine takes and answers {8 * P.WORD_BYTES}-bit words")
            require(len(self.core_i.payload) == len(self.core_o.payload) == 8 * P.WORD_BYTES,
                    f"the engine's streams are {len(self.core_i.payload)} and {len(self.core_o.payload)} "
                    f"bits wide; WORDS carries {8 * P.WORD_BYTES}-bit words")
        self.result = result or inference_result
        super().__init__({"rx": In(stream.Signature(8)), "tx": Out(stream.Signature(8)),
                          "uart_error": In(1)})

    def elaborate(self, platform):
        spec, core = self.spec, self.core
        core_i, core_o = self.core_i, self.core_o
        m = Module()
        m.submodules.core = core
        if self.words:      # registers between the link's control and the engine's handshakes
            m.submodules.cmd_reg = cmd_reg = StreamRegister(8 * P.WORD_BYTES)
            m.submodules.resp_reg = resp_reg = StreamRegister(8 * P.WORD_BYTES)
            wiring.connect(m, cmd_reg.o, core_i)
            wiring.connect(m, core_o, resp_reg.i)
            core_i, core_o = cmd_reg.i, resp_reg.o
        m.submodules.buffer = buf = Memory(shape=8, depth=spec.max_payload, init=[])
        wr, rd = buf.write_port(), buf.read_port()

        rx, tx = self.rx, self.tx
        got = Signal()                                    # a request byte is taken this cycle
        m.d.comb += got.eq(rx.valid & rx.ready)
        byte = rx.payload
        cmd, length, count = Signal(8), Signal(16), Signal(16)
        rx_crc, tx_crc = Signal(8), Signal(8)
        in_sample = Signal(range(spec.sample_bytes))      # byte position within a sample
        samples = Signal(16)                              # whole samples in the payload
        timer = Signal(range(spec.timeout_clocks))
        err_code, rsp, reply_len, idx = Signal(8), Signal(8), Signal(16), Signal(16)
        kind = Signal(2)                                  # 0 info, 1 counters, 2 error, 3 infer
        sample = Signal(spec.sample_bytes * 8)
        result = Signal(spec.result_bytes * 8)
        ptr = Signal(range(max(spec.max_payload, 2)))
        byte_i = Signal(range(max(spec.sample_bytes, spec.result_bytes) + 1))
        sample_i = Signal(16)

        counters = {n: Signal(32, name=f"n_{n}") for n in P.COUNTER_NAMES}
        # WORDS: the expected response count (first payload word), words still to push and to send.
        r_count = Signal(32)
        words_left, resp_left = Signal(16), Signal(16)
        p_word, p_fill, p_phase = Signal(32), Signal(range(5)), Signal()
        c_word, c_bytes = Signal(32), Signal(range(5))
        dead = Signal()                                   # the engine stayed silent: pad, push no more

        def bump(name):
            return counters[name].eq(counters[name] + 1)

        with m.If(self.uart_error):
            m.d.sync += bump("uart_errors")

        m.d.comb += [rd.addr.eq(ptr), wr.addr.eq(count), wr.data.eq(byte)]

        # Reply bytes of the fixed-format replies, selected by kind and index.
        info = Array(Const(b, 8) for b in spec.info_bytes())
        flat = Cat(*counters.values())
        counter_bytes = Array(flat[8 * j:8 * j + 8] for j in range(len(flat) // 8))
        error_bytes = Array([err_code, cmd])
        reply_byte = Signal(8)
        with m.Switch(kind):
            with m.Case(0):
                m.d.comb += reply_byte.eq(info[idx[:5]])
            with m.Case(1):
                m.d.comb += reply_byte.eq(counter_bytes[idx[:5]])
            with m.Case(2):
                m.d.comb += reply_byte.eq(error_bytes[idx[0]])
        header = Array([Const(P.SYNC, 8), rsp, reply_len[:8], reply_len[8:]])

        def fail(code):
            return [err_code.eq(code), rsp.eq(P.ERROR), reply_len.eq(2), kind.eq(2), idx.eq(0)]

        def counted_fail(code):
            key = {P.E_CRC: "crc_errors", P.E_TIMEOUT: "timeouts"}.get(code, "frame_errors")
            return fail(code) + [bump(key)]

        sb = spec.sample_bytes
        with m.FSM():
            with m.State("HUNT"):
                m.d.comb += rx.ready.eq(1)
                m.d.sync += [timer.eq(0), cmd.eq(0), rx_crc.eq(0), count.eq(0),
                             in_sample.eq(0), samples.eq(0)]
                with m.If(got):
                    with m.If(byte == P.SYNC):
                        m.next = "CMD"
                    with m.Else():
                        m.d.sync += bump("dropped_bytes")

            def receiving(state, then):
                """A state that takes one request byte; times out when the line stays quiet."""
                with m.State(state):
                    m.d.comb += rx.ready.eq(1)
                    with m.If(got):
                        m.d.sync += [timer.eq(0), rx_crc.eq(crc8_next(rx_crc, byte))]
                        then()
                    with m.Elif(timer == spec.timeout_clocks - 1):
                        m.d.sync += counted_fail(P.E_TIMEOUT)
                        m.next = "HEADER"
                    with m.Else():
                        m.d.sync += timer.eq(timer + 1)

            def on_cmd():
                m.d.sync += cmd.eq(byte)
                m.next = "LEN0"

            def on_len0():
                m.d.sync += length[:8].eq(byte)
                m.next = "LEN1"

            def on_len1():
                full = Cat(length[:8], byte)
                m.d.sync += length[8:].eq(byte)
                with m.If(full > spec.max_payload):
                    m.d.sync += counted_fail(P.E_LENGTH)
                    m.next = "HEADER"
                with m.Elif(full == 0):
                    m.next = "CHECK"
                with m.Else():
                    m.next = "PAYLOAD"

            def on_payload():
                m.d.comb += wr.en.eq(1)
                if self.words:
                    with m.If(count < P.WORD_BYTES):
                        m.d.sync += r_count.eq(Cat(r_count[8:], byte))
                m.d.sync += [count.eq(count + 1),
                             in_sample.eq(Mux(in_sample == sb - 1, 0, in_sample + 1))]
                with m.If(in_sample == sb - 1):
                    m.d.sync += samples.eq(samples + 1)
                with m.If(count == length - 1):
                    m.next = "CHECK"

            def on_check():
                with m.If(byte != rx_crc):
                    m.d.sync += counted_fail(P.E_CRC)
                    m.next = "HEADER"
                with m.Else():
                    m.next = "DISPATCH"

            receiving("CMD", on_cmd)
            receiving("LEN0", on_len0)
            receiving("LEN1", on_len1)
            receiving("PAYLOAD", on_payload)
            receiving("CHECK", on_check)

            with m.State("DISPATCH"):
                m.next = "HEADER"
                m.d.sync += [idx.eq(0), rsp.eq(cmd | P.REPLY), sample_i.eq(0), ptr.eq(0),
                             byte_i.eq(0)]
                reserved = Signal()
                m.d.comb += reserved.eq(Cat(*(cmd == c for c in P.RESERVED if c != spec.command)).any())
                with m.If(reserved):
                    m.d.sync += counted_fail(P.E_UNSUPPORTED)
                with m.Elif((cmd != P.PING) & (cmd != spec.command) & (cmd != P.COUNTERS)):
                    m.d.sync += counted_fail(P.E_UNKNOWN)
                if self.words:
                    bad_len = (length < 2 * P.WORD_BYTES) | (in_sample != 0) | (r_count > P.MAX_REPLY_WORDS)
                else:
                    bad_len = (length == 0) | (in_sample != 0)
                with m.Elif(Mux(cmd == spec.command, bad_len, length != 0)):
                    m.d.sync += counted_fail(P.E_LENGTH)
                with m.Else():
                    m.d.sync += bump("frames_ok")
                    with m.Switch(cmd):
                        with m.Case(P.PING):
                            m.d.sync += [kind.eq(0), reply_len.eq(len(spec.info_bytes()))]
                        with m.Case(P.COUNTERS):
                            m.d.sync += [kind.eq(1), reply_len.eq(4 * len(P.COUNTER_NAMES))]
                        with m.Case(spec.command):
                            if self.words:
                                m.d.sync += [kind.eq(3), reply_len.eq(r_count[:14] << 2),
                                             resp_left.eq(r_count), words_left.eq((length >> 2) - 1),
                                             ptr.eq(P.WORD_BYTES), p_fill.eq(0), p_phase.eq(0),
                                             c_bytes.eq(0), dead.eq(0), timer.eq(0)]
                            else:
                                m.d.sync += [kind.eq(3), reply_len.eq(samples * spec.result_bytes)]

            with m.State("HEADER"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(header[idx[:2]])]
                with m.If(tx.ready):
                    m.d.sync += [idx.eq(idx + 1),
                                 tx_crc.eq(Mux(idx == 0, 0, crc8_next(tx_crc, tx.payload)))]
                    with m.If(idx == 3):
                        m.d.sync += idx.eq(0)
                        m.next = "HEADER_DONE"
            with m.State("HEADER_DONE"):
                m.next = "STREAM" if self.words else "LOAD_ADDR"
                with m.If(kind != 3):
                    m.next = "BYTES"

            with m.State("BYTES"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(reply_byte)]
                with m.If(tx.ready):
                    m.d.sync += [idx.eq(idx + 1), tx_crc.eq(crc8_next(tx_crc, tx.payload))]
                    with m.If(idx == reply_len - 1):
                        m.next = "TAIL"

            if not self.words:
                # INFER (records): per sample, read its bytes from the buffer, run the core, send the result.
                with m.State("LOAD_ADDR"):
                    m.next = "LOAD_DATA"                      # the buffer reads one cycle later
                with m.State("LOAD_DATA"):
                    m.d.sync += [sample.eq(Cat(sample[8:], rd.data)), ptr.eq(ptr + 1),
                                 byte_i.eq(byte_i + 1)]
                    m.next = "LOAD_ADDR"
                    with m.If(byte_i == sb - 1):
                        m.d.sync += byte_i.eq(0)
                        m.next = "PUSH"
                with m.State("PUSH"):
                    m.d.comb += [core_i.valid.eq(1), core_i.payload.eq(sample[:spec.input_bits])]
                    with m.If(core_i.ready):
                        m.next = "WAIT"
                with m.State("WAIT"):
                    m.d.comb += core_o.ready.eq(1)
                    with m.If(core_o.valid):
                        m.d.sync += [result.eq(self.result(core_o.payload, spec)), bump("samples")]
                        m.next = "RESULT"
                with m.State("RESULT"):
                    m.d.comb += [tx.valid.eq(1), tx.payload.eq(result[:8])]
                    with m.If(tx.ready):
                        m.d.sync += [result.eq(result >> 8), byte_i.eq(byte_i + 1),
                                     tx_crc.eq(crc8_next(tx_crc, tx.payload))]
                        with m.If(byte_i == spec.result_bytes - 1):
                            m.d.sync += [byte_i.eq(0), sample_i.eq(sample_i + 1)]
                            m.next = "LOAD_ADDR"
                            with m.If(sample_i == samples - 1):
                                m.next = "TAIL"
            else:
                self._stream(m, rd, bump, core_i, core_o, dict(
                    ptr=ptr, timer=timer, tx_crc=tx_crc, words_left=words_left, resp_left=resp_left,
                    dead=dead, p_word=p_word, p_fill=p_fill, p_phase=p_phase, c_word=c_word,
                    c_bytes=c_bytes))

            with m.State("TAIL"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(tx_crc)]
                with m.If(tx.ready):
                    m.next = "HUNT"
        return m


    def _stream(self, m, rd, bump, core_i, core_o, v):
        """WORDS: push the command words from the buffer into the engine while its response
        words go out; a watchdog (``timeout_clocks`` without a word pushed, taken or a byte
        sent) stops the pushing and pads the reply with zero words."""
        tx = self.tx
        ptr, timer, tx_crc = v["ptr"], v["timer"], v["tx_crc"]
        words_left, resp_left, dead = v["words_left"], v["resp_left"], v["dead"]
        p_word, p_fill, p_phase, c_word, c_bytes = v["p_word"], v["p_fill"], v["p_phase"], v["c_word"], v["c_bytes"]
        progress = Signal()
        with m.State("STREAM"):
            # pusher: 4 buffer bytes (address, then data) into one word, then offer it
            with m.If(~dead & (words_left != 0)):
                with m.If(p_fill == P.WORD_BYTES):
                    m.d.comb += [core_i.valid.eq(1), core_i.payload.eq(p_word)]
                    with m.If(core_i.ready):
                        m.d.comb += progress.eq(1)
                        m.d.sync += [p_fill.eq(0), words_left.eq(words_left - 1)]
                with m.Elif(~p_phase):
                    m.d.sync += p_phase.eq(1)
                with m.Else():
                    m.d.sync += [p_word.eq(Cat(p_word[8:], rd.data)), ptr.eq(ptr + 1),
                                 p_fill.eq(p_fill + 1), p_phase.eq(0)]
            # collector: one response word (or a pad word once dead), then its 4 bytes out
            with m.If(c_bytes != 0):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(c_word[:8])]
                with m.If(tx.ready):
                    m.d.comb += progress.eq(1)
                    m.d.sync += [c_word.eq(c_word >> 8), c_bytes.eq(c_bytes - 1),
                                 tx_crc.eq(crc8_next(tx_crc, tx.payload))]
                    with m.If(c_bytes == 1):
                        m.d.sync += resp_left.eq(resp_left - 1)
            with m.Elif(resp_left != 0):
                with m.If(dead):
                    m.d.sync += [c_word.eq(0), c_bytes.eq(P.WORD_BYTES)]
                with m.Else():
                    m.d.comb += core_o.ready.eq(1)
                    with m.If(core_o.valid):
                        m.d.comb += progress.eq(1)
                        m.d.sync += [c_word.eq(core_o.payload), c_bytes.eq(P.WORD_BYTES), bump("samples")]
            with m.Elif(dead | (words_left == 0)):
                m.next = "TAIL"
            # watchdog
            with m.If(progress):
                m.d.sync += timer.eq(0)
            with m.Elif(~dead):
                with m.If(timer == self.spec.timeout_clocks - 1):
                    m.d.sync += [dead.eq(1), bump("timeouts")]
                with m.Else():
                    m.d.sync += timer.eq(timer + 1)


def trainer_result(payload, spec: P.BoardSpec) -> Value:
    """An OnlineTrainer response as the reply's bytes: its data word, little-endian."""
    data = Value.cast(payload.data)
    return Cat(data, Const(0, spec.result_bytes * 8 - len(data)))


class UartLink(wiring.Component):
    """``HostLink`` behind a UART: line ``rx`` in, line ``tx`` out. The unit the benches test.
    ``link_args`` go to HostLink (the engine's stream names and result encoder)."""

    rx: In(1, init=1)
    tx: Out(1, init=1)

    def __init__(self, spec: P.BoardSpec, core, **link_args):
        self.spec, self.core, self.link_args = spec, core, link_args
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = urx = UARTRx(self.spec.divisor)
        m.submodules.uart_tx = utx = UARTTx(self.spec.divisor)
        m.submodules.link = link = HostLink(self.spec, self.core, **self.link_args)
        wiring.connect(m, urx.o, link.rx)
        wiring.connect(m, link.tx, utx.i)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx),
                     link.uart_error.eq(urx.framing_error | urx.overrun)]
        return m


class BoardTop(Elaboratable):
    """A ``UartLink`` on a board: the default clock (or, with ``pll``, the clock of an ECP5
    PLL on it: ``hwtrain.boards.pll``), the board's UART pins, and LEDs (first LED: a
    heartbeat from the clock, so a user sees the bitstream is running)."""

    def __init__(self, link: UartLink, pll=None):
        self.link, self.pll = link, pll

    def elaborate(self, platform):
        m = Module()
        if self.pll is not None:
            from .pll import PllDomain
            m.domains.sync = PllDomain.domain()
            m.submodules.pll = PllDomain(self.pll)
        m.submodules.link = self.link
        uart = platform.request("uart", 0)
        m.d.comb += [self.link.rx.eq(uart.rx.i), uart.tx.o.eq(self.link.tx)]
        if any(r.name == "uart_tx_enable" for r in platform.resources.values()):
            # ULX3S: the FPGA drives this pin high to let the FTDI chip's TX line through.
            m.d.comb += platform.request("uart_tx_enable", 0).o.eq(1)
        half_second = max(self.link.spec.clock_hz // 2, 2)
        beat, led_on = Signal(range(half_second)), Signal()
        m.d.sync += beat.eq(beat + 1)
        with m.If(beat == half_second - 1):
            m.d.sync += [beat.eq(0), led_on.eq(~led_on)]
        led = platform.request("led", 0)
        m.d.comb += led.o.eq(led_on)
        return m
