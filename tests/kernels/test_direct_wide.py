"""The loops of csrc/conv_direct_kernels.inc at the AVX-512 width (16 lanes), on any
x86-64 CPU with AVX2: tests/kernels/wide16_harness.cpp instantiates them with each
16-lane vector held in two AVX2 registers, so the tile shapes, tails and blocks the
AVX-512 build takes are checked against float64 references on machines without
AVX-512 too (test_direct.py runs the real AVX-512 build only where the CPU has it)."""
import ctypes
import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from . import brute

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).resolve().parent / "wide16_harness.cpp"

# The Winograd kernel transforms G (as csrc/conv_direct.cpp's winograd_G).
G = {2: np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]),
     4: np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])}


def _has_avx2_fma():
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx2" in flags and "fma" in flags


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    gxx = shutil.which("g++")
    if gxx is None or platform.machine() != "x86_64" or not _has_avx2_fma():
        pytest.skip("needs g++ and an x86-64 CPU with AVX2 + FMA")
    out = tmp_path_factory.mktemp("wide16") / "wide16.so"
    cmd = [gxx, "-O2", "-std=c++17", "-mavx2", "-mfma", "-shared", "-fPIC", "-I", str(ROOT / "csrc"), str(HARNESS), "-o", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    return ctypes.CDLL(str(out))


def _p(a):
    return a.ctypes.data_as(ctypes.c_void_p)


def _f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


def _sizes(*values):
    return np.array(values, dtype=np.int64)


def _close(got, want, rtol=2e-5):
    scale = max(np.abs(want).max(), 1e-30)
    err = np.abs(got.astype(np.float64) - want).max()
    assert err <= rtol * scale * max(1.0, np.sqrt(want.size) / 64), (err, scale)


def _guarded(shape):
    """A float32 array with NaN sentinels on both sides: a write past either end, or a
    read of them into a result, shows."""
    size = int(np.prod(shape))
    buf = np.full(size + 64, np.nan, np.float32)
    return buf, buf[32:32 + size].reshape(shape)


@pytest.mark.parametrize("m,k,n,kc", [(1, 1, 1, 256), (7, 300, 70, 256), (32, 513, 130, 64), (13, 40, 16, 7),
                                      (25, 9, 200, 256), (6, 64, 64, 256), (30, 33, 48, 16)])
def test_gemm_nn_at_16_lanes(lib, m, k, n, kc):
    rng = np.random.default_rng(m * 100 + n)
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    buf, c = _guarded((m, n))
    lib.gf16_gemm_nn(_p(_f32(a)), _p(_f32(b)), _p(c), ctypes.c_int64(m), ctypes.c_int64(n), ctypes.c_int64(k),
                     ctypes.c_int64(kc))
    assert np.isnan(buf[:32]).all() and np.isnan(buf[32 + c.size:]).all()
    _close(c, a @ b)


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (7, 70, 300), (32, 130, 33), (96, 128, 32), (13, 16, 5), (25, 200, 9)])
def test_gemm_tn_at_16_lanes(lib, m, n, k):
    rng = np.random.default_rng(m * 100 + n)
    a, b = rng.standard_normal((k, m)), rng.standard_normal((k, n))
    buf, c = _guarded((m, n))
    lib.gf16_gemm_tn(_p(_f32(a)), _p(_f32(b)), _p(c), ctypes.c_int64(m), ctypes.c_int64(n), ctypes.c_int64(k))
    assert np.isnan(buf[:32]).all() and np.isnan(buf[32 + c.size:]).all()
    _close(c, a.T @ b)


CONV_CASES = [
    # n, h, w, c, oc, kh, kw, strides, dilations, pads (top, bottom, left, right)
    (2, 9, 9, 1, 32, 3, 3, (1, 1), (1, 1), (0, 0, 0, 0)),     # the notes' first convolution
    (1, 8, 7, 17, 33, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1)),    # channel tails, SAME
    (2, 7, 9, 8, 70, 2, 4, (2, 1), (1, 2), (0, 1, 2, 1)),     # strides, dilations, uneven pads
    (1, 5, 5, 40, 130, 3, 3, (1, 1), (1, 1), (2, 2, 2, 2)),   # an input gradient's full padding
    (3, 4, 6, 3, 5, 1, 1, (1, 2), (1, 1), (0, 0, 0, 0)),      # 1x1 kernel, fewer than 16 outputs
    (1, 1, 1, 16, 64, 1, 1, (1, 1), (1, 1), (0, 0, 0, 0)),    # one pixel
]


