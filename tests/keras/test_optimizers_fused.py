"""Fused optimizer updates (Adam/AdamW, SGD with momentum, RMSprop) inside the Keras
optimizers: the same results as the op-by-op update (bit for bit on x86-64, where both
run the same IEEE operations in the same order), eagerly and in `gf.function`, with
the native and the reference kernels; variables are never written in place (tape
snapshots, values a user holds and compiled steps' reused buffers stay intact); other
dtypes and tensor hyperparameters fall back to the op-by-op update.
"""
import platform

import numpy as np
import pytest

import gpuflow as gf
import gpuflow.kernels as K
from gpuflow.keras import optimizers
from gpuflow.keras.optimizers import schedules
from gpuflow.kernels import native
from gpuflow.ops import optimizer_ops

EXACT = platform.machine().lower() in ("x86_64", "amd64")

CASES = [
    ("Adam", {}),
    ("Adam", {"amsgrad": True, "learning_rate": 0.01}),
    ("Adam", {"clipnorm": 0.7, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-3}),
    ("Adam", {"weight_decay": 0.05, "learning_rate": 0.02, "global_clipnorm": 1.5}),
    ("Adam", {"learning_rate": schedules.ExponentialDecay(0.01, 2, 0.5)}),
    ("Adam", {"gradient_accumulation_steps": 2, "use_ema": True, "learning_rate": 0.05}),
    ("AdamW", {}),
    ("AdamW", {"weight_decay": 0.1, "amsgrad": True, "learning_rate": 0.01}),
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.5, "nesterov": True, "clipvalue": 0.3}),
    ("RMSprop", {}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"momentum": 0.3, "rho": 0.8}),
    ("RMSprop", {"centered": True, "momentum": 0.2, "epsilon": 1e-4}),
]
IDS = ["%s-%d" % (c, i) for i, (c, _) in enumerate(CASES)]


def _problem(dtype, steps=4):
    rng = np.random.default_rng(3)
    w0 = [rng.standard_normal((5, 3)).astype(dtype), rng.standard_normal(3).astype(dtype),
          np.asarray(rng.standard_normal(), dtype)]
    grads = [[(rng.standard_normal(w.shape) * (1 + s)).astype(dtype) for w in w0] for s in range(steps)]
    return w0, grads


def _run(cls, kw, dtype, fused, compiled, impl=None):
    w0, grads = _problem(dtype)
    variables = [gf.Variable(w.copy(), name="w%d" % i) for i, w in enumerate(w0)]
    opt = getattr(optimizers, cls)(**kw)
    opt._fused_updates = fused

    def step(gs):
        opt.apply_gradients(zip(gs, variables))
        return opt.iterations

    fn = gf.function(step) if compiled else step
    with optimizer_ops.use_kernels(impl):
        for gs in grads:
            fn([gf.constant(g) for g in gs])
    if compiled:
        assert fn.experimental_get_tracing_count() == 1
    return [v.numpy() for v in variables] + [v.numpy() for v in opt.variables]


def _assert_same(got, want, dtype):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.shape == b.shape
        if EXACT:
            np.testing.assert_array_equal(a, b)
        else:
            tol = 1e-6 if dtype == np.float32 else 1e-13
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cls,kw", CASES, ids=IDS)
def test_fused_update_equals_op_by_op_update(cls, kw, dtype, compiled):
    _assert_same(_run(cls, kw, dtype, True, compiled), _run(cls, kw, dtype, False, compiled), dtype)


@pytest.mark.skipif(not native.available(), reason="native kernels unavailable")
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("cls,kw", [CASES[1], CASES[9], CASES[13]], ids=["adam", "sgd", "rmsprop"])
def test_native_and_reference_kernels_agree(cls, kw, compiled):
    _assert_same(_run(cls, kw, np.float32, True, compiled, impl="native"),
                 _run(cls, kw, np.float32, True, compiled, impl="reference"), np.float32)


