// src/cuda/backend.cpp — host side of dpvae::Cuda: contexts, staging, cuBLAS calls.
// Residency and threading: include/dpvae/backend/cuda.hpp.
#include "dpvae/backend/cuda.hpp"

#include "kernels.hpp"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <climits>
#include <string>
#include <vector>

namespace dpvae {
namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(std::string("CUDA: ") + what + ": " + cudaGetErrorString(e));
}
void check_blas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw Error(std::string("cuBLAS: ") + what + ": " + cublasGetStatusString(s));
}
int to_int(Index v, const char* what) {
  detail::require(v >= 0 && v <= INT_MAX, std::string("CUDA backend: ") + what + " " + std::to_string(v) +
                                              " is outside [0, 2^31 - 1] (cuBLAS uses 32-bit sizes)");
  return static_cast<int>(v);
}

/// A host thread's stream, cuBLAS handle and device workspaces (grown on demand, never
/// per call). Created on the thread's first operation.
class Context {
 public:
  static constexpr int kSlots = 8;
  static Context& get() {
    thread_local Context ctx;
    if (!ctx.stream_) ctx.init();
    return ctx;
  }
  Context() = default;
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  ~Context() {
    // At process exit the runtime may already be unloading: errors are ignored here.
    for (auto& w : slots_)
      if (w.ptr) cudaFree(w.ptr);
    if (blas_) cublasDestroy(blas_);
    if (stream_) cudaStreamDestroy(stream_);
  }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t blas() const { return blas_; }
  /// Device memory of at least `bytes` in workspace `slot` (contents undefined).
  void* workspace(int slot, std::size_t bytes) {
    Slot& w = slots_.at(static_cast<std::size_t>(slot));
    if (w.bytes < bytes) {
      const std::size_t grown = std::max(bytes, w.bytes + w.bytes / 2);
      if (w.ptr) check(cudaFree(w.ptr), "cudaFree (workspace)");
      w.ptr = nullptr;
      w.bytes = 0;
      check(cudaMalloc(&w.ptr, grown), "cudaMalloc (workspace)");
      w.bytes = grown;
    }
    return w.ptr;
  }

 private:
  struct Slot {
    void* ptr = nullptr;
    std::size_t bytes = 0;
  };
  // All or nothing: a failure leaves the context uninitialised, to be retried by the next call.
  void init() {
    const auto [count, why] = Cuda::device_count();
    if (count == 0) throw Error("CUDA backend: " + why);
    cudaStream_t stream = nullptr;
    check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
    cublasHandle_t blas = nullptr;
    cublasStatus_t st = cublasCreate(&blas);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasSetStream(blas, stream);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH);  // no TF32
    if (st != CUBLAS_STATUS_SUCCESS) {
      if (blas) cublasDestroy(blas);
      cudaStreamDestroy(stream);
      check_blas(st, "cublasCreate");
    }
    stream_ = stream;
    blas_ = blas;
  }
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  std::array<Slot, kSlots> slots_{};
};

thread_local Cuda::Stats tls_stats;

/// True when the device can use `p` in place (device or managed memory).
bool device_accessible(const void* p) {
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    static_cast<void>(cudaGetLastError());  // clear the sticky-free error of a foreign pointer
    return false;
  }
  return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

/// Values spanned by a row-major rows × cols buffer with row stride ld.
std::size_t extent(Index rows, Index cols, Index ld) {
  return rows <= 0 || cols <= 0 ? 0 : static_cast<std::size_t>((rows - 1) * ld + cols);
}

