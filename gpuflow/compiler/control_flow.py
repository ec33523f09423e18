"""Traced `gf.while_loop`: one loop node holding a traced condition and body.

Inside a `gf.function`, `gf.while_loop(cond, body, loop_vars)` traces `cond` and `body`
once each into sub-graphs whose inputs are the loop variables and the tensors they
capture from the enclosing graph (tensors, variable reads). The enclosing graph gets one
`while` node; the executor runs the compiled condition and body until the condition is
false (or `maximum_iterations` is reached).

- Variables assigned in the body are carried through the loop and written back after
  it, like any state update.
- A loop variable whose shape changes from one iteration to the next gets unknown
  (None) dimensions where it changes (no `shape_invariants` needed); its rank must stay.
- Gradients: when the loop is traced while a `GradientTape` records, the loop node also
  outputs the value of every loop variable at the start of each iteration (stacked) and
  the trip count. Its gradient is a reverse loop that runs the vector-Jacobian product
  of the body (itself traced once and compiled) from the last iteration to the first,
  giving gradients for the initial loop variables and for every captured tensor and
  variable. This works for any trip count, fixed or data dependent. Limits: loop
  variables need the same shape in every iteration to be stacked; the gradient of the
  gradient loop is not defined (a second derivative through a loop raises
  UnimplementedError; eagerly it works); a body with
  random ops cannot be differentiated (the reverse loop would draw new numbers).
- On a GPU each iteration reads the condition back to the host (one small copy).
"""
from gpuflow import errors
from gpuflow import nest
from gpuflow import dtypes as _dt
from gpuflow._context import ctx as _ctx
from gpuflow.graph import Graph, tracing
from gpuflow.ops import control_flow as _cf
from gpuflow.ops.registry import Op, apply
from gpuflow.tensor import Tensor, Variable

__all__ = ["traced_while", "SubGraph", "inline_graph", "inline_graph_env", "replay_nodes", "trace_vjp", "LoopSpec"]


class SubGraph(Graph):
    """A graph traced inside another one; captures the enclosing graph's tensors."""

    def __init__(self, parent, name):
        super().__init__(is_trace=True, device=parent.device, name=name)
        self.parent = parent
        self.captures = []
        self._cap_map = {}

    def capture_outer(self, t):
        ph = self._cap_map.get(id(t))
        if ph is not None:
            return ph
        if t._graph is self.parent:
            outer = t
        else:
            cap = getattr(self.parent, "capture_outer", None)
            outer = cap(t) if cap is not None else None
            if outer is None:
                return None
        ph = self.add_input(t._shape._dims, t._dtype, "arg", ("capture", len(self.captures)))
        self.captures.append(outer)
        self._cap_map[id(t)] = ph
        return ph


def inline_graph(g, inputs):
    """Replays graph `g` through the dispatcher on `inputs` (one per 'arg' input), so that
    tapes record it and an enclosing trace records it; returns the output tensors."""
    env = {}
    k = 0
    for t, kind, s in zip(g.inputs, g.input_kinds, g.input_sources):
        if kind == "arg":
            env[id(t)] = inputs[k]
            k += 1
        else:
            env[id(t)] = s
    return inline_graph_env(g, env)


def inline_graph_env(g, env):
    """`inline_graph` with `env` mapping id(input placeholder) -> the tensor it stands for."""
    env = replay_nodes(g.nodes, env)
    return [env[id(t)] for t in g.outputs]


def replay_nodes(nodes, env):
    """Replays `nodes` (in order) through the dispatcher; `env` maps id(tensor) -> the
    tensor it stands for and must hold every input not produced by an earlier node.
    Returns a new env that also maps the nodes' outputs."""
    env = dict(env)
    for n in nodes:
        ins = tuple(env[id(t)] for t in n.inputs)
        op = n.op
        loop = (n.attrs or {}).get("loop")
        if loop is not None and not loop.record and any(t._recording for t in _ctx.tapes):
            spec = loop.with_history()
            op = spec.op
            res = apply(op, ins, {"loop": spec})
        else:
            res = apply(op, ins, n.attrs or {})
        if op.num_outputs == 1:
            res = (res,)
        for o, r in zip(n.outputs, res):
            env[id(o)] = r
    return env


