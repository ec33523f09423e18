"""Loader for the optional C++ extension ``gpuflow._C``.

The extension holds the CPU kernels (OpenMP, float32/float64).  It is built by
``pip install`` when a C++17 compiler is present; when it is missing every
kernel falls back to its NumPy reference implementation.  Nothing here raises
at import time.

Environment:
  GPUFLOW_DISABLE_NATIVE=1  ignore the extension even when it is built (the
    reference kernels run instead; useful to compare or to debug).
  GPUFLOW_NUM_THREADS  threads of the OpenMP kernels (default 1).  They are
    memory-bound (im2col, col2im, pooling, normalization, the fused optimizer
    updates) and run between BLAS calls whose threads keep spinning on every
    core; a second OpenMP thread then waits for a core.  Measured on the
    2-core CI machine: col2im of a [32, 24, 24, 32] gradient (3x3 window)
    1.3 ms on one thread, 5.2 ms on two; im2col 1.1 vs 1.7 ms; the notes' CNN
    step compiled the same on one or two threads when the machine is idle,
    slower on two when it is loaded (with two threads it once took 1.16 s
    per step, where the same run without the OpenMP kernels took 0.056 s).
    BLAS keeps its own default (OPENBLAS_NUM_THREADS / OMP_NUM_THREADS).
    `set_num_threads` changes it at run time.
  The compute-bound kernels (the direct convolution, which does the work of a
    GEMM) use as many threads as BLAS: GPUFLOW_BLAS_THREADS when set, else every
    usable CPU; `gf.config.threading.set_intra_op_parallelism_threads` changes
    both.
  OMP_WAIT_POLICY  defaults to PASSIVE when unset (set before the extension
    loads the OpenMP runtime): idle OpenMP workers then sleep instead of
    spinning, which otherwise steals the cores NumPy's BLAS threads need for
    the GEMM between two of our kernels (measured: up to 30x slower
    conv2d on 2 cores).  Set OMP_WAIT_POLICY=ACTIVE to override.
"""
import importlib
import logging
import os
import threading

__all__ = ["available", "reason", "module", "get", "warn_if_unavailable", "set_num_threads", "get_num_threads"]

_log = logging.getLogger("gpuflow.kernels")
_lock = threading.Lock()
_state = {"loaded": False, "module": None, "reason": None, "warned": False}


def _load():
    with _lock:
        if _state["loaded"]:
            return
        if os.environ.get("GPUFLOW_DISABLE_NATIVE", "").strip() not in ("", "0"):
            _state["reason"] = "gpuflow._C disabled by GPUFLOW_DISABLE_NATIVE=%s" % (
                os.environ["GPUFLOW_DISABLE_NATIVE"])
        else:
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            try:
                _state["module"] = importlib.import_module("gpuflow._C")
            except ImportError as exc:
                _state["reason"] = (
                    "gpuflow._C not built: %s (reinstall with a C++17 compiler, e.g. "
                    "`pip install -e .`, to get the native CPU kernels)" % exc)
            else:
                _apply_thread_setting(_state["module"])
        _state["loaded"] = True


def _threads_from_env():
    raw = os.environ.get("GPUFLOW_NUM_THREADS", "").strip()
    if not raw:
        return 1
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        _log.warning("GPUFLOW_NUM_THREADS=%r is not a positive integer; the native kernels use 1 thread.", raw)
        return 1
    return n


def usable_cpus():
    """The number of CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _compute_threads_from_env():
    """Threads of the compute-bound kernels: as many as BLAS uses (GPUFLOW_BLAS_THREADS
    when set, else every usable CPU, OpenBLAS's default)."""
    raw = os.environ.get("GPUFLOW_BLAS_THREADS", "").strip()
    try:
        n = int(raw) if raw else 0
    except ValueError:
        n = 0
    return n if n > 0 else usable_cpus()


def _apply_thread_setting(mod):
    setter = getattr(mod, "set_num_threads", None)
    if setter is not None:   # an extension built before the setting existed has none
        setter(_threads_from_env())
    setter = getattr(mod, "set_compute_threads", None)
    if setter is not None:
        setter(_compute_threads_from_env())


def available():
    """Returns True when the native CPU kernels (``gpuflow._C``) can be used."""
    _load()
    return _state["module"] is not None


def reason():
    """Returns why the native kernels are unavailable, or None when they are.

    Returns:
      A string such as ``"gpuflow._C not built: No module named 'gpuflow._C' ..."``
      or None.
    """
    _load()
    return _state["reason"]


def module():
    """Returns the ``gpuflow._C`` extension module.

    Raises:
      RuntimeError: if the extension is unavailable; the message says why.
    """
    _load()
    if _state["module"] is None:
        raise RuntimeError(_state["reason"])
    return _state["module"]


def get():
    """The ``gpuflow._C`` module, or None when it is unavailable (for hot paths
    that try the C++ kernel first; never warns or raises)."""
    if not _state["loaded"]:
        _load()
    return _state["module"]


def warn_if_unavailable():
    """Logs one warning (per process) that the reference kernels are in use."""
    _load()
    if _state["module"] is None and not _state["warned"]:
        _state["warned"] = True
        _log.warning("%s; using the slower NumPy reference kernels.", _state["reason"])


def set_num_threads(n):
    """Sets the number of threads of the native OpenMP kernels (default 1, or
    GPUFLOW_NUM_THREADS). Without OpenMP the kernels always use one.

    Raises:
      RuntimeError: the native kernels are unavailable.
      ValueError: n < 1.
    """
    n = int(n)
    if n < 1:
        raise ValueError("set_num_threads: the number of threads must be >= 1, got %d" % n)
    module().set_num_threads(n)


def get_num_threads():
    """The number of threads the native OpenMP kernels use (1 when they are unavailable
    or built without OpenMP)."""
    if not available():
        return 1
    return int(module().get_num_threads())
