"""Convolution, pooling, normalization and embedding ops (`gf.nn.conv2d`, `gf.nn.max_pool2d`, ...).

Every op here is a thin, differentiable shell around `gpuflow.kernels`: the forward body
calls a kernel (C++ on the CPU, CUDA on a GPU, or the NumPy/CuPy reference, see
`use_kernels`), and its gradient is *another op* whose body calls the kernel's backward
function. Each backward op has its own gradient written in gpuflow ops, so second
derivatives work (a gradient penalty on a CNN, for example):

    conv2d(x, k)              grad -> conv2d_backprop_input(dy, k), conv2d_backprop_filter(x, dy)
    conv2d_backprop_input     grad -> conv2d(G, k), conv2d_backprop_filter(G, dy)
    conv2d_backprop_filter    grad -> conv2d_backprop_input(dy, G), conv2d(x, G)
    (the same triangle for depthwise_conv2d)
    max_pool -> (y, argmax)   grad -> max_pool_grad(dy, argmax)  (scatter), whose grad is a gather
    avg_pool                  grad -> avg_pool_grad(dy), whose grad is avg_pool
    fused_batch_norm / fused_layer_norm -> (y, mean, var)
                              grad -> fused_*_norm_grad (kernel), whose grad is written out
    embedding(table, ids)     grad -> embedding_grad (the scatter-add kernel), whose grad is embedding

Layouts are TensorFlow's: images NHWC (`data_format='NCHW'` is accepted and handled with
transposes), convolution filters `[height, width, in_channels, out_channels]`, depthwise
filters `[height, width, in_channels, channel_multiplier]`. Padding is `'VALID'`, `'SAME'`
(TensorFlow's rule: output `ceil(in / stride)`, the odd padding row/column at the
bottom/right) or explicit `[[0, 0], [top, bottom], [left, right], [0, 0]]`.

Shape rules accept unknown (None) dimensions, so the ops work on Keras symbolic tensors
and inside `gf.function` with `None` batch sizes; wrong ranks, channel mismatches and
windows larger than a VALID input fail with an `InvalidArgumentError` naming the op, the
shapes and what was expected.

The kernels take float32/float64; float16/bfloat16 inputs are computed in float32 and
the result is cast back.
"""
import numpy as np

from gpuflow import dtypes as _dt
from gpuflow import errors
from gpuflow import kernels as _K
from gpuflow.ops import array_ops as A
from gpuflow.ops import math_ops as M
from gpuflow.ops.array_ops import convert_to_tensor
from gpuflow.ops.registry import op, apply
from gpuflow.tensor import Tensor

__all__ = [
    "conv1d", "conv2d", "convolution", "conv2d_transpose", "conv1d_transpose", "depthwise_conv2d",
    "separable_conv2d", "conv2d_backprop_input", "conv2d_backprop_filter", "depthwise_conv2d_backprop_input",
    "depthwise_conv2d_backprop_filter", "max_pool", "max_pool1d", "max_pool2d", "max_pool_with_argmax",
    "avg_pool", "avg_pool1d", "avg_pool2d", "fused_batch_norm", "fused_layer_norm", "embedding",
    "upsample_nearest2d", "use_kernels", "get_kernel_impl", "set_kernel_impl",
]

# ---------------------------------------------------------------------------------------
# Kernel implementation switch
# ---------------------------------------------------------------------------------------
_IMPL = {"impl": None}
_IMPLS = (None, "native", "reference")


def get_kernel_impl():
    """The kernel implementation the ops of this module use: None (fastest available),
    'native' (C++/CUDA, an error if missing) or 'reference' (NumPy/CuPy)."""
    return _IMPL["impl"]


def set_kernel_impl(impl):
    """Sets the kernel implementation (None, 'native' or 'reference') for every later call,
    eager or compiled (compiled functions read it when they run)."""
    if impl not in _IMPLS:
        raise ValueError("kernel impl must be None, 'native' or 'reference', got %r" % (impl,))
    _IMPL["impl"] = impl


class use_kernels:  # noqa: N801 - a context manager used like a function
    """`with use_kernels('reference'):` runs the ops of this module on the reference
    kernels (or `'native'`: the compiled ones; None: the fastest available) inside the block.
    The tests compare the two through the ops."""

    def __init__(self, impl):
        if impl not in _IMPLS:
            raise ValueError("kernel impl must be None, 'native' or 'reference', got %r" % (impl,))
        self.impl = impl

    def __enter__(self):
        self.saved = _IMPL["impl"]
        _IMPL["impl"] = self.impl
        return self

    def __exit__(self, *exc):
        _IMPL["impl"] = self.saved
        return False


_KF = (np.dtype(np.float32), np.dtype(np.float64))


def _up(a):
    """The kernels take float32/float64: other floats (float16, bfloat16) are computed in
    float32; integer inputs are left for the kernel to reject."""
    d = a.dtype
    return a if d in _KF or d.kind in "biuc" else a.astype(np.float32)


def _down(out, dtype):
    return out if out.dtype == dtype else out.astype(dtype)


# ---------------------------------------------------------------------------------------
# Argument normalization and shape rules
# ---------------------------------------------------------------------------------------
def _err(opname, msg):
    return errors.InvalidArgumentError("%s: %s" % (opname, msg), op=opname)


def _shape_str(dims):
    return "(%s)" % ", ".join("None" if d is None else str(d) for d in dims)


def _check_rank(opname, what, dims, rank, layout):
    if len(dims) != rank:
        raise _err(opname, "%s must be %d-D %s, got shape %s (rank %d)"
                   % (what, rank, layout, _shape_str(dims), len(dims)))


def _check_float(opname, specs, names):
    d0 = specs[0][1]
    for (dims, dt), nm in zip(specs, names):
        if not dt.is_floating:
            raise _err(opname, "%s must be a floating point tensor (float16/bfloat16/float32/float64), got %s"
                       % (nm, dt.name))
        if dt is not d0:
            raise _err(opname, "%s has dtype %s but %s has dtype %s; cast one of them"
                       % (nm, dt.name, names[0], d0.name))


