"""Benchmark of the convolution path: the gf.nn ops on the native (C++/OpenMP) and the
NumPy reference kernels, and the notes' CNN training step eager vs compiled.

Part 1, ops (forward, and forward + backward through GradientTape), on the shapes of the
notes' MNIST CNN with a batch of 32:

    x[32, 28, 28, 1] -> Conv2D(32, 3x3) -> [32, 26, 26, 32] -> Conv2D(64, 3x3) -> [32, 24, 24, 64]
                     -> MaxPool2D(2x2)  -> [32, 12, 12, 64]

Part 1b, the notes' second convolution (forward, input gradient, kernel gradient) by
algorithm of the direct kernels (gpuflow._C: 'direct' register-blocked loops, Winograd
'winograd' F(2x2, 3x3) and 'winograd4' F(4x4, 3x3)), the variants interleaved in each repeat.

Part 2, one training step (forward, backward, Adam update) of the notes' CNN
(Conv2D 32, Conv2D 64, Flatten, Dense 128, Dense 10; about 3 GFLOP), eagerly and compiled
with gf.function, in ms per step; also compiled with the op-by-op Adam update instead of
the fused one, and the fused update kernel alone on the Dense kernel's 4.7M weights.

Every row gives the median and the spread (min .. max) over --repeats timed runs after
--warmup runs. The machine's load average is printed before and after: on a shared
2-core machine other processes change the numbers (multi-threaded BLAS suffers most:
compare with OPENBLAS_NUM_THREADS=1). The native OpenMP kernels use GPUFLOW_NUM_THREADS
threads (default 1).

Usage:
    python benchmarks/bench_conv.py [--repeats 15] [--warmup 3] [--steps 10] [--profile]
"""
import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import gpuflow as gf  # noqa: E402
from gpuflow import keras  # noqa: E402
from gpuflow.kernels import native  # noqa: E402
from gpuflow.ops import conv_ops  # noqa: E402


def _stats(times):
    return statistics.median(times), min(times), max(times)


