// dpvae/backend.hpp — the compile-time backend trait and the CPU backend.
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
#include <tbb/parallel_for.h>

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
    const Index ps = g.patch_size(), c = g.in_c;
    for_items(images, [&](Index n) {
      const T* img = x + n * g.in_size();
      T* rows = p + n * g.out_pixels() * ps;
      for (Index oy = 0; oy < g.out_h; ++oy)
        for (Index ox = 0; ox < g.out_w; ++ox) {
          T* row = rows + (oy * g.out_w + ox) * ps;
          for (Index ky = 0; ky < g.kernel; ++ky) {
            const Index iy = oy * g.stride - g.pad + ky;
            for (Index kx = 0; kx < g.kernel; ++kx) {
              const Index ix = ox * g.stride - g.pad + kx;
              T* dst = row + (ky * g.kernel + kx) * c;
              if (iy < 0 || iy >= g.in_h || ix < 0 || ix >= g.in_w) {
                std::fill(dst, dst + c, T(0));
              } else {
                std::copy(img + (iy * g.in_w + ix) * c, img + (iy * g.in_w + ix + 1) * c, dst);
              }
            }
          }
        }
    });
  }

  /// The adjoint of im2col: x (images × in_size) = Σ of every patch row scattered back to
  /// the pixels it was read from (assigns x).
  template <class T>
  static void col2im(const ConvGeometry& g, Index images, const T* p, T* x) {
    const Index ps = g.patch_size(), c = g.in_c;
    for_items(images, [&](Index n) {
      T* img = x + n * g.in_size();
      std::fill(img, img + g.in_size(), T(0));
      const T* rows = p + n * g.out_pixels() * ps;
      for (Index oy = 0; oy < g.out_h; ++oy)
        for (Index ox = 0; ox < g.out_w; ++ox) {
          const T* row = rows + (oy * g.out_w + ox) * ps;
          for (Index ky = 0; ky < g.kernel; ++ky) {
            const Index iy = oy * g.stride - g.pad + ky;
            if (iy < 0 || iy >= g.in_h) continue;
            for (Index kx = 0; kx < g.kernel; ++kx) {
              const Index ix = ox * g.stride - g.pad + kx;
              if (ix < 0 || ix >= g.in_w) continue;
              const T* src = row + (ky * g.kernel + kx) * c;
              T* dst = img + (iy * g.in_w + ix) * c;
              for (Index ch = 0; ch < c; ++ch) dst[ch] += src[ch];
            }
          }
        }
    });
  }

 private:
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

static_assert(Backend<Cpu>, "the CPU backend must model dpvae::Backend");

}  // namespace dpvae
