"""Tensor creation, conversion, shape manipulation, indexing and variable access.

Conversion follows TensorFlow: Python floats become float32, Python ints int32 (int64
when too large), NumPy arrays keep their dtype. In a binary op a Python number or a
NumPy array adapts to the tensor operand's dtype; two tensors of different dtypes are an
error (TF refuses to mix them silently).
"""
import builtins

import numpy as np

from gpuflow import dtypes as _dt
from gpuflow import errors
from gpuflow import backend as _be
from gpuflow._context import ctx as _ctx
from gpuflow.ops import shapes as S
from gpuflow.ops.registry import op, apply, wrap
from gpuflow.tensor import Tensor, Variable

_range = builtins.range
_NP2DT = _dt._BY_NP
_INT32_MIN, _INT32_MAX = -2 ** 31, 2 ** 31 - 1


# ---------------------------------------------------------------------------------------
# Conversion
# ---------------------------------------------------------------------------------------
def _placement():
    d = _ctx.devices
    return d[-1] if d else _be.default_device()


def _python_to_array(value, dtype):
    """NumPy array for a Python value / nested list / NumPy array, TF's dtype inference."""
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        arr = np.asarray(value)
        if dtype is None:
            if arr.dtype not in _NP2DT:
                raise TypeError("Cannot convert a NumPy array of dtype %s to a tensor; supported dtypes: %s"
                                % (arr.dtype, ", ".join(sorted(set(d.name for d in _NP2DT.values())))))
            return arr
        return _cast_checked(arr, dtype, value)
    try:
        arr = np.asarray(value)
    except ValueError as e:
        raise ValueError("Can't convert non-rectangular Python sequence to a tensor: %s" % e) from None
    if arr.dtype == object:
        raise TypeError("Cannot convert %r to a tensor: unsupported element types" % (value,))
    if dtype is None:
        k = arr.dtype.kind
        if k == "f":
            return arr.astype(np.float32)
        if k in "iu":
            if arr.size and (arr.min() < _INT32_MIN or arr.max() > _INT32_MAX):
                return arr.astype(np.int64)
            return arr.astype(np.int32)
        if k == "b":
            return arr
        if k == "c":
            return arr.astype(np.complex64)
        raise TypeError("Cannot convert %r to a tensor (NumPy inferred dtype %s)" % (value, arr.dtype))
    return _cast_checked(arr, dtype, value)


def _cast_checked(arr, dtype, value):
    k, tk = arr.dtype.kind, dtype.np.kind
    if k == "f" and tk in "iub":
        if arr.size and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise TypeError("Cannot convert %s to a tensor of dtype %s: it has non-integer values"
                            % (_short(value), dtype.name))
    if k in "U S O".split():
        raise TypeError("Cannot convert %s to a tensor of dtype %s" % (_short(value), dtype.name))
    return arr.astype(dtype.np, copy=False)


def _short(v):
    r = repr(v)
    return r if len(r) < 60 else r[:57] + "..."


def convert_to_tensor(value, dtype=None, dtype_hint=None, name=None):
    """Converts a Python value, NumPy array or tensor to a `Tensor`.

    Args:
      value: a tensor, Variable, NumPy array, Python scalar or nested list (a list that
        contains tensors is stacked, differentiably).
      dtype: required dtype; a tensor of another dtype is an error.
      dtype_hint: dtype to use for Python values when `dtype` is None.

    Raises:
      ValueError: a tensor's dtype differs from `dtype`.
      TypeError: the value cannot be represented with the dtype.
    """
    if isinstance(value, Tensor):
        if dtype is not None and _dt.as_dtype(dtype) is not value.dtype:
            raise ValueError("Tensor conversion requested dtype %s for Tensor with dtype %s: %r"
                             % (_dt.as_dtype(dtype).name, value.dtype.name, value))
        return value
    if dtype is not None:
        dtype = _dt.as_dtype(dtype)
    elif dtype_hint is not None and not isinstance(value, (np.ndarray, np.generic)):
        try:
            return convert_to_tensor(value, dtype_hint)
        except (TypeError, ValueError):
            pass
    if isinstance(value, (list, tuple)) and value and _contains_tensor(value):
        return _pack_nested(value, dtype)
    if hasattr(value, "__array_interface__") or hasattr(value, "__cuda_array_interface__"):
        if not isinstance(value, (np.ndarray, np.generic)):
            dev = _placement()
            if dev.is_gpu and hasattr(value, "__cuda_array_interface__"):
                arr = dev.xp.asarray(value)
                return wrap(arr if dtype is None else arr.astype(dtype.np, copy=False), dev)
            value = np.asarray(value)
    arr = _python_to_array(value, dtype)
    dev = _placement()
    return wrap(_be.to_device(arr, dev) if dev.is_gpu else arr, dev)


def _contains_tensor(v):
    for x in v:
        if isinstance(x, Tensor):
            return True
        if isinstance(x, (list, tuple)) and _contains_tensor(x):
            return True
    return False


def _pack_nested(value, dtype):
    items = [_pack_nested(x, dtype) if isinstance(x, (list, tuple)) else x for x in value]
    first = next((x for x in items if isinstance(x, Tensor)), None)
    dt = dtype or first.dtype
    return stack([x if isinstance(x, Tensor) else convert_to_tensor(x, dtype=dt) for x in items], axis=0)


def constant(value, dtype=None, shape=None, name=None):
    """Creates a constant tensor, as `tf.constant`.

    Args:
      value: a Python scalar, nested list, NumPy array or tensor.
      dtype: element type (inferred TF's way when None).
      shape: optional shape; a scalar `value` is broadcast to it, otherwise the number of
        elements must match and the value is reshaped.
    """
    if isinstance(value, Tensor):
        t = value if dtype is None or _dt.as_dtype(dtype) is value.dtype else cast(value, dtype)
        if isinstance(t, Variable):
            t = read_variable(t)
    else:
        t = convert_to_tensor(value, dtype=dtype)
    if shape is not None:
        shape = [int(d) for d in shape]
        n = S.numel(shape)
        size = t.shape.num_elements()
        if size == 1 and n != 1:
            return broadcast_to(reshape(t, []), shape)
        if size != n:
            raise TypeError("constant(): expected %d elements for shape %s, got %d" % (n, shape, size))
        t = reshape(t, shape)
    return t


_scalar_cache = {}


def _like(value, t, opname):
    """Converts a non-tensor operand to the dtype (and device) of tensor `t`."""
    cls = value.__class__
    if cls is float or cls is int or cls is bool:
        # Hot path (`x * 2.0`): Python scalars are cached per (value, dtype, device).
        # 0.0 and NaN are not cached: -0.0 == 0.0 would share an entry, NaN never hits.
        v = t._value
        dev = t._device
        if dev is None:
            dev = _placement()
        key = (cls, value, v.dtype if v is not None else t.dtype.np, dev)
        if value or cls is not float:
            c = _scalar_cache.get(key)
            if c is not None:
                return c
    d = t.dtype
    dev = t._device
    if dev is None:
        dev = _placement()
    if isinstance(value, (bool, int, float)) and not isinstance(value, np.generic):
        key = (value.__class__, value, d.np, dev)
        if isinstance(value, float) and not (d.is_floating or d.is_complex):
            if value != value or value != int(value) or d.is_bool:
                raise TypeError("%s: cannot convert %r to a %s tensor (the other operand is %s%s); "
                                "cast the tensor first, e.g. gf.cast(x, gf.float32)"
                                % (opname, value, d.name, d.name, t.shape))
        if isinstance(value, bool) is False and d.is_bool:
            raise TypeError("%s: cannot convert %r to a bool tensor" % (opname, value))
        if d.is_integer and isinstance(value, int) and not (d.min <= value <= d.max):
            raise TypeError("%s: %r is out of range for %s" % (opname, value, d.name))
        arr = np.asarray(value, dtype=d.np)
        c = wrap(_be.to_device(arr, dev) if dev.is_gpu else arr, dev)
        if len(_scalar_cache) < 4096 and value == value and (value or cls is not float):
            _scalar_cache[key] = c
        return c
    if isinstance(value, (np.ndarray, np.generic)):
        k = value.dtype.kind
        if k == "f" and not (d.is_floating or d.is_complex):
            raise TypeError("%s: cannot convert a float %s array to %s to match the other operand (%s%s); "
                            "cast explicitly" % (opname, value.dtype, d.name, d.name, t.shape))
        arr = np.asarray(value, dtype=d.np)
        return wrap(_be.to_device(arr, dev) if dev.is_gpu else arr, dev)
    try:
        return convert_to_tensor(value, dtype=d)
    except (TypeError, ValueError) as e:
        raise TypeError("%s: cannot convert %s to match the other operand (%s%s): %s"
                        % (opname, _short(value), d.name, t.shape, e)) from None


