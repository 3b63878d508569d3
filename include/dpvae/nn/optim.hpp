// dpvae/nn/optim.hpp — Adam over one flat parameter vector.
//
// Kingma & Ba (2015), with bias correction:
//   m ← β1 m + (1 − β1) g,  v ← β2 v + (1 − β2) g²,
//   θ ← θ − lr · m̂ / (√v̂ + ε),  m̂ = m / (1 − β1ᵗ),  v̂ = v / (1 − β2ᵗ).
// Because a model keeps every parameter in one contiguous buffer, a step is one pass over
// one vector, and the optimizer state is two vectors and a step count (checkpointed).
#pragma once

#include "dpvae/core.hpp"

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

namespace dpvae {

struct AdamConfig {
  double lr = 1e-4;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  void validate(const std::string& who = "Adam") const {
    detail::require(lr > 0 && std::isfinite(lr), who + ": the learning rate must be positive and finite");
    detail::require(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1,
                    who + ": betas must lie in [0, 1)");
    detail::require(eps > 0, who + ": eps must be positive");
  }
};

template <class T>
class Adam {
 public:
  Adam() = default;
  Adam(std::size_t size, AdamConfig config) : config_(config), m_(size, T(0)), v_(size, T(0)) { config.validate(); }

  /// One update of params from grads (same length as the state).
  void step(std::span<T> params, std::span<const T> grads) {
    detail::require(params.size() == m_.size() && grads.size() == m_.size(), "Adam: size mismatch");
    ++t_;
    const double b1 = config_.beta1, b2 = config_.beta2;
    const double c1 = 1.0 - std::pow(b1, static_cast<double>(t_));
    const double c2 = 1.0 - std::pow(b2, static_cast<double>(t_));
    const T step_size = static_cast<T>(config_.lr / c1);
    const T inv_sqrt_c2 = static_cast<T>(1.0 / std::sqrt(c2));
    const T eps = static_cast<T>(config_.eps);
    const T tb1 = static_cast<T>(b1), tb2 = static_cast<T>(b2);
    for (std::size_t i = 0; i < m_.size(); ++i) {
      const T g = grads[i];
      m_[i] = tb1 * m_[i] + (T(1) - tb1) * g;
      v_[i] = tb2 * v_[i] + (T(1) - tb2) * g * g;
      params[i] -= step_size * m_[i] / (std::sqrt(v_[i]) * inv_sqrt_c2 + eps);
    }
  }

  const AdamConfig& config() const { return config_; }
  void set_config(const AdamConfig& c) { c.validate(); config_ = c; }
  std::span<T> first_moment() { return m_; }
  std::span<T> second_moment() { return v_; }
  std::uint64_t steps() const { return t_; }
  void set_steps(std::uint64_t t) { t_ = t; }

 private:
  AdamConfig config_;
  AlignedBuffer<T> m_, v_;
  std::uint64_t t_ = 0;
};

}  // namespace dpvae
