"""`Tensor` (immutable, eager or symbolic) and `Variable` (the only mutable state).

A Tensor never computes anything itself: its operators call gpuflow ops. An eager tensor
holds an array (NumPy on the CPU, CuPy on a GPU) and its device; a `SymbolicTensor` holds
only a shape (dims may be None) and a dtype, and belongs to a graph that records the ops
applied to it (the Keras functional API and `gf.function` both use it).
"""

from gpuflow import dtypes as _dt
from gpuflow import errors
from gpuflow import backend as _be
from gpuflow.tensor_shape import TensorShape

__all__ = ["Tensor", "SymbolicTensor", "Variable", "newaxis"]

newaxis = None
_NP2DT = _dt._BY_NP


def _text(arr, is_repr):
    a = _be.to_numpy(arr)
    text = repr(a) if (is_repr and a.ndim) else str(a)
    if "\n" in text:
        text = "\n" + text
    return text


class Tensor:
    """An immutable multi-dimensional array on a device, as `tf.Tensor`.

    Create tensors with `gf.constant`, `gf.convert_to_tensor` or any op. Supports the
    arithmetic, comparison and bitwise operators, NumPy-style indexing (differentiable),
    `len()`, iteration over the first axis, and conversion with `numpy()` or `np.asarray`.
    """

    __slots__ = ("_value", "_device", "_vref", "__weakref__")
    __array_priority__ = 100

    def __init__(self, value, device=None):
        # Direct construction wraps an existing array; users call gf.constant.
        self._value = value
        self._device = device if device is not None else _be.array_device(value)
        self._vref = None

    # ---- properties ---------------------------------------------------------------
    @property
    def dtype(self):
        return _NP2DT[self._value.dtype]

    @property
    def shape(self):
        return TensorShape(self._value.shape)

    @property
    def ndim(self):
        return self._value.ndim

    @property
    def device(self):
        return self._device.name

    @property
    def name(self):
        raise AttributeError("Tensor.name is undefined when eager execution is enabled.")

    def get_shape(self):
        return self.shape

    def numpy(self):
        """The value as a host NumPy array (a 0-d tensor gives a NumPy scalar)."""
        a = _be.to_numpy(self._value)
        if a.ndim == 0:
            return a[()]
        return a

    def __array__(self, dtype=None, copy=None):
        a = _be.to_numpy(self._value)
        if dtype is not None:
            a = a.astype(dtype, copy=False)
        return a

    def cpu(self):
        return self._to(_be.cpu)

    def gpu(self, index=0):
        return self._to(_be.get_device("/GPU:%d" % index))

    def _to(self, dev):
        from gpuflow.ops import array_ops
        with _be.device(dev):
            return array_ops.identity(self)

    def _is_symbolic(self):
        return False

    # ---- Python protocol ---------------------------------------------------------
    def __repr__(self):
        return "<gf.Tensor: shape=%s, dtype=%s, numpy=%s>" % (
            self.shape, self.dtype.name, _text(self._value, True))

    def __str__(self):
        return "gf.Tensor(%s, shape=%s, dtype=%s)" % (
            _text(self._value, False), self.shape, self.dtype.name)

    def __len__(self):
        s = self.shape
        if not s._dims:
            raise TypeError("len() of unsized object: the tensor is a scalar (shape ())")
        if s._dims[0] is None:
            raise TypeError("len() of a tensor whose first dimension is unknown (shape %s); use gf.shape(x)[0]" % (s,))
        return s._dims[0]

    def __iter__(self):
        s = self.shape
        if not s._dims:
            raise TypeError("Cannot iterate over a scalar tensor.")
        if s._dims[0] is None:
            raise TypeError("Cannot iterate over a tensor whose first dimension is unknown (shape %s)." % (s,))
        from gpuflow.ops import array_ops
        return iter(array_ops.unstack(self, axis=0))

    def _scalar(self, what):
        if self._value.size != 1:
            raise ValueError("%s of a tensor with %d elements (shape %s) is ambiguous; "
                             "use gf.reduce_any / gf.reduce_all or index one element."
                             % (what, self._value.size, self.shape))
        return _be.to_numpy(self._value).reshape(())[()]

    def __bool__(self):
        return bool(self._scalar("The truth value"))

    def __float__(self):
        return float(self._scalar("float()"))

    def __int__(self):
        return int(self._scalar("int()"))

    def __index__(self):
        if not self.dtype.is_integer:
            raise TypeError("Only integer scalar tensors can be used as an index, got %s" % self.dtype.name)
        return int(self._scalar("__index__"))

    def __complex__(self):
        return complex(self._scalar("complex()"))

    def __format__(self, spec):
        if self._value.ndim == 0:
            return format(self.numpy(), spec)
        return format(str(self), spec)

    def __hash__(self):
        # As in TF: `==` is elementwise, so tensors cannot be dict keys or set members.
        kind = "Variable" if isinstance(self, Variable) else "Tensor"
        raise TypeError("%s is unhashable. Instead, use %s.ref() as the key (and .deref() to get it back)."
                        % (kind, kind.lower()))

    def ref(self):
        """A hashable reference to this tensor (tensors themselves are unhashable, as in TF)."""
        return Reference(self)

    def experimental_ref(self):
        return self.ref()

    # ---- operators (bodies live in gpuflow.ops) ------------------------------------
    def __add__(self, o): return _m.add(self, o)
    def __radd__(self, o): return _m.add(o, self)
    def __sub__(self, o): return _m.subtract(self, o)
    def __rsub__(self, o): return _m.subtract(o, self)
    def __mul__(self, o): return _m.multiply(self, o)
    def __rmul__(self, o): return _m.multiply(o, self)
    def __truediv__(self, o): return _m.truediv(self, o)
    def __rtruediv__(self, o): return _m.truediv(o, self)
    def __floordiv__(self, o): return _m.floordiv(self, o)
    def __rfloordiv__(self, o): return _m.floordiv(o, self)
    def __mod__(self, o): return _m.mod(self, o)
    def __rmod__(self, o): return _m.mod(o, self)
    def __pow__(self, o): return _m.pow(self, o)
    def __rpow__(self, o): return _m.pow(o, self)
    def __matmul__(self, o): return _m.matmul(self, o)
    def __rmatmul__(self, o): return _m.matmul(o, self)
    def __neg__(self): return _m.negative(self)
    def __pos__(self): return self
    def __abs__(self): return _m.abs(self)
    def __lt__(self, o): return _m.less(self, o)
    def __le__(self, o): return _m.less_equal(self, o)
    def __gt__(self, o): return _m.greater(self, o)
    def __ge__(self, o): return _m.greater_equal(self, o)
    def __and__(self, o): return _m.logical_and(self, o) if self.dtype.is_bool else _m.bitwise_and(self, o)
    def __rand__(self, o): return _m.logical_and(o, self) if self.dtype.is_bool else _m.bitwise_and(o, self)
    def __or__(self, o): return _m.logical_or(self, o) if self.dtype.is_bool else _m.bitwise_or(self, o)
    def __ror__(self, o): return _m.logical_or(o, self) if self.dtype.is_bool else _m.bitwise_or(o, self)
    def __xor__(self, o): return _m.logical_xor(self, o) if self.dtype.is_bool else _m.bitwise_xor(self, o)
    def __rxor__(self, o): return _m.logical_xor(o, self) if self.dtype.is_bool else _m.bitwise_xor(o, self)
    def __invert__(self): return _m.logical_not(self) if self.dtype.is_bool else _m.invert(self)

    def __eq__(self, o):
        if o is None:
            return False
        try:
            return _m.equal(self, o)
        except (errors.InvalidArgumentError, TypeError):
            return False

    def __ne__(self, o):
        if o is None:
            return True
        try:
            return _m.not_equal(self, o)
        except (errors.InvalidArgumentError, TypeError):
            return True

    def __getitem__(self, key):
        return _a.getitem(self, key)

    # NumPy: `ndarray - tensor` defers to Tensor.__rsub__ (higher __array_priority__) and
    # gives a Tensor, as in TF; `np.exp(tensor)` converts through __array__ and gives NumPy.


