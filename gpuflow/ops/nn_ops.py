"""`gf.nn`: activations, softmax, cross-entropies, dropout, normalization helpers.

Softmax, log-softmax and the cross-entropies are computed stably (max subtraction,
log-sum-exp) so large logits give finite results. A sparse label outside
`[0, num_classes)` raises an error naming the bad label instead of producing NaN.
"""
import math as _pymath

import numpy as np

from gpuflow import errors
from gpuflow.kernels import xent as _KX
from gpuflow.ops import shapes as S
from gpuflow.ops.registry import op, apply
from gpuflow.ops import math_ops as M
from gpuflow.ops import array_ops as A
from gpuflow.ops.array_ops import convert_to_tensor, normalize_axis
from gpuflow.tensor import Tensor


def _to(x):
    return x if isinstance(x, Tensor) else convert_to_tensor(x)


def _act(name, body, template, grad, ints=False):
    o = op(name, infer=S.same, elementwise=template)(body)
    o.def_grad(grad)

    ok = "fiu" if ints else "fc"

    def public(features, name=None):
        x = features if isinstance(features, Tensor) else convert_to_tensor(features)
        if M._kind(x) not in ok:
            M._float_only(o.name, x)
        return apply(o, (x,))
    public.__name__ = name
    public.op = o
    return public


_ZEROS = {}   # 0-d zero arrays per dtype: np.maximum(x, zero) is ~2x faster than with a Python 0


def _relu_body(xp, x):
    if xp is np:
        z = _ZEROS.get(x.dtype)
        if z is None:
            z = _ZEROS[x.dtype] = np.zeros((), x.dtype)
        return np.maximum(x, z)
    return xp.maximum(x, 0)


relu = _act("relu", _relu_body, "max({0},0)",
            lambda c, g: [g * A.cast(M.greater(c.inputs[0], 0), g.dtype)], ints=True)
relu6 = _act("relu6", lambda xp, x: xp.minimum(xp.maximum(x, 0), 6), "min(max({0},0),6)",
             lambda c, g: [g * A.cast(M.logical_and(M.greater(c.inputs[0], 0), M.less(c.inputs[0], 6)), g.dtype)],
             ints=True)


def _elu_body(xp, x):
    return xp.where(x > 0, x, xp.expm1(xp.minimum(x, 0))).astype(x.dtype, copy=False)


elu = _act("elu", _elu_body, "({0}>0?{0}:expm1({0}))",
           lambda c, g: [M.where_(M.greater(c.inputs[0], 0), g, g * (c.out + 1))])

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _selu_body(xp, x):
    return (_SELU_SCALE * xp.where(x > 0, x, _SELU_ALPHA * xp.expm1(xp.minimum(x, 0)))).astype(x.dtype, copy=False)


selu = _act("selu", _selu_body, None,
            lambda c, g: [M.where_(M.greater(c.inputs[0], 0), g * _SELU_SCALE, g * (c.out + _SELU_SCALE * _SELU_ALPHA))])


def _softsign_body(xp, x):
    return x / (1 + xp.abs(x))


softsign = _act("softsign", _softsign_body, "({0}/(1+abs({0})))",
                lambda c, g: [g / M.square(1 + M.abs(c.inputs[0]))])


def leaky_relu(features, alpha=0.2, name=None):
    """max(x, alpha * x) (TF's default alpha is 0.2)."""
    x = _to(features)
    M._float_only("leaky_relu", x)
    return M.where_(M.greater(x, 0), x, x * alpha)


def gelu(features, approximate=False, name=None):
    """Gaussian error linear unit: exact (erf) by default, tanh approximation if asked."""
    x = _to(features)
    M._float_only("gelu", x)
    if approximate:
        c = _pymath.sqrt(2 / _pymath.pi)
        return 0.5 * x * (1 + M.tanh(c * (x + 0.044715 * x * x * x)))
    return 0.5 * x * (1 + M.erf(x * (1 / _pymath.sqrt(2))))


