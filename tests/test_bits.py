"""Golden primitives: packing, XNOR-popcount, sign, saturation."""

import numpy as np
import pytest

from hwtrain.errors import HwtrainError
from hwtrain.core import bits

SHAPES = [1, 7, 63, 64, 65, 128, 784]


@pytest.mark.parametrize("k", SHAPES)
def test_pack_roundtrip_and_layout(k):
    rng = np.random.default_rng(k)
    x = rng.choice(np.array([-1, 1], dtype=np.int8), size=(5, k))
    w = bits.pack(x)
    assert w.shape == (5, bits.words_for(k)) and w.dtype == np.uint64
    np.testing.assert_array_equal(bits.unpack(w, k), x)
    # element i is bit i % 64 of word i // 64, LSB first; padding stays zero
    for s in range(5):
        as_int = bits.to_int(w[s:s + 1], k)[0]
        assert as_int == sum(1 << i for i in range(k) if x[s, i] > 0)
        assert as_int >> k == 0
    np.testing.assert_array_equal(bits.from_int(bits.to_int(w, k), k), w)


@pytest.mark.parametrize("k", SHAPES)
def test_xnor_popcount_matches_pm1_dot_product(k):
    rng = np.random.default_rng(100 + k)
    x = rng.choice([-1, 1], size=(40, k))
    w = rng.choice([-1, 1], size=(9, k))
    agree = bits.xnor_popcount(bits.pack(x), bits.pack(w), k)
    np.testing.assert_array_equal(agree, (x[:, None, :] == w[None, :, :]).sum(-1))
    np.testing.assert_array_equal(bits.dot_pm1(bits.pack(x), bits.pack(w), k), x @ w.T)


def test_xnor_popcount_chunks_give_the_same_result():
    rng = np.random.default_rng(3)
    x, w = bits.pack(rng.choice([-1, 1], size=(50, 70))), bits.pack(rng.choice([-1, 1], size=(4, 70)))
    np.testing.assert_array_equal(bits.xnor_popcount(x, w, 70, chunk=7),
                                  bits.xnor_popcount(x, w, 70))


def test_sign_of_zero_is_plus_one():
    np.testing.assert_array_equal(bits.sign([-3, -1, 0, 1, 5]), [-1, -1, 1, 1, 1])


def test_saturation_is_symmetric_and_keeps_odd_values_odd():
    assert bits.sat_bounds(4) == (-7, 7)
    np.testing.assert_array_equal(bits.saturate([-100, -8, -7, 0, 7, 8, 100], 4),
                                  [-7, -7, -7, 0, 7, 7, 7])
    h = np.arange(-7, 8, 2)                       # every odd 4-bit value
    for delta in (-2, 2):
        stepped = bits.saturating_add(h, delta, 4)
        assert (stepped % 2 == 1).all() and (stepped != 0).all()
        assert stepped.min() >= -7 and stepped.max() <= 7


@pytest.mark.parametrize("bad", [np.array([0, 2, 1]), np.array([-1, 0, 1]), np.array(["a", "b"])])
def test_pack_rejects_values_that_are_not_binary(bad):
    with pytest.raises(HwtrainError, match="expected"):
        bits.pack(bad)


def test_shape_errors_are_clear():
    with pytest.raises(HwtrainError, match="do not match K=65"):
        bits.xnor_popcount(np.zeros((1, 1), np.uint64), np.zeros((1, 1), np.uint64), 65)
    with pytest.raises(HwtrainError, match="at least 2 bits"):
        bits.sat_bounds(1)
    with pytest.raises(HwtrainError, match="does not fit"):
        bits.from_int([8], 3)