def binary_args(opname, x, y):
    """Converts the operands of a binary op; Python values adapt to the tensor operand."""
    if isinstance(x, Tensor):
        if isinstance(y, Tensor):
            if x.dtype is not y.dtype:
                raise errors.InvalidArgumentError(
                    "%s: cannot combine a %s tensor (shape %s) with a %s tensor (shape %s). gpuflow, like "
                    "TensorFlow, does not mix dtypes silently: use gf.cast(x, dtype) on one of them."
                    % (opname, x.dtype.name, x.shape, y.dtype.name, y.shape), op=opname)
            return x, y
        return x, _like(y, x, opname)
    if isinstance(y, Tensor):
        return _like(x, y, opname), y
    x = convert_to_tensor(x)
    return x, _like(y, x, opname)


def normalize_axis(axis, ndim, opname):
    """A sorted tuple of non-negative axes (None stays None)."""
    if axis is None:
        return None
    if isinstance(axis, Tensor):
        if axis._value is None:
            raise errors.InvalidArgumentError("%s: axis must be known when tracing, got a symbolic tensor" % opname)
        axis = axis.numpy().tolist()
    if isinstance(axis, (int, np.integer)):
        axis = [int(axis)]
    out = []
    for a in axis:
        a = int(a)
        if not -ndim <= a < max(ndim, 1):
            raise errors.InvalidArgumentError(
                "%s: axis %d is out of range for a tensor of rank %d (expected [%d, %d))"
                % (opname, a, ndim, -ndim, ndim), op=opname)
        a = a % ndim if ndim else 0
        if a not in out:
            out.append(a)
    return tuple(sorted(out))


def _dims(t):
    return t._value.shape if t._value is not None else t._shape._dims


# ---------------------------------------------------------------------------------------
# Identity-like ops used by gradients
# ---------------------------------------------------------------------------------------
@op("identity", infer=S.same, elementwise="{0}")
def _identity(xp, x):
    return x


_identity.def_grad(lambda c, g: [g])


def identity(input, name=None):  # noqa: A002
    """Returns a tensor with the same value (a Variable gives a snapshot of its value)."""
    x = input if isinstance(input, Tensor) else convert_to_tensor(input)
    return apply(_identity, (x,))


@op("stop_gradient", infer=S.same, differentiable=False, elementwise="{0}")
def _stop_gradient(xp, x):
    return x


def stop_gradient(input, name=None):  # noqa: A002
    """Identity whose gradient is zero: tapes do not look through it."""
    x = input if isinstance(input, Tensor) else convert_to_tensor(input)
    return apply(_stop_gradient, (x,))


def _sum_to_infer(specs):
    return specs[1][0], specs[0][1]


@op("sum_to", infer=_sum_to_infer)
def _sum_to(xp, g, ref):
    shape = ref.shape
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(_range(lead)) + tuple(i + lead for i, d in enumerate(shape) if d == 1 and g.shape[i + lead] != 1)
    return xp.sum(g, axis=axes, keepdims=True).reshape(shape)


@op("broadcast_like", infer=_sum_to_infer)
def _broadcast_like(xp, a, ref):
    if a.shape == ref.shape:
        return a
    return xp.broadcast_to(a, ref.shape)


_sum_to.def_grad(lambda c, g: [broadcast_like(g, c.inputs[0]), None])
_broadcast_like.def_grad(lambda c, g: [unbroadcast(g, c.inputs[0]), None])


def unbroadcast(g, x):
    """Sums `g` over the axes along which `x` was broadcast, giving x's shape."""
    gd = _dims(g)
    xd = _dims(x)
    if gd == xd and None not in gd:
        return g
    return apply(_sum_to, (g, x))


def broadcast_like(a, ref):
    """Broadcasts `a` to the (run-time) shape of `ref`."""
    ad, rd = _dims(a), _dims(ref)
    if ad == rd and None not in ad:
        return a
    return apply(_broadcast_like, (a, ref))


def _expand_axes_infer(specs, axes):
    dims = list(specs[0][0])
    for a in axes:
        dims.insert(a, 1)
    return tuple(dims), specs[0][1]


@op("expand_axes", infer=_expand_axes_infer)
def _expand_axes(xp, x, axes):
    return xp.expand_dims(x, axes)


def _squeeze_infer(specs, axes):
    dims = specs[0][0]
    for a in axes:
        if dims[a] is not None and dims[a] != 1:
            raise errors.InvalidArgumentError("squeeze: dimension %d of shape %s is %d, not 1" % (a, dims, dims[a]))
    return tuple(d for i, d in enumerate(dims) if i not in axes), specs[0][1]


@op("squeeze", infer=_squeeze_infer)
def _squeeze(xp, x, axes):
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError("Can not squeeze dim[%d], expected a dimension of 1, got %d" % (a, x.shape[a]))
    return xp.squeeze(x, axis=axes)


_expand_axes.def_grad(lambda c, g: [apply(_squeeze, (g,), {"axes": c.attrs["axes"]})])
_squeeze.def_grad(lambda c, g: [apply(_expand_axes, (g,), {"axes": c.attrs["axes"]})])


def expand_reduced(g, ndim, axis, keepdims):
    """Re-inserts the axes a reduction removed, so `g` broadcasts against the input."""
    if keepdims:
        return g
    axes = tuple(_range(ndim)) if axis is None else axis
    if not axes:
        return g
    return apply(_expand_axes, (g,), {"axes": axes})


def squeeze(input, axis=None, name=None):  # noqa: A002
    """Removes size-1 dimensions (all of them, or those in `axis`)."""
    x = input if isinstance(input, Tensor) else convert_to_tensor(input)
    dims = _dims(x)
    if axis is None:
        if None in dims:
            raise errors.InvalidArgumentError("squeeze: axis must be given for a shape with unknown dims %s" % (dims,))
        axes = tuple(i for i, d in enumerate(dims) if d == 1)
    else:
        axes = normalize_axis(axis, len(dims), "squeeze")
    if not axes:
        return x
    return apply(_squeeze, (x,), {"axes": axes})


def expand_dims(input, axis, name=None):  # noqa: A002
    """Inserts a size-1 dimension at `axis` (negative counts from the end of the result)."""
    x = input if isinstance(input, Tensor) else convert_to_tensor(input)
    nd = len(_dims(x))
    a = int(axis)
    if not -nd - 1 <= a <= nd:
        raise errors.InvalidArgumentError("expand_dims: axis %d out of range for rank %d (expected [%d, %d])"
                                          % (a, nd, -nd - 1, nd), op="expand_dims")
    if a < 0:
        a += nd + 1
    return apply(_expand_axes, (x,), {"axes": (a,)})


# ---------------------------------------------------------------------------------------
# Cast, shape queries
# ---------------------------------------------------------------------------------------
def _cast_infer(specs, dtype):
    return specs[0][0], dtype


@op("cast", infer=_cast_infer, elementwise="cast({0})")
def _cast(xp, x, dtype):
    if dtype.is_integer and x.dtype.kind == "f":
        return xp.trunc(x).astype(dtype.np)
    return x.astype(dtype.np)


@_cast.def_grad
def _cast_grad(c, g):
    src = c.inputs[0].dtype
    if (src.is_floating or src.is_complex) and (g.dtype.is_floating or g.dtype.is_complex):
        return [cast(g, src)]
    return [None]


def cast(x, dtype, name=None):
    """Casts to `dtype` (float to int truncates toward zero, as TF)."""
    dtype = _dt.as_dtype(dtype)
    if not isinstance(x, Tensor):
        return convert_to_tensor(_python_to_array(x, None).astype(dtype.np))
    if x.dtype is dtype:
        return x
    return apply(_cast, (x,), {"dtype": dtype})


def saturate_cast(value, dtype, name=None):
    dtype = _dt.as_dtype(dtype)
    x = value if isinstance(value, Tensor) else convert_to_tensor(value)
    if dtype.is_integer:
        from gpuflow.ops import math_ops
        x = math_ops.clip_by_value(x, max(dtype.min, x.dtype.min), min(dtype.max, x.dtype.max))
    return cast(x, dtype)


