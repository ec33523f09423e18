"""NHWC 2-D convolution kernels: im2col / col2im, direct (implicit-GEMM, AVX-512 or AVX2
float32) or im2col+GEMM convolution and depthwise convolution, forward and backward.

Layouts follow Keras: inputs ``x[N, H, W, C]``, convolution kernels
``[KH, KW, C, OC]``, depthwise kernels ``[KH, KW, C, multiplier]`` with output
channel ``c * multiplier + m`` (as ``tf.nn.depthwise_conv2d``).  Padding is
``"VALID"``, ``"SAME"`` or explicit (see `gpuflow.kernels.window`); padded
positions read zeros.

Each function accepts NumPy or CuPy arrays (float32 or float64, all inputs of
one dtype) and ``impl=None | 'native' | 'reference'`` (see
`gpuflow.kernels._dispatch`).  Non-contiguous inputs are copied to
C-contiguous first.
"""
import numpy

from gpuflow.kernels import _checks
from gpuflow.kernels._dispatch import get_array_module, run
from gpuflow.kernels.window import make_window

__all__ = [
    "im2col", "col2im",
    "conv2d_forward", "conv2d_bias_act", "bias_act_backward", "conv2d_backward_input", "conv2d_backward_filter", "conv2d_backward",
    "depthwise_conv2d_forward", "depthwise_conv2d_backward_input",
    "depthwise_conv2d_backward_filter", "depthwise_conv2d_backward",
]


def _native():
    from gpuflow.kernels import native
    return native.module()


def _cuda():
    from gpuflow.kernels import cuda
    return cuda


def _windows(xp, xpad, win, oh, ow):
    """View of shape [N, OH, OW, KH, KW, C] over a padded NHWC array."""
    s0, s1, s2, s3 = xpad.strides
    n, c = xpad.shape[0], xpad.shape[3]
    return xp.lib.stride_tricks.as_strided(
        xpad, shape=(n, oh, ow, win.kh, win.kw, c),
        strides=(s0, s1 * win.sh, s2 * win.sw, s1 * win.dh, s2 * win.dw, s3))


def _pad(xp, x, win, value=0):
    if not any(win.pads):
        return x
    return xp.pad(x, ((0, 0), (win.pt, win.pb), (win.pl, win.pr), (0, 0)),
                  mode="constant", constant_values=value)


def _tap_slices(win, i, j, oh, ow):
    """Slices of the padded input read by kernel tap (i, j) for all outputs."""
    r0, c0 = i * win.dh, j * win.dw
    return (slice(None), slice(r0, r0 + win.sh * (oh - 1) + 1, win.sh),
            slice(c0, c0 + win.sw * (ow - 1) + 1, win.sw))


def _crop(xp, xpad, win, h, w):
    return xp.ascontiguousarray(xpad[:, win.pt:win.pt + h, win.pl:win.pl + w, :])


# ----------------------------------------------------------- references
def _im2col_ref(x, win, oh, ow):
    xp = get_array_module(x)
    n, _, _, c = x.shape
    cols = _windows(xp, _pad(xp, x, win), win, oh, ow)
    return xp.ascontiguousarray(cols).reshape(n * oh * ow, win.kh * win.kw * c)


def _col2im_ref(cols, x_shape, win, oh, ow):
    xp = get_array_module(cols)
    n, h, w, c = x_shape
    cols6 = cols.reshape(n, oh, ow, win.kh, win.kw, c)
    out = xp.zeros((n, h + win.pt + win.pb, w + win.pl + win.pr, c), dtype=cols.dtype)
    for i in range(win.kh):
        for j in range(win.kw):
            out[_tap_slices(win, i, j, oh, ow)] += cols6[:, :, :, i, j, :]
    return _crop(xp, out, win, h, w)


