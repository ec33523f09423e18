"""Compiled functions called while a `GradientTape` records: one recorded op per call.

A `gf.function` whose traced graph is *pure* (no variable assignments) runs compiled under a
recording tape: the tape records one op, a `FunctionCall`,
whose inputs are the call's tensor arguments and the current values of the variables the
graph reads.

On the first such call the graph is replayed under a symbolic tape inside a new trace and
differentiated with placeholder output gradients; that joint graph is split in two:

* the *forward* graph: every node that does not depend on the output gradients. It
  returns the function's outputs and the *residuals*: the values the backward part reads
  (activations, ReLU masks, softmax probabilities...), as TensorFlow keeps them;
* the *backward* graph: the rest, with the residuals, the call's inputs and the output
  gradients as inputs, returning the gradients of the inputs.

Both are compiled. The recorded op runs the forward program (its extra outputs, the
residuals, stay with the tape's record); its gradient runs the backward one, which is a
`FunctionCall` itself, so outer tapes get higher derivatives. Nothing is recomputed.
Graphs that assign variables keep the eager path (their Python body runs, and the tape
sees every op): replaying them to build the gradient would drop or repeat the updates.
Random ops are fine: the forward program draws once per call and the backward reads the
draws (dropout masks) as residuals.
"""
from gpuflow._context import ctx as _ctx
from gpuflow.graph import Graph, tracing
from gpuflow.ops.registry import Op, apply

__all__ = ["FunctionCall", "is_pure"]


def is_pure(graph):
    """True when `graph` assigns no variables. Random and print ops are fine: the forward
    program runs them once per call and the backward reads their results as residuals."""
    return not graph.state


def _floating(dtype):
    return dtype.is_floating or dtype.is_complex


class FunctionCall:
    """A pure traced graph as one differentiable op, compiled forward and backward.

    Args:
      graph: the traced graph (inputs of kinds 'arg', 'var', 'const').
      device: the device its programs run on (None: the default).
      name: for messages and the programs' names.

    The op's inputs are the graph's 'arg' inputs in order, then one tensor per 'var'
    input (the variable's value read when the call is recorded).
    """

    def __init__(self, graph, device, name):
        self.graph = graph
        self.device = device
        self.name = name
        self.n_args = sum(1 for k in graph.input_kinds if k == "arg")
        self.variables = [s for s, k in zip(graph.input_sources, graph.input_kinds) if k == "var"]
        self.n_out = len(graph.outputs)
        self._splits = {}
        self._plain = None

    def call(self, arg_tensors):
        """Applies the op to the argument tensors and the variables' current values;
        returns the list of the graph's output tensors. Under a recording tape the
        forward program also returns the residuals its gradient needs; otherwise (a
        backward pass computed without an outer tape) the plain program runs."""
        from gpuflow.ops.array_ops import read_variable
        ins = tuple(arg_tensors) + tuple(read_variable(v) for v in self.variables)
        recording = [t for t in _ctx.tapes if t._recording]
        if recording:
            # Gradients only for the inputs a tape watches (not the data batch, say): one
            # forward/backward split per such set.
            mask = tuple(_watched(recording, t) for t in ins)
            split = self._splits.get(mask)
            if split is None:
                split = self._splits[mask] = _Split(self, mask)
            op = split.forward_op
        else:
            if self._plain is None:
                self._plain = _program_op(self.graph, self.device, self.name, differentiable=False)
            op = self._plain
        res = apply(op, ins[:self.n_args] if op is self._plain else ins, {})
        res = [res] if op.num_outputs == 1 else list(res)
        return res[:self.n_out]


