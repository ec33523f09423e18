"""The gpuflow benchmark suite: what `gpuflow bench` and `python benchmarks/run_suite.py` run.

Workloads (see docs/benchmarks.md for the full description and the targets):

  (a) linear   the reference notes' linear model: 20,000 samples of 2 features (the notes'
               two Gaussian blobs), batch 256 (79 steps, the last of 32), SGD learning rate
               0.01 written as `w.assign_sub(lr * dloss_dw)`: ms per epoch.
  (b) mlp      MLP 784-256-256-10, batch 64, Adam, sparse categorical cross-entropy from
               logits: ms per training step.
  (c) cnn      the notes' CNN: Conv2D(32, 3, relu), Conv2D(64, 3, relu), Flatten,
               Dense(128, relu), Dense(10, softmax) on 28x28x1, batch 32, Adam, sparse
               categorical cross-entropy: ms per training step. Skipped (with a row saying
               so) when `gpuflow.keras.layers.Conv2D` does not exist.
  (d) gemm     a GEMM-bound MLP 4096-4096-4096-10 on a batch of 1024 (ReLU, biases; a
               quick run uses batch 128, width 512), as forward only and as
               forward+backward (loss and the gradients of all weights, no optimizer
               update), reported as achieved GFLOP/s (matmul FLOPs only) next to NumPy's
               own float32 matmul on exactly the same GEMM shapes and transposes, timed
               in the same run.
  (e) import   `import gpuflow` in a fresh interpreter (time measured inside the child,
               without interpreter start-up), median of several; `import numpy` and the
               other frameworks' imports beside it.

Every workload runs eager and compiled (`gf.function`) in the same invocation. The
implementations of one workload are timed round-robin (eager, compiled, the NumPy
reference, eager, compiled, ...) so that a change of machine load during the run
affects them alike; the table shows the median and the spread (min..max) over the
repeats, and the JSON keeps every sample (wall time and process CPU time).

When PyTorch, TensorFlow or JAX are installed, workloads (a)-(d) also run on them, each
framework in a fresh interpreter of its own after gpuflow's runs (so that no framework's
thread pools share a process with another's), and the table shows ratios against
gpuflow. None of them is a dependency: they are imported only in those child processes,
only when installed, and a failure in one is reported in its row.
"""
import argparse
import datetime
import gc
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

import gpuflow as gf

WORKLOADS = ("linear", "mlp", "cnn", "gemm_forward", "gemm_train", "import")
FRAMEWORKS = ("torch", "tensorflow", "jax")

# Implementation modes: rows of one mode are compared with gpuflow's row of that mode.
EAGER, COMPILED, REFERENCE = "eager", "compiled", "reference"
GF_EAGER, GF_COMPILED = "gpuflow eager", "gpuflow gf.function"

# Targets of issues 5, 6 and 7, shown next to gpuflow's rows, and the figures issue 5
# quotes for the other frameworks on a 2-core AVX-512 CPU, shown next to theirs.
TARGETS = {
    "linear": {GF_EAGER: "<= 8 ms", GF_COMPILED: "<= 3.5 ms, >= 2x eager",
               "torch eager": "issue 5: 8.2 ms", "torch.compile": "issue 5: 4.7 ms",
               "tensorflow eager": "issue 5: 99 ms", "tf.function": "issue 5: 27 ms",
               "jax jit": "issue 5: 3.7 ms"},
    "mlp": {GF_COMPILED: "<= 0.9 ms, >= 1.3x eager", "torch eager": "issue 5: 1.5 ms",
            "tf.function": "issue 5: 2.8 ms (fit)", "jax jit": "issue 5: 1.04 ms"},
    "cnn": {GF_COMPILED: "<= 20 ms", "torch eager": "issue 5: 38 ms",
            "tf.function": "issue 5: 25 ms", "jax jit": "issue 5: 54 ms"},
    "gemm_forward": {GF_EAGER: ">= 85% of NumPy", GF_COMPILED: ">= 85% of NumPy"},
    "gemm_train": {GF_EAGER: ">= 85% of NumPy", GF_COMPILED: ">= 85% of NumPy"},
}


class Config:
    """Sizes and repeat counts. `quick=True` is a smoke run (< 30 s on 2 cores): fewer
    repeats and steps, and a GEMM MLP of batch 128 and width 512 instead of 1024/4096
    (its GFLOP/s are then not comparable with a full run)."""

    def __init__(self, quick=False, repeats=None, torch_compile=None):
        self.quick = bool(quick)
        self.repeats_arg = repeats
        self.repeats = int(repeats) if repeats else (3 if quick else 7)
        self.gemm_repeats = int(repeats) if repeats else (3 if quick else 5)
        self.import_runs = int(repeats) if repeats else (3 if quick else 7)
        self.linear_epochs = 1 if quick else 3      # epochs per sample
        self.mlp_steps = 8 if quick else 32         # steps per sample
        self.cnn_steps = 1 if quick else 8          # steps per sample
        self.gemm_batch, self.gemm_width = (128, 512) if quick else (1024, 4096)
        self.gemm_passes = 2 if quick else 1        # passes per sample (quick ones are short)
        # torch.compile takes tens of seconds per model on 2 cores: full runs only.
        self.torch_compile = (not quick) if torch_compile is None else bool(torch_compile)

    def repeats_for(self, workload):
        return self.gemm_repeats if workload.startswith("gemm") else self.repeats

    def as_dict(self):
        return dict(vars(self))


# --------------------------------------------------------------------------------------
# Machine description
# --------------------------------------------------------------------------------------
def _cpuinfo():
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def _cpu_model(text):
    for line in text.splitlines():
        if line.lower().startswith(("model name", "hardware", "processor\t: ")) and ":" in line:
            value = line.split(":", 1)[1].strip()
            if value and not value.isdigit():
                return value
    if sys.platform == "darwin":
        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                                  text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine()


def _cpu_topology(text):
    """(physical cores, threads per core) from /proc/cpuinfo, or (None, None)."""
    cores, logical, phys = set(), 0, None
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                fields[k.strip()] = v.strip()
        if "processor" not in fields:
            continue
        logical += 1
        if "core id" in fields:
            cores.add((fields.get("physical id", "0"), fields["core id"]))
        phys = fields.get("flags", phys)
    if not cores:
        return None, None
    return len(cores), max(1, logical // len(cores))


def _openblas_by_ctypes():
    """Runtime OpenBLAS facts (threads, kernel architecture) of the libraries this process
    has loaded, through their C API; the fallback when threadpoolctl is not installed."""
    import ctypes
    found = []
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line})
    except OSError:
        return found
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_", ""):
            for suffix in ("64_", ""):
                nthreads = getattr(lib, "%sopenblas_get_num_threads%s" % (prefix, suffix), None)
                if nthreads is None:
                    continue
                entry = {"internal_api": "openblas", "filepath": path, "num_threads": int(nthreads()),
                         "source": "ctypes"}
                for key, fn in (("architecture", "get_corename"), ("config", "get_config")):
                    f = getattr(lib, "%sopenblas_%s%s" % (prefix, fn, suffix), None)
                    if f is not None:
                        f.restype = ctypes.c_char_p
                        entry[key] = (f() or b"").decode(errors="replace").strip()
                found.append(entry)
                break
            else:
                continue
            break
    return found


