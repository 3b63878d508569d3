// tests/cuda/cuda_test_util.hpp — shared helpers of the CUDA backend tests.
// Tolerances (normwise: max |cuda − cpu| / max |cpu|): float 1e-5 and double 1e-12 for one
// operation; copies (im2col) and col2im, which sums in the CPU's order, must be exact.
// Networks and models compound rounding over many layers: float 1e-4, double 1e-10.
#pragma once

#include <doctest/doctest.h>

#include <dpvae/backend/cuda.hpp>
#include <dpvae/rng.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <utility>
#include <vector>

namespace dpvae::cuda_test {

using dpvae::Cpu;
using dpvae::Cuda;
using dpvae::Index;

template <class T>
std::vector<T> random_vector(std::size_t n, dpvae::Rng& rng, double scale = 1.0) {
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(scale * rng.normal());
  return v;
}

/// max |a − b| / max |b| (b the CPU reference; 1 when b is all zeros).
template <class T>
double rel_error(const T* a, const T* b, std::size_t n) {
  double diff = 0, ref = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isnan(static_cast<double>(a[i])) != std::isnan(static_cast<double>(b[i])))
      return std::numeric_limits<double>::infinity();
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    ref = std::max(ref, std::abs(static_cast<double>(b[i])));
  }
  return diff / (ref > 0 ? ref : 1.0);
}
template <class T, class A1, class A2>
double rel_error(const std::vector<T, A1>& a, const std::vector<T, A2>& b) {
  REQUIRE(a.size() == b.size());
  return rel_error(a.data(), b.data(), a.size());
}

template <class T>
constexpr double op_tol() {
  return sizeof(T) == 4 ? 1e-5 : 1e-12;
}
template <class T>
constexpr double net_tol() {
  return sizeof(T) == 4 ? 1e-4 : 1e-10;
}

/// Runs `op` with host pointers (staged) and with device copies of the same buffers (in
/// place); returns both results of the output buffer `out` (given its initial contents).
template <class T, class Op>
std::pair<std::vector<T>, std::vector<T>> both_paths(const std::vector<std::vector<T>>& inputs,
                                                     const std::vector<T>& out, Op op) {
  std::vector<const T*> host_in;
  for (const auto& v : inputs) host_in.push_back(v.data());
  std::vector<T> host_out = out;
  op(host_in, host_out.data());

  std::vector<dpvae::DeviceBuffer<T>> dev;
  std::vector<const T*> dev_in;
  for (const auto& v : inputs) {
    dev.emplace_back(v.data(), static_cast<Index>(v.size()));
    dev_in.push_back(dev.back().data());
  }
  dpvae::DeviceBuffer<T> dev_out(out.data(), static_cast<Index>(out.size()));
  op(dev_in, dev_out.data());
  std::vector<T> device_result(out.size());
  dev_out.download(device_result.data());
  return {host_out, device_result};
}

}  // namespace dpvae::cuda_test
