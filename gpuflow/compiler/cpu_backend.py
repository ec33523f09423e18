"""CPU backend: lowers an optimized graph into one generated straight-line Python function.

Every node becomes one or a few *prepared calls* (a ufunc or op body bound once as a
global of the generated module, its attributes bound as constants), so a call of a
compiled function runs no dispatcher, no per-call dictionaries and no tape code.

A fused region runs as a chain of NumPy ufunc calls with `out=`: every step writes into a
planned buffer, in place where an input dies (see `gpuflow.compiler.memory`), so the
region allocates no temporaries. We measured the alternatives on the 2-core AVX-512
machine of CI for the Adam update of a 784x256 weight (12 elementwise ops): NumPy `out=`
chains into reused buffers 0.29 ms, the same with fresh temporaries 1.7 ms (page faults
of fresh allocations), numexpr 2.8 1.0 ms. So NumPy with planned buffers it is; numexpr
is not used.

Matmuls write into planned buffers as well, and so do the fused optimizer updates
(`OUT_OPS`: their new weight and slots go into per-output rings of reused, page-aligned
buffers, see `_take` and `_empty`, instead of three freshly allocated arrays per variable
and step; measured in the notes' CNN step, whose Dense kernel has 4.7M weights: its Adam
update 4.5 ms -> 3.0 ms). An update whose gradient is a skinny float32 product ``a^T b``
read by nothing else (a Dense kernel's gradient) gets the pair ``(a, b)`` instead, and the
C++ update computes the product chunk by chunk on the direct GEMM loops while it updates
(`_product_grad_updates`): the gradient is never stored; where the layer's input
gradient ``b w^T`` is in the graph too, the same pass over w writes it (``(a, b, dx)``).
Other ops call their implementation (the registered CPU kernel or the `xp` body) directly.
"""
import keyword
import sys

import numpy as np

from gpuflow import errors
from gpuflow.compiler import memory
from gpuflow.compiler.fusion import is_fused
from gpuflow.kernels import gemm as _gemm

__all__ = ["build", "CpuPlan", "FRESH_OPS", "ALIAS_OPS", "OUT_OPS"]

# Ops whose result may be a view of (or the same array as) an input.
ALIAS_OPS = frozenset([
    "identity", "stop_gradient", "reshape", "reshape_like", "reshape_dynamic", "expand_axes", "squeeze",
    "transpose", "broadcast_to", "broadcast_like", "sum_to", "getitem", "unstack", "split", "concat_piece",
    "read_variable", "random_shuffle", "while", "while_stateful", "while_grad",
])


def _is_fresh(op):
    """True when an op's result never shares memory with its inputs."""
    if op.name in ALIAS_OPS:
        return False
    if op.elementwise is not None or op.reduction:
        return True
    return op.name in FRESH_OPS


FRESH_OPS = frozenset([
    "matmul", "softmax", "log_softmax", "sparse_softmax_cross_entropy", "sparse_softmax_cross_entropy_grad", "bias_act_grad", "one_hot", "zeros_like", "ones_like",
    "concat", "stack", "tile", "pad", "gather", "gather_grad", "getitem_grad", "scatter_along", "take_along",
    "cumsum", "cumprod", "argmax", "argmin", "sort", "argsort", "shape", "size", "reduced_count", "random_normal",
    "random_uniform", "truncated_normal", "dropout_mask", "random_categorical", "fill_dynamic",
    "boolean_mask_indices", "where_indices", "reverse",
])


# Multi-output ops whose body takes `out=` (a tuple with one C-contiguous array per
# result, written in full) and returns that tuple: the fused optimizer updates of
# `gpuflow.ops.optimizer_ops`. Their results are planned like a matmul's.
OUT_OPS = frozenset([
    "adam_update", "adam_amsgrad_update", "sgd_momentum_update", "rmsprop_update", "rmsprop_update_centered",
    "rmsprop_update_momentum", "rmsprop_update_centered_momentum",
])