def _dw_forward_ref(x, k, win, oh, ow):
    xp = get_array_module(x)
    n, _, _, c = x.shape
    m = k.shape[3]
    wins = _windows(xp, _pad(xp, x, win), win, oh, ow)
    y = xp.zeros((n, oh, ow, c, m), dtype=x.dtype)
    for i in range(win.kh):
        for j in range(win.kw):
            y += wins[:, :, :, i, j, :, None] * k[i, j]
    return y.reshape(n, oh, ow, c * m)


def _dw_backward_input_ref(dy, k, x_shape, win, oh, ow):
    xp = get_array_module(dy)
    n, h, w, c = x_shape
    m = k.shape[3]
    dy5 = dy.reshape(n, oh, ow, c, m)
    out = xp.zeros((n, h + win.pt + win.pb, w + win.pl + win.pr, c), dtype=dy.dtype)
    for i in range(win.kh):
        for j in range(win.kw):
            out[_tap_slices(win, i, j, oh, ow)] += (dy5 * k[i, j]).sum(axis=-1)
    return _crop(xp, out, win, h, w)


def _dw_backward_filter_ref(dy, x, m, win, oh, ow):
    xp = get_array_module(x)
    n, _, _, c = x.shape
    wins = _windows(xp, _pad(xp, x, win), win, oh, ow)
    dy5 = dy.reshape(n, oh, ow, c, m)
    dk = xp.empty((win.kh, win.kw, c, m), dtype=x.dtype)
    for i in range(win.kh):
        for j in range(win.kw):
            dk[i, j] = xp.einsum("nhwc,nhwcm->cm", wins[:, :, :, i, j, :], dy5)
    return dk


# ------------------------------------------------------- shared plumbing
def _im2col(x, win, oh, ow, impl, name):
    return run(name, impl, (x,),
               reference=lambda: _im2col_ref(x, win, oh, ow),
               native=lambda: _native().im2col(x, *win),
               cuda=lambda: _cuda().im2col(x, win, oh, ow))


def _col2im(cols, x_shape, win, oh, ow, impl, name):
    return run(name, impl, (cols,),
               reference=lambda: _col2im_ref(cols, x_shape, win, oh, ow),
               native=lambda: _native().col2im(cols, *x_shape, *win),
               cuda=lambda: _cuda().col2im(cols, x_shape, win, oh, ow))


# The direct kernels keep 16 output channels per vector: below that many output channels
# (an input gradient of a 1- or 3-channel image, say) most lanes would idle, and im2col +
# BLAS is faster (measured: the 1-channel input gradient of the notes' first convolution
# 3.5 ms direct, 1.9 ms im2col + BLAS).
_DIRECT_MIN_CHANNELS = 16


def _direct(impl, *arrays, channels=_DIRECT_MIN_CHANNELS):
    """`gpuflow._C` when its direct float32 convolution applies to these arrays
    (NumPy float32, a CPU with AVX-512 or AVX2, impl not 'reference', `channels` output channels
    of the computed convolution at least 16), else None."""
    if impl == "reference" or channels < _DIRECT_MIN_CHANNELS or any(
            type(a) is not numpy.ndarray or a.dtype != numpy.float32 for a in arrays):
        return None
    from gpuflow.kernels import native
    mod = native.get()
    if mod is None or not getattr(mod, "conv_direct_available", lambda: False)():
        return None
    return mod


def _pads(win):
    """The window's zero padding as (top, bottom, left, right)."""
    return (win.pt, win.pb, win.pl, win.pr)


def _x4(kernel, name, x, dtype=None):
    x = _checks.float_array(kernel, name, x, ndim=4, dtype=dtype)
    if min(x.shape[1:]) < 1:
        raise ValueError("%s: %s must have non-empty spatial and channel axes" % (kernel, _checks.describe(name, x)))
    return x


