"""Fused optimizer update ops: `adam_update`, `sgd_momentum_update`, `rmsprop_update`.

Each op reads a variable's value, its gradient, the optimizer slots and the
per-step scalar (Adam's `alpha`, or the learning rate) as tensors, and returns
the NEW value and slots as new tensors, computed in one pass by the fused
kernels of `gpuflow.kernels.optim` (C++ on the CPU, CUDA on a GPU, or the
NumPy/CuPy reference; see `use_kernels`). Nothing is written in place: the
optimizer assigns the results to its Variables (`Variable.assign`, which
replaces the Variable's array), so tape snapshots and tensors a user holds keep
their values, eagerly and inside `gf.function` (where the results are ordinary
state updates of the graph).

The ops compute the exact formulas of `gpuflow.keras.optimizers` (Keras 3), in
the same order and dtype; hyperparameters kept as Python floats by the
optimizers (`beta_1`, `rho`, `epsilon`, ...) are attributes, per-step values
are inputs (so a learning-rate schedule never retraces). The ops are not
differentiable (an optimizer update is not recorded by tapes) and take
float32/float64 tensors of one dtype and shape.

The bodies take an optional `out=` tuple of arrays to write the results into: the
compiled CPU backend passes buffers it reuses from step to step (never an array a
Variable or a caller still holds; see `gpuflow.compiler.cpu_backend.OUT_OPS`).
"""
from gpuflow import errors
from gpuflow import kernels as _K
from gpuflow.ops.registry import op, apply

__all__ = ["adam_update", "sgd_momentum_update", "rmsprop_update", "use_kernels", "get_kernel_impl",
           "set_kernel_impl", "is_supported_dtype", "SUPPORTED_DTYPES"]

#: dtype names the fused update ops take.
SUPPORTED_DTYPES = ("float32", "float64")

_IMPL = {"impl": None}
_IMPLS = (None, "native", "reference")


def get_kernel_impl():
    """The kernel implementation of the fused updates: None (fastest available),
    'native' (C++/CUDA, an error if missing) or 'reference' (NumPy/CuPy)."""
    return _IMPL["impl"]


def set_kernel_impl(impl):
    """Sets the kernel implementation (None, 'native' or 'reference') for every later
    update, eager or compiled (compiled steps read it when they run)."""
    if impl not in _IMPLS:
        raise ValueError("kernel impl must be None, 'native' or 'reference', got %r" % (impl,))
    _IMPL["impl"] = impl


class use_kernels:  # noqa: N801 - a context manager used like a function
    """`with use_kernels('reference'):` runs the fused updates on the reference
    kernels inside the block (`'native'`: the compiled ones; None: the fastest)."""

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


def _err(name, msg):
    return errors.InvalidArgumentError("%s: %s" % (name, msg), op=name)


def _infer(name, n_arrays, scalar_index, n_out):
    """Shape rule: `n_arrays` same-shaped float tensors (the scalar input at
    `scalar_index` excluded) -> `n_out` results shaped and typed like the first."""
    def infer(specs, **attrs):
        (d0, t0) = specs[0]
        if t0.name not in SUPPORTED_DTYPES:
            raise _err(name, "expected float32 or float64 tensors, got %s" % t0.name)
        arrays = [s for i, s in enumerate(specs) if i != scalar_index]
        if len(arrays) != n_arrays:
            raise _err(name, "expected %d tensors besides the scalar, got %d" % (n_arrays, len(arrays)))
        for i, (d, t) in enumerate(specs):
            if t is not t0:
                raise _err(name, "input %d has dtype %s but the variable has dtype %s" % (i, t.name, t0.name))
        for d, _ in arrays[1:]:
            if d is not None and d0 is not None and (len(d) != len(d0) or any(
                    a is not None and b is not None and a != b for a, b in zip(d, d0))):
                raise _err(name, "shape mismatch: %s vs the variable's %s" % (tuple(d), tuple(d0)))
        sd = specs[scalar_index][0]
        if sd is not None and len(sd) != 0:
            raise _err(name, "the step scalar must be 0-d, got shape %s" % (tuple(sd),))
        return [(d0, t0)] * n_out
    return infer


def _prepared(kernel, body, unpack):
    """`Op.prepare` of a fused update: for the compiled CPU backend, which always
    passes `out=` buffers, a call straight into the C++ kernel (it validates every
    array itself) that skips the public function's Python checks; any error there
    (nothing is written then), `impl='reference'` or a missing extension takes the
    op's body, which checks and reports as usual.

    The gradient (the second array) may be a pair `(a, b)` standing for ``a.T @ b``: the
    compiled backend passes a Dense kernel's gradient that way when nothing else reads it
    (`cpu_backend._product_grad_updates`), and the C++ update computes it in cache-sized
    chunks without storing it; the op's body gets the product computed. A triple
    `(a, b, dx)` also writes the layer's input gradient ``b @ w.T`` (w before the update)
    into `dx`."""
    def prepare(attrs):
        fast = _K.optim.native_into(kernel, **attrs)

        def run(xp, *arrays, out):
            if fast is not None and _IMPL["impl"] != "reference":
                try:
                    return fast(*unpack(arrays), out)
                except (ValueError, TypeError):
                    pass
            if type(arrays[1]) is tuple:
                a, b = arrays[1][:2]
                if len(arrays[1]) == 3:     # also the input gradient b w^T, from w before the update
                    xp.matmul(b, arrays[0].T, out=arrays[1][2])
                arrays = (arrays[0], xp.matmul(a.T, b)) + arrays[2:]
            return body(xp, *arrays, out=out, **attrs)
        return run
    return prepare


