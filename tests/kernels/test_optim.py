"""Fused optimizer update kernels (gpuflow.kernels.optim) against the formulas.

* The reference implementation equals a float64 transcription of Keras 3's formulas.
* The native kernels equal the reference bit for bit on x86-64 (same operations in
  the same order, no FMA contraction), for float32 and float64, every size class
  (0, odd tails, large arrays written with streaming stores at every alignment) and
  every SIMD variant the CPU has (scalar, AVX2, AVX-512); elsewhere within an ulp.
* The shared header gf_optim.h compiles with g++ and computes the same numbers.
* Bad inputs raise TypeError / ValueError before any data pointer is used, through
  the public wrappers and through the raw gpuflow._C entry points.
"""
import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import gpuflow.kernels as K
from gpuflow.kernels import native

from .helpers import NATIVE_SKIP, use_isa

INCLUDE = Path(__file__).resolve().parents[2] / "csrc" / "include" / "gpuflow"
EXACT = platform.machine().lower() in ("x86_64", "amd64")

SIZES = [0, 1, 7, 16, 17, 33, 1000, 70001]


@pytest.fixture(params=["scalar", "avx2", "avx512"])
def isa(request):
    """Runs a native test with each SIMD variant of the fused loops the CPU has."""
    yield from use_isa("set_optim_isa", request.param)


def _state(rng, n, dtype, with_vhat=False):
    w, g, m = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    v = (rng.standard_normal(n) ** 2).astype(dtype)
    out = [w, g, m, v]
    if with_vhat:
        out.append((rng.standard_normal(n) ** 2).astype(dtype))
    return out


def _same(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.shape == b.shape
        if EXACT:
            np.testing.assert_array_equal(a, b)
        else:
            tol = 1e-6 if a.dtype == np.float32 else 1e-14
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# ------------------------------------------------------------ float64 formulas
def keras_adam(w, g, m, v, alpha, b1, b2, eps, vhat=None):
    m = m + (g - m) * (1 - b1)
    v = v + (g * g - v) * (1 - b2)
    out = [None, m, v]
    vv = v
    if vhat is not None:
        vv = np.maximum(vhat, v)
        out.append(vv)
    out[0] = w - m * alpha / (np.sqrt(vv) + eps)
    return out


def keras_sgd(w, g, m, lr, mom, nesterov):
    m = mom * m - lr * g
    return [w + (mom * m - lr * g) if nesterov else w + m, m]


def keras_rmsprop(w, g, v, lr, rho, mom, eps, a=None, m=None):
    v = rho * v + (1 - rho) * g * g
    out = [None, v]
    if a is not None:
        a = rho * a + (1 - rho) * g
        out.append(a)
        denom = v - a * a + eps
    else:
        denom = v + eps
    inc = lr * g / np.sqrt(denom)
    if m is not None:
        m = mom * m + inc
        out.append(m)
        out[0] = w - m
    else:
        out[0] = w - inc
    return out


def test_reference_matches_keras_formulas(rng):
    w, g, m, v, vh = _state(rng, 50, np.float64, True)
    a = 0.1 * rng.standard_normal(50)
    for ams in (None, vh):
        got = K.adam_update(w, g, m, v, 0.003, 0.8, 0.95, 1e-3, v_hat=ams, impl="reference")
        np.testing.assert_allclose(np.array(got), np.array(keras_adam(w, g, m, v, 0.003, 0.8, 0.95, 1e-3, ams)),
                                   rtol=1e-13, atol=1e-15)
    for nest in (False, True):
        got = K.sgd_momentum_update(w, g, m, 0.1, 0.7, nest, impl="reference")
        np.testing.assert_allclose(np.array(got), np.array(keras_sgd(w, g, m, 0.1, 0.7, nest)), rtol=1e-13)
    for aa in (None, a):
        for mm in (None, m):
            got = K.rmsprop_update(w, g, v + 1, 0.01, 0.85, 0.3, 1e-7, a=aa, m=mm, impl="reference")
            want = keras_rmsprop(w, g, v + 1, 0.01, 0.85, 0.3, 1e-7, aa, mm)
            np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-12, atol=1e-14)


