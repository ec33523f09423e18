"""Elementwise math, comparisons, reductions and matrix products (TensorFlow's names).

Every op body is written once against `xp` (numpy or cupy); every gradient in gpuflow ops.
"""
import builtins
import math as _pymath

import numpy as np

from gpuflow import dtypes as _dt
from gpuflow import errors
from gpuflow.kernels import gemm as _gemm
from gpuflow.ops import shapes as S
from gpuflow.ops.registry import op, apply
from gpuflow.ops.array_ops import (convert_to_tensor, binary_args, normalize_axis, reshape,
                                   unbroadcast, zeros_like, ones_like, cast, broadcast_like,
                                   expand_reduced, stop_gradient, shape as _shape_op, _dims)
from gpuflow.tensor import Tensor

_sum = builtins.sum
_abs = builtins.abs
_pow = builtins.pow


def _to(x):
    return x if isinstance(x, Tensor) else convert_to_tensor(x)


def _kind(x):
    """NumPy kind letter of a tensor's dtype ('f', 'i', 'u', 'b', 'c'), cheaply."""
    v = x._value
    return v.dtype.kind if v is not None else x.dtype.np.kind


def _float_only(name, x):
    if _kind(x) in "fc":
        return
    dt = x.dtype
    if not (dt.is_floating or dt.is_complex):
        raise errors.InvalidArgumentError(
            "%s expects a floating point tensor, got %s (shape %s). Cast it first, e.g. gf.cast(x, gf.float32)."
            % (name, dt.name, x.shape), op=name)


# ---------------------------------------------------------------------------------------
# Elementwise unary ops
# ---------------------------------------------------------------------------------------
def _unary(name, body, template, floating=False, differentiable=True, infer=S.same, direct=None):
    o = op(name, infer=infer, elementwise=template, differentiable=differentiable, direct=direct)(body)

    if floating:
        def public(x, name=None):
            if not isinstance(x, Tensor):
                x = convert_to_tensor(x)
            v = x._value
            if (v.dtype.kind if v is not None else x.dtype.np.kind) not in "fc":
                _float_only(o.name, x)
            return apply(o, (x,))
    else:
        def public(x, name=None):
            if not isinstance(x, Tensor):
                x = convert_to_tensor(x)
            return apply(o, (x,))
    public.__name__ = name
    public.op = o
    return o, public


_neg, negative = _unary("negative", lambda xp, x: xp.negative(x), "(-{0})", direct=np.negative)
_neg.def_grad(lambda c, g: [negative(g)])
_abs_op, abs = _unary("abs", lambda xp, x: xp.abs(x), "abs({0})", direct=np.abs)  # noqa: A001
_abs_op.def_grad(lambda c, g: [g * sign(c.inputs[0])])
_sign, sign = _unary("sign", lambda xp, x: xp.sign(x), "sign({0})", differentiable=False, direct=np.sign)
_square, square = _unary("square", lambda xp, x: xp.square(x), "({0}*{0})", direct=np.square)
_square.def_grad(lambda c, g: [g * (c.inputs[0] * 2)])
_sqrt, sqrt = _unary("sqrt", lambda xp, x: xp.sqrt(x), "sqrt({0})", floating=True, direct=np.sqrt)
_sqrt.def_grad(lambda c, g: [g * 0.5 / c.out])
_rsqrt, rsqrt = _unary("rsqrt", lambda xp, x: 1 / xp.sqrt(x), "rsqrt({0})", floating=True)
_rsqrt.def_grad(lambda c, g: [g * (-0.5) * c.out / c.inputs[0]])
_exp, exp = _unary("exp", lambda xp, x: xp.exp(x), "exp({0})", floating=True, direct=np.exp)
_exp.def_grad(lambda c, g: [g * c.out])
_log, log = _unary("log", lambda xp, x: xp.log(x), "log({0})", floating=True, direct=np.log)
_log.def_grad(lambda c, g: [g / c.inputs[0]])
_log1p, log1p = _unary("log1p", lambda xp, x: xp.log1p(x), "log1p({0})", floating=True, direct=np.log1p)
_log1p.def_grad(lambda c, g: [g / (c.inputs[0] + 1)])
_expm1, expm1 = _unary("expm1", lambda xp, x: xp.expm1(x), "expm1({0})", floating=True, direct=np.expm1)
_expm1.def_grad(lambda c, g: [g * (c.out + 1)])
_recip, reciprocal = _unary("reciprocal", lambda xp, x: 1 / x, "(1/{0})", floating=True)
_recip.def_grad(lambda c, g: [negative(g * square(c.out))])
_sin, sin = _unary("sin", lambda xp, x: xp.sin(x), "sin({0})", floating=True, direct=np.sin)
_sin.def_grad(lambda c, g: [g * cos(c.inputs[0])])
_cos, cos = _unary("cos", lambda xp, x: xp.cos(x), "cos({0})", floating=True, direct=np.cos)
_cos.def_grad(lambda c, g: [negative(g * sin(c.inputs[0]))])
_tan, tan = _unary("tan", lambda xp, x: xp.tan(x), "tan({0})", floating=True, direct=np.tan)
_tan.def_grad(lambda c, g: [g * (square(c.out) + 1)])
_asin, asin = _unary("asin", lambda xp, x: xp.arcsin(x), "asin({0})", floating=True, direct=np.arcsin)
_asin.def_grad(lambda c, g: [g * rsqrt(1 - square(c.inputs[0]))])
_acos, acos = _unary("acos", lambda xp, x: xp.arccos(x), "acos({0})", floating=True, direct=np.arccos)
_acos.def_grad(lambda c, g: [negative(g * rsqrt(1 - square(c.inputs[0])))])
_atan, atan = _unary("atan", lambda xp, x: xp.arctan(x), "atan({0})", floating=True, direct=np.arctan)
_atan.def_grad(lambda c, g: [g / (square(c.inputs[0]) + 1)])
_sinh, sinh = _unary("sinh", lambda xp, x: xp.sinh(x), "sinh({0})", floating=True, direct=np.sinh)
_sinh.def_grad(lambda c, g: [g * cosh(c.inputs[0])])
_cosh, cosh = _unary("cosh", lambda xp, x: xp.cosh(x), "cosh({0})", floating=True, direct=np.cosh)
_cosh.def_grad(lambda c, g: [g * sinh(c.inputs[0])])
_tanh, tanh = _unary("tanh", lambda xp, x: xp.tanh(x), "tanh({0})", floating=True, direct=np.tanh)
_tanh.def_grad(lambda c, g: [g * (1 - square(c.out))])


