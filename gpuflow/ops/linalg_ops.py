"""`gf.linalg`: norms and matrix helpers built from differentiable ops."""
import numpy as np

from gpuflow import errors
from gpuflow.ops import math_ops as M
from gpuflow.ops import array_ops as A
from gpuflow.tensor import Tensor


def norm(tensor, ord="euclidean", axis=None, keepdims=False, name=None):  # noqa: A002
    """Vector norms ('euclidean'/2, 1, np.inf) over `axis`, or the Frobenius norm ('fro')
    of a matrix given by a pair of axes (also 1 and inf matrix norms)."""
    x = tensor if isinstance(tensor, Tensor) else A.convert_to_tensor(tensor)
    if isinstance(axis, (list, tuple)) and len(axis) == 2:
        a0, a1 = axis
        if ord in ("euclidean", "fro"):
            return M.sqrt(M.reduce_sum(M.square(x), axis=list(axis), keepdims=keepdims))
        if ord == 1:
            r = M.reduce_max(M.reduce_sum(M.abs(x), axis=a0, keepdims=True), axis=a1, keepdims=True)
        elif ord == np.inf:
            r = M.reduce_max(M.reduce_sum(M.abs(x), axis=a1, keepdims=True), axis=a0, keepdims=True)
        else:
            raise errors.InvalidArgumentError("linalg.norm: matrix ord must be 'fro', 'euclidean', 1 or inf, got %r" % (ord,))
        return r if keepdims else A.squeeze(r, list(axis))
    if ord in ("euclidean", 2, "fro"):
        return M.sqrt(M.reduce_sum(M.square(x), axis=axis, keepdims=keepdims))
    if ord == 1:
        return M.reduce_sum(M.abs(x), axis=axis, keepdims=keepdims)
    if ord == np.inf:
        return M.reduce_max(M.abs(x), axis=axis, keepdims=keepdims)
    if isinstance(ord, (int, float)) and ord > 0:
        return M.pow(M.reduce_sum(M.pow(M.abs(x), float(ord)), axis=axis, keepdims=keepdims), 1.0 / ord)
    raise errors.InvalidArgumentError("linalg.norm: unsupported ord %r" % (ord,))


def trace(x, name=None):
    x = x if isinstance(x, Tensor) else A.convert_to_tensor(x)
    return M.reduce_sum(diag_part(x), axis=-1)


def diag_part(x, name=None):
    x = x if isinstance(x, Tensor) else A.convert_to_tensor(x)
    d = A._dims(x)
    n = min(d[-1], d[-2])
    eye = A.eye(d[-2], d[-1], dtype=x.dtype)
    return M.reduce_sum(x * eye, axis=-1)[..., :n] if d[-2] <= d[-1] else M.reduce_sum(x * eye, axis=-2)[..., :n]


def _qr_infer(specs, full_matrices):
    d, dt = specs[0]
    m, n = d[-2], d[-1]
    k = m if full_matrices else (None if m is None or n is None else min(m, n))
    return [(tuple(d[:-2]) + (m, k), dt), (tuple(d[:-2]) + (k, n), dt)]


from gpuflow.ops.registry import op as _op, apply as _apply  # noqa: E402


@_op("qr", infer=_qr_infer, num_outputs=2)
def _qr(xp, x, full_matrices):
    q, r = xp.linalg.qr(x, mode="complete" if full_matrices else "reduced")
    return q.astype(x.dtype, copy=False), r.astype(x.dtype, copy=False)


@_qr.def_grad
def _qr_grad(c, gq, gr=None):
    # Recorded so that differentiating through qr is an error, not a silent None.
    raise errors.UnimplementedError("linalg.qr has no gradient in gpuflow (TensorFlow defines one for "
                                    "full_matrices=False); see docs/differences.md", op="qr")


def qr(input, full_matrices=False, name=None):  # noqa: A002
    """QR decomposition of a matrix (or a batch of them): returns `(q, r)` with `q` orthonormal
    columns and `r` upper triangular. No gradient: differentiating through it raises
    UnimplementedError (it serves the orthogonal initializer)."""
    x = input if isinstance(input, Tensor) else A.convert_to_tensor(input)
    if len(A._dims(x)) < 2 or not x.dtype.is_floating:
        raise errors.InvalidArgumentError("linalg.qr: expected a floating matrix of rank >= 2, got %s%s"
                                          % (x.dtype.name, x.shape), op="qr")
    return _apply(_qr, (x,), {"full_matrices": bool(full_matrices)})