# ---------------------------------------------------------------- public
def im2col(x, kernel_size, strides=1, padding="VALID", dilations=1, *, impl=None):
    """Unfolds the sliding windows of an NHWC batch into rows of a matrix.

    ``cols @ kernel.reshape(KH * KW * C, OC)`` is then the 2-D convolution
    (Keras kernel layout ``(KH, KW, C, OC)``) as ``[N * OH * OW, OC]``.

    Args:
      x: ``[N, H, W, C]`` float32/float64 array (NumPy or CuPy).
      kernel_size: int or ``(KH, KW)``.
      strides: int or ``(SH, SW)``.
      padding: ``"VALID"``, ``"SAME"`` or explicit pads
        ``(top, bottom, left, right)``.
      dilations: int or ``(DH, DW)``.
      impl: None, 'native' or 'reference'.

    Returns:
      ``cols[N * OH * OW, KH * KW * C]``: row ``(n * OH + oh) * OW + ow``,
      column ``(kh * KW + kw) * C + c`` holds ``x[n, oh*SH - top + kh*DH,
      ow*SW - left + kw*DW, c]`` (0 in the padding).

    Raises:
      TypeError: non-float input.
      ValueError: wrong rank or a window that does not fit.
    """
    name = "im2col"
    x = _x4(name, "x", x)
    win = make_window(name, x.shape[1:3], kernel_size, strides, padding, dilations)
    oh, ow = win.output_hw(*x.shape[1:3])
    return _im2col(x, win, oh, ow, impl, name)


def col2im(cols, x_shape, kernel_size, strides=1, padding="VALID", dilations=1, *, impl=None):
    """Folds im2col columns back into an NHWC array, summing overlaps.

    The adjoint of `im2col`: for ``dcols`` the gradient of the columns,
    ``col2im(dcols, x.shape, ...)`` is the gradient of ``x``.

    Args:
      cols: ``[N * OH * OW, KH * KW * C]`` float32/float64 array.
      x_shape: ``(N, H, W, C)`` of the image batch.
      kernel_size, strides, padding, dilations: as for `im2col`.
      impl: None, 'native' or 'reference'.

    Returns:
      ``[N, H, W, C]`` array of ``cols``' dtype.
    """
    name = "col2im"
    cols = _checks.float_array(name, "cols", cols, ndim=2)
    x_shape = _checks.shape_tuple(name, "x_shape", x_shape, 4)
    if min(x_shape[1:]) < 1:
        raise ValueError("%s: x_shape must have non-empty spatial and channel axes, got %r" % (name, x_shape))
    win = make_window(name, x_shape[1:3], kernel_size, strides, padding, dilations)
    oh, ow = win.output_hw(*x_shape[1:3])
    _checks.check_shape(name, "cols", cols,
                        (x_shape[0] * oh * ow, win.kh * win.kw * x_shape[3]))
    return _col2im(cols, x_shape, win, oh, ow, impl, name)


def _conv_check(name, x, kernel):
    x = _x4(name, "x", x)
    kernel = _checks.float_array(name, "kernel", kernel, ndim=4, dtype=x.dtype)
    if kernel.shape[2] != x.shape[3]:
        raise ValueError("%s: channel mismatch: %s but %s (kernel layout (KH, KW, C, OC))"
                         % (name, _checks.describe("x", x), _checks.describe("kernel", kernel)))
    if min(kernel.shape) < 1:
        raise ValueError("%s: empty %s" % (name, _checks.describe("kernel", kernel)))
    return x, kernel