class Reference:
    """What `tensor.ref()` returns: hashable by identity; `deref()` gives the tensor back."""

    __slots__ = ("_t",)

    def __init__(self, t):
        self._t = t

    def deref(self):
        return self._t

    def __hash__(self):
        return id(self._t)

    def __eq__(self, other):
        return isinstance(other, Reference) and other._t is self._t

    def __repr__(self):
        return "<Reference wrapping %r>" % (self._t,)


class SymbolicTensor(Tensor):
    """A tensor with a shape (possibly with None dims) and a dtype but no value.

    It belongs to a `Graph` (`gpuflow.graph`) that records every op applied to it.
    Asking for its value (`numpy()`, `bool()`, `float()`) is an error that points to
    `gf.cond` / `gf.while_loop` for data-dependent control flow.
    """

    __slots__ = ("_shape", "_dtype", "_graph", "_node", "_index", "_keras_history", "_name")

    def __init__(self, shape, dtype, graph, node=None, index=0, name=None):
        self._value = None
        self._device = None
        self._vref = None
        self._shape = TensorShape(shape)
        self._dtype = _dt.as_dtype(dtype)
        self._graph = graph
        self._node = node
        self._index = index
        self._keras_history = None
        self._name = name

    @property
    def dtype(self):
        return self._dtype

    @property
    def shape(self):
        return self._shape

    @property
    def ndim(self):
        return self._shape.rank

    @property
    def device(self):
        d = getattr(self._graph, "device", None)
        return d.name if d is not None else ""

    @property
    def name(self):
        return self._name or "tensor"

    def _is_symbolic(self):
        return True

    def _value_error(self, what):
        from gpuflow.graph import symbolic_value_error
        return symbolic_value_error(self, what)

    def numpy(self):
        raise self._value_error("numpy()")

    def __array__(self, dtype=None, copy=None):
        raise self._value_error("Converting to a NumPy array")

    def _scalar(self, what):
        raise self._value_error(what)

    def __iter__(self):
        d = self._shape._dims
        if d is None or not d or d[0] is None:
            raise self._value_error("Iterating over a tensor of unknown length")
        return super().__iter__()

    def __len__(self):
        d = self._shape._dims
        if not d or d[0] is None:
            raise self._value_error("len()")
        return d[0]

    def __repr__(self):
        return "<gf.SymbolicTensor %sshape=%s, dtype=%s>" % (
            ("'%s' " % self._name) if self._name else "", self._shape, self._dtype.name)

    __str__ = __repr__


