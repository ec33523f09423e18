"""Conv1D, Conv2D, Conv1DTranspose, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D:
Keras arguments, defaults and weight layouts, forward values against NumPy float64
loops, gradients against finite differences, symbolic shapes (functional API, None
batch), config round trips and errors."""
import numpy as np
import pytest

import gpuflow as tf
from gpuflow import keras
from gpuflow import errors

import conv_refs as R

L = keras.layers
RNG = np.random.default_rng(3)


def _x(*shape):
    return RNG.standard_normal(shape)


def _f64(layer_cls, *args, **kw):
    return layer_cls(*args, dtype="float64", **kw)


def _relu(v):
    return np.maximum(v, 0)


# ---------------------------------------------------------------------------------------
# Forward values
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, ref", [
    (dict(), lambda x, k: R.conv2d(x, k)),
    (dict(strides=2, padding="same"), lambda x, k: R.conv2d(x, k, (2, 2), "SAME")),
    (dict(kernel_size=(2, 4), padding="same"), lambda x, k: R.conv2d(x, k, (1, 1), "SAME")),
    (dict(dilation_rate=2, padding="same"), lambda x, k: R.conv2d(x, k, (1, 1), "SAME", (2, 2))),
    (dict(strides=(1, 2)), lambda x, k: R.conv2d(x, k, (1, 2))),
])
def test_conv2d_forward(kw, ref):
    ks = kw.pop("kernel_size", 3)
    layer = _f64(L.Conv2D, 4, ks, activation="relu", bias_initializer="random_normal", **kw)
    x = _x(2, 7, 6, 3)
    y = layer(x)
    k, b = [w.numpy() for w in layer.weights]
    assert layer.kernel.shape == (ks, ks, 3, 4) if isinstance(ks, int) else ks + (3, 4)
    np.testing.assert_allclose(y.numpy(), _relu(ref(x, k) + b), rtol=1e-10, atol=1e-12)
    assert y.shape == layer.compute_output_shape(x.shape)


def test_conv2d_channels_first_and_groups():
    x = _x(2, 4, 5, 5)
    layer = _f64(L.Conv2D, 6, 3, data_format="channels_first", groups=2, use_bias=False)
    y = layer(x)
    assert layer.kernel.shape == (3, 3, 2, 6)
    k = layer.kernel.numpy()
    xl = x.transpose(0, 2, 3, 1)
    want = np.concatenate([R.conv2d(xl[..., :2], k[..., :3]), R.conv2d(xl[..., 2:], k[..., 3:])], -1)
    np.testing.assert_allclose(y.numpy(), want.transpose(0, 3, 1, 2), rtol=1e-10, atol=1e-12)
    assert [w.name.split("/")[-1].split(":")[0] for w in layer.weights] == ["kernel"]


def test_conv1d_valid_same_causal():
    x = _x(2, 9, 3)
    for padding, left in (("valid", None), ("same", None), ("causal", 4)):
        layer = _f64(L.Conv1D, 4, 3, padding=padding, dilation_rate=2)
        y = layer(x)
        k, b = [w.numpy() for w in layer.weights]
        assert k.shape == (3, 3, 4)
        if padding == "causal":
            xp = np.pad(x, ((0, 0), (left, 0), (0, 0)))
            want = R.conv2d(xp[:, None], k[None], dilations=(1, 2))[:, 0] + b
        else:
            want = R.conv2d(x[:, None], k[None], (1, 1), padding.upper(), (1, 2))[:, 0] + b
        np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-12)
        assert y.shape == layer.compute_output_shape(x.shape)
    # causal: output t depends only on inputs <= t
    layer = _f64(L.Conv1D, 2, 3, padding="causal")
    x2 = x.copy()
    x2[:, 5:] += 10
    np.testing.assert_allclose(layer(x).numpy()[:, :5], layer(x2).numpy()[:, :5])


