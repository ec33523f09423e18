// The direct float32 convolution and GEMM loops (csrc/conv_direct_kernels.inc)
// compiled for AVX-512F: 16 floats per register, 24 of the 32 registers hold
// accumulators.  csrc/conv_direct.cpp calls them only on CPUs that report
// AVX-512F.
//
// System headers are read before the target pragma (nothing they define is
// compiled for AVX-512); only internal-linkage code and avx512_kernels() are.
#include "conv_direct.h"

#if GF_CONV_DIRECT
#include <immintrin.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#pragma GCC target("avx512f,fma")
// GCC 12's AVX-512 intrinsics trip -Wmaybe-uninitialized once inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace gf {
namespace convd {
namespace {

struct Avx512 {
  typedef __m512 vec;
  typedef __mmask16 mask;
  static constexpr int W = 16;
  static constexpr int kAcc = 24;
  static constexpr int kMaxNV = 4;
  // The live lanes of the last vector of a row of `cols` columns (1..16 live).
  static mask tail(index_t cols) {
    const index_t r = cols - W * ((cols - 1) / W);
    return r >= W ? (mask)0xFFFF : (mask)((1u << r) - 1u);
  }
  static vec zero() { return _mm512_setzero_ps(); }
  static vec load(const float* p) { return _mm512_loadu_ps(p); }
  static vec load_tail(mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, vec v) { _mm512_storeu_ps(p, v); }
  static void store_tail(float* p, mask m, vec v) { _mm512_mask_storeu_ps(p, m, v); }
  static vec mul(vec a, vec b) { return _mm512_mul_ps(a, b); }
  static vec set1(float x) { return _mm512_set1_ps(x); }
  static vec bcast(const float* p) { return _mm512_set1_ps(*p); }
  static vec fma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
  static vec add(vec a, vec b) { return _mm512_add_ps(a, b); }
  static vec sub(vec a, vec b) { return _mm512_sub_ps(a, b); }
  static vec relu(vec a) { return _mm512_max_ps(a, _mm512_setzero_ps()); }
};

#include "conv_direct_kernels.inc"

}  // namespace

Kernels avx512_kernels() { return Direct<Avx512>::kernels(); }

}  // namespace convd
}  // namespace gf

#endif  // GF_CONV_DIRECT
