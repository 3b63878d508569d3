// dpvae/nn/layers.hpp — the network layers and their hand-written backward passes.
//
// THE BACKWARD CONTRACT (every layer, network, flow block and objective in dpvae):
//  * forward(params, x, y, scratch) ASSIGNS y (rows are points) and may keep what its
//    backward needs in `scratch`, one scratch matrix per use of the layer;
//  * backward(params, grads, x, y, dy, dx, scratch), given x, y = forward(x) and
//    dy = ∂L/∂y, ASSIGNS dx = ∂L/∂x (skipped when dx is null) and ACCUMULATES
//    ∂L/∂params into grads (+=; skipped when grads is null). Backward may overwrite
//    scratch: one backward per forward.
//  Parameter gradients accumulate because one component may be used several times in
//  one step (the flow maps both posterior and prior samples); the caller zeroes the
//  model's one flat gradient buffer once per step. tests/gradcheck.hpp holds every
//  component to this contract with sentinel-filled buffers.
//
// Parameters are not owned: a layer reads `params` and writes `grads` at the slice of
// the model's flat buffers that its network hands it. Images are channels last.
#pragma once

#include "dpvae/backend/cpu.hpp"
#include "dpvae/core.hpp"
#include "dpvae/rng.hpp"

#include <cmath>
#include <concepts>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace dpvae {

/// Named parameter tensors of a layer, in buffer order: (name, shape).
using ParameterShapes = std::vector<std::pair<std::string, std::vector<std::int64_t>>>;

/// What a layer provides (see the backward contract above).
template <class L>
concept Layer = requires(const L& layer, std::span<typename L::Scalar> init_params, Rng& rng,
                         const typename L::Scalar* p, typename L::Scalar* g,
                         const Matrix<typename L::Scalar>& x, Matrix<typename L::Scalar>& y) {
  typename L::Scalar;
  { layer.num_parameters() } -> std::convertible_to<Index>;
  { layer.input_size() } -> std::convertible_to<Index>;
  { layer.output_size() } -> std::convertible_to<Index>;
  { layer.name() } -> std::convertible_to<std::string>;
  { layer.parameter_shapes() } -> std::same_as<ParameterShapes>;
  layer.init(init_params, rng);
  layer.forward(p, x, y, y);
  layer.backward(p, g, x, x, x, &y, y);
};

namespace detail {
template <class T>
void fill_uniform(std::span<T> out, double bound, Rng& rng) {
  for (auto& v : out) v = static_cast<T>((2.0 * rng.uniform() - 1.0) * bound);
}
inline void require_width(Index got, Index want, const char* layer) {
  require(got == want, std::string(layer) + ": input has " + std::to_string(got) +
                           " columns, expected " + std::to_string(want));
}
}  // namespace detail

/// Fully connected layer y = x Wᵀ + b; x is n × in, W is out × in (row-major), b is out.
/// Initialisation U(−1/√in, 1/√in) for W and b (PyTorch's default).
template <class T, class B = Cpu>
class Linear {
 public:
  using Scalar = T;
  Linear(Index in, Index out) : in_(in), out_(out) {
    detail::require(in > 0 && out > 0, "Linear needs positive sizes");
  }
  Index num_parameters() const { return out_ * in_ + out_; }
  Index input_size() const { return in_; }
  Index output_size() const { return out_; }
  ParameterShapes parameter_shapes() const { return {{"weight", {out_, in_}}, {"bias", {out_}}}; }
  std::string name() const {
    return "Linear(" + std::to_string(in_) + ", " + std::to_string(out_) + ")";
  }
  void init(std::span<T> params, Rng& rng) const {
    detail::fill_uniform(params, 1.0 / std::sqrt(static_cast<double>(in_)), rng);
  }
  void forward(const T* p, const Matrix<T>& x, Matrix<T>& y, Matrix<T>&) const {
    detail::require_width(x.cols(), in_, "Linear");
    const Index n = x.rows();
    y.resize(n, out_);
    for (Index i = 0; i < n; ++i) std::copy(p + out_ * in_, p + out_ * in_ + out_, y.data() + i * out_);
    B::gemm(false, true, n, out_, in_, T(1), x.data(), in_, p, in_, T(1), y.data(), out_);
  }
  void backward(const T* p, T* g, const Matrix<T>& x, const Matrix<T>&, const Matrix<T>& dy,
                Matrix<T>* dx, Matrix<T>&) const {
    const Index n = x.rows();
    if (g) {
      // ∂L/∂W (out × in) += dyᵀ x;  ∂L/∂b += Σ_rows dy.
      B::gemm(true, false, out_, in_, n, T(1), dy.data(), out_, x.data(), in_, T(1), g, in_);
      B::accumulate_column_sums(n, out_, dy.data(), g + out_ * in_);
    }
    if (dx) {
      dx->resize(n, in_);
      B::gemm(false, false, n, in_, out_, T(1), dy.data(), out_, p, in_, T(0), dx->data(), in_);
    }
  }

