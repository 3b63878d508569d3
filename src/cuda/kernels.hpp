// src/cuda/kernels.hpp — launchers of the CUDA backend's kernels (internal to dpvae::cuda).
//
// Plain C++ declarations, so that the backend's host code (backend.cpp, compiled by the host
// compiler with the project's warnings) and the kernels (kernels.cu, compiled by nvcc)
// share no headers beyond the CUDA runtime's. Every launcher enqueues on `stream` and
// returns cudaGetLastError() (launch errors; execution errors surface at the next sync).
// Buffers are device (or managed) pointers; shapes are as in dpvae::Cpu (backend/cpu.hpp).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace dpvae::cuda_detail {

/// ConvGeometry without the Eigen-dependent header.
struct Geometry {
  long long in_h, in_w, in_c, kernel, stride, pad, out_h, out_w;
};

/// Row chunk of the column-sum kernel: partial sums are formed on chunks of this many rows.
inline constexpr long long kColumnSumChunk = 256;
inline long long column_sum_chunks(long long m) { return (m + kColumnSumChunk - 1) / kColumnSumChunk; }

template <class T>
cudaError_t scale_matrix(cudaStream_t s, long long m, long long n, long long ld, T beta, T* c);
template <class T>
cudaError_t add_row_vector(cudaStream_t s, long long m, long long n, const T* bias, T* x);
/// acc (n) += column sums of x (m × n); `partial` holds column_sum_chunks(m) × n values.
template <class T>
cudaError_t column_sums(cudaStream_t s, long long m, long long n, const T* x, T* partial, T* acc);
/// act: 0 relu, 1 leaky_relu, 2 tanh, 3 sigmoid (dpvae::Activation's order).
template <class T>
cudaError_t activate(cudaStream_t s, int act, T slope, long long count, const T* x, T* y);
template <class T>
cudaError_t activate_backward(cudaStream_t s, int act, T slope, long long count, const T* x, const T* y,
                              const T* dy, T* dx);
template <class T>
cudaError_t im2col(cudaStream_t s, const Geometry& g, long long images, const T* x, T* p);
template <class T>
cudaError_t col2im(cudaStream_t s, const Geometry& g, long long images, const T* p, T* x);
template <class T>
cudaError_t fill_normal(cudaStream_t s, std::uint64_t seed, std::uint64_t stream, long long count, T* out);

}  // namespace dpvae::cuda_detail
