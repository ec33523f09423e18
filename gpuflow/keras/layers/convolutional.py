"""Convolution layers: Conv1D, Conv2D, Conv1DTranspose, Conv2DTranspose, SeparableConv2D,
DepthwiseConv2D (and Keras's `Convolution*` aliases).

Arguments, defaults and weight layouts follow Keras: `Conv2D` kernel
`(kernel_h, kernel_w, in_channels // groups, filters)`, bias `(filters,)`;
`Conv2DTranspose` kernel `(kernel_h, kernel_w, filters, in_channels)`; `DepthwiseConv2D`
kernel `(kernel_h, kernel_w, in_channels, depth_multiplier)`; `SeparableConv2D`
`depthwise_kernel` and `pointwise_kernel (1, 1, in_channels * depth_multiplier, filters)`.
Inputs are channels-last by default (`data_format='channels_first'` is supported).
`padding` is `'valid'` or `'same'` (TensorFlow's SAME rule), and `'causal'` for Conv1D.

The layers compute with the `gf.nn` convolution ops, so they run on every device,
inside `gf.function`, and on symbolic Keras tensors (the functional API).
"""
from gpuflow.ops import array_ops as _A
from gpuflow.ops import conv_ops as _C
from gpuflow.keras import activations, backend, constraints, initializers, regularizers
from gpuflow.keras.engine.base_layer import Layer
from gpuflow.keras.engine.input_spec import InputSpec

__all__ = ["Conv1D", "Conv2D", "Conv1DTranspose", "Conv2DTranspose", "SeparableConv2D", "DepthwiseConv2D",
           "Convolution1D", "Convolution2D", "Convolution1DTranspose", "Convolution2DTranspose",
           "SeparableConvolution2D"]


def _ser(module, obj):
    return None if obj is None else module.serialize(obj)


def standardize_tuple(value, n, name, allow_zero=False):
    """An int or an iterable of `n` ints -> a tuple of `n` ints (Keras's rule and messages)."""
    if isinstance(value, int) and not isinstance(value, bool):
        out = (value,) * n
    else:
        try:
            out = tuple(value)
        except TypeError:
            raise ValueError("The `%s` argument must be a tuple of %d integers. Received %s=%r"
                             % (name, n, name, value)) from None
        if len(out) != n:
            raise ValueError("The `%s` argument must be a tuple of %d integers. Received %s=%r"
                             % (name, n, name, value))
        for v in out:
            try:
                int(v)
            except (TypeError, ValueError):
                raise ValueError("The `%s` argument must be a tuple of %d integers. Received %s=%r, including "
                                 "element %r of type %s" % (name, n, name, value, v, type(v).__name__)) from None
        out = tuple(int(v) for v in out)
    lo = 0 if allow_zero else 1
    bad = [v for v in out if v < lo]
    if bad:
        raise ValueError("The `%s` argument must be a tuple of %d integers. Received %s=%r, including values "
                         "%s that do not satisfy `value %s`" % (name, n, name, value, bad,
                                                                ">= 0" if allow_zero else "> 0"))
    return out


def standardize_padding(value, allow_causal=False):
    if isinstance(value, (list, tuple)):
        return value
    padding = str(value).lower()
    allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    if padding not in allowed:
        raise ValueError("The `padding` argument must be a list/tuple or one of %s. Received: %r"
                         % (", ".join(allowed), value))
    return padding


def conv_output_length(length, k, padding, stride, dilation=1):
    """Output length of a convolution/pooling along one axis (None stays None)."""
    if length is None:
        return None
    eff = (k - 1) * dilation + 1
    if padding in ("same", "causal"):
        out = length
    else:
        out = length - eff + 1
    return (out + stride - 1) // stride if out > 0 else 0


def deconv_output_length(length, k, padding, output_padding, stride, dilation=1):
    """Output length of a transposed convolution along one axis (Keras's rule)."""
    if length is None:
        return None
    eff = k + (k - 1) * (dilation - 1)
    if output_padding is None:
        if padding == "valid":
            return length * stride + max(eff - stride, 0)
        return length * stride
    pad = eff // 2 if padding == "same" else 0
    return (length - 1) * stride + eff - 2 * pad + output_padding


def _to_channels_last(x, rank):
    return _A.transpose(x, [0] + list(range(2, rank + 2)) + [1])


def _to_channels_first(x, rank):
    return _A.transpose(x, [0, rank + 1] + list(range(1, rank + 1)))


