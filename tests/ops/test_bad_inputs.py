"""Bad inputs give errors that teach: the right class (InvalidArgumentError, a ValueError,
unless noted), naming the op and the shapes/dtypes involved and what was expected."""
import warnings

import numpy as np
import pytest

import gpuflow as gf
from gpuflow import errors

Z23 = lambda: gf.zeros((2, 3))  # noqa: E731

CASES = [
    # (id, call, exception, regex the message must match)
    ("matmul_inner", lambda: gf.zeros((2, 2)) @ gf.zeros((3, 3)), errors.InvalidArgumentError,
     r"matmul.*Matrix size-incompatible: In\[0\]: \[2, 2\], In\[1\]: \[3, 3\]"),
    ("matmul_rank", lambda: gf.matmul(Z23(), gf.zeros(3)), errors.InvalidArgumentError, r"matmul.*rank >= 2.*\(3,\)"),
    ("matmul_batch", lambda: gf.matmul(gf.zeros((2, 2, 3)), gf.zeros((3, 3, 4))), errors.InvalidArgumentError,
     r"matmul: the batch dimensions of In\[0\]: \[2, 2, 3\] and In\[1\]: \[3, 3, 4\]"),
    ("matmul_transposed", lambda: gf.matmul(Z23(), gf.zeros((3, 3)), transpose_a=True), errors.InvalidArgumentError,
     r"In\[0\]: \[2, 3\], In\[1\]: \[3, 3\] \(inner dimensions 2 and 3 differ\) with transpose flags"),
    ("add_shapes", lambda: gf.add(gf.zeros((2, 3)), gf.zeros((4,))), errors.InvalidArgumentError,
     r"add: Incompatible shapes: \(2, 3\) vs. \(1, 4\)"),
    ("reshape", lambda: gf.reshape(Z23(), (4, 2)), errors.InvalidArgumentError,
     r"reshape.*6 elements to shape \[4, 2\]"),
    ("reshape_two_unknown", lambda: gf.reshape(Z23(), [-1, -1]), errors.InvalidArgumentError, "only one dimension"),
    ("concat_dtypes", lambda: gf.concat([gf.zeros(2), gf.zeros(2, dtype=gf.int32)], 0), errors.InvalidArgumentError,
     r"concat.*float32.*int32"),
    ("concat_shapes", lambda: gf.concat([Z23(), gf.zeros((3, 2))], 0), errors.InvalidArgumentError,
     r"concat.*dimension 1 differs.*\(2, 3\), \(3, 2\)"),
    ("stack_shapes", lambda: gf.stack([gf.zeros(2), gf.zeros(3)]), errors.InvalidArgumentError,
     r"stack: shapes of all inputs must match"),
    ("transpose_perm", lambda: gf.transpose(Z23(), [0, 0]), errors.InvalidArgumentError, "not a permutation"),
    ("squeeze_non_one", lambda: gf.squeeze(Z23(), axis=0), errors.InvalidArgumentError, r"squeeze.*is 2, not 1"),
    ("split_uneven", lambda: gf.split(gf.zeros((5, 2)), 2), errors.InvalidArgumentError,
     r"split.*size 5.*2 equal parts"),
    ("split_sizes", lambda: gf.split(gf.zeros((5, 2)), [2, 2]), errors.InvalidArgumentError, r"do not add up.*5"),
    ("unstack_num", lambda: gf.unstack(Z23(), num=3), errors.InvalidArgumentError, r"num=3.*size 2"),
    ("tile_len", lambda: gf.tile(Z23(), [2]), errors.InvalidArgumentError, r"tile.*one entry per dimension"),
    ("pad_shape", lambda: gf.pad(Z23(), [[1, 1]]), errors.InvalidArgumentError, r"pad.*shape \[2, 2\]"),
    ("pad_mode", lambda: gf.pad(Z23(), [[1, 1], [1, 1]], mode="WRAP"), errors.InvalidArgumentError, "WRAP"),
    ("pad_reflect_too_big", lambda: gf.pad(Z23(), [[2, 2], [0, 0]], mode="REFLECT"), errors.InvalidArgumentError,
     r"REFLECT padding of dimension 0 \(size 2\) must be at most 1"),
    ("slice_bounds", lambda: gf.slice(Z23(), [0, 0], [3, 1]), errors.InvalidArgumentError,
     r"slice.*size\[0\]=3.*\(2, 3\)"),
    ("gather_oob", lambda: gf.gather(gf.zeros(2), [3]), errors.InvalidArgumentError, r"gather.*= 3 is not in \[0, 2\)"),
    ("gather_negative", lambda: gf.gather(gf.zeros(2), [-1]), errors.InvalidArgumentError, r"-1 is not in \[0, 2\)"),
    ("gather_float_indices", lambda: gf.gather(Z23(), gf.constant([0.0])), errors.InvalidArgumentError,
     "int32 or int64"),
    ("gather_nd_oob", lambda: gf.gather_nd(Z23(), [[2, 0]]), errors.InvalidArgumentError, r"gather_nd.*not in \[0, 2\)"),
    ("gather_nd_depth", lambda: gf.gather_nd(gf.zeros(3), [[0, 0]]), errors.InvalidArgumentError,
     r"indices.shape\[-1\]=2 must be <= rank of params 1"),
    ("boolean_mask_dtype", lambda: gf.boolean_mask(gf.zeros(3), gf.constant([1, 0, 1])), errors.InvalidArgumentError,
     "must be bool"),
    ("boolean_mask_shape", lambda: gf.boolean_mask(gf.zeros(3), gf.constant([True, False])),
     errors.InvalidArgumentError, r"mask shape \(2,\) does not match tensor shape \(3,\)"),
    ("where_shapes", lambda: gf.where(gf.constant([True, False]), gf.zeros(3), gf.zeros(3)),
     errors.InvalidArgumentError, r"Incompatible shapes: \(2,\) vs. \(3,\)"),
    ("where_condition", lambda: gf.where(gf.constant([1, 0]), gf.zeros(2), gf.zeros(2)), errors.InvalidArgumentError,
     "condition must be bool"),
    ("broadcast_to", lambda: gf.broadcast_to(Z23(), [4, 3]), errors.InvalidArgumentError,
     r"broadcast_to.*\(2, 3\) vs. \(4, 3\)"),
    ("expand_dims_axis", lambda: gf.expand_dims(Z23(), 4), errors.InvalidArgumentError, r"axis 4 out of range"),
    ("one_hot_float", lambda: gf.one_hot(gf.constant([1.0]), 3), errors.InvalidArgumentError, "integers"),
    ("reduce_axis", lambda: gf.reduce_sum(Z23(), axis=2), errors.InvalidArgumentError,
     r"reduce_sum: axis 2 is out of range for a tensor of rank 2"),
    ("reduce_bool", lambda: gf.reduce_sum(gf.constant([True])), errors.InvalidArgumentError, "cast first"),
    ("reduce_any_float", lambda: gf.reduce_any(gf.zeros(3)), errors.InvalidArgumentError, "expects a bool tensor"),
    ("argmax_empty", lambda: gf.argmax(gf.zeros((0, 3))), errors.InvalidArgumentError, "empty"),
    ("cumsum_axis", lambda: gf.cumsum(gf.zeros(3), axis=1), errors.InvalidArgumentError, "out of range"),
    ("top_k_k", lambda: gf.math.top_k(gf.zeros(3), 5), errors.InvalidArgumentError, r"k=5 must be in \[0, 3\]"),
    ("einsum_operands", lambda: gf.einsum("ij,jk->ik", Z23()), errors.InvalidArgumentError,
     "has 2 operands but 1 tensors"),
    ("einsum_rank", lambda: gf.einsum("ij->i", gf.zeros((2, 3, 4))), errors.InvalidArgumentError, "rank 3"),
    ("einsum_sizes", lambda: gf.einsum("ij,jk->ik", Z23(), gf.zeros((4, 2))), errors.InvalidArgumentError,
     r"index 'j' has sizes 3 and 4"),
    ("tensordot_dims", lambda: gf.tensordot(Z23(), gf.zeros((4, 2)), 1), errors.InvalidArgumentError,
     r"tensordot: contracted dimensions differ"),
    ("norm_ord", lambda: gf.linalg.norm(Z23(), ord="nuc"), errors.InvalidArgumentError, "unsupported ord"),
    ("exp_int", lambda: gf.exp(gf.constant([1, 2])), errors.InvalidArgumentError,
     r"exp expects a floating point tensor, got int32.*gf.cast"),
    ("softmax_int", lambda: gf.nn.softmax(gf.constant([1, 2])), errors.InvalidArgumentError, "softmax"),
    ("relu_bool", lambda: gf.nn.relu(gf.constant([True])), errors.InvalidArgumentError, "relu"),
    ("logical_and_float", lambda: gf.logical_and(gf.zeros(2), gf.zeros(2)), errors.InvalidArgumentError,
     "logical_and expects bool"),
    ("int_div_zero", lambda: gf.constant([1, 2]) // gf.constant([1, 0]), errors.InvalidArgumentError,
     "Integer division by zero"),
    ("int_mod_zero", lambda: gf.math.mod(gf.constant([1]), 0), errors.InvalidArgumentError,
     "Integer division by zero"),
    ("int_negative_pow", lambda: gf.pow(gf.constant([2]), gf.constant([-1])), errors.InvalidArgumentError,
     "negative integer powers"),
    ("range_delta", lambda: gf.range(0, 5, 0), errors.InvalidArgumentError, "delta must not be zero"),
    ("zeros_negative", lambda: gf.zeros([-1]), errors.InvalidArgumentError, "non-negative"),
    ("eye_negative", lambda: gf.eye(-1), errors.InvalidArgumentError, "non-negative"),
    ("add_n_empty", lambda: gf.add_n([]), ValueError, "non-empty"),
    ("constant_shape", lambda: gf.constant([1, 2, 3], shape=[2, 2]), TypeError, r"expected 4 elements.*got 3"),
    ("cast_dtype", lambda: gf.cast(gf.zeros(2), "float128"), TypeError, "supported dtypes"),
    ("sort_direction", lambda: gf.sort(gf.zeros(3), direction="UP"), ValueError, "ASCENDING"),
    ("sparse_label_high", lambda: gf.nn.sparse_softmax_cross_entropy_with_logits(gf.constant([0, 4]),
                                                                                 gf.zeros((2, 4))),
     errors.InvalidArgumentError, r"label value of 4 which is outside the valid range of \[0, 4\)"),
    ("sparse_label_negative", lambda: gf.nn.sparse_softmax_cross_entropy_with_logits(gf.constant([-1, 0]),
                                                                                     gf.zeros((2, 4))),
     errors.InvalidArgumentError, r"label value of -1"),
    ("sparse_label_shape", lambda: gf.nn.sparse_softmax_cross_entropy_with_logits(gf.constant([0, 1, 2]),
                                                                                  gf.zeros((2, 4))),
     errors.InvalidArgumentError, r"labels shape \(3,\) must equal logits shape \(2, 4\) without its last"),
    ("sparse_label_dtype", lambda: gf.nn.sparse_softmax_cross_entropy_with_logits(gf.constant([0.0, 1.0]),
                                                                                  gf.zeros((2, 4))),
     errors.InvalidArgumentError, "int32/int64"),
    ("xent_shapes", lambda: gf.nn.softmax_cross_entropy_with_logits(gf.zeros((2, 3)), gf.zeros((2, 4))),
     errors.InvalidArgumentError, r"softmax_cross_entropy_with_logits: labels shape \(2, 3\)"),
    ("bias_add_size", lambda: gf.nn.bias_add(Z23(), gf.zeros(4)), errors.InvalidArgumentError,
     r"bias_add: bias of size 4"),
    ("bias_add_rank", lambda: gf.nn.bias_add(Z23(), gf.zeros((3, 1))), errors.InvalidArgumentError, "1-D"),
    ("moments_axis", lambda: gf.nn.moments(Z23(), axes=[2]), errors.InvalidArgumentError, "axis 2 is out of range"),
]


