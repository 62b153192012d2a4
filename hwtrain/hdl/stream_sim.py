"""Testbench helpers for ``amaranth.lib.stream`` ports in Amaranth's simulator.

Fast unit benches of small blocks use these (the cocotb benches in ``sim/`` are
the bit-exact checks of the emitted Verilog). Same idiom as Glasgow's
``stream_put`` / ``stream_get``.
"""

from __future__ import annotations


async def stream_put(ctx, stream, payload) -> None:
    """Offer ``payload`` on ``stream`` and wait until it is taken."""
    ctx.set(stream.valid, 1)
    ctx.set(stream.payload, payload)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream):
    """Accept one payload from ``stream`` and return it."""
    ctx.set(stream.ready, 1)
    payload, = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload
