"""The graph IR that symbolic tensors record into: a flat SSA list of nodes.

`Graph(inputs, nodes, outputs)`; each `Node(op, inputs, outputs, attrs, location)`.
Graph inputs are placeholders of three kinds: 'arg' (a traced function's tensor
argument), 'var' (a captured `Variable`, read by reference at every call) and 'const'
(a captured eager tensor). Assignments to variables are not nodes: the graph keeps, per
variable, the symbolic tensor of its latest value (`state`), and the executor writes
those back after each call, so no update is dropped or reordered with respect to reads.
"""
import contextlib
import os
import sys

from gpuflow import errors
from gpuflow._context import ctx as _ctx
from gpuflow.tensor import SymbolicTensor

__all__ = ["Graph", "Node", "symbolic_value_error", "eager_mode", "user_location"]

_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_location(skip=1):
    """'file:line' of the innermost stack frame outside gpuflow (the user's code)."""
    f = sys._getframe(skip)
    while f is not None:
        fn = f.f_code.co_filename
        if not os.path.abspath(fn).startswith(_PKG_DIR):
            return "%s:%d" % (fn, f.f_lineno)
        f = f.f_back
    return "<unknown>"


def symbolic_value_error(t, what):
    """The error raised when Python asks a symbolic tensor for its value."""
    where = user_location(2)
    return errors.OperatorNotAllowedInGraphError(
        "%s of a symbolic tensor (shape=%s, dtype=%s) at %s: its value is not known while "
        "a gf.function is traced or a Keras functional model is built. Python control flow "
        "runs once, at trace time. For a decision that depends on tensor values use "
        "gf.cond(pred, true_fn, false_fn) or gf.while_loop(cond, body, loop_vars); to see a "
        "value at run time use gf.print(x); to debug, run eagerly with "
        "gf.config.run_functions_eagerly(True)." % (what, t.shape, t.dtype.name, where))


class Node:
    """One op application: `outputs = op(*inputs, **attrs)`."""

    __slots__ = ("op", "inputs", "outputs", "attrs", "location")

    def __init__(self, op, inputs, outputs, attrs, location=None):
        self.op = op
        self.inputs = inputs
        self.outputs = outputs
        self.attrs = attrs
        self.location = location

    def __repr__(self):
        return "Node(%s)" % self.op.name


class Graph:
    """A graph being recorded (by a gf.function trace or a Keras functional build).

    Attributes:
      inputs: placeholder SymbolicTensors; `input_kinds[i]` is 'arg', 'var' or 'const'
        and `input_sources[i]` the argument position, Variable or captured array.
      nodes: list of `Node` in program order.
      outputs: SymbolicTensors returned (set by the tracer).
      state: dict id(Variable) -> (Variable, SymbolicTensor of its final value).
      is_trace: True for a gf.function graph (variables captured by reference).
      device: the device the graph runs on.
    """

    def __init__(self, is_trace=False, device=None, name="graph"):
        self.inputs = []
        self.input_kinds = []
        self.input_sources = []
        self.nodes = []
        self.outputs = []
        self.state = {}
        self.is_trace = is_trace
        self.device = device
        self.name = name
        self._var_reads = {}
        self._consts = {}

    def add_input(self, shape, dtype, kind, source, name=None):
        t = SymbolicTensor(shape, dtype, self, None, 0, name)
        self.inputs.append(t)
        self.input_kinds.append(kind)
        self.input_sources.append(source)
        return t

    def capture_variable(self, v):
        """The symbolic value of Variable `v` at this point of the program."""
        st = self.state.get(id(v))
        if st is not None:
            return st[1]
        t = self._var_reads.get(id(v))
        if t is None:
            t = self.add_input(v._value.shape, v.dtype, "var", v, v._name)
            t._vref = v
            self._var_reads[id(v)] = t
        return t

    def set_variable(self, v, value):
        """Records that Variable `v` holds symbolic `value` from now on."""
        if value._value is not None:  # a value computed at trace time (constants only)
            value = self.capture_constant(value)
        self.state[id(v)] = (v, value)

    def capture_constant(self, t):
        c = self._consts.get(id(t))
        if c is None:
            c = self.add_input(t._value.shape, t.dtype, "const", t)
            self._consts[id(t)] = c
        return c

    def add_node(self, node):
        self.nodes.append(node)

    def __repr__(self):
        return "<Graph %s: %d inputs, %d nodes, %d outputs>" % (
            self.name, len(self.inputs), len(self.nodes), len(self.outputs))


@contextlib.contextmanager
def eager_mode():
    """Runs the body eagerly even inside a trace (used to create variables)."""
    g = _ctx.graph
    _ctx.graph = None
    try:
        yield
    finally:
        _ctx.graph = g


@contextlib.contextmanager
def tracing(graph):
    """Makes `graph` the graph ops record into on this thread."""
    prev = _ctx.graph
    _ctx.graph = graph
    try:
        yield graph
    finally:
        _ctx.graph = prev


def inside_trace():
    """True while a gf.function is being traced on this thread."""
    return _ctx.graph is not None