def _sigmoid_body(xp, x):
    # Stable for large |x|: exp of a non-positive number only; in place on temporaries.
    e = xp.abs(x, out=xp.empty_like(x))
    xp.negative(e, out=e)
    xp.exp(e, out=e)
    r = xp.add(e, 1, out=xp.empty_like(x))
    xp.reciprocal(r, out=r)          # 1 / (1 + e), the value for x >= 0
    xp.multiply(e, r, out=e)         # e / (1 + e), the value for x < 0
    return xp.where(x >= 0, r, e)


_sigmoid, sigmoid = _unary("sigmoid", _sigmoid_body, "sigmoid({0})", floating=True)
_sigmoid.def_grad(lambda c, g: [g * c.out * (1 - c.out)])


def _softplus_body(xp, x):
    return (xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))).astype(x.dtype, copy=False)


_softplus, softplus = _unary("softplus", _softplus_body, "softplus({0})", floating=True)
_softplus.def_grad(lambda c, g: [g * sigmoid(c.inputs[0])])

_erf_np = None


def _erf_body(xp, x):
    global _erf_np
    if xp is np:
        if _erf_np is None:
            try:
                from scipy.special import erf as _e
                _erf_np = _e
            except ImportError:
                _erf_np = np.frompyfunc(_pymath.erf, 1, 1)
        return np.asarray(_erf_np(x), dtype=x.dtype)
    from cupyx.scipy.special import erf as _cerf
    return _cerf(x)


_erf, erf = _unary("erf", _erf_body, "erf({0})", floating=True)
_erf.def_grad(lambda c, g: [g * (2 / _pymath.sqrt(_pymath.pi)) * exp(negative(square(c.inputs[0])))])
_floor, floor = _unary("floor", lambda xp, x: xp.floor(x), "floor({0})", differentiable=False, direct=np.floor)
_ceil, ceil = _unary("ceil", lambda xp, x: xp.ceil(x), "ceil({0})", differentiable=False, direct=np.ceil)
_round, round = _unary("round", lambda xp, x: xp.round(x), "rint({0})", differentiable=False, direct=np.round)  # noqa: A001
_rint, rint = _unary("rint", lambda xp, x: xp.rint(x), "rint({0})", differentiable=False, direct=np.rint)
_isnan, is_nan = _unary("is_nan", lambda xp, x: xp.isnan(x), None, differentiable=False, infer=S.with_dtype(_dt.bool), direct=np.isnan)
_isinf, is_inf = _unary("is_inf", lambda xp, x: xp.isinf(x), None, differentiable=False, infer=S.with_dtype(_dt.bool), direct=np.isinf)
_isfin, is_finite = _unary("is_finite", lambda xp, x: xp.isfinite(x), None, differentiable=False, infer=S.with_dtype(_dt.bool), direct=np.isfinite)
_lnot, _logical_not = _unary("logical_not", lambda xp, x: xp.logical_not(x), "(!{0})", differentiable=False, direct=np.logical_not)
_invert, invert = _unary("invert", lambda xp, x: xp.invert(x), "(~{0})", differentiable=False, direct=np.invert)


