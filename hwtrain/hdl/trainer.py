"""On-chip online training engine for binary MLPs: CP+R (local errors) and BEP.

``OnlineTrainer(cfg)`` is the hardware twin of
:class:`hwtrain.golden.trainer.OnlineTrainer` (which drives
``hwtrain.golden.train.mlp.MLPTrainer`` with batch 1). Structure, timing and
every width are described in docs/trainer.md; the integer rules are those of
docs/semantics_training.md.

One command stream in, one response stream out (every command gets exactly
one response, in order, so a UART bridge can carry the same protocol later):

=========  =====================================  ===========================
op         arg                                    response data
=========  =====================================  ===========================
TRAIN      label y                                prediction (pre-update)
WRITE_REG  register address (``REG_*``)           0
READ_REG   register address                       register / counter value
WRITE_ROW  layer << 12 | row                      0
READ_ROW   layer << 12 | row                      the row's hidden weights
FLUSH      -                                      0 (pending reinforcement done)
=========  =====================================  ===========================

TRAIN data holds the K0 input bits (bit j = +1); rows hold K_in hidden
weights of B bits, weight j in bits j*B .. j*B+B-1 (two's complement).

Per layer l the hidden weights of neuron k are one word of a
``amaranth.lib.memory.Memory`` (depth K_l, width K_{l-1}*B, one read and one
write port: block RAM). The engine is folded one neuron (PE = 1) by the whole
fan-in (SIMD = K_{l-1}) per cycle. Reinforcement never changes a sign, so the
reinforcement sweep that follows step n is fused into the forward sweep of
step n+1 (same row read, reinforced row written back); FLUSH runs a pending
sweep on its own (the host sends it before reading rows).
"""

from __future__ import annotations

import math

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..errors import require
from ..core import prng
from ..golden.train.config import TrainConfig
from .popcount import popcount
from .prng import xorshift32_step
from .saturate import saturating_step2
from ..protocol.trainer import (ARG_BITS, COUNTER_BITS, OP_FLUSH, OP_READ_REG, OP_READ_ROW, OP_TRAIN,
                                OP_WRITE_REG, OP_WRITE_ROW, PARAM_BITS, REG_ERRORS, REG_EVERY, REG_GAMMA,
                                REG_GATE, REG_MARGIN, REG_PENDING, REG_REINFORCE, REG_SAMPLES, REG_UPDATES,
                                ROW_BITS, cmd_layout, pack_row)

# ECP5 LFE5U-85F: 208 DP16KD blocks of 18 kbit (as 36 x 512 in pseudo-dual-port mode).
ECP5_85F_EBR = 208


def _ebr_blocks(width: int, depth: int) -> int:
    """DP16KD blocks for a width x depth memory with 1 read + 1 write port."""
    if depth <= 512:
        return math.ceil(width / 36) * math.ceil(depth / 512)
    return math.ceil(width / 18) * math.ceil(depth / 1024)


