"""`gf.function`: trace a Python function into a graph, optimize it, run it compiled.

See docs/function.md for the user's view. In short:

- The first call with a new *signature* traces the function: it runs the Python body
  once with symbolic placeholders for tensor arguments, recording every op into a
  `Graph`. Variables are captured by reference; assignments become state updates that
  are written back after every call. The graph is optimized (`passes.optimize`) and
  compiled into a plan (`executor.Program`).
- The signature (cache key) is the structure of the arguments, the shape, dtype and
  device of each tensor, and the value of every other Python argument.
- Later calls with the same signature run the compiled plan: no Python body, no
  dispatcher, no tape.
"""
import functools
import inspect
import warnings
import weakref

import numpy as np

from gpuflow import errors
from gpuflow import backend as _be
from gpuflow._context import ctx as _ctx
from gpuflow.graph import Graph, tracing
from gpuflow.ops.registry import wrap
from gpuflow.specs import TensorSpec
from gpuflow.tensor import Tensor, Variable
from gpuflow.tensor_shape import TensorShape
from gpuflow.compiler import options as _options
from gpuflow.compiler import passes as _passes
from gpuflow.compiler import ir as _ir
from gpuflow.compiler.executor import Program

__all__ = ["function", "Function", "ConcreteFunction"]

_opts = _options._state


# --------------------------------------------------------------------------------------
# Argument flattening and signatures
# --------------------------------------------------------------------------------------
class _Leaf:
    """A flattened argument: `kind` 'tensor' | 'var' | 'py' | 'spec'."""

    __slots__ = ("kind", "value", "path", "key")

    def __init__(self, kind, value, path, key):
        self.kind = kind
        self.value = value
        self.path = path
        self.key = key


def _py_key(x):
    try:
        hash(x)
    except TypeError:
        return ("id", type(x).__name__, id(x))
    if isinstance(x, float):
        return ("py", "float", repr(x))
    return ("py", type(x).__name__, x)


def _flatten(x, path, leaves):
    """Returns a hashable structure description; appends `_Leaf`s to `leaves`."""
    if isinstance(x, Tensor):
        if isinstance(x, Variable):
            leaves.append(_Leaf("var", x, path, ("var", id(x))))
            return "V"
        if x._value is None:
            leaves.append(_Leaf("symbolic", x, path, None))
            return "T"
        v = x._value
        leaves.append(_Leaf("tensor", x, path, (v.shape, v.dtype.str, x._device)))
        return "T"
    if isinstance(x, np.ndarray):
        leaves.append(_Leaf("array", x, path, (x.shape, x.dtype.str, _placement())))
        return "T"
    if isinstance(x, TensorSpec):
        leaves.append(_Leaf("spec", x, path, (x.shape._dims, np.dtype(x.dtype.np).str, _placement())))
        return "T"
    if isinstance(x, dict):
        try:
            keys = sorted(x)
        except TypeError:
            keys = list(x)
        return ("dict",) + tuple((k, _flatten(x[k], "%s[%r]" % (path, k), leaves)) for k in keys)
    if isinstance(x, (list, tuple)):
        tag = type(x).__name__ if not hasattr(x, "_fields") else "nt:" + type(x).__name__
        return (tag,) + tuple(_flatten(v, "%s[%d]" % (path, i), leaves) for i, v in enumerate(x))
    leaves.append(_Leaf("py", x, path, _py_key(x)))
    return "P"


def _make_seq(proto, items):
    """A list/tuple of `proto`'s type holding `items` (tuple subclasses built either way)."""
    t = type(proto)
    if t in (list, tuple):
        return t(items)
    try:
        return t(items)
    except TypeError:
        try:
            return t(*items)
        except TypeError:
            return tuple(items) if isinstance(proto, tuple) else list(items)


def _placement():
    return _ctx.devices[-1] if _ctx.devices else _be.default_device()


def _rebuild(x, it):
    """`x` with every tensor-like leaf replaced by the next item of `it` (same walk as _flatten)."""
    if isinstance(x, (Tensor, np.ndarray, TensorSpec)):
        return next(it)
    if isinstance(x, dict):
        try:
            keys = sorted(x)
        except TypeError:
            keys = list(x)
        vals = {k: _rebuild(x[k], it) for k in keys}
        return type(x)((k, vals[k]) for k in x) if type(x) is not dict else {k: vals[k] for k in x}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*[_rebuild(v, it) for v in x])
    if isinstance(x, (list, tuple)):
        return _make_seq(x, [_rebuild(v, it) for v in x])
    next(it)
    return x


