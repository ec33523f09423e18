"""gf.nn convolution, pooling, normalization, embedding and upsampling ops through the op
harness (tests/ops/op_harness.py): forward against explicit NumPy float64 loops (float32
and float64), gradients against central finite differences, double-backward (the
gradient ops are differentiable again) and shape rules on symbolic inputs, also with an
unknown batch dimension."""
import numpy as np

import gpuflow as gf
from gpuflow.ops import conv_ops
from op_harness import OpCase, N, P, I, Distinct, op_tests

import conv_refs as R

TOL = {"float32": dict(rtol=2e-4, atol=2e-5)}


def _nchw(f):
    """A NHWC reference applied to NCHW arrays."""
    def ref(x, *rest):
        return f(np.transpose(x, (0, 2, 3, 1)), *rest).transpose(0, 3, 1, 2)
    return ref


def _case(name, fn, ref, inputs, **kw):
    kw.setdefault("tol", TOL)
    return OpCase(name, fn, ref, inputs, **kw)


def _bn_ref(x, g, b):
    return list(R.batch_norm_train(x, g, b, 1e-3))


def _ln_ref(x, g, b):
    mean = x.mean(-1)
    var = x.var(-1)
    return [R.layer_norm(x, g, b, 1e-3), mean, var]


def _bias_act_ref(x, k, b, stride=(1, 1), padding="VALID", relu=False):
    z = R.conv2d(x, k, stride, padding) + b
    return np.maximum(z, 0) if relu else z


