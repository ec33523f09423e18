"""Fused optimizer updates: Adam (and AMSGrad), SGD with (Nesterov) momentum and
RMSprop, each one pass over the weight, its gradient and the optimizer slots.

The op-by-op update of `gpuflow.keras.optimizers` makes about a dozen elementwise
passes (each reading two arrays and writing one); these kernels read every array
once and write the new weight and slots once.  They compute exactly the Keras 3
formulas of the op-by-op update, in the same order and in the arrays' dtype (see
``csrc/include/gpuflow/gf_optim.h``), so on the CPU their results equal the
reference (and the op-by-op update) bit for bit; on a GPU the CUDA compiler may
contract a multiply and an add into one fused multiply-add (a rounding
difference of at most an ulp or so per operation).

Hyperparameters that Keras keeps as Python floats (``beta_1``, ``epsilon``,
``rho``, ``momentum``...) are taken as Python numbers: complements such as
``1 - beta_1`` are computed in double precision and each value is rounded once
to the arrays' dtype, as NumPy does for the Python floats of the op-by-op update.
Per-step scalars (Adam's ``alpha``, the learning rate) are taken as 0-d arrays
of the arrays' dtype (or Python floats): on a GPU they stay on the device.

Every function returns NEW arrays (the inputs are never modified) unless
``out=`` names the arrays to write; an output may be exactly one of the inputs
(an in-place update) but must not otherwise overlap another array.

Each function accepts NumPy or CuPy arrays (float32 or float64, all of one dtype
and shape) and ``impl=None | 'native' | 'reference'`` (see
`gpuflow.kernels._dispatch`).  Non-contiguous inputs are copied to C-contiguous
first; outputs given with ``out=`` must be C-contiguous.
"""
import numbers

import numpy

from gpuflow.kernels import _checks
from gpuflow.kernels._dispatch import get_array_module, is_cupy_array, run

__all__ = ["adam_update", "sgd_momentum_update", "rmsprop_update"]


def _native():
    from gpuflow.kernels import native
    return native.get() or native.module()   # module() raises, saying why it is missing


def _cuda():
    from gpuflow.kernels import cuda
    return cuda


# ------------------------------------------------------------- validation
def _hyper(kernel, name, value):
    """A hyperparameter as a Python float (ints and NumPy scalars accepted)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError("%s: %s must be a real number, got %r" % (kernel, name, value))
    return float(value)


def _arrays(kernel, named, dtype=None):
    """Validates the named input arrays: float32/float64, one dtype, one shape."""
    out = []
    first = None
    for name, given in named:
        a = _checks.float_array(kernel, name, given, dtype=dtype)
        if a.ndim == 1 and getattr(given, "ndim", None) == 0:
            a = a.reshape(())   # ascontiguousarray makes 0-d arrays 1-d
        if first is None:
            first, dtype = (name, a), a.dtype
        elif tuple(a.shape) != tuple(first[1].shape):
            raise ValueError("%s: shape mismatch: %s but %s"
                             % (kernel, _checks.describe(name, a), _checks.describe(*first)))
        out.append(a)
    xp = get_array_module(*out)
    return xp, out


def _scalar(kernel, name, value, dtype, xp):
    """A per-step scalar as a 0-d array of `dtype` on the arrays' device."""
    if isinstance(value, bool):
        raise TypeError("%s: %s must be a number or a 0-d float array, got %r" % (kernel, name, value))
    if isinstance(value, numbers.Real):
        return xp.asarray(value, dtype=dtype)
    if not (isinstance(value, numpy.ndarray) or is_cupy_array(value)):
        raise TypeError("%s: %s must be a number or a 0-d float array, got %s"
                        % (kernel, name, type(value).__name__))
    if value.size != 1:
        raise ValueError("%s: %s must hold one value, got %s" % (kernel, name, _checks.describe(name, value)))
    if value.dtype != dtype:
        raise TypeError("%s: dtype mismatch: %s but the other inputs are %s"
                        % (kernel, _checks.describe(name, value), numpy.dtype(dtype).name))
    if get_array_module(value) is not xp:
        raise TypeError("%s: %s is on another device than the other inputs" % (kernel, name))
    return value.reshape(())