def blas_info():
    """NumPy's BLAS: the build configuration (np.show_config) and the runtime thread pools
    (threadpoolctl when installed, else OpenBLAS's own C API)."""
    out = {}
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        out.update(name=blas.get("name"), version=blas.get("version"),
                   build_config=blas.get("openblas configuration"))
    except Exception as e:  # older NumPy or an unusual build
        out["name"] = "unknown (%s)" % type(e).__name__
    try:
        import threadpoolctl
        keep = ("internal_api", "version", "num_threads", "architecture", "threading_layer", "prefix",
                "filepath")
        out["threadpools"] = [{k: p.get(k) for k in keep if p.get(k) is not None}
                              for p in threadpoolctl.threadpool_info()]
        out["threadpools_source"] = "threadpoolctl %s" % threadpoolctl.__version__
    except ImportError:
        out["threadpools"] = _openblas_by_ctypes()
        out["threadpools_source"] = "OpenBLAS C API (threadpoolctl not installed)"
    return out


def _load():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine_info():
    """Machine, CPU, threads, BLAS, load and gpuflow's device, as a dict."""
    from gpuflow import backend
    text = _cpuinfo()
    cores, tpc = _cpu_topology(text)
    flags = ""
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = line
            break
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    dev = backend.default_device()
    try:
        from gpuflow.kernels import native
        native_state = "available" if native.available() else "missing (%s)" % native.reason()
    except Exception as e:
        native_state = "missing (%s)" % e
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "gpuflow": gf.__version__,
        "gpuflow_device": dev.short_name,
        "gpu": "used" if dev.is_gpu else "none usable (%s)" % backend.gpu_unavailable_reason(),
        "native_kernels": native_state,
        "cpu_model": _cpu_model(text),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "physical_cores": cores,
        "threads_per_core": tpc,
        "avx512": (" avx512f" in flags) if flags else None,
        "avx2": (" avx2" in flags and " fma" in flags) if flags else None,
        "thread_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
                       if k in os.environ},
        "blas": blas_info(),
        "load_average_start": _load(),
    }
    return info


def _machine_lines(m):
    blas = m["blas"]
    pools = ", ".join("%s (%s threads%s)" % (" ".join(str(x) for x in (p.get("internal_api"), p.get("version")) if x),
                                             p.get("num_threads"),
                                             ", " + p["architecture"] if p.get("architecture") else "")
                      for p in blas.get("threadpools") or []) or "not found"
    cores = ("%s physical cores x %s thread%s" % (m["physical_cores"], m["threads_per_core"],
                                                  "" if m["threads_per_core"] == 1 else "s")
             if m["physical_cores"] else "topology unknown")
    load = lambda v: ", ".join("%.2f" % x for x in v) if v else "n/a"
    lines = [
        "machine: %s; Python %s, NumPy %s" % (m["platform"], m["python"], m["numpy"]),
        "CPU: %s; %s logical CPUs (%s), %s usable; AVX-512: %s; AVX2 + FMA: %s" % (
            m["cpu_model"], m["logical_cpus"], cores, m["usable_cpus"],
            {True: "yes", False: "no", None: "unknown"}[m["avx512"]],
            {True: "yes", False: "no", None: "unknown"}[m.get("avx2")]),
        "BLAS: %s %s; runtime pools (%s): %s%s" % (
            blas.get("name"), blas.get("version") or "", blas.get("threadpools_source"), pools,
            "; env " + ", ".join("%s=%s" % kv for kv in m["thread_env"].items()) if m["thread_env"] else ""),
        "gpuflow %s on %s; GPU: %s; native kernels: %s" % (
            m["gpuflow"], m["gpuflow_device"], m["gpu"], m["native_kernels"]),
        "load average (1, 5, 15 min): %s at start, %s at end" % (
            load(m["load_average_start"]), load(m.get("load_average_end"))),
    ]
    return lines


# --------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------
class Impl:
    """One implementation of a workload: `run()` executes one timed sample (`units`
    epochs or steps, ending with a device sync), `mode` is eager/compiled/reference."""

    def __init__(self, name, mode, run, units=1, info=None):
        self.name, self.mode, self.run, self.units, self.info = name, mode, run, units, info or {}


def _error(e):
    msg = "%s: %s" % (type(e).__name__, e)
    return msg.splitlines()[0][:200] if msg else type(e).__name__


def _stats(samples):
    s = sorted(samples)
    q = statistics.quantiles(s, n=4) if len(s) >= 2 else [s[0], s[0], s[0]]
    return {"median": statistics.median(s), "min": s[0], "max": s[-1], "q1": q[0], "q3": q[2], "n": len(s)}


def measure(impls, repeats, warmup=1):
    """Warms every implementation up, then times them round-robin `repeats` times.

    Returns {name: {"mode", "samples_ms", "cpu_samples_ms", **stats, **info}} with ms per
    unit, or {"mode", "error"} for an implementation that raised."""
    out, live = {}, []
    for imp in impls:
        try:
            for _ in range(warmup):
                imp.run()
            live.append(imp)
            out[imp.name] = {"mode": imp.mode, "samples_ms": [], "cpu_samples_ms": []}
        except Exception as e:
            out[imp.name] = {"mode": imp.mode, "error": _error(e)}
    for _ in range(repeats):
        for imp in list(live):
            rec = out[imp.name]
            try:
                gc.collect()
                c0, t0 = time.process_time(), time.perf_counter()
                imp.run()
                t1, c1 = time.perf_counter(), time.process_time()
            except Exception as e:
                out[imp.name] = {"mode": imp.mode, "error": _error(e)}
                live.remove(imp)
                continue
            rec["samples_ms"].append((t1 - t0) * 1e3 / imp.units)
            rec["cpu_samples_ms"].append((c1 - c0) * 1e3 / imp.units)
    for imp in impls:
        rec = out[imp.name]
        if "error" not in rec:
            rec.update(_stats(rec["samples_ms"]))
            for k, v in imp.info.items():
                rec[k] = v() if callable(v) else v
    return out


def _add_gflops(results, flops):
    """Adds GFLOP/s statistics (from the ms samples) to each result."""
    for rec in results.values():
        if "samples_ms" in rec:
            rates = [flops / (ms * 1e-3) / 1e9 for ms in rec["samples_ms"]]
            rec["samples_gflops"] = rates
            rec["gflops"] = _stats(rates)