def logical_not(x, name=None):
    x = _to(x)
    if not x.dtype.is_bool:
        raise errors.InvalidArgumentError("logical_not expects a bool tensor, got %s" % x.dtype.name, op="logical_not")
    return apply(_lnot, (x,))


# ---------------------------------------------------------------------------------------
# Elementwise binary ops
# ---------------------------------------------------------------------------------------
def _binary(name, body, template, infer=S.broadcast, differentiable=True, kind="any", direct=None):
    o = op(name, infer=infer, elementwise=template, differentiable=differentiable, direct=direct)(body)

    opname = o.name
    if kind == "any":
        def public(x, y, name=None):
            # Fast path: two eager tensors of the same dtype go straight to apply.
            if isinstance(x, Tensor) and isinstance(y, Tensor):
                xv, yv = x._value, y._value
                if xv is not None and yv is not None:
                    xd, yd = xv.dtype, yv.dtype
                    if xd is yd or xd == yd:
                        return apply(o, (x, y))
            return apply(o, binary_args(opname, x, y))
    else:
        def public(x, y, name=None):
            x, y = binary_args(opname, x, y)
            if kind == "bool" and not x.dtype.is_bool:
                raise errors.InvalidArgumentError("%s expects bool tensors, got %s" % (opname, x.dtype.name), op=opname)
            if kind == "int" and not x.dtype.is_integer:
                raise errors.InvalidArgumentError("%s expects integer tensors, got %s" % (opname, x.dtype.name),
                                                  op=opname)
            return apply(o, (x, y))
    public.__name__ = name
    public.op = o
    return o, public


_add, add = _binary("add", lambda xp, x, y: xp.add(x, y), "({0}+{1})", direct=np.add)
_add.def_grad(lambda c, g: [unbroadcast(g, c.inputs[0]), unbroadcast(g, c.inputs[1])])
_sub, subtract = _binary("subtract", lambda xp, x, y: xp.subtract(x, y), "({0}-{1})", direct=np.subtract)
_sub.def_grad(lambda c, g: [unbroadcast(g, c.inputs[0]), unbroadcast(negative(g), c.inputs[1])])
_mul, multiply = _binary("multiply", lambda xp, x, y: xp.multiply(x, y), "({0}*{1})", direct=np.multiply)
_mul.def_grad(lambda c, g: [unbroadcast(g * c.inputs[1], c.inputs[0]), unbroadcast(g * c.inputs[0], c.inputs[1])])


def _int_zero_check(y):
    if bool((y == 0).any()):
        raise ValueError("Integer division by zero")


def _div_body(xp, x, y):
    if x.dtype.kind in "iu":
        _int_zero_check(y)
        return xp.floor_divide(x, y)
    return xp.true_divide(x, y)


_div, _divide_same = _binary("divide", _div_body, "({0}/{1})")
_div.def_grad(lambda c, g: [unbroadcast(g / c.inputs[1], c.inputs[0]),
                            unbroadcast(negative(g) * c.inputs[0] / square(c.inputs[1]), c.inputs[1])])


def truediv(x, y, name=None):
    """x / y; integer inputs are converted to float64 (int8/16, uint8: float32) as in TF."""
    x, y = binary_args("truediv", x, y)
    if x.dtype.is_integer or x.dtype.is_bool:
        ft = _dt.float32 if x.dtype.size <= 2 else _dt.float64
        x, y = cast(x, ft), cast(y, ft)
    return apply(_div, (x, y))


def divide(x, y, name=None):
    """Python-style division `x / y` (see `truediv`)."""
    return truediv(x, y)


def _floordiv_body(xp, x, y):
    if x.dtype.kind in "iu":
        _int_zero_check(y)
        return xp.floor_divide(x, y)
    return xp.floor(x / y)


_floordiv, floordiv = _binary("floordiv", _floordiv_body, "floor({0}/{1})", differentiable=False)
floor_div = floordiv
def _mod_body(xp, x, y):
    if x.dtype.kind in "iu":
        _int_zero_check(y)
    return xp.mod(x, y)


_mod, mod = _binary("mod", _mod_body, "fmod_py({0},{1})")
_mod.def_grad(lambda c, g: [unbroadcast(g, c.inputs[0]),
                            unbroadcast(negative(g) * floordiv(c.inputs[0], c.inputs[1]), c.inputs[1])])
floormod = mod


def _pow_body(xp, x, y):
    if x.dtype.kind in "iu" and bool((y < 0).any()):
        raise ValueError("Integers to negative integer powers are not allowed.")
    return xp.power(x, y)


_pow_op, _pow_public = _binary("pow", _pow_body, "pow({0},{1})")


def _pow_grad(c, g):
    x, y = c.inputs
    gx = g * y * pow(x, y - 1)
    if y.dtype.is_floating:
        safe_log = log(where_(x > 0, x, ones_like(x)))
        gy = g * c.out * safe_log
        gy = where_(x > 0, gy, zeros_like(gy))
    else:
        gy = None
    return [unbroadcast(gx, x), None if gy is None else unbroadcast(gy, y)]