def _bounds(a):
    """(start, end) byte addresses of a contiguous array (NumPy or CuPy)."""
    ptr = a.ctypes.data if isinstance(a, numpy.ndarray) else a.data.ptr
    return ptr, ptr + a.nbytes


def _outputs(kernel, names, out, ins, xp):
    """Validates `out=` (None stays None): one C-contiguous, writeable array per
    result, of the inputs' dtype, shape and device, each either exactly one of the
    inputs or overlapping none of them (nor another output)."""
    ref = ins[0]
    if out is None:
        return None
    if not isinstance(out, (tuple, list)) or len(out) != len(names):
        raise ValueError("%s: out must be a tuple of %d arrays (%s), got %r"
                         % (kernel, len(names), ", ".join(names), out))
    checked = []
    for name, o in zip(names, out):
        if not (isinstance(o, numpy.ndarray) or is_cupy_array(o)):
            raise TypeError("%s: %s must be an array, got %s" % (kernel, name, type(o).__name__))
        if get_array_module(o) is not xp:
            raise TypeError("%s: %s is on another device than the inputs" % (kernel, name))
        if o.dtype != ref.dtype:
            raise TypeError("%s: dtype mismatch: %s but the inputs are %s"
                            % (kernel, _checks.describe(name, o), ref.dtype.name))
        if tuple(o.shape) != tuple(ref.shape):
            raise ValueError("%s: shape mismatch: %s, expected shape %s"
                             % (kernel, _checks.describe(name, o), tuple(ref.shape)))
        if not o.flags.c_contiguous:
            raise ValueError("%s: %s must be C-contiguous" % (kernel, _checks.describe(name, o)))
        if isinstance(o, numpy.ndarray) and not o.flags.writeable:
            raise ValueError("%s: %s is read-only" % (kernel, _checks.describe(name, o)))
        for a in ins:
            # may_share_memory compares bounds only (fast); exact aliasing is allowed.
            if a is not o and xp.may_share_memory(o, a) and _bounds(o) != _bounds(a):
                raise ValueError("%s: %s partially overlaps an input (an output must be a separate "
                                 "array or exactly the input it replaces)" % (kernel, name))
        for prev_name, p in checked:
            if xp.may_share_memory(o, p):
                raise ValueError("%s: outputs %s and %s share memory" % (kernel, prev_name, name))
        checked.append((name, o))
    return [o for _, o in checked]


def _store(outs, results, xp):
    """The reference results, written into the `out=` arrays if given (computed
    first, so outputs aliasing inputs are safe)."""
    if outs is None:
        return tuple(results)
    for o, r in zip(outs, results):
        xp.copyto(o, r, casting="no")
    return tuple(outs)


_PAGE = 4096
_ALIGN_MIN_BYTES = 1 << 20


def _empty(like):
    """An uninitialized array like `like`; on the CPU page-aligned when large. The
    native kernels stream their outputs when all are equally aligned, and a load
    whose page offset is a little ahead of a just-issued store's stalls on it ("4K
    aliasing", see gpuflow.compiler.cpu_backend): inputs that are earlier results
    share the outputs' offset, and NumPy's large arrays start 16 bytes into a page,
    behind the outputs, which is harmless."""
    if not isinstance(like, numpy.ndarray) or like.nbytes < _ALIGN_MIN_BYTES:
        return get_array_module(like).empty(like.shape, dtype=like.dtype)
    raw = numpy.empty(like.nbytes + _PAGE, numpy.uint8)
    off = (-raw.ctypes.data) % _PAGE
    return raw[off:off + like.nbytes].view(like.dtype).reshape(like.shape)


def _alloc(outs, like, n):
    """The `out=` arrays, or `n` new arrays like `like` (compiled kernels)."""
    if outs is not None:
        return outs
    return [_empty(like) for _ in range(n)]


