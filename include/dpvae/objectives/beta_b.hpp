// dpvae/objectives/beta_b.hpp — β-VAE-B: loss = R + γ·|KL − C|, C = C_max·min(1, t/T_C)
// (Burgess et al. 2018; docs/math.md "β-VAE-B"). KL is the batch-mean per-sample KL (nats).
#pragma once

#include "dpvae/objectives/common.hpp"

#include <algorithm>

namespace dpvae::objective {

template <class T>
struct BetaB : ObjectiveBase<T> {
  static constexpr const char* name = "beta-b";
  static constexpr const char* display_standard = "β-VAE-B";
  static constexpr const char* display_decoupled = "β-dpVAE-B";
  static constexpr OfficialRun official_run{1e-3, 24, 100.0};
  double gamma = 1000.0;
  double c_max = 25.0;
  double capacity_steps = 100000.0;
  static constexpr auto hyperparameters() {
    return std::tuple{
        hyperparameter("gamma", &BetaB::gamma, "beta-b: the weight γ of |KL − C|", 0.0, kInf, 15.0),
        hyperparameter("c_max", &BetaB::c_max, "beta-b: the capacity C_max reached by the schedule (nats)", 0.0, kInf,
                       25.0 / 24.0),
        hyperparameter("capacity_steps", &BetaB::capacity_steps, "beta-b: steps T_C for C to reach C_max", 0.0, kInf,
                       1e5, /*lo_open=*/true)};
  }
  void validate() const { validate_hyperparameters(*this); }
  /// C(step) = C_max · min(1, step / T_C) (nats).
  double capacity(std::uint64_t step) const {
    return c_max * std::min(1.0, static_cast<double>(step) / capacity_steps);
  }

  template <class P>
  struct Workspace {
    typename P::Tape kl;
  };
  template <class P>
  Terms latent_loss(const LatentBatch<T>& b, const P& prior, Rng&, LatentGrads<T>& g, Workspace<P>& ws) {
    const Vector<T> kl = prior.kl(b.mu, b.logvar, b.z, ws.kl);
    const double mean_kl = static_cast<double>(kl.mean());
    const double c = capacity(b.step);
    const double gap = mean_kl - c;
    const double sign = gap > 0 ? 1.0 : (gap < 0 ? -1.0 : 0.0);
    const Index n = b.z.rows();
    const Vector<T> coef = Vector<T>::Constant(n, static_cast<T>(gamma * sign / static_cast<double>(n)));
    prior.accumulate_kl_grad(ws.kl, b.mu, b.logvar, coef, g.dmu, g.dlogvar, g.dz);
    return {{"kl", mean_kl}, {"capacity", c}, {"latent", gamma * std::abs(gap)}};
  }
};

}  // namespace dpvae::objective
