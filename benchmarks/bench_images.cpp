// bench_images — how fast dpvae::images turns a folder of CelebA-like JPEGs into a uint8
// ImageArray (benchmarks/pil_decode.py times the same files with PIL, as a PyTorch user's
// Dataset does; benchmarks/run_images.sh runs both and writes results/images.json).
//
//   bench_images --write-jpegs DIR N [QUALITY]   writes N JPEGs (see write_jpegs) into DIR and
//       exits (QUALITY: stb_image_write's, default 95; at 90 or less it subsamples chroma 4:2:0)
//   bench_images --dump DIR OUT   decodes DIR as the decode_only benchmark does and writes the
//       array's bytes (count × height × width × 3, uint8) to OUT, its shape as JSON to stdout
//       (pil_decode.py --compare checks them against PIL's pixels)
//   bench_images [--dir=DIR | --images=N] [Google Benchmark flags]
//       times load_image_folder on DIR (or on N JPEGs written into a temporary folder, default
//       3000, removed at the end)
//
// Benchmarks (names are what run_images.sh parses):
//   images/folder/celeba64/threads:<t>   load_image_folder with celeba_geometry(64): decode,
//       check 178 × 218, centre crop 140 × 140, antialiased bicubic resize to 64 × 64, into
//       one array: what `dpvae train --dataset celeba` does per image.
//   images/folder/decode_only/threads:<t>   the same folder decoded without crop or resize
//       (the 218 × 178 × 3 images copied into the array): the decoder's share.
// t = 1, 2 and the machine's cores (each once), set with tbb::global_control. One iteration
// loads the whole folder (listing, reading, decoding, the array) and frees it. Counters:
// images_per_s (files ÷ wall seconds), files, threads. The files are read once before any
// timing, so every run reads them from the page cache (as PIL's loop does).
#include <dpvae/images/datasets.hpp>

#include <benchmark/benchmark.h>
#include <stb_image_write.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using dpvae::Index;