_pow_op.def_grad(_pow_grad)


def pow(x, y, name=None):  # noqa: A001
    """x ** y elementwise."""
    return _pow_public(x, y)


_max, maximum = _binary("maximum", lambda xp, x, y: xp.maximum(x, y), "max({0},{1})", direct=np.maximum)
_max.def_grad(lambda c, g: _minmax_grad(c, g, greater_equal))
_min, minimum = _binary("minimum", lambda xp, x, y: xp.minimum(x, y), "min({0},{1})", direct=np.minimum)
_min.def_grad(lambda c, g: _minmax_grad(c, g, less_equal))


def _minmax_grad(c, g, cmp):
    x, y = c.inputs
    m = cast(cmp(x, y), g.dtype)
    return [unbroadcast(g * m, x), unbroadcast(g * (1 - m), y)]


_sqd, squared_difference = _binary("squared_difference", lambda xp, x, y: xp.square(x - y), "(({0}-{1})*({0}-{1}))")


def _sqd_grad(c, g):
    x, y = c.inputs
    d = g * 2 * (x - y)
    return [unbroadcast(d, x), unbroadcast(negative(d), y)]


_sqd.def_grad(_sqd_grad)
_atan2, atan2 = _binary("atan2", lambda xp, y, x: xp.arctan2(y, x), "atan2({0},{1})")


def _atan2_grad(c, g):
    y, x = c.inputs
    d = square(x) + square(y)
    return [unbroadcast(g * x / d, y), unbroadcast(negative(g) * y / d, x)]


_atan2.def_grad(_atan2_grad)

_eq, equal = _binary("equal", lambda xp, x, y: xp.equal(x, y), "({0}=={1})", S.broadcast_bool, False, direct=np.equal)
_ne, not_equal = _binary("not_equal", lambda xp, x, y: xp.not_equal(x, y), "({0}!={1})", S.broadcast_bool, False, direct=np.not_equal)
_lt, less = _binary("less", lambda xp, x, y: xp.less(x, y), "({0}<{1})", S.broadcast_bool, False, direct=np.less)
_le, less_equal = _binary("less_equal", lambda xp, x, y: xp.less_equal(x, y), "({0}<={1})", S.broadcast_bool, False, direct=np.less_equal)
_gt, greater = _binary("greater", lambda xp, x, y: xp.greater(x, y), "({0}>{1})", S.broadcast_bool, False, direct=np.greater)
_ge, greater_equal = _binary("greater_equal", lambda xp, x, y: xp.greater_equal(x, y), "({0}>={1})", S.broadcast_bool, False, direct=np.greater_equal)
_land, logical_and = _binary("logical_and", lambda xp, x, y: xp.logical_and(x, y), "({0}&&{1})", S.broadcast, False, "bool", direct=np.logical_and)
_lor, logical_or = _binary("logical_or", lambda xp, x, y: xp.logical_or(x, y), "({0}||{1})", S.broadcast, False, "bool", direct=np.logical_or)
_lxor, logical_xor = _binary("logical_xor", lambda xp, x, y: xp.logical_xor(x, y), "({0}!={1})", S.broadcast, False, "bool", direct=np.logical_xor)
_band, bitwise_and = _binary("bitwise_and", lambda xp, x, y: xp.bitwise_and(x, y), "({0}&{1})", S.broadcast, False, "int", direct=np.bitwise_and)
_bor, bitwise_or = _binary("bitwise_or", lambda xp, x, y: xp.bitwise_or(x, y), "({0}|{1})", S.broadcast, False, "int", direct=np.bitwise_or)
_bxor, bitwise_xor = _binary("bitwise_xor", lambda xp, x, y: xp.bitwise_xor(x, y), "({0}^{1})", S.broadcast, False, "int", direct=np.bitwise_xor)


# ---------------------------------------------------------------------------------------
# where / select (needed by gradients above)
# ---------------------------------------------------------------------------------------
def _where_infer(specs, **a):
    dims = S.broadcast_dims(S.broadcast_dims(specs[0][0], specs[1][0]), specs[2][0])
    return dims, specs[1][1]


@op("select", infer=_where_infer, elementwise="({0}?{1}:{2})")
def _select(xp, c, x, y):
    return xp.where(c, x, y)


@_select.def_grad
def _select_grad(c, g):
    cond, x, y = c.inputs
    z = zeros_like(g)
    return [None, unbroadcast(where_(cond, g, z), x), unbroadcast(where_(cond, z, g), y)]


def where_(condition, x, y):
    """Elementwise select with broadcasting (the 3-argument `gf.where`)."""
    condition = _to(condition)
    if not condition.dtype.is_bool:
        raise errors.InvalidArgumentError("where: condition must be bool, got %s" % condition.dtype.name, op="select")
    x, y = binary_args("select", x, y)
    return apply(_select, (condition, x, y))


