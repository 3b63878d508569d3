// bench_cuda_train_step — time per training step of the MNIST architecture (batch 100,
// β-VAE-H, float), standard vs decoupled prior, on the CPU backend and on the CUDA backend,
// measured side by side in one run; plus the device's own float GEMM rate on device-resident
// buffers, to show how far the staged backend is from the hardware.
//
//     bench_cuda_train_step [--steps N] [--warmup W] [--json FILE] [--markdown FILE]
//
// Without a CUDA device it prints why and exits 77. Bad options: one line, exit status 2.
#include <dpvae/backend/cuda.hpp>
#include <dpvae/dpvae.hpp>

#include <tbb/info.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

template <class B, class PriorT>
using Model = dpvae::DpVae<dpvae::BetaH, PriorT, dpvae::Encoder<float, B>, dpvae::Decoder<float, B>>;

struct Result {
  std::string backend, prior;
  double median_ms = 0, min_ms = 0;
  int steps = 0;
  double ops_per_step = 0, mb_per_step = 0;  // CUDA: backend calls and MB staged per step
};

template <class M>
Result time_steps(const char* backend, const char* prior, int warmup, int steps) {
  dpvae::ModelConfig c;
  c.architecture = dpvae::Architecture::conv_images(28, 28, 1, 2);
  c.dataset_size = 60000;
  M model(c);
  dpvae::Rng rng(1);
  dpvae::Matrix<float> x(100, 784);
  for (dpvae::Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(rng.uniform());
  for (int i = 0; i < warmup; ++i) model.train_step(x);
  std::vector<double> ms;
  dpvae::Cuda::reset_stats();
  for (int i = 0; i < steps; ++i) {
    const auto t0 = Clock::now();
    model.train_step(x);  // every backend call is synchronous: the step is done here
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  const auto st = dpvae::Cuda::stats();
  std::sort(ms.begin(), ms.end());
  return {backend, prior, ms[ms.size() / 2], ms.front(), steps, static_cast<double>(st.operations) / steps,
          static_cast<double>(st.bytes_to_device + st.bytes_to_host) / 1e6 / steps};
}

/// Float GEMM rate (GFLOP/s) of cuBLAS on n × n device-resident buffers.
double device_gemm_gflops(dpvae::Index n) {
  dpvae::DeviceBuffer<float> a(n * n), b(n * n), c(n * n);
  dpvae::Cuda::fill_normal(1, 0, n * n, a.data());
  dpvae::Cuda::fill_normal(1, 1, n * n, b.data());
  dpvae::Cuda::gemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  const int reps = 10;
  const auto t0 = Clock::now();
  for (int i = 0; i < reps; ++i)
    dpvae::Cuda::gemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) * reps / s / 1e9;
}

/// Median microseconds of one float GEMM C (m × n) = A (m × k) Bᵀ (B: n × k, the Linear
/// and Conv2d layout) with host operands (staged) and with device-resident operands.
std::pair<double, double> gemm_call_us(dpvae::Index m, dpvae::Index n, dpvae::Index k) {
  dpvae::Rng rng(2);
  std::vector<float> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(n * k)),
      c(static_cast<std::size_t>(m * n));
  for (auto& v : a) v = static_cast<float>(rng.normal());
  for (auto& v : b) v = static_cast<float>(rng.normal());
  dpvae::DeviceBuffer<float> da(a.data(), m * k), db(b.data(), n * k), dc(m * n);
  auto median_us = [&](float* cp, const float* ap, const float* bp) {
    std::vector<double> us;
    for (int i = 0; i < 53; ++i) {
      const auto t0 = Clock::now();
      dpvae::Cuda::gemm(false, true, m, n, k, 1.0f, ap, k, bp, k, 0.0f, cp, n);
      if (i >= 3) us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    std::sort(us.begin(), us.end());
    return us[us.size() / 2];
  };
  return {median_us(c.data(), a.data(), b.data()), median_us(dc.data(), da.data(), db.data())};
}

void write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    f << text;
    if (!f) throw dpvae::Error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

int parse_int(const std::string& flag, const char* v) {
  try {
    std::size_t used = 0;
    const int n = std::stoi(v, &used);
    if (used != std::string(v).size() || n < 1 || n > 100000) throw std::invalid_argument(flag);
    return n;
  } catch (const std::exception&) {
    throw dpvae::Error(flag + " needs an integer in [1, 100000], got '" + v + "'");
  }
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 30, warmup = 3;
  std::string json_path, md_path;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (i + 1 >= argc) throw dpvae::Error("option " + a + " is unknown or needs a value");
      if (a == "--steps") steps = parse_int(a, argv[++i]);
      else if (a == "--warmup") warmup = parse_int(a, argv[++i]);
      else if (a == "--json") json_path = argv[++i];
      else if (a == "--markdown") md_path = argv[++i];
      else throw dpvae::Error("unknown option " + a + " (use --steps, --warmup, --json, --markdown)");
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_cuda_train_step: " << e.what() << "\n";
    return 2;
  }
  const auto [count, why] = dpvae::Cuda::device_count();
  if (count == 0) {
    std::printf("bench_cuda_train_step: SKIPPED: %s\n", why.c_str());
    return 77;
  }
  try {
    const std::string device = dpvae::Cuda::device_name();
    const int threads = tbb::info::default_concurrency();
    using dpvae::Cpu;
    using dpvae::Cuda;
    using Standard = dpvae::Prior<dpvae::StandardNormal, float, Cpu>;
    using Decoupled = dpvae::Coupling<6, float, Cpu>;
    using StandardG = dpvae::Prior<dpvae::StandardNormal, float, Cuda>;
    using DecoupledG = dpvae::Coupling<6, float, Cuda>;
    std::vector<Result> r;
    r.push_back(time_steps<Model<Cpu, Standard>>("cpu", "standard", warmup, steps));
    r.push_back(time_steps<Model<Cpu, Decoupled>>("cpu", "decoupled", warmup, steps));
    r.push_back(time_steps<Model<Cuda, StandardG>>("cuda", "standard", warmup, steps));
    r.push_back(time_steps<Model<Cuda, DecoupledG>>("cuda", "decoupled", warmup, steps));
    const double gflops = device_gemm_gflops(4096);
    // Two GEMMs of the step: the first convolution (19600 × 32 × 16) and a flow layer (100 × 64 × 2).
    const auto conv_us = gemm_call_us(19600, 32, 16);
    const auto flow_us = gemm_call_us(100, 64, 2);

    std::ostringstream md, js;
    md << "# CUDA training-step benchmark\n\nMNIST conv architecture, β-VAE-H, float, batch 100, latent 2; "
       << "median of " << steps << " steps after " << warmup << " warm-up steps.\n\n"
       << "Device: " << device << "; CPU backend: " << threads << " TBB threads.\n"
       << "CUDA backend: operands staged host → device → host per operation (include/dpvae/backend/cuda.hpp).\n\n"
       << "| backend | prior | ms/step (median) | ms/step (min) | steps/s | GPU ops/step | MB staged/step |\n"
       << "|---|---|---:|---:|---:|---:|---:|\n";
    char line[256];
    for (const auto& x : r) {
      std::snprintf(line, sizeof line, "| %s | %s | %.3f | %.3f | %.1f | %.0f | %.1f |\n", x.backend.c_str(),
                    x.prior.c_str(), x.median_ms, x.min_ms, 1000.0 / x.median_ms, x.ops_per_step, x.mb_per_step);
      md << line;
    }
    std::snprintf(line, sizeof line,
                  "\nDecoupled / standard: CPU %.3f, CUDA %.3f. CPU / CUDA step time: standard %.2f, decoupled %.2f.\n"
                  "cuBLAS float GEMM 4096³ on device-resident buffers: %.0f GFLOP/s.\n",
                  r[1].median_ms / r[0].median_ms, r[3].median_ms / r[2].median_ms, r[0].median_ms / r[2].median_ms,
                  r[1].median_ms / r[3].median_ms, gflops);
    md << line;
    std::snprintf(line, sizeof line,
                  "One GEMM call, staged vs device-resident operands (µs): conv1 19600×32×16: %.1f vs %.1f; "
                  "flow layer 100×64×2: %.1f vs %.1f.\n",
                  conv_us.first, conv_us.second, flow_us.first, flow_us.second);
    md << line;
    js << "{\n  \"device\": \"" << device << "\",\n  \"cpu_threads\": " << threads << ",\n  \"batch\": 100,\n"
       << "  \"steps\": " << steps << ",\n  \"device_sgemm_4096_gflops\": " << gflops
       << ",\n  \"gemm_conv1_us\": {\"staged\": " << conv_us.first << ", \"resident\": " << conv_us.second << "}"
       << ",\n  \"gemm_flow_us\": {\"staged\": " << flow_us.first << ", \"resident\": " << flow_us.second << "}"
       << ",\n  \"results\": [\n";
    for (std::size_t i = 0; i < r.size(); ++i)
      js << "    {\"backend\": \"" << r[i].backend << "\", \"prior\": \"" << r[i].prior
         << "\", \"median_ms\": " << r[i].median_ms << ", \"min_ms\": " << r[i].min_ms
         << ", \"gpu_ops_per_step\": " << r[i].ops_per_step << ", \"mb_staged_per_step\": " << r[i].mb_per_step << "}"
         << (i + 1 < r.size() ? ",\n" : "\n");
    js << "  ]\n}\n";
    std::cout << md.str();
    if (!json_path.empty()) write_atomically(json_path, js.str());
    if (!md_path.empty()) write_atomically(md_path, md.str());
  } catch (const std::exception& e) {
    std::cerr << "bench_cuda_train_step: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
