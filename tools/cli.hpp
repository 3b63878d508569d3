// tools/cli.hpp — the dpvae program (train, sample, evaluate, compare, reproduce, fid,
// feature-net) as a function, so that dpvae and dpvae_mpi (tools/main.cpp, with and without
// DPVAE_WITH_MPI) share one compiled copy of it.
#pragma once

#include "comm.hpp"

namespace dpvae::cli {

/// Sets glibc's heap thresholds for the evaluation's allocation pattern (blocks up to 32 MiB
/// stay in the heap); call first in main(). Nothing elsewhere.
void configure_heap();

/// Parses argv and runs the subcommand; `comm` is one process, or the MPI ranks of
/// dpvae_mpi. Returns the exit status: 0, or 2 after an error, which is printed as one line
/// "dpvae: error: ..." on stderr (every rank ended through comm.abort). Never throws.
int cli_main(int argc, char** argv, Comm& comm);

}  // namespace dpvae::cli
