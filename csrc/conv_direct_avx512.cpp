// AVX-512 variant of the direct (implicit-GEMM) float32 convolution kernels
// declared in csrc/conv_direct.h; csrc/conv_direct.cpp validates the arrays,
// splits the work between threads and calls these only on CPUs that report
// AVX-512F.
//
// Both kernels are register-blocked outer products, C[R x 16*NV] += a (x) b
// summed over a reduction index, with the "A" operand read straight from the
// (pre-padded) NHWC input instead of from an im2col matrix:
//
// * forward: rows are R output pixels, columns 16*NV output channels, the
//   reduction runs over the window taps (kh, kw) and input channels c; A is
//   x[n, oh*sh + kh*dh, ow*sw + kw*dw, c], B the kernel row (kh, kw, c).
// * filter gradient: rows are R kernel rows (kh, kw, c), columns 16*NV output
//   channels, the reduction runs over the output pixels; A is the same input
//   element, B the output gradient row of the pixel.
//
// Every accumulator lives in a zmm register for the whole reduction (R * NV
// <= 24 of the 32), so each step loads NV vectors of B, broadcasts R scalars
// of A and issues R * NV fused multiply-adds.  Results therefore differ from
// the im2col + BLAS path by the rounding of a different summation order.
//
// System headers are read before the target pragma (nothing they define is
// compiled for AVX-512); only internal-linkage templates and the two entry
// points below are compiled for it.
#include "conv_direct.h"

#if GF_CONV_DIRECT
#include <immintrin.h>

#include <algorithm>
#include <vector>

#pragma GCC target("avx512f,fma")
// GCC 12's AVX-512 intrinsics trip -Wmaybe-uninitialized once inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace gf {
namespace convd {
namespace {

inline __mmask16 tail_mask(index_t cols) {
  const index_t r = cols - 16 * ((cols - 1) / 16);  // 1..16 in the last vector
  return r >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << r) - 1u);
}

// ------------------------------------------------------------- forward
// One tile: R output pixels (output pointers y[r]) by the 16*NV output
// channels starting at the kernel column `w` points to.  For each of the
// `ntaps` window taps listed in `taps`, tp[tap * ldp + r] points to the C
// input channels row r reads there (a zero row where the tap falls in the
// padding); the kernel rows of tap s start at w + s * C * ldw (stride ldw).
// With `accumulate` the tile adds to what y holds (a GEMM's later K blocks).
// The epilogue adds `bias` (the tile's 16*NV values, or nullptr) and applies
// ReLU when `relu`.
template <int R, int NV>
void fwd_tile(const float* const* tp, index_t ldp, const int* taps, int ntaps, index_t C,
              const float* w, index_t ldw, float* const* y, __mmask16 last,
              bool accumulate = false, const float* bias = nullptr, bool relu = false) {
  __m512 acc[R][NV];
  #pragma GCC unroll 24
  for (int r = 0; r < R; ++r) {
    #pragma GCC unroll 24
    for (int v = 0; v < NV; ++v) {
      acc[r][v] = !accumulate ? _mm512_setzero_ps()
                  : v + 1 < NV ? _mm512_loadu_ps(y[r] + 16 * v)
                               : _mm512_maskz_loadu_ps(last, y[r] + 16 * v);
    }
  }
  for (int t = 0; t < ntaps; ++t) {
    const index_t s = taps[t];
    const float* wp = w + s * C * ldw;
    const float* ap[R];
    #pragma GCC unroll 24
    for (int r = 0; r < R; ++r) ap[r] = tp[s * ldp + r];
    for (index_t c = 0; c < C; ++c) {
      __m512 b[NV];
      #pragma GCC unroll 24
      for (int v = 0; v + 1 < NV; ++v) b[v] = _mm512_loadu_ps(wp + 16 * v);
      b[NV - 1] = _mm512_maskz_loadu_ps(last, wp + 16 * (NV - 1));
      // The B rows of a GEMM come from memory once per K block: ask for them
      // a few rows ahead (within the kernel's own rows for a convolution).
      #pragma GCC unroll 24
      for (int v = 0; v < NV; ++v) _mm_prefetch(reinterpret_cast<const char*>(wp + 8 * ldw + 16 * v), _MM_HINT_T0);
      #pragma GCC unroll 24
      for (int r = 0; r < R; ++r) {
        const __m512 x = _mm512_set1_ps(ap[r][c]);
        #pragma GCC unroll 24
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
      }
      wp += ldw;
    }
  }
  if (bias != nullptr) {
    #pragma GCC unroll 24
    for (int v = 0; v < NV; ++v) {
      const __m512 bv = v + 1 < NV ? _mm512_loadu_ps(bias + 16 * v)
                                   : _mm512_maskz_loadu_ps(last, bias + 16 * v);
      #pragma GCC unroll 24
      for (int r = 0; r < R; ++r) acc[r][v] = _mm512_add_ps(acc[r][v], bv);
    }
  }
  if (relu) {
    #pragma GCC unroll 24
    for (int r = 0; r < R; ++r)
      #pragma GCC unroll 24
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_max_ps(acc[r][v], _mm512_setzero_ps());
  }
  #pragma GCC unroll 24
  for (int r = 0; r < R; ++r) {
    #pragma GCC unroll 24
    for (int v = 0; v + 1 < NV; ++v) _mm512_storeu_ps(y[r] + 16 * v, acc[r][v]);
    _mm512_mask_storeu_ps(y[r] + 16 * (NV - 1), last, acc[r][NV - 1]);
  }
}