def _describe_key(leaves):
    out = []
    for lf in leaves:
        if lf.kind in ("tensor", "array", "spec"):
            shp, dt, dev = lf.key
            out.append((lf.path, "tensor", (tuple(shp) if shp is not None else None, dt, dev)))
        elif lf.kind == "var":
            out.append((lf.path, "var", lf.value.name))
        else:
            out.append((lf.path, "py", lf.value))
    return out


def _fmt_shape(s):
    if s is None:
        return "<unknown>"
    return str(TensorShape(s))


def _dt_name(d):
    try:
        return np.dtype(d).name
    except TypeError:
        return str(d)


def _retrace_reason(old, new, old_struct, new_struct):
    """Human text of what changed between two signatures."""
    if old_struct != new_struct or len(old) != len(new) or any(a[0] != b[0] for a, b in zip(old, new)):
        return "the structure of the arguments changed: %s -> %s" % (
            ", ".join(p for p, _, _ in old) or "()", ", ".join(p for p, _, _ in new) or "()")
    parts = []
    for (path, k0, d0), (_, k1, d1) in zip(old, new):
        if k0 != k1:
            parts.append("%s: %s -> %s" % (path, k0 if k0 != "py" else "Python value", k1 if k1 != "py" else
                                           "Python value"))
        elif k0 == "tensor":
            (s0, t0, v0), (s1, t1, v1) = d0, d1
            if s0 != s1:
                parts.append("%s: shape %s -> %s" % (path, _fmt_shape(s0), _fmt_shape(s1)))
            if t0 != t1:
                parts.append("%s: dtype %s -> %s" % (path, _dt_name(t0), _dt_name(t1)))
            if v0 is not v1 and v0 is not None and v1 is not None:
                parts.append("%s: device %s -> %s" % (path, v0.short_name, v1.short_name))
        elif k0 == "var":
            if d0 != d1:
                parts.append("%s: another Variable (%s -> %s)" % (path, d0, d1))
        else:
            try:
                same = type(d0) is type(d1) and (d0 == d1 or (d0 != d0 and d1 != d1))
                same = bool(same)
            except Exception:
                same = d0 is d1
            if not same:
                parts.append("%s: Python value %s -> %s (every new Python value traces a new graph; pass a "
                             "tensor to avoid it)" % (path, _short(d0), _short(d1)))
    return "; ".join(parts) or "new signature"


def _short(v):
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


