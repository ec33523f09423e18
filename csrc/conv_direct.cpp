// Python entry points of the direct float32 convolution kernels (see
// csrc/conv_direct.h): validation before any pointer is used, the split of
// the work between threads, and the per-thread accumulators of the filter
// gradient.  Only on CPUs with AVX-512F; `conv_direct_available()` tells the
// Python side whether to call them (it uses im2col + BLAS otherwise).
#include <algorithm>
#include <string>
#include <vector>

#include <pybind11/stl.h>

#include "conv_direct.h"
#include "gf_pyutil.h"
#include "gf_threads.h"

namespace gf {
namespace {

bool cpu_has_avx512() {
#if GF_CONV_DIRECT
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
#else
  return false;
#endif
}

bool direct_available() {
  static const bool ok = cpu_has_avx512();
  return ok;
}

void require_direct(const char* kernel) {
  if (!direct_available()) {
    value_error(kernel, "needs a CPU with AVX-512F and a GCC x86-64 build "
                        "(check conv_direct_available() first)");
  }
}

struct Geometry {
  index_t N, Hp, Wp, C, KH, KW, OC, OH, OW, sh, sw, dh, dw;
};

// Validates strides/dilations/pads and derives the output size of the input
// with `pads` (top, bottom, left, right) of zeros around it.
Geometry geometry(const char* kernel, const py::array& x, index_t KH, index_t KW,
                  index_t OC, index_t sh, index_t sw, index_t dh, index_t dw,
                  const std::vector<index_t>& pads = {0, 0, 0, 0}) {
  check_min(kernel, "kernel height", KH, 1);
  check_min(kernel, "kernel width", KW, 1);
  check_min(kernel, "output channels", OC, 1);
  check_min(kernel, "stride height", sh, 1);
  check_min(kernel, "stride width", sw, 1);
  check_min(kernel, "dilation height", dh, 1);
  check_min(kernel, "dilation width", dw, 1);
  Geometry g{x.shape(0), x.shape(1), x.shape(2), x.shape(3), KH, KW, OC,
             0, 0, sh, sw, dh, dw};
  check_min(kernel, "batch size", g.N, 1);
  check_min(kernel, "input channels", g.C, 1);
  if (pads.size() != 4) value_error(kernel, "pads must be (top, bottom, left, right)");
  for (index_t p : pads) check_min(kernel, "padding", p, 0);
  const index_t eh = (KH - 1) * dh + 1, ew = (KW - 1) * dw + 1;
  const index_t hp = g.Hp + pads[0] + pads[1], wp = g.Wp + pads[2] + pads[3];
  if (eh > hp || ew > wp) {
    value_error(kernel, "the window (" + std::to_string(eh) + "x" +
                            std::to_string(ew) +
                            " with dilation) is larger than the padded input " +
                            describe("x", x) + " (padded to " + std::to_string(hp) + "x" +
                            std::to_string(wp) + ")");
  }
  g.OH = (hp - eh) / sh + 1;
  g.OW = (wp - ew) / sw + 1;
  return g;
}

// y = conv2d(x, w), VALID on the pre-padded x.
py::array conv2d_direct(const py::array& x, const py::array& w, index_t sh,
                        index_t sw, index_t dh, index_t dw, py::object bias, bool relu,
                        const std::vector<index_t>& pads) {
  const char* K = "conv2d_direct";
  require_direct(K);
  check_float_array(K, "x", x, FloatKind::kF32, 4);
  check_float_array(K, "w", w, FloatKind::kF32, 4);
  if (w.shape(2) != x.shape(3)) {
    value_error(K, "channel mismatch: " + describe("x", x) + " but " +
                       describe("w", w) + " (layout KH, KW, C, OC)");
  }
  const Geometry g = geometry(K, x, w.shape(0), w.shape(1), w.shape(3), sh, sw, dh, dw, pads);
  const float* bp = nullptr;
  py::array b;
  if (!bias.is_none()) {
    b = py::reinterpret_borrow<py::array>(bias);
    check_float_array(K, "bias", b, FloatKind::kF32, 1);
    check_shape(K, "bias", b, {g.OC});
    bp = cdata<float>(b);
  }
  py::array_t<float> y = new_array<float>({g.N, g.OH, g.OW, g.OC});
  const std::vector<float> zeros(static_cast<size_t>(g.C), 0.0f);
  convd::FwdArgs a{cdata<float>(x), cdata<float>(w), y.mutable_data(),
                   g.N, g.Hp, g.Wp, g.C, g.KH, g.KW, g.OC, g.OH, g.OW,
                   g.sh, g.sw, g.dh, g.dw, bp, relu, pads[0], pads[2], zeros.data()};
#if GF_CONV_DIRECT
  const index_t P = g.N * g.OH * g.OW;
  const index_t work = P * g.OC * g.KH * g.KW * g.C;
  const int nt = work >= (index_t(1) << 20) ? compute_threads() : 1;
  // Chunks of 24 pixels: a multiple of every tile height.
  const index_t chunk = 24, chunks = (P + chunk - 1) / chunk;
  py::gil_scoped_release release;
  if (nt <= 1) {
    convd::avx512_forward(a, 0, P);
    return std::move(y);
  }
  const Spread spread;
#pragma omp parallel num_threads(nt)
  {
    if (thread_id() > 0) spread.worker();
#pragma omp for schedule(dynamic, 1)
    for (index_t i = 0; i < chunks; ++i) {
      convd::avx512_forward(a, i * chunk, std::min(P, (i + 1) * chunk));
    }
  }
#endif
  return std::move(y);
}

// dw = the gradient of conv2d_direct(x, w) w.r.t. w for the output gradient dy.
py::array conv2d_direct_filter(const py::array& x, const py::array& dy,
                               index_t KH, index_t KW, index_t sh, index_t sw,
                               index_t dh, index_t dw) {
  const char* K = "conv2d_direct_filter";
  require_direct(K);
  check_float_array(K, "x", x, FloatKind::kF32, 4);
  check_float_array(K, "dy", dy, FloatKind::kF32, 4);
  const Geometry g = geometry(K, x, KH, KW, dy.shape(3), sh, sw, dh, dw);
  check_shape(K, "dy", dy, {g.N, g.OH, g.OW, g.OC});
  const index_t rows = g.KH * g.KW * g.C;
  py::array_t<float> out = new_array<float>({g.KH, g.KW, g.C, g.OC});
  float* o = out.mutable_data();
  convd::FilterArgs a{cdata<float>(x), cdata<float>(dy), g.N, g.Hp, g.Wp, g.C,
                      g.KH, g.KW, g.OC, g.OH, g.OW, g.sh, g.sw, g.dh, g.dw};
  const index_t size = rows * g.OC;
  const index_t Q = g.N * g.OH;
  const index_t work = Q * g.OW * size;
  const int nt = work >= (index_t(1) << 20) ? std::max(1, compute_threads()) : 1;
  py::gil_scoped_release release;
  std::fill(o, o + size, 0.0f);
#if GF_CONV_DIRECT
  // Blocks of pixel rows small enough that a block's input rows and output
  // gradient stay in the L2 cache while every kernel row tile reads them.
  const index_t pix_bytes = (g.OW * g.OC + g.sh * g.Wp * g.C) * 4;
  const index_t qb = std::max<index_t>(1, std::min<index_t>(64, (index_t(256) << 10) / std::max<index_t>(pix_bytes, 1)));
  const index_t blocks = (Q + qb - 1) / qb;
  // The pixel rows are split into `parts` fixed ranges, each summed into its own
  // accumulator and the accumulators added in order: the result depends on the
  // shapes only, not on the thread count or which thread took which range
  // (bit-for-bit reproducible steps).  At most 8 parts and 16 MB of them.
  const index_t cap = std::max<index_t>(1, (index_t(16) << 20) / (size * 4));
  const index_t parts = std::max<index_t>(1, std::min<index_t>({8, cap, blocks}));
  std::vector<float> part(static_cast<size_t>(parts - 1) * size, 0.0f);
  auto run_part = [&](index_t i) {
    float* acc = i == 0 ? o : part.data() + static_cast<size_t>(i - 1) * size;
    const index_t b0 = blocks * i / parts, b1 = blocks * (i + 1) / parts;
    for (index_t b = b0; b < b1; ++b) convd::avx512_filter(a, b * qb, std::min(Q, (b + 1) * qb), acc);
  };
  if (nt <= 1 || parts == 1) {
    for (index_t i = 0; i < parts; ++i) run_part(i);
  } else {
    const Spread spread;
#pragma omp parallel num_threads(nt)
    {
      if (thread_id() > 0) spread.worker();
#pragma omp for schedule(dynamic, 1)
      for (index_t i = 0; i < parts; ++i) run_part(i);
    }
  }
  for (index_t i = 1; i < parts; ++i) {
    const float* p = part.data() + static_cast<size_t>(i - 1) * size;
    for (index_t j = 0; j < size; ++j) o[j] += p[j];
  }
#endif
  return std::move(out);
}

// c = op(a) @ op(b) for float32 matrices (op: transpose or not), on the
// register-blocked AVX-512 loops: NN with K in blocks, A B^T as (B A^T)^T
// (transposed chunk by chunk), A^T B as a reduction over the rows of A and B.
py::array gemm(const py::array& a, const py::array& b, bool trans_a, bool trans_b,
               py::object out) {
  const char* K = "gemm";
  require_direct(K);
  check_float_array(K, "a", a, FloatKind::kF32, 2);
  check_float_array(K, "b", b, FloatKind::kF32, 2);
  if (trans_a && trans_b) value_error(K, "a^T b^T is not supported (transpose the product)");
  const index_t M = trans_a ? a.shape(1) : a.shape(0);
  const index_t Ka = trans_a ? a.shape(0) : a.shape(1);
  const index_t Kb = trans_b ? b.shape(1) : b.shape(0);
  const index_t N = trans_b ? b.shape(0) : b.shape(1);
  if (Ka != Kb) {
    value_error(K, "inner dimensions differ: " + describe("a", a) + (trans_a ? " (transposed)" : "") +
                       " and " + describe("b", b) + (trans_b ? " (transposed)" : ""));
  }
  py::array c;
  if (out.is_none()) {
    c = new_array<float>({M, N});
  } else {
    c = py::reinterpret_borrow<py::array>(out);
    check_float_array(K, "out", c, FloatKind::kF32, 2);
    check_shape(K, "out", c, {M, N});
    if (!c.writeable()) value_error(K, "out " + describe("out", c) + " is read-only");
    auto overlaps = [&](const py::array& x) {
      const char* c0 = static_cast<const char*>(c.data());
      const char* x0 = static_cast<const char*>(x.data());
      return c.nbytes() > 0 && x.nbytes() > 0 && c0 < x0 + x.nbytes() && x0 < c0 + c.nbytes();
    };
    if (overlaps(a) || overlaps(b)) value_error(K, "out shares memory with an input");
  }
  float* cp = static_cast<float*>(c.mutable_data());
  const index_t work = M * N * Ka;
  if (M == 0 || N == 0) return c;
  if (Ka == 0) {
    std::fill(cp, cp + M * N, 0.0f);
    return c;
  }
#if GF_CONV_DIRECT
  if (trans_b) {
    // C^T[N, M] = b[N, K] a^T[K, M] (a^T is copied: the caller's M is small), in
    // chunks of 96 rows of b written to a per-chunk buffer and copied transposed
    // into c (contiguous runs of 96), which beats scattered stores 2x.
    std::vector<float> at(static_cast<size_t>(Ka * M));
    const float* ap = cdata<float>(a);
    py::gil_scoped_release release;
    for (index_t m = 0; m < M; ++m)
      for (index_t k = 0; k < Ka; ++k) at[k * M + m] = ap[m * Ka + k];
    const index_t rchunk = 96, rows = (N + rchunk - 1) / rchunk;
    parallel_items(rows, work, [&](index_t r) {
      const index_t n0 = r * rchunk, n1 = std::min(N, n0 + rchunk);
      std::vector<float> buf(static_cast<size_t>((n1 - n0) * M));
      convd::GemmArgs g{cdata<float>(b) + n0 * Ka, at.data(), buf.data(), n1 - n0, M, Ka, Ka, M, M, Ka};
      for (index_t j = 0; j < M; j += 64) convd::avx512_gemm_nn(g, 0, n1 - n0, j);
      for (index_t m = 0; m < M; ++m) {
        float* dst = cp + m * N + n0;
        for (index_t i = 0; i < n1 - n0; ++i) dst[i] = buf[i * M + m];
      }
    });
    return c;
  }
  if (trans_a) {
    convd::GemmArgs g{cdata<float>(a), cdata<float>(b), cp, M, N, Ka, M, N, N, Ka};
    const index_t rchunk = 96, rows = (M + rchunk - 1) / rchunk, cols = (N + 63) / 64;
    py::gil_scoped_release release;
    parallel_items(rows * cols, work, [&](index_t i) {
      const index_t r = i / cols, j = i % cols;
      convd::avx512_gemm_tn(g, r * rchunk, std::min(M, (r + 1) * rchunk), j * 64);
    });
    return c;
  }
  convd::GemmArgs g{cdata<float>(a), cdata<float>(b), cp, M, N, Ka, Ka, N, N, 256};
  const index_t rchunk = 96, rows = (M + rchunk - 1) / rchunk, cols = (N + 63) / 64;
  py::gil_scoped_release release;
  parallel_items(rows * cols, work, [&](index_t i) {
    const index_t r = i / cols, j = i % cols;
    convd::avx512_gemm_nn(g, r * rchunk, std::min(M, (r + 1) * rchunk), j * 64);
  });
#endif
  return c;
}

void set_compute_threads(int n) {
  if (n < 1) {
    value_error("set_compute_threads", "the number of threads must be >= 1, got " +
                                           std::to_string(n));
  }
  compute_threads_setting().store(n, std::memory_order_relaxed);
}

}  // namespace

void register_conv_direct(py::module_& m) {
  using py::arg;
  m.def("conv_direct_available", &direct_available,
        "True when the direct float32 convolution kernels run on this CPU "
        "(AVX-512F).");
  m.def("conv2d_direct", &conv2d_direct, arg("x"), arg("w"), arg("sh"), arg("sw"),
        arg("dh"), arg("dw"), arg("bias") = py::none(), arg("relu") = false,
        arg("pads") = std::vector<index_t>{0, 0, 0, 0},
        "float32 NHWC convolution of x[N, H, W, C], zero-padded by pads (top, "
        "bottom, left, right; nothing is copied), with w[KH, KW, C, OC] (strides, "
        "dilations) -> y[N, OH, OW, OC]; bias[OC] added and ReLU applied in the "
        "same pass when given.");
  m.def("conv2d_direct_filter", &conv2d_direct_filter, arg("x"), arg("dy"), arg("kh"),
        arg("kw"), arg("sh"), arg("sw"), arg("dh"), arg("dw"),
        "Kernel gradient [KH, KW, C, OC] of conv2d_direct for the output "
        "gradient dy[N, OH, OW, OC].");
  m.def("gemm", &gemm, arg("a"), arg("b"), arg("trans_a") = false, arg("trans_b") = false,
        arg("out") = py::none(),
        "float32 op(a) @ op(b) on the direct AVX-512 loops (meant for skinny "
        "products, where one of M, N, K is small); not both transposed. out: "
        "optional C-contiguous float32 [M, N] result array.");
  m.def("set_compute_threads", &set_compute_threads, arg("n"),
        "Threads of the compute-bound kernels (the direct convolution; default 1, "
        "the Python loader sets BLAS's count).");
  m.def("get_compute_threads", &compute_threads,
        "Threads the compute-bound kernels use (1 without OpenMP).");
}

}  // namespace gf
