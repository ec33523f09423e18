"""The op registry and the dispatcher every op call goes through.

An op is data: a name, a forward body written once against the array module `xp`
(numpy or cupy), a shape/dtype rule for symbolic tensors, an optional gradient rule
written in gpuflow ops (so it is differentiable again), optional faster kernels per
device kind, and flags the compiler reads (elementwise fusion template, effects).

`apply(op, inputs, attrs)` runs an op:
  1. if a trace is active or an input is symbolic, it records a graph node and returns
     symbolic outputs shaped by the op's rule (nothing is computed);
  2. otherwise it picks the device (the innermost `gf.device` scope, else the inputs'
     device, a GPU input winning), copies inputs from other devices, runs the device's
     kernel (or the `xp` body) and wraps the result;
  3. every active GradientTape watching an input records the call.
"""
import numpy as _np

_ndarray = _np.ndarray

from gpuflow import errors
from gpuflow import backend as _be
from gpuflow._context import ctx as _ctx
from gpuflow.tensor import Tensor, SymbolicTensor, Variable

__all__ = ["Op", "op", "apply", "get_op", "all_ops", "wrap"]

_REGISTRY = {}
_EMPTY = {}


class Op:
    """An op definition. See the module docstring.

    Attributes:
      name: unique op name.
      fn: forward body `fn(xp, *arrays, **attrs)` returning an array (or a tuple when
        `num_outputs > 1`).
      infer: shape rule `infer(specs, **attrs)`; specs are `(shape_tuple, DType)` per
        input; returns one `(shape, dtype)` or a list of them.
      grad_fn: `grad_fn(call, *output_grads) -> list` of input gradients (Tensors or
        None), written with gpuflow ops. `call.inputs`, `call.outputs`, `call.out`,
        `call.attrs` describe the recorded call. None output grads mean zero.
      differentiable: False for ops with no gradient by definition (comparisons, argmax,
        integer ops); the tape does not record them.
      kernels: {'CPU' or 'GPU': fn} faster implementations with `fn`'s signature.
      elementwise: a fusion template like 'exp({0})' (inputs by position), or None.
      stateful: True for random ops and prints: never folded, merged or computed at
        trace time, always re-run.
      direct: optional NumPy function with `fn(numpy, *arrays)`'s result for calls
        without attrs (e.g. `numpy.add`); the CPU path calls it directly, saving the
        body's Python frame. A registered CPU kernel still wins.
      prepare: optional `prepare(attrs) -> fn(xp, *arrays, **kw)`: a CPU callable equal
        to the body with these attrs, bound once per node by the compiled CPU backend
        (e.g. the fused optimizer updates, which then skip the per-call checks that the
        graph's shapes and dtypes already guarantee). A registered CPU kernel still wins.
    """

    __slots__ = ("name", "fn", "infer", "grad_fn", "differentiable", "kernels",
                 "elementwise", "stateful", "num_outputs", "reduction", "doc", "direct", "prepare")

    def __init__(self, name, fn, infer, num_outputs=1, differentiable=True,
                 elementwise=None, stateful=False, reduction=False, direct=None, prepare=None):
        self.name = name
        self.fn = fn
        self.infer = infer
        self.grad_fn = None
        self.differentiable = differentiable
        self.kernels = {}
        self.elementwise = elementwise
        self.stateful = stateful
        self.num_outputs = num_outputs
        self.reduction = reduction
        # `direct`: a NumPy function equal to `fn(numpy, *arrays)` for ops without attrs
        # (e.g. numpy.add); the CPU path calls it without the body's Python frame.
        self.direct = direct
        self.prepare = prepare

    def def_grad(self, fn):
        """Decorator registering the gradient rule."""
        self.grad_fn = fn
        return fn

    def def_kernel(self, device_kind):
        """Decorator registering a faster kernel for 'CPU' or 'GPU'."""
        def deco(fn):
            self.kernels[device_kind] = fn
            return fn
        return deco

    def impl(self, dev):
        return self.kernels.get(dev.kind, self.fn)

    def __call__(self, *inputs, **attrs):
        return apply(self, inputs, attrs)

    def __repr__(self):
        return "<Op %s>" % self.name


def op(name, infer, **kw):
    """Decorator: `@op('exp', infer=same_shape, elementwise='exp({0})')` over the xp body."""
    def deco(fn):
        if name in _REGISTRY:
            raise errors.InternalError("op %r registered twice" % name)
        o = Op(name, fn, infer, **kw)
        _REGISTRY[name] = o
        return o
    return deco


def get_op(name):
    return _REGISTRY[name]


def all_ops():
    return dict(_REGISTRY)


def _new_tensor(arr, dev):
    t = _NEW(Tensor)
    t._value = arr
    t._device = dev
    t._vref = None
    return t


_NEW = object.__new__


def wrap(arr, dev):
    """Wraps an array produced on `dev` into an eager Tensor (no copy)."""
    return _new_tensor(arr, dev)


def _pick_device(inputs):
    """The device of mixed-device inputs: the first GPU input's, else the first input's."""
    for t in inputs:
        if t._device.is_gpu:
            return t._device
    return inputs[0]._device