class LoopSpec:
    """Everything a `while` node needs (attrs['loop'])."""

    def __init__(self, cond_g, body_g, n_lv, specs, max_iter, record, stateful, name):
        self.cond_graph = cond_g
        self.body_graph = body_g
        self.n_lv = n_lv
        self.specs = specs                  # [(dims, DType)] of the loop variables
        self.cap_specs = [(t._shape._dims, t._dtype) for t in body_g.inputs[n_lv:len(body_g.captures) + n_lv]]
        self.max_iter = max_iter
        self.record = record
        self.stateful = stateful
        self.name = name
        self._programs = {}
        self._vjp = None
        self._grad_op = None
        self.op = self._make_op()

    def _make_op(self):
        n_out = self.n_lv + (self.n_lv + 1 if self.record else 0)
        o = Op("while", _while_fn, _while_infer, num_outputs=n_out, differentiable=True, stateful=self.stateful)
        o.def_grad(_while_grad)
        return o

    def with_history(self):
        s = LoopSpec(self.cond_graph, self.body_graph, self.n_lv, self.specs, self.max_iter, True, self.stateful,
                     self.name)
        return s

    def program(self, which, dev):
        key = (which, dev)
        p = self._programs.get(key)
        if p is None:
            from gpuflow.compiler.passes import optimize
            from gpuflow.compiler.executor import Program
            g = {"cond": self.cond_graph, "body": self.body_graph}.get(which) or self._vjp
            p = Program(optimize(g)[0], dev, "%s_%s" % (self.name, which))
            self._programs[key] = p
        return p

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other


def _device_of(xp):
    from gpuflow import backend
    if xp.__name__ == "numpy":
        return backend.cpu
    return backend.get_device("/GPU:%d" % xp.cuda.Device().id)


def _while_infer(specs, loop):
    out = [(d, t) for d, t in loop.specs]
    if loop.record:
        out += [((None,) + tuple(d), t) for d, t in loop.specs]
        out.append(((), _dt.int32))
    return out if len(out) != 1 else out[0]


def _while_fn(xp, *arrays, loop):
    dev = _device_of(xp)
    n = loop.n_lv
    lv = list(arrays[:n])
    caps = list(arrays[n:])
    cond_p = loop.program("cond", dev)
    body_p = loop.program("body", dev)
    hist = [[] for _ in range(n)] if loop.record else None
    i = 0
    mx = loop.max_iter
    while mx is None or i < mx:
        c = cond_p.run(lv + caps)[0]
        if not bool(c):
            break
        if hist is not None:
            for k in range(n):
                hist[k].append(lv[k])
        lv = list(body_p.run(lv + caps))
        i += 1
    outs = lv
    if hist is not None:
        import numpy as np
        for k in range(n):
            if hist[k]:
                outs.append(xp.stack(hist[k]))
            else:
                outs.append(xp.empty((0,) + tuple(lv[k].shape), dtype=lv[k].dtype))
        outs.append(xp.asarray(i, dtype=np.int32))
    return tuple(outs) if len(outs) != 1 else outs[0]


# --------------------------------------------------------------------------------------
# Gradient: a reverse loop over the body's vector-Jacobian product
# --------------------------------------------------------------------------------------
def _floating(dt):
    return dt.is_floating or dt.is_complex


def _build_vjp(loop):
    """Traces vjp(x_i, caps, g_{i+1}) -> (g_i for float loop vars, g for float captures)."""
    body = loop.body_graph
    n = loop.n_lv
    if any(nd.op.stateful for nd in body.nodes):
        raise errors.UnimplementedError(
            "gradient of gf.while_loop %r: its body has random ops or prints; the reverse loop would re-draw "
            "them. Draw random numbers outside the loop and pass them in." % loop.name)
    arg_phs = [t for t, k in zip(body.inputs, body.input_kinds) if k == "arg"]
    specs = [(t._shape._dims, t._dtype) for t in arg_phs]
    fl = [k for k in range(n) if _floating(specs[k][1])]
    fc = [k for k in range(len(specs) - n) if _floating(specs[n + k][1])]
    g, _, _, _, grads = trace_vjp(loop.name + "_vjp", body.device, specs, fl + [n + k for k in fc],
                                  lambda ins: inline_graph(body, ins), cotangents=fl)
    g.outputs = list(grads)
    return g, fl, fc


