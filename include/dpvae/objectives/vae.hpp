// dpvae/objectives/vae.hpp — the plain VAE: loss = R + KL (docs/math.md "VAE").
#pragma once

#include "dpvae/objectives/common.hpp"

namespace dpvae::objective {

template <class T>
struct Vae : ObjectiveBase<T> {
  static constexpr const char* name = "vae";
  static constexpr const char* display_standard = "VAE";
  static constexpr const char* display_decoupled = "dpVAE";
  static constexpr OfficialRun official_run{1e-4, 100, 1.0};
  static constexpr auto hyperparameters() { return std::tuple<>{}; }
  void validate() const { validate_hyperparameters(*this); }

  template <class P>
  struct Workspace {
    typename P::Tape kl;
  };
  template <class P>
  Terms latent_loss(const LatentBatch<T>& b, const P& prior, Rng&, LatentGrads<T>& g, Workspace<P>& ws) {
    const double kl = detail::kl_term(b, prior, ws.kl, 1.0, g);
    return {{"kl", kl}, {"latent", kl}};
  }
};

}  // namespace dpvae::objective