def silu(features, beta=1.0, name=None):
    """x * sigmoid(beta * x) (also `swish`)."""
    x = _to(features)
    return x * M.sigmoid(x * beta if beta != 1.0 else x)


swish = silu
sigmoid = M.sigmoid
tanh = M.tanh
softplus = M.softplus


def _softmax_body(xp, x, axis):
    m = xp.max(x, axis=axis, keepdims=True)
    with np.errstate(over="ignore"):          # x - m may overflow to -inf: exp gives 0, as wanted
        e = xp.exp(x - m)
    return e / xp.sum(e, axis=axis, keepdims=True)


def _log_softmax_body(xp, x, axis):
    m = xp.max(x, axis=axis, keepdims=True)
    with np.errstate(over="ignore"):
        z = x - m
    return z - xp.log(xp.sum(xp.exp(z), axis=axis, keepdims=True))


_softmax = op("softmax", infer=lambda specs, axis: specs[0])(_softmax_body)
_log_softmax = op("log_softmax", infer=lambda specs, axis: specs[0])(_log_softmax_body)


@_softmax.def_grad
def _softmax_grad(c, g):
    y = c.out
    ax = c.attrs["axis"]
    return [y * (g - M.reduce_sum(g * y, axis=ax, keepdims=True))]


@_log_softmax.def_grad
def _log_softmax_grad(c, g):
    ax = c.attrs["axis"]
    return [g - M.exp(c.out) * M.reduce_sum(g, axis=ax, keepdims=True)]


def softmax(logits, axis=None, name=None):
    """exp(x) / sum(exp(x)) along `axis` (default last), stable for large logits."""
    x = _to(logits)
    M._float_only("softmax", x)
    ax = normalize_axis(-1 if axis is None else axis, x.ndim, "softmax")[0]
    return apply(_softmax, (x,), {"axis": ax})


def log_softmax(logits, axis=None, name=None):
    """log(softmax(x)) computed stably."""
    x = _to(logits)
    M._float_only("log_softmax", x)
    ax = normalize_axis(-1 if axis is None else axis, x.ndim, "log_softmax")[0]
    return apply(_log_softmax, (x,), {"axis": ax})


def softmax_cross_entropy_with_logits(labels, logits, axis=-1, name=None):
    """Per-example -sum(labels * log_softmax(logits)); differentiable w.r.t. both."""
    x = _to(logits)
    y = A._like(labels, x, "softmax_cross_entropy_with_logits") if not isinstance(labels, Tensor) else labels
    if y.dtype is not x.dtype:
        raise errors.InvalidArgumentError("softmax_cross_entropy_with_logits: labels dtype %s != logits dtype %s"
                                          % (y.dtype.name, x.dtype.name))
    yd, xd = A._dims(y), A._dims(x)
    if len(yd) != len(xd) or any(a is not None and b is not None and a != b for a, b in zip(yd, xd)):
        raise errors.InvalidArgumentError("softmax_cross_entropy_with_logits: labels shape %s must equal logits shape %s"
                                          % (y.shape, x.shape))
    return -M.reduce_sum(y * log_softmax(x, axis=axis), axis=axis)


def _check_labels(xp, labels, n):
    if labels.size:
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise ValueError("Received a label value of %d which is outside the valid range of [0, %d). "
                             "The model has %d output classes: check the labels or the size of the last layer."
                             % (bad, n, n))


def _sxent_infer(specs):
    (ld, _), (xd, xdt) = specs
    return [(tuple(xd[:-1]), xdt), (tuple(xd), xdt)]


def _xent_float(a):
    """float16/bfloat16 arrays computed in float32 by the fused kernels (float32/64 only)."""
    return a if a.dtype in (np.float32, np.float64) else a.astype(np.float32)