def trace_vjp(name, device, specs, wrt, forward, cotangents=None):
    """Traces a vector-Jacobian product into a new graph.

    Args:
      name, device: of the new graph.
      specs: [(dims, DType)] of its first 'arg' inputs, the primal inputs.
      wrt: indices of the primal inputs to differentiate.
      forward: `forward(primal placeholders) -> list of output tensors`, traced into the
        graph under a symbolic tape that watches the inputs in `wrt`.
      cotangents: indices of the outputs that get a cotangent input (placeholders after
        the primal ones, in this order); default every float output.

    Returns:
      `(graph, ins, ogs, outs, grads)`: the primal and cotangent placeholders, the outputs,
      and the gradients of the inputs in `wrt` for those cotangents (values of the graph:
      eager results are captured as constants; empty when there is nothing to
      differentiate). The graph's outputs are left for the caller to set.
    """
    from gpuflow.autograd.tape import GradientTape
    g = Graph(is_trace=True, device=device, name=name)
    ins = [g.add_input(d, dt, "arg", i) for i, (d, dt) in enumerate(specs)]
    saved = _ctx.tapes
    _ctx.tapes = []
    try:
        with tracing(g):
            with GradientTape(persistent=True, watch_accessed_variables=False) as tape:
                tape.watch([ins[i] for i in wrt])
                outs = list(forward(ins))
            if cotangents is None:
                cotangents = [k for k, t in enumerate(outs) if _floating(t._dtype)]
            ogs = [g.add_input(outs[k]._shape._dims, outs[k]._dtype, "arg", len(ins) + j)
                   for j, k in enumerate(cotangents)]
            grads = []
            if wrt and cotangents:
                grads = tape.gradient([outs[k] for k in cotangents], [ins[i] for i in wrt], output_gradients=ogs,
                                      unconnected_gradients="zero")
            grads = [g.capture_constant(x) if x._value is not None else x for x in grads]
    finally:
        _ctx.tapes = saved
    return g, ins, ogs, outs, grads


def _while_grad(call, *ogs):
    loop = call.attrs["loop"]
    if not loop.record:
        raise LookupError("gf.while_loop %r was traced without a recording GradientTape, so it kept no history "
                          "for its gradient" % loop.name)
    if loop._vjp is None:
        loop._vjp, loop._fl, loop._fc = _build_vjp(loop)
    n = loop.n_lv
    fl, fc = loop._fl, loop._fc
    from gpuflow.ops.array_ops import zeros_like
    hists = list(call.outputs[n:2 * n])
    count = call.outputs[2 * n]
    caps = list(call.inputs[n:])
    g_lv = [ogs[k] if ogs[k] is not None else zeros_like(call.outputs[k]) for k in fl]
    if loop._grad_op is None:
        specs = [loop.specs[k] for k in fl] + [(caps[k]._shape._dims, caps[k]._dtype) for k in fc]
        loop._grad_op = Op("while_grad", _while_grad_fn,
                           lambda sp, loop, _s=specs: _s if len(_s) != 1 else _s[0],
                           num_outputs=len(specs), differentiable=True)
        loop._grad_op.def_grad(_while_grad_grad)
    if not fl and not fc:
        return [None] * len(call.inputs)
    res = apply(loop._grad_op, tuple(hists + [count] + g_lv + caps), {"loop": loop})
    if loop._grad_op.num_outputs == 1:
        res = (res,)
    out = [None] * len(call.inputs)
    for j, k in enumerate(fl):
        out[k] = res[j]
    for j, k in enumerate(fc):
        out[n + k] = res[len(fl) + j]
    return out


def _while_grad_grad(call, *ogs):
    # Recorded (differentiable) so that an outer tape asking for a second derivative
    # gets this error instead of a silent None.
    raise errors.UnimplementedError(
        "gf.while_loop %r: second derivatives through a while_loop traced in a gf.function are not "
        "supported (the gradient of its reverse loop is not defined). Compute them eagerly "
        "(gf.config.run_functions_eagerly(True), where the loop is unrolled on the tape) or use a Python "
        "loop with a fixed trip count inside the gf.function." % call.attrs["loop"].name)