# --------------------------------------------------------------------------------------
# Emitters of elementwise steps: emit(args, o, alloc) -> code lines.
#   args: code expressions of the inputs; o: the result's name; alloc: True when the
#   result has no buffer yet (its shape is only known at run time).
# --------------------------------------------------------------------------------------
def _calls(seq):
    """seq: [(func_name, [arg index or 'o' or literal expr])]: each call writes o."""
    def emit(args, o, alloc):
        lines = []
        for k, (fn, spec) in enumerate(seq):
            a = ", ".join(args[x] if isinstance(x, int) else (o if x == "o" else x) for x in spec)
            if k == 0 and alloc:
                lines.append("%s = %s(%s)" % (o, fn, a))
            else:
                lines.append("%s(%s, out=%s)" % (fn, a, o))
        return lines
    return emit


def _expr(fmt, dtype_name=None):
    """A NumPy expression producing a fresh result, copied into o (or assigned)."""
    def emit(args, o, alloc):
        e = fmt.format(*args)
        if alloc:
            return ["%s = %s" % (o, e)]
        return ["_copyto(%s, %s)" % (o, e)]
    return emit


_UNARY = {
    "negative": "_np.negative", "abs": "_np.absolute", "sign": "_np.sign", "square": "_np.square",
    "sqrt": "_np.sqrt", "exp": "_np.exp", "log": "_np.log", "log1p": "_np.log1p", "expm1": "_np.expm1",
    "sin": "_np.sin", "cos": "_np.cos", "tan": "_np.tan", "asin": "_np.arcsin", "acos": "_np.arccos",
    "atan": "_np.arctan", "sinh": "_np.sinh", "cosh": "_np.cosh", "tanh": "_np.tanh", "floor": "_np.floor",
    "ceil": "_np.ceil", "round": "_np.rint", "rint": "_np.rint", "logical_not": "_np.logical_not",
    "invert": "_np.invert", "reciprocal": "_np.reciprocal",
}
_BINARY = {
    "add": "_np.add", "subtract": "_np.subtract", "multiply": "_np.multiply", "maximum": "_np.maximum",
    "minimum": "_np.minimum", "mod": "_np.mod", "atan2": "_np.arctan2", "equal": "_np.equal",
    "not_equal": "_np.not_equal", "less": "_np.less", "less_equal": "_np.less_equal", "greater": "_np.greater",
    "greater_equal": "_np.greater_equal", "logical_and": "_np.logical_and", "logical_or": "_np.logical_or",
    "logical_xor": "_np.logical_xor", "bitwise_and": "_np.bitwise_and", "bitwise_or": "_np.bitwise_or",
    "bitwise_xor": "_np.bitwise_xor",
}


def _step_emitter(step, in_dtypes):
    """The emitter of one region step, or None to call the op's own body."""
    name = step.op.name
    attrs = step.attrs
    if attrs and name not in ("cast",):
        return None
    floating = step.dtype.is_floating
    if name in _UNARY:
        if not in_dtypes[0].is_floating and name not in ("negative", "abs", "sign", "square", "logical_not",
                                                         "invert"):
            return None
        return _calls([(_UNARY[name], [0])])
    if name in _BINARY:
        return _calls([(_BINARY[name], [0, 1])])
    if name == "divide":
        return _calls([("_np.true_divide" if in_dtypes[0].is_floating else "_np.floor_divide", [0, 1])])
    if name == "floordiv":
        if in_dtypes[0].is_floating:
            return _calls([("_np.true_divide", [0, 1]), ("_np.floor", ["o"])])
        return _calls([("_np.floor_divide", [0, 1])])
    if name == "pow" and floating:
        return _calls([("_np.power", [0, 1])])
    if name == "rsqrt" and floating:
        return _calls([("_np.sqrt", [0]), ("_np.reciprocal", ["o"])])
    if name == "squared_difference":
        return _calls([("_np.subtract", [0, 1]), ("_np.square", ["o"])])
    if name == "relu":
        return _calls([("_np.maximum", [0, "0"])])
    if name == "relu6":
        return _calls([("_np.maximum", [0, "0"]), ("_np.minimum", ["o", "6"])])
    if name in ("identity", "stop_gradient"):
        return _expr("{0}")
    if name == "select":
        return _expr("_np.where({0}, {1}, {2})")
    if name == "cast":
        dt = attrs["dtype"]

        def emit(args, o, alloc, _n=np.dtype(dt.np).name):
            if alloc:
                return ["%s = %s.astype(_np.%s)" % (o, args[0], _n)]
            return ["_copyto(%s, %s, casting='unsafe')" % (o, args[0])]
        if in_dtypes[0].is_floating and dt.is_integer:
            def emit_trunc(args, o, alloc, _e=emit):
                return _e(["_np.trunc(%s)" % args[0]], o, alloc)
            return emit_trunc
        return emit
    return None