@op("sparse_softmax_cross_entropy", infer=_sxent_infer, num_outputs=2)
def _sparse_xent(xp, labels, logits):
    # (loss, softmax probabilities) in one pass of the fused kernel, as TF's
    # SparseSoftmaxCrossEntropyWithLogits returns (loss, backprop): the gradient rule
    # reuses the probabilities instead of recomputing the softmax.
    try:
        loss, probs = _KX.sparse_softmax_cross_entropy_forward(_xent_float(logits), labels)
    except ValueError:
        _check_labels(xp, labels, logits.shape[-1])   # Keras's message for a bad label
        raise
    return loss.astype(logits.dtype, copy=False), probs.astype(logits.dtype, copy=False)


@op("sparse_softmax_cross_entropy_grad", infer=lambda specs: specs[0])
def _sparse_xent_bwd(xp, probs, labels, dloss):
    d = _KX.sparse_softmax_cross_entropy_backward(_xent_float(probs), labels, _xent_float(dloss))
    return d.astype(probs.dtype, copy=False)


@_sparse_xent.def_grad
def _sparse_xent_grad(c, g, g_probs=None):
    labels = c.inputs[0]
    probs = c.outputs[1]
    dx = None if g is None else apply(_sparse_xent_bwd, (probs, labels, g))
    if g_probs is not None:    # the probabilities' own gradient: softmax's rule
        ds = probs * (g_probs - M.reduce_sum(g_probs * probs, axis=-1, keepdims=True))
        dx = ds if dx is None else dx + ds
    return [None, dx]


@_sparse_xent_bwd.def_grad
def _sparse_xent_bwd_grad(c, gg):
    # dlogits = (probs - onehot(labels)) * dloss[..., None]
    probs, labels, dloss = c.inputs
    d_probs = gg * A.expand_dims(dloss, -1) if c.needs(0) else None
    d_dloss = None
    if c.needs(2):
        onehot = A.one_hot(labels, A._dims(probs)[-1], dtype=probs.dtype)
        d_dloss = M.reduce_sum(gg * (probs - onehot), axis=-1)
    return [d_probs, None, d_dloss]


def sparse_softmax_cross_entropy_with_logits(labels, logits, name=None):
    """Per-example cross-entropy for integer class labels.

    Args:
      labels: int tensor of shape `logits.shape[:-1]` with values in [0, num_classes).
      logits: float tensor `[..., num_classes]`.

    Raises:
      InvalidArgumentError: a label is out of range (names the label and the range), or
        shapes do not match.
    """
    x = _to(logits)
    y = labels if isinstance(labels, Tensor) else convert_to_tensor(labels)
    if not y.dtype.is_integer:
        raise errors.InvalidArgumentError("sparse_softmax_cross_entropy_with_logits: labels must be int32/int64, got %s"
                                          % y.dtype.name)
    yd, xd = A._dims(y), A._dims(x)
    if len(yd) != len(xd) - 1 or any(a is not None and b is not None and a != b for a, b in zip(yd, xd[:-1])):
        raise errors.InvalidArgumentError(
            "sparse_softmax_cross_entropy_with_logits: labels shape %s must equal logits shape %s without its "
            "last dimension" % (y.shape, x.shape))
    M._float_only("sparse_softmax_cross_entropy_with_logits", x)
    return apply(_sparse_xent, (y, x))[0]


def sigmoid_cross_entropy_with_logits(labels=None, logits=None, name=None):
    """max(x, 0) - x * z + log(1 + exp(-|x|)), the stable binary cross-entropy on logits.

    Computed as softplus(x) - x * z (the same value): one smooth op, so the gradient
    sigmoid(x) - z is also right at x == 0, where max and |x| have kinks (zero-initialized
    output layers give exactly 0 logits).
    """
    x = _to(logits)
    z = A._like(labels, x, "sigmoid_cross_entropy_with_logits") if not isinstance(labels, Tensor) else labels
    if z.dtype is not x.dtype:
        raise errors.InvalidArgumentError("sigmoid_cross_entropy_with_logits: labels dtype %s != logits dtype %s"
                                          % (z.dtype.name, x.dtype.name))
    return M.softplus(x) - x * z


