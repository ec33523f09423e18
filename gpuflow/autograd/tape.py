"""`GradientTape`: records op calls on watched tensors and runs them backwards.

Gradient rules are gpuflow ops, so the backward pass is itself recorded by any outer
tape (second and higher derivatives) and traced by `gf.function` (one graph holds the
forward and backward passes). A tape does not record its own backward pass.
"""
import warnings
from operator import itemgetter as _itemgetter

from gpuflow import nest
from gpuflow._context import ctx as _ctx
from gpuflow.tensor import Tensor, Variable

__all__ = ["GradientTape", "UnconnectedGradients", "stop_recording_all"]


class UnconnectedGradients:
    """What `gradient` returns for a source the target does not depend on."""
    NONE = "none"
    ZERO = "zero"


class _Call(tuple):
    """One recorded op call, as handed to gradient rules: `op`, `inputs`, `outputs`,
    `attrs` and `out` (the first output). A tuple, so that recording one on the eager
    hot path is a single C-level allocation."""

    __slots__ = ()

    def __new__(cls, op, inputs, outputs, attrs):
        return tuple.__new__(cls, (op, inputs, outputs, attrs))

    op = property(_itemgetter(0))
    inputs = property(_itemgetter(1))
    outputs = property(_itemgetter(2))
    attrs = property(_itemgetter(3))

    @property
    def out(self):
        return self[2][0]

    def needs(self, i):
        """Whether input `i`'s gradient can reach a source of the running backward pass.

        An input the tape never watched (data fed to the model, say) is neither a source
        nor the output of a recorded op, so its gradient would be thrown away: rules use
        this to skip that work (e.g. matmul's gradient w.r.t. the input batch).
        """
        s = _ctx.needed
        return not s or _key(self[1][i]) in s[-1]


_new_call = tuple.__new__


def _key(t):
    v = t._vref
    return id(t) if v is None else id(v)


def _snapshot(v):
    """An immutable Tensor holding a Variable's current value, keyed to the Variable."""
    t = Tensor.__new__(Tensor)
    t._value = v._value
    t._device = v._device
    t._vref = v
    return t