@op("shape", infer=lambda specs, out_type: ((len(specs[0][0]),), out_type), differentiable=False)
def _shape(xp, x, out_type):
    return xp.asarray(x.shape, dtype=out_type.np)


def shape(input, out_type=_dt.int32, name=None):  # noqa: A002
    """The shape of a tensor as a 1-D int32 tensor (works on symbolic tensors)."""
    x = input if isinstance(input, Tensor) else convert_to_tensor(input)
    return apply(_shape, (x,), {"out_type": _dt.as_dtype(out_type)})


def shape_n(inputs, out_type=_dt.int32, name=None):
    return [shape(x, out_type) for x in inputs]


def rank(input, name=None):  # noqa: A002
    x = input if isinstance(input, Tensor) else convert_to_tensor(input)
    return constant(len(_dims(x)), dtype=_dt.int32)


@op("size", infer=lambda specs, out_type: ((), out_type), differentiable=False)
def _size(xp, x, out_type):
    return xp.asarray(x.size, dtype=out_type.np)


def size(input, out_type=_dt.int32, name=None):  # noqa: A002
    x = input if isinstance(input, Tensor) else convert_to_tensor(input)
    return apply(_size, (x,), {"out_type": _dt.as_dtype(out_type)})


# ---------------------------------------------------------------------------------------
# Creation
# ---------------------------------------------------------------------------------------
def _static_shape(shape, opname):
    if isinstance(shape, Tensor):
        if shape._value is None:
            return None
        shape = shape.numpy().tolist()
    if isinstance(shape, (int, np.integer)):
        shape = [int(shape)]
    try:
        out = [int(d) for d in shape]
    except TypeError:
        if any(isinstance(d, Tensor) and d._value is None for d in shape):
            return None
        raise
    for d in out:
        if d < 0:
            raise errors.InvalidArgumentError("%s: dimensions must be non-negative, got shape %s" % (opname, out), op=opname)
    return tuple(out)


def _fill_infer(specs, dtype):
    n = specs[0][0][0]
    return (None,) * (n if n is not None else 0), dtype


@op("fill_dynamic", infer=_fill_infer, differentiable=False)
def _fill_dynamic(xp, shape, value, dtype):
    return xp.full(tuple(int(d) for d in _be.to_numpy(shape)), value, dtype=dtype.np)


def _full(shape, value, dtype, opname):
    dtype = _dt.as_dtype(dtype)
    st = _static_shape(shape, opname)
    if st is None:
        shp = shape if isinstance(shape, Tensor) else stack([cast(d, _dt.int32) if isinstance(d, Tensor)
                                                             else convert_to_tensor(d, dtype=_dt.int32) for d in shape])
        v = convert_to_tensor(value, dtype=dtype)
        return apply(_fill_dynamic, (cast(shp, _dt.int32), v), {"dtype": dtype})
    dev = _placement()
    return wrap(dev.xp.full(st, value, dtype=dtype.np), dev)


def zeros(shape, dtype=_dt.float32, name=None, layout=None):
    """A tensor of zeros, float32 by default."""
    return _full(shape, 0, dtype, "zeros")


def ones(shape, dtype=_dt.float32, name=None, layout=None):
    """A tensor of ones, float32 by default."""
    return _full(shape, 1, dtype, "ones")


def fill(dims, value, name=None, layout=None):
    """A tensor of shape `dims` filled with `value` (dtype inferred from the value)."""
    if isinstance(value, Tensor):
        return broadcast_to(value, dims)
    return _full(dims, value, _python_to_array(value, None).dtype, "fill")


@op("zeros_like", infer=_cast_infer, differentiable=False)
def _zeros_like(xp, x, dtype):
    return xp.zeros(x.shape, dtype=dtype.np)


@op("ones_like", infer=_cast_infer, differentiable=False)
def _ones_like(xp, x, dtype):
    return xp.ones(x.shape, dtype=dtype.np)


def zeros_like(input, dtype=None, name=None, layout=None):  # noqa: A002
    x = input if isinstance(input, Tensor) else convert_to_tensor(input)
    return apply(_zeros_like, (x,), {"dtype": _dt.as_dtype(dtype) if dtype is not None else x.dtype})


def ones_like(input, dtype=None, name=None, layout=None):  # noqa: A002
    x = input if isinstance(input, Tensor) else convert_to_tensor(input)
    return apply(_ones_like, (x,), {"dtype": _dt.as_dtype(dtype) if dtype is not None else x.dtype})


def eye(num_rows, num_columns=None, batch_shape=None, dtype=_dt.float32, name=None):
    """Identity matrix (optionally batched)."""
    dtype = _dt.as_dtype(dtype)
    dev = _placement()
    n_rows, n_cols = int(num_rows), int(num_rows if num_columns is None else num_columns)
    if n_rows < 0 or n_cols < 0:
        raise errors.InvalidArgumentError("eye: num_rows and num_columns must be non-negative, got %d and %d"
                                          % (n_rows, n_cols), op="eye")
    m = dev.xp.eye(n_rows, n_cols, dtype=dtype.np)
    if batch_shape is not None:
        m = dev.xp.broadcast_to(m, tuple(batch_shape) + m.shape).copy()
    return wrap(m, dev)


def range(start, limit=None, delta=1, dtype=None, name="range"):  # noqa: A001
    """`gf.range(limit)` or `gf.range(start, limit, delta)`; int32 for ints, float32 for floats."""
    if limit is None:
        start, limit = 0, start
    vals = [v.numpy() if isinstance(v, Tensor) else v for v in (start, limit, delta)]
    if delta == 0:
        raise errors.InvalidArgumentError("range: delta must not be zero", op="range")
    if dtype is None:
        if any(isinstance(v, (float, np.floating)) for v in vals):
            dtype = _dt.float32
        elif any(isinstance(v, np.integer) and v.dtype == np.int64 for v in vals):
            dtype = _dt.int64
        else:
            dtype = _dt.int32
    dtype = _dt.as_dtype(dtype)
    dev = _placement()
    return wrap(dev.xp.arange(vals[0], vals[1], vals[2]).astype(dtype.np), dev)


def linspace(start, stop, num, name=None, axis=0):
    """`num` evenly spaced values from start to stop inclusive (float32 for Python floats)."""
    s = start.numpy() if isinstance(start, Tensor) else start
    e = stop.numpy() if isinstance(stop, Tensor) else stop
    dt = start.dtype if isinstance(start, Tensor) else _dt.float32
    dev = _placement()
    return wrap(dev.xp.linspace(s, e, int(num), axis=axis).astype(dt.np), dev)


# ---------------------------------------------------------------------------------------
# Reshape / transpose / broadcast
# ---------------------------------------------------------------------------------------
def _reshape_infer(specs, shape):
    src = specs[0][0]
    n = S.numel(src)
    out = list(shape)
    if -1 in out:
        i = out.index(-1)
        rest = S.numel([d for j, d in enumerate(out) if j != i])
        if n is None or rest is None:
            out[i] = None
        else:
            if rest == 0 or n % rest:
                raise errors.InvalidArgumentError("Cannot reshape a tensor with %d elements to shape %s"
                                                  % (n, list(shape)), op="reshape")
            out[i] = n // rest
    elif n is not None and S.numel(out) != n:
        raise errors.InvalidArgumentError(
            "Cannot reshape a tensor with %d elements to shape %s (%d elements)" % (n, list(shape), S.numel(out)),
            op="reshape")
    return tuple(out), specs[0][1]


@op("reshape", infer=_reshape_infer)
def _reshape(xp, x, shape):
    return xp.reshape(x, shape)


@op("reshape_like", infer=_sum_to_infer)
def _reshape_like(xp, x, ref):
    return xp.reshape(x, ref.shape)


_reshape.def_grad(lambda c, g: [reshape_like(g, c.inputs[0])])
_reshape_like.def_grad(lambda c, g: [reshape_like(g, c.inputs[0]), None])


def reshape_like(x, ref):
    """Reshapes `x` to the (run-time) shape of `ref`."""
    if _dims(x) == _dims(ref) and None not in _dims(ref):
        return x
    return apply(_reshape_like, (x, ref))


def _infer_dyn_reshape(specs):
    n = specs[1][0][0]
    return (None,) * (n or 0), specs[0][1]


@op("reshape_dynamic", infer=_infer_dyn_reshape)
def _reshape_dynamic(xp, x, shape):
    return xp.reshape(x, tuple(int(d) for d in _be.to_numpy(shape)))


