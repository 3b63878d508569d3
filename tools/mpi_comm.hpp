// tools/mpi_comm.hpp — Comm over MPI (MPI_COMM_WORLD), for the dpvae_mpi program and the
// MPI tests. Included only where DPVAE_MPI builds with an MPI library.
#pragma once

#include "comm.hpp"

#include <dpvae/core.hpp>

#define OMPI_SKIP_MPICXX 1  // the C API only: no deprecated C++ bindings
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <climits>
#include <string>

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
    const int rc = MPI_Allreduce(MPI_IN_PLACE, buf.data(), static_cast<int>(buf.size()), MPI_FLOAT, MPI_SUM,
                                 MPI_COMM_WORLD);
    dpvae::detail::require(rc == MPI_SUCCESS, "MPI_Allreduce failed (error " + std::to_string(rc) + ")");
  }
  void barrier() override { MPI_Barrier(MPI_COMM_WORLD); }
  void abort(int status) override {
    if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, status);
  }

 private:
  int rank_ = 0, size_ = 1;
};

}  // namespace dpvae::cli