 private:
  Index in_, out_;
};

/// Element-wise nonlinearity: ReLU, LeakyReLU(slope), Tanh or Sigmoid; no parameters.
template <class T, class B = Cpu>
class Act {
 public:
  using Scalar = T;
  Act(Activation kind, Index size, double slope = 0.01) : kind_(kind), size_(size), slope_(static_cast<T>(slope)) {}
  Index num_parameters() const { return 0; }
  ParameterShapes parameter_shapes() const { return {}; }
  Index input_size() const { return size_; }
  Index output_size() const { return size_; }
  std::string name() const {
    switch (kind_) {
      case Activation::relu: return "ReLU";
      case Activation::leaky_relu: return "LeakyReLU(" + std::to_string(static_cast<double>(slope_)) + ")";
      case Activation::tanh: return "Tanh";
      case Activation::sigmoid: return "Sigmoid";
    }
    return "Act";
  }
  void init(std::span<T>, Rng&) const {}
  void forward(const T*, const Matrix<T>& x, Matrix<T>& y, Matrix<T>&) const {
    detail::require_width(x.cols(), size_, "activation");
    y.resize(x.rows(), x.cols());
    B::activate(kind_, slope_, x.size(), x.data(), y.data());
  }
  void backward(const T*, T*, const Matrix<T>& x, const Matrix<T>& y, const Matrix<T>& dy,
                Matrix<T>* dx, Matrix<T>&) const {
    if (!dx) return;
    dx->resize(x.rows(), x.cols());
    B::activate_backward(kind_, slope_, x.size(), x.data(), y.data(), dy.data(), dx->data());
  }

 private:
  Activation kind_;
  Index size_;
  T slope_;
};

/// 2-D convolution, channels last: x is n × (H·W·Cin), y is n × (Ho·Wo·Cout),
/// y[n, oy, ox, o] = b[o] + Σ_{ky,kx,c} W[o, ky, kx, c] · x[n, oy·s − p + ky, ox·s − p + kx, c].
/// W is Cout × (K·K·Cin); computed by the backend's conv2d (im2col and GEMM, fused per chunk on the CPU).
/// Initialisation U(−1/√(Cin·K²), 1/√(Cin·K²)) (PyTorch's default).
template <class T, class B = Cpu>
class Conv2d {
 public:
  using Scalar = T;
  Conv2d(Index in_h, Index in_w, Index in_c, Index out_c, Index kernel, Index stride = 1, Index pad = 0)
      : g_(ConvGeometry::make(in_h, in_w, in_c, kernel, stride, pad)), out_c_(out_c) {
    detail::require(in_c > 0 && out_c > 0 && g_.out_h > 0 && g_.out_w > 0, "Conv2d needs positive sizes");
  }
  const ConvGeometry& geometry() const { return g_; }
  Index out_channels() const { return out_c_; }
  Index num_parameters() const { return out_c_ * g_.patch_size() + out_c_; }
  /// weight: Cout × K × K × Cin (channels last), bias: Cout.
  ParameterShapes parameter_shapes() const {
    return {{"weight", {out_c_, g_.kernel, g_.kernel, g_.in_c}}, {"bias", {out_c_}}};
  }
  Index input_size() const { return g_.in_size(); }
  Index output_size() const { return g_.out_pixels() * out_c_; }
  std::string name() const {
    return "Conv2d(" + std::to_string(g_.in_c) + "→" + std::to_string(out_c_) + ", k" +
           std::to_string(g_.kernel) + "s" + std::to_string(g_.stride) + "p" + std::to_string(g_.pad) + ")";
  }
  void init(std::span<T> params, Rng& rng) const {
    detail::fill_uniform(params, 1.0 / std::sqrt(static_cast<double>(g_.patch_size())), rng);
  }
  void forward(const T* p, const Matrix<T>& x, Matrix<T>& y, Matrix<T>& scratch) const {
    detail::require_width(x.cols(), input_size(), "Conv2d");
    const Index n = x.rows(), ps = g_.patch_size();
    y.resize(n, output_size());
    B::conv2d(g_, out_c_, n, x.data(), p, p + out_c_ * ps, y.data(), scratch);
  }
  void backward(const T* p, T* g, const Matrix<T>& x, const Matrix<T>&, const Matrix<T>& dy,
                Matrix<T>* dx, Matrix<T>& scratch) const {
    const Index n = x.rows(), ps = g_.patch_size();
    if (g) {
      // ∂L/∂W = dyᵀ im2col(x), ∂L/∂b = Σ_pixels dy.
      B::conv2d_weight_gradient(g_, out_c_, n, x.data(), dy.data(), g, scratch);
      B::accumulate_column_sums(n * g_.out_pixels(), out_c_, dy.data(), g + out_c_ * ps);
    }
    if (dx) {
      // ∂L/∂x = col2im(dy W): the transposed convolution of dy.
      dx->resize(n, input_size());
      B::conv2d_transpose(g_, out_c_, n, dy.data(), p, static_cast<const T*>(nullptr), dx->data(), scratch);
    }
  }