_RED_UFUNC = {"reduce_sum": "_np.add.reduce", "reduce_mean": "_np.add.reduce",
              "reduce_max": "_np.maximum.reduce", "reduce_min": "_np.minimum.reduce"}


# --------------------------------------------------------------------------------------
# The plan: a generated function and everything it needs.
# --------------------------------------------------------------------------------------
class CpuPlan:
    """A compiled CPU program for one set of concrete input shapes.

    `run(*arg_arrays)` returns the tuple of output arrays after writing state back.
    """

    def __init__(self, fn, source, memplan, line_nodes, n_calls, filename):
        self.run = fn
        self.source = source
        self.memory = memplan
        self.line_nodes = line_nodes
        self.n_calls = n_calls
        self.filename = filename


class _Namer:
    def __init__(self):
        self.globals = {"_np": np, "_copyto": np.copyto, "_take": _take, "_matmul_into": _gemm.matmul_into}
        self._n = 0
        self._ids = {}

    def bind(self, value, prefix="K"):
        k = id(value)
        hit = self._ids.get(k)
        if hit is not None and self.globals.get(hit) is value:
            return hit
        name = "%s%d" % (prefix, self._n)
        self._n += 1
        self.globals[name] = value
        self._ids[k] = name
        return name


def _take(ring, shape, dtype):
    """A buffer from `ring` that nothing outside the ring references, else a new one."""
    for a in ring:
        if sys.getrefcount(a) == 3:  # the ring, the loop variable, getrefcount's argument
            return a
    a = _empty(shape, dtype)
    if len(ring) >= 3:
        ring.pop(0)
    ring.append(a)
    return a


# Large buffers start on a page boundary. Kernels that stream their results (the fused
# optimizer updates) need all outputs equally aligned, and a load whose address matches,
# modulo 4096, a store just issued waits for that store ("4K aliasing"): with every large
# input and output at the same page offset, a streaming loop never hits it. Measured for
# Adam over 4.7M floats: 2.6 ms page-aligned, 7 ms with inputs 48 bytes behind outputs.
_PAGE = 4096
_ALIGN_MIN_BYTES = 1 << 20


def _empty(shape, dtype):
    """`np.empty`, starting on a page boundary when large (see above)."""
    dtype = np.dtype(dtype)
    n = dtype.itemsize
    for d in shape:
        n *= d
    if n < _ALIGN_MIN_BYTES:
        return np.empty(shape, dtype)
    return _page_aligned(n).view(dtype).reshape(shape)


def _page_aligned(nbytes):
    """A uint8 array of `nbytes` starting on a page boundary."""
    raw = np.empty(nbytes + _PAGE, np.uint8)
    off = (-raw.ctypes.data) % _PAGE
    return raw[off:off + nbytes]


_FILE_COUNTER = [0]


class _ProductGrad:
    """An optimizer update `update` whose gradient is the product `grad` (a^T b), and
    optionally the layer's input gradient `dx` = matmul(b, w, transpose_b=True) that the
    same C++ call computes from the weight before updating it (see `_product_grad_updates`)."""

    def __init__(self, update, grad):
        self.update, self.grad, self.dx = update, grad, None


def _static2(t, shapes):
    """The static 2-D dims of float32 tensor t, or None."""
    d = shapes.get(id(t))
    if t._dtype.name != "float32" or d is None or len(d) != 2 or None in d:
        return None
    return tuple(d)


