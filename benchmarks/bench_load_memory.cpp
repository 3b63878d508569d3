// bench_load_memory — the peak memory of loading an image folder with dpvae::images, measured
// in a process of its own (the kernel's high-water mark only grows, so each measurement needs
// a fresh process; benchmarks/run_images.sh runs one per case).
//
//   bench_load_memory DIR [--size S] [--cache] [--expect-cache written|read] [--threads T]
//
// Loads DIR with load_image_folder at celeba_geometry(S) (default 64: decode, crop 140 × 140,
// resize to S × S; the files must be 178 × 218, e.g. from `bench_images --write-jpegs`) on T
// oneTBB threads (default: all cores), with DecodeOptions::cache when --cache is given
// (--expect-cache fails the run unless DecodeReport::cache says the cache was written to, or
// read from, its file), and prints one JSON object:
//   files, count, height, width, channels   what was loaded (files: count + skipped)
//   array_bytes          count × height × width × channels, the uint8 ImageArray's pixels
//   baseline_rss_bytes   the process's resident set just before loading (VmRSS)
//   peak_rss_bytes       its peak resident set after loading (getrusage ru_maxrss, KiB × 1024)
//   extra_over_array     (peak − baseline) ÷ array_bytes: 1 is the array alone (target ≤ 1.2)
//   wall_s               seconds of load_image_folder, wall clock
//   cache                DecodeReport::cache ("" without --cache)
#include <dpvae/images/datasets.hpp>

#include <sys/resource.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

namespace {

/// The value in bytes of a "Key:   N kB" line of /proc/self/status (0 when absent).
long long proc_status_bytes(const std::string& key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key + ":", 0) == 0) return std::atoll(line.c_str() + key.size() + 1) * 1024;
  return 0;
}

/// The process's peak resident set in bytes (getrusage: ru_maxrss is in KiB on Linux).
long long peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<long long>(u.ru_maxrss) * 1024;
}

/// `s` as a JSON string.
std::string quoted(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) q += c;
  }
  return q + "\"";
}

int usage() {
  std::cerr << "usage: bench_load_memory DIR [--size S] [--cache] [--expect-cache written|read] [--threads T]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string dir = argv[1];
  dpvae::Index size = 64;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  bool cache = false;
  std::string expect;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--cache")
      cache = true;
    else if (a == "--size" && i + 1 < argc)
      size = std::atoll(argv[++i]);
    else if (a == "--threads" && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (a == "--expect-cache" && i + 1 < argc)
      expect = argv[++i];
    else
      return usage();
  }
  if (threads < 1 || (!expect.empty() && expect != "written" && expect != "read")) return usage();
  try {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
    dpvae::images::DecodeOptions o;
    o.geometry = dpvae::images::celeba_geometry(size);
    o.cache = cache;
    const long long baseline = proc_status_bytes("VmRSS");
    const auto t0 = std::chrono::steady_clock::now();
    const dpvae::images::ImageFolder f = dpvae::images::load_image_folder(dir, o);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const long long peak = peak_rss_bytes();
    const dpvae::data::ImageArray& a = f.images;
    const long long bytes = static_cast<long long>(a.count * a.height * a.width * a.channels);
    if (!expect.empty() && f.report.cache.rfind(expect == "written" ? "written to" : "read from", 0) != 0) {
      std::cerr << "bench_load_memory: the cache was expected to be " << expect << ", but: " << f.report.cache << "\n";
      return 1;
    }
    std::cout << "{\"files\": " << a.count + f.report.skipped << ", \"count\": " << a.count << ", \"height\": " << a.height
              << ", \"width\": " << a.width << ", \"channels\": " << a.channels << ", \"threads\": " << threads
              << ", \"array_bytes\": " << bytes << ", \"baseline_rss_bytes\": " << baseline
              << ", \"peak_rss_bytes\": " << peak
              << ", \"extra_over_array\": " << static_cast<double>(peak - baseline) / static_cast<double>(bytes)
              << ", \"wall_s\": " << wall << ", \"cache\": " << quoted(f.report.cache) << "}\n";
  } catch (const std::exception& e) {
    std::cerr << "bench_load_memory: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
