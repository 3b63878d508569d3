// dpvae/objectives/regularizers.hpp — the six objectives of the paper as regularizer policies.
//
// SPEC.md "Objectives" and "Conventions and defaults": every objective is a loss
// (= −objective), per sample: reconstruction and KL summed over dimensions and averaged
// over the batch, batch statistics per sample by construction. A policy holds its
// hyperparameters (run-time values), asks the prior for KL, log p(z) and samples (never
// for coupling internals), and returns its named terms plus the gradients of its latent
// terms with respect to z, μ and log σ² (the prior's ψ gradients accumulate in the prior).
//
//   Vae      R − KL
//   BetaH    R − β·KL                                   (Higgins et al. 2017)
//   BetaB    R − γ·|KL − C|, C = C_max·min(1, t/T_C)    (Burgess et al. 2018)
//   BetaTC   R − α·I − β·TC − γ·DWKL, MWS estimator     (Chen et al. 2018)
//   Factor   R − KL − γ·TC, TC by a discriminator       (Kim & Mnih 2018)
//   Info     R − (1−α)·KL − (α+λ−1)·MMD(q(z), p(z))    (Zhao et al. 2019)
#pragma once

#include "dpvae/objectives/estimators.hpp"
#include "dpvae/nn/network.hpp"
#include "dpvae/nn/optim.hpp"
#include "dpvae/prior/priors.hpp"

#include <cmath>
#include <concepts>
#include <string>
#include <utility>
#include <vector>