# --------------------------------------------------------------------------------------
# ConcreteFunction
# --------------------------------------------------------------------------------------
class ConcreteFunction:
    """One traced and compiled graph of a `gf.function` for one input signature.

    Attributes:
      graph: the traced `Graph` (before optimization).
      optimized_graph: the graph the executor runs.
      pass_stats: [(pass name, node count after it)].
      structured_input_signature: the arguments with `TensorSpec`s for tensors.
      structured_outputs: the returned structure with symbolic tensors.
      inputs / outputs: the graph's argument placeholders and output tensors.
    """

    def __init__(self, parent_name, graph, structure, out_struct, out_leaves, device, arg_leaves, arg_struct,
                 args_template, cuda_graph=False):
        self.name = parent_name
        self.graph = graph
        self.device = device
        self.optimized_graph, self.pass_stats = _passes.optimize(graph)
        self.program = Program(self.optimized_graph, device, parent_name, cuda_graph=cuda_graph)
        self.structured_outputs = structure
        self._out_struct = out_struct      # the Python structure with leaf markers
        self._out_leaves = out_leaves      # [('out', k) | ('static', value)]
        self._arg_leaves = arg_leaves
        self._arg_struct = arg_struct
        self._args_template = args_template
        self._single = (len(out_leaves) == 1 and out_leaves[0][0] == "out" and not isinstance(out_struct, (list, tuple,
                                                                                                         dict)))
        self._has_stateful = any(n.op.stateful for n in graph.nodes)
        self._taped_call = False

    @property
    def taped_call(self):
        """The `taped_call.FunctionCall` of this graph (built on first use) when it is pure,
        else None: what a call under a recording GradientTape runs."""
        if self._taped_call is False:
            from gpuflow.compiler import taped_call
            pure = taped_call.is_pure(self.graph) and len(self.graph.outputs) > 0
            self._taped_call = taped_call.FunctionCall(self.graph, self.device, self.name) if pure else None
        return self._taped_call

    # ---- properties ------------------------------------------------------------------
    @property
    def inputs(self):
        return [t for t, k in zip(self.graph.inputs, self.graph.input_kinds) if k == "arg"]

    @property
    def outputs(self):
        return list(self.graph.outputs)

    @property
    def variables(self):
        return [s for s, k in zip(self.graph.input_sources, self.graph.input_kinds) if k == "var"]

    @property
    def structured_input_signature(self):
        specs = [TensorSpec(t.shape, t.dtype, getattr(t, "_name", None)) for t in self.inputs]

        def stream():
            k = 0
            for lf in self._arg_leaves:
                if lf.kind in ("tensor", "array", "spec", "sig"):
                    yield specs[k]
                    k += 1
                else:
                    yield None
        a, kw = self._args_template
        return tuple(_rebuild((list(a), kw), stream()))

    # ---- calling -------------------------------------------------------------------
    def _pack(self, outs):
        dev = self.device
        if self._single:
            return wrap(outs[0], dev)
        vals = []
        for kind, v in self._out_leaves:
            vals.append(wrap(outs[v], dev) if kind == "out" else v)
        return _pack_struct(self._out_struct, iter(vals))

    def _pack_tensors(self, tensors):
        """The Python function's return structure around output tensors."""
        if self._single:
            return tensors[0]
        vals = [tensors[v] if kind == "out" else v for kind, v in self._out_leaves]
        return _pack_struct(self._out_struct, iter(vals))

    def _call_arrays(self, arrays):
        return self._pack(self.program.run(arrays))

    def __call__(self, *args, **kwargs):
        leaves = []
        _flatten((list(args), kwargs), "", leaves)
        arrays = _leaf_arrays(leaves, self.device)
        return self._call_arrays(arrays)

    # ---- inspection ------------------------------------------------------------------
    def explain(self, arg_shapes=None):
        """Text: pass statistics, the optimized graph, fused kernels with their generated
        source (NumPy on CPU, CUDA C), the memory plan and the executor's program."""
        from gpuflow.compiler import explain as _explain
        return _explain.explain(self, arg_shapes)

    def __repr__(self):
        return "<ConcreteFunction %s(%s)>" % (self.name, ", ".join(
            "%s: %s" % (getattr(t, "_name", "?"), _ir.spec_str(t)) for t in self.inputs))


def _leaf_tensors(leaves):
    """The tensors behind the graph's 'arg' inputs (the leaves `_leaf_arrays` reads)."""
    from gpuflow.ops.array_ops import convert_to_tensor
    out = []
    for lf in leaves:
        if lf.kind == "tensor":
            out.append(lf.value)
        elif lf.kind in ("array", "sig"):
            out.append(lf.value if isinstance(lf.value, Tensor) else convert_to_tensor(lf.value))
    return out


def _leaf_arrays(leaves, dev):
    from gpuflow.ops.array_ops import convert_to_tensor
    arrays = []
    for lf in leaves:
        if lf.kind == "tensor":
            t = lf.value
            arrays.append(t._value if (dev is None or t._device is dev) else _be.to_device(t._value, dev))
        elif lf.kind == "array":
            arrays.append(lf.value if dev is None or not dev.is_gpu else _be.to_device(lf.value, dev))
        elif lf.kind == "sig":
            t = lf.value
            if not isinstance(t, Tensor):
                t = convert_to_tensor(t)
            arrays.append(t._value if (dev is None or t._device is dev) else _be.to_device(t._value, dev))
    return arrays


def _pack_struct(s, it):
    if isinstance(s, _OutMarker):
        return next(it)
    if isinstance(s, dict):
        vals = {k: _pack_struct(v, it) for k, v in _sorted_items(s)}
        return type(s)((k, vals[k]) for k in s) if type(s) is not dict else {k: vals[k] for k in s}
    if isinstance(s, tuple) and hasattr(s, "_fields"):
        return type(s)(*[_pack_struct(v, it) for v in s])
    if isinstance(s, (list, tuple)):
        return _make_seq(s, [_pack_struct(v, it) for v in s])
    return s


def _sorted_items(d):
    try:
        keys = sorted(d)
    except TypeError:
        keys = list(d)
    return [(k, d[k]) for k in keys]


class _OutMarker:
    __slots__ = ()