def conv2d_forward(x, kernel, strides=1, padding="VALID", dilations=1, *, impl=None):
    """2-D convolution (cross-correlation, as ``tf.nn.conv2d``) by im2col + GEMM.

    Args:
      x: ``[N, H, W, C]`` float32/float64 array.
      kernel: ``[KH, KW, C, OC]`` array of x's dtype (Keras Conv2D layout).
      strides: int or ``(SH, SW)``.
      padding: ``"VALID"``, ``"SAME"`` or explicit pads.
      dilations: int or ``(DH, DW)``.
      impl: None, 'native' or 'reference'. 'native' (and None) on float32 NumPy
        arrays on a CPU with AVX-512 or AVX2 run the direct convolution of gpuflow._C
        (no im2col matrix); otherwise im2col (native or reference) + the array
        module's matmul (BLAS on CPU, cuBLAS on GPU).

    Returns:
      ``y[N, OH, OW, OC]``.
    """
    name = "conv2d_forward"
    x, kernel = _conv_check(name, x, kernel)
    kh, kw, c, oc = kernel.shape
    win = make_window(name, x.shape[1:3], (kh, kw), strides, padding, dilations)
    oh, ow = win.output_hw(*x.shape[1:3])
    direct = _direct(impl, x, kernel, channels=oc)
    if direct is not None:
        return direct.conv2d_direct(x, kernel, win.sh, win.sw, win.dh, win.dw, pads=_pads(win))
    cols = _im2col(x, win, oh, ow, impl, name)
    y = cols @ kernel.reshape(kh * kw * c, oc)
    return y.reshape(x.shape[0], oh, ow, oc)


_ACTIVATIONS = ("linear", "relu")


def conv2d_bias_act(x, kernel, bias, strides=1, padding="VALID", dilations=1, activation="linear", *,
                    impl=None):
    """``act(conv2d_forward(x, kernel) + bias)``, the forward pass of a Keras ``Conv2D``.

    Where the direct kernel applies (float32 NumPy arrays on a CPU with AVX-512 or AVX2, impl not
    'reference') the bias and the activation are applied to each output tile while it is
    still in registers: no extra passes over the output.

    Args:
      x: ``[N, H, W, C]`` float32/float64 array.
      kernel: ``[KH, KW, C, OC]`` array of x's dtype.
      bias: ``[OC]`` array of x's dtype, or None.
      strides, padding, dilations: as for `conv2d_forward`.
      activation: ``'linear'`` or ``'relu'``.
      impl: None, 'native' or 'reference'.

    Returns:
      ``y[N, OH, OW, OC]``.

    Raises:
      TypeError: non-float inputs or mixed dtypes.
      ValueError: shape mismatches, an unknown activation.
    """
    name = "conv2d_bias_act"
    if activation not in _ACTIVATIONS:
        raise ValueError("%s: activation must be one of %s, got %r" % (name, _ACTIVATIONS, activation))
    x, kernel = _conv_check(name, x, kernel)
    if bias is not None:
        bias = _checks.float_array(name, "bias", bias, ndim=1, dtype=x.dtype)
        _checks.check_shape(name, "bias", bias, (kernel.shape[3],))
    direct = _direct(impl, x, kernel, *(() if bias is None else (bias,)), channels=kernel.shape[3])
    if direct is not None:
        win = make_window(name, x.shape[1:3], kernel.shape[:2], strides, padding, dilations)
        return direct.conv2d_direct(x, kernel, win.sh, win.sw, win.dh, win.dw, bias, activation == "relu",
                                    _pads(win))
    y = conv2d_forward(x, kernel, strides, padding, dilations, impl=impl)
    xp = get_array_module(y)
    if bias is not None:
        y += bias
    if activation == "relu":
        xp.maximum(y, 0, out=y)
    return y


def _bias_act_backward_ref(g, y, relu):
    gz = g * (y > 0) if relu else g.copy()
    return gz, gz.sum(axis=tuple(range(g.ndim - 1)))