@pytest.mark.parametrize("kw, out_hw", [
    (dict(kernel_size=3, strides=2, padding="same"), (8, 10)),
    (dict(kernel_size=3, strides=2, padding="valid"), (9, 11)),
    (dict(kernel_size=4, strides=2, padding="valid", output_padding=1), (11, 13)),
    (dict(kernel_size=2, strides=1, padding="same"), (4, 5)),
    (dict(kernel_size=3, strides=3, padding="valid"), (12, 15)),
])
def test_conv2d_transpose_shapes_and_values(kw, out_hw):
    x = _x(2, 4, 5, 3)
    layer = _f64(L.Conv2DTranspose, 2, **kw)
    y = layer(x)
    k, b = [w.numpy() for w in layer.weights]
    assert k.shape == (kw["kernel_size"],) * 2 + (2, 3)   # (kh, kw, filters, in_channels)
    assert y.shape == (2,) + out_hw + (2,) == layer.compute_output_shape(x.shape)
    s = (kw["strides"],) * 2
    want = R.conv2d_transpose(x, k, out_hw, s, kw["padding"].upper()) + b
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-12)
    # the transpose of a convolution: <conv(z), x> == <z, conv_transpose(x)>
    z = _x(2, *out_hw, 2)
    lhs = np.sum(R.conv2d(z, k, s, kw["padding"].upper()) * x)
    np.testing.assert_allclose(lhs, np.sum(z * (y.numpy() - b)), rtol=1e-9)


def test_conv1d_transpose_and_channels_first_transpose():
    x = _x(2, 5, 3)
    layer = _f64(L.Conv1DTranspose, 4, 3, strides=2, padding="same")
    y = layer(x)
    k, b = [w.numpy() for w in layer.weights]
    assert k.shape == (3, 4, 3) and y.shape == (2, 10, 4)
    np.testing.assert_allclose(y.numpy(), R.conv2d_transpose(x[:, None], k[None], (1, 10), (1, 2),
                                                             "SAME")[:, 0] + b, rtol=1e-10)
    xc = _x(1, 3, 4, 4)
    lt = _f64(L.Conv2DTranspose, 2, 3, strides=2, padding="same", data_format="channels_first")
    yc = lt(xc)
    assert yc.shape == (1, 2, 8, 8)
    kc, bc = [w.numpy() for w in lt.weights]
    want = R.conv2d_transpose(xc.transpose(0, 2, 3, 1), kc, (8, 8), (2, 2), "SAME") + bc
    np.testing.assert_allclose(yc.numpy(), want.transpose(0, 3, 1, 2), rtol=1e-10)


def test_depthwise_and_separable():
    x = _x(2, 6, 6, 3)
    d = _f64(L.DepthwiseConv2D, 3, depth_multiplier=2, padding="same", bias_initializer="ones")
    y = d(x)
    assert d.kernel.shape == (3, 3, 3, 2) and d.depthwise_kernel is d.kernel and d.bias.shape == (6,)
    np.testing.assert_allclose(y.numpy(), R.depthwise_conv2d(x, d.kernel.numpy(), (1, 1), "SAME") + 1, rtol=1e-10)
    assert y.shape == d.compute_output_shape(x.shape) == (2, 6, 6, 6)
    s = _f64(L.SeparableConv2D, 5, 3, depth_multiplier=2, strides=2)
    y = s(x)
    names = [w.name.split("/")[-1].split(":")[0] for w in s.weights]
    assert names == ["depthwise_kernel", "pointwise_kernel", "bias"]
    dk, pk, b = [w.numpy() for w in s.weights]
    assert dk.shape == (3, 3, 3, 2) and pk.shape == (1, 1, 6, 5)
    want = R.conv2d(R.depthwise_conv2d(x, dk, (2, 2)), pk) + b
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10)
    assert s.count_params() == 3 * 3 * 3 * 2 + 6 * 5 + 5


def test_batch_of_one_and_1x1_images():
    layer = L.Conv2D(3, 3, padding="same")
    assert layer(np.ones((1, 1, 1, 2), np.float32)).shape == (1, 1, 1, 3)
    p = L.MaxPooling2D(padding="same")
    assert p(np.ones((1, 1, 1, 2), np.float32)).shape == (1, 1, 1, 2)