def _product_grad_updates(g, shapes):
    """{id(update node): _ProductGrad} for the optimizer updates (`OUT_OPS`) whose gradient
    input is ``matmul(a, b, transpose_a=True)`` of float32 matrices with static shapes
    that the direct GEMM loops take (`gemm.use_direct`), read by nothing but the update:
    the update gets ``(a, b)`` and computes the product itself (see the module docstring).
    Where the layer's input gradient ``matmul(b, w, transpose_b=True)`` of the same b and
    the update's weight w is in the graph too, a is computed before it, and the update's
    other inputs can be ready before it (variables, constants, or pure nodes that depend
    only on them, which `_hoisted` moves to the front), the update gets ``(a, b, dx)`` and
    runs in its place: one pass over the weight for the input gradient and the update."""
    readers = {}
    for n in g.nodes:
        for t in n.inputs:
            readers.setdefault(id(t), []).append(n)
    kept = {id(t) for t in g.outputs} | {id(t) for _, t in g.state.values()}
    early = _split_state_only(g)[2]
    position = {}
    for i, n in enumerate(g.nodes):
        for o in n.outputs:
            position[id(o)] = i
    found = {}
    for n in g.nodes:
        if (n.op.name != "matmul" or len(n.outputs) != 1 or n.op.kernels.get("CPU")
                or not n.attrs.get("transpose_a", False) or n.attrs.get("transpose_b", False)):
            continue
        o = n.outputs[0]
        users = readers.get(id(o), [])
        if id(o) in kept or len(users) != 1:
            continue
        u = users[0]
        if (u.op.name not in OUT_OPS or u.op.prepare is None or u.op.kernels.get("CPU")
                or len(u.inputs) < 2 or u.inputs[1] is not o or sum(t is o for t in u.inputs) != 1):
            continue
        a, b = n.inputs
        ad, bd = _static2(a, shapes), _static2(b, shapes)
        if ad is None or bd is None or not _gemm.use_direct(ad[1], ad[0], bd[1], True, False):
            continue
        if any(shapes.get(id(o)) is None or None in shapes.get(id(o)) for o in u.outputs):
            continue
        pg = found[id(u)] = _ProductGrad(u, n)
        w = u.inputs[0]
        if not all(id(t) in early for k, t in enumerate(u.inputs) if k != 1):
            continue
        for x in readers.get(id(b), []):
            if (x.op.name == "matmul" and len(x.outputs) == 1 and not x.op.kernels.get("CPU")
                    and x.inputs[0] is b and x.inputs[1] is w and x.attrs.get("transpose_b", False)
                    and not x.attrs.get("transpose_a", False) and id(x.outputs[0]) not in kept
                    and _static2(x.outputs[0], shapes) is not None
                    and position.get(id(a), -1) < position[id(x.outputs[0])]):
                pg.dx = x
                break
    return found


def _split_state_only(g):
    """(nodes computable from variables and constants alone, the other nodes), each in
    graph order, and the ids of the first group's outputs and of the variable and
    constant inputs: pure (non-stateful) nodes whose inputs are all such values."""
    early = {id(t) for t, k in zip(g.inputs, g.input_kinds) if k != "arg"}
    first, rest = [], []
    for n in g.nodes:
        if not n.op.stateful and n.outputs and all(id(t) in early for t in n.inputs):
            early.update(id(o) for o in n.outputs)
            first.append(n)
        else:
            rest.append(n)
    return first, rest, early


def _hoisted(g):
    """g.nodes with the pure nodes that depend only on variables and constants first (each
    group in its order): values never change within a step (variables are read once, at
    the start, and written at the end), so this changes no result; it lets an update
    that needs them (Adam's bias-corrected step size) run where the input gradient is
    due, before any node that reads an argument."""
    first, rest, _ = _split_state_only(g)
    return first + rest


def _product_grad_emitter(op, attrs, nm, with_dx):
    """`_out_kwarg_emitter` of an update whose inputs are (w, a, b, ...): passes the
    gradient as the pair ``(a, b)``; `with_dx`: its first output is the input gradient,
    passed as ``(a, b, dx)``."""
    emit_update = _out_kwarg_emitter(op, attrs, nm)

    def emit(args, outs):
        if with_dx:
            return emit_update([args[0], "(%s, %s, %s)" % (args[1], args[2], outs[0])] + list(args[3:]), outs[1:])
        return emit_update([args[0], "(%s, %s)" % (args[1], args[2])] + list(args[3:]), outs)
    return emit