// Rows per tile for NV vectors of columns: R * NV accumulators <= 24.
template <int NV>
struct Rows {
  static constexpr int value = NV >= 4 ? 6 : NV == 3 ? 8 : 12;
};

template <int NV, int R = Rows<NV>::value>
void fwd_tile_rows(int rows, const float* const* tp, index_t ldp, const int* taps, int ntaps,
                   index_t C, const float* w, index_t ldw, float* const* y,
                   __mmask16 last, bool accumulate = false, const float* bias = nullptr,
                   bool relu = false) {
  if constexpr (R >= 1) {
    if (rows == R) {
      fwd_tile<R, NV>(tp, ldp, taps, ntaps, C, w, ldw, y, last, accumulate, bias, relu);
      return;
    }
    if constexpr (R > 1) {
      fwd_tile_rows<NV, R - 1>(rows, tp, ldp, taps, ntaps, C, w, ldw, y, last, accumulate, bias,
                               relu);
    }
  }
}

template <int NV>
void forward_cols(const FwdArgs& g, index_t p0, index_t p1, index_t j0) {
  constexpr int R = Rows<NV>::value;
  const index_t cols = std::min<index_t>(16 * NV, g.OC - j0);
  const __mmask16 last = tail_mask(cols);
  const index_t OHW = g.OH * g.OW;
  const index_t S = g.KH * g.KW;
  std::vector<const float*> tp(static_cast<size_t>(S * R));
  std::vector<int> taps(static_cast<size_t>(S));
  for (index_t p = p0; p < p1; p += R) {
    const int rows = static_cast<int>(std::min<index_t>(R, p1 - p));
    float* y[R];
    index_t nn[R], ih0[R], iw0[R];
    for (int r = 0; r < rows; ++r) {
      const index_t q = p + r, rem = q % OHW;
      nn[r] = q / OHW;
      ih0[r] = (rem / g.OW) * g.sh - g.pt;
      iw0[r] = (rem % g.OW) * g.sw - g.pl;
      y[r] = g.y + q * g.OC + j0;
    }
    // Per tap, each row's input (or the zero row in the padding); taps that read
    // only padding for every row of the tile are skipped.
    int ntaps = 0;
    for (index_t kh = 0; kh < g.KH; ++kh) {
      for (index_t kw = 0; kw < g.KW; ++kw) {
        const index_t s = kh * g.KW + kw;
        bool live = false;
        for (int r = 0; r < rows; ++r) {
          const index_t ih = ih0[r] + kh * g.dh, iw = iw0[r] + kw * g.dw;
          const bool in = ih >= 0 && ih < g.Hp && iw >= 0 && iw < g.Wp;
          tp[s * R + r] = in ? g.x + ((nn[r] * g.Hp + ih) * g.Wp + iw) * g.C : g.zeros;
          live = live || in;
        }
        if (live) taps[ntaps++] = static_cast<int>(s);
      }
    }
    fwd_tile_rows<NV>(rows, tp.data(), R, taps.data(), ntaps, g.C, g.w + j0, g.OC, y, last, false,
                      g.bias != nullptr ? g.bias + j0 : nullptr, g.relu);
  }
}

