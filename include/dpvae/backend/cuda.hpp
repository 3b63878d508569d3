// dpvae/backend/cuda.hpp — the CUDA backend (target dpvae::cuda; built only where a CUDA toolkit is found).
//
//     #include <dpvae/backend/cuda.hpp>
//     using Model = dpvae::DpVae<dpvae::BetaH, dpvae::Coupling<6, float, dpvae::Cuda>,
//                                dpvae::Encoder<float, dpvae::Cuda>, dpvae::Decoder<float, dpvae::Cuda>>;
//
// dpvae::Cuda models dpvae::Backend (backend/cpu.hpp) with the same operations and the same
// contracts as dpvae::Cpu, for float and double: GEMM through cuBLAS (row-major buffers
// mapped onto cuBLAS's column-major convention by computing Cᵀ = op(B)ᵀ op(A)ᵀ), and
// small kernels for the bias broadcast, the column sums, the activations and their
// derivatives, im2col and col2im. No kernel uses atomics and every reduction sums in a
// fixed order, so results are bit-identical from run to run on one GPU model.
//
// DATA RESIDENCY. Each operation looks at every pointer it is given
// (cudaPointerGetAttributes):
//  * device or managed memory (cudaMalloc, cudaMallocManaged, DeviceBuffer below) is used in
//    place: no copies;
//  * any other pointer (ordinary host memory, e.g. the Eigen matrices of Network, the
//    flow and the model) is staged: copied into a per-thread device workspace, computed
//    on, and the outputs copied back before the call returns.
// The layers, networks, flow, priors and models keep their activations in host Eigen
// matrices and run the objectives' latent math in host Eigen, so a whole training step on
// this backend runs every layer operation on the GPU but moves its operands across the bus
// once per operation. It is correct (tests/cuda compares it with the CPU backend) and
// measurable (benchmarks/cuda), not yet a device-resident training loop: that needs an
// allocation hook in Network/Tape/flow (README, "CUDA backend").
//
// Every call is synchronous like the CPU backend's: results are ready when it returns.
// Calls are thread-safe: each host thread has its own CUDA stream, cuBLAS handle and
// staging workspace. Errors (no device, a failed CUDA call, sizes over 2³¹ − 1) throw
// dpvae::Error with a one-line message naming the call.
#pragma once

#include "dpvae/backend/cpu.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace dpvae {

struct Cuda {
  // --- the Backend operations (contracts: dpvae::Cpu in backend/cpu.hpp) --------------------
  /// C (m × n) = alpha · op(A) · op(B) + beta · C, row-major, as Cpu::gemm (cuBLAS).
  static void gemm(bool trans_a, bool trans_b, Index m, Index n, Index k, float alpha, const float* a,
                   Index lda, const float* b, Index ldb, float beta, float* c, Index ldc);
  static void gemm(bool trans_a, bool trans_b, Index m, Index n, Index k, double alpha, const double* a,
                   Index lda, const double* b, Index ldb, double beta, double* c, Index ldc);
  /// X (m × n) += 1 · bᵀ.
  static void add_row_vector(Index m, Index n, const float* bias, float* x);
  static void add_row_vector(Index m, Index n, const double* bias, double* x);
  /// acc (n) += Σ_i X[i, :]; fixed row chunks summed in chunk order (deterministic).
  static void accumulate_column_sums(Index m, Index n, const float* x, float* acc);
  static void accumulate_column_sums(Index m, Index n, const double* x, double* acc);
  /// y = act(x) element-wise.
  static void activate(Activation act, float slope, Index count, const float* x, float* y);
  static void activate(Activation act, double slope, Index count, const double* x, double* y);
  /// dx = act'(x) ⊙ dy (assigns dx).
  static void activate_backward(Activation act, float slope, Index count, const float* x, const float* y,
                                const float* dy, float* dx);
  static void activate_backward(Activation act, double slope, Index count, const double* x, const double* y,
                                const double* dy, double* dx);
  /// Patch matrix P (images·out_pixels × patch_size) of channels-last images x.
  static void im2col(const ConvGeometry& g, Index images, const float* x, float* p);
  static void im2col(const ConvGeometry& g, Index images, const double* x, double* p);
  /// The adjoint of im2col (assigns x). Each pixel gathers its patch entries in the
  /// order Cpu::col2im adds them, so the two agree bit for bit.
  static void col2im(const ConvGeometry& g, Index images, const float* p, float* x);
  static void col2im(const ConvGeometry& g, Index images, const double* p, double* x);
  /// Convolution, transposed convolution and weight gradient (see Cpu::conv2d): composed
  /// of im2col, cuBLAS GEMM and col2im over the whole batch, `scratch` the patch matrix.
  template <class T>
  static void conv2d(const ConvGeometry& g, Index out_c, Index images, const T* x, const T* w, const T* bias,
                     T* y, Matrix<T>& scratch) {
    detail::conv2d_by_im2col<Cuda>(g, out_c, images, x, w, bias, y, scratch);
  }
  template <class T>
  static void conv2d_transpose(const ConvGeometry& g, Index out_c, Index images, const T* x, const T* w,
                               const T* bias, T* y, Matrix<T>& scratch) {
    detail::conv2d_transpose_by_im2col<Cuda>(g, out_c, images, x, w, bias, y, scratch);
  }
  template <class T>
  static void conv2d_weight_gradient(const ConvGeometry& g, Index out_c, Index images, const T* x, const T* dy,
                                     T* dw, Matrix<T>& scratch) {
    detail::conv2d_weight_gradient_by_im2col<Cuda>(g, out_c, images, x, dy, dw, scratch);
  }