/// One operation's operands: device pointers pass through; host pointers are copied into
/// the context's workspace slots, and outputs copied back by finish().
class Staging {
 public:
  explicit Staging(Context& ctx) : ctx_(ctx) {}
  template <class T>
  const T* in(const T* p, std::size_t count) {
    if (count == 0 || device_accessible(p)) return p;
    T* d = static_cast<T*>(ctx_.workspace(next_++, count * sizeof(T)));
    check(cudaMemcpyAsync(d, p, count * sizeof(T), cudaMemcpyHostToDevice, ctx_.stream()), "copy to device");
    tls_stats.bytes_to_device += count * sizeof(T);
    return d;
  }
  /// An output; `read` when its old contents are used (accumulation, strided rows).
  template <class T>
  T* out(T* p, std::size_t count, bool read) {
    if (count == 0 || device_accessible(p)) return p;
    T* d = static_cast<T*>(ctx_.workspace(next_++, count * sizeof(T)));
    if (read) {
      check(cudaMemcpyAsync(d, p, count * sizeof(T), cudaMemcpyHostToDevice, ctx_.stream()), "copy to device");
      tls_stats.bytes_to_device += count * sizeof(T);
    }
    outs_.push_back({p, d, count * sizeof(T)});
    return d;
  }
  /// A device scratch buffer in its own slot.
  template <class T>
  T* scratch(std::size_t count) {
    return static_cast<T*>(ctx_.workspace(Context::kSlots - 1, std::max<std::size_t>(count, 1) * sizeof(T)));
  }
  void finish() {
    for (const auto& o : outs_) {
      check(cudaMemcpyAsync(o.host, o.dev, o.bytes, cudaMemcpyDeviceToHost, ctx_.stream()), "copy to host");
      tls_stats.bytes_to_host += o.bytes;
    }
    check(cudaStreamSynchronize(ctx_.stream()), "cudaStreamSynchronize");
    ++tls_stats.operations;
  }

 private:
  struct Out {
    void* host;
    const void* dev;
    std::size_t bytes;
  };
  Context& ctx_;
  int next_ = 0;
  std::vector<Out> outs_;
};

cuda_detail::Geometry geometry(const ConvGeometry& g) {
  return {g.in_h, g.in_w, g.in_c, g.kernel, g.stride, g.pad, g.out_h, g.out_w};
}