def _time(fn, repeats, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return _stats(times)


def _cell(s):
    return "%8.2f (%7.2f .. %7.2f)" % s


# ---------------------------------------------------------------------------------------
# Part 1: ops
# ---------------------------------------------------------------------------------------
def op_workloads():
    rng = np.random.default_rng(0)
    f32 = np.float32
    x = gf.constant(rng.random((32, 28, 28, 1), dtype=f32))
    k1 = gf.constant((rng.standard_normal((3, 3, 1, 32)) * 0.3).astype(f32))
    h1 = gf.constant(rng.random((32, 26, 26, 32), dtype=f32))
    k2 = gf.constant((rng.standard_normal((3, 3, 32, 64)) * 0.1).astype(f32))
    h2 = gf.constant(rng.standard_normal((32, 24, 24, 64)).astype(f32))
    dy1 = gf.constant(rng.standard_normal((32, 26, 26, 32)).astype(f32))
    dy2 = gf.constant(rng.standard_normal((32, 24, 24, 64)).astype(f32))
    dp = gf.constant(rng.standard_normal((32, 12, 12, 64)).astype(f32))

    def fwd_bwd(fn, inputs, dy):
        def run():
            with gf.GradientTape() as tape:
                tape.watch(inputs)
                y = fn(*inputs)
            grads = tape.gradient(y, inputs, output_gradients=dy)
            return y, grads
        return run

    conv = lambda a, b: gf.nn.conv2d(a, b, 1, "VALID")  # noqa: E731
    pool = lambda a: gf.nn.max_pool2d(a, 2, 2, "VALID")  # noqa: E731
    return [
        ("Conv2D 1->32  fwd      [32,28,28,1]", lambda: conv(x, k1)),
        ("Conv2D 1->32  fwd+bwd  (dx, dkernel)", fwd_bwd(conv, [x, k1], dy1)),
        ("Conv2D 32->64 fwd      [32,26,26,32]", lambda: conv(h1, k2)),
        ("Conv2D 32->64 fwd+bwd  (dx, dkernel)", fwd_bwd(conv, [h1, k2], dy2)),
        ("MaxPool2D 2x2 fwd      [32,24,24,64]", lambda: pool(h2)),
        ("MaxPool2D 2x2 fwd+bwd", fwd_bwd(pool, [h2], dp)),
    ]


def bench_ops(repeats, warmup):
    impls = ["native", "reference"] if native.available() else ["reference"]
    print("\n1) gf.nn ops, float32, times in ms: median (min .. max)")
    header = "%-38s %-29s %-29s %8s" % ("op", "native", "reference", "speedup")
    print(header)
    print("-" * len(header))
    rows = []
    for name, fn in op_workloads():
        res = {}
        for impl in impls:
            # OpenBLAS threads spin for up to ~0.1 s after a call (the reference kernels,
            # and the native im2col path for a one-channel input gradient, call BLAS)
            # and slowed the next kernel timed on the same cores (the notes' second
            # convolution: 5-8 ms instead of 3): let them go to sleep first.
            time.sleep(0.3)
            with conv_ops.use_kernels(impl):
                res[impl] = _time(fn, repeats, warmup)
        nat = res.get("native")
        print("%-38s %-29s %-29s %7s" % (name, _cell(nat) if nat else "n/a", _cell(res["reference"]),
                                         ("%.1fx" % (res["reference"][0] / nat[0])) if nat else "-"))
        rows.append((name, res))
    return rows


def bench_algorithms(repeats, warmup):
    """Part 1b: the direct kernels' algorithms on the notes' second convolution."""
    mod = native.get()
    if mod is None or not mod.conv_direct_available():
        print("\n1b) direct kernels: not on this CPU (neither AVX-512F nor AVX2 + FMA)")
        return {}
    rng = np.random.default_rng(3)
    x = rng.random((32, 26, 26, 32), dtype=np.float32)
    k = (rng.standard_normal((3, 3, 32, 64)) * 0.1).astype(np.float32)
    dy = rng.standard_normal((32, 24, 24, 64)).astype(np.float32)
    kt = np.ascontiguousarray(k[::-1, ::-1].transpose(0, 1, 3, 2))      # the input gradient's kernel
    jobs = {
        "forward": lambda alg: mod.conv2d_direct(x, k, 1, 1, 1, 1, None, True, [0, 0, 0, 0], alg),
        "input gradient": lambda alg: mod.conv2d_direct(dy, kt, 1, 1, 1, 1, None, False, [2, 2, 2, 2], alg),
        "kernel gradient": lambda alg: mod.conv2d_direct_filter(x, dy, 3, 3, 1, 1, 1, 1, alg),
    }
    algs = ("direct", "winograd", "winograd4")
    samples = {(j, a): [] for j in jobs for a in algs}
    for _ in range(warmup):
        for j, f in jobs.items():
            for a in algs:
                f(a)
    for _ in range(repeats):
        for j, f in jobs.items():
            for a in algs:
                t0 = time.perf_counter()
                f(a)
                samples[(j, a)].append((time.perf_counter() - t0) * 1e3)
    print("\n1b) the notes' second convolution by algorithm (%s, %d thread(s)), ms: median (min .. max)"
          % (mod.conv_direct_isa(), mod.get_compute_threads()))
    print("%-18s %-26s %-26s %-26s" % ("", "direct", "winograd F(2x2)", "winograd4 F(4x4)"))
    results = {}
    for j in jobs:
        cells = [_stats(samples[(j, a)]) for a in algs]
        results[j] = dict(zip(algs, cells))
        print("%-18s %s" % (j, " ".join("%-26s" % _cell(c) for c in cells)))
    return results


# ---------------------------------------------------------------------------------------
# Part 2: the notes' CNN training step
# ---------------------------------------------------------------------------------------
def notes_cnn():
    L = keras.layers
    return keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"),
                             L.Conv2D(64, 3, activation="relu"), L.Flatten(), L.Dense(128, activation="relu"),
                             L.Dense(10, activation="softmax")])


def make_step(fused=True):
    gf.random.set_seed(0)
    model = notes_cnn()
    opt = keras.optimizers.Adam()
    opt._fused_updates = fused
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    def step(x, y):
        with gf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    def grads_only(x, y):
        with gf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        return loss, grads
    return model, step, grads_only


def _batches(n=8):
    rng = np.random.default_rng(1)
    return [(gf.constant(rng.random((32, 28, 28, 1), dtype=np.float32)), gf.constant(rng.integers(0, 10, 32)))
            for _ in range(n)]


def _time_steps(fn, batches, repeats, warmup):
    for x, y in batches[:warmup]:
        fn(x, y)
    per_step = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        loss = None
        for x, y in batches:
            loss = fn(x, y)
        float(loss)
        per_step.append((time.perf_counter() - t0) * 1e3 / len(batches))
    return _stats(per_step)


