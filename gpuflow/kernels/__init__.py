"""gpuflow.kernels: hand-written kernels as plain functions on arrays.

Every function takes NumPy or CuPy arrays and runs, by default, the fastest
implementation available for the inputs' device:

* NumPy arrays: the C++ kernels of the optional extension ``gpuflow._C``
  (OpenMP), else the NumPy reference implementation;
* CuPy arrays: the CUDA kernels of ``csrc/cuda/*.cu`` compiled at run time by
  NVRTC (through ``cupy.RawModule``), else the CuPy reference implementation.

``impl='native'`` forces the compiled kernel and ``impl='reference'`` the
array-module implementation, which the tests use as the specification.  No
autograd here: the ops layer builds differentiable ops on these functions.

This package imports only NumPy; CuPy is imported when CuPy arrays arrive.
"""
from gpuflow.kernels import native
from gpuflow.kernels._dispatch import get_array_module
from gpuflow.kernels.conv import (
    col2im,
    conv2d_backward,
    conv2d_backward_filter,
    conv2d_backward_input,
    conv2d_forward,
    conv2d_bias_act,
    bias_act_backward,
    depthwise_conv2d_backward,
    depthwise_conv2d_backward_filter,
    depthwise_conv2d_backward_input,
    depthwise_conv2d_forward,
    im2col,
)
from gpuflow.kernels.embedding import embedding_grad
from gpuflow.kernels.optim import adam_update, rmsprop_update, sgd_momentum_update
from gpuflow.kernels.norm import (
    batch_norm_backward,
    batch_norm_forward,
    layer_norm_backward,
    layer_norm_forward,
)
from gpuflow.kernels.pool import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)
from gpuflow.kernels.rnn import gru_cell_backward, gru_cell_forward, lstm_cell_backward, lstm_cell_forward
from gpuflow.kernels.window import Window2D, make_window, same_padding
from gpuflow.kernels.xent import sparse_softmax_cross_entropy_backward, sparse_softmax_cross_entropy_forward

__all__ = [
    "native", "get_array_module", "Window2D", "make_window", "same_padding",
    "im2col", "col2im",
    "conv2d_forward", "conv2d_bias_act", "bias_act_backward", "conv2d_backward_input", "conv2d_backward_filter", "conv2d_backward",
    "depthwise_conv2d_forward", "depthwise_conv2d_backward_input",
    "depthwise_conv2d_backward_filter", "depthwise_conv2d_backward",
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "sparse_softmax_cross_entropy_forward", "sparse_softmax_cross_entropy_backward",
    "embedding_grad",
    "batch_norm_forward", "batch_norm_backward", "layer_norm_forward", "layer_norm_backward",
    "lstm_cell_forward", "lstm_cell_backward", "gru_cell_forward", "gru_cell_backward",
    "adam_update", "sgd_momentum_update", "rmsprop_update",
]