def test_reference_float32_is_the_op_by_op_update(rng):
    """In float32 the reference rounds like the op-by-op update: the Python-float
    complements (1 - beta) are rounded once to float32, not computed in float32."""
    w, g, m, v = _state(rng, 40, np.float32)
    alpha = np.float32(0.001 * np.sqrt(1 - 0.999) / (1 - 0.9))
    got = K.adam_update(w, g, m, v, alpha, 0.9, 0.999, 1e-7, impl="reference")
    m1 = m + (g - m) * np.float32(1 - 0.9)
    v1 = v + (np.square(g) - v) * np.float32(1 - 0.999)
    w1 = w - (m1 * alpha) / (np.sqrt(v1) + np.float32(1e-7))
    _same(got, [w1, m1, v1])


# ----------------------------------------------------- native == reference
@NATIVE_SKIP
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("amsgrad", [False, True], ids=["adam", "amsgrad"])
def test_adam_native_equals_reference(isa, dtype, amsgrad, rng):
    for n in SIZES:
        w, g, m, v, vh = _state(rng, n, dtype, True)
        vh = vh if amsgrad else None
        alpha = dtype(0.001 * 0.7)
        got = K.adam_update(w, g, m, v, alpha, 0.9, 0.999, 1e-7, v_hat=vh, impl="native")
        _same(got, K.adam_update(w, g, m, v, alpha, 0.9, 0.999, 1e-7, v_hat=vh, impl="reference"))


@NATIVE_SKIP
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("nesterov", [False, True], ids=["momentum", "nesterov"])
def test_sgd_momentum_native_equals_reference(isa, dtype, nesterov, rng):
    for n in SIZES:
        w, g, m, _ = _state(rng, n, dtype)
        lr = np.asarray(0.05, dtype)
        got = K.sgd_momentum_update(w, g, m, lr, float(np.float32(0.9)), nesterov, impl="native")
        _same(got, K.sgd_momentum_update(w, g, m, lr, float(np.float32(0.9)), nesterov, impl="reference"))


@NATIVE_SKIP
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("centered", [False, True], ids=["plain", "centered"])
@pytest.mark.parametrize("momentum", [0.0, 0.4], ids=["nomom", "mom"])
def test_rmsprop_native_equals_reference(isa, dtype, centered, momentum, rng):
    for n in SIZES:
        w, g, m, v = _state(rng, n, dtype)
        a = (0.1 * rng.standard_normal(n)).astype(dtype) if centered else None
        mm = m if momentum else None
        kw = dict(a=a, m=mm)
        got = K.rmsprop_update(w, g, v + 1, 0.001, 0.9, momentum, 1e-7, impl="native", **kw)
        _same(got, K.rmsprop_update(w, g, v + 1, 0.001, 0.9, momentum, 1e-7, impl="reference", **kw))


def _at_offset(n, dtype, offset_bytes):
    """A C-contiguous array of n elements starting `offset_bytes` after a 4096-byte boundary."""
    item = np.dtype(dtype).itemsize
    raw = np.empty(n * item + 8192, np.uint8)
    start = (-raw.ctypes.data) % 4096 + offset_bytes
    return raw[start:start + n * item].view(dtype)


@NATIVE_SKIP
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_large_updates_stream_at_any_alignment(isa, dtype, rng):
    """Arrays of 4 MiB and more are written with non-temporal stores after an aligning
    head; outputs with different alignments take the plain path. All give the same bits."""
    n = (1 << 22) // np.dtype(dtype).itemsize + 13
    w, g, m, v = _state(rng, n, dtype)
    want = K.adam_update(w, g, m, v, 1e-3, 0.9, 0.999, 1e-7, impl="reference")
    for offsets in [(0, 0, 0), (8, 8, 8), (40, 40, 40), (0, 8, 16), (56, 0, 24)]:
        outs = tuple(_at_offset(n, dtype, o) for o in offsets)
        got = K.adam_update(w, g, m, v, 1e-3, 0.9, 0.999, 1e-7, out=outs, impl="native")
        assert all(a is b for a, b in zip(got, outs))
        _same(got, want)


