// tools/mpi_comm.hpp — Comm over MPI (MPI_COMM_WORLD), for the dpvae_mpi program and the
// MPI tests. Included only where DPVAE_MPI builds with an MPI library.
#pragma once

#include "comm.hpp"

#include <dpvae/core.hpp>

#define OMPI_SKIP_MPICXX 1  // the C API only: no deprecated C++ bindings
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <climits>
#include <cstdint>
#include <string>
#include <vector>

namespace dpvae::cli {

/// MPI_Init on construction, MPI_Finalize on destruction (one per process).
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv) { MPI_Init(argc, argv); }
  ~MpiSession() { MPI_Finalize(); }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
};

class MpiComm final : public Comm {
 public:
  MpiComm() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allreduce_sum(std::span<float> buf) override {
    dpvae::detail::require(buf.size() <= static_cast<std::size_t>(INT_MAX), "all-reduce: buffer too large for one MPI call");
    check(MPI_Allreduce(MPI_IN_PLACE, buf.data(), static_cast<int>(buf.size()), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
          "MPI_Allreduce");
  }
  void barrier() override { MPI_Barrier(MPI_COMM_WORLD); }
  std::vector<std::string> gather_to_root(const std::string& text) override {
    dpvae::detail::require(text.size() <= static_cast<std::size_t>(INT_MAX), "gather: a rank's text is too large for one MPI call");
    const int len = static_cast<int>(text.size());
    std::vector<int> lens(rank_ == 0 ? static_cast<std::size_t>(size_) : 0), offsets(lens.size());
    check(MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Gather");
    std::int64_t total = 0;
    for (std::size_t r = 0; r < lens.size(); ++r) {
      offsets[r] = static_cast<int>(total);
      total += lens[r];
      dpvae::detail::require(total <= INT_MAX, "gather: the ranks' texts together are too large for one MPI call");
    }
    std::string all(static_cast<std::size_t>(total), '\0');
    check(MPI_Gatherv(text.data(), len, MPI_CHAR, all.data(), lens.data(), offsets.data(), MPI_CHAR, 0, MPI_COMM_WORLD),
          "MPI_Gatherv");
    std::vector<std::string> out;
    for (std::size_t r = 0; r < lens.size(); ++r)
      out.push_back(all.substr(static_cast<std::size_t>(offsets[r]), static_cast<std::size_t>(lens[r])));
    return out;
  }
  void abort(int status) override {
    if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, status);
  }

 private:
  static void check(int rc, const char* what) {
    dpvae::detail::require(rc == MPI_SUCCESS, std::string(what) + " failed (error " + std::to_string(rc) + ")");
  }
  int rank_ = 0, size_ = 1;
};

}  // namespace dpvae::cli