# --------------------------------------------------------------------------------------
# Data (NumPy, shared by every framework)
# --------------------------------------------------------------------------------------
def linear_data(n=20000, seed=0):
    """The notes' data: two Gaussian blobs (n/2 points each, labels 0 and 1), shuffled:
    float32 features (n, 2) and labels (n, 1)."""
    rng = np.random.default_rng(seed)
    cov = [[1, 0.5], [0.5, 1]]
    neg = rng.multivariate_normal(mean=[0, 3], cov=cov, size=n // 2)
    pos = rng.multivariate_normal(mean=[3, 0], cov=cov, size=n - n // 2)
    x = np.vstack((neg, pos)).astype(np.float32)
    y = np.vstack((np.zeros((n // 2, 1), np.float32), np.ones((n - n // 2, 1), np.float32)))
    order = rng.permutation(n)
    return x[order], y[order]


def _slices(x, y, batch):
    return [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x), batch)]


def mlp_arrays(n=64 * 16, seed=1, batch=64):
    """Batches of (x (batch, 784) float32 in [0, 1), y (batch,) int32 labels) as NumPy."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n).astype(np.int32)
    return _slices(x, y, batch)


def cnn_data(seed=2, batches=8, batch=32):
    rng = np.random.default_rng(seed)
    x = rng.random((batches * batch, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, batches * batch).astype(np.int32)
    return _slices(x, y, batch)


def glorot(rng, fan_in, fan_out):
    lim = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-lim, lim, (fan_in, fan_out)).astype(np.float32)


def mlp_params(sizes, seed):
    """[W1, b1, W2, b2, ...] as float32 NumPy arrays (Glorot uniform, zero biases)."""
    rng = np.random.default_rng(seed)
    out = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        out += [glorot(rng, a, b), np.zeros((b,), np.float32)]
    return out


def gemm_data(cfg, seed=3):
    rng = np.random.default_rng(seed)
    b, w = cfg.gemm_batch, cfg.gemm_width
    sizes = [w, w, w, 10]
    x = rng.standard_normal((b, w), dtype=np.float32)
    y = rng.integers(0, 10, b).astype(np.int32)
    return sizes, x, y, mlp_params(sizes, seed + 1)


def gemm_shapes(batch, sizes, backward):
    """The (m, k, n, transpose_a, transpose_b) of every matmul of the MLP's forward pass and,
    with `backward`, of its backward pass (weight gradients of every layer, input gradients
    of all but the first, as autodiff computes them)."""
    shapes = [(batch, a, b, False, False) for a, b in zip(sizes[:-1], sizes[1:])]
    if backward:
        for i in range(len(sizes) - 1, 0, -1):
            a, b = sizes[i - 1], sizes[i]
            shapes.append((a, batch, b, True, False))       # dW = h^T @ g
            if i > 1:
                shapes.append((batch, b, a, False, True))   # dh = g @ W^T
    return shapes


def gemm_flops(shapes):
    return sum(2 * m * k * n for m, k, n, _, _ in shapes)


# --------------------------------------------------------------------------------------
# gpuflow
# --------------------------------------------------------------------------------------
def _device_sync():
    """A function that waits for the default device (a no-op on the CPU)."""
    from gpuflow import backend
    dev = backend.default_device()
    if dev.is_gpu:
        cp = dev.xp
        return lambda: cp.cuda.Device(dev.index).synchronize()
    return lambda: None


def conv2d_available():
    from gpuflow.keras import layers
    return hasattr(layers, "Conv2D")


def linear_batches(x, y, batch=256):
    """The notes' batches as gpuflow tensors (converted once, outside any timing)."""
    return [(gf.constant(a), gf.constant(b)) for a, b in _slices(x, y, batch)]


def make_linear(compiled, lr=0.01, seed=5):
    """The notes' model: variables w, b and `train_on_batch` (GradientTape, `assign_sub`),
    wrapped in `gf.function` when `compiled`. Returns (train_on_batch, (w, b))."""
    w = gf.Variable(np.random.default_rng(seed).uniform(size=(2, 1)).astype(np.float32))
    b = gf.Variable(np.zeros((1,), np.float32))

    def compute_predictions(features):
        return gf.matmul(features, w) + b

    def compute_loss(labels, predictions):
        return gf.reduce_mean(gf.square(labels - predictions))

    def train_on_batch(x, y):
        with gf.GradientTape() as tape:
            predictions = compute_predictions(x)
            loss = compute_loss(y, predictions)
            dloss_dw, dloss_db = tape.gradient(loss, [w, b])
        w.assign_sub(lr * dloss_dw)
        b.assign_sub(lr * dloss_db)
        return loss
    return (gf.function(train_on_batch) if compiled else train_on_batch), (w, b)


def run_linear_epoch(step, batches):
    """One epoch of `step` over `batches`; returns the last loss."""
    loss = None
    for xb, yb in batches:
        loss = step(xb, yb)
    return loss


def mlp_data(n=64 * 16, seed=1, batch=64):
    """`mlp_arrays` as gpuflow tensors."""
    return [(gf.constant(a), gf.constant(b)) for a, b in mlp_arrays(n, seed, batch)]


def make_mlp(compiled, seed=7):
    """MLP 784-256-256-10 (Glorot uniform, zero biases, ReLU) trained by Adam on sparse
    categorical cross-entropy from logits, written with gf ops and `GradientTape`.
    Returns (train_step, params, optimizer name)."""
    from gpuflow import keras
    params = [gf.Variable(p) for p in mlp_params([784, 256, 256, 10], seed=seed)]
    opt = keras.optimizers.Adam(learning_rate=1e-3)

    def train_step(x, y):
        with gf.GradientTape() as tape:
            h = x
            for i in range(0, len(params), 2):
                h = gf.matmul(h, params[i]) + params[i + 1]
                if i < len(params) - 2:
                    h = gf.nn.relu(h)
            loss = gf.reduce_mean(gf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=h))
        grads = tape.gradient(loss, params)
        opt.apply_gradients(zip(grads, params))
        return loss
    return (gf.function(train_step) if compiled else train_step), params, "gpuflow.keras.optimizers.Adam"


def make_cnn(compiled, seed=11):
    """The notes' CNN as a Keras Sequential model with an Adam training step (GradientTape,
    `apply_gradients`). Returns (train_step, model)."""
    from gpuflow import keras
    from gpuflow.keras import layers
    gf.random.set_seed(seed)
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"),
        layers.Conv2D(64, 3, activation="relu"),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    opt = keras.optimizers.Adam()

    def train_step(x, y):
        with gf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_weights)
        opt.apply_gradients(zip(grads, model.trainable_weights))
        return loss
    return (gf.function(train_step) if compiled else train_step), model


def make_gemm_mlp(params, compiled, backward):
    """The GEMM-bound MLP on gpuflow variables made from `params`: `forward(x)` -> logits,
    or with `backward`, `grads(x, y)` -> (loss, gradients of every weight)."""
    ws = [gf.Variable(p) for p in params]

    def forward(h):
        for i in range(0, len(ws), 2):
            h = gf.matmul(h, ws[i]) + ws[i + 1]
            if i < len(ws) - 2:
                h = gf.nn.relu(h)
        return h

    def grads(x, y):
        with gf.GradientTape() as tape:
            loss = gf.reduce_mean(gf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=forward(x)))
        return loss, tape.gradient(loss, ws)
    fn = grads if backward else forward
    return gf.function(fn) if compiled else fn


class GpuflowBench:
    """gpuflow's implementations, each eager and compiled with `gf.function`."""

    name = "gpuflow"

    def __init__(self, cfg):
        self.cfg = cfg
        self.sync = _device_sync()

    def _pair(self, make, run, units, extra=None):
        impls = []
        for name, mode in ((GF_EAGER, EAGER), (GF_COMPILED, COMPILED)):
            step = make(mode == COMPILED)
            info = dict(extra or {})
            if mode == COMPILED:
                info["traces"] = step.experimental_get_tracing_count
            impls.append(Impl(name, mode, (lambda s=step: run(s)), units, info))
        return impls

    def _steps(self, batches, steps):
        def run(step):
            loss = None
            for k in range(steps):
                xb, yb = batches[k % len(batches)]
                loss = step(xb, yb)
            float(loss)
            self.sync()
        return run

    def linear(self, data):
        batches = linear_batches(*data)
        epochs = self.cfg.linear_epochs

        def run(step):
            for _ in range(epochs):
                loss = run_linear_epoch(step, batches)
            float(loss)
            self.sync()
        return self._pair(lambda c: make_linear(c)[0], run, epochs)

    def mlp(self, data):
        batches = [(gf.constant(a), gf.constant(b)) for a, b in data]
        steps = self.cfg.mlp_steps
        return self._pair(lambda c: make_mlp(c)[0], self._steps(batches, steps), steps,
                          {"optimizer": "gpuflow.keras.optimizers.Adam"})

    def cnn(self, data):
        batches = [(gf.constant(a), gf.constant(b)) for a, b in data]
        steps = self.cfg.cnn_steps
        return self._pair(lambda c: make_cnn(c)[0], self._steps(batches, steps), steps)

    def _gemm(self, data, backward):
        sizes, x, y, params = data
        xt, yt = gf.constant(x), gf.constant(y)
        passes = self.cfg.gemm_passes

        if backward:
            def run(step):
                for _ in range(passes):
                    loss, _ = step(xt, yt)
                float(loss)
                self.sync()
        else:
            def run(step):
                for _ in range(passes):
                    step(xt)
                self.sync()
        return self._pair(lambda c: make_gemm_mlp(params, c, backward), run, passes)

    def gemm_forward(self, data):
        return self._gemm(data, backward=False)

    def gemm_train(self, data):
        return self._gemm(data, backward=True)


def reference_gemm(data, backward, passes=1):
    """NumPy's (CuPy's on a GPU) float32 matmul on exactly the MLP's GEMM shapes and
    transposes, nothing else: the rate the GEMM-bound workload is compared with."""
    from gpuflow import backend
    sizes, x, _, params = data
    dev = backend.default_device()
    xp = dev.xp
    sync = _device_sync()
    batch = x.shape[0]
    rng = np.random.default_rng(9)
    arrays = []
    for m, k, n, ta, tb in gemm_shapes(batch, sizes, backward):
        a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
        b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
        arrays.append((xp.asarray(a), xp.asarray(b), ta, tb))

    def run():
        for _ in range(passes):
            for a, b, ta, tb in arrays:
                xp.matmul(a.T if ta else a, b.T if tb else b)
        sync()
    return Impl("%s matmul" % xp.__name__, REFERENCE, run, passes)


# --------------------------------------------------------------------------------------
# PyTorch
# --------------------------------------------------------------------------------------
class TorchBench:
    name = "torch"

    def __init__(self, cfg, gpu):
        import torch
        self.torch, self.cfg = torch, cfg
        self.dev = torch.device("cuda" if gpu and torch.cuda.is_available() else "cpu")
        self.sync = torch.cuda.synchronize if self.dev.type == "cuda" else (lambda: None)
        self.info = {"version": torch.__version__, "device": str(self.dev), "threads": torch.get_num_threads()}

    def _t(self, a):
        return self.torch.from_numpy(np.ascontiguousarray(a)).to(self.dev)

    def _variants(self, make, run, units):
        out = [Impl("torch eager", EAGER, (lambda s=make(): run(s)), units)]
        if self.cfg.torch_compile:
            compiled = self.torch.compile(make())   # compiles at its first (warm-up) call
            out.append(Impl("torch.compile", COMPILED, (lambda: run(compiled)), units))
        return out

    def linear(self, data):
        torch = self.torch
        batches = [(self._t(a), self._t(b)) for a, b in _slices(*data, 256)]
        epochs = self.cfg.linear_epochs

        def make(lr=0.01):
            w = self._t(np.random.default_rng(5).uniform(size=(2, 1)).astype(np.float32)).requires_grad_()
            b = torch.zeros(1, device=self.dev, requires_grad=True)

            def train_on_batch(x, y):   # PyTorch's idiom: backward(), then update under no_grad
                loss = torch.mean(torch.square(y - (x @ w + b)))
                loss.backward()
                with torch.no_grad():
                    w.sub_(lr * w.grad)
                    b.sub_(lr * b.grad)
                w.grad = b.grad = None
                return loss.detach()
            return train_on_batch

        def run(step):
            loss = None
            for _ in range(epochs):
                for xb, yb in batches:
                    loss = step(xb, yb)
            float(loss)
            self.sync()
        return self._variants(make, run, epochs)

    def mlp(self, data):
        torch, nn = self.torch, self.torch.nn
        batches = [(self._t(a), self._t(b).long()) for a, b in data]
        steps = self.cfg.mlp_steps

        def make():
            torch.manual_seed(7)
            model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                                  nn.Linear(256, 10)).to(self.dev)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)

            def train_step(x, y):
                opt.zero_grad(set_to_none=True)
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                return loss.detach()
            return train_step
        return self._variants(make, self._steps_runner(batches, steps), steps)

    def _steps_runner(self, batches, steps):
        def run(step):
            loss = None
            for k in range(steps):
                xb, yb = batches[k % len(batches)]
                loss = step(xb, yb)
            float(loss)
            self.sync()
        return run

    def cnn(self, data):
        torch, nn = self.torch, self.torch.nn
        # PyTorch's native layout is channels-first: NHWC batches are transposed once here.
        batches = [(self._t(a.transpose(0, 3, 1, 2)), self._t(b).long()) for a, b in data]
        steps = self.cfg.cnn_steps

        def make():
            torch.manual_seed(11)
            model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.Flatten(),
                                  nn.Linear(24 * 24 * 64, 128), nn.ReLU(), nn.Linear(128, 10)).to(self.dev)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)

            def train_step(x, y):
                opt.zero_grad(set_to_none=True)
                # softmax + sparse categorical cross-entropy == cross_entropy on logits
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                return loss.detach()
            return train_step
        # torch.compile of the CNN step takes minutes on 2 cores: eager only here.
        return [Impl("torch eager", EAGER, (lambda s=make(): self._steps_runner(batches, steps)(s)), steps)]

    def _gemm(self, data, backward):
        torch = self.torch
        sizes, x, y, params = data
        xt, yt = self._t(x), self._t(y).long()
        ws = [self._t(p).requires_grad_(backward) for p in params]

        def forward(h):
            for i in range(0, len(ws), 2):
                h = torch.addmm(ws[i + 1], h, ws[i])
                if i < len(ws) - 2:
                    h = torch.relu(h)
            return h

        if backward:
            def run():
                loss = torch.nn.functional.cross_entropy(forward(xt), yt)
                torch.autograd.grad(loss, ws)
                float(loss.detach())
                self.sync()
        else:
            def run():
                with torch.no_grad():
                    forward(xt)
                self.sync()
        return [Impl("torch eager", EAGER, run, 1)]

    def gemm_forward(self, data):
        return self._gemm(data, False)

    def gemm_train(self, data):
        return self._gemm(data, True)