# ---------------------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------------------
def _fd_check(layer, x, n_checks=6, eps=1e-6):
    xt = tf.constant(x)
    w = RNG.standard_normal(layer(xt).shape)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(layer(xt) * w)
    grads = tape.gradient(loss, [xt] + layer.trainable_weights)
    gx = grads[0].numpy()
    for _ in range(n_checks):
        idx = tuple(RNG.integers(0, s) for s in x.shape)
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num = (np.sum(layer(xp).numpy() * w) - np.sum(layer(xm).numpy() * w)) / (2 * eps)
        np.testing.assert_allclose(gx[idx], num, rtol=1e-6, atol=1e-8)
    for v, g in zip(layer.trainable_weights, grads[1:]):
        val = v.numpy()
        for _ in range(3):
            idx = tuple(RNG.integers(0, s) for s in val.shape)
            vals = []
            for sgn in (1, -1):
                vv = val.copy()
                vv[idx] += sgn * eps
                v.assign(vv)
                vals.append(np.sum(layer(x).numpy() * w))
            v.assign(val)
            np.testing.assert_allclose(g.numpy()[idx], (vals[0] - vals[1]) / (2 * eps), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("make, shape", [
    (lambda: L.Conv2D(3, 4, strides=2, padding="same", activation="tanh", dtype="float64"), (2, 7, 6, 2)),
    (lambda: L.Conv2D(2, 3, dilation_rate=2, data_format="channels_first", dtype="float64"), (1, 2, 7, 7)),
    (lambda: L.Conv1D(2, 3, padding="causal", dtype="float64"), (2, 6, 2)),
    (lambda: L.Conv2DTranspose(2, 3, strides=2, padding="same", dtype="float64"), (1, 3, 4, 2)),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=2, strides=2, dtype="float64"), (1, 6, 5, 2)),
    (lambda: L.SeparableConv2D(3, 2, padding="same", dtype="float64"), (2, 4, 4, 2)),
])
def test_layer_gradients_match_finite_differences(make, shape):
    layer = make()
    _fd_check(layer, _x(*shape))


# ---------------------------------------------------------------------------------------
# Symbolic shapes, configs, errors
# ---------------------------------------------------------------------------------------
def test_functional_api_symbolic_shapes_with_none_dims():
    inp = keras.Input((None, None, 3))
    y = L.Conv2D(4, 3, padding="same", strides=2)(inp)
    assert y.shape.as_list() == [None, None, None, 4]
    inp2 = keras.Input((28, 28, 1))
    h = L.Conv2D(32, 3)(inp2)
    assert h.shape.as_list() == [None, 26, 26, 32]
    h = L.Conv2DTranspose(8, 3, strides=2, padding="same")(h)
    assert h.shape.as_list() == [None, 52, 52, 8]
    h = L.SeparableConv2D(4, 3, strides=2)(h)
    assert h.shape.as_list() == [None, 25, 25, 4]
    m = keras.Model(inp2, h)
    assert m.predict(np.zeros((3, 28, 28, 1), np.float32), verbose=0).shape == (3, 25, 25, 4)
    full = keras.Model(inp, y)
    assert full(np.zeros((2, 9, 7, 3), np.float32)).shape == (2, 5, 4, 4)


def test_transposed_conv_with_unknown_image_size():
    """The output size follows Keras's rule from the run-time shape; one trace serves all sizes."""
    inp = keras.Input((None, None, 3))
    layer = L.Conv2DTranspose(2, 3, strides=2, padding="valid", output_padding=1)
    model = keras.Model(inp, layer(inp))
    for hw in ((5, 7), (2, 3)):
        assert model(np.zeros((1,) + hw + (3,), np.float32)).shape == \
            layer.compute_output_shape((1,) + hw + (3,))

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def step(x):
        with tf.GradientTape() as t:
            t.watch(x)
            loss = tf.reduce_sum(tf.square(layer(x)))
        return t.gradient(loss, x)
    for shape in [(1, 4, 4, 3), (2, 3, 5, 3)]:
        assert step(tf.ones(shape)).shape == shape
    assert step.experimental_get_tracing_count() == 1
    one_d = L.Conv1DTranspose(4, 3, strides=2, padding="same")
    i1 = keras.Input((None, 3))
    assert keras.Model(i1, one_d(i1))(np.zeros((2, 5, 3), np.float32)).shape == (2, 10, 4)


@pytest.mark.parametrize("make", [
    lambda: L.Conv2D(8, (3, 2), strides=(2, 1), padding="same", dilation_rate=1, groups=2, activation="relu",
                     use_bias=False, kernel_initializer="he_normal", kernel_regularizer="l2", name="c"),
    lambda: L.Conv1D(4, 5, padding="causal", dilation_rate=2, data_format="channels_last"),
    lambda: L.Conv2DTranspose(3, 4, strides=2, output_padding=1, activation="sigmoid"),
    lambda: L.Conv1DTranspose(3, 3, strides=2, padding="same"),
    lambda: L.DepthwiseConv2D(3, depth_multiplier=3, depthwise_initializer="zeros", padding="same"),
    lambda: L.SeparableConv2D(6, 3, depth_multiplier=2, pointwise_initializer="ones", data_format="channels_first"),
])
def test_config_round_trip(make):
    layer = make()
    cfg = layer.get_config()
    clone = type(layer).from_config(cfg)
    assert clone.get_config() == cfg
    again = L.deserialize(L.serialize(layer))
    assert type(again) is type(layer) and again.get_config() == cfg


