"""CPU thread pools: how many threads NumPy's BLAS uses (`gf.config.threading`).

On a machine whose cores are busy with other work, a multi-threaded BLAS waits for its
helper threads to be scheduled, and small matrix products can become 10-40x slower.
`gf.config.threading.set_intra_op_parallelism_threads(1)` (TensorFlow's name) makes
BLAS single-threaded; `GPUFLOW_BLAS_THREADS=1` does the same at import time. The
default leaves BLAS as NumPy configured it (all cores), which is fastest on an idle
machine. The same count applies to gpuflow's compute-bound C++ kernels (the direct
convolution). OpenBLAS is controlled through its C API; other BLAS libraries are left alone
and `get_intra_op_parallelism_threads()` reports 0 for them.
"""
import ctypes
import os

_api = {}


def _openblas():
    """(set, get) functions of the OpenBLAS NumPy loaded, or None."""
    if "fns" in _api:
        return _api["fns"]
    fns = None
    try:
        import numpy  # noqa: F401  (loads the BLAS)
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line})
    except OSError:
        paths = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_", ""):
            for suffix in ("64_", ""):
                s = getattr(lib, "%sopenblas_set_num_threads%s" % (prefix, suffix), None)
                g = getattr(lib, "%sopenblas_get_num_threads%s" % (prefix, suffix), None)
                if s is not None and g is not None:
                    s.argtypes = [ctypes.c_int]
                    fns = (s, g)
                    break
            if fns:
                break
        if fns:
            break
    _api["fns"] = fns
    return fns


def set_intra_op_parallelism_threads(num_threads):
    """Sets the number of threads BLAS uses inside one op (0 = all cores).

    Args:
      num_threads: a non-negative int.

    Raises:
      ValueError: a negative number.
    """
    n = int(num_threads)
    if n < 0:
        raise ValueError("set_intra_op_parallelism_threads: expected a number >= 0, got %d" % n)
    from gpuflow.kernels import native
    count = n if n > 0 else native.usable_cpus()
    mod = native.get()
    if mod is not None and hasattr(mod, "set_compute_threads"):
        mod.set_compute_threads(count)   # the direct convolution does a GEMM's work
    fns = _openblas()
    if fns is None:
        return
    fns[0](count)


def get_intra_op_parallelism_threads():
    """The number of BLAS threads (0 when the BLAS cannot be queried)."""
    fns = _openblas()
    return int(fns[1]()) if fns is not None else 0


def set_inter_op_parallelism_threads(num_threads):
    """Accepted for TensorFlow compatibility: gpuflow runs one op at a time per thread."""
    if int(num_threads) < 0:
        raise ValueError("set_inter_op_parallelism_threads: expected a number >= 0, got %r" % (num_threads,))


def get_inter_op_parallelism_threads():
    return 1


def apply_environment():
    """Honours GPUFLOW_BLAS_THREADS (read once, when a CPU op first needs BLAS)."""
    v = os.environ.get("GPUFLOW_BLAS_THREADS", "").strip()
    if v:
        set_intra_op_parallelism_threads(int(v))
