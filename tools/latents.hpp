// tools/latents.hpp — latent selection for evaluation and figures: the networks called on
// whole sets in batches, the aggregate posterior q(z) over (a seeded subset of) the training
// set, low- and high-posterior latents (docs/math.md, "Sampling"), and the generation-space
// density log N(f(z); 0, I).
#pragma once

#include "network_batches.hpp"
#include "run_config.hpp"

#include <dpvae/any_model.hpp>

#include <dpvae/eval.hpp>

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace dpvae::cli {

/// The training points whose posteriors make up q(z) when `count` < n of them are used: the
/// first `count` of a permutation seeded by `seed`.
std::vector<Index> posterior_subset(Index n, Index count, std::uint64_t seed);

/// The aggregate posterior of `m` over `count` training points (posterior_subset when
/// count < N; all when count is 0 or >= N).
AggregatePosterior aggregate_posterior(const AnyModel& m, const Data& d, Index count, std::uint64_t seed);

/// The ex-post Gaussian mixture of a trained model (Ghosh et al. 2020; docs/math.md
/// "Ex-post samplers"): ExPostGmm::fit on the posterior means μ(x) of every training point
/// (`o`: 10 components by default). Throws dpvae::Error as ExPostGmm::fit does.
ExPostGmm fit_expost_gmm(const AnyModel& m, const Data& d, const GmmOptions& o = {});

/// The ex-post coupling flow of a trained model (Dai & Wipf 2019's two-stage idea; docs/math.md
/// "Ex-post samplers"): ExPostFlow::fit_to_posteriors on the posteriors q(z|x) of every
/// training point. Throws dpvae::Error as ExPostFlow::fit_to_posteriors does.
ExPostFlow fit_expost_flow(const AnyModel& m, const Data& d, const FlowFitOptions& o = {});

/// log N(f(z); 0, I) per row (nats, no log-det): the density in the generation space z0 = f(z)
/// that scores high-posterior samples and bounds the leakage region.
Vector<double> log_generation_density(const AnyModel& m, const Matrix<float>& z);

/// Where generated latents come from: the model's prior, or a density fitted to its
/// encodings after training (docs/math.md "Ex-post samplers"). Each draws n latents (n × d),
/// gives its exact log-density log p(z) and its generation-space density (log N(f(z); 0, I)
/// for a prior or a flow; the mixture's own log p(z) for the GMM, as f = identity for the
/// standard prior), per row in nats. The functions hold references: the model or the fitted
/// sampler must outlive it.
struct LatentSampler {
  std::string name;  ///< "prior", "ex-post GMM", "ex-post flow"
  std::function<Matrix<float>(Index, Rng&)> sample;
  std::function<Vector<double>(const Matrix<float>&)> log_prob;
  std::function<Vector<double>(const Matrix<float>&)> log_generation_density;
};
LatentSampler prior_sampler(const AnyModel& m);
LatentSampler gmm_sampler(const ExPostGmm& g);
LatentSampler flow_sampler(const ExPostFlow& f);

/// Low-posterior latents as the official dpVAE code selects them (docs/math.md "Sampling"):
/// q(z) estimated on one minibatch at a time. For each group of B = `batch` training
/// posteriors (drawn without replacement from the N rows of mu, logvar), ⌈B · candidates / n⌉
/// draws of `s` are scored by the mixture of those B posteriors and the B lowest kept, until
/// n latents (n × d) are collected. The fraction kept (n / candidates) is the exact
/// selection's, so the two differ only in the estimate of q(z). Throws dpvae::Error unless
/// candidates >= n >= 1 and 1 <= batch <= N.
Matrix<float> low_posterior_latents_minibatch(const LatentSampler& s, const Matrix<float>& mu, const Matrix<float>& logvar,
                                              Index n, Index candidates, Index batch, Rng& rng);

/// Low-posterior latents of any sampler: `candidates` draws of `s` scored by log q(z); the
/// n lowest, lowest first.
Matrix<float> low_posterior_latents(const LatentSampler& s, const AggregatePosterior& q, Index n, Index candidates, Rng& rng);

/// Low-posterior latents: `candidates` draws z = f⁻¹(z0), z0 ~ N(0, I), scored by log q(z);
/// the n lowest, lowest first.
Matrix<float> low_posterior_latents(const AnyModel& m, const AggregatePosterior& q, Index n, Index candidates, Rng& rng);

/// High-posterior latents of any sampler: `candidates` draws z ~ q(z), scored by the
/// sampler's generation-space log-density (s.log_generation_density); the n lowest, lowest
/// first. Throws dpvae::Error unless candidates >= n >= 1.
Matrix<float> high_posterior_latents(const LatentSampler& s, const AggregatePosterior& q, Index n, Index candidates, Rng& rng);

/// High-posterior latents: `candidates` draws z ~ q(z), scored by log N(f(z); 0, I); the n
/// lowest, lowest first.
Matrix<float> high_posterior_latents(const AnyModel& m, const AggregatePosterior& q, Index n, Index candidates, Rng& rng);

}  // namespace dpvae::cli