cublasStatus_t blas_gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         const float* alpha, const float* a, int lda, const float* b, int ldb, const float* beta,
                         float* c, int ldc) {
  return cublasSgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
cublasStatus_t blas_gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         const double* alpha, const double* a, int lda, const double* b, int ldb,
                         const double* beta, double* c, int ldc) {
  return cublasDgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <class T>
void gemm_impl(bool trans_a, bool trans_b, Index m, Index n, Index k, T alpha, const T* a, Index lda, const T* b,
               Index ldb, T beta, T* c, Index ldc) {
  if (m == 0 || n == 0) return;
  const int mi = to_int(m, "GEMM size m"), ni = to_int(n, "GEMM size n"), ki = to_int(k, "GEMM size k");
  const int ldai = to_int(lda, "GEMM stride lda"), ldbi = to_int(ldb, "GEMM stride ldb");
  const int ldci = to_int(ldc, "GEMM stride ldc");
  Context& ctx = Context::get();
  Staging st(ctx);
  const T* da = st.in(a, k > 0 ? extent(trans_a ? k : m, trans_a ? m : k, lda) : 0);
  const T* db = st.in(b, k > 0 ? extent(trans_b ? n : k, trans_b ? k : n, ldb) : 0);
  T* dc = st.out(c, extent(m, n, ldc), beta != T(0) || ldc != n);
  if (k == 0) {
    check(cuda_detail::scale_matrix<T>(ctx.stream(), m, n, ldc, beta, dc), "scale kernel");
  } else {
    // Row-major C (m × n) is column-major Cᵀ (n × m): Cᵀ = op(B)ᵀ op(A)ᵀ.
    check_blas(blas_gemm(ctx.blas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, ni,
                         mi, ki, &alpha, db, ldbi, da, ldai, &beta, dc, ldci),
               "gemm");
  }
  st.finish();
}

template <class T>
void add_row_vector_impl(Index m, Index n, const T* bias, T* x) {
  if (m <= 0 || n <= 0) return;
  Context& ctx = Context::get();
  Staging st(ctx);
  const T* db = st.in(bias, static_cast<std::size_t>(n));
  T* dx = st.out(x, static_cast<std::size_t>(m * n), true);
  check(cuda_detail::add_row_vector<T>(ctx.stream(), m, n, db, dx), "add_row_vector kernel");
  st.finish();
}

template <class T>
void column_sums_impl(Index m, Index n, const T* x, T* acc) {
  if (m <= 0 || n <= 0) return;
  Context& ctx = Context::get();
  Staging st(ctx);
  const T* dx = st.in(x, static_cast<std::size_t>(m * n));
  T* dacc = st.out(acc, static_cast<std::size_t>(n), true);
  T* partial = st.scratch<T>(static_cast<std::size_t>(cuda_detail::column_sum_chunks(m) * n));
  check(cuda_detail::column_sums<T>(ctx.stream(), m, n, dx, partial, dacc), "column sum kernels");
  st.finish();
}

template <class T>
void activate_impl(Activation act, T slope, Index count, const T* x, T* y) {
  if (count <= 0) return;
  Context& ctx = Context::get();
  Staging st(ctx);
  const T* dx = st.in(x, static_cast<std::size_t>(count));
  T* dy = st.out(y, static_cast<std::size_t>(count), false);
  check(cuda_detail::activate<T>(ctx.stream(), static_cast<int>(act), slope, count, dx, dy), "activation kernel");
  st.finish();
}

template <class T>
void activate_backward_impl(Activation act, T slope, Index count, const T* x, const T* y, const T* dy, T* dx) {
  if (count <= 0) return;
  Context& ctx = Context::get();
  Staging st(ctx);
  const auto c = static_cast<std::size_t>(count);
  const T* d_x = st.in(x, c);
  const T* d_y = st.in(y, c);
  const T* d_dy = st.in(dy, c);
  T* d_dx = st.out(dx, c, false);
  check(cuda_detail::activate_backward<T>(ctx.stream(), static_cast<int>(act), slope, count, d_x, d_y, d_dy, d_dx),
        "activation backward kernel");
  st.finish();
}

template <class T>
void im2col_impl(const ConvGeometry& g, Index images, const T* x, T* p) {
  if (images <= 0) return;
  Context& ctx = Context::get();
  Staging st(ctx);
  const T* dx = st.in(x, static_cast<std::size_t>(images * g.in_size()));
  T* dp = st.out(p, static_cast<std::size_t>(images * g.out_pixels() * g.patch_size()), false);
  check(cuda_detail::im2col<T>(ctx.stream(), geometry(g), images, dx, dp), "im2col kernel");
  st.finish();
}

template <class T>
void col2im_impl(const ConvGeometry& g, Index images, const T* p, T* x) {
  if (images <= 0) return;
  Context& ctx = Context::get();
  Staging st(ctx);
  const T* dp = st.in(p, static_cast<std::size_t>(images * g.out_pixels() * g.patch_size()));
  T* dx = st.out(x, static_cast<std::size_t>(images * g.in_size()), false);
  check(cuda_detail::col2im<T>(ctx.stream(), geometry(g), images, dp, dx), "col2im kernel");
  st.finish();
}

template <class T>
void fill_normal_impl(std::uint64_t seed, std::uint64_t stream, Index count, T* out) {
  if (count <= 0) return;
  Context& ctx = Context::get();
  Staging st(ctx);
  T* d = st.out(out, static_cast<std::size_t>(count), false);
  check(cuda_detail::fill_normal<T>(ctx.stream(), seed, stream, count, d), "fill_normal kernel");
  st.finish();
}

}  // namespace

