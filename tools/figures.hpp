// tools/figures.hpp — every figure of the program, built from trained runs and drawn with the
// primitives of plot.hpp: sample grids and scatter plots, the Fig. 1 comparison, q(z) and p(z)
// heat maps with low- and high-posterior samples, traversals and single-dimension sweeps,
// the per-run figures of `evaluate --figures`, and the paired VAE/dpVAE figures and leakage
// curves of `reproduce`. One heat-map builder and one palette serve them all.
#pragma once

#include "run_folder.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

// Declared only: their header (latents.hpp, with dpvae/eval.hpp) costs every file that
// includes it some 40 s of compilation, and the training loop needs neither.
namespace dpvae {
class AggregatePosterior;
}
namespace dpvae::cli {
struct LatentSampler;

/// Writes `n` samples of a run as a PNG: an image grid, or for 2-D data a scatter plot of the
/// samples over the training data.
void write_samples(const LoadedRun& run, AnyModel& model, Index n, std::uint64_t seed, const std::filesystem::path& png);

/// The decoded images (or 2-D points) of the latents z (n × d), as write_samples draws them;
/// `what` names the sampler in a 2-D plot's title.
void write_latent_samples(const LoadedRun& run, AnyModel& model, const Matrix<float>& z, const std::string& what,
                          const std::filesystem::path& png);

/// The comparison figure of several runs (paper Fig. 1 for 2-D latents; sample grids for images).
void write_comparison(const std::vector<LoadedRun>& runs, std::uint64_t seed, const std::filesystem::path& png);

/// Low- (or high-) posterior samples of a run as a PNG: N candidates, the n lowest-scoring
/// kept (docs/math.md, "Sampling"); `posteriors` training posteriors in q(z) (0: all).
void write_posterior_samples(LoadedRun& run, bool low, Index candidates, Index n, Index posteriors,
                             std::uint64_t seed, const std::filesystem::path& png);

/// The figures of one evaluated run into `folder` (OBJECTIVE-PRIOR-*.png): random (the first
/// 64 rows of `random_samples`), low- and high-posterior samples, traversals and sweeps for
/// images; q(z) and p(z) with LP/HP samples for a 2-D latent space. `candidates` (at most
/// 6400 used) are scored per LP/HP sample set.
void write_run_figures(const LoadedRun& run, const AggregatePosterior& q, const Matrix<float>& random_samples,
                       Index candidates, std::uint64_t seed, const std::filesystem::path& folder);

/// The figures of one ex-post sampler `s` of an evaluated run into `folder`
/// (OBJECTIVE-PRIOR-TAG-*.png), as write_run_figures draws the prior's: random | low- |
/// high-posterior samples for images (LP: the 64 lowest-q(z) of min(candidates, 6400) draws
/// of s; HP: the 64 q(z) draws least likely under s's generation-space density); q(z) and s's
/// density with its LP/HP samples for a 2-D latent space.
void write_sampler_figures(const LoadedRun& run, const AggregatePosterior& q, const LatentSampler& s, const std::string& tag,
                           Index candidates, std::uint64_t seed, const std::filesystem::path& folder);

/// The paired figures of one objective, VAE run vs dpVAE run, into `folder`: fig5 (random |
/// low-posterior samples), fig6 (traversals), fig8 (sweeps) for images; fig3 (q(z), p(z),
/// LP/HP samples) for a 2-D latent space.
void write_pair_figures(const LoadedRun& vae, const LoadedRun& dp, const std::string& objective, std::uint64_t seed,
                        const std::filesystem::path& folder);

/// One objective's leakage curves for Fig. 4: each run's name and the "curve" array of its
/// metrics JSON "leakage" (tau, score; null scores left out).
struct LeakageCurves {
  std::string vae_name, dp_name;
  nlohmann::json vae_curve, dp_curve;
};

/// Fig. 4: LS(τ) of the VAE and dpVAE runs, one panel per objective with a curve, three per
/// row. Writes nothing when no objective has a curve.
void write_leakage_figure(const std::vector<LeakageCurves>& objectives, const std::filesystem::path& png);

}  // namespace dpvae::cli