def bias_act_backward(g, y, activation="linear", *, impl=None):
    """The backward pass of ``y = act(z + bias)`` for `conv2d_bias_act` (and Dense).

    Args:
      g: gradient of y, float32/float64 array of at least 1 dimension.
      y: the layer output, like g.
      activation: ``'linear'`` or ``'relu'`` (``relu'(z)`` is read from ``y > 0``).
      impl: None, 'native' or 'reference'.

    Returns:
      ``(gz, dbias)``: the gradient of ``z`` (``g * (y > 0)`` for ReLU, ``g`` for linear)
      and its sum over every axis but the last, in one pass (native).

    Raises:
      TypeError: non-float or mixed dtypes.
      ValueError: shape mismatch or an unknown activation.
    """
    name = "bias_act_backward"
    if activation not in _ACTIVATIONS:
        raise ValueError("%s: activation must be one of %s, got %r" % (name, _ACTIVATIONS, activation))
    g = _checks.float_array(name, "g", g, min_ndim=1)
    y = _checks.float_array(name, "y", y, dtype=g.dtype)
    _checks.check_shape(name, "y", y, g.shape)
    relu = activation == "relu"
    return run(name, impl, (g, y),
               reference=lambda: _bias_act_backward_ref(g, y, relu),
               native=lambda: tuple(_native().bias_act_grad(g, y, relu)))


def _dy_check(name, dy, dtype, shape):
    dy = _checks.float_array(name, "dy", dy, ndim=4, dtype=dtype)
    _checks.check_shape(name, "dy", dy, shape)
    return dy


def conv2d_backward_input(dy, kernel, x_shape, strides=1, padding="VALID", dilations=1, *,
                          impl=None):
    """Gradient of `conv2d_forward` with respect to its input.

    Args:
      dy: ``[N, OH, OW, OC]`` upstream gradient.
      kernel: ``[KH, KW, C, OC]`` kernel of dy's dtype.
      x_shape: ``(N, H, W, C)`` of the forward input.
      strides, padding, dilations: as in the forward call.
      impl: None, 'native' or 'reference': with strides 1, float32 NumPy arrays
        and AVX-512 or AVX2, not 'reference' runs the direct convolution of the (virtually)
        padded dy with the flipped kernel; otherwise GEMM + col2im (native or
        reference).

    Returns:
      ``dx[N, H, W, C]``.
    """
    name = "conv2d_backward_input"
    kernel = _checks.float_array(name, "kernel", kernel, ndim=4)
    x_shape = _checks.shape_tuple(name, "x_shape", x_shape, 4)
    kh, kw, c, oc = kernel.shape
    if c != x_shape[3] or min(x_shape[1:]) < 1:
        raise ValueError("%s: %s does not match x_shape %r" % (name, _checks.describe("kernel", kernel), x_shape))
    win = make_window(name, x_shape[1:3], (kh, kw), strides, padding, dilations)
    oh, ow = win.output_hw(*x_shape[1:3])
    dy = _dy_check(name, dy, kernel.dtype, (x_shape[0], oh, ow, oc))
    ph, pw = (kh - 1) * win.dh, (kw - 1) * win.dw
    full = (ph - win.pt, ph - win.pb, pw - win.pl, pw - win.pr)
    direct = _direct(impl, dy, kernel, channels=c) if win.sh == win.sw == 1 and min(full) >= 0 else None
    if direct is not None:
        # Stride 1: a forward convolution of dy, zero-padded by the dilated kernel extent
        # minus the forward pads, with the kernel flipped in space and its channel axes
        # swapped, is the input gradient (no padded copy, no crop).
        flipped = numpy.ascontiguousarray(kernel[::-1, ::-1].transpose(0, 1, 3, 2))
        return direct.conv2d_direct(dy, flipped, 1, 1, win.dh, win.dw, pads=full)
    dcols = dy.reshape(-1, oc) @ kernel.reshape(kh * kw * c, oc).T
    return _col2im(get_array_module(dcols).ascontiguousarray(dcols), x_shape, win, oh, ow, impl, name)