# --------------------------------------------------------------------------------------
# TensorFlow
# --------------------------------------------------------------------------------------
class _native_stderr_silenced:  # noqa: N801 (used as a context manager)
    """Points file descriptor 2 at /dev/null for the block (Python exceptions still raise)."""

    def __enter__(self):
        sys.stderr.flush()
        self.saved = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        return False


class TensorflowBench:
    name = "tensorflow"

    def __init__(self, cfg, gpu):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with _native_stderr_silenced():   # TF's C++ start-up logs ignore TF_CPP_MIN_LOG_LEVEL
            import tensorflow as tf
            devices = [d.name for d in tf.config.list_logical_devices()]
        self.tf, self.cfg = tf, cfg
        self.info = {"version": tf.__version__, "devices": devices}

    def _pair(self, make, run, units):
        out = [Impl("tensorflow eager", EAGER, (lambda s=make(): run(s)), units)]
        # autograph off: the steps have no tensor-dependent Python control flow to convert
        compiled = self.tf.function(make(), autograph=False)
        out.append(Impl("tf.function", COMPILED, (lambda: run(compiled)), units))
        return out

    def _steps_runner(self, batches, steps):
        def run(step):
            loss = None
            for k in range(steps):
                xb, yb = batches[k % len(batches)]
                loss = step(xb, yb)
            float(loss)
        return run

    def linear(self, data):
        tf = self.tf
        batches = [(tf.constant(a), tf.constant(b)) for a, b in _slices(*data, 256)]
        epochs = self.cfg.linear_epochs

        def make(lr=0.01):
            w = tf.Variable(np.random.default_rng(5).uniform(size=(2, 1)).astype(np.float32))
            b = tf.Variable(tf.zeros(shape=(1,)))

            def train_on_batch(x, y):
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(tf.square(y - (tf.matmul(x, w) + b)))
                dloss_dw, dloss_db = tape.gradient(loss, [w, b])
                w.assign_sub(lr * dloss_dw)
                b.assign_sub(lr * dloss_db)
                return loss
            return train_on_batch

        def run(step):
            loss = None
            for _ in range(epochs):
                for xb, yb in batches:
                    loss = step(xb, yb)
            float(loss)
        return self._pair(make, run, epochs)

    def _keras_step(self, layers_fn, input_shape, from_logits):
        tf = self.tf
        keras = tf.keras

        def make():
            tf.random.set_seed(7)
            model = keras.Sequential([keras.Input(shape=input_shape)] + layers_fn())
            loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
            opt = keras.optimizers.Adam(learning_rate=1e-3)

            def train_step(x, y):
                with tf.GradientTape() as tape:
                    loss = loss_fn(y, model(x, training=True))
                grads = tape.gradient(loss, model.trainable_weights)
                opt.apply_gradients(zip(grads, model.trainable_weights))
                return loss
            return train_step
        return make

    def mlp(self, data):
        tf, L = self.tf, self.tf.keras.layers
        batches = [(tf.constant(a), tf.constant(b)) for a, b in data]
        make = self._keras_step(lambda: [L.Dense(256, activation="relu"), L.Dense(256, activation="relu"),
                                         L.Dense(10)], (784,), True)
        return self._pair(make, self._steps_runner(batches, self.cfg.mlp_steps), self.cfg.mlp_steps)

    def cnn(self, data):
        tf, L = self.tf, self.tf.keras.layers
        batches = [(tf.constant(a), tf.constant(b)) for a, b in data]
        make = self._keras_step(lambda: [L.Conv2D(32, 3, activation="relu"), L.Conv2D(64, 3, activation="relu"),
                                         L.Flatten(), L.Dense(128, activation="relu"),
                                         L.Dense(10, activation="softmax")], (28, 28, 1), False)
        return self._pair(make, self._steps_runner(batches, self.cfg.cnn_steps), self.cfg.cnn_steps)

    def _gemm(self, data, backward):
        tf = self.tf
        sizes, x, y, params = data
        xt, yt = tf.constant(x), tf.constant(y)
        ws = [tf.Variable(p) for p in params]

        def forward(h):
            for i in range(0, len(ws), 2):
                h = tf.matmul(h, ws[i]) + ws[i + 1]
                if i < len(ws) - 2:
                    h = tf.nn.relu(h)
            return h

        @tf.function(autograph=False)
        def grads(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=forward(x)))
            return loss, tape.gradient(loss, ws)
        fwd = tf.function(forward, autograph=False)
        if backward:
            def run():
                loss, g = grads(xt, yt)
                float(loss)
                g[0].numpy()
        else:
            def run():
                fwd(xt).numpy()
        return [Impl("tf.function", COMPILED, run, 1)]

    def gemm_forward(self, data):
        return self._gemm(data, False)

    def gemm_train(self, data):
        return self._gemm(data, True)