void Cuda::gemm(bool ta, bool tb, Index m, Index n, Index k, float alpha, const float* a, Index lda, const float* b,
                Index ldb, float beta, float* c, Index ldc) {
  gemm_impl(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void Cuda::gemm(bool ta, bool tb, Index m, Index n, Index k, double alpha, const double* a, Index lda,
                const double* b, Index ldb, double beta, double* c, Index ldc) {
  gemm_impl(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void Cuda::add_row_vector(Index m, Index n, const float* bias, float* x) { add_row_vector_impl(m, n, bias, x); }
void Cuda::add_row_vector(Index m, Index n, const double* bias, double* x) { add_row_vector_impl(m, n, bias, x); }
void Cuda::accumulate_column_sums(Index m, Index n, const float* x, float* acc) { column_sums_impl(m, n, x, acc); }
void Cuda::accumulate_column_sums(Index m, Index n, const double* x, double* acc) { column_sums_impl(m, n, x, acc); }
void Cuda::activate(Activation act, float slope, Index count, const float* x, float* y) {
  activate_impl(act, slope, count, x, y);
}
void Cuda::activate(Activation act, double slope, Index count, const double* x, double* y) {
  activate_impl(act, slope, count, x, y);
}
void Cuda::activate_backward(Activation act, float slope, Index count, const float* x, const float* y,
                             const float* dy, float* dx) {
  activate_backward_impl(act, slope, count, x, y, dy, dx);
}
void Cuda::activate_backward(Activation act, double slope, Index count, const double* x, const double* y,
                             const double* dy, double* dx) {
  activate_backward_impl(act, slope, count, x, y, dy, dx);
}
void Cuda::im2col(const ConvGeometry& g, Index images, const float* x, float* p) { im2col_impl(g, images, x, p); }
void Cuda::im2col(const ConvGeometry& g, Index images, const double* x, double* p) { im2col_impl(g, images, x, p); }
void Cuda::col2im(const ConvGeometry& g, Index images, const float* p, float* x) { col2im_impl(g, images, p, x); }
void Cuda::col2im(const ConvGeometry& g, Index images, const double* p, double* x) { col2im_impl(g, images, p, x); }
void Cuda::fill_normal(std::uint64_t seed, std::uint64_t stream, Index count, float* out) {
  fill_normal_impl(seed, stream, count, out);
}
void Cuda::fill_normal(std::uint64_t seed, std::uint64_t stream, Index count, double* out) {
  fill_normal_impl(seed, stream, count, out);
}

Cuda::Stats Cuda::stats() { return tls_stats; }
void Cuda::reset_stats() { tls_stats = {}; }

std::pair<int, std::string> Cuda::device_count() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    return {0, std::string("no CUDA device (") + cudaGetErrorString(e) + ")"};
  }
  if (count == 0) return {0, "no CUDA device"};
  return {count, ""};
}
std::string Cuda::device_name() {
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, dev), "cudaGetDeviceProperties");
  return prop.name;
}
void Cuda::synchronize() { check(cudaStreamSynchronize(Context::get().stream()), "cudaStreamSynchronize"); }
void* Cuda::allocate(std::size_t bytes) {
  void* p = nullptr;
  check(cudaMalloc(&p, bytes), "cudaMalloc");
  return p;
}
void Cuda::deallocate(void* p) noexcept {
  if (p) static_cast<void>(cudaFree(p));
}
// On the calling thread's stream, then synchronised: a pageable cudaMemcpy may return
// before its DMA lands, which a kernel on a non-blocking stream would not wait for.
void Cuda::copy_to_device(void* dst, const void* src, std::size_t bytes) {
  Context& ctx = Context::get();
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ctx.stream()), "copy to device");
  check(cudaStreamSynchronize(ctx.stream()), "cudaStreamSynchronize");
}
void Cuda::copy_to_host(void* dst, const void* src, std::size_t bytes) {
  Context& ctx = Context::get();
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, ctx.stream()), "copy to host");
  check(cudaStreamSynchronize(ctx.stream()), "cudaStreamSynchronize");
}

}  // namespace dpvae