class _BaseConv(Layer):
    """N-D convolution (N = 1 or 2): `activation(conv(inputs, kernel) + bias)`."""

    rank = 2

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1, groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        rank = self.rank
        if filters is not None and (not isinstance(filters, int) or isinstance(filters, bool) or filters <= 0):
            try:
                ok = int(filters) == filters and int(filters) > 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ValueError("Invalid value for argument `filters`. Expected a strictly positive value. "
                                 "Received filters=%r." % (filters,))
        self.filters = None if filters is None else int(filters)
        self.groups = int(groups or 1)
        if self.groups < 1:
            raise ValueError("The number of groups must be a positive integer. Received: groups=%r." % (groups,))
        if self.filters is not None and self.filters % self.groups != 0:
            raise ValueError("The number of filters must be evenly divisible by the number of groups. Received: "
                             "groups=%d, filters=%d." % (self.groups, self.filters))
        self.kernel_size = standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = standardize_tuple(strides, rank, "strides")
        self.dilation_rate = standardize_tuple(dilation_rate, rank, "dilation_rate")
        self.padding = standardize_padding(padding, allow_causal=(rank == 1))
        if not isinstance(self.padding, str):
            raise ValueError("The `padding` argument must be one of 'valid', 'same'%s. Received: %r"
                             % (", 'causal'" if rank == 1 else "", padding))
        self.data_format = backend.standardize_data_format(data_format)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError("`strides > 1` not supported in conjunction with `dilation_rate > 1`. Received: "
                             "strides=%s and dilation_rate=%s" % (self.strides, self.dilation_rate))
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(ndim=rank + 2)

    # ---- helpers ---------------------------------------------------------------------
    @property
    def _channel_axis(self):
        return 1 if self.data_format == "channels_first" else -1

    def _input_channels(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != self.rank + 2:
            raise ValueError("Input 0 of layer %r is incompatible with the layer: expected ndim=%d, found ndim=%d. "
                             "Full shape received: %s" % (self.name, self.rank + 2, len(shape), shape))
        c = shape[self._channel_axis]
        if c is None:
            raise ValueError("The channel dimension of the inputs should be defined. The input_shape received is "
                             "%s, where axis %d (0-based) is the channel dimension, which found to be `None`."
                             % (shape, self._channel_axis % len(shape)))
        return int(c)

    def _op_padding(self):
        if self.padding == "causal":
            left = (self.kernel_size[0] - 1) * self.dilation_rate[0]
            return [[0, 0], [left, 0], [0, 0]]
        return self.padding.upper()

    def _finish(self, y):
        if self.use_bias:
            y = y + self._cast_weight(self.bias)
        return y

    def _activate(self, y):
        return y if self.activation is activations.linear else self.activation(y)

    # ---- Layer API -------------------------------------------------------------------
    def build(self, input_shape):
        c = self._input_channels(input_shape)
        if c % self.groups != 0:
            raise ValueError("The number of input channels must be evenly divisible by the number of groups. "
                             "Received groups=%d, but the input has %d channels (full input shape is %s)."
                             % (self.groups, c, tuple(input_shape)))
        self.kernel = self.add_weight(name="kernel", shape=self.kernel_size + (c // self.groups, self.filters),
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        else:
            self.bias = None
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis: c})
        self.built = True

    def _conv(self, x, kernel):
        if self.rank == 1:
            return _C.conv1d(x, kernel, self.strides[0], self._op_padding(), "NWC", self.dilation_rate[0])
        return _C.conv2d(x, kernel, self.strides, self._op_padding(), "NHWC", self.dilation_rate)

    def _fused_activation(self):
        """'relu' or 'linear' when convolution, bias and activation run as one op
        (`conv_ops.conv2d_bias_act`: on CPUs with AVX-512 or AVX2 the bias and the ReLU are applied
        inside the float32 kernel), else None."""
        if (self.rank != 2 or not self.use_bias or self.groups != 1
                or type(self)._conv is not _BaseConv._conv):
            return None
        return {activations.linear: "linear", activations.relu: "relu"}.get(self.activation)

    def call(self, inputs):
        x = inputs
        cf = self.data_format == "channels_first"
        if cf:
            x = _to_channels_last(x, self.rank)
        kernel = self._cast_weight(self.kernel)
        fused = self._fused_activation()
        if fused is not None:
            y = _C.conv2d_bias_act(x, kernel, self._cast_weight(self.bias), self.strides, self._op_padding(),
                                   self.dilation_rate, fused)
        elif self.groups == 1:
            y = self._finish(self._conv(x, kernel))
        else:
            xs = _A.split(x, self.groups, axis=-1)
            ks = _A.split(kernel, self.groups, axis=-1)
            y = self._finish(_A.concat([self._conv(a, b) for a, b in zip(xs, ks)], axis=-1))
        if cf:
            y = _to_channels_first(y, self.rank)
        return y if fused is not None else self._activate(y)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if self.data_format == "channels_first":
            spatial = shape[2:]
        else:
            spatial = shape[1:-1]
        out = tuple(conv_output_length(s, k, self.padding, st, d)
                    for s, k, st, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate))
        if any(o is not None and o <= 0 for o in out):
            raise ValueError("Computed output size would be negative or zero for input shape %s, kernel_size %s, "
                             "strides %s, dilation_rate %s and padding %r."
                             % (shape, self.kernel_size, self.strides, self.dilation_rate, self.padding))
        oc = self._out_channels(shape)
        if self.data_format == "channels_first":
            return (shape[0], oc) + out
        return (shape[0],) + out + (oc,)

    def _out_channels(self, shape):
        return self.filters

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": _ser(initializers, self.kernel_initializer),
            "bias_initializer": _ser(initializers, self.bias_initializer),
            "kernel_regularizer": _ser(regularizers, self.kernel_regularizer),
            "bias_regularizer": _ser(regularizers, self.bias_regularizer),
            "activity_regularizer": _ser(regularizers, self.activity_regularizer),
            "kernel_constraint": _ser(constraints, self.kernel_constraint),
            "bias_constraint": _ser(constraints, self.bias_constraint),
        })
        return config