class _Split:
    """The forward (outputs + residuals) and backward programs of a FunctionCall."""

    def __init__(self, fc, mask):
        from gpuflow.compiler import control_flow
        g = fc.graph
        kinds = g.input_kinds
        phs = ([t for t, k in zip(g.inputs, kinds) if k == "arg"]
               + [t for t, k in zip(g.inputs, kinds) if k == "var"])
        specs = [(t._shape._dims, t._dtype) for t in phs]
        wrt = [i for i, (_, dt) in enumerate(specs) if _floating(dt) and mask[i]]
        # 1. The joint graph: the forward replayed under a symbolic tape, then its gradient.
        j, ins, ogs, outs, grads = control_flow.trace_vjp(
            fc.name + "_joint", fc.device, specs, wrt, lambda ins: _replay(g, ins, fc.n_args))
        outs_f = [k for k, t in enumerate(outs) if _floating(t._dtype)]
        outs = [_as_output(j, x) for x in outs]
        # 2. Split: nodes that do not depend on an output gradient are the forward part.
        bwd_vals = {id(t) for t in ogs}
        fwd_nodes, bwd_nodes = [], []
        for n in j.nodes:
            if any(id(t) in bwd_vals for t in n.inputs):
                bwd_nodes.append(n)
                bwd_vals.update(id(o) for o in n.outputs)
            else:
                fwd_nodes.append(n)
        in_ids = {id(t) for t in ins}
        const_ids = {id(t) for t, k in zip(j.inputs, j.input_kinds) if k == "const"}
        needed = []
        seen = set()
        for t in [x for n in bwd_nodes for x in n.inputs] + list(grads):
            k = id(t)
            if k in bwd_vals or k in in_ids or k in const_ids or k in seen:
                continue
            seen.add(k)
            needed.append(t)              # a forward value the backward part reads
        # 3. The forward graph: inputs -> outputs + residuals.
        fg = Graph(is_trace=True, device=fc.device, name=fc.name + "_forward")
        fins = [fg.add_input(d, dt, "arg", i) for i, (d, dt) in enumerate(specs)]
        env = _bind(j, ins, fins)
        with tracing(fg):
            env = control_flow.replay_nodes(fwd_nodes, env)
            fg.outputs = [_as_output(fg, env[id(t)]) for t in outs + needed]
        self.forward_op = _program_op(fg, fc.device, fc.name + "_forward")
        self.forward_op.def_grad(self._grad)
        # 4. The backward graph: inputs, residuals and output gradients -> input gradients.
        bg = Graph(is_trace=True, device=fc.device, name=fc.name + "_backward")
        bins = [bg.add_input(d, dt, "arg", i) for i, (d, dt) in enumerate(specs)]
        bres = [bg.add_input(t._shape._dims, t._dtype, "arg", len(bins) + i) for i, t in enumerate(needed)]
        bogs = [bg.add_input(t._shape._dims, t._dtype, "arg", len(bins) + len(bres) + i)
                for i, t in enumerate(ogs)]
        env = _bind(j, ins + needed + ogs, bins + bres + bogs)
        with tracing(bg):
            env = control_flow.replay_nodes(bwd_nodes, env)
            bg.outputs = [_as_output(bg, env[id(t)]) for t in grads]
        self.backward = FunctionCall(bg, fc.device, fc.name + "_backward") if grads else None
        self.n_out, self.n_res = len(outs), len(needed)
        self.outs_f, self.wrt = outs_f, wrt
        self._fc, self._joint, self._fwd_nodes, self._ins, self._outs, self._needed = fc, j, fwd_nodes, ins, outs, needed
        self._full = None

    def _grad(self, call, *ogs):
        n_in = len(call.inputs)
        if any(og is not None for og in ogs[self.n_out:]):
            # Cotangents on the residuals come from a higher derivative (the backward
            # program's inputs): the VJP of inputs -> (outputs, residuals) as a whole.
            return self._full_vjp(call, ogs)
        if self.backward is None:
            return [None] * n_in
        from gpuflow.ops.array_ops import zeros_like
        og = [ogs[k] if ogs[k] is not None else zeros_like(call.outputs[k]) for k in self.outs_f]
        res = list(call.outputs[self.n_out:self.n_out + self.n_res])
        grads = self.backward.call(list(call.inputs) + res + og)
        out = [None] * n_in
        for j, i in enumerate(self.wrt):
            out[i] = grads[j]
        return out

    def _full_vjp(self, call, ogs):
        from gpuflow import errors
        from gpuflow.ops.array_ops import zeros_like
        if any(n.op.stateful for n in self._fwd_nodes):
            raise errors.UnimplementedError(
                "gf.function %r: a higher derivative through a call under an outer GradientTape would "
                "replay its random (or print) ops with new values; compute it eagerly "
                "(gf.config.run_functions_eagerly(True))" % self._fc.name)
        if self._full is None:
            self._full = self._build_full()
        fcall, floats = self._full
        og = [ogs[k] if ogs[k] is not None else zeros_like(call.outputs[k]) for k in floats]
        grads = fcall.call(list(call.inputs) + og)
        out = [None] * len(call.inputs)
        for j, i in enumerate(self.wrt):
            out[i] = grads[j]
        return out

    def _build_full(self):
        """A FunctionCall computing the VJP of inputs -> (outputs, residuals): the forward
        part replayed under a symbolic tape (recomputed: used for higher derivatives)."""
        from gpuflow.compiler import control_flow
        fc, j = self._fc, self._joint
        results = self._outs + self._needed
        specs = [(t._shape._dims, t._dtype) for t in self._ins]

        def forward(vins):
            env = control_flow.replay_nodes(self._fwd_nodes, _bind(j, self._ins, vins))
            return [env[id(t)] for t in results]
        vg, _, _, _, grads = control_flow.trace_vjp(fc.name + "_vjp", fc.device, specs, self.wrt, forward)
        vg.outputs = list(grads)
        return FunctionCall(vg, fc.device, fc.name + "_vjp"), [k for k, t in enumerate(results) if _floating(t._dtype)]


def _watched(tapes, t):
    """Whether one of the recording `tapes` watches tensor `t` (a variable read counts
    when the tape watches the variable or watches accessed trainable variables)."""
    v = t._vref
    for tape in tapes:
        if v is None:
            if id(t) in tape._watched:
                return True
        elif id(v) in tape._watched or (tape._watch_vars and v._trainable):
            return True
    return False


def _bind(j, joint_tensors, new_tensors):
    """An env mapping the joint graph's constants and the given tensors to new ones."""
    env = {id(t): s for t, k, s in zip(j.inputs, j.input_kinds, j.input_sources) if k == "const"}
    for t, n in zip(joint_tensors, new_tensors):
        env[id(t)] = n
    return env


def _as_output(g, t):
    """A value of graph g as one of its outputs (eager values become captured constants)."""
    return g.capture_constant(t) if t._value is not None else t


def _program_op(graph, device, name, differentiable=True):
    """An op running `graph`'s compiled program on the arrays of its 'arg' inputs."""
    from gpuflow.compiler import passes
    from gpuflow.compiler.executor import Program
    program = Program(passes.optimize(graph)[0], device, name)
    specs = [(t._shape._dims, t._dtype) for t in graph.outputs]

    def run(xp, *arrays):
        outs = program.run(list(arrays))
        return outs if len(outs) != 1 else outs[0]
    return Op("function_call", run, lambda sp, _s=specs: _s if len(_s) != 1 else _s[0], num_outputs=len(specs),
              differentiable=differentiable)


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