// -------------------------------------------------------- filter gradient
// One tile: R kernel rows (input offsets aoff[r] of tap and channel) by the
// 16*NV output channels at dy + j0, accumulated over the output pixels of the
// pixel rows [q0, q1) into dw[r] (read first, written back at the end).
template <int R, int NV>
void bwf_tile(const FilterArgs& g, const index_t* aoff, index_t q0, index_t q1,
              index_t j0, float* const* dw, __mmask16 last) {
  __m512 acc[R][NV];
  #pragma GCC unroll 24
  for (int r = 0; r < R; ++r) {
    #pragma GCC unroll 24
    for (int v = 0; v + 1 < NV; ++v) acc[r][v] = _mm512_loadu_ps(dw[r] + 16 * v);
    acc[r][NV - 1] = _mm512_maskz_loadu_ps(last, dw[r] + 16 * (NV - 1));
  }
  const index_t xstep = g.sw * g.C;
  for (index_t q = q0; q < q1; ++q) {
    const index_t n = q / g.OH, oh = q % g.OH;
    const float* xrow = g.x + (n * g.Hp + oh * g.sh) * g.Wp * g.C;
    const float* ap[R];
    #pragma GCC unroll 24
    for (int r = 0; r < R; ++r) ap[r] = xrow + aoff[r];
    const float* bp = g.dy + q * g.OW * g.OC + j0;
    for (index_t ow = 0; ow < g.OW; ++ow) {
      __m512 b[NV];
      #pragma GCC unroll 24
      for (int v = 0; v + 1 < NV; ++v) b[v] = _mm512_loadu_ps(bp + 16 * v);
      b[NV - 1] = _mm512_maskz_loadu_ps(last, bp + 16 * (NV - 1));
      #pragma GCC unroll 24
      for (int r = 0; r < R; ++r) {
        const __m512 x = _mm512_set1_ps(ap[r][ow * xstep]);
        #pragma GCC unroll 24
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
      }
      bp += g.OC;
    }
  }
  #pragma GCC unroll 24
  for (int r = 0; r < R; ++r) {
    #pragma GCC unroll 24
    for (int v = 0; v + 1 < NV; ++v) _mm512_storeu_ps(dw[r] + 16 * v, acc[r][v]);
    _mm512_mask_storeu_ps(dw[r] + 16 * (NV - 1), last, acc[r][NV - 1]);
  }
}

template <int NV, int R = Rows<NV>::value>
void bwf_tile_rows(int rows, const FilterArgs& g, const index_t* aoff, index_t q0,
                   index_t q1, index_t j0, float* const* dw, __mmask16 last) {
  if constexpr (R >= 1) {
    if (rows == R) {
      bwf_tile<R, NV>(g, aoff, q0, q1, j0, dw, last);
      return;
    }
    if constexpr (R > 1) bwf_tile_rows<NV, R - 1>(rows, g, aoff, q0, q1, j0, dw, last);
  }
}

template <int NV>
void filter_cols(const FilterArgs& g, index_t q0, index_t q1, index_t j0,
                 float* acc) {
  constexpr int R = Rows<NV>::value;
  const index_t cols = std::min<index_t>(16 * NV, g.OC - j0);
  const __mmask16 last = tail_mask(cols);
  const index_t K = g.KH * g.KW * g.C;
  for (index_t k = 0; k < K; k += R) {
    const int rows = static_cast<int>(std::min<index_t>(R, K - k));
    index_t aoff[R];
    float* dw[R];
    #pragma GCC unroll 24
    for (int r = 0; r < rows; ++r) {
      const index_t kk = k + r, c = kk % g.C, tap = kk / g.C;
      const index_t kh = tap / g.KW, kw = tap % g.KW;
      aoff[r] = (kh * g.dh * g.Wp + kw * g.dw) * g.C + c;
      dw[r] = acc + kk * g.OC + j0;
    }
    bwf_tile_rows<NV>(rows, g, aoff, q0, q1, j0, dw, last);
  }
}

template <typename F>
void over_column_blocks(index_t OC, F f) {
  for (index_t j0 = 0; j0 < OC; j0 += 64) {
    const index_t nv = std::min<index_t>(4, (OC - j0 + 15) / 16);
    f(j0, static_cast<int>(nv));
  }
}

// ------------------------------------------------------------------ GEMM
// C[rows p0..p1) = A B over the K-block [k0, k0 + kc), all columns of the
// 16*NV-wide block at j0; A rows lda apart, B rows ldb apart.
template <int NV>
void nn_block(const GemmArgs& g, index_t p0, index_t p1, index_t j0, index_t k0,
              index_t kc) {
  constexpr int R = Rows<NV>::value;
  const index_t cols = std::min<index_t>(16 * NV, g.N - j0);
  const __mmask16 last = tail_mask(cols);
  const int tap0 = 0;
  for (index_t p = p0; p < p1; p += R) {
    const int rows = static_cast<int>(std::min<index_t>(R, p1 - p));
    const float* a[R];
    float* c[R];
    for (int r = 0; r < rows; ++r) {
      a[r] = g.a + (p + r) * g.lda + k0;
      c[r] = g.c + (p + r) * g.ldc + j0;
    }
    // The next tile's rows of A, from memory once (a Dense layer's weight in
    // the transposed product): requested now, used after this tile's work.
    for (index_t q = p + R; q < std::min(p + 2 * R, p1); ++q) {
      const char* row = reinterpret_cast<const char*>(g.a + q * g.lda + k0);
      for (index_t off = 0; off < kc * 4; off += 64) _mm_prefetch(row + off, _MM_HINT_T1);
    }
    fwd_tile_rows<NV>(rows, a, R, &tap0, 1, kc, g.b + k0 * g.ldb + j0, g.ldb, c, last, k0 > 0);
  }
}

