// bench_metrics — time and peak memory of the evaluation metrics, each at
// three or more sizes so that the report shows how the time grows with N, M, K and n.
//
// Benchmarks (names are what benchmarks/summarize.py parses):
//   metrics/aggregate_posterior/N:<n>/M:<m>/d:<d>   AggregatePosterior::log_prob of N
//       candidate latents against M posteriors (random μ, log σ²): the scoring of the
//       low-posterior selection. At d = 2 (the MNIST preset) N ∈ {1000, 10000, 50000} with
//       M = 10000 and M ∈ {1000, 10000, 60000} with N = 10000; d ∈ {2, 10, 32} at
//       N = M = 10000; and `dpvae evaluate`'s default, N = 100000 (10 × 10,000 samples)
//       against M = 60000. Counters: pairs (N·M), pairs_per_s, ms_per_Mpair (per 10⁶ pairs).
//   metrics/nll/K:<k>/images:<n>   importance_sampled_log_likelihood of n random images
//       under an untrained MNIST DpVae<Vae, Coupling<6>>, K ∈ {10, 100, 1000}, the model
//       called on 100 rows at a time, as tools/evaluation.cpp calls it. Counters:
//       s_per_1000_images_scaled (the time of n images, scaled to 1,000) and
//       us_per_image_sample (per image and proposal).
//   metrics/nll/K:10/images:1000   1,000 images (`dpvae evaluate`'s default number).
//   metrics/nll_unbatched/K:1000/images:<n>   batch = max(K, n): all points encoded in one
//       call and each image's K proposals decoded in one call (the memory that batching saves).
//   metrics/frechet/dim:<f>   frechet_distance of two Gaussian fits of f features,
//       f ∈ {32, 128, 512} (128: the feature net's).
//   metrics/fid/n:<n>   FID of n generated against n real random 28 × 28 images through an
//       untrained FeatureNet<float> (the FID feature space, F = 128), batches of 100,
//       n ∈ {1000, 5000, 10000}. Counters: features_ms (both feature passes), fits_ms
//       (both Gaussian fits), frechet_ms (the distance), images_per_s (through the net).
// Every case also reports peak_rss_MiB, the process's peak resident set while it ran,
// peak_extra_MiB, the rise of that peak above the resident set at its start, its inputs
// built (the metric's working memory), and page_faults per iteration (MemoryProbe).
// Fixed seeds, 2 oneTBB threads; the machine is shared, so the figures are as measured and
// nothing here asserts on them.
#include "bench_common.hpp"

#include <dpvae/eval/feature_net.hpp>
#include <dpvae/eval/metrics.hpp>

#include <benchmark/benchmark.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <span>
#include <string>
#include <utility>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

using namespace dpvae;
constexpr std::size_t kThreads = 2;
constexpr std::uint64_t kSeed = 5;
constexpr Index kEvalBatch = 100;  // rows per network call, as in tools/latents.hpp

/// Memory of one benchmark case. start() hands freed heap back to the OS (malloc_trim),
/// then resets the kernel's high-water mark VmHWM to the current resident set by writing "5"
/// to /proc/self/clear_refs (Linux >= 4.0), and notes that resident set and the page-fault
/// count. report() adds the counters peak_rss_MiB (VmHWM from /proc/self/status),
/// peak_extra_MiB (its rise above the resident set at start()), peak_reset (1 when
/// clear_refs could be written; where it cannot, VmHWM stays the peak since the process
/// started, and per-case peaks need one case per process, --benchmark_filter) and
/// page_faults (minor faults per iteration: fresh pages touched, 0 when a call reuses
/// memory it already holds).
class MemoryProbe {
 public:
  void start() {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
    std::ofstream f("/proc/self/clear_refs");
    reset_ok_ = static_cast<bool>(f << "5" << std::flush);
    baseline_ = status_mib("VmRSS:");
    faults_ = bench::minor_faults();
  }
  void report(benchmark::State& state) const {
    const double peak = status_mib("VmHWM:");
    state.counters["peak_rss_MiB"] = peak;
    state.counters["peak_extra_MiB"] = peak - baseline_;
    state.counters["peak_reset"] = reset_ok_ ? 1 : 0;
    state.counters["page_faults"] =
        static_cast<double>(bench::minor_faults() - faults_) / static_cast<double>(state.iterations());
  }