def build(g, shapes, name="fn"):
    """Lowers graph `g` for concrete value shapes `shapes` (id -> dims or None)."""
    nm = _Namer()
    kinds = {}
    names = {}
    arg_names = []
    prologue = []
    for t, k, s in zip(g.inputs, g.input_kinds, g.input_sources):
        if k == "arg":
            n = "a%d" % len(arg_names)
            arg_names.append(n)
            names[id(t)] = n
        elif k == "var":
            n = "w%d" % len(names)
            prologue.append("%s = %s._value" % (n, nm.bind(s, "V")))
            names[id(t)] = n
        else:
            arr = s._value
            if not isinstance(arr, np.ndarray):
                from gpuflow import backend
                arr = backend.to_numpy(arr)
            names[id(t)] = nm.bind(arr[()] if arr.ndim == 0 else arr, "C")
        kinds[id(t)] = k
    # ---- lowering to instructions --------------------------------------------------
    instrs = []
    values = {}
    dtypes = {}

    def val(key, dims, dtype):
        dt = np.dtype(dtype.np)
        values[key] = (None if dims is None else tuple(dims), dt.itemsize)
        dtypes[key] = dt

    def dims_of(t):
        return shapes.get(id(t))

    # Product-gradient updates run at the update's place, or with the input gradient at
    # that matmul's place (the update's own node and the gradient's matmul then vanish).
    product_grads = _product_grad_updates(g, shapes).values()
    fused_at = {id(pg.dx if pg.dx is not None else pg.update): pg for pg in product_grads}
    folded = {id(pg.grad) for pg in product_grads} | {id(pg.update) for pg in product_grads if pg.dx is not None}
    nodes = _hoisted(g) if any(pg.dx is not None for pg in product_grads) else g.nodes
    for ni, n in enumerate(nodes):
        if id(n) in folded:
            continue
        pg = fused_at.get(id(n))
        if pg is not None:
            u = pg.update
            outs = ([n.outputs[0]] if pg.dx is not None else []) + list(u.outputs)
            for o in outs:
                val(id(o), shapes.get(id(o)), o._dtype)
            ins = [id(t) for t in u.inputs]
            ins[1:2] = [id(t) for t in pg.grad.inputs]
            instrs.append(memory.Instr(ins, [id(o) for o in outs], out=True, inplace=False,
                                       emit=_product_grad_emitter(u.op, u.attrs, nm, pg.dx is not None),
                                       node=u, label=u.op.name))
            continue
        if is_fused(n):
            region = n.attrs["region"]
            in_dt = [t._dtype for t in n.inputs]
            step_key = []
            out_of_step = {}
            for k, j in enumerate(region.out_steps):
                out_of_step[j] = n.outputs[k]
            step_dims = []
            for j, st in enumerate(region.steps):
                o = out_of_step.get(j)
                key = id(o) if o is not None else ("s", ni, j)
                step_key.append(key)
                ins = [id(n.inputs[x]) if kind == "in" else step_key[x] for kind, x in st.args]
                dts = [in_dt[x] if kind == "in" else region.steps[x].dtype for kind, x in st.args]
                ads = [dims_of(n.inputs[x]) if kind == "in" else step_dims[x] for kind, x in st.args]
                if any(d is None for d in ads):
                    dims = None
                else:
                    dims = tuple(st.op.infer([(d, dt) for d, dt in zip(ads, dts)], **st.attrs)[0])
                    if None in dims:
                        dims = None
                step_dims.append(dims)
                em = _step_emitter(st, dts)
                if em is None:
                    em = _expr("%s(_np, %s%s)" % (nm.bind(st.op.impl(_cpu()), "F"),
                                                  ", ".join("{%d}" % i for i in range(len(ins))),
                                                  _kw(st.attrs, nm)))
                val(key, dims, st.dtype)
                instrs.append(memory.Instr(ins, [key], out=True, inplace=True, emit=em, node=n,
                                           label=st.op.name))
            if region.reduction is not None:
                rop, rattrs, src = region.reduction
                o = n.outputs[-1]
                src_key = step_key[src]
                val(id(o), shapes.get(id(o)), o._dtype)
                instrs.append(memory.Instr([src_key], [id(o)], out=True, inplace=False,
                                           emit=_red_emitter(rop.name, rattrs, values[src_key][0], nm,
                                                             np.dtype(o._dtype.np)), node=n,
                                           label=rop.name))
            continue
        op = n.op
        if op.name == "matmul" and len(n.outputs) == 1 and not op.kernels.get("CPU"):
            a, b = n.inputs
            ra, rb = len(a._shape._dims or ()), len(b._shape._dims or ())
            if ra >= 2 and rb >= 2:
                o = n.outputs[0]
                val(id(o), shapes.get(id(o)), o._dtype)
                direct = ra == rb == 2 and _may_use_direct_gemm(a, shapes.get(id(a)), shapes.get(id(o)), n.attrs)
                instrs.append(memory.Instr([id(a), id(b)], [id(o)], out=True, inplace=False,
                                           emit=_matmul_emitter(n.attrs, ra, rb, direct), node=n, label="matmul"))
                continue
        red = _reduction_emitter(n, shapes, nm)
        if red is not None:
            o = n.outputs[0]
            val(id(o), shapes.get(id(o)), o._dtype)
            instrs.append(memory.Instr([id(n.inputs[0])], [id(o)], out=True, inplace=False, emit=red, node=n,
                                       label=op.name))
            continue
        if op.name in OUT_OPS and not op.kernels.get("CPU") and n.outputs:
            dims = [shapes.get(id(o)) for o in n.outputs]
            if all(d is not None and None not in d for d in dims):
                for o, d in zip(n.outputs, dims):
                    val(id(o), d, o._dtype)
                instrs.append(memory.Instr([id(t) for t in n.inputs], [id(o) for o in n.outputs], out=True,
                                           inplace=False, emit=_out_kwarg_emitter(op, n.attrs, nm), node=n,
                                           label=op.name))
                continue
        for o in n.outputs:
            val(id(o), shapes.get(id(o)), o._dtype)
        instrs.append(memory.Instr([id(t) for t in n.inputs], [id(o) for o in n.outputs], out=False,
                                   fresh=_is_fresh(op), emit=_generic_emitter(op, n.attrs, len(n.outputs), nm),
                                   node=n, label=op.name))
    live_out = [id(t) for t in g.outputs] + [id(t) for _, t in g.state.values()]
    mp = memory.plan(instrs, values, live_out)
    # ---- code generation ---------------------------------------------------------
    buffers = [_page_aligned(sz) if sz >= _ALIGN_MIN_BYTES else np.empty(max(sz, 1), np.uint8) for sz in mp.buffers]
    lines = []
    line_nodes = []

    def add(code, node=None):
        lines.append("    " + code)
        line_nodes.append(node)

    for p in prologue:
        add(p)
    counter = [0]

    def fresh_name():
        counter[0] += 1
        return "t%d" % counter[0]

    def out_name(v, node):
        """The buffer expression of out-capable result v (None: allocated by the call;
        never for the results of `OUT_OPS`, whose shapes are known when they are lowered)."""
        kind = mp.kind[v]
        dims, itemsize = values[v]
        dt = dtypes[v]
        if kind == "planned":
            view = buffers[mp.buffer_of[v]][:_nbytes(dims, itemsize)].view(dt).reshape(dims)
            return nm.bind(view, "P")
        if kind == "escape":
            o = fresh_name()
            ring = nm.bind([], "R")
            add("%s = _take(%s, %s, %s)" % (o, ring, repr(tuple(dims)), nm.bind(dt, "D")), node)
            return o
        return None

    for ins in instrs:
        args = [names[v] for v in ins.ins]
        if ins.out and len(ins.outs) > 1:
            outs = [out_name(v, ins.node) for v in ins.outs]
            if any(o is None for o in outs):
                raise errors.InternalError("%s: a result of a multi-output instruction has no buffer" % ins.label)
            code = ins.emit(args, outs)
            for v, o in zip(ins.outs, outs):
                names[v] = o
        elif ins.out:
            v = ins.outs[0]
            o = out_name(v, ins.node)
            if o is not None:
                code = ins.emit(args, o, False)
            else:
                o = fresh_name()
                code = ins.emit(args, o, True)
            names[v] = o
        else:
            outs = [fresh_name() for _ in ins.outs]
            for v, o in zip(ins.outs, outs):
                names[v] = o
            code = ins.emit(args, outs)
        for c in code:
            add(c, ins.node)
    for v, t in g.state.values():
        add("%s._value = %s" % (nm.bind(v, "V"), names[id(t)]))
    outs = [names[id(t)] for t in g.outputs]
    add("return (%s)" % "".join(o + ", " for o in outs))
    fname = "__gf_%s" % "".join(c if c.isalnum() else "_" for c in name)
    header = "def %s(%s):" % (fname, ", ".join(arg_names))
    source = header + "\n" + "\n".join(lines) + "\n"
    _FILE_COUNTER[0] += 1
    filename = "<gf.function %s #%d>" % (name, _FILE_COUNTER[0])
    code = compile(source, filename, "exec")
    glb = dict(nm.globals)
    exec(code, glb)
    fn = glb[fname]
    n_calls = sum(1 for c in lines if not c.strip().startswith(("return", "w")) and "._value" not in c)
    return CpuPlan(fn, source, mp, [None] + line_nodes, n_calls, filename)