_reshape_dynamic.def_grad(lambda c, g: [reshape_like(g, c.inputs[0]), None])


def reshape(tensor, shape, name=None):
    """Reshapes; one dimension may be -1. `shape` may hold symbolic scalars (gf.shape(x)[0])."""
    x = tensor if isinstance(tensor, Tensor) else convert_to_tensor(tensor)
    if isinstance(shape, Tensor) and shape._value is None or (
            isinstance(shape, (list, tuple)) and any(isinstance(d, Tensor) and d._value is None for d in shape)):
        if isinstance(shape, (list, tuple)):
            shape = stack([cast(d, _dt.int32) if isinstance(d, Tensor) else constant(int(d), _dt.int32) for d in shape])
        return apply(_reshape_dynamic, (x, cast(shape, _dt.int32)))
    if isinstance(shape, Tensor):
        shape = shape.numpy().tolist()
    if hasattr(shape, "as_list"):
        shape = shape.as_list()
    if isinstance(shape, (int, np.integer)):
        shape = [shape]
    shape = tuple(-1 if d is None else int(d) for d in shape)
    if shape.count(-1) > 1:
        raise errors.InvalidArgumentError("reshape: only one dimension may be -1, got %s" % (list(shape),), op="reshape")
    if _dims(x) == shape:
        return x
    return apply(_reshape, (x,), {"shape": shape})


def _transpose_infer(specs, perm):
    d = specs[0][0]
    return tuple(d[p] for p in perm), specs[0][1]


@op("transpose", infer=_transpose_infer)
def _transpose(xp, x, perm):
    return xp.transpose(x, perm)


_transpose.def_grad(lambda c, g: [apply(_transpose, (g,), {"perm": tuple(int(i) for i in np.argsort(c.attrs["perm"]))})])


def transpose(a, perm=None, conjugate=False, name="transpose"):
    """Permutes dimensions (reverses them by default)."""
    x = a if isinstance(a, Tensor) else convert_to_tensor(a)
    nd = len(_dims(x))
    perm = tuple(_range(nd - 1, -1, -1)) if perm is None else tuple(int(p) % max(nd, 1) for p in perm)
    if sorted(perm) != list(_range(nd)):
        raise errors.InvalidArgumentError("transpose: perm %s is not a permutation of %d dimensions"
                                          % (list(perm), nd), op="transpose")
    return apply(_transpose, (x,), {"perm": perm})


def _bcast_infer(specs, shape):
    src = specs[0][0]
    S.broadcast_dims(src, shape)
    return tuple(shape), specs[0][1]


@op("broadcast_to", infer=_bcast_infer)
def _broadcast_to(xp, x, shape):
    return xp.broadcast_to(x, shape)


_broadcast_to.def_grad(lambda c, g: [unbroadcast(g, c.inputs[0])])


def broadcast_to(input, shape, name=None):  # noqa: A002
    """Broadcasts to `shape` with NumPy rules."""
    x = input if isinstance(input, Tensor) else convert_to_tensor(input)
    st = _static_shape(shape, "broadcast_to")
    if st is None:
        return broadcast_like(x, _full(shape, 0, x.dtype, "broadcast_to"))
    if _dims(x) == st:
        return x
    return apply(_broadcast_to, (x,), {"shape": st})


def broadcast_dynamic_shape(shape_x, shape_y):
    a = [int(v) for v in np.asarray(shape_x)]
    b = [int(v) for v in np.asarray(shape_y)]
    return constant(list(S.broadcast_dims(tuple(a), tuple(b))), dtype=_dt.int32)


def broadcast_static_shape(shape_x, shape_y):
    from gpuflow.tensor_shape import TensorShape
    return TensorShape(S.broadcast_dims(tuple(shape_x), tuple(shape_y)))


# ---------------------------------------------------------------------------------------
# Concatenate / stack / split
# ---------------------------------------------------------------------------------------
def _concat_infer(specs, axis):
    dims0 = list(specs[0][0])
    total = 0
    for s, _ in specs:
        if len(s) != len(dims0):
            raise errors.InvalidArgumentError("concat: ranks differ: %s" % [sp[0] for sp in specs], op="concat")
        for i, (a, b) in enumerate(zip(s, dims0)):
            if i != axis and a is not None and b is not None and a != b:
                raise errors.InvalidArgumentError(
                    "ConcatOp: dimension %d differs between inputs %s (only axis %d may differ)"
                    % (i, [sp[0] for sp in specs], axis), op="concat")
        total = None if (total is None or s[axis] is None) else total + s[axis]
    dims0[axis] = total
    return tuple(dims0), specs[0][1]


@op("concat", infer=_concat_infer)
def _concat(xp, *xs, axis):
    return xp.concatenate(xs, axis=axis)


def _concat_grad(c, g):
    axis = c.attrs["axis"]
    sizes = [_dims(t)[axis] for t in c.inputs]
    if None in sizes:
        return [_slice_like(g, c.inputs, i, axis) for i in _range(len(c.inputs))]
    return list(split(g, sizes, axis=axis))


def _slice_like(g, inputs, i, axis):
    # Dynamic sizes: offset = sum of previous sizes at run time.
    return apply(_concat_piece, (g,) + tuple(inputs), {"axis": axis, "index": i})


def _piece_infer(specs, axis, index):
    return specs[1 + index][0], specs[0][1]


@op("concat_piece", infer=_piece_infer)
def _concat_piece(xp, g, *xs, axis, index):
    start = builtins.sum(x.shape[axis] for x in xs[:index])
    sl = [builtins.slice(None)] * g.ndim
    sl[axis] = builtins.slice(start, start + xs[index].shape[axis])
    return g[tuple(sl)]


_concat.def_grad(_concat_grad)


@_concat_piece.def_grad
def _concat_piece_grad(c, gg):
    # The adjoint of taking piece `index`: put gg back between zeros shaped like the others.
    axis, index = c.attrs["axis"], c.attrs["index"]
    xs = c.inputs[1:]
    parts = [gg if j == index else zeros_like(x, dtype=gg.dtype) for j, x in enumerate(xs)]
    return [concat(parts, axis)] + [None] * len(xs)


def concat(values, axis, name="concat"):
    """Joins tensors along an existing axis."""
    values = [v if isinstance(v, Tensor) else convert_to_tensor(v) for v in values]
    if not values:
        raise ValueError("concat: values must be a non-empty list")
    dt = values[0].dtype
    for v in values:
        if v.dtype is not dt:
            raise errors.InvalidArgumentError("concat: all inputs must share a dtype, got %s"
                                              % [x.dtype.name for x in values], op="concat")
    if len(values) == 1:
        return values[0]
    ax = normalize_axis(axis, len(_dims(values[0])), "concat")[0]
    return apply(_concat, tuple(values), {"axis": ax})


def _stack_infer(specs, axis):
    d = specs[0][0]
    for s, _ in specs[1:]:
        if s != d and not all(a is None or b is None or a == b for a, b in zip(s, d)):
            raise errors.InvalidArgumentError("stack: shapes of all inputs must match: %s"
                                              % [sp[0] for sp in specs], op="stack")
    d = list(d)
    d.insert(axis, len(specs))
    return tuple(d), specs[0][1]


@op("stack", infer=_stack_infer)
def _stack(xp, *xs, axis):
    return xp.stack(xs, axis=axis)


_stack.def_grad(lambda c, g: list(unstack(g, num=len(c.inputs), axis=c.attrs["axis"])))


def stack(values, axis=0, name="stack"):
    """Stacks equally-shaped tensors along a new axis."""
    values = list(values)
    if not values:
        raise ValueError("stack: values must be a non-empty list")
    first = next((v for v in values if isinstance(v, Tensor)), None)
    dt = first.dtype if first is not None else None
    values = [v if isinstance(v, Tensor) else convert_to_tensor(v, dtype=dt) for v in values]
    for v in values:
        if v.dtype is not values[0].dtype:
            raise errors.InvalidArgumentError("stack: all inputs must share a dtype, got %s"
                                              % [x.dtype.name for x in values], op="stack")
    nd = len(_dims(values[0])) + 1
    ax = int(axis)
    if not -nd <= ax < nd:
        raise errors.InvalidArgumentError("stack: axis %d out of range for rank %d" % (ax, nd), op="stack")
    return apply(_stack, tuple(values), {"axis": ax % nd})


def _unstack_infer(specs, axis, num):
    d = list(specs[0][0])
    del d[axis]
    return [(tuple(d), specs[0][1])] * num