  // --- noise ----------------------------------------------------------------------------
  /// out[j] ~ N(0, 1), j < count, from the counter-based Philox4x32-10 generator (cuRAND's
  /// device API): value j depends only on (seed, stream, j), never on the launch shape or
  /// the thread count. float: Box–Muller on counter (stream, ⌊j/4⌋), four values per
  /// counter; double: two values per counter (stream, ⌊j/2⌋).
  static void fill_normal(std::uint64_t seed, std::uint64_t stream, Index count, float* out);
  static void fill_normal(std::uint64_t seed, std::uint64_t stream, Index count, double* out);

  // --- transfer accounting --------------------------------------------------------------
  /// Counters of the calling thread since its last reset_stats(): backend operations run,
  /// and bytes staged host → device and device → host (0 for device-resident operands).
  struct Stats {
    std::uint64_t operations = 0, bytes_to_device = 0, bytes_to_host = 0;
  };
  static Stats stats();
  static void reset_stats();

  // --- device management ----------------------------------------------------------------
  /// Number of usable CUDA devices (0 when there is none or no driver), and the reason
  /// when there is none ("" otherwise).
  static std::pair<int, std::string> device_count();
  /// The current device's name, e.g. "NVIDIA H200".
  static std::string device_name();
  /// Waits for all work on the calling thread's stream (every operation already does).
  static void synchronize();
  /// Raw device memory (cudaMalloc / cudaFree) and synchronous copies.
  static void* allocate(std::size_t bytes);
  static void deallocate(void* p) noexcept;
  static void copy_to_device(void* dst, const void* src, std::size_t bytes);
  static void copy_to_host(void* dst, const void* src, std::size_t bytes);
};

static_assert(ConvolutionBackend<Cuda>, "the CUDA backend must model dpvae::ConvolutionBackend");

/// An owning buffer of `size` values of T in device memory; pass data() to any Cuda
/// operation to run it without staging.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(Index size) : size_(size) {
    detail::require(size >= 0, "DeviceBuffer needs a non-negative size");
    if (size > 0) data_ = static_cast<T*>(Cuda::allocate(static_cast<std::size_t>(size) * sizeof(T)));
  }
  DeviceBuffer(const T* host, Index size) : DeviceBuffer(size) { upload(host); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      Cuda::deallocate(data_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~DeviceBuffer() { Cuda::deallocate(data_); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  Index size() const { return size_; }
  /// Copies size() values from host memory into the buffer.
  void upload(const T* host) {
    if (size_ > 0) Cuda::copy_to_device(data_, host, bytes());
  }
  /// Copies the buffer into size() values of host memory.
  void download(T* host) const {
    if (size_ > 0) Cuda::copy_to_host(host, data_, bytes());
  }

 private:
  std::size_t bytes() const { return static_cast<std::size_t>(size_) * sizeof(T); }
  T* data_ = nullptr;
  Index size_ = 0;
};

}  // namespace dpvae