def _cpu():
    from gpuflow import backend
    return backend.cpu


def _nbytes(dims, itemsize):
    n = itemsize
    for d in dims:
        n *= d
    return n


def _kw(attrs, nm):
    if not attrs:
        return ""
    parts = []
    for k, v in attrs.items():
        if k.isidentifier() and not keyword.iskeyword(k):
            parts.append("%s=%s" % (k, nm.bind(v, "K") if not _literal(v) else repr(v)))
        else:
            return ", **%s" % nm.bind(dict(attrs), "K")
    return ", " + ", ".join(parts)


def _literal(v):
    return v is None or isinstance(v, (bool, int, str)) or (
        isinstance(v, tuple) and all(isinstance(x, (bool, int, str)) or x is None for x in v))


def _generic_emitter(op, attrs, n_out, nm):
    from gpuflow import backend
    f = nm.bind(op.impl(backend.cpu), "F")
    kw = _kw(attrs or {}, nm)

    def emit(args, outs):
        call = "%s(_np%s%s)" % (f, "".join(", " + a for a in args), kw)
        if n_out == 0:
            return [call]
        if n_out == 1:
            return ["%s = %s" % (outs[0], call)]
        return ["%s = %s" % (", ".join(outs), call)]
    return emit


def _out_kwarg_emitter(op, attrs, nm):
    """Calls an `OUT_OPS` body with `out=` (the buffers of all its results); the op's
    prepared callable (`Op.prepare`, attributes bound once) where it has one."""
    from gpuflow import backend
    if op.prepare is not None and not op.kernels.get("CPU"):
        f, kw = nm.bind(op.prepare(dict(attrs or {})), "F"), ""
    else:
        f, kw = nm.bind(op.impl(backend.cpu), "F"), _kw(attrs or {}, nm)

    def emit(args, outs):
        return ["%s(_np%s%s, out=(%s))" % (f, "".join(", " + a for a in args), kw, "".join(o + ", " for o in outs))]
    return emit


