// bench_train_step — time per training step, and how far it is from the machine's GEMM limit.
//
// Benchmarks (names are what benchmarks/run.sh parses):
//   train/<data>/<objective>/<prior>/threads:<t>   one DpVae::train_step
//       data: mnist (the paper's conv net, 28 × 28 × 1, d = 2, Bernoulli, batch 100),
//             moons (the two-moons MLP 2 → 100 → 50 → 2d, Gaussian w = 50, batch 100),
//             svhn (the conv net on 32 × 32 × 3, ReLU, d = 32, Gaussian w = 50, batch 50) or
//             celeba (the conv net on 64 × 64 × 3, LeakyReLU(0.2), d = 32, Gaussian w = 50,
//             batch 50): the colour configurations of the `dpvae` program, on random images;
//       objective: vae, beta-h, beta-b, beta-tc, factor (the paper's 5 × 1000
//             discriminator), info (svhn, celeba: vae, beta-tc, factor, info);
//       prior: standard or decoupled (6 coupling blocks).
//   prior_ratio/mnist/<objective>/threads:2   the decoupled / standard step-time ratio
//       measured in pairs: each iteration times kPairSteps steps of the standard-prior
//       model and kPairSteps of the decoupled one back to back (the order alternating), and
//       the counter decoupled_over_standard is the median of the per-iteration ratios, so a
//       neighbour's load that comes and goes falls on both halves of a pair alike.
//   gemm/<m>x<n>x<k>/threads:<t>   one float32 GEMM through the CPU backend (Eigen under
//       oneTBB): the machine's attainable FLOP/s in this binary, for the FLOP fraction.
// Counters: flops (analytic FLOPs per iteration, benchmarks/flops.hpp) and flop_rate.
// Figures of merit are ratios of benchmarks measured in the same run; run with
// --benchmark_enable_random_interleaving=true and repetitions so that the machine's load
// (shared, noisy) falls on both sides of a ratio alike.
#include "bench_common.hpp"
#include "flops.hpp"

#include <dpvae/data/two_moons.hpp>
#include <dpvae/dpvae.hpp>

#include <benchmark/benchmark.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace dpvae;
constexpr Index kBatch = 100;       // MNIST and two-moons
constexpr Index kColourBatch = 50;  // SVHN and CelebA (the paper's batch for them)

using bench::celeba_config;
using bench::moons_config;
using bench::svhn_config;

template <class Model>
void train_step(benchmark::State& state, ModelConfig config, Index batch, int threads) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  Model model(config);
  Rng rng(7);
  const Matrix<float> x = config.architecture.kind == Architecture::Kind::conv
                              ? bench::uniform_images(batch, model.data_dim(), rng)
                              : data::two_moons<float>(batch, 0.05, rng);
  model.train_step(x);  // warm-up: buffers sized, pages touched
  const long faults_before = bench::minor_faults();
  for (auto _ : state) benchmark::DoNotOptimize(model.train_step(x));
  // Page faults per step: zero when a step neither allocates fresh memory nor returns it.
  state.counters["page_faults"] = static_cast<double>(bench::minor_faults() - faults_before) /
                                  static_cast<double>(state.iterations());
  const double flow_passes = std::string(Model::objective_name()) == "info" ? 2.0 : 1.0;
  const double flops = bench::train_step_flops(model, batch, flow_passes);
  state.counters["flops"] = flops;
  state.counters["flop_rate"] = benchmark::Counter(flops * static_cast<double>(state.iterations()),
                                                   benchmark::Counter::kIsRate);
  state.counters["threads"] = threads;
  state.counters["batch"] = static_cast<double>(batch);
  state.SetItemsProcessed(state.iterations() * batch);
}

constexpr int kPairSteps = 2;

