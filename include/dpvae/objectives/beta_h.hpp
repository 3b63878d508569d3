// dpvae/objectives/beta_h.hpp — β-VAE-H: loss = R + β·KL (Higgins et al. 2017;
// docs/math.md "β-VAE-H").
#pragma once

#include "dpvae/objectives/common.hpp"

namespace dpvae::objective {

template <class T>
struct BetaH : ObjectiveBase<T> {
  static constexpr const char* name = "beta-h";
  static constexpr const char* display_standard = "β-VAE-H";
  static constexpr const char* display_decoupled = "β-dpVAE-H";
  static constexpr OfficialRun official_run{1e-4, 24, 1.0};
  double beta = 5.0;
  static constexpr auto hyperparameters() {
    return std::tuple{hyperparameter("beta", &BetaH::beta, "beta-h: the KL weight β", 0.0, kInf, 5.0)};
  }
  void validate() const { validate_hyperparameters(*this); }

  template <class P>
  struct Workspace {
    typename P::Tape kl;
  };
  template <class P>
  Terms latent_loss(const LatentBatch<T>& b, const P& prior, Rng&, LatentGrads<T>& g, Workspace<P>& ws) {
    const double kl = detail::kl_term(b, prior, ws.kl, beta, g);
    return {{"kl", kl}, {"latent", beta * kl}};
  }
};

}  // namespace dpvae::objective
