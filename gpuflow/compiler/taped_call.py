"""Compiled functions called while a `GradientTape` records: one recorded op per call.

A `gf.function` called under a recording tape used to run its Python body eagerly so the
tape could see every op. For a *pure* traced graph (no variable assignments, no random or
print ops) it now runs the compiled program instead and the tape records one op, a
`FunctionCall`, whose inputs are the call's tensor arguments and the current values of
the variables the graph reads. Its gradient is another compiled `FunctionCall`: the
forward graph replayed under a symbolic tape inside a new trace, differentiated with the
output gradients as inputs. Replaying is exact because the graph is pure (the same inputs
give the same values), so nothing has to be saved from the forward run; the backward
recomputes the forward (about one extra forward pass per backward).

The backward `FunctionCall` is pure as well and has a gradient of its own, so outer tapes
get higher derivatives. Graphs with state updates or stateful ops keep the eager path
(replaying them would assign twice or draw new random numbers).
"""
from gpuflow._context import ctx as _ctx
from gpuflow.graph import Graph, tracing
from gpuflow.ops.registry import Op, apply

__all__ = ["FunctionCall", "is_pure"]


def is_pure(graph):
    """True when replaying `graph` gives the values of its first run: no state updates,
    no stateful (random, print) ops, no nested loops that carry variable updates."""
    return not graph.state and not any(n.op.stateful for n in graph.nodes)


def _floating(dtype):
    return dtype.is_floating or dtype.is_complex


class FunctionCall:
    """A pure traced graph as one differentiable op.

    Args:
      graph: the traced graph (inputs of kinds 'arg', 'var', 'const').
      device: the device its program runs on (None: the default).
      name: for messages and the op's name.
      program: the graph's compiled `executor.Program` when there is one already (a
        concrete function's), else None to optimize and compile the graph here.

    The op's inputs are the graph's 'arg' inputs in order, then one tensor per 'var'
    input (the variable's value read when the call is recorded).
    """

    def __init__(self, graph, device, name, program=None):
        self.graph = graph
        self.device = device
        self.name = name
        self.n_args = sum(1 for k in graph.input_kinds if k == "arg")
        self.variables = [s for s, k in zip(graph.input_sources, graph.input_kinds) if k == "var"]
        if program is None:
            from gpuflow.compiler import passes
            from gpuflow.compiler.executor import Program
            program = Program(passes.optimize(graph)[0], device, name)
        self.program = program
        specs = [(t._shape._dims, t._dtype) for t in graph.outputs]
        self.op = Op("function_call", self._run, lambda sp, _s=specs: _s if len(_s) != 1 else _s[0],
                     num_outputs=len(specs))
        self.op.def_grad(self._grad)
        self._backward = None

    def _run(self, xp, *arrays):
        # The program reads the variables itself (the same arrays as the trailing inputs).
        outs = self.program.run(list(arrays[:self.n_args]))
        return outs if len(outs) != 1 else outs[0]

    def call(self, arg_tensors):
        """Applies the op to the argument tensors and the variables' current values;
        returns the list of output tensors (recorded by every active tape)."""
        from gpuflow.ops.array_ops import read_variable
        ins = tuple(arg_tensors) + tuple(read_variable(v) for v in self.variables)
        res = apply(self.op, ins, {})
        return [res] if self.op.num_outputs == 1 else list(res)

    # ---- gradient ----------------------------------------------------------------------
    def _grad(self, call, *ogs):
        if self._backward is None:
            self._backward = self._build_backward(call)
        bwd, wrt, outs_f = self._backward
        if not wrt:
            return [None] * len(call.inputs)
        from gpuflow.ops.array_ops import zeros_like
        og = [ogs[k] if ogs[k] is not None else zeros_like(call.outputs[k]) for k in outs_f]
        res = bwd.call(list(call.inputs) + og)
        grads = [None] * len(call.inputs)
        for j, i in enumerate(wrt):
            grads[i] = res[j]
        return grads

    def _build_backward(self, call):  # noqa: ARG002 - the specs come from self.graph
        """Traces d(outputs)/d(inputs) for given output gradients into a new graph."""
        from gpuflow.autograd.tape import GradientTape
        from gpuflow.ops.array_ops import identity
        g = Graph(is_trace=True, device=self.device, name=self.name + "_grad")
        # The op's inputs in order: the graph's 'arg' placeholders, then its 'var' ones.
        kinds = self.graph.input_kinds
        phs = ([t for t, k in zip(self.graph.inputs, kinds) if k == "arg"]
               + [t for t, k in zip(self.graph.inputs, kinds) if k == "var"])
        ins = [g.add_input(t._shape._dims, t._dtype, "arg", i) for i, t in enumerate(phs)]
        outs_f = [k for k, t in enumerate(self.graph.outputs) if _floating(t._dtype)]
        wrt = [i for i, t in enumerate(ins) if _floating(t._dtype)]
        ogs = [g.add_input(self.graph.outputs[k]._shape._dims, self.graph.outputs[k]._dtype, "arg",
                           len(ins) + j) for j, k in enumerate(outs_f)]
        saved = _ctx.tapes
        _ctx.tapes = []
        try:
            with tracing(g):
                with GradientTape(persistent=True, watch_accessed_variables=False) as tape:
                    tape.watch([ins[i] for i in wrt])
                    outs = _replay(self.graph, ins, self.n_args)
                if not wrt or not outs_f:
                    grads = []
                else:
                    grads = tape.gradient([outs[k] for k in outs_f], [ins[i] for i in wrt],
                                          output_gradients=ogs, unconnected_gradients="zero")
                grads = [identity(x) if x._value is not None else x for x in grads]
                grads = [g.capture_constant(x) if x._value is not None else x for x in grads]
        finally:
            _ctx.tapes = saved
        g.outputs = list(grads)
        return FunctionCall(g, self.device, self.name + "_grad"), wrt, outs_f


def _replay(graph, ins, n_args):
    """Replays `graph` through the dispatcher: its 'arg' inputs are ins[:n_args], its
    'var' inputs the following tensors (in order), constants themselves."""
    from gpuflow.compiler.control_flow import inline_graph_env
    env = {}
    a = v = 0
    for t, kind, s in zip(graph.inputs, graph.input_kinds, graph.input_sources):
        if kind == "arg":
            env[id(t)] = ins[a]
            a += 1
        elif kind == "var":
            env[id(t)] = ins[n_args + v]
            v += 1
        else:
            env[id(t)] = s
    return inline_graph_env(graph, env)