// C[i0..i1) rows of A^T B: row i of C sums A[p, i] * B[p, :] over p.
template <int R, int NV>
void tn_tile(const GemmArgs& g, index_t i0, index_t j0, __mmask16 last) {
  __m512 acc[R][NV];
  #pragma GCC unroll 24
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 24
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  const float* ap = g.a + i0;
  const float* bp = g.b + j0;
  for (index_t p = 0; p < g.K; ++p) {
    __m512 b[NV];
    #pragma GCC unroll 24
    for (int v = 0; v + 1 < NV; ++v) b[v] = _mm512_loadu_ps(bp + 16 * v);
    b[NV - 1] = _mm512_maskz_loadu_ps(last, bp + 16 * (NV - 1));
    #pragma GCC unroll 24
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(ap[r]);
      #pragma GCC unroll 24
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
    }
    ap += g.lda;
    bp += g.ldb;
  }
  #pragma GCC unroll 24
  for (int r = 0; r < R; ++r) {
    float* c = g.c + (i0 + r) * g.ldc + j0;
    #pragma GCC unroll 24
    for (int v = 0; v + 1 < NV; ++v) _mm512_storeu_ps(c + 16 * v, acc[r][v]);
    _mm512_mask_storeu_ps(c + 16 * (NV - 1), last, acc[r][NV - 1]);
  }
}

template <int NV, int R = Rows<NV>::value>
void tn_tile_rows(int rows, const GemmArgs& g, index_t i0, index_t j0, __mmask16 last) {
  if constexpr (R >= 1) {
    if (rows == R) {
      tn_tile<R, NV>(g, i0, j0, last);
      return;
    }
    if constexpr (R > 1) tn_tile_rows<NV, R - 1>(rows, g, i0, j0, last);
  }
}

template <int NV>
void tn_block(const GemmArgs& g, index_t i0, index_t i1, index_t j0) {
  constexpr int R = Rows<NV>::value;
  const __mmask16 last = tail_mask(std::min<index_t>(16 * NV, g.N - j0));
  for (index_t i = i0; i < i1; i += R) {
    tn_tile_rows<NV>(static_cast<int>(std::min<index_t>(R, i1 - i)), g, i, j0, last);
  }
}

int vectors_at(index_t N, index_t j0) {
  return static_cast<int>(std::min<index_t>(4, (N - j0 + 15) / 16));
}

}  // namespace

void avx512_gemm_nn(const GemmArgs& g, index_t p0, index_t p1, index_t j0) {
  for (index_t k0 = 0; k0 < g.K; k0 += g.kc) {
    const index_t kc = std::min(g.kc, g.K - k0);
    switch (vectors_at(g.N, j0)) {
      case 1: nn_block<1>(g, p0, p1, j0, k0, kc); break;
      case 2: nn_block<2>(g, p0, p1, j0, k0, kc); break;
      case 3: nn_block<3>(g, p0, p1, j0, k0, kc); break;
      default: nn_block<4>(g, p0, p1, j0, k0, kc); break;
    }
  }
}

void avx512_gemm_tn(const GemmArgs& g, index_t i0, index_t i1, index_t j0) {
  switch (vectors_at(g.N, j0)) {
    case 1: tn_block<1>(g, i0, i1, j0); break;
    case 2: tn_block<2>(g, i0, i1, j0); break;
    case 3: tn_block<3>(g, i0, i1, j0); break;
    default: tn_block<4>(g, i0, i1, j0); break;
  }
}

void avx512_forward(const FwdArgs& g, index_t p0, index_t p1) {
  over_column_blocks(g.OC, [&](index_t j0, int nv) {
    switch (nv) {
      case 1: forward_cols<1>(g, p0, p1, j0); break;
      case 2: forward_cols<2>(g, p0, p1, j0); break;
      case 3: forward_cols<3>(g, p0, p1, j0); break;
      default: forward_cols<4>(g, p0, p1, j0); break;
    }
  });
}

void avx512_filter(const FilterArgs& g, index_t q0, index_t q1, float* acc) {
  over_column_blocks(g.OC, [&](index_t j0, int nv) {
    switch (nv) {
      case 1: filter_cols<1>(g, q0, q1, j0, acc); break;
      case 2: filter_cols<2>(g, q0, q1, j0, acc); break;
      case 3: filter_cols<3>(g, q0, q1, j0, acc); break;
      default: filter_cols<4>(g, q0, q1, j0, acc); break;
    }
  });
}

}  // namespace convd
}  // namespace gf

#endif  // GF_CONV_DIRECT
