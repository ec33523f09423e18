"""Whole training steps: compiled equals eager (losses and weights), traces once per
signature, and the compiled step is faster; Keras fit runs compiled by default."""
import os
import re
import sys
import time

import numpy as np
import pytest

import gpuflow as gf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "benchmarks"))
import bench_compiler as B  # noqa: E402


def test_notes_linear_model_same_losses_traced_once_and_faster():
    x, y = B.linear_data(n=4000)
    batches = B.linear_batches(x, y)   # 15 batches of 256 and one of 160
    eager_step, (we, be) = B.make_linear(compiled=False)
    comp_step, (wc, bc) = B.make_linear(compiled=True)
    for epoch in range(2):
        for xb, yb in batches:
            le = eager_step(xb, yb)
            lc = comp_step(xb, yb)
            np.testing.assert_allclose(lc.numpy(), le.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(wc.numpy(), we.numpy(), rtol=1e-5)
    np.testing.assert_allclose(bc.numpy(), be.numpy(), rtol=1e-5)
    assert comp_step.experimental_get_tracing_count() == 2   # batch 256 and the last batch
    # the optimized graph is smaller than the traced one and holds fused kernels
    cf = comp_step.get_concrete_function(*batches[0])
    assert len(cf.optimized_graph.nodes) < len(cf.graph.nodes)
    text = comp_step.explain(*batches[0])
    assert "fused[" in text and "reduce_mean" in text

    def best(step, reps=5):
        out = []
        for _ in range(reps):
            t = time.perf_counter()
            B.run_linear_epoch(step, batches)
            out.append(time.perf_counter() - t)
        return min(out)
    assert best(comp_step) < 0.7 * best(eager_step)


def test_linear_model_with_input_signature_traces_once():
    x, y = B.linear_data(n=600)
    w = gf.Variable(np.zeros((2, 1), np.float32))

    @gf.function(input_signature=[gf.TensorSpec([None, 2]), gf.TensorSpec([None, 1])])
    def step(xb, yb):
        with gf.GradientTape() as tape:
            loss = gf.reduce_mean(gf.square(yb - xb @ w))
        w.assign_sub(0.01 * tape.gradient(loss, w))
        return loss
    for xb, yb in B.linear_batches(x, y):
        step(xb, yb)
    assert step.experimental_get_tracing_count() == 1


def test_mlp_adam_compiled_equals_eager():
    batches = B.mlp_data(n=64 * 4)
    eager_step, pe, _ = B.make_mlp(compiled=False)
    comp_step, pc, _ = B.make_mlp(compiled=True)
    for xb, yb in batches + batches:
        le = eager_step(xb, yb)
        lc = comp_step(xb, yb)
        np.testing.assert_allclose(lc.numpy(), le.numpy(), rtol=1e-4, atol=1e-5)
    for a, b in zip(pe, pc):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-3, atol=1e-5)
    assert comp_step.experimental_get_tracing_count() == 1


def test_keras_fit_runs_compiled_and_matches_eager():
    keras = pytest.importorskip("gpuflow.keras")
    try:
        keras.Sequential
        keras.layers.Dense
    except Exception:
        pytest.skip("keras models not available")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 8)).astype(np.float32)
    y = rng.integers(0, 3, 200).astype(np.int32)
    hist = {}
    for eager in (True, False):
        gf.random.set_seed(1)
        m = keras.Sequential([keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
        m.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), run_eagerly=eager)
        hist[eager] = m.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0).history["loss"]
        if not eager:
            assert isinstance(m.train_function, gf.compiler.Function)
            # the last partial batch (200 = 6 * 32 + 8) does not retrace every epoch
            assert m.train_function.experimental_get_tracing_count() <= 2
    np.testing.assert_allclose(hist[False], hist[True], rtol=1e-5)


def _mse_step(model, opt, compiled):
    """A training step of `model` (a layer or model) on the mean squared error with `opt`,
    wrapped in gf.function when `compiled`."""
    def step(xb, yb):
        with gf.GradientTape() as tape:
            loss = gf.reduce_mean(gf.square(model(xb) - yb))
        grads = tape.gradient(loss, model.trainable_weights)
        opt.apply_gradients(zip(grads, model.trainable_weights))
        return loss
    return gf.function(step) if compiled else step