def _may_use_direct_gemm(a, a_dims, out_dims, attrs):
    """False when the 2-D product can never take gpuflow's direct GEMM loops (see
    `gpuflow.kernels.gemm.use_direct`; decided here from the static shapes, so small
    products skip `_matmul_into`'s run-time checks); True when it may (unknown shapes too)."""
    if a._dtype.name != "float32":
        return False
    if a_dims is None or out_dims is None or None in a_dims or None in out_dims:
        return True
    k = a_dims[0] if attrs.get("transpose_a", False) else a_dims[1]
    return any(_gemm.use_direct(out_dims[0], k, out_dims[1], ta, tb) for ta, tb in ((0, 0), (1, 0), (0, 1)))


def _matmul_emitter(attrs, ra, rb, direct=True):
    ta, tb = attrs.get("transpose_a", False), attrs.get("transpose_b", False)

    def tr(x, r, t):
        if not t:
            return x
        return "%s.T" % x if r == 2 else "_np.swapaxes(%s, -1, -2)" % x

    def emit(args, o, alloc):
        a, b = tr(args[0], ra, ta), tr(args[1], rb, tb)
        if alloc:
            return ["%s = _np.matmul(%s, %s)" % (o, a, b)]
        if direct:
            return ["_matmul_into(%s, %s, %s)" % (a, b, o)]
        return ["_np.matmul(%s, %s, out=%s)" % (a, b, o)]
    return emit


