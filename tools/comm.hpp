// tools/comm.hpp — the training loop's view of data-parallel communication. The default is
// one process; the MPI build (DPVAE_MPI, tools/mpi_comm.hpp) supplies ranks over MPI.
#pragma once

#include <span>
#include <string>
#include <vector>

namespace dpvae::cli {

class Comm {
 public:
  virtual ~Comm() = default;
  /// This process's rank in [0, size()); rank 0 alone writes files and progress.
  virtual int rank() const { return 0; }
  virtual int size() const { return 1; }
  /// In place: buf[i] ← Σ over ranks of buf[i] (every rank gets the sums). One collective
  /// call, so a training step costs one all-reduce.
  virtual void allreduce_sum(std::span<float> /*buf*/) {}
  /// Returns once every rank has called it.
  virtual void barrier() {}
  /// Rank 0 receives every rank's `text`, in rank order; the other ranks receive nothing
  /// (an empty vector). A collective: every rank calls it. One process: {text}.
  virtual std::vector<std::string> gather_to_root(const std::string& text) { return {text}; }
  /// After an error on this rank: ends every rank with `status` (one process: nothing).
  virtual void abort(int /*status*/) {}
};

}  // namespace dpvae::cli