namespace dpvae {

/// Named loss terms of one step, in nats per sample; "loss" (the total) first.
using Terms = std::vector<std::pair<std::string, double>>;

/// What a regularizer sees of a step (rows are points; all n × d but x).
template <class T>
struct LatentBatch {
  const Matrix<T>& mu;
  const Matrix<T>& logvar;
  const Matrix<T>& z;          // μ + exp(½ log σ²) ⊙ ε
  std::uint64_t step = 0;      // 0-based index of this optimisation step
  double dataset_size = 1;     // M, the number of training points
};

/// The gradients a regularizer adds (accumulates) for its latent terms.
template <class T>
struct LatentGrads {
  Matrix<T> dz, dmu, dlogvar;
  void reset(Index n, Index d) {
    dz.setZero(n, d);
    dmu.setZero(n, d);
    dlogvar.setZero(n, d);
  }
};

namespace detail {
inline void require_weight(double v, const char* what, const char* objective) {
  require(std::isfinite(v) && v >= 0, std::string(objective) + ": " + what + " must be finite and >= 0 (got " +
                                          std::to_string(v) + ")");
}
/// Mean per-sample KL under the prior and its gradient, scaled by `weight`.
template <class T, class P>
double kl_term(const LatentBatch<T>& b, const P& prior, typename P::Tape& tape, double weight, LatentGrads<T>& g) {
  const Vector<T> kl = prior.kl(b.mu, b.logvar, b.z, tape);
  const Index n = b.z.rows();
  if (weight != 0.0) {
    const Vector<T> c = Vector<T>::Constant(n, static_cast<T>(weight / static_cast<double>(n)));
    prior.accumulate_kl_grad(tape, b.mu, b.logvar, c, g.dmu, g.dlogvar, g.dz);
  }
  return static_cast<double>(kl.mean());
}
}  // namespace detail

namespace objective {

/// The plain VAE: loss = R + KL.
template <class T>
struct Vae {
  static constexpr const char* name = "vae";
  void validate() const {}
  template <class P>
  Terms latent_loss(const LatentBatch<T>& b, const P& prior, Rng&, LatentGrads<T>& g) {
    typename P::Tape& tape = prior.scratch_tape(0);
    const double kl = detail::kl_term(b, prior, tape, 1.0, g);
    return {{"kl", kl}, {"latent", kl}};
  }
};

/// β-VAE-H: loss = R + β·KL.
template <class T>
struct BetaH {
  static constexpr const char* name = "beta-h";
  double beta = 5.0;
  void validate() const { detail::require_weight(beta, "beta", name); }
  template <class P>
  Terms latent_loss(const LatentBatch<T>& b, const P& prior, Rng&, LatentGrads<T>& g) {
    typename P::Tape& tape = prior.scratch_tape(0);
    const double kl = detail::kl_term(b, prior, tape, beta, g);
    return {{"kl", kl}, {"latent", beta * kl}};
  }
};

/// β-VAE-B: loss = R + γ·|KL − C|, C = C_max · min(1, step / capacity_steps), KL the
/// batch-mean per-sample KL (nats).
template <class T>
struct BetaB {
  static constexpr const char* name = "beta-b";
  double gamma = 1000.0;
  double c_max = 25.0;
  double capacity_steps = 100000.0;
  void validate() const {
    detail::require_weight(gamma, "gamma", name);
    detail::require_weight(c_max, "c-max", name);
    detail::require(capacity_steps > 0, "beta-b: the capacity schedule needs a positive number of steps");
  }
  double capacity(std::uint64_t step) const {
    return c_max * std::min(1.0, static_cast<double>(step) / capacity_steps);
  }
  template <class P>
  Terms latent_loss(const LatentBatch<T>& b, const P& prior, Rng&, LatentGrads<T>& g) {
    typename P::Tape& tape = prior.scratch_tape(0);
    const Vector<T> kl = prior.kl(b.mu, b.logvar, b.z, tape);
    const double mean_kl = static_cast<double>(kl.mean());
    const double c = capacity(b.step);
    const double gap = mean_kl - c;
    const double sign = gap > 0 ? 1.0 : (gap < 0 ? -1.0 : 0.0);
    const Index n = b.z.rows();
    const Vector<T> coef = Vector<T>::Constant(n, static_cast<T>(gamma * sign / static_cast<double>(n)));
    prior.accumulate_kl_grad(tape, b.mu, b.logvar, coef, g.dmu, g.dlogvar, g.dz);
    return {{"kl", mean_kl}, {"capacity", c}, {"latent", gamma * std::abs(gap)}};
  }
};

/// β-TCVAE: loss = R + α·I + β·TC + γ·DWKL with minibatch-weighted sampling (Chen et al.
/// 2018): I = mean[log q(z|x) − log q(z)], TC = mean[log q(z) − log Π q(z_k)],
/// DWKL = mean[log Π q(z_k) − log p(z)] (SPEC.md: with the decoupled prior log p includes
/// the flow's log-det and DWKL may be negative). I + TC + DWKL = the mean one-sample KL,
/// logged as "kl".
template <class T>
struct BetaTC {
  static constexpr const char* name = "beta-tc";
  double alpha = 1.0, beta = 6.0, gamma = 1.0;
  void validate() const {
    detail::require_weight(alpha, "alpha", name);
    detail::require_weight(beta, "beta", name);
    detail::require_weight(gamma, "gamma", name);
  }
  template <class P>
  Terms latent_loss(const LatentBatch<T>& b, const P& prior, Rng&, LatentGrads<T>& g) {
    const Index n = b.z.rows(), d = b.z.cols();
    const Vector<T> log_qzx = log_gaussian_diag(b.z, b.mu, b.logvar);
    mws_.forward(b.z, b.mu, b.logvar, b.dataset_size);
    typename P::Tape& tape = prior.scratch_tape(0);
    prior.forward(b.z, z0_, logdet_, tape);
    const Vector<T> log_pz =
        (-T(0.5) * z0_.rowwise().squaredNorm().array() - T(0.5 * kLog2Pi * static_cast<double>(d)) + logdet_.array()).matrix();
    const double mi = static_cast<double>((log_qzx - mws_.log_qz()).mean());
    const double tc = static_cast<double>((mws_.log_qz() - mws_.log_prod_qz()).mean());
    const double dwkl = static_cast<double>((mws_.log_prod_qz() - log_pz).mean());
    const T inv_n = T(1) / T(n);
    const T a = static_cast<T>(alpha), be = static_cast<T>(beta), ga = static_cast<T>(gamma);
    // ∂L/∂log q(z|x) = α/n: ∂/∂z = −(z − μ)/σ², ∂/∂μ = (z − μ)/σ², ∂/∂log σ² = −½ + ½(z − μ)²/σ².
    const auto diff = ((b.z - b.mu).array() * (-b.logvar.array()).exp()).eval();
    g.dz.array() -= a * inv_n * diff;
    g.dmu.array() += a * inv_n * diff;
    g.dlogvar.array() += a * inv_n * (T(0.5) * (b.z - b.mu).array() * diff - T(0.5));
    // ∂L/∂log q(z) = (β − α)/n, ∂L/∂log Π q(z_k) = (γ − β)/n.
    mws_.backward(b.z, b.mu, b.logvar, Vector<T>::Constant(n, (be - a) * inv_n),
                  Vector<T>::Constant(n, (ga - be) * inv_n), g.dz, g.dmu, g.dlogvar);
    // ∂L/∂log p(z) = c = −γ/n, log p = −½‖f(z)‖² + logdet + const.
    const T c = -ga * inv_n;
    dz0_ = (-c * z0_.array()).matrix();
    prior.backward_forward(tape, dz0_, Vector<T>::Constant(n, c), &dz_);
    g.dz += dz_;
    return {{"kl", mi + tc + dwkl}, {"mi", mi}, {"tc", tc}, {"dwkl", dwkl},
            {"latent", alpha * mi + beta * tc + gamma * dwkl}};
  }