_MARK = _OutMarker()


# --------------------------------------------------------------------------------------
# Function
# --------------------------------------------------------------------------------------
class Function:
    """A compiled callable made by `gf.function` (see `function`)."""

    def __init__(self, python_function, input_signature=None, reduce_retracing=False, jit_compile=None,
                 name=None, experimental_cuda_graph=False):
        self._python_function = python_function
        self._input_signature = None if input_signature is None else list(input_signature)
        self._reduce_retracing = bool(reduce_retracing)
        self._jit_compile = jit_compile
        self._cuda_graph = bool(experimental_cuda_graph)
        self.__name__ = name or getattr(python_function, "__name__", "function")
        self._name = self.__name__
        functools.update_wrapper(self, python_function, updated=())
        self._cache = {}
        self._fast = {}
        self._relaxed = []
        self._trace_count = 0
        self._last_desc = None
        self._last_struct = None
        self._reasons = []
        self._warned = False
        self._instances = None
        try:
            self._param_names = list(inspect.signature(python_function).parameters)
        except (TypeError, ValueError):
            self._param_names = []
        if self._input_signature is not None:
            for s in _flat_specs(self._input_signature):
                if not isinstance(s, TensorSpec):
                    raise TypeError("input_signature must be a list of gf.TensorSpec (possibly nested), got %r" % (s,))

    # ---- descriptor: one Function (one cache) per instance ---------------------------
    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        if self._instances is None:
            self._instances = weakref.WeakKeyDictionary()
            self._instances_by_id = {}
        try:
            bound = self._instances.get(instance)
        except TypeError:
            bound = self._instances_by_id.get(id(instance))
        if bound is None:
            bound = Function(self._python_function.__get__(instance, owner), self._input_signature,
                             self._reduce_retracing, self._jit_compile, self.__name__, self._cuda_graph)
            try:
                self._instances[instance] = bound
            except TypeError:
                self._instances_by_id[id(instance)] = bound
        return bound

    @property
    def python_function(self):
        return self._python_function

    @property
    def input_signature(self):
        return self._input_signature

    def experimental_get_tracing_count(self):
        """How many times the Python function was traced."""
        return self._trace_count

    def experimental_get_retrace_reasons(self):
        """Why each retrace after the first trace happened (text, oldest first)."""
        return list(self._reasons)

    # ---- calling ------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if _opts["eager"] or _ctx.graph is not None:
            return self._python_function(*args, **kwargs)
        if not kwargs and self._input_signature is None:
            key = []
            for a in args:
                if a.__class__ is Tensor:
                    v = a._value
                    key.append((v.shape, v.dtype, a._device))
                else:
                    key = None
                    break
            if key is not None:
                cf = self._fast.get(tuple(key))
                if cf is not None and not _ctx.tapes:
                    dev = cf.device
                    return cf._pack(cf.program.run([a._value if a._device is dev else _be.to_device(a._value, dev)
                                                    for a in args]))
        return self._call_slow(args, kwargs)

    def _call_slow(self, args, kwargs):
        cf, leaves, fast_key = self._lookup(args, kwargs, create=True)
        if cf is None:  # symbolic arguments (e.g. a Keras functional build): inline
            return self._python_function(*args, **kwargs)
        if _ctx.tapes and any(t._recording for t in _ctx.tapes):
            # An outer tape must see the call: a pure graph runs compiled as one recorded
            # op with a compiled gradient (taped_call); others run the Python body eagerly.
            if cf.taped_call is None:
                return self._python_function(*args, **kwargs)
            return cf._pack_tensors(cf.taped_call.call(_leaf_tensors(leaves)))
        if fast_key is not None:
            self._fast[fast_key] = cf
        return cf._call_arrays(_leaf_arrays(leaves, cf.device))

    def _lookup(self, args, kwargs, create):
        leaves = []
        if self._input_signature is not None:
            leaves = self._signature_leaves(args, kwargs)
            struct = "signature"
            key = ("signature",)
        else:
            struct = _flatten((list(args), kwargs), "", leaves)
            if any(lf.kind == "symbolic" for lf in leaves):
                return None, leaves, None
            for lf in leaves:
                lf.path = _pretty_path(lf.path, self._param_names)
            key = (struct, tuple(lf.key for lf in leaves))
        cf = self._cache.get(key)
        fast_key = None
        if not kwargs and self._input_signature is None and all(
                isinstance(a, Tensor) and a.__class__ is Tensor for a in args):
            fast_key = tuple((a._value.shape, a._value.dtype, a._device) for a in args)
        if cf is not None:
            return cf, leaves, fast_key
        if self._reduce_retracing and self._input_signature is None:
            for rkey, rcf in self._relaxed:
                if _compatible(rkey, key):
                    self._cache[key] = rcf
                    return rcf, leaves, fast_key
        if not create:
            return None, leaves, None
        desc = _describe_key(leaves)
        reason = None
        relaxed_shapes = None
        if self._last_desc is not None:
            reason = _retrace_reason(self._last_desc, desc, self._last_struct, struct)
            if self._reduce_retracing and self._input_signature is None and self._last_key is not None:
                relaxed_shapes = _relax(self._last_key, key)
        cf = self._trace(args, kwargs, leaves, relaxed_shapes)
        self._trace_count += 1
        if reason is not None:
            self._reasons.append(reason)
            limit = _opts["retrace_warning"]
            if self._trace_count > limit:
                warnings.warn(
                    "gf.function %r was traced %d times (more than %d). The last retrace happened because %s. "
                    "Each new shape, dtype or Python value traces a new graph: use input_signature with None "
                    "dimensions, reduce_retracing=True, or pass tensors instead of Python values."
                    % (self.__name__, self._trace_count, limit, reason), RuntimeWarning, stacklevel=4)
        self._last_desc = desc
        self._last_struct = struct
        self._last_key = key
        if relaxed_shapes is not None:
            rkey = (key[0], tuple(((relaxed_shapes[i],) + tuple(k[1:])) if relaxed_shapes[i] is not None else k
                                  for i, k in enumerate(key[1])))
            self._relaxed.append((rkey, cf))
        self._cache[key] = cf
        return cf, leaves, fast_key

    _last_key = None

    def _signature_leaves(self, args, kwargs):
        specs = self._input_signature
        if kwargs:
            names = self._param_names
            args = list(args)
            for nme in names[len(args):len(specs)]:
                if nme in kwargs:
                    args.append(kwargs.pop(nme))
            if kwargs:
                raise TypeError("%s(): unexpected keyword arguments %s with an input_signature"
                                % (self.__name__, sorted(kwargs)))
        if len(args) != len(specs):
            raise TypeError("%s() takes %d positional arguments per its input_signature, got %d"
                            % (self.__name__, len(specs), len(args)))
        leaves = []
        from gpuflow.ops.array_ops import convert_to_tensor
        for i, (a, s) in enumerate(zip(args, specs)):
            name = self._param_names[i] if i < len(self._param_names) else "args[%d]" % i
            flat_s = _flat_specs(s)
            flat_a = _flat_values(a)
            if len(flat_s) != len(flat_a):
                raise ValueError("%s: argument %r does not match its input_signature %r" % (self.__name__, name, s))
            for j, (x, sp) in enumerate(zip(flat_a, flat_s)):
                path = name if len(flat_s) == 1 else "%s[%d]" % (name, j)
                if isinstance(x, TensorSpec):
                    t = x
                else:
                    t = x if isinstance(x, Tensor) else convert_to_tensor(x, dtype=sp.dtype)
                if t.dtype != sp.dtype or not sp.shape.is_compatible_with(t.shape):
                    raise ValueError(
                        "%s: argument %s (%s%s) is not compatible with the input_signature %r"
                        % (self.__name__, path, t.dtype.name, t.shape, sp))
                leaves.append(_Leaf("sig", t, path, (sp.shape._dims, sp.dtype.name, None)))
        return leaves

    # ---- tracing -----------------------------------------------------------------------
    def _trace(self, args, kwargs, leaves, relaxed_shapes=None):
        dev = None
        for lf in leaves:
            if lf.kind in ("tensor", "sig") and isinstance(lf.value, Tensor) and lf.value._value is not None:
                dev = lf.value._device
                break
        if dev is None:
            dev = _ctx.devices[-1] if _ctx.devices else _be.default_device()
        g = Graph(is_trace=True, device=dev, name=self.__name__)
        g.arg_names = {}
        placeholders = []
        ai = 0
        for i, lf in enumerate(leaves):
            if lf.kind not in ("tensor", "array", "spec", "sig"):
                continue
            if lf.kind == "sig":
                shape, dtype = lf.key[0], lf.value.dtype
            elif lf.kind == "spec":
                shape, dtype = lf.value.shape._dims, lf.value.dtype
            elif lf.kind == "array":
                from gpuflow.dtypes import _BY_NP
                shape, dtype = lf.value.shape, _BY_NP[lf.value.dtype]
            else:
                shape, dtype = lf.value._value.shape, lf.value.dtype
            if relaxed_shapes is not None and relaxed_shapes[i] is not None:
                shape = relaxed_shapes[i]
            path = lf.path or "arg%d" % ai
            ph = g.add_input(shape, dtype, "arg", ai, name=path)
            g.arg_names[ai] = path
            placeholders.append(ph)
            ai += 1
        if self._input_signature is not None:
            sym_args = _rebuild_signature(self._input_signature, iter(placeholders))
            sym_kwargs = {}
            template = (list(self._input_signature), {})
        else:
            it = iter(_placeholder_stream(leaves, placeholders))
            sym = _rebuild((list(args), kwargs), it)
            sym_args, sym_kwargs = sym
            template = (list(args), dict(kwargs))
        saved = _ctx.tapes
        _ctx.tapes = []
        try:
            with tracing(g):
                result = self._python_function(*sym_args, **sym_kwargs)
                out_struct, out_leaves, outputs = _collect_outputs(g, result, self.__name__)
        finally:
            _ctx.tapes = saved
        g.outputs = outputs
        cf = ConcreteFunction(self.__name__, g, result, out_struct, out_leaves, dev, leaves, None, template,
                              cuda_graph=self._cuda_graph)
        return cf

    # ---- public helpers ---------------------------------------------------------------
    def get_concrete_function(self, *args, **kwargs):
        """The `ConcreteFunction` for these arguments (tensors or `gf.TensorSpec`s), tracing if needed.

        With an `input_signature`, call it without arguments."""
        if not args and not kwargs and self._input_signature is not None:
            args = tuple(self._input_signature)
        cf, leaves, _ = self._lookup(args, kwargs, create=True)
        if cf is None:
            raise ValueError("get_concrete_function() needs eager tensors or gf.TensorSpec arguments, "
                             "not symbolic tensors")
        return cf

    def explain(self, *args, **kwargs):
        """Text of what the compiler does with a call on these arguments: the node count
        after each pass, the optimized graph, each fused kernel with its generated source
        (NumPy calls on the CPU, CUDA C for the GPU), the planned peak memory and the
        executor's program."""
        cf = self.get_concrete_function(*args, **kwargs)
        shapes = None
        leaves = []
        if self._input_signature is None:
            _flatten((list(args), kwargs), "", leaves)
            shapes = [lf.value.shape if lf.kind != "tensor" else lf.value._value.shape
                      for lf in leaves if lf.kind in ("tensor", "array")]
            if any(lf.kind == "spec" for lf in leaves):
                shapes = None
        elif args:
            shp = []
            for a in _flat_values(list(args)):
                if isinstance(a, TensorSpec):
                    shp = None
                    break
                shp.append(tuple(a.shape))
            shapes = shp
        return cf.explain(shapes)

    def __repr__(self):
        return "<gf.function %s>" % self.__name__


