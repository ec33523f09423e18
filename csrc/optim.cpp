// CPU kernels of the fused optimizer updates (Adam / AMSGrad, SGD with
// momentum, RMSprop): one pass over the weight, the gradient and the slots,
// writing the new weight and slots into caller-provided output arrays.  The
// math is gpuflow/gf_optim.h (shared with csrc/cuda/optim.cu); the loops are
// csrc/gf_optim_loops.h, run with AVX-512 or AVX2 vectors where the CPU has
// them (csrc/optim_avx512.cpp, csrc/optim_avx2.cpp; no FMA contraction, so all
// variants give the same bits) and as scalar loops otherwise.
//
// Every array is validated (dtype, contiguity, alignment, shape, writeable
// outputs, no partial overlap between an output and any other array) before
// a data pointer is used.  An output may be the very same array as an input
// (an in-place update): each element is read before it is written.
#include <cstdint>
#include <string>
#include <vector>

#include "conv_direct.h"
#include "gf_isa.h"
#include "gf_pyutil.h"
#include "gf_threads.h"
#include "optim_simd.h"

namespace gf {
namespace {

using optim::Args;

// ------------------------------------------------------------ dispatch
IsaChoice& isa_choice() {
  static IsaChoice choice(cpu_isa(GF_OPTIM_SIMD, false), "scalar", true);
  return choice;
}

// The scalar loop: the math of gf_optim.h on S itself.
template <int K, int F, typename S>
void run_scalar(const Args<S>& args, index_t begin, index_t end) {
  typedef optim::Step<K, F> St;
  const S* in[St::kIn];
  S* out[St::kOut];
  S c[optim::kMaxCoef];
  for (int k = 0; k < St::kIn; ++k) in[k] = args.in[k];
  for (int k = 0; k < St::kOut; ++k) out[k] = args.out[k];
  for (int k = 0; k < optim::kMaxCoef; ++k) c[k] = args.coef[k];
  S x[St::kIn] = {};
  S y[St::kOut] = {};
  for (index_t i = begin; i < end; ++i) {
    for (int k = 0; k < St::kIn; ++k) x[k] = in[k][i];
    St::apply(x, y, c);
    for (int k = 0; k < St::kOut; ++k) out[k][i] = y[k];
  }
}

struct ScalarRunner {
  template <int K, int F, typename S>
  static void run(const Args<S>& a, index_t begin, index_t end) {
    run_scalar<K, F>(a, begin, end);
  }
};

template <typename S>
void run_range(int kind, const Args<S>& a, index_t begin, index_t end) {
#if GF_OPTIM_SIMD
  const Isa isa = isa_choice().get();
  if (isa == Isa::kAvx512) {
    optim::avx512_run(kind, a, begin, end);
    return;
  }
  if (isa == Isa::kAvx2) {
    optim::avx2_run(kind, a, begin, end);
    return;
  }
#endif
  optim::dispatch<ScalarRunner>(kind, a.flags, a, begin, end);
}

// Arrays of at least this many bytes are written with non-temporal stores
// (where the SIMD variant has them): they would not stay in the caches until
// they are next read (the next step), and streaming saves the read of every
// output line before it is written (measured: Adam over 4.7M floats 3.8 ms ->
// 2.6 ms on one core).
constexpr index_t kStreamBytes = index_t(1) << 22;

// Elements per parallel chunk (a multiple of every vector width).
constexpr index_t kChunk = 1 << 14;

// Weights of at least this many elements are updated on the compute threads
// (gf_threads.h): their update streams from memory, and two cores have about
// twice one core's memory bandwidth (measured in the notes' CNN step, whose
// Dense kernel has 4.7M weights: about 2 ms less per step on 2 cores).
// Smaller ones stay on the memory-bound kernels' setting (default 1): in a
// step of small BLAS products a second thread gained nothing.
constexpr index_t kComputeThreadsAbove = index_t(1) << 20;

template <typename S>
void run_update(int kind, const Args<S>& a) {
  const index_t n = a.n;
  const index_t chunks = (n + kChunk - 1) / kChunk;
  auto chunk = [&](index_t c) {
    const index_t begin = c * kChunk;
    const index_t end = begin + kChunk < n ? begin + kChunk : n;
    run_range(kind, a, begin, end);
  };
  py::gil_scoped_release release;
  if (n >= kComputeThreadsAbove) {
    parallel_items(chunks, n, chunk);
    return;
  }
  const int nt = (n > 4 * kChunk) ? num_threads() : 1;
  if (nt <= 1) {
    run_range(kind, a, 0, n);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(nt)
  for (index_t c = 0; c < chunks; ++c) chunk(c);
}

// The gradient given as the product a^T b (a[K, M], b[K, N], float32): the
// kernel gradient of a Dense layer from its input and its output gradient.
// Computed on the direct GEMM loops in chunks of rows that stay in L1/L2 and
// consumed there by the update, so the [M, N] gradient is never stored (for
// the notes' CNN, 19 MB less written and read per step).  In the Args, in[1]
// (the gradient) is replaced chunk by chunk.  With dx (the layer's input
// gradient b w^T, [K, M]) the same chunks also compute its columns from the
// weight rows before they are updated: the weight is read once for both.
struct ProductGrad {
  const float* a;
  const float* b;
  index_t K, M, N;
  float* dx;         // nullptr: no input gradient
  const float* bt;   // b^T [N, K] (with dx)
};

void run_update_product(int kind, const Args<float>& a, const ProductGrad& pg) {
  const convd::Kernels* kern = convd::active_kernels();
  // Rows per chunk: a multiple of 6 (the GEMM tiles' rows), about 48 KB.
  const index_t N = pg.N, M = pg.M;
  const index_t rc = 6 * std::max<index_t>(1, (index_t(12) << 10) / N / 6);
  const index_t chunks = (M + rc - 1) / rc;
  const index_t K = pg.K, per_thread = rc * (N + K);
  std::vector<float> scratch(static_cast<size_t>(std::max(1, compute_threads()) * per_thread));
  py::gil_scoped_release release;
  parallel_items(chunks, M * N * K * (pg.dx != nullptr ? 2 : 1), [&](index_t c) {
    const index_t i0 = c * rc, rows = std::min(M, i0 + rc) - i0;
    float* buf = scratch.data() + static_cast<size_t>(thread_id()) * per_thread;
    const convd::GemmArgs g{pg.a + i0, pg.b, buf, rows, N, K, M, N, N, K};
    for (index_t j0 = 0; j0 < N; j0 += convd::kBlockCols) kern->gemm_tn(g, 0, rows, j0);
    const index_t off = i0 * N;
    if (pg.dx != nullptr) {  // dx[:, i0 + r] = b w[i0 + r, :]^T
      convd::nt_columns(*kern, a.in[0] + off, rows, N, pg.bt, K, buf + rc * N, pg.dx + i0, M);
    }
    Args<float> s = a;
    for (int k = 0; k < optim::kMaxIn; ++k) s.in[k] = a.in[k] != nullptr ? a.in[k] + off : nullptr;
    for (int k = 0; k < optim::kMaxOut; ++k) s.out[k] = a.out[k] != nullptr ? a.out[k] + off : nullptr;
    s.in[1] = buf;
    s.n = rows * N;
    run_range(kind, s, 0, rows * N);
  });
}

// ---------------------------------------------------------- validation
struct Operand {
  const char* name;
  py::array array;
};

bool overlaps(const py::array& a, const py::array& b) {
  if (a.nbytes() == 0 || b.nbytes() == 0) return false;
  const auto a0 = reinterpret_cast<std::uintptr_t>(a.data());
  const auto b0 = reinterpret_cast<std::uintptr_t>(b.data());
  return a0 < b0 + static_cast<std::uintptr_t>(b.nbytes()) &&
         b0 < a0 + static_cast<std::uintptr_t>(a.nbytes());
}

// Checks every operand against the first input (dtype, shape), contiguity,
// alignment and writeability, and that no output overlaps another array
// except by being exactly the same array as an input.
FloatKind check_operands(const char* kernel, const std::vector<Operand>& ins,
                         const std::vector<Operand>& outs) {
  const py::array& ref = ins[0].array;
  const FloatKind kind = float_kind(kernel, ins[0].name, ref);
  auto check_like = [&](const Operand& op) {
    check_float(kernel, op.name, op.array, kind);
    bool same = op.array.ndim() == ref.ndim();
    for (py::ssize_t d = 0; same && d < ref.ndim(); ++d) {
      same = op.array.shape(d) == ref.shape(d);
    }
    if (!same) {
      value_error(kernel, "shape mismatch: " + describe(op.name, op.array) +
                              " but " + describe(ins[0].name, ref));
    }
    check_contiguous(kernel, op.name, op.array);
  };
  for (const Operand& op : ins) check_like(op);
  for (size_t i = 0; i < outs.size(); ++i) {
    const Operand& op = outs[i];
    check_like(op);
    if (!op.array.writeable()) {
      value_error(kernel, "output " + describe(op.name, op.array) +
                              " is read-only");
    }
    for (const Operand& in : ins) {
      if (overlaps(op.array, in.array) && op.array.data() != in.array.data()) {
        value_error(kernel, std::string("output ") + op.name +
                                " partially overlaps input " + in.name +
                                " (outputs must be separate arrays or exactly "
                                "the input they replace)");
      }
    }
    for (size_t j = 0; j < i; ++j) {
      if (overlaps(op.array, outs[j].array)) {
        value_error(kernel, std::string("outputs ") + outs[j].name + " and " +
                                op.name + " share memory");
      }
    }
  }
  return kind;
}

template <typename S>
Args<S> make_args(const std::vector<Operand>& ins,
                  const std::vector<Operand>& outs,
                  const std::vector<double>& coef, int flags) {
  Args<S> a{};
  a.n = static_cast<index_t>(ins[0].array.size());
  a.flags = flags;
  // In place, the output lines are already cached (just read): plain stores.
  bool in_place = false;
  for (const Operand& o : outs) {
    for (const Operand& i : ins) in_place = in_place || o.array.data() == i.array.data();
  }
  a.stream = !in_place && a.n * static_cast<index_t>(sizeof(S)) >= kStreamBytes;
  for (size_t k = 0; k < ins.size(); ++k) a.in[k] = cdata<S>(ins[k].array);
  for (size_t k = 0; k < outs.size(); ++k) {
    py::array out = outs[k].array;  // a new handle to the same array
    a.out[k] = static_cast<S*>(out.mutable_data());
  }
  // Rounded once from double to S, as NumPy converts the Python floats of
  // the op-by-op update.
  for (size_t k = 0; k < coef.size(); ++k) a.coef[k] = static_cast<S>(coef[k]);
  return a;
}

py::array as_array(const char* kernel, const char* name, const py::object& o) {
  if (!py::isinstance<py::array>(o)) {
    type_error(kernel,
               std::string(name) + " must be a NumPy array, got " +
                   py::type::of(o).attr("__name__").cast<std::string>());
  }
  return o.cast<py::array>();
}

// run() for a gradient given as a product (see grad_operand): ins[1] is the
// weight itself, a placeholder that passed check_operands; a, b (and dx) are
// checked here.
void run_product(const char* kernel, int kind, FloatKind fk, const std::vector<Operand>& ins,
                 const std::vector<Operand>& outs, const std::vector<double>& coef, int flags,
                 const py::tuple& product) {
  if (fk != FloatKind::kF32) {
    type_error(kernel, "a gradient given as a product (a, b) needs float32 weights, got " +
                           describe(ins[0].name, ins[0].array));
  }
  if (convd::active_kernels() == nullptr) {
    value_error(kernel, "a gradient given as a product (a, b) needs the direct GEMM loops "
                        "(a CPU with AVX-512F or AVX2 + FMA; conv_direct_available())");
  }
  const py::array a = as_array(kernel, "a (of g = a^T b)", product[0]);
  const py::array b = as_array(kernel, "b (of g = a^T b)", product[1]);
  const bool with_dx = product.size() == 3;
  check_float_array(kernel, "a (of g = a^T b)", a, FloatKind::kF32, 2);
  check_float_array(kernel, "b (of g = a^T b)", b, FloatKind::kF32, 2);
  const py::array& w = ins[0].array;
  if (a.shape(0) != b.shape(0) || w.ndim() != 2 || w.shape(0) != a.shape(1) ||
      w.shape(1) != b.shape(1)) {
    value_error(kernel, "g = a^T b must have the weight's shape: " + describe("a", a) + ", " +
                            describe("b", b) + ", " + describe(ins[0].name, w));
  }
  for (const Operand& o : outs) {
    if (overlaps(o.array, a) || overlaps(o.array, b)) {
      value_error(kernel, std::string("output ") + o.name + " shares memory with a or b of g = a^T b");
    }
  }
  py::array dx;
  std::vector<float> bt;
  if (with_dx) {
    dx = as_array(kernel, "dx (= b w^T)", product[2]);
    check_float_array(kernel, "dx (= b w^T)", dx, FloatKind::kF32, 2);
    check_shape(kernel, "dx (= b w^T)", dx, {b.shape(0), w.shape(0)});
    if (!dx.writeable()) value_error(kernel, "dx " + describe("dx", dx) + " is read-only");
    bool shared = overlaps(dx, a) || overlaps(dx, b);
    for (const Operand& o : ins) shared = shared || overlaps(dx, o.array);
    for (const Operand& o : outs) shared = shared || overlaps(dx, o.array);
    if (shared) value_error(kernel, "dx (= b w^T) shares memory with another operand");
    bt.resize(static_cast<size_t>(b.size()));
    convd::transpose(cdata<float>(b), b.shape(0), b.shape(1), bt.data());
  }
  if (w.size() == 0) {
    if (with_dx) std::fill(static_cast<float*>(dx.mutable_data()), static_cast<float*>(dx.mutable_data()) + dx.size(), 0.0f);
    return;
  }
  const ProductGrad pg{cdata<float>(a), cdata<float>(b), a.shape(0), a.shape(1), b.shape(1),
                       with_dx ? static_cast<float*>(dx.mutable_data()) : nullptr, bt.data()};
  run_update_product(kind, make_args<float>(ins, outs, coef, flags), pg);
}

void run(const char* kernel, int kind, const std::vector<Operand>& ins,
         const std::vector<Operand>& outs, const std::vector<double>& coef,
         int flags, const py::tuple& product = py::tuple()) {
  const FloatKind fk = check_operands(kernel, ins, outs);
  if (!product.empty()) {
    run_product(kernel, kind, fk, ins, outs, coef, flags, product);
    return;
  }
  if (ins[0].array.size() == 0) return;
  if (fk == FloatKind::kF32) {
    run_update(kind, make_args<float>(ins, outs, coef, flags));
  } else {
    run_update(kind, make_args<double>(ins, outs, coef, flags));
  }
}

// The gradient operand: an array, or a tuple (a, b) meaning g = a^T b (or (a,
// b, dx): also dx = b w^T with the weight before the update), for which the
// weight stands in during the common checks and `product` gets the tuple (see
// run()).
Operand grad_operand(const char* kernel, const py::object& g, const py::object& w,
                     py::tuple* product) {
  if (py::isinstance<py::tuple>(g)) {
    const py::tuple t = g.cast<py::tuple>();
    if (t.size() != 2 && t.size() != 3) {
      value_error(kernel, "g must be an array, a pair (a, b) for g = a^T b or a triple (a, b, dx) that "
                          "also writes b w^T into dx, got a tuple of " + std::to_string(t.size()));
    }
    *product = t;
    return {"g", as_array(kernel, "w", w)};
  }
  return {"g", as_array(kernel, "g", g)};
}

// Optional operand pairs (slot, slot_out): both None or both arrays.
bool optional_pair(const char* kernel, const char* name, const char* out_name,
                   const py::object& in, const py::object& out) {
  if (in.is_none() != out.is_none()) {
    value_error(kernel, std::string(name) + " and " + out_name +
                            " must both be given or both be None");
  }
  return !in.is_none();
}

// ------------------------------------------------------------- kernels
void adam_update(const py::object& w, const py::object& g,
                 const py::object& m, const py::object& v,
                 const py::object& vhat, double alpha,
                 double one_minus_beta_1, double one_minus_beta_2,
                 double epsilon, const py::object& w_out,
                 const py::object& m_out, const py::object& v_out,
                 const py::object& vhat_out) {
  const char* K = "adam_update";
  const bool ams = optional_pair(K, "vhat", "vhat_out", vhat, vhat_out);
  py::tuple product;
  std::vector<Operand> ins{{"w", as_array(K, "w", w)},
                           grad_operand(K, g, w, &product),
                           {"m", as_array(K, "m", m)},
                           {"v", as_array(K, "v", v)}};
  std::vector<Operand> outs{{"w_out", as_array(K, "w_out", w_out)},
                            {"m_out", as_array(K, "m_out", m_out)},
                            {"v_out", as_array(K, "v_out", v_out)}};
  if (ams) {
    ins.push_back({"vhat", as_array(K, "vhat", vhat)});
    outs.push_back({"vhat_out", as_array(K, "vhat_out", vhat_out)});
  }
  run(K, ams ? optim::kAdamAmsgrad : optim::kAdam, ins, outs,
      {alpha, one_minus_beta_1, one_minus_beta_2, epsilon}, 0, product);
}

void sgd_momentum_update(const py::object& w, const py::object& g,
                         const py::object& m, double lr, double momentum,
                         bool nesterov, const py::object& w_out,
                         const py::object& m_out) {
  const char* K = "sgd_momentum_update";
  py::tuple product;
  std::vector<Operand> ins{{"w", as_array(K, "w", w)},
                           grad_operand(K, g, w, &product),
                           {"m", as_array(K, "m", m)}};
  std::vector<Operand> outs{{"w_out", as_array(K, "w_out", w_out)},
                            {"m_out", as_array(K, "m_out", m_out)}};
  run(K, optim::kSgdMomentum, ins, outs, {lr, momentum},
      nesterov ? optim::kNesterov : 0, product);
}

void rmsprop_update(const py::object& w, const py::object& g,
                    const py::object& v, const py::object& a,
                    const py::object& m, double lr, double rho,
                    double one_minus_rho, double momentum, double epsilon,
                    const py::object& w_out, const py::object& v_out,
                    const py::object& a_out, const py::object& m_out) {
  const char* K = "rmsprop_update";
  const bool centered = optional_pair(K, "a", "a_out", a, a_out);
  const bool use_momentum = optional_pair(K, "m", "m_out", m, m_out);
  py::tuple product;
  std::vector<Operand> ins{{"w", as_array(K, "w", w)},
                           grad_operand(K, g, w, &product),
                           {"v", as_array(K, "v", v)}};
  std::vector<Operand> outs{{"w_out", as_array(K, "w_out", w_out)},
                            {"v_out", as_array(K, "v_out", v_out)}};
  if (centered) {
    ins.push_back({"a", as_array(K, "a", a)});
    outs.push_back({"a_out", as_array(K, "a_out", a_out)});
  }
  if (use_momentum) {
    ins.push_back({"m", as_array(K, "m", m)});
    outs.push_back({"m_out", as_array(K, "m_out", m_out)});
  }
  run(K, optim::kRmsprop, ins, outs,
      {lr, rho, one_minus_rho, momentum, epsilon},
      (centered ? optim::kCentered : 0) |
          (use_momentum ? optim::kMomentum : 0),
      product);
}

std::string optim_isa() { return isa_choice().name(); }

// Tests: force a narrower instruction set (never a wider one than the CPU
// reports); returns the one now in use.
std::string set_optim_isa(const std::string& name) { return isa_choice().set("set_optim_isa", name); }

}  // namespace

void register_optim(py::module_& m) {
  using py::arg;
  m.def("adam_update", &adam_update, arg("w"), arg("g"), arg("m"), arg("v"),
        arg("vhat"), arg("alpha"), arg("one_minus_beta_1"),
        arg("one_minus_beta_2"), arg("epsilon"), arg("w_out"), arg("m_out"),
        arg("v_out"), arg("vhat_out"),
        "Fused Adam (vhat/vhat_out arrays: AMSGrad; None: plain Adam) "
        "writing w', m', v'[, vhat'] into the *_out arrays. g: the gradient, "
        "or a pair (a, b) of float32 2-D arrays for g = a^T b, computed in "
        "cache-sized chunks on the direct GEMM loops and never stored, or a "
        "triple (a, b, dx) that also writes b w^T (w before the update) into "
        "dx (also for the other updates).");
  m.def("sgd_momentum_update", &sgd_momentum_update, arg("w"), arg("g"),
        arg("m"), arg("lr"), arg("momentum"), arg("nesterov"), arg("w_out"),
        arg("m_out"), "Fused SGD with (Nesterov) momentum -> w_out, m_out.");
  m.def("rmsprop_update", &rmsprop_update, arg("w"), arg("g"), arg("v"),
        arg("a"), arg("m"), arg("lr"), arg("rho"), arg("one_minus_rho"),
        arg("momentum"), arg("epsilon"), arg("w_out"), arg("v_out"),
        arg("a_out"), arg("m_out"),
        "Fused RMSprop (a/a_out: centered; m/m_out: momentum; None: off).");
  m.def("optim_isa", &optim_isa,
        "Instruction set of the fused optimizer loops: 'avx512', 'avx2' or "
        "'scalar'.");
  m.def("set_optim_isa", &set_optim_isa, arg("name"),
        "Tests: run the fused optimizer loops with 'scalar', 'avx2', "
        "'avx512' or 'auto' (at most what the CPU supports).");
}

}  // namespace gf