_UNSTACK = {}


def _unstack_op(num):
    o = _UNSTACK.get(num)
    if o is None:
        from gpuflow.ops.registry import Op
        o = Op("unstack", lambda xp, x, axis, num: tuple(xp.moveaxis(x, axis, 0)), _unstack_infer, num_outputs=num)
        o.def_grad(lambda c, *gs: [stack([zeros_like(o_) if g is None else g for g, o_ in zip(gs, c.outputs)],
                                         axis=c.attrs["axis"])])
        _UNSTACK[num] = o
    return o


def unstack(value, num=None, axis=0, name="unstack"):
    """Splits a tensor into a list along `axis` (the number must be known)."""
    x = value if isinstance(value, Tensor) else convert_to_tensor(value)
    d = _dims(x)
    ax = normalize_axis(axis, len(d), "unstack")[0]
    n = d[ax] if num is None else int(num)
    if n is None:
        raise ValueError("unstack: cannot infer num from shape %s" % (d,))
    if d[ax] is not None and d[ax] != n:
        raise errors.InvalidArgumentError("unstack: num=%d but dimension %d has size %d" % (n, ax, d[ax]))
    if n == 0:
        return []
    out = apply(_unstack_op(n), (x,), {"axis": ax, "num": n})
    return list(out) if isinstance(out, tuple) else [out]


_SPLIT = {}