def conv2d_backward_filter(dy, x, kernel_shape, strides=1, padding="VALID", dilations=1, *,
                           impl=None):
    """Gradient of `conv2d_forward` with respect to its kernel.

    Args:
      dy: ``[N, OH, OW, OC]`` upstream gradient.
      x: ``[N, H, W, C]`` forward input of dy's dtype.
      kernel_shape: ``(KH, KW, C, OC)``.
      strides, padding, dilations: as in the forward call.
      impl: None, 'native' or 'reference': float32 NumPy arrays on a CPU with
        AVX-512 or AVX2 run the direct kernel-gradient kernel unless 'reference';
        otherwise im2col (native or reference) + GEMM.

    Returns:
      ``dkernel[KH, KW, C, OC]``.
    """
    name = "conv2d_backward_filter"
    x = _x4(name, "x", x)
    kh, kw, c, oc = _checks.shape_tuple(name, "kernel_shape", kernel_shape, 4)
    if c != x.shape[3] or min(kh, kw, oc) < 1:
        raise ValueError("%s: kernel_shape %r does not match %s" % (name, kernel_shape, _checks.describe("x", x)))
    win = make_window(name, x.shape[1:3], (kh, kw), strides, padding, dilations)
    oh, ow = win.output_hw(*x.shape[1:3])
    dy = _dy_check(name, dy, x.dtype, (x.shape[0], oh, ow, oc))
    direct = _direct(impl, x, dy, channels=oc)
    if direct is not None:
        return direct.conv2d_direct_filter(_pad(numpy, x, win), dy, kh, kw, win.sh, win.sw, win.dh, win.dw)
    cols = _im2col(x, win, oh, ow, impl, name)
    dy2 = dy.reshape(-1, oc)
    if kh * kw * c > oc:
        # The wider operand as the GEMM's N: for the notes' Conv2D(32 -> 64)
        # (cols 18432x288, dy 18432x64) 4.4 instead of 4.7 ms on 2 cores, 8.8
        # instead of 9.2 on one; the transposed result is only K x OC.
        xp = get_array_module(dy2)
        return xp.ascontiguousarray((dy2.T @ cols).T).reshape(kh, kw, c, oc)
    return (cols.T @ dy2).reshape(kh, kw, c, oc)


def conv2d_backward(dy, x, kernel, strides=1, padding="VALID", dilations=1, *, impl=None):
    """Both gradients of `conv2d_forward`.

    Returns:
      ``(dx[N, H, W, C], dkernel[KH, KW, C, OC])``.
    """
    dx = conv2d_backward_input(dy, kernel, x.shape, strides, padding, dilations, impl=impl)
    dk = conv2d_backward_filter(dy, x, kernel.shape, strides, padding, dilations, impl=impl)
    return dx, dk


def depthwise_conv2d_forward(x, kernel, strides=1, padding="VALID", dilations=1, *, impl=None):
    """Depthwise 2-D convolution (as ``tf.nn.depthwise_conv2d``), NHWC.

    Args:
      x: ``[N, H, W, C]`` float32/float64 array.
      kernel: ``[KH, KW, C, M]`` array of x's dtype (Keras DepthwiseConv2D
        layout, M the depth multiplier).
      strides, padding, dilations: as for `conv2d_forward`.
      impl: None, 'native' or 'reference'.

    Returns:
      ``y[N, OH, OW, C * M]`` with ``y[..., c * M + m] = sum_{kh, kw}
      x[n, ih, iw, c] * kernel[kh, kw, c, m]``.
    """
    name = "depthwise_conv2d_forward"
    x, kernel = _conv_check(name, x, kernel)
    win = make_window(name, x.shape[1:3], kernel.shape[:2], strides, padding, dilations)
    oh, ow = win.output_hw(*x.shape[1:3])
    return run(name, impl, (x, kernel),
               reference=lambda: _dw_forward_ref(x, kernel, win, oh, ow),
               native=lambda: _native().depthwise_conv2d_forward(
                   x, kernel, win.sh, win.sw, win.dh, win.dw, *win.pads),
               cuda=lambda: _cuda().depthwise_forward(x, kernel, win, oh, ow))


