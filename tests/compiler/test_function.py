"""gf.function: decorator forms, structures, caching, retracing, signatures, explain."""
import sys
import warnings

import numpy as np
import pytest

import gpuflow as gf
from gpuflow import errors
from gpuflow.compiler import options


def test_decorator_with_and_without_arguments():
    @gf.function
    def f(x):
        return x * 2.0

    @gf.function(input_signature=[gf.TensorSpec([None], gf.float32)])
    def g(x):
        return x + 1.0

    def h(x):
        return x - 1.0
    h2 = gf.function(h)
    x = gf.constant([1.0, 2.0])
    np.testing.assert_allclose(f(x).numpy(), [2, 4])
    np.testing.assert_allclose(g(x).numpy(), [2, 3])
    np.testing.assert_allclose(h2(x).numpy(), [0, 1])
    assert f.__name__ == "f" and isinstance(f, gf.compiler.Function)


def test_returns_python_structure():
    @gf.function
    def f(x, scale):
        return {"y": x * scale, "pair": (x + 1.0, [x - 1.0, None]), "n": 3, "s": "text"}, None
    x = gf.constant([1.0, 2.0])
    out, none = f(x, 2.0)
    assert none is None
    assert out["n"] == 3 and out["s"] == "text"
    np.testing.assert_allclose(out["y"].numpy(), [2, 4])
    assert isinstance(out["pair"], tuple) and isinstance(out["pair"][1], list)
    np.testing.assert_allclose(out["pair"][1][0].numpy(), [0, 1])
    assert out["pair"][1][1] is None


def test_variable_and_constant_outputs():
    v = gf.Variable([1.0, 2.0])
    c = gf.constant(5.0)

    @gf.function
    def f(x):
        v.assign_add(x)
        return v, c
    a, b = f(gf.constant([1.0, 1.0]))
    np.testing.assert_allclose(a.numpy(), [2, 3])
    assert not isinstance(a, gf.Variable)
    assert float(b) == 5.0


def test_traces_once_per_signature_and_reasons():
    @gf.function
    def f(x):
        return x * 2.0
    f(gf.zeros((256, 2)))
    f(gf.zeros((256, 2)))
    assert f.experimental_get_tracing_count() == 1
    f(gf.zeros((32, 2)))
    assert f.experimental_get_tracing_count() == 2
    assert f.experimental_get_retrace_reasons() == ["x: shape (256, 2) -> (32, 2)"]
    f(gf.zeros((32, 2), dtype=gf.float64))
    assert "x: dtype float32 -> float64" in f.experimental_get_retrace_reasons()[-1]


def test_python_argument_values_retrace_and_reason_says_so():
    @gf.function
    def f(x, n):
        return x * n
    x = gf.constant(1.0)
    f(x, 2)
    f(x, 2)
    f(x, 3)
    assert f.experimental_get_tracing_count() == 2
    r = f.experimental_get_retrace_reasons()[-1]
    assert r.startswith("n: Python value 2 -> 3") and "pass a tensor" in r


def test_retrace_warning_names_the_reason():
    options.set_retrace_warning_threshold(2)
    try:
        @gf.function
        def f(x):
            return x + 1.0
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            for n in range(1, 5):
                f(gf.zeros((n,)))
        msgs = [str(m.message) for m in w if issubclass(m.category, RuntimeWarning)]
        assert msgs, "no retrace warning"
        assert "x: shape (3,) -> (4,)" in msgs[-1] and "traced 4 times" in msgs[-1]
    finally:
        options.set_retrace_warning_threshold(5)


def test_input_signature_none_dims_one_graph_for_all_batch_sizes():
    @gf.function(input_signature=[gf.TensorSpec(shape=(None, 3), dtype=gf.float32)])
    def f(x):
        return gf.reduce_sum(x * x, axis=1) + 1.0
    for b in (5, 7, 1, 64):
        x = np.random.rand(b, 3).astype(np.float32)
        np.testing.assert_allclose(f(gf.constant(x)).numpy(), (x * x).sum(1) + 1, rtol=1e-6)
    assert f.experimental_get_tracing_count() == 1
    with pytest.raises(ValueError, match="not compatible with the input_signature"):
        f(gf.zeros((2, 4)))
    cf = f.get_concrete_function()
    assert cf.inputs[0].shape.as_list() == [None, 3]


def test_reduce_retracing_generalizes_shapes():
    @gf.function(reduce_retracing=True)
    def f(x):
        return x * 2.0
    for n in (3, 4, 5, 6, 9):
        np.testing.assert_allclose(f(gf.ones((n, 2))).numpy(), np.full((n, 2), 2.0))
    assert f.experimental_get_tracing_count() == 2