@pytest.mark.parametrize("call, exc, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_message(call, exc, pattern):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(exc, match=pattern) as ei:
            call()
    if isinstance(ei.value, errors.OpError):
        assert isinstance(ei.value, ValueError)


def test_op_errors_carry_the_op_name():
    with pytest.raises(errors.InvalidArgumentError) as ei:
        gf.reshape(Z23(), (4, 2))
    assert ei.value.op == "reshape"
    with pytest.raises(errors.InvalidArgumentError) as ei:
        gf.gather(gf.zeros(2), [5])
    assert ei.value.op == "gather"


def test_out_of_range_labels_never_give_a_nan_loss():
    logits = gf.constant(np.random.default_rng(0).standard_normal((4, 10)).astype(np.float32))
    for bad in ([0, 1, 2, 10], [0, 1, 2, 100], [-3, 0, 0, 0]):
        with pytest.raises(errors.InvalidArgumentError, match="valid range"):
            gf.nn.sparse_softmax_cross_entropy_with_logits(gf.constant(bad), logits)
    loss = gf.nn.sparse_softmax_cross_entropy_with_logits(gf.constant([0, 1, 2, 9]), logits)
    assert np.all(np.isfinite(loss.numpy()))


def test_stable_functions_stay_finite_for_huge_logits():
    big = gf.constant([[1e4, -1e4, 0.0], [3e38, 3e38, -3e38]])
    for out in (gf.nn.softmax(big), gf.nn.log_softmax(big[:1]), gf.reduce_logsumexp(big[:1], axis=1),
                gf.nn.softmax_cross_entropy_with_logits(gf.constant([[0.0, 1.0, 0.0]]), big[:1]),
                gf.nn.sparse_softmax_cross_entropy_with_logits(gf.constant([1]), big[:1]),
                gf.nn.sigmoid_cross_entropy_with_logits(gf.ones((2, 3)), big), gf.sigmoid(big), gf.math.softplus(big[:1])):
        assert np.all(np.isfinite(out.numpy())), out
    np.testing.assert_allclose(gf.nn.softmax(big).numpy()[0], [1.0, 0.0, 0.0])


def test_gradient_of_sparse_xent_with_huge_logits_is_finite():
    x = gf.constant([[1e4, -1e4, 0.0]])
    with gf.GradientTape() as t:
        t.watch(x)
        loss = gf.reduce_sum(gf.nn.sparse_softmax_cross_entropy_with_logits(gf.constant([1]), x))
    g = t.gradient(loss, x).numpy()
    np.testing.assert_allclose(g, [[1.0, -1.0, 0.0]], atol=1e-6)


def test_gradient_through_qr_is_a_clear_error():
    x = gf.Variable([[1.0, 2.0], [3.0, 4.0]])
    with gf.GradientTape() as t:
        q, r = gf.linalg.qr(x)
        y = gf.reduce_sum(r)
    with pytest.raises(gf.errors.UnimplementedError, match="qr has no gradient"):
        t.gradient(y, x)
