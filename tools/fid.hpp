// tools/fid.hpp — `dpvae fid A B` (standard FID and KID between two image sets, or sets and
// saved statistics, in the FID Inception-v3 feature space) and `dpvae fid-features` (the
// 2048-d features of an image file: what benchmarks/fid_inception_reference.py compares
// with PyTorch). docs/math.md "Standard FID".
#pragma once

#include "image_sets.hpp"

#include <dpvae/core.hpp>
#include <dpvae/eval/inception.hpp>

#include <functional>

#include <string>

namespace dpvae::cli {

struct FidOptions {
  std::string a, b;            ///< image or feature or statistics files (see fid())
  std::string weights;         ///< FID Inception safetensors (scripts/convert-fid-inception.py)
  std::string save_stats;      ///< when set, A's statistics (mu, sigma, count) are written here and B is optional
  std::string json_out;        ///< when set, the result as JSON
  bool features = false;       ///< A and B hold features already ("features": n × F)
  Index run_samples = 10000;   ///< samples drawn from a run's prior when A or B is a run folder
  Index batch = 50;
  Index kid_subsets = 100, kid_subset_size = 1000;
  std::uint64_t seed = 1;
};

/// FID (and KID where both sides have features) between A and B. Each side is a safetensors
/// file holding "images" (n × h × w × c floats in [0, 1], c = 1 or 3), or "features" (n × F;
/// with --features), or statistics ("mu", "sigma" as written by --save-stats); or an image
/// set open_image_source reads (a folder of image files, a run's samples, .npy, IDX). Prints
/// one line and writes JSON when asked. Throws dpvae::Error.
int fid(const FidOptions& o);

/// The FID Inception features (n × 2048, row i the features of image i) of every image of
/// `src`, read in chunks of 8 batches (memory bounded by the chunk), `batch` images per
/// network batch; `progress(done)` after each chunk when given. Throws dpvae::Error from the
/// source or for a bad image shape.
Matrix<float> inception_features(const FidInception& net, const ImageSource& src, Index batch,
                                 const std::function<void(Index)>& progress = {});

struct FidFeaturesOptions {
  std::string weights, images, out, preprocessed_out;
  Index batch = 50;
};

/// The pool3 features of a safetensors "images" file → `out` ("features", n × 2048), and the
/// preprocessed network inputs ("images", n × 299 × 299 × 3) when asked; prints images/s.
int fid_features(const FidFeaturesOptions& o);

}  // namespace dpvae::cli