def test_get_concrete_function():
    @gf.function
    def f(x, y):
        return x @ y, x
    cf = f.get_concrete_function(gf.TensorSpec([2, 3]), gf.TensorSpec([3, 4]))
    assert [t.shape.as_list() for t in cf.inputs] == [[2, 3], [3, 4]]
    assert cf.graph.nodes and len(cf.outputs) == 2
    a, b = cf(gf.ones((2, 3)), gf.ones((3, 4)))
    np.testing.assert_allclose(a.numpy(), np.full((2, 4), 3.0))
    assert cf is f.get_concrete_function(gf.ones((2, 3)), gf.ones((3, 4)))
    args, kwargs = cf.structured_input_signature
    assert isinstance(args[0], gf.TensorSpec) and args[0].shape == (2, 3)


def test_methods_one_cache_per_instance():
    class M:
        def __init__(self, k):
            self.k = gf.Variable(float(k))

        @gf.function
        def apply(self, x):
            return x * self.k
    a, b = M(2), M(3)
    x = gf.constant([1.0])
    assert float(a.apply(x)[0]) == 2.0 and float(b.apply(x)[0]) == 3.0
    assert float(a.apply(x)[0]) == 2.0
    assert a.apply.experimental_get_tracing_count() == 1
    assert b.apply.experimental_get_tracing_count() == 1
    assert a.apply is a.apply


def test_run_functions_eagerly_runs_python_body():
    calls = []

    @gf.function
    def f(x):
        calls.append(gf.executing_eagerly())
        return x + 1.0
    gf.config.run_functions_eagerly(True)
    try:
        f(gf.constant(1.0))
        f(gf.constant(1.0))
        assert calls == [True, True]
    finally:
        gf.config.run_functions_eagerly(False)
    f(gf.constant(1.0))
    f(gf.constant(1.0))
    assert calls == [True, True, False]
    assert not gf.config.functions_run_eagerly()


def test_executor_runs_optimized_graph_without_eager_fallback(monkeypatch):
    """After tracing, a call runs the compiled plan: no Python body, no dispatcher."""
    from gpuflow.ops import registry
    body_runs = []

    @gf.function
    def f(x, y):
        body_runs.append(1)
        return gf.reduce_sum(gf.nn.relu(x @ y) * 2.0 + 1.0)
    x, y = gf.ones((4, 3)), gf.ones((3, 2))
    expected = f(x, y).numpy()
    cf = f.get_concrete_function(x, y)
    runs = cf.program.runs

    def boom(*a, **k):
        raise AssertionError("eager dispatch during a compiled call")
    monkeypatch.setattr(registry, "apply", boom)
    monkeypatch.setattr(registry, "_apply_symbolic", boom)
    for _ in range(3):
        np.testing.assert_allclose(f(x, y).numpy(), expected)
    assert body_runs == [1]
    assert cf.program.runs == runs + 3
    assert any("region" in (n.attrs or {}) for n in cf.optimized_graph.nodes)


def test_explain_shows_passes_fused_kernels_memory():
    @gf.function
    def f(x):
        return gf.reduce_mean(gf.square(x * 2.0 + 1.0))
    text = f.explain(gf.ones((8, 4)))
    assert "Passes (node count after each)" in text
    assert "fused[multiply, add, square -> reduce_mean]" in text
    assert 'extern "C" __global__ void' in text
    assert "planned peak memory" in text
    assert "_np.multiply(" in text and "def __gf_f(" in text
    assert f.experimental_get_tracing_count() == 1


def test_symbolic_value_error_names_user_line():
    @gf.function
    def f(x):
        if x > 0:  # data-dependent Python control flow
            return x
        return -x
    with pytest.raises(errors.OperatorNotAllowedInGraphError) as e:
        f(gf.constant(1.0))
    msg = str(e.value)
    assert "test_function.py" in msg and "gf.cond" in msg and "gf.while_loop" in msg
    # the cache holds no broken entry: the error repeats
    with pytest.raises(errors.OperatorNotAllowedInGraphError):
        f(gf.constant(1.0))
    for what in (lambda t: t.numpy(), lambda t: int(t), lambda t: float(t)):
        @gf.function
        def g(x, what=what):
            what(x)
            return x
        with pytest.raises(errors.OperatorNotAllowedInGraphError):
            g(gf.constant(1))


def test_print_runs_at_every_call(capsys):
    @gf.function
    def f(x):
        gf.print("value:", x, output_stream=sys.stdout)
        return x + 1.0
    f(gf.constant(1.0))
    f(gf.constant(2.0))
    out = capsys.readouterr().out
    assert out.count("value:") == 2 and "value: 2" in out


def test_runtime_error_names_op_and_traced_line():
    @gf.function
    def f(p, i):
        return gf.gather(p, i)
    p = gf.constant([1.0, 2.0, 3.0])
    assert float(f(p, gf.constant([2]))[0]) == 3.0
    with pytest.raises(errors.InvalidArgumentError, match="gather"):
        f(p, gf.constant([7]))