class GradientTape:
    """Records operations for automatic differentiation, as `tf.GradientTape`.

    Args:
      persistent: allow several `gradient()`/`jacobian()` calls on this tape.
      watch_accessed_variables: watch every trainable Variable read while recording.

    Example:
      with gf.GradientTape() as tape:
          tape.watch(x)
          y = x * x
      dy_dx = tape.gradient(y, x)
    """

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self._persistent = bool(persistent)
        self._watch_vars = bool(watch_accessed_variables)
        self._watched = {}
        self._entries = []
        self._recording = False
        self._in_stack = False
        self._used = False

    # ---- context ------------------------------------------------------------------
    def __enter__(self):
        if self._in_stack:
            raise RuntimeError("This GradientTape is already recording (entered twice).")
        _ctx.tapes.append(self)
        self._in_stack = True
        self._recording = True
        return self

    def __exit__(self, *exc):
        tapes = _ctx.tapes
        for i in range(len(tapes) - 1, -1, -1):
            if tapes[i] is self:
                del tapes[i]
                break
        self._in_stack = False
        self._recording = False
        return False

    class _Pause:
        def __init__(self, tape):
            self.tape = tape

        def __enter__(self):
            self.prev = self.tape._recording
            self.tape._recording = False

        def __exit__(self, *exc):
            self.tape._recording = self.prev
            return False

    def stop_recording(self):
        """Context manager: ops run inside it are not recorded on this tape."""
        if not self._in_stack:
            raise RuntimeError("GradientTape.stop_recording() is only valid inside the tape's `with` block.")
        return GradientTape._Pause(self)

    def reset(self):
        """Forgets everything recorded and watched so far."""
        self._entries = []
        self._watched = {}

    # ---- watching -----------------------------------------------------------------
    def watch(self, tensor):
        """Makes the tape track `tensor` (a tensor, Variable, or a nest of them)."""
        for t in nest.flatten(tensor):
            if not isinstance(t, Tensor):
                raise ValueError("GradientTape.watch() takes tensors or variables, got %r" % (t,))
            if not (t.dtype.is_floating or t.dtype.is_complex):
                warnings.warn("GradientTape.watch() on a %s tensor: gradients only flow to floating "
                              "point tensors, so its gradient will be None." % t.dtype.name, stacklevel=2)
            self._watched[_key(t)] = t

    def watched_variables(self):
        """The Variables watched so far, in the order they were first watched."""
        out, seen = [], set()
        for t in self._watched.values():
            v = t if isinstance(t, Variable) else t._vref
            if v is not None and id(v) not in seen:
                seen.add(id(v))
                out.append(v)
        return out

    def _maybe_record(self, op, inputs, outputs, attrs):
        watched = self._watched
        hit = False
        has_var = False
        for t in inputs:
            v = t._vref
            if v is None:
                if t.__class__ is Tensor or not isinstance(t, Variable):
                    if not hit and id(t) in watched:     # the common case: a plain tensor
                        hit = True
                    continue
                v = t
                has_var = True
            k = id(v)
            if k not in watched and self._watch_vars and v._trainable:
                watched[k] = v
            if k in watched:
                hit = True
        if not hit:
            return
        if has_var:
            inputs = [_snapshot(t) if isinstance(t, Variable) else t for t in inputs]
        self._entries.append(_new_call(_Call, (op, inputs, outputs, attrs)))
        for o in outputs:
            watched[id(o)] = o

    # ---- differentiation ----------------------------------------------------------
    def _check_usable(self, what):
        if self._entries is None:
            raise RuntimeError(
                "A non-persistent GradientTape can only be used to compute one set of gradients "
                "(or jacobians); %s was called again. Create the tape with "
                "gf.GradientTape(persistent=True) to call it several times." % what)

    def _backward(self, targets, target_grads):
        """Reverse sweep: returns {key: gradient tensor} for everything reached."""
        from gpuflow.ops import math_ops
        _ctx.needed.append(self._watched)
        try:
            return self._sweep(targets, target_grads, math_ops)
        finally:
            _ctx.needed.pop()

    def _sweep(self, targets, target_grads, math_ops):
        grads = {}
        for t, g in zip(targets, target_grads):
            k = _key(t)
            grads[k] = g if k not in grads else math_ops.add(grads[k], g)
        for call in reversed(self._entries):
            ogs = [grads.get(id(o)) for o in call.outputs]
            if all(g is None for g in ogs):
                continue
            fn = call.op.grad_fn
            if fn is None:
                raise LookupError("No gradient defined for operation '%s' (inputs %s). "
                                  "Wrap it in gf.stop_gradient if no gradient is needed."
                                  % (call.op.name, ", ".join("%s%s" % (i.dtype.name, i.shape) for i in call.inputs)))
            igs = fn(call, *ogs)
            for inp, ig in zip(call.inputs, igs):
                if ig is None:
                    continue
                dt = inp.dtype
                if not (dt.is_floating or dt.is_complex):
                    continue
                k = _key(inp)
                prev = grads.get(k)
                grads[k] = ig if prev is None else math_ops.add(prev, ig)
        return grads

    def gradient(self, target, sources, output_gradients=None,
                 unconnected_gradients=UnconnectedGradients.NONE):
        """Computes the gradient of `target` with respect to `sources`.

        Args:
          target: a tensor or a nest of tensors (their gradients are summed).
          sources: a tensor, Variable, or a list/tuple/dict nest of them.
          output_gradients: optional upstream gradients, one per target tensor.
          unconnected_gradients: 'none' (default) gives None for sources the target does
            not depend on; 'zero' gives zeros.

        Returns:
          Gradients with the structure of `sources`.

        Raises:
          RuntimeError: a non-persistent tape is used a second time.
          ValueError: the target is not floating point.
        """
        self._check_usable("gradient()")
        from gpuflow.ops import array_ops
        targets = nest.flatten(target)
        for t in targets:
            if not isinstance(t, Tensor):
                raise ValueError("GradientTape.gradient(): target must be a tensor, got %r" % (t,))
            if not (t.dtype.is_floating or t.dtype.is_complex):
                raise ValueError(
                    "GradientTape.gradient(): the target has dtype %s, but gradients are only defined for "
                    "floating point targets (an integer or boolean result is piecewise constant). Cast "
                    "the computation to float32 before the op that produces the target." % t.dtype.name)
        flat_src = nest.flatten(sources)
        for s in flat_src:
            if not isinstance(s, Tensor):
                raise ValueError("GradientTape.gradient(): sources must be tensors or Variables, got %r" % (s,))
        if output_gradients is None:
            ogs = [None] * len(targets)
        else:
            ogs = nest.flatten(output_gradients)
            if len(ogs) != len(targets):
                raise ValueError("output_gradients has %d tensors but target has %d" % (len(ogs), len(targets)))
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError("unconnected_gradients must be 'none' or 'zero', got %r" % (unconnected_gradients,))
        was = self._recording
        self._recording = False
        try:
            seeds = [array_ops.ones_like(t) if g is None else array_ops.convert_to_tensor(g, dtype=t.dtype)
                     for t, g in zip(targets, ogs)]
            grads = self._backward(targets, seeds)
            out = []
            watched = self._watched
            for s in flat_src:
                k = _key(s)
                # As in TF, a source the tape never watched (e.g. a non-trainable
                # Variable read next to a trainable one) gets no gradient.
                g = grads.get(k) if k in watched else None
                if g is None and unconnected_gradients == "zero":
                    g = array_ops.zeros_like(s)
                out.append(g)
        finally:
            self._recording = was
        if not self._persistent:
            self._entries = None
            # Keep only the watched variables (for watched_variables()), not tensors.
            self._watched = {k: t for k, t in self._watched.items()
                             if isinstance(t, Variable) or t._vref is not None}
        return nest.pack_sequence_as(sources, out)

    def jacobian(self, target, sources, unconnected_gradients=UnconnectedGradients.NONE,
                 parallel_iterations=None, experimental_use_pfor=True):
        """The Jacobian of `target` w.r.t. each source: shape `target.shape + source.shape`."""
        self._check_usable("jacobian()")
        from gpuflow.ops import array_ops
        flat_src = nest.flatten(sources)
        n = target.shape.num_elements()
        if n is None:
            raise ValueError("jacobian() needs a target with a known shape, got %s" % (target.shape,))
        was = self._recording
        self._recording = False
        try:
            rows = [[] for _ in flat_src]
            for i in range(n):
                seed = array_ops.reshape(array_ops.one_hot(i, n, dtype=target.dtype), target.shape.as_list())
                grads = self._backward([target], [seed])
                for j, s in enumerate(flat_src):
                    g = grads.get(_key(s))
                    if g is None:
                        g = array_ops.zeros_like(s) if (unconnected_gradients == "zero" or n == 0) else None
                    rows[j].append(g)
            out = []
            for j, s in enumerate(flat_src):
                if n and any(g is None for g in rows[j]):
                    out.append(None)
                    continue
                stacked = array_ops.stack(rows[j], axis=0) if n else array_ops.zeros([0] + s.shape.as_list(), s.dtype)
                out.append(array_ops.reshape(stacked, target.shape.as_list() + s.shape.as_list()))
        finally:
            self._recording = was
        if not self._persistent:
            self._entries = None
        return nest.pack_sequence_as(sources, out)

    def batch_jacobian(self, target, source, unconnected_gradients=UnconnectedGradients.NONE,
                       parallel_iterations=None, experimental_use_pfor=True):
        """Per-example Jacobians: target (B, ...) and source (B, ...) give (B, t..., s...)."""
        self._check_usable("batch_jacobian()")
        from gpuflow.ops import array_ops
        tshape = target.shape.as_list()
        b = tshape[0]
        inner = tshape[1:]
        m = 1
        for d in inner:
            m *= d
        was = self._recording
        self._recording = False
        try:
            cols = []
            for j in range(m):
                onehot = array_ops.one_hot(j, m, dtype=target.dtype)
                seed = array_ops.broadcast_to(onehot, [b, m])
                seed = array_ops.reshape(seed, tshape)
                g = self._backward([target], [seed]).get(_key(source))
                if g is None:
                    if unconnected_gradients != "zero":
                        return None
                    g = array_ops.zeros_like(source)
                cols.append(g)
            res = array_ops.stack(cols, axis=1)
            res = array_ops.reshape(res, [b] + inner + source.shape.as_list()[1:])
        finally:
            self._recording = was
        if not self._persistent:
            self._entries = None
        return res


class stop_recording_all:  # noqa: N801
    """Context manager pausing every active tape (used by custom_gradient and Keras)."""

    def __enter__(self):
        self._tapes = [(t, t._recording) for t in _ctx.tapes]
        for t, _ in self._tapes:
            t._recording = False
        return self

    def __exit__(self, *exc):
        for t, was in self._tapes:
            t._recording = was
        return False
