// tests/golden.hpp — access to tests/data/golden/vectors.json (copied from ../shared/golden/,
// computed independently from docs/math.md in float64; its README states the conventions).
#pragma once

#include <dpvae/core.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace dpvae::test {

/// The parsed golden file (read once).
inline const nlohmann::json& golden() {
  static const nlohmann::json j = [] {
    std::ifstream in(DPVAE_GOLDEN_PATH);
    REQUIRE_MESSAGE(in, "cannot open " DPVAE_GOLDEN_PATH);
    return nlohmann::json::parse(in);
  }();
  return j;
}

/// A nested JSON list as a row-major matrix (rows are points).
inline Matrix<double> mat(const nlohmann::json& j) {
  const auto r = static_cast<Index>(j.size());
  const auto c = static_cast<Index>(j[0].size());
  Matrix<double> m(r, c);
  for (Index i = 0; i < r; ++i)
    for (Index k = 0; k < c; ++k) m(i, k) = j[static_cast<std::size_t>(i)][static_cast<std::size_t>(k)].get<double>();
  return m;
}
inline Vector<double> vec(const nlohmann::json& j) {
  Vector<double> v(static_cast<Index>(j.size()));
  for (Index i = 0; i < v.size(); ++i) v[i] = j[static_cast<std::size_t>(i)].get<double>();
  return v;
}

}  // namespace dpvae::test
