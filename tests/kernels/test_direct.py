"""The direct float32 kernels of gpuflow._C: convolution (forward, input and kernel
gradients) and skinny GEMMs, against float64 references, with every instruction set the
CPU has (AVX2 + FMA; AVX-512 also runs the AVX2 loops)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gpuflow.kernels as K
from gpuflow.kernels import gemm, native

from . import brute
from .helpers import use_isa

DIRECT = native.available() and native.module().conv_direct_available()
pytestmark = pytest.mark.skipif(not DIRECT, reason="needs gpuflow._C on a CPU with AVX-512F or AVX2 + FMA")


@pytest.fixture(scope="module", params=["avx2", "avx512"], autouse=True)
def isa(request):
    """Runs the module once per instruction set of the direct loops the CPU has."""
    yield from use_isa("set_conv_direct_isa", request.param)


def test_the_instruction_set_can_only_be_narrowed(isa):
    mod = native.module()
    assert mod.conv_direct_isa() == isa and mod.conv_direct_available()
    with pytest.raises(ValueError, match="expected 'auto', 'avx2' or 'avx512'"):
        mod.set_conv_direct_isa("sse")
    best = mod.set_conv_direct_isa("auto")
    assert best in ("avx2", "avx512")
    if best == "avx2":
        with pytest.raises(ValueError, match="at most 'avx2'"):
            mod.set_conv_direct_isa("avx512")
    assert mod.set_conv_direct_isa(isa) == isa


def _close(got, want, rtol=2e-5):
    assert got.dtype == np.float32
    scale = max(np.abs(want).max(), 1e-30)
    assert np.abs(got.astype(np.float64) - want).max() <= rtol * scale * max(1.0, np.sqrt(want.size) / 64)


@settings(deadline=None, max_examples=30)
@given(n=st.integers(1, 3), h=st.integers(1, 12), w=st.integers(1, 12), c=st.sampled_from([1, 3, 8, 17, 40]),
       oc=st.sampled_from([1, 5, 16, 33, 64, 70, 130]), kh=st.integers(1, 4), kw=st.integers(1, 4),
       sh=st.integers(1, 3), sw=st.integers(1, 2), dh=st.integers(1, 2), dw=st.integers(1, 2),
       same=st.booleans())
def test_direct_convolution_matches_float64_reference(n, h, w, c, oc, kh, kw, sh, sw, dh, dw, same):
    padding = "SAME" if same else "VALID"
    if not same and (h < dh * (kh - 1) + 1 or w < dw * (kw - 1) + 1):
        padding = "SAME"
    rng = np.random.default_rng(n * 1000 + h * 37 + w * 11 + c + oc)
    x = rng.standard_normal((n, h, w, c))
    k = rng.standard_normal((kh, kw, c, oc))
    pads = brute.pads_of(padding, h, w, kh, kw, sh, sw, dh, dw)
    y = K.conv2d_forward(x.astype(np.float32), k.astype(np.float32), (sh, sw), padding, (dh, dw))
    _close(y, brute.conv2d(x, k, (sh, sw), (dh, dw), pads))
    dy = rng.standard_normal(y.shape)
    dx, dk = K.conv2d_backward(dy.astype(np.float32), x.astype(np.float32), k.astype(np.float32), (sh, sw),
                               padding, (dh, dw))
    ex, ek = brute.conv2d_grads(dy, x, k, (sh, sw), (dh, dw), pads)
    _close(dx, ex)   # stride 1: the direct kernel on the padded dy; else GEMM + col2im
    _close(dk, ek)


WINOGRAD_CASES = [
    # n, h, w, c, oc, pads (top, bottom, left, right)
    (2, 26, 26, 32, 64, (0, 0, 0, 0)),     # the notes' second convolution
    (1, 7, 9, 17, 19, (1, 1, 1, 1)),       # odd output sizes, channel tails, SAME
    (3, 5, 6, 16, 33, (2, 2, 2, 2)),       # the input gradient's full padding
    (1, 3, 3, 16, 16, (0, 0, 0, 0)),       # one output pixel
    (2, 8, 5, 40, 70, (1, 0, 0, 1)),       # asymmetric padding
    (1, 4, 4, 1, 5, (1, 1, 1, 1)),         # one channel (explicitly asked for)
]


@pytest.mark.parametrize("n,h,w,c,oc,pads", WINOGRAD_CASES)
@pytest.mark.parametrize("relu", [False, True])
def test_winograd_matches_float64_reference(n, h, w, c, oc, pads, relu):
    rng = np.random.default_rng(h * w + c + oc)
    x = rng.standard_normal((n, h, w, c))
    k = rng.standard_normal((3, 3, c, oc))
    b = rng.standard_normal(oc)
    want = brute.conv2d(x, k, (1, 1), (1, 1), pads) + b
    if relu:
        want = np.maximum(want, 0)
    mod = native.module()
    args = (x.astype(np.float32), k.astype(np.float32), 1, 1, 1, 1, b.astype(np.float32), relu, pads)
    got = mod.conv2d_direct(*args, algorithm="winograd")
    _close(got, want)
    _close(mod.conv2d_direct(*args, algorithm="direct"), want)
    got4 = mod.conv2d_direct(*args, algorithm="winograd4")
    _close(got4, want, rtol=5e-5)      # F(4x4, 3x3): transforms with 4s, 5s and 8s round more
    # 'auto' picks F(4x4, 3x3) for 3x3, stride 1, >= 16 channels in and out (same bits)
    auto = mod.conv2d_direct(*args)
    if c >= 16 and oc >= 16:
        np.testing.assert_array_equal(auto, got4)
    else:
        np.testing.assert_array_equal(auto, mod.conv2d_direct(*args, algorithm="direct"))
    # the kernel gradient (x pre-padded, as the callers pass it)
    xp = np.pad(x, ((0, 0), (pads[0], pads[1]), (pads[2], pads[3]), (0, 0)))
    dy = rng.standard_normal(want.shape)
    _, ek = brute.conv2d_grads(dy, xp, k, (1, 1), (1, 1), (0, 0, 0, 0))
    fargs = (xp.astype(np.float32), dy.astype(np.float32), 3, 3, 1, 1, 1, 1)
    dk = mod.conv2d_direct_filter(*fargs, algorithm="winograd")
    _close(dk, ek)
    _close(mod.conv2d_direct_filter(*fargs, algorithm="direct"), ek)
    _close(mod.conv2d_direct_filter(*fargs, algorithm="winograd4"), ek, rtol=5e-5)
    np.testing.assert_array_equal(mod.conv2d_direct_filter(*fargs),
                                  dk if c >= 16 and oc >= 16 else mod.conv2d_direct_filter(*fargs, algorithm="direct"))


def test_winograd_rejects_what_it_cannot_compute():
    mod = native.module()
    x = np.zeros((1, 6, 6, 16), np.float32)
    with pytest.raises(ValueError, match="'winograd' needs a 3x3 kernel with stride 1 and dilation 1, got 3x3 "
                                         r"with strides \(2, 1\)"):
        mod.conv2d_direct(x, np.zeros((3, 3, 16, 16), np.float32), 2, 1, 1, 1, algorithm="winograd")
    with pytest.raises(ValueError, match="'winograd' needs .* got 5x5"):
        mod.conv2d_direct(x, np.zeros((5, 5, 16, 16), np.float32), 1, 1, 1, 1, algorithm="winograd")
    with pytest.raises(ValueError, match="algorithm must be 'auto', 'direct', 'winograd' or 'winograd4', got 'fft'"):
        mod.conv2d_direct(x, np.zeros((3, 3, 16, 16), np.float32), 1, 1, 1, 1, algorithm="fft")
    with pytest.raises(ValueError, match="'winograd4' needs a 3x3 kernel"):
        mod.conv2d_direct(x, np.zeros((3, 3, 16, 16), np.float32), 1, 1, 2, 2, algorithm="winograd4")
    with pytest.raises(ValueError, match="conv2d_direct_filter: algorithm must be .* got 'winograd3'"):
        mod.conv2d_direct_filter(x, np.zeros((1, 4, 4, 16), np.float32), 3, 3, 1, 1, 1, 1, algorithm="winograd3")
    with pytest.raises(ValueError, match="conv2d_direct_filter: algorithm 'winograd' needs a 3x3 kernel"):
        mod.conv2d_direct_filter(x, np.zeros((1, 2, 2, 16), np.float32), 5, 5, 1, 1, 1, 1, algorithm="winograd")


def test_direct_kernels_are_used_for_float32(monkeypatch):
    calls = []
    mod = native.module()
    for name in ("conv2d_direct", "conv2d_direct_filter"):
        real = getattr(mod, name)
        monkeypatch.setattr(mod, name, lambda *a, _r=real, _n=name, **k: calls.append(_n) or _r(*a, **k))
    x = np.ones((2, 6, 6, 16), np.float32)
    k = np.ones((3, 3, 16, 32), np.float32)
    y = K.conv2d_forward(x, k)
    K.conv2d_backward(y, x, k)
    assert calls == ["conv2d_direct", "conv2d_direct", "conv2d_direct_filter"]
    calls.clear()
    K.conv2d_forward(x, k, impl="reference")
    K.conv2d_forward(x.astype(np.float64), k.astype(np.float64))
    assert calls == []
    # fewer than 16 output channels (the 3-channel input gradient, a 4-filter layer): im2col
    x3, k3 = np.ones((2, 6, 6, 3), np.float32), np.ones((3, 3, 3, 32), np.float32)
    y3 = K.conv2d_forward(x3, k3)
    K.conv2d_backward_input(y3, k3, x3.shape)
    K.conv2d_forward(x3, np.ones((3, 3, 3, 4), np.float32))
    assert calls == ["conv2d_direct"]


def test_direct_convolution_rejects_bad_input():
    mod = native.module()
    x = np.zeros((1, 5, 5, 3), np.float32)
    with pytest.raises(ValueError, match="channel mismatch"):
        mod.conv2d_direct(x, np.zeros((3, 3, 2, 4), np.float32), 1, 1, 1, 1)
    with pytest.raises(ValueError, match="larger than the padded input"):
        mod.conv2d_direct(x, np.zeros((6, 3, 3, 4), np.float32), 1, 1, 1, 1)
    with pytest.raises(TypeError, match="float32"):
        mod.conv2d_direct(x.astype(np.float64), np.zeros((3, 3, 3, 4)), 1, 1, 1, 1)
    with pytest.raises(ValueError, match="stride height"):
        mod.conv2d_direct(x, np.zeros((3, 3, 3, 4), np.float32), 0, 1, 1, 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        mod.conv2d_direct(np.zeros((1, 5, 5, 6), np.float32)[..., ::2], np.zeros((3, 3, 3, 4), np.float32),
                          1, 1, 1, 1)
    with pytest.raises(ValueError, match="shape mismatch"):
        mod.conv2d_direct_filter(x, np.zeros((1, 2, 3, 4), np.float32), 3, 3, 1, 1, 1, 1)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        mod.conv2d_direct(x, np.zeros((3, 3, 3, 4), np.float32), 1, 1, 1, 1, pads=(0, -1, 0, 0))
    # the window must fit the padded input; zero padding is virtual (no copy)
    y = mod.conv2d_direct(x, np.ones((7, 7, 3, 2), np.float32), 1, 1, 1, 1, pads=(1, 1, 1, 1))
    assert y.shape == (1, 1, 1, 2) and not y.any()


SHAPES = [(1, 1, 1), (5, 7, 3), (32, 300, 128), (13, 129, 70), (100, 33, 17), (7, 1000, 200), (6, 2, 65)]


@pytest.mark.parametrize("m,k,n", SHAPES)
def test_gemm_layouts_match_float64(m, k, n):
    rng = np.random.default_rng(m * k + n)
    a = rng.standard_normal((m, k))
    b = rng.standard_normal((k, n))
    want = a @ b
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    mod = native.module()
    _close(mod.gemm(a32, b32), want)
    _close(mod.gemm(a32, np.ascontiguousarray(b32.T), False, True), want)
    _close(mod.gemm(np.ascontiguousarray(a32.T), b32, True, False), want)
    out = np.full((m, n), np.nan, np.float32)
    assert mod.gemm(a32, b32, out=out) is out
    _close(out, want)


def test_gemm_rejects_bad_input():
    mod = native.module()
    a = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="inner dimensions differ"):
        mod.gemm(a, np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match="not supported"):
        mod.gemm(a, a, True, True)
    with pytest.raises(ValueError, match="shape mismatch"):
        mod.gemm(a, np.zeros((3, 2), np.float32), out=np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="shares memory"):
        sq = np.zeros((3, 3), np.float32)
        mod.gemm(sq, sq, out=sq)
    with pytest.raises(TypeError, match="float32"):
        mod.gemm(a.astype(np.float64), np.zeros((3, 2)))


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True)])
def test_matmul_into_takes_the_direct_loops_for_skinny_products(ta, tb, monkeypatch):
    rng = np.random.default_rng(3)
    m, k, n = 32, 1024, 600      # 19.7M multiply-adds, one small side, k allowed transposed
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    av = np.ascontiguousarray(a.T).T if ta else a
    bv = np.ascontiguousarray(b.T).T if tb else b
    calls = []
    real = native.module().gemm
    monkeypatch.setattr(native.module(), "gemm", lambda *x, **kw: calls.append(x[2:4]) or real(*x, **kw))
    gemm._state["mod"] = False   # re-resolve the (patched) module
    out = np.empty((m, n), np.float32)
    assert gemm.matmul_into(av, bv, out) is out
    _close(out, av.astype(np.float64) @ bv.astype(np.float64))
    assert calls == [(ta, tb)]
    gemm._state["mod"] = False


def test_matmul_into_leaves_small_or_square_products_to_blas():
    assert not gemm.use_direct(64, 784, 256, False, False)          # under the work threshold
    assert not gemm.use_direct(1024, 4096, 4096, False, False)      # both sides large
    assert not gemm.use_direct(32, 4096, 128, True, False)          # transposed with a long k
    assert gemm.use_direct(32, 36864, 128, False, False)            # the notes' CNN Dense layer
    assert gemm.use_direct(36864, 32, 128, True, False)             # ... its kernel gradient
    assert not gemm.use_direct(128, 784, 512, False, False)         # an MLP with a batch of 128
    a = np.ones((3, 4), np.float32)
    out = np.empty((3, 3), np.float32)
    np.testing.assert_array_equal(gemm.matmul_into(a, a.T, out), np.full((3, 3), 4, np.float32))


def test_intra_op_threads_set_the_direct_kernels_threads():
    from gpuflow.backend import threads
    mod = native.module()
    saved, blas = mod.get_compute_threads(), threads.get_intra_op_parallelism_threads()
    try:
        threads.set_intra_op_parallelism_threads(1)
        assert mod.get_compute_threads() == 1
    finally:
        mod.set_compute_threads(saved)
        if blas:
            threads.set_intra_op_parallelism_threads(blas)


def test_direct_kernels_are_deterministic_across_thread_counts():
    # The kernel gradient sums fixed ranges of pixels in a fixed order: the same bits
    # whatever the thread count or scheduling (reproducible training steps).
    mod = native.module()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 14, 14, 16)).astype(np.float32)
    dy = rng.standard_normal((8, 12, 12, 24)).astype(np.float32)
    k = rng.standard_normal((3, 3, 16, 24)).astype(np.float32)
    saved = mod.get_compute_threads()
    try:
        got = []
        for nt in (1, 2, 3, 2):
            mod.set_compute_threads(nt)
            got.append((mod.conv2d_direct_filter(x, dy, 3, 3, 1, 1, 1, 1), mod.conv2d_direct(x, k, 1, 1, 1, 1),
                        mod.conv2d_direct_filter(x, dy, 3, 3, 1, 1, 1, 1, algorithm="direct"),
                        mod.conv2d_direct(x, k, 1, 1, 1, 1, algorithm="direct"),
                        mod.gemm(x.reshape(8, -1), dy.reshape(8, -1), True, False)))
    finally:
        mod.set_compute_threads(saved)
    for other in got[1:]:
        for a, b in zip(got[0], other):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("activation", ["linear", "relu"])
@pytest.mark.parametrize("oc", [5, 64, 70, 130])
def test_conv2d_bias_act_applies_bias_and_relu_in_the_kernel(activation, oc):
    rng = np.random.default_rng(oc)
    x = rng.standard_normal((2, 9, 8, 6))
    k = rng.standard_normal((3, 3, 6, oc))
    b = rng.standard_normal(oc)
    want = brute.conv2d(x, k, (2, 1), (1, 1), brute.pads_of("SAME", 9, 8, 3, 3, 2, 1, 1, 1)) + b
    if activation == "relu":
        want = np.maximum(want, 0)
    got = K.conv2d_bias_act(x.astype(np.float32), k.astype(np.float32), b.astype(np.float32), (2, 1), "SAME",
                            1, activation)
    _close(got, want)
    ref = K.conv2d_bias_act(x, k, b, (2, 1), "SAME", 1, activation, impl="reference")
    np.testing.assert_allclose(ref, want, rtol=1e-12, atol=1e-12)