# --------------------------------------------------------------------- adam
def _adam_body(xp, w, g, m, v, alpha, *, beta_1, beta_2, epsilon, out=None):
    return _K.adam_update(w, g, m, v, alpha, beta_1, beta_2, epsilon, out=out, impl=_IMPL["impl"])


def _adam_amsgrad_body(xp, w, g, m, v, v_hat, alpha, *, beta_1, beta_2, epsilon, out=None):
    return _K.adam_update(w, g, m, v, alpha, beta_1, beta_2, epsilon, v_hat=v_hat, out=out, impl=_IMPL["impl"])


_adam = op("adam_update", infer=_infer("adam_update", 4, 4, 3), num_outputs=3, differentiable=False,
           prepare=_prepared("adam_update", _adam_body, lambda a: (a[0], a[1], a[2], a[3], None, a[4])))(_adam_body)
_adam_amsgrad = op("adam_amsgrad_update", infer=_infer("adam_amsgrad_update", 5, 5, 4), num_outputs=4,
                   differentiable=False,
                   prepare=_prepared("adam_update", _adam_amsgrad_body, lambda a: a))(_adam_amsgrad_body)


def adam_update(w, g, m, v, alpha, beta_1, beta_2, epsilon, v_hat=None):
    """One fused Adam step (Keras 3's formula, see `gpuflow.kernels.adam_update`).

    Args:
      w, g, m, v: tensors (or Variables) of one float dtype and shape: the weight,
        its gradient, the first and second moments.
      alpha: 0-d tensor of that dtype, `lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`.
      beta_1, beta_2, epsilon: Python numbers.
      v_hat: AMSGrad's maximum of the second moments, or None.

    Returns:
      `(w', m', v')`, or `(w', m', v', v_hat')` with `v_hat`: new tensors.
    """
    attrs = {"beta_1": float(beta_1), "beta_2": float(beta_2), "epsilon": float(epsilon)}
    if v_hat is None:
        return apply(_adam, (w, g, m, v, alpha), attrs)
    return apply(_adam_amsgrad, (w, g, m, v, v_hat, alpha), attrs)


# ---------------------------------------------------------------------- sgd
def _sgd_body(xp, w, g, m, lr, *, momentum, nesterov, out=None):
    return _K.sgd_momentum_update(w, g, m, lr, momentum, nesterov, out=out, impl=_IMPL["impl"])


_sgd = op("sgd_momentum_update", infer=_infer("sgd_momentum_update", 3, 3, 2), num_outputs=2,
          differentiable=False, prepare=_prepared("sgd_momentum_update", _sgd_body, lambda a: a))(_sgd_body)


def sgd_momentum_update(w, g, m, lr, momentum, nesterov=False):
    """One fused step of SGD with (Nesterov) momentum: `(w', m')` as new tensors.

    `lr` is a 0-d tensor of w's dtype, `momentum` a Python number."""
    return apply(_sgd, (w, g, m, lr), {"momentum": float(momentum), "nesterov": bool(nesterov)})


# ------------------------------------------------------------------ rmsprop
def _rmsprop_op(centered, use_momentum):
    n = 3 + centered + use_momentum
    name = "rmsprop_update" + ("_centered" if centered else "") + ("_momentum" if use_momentum else "")

    def unpack(arrays):
        """(w, g, v, a, m, lr) from the op's inputs (a and m None when absent)."""
        return (arrays[0], arrays[1], arrays[2], arrays[3] if centered else None,
                arrays[n - 1] if use_momentum else None, arrays[n])

    def body(xp, *arrays, rho, momentum, epsilon, out=None):
        w, g, v, a, m, lr = unpack(arrays)
        return _K.rmsprop_update(w, g, v, lr, rho, momentum, epsilon, a=a, m=m, out=out,
                                 impl=_IMPL["impl"])
    return op(name, infer=_infer(name, n, n, n - 1), num_outputs=n - 1, differentiable=False,
              prepare=_prepared("rmsprop_update", body, unpack))(body)


_RMSPROP = {(c, m): _rmsprop_op(c, m) for c in (False, True) for m in (False, True)}


def rmsprop_update(w, g, v, lr, rho, momentum, epsilon, a=None, m=None):
    """One fused RMSprop step: `(w', v')` followed by `a'` (centered, `a` given)
    and `m'` (momentum, `m` given), as new tensors.

    `lr` is a 0-d tensor of w's dtype; `rho`, `momentum`, `epsilon` Python numbers."""
    inputs = (w, g, v) + ((a,) if a is not None else ()) + ((m,) if m is not None else ()) + (lr,)
    attrs = {"rho": float(rho), "momentum": float(momentum), "epsilon": float(epsilon)}
    return apply(_RMSPROP[(a is not None, m is not None)], inputs, attrs)


def is_supported_dtype(dtype):
    """True when the fused updates take variables of `dtype` (a gpuflow DType)."""
    return getattr(dtype, "name", None) in SUPPORTED_DTYPES