def plan(cfg: TrainConfig) -> dict:
    """Sizes and widths of the engine for ``cfg``; raises HwtrainError if it cannot be built."""
    require(isinstance(cfg, TrainConfig), "the training engine needs a TrainConfig")
    require(cfg.algorithm in ("cpr", "bep"),
            f"the on-chip trainer implements cpr and bep, not {cfg.algorithm}")
    require(cfg.batch == 1, f"the on-chip trainer is online: batch must be 1, got {cfg.batch} "
                            f"(mini-batch aggregation is not implemented)")
    require(cfg.algorithm != "bep" or cfg.zero_target == "plus",
            f"the on-chip BEP trainer takes a back-projected 0 as +1 (zero_target='plus'), "
            f"got zero_target={cfg.zero_target!r}")
    sizes = (cfg.inputs,) + tuple(cfg.hidden)
    layers = len(cfg.hidden)
    require(layers <= 16, f"at most 16 layers fit the 4-bit layer field, got {layers}")
    for l, k in enumerate(cfg.hidden):
        require(k <= 1 << ROW_BITS, f"layer {l + 1} has {k} neurons; the row field holds at most {1 << ROW_BITS}")
        require(k < 1 << PARAM_BITS, f"layer {l + 1} has {k} neurons; gamma registers hold < {1 << PARAM_BITS}")
    require(cfg.reinforce_every < 1 << PARAM_BITS,
            f"reinforce_every {cfg.reinforce_every} does not fit the {PARAM_BITS}-bit register")
    require(cfg.classes <= 1 << ARG_BITS, f"{cfg.classes} classes do not fit the {ARG_BITS}-bit label field")
    rows = [sizes[l] * cfg.hidden_bits for l in range(layers)]
    ebr = [_ebr_blocks(w, k) for w, k in zip(rows, cfg.hidden)]
    total = sum(ebr)
    require(total <= ECP5_85F_EBR,
            f"hidden weights need {total} DP16KD blocks ({', '.join(f'{w}b x {k}' for w, k in zip(rows, cfg.hidden))}), "
            f"an ECP5-85F has {ECP5_85F_EBR}")
    return {"sizes": sizes, "layers": layers, "row_bits": rows, "ebr": ebr,
            "data_bits": max(rows + [cfg.inputs, 33, COUNTER_BITS]),
            "class_bits": max(1, (cfg.classes - 1).bit_length()),
            "z_bits": [max(f, 1).bit_length() + 1 for f in sizes[:-1]],
            "logit_bits": [max(k, 1).bit_length() + 1 for k in cfg.hidden]}


def _bits_of(pm1) -> int:
    return sum(1 << j for j, v in enumerate(pm1) if v > 0)