# ------------------------------------------------------------- references
def _adam_ref(w, g, m, v, v_hat, alpha, c1, c2, eps, outs):
    xp = get_array_module(w)
    t = w.dtype.type
    m1 = m + (g - m) * t(c1)
    v1 = v + (xp.square(g) - v) * t(c2)
    res = [None, m1, v1]
    vv = v1
    if v_hat is not None:
        vv = xp.maximum(v_hat, v1)
        res.append(vv)
    res[0] = w - (m1 * alpha) / (xp.sqrt(vv) + t(eps))
    return _store(outs, res, xp)


def _sgd_ref(w, g, m, lr, momentum, nesterov, outs):
    xp = get_array_module(w)
    mom = w.dtype.type(momentum)
    g_lr = g * lr
    m1 = m * mom - g_lr
    w1 = w + (m1 * mom - g_lr) if nesterov else w + m1
    return _store(outs, [w1, m1], xp)


def _rmsprop_ref(w, g, v, a, m, lr, rho, one_minus_rho, momentum, eps, outs):
    xp = get_array_module(w)
    t = w.dtype.type
    v1 = t(rho) * v + t(one_minus_rho) * xp.square(g)
    res = [None, v1]
    if a is not None:
        a1 = t(rho) * a + t(one_minus_rho) * g
        res.append(a1)
        denom = (v1 - xp.square(a1)) + t(eps)
    else:
        denom = v1 + t(eps)
    inc = (lr * g) / xp.sqrt(denom)
    if m is not None:
        m1 = t(momentum) * m + inc
        res.append(m1)
        res[0] = w - m1
    else:
        res[0] = w - inc
    return _store(outs, res, xp)


# ----------------------------------------------------------------- public
def adam_update(w, g, m, v, alpha, beta_1=0.9, beta_2=0.999, epsilon=1e-7, v_hat=None, *, out=None,
                impl=None):
    """One Adam step of Keras 3 (`keras.optimizers.Adam`) in one pass.

    ``m' = m + (g - m) * (1 - beta_1)``, ``v' = v + (g*g - v) * (1 - beta_2)``,
    with ``v_hat``: ``v_hat' = maximum(v_hat, v')`` (AMSGrad) replacing ``v'``
    below, and ``w' = w - (m' * alpha) / (sqrt(v') + epsilon)``.

    Args:
      w, g, m, v: the weight, its gradient and the two moments: float32/float64
        arrays of one dtype and shape (NumPy or CuPy).
      alpha: the step size ``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``: a 0-d
        array of w's dtype (on w's device) or a number.
      beta_1, beta_2: the moments' decay rates (Python numbers).
      epsilon: added to ``sqrt(v')`` (a Python number).
      v_hat: AMSGrad's running maximum of v (an array like w), or None.
      out: optional tuple of arrays receiving ``(w', m', v'[, v_hat'])``.
      impl: None, 'native' or 'reference'.

    Returns:
      ``(w', m', v')``, or ``(w', m', v', v_hat')`` with ``v_hat``.

    Raises:
      TypeError: non-float arrays, mixed dtypes or devices, non-number
        hyperparameters.
      ValueError: shape mismatches, a bad ``out``.
    """
    name = "adam_update"
    b1 = _hyper(name, "beta_1", beta_1)
    b2 = _hyper(name, "beta_2", beta_2)
    eps = _hyper(name, "epsilon", epsilon)
    named = [("w", w), ("g", g), ("m", m), ("v", v)] + ([("v_hat", v_hat)] if v_hat is not None else [])
    xp, arrays = _arrays(name, named)
    w, g, m, v = arrays[:4]
    v_hat = arrays[4] if v_hat is not None else None
    alpha = _scalar(name, "alpha", alpha, w.dtype, xp)
    outs = _outputs(name, ("w_out", "m_out", "v_out") + (("v_hat_out",) if v_hat is not None else ()),
                    out, arrays, xp)
    c1, c2 = 1.0 - b1, 1.0 - b2
    return run(name, impl, arrays,
               reference=lambda: _adam_ref(w, g, m, v, v_hat, alpha, c1, c2, eps, outs),
               native=lambda: _native_adam(w, g, m, v, v_hat, alpha, c1, c2, eps, _alloc(outs, w, len(arrays) - 1)),
               cuda=lambda: _cuda().adam_update(w, g, m, v, v_hat, alpha, c1, c2, eps,
                                                _alloc(outs, w, len(arrays) - 1)))


