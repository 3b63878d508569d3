// dpvae/data/two_moons.hpp — the two-moons toy data set (scikit-learn's make_moons).
//
// The paper's two-moons experiment uses 2000 training points and 200 validation points
// with noise 0.05 (official code, dataset.py, which calls sklearn.datasets.make_moons).
// The geometry and sampling follow make_moons exactly; the random stream is dpvae::Rng,
// so the points are not sklearn's, but a seed gives the same points on every platform.
#pragma once

#include "dpvae/core.hpp"
#include "dpvae/rng.hpp"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace dpvae::data {

/// n points of two interleaving half circles in R² (scikit-learn's make_moons, shuffle=True):
///   outer moon, n_out = ⌊n/2⌋ points: (cos t, sin t),             t = linspace(0, π, n_out);
///   inner moon, n_in = n − n_out points: (1 − cos t, 1 − sin t − 0.5), t = linspace(0, π, n_in);
/// the rows are shuffled (rng.permutation), then N(0, noise²) is added to every coordinate
/// (rng.normal(), row by row), as make_moons does. Returns an n × 2 matrix; if asked, fills
/// `labels` (0 outer, 1 inner) and `position` (t/π ∈ [0, 1], the place along the moon before
/// noise) in the shuffled row order. Throws Error if n < 2 or noise is negative or not finite.
template <class T = double>
Matrix<T> two_moons(Index n, double noise, Rng& rng, std::vector<int>* labels = nullptr,
                    std::vector<double>* position = nullptr) {
  dpvae::detail::require(n >= 2, "two_moons: n = " + std::to_string(n) +
                                     "; need at least 2 points (one per moon)");
  dpvae::detail::require(std::isfinite(noise) && noise >= 0.0,
                         "two_moons: noise = " + std::to_string(noise) +
                             "; the noise standard deviation must be finite and >= 0");
  constexpr double kPi = 3.14159265358979323846264338327950288;
  const Index n_out = n / 2;
  const Index n_in = n - n_out;
  // numpy's linspace(0, π, m): t_i = π·i/(m − 1), and [0] when m = 1.
  auto fraction = [](Index i, Index m) {
    return m > 1 ? static_cast<double>(i) / static_cast<double>(m - 1) : 0.0;
  };

  Matrix<double> x(n, 2);
  std::vector<int> y(static_cast<std::size_t>(n));
  std::vector<double> s(static_cast<std::size_t>(n));
  for (Index i = 0; i < n_out; ++i) {
    const double u = fraction(i, n_out);
    x(i, 0) = std::cos(kPi * u);
    x(i, 1) = std::sin(kPi * u);
    y[static_cast<std::size_t>(i)] = 0;
    s[static_cast<std::size_t>(i)] = u;
  }
  for (Index i = 0; i < n_in; ++i) {
    const double u = fraction(i, n_in);
    const Index r = n_out + i;
    x(r, 0) = 1.0 - std::cos(kPi * u);
    x(r, 1) = 1.0 - std::sin(kPi * u) - 0.5;
    y[static_cast<std::size_t>(r)] = 1;
    s[static_cast<std::size_t>(r)] = u;
  }

  const std::vector<std::int64_t> perm = rng.permutation(n);
  Matrix<T> out(n, 2);
  if (labels != nullptr) labels->resize(static_cast<std::size_t>(n));
  if (position != nullptr) position->resize(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    const auto src = static_cast<std::size_t>(perm[static_cast<std::size_t>(i)]);
    const auto row = static_cast<Index>(src);
    for (Index c = 0; c < 2; ++c) {
      const double eps = noise > 0.0 ? noise * rng.normal() : 0.0;
      out(i, c) = static_cast<T>(x(row, c) + eps);
    }
    if (labels != nullptr) (*labels)[static_cast<std::size_t>(i)] = y[src];
    if (position != nullptr) (*position)[static_cast<std::size_t>(i)] = s[src];
  }
  return out;
}

/// The two-moons training and test sets as float matrices (n × 2) with their moon labels.
struct TwoMoons {
  Matrix<float> train;
  Matrix<float> test;
  std::vector<int> train_labels;
  std::vector<int> test_labels;
  std::vector<double> train_position;  ///< t/π ∈ [0, 1] along each point's moon
  std::vector<double> test_position;
};

/// Draws the paper's two-moons data (defaults: 2000 training points, 200 test points,
/// noise 0.05; see two_moons). Train and test come from two independent streams split off
/// Rng(seed), so changing n_train leaves the test set unchanged. Throws Error as two_moons.
inline TwoMoons make_two_moons(std::uint64_t seed, Index n_train = 2000, Index n_test = 200,
                               double noise = 0.05) {
  Rng root(seed);
  Rng train_rng = root.split();
  Rng test_rng = root.split();
  TwoMoons d;
  d.train = two_moons<float>(n_train, noise, train_rng, &d.train_labels, &d.train_position);
  d.test = two_moons<float>(n_test, noise, test_rng, &d.test_labels, &d.test_position);
  return d;
}

}  // namespace dpvae::data
