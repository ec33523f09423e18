// Python entry points of the direct float32 convolution kernels (see
// csrc/conv_direct.h): validation before any pointer is used, the split of
// the work between threads, and the per-thread accumulators of the filter
// gradient.  Only on CPUs with AVX-512F or AVX2 + FMA; `conv_direct_available()`
// tells the Python side whether to call them (it uses im2col + BLAS otherwise).
#include <algorithm>
#include <string>
#include <vector>

#include <pybind11/stl.h>

#include "conv_direct.h"
#include "gf_isa.h"
#include "gf_pyutil.h"
#include "gf_threads.h"

namespace gf {
namespace {

// The instruction set of the direct kernels: the widest the CPU has, or a
// narrower one a test asked for (set_conv_direct_isa).
IsaChoice& isa_choice() {
  static IsaChoice choice(cpu_isa(GF_CONV_DIRECT, true), "none", false);
  return choice;
}

bool direct_available() { return isa_choice().get() != Isa::kBase; }

// The kernels of the instruction set in use; raises when there is none.
convd::Kernels kernels_for(const char* kernel) {
  const convd::Kernels* k = convd::active_kernels();
  if (k == nullptr) {
    value_error(kernel, "needs a CPU with AVX-512F or AVX2 + FMA and a GCC x86-64 build "
                        "(check conv_direct_available() first)");
  }
  return *k;
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

// The Winograd kernel transform G (n x 3, n = m + 2), in double: F(2x2, 3x3)
// [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1], F(4x4, 3x3) [1/4 0 0; -1/6 -1/6
// -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1].
const double (*winograd_G(int m))[3] {
  static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  static const double G4[6][3] = {{0.25, 0, 0},
                                  {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                  {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                  {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                  {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                  {0, 0, 1}};
  return m == 4 ? G4 : G2;
}

// u[n*n][C][OC] = G w G^T for each (c, oc) of a [3, 3, C, OC] kernel, computed
// in double and rounded once.
std::vector<float> winograd_kernel(const float* w, index_t C, index_t OC, int m) {
  const int n = m + 2;
  const double(*G)[3] = winograd_G(m);
  const index_t CO = C * OC;
  std::vector<float> u(static_cast<size_t>(n * n * CO));
  for (index_t k = 0; k < CO; ++k) {
    double gk[3][3], t[6][3];
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) gk[a][b] = w[(a * 3 + b) * CO + k];
    for (int a = 0; a < n; ++a)  // rows: G g
      for (int b = 0; b < 3; ++b) t[a][b] = G[a][0] * gk[0][b] + G[a][1] * gk[1][b] + G[a][2] * gk[2][b];
    for (int a = 0; a < n; ++a)  // columns: (G g) G^T
      for (int b = 0; b < n; ++b)
        u[(n * a + b) * CO + k] = static_cast<float>(G[b][0] * t[a][0] + G[b][1] * t[a][1] + G[b][2] * t[a][2]);
  }
  return u;
}

// dw[3, 3, C, OC] = G^T du G for each (c, oc) of du[n*n][C][OC], the gradient
// of the transformed kernel (the adjoint of winograd_kernel), in double.
void winograd_kernel_grad(const float* du, index_t C, index_t OC, int m, float* dw) {
  const int n = m + 2;
  const double(*G)[3] = winograd_G(m);
  const index_t CO = C * OC;
  for (index_t k = 0; k < CO; ++k) {
    double t[3][6];
    for (int b = 0; b < n; ++b)  // rows: G^T du
      for (int a = 0; a < 3; ++a) {
        double sum = 0;
        for (int i = 0; i < n; ++i) sum += G[i][a] * du[(n * i + b) * CO + k];
        t[a][b] = sum;
      }
    for (int a = 0; a < 3; ++a)  // columns: (G^T du) G
      for (int b = 0; b < 3; ++b) {
        double sum = 0;
        for (int j = 0; j < n; ++j) sum += t[a][j] * G[j][b];
        dw[(a * 3 + b) * CO + k] = static_cast<float>(sum);
      }
  }
}

// Tiles per Winograd block: their transformed inputs and products ((m+2)^2 *
// (C + OC) floats a tile) take at most about `kb` KB, so they stay in L2 between
// the steps, in multiples of 6 (the GEMM tiles' rows), and the stride between
// two transform positions is not a multiple of 4 KB (stores 4 KB apart wait on
// each other: 48 tiles of 64 channels took 4.2 ms for the notes' kernel
// gradient, 30 and 60 tiles 3.7 and 3.4 ms).  The forward takes 192 KB (6 to
// 60 tiles all within 10% there), the kernel gradient 384 KB: its GEMMs sum
// over the block's tiles, so longer blocks mean fewer accumulator round trips.
index_t winograd_block(const Geometry& g, int m, index_t kb) {
  const index_t per_tile = (m + 2) * (m + 2) * (g.C + g.OC);
  index_t block = 6 * std::max<index_t>(1, std::min<index_t>(16, (kb << 8) / per_tile / 6));
  auto aliased = [&](index_t t) { return (t * g.C * 4) % 4096 == 0 || (t * g.OC * 4) % 4096 == 0; };
  if (block > 6 && aliased(block)) block -= 6;
  return block;
}

// The Winograd tiles 'auto' takes (see winograd_tile).  Measured on 2 AVX2
// cores for the notes' second convolution (medians): forward 2.98 ms with
// F(2x2, 3x3), 2.30 ms with F(4x4, 3x3); input gradient 3.25 and 2.79 ms;
// kernel gradient 2.62 and 2.45 ms.  F(4x4) rounds more (relative errors up
// to ~6e-6 of the largest value instead of ~1e-6): worth it for the forward
// and input gradient, not for the kernel gradient's 7%.
constexpr int kForwardTile = 4;
constexpr int kFilterTile = 2;

// The Winograd output tile size `algorithm` asks for this convolution: 0 for
// the direct loops ('direct'), 2 for F(2x2, 3x3) ('winograd'), 4 for F(4x4,
// 3x3) ('winograd4'), `auto_tile` for 'auto' where Winograd applies with at
// least 16 input and output channels (fewer input channels leave the
// transforms more work than they save).  Winograd needs a 3x3 kernel with
// stride and dilation 1.
int winograd_tile(const char* kernel, const std::string& algorithm, const Geometry& g, int auto_tile) {
  const bool fits = g.KH == 3 && g.KW == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1;
  if (algorithm == "direct") return 0;
  if (algorithm == "auto") return fits && g.C >= 16 && g.OC >= 16 ? auto_tile : 0;
  const int m = algorithm == "winograd" ? 2 : algorithm == "winograd4" ? 4 : 0;
  if (m == 0) {
    value_error(kernel, "algorithm must be 'auto', 'direct', 'winograd' or 'winograd4', got '" + algorithm + "'");
  }
  if (!fits) {
    value_error(kernel, "algorithm '" + algorithm + "' needs a 3x3 kernel with stride 1 and dilation 1, got " +
                            std::to_string(g.KH) + "x" + std::to_string(g.KW) + " with strides (" +
                            std::to_string(g.sh) + ", " + std::to_string(g.sw) + ") and dilations (" +
                            std::to_string(g.dh) + ", " + std::to_string(g.dw) + ")");
  }
  return m;
}

// y = conv2d(x, w), VALID on the pre-padded x.
py::array conv2d_direct(const py::array& x, const py::array& w, index_t sh,
                        index_t sw, index_t dh, index_t dw, py::object bias, bool relu,
                        const std::vector<index_t>& pads, const std::string& algorithm) {
  const char* K = "conv2d_direct";
  const convd::Kernels kern = kernels_for(K);
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
  if (const int m = winograd_tile(K, algorithm, g, kForwardTile)) {
    const std::vector<float> u = winograd_kernel(cdata<float>(w), g.C, g.OC, m);
    const index_t TH = (g.OH + m - 1) / m, TW = (g.OW + m - 1) / m, tiles = g.N * TH * TW;
    const index_t per_tile = (m + 2) * (m + 2) * (g.C + g.OC), block = winograd_block(g, m, 192);
    const index_t blocks = (tiles + block - 1) / block;
    const int nt = std::max(1, compute_threads());
    std::vector<float> scratch(static_cast<size_t>(nt * block * per_tile));
    const convd::WinoArgs a{cdata<float>(x), u.data(), y.mutable_data(), g.N, g.Hp, g.Wp, g.C, g.OC,
                            g.OH, g.OW, pads[0], pads[2], TH, TW, bp, relu, zeros.data(), nullptr, m};
    py::gil_scoped_release release;
    parallel_items(blocks, tiles * m * m * g.C * g.OC, [&](index_t b) {
      const index_t t0 = b * block, t1 = std::min(tiles, t0 + block);
      kern.winograd(a, t0, t1, scratch.data() + static_cast<size_t>(thread_id()) * block * per_tile);
    });
    return std::move(y);
  }
  convd::FwdArgs a{cdata<float>(x), cdata<float>(w), y.mutable_data(),
                   g.N, g.Hp, g.Wp, g.C, g.KH, g.KW, g.OC, g.OH, g.OW,
                   g.sh, g.sw, g.dh, g.dw, bp, relu, pads[0], pads[2], zeros.data()};
#if GF_CONV_DIRECT
  const index_t P = g.N * g.OH * g.OW;
  const index_t work = P * g.OC * g.KH * g.KW * g.C;
  const int nt = work >= (index_t(1) << 20) ? compute_threads() : 1;
  // Chunks of a multiple of 24 pixels (a multiple of every tile height) with at
  // least 2^16 multiply-adds: with one input channel, 24 pixels are a few
  // microseconds of work and handing them out cost more than it saved (the
  // notes' first convolution: 1.05 ms on 2 threads with 24, 0.82 ms on one).
  const index_t per_pixel = g.OC * g.KH * g.KW * g.C;
  const index_t chunk = 24 * std::max<index_t>(1, (index_t(1) << 16) / (24 * per_pixel));
  const index_t chunks = (P + chunk - 1) / chunk;
  py::gil_scoped_release release;
  if (nt <= 1) {  // one call: no per-chunk setup
    kern.forward(a, 0, P);
    return std::move(y);
  }
  parallel_items(chunks, work, [&](index_t i) { kern.forward(a, i * chunk, std::min(P, (i + 1) * chunk)); });
#endif
  return std::move(y);
}

// Sums f(b, acc) over blocks b in [0, blocks) into out[size]: the blocks are
// split into `parts` fixed ranges, each summed into its own accumulator in
// order and the accumulators added in order, so the result depends on the
// shapes only, not on the thread count or which thread took which range
// (bit-for-bit reproducible steps).  At most 8 parts and 16 MB of them; the
// parts run on the compute threads when `work` (multiply-adds) is large.
template <typename F>
void sum_in_parts(index_t blocks, index_t size, index_t work, float* out, F f) {
  std::fill(out, out + size, 0.0f);
  const index_t cap = std::max<index_t>(1, (index_t(16) << 20) / (size * 4));
  const index_t parts = std::max<index_t>(1, std::min<index_t>({8, cap, blocks}));
  std::vector<float> part(static_cast<size_t>(parts - 1) * size, 0.0f);
  auto run_part = [&](index_t i) {
    float* acc = i == 0 ? out : part.data() + static_cast<size_t>(i - 1) * size;
    const index_t b0 = blocks * i / parts, b1 = blocks * (i + 1) / parts;
    for (index_t b = b0; b < b1; ++b) f(b, acc);
  };
  parallel_items(parts, work, run_part);
  for (index_t i = 1; i < parts; ++i) {
    const float* p = part.data() + static_cast<size_t>(i - 1) * size;
    for (index_t j = 0; j < size; ++j) out[j] += p[j];
  }
}

// dw = the gradient of conv2d_direct(x, w) w.r.t. w for the output gradient dy.
py::array conv2d_direct_filter(const py::array& x, const py::array& dy,
                               index_t KH, index_t KW, index_t sh, index_t sw,
                               index_t dh, index_t dw, const std::string& algorithm) {
  const char* K = "conv2d_direct_filter";
  const convd::Kernels kern = kernels_for(K);
  check_float_array(K, "x", x, FloatKind::kF32, 4);
  check_float_array(K, "dy", dy, FloatKind::kF32, 4);
  const Geometry g = geometry(K, x, KH, KW, dy.shape(3), sh, sw, dh, dw);
  check_shape(K, "dy", dy, {g.N, g.OH, g.OW, g.OC});
  const int m = winograd_tile(K, algorithm, g, kFilterTile);
  const index_t rows = g.KH * g.KW * g.C;
  py::array_t<float> out = new_array<float>({g.KH, g.KW, g.C, g.OC});
  float* o = out.mutable_data();
  const index_t size = rows * g.OC;
  const index_t work = g.N * g.OH * g.OW * size;
  py::gil_scoped_release release;
  if (m != 0) {
    // The gradient of the transformed kernel, summed over blocks of tiles, then
    // G^T du G (see winograd_filter_tiles).
    const std::vector<float> zeros(static_cast<size_t>(g.C), 0.0f);
    const index_t TH = (g.OH + m - 1) / m, TW = (g.OW + m - 1) / m, tiles = g.N * TH * TW;
    const index_t nn = (m + 2) * (m + 2), per_tile = nn * (g.C + g.OC), block = winograd_block(g, m, 384);
    std::vector<float> scratch(static_cast<size_t>(std::max(1, compute_threads()) * block * per_tile));
    std::vector<float> du(static_cast<size_t>(nn * g.C * g.OC));
    const convd::WinoArgs a{cdata<float>(x), nullptr, nullptr, g.N, g.Hp, g.Wp, g.C, g.OC, g.OH, g.OW,
                            0, 0, TH, TW, nullptr, false, zeros.data(), cdata<float>(dy), m};
    sum_in_parts((tiles + block - 1) / block, nn * g.C * g.OC, work, du.data(), [&](index_t b, float* acc) {
      kern.winograd_filter(a, b * block, std::min(tiles, (b + 1) * block),
                           scratch.data() + static_cast<size_t>(thread_id()) * block * per_tile, acc);
    });
    winograd_kernel_grad(du.data(), g.C, g.OC, m, o);
    return std::move(out);
  }
  convd::FilterArgs a{cdata<float>(x), cdata<float>(dy), g.N, g.Hp, g.Wp, g.C,
                      g.KH, g.KW, g.OC, g.OH, g.OW, g.sh, g.sw, g.dh, g.dw};
  // Blocks of pixel rows small enough that a block's input rows and output
  // gradient stay in the L2 cache while every kernel row tile reads them.
  const index_t Q = g.N * g.OH;
  const index_t pix_bytes = (g.OW * g.OC + g.sh * g.Wp * g.C) * 4;
  const index_t qb = std::max<index_t>(1, std::min<index_t>(64, (index_t(256) << 10) / std::max<index_t>(pix_bytes, 1)));
  sum_in_parts((Q + qb - 1) / qb, size, work, o, [&](index_t b, float* acc) {
    kern.filter(a, b * qb, std::min(Q, (b + 1) * qb), acc);
  });
  return std::move(out);
}

// c = op(a) @ op(b) for float32 matrices (op: transpose or not), on the
// register-blocked direct loops (AVX-512 or AVX2): NN with K in blocks, A B^T as (B A^T)^T
// (transposed chunk by chunk), A^T B as a reduction over the rows of A and B.
py::array gemm(const py::array& a, const py::array& b, bool trans_a, bool trans_b,
               py::object out) {
  const char* K = "gemm";
  const convd::Kernels kern = kernels_for(K);
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
    // chunks of 96 rows of b (see nt_columns).
    const index_t rchunk = 96, rows = (N + rchunk - 1) / rchunk;
    std::vector<float> at(static_cast<size_t>(Ka * M));
    std::vector<float> bufs(static_cast<size_t>(std::max(1, compute_threads()) * rchunk * M));
    py::gil_scoped_release release;
    convd::transpose(cdata<float>(a), M, Ka, at.data());
    parallel_items(rows, work, [&](index_t r) {
      const index_t n0 = r * rchunk, n1 = std::min(N, n0 + rchunk);
      float* buf = bufs.data() + static_cast<size_t>(thread_id()) * rchunk * M;
      convd::nt_columns(kern, cdata<float>(b) + n0 * Ka, n1 - n0, Ka, at.data(), M, buf, cp + n0, N);
    });
    return c;
  }
  if (trans_a) {
    convd::GemmArgs g{cdata<float>(a), cdata<float>(b), cp, M, N, Ka, M, N, N, Ka};
    const index_t rchunk = 96, rows = (M + rchunk - 1) / rchunk, cols = (N + convd::kBlockCols - 1) / convd::kBlockCols;
    py::gil_scoped_release release;
    parallel_items(rows * cols, work, [&](index_t i) {
      const index_t r = i / cols, j = i % cols;
      kern.gemm_tn(g, r * rchunk, std::min(M, (r + 1) * rchunk), j * convd::kBlockCols);
    });
    return c;
  }
  convd::GemmArgs g{cdata<float>(a), cdata<float>(b), cp, M, N, Ka, Ka, N, N, 256};
  const index_t rchunk = 96, rows = (M + rchunk - 1) / rchunk, cols = (N + convd::kBlockCols - 1) / convd::kBlockCols;
  py::gil_scoped_release release;
  parallel_items(rows * cols, work, [&](index_t i) {
    const index_t r = i / cols, j = i % cols;
    kern.gemm_nn(g, r * rchunk, std::min(M, (r + 1) * rchunk), j * convd::kBlockCols);
  });
#endif
  return c;
}

std::string conv_direct_isa() { return isa_choice().name(); }

// Tests: run the direct kernels with a narrower instruction set (never a wider
// one than the CPU reports); returns the one now in use.
std::string set_conv_direct_isa(const std::string& name) {
  return isa_choice().set("set_conv_direct_isa", name);
}

void set_compute_threads(int n) {
  if (n < 1) {
    value_error("set_compute_threads", "the number of threads must be >= 1, got " +
                                           std::to_string(n));
  }
  compute_threads_setting().store(n, std::memory_order_relaxed);
}

}  // namespace

namespace convd {

const Kernels* active_kernels() {
#if GF_CONV_DIRECT
  // Each table is built only when its branch is taken: avx512_kernels() is
  // compiled for AVX-512 and may use its instructions even to copy the table.
  if (isa_choice().get() == Isa::kAvx512) {
    static const Kernels avx512 = avx512_kernels();
    return &avx512;
  }
  if (isa_choice().get() == Isa::kAvx2) {
    static const Kernels avx2 = avx2_kernels();
    return &avx2;
  }
#endif
  return nullptr;
}

void transpose(const float* in, index_t rows, index_t cols, float* out) {
  for (index_t r = 0; r < rows; ++r)
    for (index_t c = 0; c < cols; ++c) out[c * rows + r] = in[r * cols + c];
}

void nt_columns(const Kernels& k, const float* b_rows, index_t rows, index_t K, const float* at,
                index_t M, float* buf, float* c_col, index_t ldc) {
  const GemmArgs g{b_rows, at, buf, rows, M, K, K, M, M, 256};
  for (index_t j = 0; j < M; j += kBlockCols) k.gemm_nn(g, 0, rows, j);
  for (index_t m = 0; m < M; ++m) {
    float* dst = c_col + m * ldc;
    for (index_t i = 0; i < rows; ++i) dst[i] = buf[i * M + m];
  }
}

}  // namespace convd

void register_conv_direct(py::module_& m) {
  using py::arg;
  m.def("conv_direct_available", &direct_available,
        "True when the direct float32 convolution kernels run on this CPU "
        "(AVX-512F, or AVX2 and FMA).");
  m.def("conv_direct_isa", &conv_direct_isa,
        "Instruction set of the direct kernels: 'avx512', 'avx2' or 'none'.");
  m.def("set_conv_direct_isa", &set_conv_direct_isa, arg("name"),
        "Tests: run the direct kernels with 'avx2', 'avx512' or 'auto' (at "
        "most what the CPU supports).");
  m.def("conv2d_direct", &conv2d_direct, arg("x"), arg("w"), arg("sh"), arg("sw"),
        arg("dh"), arg("dw"), arg("bias") = py::none(), arg("relu") = false,
        arg("pads") = std::vector<index_t>{0, 0, 0, 0}, arg("algorithm") = "auto",
        "float32 NHWC convolution of x[N, H, W, C], zero-padded by pads (top, "
        "bottom, left, right; nothing is copied), with w[KH, KW, C, OC] (strides, "
        "dilations) -> y[N, OH, OW, OC]; bias[OC] added and ReLU applied in the "
        "same pass when given. algorithm: 'direct' (register-blocked loops over "
        "the window), 'winograd' (F(2x2, 3x3)) or 'winograd4' (F(4x4, 3x3); "
        "both for 3x3 kernels with stride and dilation 1 only), or 'auto' "
        "(F(4x4, 3x3) where it applies with at least 16 input and output "
        "channels, else direct).");
  m.def("conv2d_direct_filter", &conv2d_direct_filter, arg("x"), arg("dy"), arg("kh"),
        arg("kw"), arg("sh"), arg("sw"), arg("dh"), arg("dw"), arg("algorithm") = "auto",
        "Kernel gradient [KH, KW, C, OC] of conv2d_direct for the output "
        "gradient dy[N, OH, OW, OC] (x pre-padded); algorithm as for "
        "conv2d_direct, except that 'auto' takes F(2x2, 3x3).");
  m.def("gemm", &gemm, arg("a"), arg("b"), arg("trans_a") = false, arg("trans_b") = false,
        arg("out") = py::none(),
        "float32 op(a) @ op(b) on the direct AVX-512/AVX2 loops (meant for skinny "
        "products, where one of M, N, K is small); not both transposed. out: "
        "optional C-contiguous float32 [M, N] result array.");
  m.def("set_compute_threads", &set_compute_threads, arg("n"),
        "Threads of the compute-bound kernels (the direct convolution; default 1, "
        "the Python loader sets BLAS's count).");
  m.def("get_compute_threads", &compute_threads,
        "Threads the compute-bound kernels use (1 without OpenMP).");
}

}  // namespace gf
