"""im2col / col2im, conv2d and depthwise conv2d against brute-force loops."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gpuflow.kernels as K
from gpuflow.kernels import native
from gpuflow.kernels.window import make_window, same_padding

from . import brute
from .helpers import NATIVE_SKIP, assert_close

# (x_shape, (KH, KW), strides, dilations, padding)
CASES = [
    ((2, 5, 5, 3), (3, 3), (1, 1), (1, 1), "VALID"),
    ((2, 7, 6, 2), (3, 2), (2, 1), (1, 1), "SAME"),        # even kernel width, SAME
    ((1, 6, 6, 2), (2, 2), (2, 2), (1, 1), "SAME"),        # even kernel, stride 2
    ((2, 8, 7, 1), (3, 3), (1, 2), (2, 1), "SAME"),        # dilation
    ((1, 9, 8, 2), (2, 3), (3, 2), (2, 2), "VALID"),       # stride and dilation
    ((1, 1, 1, 3), (1, 1), (1, 1), (1, 1), "VALID"),       # 1x1 image
    ((1, 1, 1, 2), (3, 3), (1, 1), (1, 1), "SAME"),        # 1x1 image, 3x3 SAME
    ((2, 6, 5, 2), (2, 3), (3, 2), (1, 1), (1, 0, 2, 1)),  # explicit asymmetric pads
    ((1, 4, 4, 1), (4, 4), (1, 1), (1, 1), "SAME"),        # 4x4 SAME: pads (1, 2)
    # many channels (the native kernels switch loop order at 8 channels);
    # batch 1 with enough work takes col2im's parallel gather path
    ((1, 20, 19, 16), (3, 3), (1, 2), (1, 1), "SAME"),
    ((3, 9, 8, 9), (2, 3), (2, 1), (2, 1), (1, 2, 0, 1)),
]
IDS = ["valid3x3", "same_even", "same_s2", "dilated", "stride_dil", "1x1", "1x1_same",
       "explicit", "same4x4", "wide_batch1", "wide_dilated"]


def _pads(case):
    shape, (kh, kw), s, d, padding = case
    return brute.pads_of(padding, shape[1], shape[2], kh, kw, s[0], s[1], d[0], d[1])


def test_same_padding_matches_tensorflow_rule():
    # (size, k, stride, dilation) -> (before, after), values from TF's documented rule
    assert same_padding(5, 3, 2, 1) == (1, 1)
    assert same_padding(4, 2, 1, 1) == (0, 1)      # even kernel: extra pad at the end
    assert same_padding(7, 4, 1, 1) == (1, 2)
    assert same_padding(6, 4, 2, 1) == (1, 1)
    assert same_padding(5, 3, 1, 2) == (2, 2)      # dilated kernel spans 5
    assert same_padding(10, 3, 5, 1) == (0, 0)
    win = make_window("t", (4, 4), 2, 1, "SAME")
    assert win.pads == (0, 1, 0, 1) and win.output_hw(4, 4) == (4, 4)


def test_explicit_padding_forms():
    a = make_window("t", (5, 5), 3, 1, (1, 2, 0, 1))
    b = make_window("t", (5, 5), 3, 1, ((1, 2), (0, 1)))
    c = make_window("t", (5, 5), 3, 1, [[0, 0], [1, 2], [0, 1], [0, 0]])
    assert a == b == c
    with pytest.raises(ValueError, match="batch or channel"):
        make_window("t", (5, 5), 3, 1, [[1, 0], [1, 2], [0, 1], [0, 0]])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_im2col_col2im(case, impl, dtype, rng):
    shape, (kh, kw), s, d, padding = case
    pads = _pads(case)
    x = rng.standard_normal(shape)
    cols = K.im2col(x.astype(dtype), (kh, kw), s, padding, d, impl=impl)
    assert cols.dtype == dtype
    assert_close(cols, brute.im2col(x, kh, kw, s, d, pads))
    dcols = rng.standard_normal(cols.shape)
    dx = K.col2im(dcols.astype(dtype), shape, (kh, kw), s, padding, d, impl=impl)
    assert dx.dtype == dtype
    assert_close(dx, brute.col2im(dcols, shape, kh, kw, s, d, pads))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_conv2d_forward_backward(case, impl, dtype, rng):
    shape, (kh, kw), s, d, padding = case
    pads = _pads(case)
    x = rng.standard_normal(shape)
    k = rng.standard_normal((kh, kw, shape[3], 4))
    y = K.conv2d_forward(x.astype(dtype), k.astype(dtype), s, padding, d, impl=impl)
    assert_close(y, brute.conv2d(x, k, s, d, pads))
    dy = rng.standard_normal(y.shape)
    dx, dk = K.conv2d_backward(dy.astype(dtype), x.astype(dtype), k.astype(dtype), s, padding, d,
                               impl=impl)
    ex, ek = brute.conv2d_grads(dy, x, k, s, d, pads)
    assert_close(dx, ex)
    assert_close(dk, ek)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("multiplier", [1, 2])
def test_depthwise_forward_backward(case, multiplier, impl, dtype, rng):
    shape, (kh, kw), s, d, padding = case
    pads = _pads(case)
    x = rng.standard_normal(shape)
    k = rng.standard_normal((kh, kw, shape[3], multiplier))
    y = K.depthwise_conv2d_forward(x.astype(dtype), k.astype(dtype), s, padding, d, impl=impl)
    assert_close(y, brute.depthwise(x, k, s, d, pads))
    dy = rng.standard_normal(y.shape)
    dx, dk = K.depthwise_conv2d_backward(dy.astype(dtype), x.astype(dtype), k.astype(dtype), s,
                                         padding, d, impl=impl)
    ex, ek = brute.depthwise_grads(dy, x, k, s, d, pads)
    assert_close(dx, ex)
    assert_close(dk, ek)


def test_col2im_is_adjoint_of_im2col(impl, rng):
    x = rng.standard_normal((2, 7, 5, 3))
    cols = K.im2col(x, (3, 2), (2, 1), "SAME", (1, 2), impl=impl)
    g = rng.standard_normal(cols.shape)
    dx = K.col2im(g, x.shape, (3, 2), (2, 1), "SAME", (1, 2), impl=impl)
    np.testing.assert_allclose(np.vdot(cols, g), np.vdot(x, dx), rtol=1e-12)


def test_empty_batch(impl):
    x = np.zeros((0, 4, 4, 2))
    assert K.im2col(x, 3, 1, "SAME", impl=impl).shape == (0, 18)
    assert K.col2im(np.zeros((0, 18)), (0, 4, 4, 2), 3, 1, "SAME", impl=impl).shape == (0, 4, 4, 2)


@NATIVE_SKIP
@settings(deadline=None, max_examples=25)
@given(n=st.integers(1, 2), h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 3),
       kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       dh=st.integers(1, 2), dw=st.integers(1, 2), same=st.booleans(), m=st.integers(1, 2),
       wide=st.booleans(),
       f32=st.booleans())
def test_native_matches_reference_random_geometry(n, h, w, c, kh, kw, sh, sw, dh, dw, same, m, wide, f32):
    c = c * 5 if wide else c
    padding = "SAME" if same else "VALID"
    if not same and (h < dh * (kh - 1) + 1 or w < dw * (kw - 1) + 1):
        padding = "SAME"
    rng = np.random.default_rng(h * 131 + w)
    dt = np.float32 if f32 else np.float64
    x = rng.standard_normal((n, h, w, c)).astype(dt)
    args = ((kh, kw), (sh, sw), padding, (dh, dw))
    cols_n = K.im2col(x, *args, impl="native")
    assert_close(cols_n, K.im2col(x, *args, impl="reference"), rtol=0, atol=0)
    g = rng.standard_normal(cols_n.shape).astype(dt)
    assert_close(K.col2im(g, x.shape, *args, impl="native"),
                 K.col2im(g, x.shape, *args, impl="reference"))
    k = rng.standard_normal((kh, kw, c, m)).astype(dt)
    y = K.depthwise_conv2d_forward(x, k, *args[1:], impl="native")
    assert_close(y, K.depthwise_conv2d_forward(x, k, *args[1:], impl="reference"))
    dy = rng.standard_normal(y.shape).astype(dt)
    for a, b in zip(K.depthwise_conv2d_backward(dy, x, k, *args[1:], impl="native"),
                    K.depthwise_conv2d_backward(dy, x, k, *args[1:], impl="reference")):
        assert_close(a, b)


@pytest.mark.parametrize("activation", ["linear", "relu"])
@pytest.mark.parametrize("shape", [(1,), (3, 1), (2, 5, 3), (4, 130, 7), (2, 3, 4, 64)])
def test_bias_act_backward(activation, shape, impl, dtype, rng):
    g = rng.standard_normal(shape).astype(dtype)
    y = rng.standard_normal(shape).astype(dtype)
    gz, db = K.bias_act_backward(g, y, activation, impl=impl)
    want = g.astype(np.float64) * (y > 0) if activation == "relu" else g.astype(np.float64)
    assert gz.dtype == dtype and db.dtype == dtype
    assert_close(gz, want)
    assert_close(db, want.sum(axis=tuple(range(len(shape) - 1))))


@NATIVE_SKIP
def test_bias_act_backward_large_is_exact_in_parts_and_thread_independent(rng):
    # 2^20 elements: summed in 8 fixed parts of rows, on the compute threads
    shape = (2, 128, 128, 32)
    g = rng.standard_normal(shape).astype(np.float32)
    y = rng.standard_normal(shape).astype(np.float32)
    want = g.astype(np.float64) * (y > 0)
    mod = native.module()
    saved = mod.get_compute_threads()
    try:
        got = []
        for nt in (1, 2):
            mod.set_compute_threads(nt)
            got.append(K.bias_act_backward(g, y, "relu", impl="native"))
    finally:
        mod.set_compute_threads(saved)
    assert_close(got[0][0], want)
    assert_close(got[0][1], want.sum(axis=(0, 1, 2)))
    for a, b in zip(*got):
        np.testing.assert_array_equal(a, b)


def test_bias_act_backward_rejects_bad_input(impl):
    with pytest.raises(ValueError, match="shape"):
        K.bias_act_backward(np.zeros((2, 3)), np.zeros((3, 2)), "relu", impl=impl)
    with pytest.raises(ValueError, match="activation"):
        K.bias_act_backward(np.zeros((2, 3)), np.zeros((2, 3)), "tanh", impl=impl)
    with pytest.raises(TypeError):
        K.bias_act_backward(np.zeros((2, 3), np.int32), np.zeros((2, 3)), "relu", impl=impl)


@NATIVE_SKIP
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_conv2d_float32_without_the_direct_kernels(case, rng, monkeypatch):
    # CPUs without AVX-512 run float32 convolutions as native im2col + BLAS.
    from gpuflow.kernels import native
    monkeypatch.setattr(native.module(), "conv_direct_available", lambda: False)
    shape, (kh, kw), s, d, padding = case
    pads = _pads(case)
    x = rng.standard_normal(shape)
    k = rng.standard_normal((kh, kw, shape[3], 4))
    y = K.conv2d_forward(x.astype(np.float32), k.astype(np.float32), s, padding, d, impl="native")
    assert_close(y, brute.conv2d(x, k, s, d, pads), np.float32)
    dy = rng.standard_normal(y.shape)
    dx, dk = K.conv2d_backward(dy.astype(np.float32), x.astype(np.float32), k.astype(np.float32), s, padding, d,
                               impl="native")
    ex, ek = brute.conv2d_grads(dy, x, k, s, d, pads)
    assert_close(dx, ex, np.float32)
    assert_close(dk, ek, np.float32)