def _while_grad_fn(xp, *arrays, loop):
    dev = _device_of(xp)
    n = loop.n_lv
    fl, fc = loop._fl, loop._fc
    hists = arrays[:n]
    count = int(arrays[n])
    g = list(arrays[n + 1:n + 1 + len(fl)])
    caps = list(arrays[n + 1 + len(fl):])
    acc = [xp.zeros_like(caps[k]) for k in fc]
    prog = loop.program("vjp", dev)
    for i in range(count - 1, -1, -1):
        outs = prog.run([h[i] for h in hists] + caps + g)
        g = list(outs[:len(fl)])
        for j in range(len(fc)):
            acc[j] = acc[j] + outs[len(fl) + j]
    res = tuple(g + acc)
    return res if len(res) != 1 else res[0]


# --------------------------------------------------------------------------------------
# Tracing
# --------------------------------------------------------------------------------------
def _as_tensor(x, dtype=None):
    from gpuflow.ops.array_ops import convert_to_tensor, read_variable
    if isinstance(x, Variable):
        return read_variable(x)
    if isinstance(x, Tensor):
        return x
    return convert_to_tensor(x, dtype=dtype)


def _trace_sub(parent, fn, structure, specs, carried, name, is_cond):
    sub = SubGraph(parent, name)
    phs = [sub.add_input(d, t, "arg", ("lv", i)) for i, (d, t) in enumerate(specs)]
    n_user = len(specs) - len(carried)
    for v, ph in zip(carried, phs[n_user:]):
        sub.state[id(v)] = (v, ph)
    user = nest.pack_sequence_as(structure, phs[:n_user])
    with tracing(sub):
        res = fn(*user)
        if is_cond:
            c = _as_tensor(res)
            if c.dtype is not _dt.bool or (c.shape.rank not in (0, None) and c.shape.num_elements() != 1):
                raise errors.InvalidArgumentError("while_loop: cond must return a scalar bool tensor, got %s%s"
                                                  % (c.dtype.name, c.shape))
            outs = [c if c._value is None else sub.capture_constant(c)]
        else:
            if len(structure) == 1 and not isinstance(res, (list, tuple)):
                res = [res]
            try:
                nest.assert_same_structure(list(structure), list(res) if isinstance(res, tuple) else res)
            except (ValueError, TypeError) as e:
                raise ValueError("while_loop: body must return the structure of loop_vars: %s" % e) from None
            flat = nest.flatten(res)
            outs = []
            for x, (d, t) in zip(flat, specs[:n_user]):
                x = _as_tensor(x, t)
                if x._value is not None:
                    x = sub.capture_constant(x)
                if x.dtype is not t:
                    raise errors.InvalidArgumentError(
                        "while_loop: body changed a loop variable's dtype from %s to %s" % (t.name, x.dtype.name))
                outs.append(x)
            for v in carried:
                outs.append(sub.state[id(v)][1])
    assigned = [st[0] for k, st in sub.state.items() if not any(k == id(v) for v in carried)]
    return sub, outs, assigned


def _finalize(sub, n_lv, captures):
    """Orders `sub`'s inputs as loop vars, then the unified captures, then constants."""
    parent = sub.parent
    # placeholders of captured outer values
    ph_of = {}
    for t, k, s in zip(sub.inputs, sub.input_kinds, sub.input_sources):
        if k == "arg" and isinstance(s, tuple) and s[0] == "capture":
            ph_of[id(sub.captures[s[1]])] = t
        elif k == "var":
            with tracing(parent):
                outer = parent.capture_variable(s)
            ph_of[id(outer)] = t
    inputs, kinds, sources = [], [], []
    for t in sub.inputs[:n_lv]:
        inputs.append(t)
        kinds.append("arg")
        sources.append(len(inputs) - 1)
    for j, outer in enumerate(captures):
        ph = ph_of.get(id(outer))
        if ph is None:
            ph = _unused_placeholder(sub, outer)
        inputs.append(ph)
        kinds.append("arg")
        sources.append(n_lv + j)
    for t, k, s in zip(sub.inputs, sub.input_kinds, sub.input_sources):
        if k == "const":
            inputs.append(t)
            kinds.append(k)
            sources.append(s)
    sub.inputs, sub.input_kinds, sub.input_sources = inputs, kinds, sources