class Variable(Tensor):
    """Mutable state, as `tf.Variable`: usable anywhere a tensor is.

    Args:
      initial_value: a tensor, array, Python value or a callable returning one.
      trainable: whether `GradientTape` watches it automatically and Keras trains it.
      name: the variable's name (`Variable` by default); `v.name` adds TF's `:0`.
      dtype: convert the initial value to this dtype.
      shape: accepted for compatibility; must agree with the initial value.

    Methods `assign`, `assign_add`, `assign_sub` replace the value (the shape and dtype
    are fixed). Inside a `gf.function` they become ordered state updates of the graph.
    """

    __slots__ = ("_name", "_trainable", "_aggregation", "_constraint", "_path", "_keras_owned")

    def __init__(self, initial_value=None, trainable=True, name=None, dtype=None, shape=None,
                 constraint=None, synchronization=None, aggregation=None, validate_shape=True,
                 caching_device=None, import_scope=None, experimental_enable_variable_lifting=None):
        from gpuflow.ops import array_ops
        from gpuflow import graph as _graph
        if initial_value is None:
            raise ValueError("Variable(): initial_value must be provided")
        if callable(initial_value):
            initial_value = initial_value()
        if isinstance(initial_value, Tensor) and initial_value._is_symbolic():
            raise _graph.symbolic_value_error(initial_value, "Creating a gf.Variable from a symbolic tensor")
        with _graph.eager_mode():
            t = array_ops.convert_to_tensor(initial_value, dtype=dtype)
        if shape is not None and TensorShape(shape).is_fully_defined() and tuple(shape) != t._value.shape:
            raise errors.InvalidArgumentError("Variable(): shape %s does not match the initial value's shape %s"
                                              % (TensorShape(shape), t.shape))
        self._value = t._value
        self._device = t._device
        self._vref = None
        self._name = (name or "Variable").rsplit(":", 1)[0]
        self._trainable = bool(trainable)
        self._aggregation = aggregation
        self._constraint = constraint
        self._path = None
        self._keras_owned = False

    @property
    def name(self):
        return self._name + ":0"

    @property
    def path(self):
        return self._path or self._name

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)

    @property
    def constraint(self):
        return self._constraint

    @property
    def aggregation(self):
        return self._aggregation

    @property
    def dtype(self):
        return _NP2DT[self._value.dtype]

    @property
    def shape(self):
        return TensorShape(self._value.shape)

    @property
    def initial_value(self):
        return None

    def value(self):
        """The current value as a tensor (a snapshot: later assigns don't change it)."""
        return _a.read_variable(self)

    def read_value(self):
        return _a.read_variable(self)

    def assign(self, value, use_locking=None, name=None, read_value=True):
        """Sets the value. Returns the variable (TF returns the updated value)."""
        _a.assign_variable(self, value, "assign")
        return self

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        """Adds `delta` to the value."""
        _a.assign_variable(self, delta, "assign_add")
        return self

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        """Subtracts `delta` from the value."""
        _a.assign_variable(self, delta, "assign_sub")
        return self

    def numpy(self):
        return Tensor.numpy(_a.read_variable(self))

    def __array__(self, dtype=None, copy=None):
        return Tensor.__array__(_a.read_variable(self), dtype)

    def _scalar(self, what):
        return Tensor._scalar(_a.read_variable(self), what)

    def ref(self):
        return Reference(self)

    def __repr__(self):
        return "<gf.Variable '%s' shape=%s dtype=%s, numpy=%s>" % (
            self.name, self.shape, self.dtype.name, _text(self._value, True))

    def __str__(self):
        return self.__repr__()

    def __reduce__(self):
        raise TypeError("gf.Variable cannot be pickled; use get_weights()/save_weights().")

    def __deepcopy__(self, memo):
        v = Variable(self._value.copy(), trainable=self._trainable, name=self._name)
        memo[id(self)] = v
        return v


from gpuflow.ops import math_ops as _m  # noqa: E402  (operators dispatch to ops)
from gpuflow.ops import array_ops as _a  # noqa: E402

# The most common operators call the op wrappers directly (no extra Python frame on the
# eager hot path); the reflected ones above swap the operands.
Tensor.__add__ = _m.add
Tensor.__sub__ = _m.subtract
Tensor.__mul__ = _m.multiply
Tensor.__truediv__ = _m.truediv
Tensor.__matmul__ = _m.matmul
Tensor.__pow__ = _m.pow
Tensor.__neg__ = _m.negative
Tensor.__lt__ = _m.less
Tensor.__le__ = _m.less_equal
Tensor.__gt__ = _m.greater
Tensor.__ge__ = _m.greater_equal
Tensor.__getitem__ = _a.getitem