namespace {

/// A deterministic hash of (image, salt) to [0, 1).
double unit(std::uint32_t k, std::uint32_t salt) {
  std::uint32_t h = k * 0x9E3779B1u ^ (salt + 0x7F4A7C15u) * 0x85EBCA77u;
  h ^= h >> 15, h *= 0x2C1B3C6Du, h ^= h >> 12, h *= 0x297A2D39u, h ^= h >> 15;
  return static_cast<double>(h) / 4294967296.0;
}

/// Image k of the set, 218 high × 178 wide × RGB, CelebA-like: a smooth background gradient,
/// a shaded skin-coloured ellipse (the face) with two dark eyes and a mouth, hair above, and
/// ±1.5 levels of pixel noise (texture for the encoder, as in photographs). Every image differs.
std::vector<std::uint8_t> celeba_like(std::uint32_t k) {
  constexpr int H = 218, W = 178;
  std::vector<std::uint8_t> px(static_cast<std::size_t>(H * W * 3));
  const double bg[3] = {60 + 150 * unit(k, 1), 60 + 150 * unit(k, 2), 60 + 150 * unit(k, 3)};
  const double skin[3] = {170 + 60 * unit(k, 4), 120 + 50 * unit(k, 5), 90 + 50 * unit(k, 6)};
  const double hair[3] = {20 + 120 * unit(k, 7), 15 + 90 * unit(k, 8), 10 + 60 * unit(k, 9)};
  const double cx = 89 + 8 * (unit(k, 10) - 0.5), cy = 118 + 8 * (unit(k, 11) - 0.5);
  const double rx = 48 + 8 * unit(k, 12), ry = 64 + 8 * unit(k, 13);
  const double tilt = 0.3 * (unit(k, 14) - 0.5);
  std::uint32_t noise = k * 2654435761u + 1u;
  for (int r = 0; r < H; ++r)
    for (int c = 0; c < W; ++c) {
      const double x = (c - cx) / rx, y = (r - cy) / ry;
      const double xr = x * std::cos(tilt) + y * std::sin(tilt), yr = -x * std::sin(tilt) + y * std::cos(tilt);
      const double d = xr * xr + yr * yr;  // < 1 inside the face
      const double face = std::clamp((1.0 - d) * 8.0, 0.0, 1.0);
      const double hair_w = std::clamp((0.2 - yr - 0.6 * (1 - d)) * 3.0, 0.0, 1.0) * std::clamp((1.6 - d) * 2.0, 0.0, 1.0);
      const double shade = 0.75 + 0.25 * std::cos(1.4 * xr + 0.4) * std::cos(0.9 * yr);
      const double eye = std::exp(-(std::pow((std::abs(xr) - 0.38) / 0.12, 2) + std::pow((yr + 0.18) / 0.06, 2)));
      const double mouth = std::exp(-(std::pow(xr / 0.3, 2) + std::pow((yr - 0.45) / 0.05, 2)));
      for (int ch = 0; ch < 3; ++ch) {
        const double back = bg[ch] * (0.7 + 0.3 * r / H) + 20 * std::sin(0.03 * c + ch);
        double v = back * (1 - face) + skin[ch] * shade * face;
        v = v * (1 - hair_w) + hair[ch] * (0.8 + 0.2 * std::sin(0.5 * c + 0.2 * r)) * hair_w;
        v *= 1 - 0.8 * eye * face;
        v = v * (1 - 0.5 * mouth * face) + (ch == 0 ? 150 : 60) * 0.5 * mouth * face;
        noise = noise * 1664525u + 1013904223u;
        v += static_cast<double>(noise >> 30) - 1.5;  // ±1.5
        px[static_cast<std::size_t>((r * W + c) * 3 + ch)] = static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
    }
  return px;
}

/// Writes n CelebA-like JPEGs (celeba_like, stb_image_write at `quality`: at 95 it stores
/// chroma at full resolution, 4:4:4; at 90 or less subsampled 4:2:0, as CelebA's files) as
/// DIR/000001.jpg …, on all cores; returns their mean size in bytes. Exits with a message when
/// a file cannot be written.
double write_jpegs(const fs::path& dir, Index n, int quality = 95) {
  fs::create_directories(dir);
  std::vector<std::uintmax_t> bytes(static_cast<std::size_t>(n));
  std::atomic<bool> failed{false};
  tbb::parallel_for(Index{0}, n, [&](Index k) {
    char name[32];
    std::snprintf(name, sizeof name, "%06lld.jpg", static_cast<long long>(k + 1));
    const fs::path p = dir / name;
    const std::vector<std::uint8_t> px = celeba_like(static_cast<std::uint32_t>(k));
    std::error_code ec;
    if (stbi_write_jpg(p.string().c_str(), 178, 218, 3, px.data(), quality) == 0) failed = true;
    bytes[static_cast<std::size_t>(k)] = fs::file_size(p, ec);
    if (ec) failed = true;
  });
  if (failed) {
    std::cerr << "bench_images: cannot write the JPEGs into " << dir << "\n";
    std::exit(1);
  }
  return static_cast<double>(std::accumulate(bytes.begin(), bytes.end(), std::uintmax_t{0})) / static_cast<double>(n);
}

/// Loads `dir` with `geometry` on `threads` oneTBB threads per iteration; counters as in the
/// file comment (images_per_s: images per wall second).
void load_folder(benchmark::State& state, const fs::path& dir, dpvae::images::Geometry geometry, int threads) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  dpvae::images::DecodeOptions o;
  o.geometry = geometry;
  Index count = 0;
  for (auto _ : state) {
    try {
      dpvae::images::ImageFolder f = dpvae::images::load_image_folder(dir, o);
      count = f.images.count;
      benchmark::DoNotOptimize(f.images.pixels.data());
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      return;
    }
  }
  state.counters["images_per_s"] =
      benchmark::Counter(static_cast<double>(count) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["files"] = static_cast<double>(count);
  state.counters["threads"] = threads;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "--write-jpegs") {
    if (argc != 4 && argc != 5) {
      std::cerr << "usage: bench_images --write-jpegs DIR N [QUALITY]\n";
      return 2;
    }
    const Index n = std::atoll(argv[3]);
    const int quality = argc == 5 ? std::atoi(argv[4]) : 95;
    if (n < 1 || quality < 1 || quality > 100) {
      std::cerr << "bench_images: N must be >= 1 and QUALITY in [1, 100]\n";
      return 2;
    }
    const double mean = write_jpegs(argv[2], n, quality);
    std::cout << "{\"files\": " << n << ", \"mean_bytes\": " << std::lround(mean) << "}\n";
    return 0;
  }

  if (argc >= 2 && std::string(argv[1]) == "--dump") {
    if (argc != 4) {
      std::cerr << "usage: bench_images --dump DIR OUT\n";
      return 2;
    }
    try {
      const dpvae::images::ImageFolder f = dpvae::images::load_image_folder(argv[2], dpvae::images::DecodeOptions{});
      std::FILE* out = std::fopen(argv[3], "wb");
      if (out == nullptr || std::fwrite(f.images.pixels.data(), 1, f.images.pixels.size(), out) != f.images.pixels.size() ||
          std::fclose(out) != 0) {
        std::cerr << "bench_images: cannot write " << argv[3] << "\n";
        return 1;
      }
      std::cout << "{\"count\": " << f.images.count << ", \"height\": " << f.images.height << ", \"width\": " << f.images.width
                << ", \"channels\": " << f.images.channels << "}\n";
    } catch (const std::exception& e) {
      std::cerr << "bench_images: " << e.what() << "\n";
      return 1;
    }
    return 0;
  }

  // Our own flags first (Google Benchmark refuses flags it does not know).
  fs::path dir;
  Index n = 3000;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--dir=", 0) == 0)
      dir = a.substr(6);
    else if (a.rfind("--images=", 0) == 0)
      n = std::atoll(a.c_str() + 9);
    else
      argv[kept++] = argv[i];
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  fs::path temporary;
  if (dir.empty()) {
    if (n < 1) {
      std::cerr << "bench_images: --images must be >= 1\n";
      return 2;
    }
    temporary = fs::temp_directory_path() / ("dpvae-bench-images-" + std::to_string(::getpid()));
    const double mean = write_jpegs(temporary, n);
    std::cerr << "bench_images: wrote " << n << " JPEGs (mean " << std::lround(mean) << " bytes) to " << temporary << "\n";
    dir = temporary;
  }
  // Into the page cache before any timing.
  try {
    for (const fs::path& p : dpvae::images::list_image_files(dir)) benchmark::DoNotOptimize(dpvae::images::read_file(p).data());
  } catch (const std::exception& e) {
    std::cerr << "bench_images: " << e.what() << "\n";
    return 1;
  }
  benchmark::AddCustomContext("images_dir", dir.string());

  std::vector<int> threads{1, 2, static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))};
  std::sort(threads.begin(), threads.end());
  threads.erase(std::unique(threads.begin(), threads.end()), threads.end());
  dpvae::images::Geometry decode_only;
  decode_only.expect_height = 218, decode_only.expect_width = 178;
  for (const auto& [name, geometry] : {std::pair{std::string("celeba64"), dpvae::images::celeba_geometry(64)},
                                       std::pair{std::string("decode_only"), decode_only}})
    for (int t : threads)
      benchmark::RegisterBenchmark(("images/folder/" + name + "/threads:" + std::to_string(t)).c_str(),
                                   [dir, geometry, t](benchmark::State& s) { load_folder(s, dir, geometry, t); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (!temporary.empty()) fs::remove_all(temporary);
  return 0;
}