def test_numpy_arguments_are_tensors():
    @gf.function
    def f(x):
        return x * 2.0
    a = np.ones((2, 2), np.float32)
    np.testing.assert_allclose(f(a).numpy(), 2 * a)
    np.testing.assert_allclose(f(a + 1).numpy(), 2 * (a + 1))
    assert f.experimental_get_tracing_count() == 1


def test_outer_tape_sees_the_function():
    @gf.function
    def f(x):
        return gf.reduce_sum(x * x)
    x = gf.constant([1.0, 2.0])
    f(x)
    with gf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [2, 4])


def test_kwargs_and_defaults():
    @gf.function
    def f(x, scale=2.0, *, bias=0.0):
        return x * scale + bias
    x = gf.constant(1.0)
    assert float(f(x)) == 2.0
    assert float(f(x, bias=1.0)) == 3.0
    assert float(f(x=x, scale=3.0)) == 3.0


def test_compiled_function_under_an_outer_tape_runs_compiled_with_compiled_gradients():
    # A pure function runs its compiled program (the Python body is not re-run) and the
    # tape records one call whose gradient (and that gradient's gradient) match eager.
    v = gf.Variable(1.5)
    w = gf.Variable(np.arange(6, dtype=np.float32).reshape(3, 2) / 5)
    body_runs = []

    def f(a, x):
        body_runs.append(1)
        return a * v ** 3 + gf.reduce_sum(gf.tanh(gf.matmul(x, w)))
    cf = gf.function(f)
    x = gf.constant(np.random.default_rng(0).random((4, 3)).astype(np.float32))
    a = gf.constant(2.0)

    def derivatives(fn):
        with gf.GradientTape() as t3:
            with gf.GradientTape() as t2:
                with gf.GradientTape(persistent=True) as t1:
                    t1.watch(x)
                    y = fn(a, x)
                g_v, g_w, g_x = t1.gradient(y, [v, w, x])
            gg = t2.gradient(g_v, v)
        return [y, g_v, g_w, g_x, gg, t3.gradient(gg, v)]

    want = derivatives(f)
    cf(a, x)                      # trace once
    body_runs.clear()
    got = derivatives(cf)
    assert body_runs == []        # compiled, not the Python body
    for a_, b_ in zip(got, want):
        np.testing.assert_allclose(a_.numpy(), b_.numpy(), rtol=1e-5, atol=1e-6)
    assert float(got[4]) == pytest.approx(2 * 6 * 1.5) and float(got[5]) == pytest.approx(12.0)


def test_impure_function_under_an_outer_tape_runs_its_body():
    v = gf.Variable(1.0)
    runs = []

    @gf.function
    def step(x):
        runs.append(1)
        v.assign_add(1.0)
        return x * v
    x = gf.constant(3.0)
    step(x)
    runs.clear()
    with gf.GradientTape() as t:
        t.watch(x)
        y = step(x)
    assert runs == [1] and float(t.gradient(y, x)) == 3.0 and float(v) == 3.0


def test_outer_tape_gradients_only_for_watched_inputs_and_with_unwatched_data():
    # The data batch is not watched: only the weights get gradients (the split is built
    # for the watched set), and they equal the eager ones.
    w = gf.Variable(np.random.default_rng(1).random((3, 2)).astype(np.float32))
    f = gf.function(lambda x: gf.reduce_sum(gf.nn.relu(gf.matmul(x, w)) ** 2))
    x = gf.constant(np.random.default_rng(2).standard_normal((5, 3)).astype(np.float32))
    with gf.GradientTape() as t:
        y = f(x)
    got = t.gradient(y, [w, x])
    gf.config.run_functions_eagerly(True)
    try:
        with gf.GradientTape() as t:
            y2 = f(x)
        want = t.gradient(y2, [w, x])
    finally:
        gf.config.run_functions_eagerly(False)
    np.testing.assert_allclose(got[0].numpy(), want[0].numpy(), rtol=1e-5)
    assert got[1] is None and want[1] is None


def test_random_ops_under_an_outer_tape_use_the_forward_draws():
    # Dropout in a function called under an outer tape: the backward reads the forward's
    # mask (a residual), so the gradient is exactly x * mask / (1 - rate).
    w = gf.Variable(np.ones((4, 6), np.float32))
    f = gf.function(lambda x: gf.nn.dropout(x * w, rate=0.5))
    x = gf.constant(np.arange(24, dtype=np.float32).reshape(4, 6) + 1)
    f(x)
    for _ in range(3):
        with gf.GradientTape() as t:
            d = f(x)
            loss = gf.reduce_sum(d)
        g = t.gradient(loss, w).numpy()
        kept = d.numpy() != 0
        assert 0 < kept.sum() < kept.size
        np.testing.assert_allclose(g, x.numpy() * kept * 2.0)
    with pytest.raises(gf.errors.UnimplementedError, match="random"):
        with gf.GradientTape() as t2:
            with gf.GradientTape() as t1:
                loss = gf.reduce_sum(f(x) ** 2)
            g = t1.gradient(loss, w)
        t2.gradient(g, w)
