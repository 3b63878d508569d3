// dpvae — the command-line program: train, sample, evaluate, compare and reproduce decoupled-prior VAEs
// (tools/cli.hpp). Every error in its input ends the program with one line on stderr and exit
// status 2. Built twice: dpvae, and dpvae_mpi with DPVAE_WITH_MPI (ranks over MPI).
#include "cli.hpp"

#ifdef DPVAE_WITH_MPI
#include "mpi_comm.hpp"
#endif

int main(int argc, char** argv) {
  dpvae::cli::configure_heap();
#ifdef DPVAE_WITH_MPI
  dpvae::cli::MpiSession mpi(&argc, &argv);
  dpvae::cli::MpiComm comm;
#else
  dpvae::cli::Comm comm;
#endif
  return dpvae::cli::cli_main(argc, argv, comm);
}