class Conv1D(_BaseConv):
    """1-D convolution over `(batch, steps, channels)` (or channels-first) inputs.

    Args:
      filters: number of output channels.
      kernel_size: int or tuple of 1 int.
      strides: int or tuple of 1 int (default 1).
      padding: `'valid'` (default), `'same'` or `'causal'` (left padding only, so output t
        sees inputs <= t).
      data_format: `'channels_last'` (default) or `'channels_first'`.
      dilation_rate: int or tuple of 1 int.
      groups: split the input channels into `groups` independent convolutions.
      activation, use_bias, kernel_initializer ('glorot_uniform'), bias_initializer
      ('zeros'), *_regularizer, *_constraint: as Dense.

    The kernel has shape `(kernel_size, in_channels // groups, filters)`.
    """

    rank = 1

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, groups=groups, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                         bias_constraint=bias_constraint, **kwargs)


class Conv2D(_BaseConv):
    """2-D convolution over `(batch, height, width, channels)` (or channels-first) images:
    `activation(conv2d(inputs, kernel) + bias)`.

    Args:
      filters: number of output channels.
      kernel_size: int or tuple of 2 ints.
      strides: int or tuple of 2 ints (default 1); `> 1` cannot be combined with
        `dilation_rate > 1`.
      padding: `'valid'` (default, no padding) or `'same'` (output `ceil(input / stride)`).
      data_format: `'channels_last'` (default) or `'channels_first'`.
      dilation_rate: int or tuple of 2 ints.
      groups: split the input channels into `groups` independent convolutions.
      activation, use_bias, kernel_initializer ('glorot_uniform'), bias_initializer
      ('zeros'), kernel_regularizer, bias_regularizer, activity_regularizer,
      kernel_constraint, bias_constraint: as Dense.

    The kernel has shape `(kh, kw, in_channels // groups, filters)`, the bias `(filters,)`.
    """

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, groups=groups, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                         bias_constraint=bias_constraint, **kwargs)