def _split_infer(specs, axis, sizes):
    d = specs[0][0]
    total = d[axis]
    if isinstance(sizes, int):
        sizes = (None if total is None else total // sizes,) * sizes
    elif -1 in sizes:
        rest = None if total is None else total - (builtins.sum(sizes) + 1)
        sizes = tuple(rest if s == -1 else s for s in sizes)
    out = []
    for sz in sizes:
        dd = list(d)
        dd[axis] = sz
        out.append((tuple(dd), specs[0][1]))
    return out


def _split_body(xp, x, axis, sizes):
    total = x.shape[axis]
    if isinstance(sizes, int):
        if total % sizes:
            raise ValueError("dimension %d of size %d cannot be split into %d equal parts" % (axis, total, sizes))
        return tuple(xp.split(x, sizes, axis=axis))
    if -1 in sizes:
        sizes = tuple(total - (builtins.sum(sizes) + 1) if s == -1 else s for s in sizes)
    if builtins.sum(sizes) != total or builtins.min(sizes) < 0:
        raise ValueError("sizes %s do not add up to dimension %d of size %d" % (list(sizes), axis, total))
    idx = np.cumsum(sizes)[:-1].tolist()
    return tuple(xp.split(x, idx, axis=axis))


def _split_op(n):
    o = _SPLIT.get(n)
    if o is None:
        from gpuflow.ops.registry import Op
        o = Op("split", _split_body, _split_infer, num_outputs=n)
        o.def_grad(lambda c, *gs: [concat([zeros_like(o_) if g is None else g for g, o_ in zip(gs, c.outputs)],
                                          axis=c.attrs["axis"])])
        _SPLIT[n] = o
    return o


def split(value, num_or_size_splits, axis=0, num=None, name="split"):
    """Splits into `num` equal parts or parts of the given sizes (one may be -1)."""
    x = value if isinstance(value, Tensor) else convert_to_tensor(value)
    d = _dims(x)
    ax = normalize_axis(axis, len(d), "split")[0]
    total = d[ax]
    if isinstance(num_or_size_splits, (int, np.integer)) or (
            isinstance(num_or_size_splits, Tensor) and num_or_size_splits.ndim == 0):
        n = int(num_or_size_splits)
        if n <= 0 or (total is not None and total % n):
            raise errors.InvalidArgumentError("split: dimension %d of size %s cannot be split into %d equal parts"
                                              % (ax, total, n), op="split")
        sizes = n
        count = n
    else:
        sizes = [int(s) for s in (num_or_size_splits.numpy() if isinstance(num_or_size_splits, Tensor)
                                  else num_or_size_splits)]
        if sizes.count(-1) > 1 or builtins.min(sizes, default=0) < -1:
            raise errors.InvalidArgumentError("split: sizes %s may contain at most one -1 and no other negative "
                                              "value" % (sizes,), op="split")
        if total is not None:
            if sizes.count(-1) == 1:
                sizes[sizes.index(-1)] = total - (builtins.sum(sizes) + 1)
            if builtins.sum(sizes) != total or builtins.min(sizes, default=0) < 0:
                raise errors.InvalidArgumentError("split: sizes %s do not add up to dimension %d of size %d"
                                                  % (sizes, ax, total), op="split")
        sizes = tuple(sizes)
        count = len(sizes)
    out = apply(_split_op(count), (x,), {"axis": ax, "sizes": sizes})
    return list(out) if isinstance(out, tuple) else [out]


def _tile_infer(specs, multiples):
    return tuple(None if d is None else d * m for d, m in zip(specs[0][0], multiples)), specs[0][1]


@op("tile", infer=_tile_infer)
def _tile(xp, x, multiples):
    return xp.tile(x, multiples)


@_tile.def_grad
def _tile_grad(c, g):
    x = c.inputs[0]
    m = c.attrs["multiples"]
    d = _dims(x)
    if None in d:
        raise errors.InvalidArgumentError("tile gradient needs a static input shape, got %s" % (d,))
    inter = []
    for mi, di in zip(m, d):
        inter += [mi, di]
    r = reshape(g, inter)
    from gpuflow.ops import math_ops
    return [math_ops.reduce_sum(r, axis=list(_range(0, 2 * len(d), 2)))]


def tile(input, multiples, name=None):  # noqa: A002
    """Repeats the tensor `multiples[i]` times along dimension i."""
    x = input if isinstance(input, Tensor) else convert_to_tensor(input)
    m = tuple(int(v) for v in (multiples.numpy() if isinstance(multiples, Tensor) else multiples))
    if len(m) != len(_dims(x)):
        raise errors.InvalidArgumentError("tile: multiples %s must have one entry per dimension of %s"
                                          % (list(m), _dims(x)), op="tile")
    return apply(_tile, (x,), {"multiples": m})


def _pad_infer(specs, paddings, mode, constant_values):
    return tuple(None if d is None else d + a + b for d, (a, b) in zip(specs[0][0], paddings)), specs[0][1]


@op("pad", infer=_pad_infer)
def _pad(xp, x, paddings, mode, constant_values):
    if mode == "CONSTANT":
        return xp.pad(x, paddings, mode="constant", constant_values=constant_values)
    return xp.pad(x, paddings, mode="reflect" if mode == "REFLECT" else "symmetric")


@_pad.def_grad
def _pad_grad(c, g):
    if c.attrs["mode"] != "CONSTANT":
        return [apply(_pad_reflect_grad, (g, c.inputs[0]), c.attrs)]
    key = tuple(("s", a, None if b == 0 else -b, None) for a, b in c.attrs["paddings"])
    return [apply(_getitem, (g,), {"key": key})]


def _scatter_add(xp, z, index, values):
    """z[index] += values with repeated indices accumulating (np.add.at / cupyx.scatter_add)."""
    if xp is np:
        np.add.at(z, index, values)
    else:
        import cupyx
        cupyx.scatter_add(z, index, values)


@op("pad_reflect_grad", infer=lambda specs, paddings, mode, constant_values: (specs[1][0], specs[0][1]))
def _pad_reflect_grad(xp, g, x, paddings, mode, constant_values):
    # REFLECT/SYMMETRIC padding gathers x along each axis with an index map; its adjoint
    # scatters-adds g back, one axis at a time.
    np_mode = "reflect" if mode == "REFLECT" else "symmetric"
    for ax, (a, b) in enumerate(paddings):
        if a == 0 and b == 0:
            continue
        n = x.shape[ax]
        idx = xp.asarray(np.pad(np.arange(n), (a, b), mode=np_mode))
        shape = list(g.shape)
        shape[ax] = n
        z = xp.zeros(shape, dtype=g.dtype)
        _scatter_add(xp, z, (builtins.slice(None),) * ax + (idx,), g)
        g = z
    return g


_pad_reflect_grad.def_grad(lambda c, g: [apply(_pad, (g,), c.attrs), None])


def pad(tensor, paddings, mode="CONSTANT", constant_values=0, name=None):
    """Pads with `paddings[i] = [before, after]` per dimension ('CONSTANT', 'REFLECT', 'SYMMETRIC')."""
    x = tensor if isinstance(tensor, Tensor) else convert_to_tensor(tensor)
    p = np.asarray(paddings.numpy() if isinstance(paddings, Tensor) else paddings, dtype=np.int64)
    if p.shape != (len(_dims(x)), 2) or (p < 0).any():
        raise errors.InvalidArgumentError("pad: paddings must be non-negative with shape [%d, 2], got %s"
                                          % (len(_dims(x)), p.tolist()), op="pad")
    mode = mode.upper()
    if mode not in ("CONSTANT", "REFLECT", "SYMMETRIC"):
        raise errors.InvalidArgumentError("pad: mode must be CONSTANT, REFLECT or SYMMETRIC, got %r" % mode)
    if mode != "CONSTANT":
        limit = 1 if mode == "REFLECT" else 0   # REFLECT excludes the edge, SYMMETRIC repeats it
        for i, (d, (a, b)) in enumerate(zip(_dims(x), p.tolist())):
            if d is not None and max(a, b) > d - limit:
                raise errors.InvalidArgumentError(
                    "pad: %s padding of dimension %d (size %d) must be at most %d, got %s"
                    % (mode, i, d, d - limit, [a, b]), op="pad")
    return apply(_pad, (x,), {"paddings": tuple(tuple(int(v) for v in r) for r in p), "mode": mode,
                              "constant_values": constant_values})


def _reverse_infer(specs, axis):
    return specs[0]


@op("reverse", infer=_reverse_infer)
def _reverse(xp, x, axis):
    return xp.flip(x, axis)


_reverse.def_grad(lambda c, g: [apply(_reverse, (g,), c.attrs)])


def reverse(tensor, axis, name=None):
    """Reverses along the given axes."""
    x = tensor if isinstance(tensor, Tensor) else convert_to_tensor(tensor)
    return apply(_reverse, (x,), {"axis": normalize_axis(axis, len(_dims(x)), "reverse")})


# ---------------------------------------------------------------------------------------
# Indexing
# ---------------------------------------------------------------------------------------
def _norm_key_item(k):
    if isinstance(k, builtins.slice):
        return ("s",) + tuple(_int_or_none(v) for v in (k.start, k.stop, k.step))
    if k is None or k is Ellipsis:
        return k
    if isinstance(k, (bool, np.bool_)):
        raise TypeError("boolean scalars are not valid indices")
    if isinstance(k, (int, np.integer)):
        return int(k)
    if isinstance(k, Tensor) and k._value is not None and k.dtype.is_integer and k.ndim == 0:
        return int(k)
    raise TypeError("Only integers, slices (`:`), ellipsis (`...`), gf.newaxis (`None`) and "
                    "scalar integer tensors are valid indices, got %r" % (k,))


def _int_or_none(v):
    if v is None:
        return None
    if isinstance(v, Tensor):
        if v._value is None:
            raise TypeError("slice bounds must be known when tracing; got a symbolic tensor. Use gf.slice/gf.gather.")
        return int(v)
    return int(v)


def _key_to_np(key):
    return tuple(builtins.slice(k[1], k[2], k[3]) if isinstance(k, tuple) else k for k in key)


def _getitem_infer(specs, key):
    return S.index_dims(specs[0][0], _key_to_np(key)), specs[0][1]


@op("getitem", infer=_getitem_infer)
def _getitem(xp, x, key):
    return x[_key_to_np(key)]


@op("getitem_grad", infer=lambda specs, key: (specs[1][0], specs[0][1]))
def _getitem_grad(xp, g, x, key):
    z = xp.zeros(x.shape, dtype=g.dtype)
    z[_key_to_np(key)] = g
    return z


_getitem.def_grad(lambda c, g: [apply(_getitem_grad, (g, c.inputs[0]), c.attrs)])
_getitem_grad.def_grad(lambda c, g: [apply(_getitem, (g,), c.attrs), None])


def getitem(x, key):
    """`x[key]`: NumPy basic indexing (ints, slices, ..., gf.newaxis), differentiable.

    A bool tensor/array key selects like `gf.boolean_mask`; an integer tensor, array or
    list key gathers along the first axis like `gf.gather`.
    """
    if isinstance(key, (Tensor, np.ndarray, list)):
        kt = key if isinstance(key, Tensor) else convert_to_tensor(key)
        if kt.dtype.is_bool:
            return boolean_mask(x, kt)
        if kt.ndim != 0 or kt._value is None:
            return gather(x, kt, axis=0)
    items = key if isinstance(key, tuple) else (key,)
    norm = tuple(_norm_key_item(k) for k in items)
    nd = len(_dims(x))
    used = builtins.sum(1 for k in norm if k is not None and k is not Ellipsis)
    if used > nd:
        raise errors.InvalidArgumentError("Index %r has %d indices for a tensor of rank %d (shape %s)"
                                          % (key, used, nd, x.shape), op="getitem")
    _check_int_bounds(x, norm)
    return apply(_getitem, (x,), {"key": norm})


def _check_int_bounds(x, norm):
    dims = _dims(x)
    pos = 0
    n_explicit = builtins.sum(1 for k in norm if k is not None and k is not Ellipsis)
    for k in norm:
        if k is Ellipsis:
            pos += len(dims) - n_explicit
            continue
        if k is None:
            continue
        if isinstance(k, int):
            d = dims[pos]
            if d is not None and not -d <= k < d:
                raise errors.InvalidArgumentError(
                    "Index %d is out of bounds for dimension %d with size %d (shape %s)" % (k, pos, d, tuple(dims)),
                    op="getitem")
        pos += 1


def slice(input_, begin, size, name=None):  # noqa: A001
    """Extracts `input_[begin[i] : begin[i] + size[i]]` per dimension (size -1: to the end)."""
    x = input_ if isinstance(input_, Tensor) else convert_to_tensor(input_)
    b = [int(v) for v in (begin.numpy() if isinstance(begin, Tensor) else begin)]
    s = [int(v) for v in (size.numpy() if isinstance(size, Tensor) else size)]
    dims = _dims(x)
    if len(b) != len(dims) or len(s) != len(dims):
        raise errors.InvalidArgumentError("slice: begin %s and size %s must have one entry per dimension of %s"
                                          % (b, s, tuple(dims)), op="slice")
    for i, (bb, ss, d) in enumerate(zip(b, s, dims)):
        if bb < 0 or ss < -1 or (d is not None and (bb > d or (ss != -1 and bb + ss > d))):
            raise errors.InvalidArgumentError(
                "slice: expected begin[%d]=%d in [0, %s] and size[%d]=%d in [0, %s] for shape %s"
                % (i, bb, d, i, ss, "?" if d is None else d - bb, tuple(dims)), op="slice")
    key = tuple(builtins.slice(bb, None if ss == -1 else bb + ss) for bb, ss in zip(b, s))
    return getitem(x, key)


def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0, ellipsis_mask=0,
                  new_axis_mask=0, shrink_axis_mask=0, name=None):
    """TF's strided_slice with its bit masks, implemented through basic indexing."""
    b = list(begin.numpy() if isinstance(begin, Tensor) else begin)
    e = list(end.numpy() if isinstance(end, Tensor) else end)
    st = list(strides.numpy() if isinstance(strides, Tensor) else (strides or [1] * len(b)))
    key = []
    for i in _range(len(b)):
        bit = 1 << i
        if ellipsis_mask & bit:
            key.append(Ellipsis)
        elif new_axis_mask & bit:
            key.append(None)
        elif shrink_axis_mask & bit:
            key.append(int(b[i]))
        else:
            key.append(builtins.slice(None if begin_mask & bit else int(b[i]),
                                      None if end_mask & bit else int(e[i]), int(st[i])))
    return getitem(input_, tuple(key))


def _gather_infer(specs, axis, batch_dims):
    (p, dt), (i, _) = specs
    return tuple(p[:axis]) + tuple(i[batch_dims:]) + tuple(p[axis + 1:]), dt


def _check_indices(indices, n, what):
    if indices.size:
        lo, hi = int(indices.min()), int(indices.max())
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise ValueError("%s = %d is not in [0, %d)" % (what, bad, n))


def _gather_parts(params_shape, indices_shape, axis, batch_dims):
    """Sizes used to view a batched gather as `pm[b, idx[b, k]]` on 4-d/2-d arrays."""
    bsz = int(np.prod(params_shape[:batch_dims], dtype=np.int64))
    pre = int(np.prod(params_shape[batch_dims:axis], dtype=np.int64))
    post = int(np.prod(params_shape[axis + 1:], dtype=np.int64))
    k = int(np.prod(indices_shape[batch_dims:], dtype=np.int64))
    return bsz, pre, params_shape[axis], post, k


