// tools/evaluation.hpp — `dpvae evaluate`: every metric of the paper for one trained run as
// a metrics JSON (FID and FID(LP), sKL, importance-sampled NLL, leakage curve, linear probe,
// MIG, timings), and with --figures the run's figures (figures.hpp).
#pragma once

#include "run_folder.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>

namespace dpvae::cli {

struct EvalOptions {
  Index samples = 10000;       ///< generated images for FID and FID(LP)
  Index lp_candidates = 0;     ///< prior draws scored for LP samples (0: 10 × samples)
  Index posteriors = 0;        ///< training posteriors in the q(z) mixture (0: all)
  Index skl_samples = 5000;    ///< per direction
  Index nll_k = 1000;          ///< importance samples per test point
  Index nll_points = 1000;     ///< test points for the NLL (0: all)
  Index leakage_samples = 3000;
  std::uint64_t seed = 1;
  std::filesystem::path feature_net{};  ///< FID feature net file (images); trained if missing
  std::filesystem::path figures{};      ///< when set, the run's figures are written here
  /// FID Inception weights (scripts/convert-fid-inception.py): when set, standard FID, FID(LP)
  /// and KID in that network's feature space are reported beside the domain ones.
  std::filesystem::path fid_weights{};
  Index standard_fid_samples = 2000;  ///< images per side of the standard FID (capped at samples and the test set)
  /// When set, the ex-post Gaussian mixture (fit_expost_gmm) is fitted to the training
  /// encodings and FID, FID(LP) and sKL are measured with it in place of the prior
  /// ("expost_gmm" in the JSON; docs/math.md "Ex-post samplers").
  bool expost_gmm = false;
  /// When set, the ex-post coupling flow (fit_expost_flow) is fitted to q(z) and measured
  /// like the prior ("expost_flow").
  bool expost_flow = false;
  Index expost_flow_steps = 4000;  ///< Adam steps of the ex-post flow's fit (FlowFitOptions::steps)
};

/// Every metric of one run as JSON (written atomically to `out` when it is not empty):
/// fid, fid_lp (with the feature space, its accuracy, the sample counts and where the LP
/// latents lie), fid_lp_minibatch (LP samples under the official code's minibatch estimate of
/// q(z)), kid, kid_lp,
/// with o.fid_weights fid_inception, fid_lp_inception, kid_inception and kid_lp_inception
/// (the first n random and LP samples against the first n test images, n =
/// min(o.standard_fid_samples, o.samples, test size)), skl, nll (nats and bits/dim, K),
/// leakage curve, probe accuracy, MIG (two-moons), β-TCVAE's estimates, with o.expost_gmm
/// and o.expost_flow the same generation metrics (fid, fid_lp, fid_lp_minibatch, kid, skl,
/// nll, leakage) with the ex-post sampler in place of the prior, timings. Throws
/// dpvae::Error for bad options, unreadable weights, or weights asked for on data that are
/// not images.
nlohmann::json evaluate(LoadedRun& run, const EvalOptions& o, const std::filesystem::path& out);

/// Seconds since `t` on the steady clock: the timings of the metrics JSON and of reproduce.
inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace dpvae::cli