 private:
  static double status_mib(const std::string& key) {
    std::ifstream f("/proc/self/status");
    for (std::string line; std::getline(f, line);)
      if (line.rfind(key, 0) == 0) return std::stod(line.substr(key.size())) / 1024.0;  // "VmHWM:  1234 kB"
    return 0;
  }
  bool reset_ok_ = false;
  double baseline_ = 0;
  long faults_ = 0;
};

/// A counter of `units` per iteration reported as seconds per `per` units (× 1000 for ms):
/// Google Benchmark divides by the elapsed time (kIsRate), then inverts (kInvert).
benchmark::Counter seconds_per(const benchmark::State& state, double units, double per) {
  return benchmark::Counter(units / per * static_cast<double>(state.iterations()),
                            benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

Matrix<float> normal_matrix(Index rows, Index cols, Rng& rng) {
  Matrix<float> x(rows, cols);
  rng.fill_normal(std::span<float>(x.data(), static_cast<std::size_t>(x.size())));
  return x;
}

/// log q(z) of N candidates (float, as decoded latents are) under the mixture of M random
/// posteriors, μ ~ N(0, I), log σ² ~ U(−4, 0). The mixture is built before the memory probe
/// starts: peak extra and page faults are log_prob's own.
void aggregate_posterior(benchmark::State& state, Index n, Index m, Index d) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, kThreads);
  Rng rng(kSeed);
  const Matrix<float> mu = normal_matrix(m, d, rng), z = normal_matrix(n, d, rng);
  Matrix<float> logvar(m, d);
  for (Index i = 0; i < logvar.size(); ++i) logvar.data()[i] = static_cast<float>(-4.0 * rng.uniform());
  const AggregatePosterior q(mu, logvar);
  MemoryProbe mem;
  mem.start();
  for (auto _ : state) {
    const Vector<double> lq = q.log_prob(z);
    benchmark::DoNotOptimize(lq.data());
  }
  mem.report(state);
  const double pairs = static_cast<double>(n) * static_cast<double>(m);
  state.counters["pairs"] = pairs;
  state.counters["pairs_per_s"] = benchmark::Counter(pairs * static_cast<double>(state.iterations()),
                                                     benchmark::Counter::kIsRate);
  state.counters["ms_per_Mpair"] = seconds_per(state, pairs, 1e9);  // s per 10⁹ = ms per 10⁶
}

/// Importance-sampled log p(x) of `images` random images with K proposals each, under an
/// untrained MNIST VAE with the decoupled prior; `batched`: model calls of 100 rows (as
/// `dpvae evaluate` makes them), else one call for all points and one per point's K proposals.
void nll(benchmark::State& state, Index k, Index images, bool batched) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, kThreads);
  using Model = DpVae<Vae, Coupling<6>>;
  const Model model(bench::mnist_config());
  Rng rng(kSeed);
  const Matrix<float> x = bench::uniform_images(images, model.data_dim(), rng);
  const Index batch = batched ? kEvalBatch : std::max(k, images);
  MemoryProbe mem;
  mem.start();
  for (auto _ : state) {
    const Vector<double> ll = importance_sampled_log_likelihood(model, x, k, rng, nullptr, batch);
    benchmark::DoNotOptimize(ll.data());
  }
  mem.report(state);
  state.counters["images"] = static_cast<double>(images);
  state.counters["K"] = static_cast<double>(k);
  state.counters["s_per_1000_images_scaled"] = seconds_per(state, static_cast<double>(images), 1e3);
  state.counters["us_per_image_sample"] = seconds_per(state, static_cast<double>(images * k), 1e6);
}

/// The FID feature space of MNIST, untrained: FeatureNet<float> on 28 × 28 × 1, F = 128.
FeatureNetConfig mnist_feature_config() {
  FeatureNetConfig c;
  c.height = 28, c.width = 28, c.channels = 1, c.data_dim = 28 * 28;
  c.dataset = "mnist";
  return c;
}

