// tools/feature_net.hpp — the feature space of FID and its cache: `dpvae feature-net train`,
// and the feature net that `evaluate` and `reproduce` load from a file, or train and save
// there on first use.
#pragma once

#include "run_config.hpp"

#include <dpvae/eval/feature_net.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

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

/// Rotates row i of x (an h × w × c image, channels last) by 90° · k[i] counterclockwise:
/// output pixel (y, x) is input pixel (x, w − 1 − y) for k = 1, (h − 1 − y, w − 1 − x) for
/// k = 2, (h − 1 − x, y) for k = 3 (k in 0..3; 1 and 3 need h = w). The self-supervised task of
/// an unlabelled set's feature net (docs/math.md "Metrics").
void rotate_images(Matrix<float>& x, Index h, Index w, Index c, const std::vector<int>& k);

struct FeatureNetOptions {
  std::int64_t steps = 3000;
  std::int64_t batch = 100;
  std::uint64_t seed = 1;
};

/// Loads the feature net at `path` for `data`, or trains one (printing its progress and
/// test accuracy) and saves it there when the file does not exist. Throws dpvae::Error when
/// the file exists but belongs to another data set or is corrupt.
FeatureSpace feature_space(const Data& data, const std::filesystem::path& path, const FeatureNetOptions& o = {});

}  // namespace dpvae::cli