template <class Reg>
void prior_ratio(benchmark::State& state, ModelConfig config, int threads) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  DpVae<Reg, Prior<StandardNormal>> standard(config);
  DpVae<Reg, Coupling<6>> decoupled(config);
  Rng rng(7);
  const Matrix<float> x = bench::uniform_images(kBatch, standard.data_dim(), rng);
  standard.train_step(x);  // warm-up
  decoupled.train_step(x);
  auto seconds = [&](auto& model) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kPairSteps; ++i) benchmark::DoNotOptimize(model.train_step(x));
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  std::vector<double> ratios;
  bool decoupled_first = false;
  for (auto _ : state) {
    double ts = 0, td = 0;
    if (decoupled_first) {
      td = seconds(decoupled);
      ts = seconds(standard);
    } else {
      ts = seconds(standard);
      td = seconds(decoupled);
    }
    decoupled_first = !decoupled_first;
    ratios.push_back(td / ts);
  }
  std::nth_element(ratios.begin(), ratios.begin() + static_cast<std::ptrdiff_t>(ratios.size() / 2), ratios.end());
  state.counters["decoupled_over_standard"] = ratios[ratios.size() / 2];
  state.counters["pairs"] = static_cast<double>(ratios.size());
  state.counters["threads"] = threads;
}

template <class... Regs>
void add_prior_ratios(int threads) {
  (benchmark::RegisterBenchmark(("prior_ratio/mnist/" + std::string(Regs::name) + "/threads:" +
                                 std::to_string(threads)).c_str(),
                                [threads](benchmark::State& s) { prior_ratio<Regs>(s, bench::mnist_config(), threads); })
       ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(12),
   ...);
}

void gemm(benchmark::State& state, Index m, Index n, Index k, int threads) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  Matrix<float> a = Matrix<float>::Random(m, k), b = Matrix<float>::Random(k, n), c(m, n);
  for (auto _ : state) {
    Cpu::gemm(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  state.counters["flops"] = flops;
  state.counters["flop_rate"] = benchmark::Counter(flops * static_cast<double>(state.iterations()),
                                                   benchmark::Counter::kIsRate);
  state.counters["threads"] = threads;
}

template <class Reg, class Prior>
void add_train(const char* data, const char* prior, int threads) {
  const std::string name = std::string("train/") + data + "/" + Reg::name + "/" + prior +
                           "/threads:" + std::to_string(threads);
  const std::string d = data;
  const ModelConfig c = d == "mnist"  ? bench::mnist_config()
                        : d == "svhn" ? svhn_config()
                        : d == "celeba" ? celeba_config()
                                        : moons_config();
  const Index batch = d == "svhn" || d == "celeba" ? kColourBatch : kBatch;
  benchmark::RegisterBenchmark(name.c_str(), [c, batch, threads](benchmark::State& s) {
    train_step<DpVae<Reg, Prior>>(s, c, batch, threads);
  })->Unit(benchmark::kMillisecond)->UseRealTime();
}

template <class Reg>
void add_both(const char* data, int threads) {
  add_train<Reg, Prior<StandardNormal>>(data, "standard", threads);
  add_train<Reg, Coupling<6>>(data, "decoupled", threads);
}

template <class... Regs>
void add_all(const char* data, int threads) {
  (add_both<Regs>(data, threads), ...);
}

}  // namespace

int main(int argc, char** argv) {
  for (int t : {1, 2}) {
    const std::string name = "gemm/1024x1024x1024/threads:" + std::to_string(t);
    benchmark::RegisterBenchmark(name.c_str(), [t](benchmark::State& s) { gemm(s, 1024, 1024, 1024, t); })
        ->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  add_all<Vae, BetaH, BetaB, BetaTC, Factor, Info>("mnist", 2);
  add_prior_ratios<Vae, BetaH, BetaB, BetaTC, Factor, Info>(2);
  add_both<BetaH>("mnist", 1);  // the 1 → 2 thread scaling
  add_both<Vae>("mnist", 1);    // CPU time per step against PyTorch's, independent of the load
  add_all<Vae, BetaH, BetaB, BetaTC, Factor, Info>("moons", 2);
  add_all<Vae, BetaTC, Factor, Info>("svhn", 2);  // the colour nets, for the comparison with PyTorch
  add_all<Vae, BetaTC, Factor, Info>("celeba", 2);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