def depthwise_conv2d_backward_input(dy, kernel, x_shape, strides=1, padding="VALID",
                                    dilations=1, *, impl=None):
    """Gradient of `depthwise_conv2d_forward` with respect to its input.

    Args:
      dy: ``[N, OH, OW, C * M]`` upstream gradient.
      kernel: ``[KH, KW, C, M]``.
      x_shape: ``(N, H, W, C)``.
      strides, padding, dilations: as in the forward call.
      impl: None, 'native' or 'reference'.

    Returns:
      ``dx[N, H, W, C]``.
    """
    name = "depthwise_conv2d_backward_input"
    kernel = _checks.float_array(name, "kernel", kernel, ndim=4)
    x_shape = _checks.shape_tuple(name, "x_shape", x_shape, 4)
    kh, kw, c, m = kernel.shape
    if c != x_shape[3] or min(x_shape[1:]) < 1 or min(kernel.shape) < 1:
        raise ValueError("%s: %s does not match x_shape %r" % (name, _checks.describe("kernel", kernel), x_shape))
    win = make_window(name, x_shape[1:3], (kh, kw), strides, padding, dilations)
    oh, ow = win.output_hw(*x_shape[1:3])
    dy = _dy_check(name, dy, kernel.dtype, (x_shape[0], oh, ow, c * m))
    n, h, w, _ = x_shape
    return run(name, impl, (dy, kernel),
               reference=lambda: _dw_backward_input_ref(dy, kernel, x_shape, win, oh, ow),
               native=lambda: _native().depthwise_conv2d_backward_input(
                   dy, kernel, n, h, w, win.sh, win.sw, win.dh, win.dw, *win.pads),
               cuda=lambda: _cuda().depthwise_backward_input(dy, kernel, x_shape, win, oh, ow))


def depthwise_conv2d_backward_filter(dy, x, kernel_shape, strides=1, padding="VALID",
                                     dilations=1, *, impl=None):
    """Gradient of `depthwise_conv2d_forward` with respect to its kernel.

    Args:
      dy: ``[N, OH, OW, C * M]`` upstream gradient.
      x: ``[N, H, W, C]`` forward input.
      kernel_shape: ``(KH, KW, C, M)``.
      strides, padding, dilations: as in the forward call.
      impl: None, 'native' or 'reference'.

    Returns:
      ``dkernel[KH, KW, C, M]``.
    """
    name = "depthwise_conv2d_backward_filter"
    x = _x4(name, "x", x)
    kh, kw, c, m = _checks.shape_tuple(name, "kernel_shape", kernel_shape, 4)
    if c != x.shape[3] or min(kh, kw, m) < 1:
        raise ValueError("%s: kernel_shape %r does not match %s" % (name, kernel_shape, _checks.describe("x", x)))
    win = make_window(name, x.shape[1:3], (kh, kw), strides, padding, dilations)
    oh, ow = win.output_hw(*x.shape[1:3])
    dy = _dy_check(name, dy, x.dtype, (x.shape[0], oh, ow, c * m))
    return run(name, impl, (dy, x),
               reference=lambda: _dw_backward_filter_ref(dy, x, m, win, oh, ow),
               native=lambda: _native().depthwise_conv2d_backward_filter(
                   dy, x, kh, kw, win.sh, win.sw, win.dh, win.dw, *win.pads),
               cuda=lambda: _cuda().depthwise_backward_filter(dy, x, m, win, oh, ow))


def depthwise_conv2d_backward(dy, x, kernel, strides=1, padding="VALID", dilations=1, *,
                              impl=None):
    """Both gradients of `depthwise_conv2d_forward`.

    Returns:
      ``(dx[N, H, W, C], dkernel[KH, KW, C, M])``.
    """
    dx = depthwise_conv2d_backward_input(dy, kernel, x.shape, strides, padding, dilations, impl=impl)
    dk = depthwise_conv2d_backward_filter(dy, x, kernel.shape, strides, padding, dilations, impl=impl)
    return dx, dk