@op("gather", infer=_gather_infer)
def _gather(xp, params, indices, axis, batch_dims):
    _check_indices(indices, params.shape[axis], "indices[...]")
    if batch_dims == 0:
        return xp.take(params, indices, axis=axis)
    bsz, pre, n, post, k = _gather_parts(params.shape, indices.shape, axis, batch_dims)
    pm = params.reshape(bsz, pre, n, post)
    idx = indices.reshape(bsz, k).astype(np.int64)
    out = pm[xp.arange(bsz)[:, None], :, idx]          # (bsz, k, pre, post)
    out = xp.moveaxis(out, 1, 2)                        # (bsz, pre, k, post)
    return out.reshape(params.shape[:axis] + indices.shape[batch_dims:] + params.shape[axis + 1:])


@op("gather_grad", infer=lambda specs, axis, batch_dims: (specs[2][0], specs[0][1]))
def _gather_grad(xp, g, indices, params, axis, batch_dims):
    bsz, pre, n, post, k = _gather_parts(params.shape, indices.shape, axis, batch_dims)
    z = xp.zeros((bsz, n, pre, post), dtype=g.dtype)
    gm = xp.moveaxis(g.reshape(bsz, pre, k, post), 2, 1)            # (bsz, k, pre, post)
    idx = indices.reshape(bsz, k).astype(np.int64)
    _scatter_add(xp, z, (xp.arange(bsz)[:, None], idx), gm)
    return xp.moveaxis(z, 1, 2).reshape(params.shape)


_gather.def_grad(lambda c, g: [apply(_gather_grad, (g, c.inputs[1], c.inputs[0]), c.attrs), None])
_gather_grad.def_grad(lambda c, g: [apply(_gather, (g, c.inputs[1]), c.attrs), None, None])


def gather(params, indices, validate_indices=None, axis=None, batch_dims=0, name=None):
    """Gathers slices along `axis` at integer `indices` (out-of-range indices are an error).

    With `batch_dims=b` the first b dimensions of `params` and `indices` are batch
    dimensions: each batch entry gathers from its own slice of `params`.
    """
    p = params if isinstance(params, Tensor) else convert_to_tensor(params)
    i = indices if isinstance(indices, Tensor) else convert_to_tensor(indices)
    if not i.dtype.is_integer:
        raise errors.InvalidArgumentError("gather: indices must be int32 or int64, got %s" % i.dtype.name, op="gather")
    pd, idd = _dims(p), _dims(i)
    bd = int(batch_dims)
    if bd < 0:
        bd += len(idd)
    if not 0 <= bd <= min(len(idd), len(pd) - 1):
        raise errors.InvalidArgumentError("gather: batch_dims=%d is out of range for params %s and indices %s"
                                          % (batch_dims, tuple(pd), tuple(idd)), op="gather")
    ax = normalize_axis(bd if axis is None else axis, len(pd), "gather")[0]
    if ax < bd:
        raise errors.InvalidArgumentError("gather: axis %d must be >= batch_dims %d" % (ax, bd), op="gather")
    for a, b in zip(pd[:bd], idd[:bd]):
        if a is not None and b is not None and a != b:
            raise errors.InvalidArgumentError("gather: the batch dimensions of params %s and indices %s differ"
                                              % (tuple(pd), tuple(idd)), op="gather")
    return apply(_gather, (p, i), {"axis": ax, "batch_dims": bd})


def _gather_nd_infer(specs):
    (p, dt), (i, _) = specs
    k = i[-1]
    if k is None:
        raise errors.InvalidArgumentError("gather_nd: the last dimension of indices must be known", op="gather_nd")
    return tuple(i[:-1]) + tuple(p[k:]), dt


@op("gather_nd", infer=_gather_nd_infer)
def _gather_nd(xp, params, indices):
    k = indices.shape[-1]
    for j in _range(k):
        _check_indices(indices[..., j], params.shape[j], "indices[..., %d]" % j)
    return params[tuple(xp.moveaxis(indices.astype(np.int64), -1, 0))]


@op("gather_nd_grad", infer=lambda specs: (specs[2][0], specs[0][1]))
def _gather_nd_grad(xp, g, indices, params):
    z = xp.zeros(params.shape, dtype=g.dtype)
    _scatter_add(xp, z, tuple(xp.moveaxis(indices.astype(np.int64), -1, 0)), g)
    return z


_gather_nd.def_grad(lambda c, g: [apply(_gather_nd_grad, (g, c.inputs[1], c.inputs[0])), None])
_gather_nd_grad.def_grad(lambda c, g: [apply(_gather_nd, (g, c.inputs[1])), None, None])


def gather_nd(params, indices, batch_dims=0, name=None):
    """Gathers slices of `params` addressed by the last axis of `indices` (differentiable).

    `indices[..., :]` holds coordinates into the first `indices.shape[-1]` dimensions of
    `params`; out-of-range coordinates are an error.
    """
    p = params if isinstance(params, Tensor) else convert_to_tensor(params)
    i = indices if isinstance(indices, Tensor) else convert_to_tensor(indices)
    if not i.dtype.is_integer:
        raise errors.InvalidArgumentError("gather_nd: indices must be int32 or int64, got %s" % i.dtype.name,
                                          op="gather_nd")
    if batch_dims:
        raise errors.InvalidArgumentError("gather_nd: only batch_dims=0 is supported", op="gather_nd")
    pd, idd = _dims(p), _dims(i)
    if not idd or (idd[-1] is not None and idd[-1] > len(pd)):
        raise errors.InvalidArgumentError("gather_nd: indices.shape[-1]=%s must be <= rank of params %d (indices %s)"
                                          % (idd[-1] if idd else None, len(pd), tuple(idd)), op="gather_nd")
    return apply(_gather_nd, (p, i))


@op("boolean_mask_indices", infer=lambda specs: ((None,), _dt.int64), differentiable=False)
def _mask_indices(xp, mask):
    return xp.flatnonzero(mask.ravel()).astype(np.int64)


def boolean_mask(tensor, mask, axis=None, name="boolean_mask"):
    """Keeps the entries where `mask` is True (mask covers the leading dimensions)."""
    x = tensor if isinstance(tensor, Tensor) else convert_to_tensor(tensor)
    m = mask if isinstance(mask, Tensor) else convert_to_tensor(mask)
    if not m.dtype.is_bool:
        raise errors.InvalidArgumentError("boolean_mask: mask must be bool, got %s" % m.dtype.name)
    xd, md = _dims(x), _dims(m)
    ax = 0 if axis is None else int(axis)
    k = len(md)
    for a, b in zip(xd[ax:ax + k], md):
        if a is not None and b is not None and a != b:
            raise errors.InvalidArgumentError("boolean_mask: mask shape %s does not match tensor shape %s"
                                              % (tuple(md), tuple(xd)), op="boolean_mask")
    lead = [-1 if d is None else d for d in xd[:ax]]
    flat = reshape(x, lead + [-1] + [-1 if d is None else d for d in xd[ax + k:]]) if (None not in xd[ax + k:] and None not in xd[:ax]) else x
    idx = apply(_mask_indices, (m,))
    return gather(flat, idx, axis=ax)


@op("where_indices", infer=lambda specs: ((None, len(specs[0][0])), _dt.int64), differentiable=False)
def _where_indices(xp, c):
    return xp.argwhere(c).astype(np.int64)


def where(condition, x=None, y=None, name=None):
    """`where(c)`: int64 coordinates of True entries; `where(c, x, y)`: elementwise select."""
    if x is None and y is None:
        c = condition if isinstance(condition, Tensor) else convert_to_tensor(condition)
        if not c.dtype.is_bool:
            from gpuflow.ops import math_ops
            c = math_ops.not_equal(c, zeros_like(c))
        return apply(_where_indices, (c,))
    if x is None or y is None:
        raise ValueError("where: x and y must both be given or both be None")
    from gpuflow.ops import math_ops
    return math_ops.where_(condition, x, y)


def _one_hot_infer(specs, depth, axis, dtype, on, off):
    d = list(specs[0][0])
    d.insert(axis if axis >= 0 else len(d), depth)
    return tuple(d), dtype