def _compatible(rkey, key):
    if rkey[0] != key[0] or len(rkey[1]) != len(key[1]):
        return False
    for a, b in zip(rkey[1], key[1]):
        if a == b:
            continue
        if not (isinstance(a, tuple) and isinstance(b, tuple) and len(a) == 3 and len(b) == 3):
            return False
        if a[1:] != b[1:]:
            return False
        sa, sb = a[0], b[0]
        if sa is None:
            continue
        if sb is None or len(sa) != len(sb) or any(x is not None and x != y for x, y in zip(sa, sb)):
            return False
    return True


def _relax(old_key, new_key):
    """Per leaf: relaxed dims (None where the shapes differ) or None when not relaxable."""
    if old_key is None or old_key[0] != new_key[0] or len(old_key[1]) != len(new_key[1]):
        return None
    out = []
    any_relaxed = False
    for a, b in zip(old_key[1], new_key[1]):
        if (isinstance(a, tuple) and isinstance(b, tuple) and len(a) == 3 and len(b) == 3 and a[1:] == b[1:]
                and a[0] is not None and b[0] is not None and len(a[0]) == len(b[0]) and a[0] != b[0]):
            out.append(tuple(x if x == y else None for x, y in zip(a[0], b[0])))
            any_relaxed = True
        elif a == b:
            out.append(None)
        else:
            return None
    return out if any_relaxed else None