@pytest.mark.parametrize("n,h,w,c,oc,kh,kw,strides,dilations,pads", CONV_CASES)
@pytest.mark.parametrize("relu", [False, True])
def test_direct_convolution_at_16_lanes(lib, n, h, w, c, oc, kh, kw, strides, dilations, pads, relu):
    rng = np.random.default_rng(h * w + c + oc + kh)
    x, k, bias = rng.standard_normal((n, h, w, c)), rng.standard_normal((kh, kw, c, oc)), rng.standard_normal(oc)
    want = brute.conv2d(x, k, strides, dilations, pads) + bias
    if relu:
        want = np.maximum(want, 0)
    oh, ow = want.shape[1:3]
    buf, y = _guarded(want.shape)
    s = _sizes(n, h, w, c, kh, kw, oc, oh, ow, *strides, *dilations, pads[0], pads[2])
    zeros = np.zeros(c, np.float32)
    p = n * oh * ow
    # in two calls split off the tile grid: each must start and stop where asked
    for p0, p1 in ((0, p // 3), (p // 3, p)):
        lib.gf16_forward(_p(_f32(x)), _p(_f32(k)), _p(y), _p(s), _p(_f32(bias)), ctypes.c_int(relu), _p(zeros),
                         ctypes.c_int64(p0), ctypes.c_int64(p1))
    assert np.isnan(buf[:32]).all() and np.isnan(buf[32 + y.size:]).all()
    _close(y, want)

    # the kernel gradient, on the input padded as the callers pad it
    xp = np.pad(x, ((0, 0), (pads[0], pads[1]), (pads[2], pads[3]), (0, 0)))
    dy = rng.standard_normal(want.shape)
    _, ek = brute.conv2d_grads(dy, xp, k, strides, dilations, (0, 0, 0, 0))
    acc = np.zeros((kh * kw * c, oc), np.float32)
    sf = _sizes(n, *xp.shape[1:], kh, kw, oc, oh, ow, *strides, *dilations)
    q = n * oh
    for q0, q1 in ((0, q // 2), (q // 2, q)):
        lib.gf16_filter(_p(_f32(xp)), _p(_f32(dy)), _p(acc), _p(sf), ctypes.c_int64(q0), ctypes.c_int64(q1))
    _close(acc.reshape(ek.shape), ek)


WINOGRAD_CASES = [
    # n, h, w, c, oc, pads
    (2, 26, 26, 32, 64, (0, 0, 0, 0)),     # the notes' second convolution
    (1, 7, 9, 17, 19, (1, 1, 1, 1)),       # odd output sizes, channel tails, SAME
    (3, 5, 6, 16, 33, (2, 2, 2, 2)),       # the input gradient's full padding
    (1, 3, 3, 16, 70, (0, 0, 0, 0)),       # one output pixel, a 6-vector row
    (2, 8, 5, 40, 130, (1, 0, 0, 1)),      # asymmetric padding, more than 2 column tiles
]


@pytest.mark.parametrize("n,h,w,c,oc,pads", WINOGRAD_CASES)
@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("block", [6, 12])
def test_winograd_at_16_lanes(lib, n, h, w, c, oc, pads, m, block):
    rng = np.random.default_rng(h * w + c + oc + m)
    x, k, bias = rng.standard_normal((n, h, w, c)), rng.standard_normal((3, 3, c, oc)), rng.standard_normal(oc)
    want = np.maximum(brute.conv2d(x, k, (1, 1), (1, 1), pads) + bias, 0)
    oh, ow = want.shape[1:3]
    g, t = G[m], m + 2
    u = np.einsum("ai,ijco,bj->abco", g, k, g).reshape(t * t, c, oc)   # G w G^T per (c, oc)
    buf, y = _guarded(want.shape)
    s = _sizes(n, h, w, c, oc, oh, ow, pads[0], pads[2])
    lib.gf16_winograd(_p(_f32(x)), _p(_f32(u)), _p(y), _p(s), _p(_f32(bias)), ctypes.c_int(1),
                      _p(np.zeros(c, np.float32)), ctypes.c_int(m), ctypes.c_int64(block))
    assert np.isnan(buf[:32]).all() and np.isnan(buf[32 + y.size:]).all()
    _close(y, want, rtol=5e-5)

    xp = np.pad(x, ((0, 0), (pads[0], pads[1]), (pads[2], pads[3]), (0, 0)))
    dy = rng.standard_normal(want.shape)
    _, ek = brute.conv2d_grads(dy, xp, k, (1, 1), (1, 1), (0, 0, 0, 0))
    acc = np.zeros((t * t, c, oc), np.float32)
    sf = _sizes(n, *xp.shape[1:], oc, oh, ow)
    lib.gf16_winograd_filter(_p(_f32(xp)), _p(_f32(dy)), _p(acc), _p(sf), _p(np.zeros(c, np.float32)),
                             ctypes.c_int(m), ctypes.c_int64(block))
    dk = np.einsum("ai,abco,bj->ijco", g, acc.reshape(t, t, c, oc).astype(np.float64), g)   # G^T du G
    _close(dk, ek, rtol=5e-5)