# ---------------------------------------------------------------------------------------
# n-ary and misc
# ---------------------------------------------------------------------------------------
def add_n(inputs, name=None):
    """Sum of a list of tensors of the same shape and dtype."""
    inputs = list(inputs)
    if not inputs:
        raise ValueError("add_n: inputs must be a non-empty list of tensors")
    total = _to(inputs[0])
    for t in inputs[1:]:
        total = add(total, t)
    return total


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """Clips values into [clip_value_min, clip_value_max] (gradient passes inside the range)."""
    t = _to(t)
    return minimum(maximum(t, clip_value_min), clip_value_max)


def scalar_mul(scalar, x, name=None):
    return multiply(scalar, x)


# ---------------------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------------------
def _reduce_infer(specs, axis=None, keepdims=False, **a):
    return S.reduced(specs, axis, keepdims)


def _red(name, body, differentiable=True, infer=_reduce_infer):
    return op(name, infer=infer, differentiable=differentiable, reduction=True)(body)


_add_reduce = np.add.reduce


def _rsum_body(xp, x, axis=None, keepdims=False):
    # Integer sums keep the input dtype (wrapping like TF); NumPy would widen int32.
    dt = x.dtype
    dt = dt if dt.kind in "iu" else None
    if xp is np:
        # np.add.reduce is np.sum without its Python-level dispatch (2-4x faster on small
        # arrays); apply turns a scalar result into a 0-d array.
        return _add_reduce(x, axis, dt, None, keepdims)
    return xp.sum(x, axis=axis, dtype=dt, keepdims=keepdims)


_rsum = _red("reduce_sum", _rsum_body)
_rsum.def_grad(lambda c, g: [broadcast_like(expand_reduced(g, c.inputs[0].ndim, c.attrs["axis"], c.attrs["keepdims"]), c.inputs[0])])