CASES = [
    _case("conv2d_bias_act_linear", lambda x, k, b: conv_ops.conv2d_bias_act(x, k, b, 1, "VALID"), _bias_act_ref,
          [[N(1, 4, 4, 2), N(2, 2, 2, 3), N(3)], [N(2, 5, 6, 3), N(3, 3, 3, 4), N(4)]]),
    _case("conv2d_bias_act_relu_same_stride2",
          lambda x, k, b: conv_ops.conv2d_bias_act(x, k, b, 2, "SAME", activation="relu"),
          lambda x, k, b: _bias_act_ref(x, k, b, (2, 2), "SAME", relu=True),
          [[N(1, 4, 3, 2), N(2, 2, 2, 2), N(2)], [N(2, 5, 5, 2), N(3, 3, 2, 3), N(3)]]),
    _case("conv2d_valid", lambda x, k: gf.nn.conv2d(x, k, 1, "VALID"), R.conv2d,
          [[N(1, 4, 4, 2), N(2, 2, 2, 2)], [N(2, 5, 6, 3), N(3, 3, 3, 4)]]),
    _case("conv2d_same_even_kernel_stride2", lambda x, k: gf.nn.conv2d(x, k, 2, "SAME"),
          lambda x, k: R.conv2d(x, k, (2, 2), "SAME"),
          [[N(1, 4, 3, 1), N(2, 2, 1, 2)], [N(2, 7, 6, 2), N(4, 4, 2, 3)]]),
    _case("conv2d_dilated", lambda x, k: gf.nn.conv2d(x, k, 1, "SAME", dilations=2),
          lambda x, k: R.conv2d(x, k, (1, 1), "SAME", (2, 2)),
          [[N(1, 4, 4, 1), N(2, 2, 1, 1)], [N(2, 7, 7, 2), N(3, 3, 2, 2)]]),
    _case("conv2d_explicit_padding",
          lambda x, k: gf.nn.conv2d(x, k, [1, 2, 1, 1], [[0, 0], [1, 2], [0, 1], [0, 0]]),
          lambda x, k: R.conv2d(x, k, (2, 1), (1, 2, 0, 1)),
          [[N(1, 3, 3, 1), N(2, 2, 1, 2)], [N(2, 5, 4, 2), N(3, 2, 2, 3)]]),
    _case("conv2d_1x1_image", lambda x, k: gf.nn.conv2d(x, k, 1, "SAME"),
          lambda x, k: R.conv2d(x, k, (1, 1), "SAME"),
          [[N(1, 1, 1, 2), N(3, 3, 2, 2)], [N(3, 1, 1, 3), N(1, 1, 3, 2)]]),
    _case("conv2d_nchw", lambda x, k: gf.nn.conv2d(x, k, [1, 1, 2, 2], "SAME", data_format="NCHW"),
          _nchw(lambda x, k: R.conv2d(x, k, (2, 2), "SAME")),
          [[N(1, 2, 3, 3), N(2, 2, 2, 1)], [N(2, 3, 5, 5), N(3, 3, 3, 2)]]),
    _case("conv1d", lambda x, k: gf.nn.conv1d(x, k, 2, "SAME"),
          lambda x, k: R.conv2d(x[:, None], k[None], (1, 2), "SAME")[:, 0],
          [[N(1, 5, 2), N(3, 2, 2)], [N(2, 7, 3), N(3, 3, 4)]]),
    _case("conv1d_dilated_ncw", lambda x, k: gf.nn.conv1d(x, k, 1, "VALID", data_format="NCW", dilations=2),
          lambda x, k: R.conv2d(x.transpose(0, 2, 1)[:, None], k[None], (1, 1), "VALID",
                                (1, 2))[:, 0].transpose(0, 2, 1),
          [[N(1, 2, 6), N(2, 2, 1)]]),
    _case("conv2d_transpose_same", lambda x, k: gf.nn.conv2d_transpose(x, k, [x.shape[0], 6, 6, 2], 2, "SAME"),
          lambda x, k: R.conv2d_transpose(x, k, (6, 6), (2, 2), "SAME"),
          [[N(1, 3, 3, 2), N(2, 2, 2, 2)], [N(2, 3, 3, 4), N(3, 3, 2, 4)]], symbolic="known"),
    _case("conv2d_transpose_valid", lambda x, k: gf.nn.conv2d_transpose(x, k, [x.shape[0], 7, 7, 2], 2, "VALID"),
          lambda x, k: R.conv2d_transpose(x, k, (7, 7), (2, 2), "VALID"),
          [[N(1, 3, 3, 1), N(3, 3, 2, 1)]], symbolic="known"),
    _case("conv1d_transpose", lambda x, k: gf.nn.conv1d_transpose(x, k, [x.shape[0], 8, 2], 2, "SAME"),
          lambda x, k: R.conv2d_transpose(x[:, None], k[None], (1, 8), (1, 2), "SAME")[:, 0],
          [[N(1, 4, 3), N(3, 2, 3)]], symbolic="known"),
    _case("depthwise_conv2d_same", lambda x, k: gf.nn.depthwise_conv2d(x, k, [1, 1, 1, 1], "SAME"),
          lambda x, k: R.depthwise_conv2d(x, k, (1, 1), "SAME"),
          [[N(1, 3, 3, 2), N(2, 2, 2, 2)], [N(2, 5, 5, 3), N(3, 3, 3, 2)]]),
    _case("depthwise_conv2d_stride2_dilated", lambda x, k: gf.nn.depthwise_conv2d(x, k, 2, "VALID", dilations=1),
          lambda x, k: R.depthwise_conv2d(x, k, (2, 2), "VALID"),
          [[N(1, 5, 5, 2), N(3, 3, 2, 1)]]),
    _case("depthwise_conv2d_dilation", lambda x, k: gf.nn.depthwise_conv2d(x, k, 1, "SAME", dilations=2),
          lambda x, k: R.depthwise_conv2d(x, k, (1, 1), "SAME", (2, 2)),
          [[N(1, 5, 4, 2), N(2, 2, 2, 2)]]),
    _case("separable_conv2d", lambda x, d, p: gf.nn.separable_conv2d(x, d, p, 1, "SAME"),
          lambda x, d, p: R.conv2d(R.depthwise_conv2d(x, d, (1, 1), "SAME"), p),
          [[N(1, 3, 3, 2), N(2, 2, 2, 2), N(1, 1, 4, 2)], [N(2, 5, 5, 2), N(3, 3, 2, 2), N(1, 1, 4, 3)]]),
    _case("max_pool2d_valid", lambda x: gf.nn.max_pool2d(x, 2, 2, "VALID"),
          lambda x: R.pool2d(x, (2, 2), (2, 2), "VALID", "max"),
          [[Distinct(1, 4, 4, 2)], [Distinct(2, 7, 6, 3)]], ref_exact=False),
    _case("max_pool2d_same_overlapping", lambda x: gf.nn.max_pool2d(x, 3, 2, "SAME"),
          lambda x: R.pool2d(x, (3, 3), (2, 2), "SAME", "max"),
          [[Distinct(1, 5, 4, 2)], [Distinct(2, 6, 6, 1)]]),
    _case("max_pool2d_nchw", lambda x: gf.nn.max_pool2d(x, [1, 1, 2, 2], [1, 1, 1, 1], "VALID", data_format="NCHW"),
          _nchw(lambda x: R.pool2d(x, (2, 2), (1, 1), "VALID", "max")), [[Distinct(1, 2, 3, 3)]]),
    _case("max_pool_1x1_image", lambda x: gf.nn.max_pool2d(x, 2, 2, "SAME"),
          lambda x: R.pool2d(x, (2, 2), (2, 2), "SAME", "max"), [[Distinct(2, 1, 1, 3)]]),
    _case("avg_pool2d_valid", lambda x: gf.nn.avg_pool2d(x, 2, 2, "VALID"),
          lambda x: R.pool2d(x, (2, 2), (2, 2), "VALID", "avg"), [[N(1, 4, 4, 2)], [N(2, 7, 6, 3)]]),
    _case("avg_pool2d_same", lambda x: gf.nn.avg_pool2d(x, [3, 2], [2, 1], "SAME"),
          lambda x: R.pool2d(x, (3, 2), (2, 1), "SAME", "avg"), [[N(1, 5, 4, 2)], [N(2, 6, 6, 1)]]),
    _case("max_pool1d", lambda x: gf.nn.max_pool1d(x, 3, 2, "SAME"),
          lambda x: R.pool2d(x[:, None], (1, 3), (1, 2), "SAME", "max")[:, 0], [[Distinct(2, 7, 3)]]),
    _case("avg_pool1d", lambda x: gf.nn.avg_pool1d(x, 2, 1, "VALID"),
          lambda x: R.pool2d(x[:, None], (1, 2), (1, 1), "VALID", "avg")[:, 0], [[N(2, 5, 3)]]),
    _case("max_pool_nd", lambda x: gf.nn.max_pool(x, 2, 2, "VALID"),
          lambda x: R.pool2d(x, (2, 2), (2, 2), "VALID", "max"), [[Distinct(1, 4, 4, 1)]]),
    _case("avg_pool_nd_1d", lambda x: gf.nn.avg_pool(x, 2, 2, "VALID"),
          lambda x: R.pool2d(x[:, None], (1, 2), (1, 2), "VALID", "avg")[:, 0], [[N(1, 4, 2)]]),
    _case("fused_batch_norm", lambda x, g, b: list(conv_ops.fused_batch_norm(x, g, b, 1e-3)), _bn_ref,
          [[N(5, 3), P(3), N(3)], [N(2, 3, 3, 2), P(2), N(2)]], symbolic="known"),
    _case("fused_layer_norm", lambda x, g, b: list(conv_ops.fused_layer_norm(x, g, b, 1e-3)), _ln_ref,
          [[N(3, 4), P(4), N(4)], [N(2, 3, 5), P(5), N(5)]]),
    _case("embedding", lambda t, i: conv_ops.embedding(t, i), lambda t, i: t[i],
          [[N(5, 3), I(0, 5, 2, 4)], [N(7, 2), I(0, 7, 3)]]),
    _case("upsample_nearest2d", lambda x: conv_ops.upsample_nearest2d(x, (2, 3)),
          lambda x: x.repeat(2, axis=1).repeat(3, axis=2), [[N(1, 2, 2, 1)], [N(2, 3, 2, 3)]]),
]

test_forward, test_gradient, test_double_backward, test_symbolic_shape = op_tests(CASES)
