// dpvae/nn/network.hpp — a feed-forward network: a sequence of layers over one parameter slice.
//
// The layer set is closed at compile time (std::variant); the sequence and sizes are
// run-time values, so one network type serves every architecture (MNIST convolutions,
// the two-moons MLP, the flow's s and t nets, FactorVAE's discriminator).
// A `Tape` holds one forward pass's activations; keep one tape per use of a network in a
// step. Backward follows the contract in layers.hpp.
#pragma once

#include "dpvae/nn/layers.hpp"

#include <span>
#include <variant>
#include <vector>

namespace dpvae {

template <class T, class B = Cpu>
class Network {
 public:
  using Scalar = T;
  using AnyLayer = std::variant<Linear<T, B>, Act<T, B>, Conv2d<T, B>, ConvTranspose2d<T, B>>;

  /// Activations of one forward pass: acts[0] = input, acts[i + 1] = output of layer i.
  struct Tape {
    std::vector<Matrix<T>> acts;
    std::vector<Matrix<T>> scratch;
    std::vector<Matrix<T>> grads;  // grads[j] = ∂L/∂(input of layer j), j ≥ 1: one buffer per
                                   // layer, so a reused tape never reallocates in backward
    const Matrix<T>& output() const { return acts.back(); }
  };

  Network() = default;

  /// Appends a layer; its input size must equal the current output size.
  template <class L>
  Network& add(L layer) {
    if (!layers_.empty())
      detail::require(layer.input_size() == output_size(),
                      layer.name() + " expects " + std::to_string(layer.input_size()) +
                          " inputs but the previous layer gives " + std::to_string(output_size()));
    offsets_.push_back(num_parameters());
    count_ += layer.num_parameters();
    layers_.emplace_back(std::move(layer));
    return *this;
  }
  Network& linear(Index out) { return add(Linear<T, B>(output_size(), out)); }
  Network& act(Activation a, double slope = 0.01) { return add(Act<T, B>(a, output_size(), slope)); }

  Index num_parameters() const { return count_; }
  Index input_size() const {
    return layers_.empty() ? 0 : std::visit([](const auto& l) { return l.input_size(); }, layers_.front());
  }
  Index output_size() const {
    return layers_.empty() ? 0 : std::visit([](const auto& l) { return l.output_size(); }, layers_.back());
  }
  std::size_t size() const { return layers_.size(); }
  const std::vector<AnyLayer>& layers() const { return layers_; }
  Index offset(std::size_t i) const { return offsets_[i]; }

  /// Calls f(name, offset, shape) for every parameter tensor, names "<prefix>.<layer>.<weight|bias>",
  /// offsets relative to this network's slice, in buffer order.
  template <class F>
  void visit_tensors(const std::string& prefix, F&& f) const {
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      Index off = offsets_[i];
      const ParameterShapes shapes = std::visit([](const auto& l) { return l.parameter_shapes(); }, layers_[i]);
      for (const auto& [name, shape] : shapes) {
        Index count = 1;
        for (auto s : shape) count *= static_cast<Index>(s);
        f(prefix + "." + std::to_string(i) + "." + name, off, shape);
        off += count;
      }
    }
  }

  /// Points the network at its slice of the model's flat parameter and gradient buffers.
  void bind(std::span<T> params, std::span<T> grads) {
    detail::require(static_cast<Index>(params.size()) == count_ &&
                        (grads.empty() || static_cast<Index>(grads.size()) == count_),
                    "Network::bind: slice size does not match the parameter count");
    params_ = params;
    grads_ = grads;
  }
  std::span<T> parameters() const { return params_; }
  std::span<T> gradients() const { return grads_; }

  /// PyTorch-default initialisation of every layer, in order, from `rng`.
  void init(Rng& rng) const {
    for (std::size_t i = 0; i < layers_.size(); ++i)
      std::visit([&](const auto& l) {
        l.init(params_.subspan(static_cast<std::size_t>(offsets_[i]),
                               static_cast<std::size_t>(l.num_parameters())), rng);
      }, layers_[i]);
  }

  /// y = net(x) for a batch x (n × input_size); the result is tape.output().
  const Matrix<T>& forward(const Matrix<T>& x, Tape& tape) const {
    tape.acts.resize(layers_.size() + 1);
    tape.scratch.resize(layers_.size());
    tape.acts[0] = x;
    for (std::size_t i = 0; i < layers_.size(); ++i)
      std::visit([&](const auto& l) {
        l.forward(params_.data() + offsets_[i], tape.acts[i], tape.acts[i + 1], tape.scratch[i]);
      }, layers_[i]);
    return tape.acts.back();
  }

  /// Given dy = ∂L/∂output for the pass on `tape`: assigns *dx = ∂L/∂input (when dx is
  /// given) and accumulates ∂L/∂parameters into the bound gradient slice (when
  /// param_grads is true).
  void backward(Tape& tape, const Matrix<T>& dy, Matrix<T>* dx, bool param_grads = true) const {
    tape.grads.resize(layers_.size());
    const Matrix<T>* upstream = &dy;
    for (std::size_t j = layers_.size(); j-- > 0;) {
      Matrix<T>* out = (j == 0) ? dx : &tape.grads[j];
      T* g = (param_grads && !grads_.empty()) ? grads_.data() + offsets_[j] : nullptr;
      std::visit([&](const auto& l) {
        l.backward(params_.data() + offsets_[j], g, tape.acts[j], tape.acts[j + 1], *upstream, out,
                   tape.scratch[j]);
      }, layers_[j]);
      if (j == 0) break;
      upstream = out;
    }
  }

 private:
  std::vector<AnyLayer> layers_;
  std::vector<Index> offsets_;
  Index count_ = 0;
  std::span<T> params_;
  std::span<T> grads_;
};

/// The MLP of the flow's s and t nets (docs/math.md "Decoupled prior"):
/// Linear(d, h) → LeakyReLU(0.01) → Linear(h, h) → LeakyReLU(0.01) → Linear(h, d) → Tanh.
template <class T, class B = Cpu>
Network<T, B> coupling_net(Index dim, Index hidden = 64) {
  Network<T, B> net;
  net.add(Linear<T, B>(dim, hidden)).act(Activation::leaky_relu, 0.01).linear(hidden)
      .act(Activation::leaky_relu, 0.01).linear(dim).act(Activation::tanh);
  return net;
}

}  // namespace dpvae
