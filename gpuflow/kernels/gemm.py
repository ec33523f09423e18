"""Skinny float32 matrix products on gpuflow's own AVX-512 / AVX2 loops.

`matmul(a, b)` is ``numpy.matmul(a, b)``; `matmul_into(a, b, out)` writes ``a @ b`` (2-D, either operand possibly a transposed
view) into ``out``. Products where one side is small (a Dense layer's batch, a
10-class output) and the work is large run on the register-blocked loops of
``gpuflow._C.gemm``, on the same threads as the direct convolution; everything else is
``numpy.matmul``. Keeping a training step's big GEMMs off BLAS's thread pool matters on
small machines: BLAS threads spin for a while after each call and slow down the next
multi-threaded kernel that is not BLAS (on 2 AVX2 cores the notes' CNN step took 29-34 ms
with its Dense products here, 46-51 ms with them on OpenBLAS).
"""
import numpy

__all__ = ["matmul", "matmul_into", "use_direct"]

# Products below this many multiply-adds stay on BLAS (measured: per-call overhead).
_MIN_WORK = 1 << 24
# The smallest of M, N and K at most this (a Dense layer's batch of 32, a 10-class output,
# a batch-sized reduction): there OpenBLAS's blocking is weakest. Beyond it BLAS stays,
# also to keep a model's products on one thread pool: with a batch of 128, routing the
# 512-wide layers here made an MLP step 9% slower (3.40 vs 3.12 ms), BLAS's spinning
# threads and ours taking turns.
_MAX_SMALL = 64
# A B^T reads all of B^T's K rows per tile; A^T B all of A's rows: keep K modest.
_MAX_K_T = 1024

_state = {"mod": False}


def _module():
    mod = _state["mod"]
    if mod is False:
        from gpuflow.kernels import native
        mod = native.get()
        if mod is None or not getattr(mod, "conv_direct_available", lambda: False)() or not hasattr(mod, "gemm"):
            mod = None
        _state["mod"] = mod
    return mod


def use_direct(m, k, n, trans_a, trans_b):
    """True when `matmul_into` would run a float32 ``[m, k] @ [k, n]`` product (the
    given operand layouts) on the direct loops."""
    if _module() is None or (trans_a and trans_b):
        return False
    if m * n * k < _MIN_WORK or min(m, n, k) > _MAX_SMALL:
        return False
    return not ((trans_a or trans_b) and k > _MAX_K_T)


def _layout(x):
    """(C-contiguous base, transposed) of a 2-D operand, or None."""
    if x.flags.c_contiguous:
        return x, False
    if x.flags.f_contiguous:
        return x.T, True
    return None


_F32 = numpy.dtype(numpy.float32)


def _direct_operands(a, b):
    """(a base, b base, trans_a, trans_b) when the direct loops take a @ b, else None."""
    # The size test first: eager matmuls pass through here, and most are small.
    if (type(a) is not numpy.ndarray or type(b) is not numpy.ndarray or a.ndim != 2 or b.ndim != 2
            or a.size * b.shape[1] < _MIN_WORK or a.dtype != _F32 or b.dtype != _F32):
        return None
    la, lb = _layout(a), _layout(b)
    if la is None or lb is None or not use_direct(a.shape[0], a.shape[1], b.shape[1], la[1], lb[1]):
        return None
    return la[0], lb[0], la[1], lb[1]


def matmul(a, b):
    """``numpy.matmul(a, b)`` (a new array), on the direct loops where they apply."""
    ops = _direct_operands(a, b)
    if ops is None:
        return numpy.matmul(a, b)
    return _state["mod"].gemm(*ops)


def matmul_into(a, b, out):
    """``numpy.matmul(a, b, out=out)``, on the direct loops where they apply.

    Args:
      a, b: 2-D arrays (views such as ``w.T`` allowed).
      out: C-contiguous result array of the product's shape and dtype.

    Returns:
      out.
    """
    ops = _direct_operands(a, b)
    if ops is None or out.dtype != _F32 or not out.flags.c_contiguous:
        return numpy.matmul(a, b, out=out)
    _state["mod"].gemm(*ops, out)
    return out