@NATIVE_SKIP
@pytest.mark.parametrize("n", [5, 70001, (1 << 20) + 3])
def test_in_place_updates(isa, n, rng):
    """An output may be exactly the input it replaces."""
    w, g, m, v = _state(rng, n, np.float32)
    want = K.adam_update(w, g, m, v, 1e-3, 0.9, 0.999, 1e-7, impl="reference")
    w2, m2, v2 = w.copy(), m.copy(), v.copy()
    got = K.adam_update(w2, g, m2, v2, 1e-3, 0.9, 0.999, 1e-7, out=(w2, m2, v2), impl="native")
    assert got[0] is w2 and got[1] is m2 and got[2] is v2
    _same(got, want)
    ref_in_place = [w.copy(), m.copy(), v.copy()]
    K.adam_update(ref_in_place[0], g, ref_in_place[1], ref_in_place[2], 1e-3, 0.9, 0.999, 1e-7,
                  out=tuple(ref_in_place), impl="reference")
    _same(ref_in_place, want)


@NATIVE_SKIP
def test_threads_give_the_same_bits(rng):
    C = native.module()
    n = 300001
    w, g, m, v, vh = _state(rng, n, np.float32, True)
    before = native.get_num_threads()
    try:
        native.set_num_threads(1)
        one = K.adam_update(w, g, m, v, 1e-3, 0.9, 0.999, 1e-7, v_hat=vh, impl="native")
        native.set_num_threads(2)
        assert C.get_num_threads() == 2
        two = K.adam_update(w, g, m, v, 1e-3, 0.9, 0.999, 1e-7, v_hat=vh, impl="native")
    finally:
        native.set_num_threads(before)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("impl", ["reference", pytest.param("native", marks=NATIVE_SKIP)])
def test_amsgrad_propagates_nan_like_numpy_maximum(impl):
    w = np.zeros(20, np.float32)
    g = np.ones(20, np.float32)
    m = np.zeros(20, np.float32)
    v = np.zeros(20, np.float32)
    vh = np.full(20, 2.0, np.float32)
    vh[3] = np.nan
    v[5] = np.nan
    _, _, v1, vh1 = K.adam_update(w, g, m, v, 0.1, v_hat=vh, impl=impl)
    want = np.maximum(vh, v1)
    np.testing.assert_array_equal(vh1, want)
    assert np.isnan(vh1[3]) and np.isnan(vh1[5]) and not np.isnan(vh1[0])


@pytest.mark.parametrize("impl", ["reference", pytest.param("native", marks=NATIVE_SKIP)])
def test_zero_d_and_shaped_arrays_keep_their_shape(impl, rng):
    for shape in [(), (3, 1, 4), (2, 0, 5)]:
        w, g, m, v = (np.asarray(rng.standard_normal(shape) ** 2, np.float64) for _ in range(4))
        out = K.adam_update(w, g, m, v, 0.01, impl=impl)
        assert [o.shape for o in out] == [shape] * 3
        out = K.rmsprop_update(w, g, v + 1, 0.01, a=0.1 * m, m=m, impl=impl)
        assert [o.shape for o in out] == [shape] * 4


@pytest.mark.parametrize("impl", ["reference", pytest.param("native", marks=NATIVE_SKIP)])
def test_inputs_are_never_modified(impl, rng):
    w, g, m, v, vh = _state(rng, 1000, np.float32, True)
    saved = [a.copy() for a in (w, g, m, v, vh)]
    K.adam_update(w, g, m, v, 0.01, v_hat=vh, impl=impl)
    K.sgd_momentum_update(w, g, m, 0.01, 0.9, True, impl=impl)
    K.rmsprop_update(w, g, v + 1, 0.01, a=0.1 * m, m=vh, momentum=0.5, impl=impl)
    for a, b in zip((w, g, m, v, vh), saved):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("impl", ["reference", pytest.param("native", marks=NATIVE_SKIP)])
def test_non_contiguous_inputs(impl, rng):
    base = rng.standard_normal((4, 20, 6)) ** 2
    w, g, m, v = base[0, ::2], base[1, ::2], base[2, ::2], base[3, ::2]
    got = K.adam_update(w, g, m, v, 0.01, impl=impl)
    want = K.adam_update(*(np.ascontiguousarray(a) for a in (w, g, m, v)), 0.01, impl="reference")
    _same(got, want)


# ------------------------------------------------------------- bad inputs
X = np.zeros((3, 4), np.float32)


