// dpvae/data/minibatch.hpp — minibatches of a data set held in memory (rows are points):
// epochs of a random permutation, each epoch's points drawn once, the last partial batch of
// an epoch dropped. No I/O.
//
//     dpvae::data::Minibatches<float> batches(train, /*batch=*/100, /*seed=*/1);
//     for (int step = 0; step < 1000; ++step) model.train_step(batches.next());
#pragma once

#include "dpvae/core.hpp"
#include "dpvae/rng.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace dpvae::data {

/// The rows `index` of x, in that order (n = index.size() rows). Throws dpvae::Error for an
/// index outside [0, x.rows()).
template <class T>
Matrix<T> gather_rows(const Matrix<T>& x, const std::vector<std::int64_t>& index) {
  Matrix<T> out(static_cast<Index>(index.size()), x.cols());
  for (std::size_t i = 0; i < index.size(); ++i) {
    dpvae::detail::require(index[i] >= 0 && index[i] < x.rows(), "gather_rows: row " + std::to_string(index[i]) +
                                                              " is outside the data (" + std::to_string(x.rows()) + " rows)");
    out.row(static_cast<Index>(i)) = x.row(static_cast<Index>(index[i]));
  }
  return out;
}

/// Random minibatches of `data` (which must outlive this object): each epoch a fresh
/// permutation of the rows from its own Rng(seed), consecutive slices of `batch` rows.
template <class T>
class Minibatches {
 public:
  /// Throws dpvae::Error unless 1 ≤ batch ≤ data.rows().
  Minibatches(const Matrix<T>& data, Index batch, std::uint64_t seed = 1) : data_(data), batch_(batch), rng_(seed) {
    dpvae::detail::require(batch >= 1 && batch <= data.rows(), "Minibatches: the batch size must be in [1, " +
                                                            std::to_string(data.rows()) + "] (got " +
                                                            std::to_string(batch) + ")");
  }
  /// The next batch (batch × D), starting a new epoch when fewer than `batch` rows are left.
  const Matrix<T>& next() {
    if (order_.empty() || pos_ + static_cast<std::size_t>(batch_) > order_.size()) {
      order_ = rng_.permutation(data_.rows());
      pos_ = 0;
      ++epoch_;
    }
    out_.resize(batch_, data_.cols());
    for (Index i = 0; i < batch_; ++i) out_.row(i) = data_.row(static_cast<Index>(order_[pos_ + static_cast<std::size_t>(i)]));
    pos_ += static_cast<std::size_t>(batch_);
    return out_;
  }
  /// Epochs started so far (1 during the first).
  std::uint64_t epoch() const { return epoch_; }

 private:
  const Matrix<T>& data_;
  Index batch_;
  Rng rng_;
  std::vector<std::int64_t> order_;
  std::size_t pos_ = 0;
  std::uint64_t epoch_ = 0;
  Matrix<T> out_;
};

}  // namespace dpvae::data