@pytest.mark.parametrize("optimizer", ["adam", "sgd_momentum", "rmsprop"])
def test_dense_kernel_gradient_goes_to_the_update_as_a_product(optimizer, monkeypatch):
    """A Dense kernel's gradient x^T dy (skinny, float32, read by nothing else) reaches
    the optimizer update as the pair (x, dy) in the compiled CPU plan: the same weights
    as with the stored product (bit for bit) and as eager (float rounding)."""
    from gpuflow import keras
    from gpuflow.compiler import cpu_backend
    from gpuflow.kernels import gemm
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4096)).astype(np.float32)        # 32 x 4096 x 128: 2^24 multiply-adds
    y = rng.standard_normal((32, 128)).astype(np.float32)
    make_opt = {"adam": lambda: keras.optimizers.Adam(0.01),
                "sgd_momentum": lambda: keras.optimizers.SGD(0.01, momentum=0.9),
                "rmsprop": lambda: keras.optimizers.RMSprop(0.01)}[optimizer]

    def make(compiled):
        gf.random.set_seed(3)
        layer = keras.layers.Dense(128)
        layer.build((None, 4096))
        return _mse_step(layer, make_opt(), compiled), layer

    runs = {}
    for name in ("product", "stored", "eager"):
        if name == "stored":
            monkeypatch.setattr(cpu_backend, "_product_grad_updates", lambda g, shapes: {})
        else:
            monkeypatch.undo()
        step, layer = make(name != "eager")
        for _ in range(3):
            step(x, y)
        runs[name] = [w.numpy() for w in layer.trainable_weights]
        if name == "product":
            source = step.get_concrete_function(gf.constant(x), gf.constant(y)).program.plans[0].source
            fused = gemm.use_direct(4096, 32, 128, True, False)
            assert (", (" in source) == fused, source
    for a, b in zip(runs["product"], runs["stored"]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(runs["product"], runs["eager"]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_product_gradient_falls_back_to_the_stored_product():
    """Where the C++ update refuses the pair (a non-contiguous factor here) or runs the
    reference implementation, the prepared update computes a.T @ b and gives the same
    update as with the product passed in."""
    from gpuflow.ops import optimizer_ops
    from gpuflow.ops.registry import get_op
    rng = np.random.default_rng(4)
    a = rng.standard_normal((64, 33)).astype(np.float32)[::2]      # (32, 33), rows 2 apart
    b = rng.standard_normal((32, 7)).astype(np.float32)
    w, m = (rng.standard_normal((33, 7)).astype(np.float32) for _ in range(2))
    v = np.square(rng.standard_normal((33, 7))).astype(np.float32)
    alpha = np.asarray(1e-3, np.float32)
    run = get_op("adam_update").prepare({"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7})
    want = [np.empty_like(w) for _ in range(3)]
    run(np, w, a.T @ b, m, v, alpha, out=tuple(want))
    for impl in ("native", "reference"):
        for with_dx in (False, True):
            got = [np.empty_like(w) for _ in range(3)]
            dx = np.full((32, 33), np.nan, np.float32)
            with optimizer_ops.use_kernels(impl):
                run(np, w, (a, b, dx) if with_dx else (a, b), m, v, alpha, out=tuple(got))
            for x, y in zip(got, want):
                np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
            if with_dx:
                np.testing.assert_allclose(dx, b @ w.T, rtol=1e-5, atol=1e-6)



def test_notes_cnn_compiled_matches_eager():
    """The notes' CNN (Conv2D 32, Conv2D 64, Dense 128, Dense 10, Adam) compiled, with
    the Dense kernel's gradient passed to Adam as a product where the direct loops run,
    trains like eager: same losses and weights after four steps."""
    from gpuflow import bench_suite as bs
    from gpuflow.kernels import gemm
    data = bs.cnn_data(batches=4)
    eager_step, eager_model = bs.make_cnn(False)
    comp_step, comp_model = bs.make_cnn(True)
    for xb, yb in data:
        np.testing.assert_allclose(float(comp_step(xb, yb)), float(eager_step(xb, yb)), rtol=1e-5)
    for a, b in zip(eager_model.trainable_weights, comp_model.trainable_weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-6)
    source = comp_step.get_concrete_function(gf.constant(data[0][0]), gf.constant(data[0][1])).program.plans[0].source
    # with the direct loops: (x, dy, dx): the input gradient comes from the same pass
    assert bool(re.search(r", \(\w+, \w+, \w+\), ", source)) == gemm.use_direct(36864, 32, 128, True, False)
    assert comp_step.experimental_get_tracing_count() == 1


def test_stacked_dense_input_gradient_comes_from_the_update_pass(monkeypatch):
    """Two Dense layers: the second one's input gradient dy w^T is written by its Adam
    update's pass over w (before updating it), and the step size Adam needs is computed
    first (nodes of variables and constants only are moved to the front). Same bits as
    without the fusion, eager within float rounding."""
    from gpuflow import keras
    from gpuflow.compiler import cpu_backend
    from gpuflow.kernels import gemm
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 512)).astype(np.float32)
    y = rng.standard_normal((32, 128)).astype(np.float32)

    def make(compiled):
        gf.random.set_seed(5)
        model = keras.Sequential([keras.Input(shape=(512,)), keras.layers.Dense(4096, activation="relu"),
                                  keras.layers.Dense(128)])      # 32 x 4096 x 128: the direct loops' size
        return _mse_step(model, keras.optimizers.Adam(0.001), compiled), model

    real = cpu_backend._product_grad_updates

    def without_dx(g, shapes):
        found = real(g, shapes)
        for pg in found.values():
            pg.dx = None
        return found
    runs = {}
    for name in ("fused", "unfused", "eager"):
        monkeypatch.setattr(cpu_backend, "_product_grad_updates", without_dx if name == "unfused" else real)
        step, model = make(name != "eager")
        losses = [float(step(x, y)) for _ in range(3)]
        runs[name] = (losses, [w.numpy() for w in model.trainable_weights])
        if name == "fused":
            source = step.get_concrete_function(gf.constant(x), gf.constant(y)).program.plans[0].source
            assert bool(re.search(r", \(\w+, \w+, \w+\), ", source)) == gemm.use_direct(4096, 32, 128, True, False)
    assert runs["fused"][0] == runs["unfused"][0]
    for a, b in zip(runs["fused"][1], runs["unfused"][1]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(runs["fused"][0], runs["eager"][0], rtol=1e-5)
    for a, b in zip(runs["fused"][1], runs["eager"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
