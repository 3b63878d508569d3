// dpvae/objectives/factor.hpp — FactorVAE: loss = R + KL + γ·TC(z), TC from a
// discriminator on the representation space z (Kim & Mnih 2018; docs/math.md "FactorVAE").
#pragma once

#include "dpvae/objectives/common.hpp"

#include <algorithm>

namespace dpvae {

/// FactorVAE's discriminator D: `depth` × `width` Linear–LeakyReLU(0.2) and a 2-logit output
/// (Kim & Mnih 2018; the paper's appendix C: 5 × 1000). Logit 0 = "a sample of q(z)", logit
/// 1 = "a dimension-wise permuted sample". TC(z) ≈ E[log D(z) − log(1 − D(z))] = E[l₀ − l₁].
template <class T>
Network<T> factor_discriminator(Index latent_dim, Index width = 1000, Index depth = 5) {
  Network<T> net;
  net.add(Linear<T>(latent_dim, width)).act(Activation::leaky_relu, 0.2);
  for (Index i = 1; i < depth; ++i) net.linear(width).act(Activation::leaky_relu, 0.2);
  net.linear(2);
  return net;
}

namespace objective {

/// The discriminator has its own parameters, its own Adam and its own step (the objective's
/// auxiliary step), taken after the VAE's step on the same batch's z (detached) and its
/// dimension-wise permutation, as disentanglement_lib does; the VAE's step reads D and never
/// writes it.
template <class T>
struct Factor : ObjectiveBase<T> {
  static constexpr const char* name = "factor";
  static constexpr const char* display_standard = "FactorVAE";
  static constexpr const char* display_decoupled = "Factor-dpVAE";
  static constexpr const char* auxiliary_name = "discriminator";
  static constexpr OfficialRun official_run{1e-4, 24, 1.0};
  double gamma = 40.0;
  double discriminator_lr = 1e-4, discriminator_beta1 = 0.5, discriminator_beta2 = 0.9;
  Index discriminator_width = 1000, discriminator_depth = 5;
  static constexpr auto hyperparameters() {
    return std::tuple{
        hyperparameter("gamma", &Factor::gamma, "factor: the total-correlation weight γ", 0.0, kInf, 1000.0 / 24.0),
        hyperparameter("discriminator_lr", &Factor::discriminator_lr, "factor: the discriminator's Adam learning rate",
                       0.0, 1.0, 1e-4, true, true),
        hyperparameter("discriminator_beta1", &Factor::discriminator_beta1, "factor: the discriminator's Adam β1", 0.0,
                       1.0, 0.9, false, true),
        hyperparameter("discriminator_beta2", &Factor::discriminator_beta2, "factor: the discriminator's Adam β2", 0.0,
                       1.0, 0.999, false, true),
        hyperparameter("discriminator_width", &Factor::discriminator_width, "factor: the discriminator's hidden width",
                       1.0, 1e6, Index{1000}),
        hyperparameter("discriminator_depth", &Factor::discriminator_depth,
                       "factor: the discriminator's hidden layers", 1.0, 64.0, Index{5})};
  }
  /// The ranges of hyperparameters(); and, once the discriminator is built, that its width
  /// and depth are still the ones it was built with (they shape its parameters: a new value
  /// needs a new model). Throws dpvae::Error naming the setting.
  void validate() const {
    validate_hyperparameters(*this);
    if (built_width_ > 0 && (discriminator_width != built_width_ || discriminator_depth != built_depth_))
      detail::fail("factor: discriminator_width and discriminator_depth are fixed when the model is built (built " +
                   std::to_string(built_width_) + " wide, " + std::to_string(built_depth_) + " deep; now " +
                   std::to_string(discriminator_width) + ", " + std::to_string(discriminator_depth) + ")");
  }
  AdamConfig discriminator_adam() const { return {discriminator_lr, discriminator_beta1, discriminator_beta2, 1e-8}; }

  /// Builds D for latent dimension d and initialises it from rng.
  void setup(Index latent_dim, Rng& rng) {
    net_ = factor_discriminator<T>(latent_dim, discriminator_width, discriminator_depth);
    built_width_ = discriminator_width;
    built_depth_ = discriminator_depth;
    params_.assign(static_cast<std::size_t>(net_.num_parameters()), T(0));
    grads_.assign(params_.size(), T(0));
    net_.bind(params_, grads_);
    net_.init(rng);
    adam_ = Adam<T>(params_.size(), discriminator_adam());
  }

  template <class P>
  struct Workspace {
    typename P::Tape kl;
  };
  template <class P>
  Terms latent_loss(const LatentBatch<T>& b, const P& prior, Rng&, LatentGrads<T>& g, Workspace<P>& ws) {
    detail::require(net_.num_parameters() > 0, "factor: the discriminator was not set up");
    const double kl = detail::kl_term(b, prior, ws.kl, 1.0, g);
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

  // The objective's auxiliary step (DpVae::prepare_step / apply_step): the discriminator's.
  Terms auxiliary_prepare(const Matrix<T>& z, Rng& rng) { return {{"discriminator", discriminator_prepare(z, rng)}}; }
  void auxiliary_apply() { discriminator_apply(); }
  std::span<T> auxiliary_gradients() { return grads_; }
  /// D's tensors (`discriminator.*`), its Adam moments and step count.
  template <class V>
  void visit_state(V& v) {
    detail::visit_buffer_tensors(v, std::span<T>(params_), [&](auto&& f) { net_.visit_tensors("discriminator", f); });
    const std::vector<std::int64_t> shape{static_cast<std::int64_t>(params_.size())};
    v.tensor("discriminator_optimizer.m", adam_.first_moment(), shape);
    v.tensor("discriminator_optimizer.v", adam_.second_moment(), shape);
    std::uint64_t steps = adam_.steps();
    v.count("discriminator_optimizer.step", steps);
    adam_.set_steps(steps);
  }

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
  Index built_width_ = 0, built_depth_ = 0;  // the discriminator's shape once set up (0: not yet)
};

}  // namespace objective
}  // namespace dpvae