def _native_adam(w, g, m, v, v_hat, alpha, c1, c2, eps, outs):
    _native().adam_update(w, g, m, v, v_hat, float(alpha), c1, c2, eps, outs[0], outs[1], outs[2],
                          outs[3] if v_hat is not None else None)
    return tuple(outs)


def sgd_momentum_update(w, g, m, lr, momentum, nesterov=False, *, out=None, impl=None):
    """One step of SGD with momentum (`keras.optimizers.SGD(momentum > 0)`).

    ``m' = m * momentum - g * lr``; ``w' = w + m'``, or with ``nesterov``
    ``w' = w + (m' * momentum - g * lr)``.

    Args:
      w, g, m: the weight, its gradient and the momentum (one dtype and shape).
      lr: the learning rate: a 0-d array of w's dtype or a number.
      momentum: the momentum, a Python number in [0, 1] (rounded to w's dtype;
        the optimizer passes it already rounded to float32, as Keras does).
      nesterov: Nesterov momentum.
      out: optional tuple of arrays receiving ``(w', m')``.
      impl: None, 'native' or 'reference'.

    Returns:
      ``(w', m')``.
    """
    name = "sgd_momentum_update"
    mom = _hyper(name, "momentum", momentum)
    xp, arrays = _arrays(name, [("w", w), ("g", g), ("m", m)])
    w, g, m = arrays
    lr = _scalar(name, "lr", lr, w.dtype, xp)
    outs = _outputs(name, ("w_out", "m_out"), out, arrays, xp)
    nesterov = bool(nesterov)
    return run(name, impl, arrays,
               reference=lambda: _sgd_ref(w, g, m, lr, mom, nesterov, outs),
               native=lambda: _native_sgd(w, g, m, lr, mom, nesterov, _alloc(outs, w, 2)),
               cuda=lambda: _cuda().sgd_momentum_update(w, g, m, lr, mom, nesterov, _alloc(outs, w, 2)))


def _native_sgd(w, g, m, lr, mom, nesterov, outs):
    _native().sgd_momentum_update(w, g, m, float(lr), mom, nesterov, outs[0], outs[1])
    return tuple(outs)


def rmsprop_update(w, g, v, lr, rho=0.9, momentum=0.0, epsilon=1e-7, a=None, m=None, *, out=None, impl=None):
    """One RMSprop step of Keras 3 (`keras.optimizers.RMSprop`).

    ``v' = rho * v + (1 - rho) * g*g``; centered (``a`` given):
    ``a' = rho * a + (1 - rho) * g`` and ``d = (v' - a'*a') + epsilon``, else
    ``d = v' + epsilon``; ``inc = (lr * g) / sqrt(d)``; with momentum (``m``
    given): ``m' = momentum * m + inc`` and ``w' = w - m'``, else ``w' = w - inc``.

    Args:
      w, g, v: the weight, its gradient and the mean square (one dtype and shape).
      lr: the learning rate: a 0-d array of w's dtype or a number.
      rho, momentum, epsilon: Python numbers.
      a: the average gradient of the centered variant, or None.
      m: the momentum slot (used when given), or None.
      out: optional tuple of arrays receiving ``(w', v'[, a'][, m'])``.
      impl: None, 'native' or 'reference'.

    Returns:
      ``(w', v')`` followed by ``a'`` (centered) and ``m'`` (momentum).
    """
    name = "rmsprop_update"
    rho = _hyper(name, "rho", rho)
    mom = _hyper(name, "momentum", momentum)
    eps = _hyper(name, "epsilon", epsilon)
    named = [("w", w), ("g", g), ("v", v)]
    if a is not None:
        named.append(("a", a))
    if m is not None:
        named.append(("m", m))
    xp, arrays = _arrays(name, named)
    w, g, v = arrays[:3]
    a = arrays[3] if a is not None else None
    m = arrays[-1] if m is not None else None
    lr = _scalar(name, "lr", lr, w.dtype, xp)
    names = ("w_out", "v_out") + (("a_out",) if a is not None else ()) + (("m_out",) if m is not None else ())
    outs = _outputs(name, names, out, arrays, xp)
    one_minus_rho = 1.0 - rho
    return run(name, impl, arrays,
               reference=lambda: _rmsprop_ref(w, g, v, a, m, lr, rho, one_minus_rho, mom, eps, outs),
               native=lambda: _native_rmsprop(w, g, v, a, m, lr, rho, one_minus_rho, mom, eps,
                                              _alloc(outs, w, len(names))),
               cuda=lambda: _cuda().rmsprop_update(w, g, v, a, m, lr, rho, one_minus_rho, mom, eps,
                                                   _alloc(outs, w, len(names))))


