// Time per training step of the MNIST architecture (batch 100), standard vs decoupled prior.
// Figures of merit are ratios measured in one run (machines here are shared and noisy).
#include <dpvae/dpvae.hpp>

#include <benchmark/benchmark.h>

namespace {

template <class Model>
void train_step(benchmark::State& state) {
  dpvae::ModelConfig c;
  c.architecture = dpvae::Architecture::conv_images(28, 28, 1, 2);
  Model model(c);
  dpvae::Rng rng(1);
  dpvae::Matrix<float> x(100, 784);
  for (dpvae::Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(rng.uniform());
  for (auto _ : state) benchmark::DoNotOptimize(model.train_step(x));
  state.SetItemsProcessed(state.iterations() * 100);
}

BENCHMARK(train_step<dpvae::DpVae<dpvae::BetaH, dpvae::Prior<dpvae::StandardNormal>>>)->Unit(benchmark::kMillisecond);
BENCHMARK(train_step<dpvae::DpVae<dpvae::BetaH, dpvae::Coupling<6>>>)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