def _unused_placeholder(sub, outer):
    from gpuflow.tensor import SymbolicTensor
    return SymbolicTensor(outer._shape._dims, outer._dtype, sub)


def _outer_captures(sub, parent):
    outs = list(sub.captures)
    for t, k, s in zip(sub.inputs, sub.input_kinds, sub.input_sources):
        if k == "var":
            with tracing(parent):
                outs.append(parent.capture_variable(s))
    return outs


def traced_while(cond, body, loop_vars, maximum_iterations=None):
    """The traced implementation installed into `gf.while_loop`."""
    parent = _ctx.graph
    flat_in = nest.flatten(loop_vars)
    if parent is None:
        for x in flat_in:
            if isinstance(x, Tensor) and x._value is None:
                parent = x._graph
                break
    structure = list(loop_vars)
    with tracing(parent):
        init = [_as_tensor(x) for x in flat_in]
    if maximum_iterations is not None:
        if isinstance(maximum_iterations, Tensor):
            if maximum_iterations._value is None:
                raise errors.UnimplementedError("while_loop: maximum_iterations must be a Python int or an eager "
                                                "tensor inside a gf.function, not a symbolic tensor")
            maximum_iterations = int(maximum_iterations.numpy())
        maximum_iterations = int(maximum_iterations)
    record = any(t._recording for t in _ctx.tapes)
    saved = _ctx.tapes
    _ctx.tapes = []
    name = "while_%d" % len(parent.nodes)
    try:
        specs = [(tuple(t.shape._dims), t.dtype) for t in init]
        carried = []
        for attempt in range(4):
            body_g, body_outs, assigned = _trace_sub(parent, body, structure, specs, carried, name + "_body", False)
            changed = False
            if assigned:
                for v in assigned:
                    if all(v is not c for c in carried):
                        carried.append(v)
                        specs.append((tuple(v._value.shape), v.dtype))
                        changed = True
            new_specs = []
            for (d, t), o in zip(specs, body_outs):
                od = o._shape._dims
                if d is None or od is None or len(d) != len(od):
                    raise errors.InvalidArgumentError(
                        "while_loop: a loop variable changed rank in the body: %s -> %s (shape_invariants cannot "
                        "change the rank)" % (d, od))
                nd = tuple(a if a == b else None for a, b in zip(d, od))
                if nd != tuple(d):
                    changed = True
                new_specs.append((nd, t))
            specs = new_specs + specs[len(new_specs):]
            if not changed:
                break
        else:
            raise errors.InternalError("while_loop: the loop variables' shapes did not settle")
        cond_g, cond_outs, c_assigned = _trace_sub(parent, cond, structure, specs, carried, name + "_cond", True)
        if c_assigned:
            raise errors.InvalidArgumentError("while_loop: cond must not assign variables")
        body_g.outputs = body_outs
        cond_g.outputs = cond_outs
        captures = []
        seen = set()
        for sg in (cond_g, body_g):
            for outer in _outer_captures(sg, parent):
                if id(outer) not in seen:
                    seen.add(id(outer))
                    captures.append(outer)
        n_lv = len(specs)
        _finalize(cond_g, n_lv, captures)
        _finalize(body_g, n_lv, captures)
        body_g.captures = captures
        stateful = any(nd.op.stateful for sg in (cond_g, body_g) for nd in sg.nodes)
        loop = LoopSpec(cond_g, body_g, n_lv, specs, maximum_iterations, record, stateful, name)
        with tracing(parent):
            carried_init = [parent.capture_variable(v) for v in carried]
    finally:
        _ctx.tapes = saved
    res = apply(loop.op, tuple(init + carried_init + captures), {"loop": loop})
    if loop.op.num_outputs == 1:
        res = (res,)
    res = list(res)
    n_user = len(init)
    for v, val in zip(carried, res[n_user:n_lv]):
        if parent is not None and getattr(parent, "is_trace", False):
            parent.set_variable(v, val)
    return nest.pack_sequence_as(structure, res[:n_user])


_cf._traced_while[0] = traced_while
