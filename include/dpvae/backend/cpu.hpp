// dpvae/backend/cpu.hpp — the compile-time backend trait and the CPU backend.
//
// A backend is a closed set of batch operations on row-major buffers: GEMM, element-wise
// activations and their derivatives, bias broadcasts and column reductions, and the
// im2col / col2im pair that turns a convolution into one GEMM. Layers are written only in
// these operations and never branch on the backend; a GPU backend is one more struct.
//
// The CPU backend runs Eigen kernels on fixed-size chunks of the batch in parallel under
// oneTBB. Chunk boundaries depend only on the problem size, never on the thread count,
// and every reduction sums its chunk partials in chunk order, so results are
// bit-identical for any number of threads.
#pragma once

#include "dpvae/core.hpp"

#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <vector>

namespace dpvae {

/// Element-wise nonlinearities known to every backend.
enum class Activation { relu, leaky_relu, tanh, sigmoid };

/// Geometry of a 2-D convolution from an in_h × in_w × in_c image to out_h × out_w
/// output pixels, square kernel, equal stride and zero padding on both axes.
/// A patch (one im2col row) holds kernel × kernel × in_c values in (ky, kx, c) order.
struct ConvGeometry {
  Index in_h = 0, in_w = 0, in_c = 0;
  Index kernel = 1, stride = 1, pad = 0;
  Index out_h = 0, out_w = 0;

