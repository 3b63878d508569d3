// Data-parallel gradients: under mpirun -np N, each rank takes its shard
// of one batch (with its rows of the batch's reparameterisation noise), the flat gradient
// buffers are summed in one all-reduce and divided by N; rank 0 checks the result against
// one process's gradient on the whole batch (VAE objective, both priors: the per-sample
// mean makes them equal up to float rounding). Exit status 0 on every rank when they agree.
#include "fixtures.hpp"
#include "mpi_comm.hpp"

#include <dpvae/data/two_moons.hpp>
#include <dpvae/dpvae.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

using namespace dpvae;

namespace {

ModelConfig moons_config() { return test::moons_config(7); }

template <class Model>
int check(cli::Comm& comm, const char* name) {
  const Index batch = 48;
  const auto moons = data::make_two_moons(3);
  const Matrix<float> x = moons.train.topRows(batch);
  const Index shard = batch / comm.size(), r0 = comm.rank() * shard;

  Model local(moons_config());
  local.set_noise_shard(r0, batch);
  local.compute_gradients(x.middleRows(r0, shard));
  std::vector<float> g(local.gradients().begin(), local.gradients().end());
  comm.allreduce_sum(g);
  for (auto& v : g) v /= static_cast<float>(comm.size());

  int ok = 1;
  if (comm.rank() == 0) {
    Model whole(moons_config());
    whole.compute_gradients(x);
    double max_diff = 0, max_abs = 0;
    for (std::size_t i = 0; i < g.size(); ++i) {
      max_diff = std::max(max_diff, static_cast<double>(std::abs(g[i] - whole.gradients()[i])));
      max_abs = std::max(max_abs, static_cast<double>(std::abs(whole.gradients()[i])));
    }
    ok = max_diff <= 1e-5 * std::max(1.0, max_abs) ? 1 : 0;
    std::printf("%s %s: %d ranks, %zu gradients, max |all-reduced − one process| = %.3g (max |g| = %.3g)\n",
                ok ? "ok  " : "FAIL", name, comm.size(), g.size(), max_diff, max_abs);
  }
  std::vector<float> verdict{comm.rank() == 0 ? static_cast<float>(ok) : 0.0f};
  comm.allreduce_sum(verdict);  // rank 0's verdict reaches every rank
  return verdict[0] > 0.5f ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  cli::MpiSession session(&argc, &argv);
  cli::MpiComm comm;
  if (48 % comm.size() != 0) {
    if (comm.rank() == 0) std::fprintf(stderr, "run with a rank count that divides 48\n");
    return 2;
  }
  int fails = 0;
  fails += check<DpVae<Vae, Prior<StandardNormal>>>(comm, "VAE, standard prior");
  fails += check<DpVae<Vae, Coupling<6>>>(comm, "VAE, decoupled prior");
  return fails == 0 ? 0 : 1;
}
