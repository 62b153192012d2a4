"""The bottom layer: the shared PRNG (xorshift32 lanes, Bernoulli thresholds) and bit packing.

Everything above uses these (datasets draw from the PRNG, golden models and hardware
pack bits the same way); they import nothing of hwtrain but ``errors``. The golden twin
of the hardware PRNG is re-exported as ``hwtrain.golden.Xorshift32``.
"""