@pytest.mark.parametrize("call,exc,pattern", [
    (lambda i: K.adam_update(X.astype(np.int32), X, X, X, 0.1, impl=i), TypeError,
     r"adam_update: expected float32 or float64 for w: int32 array of shape \(3, 4\)"),
    (lambda i: K.adam_update(X, X.astype(np.float64), X, X, 0.1, impl=i), TypeError, "dtype mismatch"),
    (lambda i: K.adam_update(X, X, X[:2], X, 0.1, impl=i), ValueError,
     r"shape mismatch: m: float32 array of shape \(2, 4\)"),
    (lambda i: K.adam_update(X, X, X, X, np.zeros(2, np.float32), impl=i), ValueError, "alpha must hold one value"),
    (lambda i: K.adam_update(X, X, X, X, np.asarray(0.1, np.float64), impl=i), TypeError,
     "dtype mismatch: alpha"),
    (lambda i: K.adam_update(X, X, X, X, "0.1", impl=i), TypeError, "alpha must be a number"),
    (lambda i: K.adam_update(X, X, X, X, 0.1, beta_1=None, impl=i), TypeError, "beta_1 must be a real number"),
    (lambda i: K.adam_update(X, X, X, X, 0.1, v_hat=X[:1], impl=i), ValueError, "shape mismatch: v_hat"),
    (lambda i: K.adam_update(X, X, X, X, 0.1, out=(X.copy(), X.copy()), impl=i), ValueError,
     "out must be a tuple of 3 arrays"),
    (lambda i: K.adam_update(X, X, X, X, 0.1, out=(X.copy(), X.copy(), np.zeros((3, 4))), impl=i), TypeError,
     "dtype mismatch: v_out"),
    (lambda i: K.adam_update(X, X, X, X, 0.1, out=(X.copy(), X.copy(), np.zeros((4, 3), np.float32)), impl=i),
     ValueError, "shape mismatch: v_out"),
    (lambda i: K.adam_update(X, X, X, X, 0.1, out=(X.copy(), X.copy(), np.zeros((4, 6), np.float32)[:, ::2].T),
                             impl=i), ValueError, "must be C-contiguous"),
    (lambda i: K.adam_update(X, X, X, X, 0.1, out=(X.copy(), X.copy(), np.broadcast_to(np.float32(0), (3, 4))),
                             impl=i), ValueError, "(read-only|C-contiguous)"),
    (lambda i: K.sgd_momentum_update(X, X, X, 0.1, "0.9", impl=i), TypeError, "momentum must be a real number"),
    (lambda i: K.sgd_momentum_update(X, X, X, np.ones(2, np.float32), 0.9, impl=i), ValueError,
     "lr must hold one value"),
    (lambda i: K.sgd_momentum_update(X, X, X, [0.1], 0.9, impl=i), TypeError, "lr must be a number"),
    (lambda i: K.rmsprop_update(X, X, X, 0.1, a=X[:, :2], impl=i), ValueError, "shape mismatch: a"),
    (lambda i: K.rmsprop_update(X, X, X, 0.1, rho=True, impl=i), TypeError, "rho must be a real number"),
    (lambda i: K.adam_update(X, X, X, X, 0.1, impl="fast"), ValueError, "impl must be None, 'native' or 'reference'"),
])
@pytest.mark.parametrize("impl", ["reference", pytest.param("native", marks=NATIVE_SKIP)])
def test_public_wrappers_reject_bad_inputs(call, exc, pattern, impl):
    with pytest.raises(exc, match=pattern):
        call(impl)


@pytest.mark.parametrize("impl", ["reference", pytest.param("native", marks=NATIVE_SKIP)])
def test_overlapping_outputs_are_rejected(impl):
    buf = np.zeros(40, np.float32)
    w = np.zeros(32, np.float32)
    with pytest.raises(ValueError, match="outputs w_out and m_out share memory"):
        K.adam_update(w, w, w, w, 0.1, out=(buf[:32], buf[8:40], np.zeros(32, np.float32)), impl=impl)
    with pytest.raises(ValueError, match="w_out partially overlaps an input"):
        K.adam_update(buf[:32], w, w, w, 0.1, out=(buf[1:33], np.zeros(32, np.float32), np.zeros(32, np.float32)),
                      impl=impl)


