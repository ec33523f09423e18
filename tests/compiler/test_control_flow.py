"""gf.while_loop and gf.cond inside gf.function: forward, gradients, captured state."""
import numpy as np
import pytest

import gpuflow as gf
from gpuflow import errors


def test_while_loop_data_dependent_trip_count():
    @gf.function
    def collatz_steps(n):
        def cond(n, k):
            return n > 1

        def body(n, k):
            return gf.where(n % 2 == 0, n // 2, 3 * n + 1), k + 1
        return gf.while_loop(cond, body, [n, gf.constant(0)])[1]
    assert int(collatz_steps(gf.constant(6))) == 8
    assert int(collatz_steps(gf.constant(27))) == 111
    assert collatz_steps.experimental_get_tracing_count() == 1


def test_while_loop_maximum_iterations_and_single_var():
    @gf.function
    def f(x):
        return gf.while_loop(lambda x: x < 1000.0, lambda x: x * 2.0, x, maximum_iterations=3)
    assert float(f(gf.constant(1.0))) == 8.0


def test_while_loop_shape_changes_become_unknown_dims():
    @gf.function
    def f(x):
        def body(i, acc):
            return i + 1, gf.concat([acc, acc], axis=0)
        return gf.while_loop(lambda i, acc: i < 3, body, [gf.constant(0), x])[1]
    assert f(gf.ones((2,))).shape == (16,)


def test_while_loop_gradient_matches_eager():
    w = gf.Variable([0.5, -0.3])

    def loss_fn(x, n):
        def body(i, h):
            return i + 1, gf.tanh(h * w + x)
        _, h = gf.while_loop(lambda i, h: i < n, body, [gf.constant(0), gf.zeros_like(x)])
        return gf.reduce_sum(h * h)

    def step(x, n):
        with gf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(x, n)
        return loss, tape.gradient(loss, [x, w])
    x = gf.constant([0.3, 0.7])
    l0, g0 = step(x, gf.constant(4))          # eager: a Python loop on the tape
    l1, g1 = gf.function(step)(x, gf.constant(4))
    np.testing.assert_allclose(l1.numpy(), l0.numpy(), rtol=1e-6)
    for a, b in zip(g0, g1):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6)


def test_while_loop_gradient_zero_iterations():
    @gf.function
    def f(x):
        with gf.GradientTape() as tape:
            tape.watch(x)
            y = gf.while_loop(lambda y: y > 100.0, lambda y: y * 2.0, [x])[0]
        return tape.gradient(y, x)
    assert float(f(gf.constant(3.0))) == 1.0


def test_while_loop_assigns_variables():
    v = gf.Variable(0.0)

    @gf.function
    def f(n):
        def body(i):
            v.assign_add(gf.cast(i, gf.float32))
            return i + 1
        gf.while_loop(lambda i: i < n, body, [gf.constant(0)])
        return v.read_value()
    assert float(f(gf.constant(5))) == 10.0
    assert float(v) == 10.0


def test_nested_while_loops():
    @gf.function
    def f(n):
        def outer(i, total):
            def inner(j, t):
                return j + 1, t + 1
            _, total = gf.while_loop(lambda j, t: j < i, inner, [gf.constant(0), total])
            return i + 1, total
        return gf.while_loop(lambda i, t: i < n, outer, [gf.constant(0), gf.constant(0)])[1]
    assert int(f(gf.constant(5))) == 10


def test_cond_traced_forward_and_gradient():
    @gf.function
    def f(x):
        with gf.GradientTape() as tape:
            tape.watch(x)
            y = gf.cond(gf.reduce_sum(x) > 0, lambda: x * x, lambda: -x)
        return y, tape.gradient(y, x)
    y, g = f(gf.constant(3.0))
    assert (float(y), float(g)) == (9.0, 6.0)
    y, g = f(gf.constant(-3.0))
    assert (float(y), float(g)) == (3.0, -1.0)
    assert f.experimental_get_tracing_count() == 1


def test_while_body_must_keep_structure():
    @gf.function
    def f(x):
        return gf.while_loop(lambda a, b: a < 3.0, lambda a, b: a + 1.0, [x, x])
    with pytest.raises(ValueError, match="structure"):
        f(gf.constant(0.0))


def test_while_loop_eager_unchanged():
    i, s = gf.while_loop(lambda i, s: i < 4, lambda i, s: (i + 1, s + i), [gf.constant(0), gf.constant(0)])
    assert (int(i), int(s)) == (4, 6)


def test_while_gradient_refuses_random_body():
    @gf.function
    def f(x):
        with gf.GradientTape() as tape:
            tape.watch(x)
            y = gf.while_loop(lambda y: gf.reduce_sum(y) < 10.0,
                              lambda y: y + gf.random.uniform([2]) + x, [gf.zeros([2])])[0]
        return tape.gradient(y, x)
    with pytest.raises(errors.UnimplementedError, match="random"):
        f(gf.constant(1.0))


def test_second_derivative_through_a_traced_while_loop_raises_instead_of_none():
    # y = x**3 by a loop: eagerly the loop is unrolled on the tape (d2y/dx2 = 6x = 12);
    # compiled, the reverse loop has no gradient: a clear error, never a silent None.
    x = gf.Variable(2.0)

    def f():
        with gf.GradientTape() as t2:
            with gf.GradientTape() as t1:
                y = gf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * x),
                                  [gf.constant(0), gf.constant(1.0)])[1]
            g = t1.gradient(y, x)
        return g, t2.gradient(g, x)
    g, gg = f()
    assert float(g) == 12.0 and float(gg) == 12.0
    with pytest.raises(gf.errors.UnimplementedError, match="second derivatives through a while_loop"):
        gf.function(f)()

