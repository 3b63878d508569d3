// tools/network_batches.hpp — a trained model's encoder and decoder, and a feature
// extractor, called on whole sets a batch at a time (kEvalBatch rows): what evaluation,
// figures and the FID image sets share. Apart from latents.hpp so that a file needing only
// these does not compile dpvae/eval.hpp (some 40 s per file).
#pragma once

#include "run_config.hpp"

#include <dpvae/any_model.hpp>

#include <functional>
#include <utility>
#include <vector>

namespace dpvae::cli {

/// Rows per network call in evaluation: the training batch size, where the im2col buffers of
/// the conv nets stay in cache (at 1,000 rows they reach hundreds of MB and run 5× slower).
inline constexpr Index kEvalBatch = 100;

/// (μ, log σ²) of every row of x, encoded in batches of kEvalBatch.
std::pair<Matrix<float>, Matrix<float>> encode_all(const AnyModel& m, const Matrix<float>& x);

/// (μ, log σ²) of every point of a data set, converted to floats and encoded kEvalBatch rows
/// at a time.
std::pair<Matrix<float>, Matrix<float>> encode_all(const AnyModel& m, const Points& x);

/// extract(x) of every point of a data set (the FID feature net's features, n × F),
/// converted to floats and extracted a block of 10·kEvalBatch rows at a time.
Matrix<float> features_of(const std::function<Matrix<float>(const Matrix<float>&)>& extract, const Points& x);

/// E[x|z] of every row of z, decoded in batches of kEvalBatch.
Matrix<float> decode_all(const AnyModel& m, const Matrix<float>& z);

/// The rows `idx` of x, in that order.
Matrix<float> rows_of(const Matrix<float>& x, const std::vector<Index>& idx);

}  // namespace dpvae::cli
