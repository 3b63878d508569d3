// tools/evaluate.hpp — `dpvae evaluate`, `dpvae sample --low-posterior|--high-posterior`,
// `dpvae feature-net train` and `dpvae reproduce`: the paper's metrics and figures for
// trained runs (SPEC.md "Sampling" and "Metrics").
#pragma once

#include "run.hpp"

#include <dpvae/eval.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace dpvae::cli {

/// The feature space of FID for a data set: a trained FeatureNet (images) or the data
/// themselves (2-D points). `name` and `accuracy` go into every report.
struct FeatureSpace {
  std::string name;
  double accuracy = -1;  // test accuracy of the classifier; < 0 when there is none
  std::function<Matrix<float>(const Matrix<float>&)> extract;
  std::shared_ptr<FeatureNet<float>> net;
};

/// Where a data set's feature net is kept by default: DATA_ROOT/feature-nets/NAME.safetensors
/// (NAME: mnist, fashion-mnist, or idx-<folder name> for idx:DIR).
std::filesystem::path default_feature_net(const RunConfig& cfg);

struct FeatureNetOptions {
  std::int64_t steps = 3000;
  std::int64_t batch = 100;
  std::uint64_t seed = 1;
};

/// Loads the feature net at `path` for `data`, or trains one (printing its progress and
/// test accuracy) and saves it there when the file does not exist. Throws dpvae::Error when
/// the file exists but belongs to another data set or is corrupt.
FeatureSpace feature_space(const Data& data, const std::filesystem::path& path, const FeatureNetOptions& o = {});

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
};

/// Every metric of one run as JSON (written atomically to `out` when it is not empty):
/// fid, fid_lp (with the feature space, its accuracy and the sample counts), skl, nll
/// (nats and bits/dim, K), leakage curve, probe accuracy, MIG (two-moons), timings.
nlohmann::json evaluate(LoadedRun& run, const EvalOptions& o, const std::filesystem::path& out);

/// Low- (or high-) posterior samples of a run as a PNG: N candidates, the n lowest-scoring
/// kept (SPEC.md "Sampling"); `posteriors` training posteriors in q(z) (0: all).
void write_posterior_samples(LoadedRun& run, bool low, Index candidates, Index n, Index posteriors,
                             std::uint64_t seed, const std::filesystem::path& png);

struct ReproduceOptions {
  std::string dataset = "mnist";
  std::string budget = "quick";  ///< quick or paper
  std::string preset = "official";
  std::string data_root = "data";
  std::filesystem::path out;
  int threads = 0;
  std::uint64_t seed = 1;
};

/// Trains (or resumes, or reuses) the 12 models, evaluates them, and writes table.md,
/// table.csv and the figures into o.out. Returns 0.
int reproduce(const ReproduceOptions& o);

}  // namespace dpvae::cli