@pytest.mark.parametrize("cls,kw,kernel", [("Adam", {}, "adam_update"), ("AdamW", {"amsgrad": True}, "adam_update"),
                                          ("SGD", {"momentum": 0.9}, "sgd_momentum_update"),
                                          ("RMSprop", {"centered": True}, "rmsprop_update")])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_the_fused_kernel_runs(cls, kw, kernel, compiled, monkeypatch):
    calls = []
    # Compiled CPU steps call the C++ kernel directly (Op.prepare), with the output
    # buffers the plan reuses; eager updates go through the public kernel and allocate.
    direct = compiled and native.available()
    owner = native.module() if direct else K
    real = getattr(owner, kernel)

    def counting(*args, **kwargs):
        calls.append(args[-1] is not None if direct else kwargs.get("out") is not None)
        return real(*args, **kwargs)
    monkeypatch.setattr(owner, kernel, counting)
    _run(cls, kw, np.float32, True, compiled)
    assert len(calls) == 4 * 3                     # 4 steps, 3 variables
    if direct:
        return
    assert all(calls) if compiled else not any(calls)


@pytest.mark.skipif(not native.available(), reason="native kernels unavailable")
def test_compiled_update_falls_back_to_the_checked_kernel_when_cpp_refuses(monkeypatch):
    # A C++ refusal (it validates before writing) sends the step through the public
    # kernel, which checks and copies as needed: the results are those of the reference.
    real = native.module().adam_update
    seen = []

    def refuse_the_direct_call(*args, **kwargs):
        seen.append(1)
        if len(seen) % 2:      # the prepared call; the fallback's own C++ call then runs
            raise ValueError("refused")
        return real(*args, **kwargs)
    monkeypatch.setattr(native.module(), "adam_update", refuse_the_direct_call)
    _assert_same(_run("Adam", {}, np.float32, True, True),
                 _run("Adam", {}, np.float32, True, True, impl="reference"), np.float32)
    assert len(seen) == 2 * 4 * 3      # 4 steps, 3 variables: refused, then the checked path


def test_compiled_graph_holds_one_update_op_per_variable():
    v = gf.Variable(np.ones((4, 3), np.float32))
    opt = optimizers.Adam(0.1)

    @gf.function
    def step(x):
        with gf.GradientTape() as t:
            loss = gf.reduce_sum(v * x)
        opt.apply_gradients(zip(t.gradient(loss, [v]), [v]))
        return loss
    x = gf.constant(np.ones((4, 3), np.float32))
    step(x)
    text = step.explain(x)
    assert text.count("= adam_update(") == 1
    assert "state 'Variable:0' <-" in text


@pytest.mark.parametrize("cls,kw", [("Adam", {"amsgrad": True}), ("SGD", {"momentum": 0.9, "nesterov": True}),
                                    ("RMSprop", {"centered": True, "momentum": 0.5})])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_values_seen_before_an_update_never_change(cls, kw, compiled):
    """Tensors read from the variables and slots before a step keep their values: the
    update replaces the arrays, and a compiled step reuses a buffer only when nothing
    else holds it."""
    w0, grads = _problem(np.float32, steps=6)
    variables = [gf.Variable(w.copy()) for w in w0]
    opt = getattr(optimizers, cls)(**kw)

    def step(gs):
        opt.apply_gradients(zip(gs, variables))

    fn = gf.function(step) if compiled else step
    held = []
    for gs in grads:
        snaps = [v.value() for v in variables + list(opt.variables)]
        held.append((snaps, [s.numpy().copy() for s in snaps]))
        fn([gf.constant(g) for g in gs])
    for snaps, copies in held:
        for s, c in zip(snaps, copies):
            np.testing.assert_array_equal(s.numpy(), c)
    # and the variables did move
    assert not np.array_equal(variables[0].numpy(), w0[0])