class _BaseConvTranspose(_BaseConv):
    """Transposed convolution (the gradient of a convolution w.r.t. its input)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, groups=1, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                         bias_constraint=bias_constraint, **kwargs)
        if self.padding == "causal":
            raise ValueError("The `padding` argument of %s must be 'valid' or 'same'. Received: 'causal'"
                             % type(self).__name__)
        if output_padding is None:
            self.output_padding = None
        else:
            self.output_padding = standardize_tuple(output_padding, self.rank, "output_padding", allow_zero=True)
            for p, s in zip(self.output_padding, self.strides):
                if p >= s:
                    raise ValueError("`output_padding` must be < `strides`. Received output_padding=%s, strides=%s"
                                     % (self.output_padding, self.strides))

    def build(self, input_shape):
        c = self._input_channels(input_shape)
        self.kernel = self.add_weight(name="kernel", shape=self.kernel_size + (self.filters, c),
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        else:
            self.bias = None
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis: c})
        self.built = True

    def _out_spatial(self, spatial):
        ops = self.output_padding or (None,) * self.rank
        return tuple(deconv_output_length(s, k, self.padding, op, st, d)
                     for s, k, op, st, d in zip(spatial, self.kernel_size, ops, self.strides, self.dilation_rate))

    def call(self, inputs):
        x = inputs
        cf = self.data_format == "channels_first"
        if cf:
            x = _to_channels_last(x, self.rank)
        dims = x.shape._dims
        spatial = tuple(dims[1:-1])
        kernel = self._cast_weight(self.kernel)
        pad = self.padding.upper()
        if None in spatial:
            # Unknown image size (e.g. keras.Input((None, None, c))): the output size is
            # computed from the run-time shape, with the same rule.
            shp = _A.shape(x)
            spatial = tuple(shp[i + 1] if d is None else d for i, d in enumerate(spatial))
        out = self._out_spatial(spatial)
        if self.rank == 1:
            x4 = _A.expand_dims(x, 1)
            y = _C.conv2d_transpose(x4, _A.expand_dims(kernel, 0), [1, out[0]], (1, self.strides[0]), pad, "NHWC",
                                    (1, self.dilation_rate[0]))
            y = _A.squeeze(y, [1])
        else:
            y = _C.conv2d_transpose(x, kernel, list(out), self.strides, pad, "NHWC", self.dilation_rate)
        y = self._finish(y)
        if cf:
            y = _to_channels_first(y, self.rank)
        return self._activate(y)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        cf = self.data_format == "channels_first"
        out = self._out_spatial(shape[2:] if cf else shape[1:-1])
        return (shape[0], self.filters) + out if cf else (shape[0],) + out + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.pop("groups", None)
        config["output_padding"] = self.output_padding
        return config


class Conv1DTranspose(_BaseConvTranspose):
    """Transposed 1-D convolution; kernel `(kernel_size, filters, in_channels)`.

    Output length: `input * stride + max(kernel - stride, 0)` ('valid') or
    `input * stride` ('same'), or `(input - 1) * stride + kernel - 2 * pad +
    output_padding` when `output_padding` is given (Keras's rule).
    """

    rank = 1


class Conv2DTranspose(_BaseConvTranspose):
    """Transposed 2-D convolution ("deconvolution"), e.g. to upsample feature maps.

    Args:
      filters, kernel_size, strides, padding ('valid' / 'same'), data_format,
      dilation_rate, activation, use_bias, initializers, regularizers, constraints: as
        Conv2D.
      output_padding: int or tuple of 2 ints (< strides), extra rows/columns at the end of
        the output; None (default) infers the output size.

    The kernel has shape `(kh, kw, filters, in_channels)` (Keras's layout).
    """

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, output_padding=output_padding,
                         data_format=data_format, dilation_rate=dilation_rate, activation=activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, **kwargs)


class DepthwiseConv2D(_BaseConv):
    """Depthwise 2-D convolution: each input channel is convolved with its own
    `depth_multiplier` filters (no mixing across channels).

    Args:
      kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias: as
        Conv2D.
      depth_multiplier: output channels per input channel (default 1).
      depthwise_initializer ('glorot_uniform'), bias_initializer ('zeros'),
      depthwise_regularizer, bias_regularizer, activity_regularizer, depthwise_constraint,
      bias_constraint.

    The kernel (`kernel`, as Keras 3 names it; also readable as `depthwise_kernel`) has
    shape `(kh, kw, in_channels, depth_multiplier)`; the bias `(in_channels *
    depth_multiplier,)`.
    """

    rank = 2

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        try:
            dm = int(depth_multiplier)
        except (TypeError, ValueError):
            dm = -1
        if dm <= 0 or dm != depth_multiplier:
            raise ValueError("Invalid value for argument `depth_multiplier`. Expected a strictly positive value. "
                             "Received depth_multiplier=%r." % (depth_multiplier,))
        super().__init__(None, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, groups=1, activation=activation, use_bias=use_bias,
                         kernel_initializer=depthwise_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=depthwise_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, kernel_constraint=depthwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)
        self.depth_multiplier = dm

    @property
    def depthwise_kernel(self):
        return self.kernel

    def build(self, input_shape):
        c = self._input_channels(input_shape)
        self.kernel = self.add_weight(name="kernel", shape=self.kernel_size + (c, self.depth_multiplier),
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(c * self.depth_multiplier,),
                                        initializer=self.bias_initializer, regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        else:
            self.bias = None
        self.input_spec = InputSpec(ndim=4, axes={self._channel_axis: c})
        self.built = True

    def _conv(self, x, kernel):
        return _C.depthwise_conv2d(x, kernel, self.strides, self.padding.upper(), "NHWC", self.dilation_rate)

    def _out_channels(self, shape):
        c = shape[self._channel_axis]
        return None if c is None else c * self.depth_multiplier

    def get_config(self):
        config = super().get_config()
        for k in ("filters", "groups"):
            config.pop(k, None)
        config["depth_multiplier"] = self.depth_multiplier
        for old, new in (("kernel_initializer", "depthwise_initializer"), ("kernel_regularizer",
                                                                           "depthwise_regularizer"),
                         ("kernel_constraint", "depthwise_constraint")):
            config[new] = config.pop(old)
        return config


class SeparableConv2D(_BaseConv):
    """Depthwise separable 2-D convolution: a depthwise convolution (one set of
    `depth_multiplier` filters per input channel) followed by a 1x1 convolution mixing
    the channels into `filters` outputs.

    Args:
      filters, kernel_size, strides, padding, data_format, dilation_rate, activation,
      use_bias: as Conv2D.
      depth_multiplier: depthwise output channels per input channel (default 1).
      depthwise_initializer, pointwise_initializer ('glorot_uniform'), bias_initializer
      ('zeros'), depthwise/pointwise/bias regularizers and constraints,
      activity_regularizer.

    Weights: `depthwise_kernel (kh, kw, in_channels, depth_multiplier)`,
    `pointwise_kernel (1, 1, in_channels * depth_multiplier, filters)`, `bias (filters,)`.
    """

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        try:
            dm = int(depth_multiplier)
        except (TypeError, ValueError):
            dm = -1
        if dm <= 0 or dm != depth_multiplier:
            raise ValueError("Invalid value for argument `depth_multiplier`. Expected a strictly positive value. "
                             "Received depth_multiplier=%r." % (depth_multiplier,))
        super().__init__(filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, groups=1, activation=activation, use_bias=use_bias,
                         kernel_initializer=depthwise_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=depthwise_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, kernel_constraint=depthwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)
        self.depth_multiplier = dm
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build(self, input_shape):
        c = self._input_channels(input_shape)
        self.depthwise_kernel = self.add_weight(
            name="depthwise_kernel", shape=self.kernel_size + (c, self.depth_multiplier),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint)
        self.pointwise_kernel = self.add_weight(
            name="pointwise_kernel", shape=(1, 1, c * self.depth_multiplier, self.filters),
            initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        else:
            self.bias = None
        self.input_spec = InputSpec(ndim=4, axes={self._channel_axis: c})
        self.built = True

    def call(self, inputs):
        x = inputs
        cf = self.data_format == "channels_first"
        if cf:
            x = _to_channels_last(x, 2)
        y = _C.separable_conv2d(x, self._cast_weight(self.depthwise_kernel), self._cast_weight(self.pointwise_kernel),
                                self.strides, self.padding.upper(), "NHWC", self.dilation_rate)
        y = self._finish(y)
        if cf:
            y = _to_channels_first(y, 2)
        return self._activate(y)

    def get_config(self):
        config = super().get_config()
        config.pop("groups", None)
        config["depth_multiplier"] = self.depth_multiplier
        for old, new in (("kernel_initializer", "depthwise_initializer"), ("kernel_regularizer",
                                                                           "depthwise_regularizer"),
                         ("kernel_constraint", "depthwise_constraint")):
            config[new] = config.pop(old)
        config.update({
            "pointwise_initializer": _ser(initializers, self.pointwise_initializer),
            "pointwise_regularizer": _ser(regularizers, self.pointwise_regularizer),
            "pointwise_constraint": _ser(constraints, self.pointwise_constraint),
        })
        return config


Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose
SeparableConvolution2D = SeparableConv2D
