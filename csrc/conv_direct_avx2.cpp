// The direct float32 convolution and GEMM loops (csrc/conv_direct_kernels.inc)
// compiled for AVX2 + FMA (most laptops, AMD Zen 1-3): 8 floats per register,
// 12 of the 16 registers hold accumulators (6 rows x 2 vectors at most, the
// classic 6x16 tile).  csrc/conv_direct.cpp calls them only on CPUs that
// report AVX2 and FMA and not AVX-512F (or when a test asks for them).
//
// System headers are read before the target pragma (nothing they define is
// compiled for AVX2); only internal-linkage code and avx2_kernels() are.
#include "conv_direct.h"

#if GF_CONV_DIRECT
#include <immintrin.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#pragma GCC target("avx2,fma")
// GCC 12 cannot see that a tile of `rows` rows reads only the `rows` pointers set
// (-Wmaybe-uninitialized once the tiles are inlined).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace gf {
namespace convd {
namespace {

struct Avx2 {
  typedef __m256 vec;
  // Lane i of `lanes` is live when its bits are all set (as maskload and
  // maskstore read it); `full` when all 8 are, the common case, which takes
  // plain loads and stores (a masked store costs several times a plain one on
  // AMD Zen).  The test is loop-invariant: GCC unswitches the tile loops on it.
  struct mask {
    __m256i lanes;
    bool full;
  };
  static constexpr int W = 8;
  static constexpr int kAcc = 12;
  static constexpr int kMaxNV = 2;
  // The live lanes of the last vector of a row of `cols` columns (1..8 live).
  static mask tail(index_t cols) {
    const int r = static_cast<int>(cols - W * ((cols - 1) / W));
    return mask{_mm256_cmpgt_epi32(_mm256_set1_epi32(r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)),
                r == W};
  }
  static vec zero() { return _mm256_setzero_ps(); }
  static vec load(const float* p) { return _mm256_loadu_ps(p); }
  static vec load_tail(const mask& m, const float* p) {
    return m.full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m.lanes);
  }
  static void store(float* p, vec v) { _mm256_storeu_ps(p, v); }
  static void store_tail(float* p, const mask& m, vec v) {
    if (m.full) {
      _mm256_storeu_ps(p, v);
    } else {
      _mm256_maskstore_ps(p, m.lanes, v);
    }
  }
  static vec mul(vec a, vec b) { return _mm256_mul_ps(a, b); }
  static vec set1(float x) { return _mm256_set1_ps(x); }
  static vec bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static vec fma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
  static vec add(vec a, vec b) { return _mm256_add_ps(a, b); }
  static vec sub(vec a, vec b) { return _mm256_sub_ps(a, b); }
  static vec relu(vec a) { return _mm256_max_ps(a, _mm256_setzero_ps()); }
};

#include "conv_direct_kernels.inc"

}  // namespace

Kernels avx2_kernels() { return Direct<Avx2>::kernels(); }

}  // namespace convd
}  // namespace gf

#endif  // GF_CONV_DIRECT