 private:
  MinibatchWeighted<T> mws_;
  Matrix<T> z0_, dz0_, dz_;
  Vector<T> logdet_;
};

/// FactorVAE's discriminator D: 5 × 1000 Linear–LeakyReLU(0.2) and a 2-logit output
/// (Kim & Mnih 2018; the paper's appendix C). Logit 0 = "a sample of q(z)", logit 1 = "a
/// dimension-wise permuted sample". TC(z) ≈ E[log D(z) − log(1 − D(z))] = E[l₀ − l₁].
template <class T>
Network<T> factor_discriminator(Index latent_dim, Index width = 1000, Index depth = 5) {
  Network<T> net;
  net.add(Linear<T>(latent_dim, width)).act(Activation::leaky_relu, 0.2);
  for (Index i = 1; i < depth; ++i) net.linear(width).act(Activation::leaky_relu, 0.2);
  net.linear(2);
  return net;
}

/// FactorVAE: loss = R + KL + γ·TC(z), TC from the discriminator on the representation
/// space z. The discriminator has its own parameters, its own Adam and its own step
/// (discriminator_step), taken after the VAE's step on the same batch's z (detached) and
/// its dimension-wise permutation, as disentanglement_lib does; the VAE's step reads D
/// and never writes it.
template <class T>
struct Factor {
  static constexpr const char* name = "factor";
  double gamma = 40.0;
  AdamConfig discriminator_adam{1e-4, 0.5, 0.9, 1e-8};
  Index discriminator_width = 1000, discriminator_depth = 5;

  void validate() const {
    detail::require_weight(gamma, "gamma", name);
    discriminator_adam.validate("factor: discriminator Adam");
    detail::require(discriminator_width >= 1 && discriminator_depth >= 1, "factor: the discriminator needs a positive size");
  }
  /// Builds D for latent dimension d and initialises it from rng.
  void setup(Index latent_dim, Rng& rng) {
    net_ = factor_discriminator<T>(latent_dim, discriminator_width, discriminator_depth);
    params_.assign(static_cast<std::size_t>(net_.num_parameters()), T(0));
    grads_.assign(params_.size(), T(0));
    net_.bind(params_, grads_);
    net_.init(rng);
    adam_ = Adam<T>(params_.size(), discriminator_adam);
  }
  template <class P>
  Terms latent_loss(const LatentBatch<T>& b, const P& prior, Rng&, LatentGrads<T>& g) {
    detail::require(net_.num_parameters() > 0, "factor: the discriminator was not set up");
    typename P::Tape& tape = prior.scratch_tape(0);
    const double kl = detail::kl_term(b, prior, tape, 1.0, g);
    const Index n = b.z.rows();
    const auto& logits = net_.forward(b.z, vae_tape_);
    const double tc = static_cast<double>((logits.col(0) - logits.col(1)).mean());
    const T c = static_cast<T>(gamma / static_cast<double>(n));
    dlogits_.resize(n, 2);
    dlogits_.col(0).setConstant(c);
    dlogits_.col(1).setConstant(-c);
    net_.backward(vae_tape_, dlogits_, &dz_, /*param_grads=*/false);
    g.dz += dz_;
    return {{"kl", kl}, {"tc", tc}, {"latent", kl + gamma * tc}};
  }
  /// z with each latent dimension permuted independently across the batch (the samples
  /// of Π_k q(z_k) the discriminator learns to tell apart; every marginal is kept).
  static Matrix<T> permute_dims(const Matrix<T>& z, Rng& rng) {
    const Index n = z.rows(), d = z.cols();
    Matrix<T> out(n, d);
    for (Index k = 0; k < d; ++k) {
      const auto perm = rng.permutation(n);
      for (Index i = 0; i < n; ++i) out(i, k) = z(perm[static_cast<std::size_t>(i)], k);
    }
    return out;
  }
  /// The discriminator's loss ½[CE(D(z), 0) + CE(D(z̃), 1)] (batch means, nats) on samples
  /// z and permuted samples z̃; when `grads`, also zeroes and then fills D's gradients.
  double discriminator_loss(const Matrix<T>& z, const Matrix<T>& permuted, bool grads) {
    const Index n = z.rows();
    if (grads) std::fill(grads_.begin(), grads_.end(), T(0));
    double loss = 0;
    for (int label = 0; label < 2; ++label) {
      const auto& logits = net_.forward(label == 0 ? z : permuted, d_tape_);
      dlogits_.resize(n, 2);
      for (Index i = 0; i < n; ++i) {
        const T m = std::max(logits(i, 0), logits(i, 1));
        const T e0 = std::exp(logits(i, 0) - m), e1 = std::exp(logits(i, 1) - m);
        const T lse = m + std::log(e0 + e1);
        loss += static_cast<double>(lse - logits(i, label)) / static_cast<double>(2 * n);
        const T w = T(1) / T(2 * n);
        dlogits_(i, 0) = w * (e0 / (e0 + e1) - (label == 0 ? T(1) : T(0)));
        dlogits_(i, 1) = w * (e1 / (e0 + e1) - (label == 1 ? T(1) : T(0)));
      }
      if (grads) net_.backward(d_tape_, dlogits_, nullptr, true);
    }
    return loss;
  }
  /// The discriminator's step on z (the VAE step's sample, detached) and its
  /// permutation: one Adam step on discriminator_loss. Returns the loss before the step.
  double discriminator_step(const Matrix<T>& z, Rng& rng) {
    const double loss = discriminator_prepare(z, rng);
    discriminator_apply();
    return loss;
  }
  /// The first half of discriminator_step: draws the permutation z̃ of z from rng and fills
  /// D's gradients of discriminator_loss(z, z̃); returns that loss. D is not changed, so a
  /// caller can check the loss and gradients before discriminator_apply().
  double discriminator_prepare(const Matrix<T>& z, Rng& rng) {
    permuted_ = permute_dims(z, rng);
    return discriminator_loss(z, permuted_, true);
  }
  /// The second half of discriminator_step: one Adam step of D on the prepared gradients.
  void discriminator_apply() { adam_.step(params_, grads_); }