@pytest.fixture(scope="module")
def C():
    if not native.available():
        pytest.skip("native kernels unavailable: %s" % native.reason())
    return native.module()


def _raw_adam(C, w, g, m, v, outs, vhat=None, vhat_out=None):
    C.adam_update(w, g, m, v, vhat, 0.1, 0.1, 0.001, 1e-7, outs[0], outs[1], outs[2], vhat_out)


def test_raw_entry_points_validate_before_touching_data(C):
    w = np.zeros(10, np.float32)
    outs = [np.zeros(10, np.float32) for _ in range(3)]
    with pytest.raises(TypeError, match=r"gpuflow._C.adam_update: w must be a NumPy array, got list"):
        _raw_adam(C, [0.0] * 10, w, w, w, outs)
    with pytest.raises(TypeError, match="expected float32 or float64 for w: int64"):
        _raw_adam(C, np.zeros(10, np.int64), w, w, w, outs)
    with pytest.raises(TypeError, match="dtype mismatch: g: float64"):
        _raw_adam(C, w, np.zeros(10), w, w, outs)
    with pytest.raises(ValueError, match=r"shape mismatch: v: float32 array of shape \(9,\)"):
        _raw_adam(C, w, w, w, np.zeros(9, np.float32), outs)
    with pytest.raises(ValueError, match="expected a C-contiguous, aligned array for m"):
        _raw_adam(C, w, w, np.zeros(20, np.float32)[::2], w, outs)
    with pytest.raises(ValueError, match="vhat and vhat_out must both be given or both be None"):
        _raw_adam(C, w, w, w, w, outs, vhat=w)
    ro = np.zeros(10, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="output w_out: float32 array of shape \\(10,\\) is read-only"):
        _raw_adam(C, w, w, w, w, [ro] + outs[1:])
    buf = np.zeros(12, np.float32)
    with pytest.raises(ValueError, match="output w_out partially overlaps input w"):
        _raw_adam(C, buf[:10], w, w, w, [buf[2:12]] + outs[1:])
    with pytest.raises(ValueError, match="outputs w_out and v_out share memory"):
        _raw_adam(C, w, w, w, w, [outs[0], outs[1], outs[0]])
    with pytest.raises(ValueError, match="a and a_out must both be given"):
        C.rmsprop_update(w, w, w, None, None, 0.1, 0.9, 0.1, 0.0, 1e-7, outs[0], outs[1], outs[2], None)
    with pytest.raises(TypeError, match="m_out must be a NumPy array"):
        C.sgd_momentum_update(w, w, w, 0.1, 0.9, False, outs[0], 3)
    with pytest.raises(ValueError, match="set_optim_isa"):
        C.set_optim_isa("sse9")
    with pytest.raises(ValueError, match="number of threads must be >= 1"):
        C.set_num_threads(0)
    with pytest.raises(ValueError, match="number of threads must be >= 1"):
        native.set_num_threads(0)
    # Exactly aliased outputs are allowed and update in place.
    w2 = np.ones(10, np.float32)
    _raw_adam(C, w2, w, w, w, [w2, outs[1], outs[2]])
    assert np.all(w2 == 1.0)