def test_tape_snapshot_survives_an_update():
    v = gf.Variable(np.array([1.0, 2.0, 3.0], np.float32))
    opt = optimizers.Adam(0.5)
    with gf.GradientTape(persistent=True) as tape:
        loss = gf.reduce_sum(v * v)
    opt.apply_gradients([(gf.constant(np.ones(3, np.float32)), v)])
    assert not np.array_equal(v.numpy(), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(tape.gradient(loss, v).numpy(), [2.0, 4.0, 6.0])


def test_float16_variables_use_the_op_by_op_update(monkeypatch):
    calls = []
    monkeypatch.setattr(K, "adam_update", lambda *a, **k: calls.append(1))
    v = gf.Variable(np.ones(4, np.float16))
    opt = optimizers.Adam(0.1)
    opt.apply_gradients([(gf.constant(np.ones(4, np.float16)), v)])
    assert not calls
    assert v.dtype.name == "float16" and np.all(v.numpy() < 1)


def test_tensor_hyperparameters_use_the_op_by_op_update(monkeypatch):
    calls = []
    real = K.adam_update
    monkeypatch.setattr(K, "adam_update", lambda *a, **k: calls.append(1) or real(*a, **k))
    w0, grads = _problem(np.float64)
    a = gf.Variable(w0[0].copy())
    b = gf.Variable(w0[0].copy())
    opt_a = optimizers.Adam(0.01, beta_1=gf.constant(0.9, gf.float64))
    opt_b = optimizers.Adam(0.01, beta_1=0.9)
    opt_b._fused_updates = False
    for gs in grads:
        opt_a.apply_gradients([(gf.constant(gs[0]), a)])
        opt_b.apply_gradients([(gf.constant(gs[0]), b)])
    assert not calls
    # (the float64 tensor beta_1 is not rounded to float32 in the bias correction, as a
    # Python float is, hence the tolerance)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def test_notes_cnn_compiled_step_fused_equals_op_by_op():
    """The notes' CNN (its Dense kernel has 4.7M weights: the large-array path with
    streamed stores into the plan's reused buffers), two compiled Adam steps."""
    L = gf.keras.layers
    rng = np.random.default_rng(0)
    x = gf.constant(rng.random((4, 28, 28, 1), dtype=np.float32))
    y = gf.constant(rng.integers(0, 10, 4))
    results = []
    for fused in (True, False):
        gf.random.set_seed(0)
        model = gf.keras.Sequential([gf.keras.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"),
                                     L.Conv2D(64, 3, activation="relu"), L.Flatten(),
                                     L.Dense(128, activation="relu"), L.Dense(10)])
        opt = optimizers.Adam()
        opt._fused_updates = fused
        loss_fn = gf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        @gf.function
        def step(x, y):
            with gf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return loss
        held = None
        for i in range(3):
            step(x, y)
            if i == 0:
                held = [v.value() for v in model.trainable_variables]
                held_copies = [h.numpy().copy() for h in held]
        for h, c in zip(held, held_copies):
            np.testing.assert_array_equal(h.numpy(), c)
        results.append([v.numpy() for v in model.trainable_variables + list(opt.variables)])
    _assert_same(results[0], results[1], np.float32)


def test_memory_plan_gives_each_result_of_a_multi_output_update_its_own_buffer():
    """The compiled CPU backend plans the results of a fused update (an out-capable
    instruction with several results) like a matmul's: planned buffers when internal,
    rings when they escape, never a buffer an input of the same instruction uses."""
    from gpuflow.compiler import memory
    vals = {k: ((100,), 4) for k in "abcdefgh"}
    instrs = [
        memory.Instr(["x"], ["a"], out=True, inplace=True),           # a: internal
        memory.Instr(["a"], ["b"], out=True, inplace=True),           # b: internal, a dies
        memory.Instr(["b", "a"], ["c", "d", "e"], out=True),          # fused update
        memory.Instr(["c", "d"], ["f"], out=True, inplace=True),
    ]
    mp = memory.plan(instrs, dict(vals, x=((100,), 4)), live_out=["e", "f"])
    assert mp.kind["e"] == "escape" and mp.kind["f"] == "escape"
    assert mp.kind["c"] == mp.kind["d"] == "planned"
    bufs = {mp.buffer_of[v] for v in "cd"}
    assert len(bufs) == 2 and not bufs & {mp.buffer_of["a"], mp.buffer_of["b"]}


def test_large_compiled_buffers_start_on_a_page():
    from gpuflow.compiler import cpu_backend
    big = cpu_backend._empty((1024, 1024), np.float32)
    assert big.shape == (1024, 1024) and big.dtype == np.float32 and big.flags.c_contiguous
    assert big.ctypes.data % 4096 == 0
    small = cpu_backend._empty((10,), np.float64)
    assert small.shape == (10,) and small.dtype == np.float64