/// The Fréchet distance of two fits of f dimensions (4f random Gaussian rows each).
void frechet(benchmark::State& state, Index f) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, kThreads);
  Rng rng(kSeed);
  const GaussianFit a = fit_gaussian(normal_matrix(4 * f, f, rng)), b = fit_gaussian(normal_matrix(4 * f, f, rng));
  MemoryProbe mem;
  mem.start();
  for (auto _ : state) benchmark::DoNotOptimize(frechet_distance(a, b));
  mem.report(state);
  state.counters["dim"] = static_cast<double>(f);
}

/// FID of n random "generated" images against n random "real" ones, batches of 100: the
/// steps of fid() — frechet_distance(fit_gaussian(extract_features(real)),
/// fit_gaussian(extract_features(generated))) — timed one by one (counters features_ms,
/// fits_ms, frechet_ms per call).
void fid_n(benchmark::State& state, Index n) {
  using Clock = std::chrono::steady_clock;
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, kThreads);
  const FeatureNet<float> net(mnist_feature_config(), kSeed);
  const auto extract = [&net](const Matrix<float>& x) { return net.features(x); };
  Rng rng(kSeed);
  const Matrix<float> real = bench::uniform_images(n, 28 * 28, rng), generated = bench::uniform_images(n, 28 * 28, rng);
  std::array<double, 3> seconds{};  // features, fits, distance
  MemoryProbe mem;
  mem.start();
  for (auto _ : state) {
    const auto t0 = Clock::now();
    const Matrix<float> fr = extract_features(extract, real, kEvalBatch), fg = extract_features(extract, generated, kEvalBatch);
    const auto t1 = Clock::now();
    const GaussianFit a = fit_gaussian(fr), b = fit_gaussian(fg);
    const auto t2 = Clock::now();
    benchmark::DoNotOptimize(frechet_distance(a, b));
    const auto t3 = Clock::now();
    seconds[0] += std::chrono::duration<double>(t1 - t0).count();
    seconds[1] += std::chrono::duration<double>(t2 - t1).count();
    seconds[2] += std::chrono::duration<double>(t3 - t2).count();
  }
  mem.report(state);
  const double per_call_ms = 1e3 / static_cast<double>(state.iterations());
  state.counters["features_ms"] = seconds[0] * per_call_ms;
  state.counters["fits_ms"] = seconds[1] * per_call_ms;
  state.counters["frechet_ms"] = seconds[2] * per_call_ms;
  state.counters["images"] = static_cast<double>(n);
  state.counters["images_per_s"] = benchmark::Counter(static_cast<double>(2 * n * state.iterations()),
                                                      benchmark::Counter::kIsRate);
}

template <class F>
void add(const std::string& name, F f) {
  benchmark::RegisterBenchmark(name.c_str(), f)->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  constexpr std::array<std::array<Index, 3>, 8> kPosteriorCases{{{1000, 10000, 2},
                                                                 {10000, 10000, 2},
                                                                 {50000, 10000, 2},
                                                                 {10000, 1000, 2},
                                                                 {10000, 60000, 2},
                                                                 {10000, 10000, 10},
                                                                 {10000, 10000, 32},
                                                                 {100000, 60000, 2}}};
  for (const auto& [n, m, d] : kPosteriorCases)
    add("metrics/aggregate_posterior/N:" + std::to_string(n) + "/M:" + std::to_string(m) + "/d:" + std::to_string(d),
        [n, m, d](benchmark::State& s) { aggregate_posterior(s, n, m, d); });
  for (Index k : {10, 100, 1000}) {
    const Index images = 20;
    add("metrics/nll/K:" + std::to_string(k) + "/images:" + std::to_string(images),
        [k, images](benchmark::State& s) { nll(s, k, images, true); });
  }
  add("metrics/nll/K:10/images:1000", [](benchmark::State& s) { nll(s, 10, 1000, true); });
  add("metrics/nll_unbatched/K:1000/images:5", [](benchmark::State& s) { nll(s, 1000, 5, false); });
  for (Index f : {32, 128, 512})
    add("metrics/frechet/dim:" + std::to_string(f), [f](benchmark::State& s) { frechet(s, f); });
  for (Index n : {1000, 5000, 10000})
    add("metrics/fid/n:" + std::to_string(n), [n](benchmark::State& s) { fid_n(s, n); });
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