def _native_rmsprop(w, g, v, a, m, lr, rho, one_minus_rho, mom, eps, outs):
    a_out = outs[2] if a is not None else None
    m_out = outs[-1] if m is not None else None
    _native().rmsprop_update(w, g, v, a, m, float(lr), rho, one_minus_rho, mom, eps, outs[0], outs[1], a_out, m_out)
    return tuple(outs)


# ------------------------------------------------------- prepared native calls
def native_into(kernel, **hyper):
    """The C++ update `kernel` with its hyperparameters bound, for callers that
    already guarantee what the public functions check in Python: NumPy arrays of one
    float dtype and shape, and an `out` tuple of planned arrays (compiled steps,
    whose graph fixes every shape and dtype).

    The C++ kernel still validates every array (dtype, contiguity, shape, overlap)
    before it touches memory and raises ValueError/TypeError without writing
    anything, so a caller can fall back to the public function on those errors.

    Args:
      kernel: 'adam_update', 'sgd_momentum_update' or 'rmsprop_update'.
      **hyper: the public function's Python-number hyperparameters (`beta_1`,
        `beta_2`, `epsilon`; `momentum`, `nesterov`; `rho`, `momentum`, `epsilon`).

    Returns:
      None when the C++ kernels are not available, else a function: for Adam
      `fn(w, g, m, v, v_hat, alpha, out)`, for SGD `fn(w, g, m, lr, out)`, for
      RMSprop `fn(w, g, v, a, m, lr, out)` (`v_hat`, `a`, `m` may be None; the step
      scalar is a 0-d array or a number), writing `out` and returning it as a tuple.
    """
    from gpuflow.kernels import native
    if not native.available():
        return None
    if kernel == "adam_update":
        b1 = _hyper(kernel, "beta_1", hyper["beta_1"])
        b2 = _hyper(kernel, "beta_2", hyper["beta_2"])
        eps = _hyper(kernel, "epsilon", hyper["epsilon"])
        c1, c2 = 1.0 - b1, 1.0 - b2
        return lambda w, g, m, v, v_hat, alpha, out: _native_adam(w, g, m, v, v_hat, alpha, c1, c2, eps, out)
    if kernel == "sgd_momentum_update":
        mom = _hyper(kernel, "momentum", hyper["momentum"])
        nesterov = bool(hyper["nesterov"])
        return lambda w, g, m, lr, out: _native_sgd(w, g, m, lr, mom, nesterov, out)
    if kernel == "rmsprop_update":
        rho = _hyper(kernel, "rho", hyper["rho"])
        mom = _hyper(kernel, "momentum", hyper["momentum"])
        eps = _hyper(kernel, "epsilon", hyper["epsilon"])
        return lambda w, g, v, a, m, lr, out: _native_rmsprop(w, g, v, a, m, lr, rho, 1.0 - rho, mom, eps, out)
    raise ValueError("native_into: unknown kernel %r (expected 'adam_update', "
                     "'sgd_momentum_update' or 'rmsprop_update')" % (kernel,))