def test_keras_defaults_and_aliases():
    c = L.Conv2D(2, 3)
    cfg = c.get_config()
    assert cfg["strides"] == (1, 1) and cfg["padding"] == "valid" and cfg["data_format"] == "channels_last"
    assert cfg["dilation_rate"] == (1, 1) and cfg["groups"] == 1 and cfg["use_bias"] is True
    assert cfg["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert cfg["bias_initializer"]["class_name"] == "Zeros"
    assert L.Convolution2D is L.Conv2D and L.Convolution1D is L.Conv1D
    assert L.Convolution2DTranspose is L.Conv2DTranspose and L.SeparableConvolution2D is L.SeparableConv2D


@pytest.mark.parametrize("make, pattern", [
    (lambda: L.Conv2D(0, 3), "Invalid value for argument `filters`"),
    (lambda: L.Conv2D(4, 0), "kernel_size"),
    (lambda: L.Conv2D(4, 3, padding="full"), "padding"),
    (lambda: L.Conv2D(4, 3, padding="causal"), "padding"),
    (lambda: L.Conv2D(4, 3, strides=2, dilation_rate=2), "`strides > 1` not supported in conjunction"),
    (lambda: L.Conv2D(5, 3, groups=2), "evenly divisible by the number of groups"),
    (lambda: L.Conv2D(4, 3, data_format="NHWC"), "data_format"),
    (lambda: L.Conv2DTranspose(4, 3, strides=2, output_padding=2), "`output_padding` must be < `strides`"),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
])
def test_bad_arguments(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_bad_inputs():
    c = L.Conv2D(4, 3)
    with pytest.raises(ValueError, match="expected ndim=4, found ndim=3"):
        c(np.zeros((2, 8, 8), np.float32))
    c(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="axis -1 of input shape .*value 3.*|expected axis -1"):
        c(np.zeros((1, 8, 8, 2), np.float32))
    with pytest.raises(errors.InvalidArgumentError, match="larger than the input"):
        L.Conv2D(4, 5)(np.zeros((1, 3, 8, 1), np.float32))
    with pytest.raises(ValueError, match="channel dimension of the inputs should be defined"):
        L.Conv2D(4, 3)(keras.Input((8, 8, None)))
    with pytest.raises(ValueError, match="groups"):
        L.Conv2D(4, 3, groups=2)(np.zeros((1, 8, 8, 3), np.float32))


@pytest.mark.parametrize("activation", ["relu", None, "tanh"])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_conv2d_layer_fuses_bias_and_relu_and_matches_the_composite(activation, compiled):
    # Conv2D with a ReLU/linear activation and a bias runs conv2d_bias_act (one op, its
    # gradient one fused pass); its values and gradients equal conv2d + bias + activation.
    from gpuflow.ops import conv_ops
    rng = np.random.default_rng(7)
    layer = tf.keras.layers.Conv2D(5, 3, padding="same", activation=activation)
    x = tf.constant(rng.standard_normal((2, 6, 7, 3)).astype(np.float32))
    layer(x)

    def both(x):
        with tf.GradientTape() as tape:
            y = layer(x)
            loss = tf.reduce_sum(y * y)
        with tf.GradientTape() as tape2:
            z = tf.nn.conv2d(x, layer.kernel, 1, "SAME") + layer.bias
            z = layer.activation(z)
            loss2 = tf.reduce_sum(z * z)
        return y, z, tape.gradient(loss, layer.trainable_weights), tape2.gradient(loss2, layer.trainable_weights)
    run = tf.function(both) if compiled else both
    y, z, g1, g2 = run(x)
    np.testing.assert_allclose(y.numpy(), z.numpy(), rtol=1e-5, atol=1e-5)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)
    traced = []
    orig = conv_ops._conv2d_ba.fn
    try:
        conv_ops._conv2d_ba.fn = lambda *a, **k: traced.append(1) or orig(*a, **k)
        tf.config.run_functions_eagerly(True)
        layer(x)
    finally:
        tf.config.run_functions_eagerly(False)
        conv_ops._conv2d_ba.fn = orig
    assert bool(traced) == (activation != "tanh")