# ------------------------------------------------------ the shared header
HEADER_PROGRAM = r"""
#include "gf_optim.h"
#include <cstdio>

#if GF_IS_CUDA
#error "GF_HD must be empty for a host compiler"
#endif

template <typename T> void run(const char* tag) {
  const T w = T(0.5), g = T(-1.25), m = T(0.125), v = T(0.75), vh = T(2.0);
  T w1, m1, v1, vh1;
  gf_adam_update(w, g, m, v, T(0.01), T(1 - 0.9), T(1 - 0.999), T(1e-7), &w1, &m1, &v1);
  std::printf("%s adam %.17g %.17g %.17g\n", tag, (double)w1, (double)m1, (double)v1);
  gf_adam_amsgrad_update(w, g, m, v, vh, T(0.01), T(1 - 0.9), T(1 - 0.999), T(1e-7), &w1, &m1, &v1, &vh1);
  std::printf("%s amsgrad %.17g %.17g\n", tag, (double)w1, (double)vh1);
  gf_sgd_momentum_update(w, g, m, T(0.1), T(0.9), false, &w1, &m1);
  std::printf("%s sgd %.17g %.17g\n", tag, (double)w1, (double)m1);
  gf_sgd_momentum_update(w, g, m, T(0.1), T(0.9), true, &w1, &m1);
  std::printf("%s nesterov %.17g %.17g\n", tag, (double)w1, (double)m1);
  T a1 = 0, mm1 = 0;
  gf_rmsprop_update(w, g, v, T(0.25), m, T(0.01), T(0.9), T(1 - 0.9), T(0.5), T(1e-7), true, true,
                    &w1, &v1, &a1, &mm1);
  std::printf("%s rmsprop %.17g %.17g %.17g %.17g\n", tag, (double)w1, (double)v1, (double)a1, (double)mm1);
  std::printf("%s nanmax %d %d %.17g\n", tag, (int)(gf_nanmax(gf_nan<T>(), T(1)) != gf_nanmax(gf_nan<T>(), T(1))),
              (int)(gf_nanmax(T(1), gf_nan<T>()) != gf_nanmax(T(1), gf_nan<T>())), (double)gf_nanmax(T(1), T(3)));
}

int main() {
  run<double>("f64");
  run<float>("f32");
  return 0;
}
"""


@pytest.fixture(scope="module")
def header_output(tmp_path_factory):
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ not found")
    d = tmp_path_factory.mktemp("optim_header")
    src, exe = d / "optim.cpp", d / "optim"
    src.write_text(HEADER_PROGRAM)
    # -ffp-contract=off: the CPU kernels compile the header without contraction too.
    subprocess.run([gxx, "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off",
                    "-I", str(INCLUDE), str(src), "-o", str(exe)], check=True, capture_output=True)
    out = {}
    for line in subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.splitlines():
        parts = line.split()
        out[(parts[0], parts[1])] = [float(x) for x in parts[2:]]
    return out


@pytest.mark.parametrize("tag,dtype", [("f64", np.float64), ("f32", np.float32)])
def test_header_computes_the_reference(header_output, tag, dtype):
    o = header_output
    w, g, m, v, vh = (np.array([x], dtype) for x in (0.5, -1.25, 0.125, 0.75, 2.0))
    exact = dict(rtol=0, atol=0)
    got = K.adam_update(w, g, m, v, dtype(0.01), 0.9, 0.999, 1e-7, impl="reference")
    np.testing.assert_allclose(o[(tag, "adam")], [float(a[0]) for a in got], **exact)
    got = K.adam_update(w, g, m, v, dtype(0.01), 0.9, 0.999, 1e-7, v_hat=vh, impl="reference")
    np.testing.assert_allclose(o[(tag, "amsgrad")], [float(got[0][0]), float(got[3][0])], **exact)
    for name, nest in (("sgd", False), ("nesterov", True)):
        got = K.sgd_momentum_update(w, g, m, dtype(0.1), 0.9, nest, impl="reference")
        np.testing.assert_allclose(o[(tag, name)], [float(a[0]) for a in got], **exact)
    got = K.rmsprop_update(w, g, v, dtype(0.01), 0.9, 0.5, 1e-7, a=np.array([0.25], dtype), m=m, impl="reference")
    np.testing.assert_allclose(o[(tag, "rmsprop")], [float(a[0]) for a in got], **exact)
    assert o[(tag, "nanmax")] == [1, 1, 3.0]


# ------------------------------------------- gradients given as products a^T b
_DIRECT = native.available() and native.module().conv_direct_available()