  Network<T>& discriminator() { return net_; }
  const Network<T>& discriminator() const { return net_; }
  AlignedBuffer<T>& discriminator_parameters() { return params_; }
  AlignedBuffer<T>& discriminator_gradients() { return grads_; }
  Adam<T>& discriminator_optimizer() { return adam_; }

 private:
  Network<T> net_;
  AlignedBuffer<T> params_, grads_;
  Adam<T> adam_;
  typename Network<T>::Tape vae_tape_, d_tape_;
  Matrix<T> dlogits_, dz_, permuted_;
};

/// InfoVAE (MMD form): loss = R + (1 − α)·KL + (α + λ − 1)·MMD²(q(z), p(z)), the MMD
/// between the batch's posterior samples and as many prior samples z = f⁻¹(z0),
/// z0 ~ N(0, I), in the representation space; unbiased estimator (estimators.hpp).
template <class T>
struct Info {
  static constexpr const char* name = "info";
  double alpha = 0.0, lambda = 1000.0;
  MmdKernel kernel = MmdKernel::rbf;
  void validate() const {
    detail::require(std::isfinite(alpha) && alpha <= 1, "info: alpha must be finite and <= 1 (the KL weight is 1 − alpha)");
    detail::require(std::isfinite(lambda) && alpha + lambda - 1 >= 0,
                    "info: alpha + lambda − 1 (the MMD weight) must be >= 0");
  }
  template <class P>
  Terms latent_loss(const LatentBatch<T>& b, const P& prior, Rng& rng, LatentGrads<T>& g) {
    typename P::Tape& kl_tape = prior.scratch_tape(0);
    typename P::Tape& sample_tape = prior.scratch_tape(1);
    const double kl = detail::kl_term(b, prior, kl_tape, 1.0 - alpha, g);
    const Index n = b.z.rows(), d = b.z.cols();
    z0_.resize(n, d);
    rng.fill_normal(std::span<T>(z0_.data(), static_cast<std::size_t>(z0_.size())));
    prior.inverse(z0_, samples_, sample_tape);
    const double w = alpha + lambda - 1.0;
    const double mmd = static_cast<double>(mmd_unbiased(b.z, samples_, kernel, static_cast<T>(w), &dz_, &dp_));
    g.dz += dz_;
    prior.backward_inverse(sample_tape, dp_, nullptr);
    return {{"kl", kl}, {"mmd", mmd}, {"latent", (1.0 - alpha) * kl + w * mmd}};
  }

 private:
  Matrix<T> z0_, samples_, dz_, dp_;
};

}  // namespace objective

/// A regularizer policy: wraps an objective template so that models name it without a
/// scalar type (`DpVae<BetaTC, Coupling<6>>`) and instantiate it for theirs.
template <template <class> class Objective>
struct Regularizer {
  template <class T>
  using policy = Objective<T>;
  static constexpr const char* name = Objective<float>::name;
};

using Vae = Regularizer<objective::Vae>;
using BetaH = Regularizer<objective::BetaH>;
using BetaB = Regularizer<objective::BetaB>;
using BetaTC = Regularizer<objective::BetaTC>;
using Factor = Regularizer<objective::Factor>;
using Info = Regularizer<objective::Info>;

/// What an objective provides (checked with static_assert by the model).
template <class O, class T, class P>
concept RegularizerPolicy = requires(O& o, const O& co, const LatentBatch<T>& b, const P& prior, Rng& rng,
                                     LatentGrads<T>& g) {
  { O::name } -> std::convertible_to<const char*>;
  co.validate();
  { o.latent_loss(b, prior, rng, g) } -> std::same_as<Terms>;
};

}  // namespace dpvae
