// dpvae/objectives/info.hpp — InfoVAE (MMD form): loss = R + (1 − α)·KL +
// (α + λ − 1)·MMD²(q(z), p(z)) (Zhao et al. 2019; docs/math.md "InfoVAE"): the MMD
// between the batch's posterior samples and as many prior samples z = f⁻¹(z0),
// z0 ~ N(0, I), in the representation space; unbiased estimator (estimators.hpp).
#pragma once

#include "dpvae/objectives/common.hpp"

namespace dpvae::objective {

template <class T>
struct Info : ObjectiveBase<T> {
  static constexpr const char* name = "info";
  static constexpr const char* display_standard = "InfoVAE";
  static constexpr const char* display_decoupled = "Info-dpVAE";
  static constexpr OfficialRun official_run{1e-4, 24, 10.0};
  double alpha = 0.0, lambda = 1000.0;
  MmdKernel kernel = MmdKernel::rbf;
  static constexpr auto hyperparameters() {
    return std::tuple{
        hyperparameter("alpha", &Info::alpha, "info: α (the KL weight is 1 − α)", -kInf, 1.0, 0.0),
        hyperparameter("lambda", &Info::lambda, "info: λ (the MMD weight is α + λ − 1)", -kInf, kInf,
                       1.0 + 999.0 / 24.0),
        choice("kernel", &Info::kernel, "info: the MMD kernel, rbf or imq", MmdKernel::rbf)};
  }
  void validate() const { validate_hyperparameters(*this); }
  /// The rule across fields: the MMD weight α + λ − 1 must be >= 0.
  void check_rules() const {
    if (!(alpha + lambda - 1 >= 0)) detail::fail("--alpha + --lambda − 1 (the MMD weight) must be >= 0");
  }

  template <class P>
  struct Workspace {
    typename P::Tape kl, samples;
  };
  template <class P>
  Terms latent_loss(const LatentBatch<T>& b, const P& prior, Rng& rng, LatentGrads<T>& g, Workspace<P>& ws) {
    const double kl = detail::kl_term(b, prior, ws.kl, 1.0 - alpha, g);
    const Index n = b.z.rows(), d = b.z.cols();
    z0_.resize(n, d);
    rng.fill_normal(std::span<T>(z0_.data(), static_cast<std::size_t>(z0_.size())));
    prior.inverse(z0_, samples_, ws.samples);
    const double w = alpha + lambda - 1.0;
    const double mmd = static_cast<double>(mmd_unbiased(b.z, samples_, kernel, static_cast<T>(w), &dz_, &dp_));
    g.dz += dz_;
    prior.backward_inverse(ws.samples, dp_, nullptr);
    return {{"kl", kl}, {"mmd", mmd}, {"latent", (1.0 - alpha) * kl + w * mmd}};
  }

 private:
  Matrix<T> z0_, samples_, dz_, dp_;
};

}  // namespace dpvae::objective
