"""Testbench helpers for ``amaranth.lib.stream`` ports in Amaranth's simulator.

Fast unit benches of small blocks use these (the cocotb benches in ``sim/`` are
the bit-exact checks of the emitted Verilog). Same idiom as Glasgow's
``stream_put`` / ``stream_get``.
"""

from __future__ import annotations


def _watch(clocks: int, stall_limit: int | None, what: str) -> None:
    if stall_limit is not None and clocks >= stall_limit:
        raise AssertionError(f"the core did not {what} in {stall_limit} clocks (a stalled handshake)")


async def stream_put(ctx, stream, payload, stall_limit: int | None = None) -> None:
    """Offer ``payload`` on ``stream`` and wait until it is taken (failing after ``stall_limit``
    clocks without ``ready``, when given)."""
    ctx.set(stream.valid, 1)
    ctx.set(stream.payload, payload)
    n = 0
    async for _, _, ready in ctx.tick().sample(stream.ready):
        if ready:
            break
        n += 1
        _watch(n, stall_limit, "take a payload")
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream):
    """Accept one payload from ``stream`` and return it."""
    ctx.set(stream.ready, 1)
    payload, = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload


class CountingTransport:
    """A host driver's transport on a core's ``cmd`` and ``resp`` streams in Amaranth's
    simulator (``put(word)``, ``get() -> int``); ``edges``: the clock edges from the last word
    taken to the response word, what the trainers' cycle formulas predict. A core that takes no
    command word or gives no response word for ``stall_limit`` clocks fails the bench (a stalled
    handshake would otherwise simulate forever)."""

    def __init__(self, ctx, dut, stall_limit: int = 200_000):
        self.ctx, self.dut, self.edges, self.stall_limit = ctx, dut, 0, stall_limit

    async def put(self, word):
        await stream_put(self.ctx, self.dut.cmd, word, self.stall_limit)

    def unpack(self, payload) -> int:
        return int(payload)

    async def get(self) -> int:
        ctx, resp = self.ctx, self.dut.resp
        ctx.set(resp.ready, 1)
        n = 0
        async for _, _, valid, payload in ctx.tick().sample(resp.valid, resp.payload):
            n += 1
            if valid:
                break
            _watch(n, self.stall_limit, "give a response word")
        ctx.set(resp.ready, 0)
        self.edges = n
        return self.unpack(payload)


def run_stream(dut, payloads, *, i=None, o=None, gaps=None, setup=None) -> list:
    """Simulate ``dut`` (a component with stream ports ``i`` and ``o``): put every
    payload into ``i`` and collect as many payloads from ``o``.

    ``gaps`` is an optional (len(payloads), 2) array of idle cycles before each
    put and each get (random back-pressure); ``setup(ctx)`` runs before the first
    put (e.g. to drive weight ports).
    """
    from amaranth.sim import Simulator

    i = dut.i if i is None else i
    o = dut.o if o is None else o
    got = []

    async def producer(ctx):
        if setup is not None:
            setup(ctx)
        for n, payload in enumerate(payloads):
            if gaps is not None and gaps[n, 0]:
                await ctx.tick().repeat(int(gaps[n, 0]))
            await stream_put(ctx, i, payload)

    async def consumer(ctx):
        for n in range(len(payloads)):
            if gaps is not None and gaps[n, 1]:
                await ctx.tick().repeat(int(gaps[n, 1]))
            got.append(await stream_get(ctx, o))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    return got