def _reduction_emitter(n, shapes, nm):
    """A NumPy `out=` emitter for a float reduction node with static shapes (reduce_sum,
    reduce_mean, reduce_max, reduce_min; and `sum_to` over leading axes, the bias gradients
    of dense and convolution layers), or None for the op's own body."""
    op = n.op
    if op.name not in _RED_UFUNC and op.name != "sum_to":
        return None
    # float16 stays on the bodies: NumPy's mean of float16 accumulates in float32
    if op.kernels.get("CPU") or len(n.outputs) != 1 or n.inputs[0]._dtype.name not in ("float32", "float64"):
        return None
    in_dims, out_dims = shapes.get(id(n.inputs[0])), shapes.get(id(n.outputs[0]))
    if in_dims is None or out_dims is None or None in in_dims or None in out_dims or 0 in in_dims:
        return None     # (empty inputs: the bodies give TF's identities, e.g. -inf for max)
    dtype = np.dtype(n.outputs[0]._dtype.np)
    if op.name in _RED_UFUNC:
        return _red_emitter(op.name, n.attrs, tuple(in_dims), nm, dtype)
    if op.name == "sum_to":
        lead = len(in_dims) - len(out_dims)
        if lead <= 0 or tuple(in_dims[lead:]) != tuple(out_dims):
            return None     # same shape (an alias) or broadcast axes inside: the body
        return _red_emitter("reduce_sum", {"axis": tuple(range(lead)), "keepdims": False}, tuple(in_dims), nm,
                            dtype)
    return None


def _red_emitter(name, attrs, in_dims, nm, dtype):
    axis = attrs.get("axis")
    kd = bool(attrs.get("keepdims", False))
    uf = _RED_UFUNC[name]
    ax = "None" if axis is None else repr(tuple(axis))

    def emit(args, o, alloc):
        if alloc:
            lines = ["%s = _np.asarray(%s(%s, axis=%s, keepdims=%s))" % (o, uf, args[0], ax, kd)]
        else:
            lines = ["%s(%s, axis=%s, keepdims=%s, out=%s)" % (uf, args[0], ax, kd, o)]
        if name == "reduce_mean":
            if in_dims is not None and None not in in_dims:
                cnt = 1
                for i, d in enumerate(in_dims):
                    if axis is None or i in axis:
                        cnt *= d
                # a bound 0-d count of the result's dtype: NumPy converts a Python int on
                # every call (the same value: the int is a weak scalar)
                lines.append("_np.true_divide(%s, %s, out=%s)" % (o, nm.bind(np.asarray(max(cnt, 1), dtype), "N"), o))
            else:
                lines.append("_np.true_divide(%s, max(%s.size // max(%s.size, 1), 1), out=%s)" % (o, args[0], o, o))
        return lines
    return emit


def translate_error(plan, exc, fname):
    """Maps an exception raised in generated code to the node (and user line) that failed."""
    tb = exc.__traceback__
    node = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == plan.filename:
            ln = tb.tb_lineno - 1
            if 0 <= ln < len(plan.line_nodes):
                node = plan.line_nodes[ln]
        tb = tb.tb_next
    if node is None:
        return None
    where = (" (traced at %s)" % node.location) if node.location else ""
    return errors.InvalidArgumentError("%s failed in gf.function %r%s: %s" % (node.op.name, fname, where, exc),
                                       op=node.op.name)