 private:
  ConvGeometry g_;
  Index out_c_;
};

/// Transposed 2-D convolution (the adjoint of Conv2d's input map), channels last:
/// x is n × (H·W·Cin), y is n × (Ho·Wo·Cout) with Ho = (H − 1)·s − 2p + K,
/// y = col2im(x W) + b, W is Cin × (K·K·Cout). Matches PyTorch's ConvTranspose2d
/// (output_padding 0) up to the weight layout. Initialisation U(±1/√(Cout·K²)) (PyTorch's).
template <class T, class B = Cpu>
class ConvTranspose2d {
 public:
  using Scalar = T;
  ConvTranspose2d(Index in_h, Index in_w, Index in_c, Index out_c, Index kernel, Index stride = 1,
                  Index pad = 0)
      : in_h_(in_h), in_w_(in_w), in_c_(in_c) {
    const Index out_h = (in_h - 1) * stride - 2 * pad + kernel;
    const Index out_w = (in_w - 1) * stride - 2 * pad + kernel;
    detail::require(in_c > 0 && out_c > 0 && out_h > 0 && out_w > 0, "ConvTranspose2d needs positive sizes");
    // The convolution whose adjoint this is maps the output image back to the input grid.
    g_ = ConvGeometry::make(out_h, out_w, out_c, kernel, stride, pad);
    detail::require(g_.out_h == in_h && g_.out_w == in_w, "ConvTranspose2d: stride does not tile the input");
  }
  Index out_h() const { return g_.in_h; }
  Index out_w() const { return g_.in_w; }
  Index out_channels() const { return g_.in_c; }
  Index num_parameters() const { return in_c_ * g_.patch_size() + g_.in_c; }
  /// weight: Cin × K × K × Cout (channels last), bias: Cout.
  ParameterShapes parameter_shapes() const {
    return {{"weight", {in_c_, g_.kernel, g_.kernel, g_.in_c}}, {"bias", {g_.in_c}}};
  }
  Index input_size() const { return in_h_ * in_w_ * in_c_; }
  Index output_size() const { return g_.in_size(); }
  std::string name() const {
    return "ConvTranspose2d(" + std::to_string(in_c_) + "→" + std::to_string(g_.in_c) + ", k" +
           std::to_string(g_.kernel) + "s" + std::to_string(g_.stride) + "p" + std::to_string(g_.pad) + ")";
  }
  void init(std::span<T> params, Rng& rng) const {
    detail::fill_uniform(params, 1.0 / std::sqrt(static_cast<double>(g_.patch_size())), rng);
  }
  void forward(const T* p, const Matrix<T>& x, Matrix<T>& y, Matrix<T>& scratch) const {
    detail::require_width(x.cols(), input_size(), "ConvTranspose2d");
    const Index n = x.rows(), ps = g_.patch_size();
    y.resize(n, output_size());
    B::conv2d_transpose(g_, in_c_, n, x.data(), p, p + in_c_ * ps, y.data(), scratch);
  }
  void backward(const T* p, T* g, const Matrix<T>& x, const Matrix<T>&, const Matrix<T>& dy,
                Matrix<T>* dx, Matrix<T>& scratch) const {
    const Index n = x.rows(), ps = g_.patch_size();
    if (g) {
      // ∂L/∂W = xᵀ im2col(dy): the weight gradient of the convolution dy ↦ x.
      B::conv2d_weight_gradient(g_, in_c_, n, dy.data(), x.data(), g, scratch);
      B::accumulate_column_sums(n * g_.in_h * g_.in_w, g_.in_c, dy.data(), g + in_c_ * ps);
    }
    if (dx) {
      // ∂L/∂x = im2col(dy) Wᵀ: the convolution of dy.
      dx->resize(n, input_size());
      B::conv2d(g_, in_c_, n, dy.data(), p, static_cast<const T*>(nullptr), dx->data(), scratch);
    }
  }

 private:
  Index in_h_, in_w_, in_c_;
  ConvGeometry g_;
};

static_assert(Layer<Linear<float>> && Layer<Act<double>> && Layer<Conv2d<float>> &&
              Layer<ConvTranspose2d<double>>);

}  // namespace dpvae
