// Direct (implicit-GEMM) float32 2-D convolution kernels for CPUs with
// AVX-512 or AVX2 + FMA: the forward pass and the filter gradient read the NHWC input
// directly (no im2col matrix).  The forward kernel takes zero padding as
// pointers to a zero row (no padded copy); the filter gradient takes a
// pre-padded input.  The input gradient is the forward kernel applied to the
// output gradient, virtually padded, with the flipped kernel (stride 1).
//
// csrc/conv_direct.cpp holds the Python entry points (validation, threads,
// the choice of instruction set); csrc/conv_direct_kernels.inc the loops,
// written once and compiled by csrc/conv_direct_avx512.cpp for AVX-512 and by
// csrc/conv_direct_avx2.cpp for AVX2 + FMA whatever the global flags say
// (GCC's target pragma: GCC on x86-64 only).
#ifndef GPUFLOW_CONV_DIRECT_H_
#define GPUFLOW_CONV_DIRECT_H_

#include <cstdint>

// (-DGF_CONV_DIRECT=0 builds without the kernels; Python then uses im2col.)
#ifndef GF_CONV_DIRECT
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define GF_CONV_DIRECT 1
#else
#define GF_CONV_DIRECT 0
#endif
#endif

namespace gf {
namespace convd {

typedef std::int64_t index_t;

// y[N, OH, OW, OC] = act(conv(x[N, Hp, Wp, C], w[KH, KW, C, OC]) + bias),
// with bias optional (nullptr) and act ReLU when `relu`, else the identity.
// The window starts pt rows above and pl columns left of the input (zero
// padding, read from `zeros`, C floats of 0): nothing is copied for padding.
struct FwdArgs {
  const float* x;
  const float* w;
  float* y;
  index_t N, Hp, Wp, C, KH, KW, OC, OH, OW, sh, sw, dh, dw;
  const float* bias;
  bool relu;
  index_t pt, pl;
  const float* zeros;
};

// dw[KH, KW, C, OC] += sum over pixels of x-window (x) dy[N, OH, OW, OC].
struct FilterArgs {
  const float* x;
  const float* dy;
  index_t N, Hp, Wp, C, KH, KW, OC, OH, OW, sh, sw, dh, dw;
};

// Skinny float32 GEMMs (one dimension small, where BLAS's blocking is
// weakest).  NN: C[M, N] = A[M, K] B[K, N], K in blocks of kc; rows of A, B
// and C are lda, ldb and ldc floats apart (the caller computes X Y^T as
// (Y X^T)^T).  TN: C[M, N] = A[K, M]^T B[K, N].
struct GemmArgs {
  const float* a;
  const float* b;
  float* c;
  index_t M, N, K, lda, ldb, ldc, kc;
};

// Winograd F(m x m, 3 x 3), m = 2 or 4: y[N, OH, OW, OC] = act(conv(x[N, H,
// W, C], w) + bias) for a 3x3 kernel with stride and dilation 1, the input
// zero-padded by pt rows above and pl columns left (virtually, as in FwdArgs;
// rows and columns past H and W read as zeros too).  u is the transformed
// kernel G w G^T laid out [(m+2)^2][C][OC]; the output is computed in tiles of
// m x m pixels numbered over (n, tile row, tile column), TH x TW tiles per
// image.  The kernel gradient uses m = 2 only.
struct WinoArgs {
  const float* x;
  const float* u;
  float* y;
  index_t N, H, W, C, OC, OH, OW, pt, pl, TH, TW;
  const float* bias;
  bool relu;
  const float* zeros;
  const float* dy;  // the output gradient [N, OH, OW, OC] (kernel gradient only)
  int m;            // the output tile size: 2 or 4
};

// The columns a GEMM entry point computes per call (the caller's column block).
constexpr index_t kBlockCols = 64;

// The kernels of one instruction set.
struct Kernels {
  // C rows [p0, p1), the (up to) kBlockCols columns at j0.
  void (*gemm_nn)(const GemmArgs& g, index_t p0, index_t p1, index_t j0);
  // C rows [i0, i1), the (up to) kBlockCols columns at j0.
  void (*gemm_tn)(const GemmArgs& g, index_t i0, index_t i1, index_t j0);
  // Output pixels [p0, p1) (flat index over N*OH*OW), every output channel.
  void (*forward)(const FwdArgs& g, index_t p0, index_t p1);
  // Adds the contributions of pixel rows [q0, q1) (flat over N*OH) into acc,
  // a [KH*KW*C, OC] row-major array.
  void (*filter)(const FilterArgs& g, index_t q0, index_t q1, float* acc);
  // Output tiles [t0, t1), with scratch space for (m+2)^2 * (t1 - t0) * (C +
  // OC) floats.
  void (*winograd)(const WinoArgs& g, index_t t0, index_t t1, float* scratch);
  // Adds the gradient of the transformed kernel ([16][C][OC]) over output
  // tiles [t0, t1) into acc; scratch as for `winograd`.
  void (*winograd_filter)(const WinoArgs& g, index_t t0, index_t t1, float* scratch, float* acc);
};

// The kernels of the instruction set in use (see conv_direct_isa()), or
// nullptr on CPUs without AVX-512F or AVX2 + FMA.
const Kernels* active_kernels();

#if GF_CONV_DIRECT
// Only to be called on CPUs that support the instruction set.
Kernels avx512_kernels();
Kernels avx2_kernels();
#endif

// out[cols, rows] = in[rows, cols]^T.
void transpose(const float* in, index_t rows, index_t cols, float* out);

// Columns [n0, n0 + rows) of C[M, N] = A B^T, from those rows of B (b_rows:
// B + n0 * K, rows K floats apart) and at = A^T [K, M]: the NN loops give
// them as rows in buf ([rows, M]), copied transposed into c_col (C + n0, rows
// ldc floats apart) in contiguous runs, which beats scattered stores 2x.
void nt_columns(const Kernels& k, const float* b_rows, index_t rows, index_t K, const float* at,
                index_t M, float* buf, float* c_col, index_t ldc);

}  // namespace convd
}  // namespace gf

#endif  // GPUFLOW_CONV_DIRECT_H_
