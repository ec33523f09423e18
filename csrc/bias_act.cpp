// CPU kernel of the backward pass of "bias + activation" (Conv2D / Dense with
// a ReLU or linear activation): one pass over the output gradient g and the
// layer output y that writes the gradient before the activation,
//   gz = g * (y > 0)   (ReLU; gz = g for the identity),
// and sums gz over every axis but the last (the bias gradient), instead of a
// comparison, a cast, a multiply and a reduction (four passes).
#include <algorithm>
#include <vector>

#include "gf_pyutil.h"
#include "gf_threads.h"

namespace gf {
namespace {

// Rows are summed in blocks of kBlock into T accumulators (vectorizable), each
// block's sums added into double accumulators (the precision of a pairwise sum).
constexpr index_t kBlock = 128;

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define GF_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define GF_CLONES
#endif

template <typename T>
inline void bias_act_rows(const T* __restrict__ gp, const T* __restrict__ yp, T* __restrict__ zp,
                          double* __restrict__ acc, T* __restrict__ part, index_t rows, index_t C,
                          bool relu) {
  for (index_t r0 = 0; r0 < rows; r0 += kBlock) {
    const index_t r1 = r0 + kBlock < rows ? r0 + kBlock : rows;
    for (index_t c = 0; c < C; ++c) part[c] = T(0);
    for (index_t r = r0; r < r1; ++r) {
      const T* __restrict__ gr = gp + r * C;
      const T* __restrict__ yr = yp + r * C;
      T* __restrict__ zr = zp + r * C;
      if (relu) {
        for (index_t c = 0; c < C; ++c) {
          const T v = yr[c] > T(0) ? gr[c] : T(0);
          zr[c] = v;
          part[c] += v;
        }
      } else {
        for (index_t c = 0; c < C; ++c) {
          zr[c] = gr[c];
          part[c] += gr[c];
        }
      }
    }
    for (index_t c = 0; c < C; ++c) acc[c] += static_cast<double>(part[c]);
  }
}

GF_CLONES void bias_act_rows_f32(const float* g, const float* y, float* z, double* acc, float* part,
                                 index_t rows, index_t C, bool relu) {
  bias_act_rows<float>(g, y, z, acc, part, rows, C, relu);
}

GF_CLONES void bias_act_rows_f64(const double* g, const double* y, double* z, double* acc, double* part,
                                 index_t rows, index_t C, bool relu) {
  bias_act_rows<double>(g, y, z, acc, part, rows, C, relu);
}

template <typename T>
py::tuple bias_act_grad_t(const py::array& g, const py::array& y, bool relu) {
  const index_t C = g.shape(g.ndim() - 1);
  const index_t rows = C > 0 ? static_cast<index_t>(g.size()) / C : 0;
  std::vector<index_t> shape(g.shape(), g.shape() + g.ndim());
  py::array_t<T> gz = new_array<T>(shape);
  py::array_t<T> db = new_array<T>({C});
  const T* gp = cdata<T>(g);
  const T* yp = cdata<T>(y);
  T* zp = gz.mutable_data();
  T* dp = db.mutable_data();
  {
    py::gil_scoped_release release;
    // The rows in `parts` fixed ranges of whole blocks, each with its own
    // accumulators, added in order: the same bits whatever the thread count.
    // Arrays of 1M elements and more run on the compute threads (the pass
    // streams from memory; measured on 2 AVX2 cores, medians: the notes'
    // second convolution's 1.18M outputs 0.36-0.65 -> 0.26-0.30 ms, but its
    // first convolution's 0.69M outputs 0.26 -> 0.43 ms, so those stay on one).
    const index_t blocks = (rows + kBlock - 1) / kBlock;
    const index_t parts = std::max<index_t>(1, std::min<index_t>(8, blocks / 16));
    std::vector<double> acc(static_cast<size_t>(parts * C), 0.0);
    std::vector<T> part(static_cast<size_t>(parts * C));
    parallel_items(parts, rows * C, [&](index_t i) {  // threads from 2^20 elements
      const index_t r0 = blocks * i / parts * kBlock;
      const index_t r1 = std::min(rows, blocks * (i + 1) / parts * kBlock);
      const index_t off = r0 * C;
      double* a = acc.data() + i * C;
      T* pt = part.data() + i * C;
      if constexpr (sizeof(T) == 4) {
        bias_act_rows_f32(gp + off, yp + off, zp + off, a, pt, r1 - r0, C, relu);
      } else {
        bias_act_rows_f64(gp + off, yp + off, zp + off, a, pt, r1 - r0, C, relu);
      }
    });
    for (index_t c = 0; c < C; ++c) {
      double sum = 0.0;
      for (index_t i = 0; i < parts; ++i) sum += acc[static_cast<size_t>(i * C + c)];
      dp[c] = static_cast<T>(sum);
    }
  }
  return py::make_tuple(gz, db);
}

py::tuple bias_act_grad(const py::array& g, const py::array& y, bool relu) {
  const char* K = "bias_act_grad";
  const FloatKind kind = float_kind(K, "g", g);
  check_float(K, "y", y, kind);
  check_contiguous(K, "g", g);
  check_contiguous(K, "y", y);
  if (g.ndim() < 1) value_error(K, "expected at least 1-D arrays, got " + describe("g", g));
  bool same = g.ndim() == y.ndim();
  for (py::ssize_t d = 0; same && d < g.ndim(); ++d) same = g.shape(d) == y.shape(d);
  if (!same) value_error(K, "shape mismatch: " + describe("g", g) + " but " + describe("y", y));
  return kind == FloatKind::kF32 ? bias_act_grad_t<float>(g, y, relu)
                                 : bias_act_grad_t<double>(g, y, relu);
}

}  // namespace

void register_bias_act(py::module_& m) {
  m.def("bias_act_grad", &bias_act_grad, py::arg("g"), py::arg("y"), py::arg("relu"),
        "(g * (y > 0) if relu else g, its sum over all axes but the last).");
}

}  // namespace gf