def apply(op, inputs, attrs=_EMPTY):
    """Runs `op` on a sequence of Tensors; returns a Tensor or a tuple of Tensors.

    This is the eager hot path of every op call (see benchmarks/bench_dispatch.py):
    one pass over the inputs, no per-call allocation besides the argument list and the
    result, thread-local state read once per field.
    """
    c = _ctx
    st = c.__dict__    # this thread's state: one thread-local lookup, then dict reads
    if st["graph"] is not None:
        return _apply_traced(op, inputs, attrs, c)
    scope = st["devices"]
    dev = scope[-1] if scope else None
    if inputs:
        d0 = inputs[0]._device
        arrays = []
        mixed = False
        for t in inputs:
            v = t._value
            if v is None:
                return _apply_symbolic(op, inputs, attrs, c, t._graph)
            arrays.append(v)
            if t._device is not d0:
                mixed = True
        if dev is None:
            dev = _pick_device(inputs) if mixed else d0
        if mixed or dev is not d0:
            arrays = [t._value if t._device is dev else _be.to_device(t._value, dev) for t in inputs]
    else:
        if dev is None:
            dev = _be.default_device()
        arrays = ()
    try:
        if dev.is_gpu:
            with dev.activate():
                out = op.kernels.get("GPU", op.fn)(dev.xp, *arrays, **attrs)
        else:
            k = op.kernels
            if k and "CPU" in k:
                out = k["CPU"](_np, *arrays, **attrs)
            elif attrs:
                out = op.fn(_np, *arrays, **attrs)
            else:
                d = op.direct
                out = d(*arrays) if d is not None else op.fn(_np, *arrays)
            if out.__class__ is not _ndarray and op.num_outputs == 1:
                out = _np.asarray(out)    # NumPy gives scalars for 0-d results; tensors hold arrays
    except errors.OpError:
        raise
    except (ValueError, TypeError, IndexError) as e:
        raise _op_error(op, inputs, attrs, e) from e
    if op.num_outputs == 1:
        t = _NEW(Tensor)
        t._value = out
        t._device = dev
        t._vref = None
        tapes = st["tapes"]
        if tapes and op.differentiable:
            for tape in tapes:
                if tape._recording:
                    tape._maybe_record(op, inputs, (t,), attrs)
        return t
    outs = tuple(_new_tensor(o, dev) for o in out)
    tapes = st["tapes"]
    if tapes and op.differentiable:
        _record(op, inputs, outs, attrs, tapes)
    return outs


def _op_error(op, inputs, attrs, e):
    desc = ", ".join("%s%s" % (t.dtype.name, t.shape) for t in inputs)
    shown = {k: v for k, v in attrs.items() if not k.startswith("_")}
    if op.infer is not None:
        # The shape rule usually explains a failure better than the array library.
        try:
            op.infer([(tuple(t.shape._dims), t.dtype) for t in inputs], **attrs)
        except errors.InvalidArgumentError as ie:
            msg = str(ie)
            if not msg.startswith(op.name):
                msg = "%s: %s" % (op.name, msg)
            return errors.InvalidArgumentError("%s (inputs: %s)" % (msg, desc), op=op.name)
        except Exception:  # noqa: BLE001 - fall back to the library's message
            pass
    return errors.InvalidArgumentError(
        "%s failed on inputs (%s)%s: %s" % (op.name, desc, (" with %s" % shown) if shown else "", e), op=op.name)


def _apply_traced(op, inputs, attrs, c):
    g = c.graph
    if not op.stateful:
        for t in inputs:
            if t._value is None or isinstance(t, Variable):
                break
        else:
            # Only constants: compute now (folding at trace time), outside the trace.
            c.graph = None
            try:
                return apply(op, inputs, attrs)
            finally:
                c.graph = g
    return _apply_symbolic(op, inputs, attrs, c, g)


def _apply_symbolic(op, inputs, attrs, c, g):
    ins = []
    for t in inputs:
        if t._value is None:
            if t._graph is not g:
                # A loop body traced inside a gf.function captures tensors of the enclosing graph.
                cap = getattr(g, "capture_outer", None)
                t2 = cap(t) if cap is not None else None
                if t2 is not None:
                    ins.append(t2)
                    continue
                raise errors.InvalidArgumentError(
                    "%s: an input belongs to another graph (%r, not %r). A symbolic tensor from a "
                    "Keras Input or another gf.function cannot be used here." % (op.name, t._graph, g), op=op.name)
            ins.append(t)
        elif isinstance(t, Variable):
            ins.append(g.capture_variable(t))
        else:
            ins.append(g.capture_constant(t))
    specs = [(t._shape._dims, t._dtype) for t in ins]
    try:
        res = op.infer(specs, **attrs)
    except errors.OpError:
        raise
    except (ValueError, TypeError, IndexError) as e:
        raise _op_error(op, ins, attrs, e) from e
    from gpuflow.graph import Node, user_location
    if op.num_outputs == 1:
        outs = (SymbolicTensor(res[0], res[1], g),)
    else:
        outs = tuple(SymbolicTensor(s, d, g, None, i) for i, (s, d) in enumerate(res))
    node = Node(op, ins, outs, attrs, user_location(3) if g.is_trace else None)
    for o in outs:
        o._node = node
    g.add_node(node)
    if c.tapes and op.differentiable:
        _record(op, ins, outs, attrs, c.tapes)
    return outs[0] if op.num_outputs == 1 else outs


def _record(op, inputs, outputs, attrs, tapes):
    for tape in tapes:
        if tape._recording:
            tape._maybe_record(op, inputs, outputs, attrs)
