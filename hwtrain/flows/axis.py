"""AXI4-Stream ports around any streaming design (``hwtrain generate DESIGN --ports axis``).

The wrapper renames, it does not buffer: the core's input stream becomes the
AXI4-Stream slave ``s_axis_tdata/tvalid/tready``, its output stream the master
``m_axis_tdata/tvalid/tready``, its clock ``aclk`` and its reset the active-low,
synchronous ``aresetn``. Amaranth streams have AXI's handshake (a transfer
happens on a rising edge of ``aclk`` where TVALID and TREADY are both high), so
latency and throughput are the core's own. TDATA is the payload padded with
zeros to whole bytes, as AXI4-Stream requires; the manifest gives the payload's
fields with their bit offsets. Ports that are not streams (run-time weights,
status bits) keep their names and are passed through.

The manifest (``<top>.json`` beside ``<top>.v``) describes every port:
direction, width, protocol, the payload layout of TDATA, and the core's latency
and cycles per sample where the design fixes them.
"""

from __future__ import annotations

from amaranth.hdl import ClockDomain, Module, Shape, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..errors import HwtrainError

CLOCK, RESET = "aclk", "aresetn"


def _bytes(width: int) -> int:
    """TDATA width: ``width`` rounded up to whole bytes (at least one)."""
    return max(8, -(-width // 8) * 8)


def layout_fields(shape, offset: int = 0, name: str = "") -> list[dict]:
    """The fields of a payload shape, each with its bit offset, width and signedness
    (arrays as one entry with their element count and element layout)."""
    if isinstance(shape, data.StructLayout):
        out = []
        for member, field in shape:
            out += layout_fields(field.shape, offset + field.offset, f"{name}.{member}" if name else member)
        return out
    if isinstance(shape, data.ArrayLayout):
        elem = shape.elem_shape
        return [{"name": name or "data", "offset": offset, "width": shape.size, "array": {
            "count": shape.length, "stride": data.Layout.cast(elem).size if isinstance(elem, data.Layout)
            else Shape.cast(elem).width,
            "element": layout_fields(elem, 0, "")}}]
    if isinstance(shape, data.Layout):
        raise HwtrainError(f"payload layout {shape!r} is not described by hwtrain's manifest")
    s = Shape.cast(shape)
    field = {"name": name or "data", "offset": offset, "width": s.width, "signed": s.signed}
    if isinstance(shape, range):
        field.update(min=min(shape, default=0), max=max(shape, default=0))      # the values it holds
    return [field]


def _width(shape) -> int:
    return data.Layout.cast(shape).size if isinstance(shape, data.Layout) else Shape.cast(shape).width


def _split(core) -> tuple[str | None, str | None, list[str]]:
    """The core's input stream member, output stream member and other ports."""
    ins, outs, rest = [], [], []
    for name, member in core.signature.members.items():
        if member.is_signature and isinstance(member.signature, stream.Signature):
            (ins if member.flow == In else outs).append(name)
        elif member.is_signature:
            raise HwtrainError(f"port {name} of {type(core).__name__} is an interface that is not a "
                               f"stream; --ports axis wraps streaming designs only")
        else:
            rest.append(name)
    if len(ins) > 1 or len(outs) > 1:
        raise HwtrainError(f"{type(core).__name__} has input streams {ins} and output streams {outs}; "
                           f"--ports axis needs at most one of each")
    if not ins and not outs:
        raise HwtrainError(f"{type(core).__name__} has no stream ports; --ports axis wraps streaming designs")
    return (ins[0] if ins else None), (outs[0] if outs else None), rest


class AxisWrapper(wiring.Component):
    """``core`` with AXI4-Stream port names, clock ``aclk`` and active-low reset ``aresetn``."""

    def __init__(self, core: wiring.Component):
        self.core = core
        try:
            self.s_name, self.m_name, self.other = _split(core)
        except HwtrainError:
            self._MustUse__silence = core._MustUse__silence = True   # refused, never elaborated
            raise
        members = {CLOCK: In(1), RESET: In(1)}
        self.s_shape = self.m_shape = None
        if self.s_name:
            self.s_shape = core.signature.members[self.s_name].signature.members["payload"].shape
            members.update(s_axis_tdata=In(_bytes(_width(self.s_shape))), s_axis_tvalid=In(1),
                           s_axis_tready=Out(1))
        if self.m_name:
            self.m_shape = core.signature.members[self.m_name].signature.members["payload"].shape
            members.update(m_axis_tdata=Out(_bytes(_width(self.m_shape))), m_axis_tvalid=Out(1),
                           m_axis_tready=In(1))
        for name in self.other:
            if name in members:
                raise HwtrainError(f"port {name} of {type(core).__name__} clashes with an AXI4-Stream name")
            members[name] = core.signature.members[name]
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd = ClockDomain("sync", local=True)
        m.d.comb += [cd.clk.eq(getattr(self, CLOCK)), cd.rst.eq(~getattr(self, RESET))]
        m.submodules.core = core = self.core
        if self.s_name:
            s = getattr(core, self.s_name)
            m.d.comb += [s.payload.eq(self.s_axis_tdata[:_width(self.s_shape)]),
                         s.valid.eq(self.s_axis_tvalid), self.s_axis_tready.eq(s.ready)]
        if self.m_name:
            o = getattr(core, self.m_name)
            m.d.comb += [self.m_axis_tdata.eq(Value.cast(o.payload)), self.m_axis_tvalid.eq(o.valid),
                         o.ready.eq(self.m_axis_tready)]
        for name in self.other:
            if core.signature.members[name].flow == In:
                m.d.comb += getattr(core, name).eq(getattr(self, name))
            else:
                m.d.comb += getattr(self, name).eq(getattr(core, name))
        return m

    def ports(self, timing: dict) -> dict:
        """The manifest's description of every port."""
        bus = "AXI4-Stream"
        out = [{"name": CLOCK, "direction": "input", "width": 1, "protocol": "clock",
                "description": "every port is synchronous to its rising edge"},
               {"name": RESET, "direction": "input", "width": 1, "protocol": "reset",
                "active": "low", "synchronous": True,
                "description": "hold low for at least one aclk edge; clears every stream"}]
        for side, shape, member in (("s_axis", self.s_shape, self.s_name), ("m_axis", self.m_shape, self.m_name)):
            if member is None:
                continue
            d_in, d_out = ("input", "output") if side == "s_axis" else ("output", "input")
            width = _width(shape)
            out += [{"name": f"{side}_tdata", "direction": d_in, "width": _bytes(width), "protocol": bus,
                     "interface": side, "role": "TDATA", "payload_bits": width,
                     "payload": layout_fields(shape),
                     "padding": "bits above payload_bits are " + ("ignored" if side == "s_axis" else "zero")},
                    {"name": f"{side}_tvalid", "direction": d_in, "width": 1, "protocol": bus,
                     "interface": side, "role": "TVALID"},
                    {"name": f"{side}_tready", "direction": d_out, "width": 1, "protocol": bus,
                     "interface": side, "role": "TREADY"}]
        for name in self.other:
            member = self.signature.members[name]
            out.append({"name": name, "direction": "input" if member.flow == In else "output",
                        "width": _width(member.shape), "protocol": "none",
                        "payload": layout_fields(member.shape, 0, name),
                        "description": "level signal of the core, passed through"})
        return {"style": "axis", "clock": CLOCK, "reset": RESET,
                "slave": "s_axis" if self.s_name else None, "master": "m_axis" if self.m_name else None,
                "signals": out, **timing}


def timing(design_name: str, cfg, core) -> dict:
    """Latency and cycles per sample of a design, where its configuration fixes them."""
    latency = cycles = None
    note = None
    if hasattr(cfg, "latency") and hasattr(cfg, "cycles_per_sample") and not callable(cfg.latency):
        latency, cycles = cfg.latency, cfg.cycles_per_sample                 # inference cores
    elif design_name == "datapath":
        latency, cycles = cfg.pipeline, 1
    elif design_name == "logic":
        latency, cycles = core.latency, 1
    elif design_name == "prng":
        latency, cycles = 0, 1
    else:
        note = "data-dependent: see the design's documentation (docs/) for its command protocol and cycles"
    out = {"latency_cycles": latency, "cycles_per_sample": cycles}
    if latency is not None:
        out["timing_note"] = ("cycles from the input handshake to the result's TVALID, and between two "
                              "accepted samples, when neither side stalls")
    if note:
        out["timing_note"] = note
    return out

