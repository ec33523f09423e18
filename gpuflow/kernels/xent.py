"""Fused sparse softmax cross-entropy (as
``tf.nn.sparse_softmax_cross_entropy_with_logits``), forward and backward.

Numerically stable: the row maximum is subtracted before ``exp``.  The
forward returns the softmax probabilities so the backward is one elementwise
pass: ``dlogits = (probs - onehot(labels)) * dloss[..., None]``.
"""
import numpy

from gpuflow.kernels import _checks
from gpuflow.kernels._dispatch import get_array_module, is_cupy_array, run

__all__ = ["sparse_softmax_cross_entropy_forward", "sparse_softmax_cross_entropy_backward"]


def _native():
    from gpuflow.kernels import native
    return native.module()


def _cuda():
    from gpuflow.kernels import cuda
    return cuda


def _try_native(kernel, impl, x, labels, dloss=None):
    """The C++ kernel's result for NumPy arrays it accepts as they are, else None.

    The C++ kernels check dtypes, contiguity, shapes and the label range before
    reading anything, so on the hot path (per training step) the Python checks run
    only when the C++ kernel refuses the arrays: they then raise the usual messages
    (or copy non-contiguous inputs)."""
    if impl is not None or type(x) is not numpy.ndarray or type(labels) is not numpy.ndarray:
        return None
    from gpuflow.kernels import native
    mod = native.get()
    if mod is None or x.ndim < 1 or labels.shape != x.shape[:-1]:
        return None
    k = x.shape[-1]
    try:
        if dloss is None:
            return getattr(mod, kernel)(x.reshape(-1, k), labels.reshape(-1))
        if type(dloss) is not numpy.ndarray or dloss.shape != labels.shape:
            return None
        return getattr(mod, kernel)(x.reshape(-1, k), labels.reshape(-1), dloss.reshape(-1))
    except (ValueError, TypeError):
        return None


def _xent_forward_ref(logits, labels):
    xp = get_array_module(logits)
    m = logits.max(axis=1, keepdims=True)
    e = xp.exp(logits - m)
    s = e.sum(axis=1, keepdims=True)
    probs = e / s
    picked = xp.take_along_axis(logits, labels[:, None].astype(xp.int64), axis=1)[:, 0]
    loss = xp.log(s[:, 0]) - (picked - m[:, 0])
    return loss, probs


def _xent_backward_ref(probs, labels, dloss):
    xp = get_array_module(probs)
    d = probs.copy()
    d[xp.arange(probs.shape[0]), labels] -= 1
    d *= dloss[:, None]
    return d


def _labels(name, labels, batch_shape, classes, validate):
    labels = _checks.index_array(name, "labels", labels)
    if tuple(labels.shape) != tuple(batch_shape):
        raise ValueError("%s: shape mismatch: %s, expected the logits' batch shape %s"
                         % (name, _checks.describe("labels", labels), tuple(batch_shape)))
    if validate or not is_cupy_array(labels):
        _checks.check_index_range(name, "labels", labels, classes, "classes")
    return labels


def sparse_softmax_cross_entropy_forward(logits, labels, *, validate=True, impl=None):
    """Per-example softmax cross-entropy with integer labels.

    Args:
      logits: ``[..., K]`` float32/float64 array (NumPy or CuPy), K >= 1.
      labels: int32/int64 array of shape ``logits.shape[:-1]`` with values in
        ``[0, K)``.
      validate: check the label range (always done for NumPy inputs; for CuPy
        inputs it costs a device synchronization, and with ``validate=False``
        an out-of-range label gives a NaN loss instead of an error).
      impl: None, 'native' or 'reference'.

    Returns:
      ``(loss, probs)``: ``loss`` of shape ``logits.shape[:-1]`` with
      ``-log softmax(logits)[label]``, and ``probs`` = softmax(logits) of
      ``logits.shape`` (keep it for the backward pass).

    Raises:
      TypeError: non-float logits or non-integer labels.
      ValueError: shape mismatch or a label outside ``[0, K)``.
    """
    fast = _try_native("sparse_softmax_xent_forward", impl, logits, labels)
    if fast is not None:
        loss, probs = fast
        return loss.reshape(logits.shape[:-1]), probs.reshape(logits.shape)
    name = "sparse_softmax_cross_entropy_forward"
    logits = _checks.float_array(name, "logits", logits, min_ndim=1)
    k = logits.shape[-1]
    if k < 1:
        raise ValueError("%s: need at least one class, got %s" % (name, _checks.describe("logits", logits)))
    labels = _labels(name, labels, logits.shape[:-1], k, validate)
    l2 = logits.reshape(-1, k)
    y1 = labels.reshape(-1)
    loss, probs = run(name, impl, (l2, y1),
                      reference=lambda: _xent_forward_ref(l2, y1),
                      native=lambda: _native().sparse_softmax_xent_forward(l2, y1),
                      cuda=lambda: _cuda().xent_forward(l2, y1))
    return loss.reshape(logits.shape[:-1]), probs.reshape(logits.shape)


def sparse_softmax_cross_entropy_backward(probs, labels, dloss, *, validate=True, impl=None):
    """Gradient of `sparse_softmax_cross_entropy_forward` w.r.t. the logits.

    Args:
      probs: ``[..., K]`` softmax probabilities returned by the forward.
      labels: int32/int64 labels of shape ``probs.shape[:-1]``.
      dloss: upstream gradient of the per-example loss, shape
        ``probs.shape[:-1]``, probs' dtype.
      validate: as for the forward.
      impl: None, 'native' or 'reference'.

    Returns:
      ``dlogits`` of ``probs.shape``: ``(probs - onehot(labels)) * dloss[..., None]``.
    """
    fast = _try_native("sparse_softmax_xent_backward", impl, probs, labels, dloss)
    if fast is not None:
        return fast.reshape(probs.shape)
    name = "sparse_softmax_cross_entropy_backward"
    probs = _checks.float_array(name, "probs", probs, min_ndim=1)
    k = probs.shape[-1]
    if k < 1:
        raise ValueError("%s: need at least one class, got %s" % (name, _checks.describe("probs", probs)))
    dloss = _checks.float_array(name, "dloss", dloss, dtype=probs.dtype)
    _checks.check_shape(name, "dloss", dloss, probs.shape[:-1])
    labels = _labels(name, labels, probs.shape[:-1], k, validate)
    p2 = probs.reshape(-1, k)
    y1 = labels.reshape(-1)
    g1 = dloss.reshape(-1)
    d = run(name, impl, (p2, y1, g1),
            reference=lambda: _xent_backward_ref(p2, y1, g1),
            native=lambda: _native().sparse_softmax_xent_backward(p2, y1, g1),
            cuda=lambda: _cuda().xent_backward(p2, y1, g1))
    return d.reshape(probs.shape)
