// src/cuda/kernels.cu — the CUDA backend's element-wise, reduction and patch kernels.
// Contracts: dpvae::Cpu in include/dpvae/backend/cpu.hpp; launchers: kernels.hpp.
#include "kernels.hpp"

#include <curand_kernel.h>

#include <algorithm>

namespace dpvae::cuda_detail {
namespace {

constexpr int kThreads = 256;

/// Blocks for a grid-stride loop over `count` items.
unsigned blocks_for(long long count) {
  const long long b = (count + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::clamp<long long>(b, 1, 1 << 20));
}

__device__ inline long long global_id() {
  return static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline long long grid_stride() { return static_cast<long long>(gridDim.x) * blockDim.x; }

__device__ inline float exp_(float x) { return expf(x); }
__device__ inline double exp_(double x) { return exp(x); }
__device__ inline float tanh_(float x) { return tanhf(x); }
__device__ inline double tanh_(double x) { return tanh(x); }

template <class T>
__global__ void scale_kernel(long long m, long long n, long long ld, T beta, T* c) {
  for (long long i = global_id(); i < m * n; i += grid_stride()) {
    T* v = c + (i / n) * ld + i % n;
    *v = beta == T(0) ? T(0) : beta * *v;
  }
}

template <class T>
__global__ void add_row_vector_kernel(long long m, long long n, const T* bias, T* x) {
  for (long long i = global_id(); i < m * n; i += grid_stride()) x[i] += bias[i % n];
}

// Block (32, 8): column bx·32 + tx; chunk c (rows c·256 … c·256 + 255) strided by 8 over
// ty; the 8 partial sums are added in ty order. Chunks beyond gridDim.y loop. Fixed shapes
// and orders: deterministic.
template <class T>
__global__ void column_partials_kernel(long long m, long long n, const T* x, T* partial) {
  __shared__ T sums[8][33];
  const long long col = static_cast<long long>(blockIdx.x) * 32 + threadIdx.x;
  const long long chunks = (m + kColumnSumChunk - 1) / kColumnSumChunk;
  for (long long chunk = blockIdx.y; chunk < chunks; chunk += gridDim.y) {
    const long long r0 = chunk * kColumnSumChunk;
    const long long r1 = min(m, r0 + kColumnSumChunk);
    T acc = T(0);
    if (col < n)
      for (long long r = r0 + threadIdx.y; r < r1; r += 8) acc += x[r * n + col];
    sums[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && col < n) {
      T total = sums[0][threadIdx.x];
      for (int i = 1; i < 8; ++i) total += sums[i][threadIdx.x];
      partial[chunk * n + col] = total;
    }
    __syncthreads();
  }
}

template <class T>
__global__ void column_finish_kernel(long long chunks, long long n, const T* partial, T* acc) {
  for (long long col = global_id(); col < n; col += grid_stride()) {
    T total = T(0);
    for (long long c = 0; c < chunks; ++c) total += partial[c * n + col];
    acc[col] += total;
  }
}

template <class T>
__device__ inline T activation(int act, T slope, T x) {
  switch (act) {
    case 0: return x > T(0) ? x : T(0);
    case 1: return x > T(0) ? x : slope * x;
    case 2: return tanh_(x);
    default: return T(1) / (T(1) + exp_(-x));
  }
}

template <class T>
__global__ void activate_kernel(int act, T slope, long long count, const T* x, T* y) {
  for (long long i = global_id(); i < count; i += grid_stride()) y[i] = activation(act, slope, x[i]);
}

template <class T>
__global__ void activate_backward_kernel(int act, T slope, long long count, const T* x, const T* y,
                                         const T* dy, T* dx) {
  for (long long i = global_id(); i < count; i += grid_stride()) {
    const T g = dy[i];
    switch (act) {
      case 0: dx[i] = x[i] > T(0) ? g : T(0); break;
      case 1: dx[i] = x[i] > T(0) ? g : slope * g; break;
      case 2: dx[i] = g * (T(1) - y[i] * y[i]); break;
      default: dx[i] = g * y[i] * (T(1) - y[i]); break;
    }
  }
}

// One thread per patch-matrix entry (n, oy, ox | ky, kx, c).
template <class T>
__global__ void im2col_kernel(Geometry g, long long images, const T* x, T* p) {
  const long long ps = g.kernel * g.kernel * g.in_c, pixels = g.out_h * g.out_w;
  const long long total = images * pixels * ps;
  for (long long i = global_id(); i < total; i += grid_stride()) {
    const long long row = i / ps, col = i % ps;
    const long long n = row / pixels, pix = row % pixels;
    const long long oy = pix / g.out_w, ox = pix % g.out_w;
    const long long kpos = col / g.in_c, c = col % g.in_c;
    const long long iy = oy * g.stride - g.pad + kpos / g.kernel;
    const long long ix = ox * g.stride - g.pad + kpos % g.kernel;
    const bool inside = iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w;
    p[i] = inside ? x[((n * g.in_h + iy) * g.in_w + ix) * g.in_c + c] : T(0);
  }
}

// One thread per image value (n, iy, ix, c), gathering every patch entry read from it. The
// CPU scatters patches in raster order of (oy, ox); for one pixel that is descending (ky,
// kx), the order used here, so the sums agree bit for bit.
template <class T>
__global__ void col2im_kernel(Geometry g, long long images, const T* p, T* x) {
  const long long ps = g.kernel * g.kernel * g.in_c, pixels = g.out_h * g.out_w;
  const long long in_size = g.in_h * g.in_w * g.in_c;
  const long long total = images * in_size;
  for (long long i = global_id(); i < total; i += grid_stride()) {
    const long long n = i / in_size, rem = i % in_size;
    const long long iy = rem / (g.in_w * g.in_c), ix = (rem / g.in_c) % g.in_w, c = rem % g.in_c;
    T sum = T(0);
    for (long long ky = g.kernel - 1; ky >= 0; --ky) {
      const long long ty = iy + g.pad - ky;
      if (ty < 0 || ty % g.stride != 0) continue;
      const long long oy = ty / g.stride;
      if (oy >= g.out_h) continue;
      for (long long kx = g.kernel - 1; kx >= 0; --kx) {
        const long long tx = ix + g.pad - kx;
        if (tx < 0 || tx % g.stride != 0) continue;
        const long long ox = tx / g.stride;
        if (ox >= g.out_w) continue;
        sum += p[(n * pixels + oy * g.out_w + ox) * ps + (ky * g.kernel + kx) * g.in_c + c];
      }
    }
    x[i] = sum;
  }
}

// Philox4x32-10: the thread for group j uses counter (stream, j) under key `seed`.
__global__ void fill_normal_kernel(unsigned long long seed, unsigned long long stream, long long count,
                                   float* out) {
  const long long groups = (count + 3) / 4;
  for (long long j = global_id(); j < groups; j += grid_stride()) {
    curandStatePhilox4_32_10_t st;
    curand_init(seed, static_cast<unsigned long long>(j), 4ull * stream, &st);
    const float4 v = curand_normal4(&st);
    const float vals[4] = {v.x, v.y, v.z, v.w};
    for (long long r = 0; r < 4 && 4 * j + r < count; ++r) out[4 * j + r] = vals[r];
  }
}
__global__ void fill_normal_kernel(unsigned long long seed, unsigned long long stream, long long count,
                                   double* out) {
  const long long groups = (count + 1) / 2;
  for (long long j = global_id(); j < groups; j += grid_stride()) {
    curandStatePhilox4_32_10_t st;
    curand_init(seed, static_cast<unsigned long long>(j), 4ull * stream, &st);
    const double2 v = curand_normal2_double(&st);
    out[2 * j] = v.x;
    if (2 * j + 1 < count) out[2 * j + 1] = v.y;
  }
}

}  // namespace

template <class T>
cudaError_t scale_matrix(cudaStream_t s, long long m, long long n, long long ld, T beta, T* c) {
  if (m * n > 0) scale_kernel<T><<<blocks_for(m * n), kThreads, 0, s>>>(m, n, ld, beta, c);
  return cudaGetLastError();
}
template <class T>
cudaError_t add_row_vector(cudaStream_t s, long long m, long long n, const T* bias, T* x) {
  if (m * n > 0) add_row_vector_kernel<T><<<blocks_for(m * n), kThreads, 0, s>>>(m, n, bias, x);
  return cudaGetLastError();
}
template <class T>
cudaError_t column_sums(cudaStream_t s, long long m, long long n, const T* x, T* partial, T* acc) {
  if (m <= 0 || n <= 0) return cudaSuccess;
  const long long chunks = column_sum_chunks(m);
  const dim3 grid(static_cast<unsigned>((n + 31) / 32), static_cast<unsigned>(std::min<long long>(chunks, 65535)));
  column_partials_kernel<T><<<grid, dim3(32, 8), 0, s>>>(m, n, x, partial);
  column_finish_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(chunks, n, partial, acc);
  return cudaGetLastError();
}
template <class T>
cudaError_t activate(cudaStream_t s, int act, T slope, long long count, const T* x, T* y) {
  if (count > 0) activate_kernel<T><<<blocks_for(count), kThreads, 0, s>>>(act, slope, count, x, y);
  return cudaGetLastError();
}
template <class T>
cudaError_t activate_backward(cudaStream_t s, int act, T slope, long long count, const T* x, const T* y,
                              const T* dy, T* dx) {
  if (count > 0)
    activate_backward_kernel<T><<<blocks_for(count), kThreads, 0, s>>>(act, slope, count, x, y, dy, dx);
  return cudaGetLastError();
}
template <class T>
cudaError_t im2col(cudaStream_t s, const Geometry& g, long long images, const T* x, T* p) {
  const long long total = images * g.out_h * g.out_w * g.kernel * g.kernel * g.in_c;
  if (total > 0) im2col_kernel<T><<<blocks_for(total), kThreads, 0, s>>>(g, images, x, p);
  return cudaGetLastError();
}
template <class T>
cudaError_t col2im(cudaStream_t s, const Geometry& g, long long images, const T* p, T* x) {
  const long long total = images * g.in_h * g.in_w * g.in_c;
  if (total > 0) col2im_kernel<T><<<blocks_for(total), kThreads, 0, s>>>(g, images, p, x);
  return cudaGetLastError();
}
template <class T>
cudaError_t fill_normal(cudaStream_t s, std::uint64_t seed, std::uint64_t stream, long long count, T* out) {
  if (count > 0) fill_normal_kernel<<<blocks_for((count + 1) / 2), kThreads, 0, s>>>(seed, stream, count, out);
  return cudaGetLastError();
}

#define DPVAE_CUDA_INSTANTIATE(T)                                                                          \
  template cudaError_t scale_matrix<T>(cudaStream_t, long long, long long, long long, T, T*);              \
  template cudaError_t add_row_vector<T>(cudaStream_t, long long, long long, const T*, T*);                \
  template cudaError_t column_sums<T>(cudaStream_t, long long, long long, const T*, T*, T*);               \
  template cudaError_t activate<T>(cudaStream_t, int, T, long long, const T*, T*);                         \
  template cudaError_t activate_backward<T>(cudaStream_t, int, T, long long, const T*, const T*, const T*, \
                                            T*);                                                           \
  template cudaError_t im2col<T>(cudaStream_t, const Geometry&, long long, const T*, T*);                  \
  template cudaError_t col2im<T>(cudaStream_t, const Geometry&, long long, const T*, T*);                  \
  template cudaError_t fill_normal<T>(cudaStream_t, std::uint64_t, std::uint64_t, long long, T*);
DPVAE_CUDA_INSTANTIATE(float)
DPVAE_CUDA_INSTANTIATE(double)
#undef DPVAE_CUDA_INSTANTIATE

}  // namespace dpvae::cuda_detail