def bench_training(repeats, warmup, steps, profile):
    print("\n2) notes' CNN training step (Conv2D 32, Conv2D 64, Flatten, Dense 128, Dense 10; batch 32; Adam),")
    print("   ms per step: median (min .. max) over %d passes of %d steps" % (repeats, steps))
    batches = _batches(steps)
    model, step, grads_only = make_step()
    results = {}
    results["eager"] = _time_steps(step, batches, max(3, repeats // 3), warmup)
    print("   %-34s %s" % ("eager", _cell(results["eager"])))
    compiled = gf.function(step)
    results["compiled"] = _time_steps(compiled, batches, repeats, warmup)
    print("   %-34s %s" % ("compiled (gf.function)", _cell(results["compiled"])))
    compiled_grads = gf.function(grads_only)
    results["compiled_no_update"] = _time_steps(lambda x, y: compiled_grads(x, y)[0], batches, repeats, warmup)
    print("   %-34s %s" % ("compiled, forward+backward only", _cell(results["compiled_no_update"])))
    if native.available():
        with conv_ops.use_kernels("reference"):
            results["compiled_ref"] = _time_steps(compiled, batches, max(3, repeats // 3), 1)
        print("   %-34s %s" % ("compiled, reference conv kernels", _cell(results["compiled_ref"])))
    # The same step with the op-by-op Adam update (a fresh model and optimizer, traced
    # with fused updates off).
    _, step_unfused, _ = make_step(fused=False)
    compiled_unfused = gf.function(step_unfused)
    results["compiled_unfused"] = _time_steps(compiled_unfused, batches, max(3, repeats // 3), warmup)
    print("   %-34s %s" % ("compiled, op-by-op Adam update", _cell(results["compiled_unfused"])))
    gflop = 3.0
    print("   compiled: %.0f GFLOP/s effective (about %.1f GFLOP per step); target <= 20 ms/step"
          % (gflop / results["compiled"][0] * 1e3, gflop))
    print("   eager / compiled: %.2fx" % (results["eager"][0] / results["compiled"][0]))
    if profile:
        pr = cProfile.Profile()
        pr.enable()
        for x, y in batches:
            loss = compiled(x, y)
        float(loss)
        pr.disable()
        out = io.StringIO()
        pstats.Stats(pr, stream=out).sort_stats("tottime").print_stats(12)
        print("\n   cProfile of %d compiled steps (by own time):" % len(batches))
        print("\n".join("   " + line for line in out.getvalue().splitlines() if line.strip()))
    return results


# ---------------------------------------------------------------------------------------
# Part 3: the fused Adam update alone
# ---------------------------------------------------------------------------------------
def bench_update(repeats, warmup):
    from gpuflow import kernels as K
    from gpuflow.kernels import optim as _optim
    print("\n3) Adam update of the Dense kernel (36864 x 128 float32 = 4.7M weights), ms: median (min .. max)")
    rng = np.random.default_rng(2)
    n = (36864, 128)
    w, g, m = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    v = np.square(rng.standard_normal(n)).astype(np.float32)
    alpha = np.asarray(1e-3, np.float32)
    outs = tuple(_optim._empty(w) for _ in range(3))
    held = []

    def keep(res):
        # Like Variables, hold each result until the next call replaces it (dropping it
        # at once would let the allocator hand the memory back to the OS every call).
        held[:] = [res]

    rows = []
    if native.available():
        rows.append(("fused kernel (%s), out= buffers" % native.module().optim_isa(),
                     lambda: K.adam_update(w, g, m, v, alpha, out=outs, impl="native")))
        rows.append(("fused kernel, new arrays", lambda: keep(K.adam_update(w, g, m, v, alpha, impl="native"))))
    rows.append(("NumPy reference (op by op)", lambda: keep(K.adam_update(w, g, m, v, alpha, impl="reference"))))
    for name, fn in rows:
        print("   %-40s %s" % (name, _cell(_time(fn, repeats, warmup))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10, help="training steps per timed pass")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the compiled steps")
    ap.add_argument("--skip-ops", action="store_true")
    ap.add_argument("--skip-training", action="store_true")
    ap.add_argument("--skip-update", action="store_true")
    args = ap.parse_args(argv)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print("gpuflow conv benchmark: cpus=%s, load average %.2f %.2f %.2f, native kernels: %s, "
          "OPENBLAS_NUM_THREADS=%s, OMP_NUM_THREADS=%s"
          % (os.cpu_count(), load[0], load[1], load[2],
             ("yes (OpenMP=%s, %d thread(s), optimizer loops: %s)"
              % (native.module().openmp, native.get_num_threads(), native.module().optim_isa()))
             if native.available() else native.reason(),
             os.environ.get("OPENBLAS_NUM_THREADS", "unset"), os.environ.get("OMP_NUM_THREADS", "unset")))
    if not args.skip_ops:
        bench_ops(args.repeats, args.warmup)
        bench_algorithms(args.repeats, args.warmup)
    if not args.skip_training:
        bench_training(args.repeats, args.warmup, args.steps, args.profile)
    if not args.skip_update:
        bench_update(args.repeats, args.warmup)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print("\nload average at the end: %.2f %.2f %.2f" % load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