def _placeholder_stream(leaves, placeholders):
    it = iter(placeholders)
    for lf in leaves:
        if lf.kind in ("tensor", "array", "spec"):
            yield next(it)
        else:
            yield lf.value


def _rebuild_signature(sig, it):
    def walk(s):
        if isinstance(s, TensorSpec):
            return next(it)
        if isinstance(s, dict):
            return {k: walk(v) for k, v in s.items()}
        if isinstance(s, (list, tuple)):
            return type(s)(walk(v) for v in s)
        return s
    return [walk(s) for s in sig]


def _flat_specs(s):
    if isinstance(s, TensorSpec):
        return [s]
    if isinstance(s, dict):
        return [x for k in sorted(s) for x in _flat_specs(s[k])]
    if isinstance(s, (list, tuple)):
        return [x for v in s for x in _flat_specs(v)]
    return [s]


def _flat_values(a):
    if isinstance(a, dict):
        return [x for k in sorted(a) for x in _flat_values(a[k])]
    if isinstance(a, (list, tuple)):
        return [x for v in a for x in _flat_values(v)]
    return [a]


def _pretty_path(p, names):
    if p.startswith("[0]["):
        rest = p[4:]
        j = rest.index("]")
        i = int(rest[:j])
        base = names[i] if i < len(names) else "args[%d]" % i
        return base + rest[j + 1:]
    if p.startswith("[1]["):
        rest = p[4:]
        j = rest.index("]")
        import ast
        try:
            return str(ast.literal_eval(rest[:j])) + rest[j + 1:]
        except (ValueError, SyntaxError):
            return rest[:j] + rest[j + 1:]
    return p