def _rmean_body(xp, x, axis=None, keepdims=False):
    if x.dtype.kind in "iu":
        s = xp.sum(x, axis=axis, keepdims=keepdims)
        n = x.size if axis is None else int(np.prod([x.shape[a] for a in axis]))
        return xp.asarray(s // max(n, 1)).astype(x.dtype)
    return xp.asarray(xp.mean(x, axis=axis, keepdims=keepdims)).astype(x.dtype, copy=False)


_rmean = _red("reduce_mean", _rmean_body)


@_rmean.def_grad
def _rmean_grad(c, g):
    x = c.inputs[0]
    gb = broadcast_like(expand_reduced(g, x.ndim, c.attrs["axis"], c.attrs["keepdims"]), x)
    return [gb / cast(_count(x, c.attrs["axis"]), g.dtype)]


@op("reduced_count", infer=lambda specs, axis=None: ((), _dt.int32), differentiable=False)
def _count_op(xp, x, axis=None):
    n = x.size if axis is None else int(np.prod([x.shape[a] for a in axis]))
    return xp.asarray(n, dtype=np.int32)


def _count(x, axis):
    return apply(_count_op, (x,), {"axis": axis})


def _minmax_red_grad(c, g):
    x = c.inputs[0]
    ax, kd = c.attrs["axis"], c.attrs["keepdims"]
    y = broadcast_like(expand_reduced(c.out, x.ndim, ax, kd), x)
    m = cast(equal(x, stop_gradient(y)), g.dtype)
    n = broadcast_like(expand_reduced(_rsum_call(m, ax, kd), x.ndim, ax, kd), x)
    gb = broadcast_like(expand_reduced(g, x.ndim, ax, kd), x)
    return [gb * m / n]


def _rsum_call(x, axis, keepdims):
    return apply(_rsum, (x,), {"axis": axis, "keepdims": keepdims})


def _minmax_body(name):
    def body(xp, x, axis=None, keepdims=False):
        if x.size == 0:
            # TF: the max of nothing is the lowest value (-inf for floats), the min the highest.
            k = x.dtype.kind
            if k == "f":
                fill = -np.inf if name == "max" else np.inf
            elif k == "b":
                fill = name != "max"
            else:
                info = np.iinfo(x.dtype)
                fill = info.min if name == "max" else info.max
            shape = np.sum(np.empty(x.shape, np.int8), axis=axis, keepdims=keepdims).shape
            return xp.full(shape, fill, dtype=x.dtype)
        return xp.asarray(getattr(xp, name)(x, axis=axis, keepdims=keepdims))
    return body


_rmax = _red("reduce_max", _minmax_body("max"))
_rmax.def_grad(_minmax_red_grad)
_rmin = _red("reduce_min", _minmax_body("min"))
_rmin.def_grad(_minmax_red_grad)
_rprod = _red("reduce_prod", lambda xp, x, axis=None, keepdims=False: xp.asarray(xp.prod(x, axis=axis, keepdims=keepdims)).astype(x.dtype, copy=False))


@_rprod.def_grad
def _rprod_grad(c, g):
    # d prod / d x_i = the product of the other entries. Without zeros in a slice that
    # is prod / x_i. With exactly one zero z: the zero entry gets the product of the
    # nonzero entries p_nz, every other entry z * p_nz / x_i (0, but written so that its
    # derivative with respect to z is right). With two or more zeros every entry is 0.
    # Written in ops, so second derivatives are exact for slices with at most one zero.
    x = c.inputs[0]
    ax, kd = c.attrs["axis"], c.attrs["keepdims"]
    nd = len(_dims(x))
    gb = broadcast_like(expand_reduced(g, nd, ax, kd), x)
    is_zero = equal(x, 0)
    safe = where_(is_zero, ones_like(x), x)
    p_nz = broadcast_like(apply(_rprod, (safe,), {"axis": ax, "keepdims": True}), x)
    n_zero = broadcast_like(_rsum_call(cast(is_zero, x.dtype), ax, True), x)
    z = broadcast_like(_rsum_call(where_(is_zero, x, zeros_like(x)), ax, True), x)
    no_zero = p_nz / safe
    one_zero = where_(is_zero, p_nz, z * no_zero)
    d = where_(equal(n_zero, 0), no_zero, where_(equal(n_zero, 1), one_zero, zeros_like(x)))
    return [gb * d]


_rany = _red("reduce_any", lambda xp, x, axis=None, keepdims=False: xp.asarray(xp.any(x, axis=axis, keepdims=keepdims)), False)
_rall = _red("reduce_all", lambda xp, x, axis=None, keepdims=False: xp.asarray(xp.all(x, axis=axis, keepdims=keepdims)), False)


_RED_ALL = {"axis": None, "keepdims": False}        # shared, never mutated
_RED_ALL_KEEP = {"axis": None, "keepdims": True}


def _reducer(o, name, bool_only=False, float_result=False):
    def public(input_tensor, axis=None, keepdims=False, name=None, **kw):
        if "keep_dims" in kw:
            keepdims = kw.pop("keep_dims")
        if "reduction_indices" in kw:
            axis = kw.pop("reduction_indices")
        if kw:
            raise TypeError("%s() got unexpected arguments %s" % (o.name, sorted(kw)))
        x = input_tensor if isinstance(input_tensor, Tensor) else convert_to_tensor(input_tensor)
        if (_kind(x) == "b") is not bool_only:
            if bool_only:
                raise errors.InvalidArgumentError("%s expects a bool tensor, got %s" % (o.name, x.dtype.name),
                                                  op=o.name)
            raise errors.InvalidArgumentError("%s does not accept bool tensors; cast first" % o.name, op=o.name)
        if axis is None:
            return apply(o, (x,), _RED_ALL_KEEP if keepdims else _RED_ALL)
        ax = normalize_axis(axis, len(_dims(x)), o.name)
        return apply(o, (x,), {"axis": ax, "keepdims": keepdims is True or bool(keepdims)})
    public.__name__ = name
    public.op = o
    return public


reduce_sum = _reducer(_rsum, "reduce_sum")
reduce_mean = _reducer(_rmean, "reduce_mean")
reduce_max = _reducer(_rmax, "reduce_max")
reduce_min = _reducer(_rmin, "reduce_min")
reduce_prod = _reducer(_rprod, "reduce_prod")
reduce_any = _reducer(_rany, "reduce_any", bool_only=True)
reduce_all = _reducer(_rall, "reduce_all", bool_only=True)


def reduce_logsumexp(input_tensor, axis=None, keepdims=False, name=None):
    """log(sum(exp(x))) along axes, stable for large values."""
    x = _to(input_tensor)
    _float_only("reduce_logsumexp", x)
    m = stop_gradient(reduce_max(x, axis=axis, keepdims=True))
    m = where_(is_finite(m), m, zeros_like(m))
    s = reduce_sum(exp(x - m), axis=axis, keepdims=True)
    out = log(s) + m
    if not keepdims:
        from gpuflow.ops import array_ops
        ax = normalize_axis(axis, x.ndim, "reduce_logsumexp")
        out = array_ops.squeeze(out, list(range(x.ndim)) if ax is None else list(ax))
    return out


def reduce_variance(input_tensor, axis=None, keepdims=False, name=None):
    """Population variance along axes."""
    x = _to(input_tensor)
    _float_only("reduce_variance", x)
    m = reduce_mean(x, axis=axis, keepdims=True)
    return reduce_mean(square(x - m), axis=axis, keepdims=keepdims)


def reduce_std(input_tensor, axis=None, keepdims=False, name=None):
    """Population standard deviation along axes."""
    return sqrt(reduce_variance(input_tensor, axis=axis, keepdims=keepdims))


def reduce_euclidean_norm(input_tensor, axis=None, keepdims=False, name=None):
    return sqrt(reduce_sum(square(_to(input_tensor)), axis=axis, keepdims=keepdims))


def count_nonzero(input, axis=None, keepdims=False, dtype=_dt.int64, name=None):  # noqa: A002
    x = _to(input)
    return reduce_sum(cast(not_equal(x, zeros_like(x)), dtype), axis=axis, keepdims=keepdims)


def _arg_infer(specs, axis=0, output_type=None):
    dims = specs[0][0]
    return tuple(d for i, d in enumerate(dims) if i != axis), output_type


@op("argmax", infer=_arg_infer, differentiable=False)
def _argmax(xp, x, axis=0, output_type=None):
    if x.shape[axis] == 0:
        raise ValueError("argmax over an empty dimension")
    return xp.argmax(x, axis=axis).astype(output_type.np)


@op("argmin", infer=_arg_infer, differentiable=False)
def _argmin(xp, x, axis=0, output_type=None):
    if x.shape[axis] == 0:
        raise ValueError("argmin over an empty dimension")
    return xp.argmin(x, axis=axis).astype(output_type.np)


def argmax(input, axis=None, output_type=_dt.int64, name=None):  # noqa: A002
    """Index of the largest value along `axis` (default 0), as int64 by default."""
    x = _to(input)
    ax = normalize_axis(0 if axis is None else axis, x.ndim, "argmax")[0]
    return apply(_argmax, (x,), {"axis": ax, "output_type": _dt.as_dtype(output_type)})


def argmin(input, axis=None, output_type=_dt.int64, name=None):  # noqa: A002
    """Index of the smallest value along `axis` (default 0), as int64 by default."""
    x = _to(input)
    ax = normalize_axis(0 if axis is None else axis, x.ndim, "argmin")[0]
    return apply(_argmin, (x,), {"axis": ax, "output_type": _dt.as_dtype(output_type)})


def _cum_infer(specs, axis=0, exclusive=False, reverse=False):
    return specs[0]


@op("cumsum", infer=_cum_infer)
def _cumsum(xp, x, axis=0, exclusive=False, reverse=False):
    if reverse:
        x = xp.flip(x, axis)
    y = xp.cumsum(x, axis=axis, dtype=x.dtype)
    if exclusive:
        y = y - x
    if reverse:
        y = xp.flip(y, axis)
    return y


@_cumsum.def_grad
def _cumsum_grad(c, g):
    a = c.attrs
    return [apply(_cumsum, (g,), {"axis": a["axis"], "exclusive": a["exclusive"], "reverse": not a["reverse"]})]


def cumsum(x, axis=0, exclusive=False, reverse=False, name=None):
    """Cumulative sum along `axis`."""
    x = _to(x)
    ax = normalize_axis(axis, x.ndim, "cumsum")[0]
    return apply(_cumsum, (x,), {"axis": ax, "exclusive": bool(exclusive), "reverse": bool(reverse)})


@op("cumprod", infer=_cum_infer)
def _cumprod(xp, x, axis=0, exclusive=False, reverse=False):
    if reverse:
        x = xp.flip(x, axis)
    y = xp.cumprod(x, axis=axis, dtype=x.dtype)
    if exclusive:
        sl = [slice(None)] * x.ndim
        sl[axis] = slice(0, -1)
        pad = [(0, 0)] * x.ndim
        pad[axis] = (1, 0)
        y = xp.pad(y[tuple(sl)], pad, constant_values=1)
    if reverse:
        y = xp.flip(y, axis)
    return y


@_cumprod.def_grad
def _cumprod_grad(c, g):
    # As TF: d/dx_k = sum over the outputs that contain x_k of g_i * y_i / x_k
    # (exact for inputs without zeros).
    a = c.attrs
    s = apply(_cumsum, (g * c.out,), {"axis": a["axis"], "exclusive": a["exclusive"], "reverse": not a["reverse"]})
    return [s / c.inputs[0]]


def cumprod(x, axis=0, exclusive=False, reverse=False, name=None):
    """Cumulative product along `axis` (the gradient divides by x, as TF's)."""
    x = _to(x)
    ax = normalize_axis(axis, x.ndim, "cumprod")[0]
    return apply(_cumprod, (x,), {"axis": ax, "exclusive": bool(exclusive), "reverse": bool(reverse)})


# ---------------------------------------------------------------------------------------
# Matrix products
# ---------------------------------------------------------------------------------------
def _matmul_infer(specs, transpose_a=False, transpose_b=False):
    (a, da), (b, db) = specs
    if len(a) < 2 or len(b) < 2:
        raise errors.InvalidArgumentError(
            "matmul expects inputs of rank >= 2, got shapes %s and %s" % (a, b), op="matmul")
    m, k = (a[-1], a[-2]) if transpose_a else (a[-2], a[-1])
    k2, n = (b[-1], b[-2]) if transpose_b else (b[-2], b[-1])
    if k is not None and k2 is not None and k != k2:
        raise errors.InvalidArgumentError(
            "Matrix size-incompatible: In[0]: %s, In[1]: %s (inner dimensions %d and %d differ)%s"
            % (list(a), list(b), k, k2, " with transpose flags" if (transpose_a or transpose_b) else ""), op="matmul")
    try:
        batch = S.broadcast_dims(a[:-2], b[:-2])
    except errors.InvalidArgumentError:
        raise errors.InvalidArgumentError(
            "matmul: the batch dimensions of In[0]: %s and In[1]: %s cannot be broadcast together"
            % (list(a), list(b)), op="matmul") from None
    return tuple(batch) + (m, n), da


def _t(xp, x):
    return xp.swapaxes(x, -1, -2)


@op("matmul", infer=_matmul_infer, direct=_gemm.matmul)
def _matmul(xp, a, b, transpose_a=False, transpose_b=False):
    if transpose_a:
        a = _t(xp, a)
    if transpose_b:
        b = _t(xp, b)
    # NumPy: skinny float32 products run on gpuflow's direct loops (AVX-512 or AVX2; gpuflow.kernels.gemm)
    return _gemm.matmul(a, b) if xp is np else xp.matmul(a, b)


@_matmul.def_grad
def _matmul_grad(c, g):
    a, b = c.inputs
    ta, tb = c.attrs.get("transpose_a", False), c.attrs.get("transpose_b", False)
    mm = lambda x, y, tx, ty: apply(_matmul, (x, y), {"transpose_a": tx, "transpose_b": ty})
    if not ta and not tb:
        fa, fb = (lambda: mm(g, b, False, True)), (lambda: mm(a, g, True, False))
    elif not ta and tb:
        fa, fb = (lambda: mm(g, b, False, False)), (lambda: mm(g, a, True, False))
    elif ta and not tb:
        fa, fb = (lambda: mm(b, g, False, True)), (lambda: mm(a, g, False, False))
    else:
        fa, fb = (lambda: mm(b, g, True, True)), (lambda: mm(g, a, True, True))
    # Skip a product whose result cannot reach a source (e.g. the input batch's gradient).
    return [unbroadcast(fa(), a) if c.needs(0) else None, unbroadcast(fb(), b) if c.needs(1) else None]


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           a_is_sparse=False, b_is_sparse=False, output_type=None, name=None):
    """Matrix product of the last two dimensions, batched over the leading ones.

    Raises:
      InvalidArgumentError: ranks below 2, mismatched inner dimensions or dtypes.
    """
    ta, tb = bool(transpose_a or adjoint_a), bool(transpose_b or adjoint_b)
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        av, bv = a._value, b._value
        if av is not None and bv is not None and av.ndim >= 2 and bv.ndim >= 2:
            ad, bd = av.dtype, bv.dtype
            if (ad is bd or ad == bd) and ad.kind != "b":
                return apply(_matmul, (a, b), _MATMUL_ATTRS[ta, tb] if (ta or tb) else _NO_ATTRS)
    a, b = binary_args("matmul", a, b)
    if a.dtype.is_bool:
        raise errors.InvalidArgumentError("matmul does not accept bool tensors", op="matmul")
    if len(_dims(a)) < 2 or len(_dims(b)) < 2:
        raise errors.InvalidArgumentError(
            "matmul expects inputs of rank >= 2 (use gf.tensordot or gf.linalg.matvec for vectors), got shapes "
            "%s and %s" % (a.shape, b.shape), op="matmul")
    return apply(_matmul, (a, b), _MATMUL_ATTRS[ta, tb] if (ta or tb) else _NO_ATTRS)


# Shared attrs dicts (never mutated) so the hot path allocates none. Without transposes
# the attrs are empty (absent flags mean False), which lets apply call np.matmul directly.
_NO_ATTRS = {}
_MATMUL_ATTRS = {(ta, tb): {"transpose_a": ta, "transpose_b": tb} for ta in (False, True) for tb in (False, True)}


def tensordot(a, b, axes, name=None):
    """Contraction over `axes` (an int N: last N of a with first N of b; or two lists)."""
    from gpuflow.ops import einsum as _e
    return _e.tensordot(a, b, axes)


def einsum(equation, *inputs, **kwargs):
    """Einstein summation; built from transpose/reshape/matmul/reduce_sum so it is differentiable."""
    from gpuflow.ops import einsum as _e
    return _e.einsum(equation, *inputs, **kwargs)



def divide_no_nan(x, y, name=None):
    """x / y, with 0 where y == 0 (and a zero gradient there)."""
    x, y = binary_args("divide_no_nan", x, y)
    zero = equal(y, 0)
    safe = where_(zero, ones_like(y), y)
    return where_(zero, zeros_like(x), truediv(x, safe))
