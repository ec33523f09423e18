"""A `gf.function` differentiated by an outer GradientTape: eager vs compiled call vs tape inside.

    python benchmarks/bench_taped_call.py [--repeats 7] [--steps 50]

The workload is the MLP 784-256-256-10 of issue 5 (batch 64): the loss of a forward pass
and its gradients w.r.t. the six weights. Three ways, timed interleaved in one process:

* eager: the tape records the Python function's ops one by one;
* compiled, outer tape: `loss = f(x, y)` with `f` a `gf.function` called under the tape,
  recorded as one op whose gradient is a compiled function (it recomputes the forward);
* compiled, tape inside: one `gf.function` that runs the tape and returns the gradients
  (forward and backward in one program, nothing recomputed).

Prints median and spread (min..max) of ms per gradient over the repeats.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
os.environ.setdefault("GPUFLOW_DEVICE", "cpu")

import gpuflow as gf  # noqa: E402
from gpuflow.bench_suite import mlp_data, mlp_params  # noqa: E402


def build():
    params = [gf.Variable(p) for p in mlp_params([784, 256, 256, 10], seed=3)]

    def loss_fn(x, y):
        h = x
        for i in range(0, len(params), 2):
            h = gf.matmul(h, params[i]) + params[i + 1]
            if i < len(params) - 2:
                h = gf.nn.relu(h)
        return gf.reduce_mean(gf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=h))

    compiled_loss = gf.function(loss_fn)

    def outer(fn):
        def grads(x, y):
            with gf.GradientTape() as tape:
                loss = fn(x, y)
            return tape.gradient(loss, params)
        return grads

    @gf.function
    def inside(x, y):
        with gf.GradientTape() as tape:
            loss = loss_fn(x, y)
        return tape.gradient(loss, params)

    return {"eager (tape records each op)": outer(loss_fn),
            "gf.function under the outer tape": outer(compiled_loss),
            "gf.function with the tape inside": inside}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args(argv)
    data = mlp_data()
    variants = build()
    for fn in variants.values():          # trace and warm up
        for x, y in data[:3]:
            fn(x, y)
    samples = {k: [] for k in variants}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            for i in range(args.steps):
                x, y = data[i % len(data)]
                g = fn(x, y)
            float(g[0].numpy()[0, 0])
            samples[name].append((time.perf_counter() - t0) / args.steps * 1e3)
    base = np.median(samples["eager (tape records each op)"])
    print("MLP 784-256-256-10, batch 64: loss and gradients of 6 weights, ms per gradient, "
          "%d repeats of %d steps (load average %s)" % (args.repeats, args.steps,
                                                       " ".join("%.2f" % v for v in os.getloadavg())))
    print("%-36s %8s %18s %10s" % ("variant", "median", "spread (min..max)", "vs eager"))
    for name, v in samples.items():
        med = np.median(v)
        print("%-36s %8.3f %8.3f..%-8.3f %9.2fx" % (name, med, min(v), max(v), base / med))
    return 0


if __name__ == "__main__":
    sys.exit(main())