# --------------------------------------------------------------------------------------
# JAX (measured under jit, its normal way of running a training step)
# --------------------------------------------------------------------------------------
class JaxBench:
    name = "jax"

    def __init__(self, cfg, gpu):
        import jax
        import jax.numpy as jnp
        self.jax, self.jnp, self.cfg = jax, jnp, cfg
        self.info = {"version": jax.__version__, "devices": [str(d) for d in jax.devices()]}

    def _adam(self, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
        jax, jnp = self.jax, self.jnp
        tm = jax.tree_util.tree_map

        def init(params):
            return (jnp.zeros((), jnp.float32), tm(jnp.zeros_like, params), tm(jnp.zeros_like, params))

        def update(params, grads, state):
            t, m, v = state
            t = t + 1
            m = tm(lambda m, g: m + (g - m) * (1 - b1), m, grads)
            v = tm(lambda v, g: v + (g * g - v) * (1 - b2), v, grads)
            alpha = lr * jnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            params = tm(lambda p, m, v: p - alpha * m / (jnp.sqrt(v) + eps), params, m, v)
            return params, (t, m, v)
        return init, update

    def _xent(self, logits, y):
        jnp = self.jnp
        logp = self.jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def _train_impl(self, loss_fn, params, batches, steps):
        jax = self.jax
        init, update = self._adam()

        @jax.jit
        def step(params, state, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            params, state = update(params, grads, state)
            return params, state, loss
        box = [params, init(params)]

        def run():
            loss = None
            for k in range(steps):
                xb, yb = batches[k % len(batches)]
                box[0], box[1], loss = step(box[0], box[1], xb, yb)
            loss.block_until_ready()
        return [Impl("jax jit", COMPILED, run, steps)]

    def linear(self, data):
        jax, jnp = self.jax, self.jnp
        batches = [(jnp.asarray(a), jnp.asarray(b)) for a, b in _slices(*data, 256)]
        epochs = self.cfg.linear_epochs

        @jax.jit
        def step(p, x, y):
            def loss_fn(p):
                return jnp.mean(jnp.square(y - (x @ p[0] + p[1])))
            loss, g = jax.value_and_grad(loss_fn)(p)
            return (p[0] - 0.01 * g[0], p[1] - 0.01 * g[1]), loss
        box = [(jnp.asarray(np.random.default_rng(5).uniform(size=(2, 1)).astype(np.float32)),
                jnp.zeros((1,), jnp.float32))]

        def run():
            loss = None
            for _ in range(epochs):
                for xb, yb in batches:
                    box[0], loss = step(box[0], xb, yb)
            loss.block_until_ready()
        return [Impl("jax jit", COMPILED, run, epochs)]

    def _mlp_forward(self, params, h):
        jax = self.jax
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i < len(params) - 2:
                h = jax.nn.relu(h)
        return h

    def mlp(self, data):
        jnp = self.jnp
        batches = [(jnp.asarray(a), jnp.asarray(b)) for a, b in data]
        params = [jnp.asarray(p) for p in mlp_params([784, 256, 256, 10], seed=7)]
        loss_fn = lambda p, x, y: self._xent(self._mlp_forward(p, x), y)
        return self._train_impl(loss_fn, params, batches, self.cfg.mlp_steps)

    def cnn(self, data):
        jax, jnp = self.jax, self.jnp
        batches = [(jnp.asarray(a), jnp.asarray(b)) for a, b in data]
        rng = np.random.default_rng(11)

        def conv_w(cin, cout):   # Glorot uniform over fan_in 9*cin, fan_out 9*cout, as Keras
            lim = np.sqrt(6.0 / (9 * cin + 9 * cout))
            return jnp.asarray(rng.uniform(-lim, lim, (3, 3, cin, cout)).astype(np.float32))
        params = [conv_w(1, 32), jnp.zeros(32), conv_w(32, 64), jnp.zeros(64),
                  jnp.asarray(glorot(rng, 24 * 24 * 64, 128)), jnp.zeros(128),
                  jnp.asarray(glorot(rng, 128, 10)), jnp.zeros(10)]

        def loss_fn(p, x, y):
            for i in (0, 2):
                x = jax.lax.conv_general_dilated(x, p[i], (1, 1), "VALID",
                                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
                x = jax.nn.relu(x + p[i + 1])
            x = x.reshape(x.shape[0], -1)
            x = jax.nn.relu(x @ p[4] + p[5])
            return self._xent(x @ p[6] + p[7], y)   # softmax + sparse CE, as log_softmax
        return self._train_impl(loss_fn, params, batches, self.cfg.cnn_steps)

    def _gemm(self, data, backward):
        jax, jnp = self.jax, self.jnp
        sizes, x, y, params = data
        xt, yt = jnp.asarray(x), jnp.asarray(y)
        ps = [jnp.asarray(p) for p in params]
        fwd = jax.jit(self._mlp_forward)
        grads = jax.jit(jax.value_and_grad(lambda p, x, y: self._xent(self._mlp_forward(p, x), y)))
        if backward:
            def run():
                jax.block_until_ready(grads(ps, xt, yt))
        else:
            def run():
                fwd(ps, xt).block_until_ready()
        return [Impl("jax jit", COMPILED, run, 1)]

    def gemm_forward(self, data):
        return self._gemm(data, False)

    def gemm_train(self, data):
        return self._gemm(data, True)


_FRAMEWORK_CLASSES = {"torch": TorchBench, "tensorflow": TensorflowBench, "jax": JaxBench}


def installed_frameworks():
    return [m for m in FRAMEWORKS if importlib.util.find_spec(m) is not None]


def workload_data(wl, cfg):
    """The NumPy data of a workload (the same seeds in every process)."""
    if wl == "linear":
        return linear_data()
    if wl == "mlp":
        return mlp_arrays()
    if wl == "cnn":
        return cnn_data()
    return gemm_data(cfg)


def framework_results(name, cfg, workloads, gpu):
    """Runs `workloads` on framework `name` in this process: {"info", "workloads": {wl:
    results}, load averages}, or {"error"} when the framework does not start."""
    out = {"load_average_start": _load()}
    try:
        bench = _FRAMEWORK_CLASSES[name](cfg, gpu)
    except Exception as e:
        out["error"] = _error(e)
        return out
    out.update(bench.info)
    out["workloads"] = {}
    for wl in workloads:
        data = workload_data(wl, cfg)
        try:
            impls = getattr(bench, wl)(data)
        except Exception as e:
            impls = [Impl("%s (setup)" % name, EAGER, _raiser(e))]
        out["workloads"][wl] = measure(impls, cfg.repeats_for(wl))
        del data, impls
        gc.collect()
    out["load_average_end"] = _load()
    return out


def _child_env():
    """The environment of a child interpreter that imports this very gpuflow."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(gf.__file__)))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def framework_process(name, cfg, workloads, gpu, timeout=3600):
    """`framework_results` in a fresh interpreter, so that no framework's thread pools,
    allocator or logging share a process with gpuflow's measurements or another
    framework's (and a crash is reported, not fatal)."""
    import tempfile
    fd, path = tempfile.mkstemp(prefix="gpuflow-bench-%s-" % name, suffix=".json")
    os.close(fd)
    job = {"name": name, "quick": cfg.quick, "repeats": cfg.repeats_arg, "torch_compile": cfg.torch_compile,
           "workloads": workloads, "gpu": gpu, "out": path}
    try:
        r = subprocess.run([sys.executable, "-m", "gpuflow.bench_suite", "--worker", json.dumps(job)],
                           env=_child_env(), capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            tail = (r.stderr.strip() or r.stdout.strip() or "exit status %d" % r.returncode).splitlines()[-1]
            return {"error": "worker process failed: %s" % tail[:300]}
        with open(path) as f:
            return json.load(f)
    except subprocess.TimeoutExpired:
        return {"error": "worker process timed out after %d s" % timeout}
    finally:
        os.unlink(path)


def _worker(job_json):
    job = json.loads(job_json)
    cfg = Config(quick=job["quick"], repeats=job["repeats"], torch_compile=job["torch_compile"])
    res = framework_results(job["name"], cfg, job["workloads"], job["gpu"])
    with open(job["out"], "w") as f:
        json.dump(res, f)
    return 0


# --------------------------------------------------------------------------------------
# (e) import time
# --------------------------------------------------------------------------------------
_IMPORT_CHILD = ("import time; t = time.perf_counter(); import {mod}; "
                 "print(repr(time.perf_counter() - t))")


def import_times(modules, runs):
    """ms to import each module in a fresh interpreter (measured inside it), round-robin."""
    env = _child_env()
    impls = []
    for mod, label in modules:
        def run(mod=mod):
            r = subprocess.run([sys.executable, "-c", _IMPORT_CHILD.format(mod=mod)], env=env,
                               capture_output=True, text=True, timeout=300)
            if r.returncode != 0:
                raise RuntimeError((r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1])
            return float(r.stdout.strip().splitlines()[-1]) * 1e3
        impls.append((label, mod, run))
    out = {}
    for label, mod, _ in impls:
        out[label] = {"mode": REFERENCE if mod == "numpy" else EAGER, "module": mod, "samples_ms": []}
    for _ in range(runs):
        for label, mod, run in impls:
            rec = out[label]
            if "error" in rec:
                continue
            try:
                rec["samples_ms"].append(run())
            except Exception as e:
                out[label] = {"mode": rec["mode"], "module": mod, "error": _error(e)}
    for rec in out.values():
        if "error" not in rec:
            rec.update(_stats(rec["samples_ms"]))
    return out


# --------------------------------------------------------------------------------------
# The suite
# --------------------------------------------------------------------------------------
def _titles(cfg):
    b, w = cfg.gemm_batch, cfg.gemm_width
    return {
        "linear": ("(a) linear model (notes), ms/epoch", "ms/epoch"),
        "mlp": ("(b) MLP 784-256-256-10 Adam b64, ms/step", "ms/step"),
        "cnn": ("(c) CNN (notes) Adam b32, ms/step", "ms/step"),
        "gemm_forward": ("(d) MLP %d-%d-%d-10 b%d fwd, GFLOP/s" % (w, w, w, b), "GFLOP/s"),
        "gemm_train": ("(d) MLP %d-%d-%d-10 b%d fwd+bwd, GFLOP/s" % (w, w, w, b), "GFLOP/s"),
        "import": ("(e) import time (fresh process), ms", "ms"),
    }


def run(quick=False, workloads=None, frameworks=None, repeats=None, json_path=None, plot_path=None,
        torch_compile=None, out=None):
    """Runs the suite, prints the table to `out` (stdout by default) and returns the
    results dict (what `--json` writes).

    Args:
      quick: a smoke run (< 30 s on 2 cores): 3 repeats, fewer steps, smaller GEMM MLP.
      workloads: names from WORKLOADS to run (default: all).
      frameworks: names from FRAMEWORKS to compare with (default: every one installed;
        `()` for gpuflow alone).
      repeats: samples per implementation (default 7, 5 for the GEMM MLP, 3 when quick).
      json_path: where to write every sample as JSON (None: not written).
      plot_path: where to write a PNG bar chart (needs matplotlib).
      torch_compile: also time `torch.compile` on (a) and (b) (default: not when quick).
    """
    out = out or sys.stdout
    say = lambda *a: print(*a, file=out, flush=True)
    t_start = time.perf_counter()
    cfg = Config(quick=quick, repeats=repeats, torch_compile=torch_compile)
    workloads = list(WORKLOADS if workloads is None else workloads)
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        raise ValueError("unknown workload(s) %s; choose from %s" % (", ".join(unknown), ", ".join(WORKLOADS)))
    fw_note = None
    if frameworks is None and quick:
        frameworks = []   # their imports and compilers alone take minutes: not in a smoke run
        if installed_frameworks():
            fw_note = ("other frameworks (%s) skipped in a quick run; run without --quick or name them "
                       "with --frameworks" % ", ".join(installed_frameworks()))
    frameworks = installed_frameworks() if frameworks is None else list(frameworks)
    unknown = [f for f in frameworks if f not in FRAMEWORKS]
    if unknown:
        raise ValueError("unknown framework(s) %s; choose from %s" % (", ".join(unknown), ", ".join(FRAMEWORKS)))

    machine = machine_info()
    say("gpuflow benchmark suite%s: %s" % (" (quick smoke run)" if quick else "", ", ".join(workloads)))
    res = {"suite": "gpuflow bench", "quick": cfg.quick, "config": cfg.as_dict(), "machine": machine,
           "frameworks": {}, "frameworks_note": fw_note, "workloads": {}}
    gpu = machine["gpuflow_device"].startswith("/GPU")
    bench = GpuflowBench(cfg)
    titles = _titles(cfg)
    compared = []   # workloads the other frameworks run too
    for wl in workloads:
        title, unit = titles[wl]
        say("  running %s ..." % title)
        rec = {"title": title, "unit": unit}
        res["workloads"][wl] = rec
        if wl == "import":
            mods = [("gpuflow", "gpuflow"), ("numpy", "numpy")] + [(f, f) for f in frameworks]
            rec["config"] = {"runs": cfg.import_runs, "python": sys.executable}
            rec["results"] = import_times(mods, cfg.import_runs)
            continue
        if wl == "cnn" and not conv2d_available():
            rec["skipped"] = "Conv2D not available (gpuflow.keras.layers.Conv2D does not exist yet)"
            continue
        data = workload_data(wl, cfg)
        impls = [reference_gemm(data, backward=wl == "gemm_train", passes=cfg.gemm_passes)] \
            if wl.startswith("gemm") else []
        try:
            impls += getattr(bench, wl)(data)
        except Exception as e:
            impls.append(Impl("gpuflow (setup)", EAGER, _raiser(e)))
        rec["config"] = _workload_config(wl, cfg, data)
        rec["results"] = measure(impls, cfg.repeats_for(wl))
        compared.append(wl)
        del data, impls
        gc.collect()
    for name in frameworks if compared else ():
        say("  running %s in its own process ..." % name)
        fw = framework_process(name, cfg, compared, gpu)
        res["frameworks"][name] = {k: v for k, v in fw.items() if k != "workloads"}
        for wl, results in (fw.get("workloads") or {}).items():
            res["workloads"][wl]["results"].update(results)
    for rec in res["workloads"].values():
        if "flops" in rec.get("config", {}):
            rec["flops"] = rec["config"]["flops"]
            _add_gflops(rec["results"], rec["flops"])
    machine["load_average_end"] = _load()
    res["elapsed_s"] = time.perf_counter() - t_start
    say("")
    for line in format_report(res):
        say(line)
    if json_path:
        d = os.path.dirname(os.path.abspath(json_path))
        os.makedirs(d, exist_ok=True)
        with open(json_path, "w") as f:
            json.dump(res, f, indent=1)
        say("wrote %s" % json_path)
    if plot_path:
        res["plot"] = write_plot(res, plot_path)
        say(res["plot"])
    return res


def _raiser(e):
    def run():
        raise e
    return run


def _workload_config(wl, cfg, data):
    if wl == "linear":
        return {"samples": len(data[0]), "features": 2, "batch": 256, "steps_per_epoch": -(-len(data[0]) // 256),
                "optimizer": "SGD lr 0.01 (assign_sub)", "epochs_per_sample": cfg.linear_epochs,
                "batches": "NumPy slices converted to tensors once, outside the timing"}
    if wl == "mlp":
        return {"sizes": [784, 256, 256, 10], "batch": 64, "optimizer": "Adam lr 1e-3 eps 1e-7",
                "loss": "sparse categorical cross-entropy from logits", "steps_per_sample": cfg.mlp_steps}
    if wl == "cnn":
        return {"layers": "Conv2D(32,3,relu) Conv2D(64,3,relu) Flatten Dense(128,relu) Dense(10,softmax)",
                "input": [28, 28, 1], "batch": 32, "optimizer": "Adam lr 1e-3",
                "loss": "sparse categorical cross-entropy", "steps_per_sample": cfg.cnn_steps}
    sizes, x, _, _ = data
    backward = wl == "gemm_train"
    shapes = gemm_shapes(x.shape[0], sizes, backward)
    return {"sizes": sizes, "batch": x.shape[0], "pass": "forward+backward (no optimizer update)" if backward
            else "forward", "activation": "relu", "matmuls": [list(s) for s in shapes],
            "flops": gemm_flops(shapes), "flops_counted": "2*m*k*n of every matmul; elementwise work not counted"}


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------
def _fmt(v):
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    if v >= 1:
        return "%.2f" % v
    return "%.3f" % v


def _ratio_cell(wl, name, rec, results):
    if "error" in rec:
        return ""
    if wl.startswith("gemm"):
        ref = next((r for r in results.values() if r.get("mode") == REFERENCE and "gflops" in r), None)
        if ref is None or rec.get("mode") == REFERENCE:
            return ""
        # best-of ratio beside the median one: the less load-sensitive of the two
        return "%.0f%% of %s (best %.0f%%)" % (
            100 * rec["gflops"]["median"] / ref["gflops"]["median"],
            next(n for n, r in results.items() if r is ref).split()[0],
            100 * rec["gflops"]["max"] / ref["gflops"]["max"])
    if name == GF_COMPILED:
        eager = results.get(GF_EAGER, {})
        return "%.2fx eager" % (eager["median"] / rec["median"]) if "median" in eager else ""
    if name.startswith("gpuflow"):
        return ""
    if wl == "import":
        base = results.get("gpuflow", {})
        if rec.get("module") == "numpy" or "median" not in base:
            return ""
    else:
        base = results.get(GF_COMPILED if rec.get("mode") == COMPILED else GF_EAGER, {})
        if "median" not in base:
            base = results.get(GF_COMPILED, {})
        if "median" not in base:
            return ""
    r = rec["median"] / base["median"]
    return "gf %.2fx %s" % (r if r >= 1 else 1 / r, "faster" if r >= 1 else "slower")


def table_rows(res):
    """[(workload title, implementation, median, spread, ratio, target)] for every result."""
    rows = []
    for wl, rec in res["workloads"].items():
        title = rec["title"]
        if "skipped" in rec:
            rows.append((title, "skipped: %s" % rec["skipped"], "", "", "", ""))
            continue
        targets = TARGETS.get(wl, {})
        for name, r in rec["results"].items():
            if "error" in r:   # the whole message is in the JSON
                msg = r["error"] if len(r["error"]) <= 48 else r["error"][:45] + "..."
                rows.append((title, name, "error", "", msg, targets.get(name, "")))
                title = ""
                continue
            s = r["gflops"] if wl.startswith("gemm") else r
            spread = "%s..%s" % (_fmt(s["min"]), _fmt(s["max"]))
            label = name
            if "traces" in r:
                label += " (%d trace%s)" % (r["traces"], "" if r["traces"] == 1 else "s")
            rows.append((title, label, _fmt(s["median"]), spread, _ratio_cell(wl, name, r, rec["results"]),
                         targets.get(name, "")))
            title = ""
    return rows


def format_report(res):
    """The machine lines and the Markdown table, as a list of lines."""
    m = res["machine"]
    lines = ["gpuflow benchmark suite, %s, %s; %d repeats (GEMM %d)%s" % (
        m["date"], m["gpuflow_device"], res["config"]["repeats"], res["config"]["gemm_repeats"],
        "; quick smoke run: small sizes, not comparable" if res["quick"] else "")]
    lines += _machine_lines(m)
    la, cpus = m.get("load_average_start"), m.get("usable_cpus") or 1
    if la and max(la[0], (m.get("load_average_end") or la)[0]) > 0.5 * cpus:
        lines.append("WARNING: load average %.2f on %d CPUs: other processes compete for the cores, so timings "
                     "are inflated and noisy; multi-threaded BLAS on small matrices (workloads b, c) suffers "
                     "most (compare with OPENBLAS_NUM_THREADS=1)" % (max(la[0], (m.get("load_average_end") or la)[0]),
                                                                      cpus))
    fw = res.get("frameworks") or {}
    if res.get("frameworks_note"):
        lines.append(res["frameworks_note"])
    elif fw:
        def one(k, v):
            if "error" in v:
                return "%s: %s" % (k, v["error"])
            la = v.get("load_average_start")
            return "%s %s (load %s)" % (k, v.get("version", ""), "%.2f" % la[0] if la else "n/a")
        lines.append("other frameworks, each in its own process after gpuflow's runs: " +
                     "; ".join(one(k, v) for k, v in fw.items()))
    else:
        lines.append("other frameworks: none (install TensorFlow, PyTorch or JAX to add comparison rows)")
    lines.append("")
    head = ("workload", "implementation", "median", "spread (min..max)", "ratio", "target")
    rows = table_rows(res)
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) if rows else len(head[i]) for i in range(6)]
    fmt = "| " + " | ".join("%%-%ds" % w for w in widths) + " |"
    lines.append(fmt % head)
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        lines.append(fmt % r)
    lines.append("")
    lines.append("median and spread (min..max) over the repeats; gpuflow's rows and the reference matmul "
                 "are timed interleaved. ratio: for gpuflow gf.function its speedup over gpuflow eager; for "
                 "another framework how much faster or slower gpuflow is in the same mode (eager against "
                 "eager, compiled against compiled); GEMM rows: GFLOP/s as a share of the reference matmul "
                 "(median, and best against best); import: against `import gpuflow`.")
    lines.append("suite took %.1f s" % res.get("elapsed_s", 0.0))
    return lines


def write_plot(res, path):
    """A PNG bar chart of the medians (min..max as error bars), one panel per workload.
    Returns a line saying what happened."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "plot not written: matplotlib is not installed (pip install matplotlib)"
    panels = [(wl, rec) for wl, rec in res["workloads"].items() if rec.get("results")]
    if not panels:
        return "plot not written: no results"
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 1.0 + 1.6 * len(panels)), squeeze=False)
    for ax, (wl, rec) in zip(axes[:, 0], panels):
        names, med, lo, hi = [], [], [], []
        for name, r in rec["results"].items():
            s = r.get("gflops") if wl.startswith("gemm") else r
            if not s or "median" not in s:
                continue
            names.append(name)
            med.append(s["median"])
            lo.append(s["median"] - s["min"])
            hi.append(s["max"] - s["median"])
        colors = ["tab:blue" if n.startswith("gpuflow") else "tab:green" if rec["results"][n]["mode"] == REFERENCE
                  else "tab:gray" for n in names]
        ax.barh(range(len(names)), med, xerr=[lo, hi], color=colors, capsize=3)
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(rec["title"], fontsize=9, loc="left")
        ax.set_xlabel(rec["unit"] + (" (higher is better)" if rec["unit"] == "GFLOP/s" else " (lower is better)"),
                      fontsize=8)
    m = res["machine"]
    fig.suptitle("gpuflow bench, %s, %s, load %s" % (m["date"][:10], m["cpu_model"], m["load_average_start"]),
                 fontsize=9)
    fig.tight_layout()
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return "wrote %s" % path


# --------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------
def main(json_path=None, plot_path=None, quick=False, **kwargs):
    """`gpuflow bench`: runs the suite, prints the table; returns 0 (the exit code).
    Keyword arguments beyond these go to `run` (workloads, frameworks, repeats, ...)."""
    run(quick=quick, json_path=json_path, plot_path=plot_path, **kwargs)
    return 0


def _names(text, allowed, what):
    if text is None:
        return None
    if text.strip().lower() in ("", "none"):
        return []
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in allowed]
    if bad:
        raise argparse.ArgumentTypeError("unknown %s %s (choose from %s)" % (what, ", ".join(bad), ", ".join(allowed)))
    return names


def cli(argv=None, prog=None, workloads=None, default_json=None, description=None):
    """Command line of `benchmarks/run_suite.py` (and, with its defaults, bench_compiler.py)."""
    ap = argparse.ArgumentParser(prog=prog, description=description or __doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 repeats, fewer steps, smaller GEMM MLP")
    ap.add_argument("--repeats", type=int, default=None, help="samples per implementation")
    ap.add_argument("--json", default=default_json, help="write every sample as JSON to this path")
    ap.add_argument("--plot", default=None, help="write a PNG bar chart (needs matplotlib)")
    ap.add_argument("--only", default=",".join(workloads) if workloads else None,
                    help="comma-separated workloads: %s" % ", ".join(WORKLOADS))
    ap.add_argument("--frameworks", default=None,
                    help="comma-separated frameworks to compare with (%s; 'none' for gpuflow alone; "
                         "default: every one installed)" % ", ".join(FRAMEWORKS))
    ap.add_argument("--torch-compile", dest="torch_compile", action="store_true", default=None,
                    help="also time torch.compile on (a) and (b) in a quick run")
    ap.add_argument("--no-torch-compile", dest="torch_compile", action="store_false",
                    help="skip torch.compile (it compiles for tens of seconds)")
    args = ap.parse_args(argv)
    try:
        only = _names(args.only, WORKLOADS, "workload")
        fws = _names(args.frameworks, FRAMEWORKS, "framework")
    except argparse.ArgumentTypeError as e:
        ap.error(str(e))
    return main(json_path=args.json, plot_path=args.plot, quick=args.quick, workloads=only, frameworks=fws,
                repeats=args.repeats, torch_compile=args.torch_compile)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":   # one framework, run by framework_process
        sys.exit(_worker(sys.argv[2]))
    sys.exit(cli(prog="python -m gpuflow.bench_suite"))