def _collect_outputs(g, result, fname):
    """Maps the Python result to graph outputs; returns (structure, leaves, outputs)."""
    outputs = []
    leaves = []

    def walk(x):
        if isinstance(x, Tensor):
            if isinstance(x, Variable):
                t = g.capture_variable(x)
            elif x._value is None:
                if x._graph is not g:
                    raise errors.InvalidArgumentError(
                        "gf.function %r returned a symbolic tensor from another graph (%r)" % (fname, x._graph))
                t = x
            else:
                leaves.append(("static", x))
                return _MARK
            leaves.append(("out", len(outputs)))
            outputs.append(t)
            return _MARK
        if isinstance(x, dict):
            vals = {k: walk(v) for k, v in _sorted_items(x)}
            return type(x)((k, vals[k]) for k in x) if type(x) is not dict else {k: vals[k] for k in x}
        if isinstance(x, tuple) and hasattr(x, "_fields"):
            return type(x)(*[walk(v) for v in x])
        if isinstance(x, (list, tuple)):
            return _make_seq(x, [walk(v) for v in x])
        leaves.append(("static", x))
        return _MARK
    struct = walk(result)
    return struct, leaves, outputs


def function(func=None, input_signature=None, reduce_retracing=False, jit_compile=None,
             experimental_cuda_graph=False, name=None, autograph=True, experimental_relax_shapes=None, **kwargs):
    """Compiles a Python function into a graph, as `tf.function`.

    Use as `@gf.function` or `@gf.function(input_signature=[...])`; on methods each
    instance gets its own cache.

    Args:
      func: the Python function.
      input_signature: a list of (nests of) `gf.TensorSpec`; `None` dimensions make one
        graph serve every size (no retrace per batch size).
      reduce_retracing: on a retrace caused by new shapes, trace a graph with the
        differing dimensions unknown, which then serves those shapes too.
      jit_compile: accepted for TensorFlow compatibility; gpuflow always runs its own
        passes and fusion (there is no separate XLA step).
      experimental_cuda_graph: on a GPU, capture the whole call once as a CUDA graph and
        replay it (see docs/function.md for the output aliasing rules).

    Returns:
      A `Function`. Calling it returns what the Python function returns (tensors,
      tuples, lists, dicts, None and Python values).
    """
    if experimental_relax_shapes is not None:
        reduce_retracing = reduce_retracing or bool(experimental_relax_shapes)

    def deco(f):
        if isinstance(f, Function):
            return f
        return Function(f, input_signature, reduce_retracing, jit_compile, name, experimental_cuda_graph)
    if func is not None:
        return deco(func)
    return deco