@op("one_hot", infer=_one_hot_infer, differentiable=False)
def _one_hot(xp, indices, depth, axis, dtype, on, off):
    idx = indices.astype(np.int64)
    out = (idx[..., None] == xp.arange(depth)).astype(dtype.np)
    if on != 1 or off != 0:
        out = xp.where(out != 0, xp.asarray(on, dtype.np), xp.asarray(off, dtype.np))
    if axis != -1 and axis != out.ndim - 1:
        out = xp.moveaxis(out, -1, axis)
    return out


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """One-hot vectors (indices out of [0, depth) give all-`off_value` rows, as TF)."""
    i = indices if isinstance(indices, Tensor) else convert_to_tensor(indices)
    if not i.dtype.is_integer:
        raise errors.InvalidArgumentError("one_hot: indices must be integers, got %s" % i.dtype.name, op="one_hot")
    if dtype is not None:
        dt = _dt.as_dtype(dtype)
    else:
        # TF: the dtype of on_value / off_value when given, else float32.
        dt = _dt.float32
        for v in (on_value, off_value):
            if v is not None:
                dt = v.dtype if isinstance(v, Tensor) else convert_to_tensor(v).dtype
                break
    vals = []
    for v, default in ((on_value, 1), (off_value, 0)):
        if v is None:
            vals.append(default)
            continue
        t = v if isinstance(v, Tensor) else convert_to_tensor(v, dtype=dt)
        if t.dtype is not dt:
            raise errors.InvalidArgumentError("one_hot: on_value/off_value dtype %s differs from dtype %s"
                                              % (t.dtype.name, dt.name), op="one_hot")
        vals.append(t.numpy().item())
    on, off = vals
    nd = len(_dims(i))
    ax = -1 if axis is None or axis == -1 else int(axis)
    return apply(_one_hot, (i,), {"depth": int(depth), "axis": ax if ax == -1 else ax % (nd + 1),
                                  "dtype": dt, "on": on, "off": off})


# ---------------------------------------------------------------------------------------
# Sorting
# ---------------------------------------------------------------------------------------
@op("sort", infer=lambda specs, axis, descending: specs[0])
def _sort(xp, x, axis, descending):
    y = xp.sort(x, axis=axis)
    return xp.flip(y, axis) if descending else y


@op("argsort", infer=lambda specs, axis, descending: (specs[0][0], _dt.int32), differentiable=False)
def _argsort(xp, x, axis, descending):
    if descending:
        # A stable sort of a decreasing transform keeps ties in index order, as TF.
        k = x.dtype.kind
        x = ~x if k == "i" else (-x if k == "f" else -x.astype(np.float64))
    return xp.argsort(x, axis=axis, kind="stable").astype(np.int32)


@_sort.def_grad
def _sort_grad(c, g):
    x = c.inputs[0]
    idx = apply(_argsort, (x,), c.attrs)
    return [_take_along_grad(g, idx, x, c.attrs["axis"])]


@op("scatter_along", infer=lambda specs, axis: (specs[2][0], specs[0][1]))
def _scatter_along(xp, g, idx, ref, axis):
    z = xp.zeros(ref.shape, dtype=g.dtype)
    if xp is np:
        np.put_along_axis(z, idx.astype(np.int64), g, axis=axis)
    else:
        xp.put_along_axis(z, idx.astype(np.int64), g, axis=axis)
    return z


@op("take_along", infer=lambda specs, axis: (specs[1][0], specs[0][1]))
def _take_along(xp, x, idx, axis):
    return xp.take_along_axis(x, idx.astype(np.int64), axis=axis)


_scatter_along.def_grad(lambda c, g: [apply(_take_along, (g, c.inputs[1]), c.attrs), None, None])
_take_along.def_grad(lambda c, g: [apply(_scatter_along, (g, c.inputs[1], c.inputs[0]), c.attrs), None])


def _take_along_grad(g, idx, x, axis):
    return apply(_scatter_along, (g, idx, x), {"axis": axis})


def sort(values, axis=-1, direction="ASCENDING", name=None):
    """Sorted copy along `axis` ('ASCENDING' or 'DESCENDING'), differentiable."""
    x = values if isinstance(values, Tensor) else convert_to_tensor(values)
    if direction not in ("ASCENDING", "DESCENDING"):
        raise ValueError("sort: direction must be 'ASCENDING' or 'DESCENDING', got %r" % (direction,))
    ax = normalize_axis(axis, len(_dims(x)), "sort")[0]
    return apply(_sort, (x,), {"axis": ax, "descending": direction == "DESCENDING"})


def argsort(values, axis=-1, direction="ASCENDING", stable=False, name=None):
    """Indices (int32) that sort `values` along `axis`; ties keep their order."""
    x = values if isinstance(values, Tensor) else convert_to_tensor(values)
    if direction not in ("ASCENDING", "DESCENDING"):
        raise ValueError("argsort: direction must be 'ASCENDING' or 'DESCENDING', got %r" % (direction,))
    ax = normalize_axis(axis, len(_dims(x)), "argsort")[0]
    return apply(_argsort, (x,), {"axis": ax, "descending": direction == "DESCENDING"})


def top_k(input, k=1, sorted=True, index_type=_dt.int32, name=None):  # noqa: A002
    """The k largest entries of the last axis and their indices: `(values, indices)`."""
    x = input if isinstance(input, Tensor) else convert_to_tensor(input)
    n = _dims(x)[-1]
    k = int(k)
    if n is not None and not 0 <= k <= n:
        raise errors.InvalidArgumentError("top_k: k=%d must be in [0, %d] for shape %s" % (k, n, x.shape), op="top_k")
    idx = argsort(x, axis=-1, direction="DESCENDING")
    idx = getitem(idx, (Ellipsis, builtins.slice(0, k)))
    vals = apply(_take_along, (x, idx), {"axis": len(_dims(x)) - 1})
    return TopKV2(vals, cast(idx, index_type))


class TopKV2(tuple):
    """`(values, indices)` with named fields, as TF's top_k result."""

    def __new__(cls, values, indices):
        return tuple.__new__(cls, (values, indices))

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


# ---------------------------------------------------------------------------------------
# Variables
# ---------------------------------------------------------------------------------------
def read_variable(v):
    """The value of Variable `v` now, as a tensor (recorded on tapes, captured in traces)."""
    g = _ctx.graph
    if g is not None:
        return g.capture_variable(v)
    return apply(_identity, (v,))


def assign_variable(v, value, mode):
    """Implements Variable.assign / assign_add / assign_sub (eagerly or as graph state)."""
    if isinstance(value, Tensor):
        if value.dtype is not v.dtype:
            raise errors.InvalidArgumentError(
                "Variable.%s: value has dtype %s but the variable %r has dtype %s; cast the value first"
                % (mode, value.dtype.name, v.name, v.dtype.name), op=mode)
        val = value
    else:
        try:
            val = _like(value, v, "Variable.%s" % mode)
        except TypeError as e:
            raise errors.InvalidArgumentError(str(e), op=mode) from None
    vd = v._value.shape
    xd = _dims(val)
    if tuple(xd) != vd and S.numel(xd) != 1 and not (None in xd and len(xd) == len(vd)):
        raise errors.InvalidArgumentError(
            "Variable.%s: cannot update variable %r of shape %s with a value of shape %s"
            % (mode, v.name, tuple(vd), tuple(xd)), op=mode)
    g = _ctx.graph
    if g is not None:
        from gpuflow.ops import math_ops
        cur = g.capture_variable(v)
        if mode == "assign":
            new = val if tuple(xd) == vd else broadcast_to(val, vd)
            if new is val:
                new = apply(_identity, (val,))
        elif mode == "assign_add":
            new = math_ops.add(cur, val)
        else:
            new = math_ops.subtract(cur, val)
        if _dims(new) != vd:
            new = reshape(new, vd) if S.numel(_dims(new)) == S.numel(vd) else broadcast_to(new, vd)
        g.set_variable(v, new)
        return
    dev = v._device
    arr = val._value if val._device is dev else _be.to_device(val._value, dev)
    xp = dev.xp
    if mode == "assign":
        new = xp.array(xp.broadcast_to(arr, vd), copy=True) if arr.shape != vd else arr
    elif mode == "assign_add":
        new = xp.add(v._value, arr)
    else:
        new = xp.subtract(v._value, arr)
    if new.shape != vd:
        raise errors.InvalidArgumentError("Variable.%s: result shape %s differs from %s" % (mode, new.shape, vd))
    v._value = new
