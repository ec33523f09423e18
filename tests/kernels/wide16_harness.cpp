// Test harness (built by tests/kernels/test_direct_wide.py, never shipped):
// the loops of csrc/conv_direct_kernels.inc instantiated for 16-lane vectors,
// as the AVX-512 build instantiates them, but with each vector held in two
// AVX2 registers.  A machine without AVX-512 (most CI machines, most laptops)
// can then run every code path the 16-lane width takes: column tiles of up to
// 4 vectors, 16-lane tails, tiles of up to 6 rows of 4 vectors, the Winograd
// blocks; only the AVX-512 instructions of csrc/conv_direct_avx512.cpp's
// traits struct (one line each) stay unexecuted.
//
// Entry points take plain pointers and sizes (ctypes), one call of the
// Kernels table each, single-threaded.
#include "conv_direct.h"

#include <immintrin.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#pragma GCC target("avx2,fma")
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace gf {
namespace convd {
namespace {

// The traits of csrc/conv_direct_avx512.cpp (W = 16, 24 accumulators, up to 4
// vectors of columns) over pairs of __m256; a mask is the 16 live-lane bits.
struct Wide16 {
  struct vec {
    __m256 lo, hi;
  };
  typedef unsigned mask;
  static constexpr int W = 16;
  static constexpr int kAcc = 24;
  static constexpr int kMaxNV = 4;
  static mask tail(index_t cols) {
    const index_t r = cols - W * ((cols - 1) / W);
    return r >= W ? 0xFFFFu : ((1u << r) - 1u);
  }
  static __m256i lanes(unsigned bits) {
    const __m256i one_each = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits)), one_each),
                              one_each);
  }
  static vec zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  static vec load(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
  // Masked lanes are not read (maskload), as with AVX-512's masked loads.
  static vec load_tail(mask m, const float* p) {
    return {_mm256_maskload_ps(p, lanes(m & 0xFFu)), _mm256_maskload_ps(p + 8, lanes(m >> 8))};
  }
  static void store(float* p, vec v) {
    _mm256_storeu_ps(p, v.lo);
    _mm256_storeu_ps(p + 8, v.hi);
  }
  static void store_tail(float* p, mask m, vec v) {
    _mm256_maskstore_ps(p, lanes(m & 0xFFu), v.lo);
    _mm256_maskstore_ps(p + 8, lanes(m >> 8), v.hi);
  }
  static vec mul(vec a, vec b) { return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
  static vec set1(float x) { return {_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
  static vec bcast(const float* p) { return set1(*p); }
  static vec fma(vec a, vec b, vec c) {
    return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
  }
  static vec add(vec a, vec b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
  static vec sub(vec a, vec b) { return {_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)}; }
  static vec relu(vec a) {
    return {_mm256_max_ps(a.lo, _mm256_setzero_ps()), _mm256_max_ps(a.hi, _mm256_setzero_ps())};
  }
};

#include "conv_direct_kernels.inc"

const Kernels kWide = Direct<Wide16>::kernels();

}  // namespace
}  // namespace convd
}  // namespace gf

using gf::convd::index_t;
using gf::convd::kWide;

extern "C" {

// c[M, N] = a[M, K] b[K, N], K in blocks of kc.
void gf16_gemm_nn(const float* a, const float* b, float* c, index_t M, index_t N, index_t K, index_t kc) {
  const gf::convd::GemmArgs g{a, b, c, M, N, K, K, N, N, kc};
  for (index_t j = 0; j < N; j += gf::convd::kBlockCols) kWide.gemm_nn(g, 0, M, j);
}

// c[M, N] = a[K, M]^T b[K, N].
void gf16_gemm_tn(const float* a, const float* b, float* c, index_t M, index_t N, index_t K) {
  const gf::convd::GemmArgs g{a, b, c, M, N, K, M, N, N, K};
  for (index_t j = 0; j < N; j += gf::convd::kBlockCols) kWide.gemm_tn(g, 0, M, j);
}

// y = act(conv(x, w) + bias) over output pixels [p0, p1) (FwdArgs).
void gf16_forward(const float* x, const float* w, float* y, const index_t* s, const float* bias, int relu,
                  const float* zeros, index_t p0, index_t p1) {
  // s: N, H, W, C, KH, KW, OC, OH, OW, sh, sw, dh, dw, pt, pl
  const gf::convd::FwdArgs g{x, w, y, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10],
                             s[11], s[12], bias, relu != 0, s[13], s[14], zeros};
  kWide.forward(g, p0, p1);
}

// acc[KH*KW*C, OC] += the kernel gradient over pixel rows [q0, q1) (x pre-padded).
void gf16_filter(const float* x, const float* dy, float* acc, const index_t* s, index_t q0, index_t q1) {
  // s: N, Hp, Wp, C, KH, KW, OC, OH, OW, sh, sw, dh, dw
  const gf::convd::FilterArgs g{x, dy, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10],
                                s[11], s[12]};
  kWide.filter(g, q0, q1, acc);
}

// Winograd F(m x m, 3 x 3) forward over all tiles in blocks of `block` tiles,
// with u = G w G^T given ([(m+2)^2][C][OC]).
void gf16_winograd(const float* x, const float* u, float* y, const index_t* s, const float* bias, int relu,
                   const float* zeros, int m, index_t block) {
  // s: N, H, W, C, OC, OH, OW, pt, pl
  const index_t TH = (s[5] + m - 1) / m, TW = (s[6] + m - 1) / m, tiles = s[0] * TH * TW;
  const gf::convd::WinoArgs a{x, u, y, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], TH, TW,
                              bias, relu != 0, zeros, nullptr, m};
  std::vector<float> scratch(static_cast<size_t>(block * (m + 2) * (m + 2) * (s[3] + s[4])));
  for (index_t t = 0; t < tiles; t += block) kWide.winograd(a, t, std::min(tiles, t + block), scratch.data());
}

// acc[(m+2)^2][C][OC] += the gradient of u = G w G^T, over all tiles in blocks
// of `block` (x pre-padded).
void gf16_winograd_filter(const float* x, const float* dy, float* acc, const index_t* s, const float* zeros,
                          int m, index_t block) {
  // s: N, Hp, Wp, C, OC, OH, OW
  const index_t TH = (s[5] + m - 1) / m, TW = (s[6] + m - 1) / m, tiles = s[0] * TH * TW;
  const gf::convd::WinoArgs a{x, nullptr, nullptr, s[0], s[1], s[2], s[3], s[4], s[5], s[6], 0, 0, TH, TW,
                              nullptr, false, zeros, dy, m};
  std::vector<float> scratch(static_cast<size_t>(block * (m + 2) * (m + 2) * (s[3] + s[4])));
  for (index_t t = 0; t < tiles; t += block) {
    kWide.winograd_filter(a, t, std::min(tiles, t + block), scratch.data(), acc);
  }
}

}  // extern "C"