class OnlineTrainer(wiring.Component):
    """Online (batch 1) CP+R / BEP training engine; reset state = the golden trainer's initial state.

    Ports: ``cmd`` (in) and ``resp`` (out) streams, see the module docstring.
    """

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.p = plan(cfg)
        from ..golden.trainer import OnlineTrainer as Golden
        g = Golden(cfg)
        self.init_rows = [[pack_row(r, cfg.hidden_bits) for r in h] for h in g.H]
        # Lane registers hold the *next* draw: one step past the golden state after initialisation.
        self.init_lanes = [[prng.step(int(s)) for s in gen.state] for gen in g.t.gens]
        self.classifiers = g.t.P                      # cpr: one per layer; bep: one (top layer)
        self.init_regs = g.registers()
        db = self.p["data_bits"]
        super().__init__({
            "cmd": In(stream.Signature(cmd_layout(db))),
            "resp": Out(stream.Signature(data.StructLayout({"data": db}))),
        })

    def cycles_per_sample(self, rows=None, active=False) -> int:
        """Clock cycles from one TRAIN acceptance to the next with no stalls (docs/trainer.md).

        ``rows``: rows updated per layer in this step (at most K_l / gamma_l each);
        ``active`` (bep): the output margin was below M, so the lower layers'
        mask/back-projection sweeps ran. IDLE (1) + forward sweeps (K_l + 2 each)
        + DECIDE (1) + update phases (u + 3, or 1 when u = 0) + FIN (1) + RESP (1).
        """
        cfg = self.cfg
        L = len(cfg.hidden)
        rows = rows or [0] * L
        upd = [u + 3 if u else 1 for u in rows]
        n = 1 + sum(k + 2 for k in cfg.hidden) + 1
        if cfg.algorithm == "cpr":
            n += sum(upd)
        else:
            n += upd[-1]
            if active:
                n += sum(cfg.hidden[l] + 2 + upd[l] for l in range(L - 1))
        return n + 2

    def cycle_bound(self, rows=None) -> int:
        """Port bound: every row of every layer read once (forward), each updated row read-modify-written once."""
        rows = rows or [0] * len(self.cfg.hidden)
        return sum(self.cfg.hidden) + sum(rows)

    def elaborate(self, platform):
        cfg, p = self.cfg, self.p
        m = Module()
        L = p["layers"]
        sizes = p["sizes"]
        B = cfg.hidden_bits
        C = cfg.classes
        cb = p["class_bits"]
        bep = cfg.algorithm == "bep"

        cmd, resp = self.cmd, self.resp
        op, arg, cdata = cmd.payload.op, cmd.payload.arg, cmd.payload.data

        # --- host registers (reset = the configuration's initial integers) ---
        regs = self.init_regs
        margin = [Signal(PARAM_BITS, name=f"reg_margin{l}", init=regs["margins"][min(l, len(regs["margins"]) - 1)]) for l in range(L)]
        gate = [Signal(PARAM_BITS, name=f"reg_gate{l}", init=regs["gates"][l]) for l in range(L)]
        thr = [Signal(33, name=f"reg_reinforce{l}", init=regs["reinforce"][l]) for l in range(L)]
        gamma = [Signal(PARAM_BITS, name=f"reg_gamma{l}", init=regs["gamma"][l]) for l in range(L)]
        every = Signal(PARAM_BITS, name="reg_every", init=regs["reinforce_every"])
        samples = Signal(COUNTER_BITS, name="cnt_samples")
        errors = Signal(COUNTER_BITS, name="cnt_errors")
        updates = Signal(COUNTER_BITS, name="cnt_updates")
        stepcnt = Signal(PARAM_BITS, name="steps_since_reinforce")

        xreg = Signal(sizes[0], name="sample_x")
        yreg = Signal(cb, name="sample_y")
        rd_layer = Signal(ARG_BITS - ROW_BITS, name="read_layer")
        resp_data = Signal(len(resp.payload.data), name="resp_data")
        m.d.comb += resp.payload.data.eq(resp_data)

        # --- per-layer state ---
        lay = []
        for l in range(L):
            n_in, n = sizes[l], sizes[l + 1]
            d = {"n_in": n_in, "n": n}
            mem = Memory(shape=unsigned(n_in * B), depth=n, init=self.init_rows[l])
            m.submodules[f"h{l}"] = mem
            d["rd"], d["wr"] = mem.read_port(), mem.write_port()
            zb = p["z_bits"][l]
            zmem = Memory(shape=signed(zb), depth=n, init=[])
            m.submodules[f"z{l}"] = zmem
            d["zrd"], d["zwr"] = zmem.read_port(), zmem.write_port()
            iw = max(1, (n - 1).bit_length())
            wmem = Memory(shape=unsigned(iw + 1), depth=n, init=[])   # winner list: (row, target)
            m.submodules[f"win{l}"] = wmem
            d["wrd"], d["wwr"] = wmem.read_port(), wmem.write_port()
            d["iw"] = iw
            d["has_cls"] = (not bep) or l == L - 1
            if d["has_cls"]:
                P = self.classifiers[l if not bep else 0]
                prom = Memory(shape=unsigned(C), depth=n,
                              init=[_bits_of(P[:, k]) for k in range(n)])
                m.submodules[f"p{l}"] = prom
                d["prd"] = prom.read_port()
                d["logits"] = [Signal(signed(p["logit_bits"][l]), name=f"l{l}_logit{c}") for c in range(C)]
                d["active_r"] = Signal(name=f"l{l}_active")
            d["a"] = Signal(n, name=f"l{l}_act")               # activations a_l (bit k = +1)
            d["astar"] = Signal(n, name=f"l{l}_desired")       # bep desired activations a*_l
            d["lanes"] = [Signal(32, name=f"l{l}_lane{j}", init=self.init_lanes[l][j]) for j in range(n_in)]
            d["pend"] = Signal(name=f"l{l}_pending")
            d["thr_act"] = Signal(33, name=f"l{l}_thr_active")
            d["nwin"] = Signal(range(n + 1), name=f"l{l}_nwin")
            # group tracker (easiest wrong neuron per group)
            d["gc"] = Signal(PARAM_BITS, name=f"l{l}_gcount")
            d["bv"] = Signal(name=f"l{l}_best_valid")
            d["bs"] = Signal(signed(zb + 1), name=f"l{l}_best_stab")
            d["bi"] = Signal(iw, name=f"l{l}_best_row")
            d["bt"] = Signal(name=f"l{l}_best_t")
            # sweep pipeline
            d["cnt"] = Signal(range(n + 1), name=f"l{l}_cnt")
            d["v1"] = Signal(name=f"l{l}_v1")
            d["a1"] = Signal(iw, name=f"l{l}_a1")
            d["v2"] = Signal(name=f"l{l}_v2")
            d["a2"] = Signal(iw, name=f"l{l}_a2")
            d["t2"] = Signal(name=f"l{l}_t2")
            if bep and l > 0:
                bw = p["logit_bits"][l]
                d["acc"] = [Signal(signed(bw), name=f"l{l}_bp{j}") for j in range(n_in)]
            lay.append(d)
        active = Signal(name="bep_active")                       # bep: output margin < M
        pred = Signal(cb, name="pred")

        def a_in(l):
            return xreg if l == 0 else lay[l - 1]["a"]

        # --- row datapath per layer: forward, +-2 update / reinforcement, back-projection ---
        for l, d in enumerate(lay):
            n_in = d["n_in"]
            row = d["rd"].data
            vis = Signal(n_in, name=f"l{l}_vis")                  # visible weights = sign(h)
            m.d.comb += vis.eq(Cat(~row[j * B + B - 1] for j in range(n_in)))
            agree = Signal(n_in, name=f"l{l}_agree")
            m.d.comb += agree.eq(~(vis ^ a_in(l)))
            pc = popcount(m, agree, structure="compressor", stages=0, en=Const(1), name=f"l{l}_pc")
            z = Signal(signed(p["z_bits"][l]), name=f"l{l}_z")
            m.d.comb += z.eq(pc * 2 - n_in)
            d["z"] = z
            # One +-2 saturating step unit per weight, shared by the update (direction t == a_j)
            # and the reinforcement (direction sign(h), enabled by draw < T).
            d["upd_mode"] = Signal(name=f"l{l}_upd_mode")
            d["upd_t"] = Signal(name=f"l{l}_upd_t")
            newrow = []
            for j in range(n_in):
                h = row[j * B:(j + 1) * B].as_signed()
                ev = Signal(name=f"l{l}_ev{j}")
                m.d.comb += ev.eq(d["lanes"][j] < d["thr_act"])
                up = Signal(name=f"l{l}_up{j}")
                en = Signal(name=f"l{l}_en{j}")
                m.d.comb += [up.eq(Mux(d["upd_mode"], d["upd_t"] == a_in(l)[j], ~h[B - 1])),
                             en.eq(d["upd_mode"] | ev)]
                newrow.append(saturating_step2(m, h, en, up, name=f"l{l}_nh{j}"))
            d["newrow"] = Cat(*newrow)
            d["vis"] = vis

        # --- helpers used inside the FSM -------------------------------------------------
        def sweep_issue(d, limit):
            """Issue read addresses 0..limit-1; stage 1 valid one cycle later."""
            with m.If(d["cnt"] < limit):
                m.d.comb += [d["rd"].addr.eq(d["cnt"]), d["zrd"].addr.eq(d["cnt"])]
                if "prd" in d:
                    m.d.comb += d["prd"].addr.eq(d["cnt"])
                m.d.sync += [d["cnt"].eq(d["cnt"] + 1), d["v1"].eq(1), d["a1"].eq(d["cnt"])]
            with m.Else():
                m.d.sync += d["v1"].eq(0)

        def track(l, z, t, k, tag):
            """Group winner tracker of layer l: one neuron (pre-activation z, target t, row k) per call.

            Strictly-greater stability replaces the best, so the lowest index wins ties."""
            d = lay[l]
            wrong = Signal(name=f"l{l}_{tag}_wrong")
            stab = Signal(signed(len(d["bs"])), name=f"l{l}_{tag}_stab")
            take = Signal(name=f"l{l}_{tag}_take")
            m.d.comb += [wrong.eq((z >= 0) != t), stab.eq(Mux(t, z, -z)),
                         take.eq(wrong & (~d["bv"] | (stab > d["bs"])))]
            with m.If(d["gc"] == gamma[l] - 1):
                with m.If(take | d["bv"]):
                    m.d.comb += [d["wwr"].addr.eq(d["nwin"]), d["wwr"].en.eq(1),
                                 d["wwr"].data.eq(Mux(take, Cat(k, t), Cat(d["bi"], d["bt"])))]
                    m.d.sync += d["nwin"].eq(d["nwin"] + 1)
                m.d.sync += [d["gc"].eq(0), d["bv"].eq(0)]
            with m.Else():
                m.d.sync += d["gc"].eq(d["gc"] + 1)
                with m.If(take):
                    m.d.sync += [d["bv"].eq(1), d["bs"].eq(stab), d["bi"].eq(k), d["bt"].eq(t)]

        def tracker_reset(d):
            m.d.sync += [d["nwin"].eq(0), d["gc"].eq(0), d["bv"].eq(0)]

        def sweep_reset(d):
            m.d.sync += [d["cnt"].eq(0), d["v1"].eq(0), d["v2"].eq(0)]

        # --- the sequencer ---------------------------------------------------------------
        def go_train_start():
            for d in lay:
                sweep_reset(d)
                tracker_reset(d)
                if "logits" in d:
                    m.d.sync += [lg.eq(0) for lg in d["logits"]]
                if "acc" in d:
                    m.d.sync += [a.eq(0) for a in d["acc"]]

        with m.FSM(name="seq"):
            with m.State("IDLE"):
                m.d.comb += cmd.ready.eq(1)
                with m.If(cmd.valid):
                    with m.Switch(op):
                        with m.Case(OP_TRAIN):
                            m.d.sync += [xreg.eq(cdata[:sizes[0]]), yreg.eq(arg[:cb])]
                            go_train_start()
                            m.next = "FWD0"
                        with m.Case(OP_WRITE_REG):
                            with m.Switch(arg):
                                for l in range(L):
                                    with m.Case(REG_MARGIN + l):
                                        m.d.sync += margin[l].eq(cdata)
                                    with m.Case(REG_GATE + l):
                                        m.d.sync += gate[l].eq(cdata)
                                    with m.Case(REG_REINFORCE + l):
                                        m.d.sync += thr[l].eq(cdata)
                                    with m.Case(REG_GAMMA + l):
                                        m.d.sync += gamma[l].eq(cdata)
                                with m.Case(REG_EVERY):
                                    m.d.sync += every.eq(cdata)
                            m.d.sync += resp_data.eq(0)
                            m.next = "RESP"
                        with m.Case(OP_READ_REG):
                            with m.Switch(arg):
                                readable = {REG_SAMPLES: samples, REG_ERRORS: errors, REG_UPDATES: updates,
                                            REG_PENDING: Cat(d["pend"] for d in lay), REG_EVERY: every}
                                for l in range(L):
                                    readable.update({REG_MARGIN + l: margin[l], REG_GATE + l: gate[l],
                                                     REG_REINFORCE + l: thr[l], REG_GAMMA + l: gamma[l]})
                                for a, v in readable.items():
                                    with m.Case(a):
                                        m.d.sync += resp_data.eq(v)
                                with m.Default():
                                    m.d.sync += resp_data.eq(0)
                            m.next = "RESP"
                        with m.Case(OP_WRITE_ROW):
                            for l, d in enumerate(lay):
                                with m.If(arg[ROW_BITS:] == l):
                                    m.d.comb += [d["wr"].addr.eq(arg[:ROW_BITS]), d["wr"].en.eq(1),
                                                 d["wr"].data.eq(cdata)]
                            m.d.sync += resp_data.eq(0)
                            m.next = "RESP"
                        with m.Case(OP_READ_ROW):
                            for l, d in enumerate(lay):
                                m.d.comb += d["rd"].addr.eq(arg[:ROW_BITS])
                            m.d.sync += rd_layer.eq(arg[ROW_BITS:])
                            m.next = "RDROW"
                        with m.Case(OP_FLUSH):
                            go_train_start()
                            m.next = "FLUSH0"
                        with m.Default():
                            m.d.sync += resp_data.eq(0)
                            m.next = "RESP"

            with m.State("RDROW"):
                with m.Switch(rd_layer):
                    for l, d in enumerate(lay):
                        with m.Case(l):
                            m.d.sync += resp_data.eq(d["rd"].data)
                m.next = "RESP"

            # Forward sweeps (TRAIN) and flush sweeps (FLUSH): the pending reinforcement of the
            # previous step is applied to each row as it passes (signs are unchanged by it).
            for mode in ("FWD", "FLUSH"):
                for l, d in enumerate(lay):
                    with m.State(f"{mode}{l}"):
                        sweep_issue(d, d["n"])
                        with m.If(d["v1"]):
                            k = d["a1"]
                            with m.If(d["pend"]):
                                m.d.comb += [d["wr"].addr.eq(k), d["wr"].en.eq(1),
                                             d["wr"].data.eq(d["newrow"])]
                                m.d.sync += [ln.eq(xorshift32_step(ln)) for ln in d["lanes"]]
                            if mode == "FWD":
                                z = d["z"]
                                m.d.comb += [d["zwr"].addr.eq(k), d["zwr"].en.eq(1), d["zwr"].data.eq(z)]
                                m.d.sync += d["a"].bit_select(k, 1).eq(z >= 0)
                                if d["has_cls"]:
                                    col = d["prd"].data
                                    for c in range(C):
                                        m.d.sync += d["logits"][c].eq(
                                            d["logits"][c] + Mux(col[c] == (z >= 0), 1, -1))
                                    t = Signal(name=f"l{l}_fwd_t")
                                    m.d.comb += t.eq(col.bit_select(yreg, 1))
                                    track(l, z, t, k, "fwd")
                                    if bep and l > 0:
                                        # back-projection through the top layer, fused (targets = P[y])
                                        g = Signal(name=f"l{l}_fwd_gate")
                                        m.d.comb += g.eq(Mux(z >= 0, z, -z) <= gate[l])
                                        with m.If(g):
                                            for j, acc in enumerate(d["acc"]):
                                                m.d.sync += acc.eq(acc + Mux(d["vis"][j] == t, 1, -1))
                        with m.If((d["cnt"] == d["n"]) & ~d["v1"]):
                            m.d.sync += d["pend"].eq(0)
                            if l + 1 < L:
                                m.next = f"{mode}{l + 1}"
                            else:
                                m.next = "DECIDE" if mode == "FWD" else "FLUSHED"

            with m.State("FLUSHED"):
                m.d.sync += resp_data.eq(0)
                m.next = "RESP"

            # Decide: prediction, margins, update criteria; counters.
            with m.State("DECIDE"):
                for l, d in enumerate(lay):
                    if not d["has_cls"]:
                        continue
                    lg = d["logits"]
                    lb = len(lg[0])
                    best, besti = lg[0], Const(0, cb)
                    oth = Mux(yreg == 0, Const(-(1 << lb), signed(lb + 1)), lg[0])
                    for c in range(1, C):
                        gt = Signal(name=f"l{l}_gt{c}")
                        m.d.comb += gt.eq(lg[c] > best)
                        nb = Signal(signed(lb), name=f"l{l}_best{c}")
                        nbi = Signal(cb, name=f"l{l}_besti{c}")
                        m.d.comb += [nb.eq(Mux(gt, lg[c], best)), nbi.eq(Mux(gt, c, besti))]
                        best, besti = nb, nbi
                        cand = Mux(yreg == c, Const(-(1 << lb), signed(lb + 1)), lg[c])
                        no = Signal(signed(lb + 1), name=f"l{l}_other{c}")
                        m.d.comb += no.eq(Mux(cand > oth, cand, oth))
                        oth = no
                    ly = Signal(signed(lb), name=f"l{l}_logit_y")
                    with m.Switch(yreg):
                        for c in range(C):
                            with m.Case(c):
                                m.d.comb += ly.eq(lg[c])
                    mg = Signal(signed(lb + 2), name=f"l{l}_margin")
                    m.d.comb += mg.eq(ly - oth)
                    m.d.sync += d["active_r"].eq(mg < (margin[0] if bep else margin[l]))
                    if l == L - 1:
                        m.d.sync += [pred.eq(besti),
                                     errors.eq(errors + (besti != yreg)),
                                     resp_data.eq(besti)]
                        if bep:
                            m.d.sync += active.eq(mg < margin[0])
                m.d.sync += samples.eq(samples + 1)
                for d in lay:
                    sweep_reset(d)
                m.next = f"UPD{L - 1}" if bep else "UPD0"

            # Updates: winner list entry -> row read -> +-2 row written back (2-stage pipeline).
            for l, d in enumerate(lay):
                with m.State(f"UPD{l}"):
                    act = active if bep else d["active_r"]
                    limit = Mux(act, d["nwin"], 0)
                    with m.If(d["cnt"] == 0):
                        m.d.sync += updates.eq(updates + limit)
                    with m.If(d["cnt"] < limit):
                        m.d.comb += d["wrd"].addr.eq(d["cnt"])
                        m.d.sync += [d["cnt"].eq(d["cnt"] + 1), d["v1"].eq(1)]
                    with m.Else():
                        m.d.sync += d["v1"].eq(0)
                    with m.If(d["v1"]):
                        ent = d["wrd"].data
                        m.d.comb += d["rd"].addr.eq(ent[:d["iw"]])
                        m.d.sync += [d["v2"].eq(1), d["a2"].eq(ent[:d["iw"]]), d["t2"].eq(ent[d["iw"]])]
                    with m.Else():
                        m.d.sync += d["v2"].eq(0)
                    with m.If(d["v2"]):
                        m.d.comb += [d["upd_mode"].eq(1), d["upd_t"].eq(d["t2"]),
                                     d["wr"].addr.eq(d["a2"]), d["wr"].en.eq(1), d["wr"].data.eq(d["newrow"])]
                    with m.If((d["cnt"] >= limit) & ~d["v1"] & ~d["v2"]):
                        sweep_reset(d)
                        if not bep:
                            m.next = f"UPD{l + 1}" if l + 1 < L else "FIN"
                        elif l == 0:
                            m.next = "FIN"
                        else:
                            m.next = f"MB{l - 1}"
                            # desired activations of the layer below from the back-projection
                            below = lay[l - 1]
                            m.d.sync += below["astar"].eq(Cat(acc >= 0 for acc in d["acc"]))
                            tracker_reset(below)
                            sweep_reset(below)
                            if "acc" in below:
                                m.d.sync += [a.eq(0) for a in below["acc"]]
                            with m.If(~active):
                                m.next = "FIN"

            # BEP lower layers: mask with targets a*_l (from z memory) and back-projection
            # through W_l (pre-update rows) in one sweep.
            if bep:
                for l in range(L - 1):
                    d = lay[l]
                    with m.State(f"MB{l}"):
                        sweep_issue(d, d["n"])
                        with m.If(d["v1"]):
                            k = d["a1"]
                            zs = d["zrd"].data
                            t = Signal(name=f"l{l}_mb_t")
                            m.d.comb += t.eq(d["astar"].bit_select(k, 1))
                            track(l, zs, t, k, "mb")
                            if "acc" in d:
                                g = Signal(name=f"l{l}_mb_gate")
                                m.d.comb += g.eq(Mux(zs >= 0, zs, -zs) <= gate[l])
                                with m.If(g):
                                    for j, acc in enumerate(d["acc"]):
                                        m.d.sync += acc.eq(acc + Mux(d["vis"][j] == t, 1, -1))
                        with m.If((d["cnt"] == d["n"]) & ~d["v1"]):
                            sweep_reset(d)
                            m.next = f"UPD{l}"

            with m.State("FIN"):
                with m.If(stepcnt + 1 >= every):
                    m.d.sync += stepcnt.eq(0)
                    for l, d in enumerate(lay):
                        m.d.sync += [d["pend"].eq(1), d["thr_act"].eq(thr[l])]
                with m.Else():
                    m.d.sync += stepcnt.eq(stepcnt + 1)
                m.next = "RESP"

            with m.State("RESP"):
                m.d.comb += resp.valid.eq(1)
                with m.If(resp.ready):
                    m.next = "IDLE"
        return m


def top_name(cfg: TrainConfig) -> str:
    return (f"trainer_{cfg.algorithm}_{'_'.join(map(str, (cfg.inputs,) + tuple(cfg.hidden)))}"
            f"_c{cfg.classes}_b{cfg.hidden_bits}_s{cfg.seed}")
