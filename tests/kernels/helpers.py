"""Test helpers shared by the kernel tests."""
import numpy as np
import pytest

from gpuflow.kernels import native

NATIVE_SKIP = pytest.mark.skipif(
    not native.available(), reason="native kernels unavailable: %s" % native.reason())

#: CPU implementations; 'native' skips cleanly when gpuflow._C is not built.
IMPLS = ["reference", pytest.param("native", marks=NATIVE_SKIP)]


def tolerances(dtype):
    if np.dtype(dtype) == np.float32:
        return dict(rtol=2e-4, atol=2e-5)
    return dict(rtol=1e-10, atol=1e-11)


def assert_close(actual, expected, dtype=None, **kw):
    dtype = dtype or actual.dtype
    tol = tolerances(dtype)
    tol.update(kw)
    assert tuple(actual.shape) == tuple(expected.shape), (actual.shape, expected.shape)
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64),
                               np.asarray(expected, dtype=np.float64), **tol)


def use_isa(setter, name):
    """Generator for a fixture that runs tests with SIMD variant `name` of a family of
    native kernels (`setter`: the name of its `gpuflow._C` setter, e.g. 'set_optim_isa'):
    skips where the CPU (or build) lacks it, restores 'auto' afterwards."""
    if not native.available():
        pytest.skip("native kernels unavailable: %s" % native.reason())
    set_isa = getattr(native.module(), setter)
    try:
        set_isa(name)
    except ValueError as exc:
        pytest.skip(str(exc))
    yield name
    set_isa("auto")