def weighted_cross_entropy_with_logits(labels, logits, pos_weight, name=None):
    x = _to(logits)
    z = A._like(labels, x, "weighted_cross_entropy_with_logits") if not isinstance(labels, Tensor) else labels
    lw = 1 + (pos_weight - 1) * z
    # (1 - z) x + lw (log1p(exp(-|x|)) + max(-x, 0)); the second factor is softplus(-x).
    return (1 - z) * x + lw * M.softplus(-x)


def bias_add(value, bias, data_format=None, name=None):
    """Adds a 1-D bias to the last axis (or the channel axis for 'NCHW'/'NC...')."""
    x = _to(value)
    b = A._like(bias, x, "bias_add") if not isinstance(bias, Tensor) else bias
    bd = A._dims(b)
    if len(bd) != 1:
        raise errors.InvalidArgumentError("bias_add: bias must be 1-D, got shape %s" % (b.shape,), op="bias_add")
    ch = 1 if (data_format or "").startswith("NC") else -1
    xd = A._dims(x)
    if xd[ch] is not None and bd[0] is not None and xd[ch] != bd[0]:
        raise errors.InvalidArgumentError("bias_add: bias of size %d does not match dimension %d of %s"
                                          % (bd[0], ch, x.shape), op="bias_add")
    if ch == 1:
        b = A.reshape(b, [-1] + [1] * (len(xd) - 2))
    return M.add(x, b)


def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None):
    """x / sqrt(max(sum(x**2, axis), epsilon))."""
    x = _to(x)
    ax = dim if axis is None else axis
    sq = M.reduce_sum(M.square(x), axis=ax, keepdims=True)
    return x * M.rsqrt(M.maximum(sq, epsilon))


def moments(x, axes, shift=None, keepdims=False, name=None):
    """Mean and variance over `axes`: returns `(mean, variance)`."""
    x = _to(x)
    mean = M.reduce_mean(x, axis=axes, keepdims=True)
    # TF wraps `mean` in stop_gradient here: the first derivative is the same (the
    # deviations sum to zero) but the second derivative would be wrong, so we don't.
    var = M.reduce_mean(M.squared_difference(x, mean), axis=axes, keepdims=True)
    if not keepdims:
        ax = normalize_axis(axes, x.ndim, "moments")
        mean = A.squeeze(mean, list(ax))
        var = A.squeeze(var, list(ax))
    return mean, var


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    """(x - mean) / sqrt(variance + eps) * scale + offset (offset/scale may be None)."""
    inv = M.rsqrt(variance + variance_epsilon)
    if scale is not None:
        inv = inv * scale
    y = x * inv - mean * inv
    return y + offset if offset is not None else y


def dropout(x, rate, noise_shape=None, seed=None, name=None):
    """Zeroes entries with probability `rate` and scales the rest by 1 / (1 - rate).

    Raises:
      ValueError: rate is not in [0, 1).
    """
    from gpuflow.ops import random_ops
    x = _to(x)
    if isinstance(rate, Tensor):
        rate = float(rate)
    if not 0 <= rate < 1:
        raise ValueError("dropout: rate must be a scalar in [0, 1), got %r" % (rate,))
    if rate == 0:
        return x
    keep = random_ops.dropout_mask(x, rate, noise_shape, seed)
    return x * keep


def l2_loss(t, name=None):
    """sum(t ** 2) / 2."""
    return M.reduce_sum(M.square(_to(t))) / 2


def compute_average_loss(per_example_loss, sample_weight=None, global_batch_size=None):
    loss = _to(per_example_loss)
    if sample_weight is not None:
        loss = loss * sample_weight
    n = global_batch_size if global_batch_size is not None else A.cast(A.size(loss), loss.dtype)
    return M.reduce_sum(loss) / n


def safe_embedding_lookup(params, ids):
    return A.gather(params, ids)


def embedding_lookup(params, ids, max_norm=None, name=None):
    """Rows of `params` at integer `ids` (gather along axis 0)."""
    return A.gather(params, ids, axis=0)
