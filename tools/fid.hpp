// tools/fid.hpp — `dpvae fid A B` (standard FID and KID between two image sets, or sets and
// saved statistics, in the FID Inception-v3 feature space) and `dpvae fid-features` (the
// 2048-d features of an image file: what benchmarks/fid_inception_reference.py compares
// with PyTorch). docs/math.md "Standard FID".
#pragma once

#include <dpvae/core.hpp>

#include <string>

namespace dpvae::cli {

struct FidOptions {
  std::string a, b;            ///< image or feature or statistics files (see fid())
  std::string weights;         ///< FID Inception safetensors (scripts/convert-fid-inception.py)
  std::string save_stats;      ///< when set, A's statistics (mu, sigma, count) are written here and B is optional
  std::string json_out;        ///< when set, the result as JSON
  bool features = false;       ///< A and B hold features already ("features": n × F)
  Index batch = 50;
  Index kid_subsets = 100, kid_subset_size = 1000;
  std::uint64_t seed = 1;
};

/// FID (and KID where both sides have features) between A and B. Each side is a safetensors
/// file holding "images" (n × h × w × c floats in [0, 1], c = 1 or 3), or "features" (n × F;
/// with --features), or statistics ("mu", "sigma" as written by --save-stats); or an IDX image
/// file (bytes / 255). Prints one line and writes JSON when asked. Throws dpvae::Error.
int fid(const FidOptions& o);

struct FidFeaturesOptions {
  std::string weights, images, out, preprocessed_out;
  Index batch = 50;
};

/// The pool3 features of a safetensors "images" file → `out` ("features", n × 2048), and the
/// preprocessed network inputs ("images", n × 299 × 299 × 3) when asked; prints images/s.
int fid_features(const FidFeaturesOptions& o);

}  // namespace dpvae::cli
