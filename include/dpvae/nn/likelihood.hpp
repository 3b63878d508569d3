// dpvae/nn/likelihood.hpp — the decoder likelihood p_θ(x|z) and its reconstruction term.
//
// docs/math.md "Notation": Bernoulli logits (cross-entropy on [0, 1] intensities), the default
// for gray images, or a fixed-variance Gaussian σ² = 1/(2w) whose negative
// log-likelihood is w‖x − x̂‖² + (D/2) log(π/w) (the official code's choice, weight w).
// Reconstruction terms are per sample: summed over the D data dimensions (nats).
#pragma once

#include "dpvae/core.hpp"

#include <cmath>
#include <string>

namespace dpvae {

struct Likelihood {
  enum class Kind { bernoulli, gaussian };
  Kind kind = Kind::bernoulli;
  double weight = 1.0;  // w of the Gaussian; unused for Bernoulli

  static Likelihood bernoulli() { return {Kind::bernoulli, 1.0}; }
  static Likelihood gaussian(double w) {
    detail::require(w > 0 && std::isfinite(w), "the Gaussian likelihood weight must be positive");
    return {Kind::gaussian, w};
  }
  std::string name() const { return kind == Kind::bernoulli ? "bernoulli" : "gaussian"; }

  /// Per-row reconstruction loss −log p(x|z) without its constant (nats):
  /// Bernoulli Σ_j softplus(l_j) − x_j l_j (stable form); Gaussian w Σ_j (x_j − x̂_j)².
  /// `out` is the decoder output (logits or means), n × D like x.
  template <class T>
  Vector<T> loss(const Matrix<T>& x, const Matrix<T>& out) const {
    detail::require(x.rows() == out.rows() && x.cols() == out.cols(), "reconstruction: shape mismatch");
    if (kind == Kind::bernoulli) {
      const auto l = out.array();
      // softplus(l) − x l = max(l, 0) − x l + log(1 + exp(−|l|))
      return (l.max(T(0)) - x.array() * l + (-(l.abs())).exp().log1p()).rowwise().sum().matrix();
    }
    return (T(weight) * (x - out).array().square().rowwise().sum()).matrix();
  }
  /// dout = c_i · ∂loss_i/∂out (assigned): Bernoulli σ(l) − x; Gaussian 2w(x̂ − x).
  template <class T>
  void gradient(const Matrix<T>& x, const Matrix<T>& out, const Vector<T>& c, Matrix<T>& dout) const {
    if (kind == Kind::bernoulli) {
      dout = ((T(1) / (T(1) + (-out.array()).exp()) - x.array()).colwise() * c.array()).matrix();
    } else {
      dout = ((T(2 * weight) * (out - x).array()).colwise() * c.array()).matrix();
    }
  }
  /// The constant dropped by loss(): 0 for Bernoulli, (D/2) log(π/w) for the Gaussian.
  double log_normalizer(Index data_dim) const {
    return kind == Kind::bernoulli ? 0.0 : 0.5 * static_cast<double>(data_dim) * std::log(M_PI / weight);
  }
  /// The mean image E[x|z] from the decoder output: σ(l) or x̂ itself.
  template <class T>
  Matrix<T> mean(const Matrix<T>& out) const {
    if (kind == Kind::bernoulli) return (T(1) / (T(1) + (-out.array()).exp())).matrix();
    return out;
  }
};

}  // namespace dpvae