  static ConvGeometry make(Index in_h, Index in_w, Index in_c, Index kernel, Index stride,
                           Index pad) {
    detail::require(kernel > 0 && stride > 0 && pad >= 0,
                    "convolution needs kernel > 0, stride > 0 and padding >= 0");
    ConvGeometry g{in_h, in_w, in_c, kernel, stride, pad, 0, 0};
    g.out_h = (in_h + 2 * pad - kernel) / stride + 1;
    g.out_w = (in_w + 2 * pad - kernel) / stride + 1;
    detail::require(in_h + 2 * pad >= kernel && in_w + 2 * pad >= kernel,
                    "convolution kernel is larger than its padded input");
    return g;
  }
  Index patch_size() const { return kernel * kernel * in_c; }
  Index in_size() const { return in_h * in_w * in_c; }
  Index out_pixels() const { return out_h * out_w; }
};

namespace detail {
// Element-wise kernels on non-aliasing buffers, written as plain loops that GCC and Clang
// vectorise (compare + blend). A select between x and slope·x is not if-converted under
// -ftrapping-math (the product would be evaluated speculatively), so LeakyReLU is written
// as select(x > 0, x, 0) + slope · select(x > 0, 0, x): one of the two terms is an exact
// zero, so the results equal the scalar definition bit for bit.
template <class T>
void leaky_relu(T slope, Index n, const T* __restrict x, T* __restrict y) {
  if (slope == T(0)) {
    for (Index i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
  } else {
    for (Index i = 0; i < n; ++i) y[i] = (x[i] > T(0) ? x[i] : T(0)) + slope * (x[i] > T(0) ? T(0) : x[i]);
  }
}
template <class T>
void leaky_relu_backward(T slope, Index n, const T* __restrict x, const T* __restrict dy, T* __restrict dx) {
  if (slope == T(0)) {
    for (Index i = 0; i < n; ++i) dx[i] = x[i] > T(0) ? dy[i] : T(0);
  } else {
    for (Index i = 0; i < n; ++i) dx[i] = (x[i] > T(0) ? dy[i] : T(0)) + slope * (x[i] > T(0) ? T(0) : dy[i]);
  }
}
template <class T>
void tanh_backward(Index n, const T* __restrict y, const T* __restrict dy, T* __restrict dx) {
  for (Index i = 0; i < n; ++i) dx[i] = dy[i] * (T(1) - y[i] * y[i]);
}
template <class T>
void sigmoid_backward(Index n, const T* __restrict y, const T* __restrict dy, T* __restrict dx) {
  for (Index i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (T(1) - y[i]);
}

// One image's patch rows (out_pixels × patch_size), zeros where the window overhangs.
// Channels last, the in-image part of a window row (ky fixed, kx running) is one
// contiguous run of pixels, copied at once.
template <class T>
void im2col_image(const ConvGeometry& g, const T* img, T* rows) {
  const Index ps = g.patch_size(), c = g.in_c, k = g.kernel;
  for (Index oy = 0; oy < g.out_h; ++oy)
    for (Index ox = 0; ox < g.out_w; ++ox) {
      T* row = rows + (oy * g.out_w + ox) * ps;
      const Index ix0 = ox * g.stride - g.pad;
      const Index lo = std::max<Index>(0, -ix0), hi = std::min<Index>(k, g.in_w - ix0);
      for (Index ky = 0; ky < k; ++ky) {
        T* dst = row + ky * k * c;
        const Index iy = oy * g.stride - g.pad + ky;
        if (iy < 0 || iy >= g.in_h || lo >= hi) {
          std::fill(dst, dst + k * c, T(0));
          continue;
        }
        std::fill(dst, dst + lo * c, T(0));
        std::copy(img + (iy * g.in_w + ix0 + lo) * c, img + (iy * g.in_w + ix0 + hi) * c, dst + lo * c);
        std::fill(dst + hi * c, dst + k * c, T(0));
      }
    }
}

// The adjoint of im2col_image for one image: img (in_size) = Σ of the patch rows scattered
// back to the pixels they were read from (assigns img). Every pixel receives its terms in
// the order (oy, ox, ky, kx), the order the CUDA backend's gather kernel sums them in.
template <class T>
void col2im_image(const ConvGeometry& g, const T* rows, T* img) {
  const Index ps = g.patch_size(), c = g.in_c, k = g.kernel;
  std::fill(img, img + g.in_size(), T(0));
  for (Index oy = 0; oy < g.out_h; ++oy)
    for (Index ox = 0; ox < g.out_w; ++ox) {
      const T* row = rows + (oy * g.out_w + ox) * ps;
      const Index ix0 = ox * g.stride - g.pad;
      const Index lo = std::max<Index>(0, -ix0), hi = std::min<Index>(k, g.in_w - ix0);
      if (lo >= hi) continue;
      for (Index ky = 0; ky < k; ++ky) {
        const Index iy = oy * g.stride - g.pad + ky;
        if (iy < 0 || iy >= g.in_h) continue;
        const T* __restrict src = row + (ky * k + lo) * c;
        T* __restrict dst = img + (iy * g.in_w + ix0 + lo) * c;
        for (Index j = 0; j < (hi - lo) * c; ++j) dst[j] += src[j];
      }
    }
}

// The three convolution operations composed of a backend's im2col, GEMM and col2im over
// the whole batch, with `scratch` as the patch matrix (images·out_pixels × patch_size).
// Backends without fused convolution kernels (the CUDA backend) use these.
template <class B, class T>
void conv2d_by_im2col(const ConvGeometry& g, Index out_c, Index images, const T* x, const T* w,
                      const T* bias, T* y, Matrix<T>& scratch) {
  const Index rows = images * g.out_pixels(), ps = g.patch_size();
  scratch.resize(rows, ps);
  B::im2col(g, images, x, scratch.data());
  B::gemm(false, true, rows, out_c, ps, T(1), scratch.data(), ps, w, ps, T(0), y, out_c);
  if (bias) B::add_row_vector(rows, out_c, bias, y);
}
template <class B, class T>
void conv2d_transpose_by_im2col(const ConvGeometry& g, Index out_c, Index images, const T* x, const T* w,
                                const T* bias, T* y, Matrix<T>& scratch) {
  const Index rows = images * g.out_pixels(), ps = g.patch_size();
  scratch.resize(rows, ps);
  B::gemm(false, false, rows, ps, out_c, T(1), x, out_c, w, ps, T(0), scratch.data(), ps);
  B::col2im(g, images, scratch.data(), y);
  if (bias) B::add_row_vector(images * g.in_h * g.in_w, g.in_c, bias, y);
}
template <class B, class T>
void conv2d_weight_gradient_by_im2col(const ConvGeometry& g, Index out_c, Index images, const T* x,
                                      const T* dy, T* dw, Matrix<T>& scratch) {
  const Index rows = images * g.out_pixels(), ps = g.patch_size();
  scratch.resize(rows, ps);
  B::im2col(g, images, x, scratch.data());
  B::gemm(true, false, out_c, ps, rows, T(1), dy, out_c, scratch.data(), ps, T(1), dw, ps);
}
}  // namespace detail

/// What a backend must provide (all buffers row-major; `ld*` are row strides).
template <class B>
concept Backend = requires(bool t, Index i, float f, const float* cp, float* p,
                           const ConvGeometry& g, Activation act) {
  B::gemm(t, t, i, i, i, f, cp, i, cp, i, f, p, i);
  B::add_row_vector(i, i, cp, p);
  B::accumulate_column_sums(i, i, cp, p);
  B::activate(act, f, i, cp, p);
  B::activate_backward(act, f, i, cp, cp, cp, p);
  B::im2col(g, i, cp, p);
  B::col2im(g, i, cp, p);
};
template <class B>
concept ConvolutionBackend = Backend<B> && requires(Index i, const float* cp, float* p, const ConvGeometry& g,
                                                    Matrix<float>& scratch) {
  B::conv2d(g, i, i, cp, cp, cp, p, scratch);
  B::conv2d_transpose(g, i, i, cp, cp, cp, p, scratch);
  B::conv2d_weight_gradient(g, i, i, cp, cp, p, scratch);
};

/// The CPU backend: Eigen kernels, parallel across the batch under oneTBB.
struct Cpu {
  /// C (m × n) = alpha · op(A) · op(B) + beta · C, op(X) = Xᵀ when the flag is set;
  /// A is m × k (k × m when transposed), B is k × n (n × k when transposed).
  /// When beta == 0, C is assigned (its old contents, even NaN, are ignored).
  template <class T>
  static void gemm(bool trans_a, bool trans_b, Index m, Index n, Index k, T alpha,
                   const T* a, Index lda, const T* b, Index ldb, T beta, T* c, Index ldc) {
    if (m == 0 || n == 0) return;
    using CMap = Eigen::Map<const Matrix<T>, 0, Eigen::OuterStride<>>;
    using MMap = Eigen::Map<Matrix<T>, 0, Eigen::OuterStride<>>;
    auto block = [&](Index r0, Index r1, Index c0, Index c1) {
      const Index rows = r1 - r0, cols = c1 - c0;
      MMap cm(c + r0 * ldc + c0, rows, cols, Eigen::OuterStride<>(ldc));
      if (beta == T(0)) {
        cm.setZero();
      } else if (beta != T(1)) {
        cm *= beta;
      }
      if (k == 0) return;
      auto run = [&](const auto& am) {
        if (!trans_b) {
          CMap bm(b + c0, k, cols, Eigen::OuterStride<>(ldb));
          cm.noalias() += alpha * am * bm;
        } else {
          CMap bm(b + c0 * ldb, cols, k, Eigen::OuterStride<>(ldb));
          cm.noalias() += alpha * am * bm.transpose();
        }
      };
      if (!trans_a) {
        run(CMap(a + r0 * lda, rows, k, Eigen::OuterStride<>(lda)));
      } else {
        run(CMap(a + r0, k, rows, Eigen::OuterStride<>(lda)).transpose());
      }
    };
    // Fixed chunking: about 2 MFLOP or more per chunk, split along the longer side.
    const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) *
                         static_cast<double>(k);
    const Index longer = std::max(m, n);
    Index chunks = static_cast<Index>(std::min<double>(flops / 2.0e6, static_cast<double>(longer) / 16.0));
    chunks = std::clamp<Index>(chunks, 1, 64);
    if (chunks == 1) {
      block(0, m, 0, n);
      return;
    }
    const Index step = (longer + chunks - 1) / chunks;
    tbb::parallel_for(Index{0}, chunks, [&](Index i) {
      const Index lo = std::min(longer, i * step), hi = std::min(longer, lo + step);
      if (lo >= hi) return;
      if (m >= n) {
        block(lo, hi, 0, n);
      } else {
        block(0, m, lo, hi);
      }
    });
  }

  /// X (m × n) += 1 · bᵀ: adds the row vector b (n) to every row.
  template <class T>
  static void add_row_vector(Index m, Index n, const T* bias, T* x) {
    ConstVectorMap<T> bv(bias, n);
    for_rows(m, n, [&](Index r0, Index r1) {
      MatrixMap<T> xm(x + r0 * n, r1 - r0, n);
      xm.rowwise() += bv.transpose();
    });
  }

  /// acc (n) += Σ_i X[i, :] over the m rows of X (the bias gradient). Partial sums are
  /// formed on fixed row chunks and added in chunk order: deterministic for any threads.
  template <class T>
  static void accumulate_column_sums(Index m, Index n, const T* x, T* acc) {
    const Index chunk = std::max<Index>(64, (1 << 15) / std::max<Index>(n, 1));
    const Index chunks = (m + chunk - 1) / chunk;
    if (chunks <= 1) {
      VectorMap<T>(acc, n) += ConstMatrixMap<T>(x, m, n).colwise().sum().transpose();
      return;
    }
    Matrix<T> partial(chunks, n);
    tbb::parallel_for(Index{0}, chunks, [&](Index i) {
      const Index r0 = i * chunk, r1 = std::min(m, r0 + chunk);
      partial.row(i) = ConstMatrixMap<T>(x + r0 * n, r1 - r0, n).colwise().sum();
    });
    VectorMap<T> av(acc, n);
    for (Index i = 0; i < chunks; ++i) av += partial.row(i).transpose();
  }

  /// y = act(x) element-wise over `count` values (slope: LeakyReLU's negative slope).
  /// ReLU and LeakyReLU are branch-free loops the compiler vectorises (a comparison and a
  /// blend); Eigen's select() runs them as scalar branches, which mispredict on activations.
  template <class T>
  static void activate(Activation act, T slope, Index count, const T* x, T* y) {
    for_elements(count, [act, slope, x, y](Index lo, Index hi) {
      if (act == Activation::relu || act == Activation::leaky_relu) {
        detail::leaky_relu(act == Activation::relu ? T(0) : slope, hi - lo, x + lo, y + lo);
        return;
      }
      auto xs = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(x + lo, hi - lo);
      auto ys = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(y + lo, hi - lo);
      if (act == Activation::tanh) {
        ys = xs.tanh();
      } else {
        ys = T(1) / (T(1) + (-xs).exp());
      }
    });
  }

  /// dx = act'(x) ⊙ dy, from the input x and the output y = act(x) (assigns dx).
  template <class T>
  static void activate_backward(Activation act, T slope, Index count, const T* x, const T* y,
                                const T* dy, T* dx) {
    for_elements(count, [act, slope, x, y, dy, dx](Index lo, Index hi) {
      switch (act) {
        case Activation::relu:
          detail::leaky_relu_backward(T(0), hi - lo, x + lo, dy + lo, dx + lo);
          return;
        case Activation::leaky_relu:
          detail::leaky_relu_backward(slope, hi - lo, x + lo, dy + lo, dx + lo);
          return;
        case Activation::tanh:
          detail::tanh_backward(hi - lo, y + lo, dy + lo, dx + lo);
          return;
        case Activation::sigmoid:
          detail::sigmoid_backward(hi - lo, y + lo, dy + lo, dx + lo);
          return;
      }
    });
  }

  /// Patch matrix of `images` images x (images × in_size, channels last): row
  /// (n, oy, ox) of P (images·out_pixels × patch_size) holds the kernel window at that
  /// output pixel, zeros where it overhangs the padding.
  template <class T>
  static void im2col(const ConvGeometry& g, Index images, const T* x, T* p) {
    for_items(images, [&](Index n) {
      detail::im2col_image(g, x + n * g.in_size(), p + n * g.out_pixels() * g.patch_size());
    });
  }

  /// The adjoint of im2col: x (images × in_size) = Σ of every patch row scattered back to
  /// the pixels it was read from (assigns x).
  template <class T>
  static void col2im(const ConvGeometry& g, Index images, const T* p, T* x) {
    for_items(images, [&](Index n) {
      detail::col2im_image(g, p + n * g.out_pixels() * g.patch_size(), x + n * g.in_size());
    });
  }

  // Fused convolutions. The batch is cut into fixed chunks of whole images whose patch
  // block (chunk·out_pixels × patch_size) fits in the core's L2 cache; each chunk's
  // im2col (or col2im) and GEMM run back to back on one core, so the patch matrix never
  // exists whole and never travels through memory. Chunks depend only on the geometry and
  // the batch size, and the weight gradient sums fixed groups of chunks in group order, so
  // results are bit-identical for any number of threads. `scratch` is the workspace: the
  // weight gradient's group partials and one patch block per thread of the arena. Its
  // size depends only on the geometry, the batch and the arena, the same for all three
  // operations, so a layer's scratch is allocated once and steps allocate nothing.

  /// Convolution: y (images × out_pixels·Cout) = im2col(x) Wᵀ (+ b when bias is not null),
  /// x images × in_size, W Cout × patch_size (row-major), b Cout (assigns y).
  template <class T>
  static void conv2d(const ConvGeometry& g, Index out_c, Index images, const T* x, const T* w, const T* bias,
                     T* y, Matrix<T>& scratch) {
    const Index op = g.out_pixels(), ps = g.patch_size();
    const ConstMatrixMap<T> wm(w, out_c, ps);
    for_image_chunks(ConvWorkspace<T>(g, out_c, images, scratch), [&](Index n0, Index n1, T* patches) {
      const Index rows = (n1 - n0) * op;
      for (Index n = n0; n < n1; ++n) detail::im2col_image(g, x + n * g.in_size(), patches + (n - n0) * op * ps);
      MatrixMap<T> ym(y + n0 * op * out_c, rows, out_c);
      ym.noalias() = ConstMatrixMap<T>(patches, rows, ps) * wm.transpose();
      if (bias) ym.rowwise() += ConstVectorMap<T>(bias, out_c).transpose();
    });
  }

  /// The adjoint of conv2d's input map (a transposed convolution): y (images × in_size) =
  /// col2im(x W) (+ b per input-grid pixel when bias is not null), x images ×
  /// out_pixels·Cout, W Cout × patch_size, b in_c (assigns y).
  template <class T>
  static void conv2d_transpose(const ConvGeometry& g, Index out_c, Index images, const T* x, const T* w,
                               const T* bias, T* y, Matrix<T>& scratch) {
    const Index op = g.out_pixels(), ps = g.patch_size();
    const ConstMatrixMap<T> wm(w, out_c, ps);
    for_image_chunks(ConvWorkspace<T>(g, out_c, images, scratch), [&](Index n0, Index n1, T* patches) {
      const Index rows = (n1 - n0) * op;
      MatrixMap<T>(patches, rows, ps).noalias() = ConstMatrixMap<T>(x + n0 * op * out_c, rows, out_c) * wm;
      for (Index n = n0; n < n1; ++n) detail::col2im_image(g, patches + (n - n0) * op * ps, y + n * g.in_size());
      if (bias) {
        MatrixMap<T>(y + n0 * g.in_size(), (n1 - n0) * g.in_h * g.in_w, g.in_c).rowwise() +=
            ConstVectorMap<T>(bias, g.in_c).transpose();
      }
    });
  }

  /// The convolution's weight gradient: dW (Cout × patch_size) += dyᵀ im2col(x), dy images ×
  /// out_pixels·Cout, x images × in_size (accumulates into dw).
  template <class T>
  static void conv2d_weight_gradient(const ConvGeometry& g, Index out_c, Index images, const T* x, const T* dy,
                                     T* dw, Matrix<T>& scratch) {
    const Index op = g.out_pixels(), ps = g.patch_size();
    const ConvWorkspace<T> ws(g, out_c, images, scratch);
    if (ws.groups == 0) return;
    auto run_group = [&](Index grp, T* patches) {
      MatrixMap<T> part(ws.partial(grp), out_c, ps);
      part.setZero();
      for (Index c = grp * ws.chunks / ws.groups; c < (grp + 1) * ws.chunks / ws.groups; ++c) {
        const Index n0 = c * ws.per, n1 = std::min(images, n0 + ws.per), rows = (n1 - n0) * op;
        for (Index n = n0; n < n1; ++n) detail::im2col_image(g, x + n * g.in_size(), patches + (n - n0) * op * ps);
        part.noalias() += ConstMatrixMap<T>(dy + n0 * op * out_c, rows, out_c).transpose() *
                          ConstMatrixMap<T>(patches, rows, ps);
      }
    };
    if (ws.groups == 1) {
      run_group(0, ws.base + ws.partials);  // on the calling thread: the first slot
    } else {
      tbb::parallel_for(Index{0}, ws.groups, [&](Index grp) { run_group(grp, ws.patches()); },
                        tbb::simple_partitioner{});
    }
    MatrixMap<T> dwm(dw, out_c, ps);
    for (Index grp = 0; grp < ws.groups; ++grp) dwm += MatrixMap<T>(ws.partial(grp), out_c, ps);
  }

 private:
  // Fused-convolution chunking: a chunk's patch block stays within kPatchBlockBytes (at
  // least one image); the weight gradient folds chunks into at most this many groups.
  static constexpr Index kPatchBlockBytes = 128 * 1024;
  static constexpr Index kWeightGradientGroups = 8;

  // The workspace of the fused convolutions in a layer's scratch matrix, one row:
  // [groups × Cout·patch_size partials | slots × patch block], slots = the arena's threads.
  template <class T>
  struct ConvWorkspace {
    Index images = 0, per = 1, chunks = 0, groups = 0, block = 0, partial_size = 0, partials = 0, slots = 1;
    T* base = nullptr;
    ConvWorkspace(const ConvGeometry& g, Index out_c, Index n, Matrix<T>& scratch) : images(n) {
      const Index bytes = g.out_pixels() * g.patch_size() * static_cast<Index>(sizeof(T));
      per = std::max<Index>(1, kPatchBlockBytes / std::max<Index>(bytes, 1));
      chunks = (images + per - 1) / per;
      groups = std::min<Index>(chunks, kWeightGradientGroups);
      block = std::min(per, images) * g.out_pixels() * g.patch_size();
      partial_size = out_c * g.patch_size();
      partials = groups * partial_size;
      slots = std::max<Index>(1, tbb::this_task_arena::max_concurrency());
      const Index size = partials + slots * block;
      if (scratch.size() != size) scratch.resize(1, size);
      base = scratch.data();
    }
    T* partial(Index group) const { return base + group * partial_size; }
    // The calling thread's patch block (a chunk's work never waits on other tasks, so no
    // other chunk runs on this thread while it holds the block).
    T* patches() const {
      const int slot = tbb::this_task_arena::current_thread_index();
      detail::require(slot >= 0 && slot < slots, "convolution workspace: a thread outside the task arena");
      return base + partials + slot * block;
    }
  };
  // f(n0, n1, patches) for every chunk [n0, n1) of whole images, in parallel.
  template <class T, class F>
  static void for_image_chunks(const ConvWorkspace<T>& ws, F&& f) {
    auto run = [&](Index c, T* patches) { f(c * ws.per, std::min(ws.images, (c + 1) * ws.per), patches); };
    if (ws.chunks <= 1) {
      for (Index c = 0; c < ws.chunks; ++c) run(c, ws.base + ws.partials);  // the first slot
      return;
    }
    tbb::parallel_for(Index{0}, ws.chunks, [&](Index c) { run(c, ws.patches()); });
  }
  template <class F>
  static void for_items(Index count, F&& f) {
    if (count <= 1) {
      for (Index i = 0; i < count; ++i) f(i);
      return;
    }
    tbb::parallel_for(Index{0}, count, [&](Index i) { f(i); });
  }
  template <class F>
  static void for_elements(Index count, F&& f) {
    constexpr Index chunk = 1 << 14;
    if (count <= chunk) {
      f(Index{0}, count);
      return;
    }
    const Index chunks = (count + chunk - 1) / chunk;
    tbb::parallel_for(Index{0}, chunks, [&](Index i) {
      f(i * chunk, std::min(count, (i + 1) * chunk));
    });
  }
  template <class F>
  static void for_rows(Index m, Index n, F&& f) {
    const Index chunk = std::max<Index>(1, (1 << 14) / std::max<Index>(n, 1));
    if (m <= chunk) {
      f(Index{0}, m);
      return;
    }
    const Index chunks = (m + chunk - 1) / chunk;
    tbb::parallel_for(Index{0}, chunks, [&](Index i) {
      f(i * chunk, std::min(m, (i + 1) * chunk));
    });
  }
};

static_assert(ConvolutionBackend<Cpu>, "the CPU backend must model dpvae::ConvolutionBackend");

/// Limits the worker threads of every dpvae parallel loop (oneTBB) in this process while it
/// lives, e.g. `dpvae::ThreadLimit limit(2);` before training. Results do not depend on the
/// thread count. Throws dpvae::Error for n < 1.
class ThreadLimit {
 public:
  explicit ThreadLimit(std::size_t n) : control_(tbb::global_control::max_allowed_parallelism, checked(n)) {}

 private:
  static std::size_t checked(std::size_t n) {
    detail::require(n >= 1, "ThreadLimit: at least one thread");
    return n;
  }
  tbb::global_control control_;
};

}  // namespace dpvae