@pytest.mark.skipif(not _DIRECT, reason="needs gpuflow._C's direct GEMM loops (AVX-512F or AVX2 + FMA)")
@pytest.mark.parametrize("kmn", [(32, 36864 // 8, 128), (5, 13, 7), (64, 1000, 33), (1, 97, 16)])
def test_product_gradient_equals_the_stored_product(isa, kmn, rng):
    """g = (a, b) computes a^T b chunk by chunk inside the update: the same bits as
    the update of the stored product, for every update kernel, in place or not."""
    C = native.module()
    k, mm, n = kmn
    a = rng.standard_normal((k, mm)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    g = C.gemm(a, b, True, False)
    w, _, m, v = _state(rng, mm * n, np.float32)
    w, m, v = (x.reshape(mm, n) for x in (w, m, v))
    calls = [
        lambda g, o: C.adam_update(w, g, m, v, None, 0.001, 0.1, 0.001, 1e-7, o[0], o[1], o[2], None),
        lambda g, o: C.adam_update(w, g, m, v, v + 1, 0.001, 0.1, 0.001, 1e-7, o[0], o[1], o[2], o[3]),
        lambda g, o: C.sgd_momentum_update(w, g, m, 0.01, 0.9, True, o[0], o[1]),
        lambda g, o: C.rmsprop_update(w, g, v, m, None, 0.01, 0.9, 0.1, 0.0, 1e-7, o[0], o[1], o[2], None),
    ]
    dx_want = C.gemm(b, w, False, True)
    for call in calls:
        want = [np.full_like(w, np.nan) for _ in range(4)]
        got = [np.full_like(w, np.nan) for _ in range(4)]
        got3 = [np.full_like(w, np.nan) for _ in range(4)]
        dx = np.full((k, mm), np.nan, np.float32)
        call(g, want)
        call((a, b), got)
        call((a, b, dx), got3)      # also the input gradient b w^T, from w before the update
        for x, y, z in zip(got, want, got3):
            np.testing.assert_array_equal(x, y)
            np.testing.assert_array_equal(z, y)
        np.testing.assert_array_equal(dx, dx_want)
    # in place (the outputs are the inputs they replace): dx still from the old weight
    w2, m2, v2 = w.copy(), m.copy(), v.copy()
    dx = np.empty((k, mm), np.float32)
    C.adam_update(w2, (a, b, dx), m2, v2, None, 0.001, 0.1, 0.001, 1e-7, w2, m2, v2, None)
    np.testing.assert_array_equal(dx, dx_want)
    want = [np.empty_like(w) for _ in range(3)]
    C.adam_update(w, g, m, v, None, 0.001, 0.1, 0.001, 1e-7, *want, None)
    for x, y in zip((w2, m2, v2), want):
        np.testing.assert_array_equal(x, y)


@pytest.mark.skipif(not _DIRECT, reason="needs gpuflow._C's direct GEMM loops (AVX-512F or AVX2 + FMA)")
def test_product_gradient_rejects_bad_input():
    C = native.module()
    a, b = np.ones((4, 6), np.float32), np.ones((4, 5), np.float32)
    w = np.ones((6, 5), np.float32)
    o = [np.empty_like(w) for _ in range(3)]

    def adam(g, w=w, outs=o):
        C.adam_update(w, g, w.copy(), w.copy(), None, 0.1, 0.1, 0.1, 1e-7, *outs, None)
    with pytest.raises(ValueError, match="must have the weight's shape"):
        adam((a, np.ones((4, 4), np.float32)))
    with pytest.raises(ValueError, match="must have the weight's shape"):
        adam((np.ones((3, 6), np.float32), b))
    with pytest.raises(ValueError, match="a pair \\(a, b\\) for g = a\\^T b or a triple .* got a tuple of 4"):
        adam((a, b, b, b))
    with pytest.raises(ValueError, match="dx \\(= b w\\^T\\).*shape mismatch|shape mismatch.*dx"):
        adam((a, b, np.empty((6, 4), np.float32)))
    with pytest.raises(ValueError, match="dx \\(= b w\\^T\\) shares memory"):
        adam((a, b, o[0].reshape(-1)[:24].reshape(4, 6)))      # dx inside the w output
    with pytest.raises(TypeError, match="float32"):
        adam((a.astype(np.float64), b))
    with pytest.raises(TypeError, match="needs float32 weights"):
        w64 = w.astype(np.float64)
        adam((a, b), w64, [np.empty_like(w64) for _ in range(3)])
    shared = np.ones((6, 5), np.float32)     # an output that is also b of the product
    with pytest.raises(ValueError, match="output w_out shares memory with a or b"):
        C.adam_update(w, (np.ones((6, 6), np.float32), shared), w.copy(), w.copy(), None, 0.1, 0.1, 0.1, 1e-7,
                      shared, np.empty_like(w), np.empty_like(w), None)