def _out_len(opname, axis, size, k, s, d, padding, before, after):
    """Output length along one spatial axis (None if unknown); raises if the window does
    not fit."""
    if size is None or k is None:
        return None
    if padding == "SAME":
        return -(-size // s)
    eff = (k - 1) * d + 1
    span = size + before + after - eff
    if span < 0:
        if padding == "VALID":
            raise _err(opname, "the window along the %s axis (size %d%s) is larger than the input (%d) with "
                       "padding 'VALID'; use padding='SAME', a smaller kernel or a larger input"
                       % (axis, k, (", dilated to %d" % eff) if d > 1 else "", size))
        raise _err(opname, "the window along the %s axis (size %d%s) does not fit the padded input (%d + %d + %d)"
                   % (axis, k, (", dilated to %d" % eff) if d > 1 else "", before, size, after))
    return span // s + 1


def _out_hw(opname, hw, khw, strides, padding, dilations):
    if isinstance(padding, str):
        pads = (0, 0, 0, 0)
    else:
        pads = padding
    oh = _out_len(opname, "height", hw[0], khw[0], strides[0], dilations[0], padding, pads[0], pads[1])
    ow = _out_len(opname, "width", hw[1], khw[1], strides[1], dilations[1], padding, pads[2], pads[3])
    return oh, ow


def _to_list(value):
    if isinstance(value, Tensor):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return value


def _spatial(opname, argname, value, n, channels_first, default=1):
    """An int or a list of 1, n or n+2 ints (TF's forms) -> a tuple of n spatial values."""
    value = _to_list(value)
    if value is None:
        return (default,) * n
    if isinstance(value, (int, np.integer)):
        out = (int(value),) * n
    else:
        try:
            out = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            raise _err(opname, "%s must be an int or a list of ints, got %r" % (argname, value)) from None
        if len(out) == 1:
            out = out * n
        elif len(out) == n + 2:
            if channels_first:
                outer, out = (out[0], out[1]), out[2:]
            else:
                outer, out = (out[0], out[-1]), out[1:-1]
            if outer != (1, 1):
                raise _err(opname, "%s along the batch and channel dimensions must be 1, got %r" % (argname, value))
        elif len(out) != n:
            raise _err(opname, "%s must be an int or a list of 1, %d or %d ints, got %r" % (argname, n, n + 2, value))
    if min(out) < 1:
        raise _err(opname, "%s must be >= 1, got %r" % (argname, value))
    return out


def _padding(opname, padding, n, channels_first, explicit=True):
    """'VALID' / 'SAME' or explicit pairs -> 'VALID' | 'SAME' | (before, after, ...) flat."""
    if isinstance(padding, bytes):
        padding = padding.decode()
    if isinstance(padding, str):
        p = padding.upper()
        if p in ("VALID", "SAME"):
            return p
        raise _err(opname, "padding must be 'VALID' or 'SAME'%s, got %r"
                   % (" or explicit [[before, after], ...] pairs" if explicit else "", padding))
    if not explicit:
        raise _err(opname, "padding must be 'VALID' or 'SAME', got %r" % (padding,))
    value = _to_list(padding)
    try:
        pairs = [tuple(int(v) for v in p) for p in value]
    except (TypeError, ValueError):
        raise _err(opname, "explicit padding must be a list of [before, after] pairs, got %r" % (padding,)) from None
    if any(len(p) != 2 for p in pairs) or len(pairs) not in (n, n + 2):
        raise _err(opname, "explicit padding must hold %d [before, after] pairs (one per dimension), got %r"
                   % (n + 2, padding))
    if len(pairs) == n + 2:
        outer = (pairs[0], pairs[1]) if channels_first else (pairs[0], pairs[-1])
        if outer != ((0, 0), (0, 0)):
            raise _err(opname, "explicit padding of the batch and channel dimensions must be [0, 0], got %r"
                       % (padding,))
        pairs = pairs[2:] if channels_first else pairs[1:-1]
    flat = tuple(v for p in pairs for v in p)
    if min(flat) < 0:
        raise _err(opname, "explicit padding must be >= 0, got %r" % (padding,))
    return flat


_LAST = {3: "NWC", 4: "NHWC"}
_FIRST = {3: "NCW", 4: "NCHW"}


def _data_format(opname, data_format, rank):
    """True for channels-first: TF's 'NWC'/'NCW' (rank 3) or 'NHWC'/'NCHW' (rank 4), or
    Keras's 'channels_last'/'channels_first'."""
    if data_format is None:
        return False
    df = str(data_format).upper()
    if df in ("CHANNELS_LAST", _LAST[rank]):
        return False
    if df in ("CHANNELS_FIRST", _FIRST[rank]):
        return True
    raise _err(opname, "data_format must be %r or %r, got %r" % (_LAST[rank], _FIRST[rank], data_format))


def _t(x):
    return x if isinstance(x, Tensor) else convert_to_tensor(x)


def _like(v, x):
    """Converts `v` to a tensor of x's float dtype (so NumPy float64 filters work with float32 inputs)."""
    if isinstance(v, Tensor):
        return v
    return A._like(v, x, "conv")


def _nchw_to_nhwc(x):
    return A.transpose(x, [0, 2, 3, 1])


def _nhwc_to_nchw(x):
    return A.transpose(x, [0, 3, 1, 2])


# ---------------------------------------------------------------------------------------
# conv2d and its two backward ops
# ---------------------------------------------------------------------------------------
_CONV_X = "[batch, height, width, channels]"
_CONV_K = "[height, width, in_channels, out_channels]"


def _conv2d_infer(specs, strides, padding, dilations):
    (xd, xt), (kd, kt) = specs
    _check_rank("conv2d", "input", xd, 4, _CONV_X)
    _check_rank("conv2d", "filters", kd, 4, _CONV_K)
    _check_float("conv2d", specs, ("input", "filters"))
    if xd[3] is not None and kd[2] is not None and xd[3] != kd[2]:
        raise _err("conv2d", "the input has %d channels but the filters expect %d (input shape %s, filters shape %s "
                   "= %s)" % (xd[3], kd[2], _shape_str(xd), _shape_str(kd), _CONV_K))
    oh, ow = _out_hw("conv2d", xd[1:3], kd[:2], strides, padding, dilations)
    return (xd[0], oh, ow, kd[3]), xt


@op("conv2d", infer=_conv2d_infer)
def _conv2d(xp, x, k, *, strides, padding, dilations):
    out = _K.conv2d_forward(_up(x), _up(k), strides, padding, dilations, impl=_IMPL["impl"])
    return _down(out, x.dtype)


def _conv_bi_infer(name, kind):
    def infer(specs, input_hw, strides, padding, dilations):
        (dd, dt), (kd, _) = specs[0], specs[1]
        _check_rank(name, "out_backprop", dd, 4, "[batch, out_height, out_width, out_channels]")
        _check_rank(name, "filters", kd, 4, _CONV_K if kind == "conv" else "[height, width, in_channels, multiplier]")
        _check_float(name, specs[:2], ("out_backprop", "filters"))
        if input_hw is not None:
            hw = tuple(input_hw)
        elif len(specs[2][0]) == 1:      # a run-time [height, width] int vector
            hw = (None, None)
        else:                            # a tensor shaped like the input
            hw = tuple(specs[2][0][1:3])
        oc = kd[3] if kind == "conv" else (None if kd[2] is None or kd[3] is None else kd[2] * kd[3])
        if dd[3] is not None and oc is not None and dd[3] != oc:
            raise _err(name, "out_backprop has %d channels but the filters %s give %d"
                       % (dd[3], _shape_str(kd), oc))
        oh, ow = _out_hw(name, hw, kd[:2], strides, padding, dilations)
        for axis, want, got in (("height", oh, dd[1]), ("width", ow, dd[2])):
            if want is not None and got is not None and want != got:
                raise _err(name, "out_backprop %s is %d but a convolution of an input of size %s gives %d "
                           "(input size %s, filters %s, strides %s, padding %r)"
                           % (axis, got, _shape_str(hw), want, _shape_str(hw), _shape_str(kd), strides, padding))
        return (dd[0],) + hw + (kd[2],), dt
    return infer


def _conv_bf_infer(name, kind):
    def infer(specs, kernel_hw, strides, padding, dilations):
        (xd, xt), (dd, dt) = specs
        _check_rank(name, "input", xd, 4, _CONV_X)
        _check_rank(name, "out_backprop", dd, 4, "[batch, out_height, out_width, out_channels]")
        _check_float(name, specs, ("input", "out_backprop"))
        oh, ow = _out_hw(name, xd[1:3], kernel_hw, strides, padding, dilations)
        if kind == "conv":
            last = dd[3]
        else:
            last = None if dd[3] is None or xd[3] is None else dd[3] // xd[3]
        return tuple(kernel_hw) + (xd[3], last), xt
    return infer


def _input_shape(dy, k, refs, input_hw):
    """(N, H, W, C) of the convolution input: H, W from the attribute, else from the extra
    input (a tensor shaped like the input, or an int vector [H, W] computed at run time)."""
    if input_hw is not None:
        h, w = input_hw
    elif refs[0].ndim == 1:
        h, w = (int(v) for v in refs[0].tolist())
    else:
        h, w = refs[0].shape[1:3]
    return (dy.shape[0], h, w, k.shape[2])


@op("conv2d_backprop_input", infer=_conv_bi_infer("conv2d_backprop_input", "conv"))
def _conv2d_bi(xp, dy, k, *ref, input_hw, strides, padding, dilations):
    out = _K.conv2d_backward_input(_up(dy), _up(k), _input_shape(dy, k, ref, input_hw), strides, padding,
                                   dilations, impl=_IMPL["impl"])
    return _down(out, dy.dtype)


@op("conv2d_backprop_filter", infer=_conv_bf_infer("conv2d_backprop_filter", "conv"))
def _conv2d_bf(xp, x, dy, *, kernel_hw, strides, padding, dilations):
    kshape = tuple(kernel_hw) + (x.shape[3], dy.shape[3])
    out = _K.conv2d_backward_filter(_up(dy), _up(x), kshape, strides, padding, dilations, impl=_IMPL["impl"])
    return _down(out, x.dtype)


def _geom(attrs):
    return {"strides": attrs["strides"], "padding": attrs["padding"], "dilations": attrs["dilations"]}


def _kernel_hw(opname, k):
    kd = A._dims(k)
    if kd[0] is None or kd[1] is None:
        raise _err(opname, "the filter height and width must be known to differentiate, got filters shape %s"
                   % _shape_str(kd))
    return (int(kd[0]), int(kd[1]))


def _bi_call(bi_op, dy, k, x, attrs):
    """backprop_input with x's spatial size (static if known, else read from x at run time)."""
    hw = tuple(A._dims(x)[1:3])
    geo = _geom(attrs)
    if None in hw:
        return apply(bi_op, (dy, k, x), dict(geo, input_hw=None))
    return apply(bi_op, (dy, k), dict(geo, input_hw=(int(hw[0]), int(hw[1]))))


@_conv2d.def_grad
def _conv2d_grad(c, g):
    x, k = c.inputs
    # The first layer's input gradient (w.r.t. the images) is skipped when nothing needs it.
    return [_bi_call(_conv2d_bi, g, k, x, c.attrs) if c.needs(0) else None,
            apply(_conv2d_bf, (x, g), dict(_geom(c.attrs), kernel_hw=_kernel_hw("conv2d", k))) if c.needs(1) else None]


@_conv2d_bi.def_grad
def _conv2d_bi_grad(c, g):
    dy, k = c.inputs[0], c.inputs[1]
    geo = _geom(c.attrs)
    return [apply(_conv2d, (g, k), geo),
            apply(_conv2d_bf, (g, dy), dict(geo, kernel_hw=_kernel_hw("conv2d_backprop_input", k)))] + \
        [None] * (len(c.inputs) - 2)


@_conv2d_bf.def_grad
def _conv2d_bf_grad(c, g):
    x, dy = c.inputs
    geo = _geom(c.attrs)
    return [_bi_call(_conv2d_bi, dy, g, x, geo), apply(_conv2d, (x, g), geo)]


# ---------------------------------------------------------------------------------------
# conv2d + bias + activation in one op (Keras Conv2D's forward pass)
# ---------------------------------------------------------------------------------------
def _conv2d_ba_infer(specs, strides, padding, dilations, activation):
    out, dt = _conv2d_infer(specs[:2], strides, padding, dilations)
    bd, bt = specs[2]
    if bt is not dt:
        raise _err("conv2d_bias_act", "bias dtype %s differs from the input's %s" % (bt.name, dt.name))
    if bd is not None and (len(bd) != 1 or (bd[0] is not None and out[3] is not None and bd[0] != out[3])):
        raise _err("conv2d_bias_act", "bias must have shape [%s], got %s" % (out[3], _shape_str(bd)))
    return out, dt


@op("conv2d_bias_act", infer=_conv2d_ba_infer)
def _conv2d_ba(xp, x, k, b, *, strides, padding, dilations, activation):
    out = _K.conv2d_bias_act(_up(x), _up(k), _up(b), strides, padding, dilations, activation, impl=_IMPL["impl"])
    return _down(out, x.dtype)


def _bias_act_grad_infer(specs, activation):
    (gd, gt), _ = specs
    return [(gd, gt), ((None,) if gd is None else (gd[-1],), gt)]


@op("bias_act_grad", infer=_bias_act_grad_infer, num_outputs=2)
def _bias_act_grad(xp, g, y, *, activation):
    # (g * relu'(z), its sum over all axes but the last) in one pass
    gz, db = _K.bias_act_backward(_up(g), _up(y), activation, impl=_IMPL["impl"])
    return _down(gz, g.dtype), _down(db, g.dtype)


@_bias_act_grad.def_grad
def _bias_act_grad_grad(c, g_gz, g_db=None):
    # Both results are linear in g with the fixed mask relu'(z); nothing flows to y.
    g, y = c.inputs
    total = g_gz
    if g_db is not None:
        spread = A.broadcast_to(g_db, A.shape(g))
        total = spread if total is None else total + spread
    if total is not None and c.attrs["activation"] == "relu":
        total = total * A.cast(M.greater(y, 0), total.dtype)
    return [total, None]


@_conv2d_ba.def_grad
def _conv2d_ba_grad(c, g):
    x, k, _ = c.inputs
    # relu'(z) is read from the output (z > 0 exactly where y > 0); the gradient before
    # the activation and the bias gradient come from one pass
    g, db = apply(_bias_act_grad, (g, c.out), {"activation": c.attrs["activation"]})
    geo = _geom(c.attrs)
    return [_bi_call(_conv2d_bi, g, k, x, geo) if c.needs(0) else None,
            apply(_conv2d_bf, (x, g), dict(geo, kernel_hw=_kernel_hw("conv2d", k))) if c.needs(1) else None,
            db if c.needs(2) else None]


def conv2d_bias_act(input, filters, bias, strides=1, padding="VALID", dilations=None, activation="linear"):  # noqa: A002
    """`activation(conv2d(input, filters) + bias)` as one op (NHWC), the forward pass of
    `keras.layers.Conv2D`: on CPUs with AVX-512 or AVX2 the bias and the activation are applied
    inside the float32 convolution kernel (no extra passes over the output).

    Args:
      input: `[batch, height, width, channels]` float tensor.
      filters: `[height, width, in_channels, out_channels]`.
      bias: `[out_channels]`.
      strides, padding, dilations: as for `conv2d` (NHWC forms).
      activation: `'linear'` or `'relu'`.

    Returns:
      `[batch, out_height, out_width, out_channels]`.

    Raises:
      InvalidArgumentError: as `conv2d`, or a bias of the wrong shape or dtype.
      ValueError: an activation other than 'linear' or 'relu'.
    """
    if activation not in ("linear", "relu"):
        raise ValueError("conv2d_bias_act: activation must be 'linear' or 'relu', got %r" % (activation,))
    x, k = _conv_args("conv2d_bias_act", input, filters)
    b = _like(bias, x)
    attrs = {"strides": _spatial("conv2d", "strides", strides, 2, False),
             "padding": _padding("conv2d", padding, 2, False),
             "dilations": _spatial("conv2d", "dilations", dilations, 2, False),
             "activation": activation}
    return apply(_conv2d_ba, (x, k, b), attrs)


# ---------------------------------------------------------------------------------------
# depthwise_conv2d and its backward ops
# ---------------------------------------------------------------------------------------
_DW_K = "[height, width, in_channels, channel_multiplier]"


def _dw_infer(specs, strides, padding, dilations):
    (xd, xt), (kd, kt) = specs
    name = "depthwise_conv2d"
    _check_rank(name, "input", xd, 4, _CONV_X)
    _check_rank(name, "filter", kd, 4, _DW_K)
    _check_float(name, specs, ("input", "filter"))
    if xd[3] is not None and kd[2] is not None and xd[3] != kd[2]:
        raise _err(name, "the input has %d channels but the filter expects %d (input shape %s, filter shape %s = %s)"
                   % (xd[3], kd[2], _shape_str(xd), _shape_str(kd), _DW_K))
    oh, ow = _out_hw(name, xd[1:3], kd[:2], strides, padding, dilations)
    c = kd[2] if kd[2] is not None else xd[3]
    oc = None if c is None or kd[3] is None else c * kd[3]
    return (xd[0], oh, ow, oc), xt


@op("depthwise_conv2d", infer=_dw_infer)
def _dw(xp, x, k, *, strides, padding, dilations):
    out = _K.depthwise_conv2d_forward(_up(x), _up(k), strides, padding, dilations, impl=_IMPL["impl"])
    return _down(out, x.dtype)


@op("depthwise_conv2d_backprop_input", infer=_conv_bi_infer("depthwise_conv2d_backprop_input", "depthwise"))
def _dw_bi(xp, dy, k, *ref, input_hw, strides, padding, dilations):
    out = _K.depthwise_conv2d_backward_input(_up(dy), _up(k), _input_shape(dy, k, ref, input_hw), strides,
                                             padding, dilations, impl=_IMPL["impl"])
    return _down(out, dy.dtype)


@op("depthwise_conv2d_backprop_filter", infer=_conv_bf_infer("depthwise_conv2d_backprop_filter", "depthwise"))
def _dw_bf(xp, x, dy, *, kernel_hw, strides, padding, dilations):
    c = x.shape[3]
    kshape = tuple(kernel_hw) + (c, dy.shape[3] // c)
    out = _K.depthwise_conv2d_backward_filter(_up(dy), _up(x), kshape, strides, padding, dilations,
                                              impl=_IMPL["impl"])
    return _down(out, x.dtype)


@_dw.def_grad
def _dw_grad(c, g):
    x, k = c.inputs
    return [_bi_call(_dw_bi, g, k, x, c.attrs),
            apply(_dw_bf, (x, g), dict(_geom(c.attrs), kernel_hw=_kernel_hw("depthwise_conv2d", k)))]


@_dw_bi.def_grad
def _dw_bi_grad(c, g):
    dy, k = c.inputs[0], c.inputs[1]
    geo = _geom(c.attrs)
    return [apply(_dw, (g, k), geo),
            apply(_dw_bf, (g, dy), dict(geo, kernel_hw=_kernel_hw("depthwise_conv2d_backprop_input", k)))] + \
        [None] * (len(c.inputs) - 2)


@_dw_bf.def_grad
def _dw_bf_grad(c, g):
    x, dy = c.inputs
    geo = _geom(c.attrs)
    return [_bi_call(_dw_bi, dy, g, x, geo), apply(_dw, (x, g), geo)]


# ---------------------------------------------------------------------------------------
# Public convolution functions
# ---------------------------------------------------------------------------------------
def _conv_args(opname, x, filters):
    x = _t(x)
    k = _like(filters, x)
    return x, k


def conv2d(input, filters, strides=1, padding="VALID", data_format="NHWC", dilations=None, name=None):  # noqa: A002
    """2-D convolution (cross-correlation), as `tf.nn.conv2d`.

    Args:
      input: `[batch, height, width, channels]` (or `[batch, channels, height, width]`
        with `data_format='NCHW'`), float.
      filters: `[height, width, in_channels, out_channels]`.
      strides: an int or a list of 1, 2 or 4 ints (batch and channel entries must be 1).
      padding: `'VALID'`, `'SAME'` or explicit `[[0, 0], [top, bottom], [left, right], [0, 0]]`.
      data_format: `'NHWC'` (default) or `'NCHW'`.
      dilations: an int or a list of 1, 2 or 4 ints (default 1).

    Returns:
      `[batch, out_height, out_width, out_channels]` (NCHW order for `'NCHW'`).

    Raises:
      InvalidArgumentError: wrong ranks, a channel mismatch, non-float inputs or a window
        larger than a VALID input.
    """
    x, k = _conv_args("conv2d", input, filters)
    cf = _data_format("conv2d", data_format, 4)
    attrs = {"strides": _spatial("conv2d", "strides", strides, 2, cf),
             "padding": _padding("conv2d", padding, 2, cf),
             "dilations": _spatial("conv2d", "dilations", dilations, 2, cf)}
    if cf:
        _check_rank("conv2d", "input", A._dims(x), 4, "[batch, channels, height, width]")
        return _nhwc_to_nchw(apply(_conv2d, (_nchw_to_nhwc(x), k), attrs))
    return apply(_conv2d, (x, k), attrs)


def _expand_1d(x, cf):
    """[N, W, C] (or [N, C, W]) -> NHWC [N, 1, W, C]."""
    if cf:
        x = A.transpose(x, [0, 2, 1])
    return A.expand_dims(x, 1)


def _squeeze_1d(y, cf):
    y = A.squeeze(y, [1])
    return A.transpose(y, [0, 2, 1]) if cf else y


def _pad_1d(opname, padding, cf):
    p = _padding(opname, padding, 1, cf)
    return p if isinstance(p, str) else (0, 0) + p


def conv1d(input, filters, stride=1, padding="VALID", data_format="NWC", dilations=None, name=None):  # noqa: A002
    """1-D convolution, as `tf.nn.conv1d`: `input [batch, width, channels]`,
    `filters [width, in_channels, out_channels]`; computed as a conv2d of height 1.

    Args:
      stride: an int or a list of 1 or 3 ints.
      padding: `'VALID'`, `'SAME'` or explicit `[[0, 0], [left, right], [0, 0]]`.
      data_format: `'NWC'` (default) or `'NCW'`.
      dilations: an int or a list of 1 or 3 ints.
    """
    opname = "conv1d"
    x, k = _conv_args(opname, input, filters)
    cf = _data_format(opname, data_format, 3)
    _check_rank(opname, "input", A._dims(x), 3, "[batch, channels, width]" if cf else "[batch, width, channels]")
    _check_rank(opname, "filters", A._dims(k), 3, "[width, in_channels, out_channels]")
    s = _spatial(opname, "stride", stride, 1, cf)
    d = _spatial(opname, "dilations", dilations, 1, cf)
    attrs = {"strides": (1,) + s, "padding": _pad_1d(opname, padding, cf), "dilations": (1,) + d}
    y = apply(_conv2d, (_expand_1d(x, cf), A.expand_dims(k, 0)), attrs)
    return _squeeze_1d(y, cf)


def convolution(input, filters, strides=None, padding="VALID", data_format=None, dilations=None, name=None):  # noqa: A002
    """N-D convolution for N = 1 or 2 (`tf.nn.convolution`), chosen by the input's rank."""
    x = _t(input)
    r = len(A._dims(x))
    if r == 3:
        return conv1d(x, filters, 1 if strides is None else strides, padding,
                      data_format or "NWC", dilations)
    if r == 4:
        return conv2d(x, filters, 1 if strides is None else strides, padding, data_format or "NHWC", dilations)
    raise _err("convolution", "input must be 3-D or 4-D (1-D or 2-D convolution), got shape %s" % (x.shape,))


def _output_hw(opname, output_shape, cf, x, k_in):
    shp = _to_list(output_shape)
    try:
        shp = [int(v) for v in shp]
    except (TypeError, ValueError):
        raise _err(opname, "output_shape must be a list of ints, got %r" % (output_shape,)) from None
    if len(shp) == 2:
        return tuple(shp)
    if len(shp) != 4:
        raise _err(opname, "output_shape must have 4 entries [batch, height, width, channels] (or 2 spatial "
                   "sizes), got %r" % (output_shape,))
    n, c = (shp[0], shp[1]) if cf else (shp[0], shp[3])
    hw = tuple(shp[2:]) if cf else tuple(shp[1:3])
    xd = A._dims(x)
    if xd[0] is not None and n != xd[0]:
        raise _err(opname, "output_shape batch %d differs from the input batch %d" % (n, xd[0]))
    if k_in is not None and c != k_in:
        raise _err(opname, "output_shape has %d channels but the filters [height, width, output_channels, "
                   "in_channels] give %d" % (c, k_in))
    return hw


def conv2d_transpose(input, filters, output_shape, strides, padding="SAME", data_format="NHWC",  # noqa: A002
                     dilations=None, name=None):
    """Transposed 2-D convolution (the gradient of conv2d w.r.t. its input), as
    `tf.nn.conv2d_transpose`.

    Args:
      input: `[batch, height, width, in_channels]`.
      filters: `[height, width, output_channels, in_channels]`.
      output_shape: `[batch, out_height, out_width, output_channels]`: a conv2d with the
        same strides/padding maps this shape back to the input's.
      strides, padding, data_format, dilations: as for `conv2d`.
    """
    opname = "conv2d_transpose"
    x, k = _conv_args(opname, input, filters)
    cf = _data_format(opname, data_format, 4)
    _check_rank(opname, "filters", A._dims(k), 4, "[height, width, output_channels, in_channels]")
    attrs = {"strides": _spatial(opname, "strides", strides, 2, cf), "padding": _padding(opname, padding, 2, cf),
             "dilations": _spatial(opname, "dilations", dilations, 2, cf)}
    ins = (_nchw_to_nhwc(x) if cf else x, k)
    if _is_dynamic(output_shape):
        # A run-time output shape (e.g. computed from gf.shape of a traced tensor).
        shp = A.cast(_t(output_shape) if not isinstance(output_shape, (list, tuple)) else
                     A.stack([A.cast(_t(v), _dt.int32) for v in output_shape]), _dt.int32)
        n = len(A._dims(shp)) and A._dims(shp)[0]
        hw_vec = shp if n == 2 else (shp[2:4] if cf else shp[1:3])
        y = apply(_conv2d_bi, ins + (hw_vec,), dict(attrs, input_hw=None))
    else:
        y = apply(_conv2d_bi, ins, dict(attrs, input_hw=_output_hw(opname, output_shape, cf, x, A._dims(k)[2])))
    return _nhwc_to_nchw(y) if cf else y


def _is_dynamic(value):
    if isinstance(value, Tensor):
        return value._value is None
    if isinstance(value, (list, tuple)):
        return any(isinstance(v, Tensor) and v._value is None for v in value)
    return False


def conv1d_transpose(input, filters, output_shape, strides, padding="SAME", data_format="NWC",  # noqa: A002
                     dilations=None, name=None):
    """Transposed 1-D convolution, as `tf.nn.conv1d_transpose`: filters
    `[width, output_channels, in_channels]`, output_shape `[batch, out_width, output_channels]`."""
    opname = "conv1d_transpose"
    x, k = _conv_args(opname, input, filters)
    cf = _data_format(opname, data_format, 3)
    shp = [int(v) for v in _to_list(output_shape)]
    if len(shp) != 3:
        raise _err(opname, "output_shape must have 3 entries [batch, width, channels], got %r" % (output_shape,))
    w = shp[2] if cf else shp[1]
    attrs = {"strides": (1,) + _spatial(opname, "strides", strides, 1, cf),
             "padding": _pad_1d(opname, padding, cf),
             "dilations": (1,) + _spatial(opname, "dilations", dilations, 1, cf), "input_hw": (1, w)}
    y = apply(_conv2d_bi, (_expand_1d(x, cf), A.expand_dims(k, 0)), attrs)
    return _squeeze_1d(y, cf)


def conv2d_backprop_input(input_sizes, filters, out_backprop, strides, padding, data_format="NHWC",
                          dilations=None, name=None):
    """The gradient of `conv2d` w.r.t. its input (`tf.compat.v1.nn.conv2d_backprop_input`)."""
    return conv2d_transpose(out_backprop, filters, input_sizes, strides, padding, data_format, dilations)


def conv2d_backprop_filter(input, filter_sizes, out_backprop, strides, padding, data_format="NHWC",  # noqa: A002
                           dilations=None, name=None):
    """The gradient of `conv2d` w.r.t. its filters: `filter_sizes` is
    `[height, width, in_channels, out_channels]`."""
    opname = "conv2d_backprop_filter"
    x = _t(input)
    dy = _like(out_backprop, x)
    cf = _data_format(opname, data_format, 4)
    fs = [int(v) for v in _to_list(filter_sizes)]
    if len(fs) != 4:
        raise _err(opname, "filter_sizes must have 4 entries, got %r" % (filter_sizes,))
    attrs = {"strides": _spatial(opname, "strides", strides, 2, cf), "padding": _padding(opname, padding, 2, cf),
             "dilations": _spatial(opname, "dilations", dilations, 2, cf), "kernel_hw": tuple(fs[:2])}
    if cf:
        x, dy = _nchw_to_nhwc(x), _nchw_to_nhwc(dy)
    return apply(_conv2d_bf, (x, dy), attrs)


def depthwise_conv2d(input, filter, strides=1, padding="VALID", data_format=None, dilations=None,  # noqa: A002
                     name=None):
    """Depthwise 2-D convolution, as `tf.nn.depthwise_conv2d`: each input channel `c` is
    convolved with `filter[:, :, c, :]`, giving output channels `c * multiplier + m`.

    Args:
      input: `[batch, height, width, in_channels]` (NHWC) or NCHW.
      filter: `[height, width, in_channels, channel_multiplier]`.
      strides, padding, dilations: as for `conv2d`.
    """
    opname = "depthwise_conv2d"
    x, k = _conv_args(opname, input, filter)
    cf = _data_format(opname, data_format, 4)
    attrs = {"strides": _spatial(opname, "strides", strides, 2, cf),
             "padding": _padding(opname, padding, 2, cf),
             "dilations": _spatial(opname, "dilations", dilations, 2, cf)}
    if cf:
        _check_rank(opname, "input", A._dims(x), 4, "[batch, channels, height, width]")
        return _nhwc_to_nchw(apply(_dw, (_nchw_to_nhwc(x), k), attrs))
    return apply(_dw, (x, k), attrs)


def depthwise_conv2d_backprop_input(input_sizes, filter, out_backprop, strides, padding,  # noqa: A002
                                    data_format="NHWC", dilations=None, name=None):
    """The gradient of `depthwise_conv2d` w.r.t. its input."""
    opname = "depthwise_conv2d_backprop_input"
    dy = _t(out_backprop)
    k = _like(filter, dy)
    cf = _data_format(opname, data_format, 4)
    hw = _output_hw(opname, input_sizes, cf, dy, A._dims(k)[2])
    attrs = {"strides": _spatial(opname, "strides", strides, 2, cf), "padding": _padding(opname, padding, 2, cf),
             "dilations": _spatial(opname, "dilations", dilations, 2, cf), "input_hw": hw}
    if cf:
        return _nhwc_to_nchw(apply(_dw_bi, (_nchw_to_nhwc(dy), k), attrs))
    return apply(_dw_bi, (dy, k), attrs)


def depthwise_conv2d_backprop_filter(input, filter_sizes, out_backprop, strides, padding,  # noqa: A002
                                     data_format="NHWC", dilations=None, name=None):
    """The gradient of `depthwise_conv2d` w.r.t. its filter."""
    opname = "depthwise_conv2d_backprop_filter"
    x = _t(input)
    dy = _like(out_backprop, x)
    cf = _data_format(opname, data_format, 4)
    fs = [int(v) for v in _to_list(filter_sizes)]
    if len(fs) != 4:
        raise _err(opname, "filter_sizes must have 4 entries, got %r" % (filter_sizes,))
    attrs = {"strides": _spatial(opname, "strides", strides, 2, cf), "padding": _padding(opname, padding, 2, cf),
             "dilations": _spatial(opname, "dilations", dilations, 2, cf), "kernel_hw": tuple(fs[:2])}
    if cf:
        x, dy = _nchw_to_nhwc(x), _nchw_to_nhwc(dy)
    return apply(_dw_bf, (x, dy), attrs)


def separable_conv2d(input, depthwise_filter, pointwise_filter, strides=1, padding="VALID",  # noqa: A002
                     data_format=None, dilations=None, name=None):
    """Depthwise convolution followed by a 1x1 convolution, as `tf.nn.separable_conv2d`.

    Args:
      depthwise_filter: `[height, width, in_channels, channel_multiplier]`.
      pointwise_filter: `[1, 1, in_channels * channel_multiplier, out_channels]`.
    """
    opname = "separable_conv2d"
    x = _t(input)
    pk = _like(pointwise_filter, x)
    pd = A._dims(pk)
    _check_rank(opname, "pointwise_filter", pd, 4, "[1, 1, in_channels * channel_multiplier, out_channels]")
    if pd[0] not in (1, None) or pd[1] not in (1, None):
        raise _err(opname, "pointwise_filter must be 1x1 in its spatial dimensions, got shape %s" % _shape_str(pd))
    cf = _data_format(opname, data_format, 4)
    h = depthwise_conv2d(x, depthwise_filter, strides, padding, "NCHW" if cf else "NHWC", dilations)
    return conv2d(h, pk, 1, "VALID", "NCHW" if cf else "NHWC")


# ---------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------
def _pool_infer(name):
    def infer(specs, ksize, strides, padding):
        xd, xt = specs[0]
        _check_rank(name, "input", xd, 4, _CONV_X)
        if not xt.is_floating:
            raise _err(name, "input must be a floating point tensor, got %s" % xt.name)
        oh, ow = _out_hw(name, xd[1:3], ksize, strides, padding, (1, 1))
        return (xd[0], oh, ow, xd[3]), xt
    return infer


def _max_pool_infer(specs, ksize, strides, padding):
    out = _pool_infer("max_pool")(specs, ksize, strides, padding)
    return [out, (out[0], _dt.int64)]


@op("max_pool", infer=_max_pool_infer, num_outputs=2)
def _max_pool(xp, x, *, ksize, strides, padding):
    y, argmax = _K.max_pool2d_forward(_up(x), ksize, strides, padding, impl=_IMPL["impl"])
    return _down(y, x.dtype), argmax


@op("max_pool_grad", infer=lambda specs, **a: (specs[2][0], specs[0][1]))
def _max_pool_grad(xp, dy, argmax, ref):
    out = _K.max_pool2d_backward(_up(dy), argmax, ref.shape, impl=_IMPL["impl"])
    return _down(out, dy.dtype)


@op("max_pool_grad_grad", infer=lambda specs: (specs[1][0], specs[0][1]))
def _max_pool_gg(xp, g, argmax):
    # The adjoint of the scatter: reads g at each window's argmax.
    return xp.take(g.reshape(-1), argmax)


@_max_pool.def_grad
def _max_pool_grad_rule(c, g, g_argmax=None):
    if g is None:
        return [None]
    return [apply(_max_pool_grad, (g, c.outputs[1], c.inputs[0]))]


_max_pool_grad.def_grad(lambda c, g: [apply(_max_pool_gg, (g, c.inputs[1])), None, None])
_max_pool_gg.def_grad(lambda c, g: [apply(_max_pool_grad, (g, c.inputs[1], c.inputs[0])), None])


@op("avg_pool", infer=_pool_infer("avg_pool"))
def _avg_pool(xp, x, *, ksize, strides, padding):
    out = _K.avg_pool2d_forward(_up(x), ksize, strides, padding, impl=_IMPL["impl"])
    return _down(out, x.dtype)


@op("avg_pool_grad", infer=lambda specs, **a: (specs[1][0], specs[0][1]))
def _avg_pool_grad(xp, dy, ref, *, ksize, strides, padding):
    out = _K.avg_pool2d_backward(_up(dy), ref.shape, ksize, strides, padding, impl=_IMPL["impl"])
    return _down(out, dy.dtype)


_avg_pool.def_grad(lambda c, g: [apply(_avg_pool_grad, (g, c.inputs[0]), c.attrs)])
_avg_pool_grad.def_grad(lambda c, g: [apply(_avg_pool, (g,), c.attrs), None])


def _pool_attrs(opname, ksize, strides, padding, n, cf, explicit):
    k = _spatial(opname, "ksize", ksize, n, cf)
    s = _spatial(opname, "strides", k if strides is None else strides, n, cf)
    p = _padding(opname, padding, n, cf, explicit=explicit)
    if not isinstance(p, str):
        if any(v >= k[i // 2] for i, v in enumerate(p)):
            raise _err(opname, "explicit padding %r must be smaller than the pool size %r" % (padding, k))
    return k, s, p


def _pool2d(opname, kind, input, ksize, strides, padding, data_format):  # noqa: A002
    x = _t(input)
    cf = _data_format(opname, data_format, 4)
    k, s, p = _pool_attrs(opname, ksize, strides, padding, 2, cf, explicit=(kind == "max"))
    attrs = {"ksize": k, "strides": s, "padding": p}
    _check_rank(opname, "input", A._dims(x), 4, "[batch, channels, height, width]" if cf else _CONV_X)
    if cf:
        x = _nchw_to_nhwc(x)
    y = apply(_max_pool, (x,), attrs)[0] if kind == "max" else apply(_avg_pool, (x,), attrs)
    return _nhwc_to_nchw(y) if cf else y


def _pool1d(opname, kind, input, ksize, strides, padding, data_format):  # noqa: A002
    x = _t(input)
    cf = _data_format(opname, data_format, 3)
    _check_rank(opname, "input", A._dims(x), 3, "[batch, channels, width]" if cf else "[batch, width, channels]")
    k, s, p = _pool_attrs(opname, ksize, strides, padding, 1, cf, explicit=(kind == "max"))
    attrs = {"ksize": (1,) + k, "strides": (1,) + s, "padding": p if isinstance(p, str) else (0, 0) + p}
    x4 = _expand_1d(x, cf)
    y = apply(_max_pool, (x4,), attrs)[0] if kind == "max" else apply(_avg_pool, (x4,), attrs)
    return _squeeze_1d(y, cf)


def max_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):  # noqa: A002
    """2-D max pooling, as `tf.nn.max_pool2d`.

    Args:
      input: `[batch, height, width, channels]` (or NCHW with `data_format='NCHW'`).
      ksize: an int or a list of 1, 2 or 4 ints.
      strides: an int or a list of 1, 2 or 4 ints.
      padding: `'VALID'`, `'SAME'` or explicit pads smaller than the window (padding is
        never selected).

    The gradient goes to the first maximum of each window (row-major), as in TF.
    """
    return _pool2d("max_pool2d", "max", input, ksize, strides, padding, data_format)


def avg_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):  # noqa: A002
    """2-D average pooling, as `tf.nn.avg_pool2d`; with `'SAME'` padding each output is the
    mean over the window's non-padding elements (as TF)."""
    return _pool2d("avg_pool2d", "avg", input, ksize, strides, padding, data_format)


def max_pool1d(input, ksize, strides, padding, data_format="NWC", name=None):  # noqa: A002
    """1-D max pooling of `[batch, width, channels]`, as `tf.nn.max_pool1d`."""
    return _pool1d("max_pool1d", "max", input, ksize, strides, padding, data_format)


def avg_pool1d(input, ksize, strides, padding, data_format="NWC", name=None):  # noqa: A002
    """1-D average pooling of `[batch, width, channels]`, as `tf.nn.avg_pool1d`."""
    return _pool1d("avg_pool1d", "avg", input, ksize, strides, padding, data_format)


def _pool_nd(opname, kind, input, ksize, strides, padding, data_format):  # noqa: A002
    x = _t(input)
    r = len(A._dims(x))
    if r == 3:
        return _pool1d(opname, kind, x, ksize, strides, padding, data_format or "NWC")
    if r == 4:
        return _pool2d(opname, kind, x, ksize, strides, padding, data_format or "NHWC")
    raise _err(opname, "input must be 3-D (1-D pooling) or 4-D (2-D pooling), got shape %s" % (x.shape,))


def max_pool(input, ksize, strides, padding, data_format=None, name=None):  # noqa: A002
    """Max pooling of a 3-D (1-D pooling) or 4-D (2-D pooling) input, as `tf.nn.max_pool`."""
    return _pool_nd("max_pool", "max", input, ksize, strides, padding, data_format)


def avg_pool(input, ksize, strides, padding, data_format=None, name=None):  # noqa: A002
    """Average pooling of a 3-D or 4-D input, as `tf.nn.avg_pool`."""
    return _pool_nd("avg_pool", "avg", input, ksize, strides, padding, data_format)


def max_pool_with_argmax(input, ksize, strides, padding, data_format="NHWC", output_argmax_type=None,  # noqa: A002
                         include_batch_in_index=False, name=None):
    """2-D max pooling that also returns the flat index of each maximum, as
    `tf.nn.max_pool_with_argmax` (int64 indices; `include_batch_in_index=False` gives
    `(y * width + x) * channels + c`, True adds the batch offset)."""
    opname = "max_pool_with_argmax"
    x = _t(input)
    if _data_format(opname, data_format, 4):
        raise _err(opname, "only data_format='NHWC' is supported (as in TensorFlow), got %r" % (data_format,))
    k, s, p = _pool_attrs(opname, ksize, strides, padding, 2, False, explicit=False)
    y, am = apply(_max_pool, (x,), {"ksize": k, "strides": s, "padding": p})
    if not include_batch_in_index:
        xd = A._dims(x)
        per = A.cast(A.size(x), _dt.int64) // A.cast(A.shape(x)[0], _dt.int64) if None in xd[1:] \
            else xd[1] * xd[2] * xd[3]
        am = M.floormod(am, per)
    if output_argmax_type is not None:
        am = A.cast(am, output_argmax_type)
    return y, am


# ---------------------------------------------------------------------------------------
# Normalization: batch norm (statistics over all axes but the last) and layer norm (over
# the last axis), forward and backward in the kernels.
# ---------------------------------------------------------------------------------------
def _norm_infer(name, batch):
    def infer(specs, epsilon):
        (xd, xt), (gd, gt), (bd, bt) = specs
        _check_float(name, specs, ("x", "scale", "offset"))
        if len(xd) < (2 if batch else 1):
            raise _err(name, "x must have rank >= %d, got shape %s" % (2 if batch else 1, _shape_str(xd)))
        c = xd[-1]
        for nm, d in (("scale", gd), ("offset", bd)):
            if len(d) != 1 or (c is not None and d[0] is not None and d[0] != c):
                raise _err(name, "%s must have shape (%s,) (the last axis of x %s), got %s"
                           % (nm, c, _shape_str(xd), _shape_str(d)))
        stat = (c,) if batch else tuple(xd[:-1])
        return [(tuple(xd), xt), (stat, xt), (stat, xt)]
    return infer


@op("fused_batch_norm", infer=_norm_infer("fused_batch_norm", True), num_outputs=3)
def _bn(xp, x, gamma, beta, *, epsilon):
    y, mean, var = _K.batch_norm_forward(_up(x), _up(gamma), _up(beta), epsilon, impl=_IMPL["impl"])
    return _down(y, x.dtype), _down(mean, x.dtype), _down(var, x.dtype)


def _norm_grad_infer(name):
    def infer(specs, epsilon):
        return [specs[1], specs[2], specs[2]]
    return infer


@op("fused_batch_norm_grad", infer=_norm_grad_infer("fused_batch_norm_grad"), num_outputs=3)
def _bn_grad(xp, dy, x, gamma, mean, var, *, epsilon):
    dt = x.dtype
    dx, dg, db = _K.batch_norm_backward(_up(dy), _up(x), _up(gamma), _up(mean), _up(var), epsilon,
                                        impl=_IMPL["impl"])
    return _down(dx, dt), _down(dg, dt), _down(db, dt)


@op("fused_layer_norm", infer=_norm_infer("fused_layer_norm", False), num_outputs=3)
def _ln(xp, x, gamma, beta, *, epsilon):
    y, mean, var = _K.layer_norm_forward(_up(x), _up(gamma), _up(beta), epsilon, impl=_IMPL["impl"])
    return _down(y, x.dtype), _down(mean, x.dtype), _down(var, x.dtype)


@op("fused_layer_norm_grad", infer=_norm_grad_infer("fused_layer_norm_grad"), num_outputs=3)
def _ln_grad(xp, dy, x, gamma, mean, var, *, epsilon):
    dt = x.dtype
    dx, dg, db = _K.layer_norm_backward(_up(dy), _up(x), _up(gamma), _up(mean), _up(var), epsilon,
                                        impl=_IMPL["impl"])
    return _down(dx, dt), _down(dg, dt), _down(db, dt)


def _lead_axes(x):
    return list(range(len(A._dims(x)) - 1))


def _count(x, axes):
    """The number of elements reduced over `axes` of x, as a Python float or a scalar tensor."""
    dims = A._dims(x)
    n = 1
    for a in axes:
        if dims[a] is None:
            shp = A.cast(A.shape(x), x.dtype)
            return M.reduce_prod(A.gather(shp, list(axes)))
        n *= dims[a]
    return float(n)


def _stat_grad_bn(c, g_mean, g_var):
    """Gradient reaching x through the batch mean and (biased) variance outputs."""
    x = c.inputs[0]
    mean = c.outputs[1]
    m = _count(x, _lead_axes(x))
    out = None
    if g_mean is not None:
        out = A.broadcast_like(g_mean / m, x)
    if g_var is not None:
        t = (x - mean) * (g_var * (2.0 / m) if isinstance(m, float) else g_var * 2.0 / m)
        out = t if out is None else out + t
    return out


def _stat_grad_ln(c, g_mean, g_var):
    x = c.inputs[0]
    mean = c.outputs[1]
    d = float(A._dims(x)[-1]) if A._dims(x)[-1] is not None else _count(x, [len(A._dims(x)) - 1])
    out = None
    if g_mean is not None:
        out = A.broadcast_like(A.expand_dims(g_mean / d, -1), x)
    if g_var is not None:
        t = (x - A.expand_dims(mean, -1)) * A.expand_dims(g_var * 2.0 / d, -1)
        out = t if out is None else out + t
    return out


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


@_bn.def_grad
def _bn_grad_rule(c, g_y, g_mean=None, g_var=None):
    x, gamma, beta = c.inputs
    dx = dg = db = None
    if g_y is not None:
        dx, dg, db = apply(_bn_grad, (g_y, x, gamma, c.outputs[1], c.outputs[2]), c.attrs)
    dx = _add(dx, _stat_grad_bn(c, g_mean, g_var))
    return [dx, dg, db]


@_ln.def_grad
def _ln_grad_rule(c, g_y, g_mean=None, g_var=None):
    x, gamma, beta = c.inputs
    dx = dg = db = None
    if g_y is not None:
        dx, dg, db = apply(_ln_grad, (g_y, x, gamma, c.outputs[1], c.outputs[2]), c.attrs)
    dx = _add(dx, _stat_grad_ln(c, g_mean, g_var))
    return [dx, dg, db]


def _zeros_if_none(g, ref):
    return A.zeros_like(ref) if g is None else g


@_bn_grad.def_grad
def _bn_grad_grad(c, gA, gBg=None, gBb=None):
    """VJP of the batch-norm backward formula in gpuflow ops, treating (dy, x, gamma,
    mean, var) as independent inputs (mean/var gradients flow on to the forward op's
    statistics outputs, whose rule adds their dependence on x).

    With r = rsqrt(var + eps), xh = (x - mean) r, m rows, per-channel sums S:
      dbeta = S dy, dgamma = S dy xh, dx = gamma r (dy - dbeta/m - xh dgamma/m).
    """
    dy, x, gamma, mean, var = c.inputs
    dx_out, dgamma, dbeta = c.outputs
    eps = c.attrs["epsilon"]
    axes = _lead_axes(x)
    m = _count(x, axes)
    A_ = _zeros_if_none(gA, x)
    Bg = _zeros_if_none(gBg, gamma)
    Bb = _zeros_if_none(gBb, gamma)
    r = M.rsqrt(var + eps)
    xh = (x - mean) * r
    s_a = M.reduce_sum(A_, axis=axes)
    s_axh = M.reduce_sum(A_ * xh, axis=axes)
    gr = gamma * r
    d_dy = gr * (A_ - s_a / m - xh * (s_axh / m)) + Bg * xh + Bb
    P = M.reduce_sum(A_ * dy, axis=axes) - dbeta * s_a / m - dgamma * s_axh / m
    d_gamma = r * P
    d_xh = -(gr / m) * (dy * s_axh + dgamma * A_) + Bg * dy
    d_x = d_xh * r
    s_dxh = M.reduce_sum(d_xh, axis=axes)
    d_mean = -r * s_dxh
    d_r = gamma * P + M.reduce_sum(d_xh * xh, axis=axes) / r
    d_var = d_r * (-0.5) * r * r * r
    return [d_dy, d_x, d_gamma, d_mean, d_var]


@_ln_grad.def_grad
def _ln_grad_grad(c, gA, gBg=None, gBb=None):
    """VJP of the layer-norm backward formula (per row r = rsqrt(var + eps), xh = (x -
    mean) r, g = dy gamma, D features, means M_f over the features):
      dx = r (g - M_f g - xh M_f(g xh)), dgamma = sum_rows dy xh, dbeta = sum_rows dy.
    """
    dy, x, gamma, mean, var = c.inputs
    eps = c.attrs["epsilon"]
    nd = len(A._dims(x))
    rows = list(range(nd - 1))
    d = float(A._dims(x)[-1]) if A._dims(x)[-1] is not None else _count(x, [nd - 1])
    A_ = _zeros_if_none(gA, x)
    Bg = _zeros_if_none(gBg, gamma)
    Bb = _zeros_if_none(gBb, gamma)
    r = A.expand_dims(M.rsqrt(var + eps), -1)
    xh = (x - A.expand_dims(mean, -1)) * r
    g = dy * gamma
    a1 = M.reduce_sum(A_, axis=-1, keepdims=True)
    a2 = M.reduce_sum(A_ * xh, axis=-1, keepdims=True)
    mg = M.reduce_sum(g, axis=-1, keepdims=True) / d
    mgx = M.reduce_sum(g * xh, axis=-1, keepdims=True) / d
    d_g = r * (A_ - a1 / d - xh * (a2 / d))
    d_dy = d_g * gamma + Bg * xh + Bb
    d_gamma = M.reduce_sum(dy * d_g, axis=rows)
    d_xh = -r * (mgx * A_ + a2 * g / d) + Bg * dy
    P = M.reduce_sum(A_ * g, axis=-1, keepdims=True) - mg * a1 - mgx * a2
    d_x = d_xh * r
    d_mean = A.squeeze(-r * M.reduce_sum(d_xh, axis=-1, keepdims=True), [-1])
    d_r = P + M.reduce_sum(d_xh * xh, axis=-1, keepdims=True) / r
    d_var = A.squeeze(d_r * (-0.5) * r * r * r, [-1])
    return [d_dy, d_x, d_gamma, d_mean, d_var]


def _norm_params(x, scale, offset, what):
    c = A._dims(x)[-1]
    if c is None:
        raise _err(what, "the normalized (last) axis of x must be known, got shape %s" % (x.shape,))
    g = A.ones([c], dtype=x.dtype) if scale is None else _like(scale, x)
    b = A.zeros([c], dtype=x.dtype) if offset is None else _like(offset, x)
    return g, b


def fused_batch_norm(x, scale=None, offset=None, epsilon=1e-3):
    """Training-mode batch normalization over every axis but the last (channels-last).

    Returns `(y, batch_mean, batch_variance)` (the biased variance, as Keras uses for its
    moving statistics). `scale`/`offset` of shape `[channels]` may be None (1 and 0).
    Differentiable w.r.t. x, scale and offset, to any order, including through the
    returned statistics.
    """
    x = _t(x)
    g, b = _norm_params(x, scale, offset, "fused_batch_norm")
    return apply(_bn, (x, g, b), {"epsilon": float(epsilon)})


def fused_layer_norm(x, scale=None, offset=None, epsilon=1e-3):
    """Layer normalization over the last axis: returns `(y, mean, variance)`, the
    statistics of shape `x.shape[:-1]`."""
    x = _t(x)
    g, b = _norm_params(x, scale, offset, "fused_layer_norm")
    return apply(_ln, (x, g, b), {"epsilon": float(epsilon)})


# ---------------------------------------------------------------------------------------
# Embedding: a row gather whose gradient is the scatter-add kernel
# ---------------------------------------------------------------------------------------
def _emb_infer(specs):
    (td, tt), (idd, it) = specs
    if len(td) != 2:
        raise _err("embedding", "the table must be 2-D [input_dim, output_dim], got shape %s" % _shape_str(td))
    if not it.is_integer:
        raise _err("embedding", "ids must be integers, got %s" % it.name)
    return tuple(idd) + (td[1],), tt


@op("embedding", infer=_emb_infer)
def _emb(xp, table, ids):
    n = table.shape[0]
    if ids.size:
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise errors.InvalidArgumentError(
                "embedding: id %d is out of range [0, %d): the table (input_dim) has %d rows; ids must be in "
                "[0, input_dim)" % (bad, n, n), op="embedding")
    return xp.take(table, ids, axis=0)


@op("embedding_grad", infer=lambda specs: (specs[2][0], specs[0][1]))
def _emb_grad(xp, g, ids, table):
    ids_ = ids if ids.dtype in (np.int32, np.int64) else ids.astype(np.int64)
    out = _K.embedding_grad(ids_, _up(g), table.shape[0], impl=_IMPL["impl"])
    return _down(out, g.dtype)


_emb.def_grad(lambda c, g: [apply(_emb_grad, (g, c.inputs[1], c.inputs[0])), None])
_emb_grad.def_grad(lambda c, g: [apply(_emb, (g, c.inputs[1])), None, None])


def embedding(table, ids):
    """`table[ids]` (rows of a `[input_dim, output_dim]` table); an id outside
    `[0, input_dim)` raises an error naming it. The gradient w.r.t. the table is a dense
    `[input_dim, output_dim]` scatter-add of the output gradient rows (duplicates add up)."""
    t = _t(table)
    i = ids if isinstance(ids, Tensor) else convert_to_tensor(ids)
    if not i.dtype.is_integer:
        i = A.cast(i, _dt.int32)
    return apply(_emb, (t, i))


# ---------------------------------------------------------------------------------------
# Nearest-neighbour upsampling (UpSampling2D) and spatial dropout masks
# ---------------------------------------------------------------------------------------
def _up_infer(specs, size):
    xd, xt = specs[0]
    _check_rank("upsample_nearest2d", "input", xd, 4, _CONV_X)
    return (xd[0], None if xd[1] is None else xd[1] * size[0], None if xd[2] is None else xd[2] * size[1],
            xd[3]), xt


@op("upsample_nearest2d", infer=_up_infer)
def _upn(xp, x, *, size):
    n, h, w, c = x.shape
    sh, sw = size
    out = xp.broadcast_to(x[:, :, None, :, None, :], (n, h, sh, w, sw, c))
    return xp.ascontiguousarray(out).reshape(n, h * sh, w * sw, c)


def _upg_infer(specs, size):
    xd, xt = specs[0]
    return (xd[0], None if xd[1] is None else xd[1] // size[0], None if xd[2] is None else xd[2] // size[1],
            xd[3]), xt


@op("upsample_nearest2d_grad", infer=_upg_infer)
def _upn_grad(xp, g, *, size):
    n, h, w, c = g.shape
    sh, sw = size
    return g.reshape(n, h // sh, sh, w // sw, sw, c).sum(axis=(2, 4))


_upn.def_grad(lambda c, g: [apply(_upn_grad, (g,), c.attrs)])
_upn_grad.def_grad(lambda c, g: [apply(_upn, (g,), c.attrs)])


def upsample_nearest2d(x, size):
    """Repeats each pixel of an NHWC batch `size = (rows, cols)` times along height and width."""
    x = _t(x)
    size = _spatial("upsample_nearest2d", "size", size, 2, False)
    return apply(_upn, (x,), {"size": size})


def _spatial_mask_infer(specs, rate, keep_axes, seed):
    xd, xt = specs[0]
    return tuple(d if i in keep_axes else 1 for i, d in enumerate(xd)), xt


@op("spatial_dropout_mask", infer=_spatial_mask_infer, stateful=True, differentiable=False)
def _spatial_mask(xp, x, *, rate, keep_axes, seed):
    from gpuflow.ops import random_ops
    shape = tuple(d if i in keep_axes else 1 for i, d in enumerate(x.shape))
    keep = random_ops._rng(xp, seed).random(size=shape, dtype=np.float32) >= rate
    return keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - rate))


def spatial_dropout(x, rate, keep_axes, seed=None):
    """Dropout with one keep/drop decision per entry of the `keep_axes` (e.g. batch and
    channels: whole feature maps are dropped), scaled by 1 / (1 - rate)."""
    x = _t(x)
    rate = float(rate)
    if rate <= 0:
        return x
    if rate >= 1:
        return A.zeros_like(x)
    mask = apply(_spatial_mask, (x,), {"rate": rate, "keep_axes": tuple(sorted(keep_axes)), "seed": seed})
    return x * mask
