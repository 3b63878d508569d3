// Shared test fixtures: the two-moons model configuration used across the suites.
#pragma once

#include <dpvae/dpvae.hpp>

#include <cstdint>

namespace dpvae::test {

/// The two-moons MLP (2 → 100 → 50 → 2d, d = 2), Gaussian likelihood w = 50, Adam 1e-3,
/// the official data-set size (2,000), and the given seed.
inline ModelConfig moons_config(std::uint64_t seed = 5) {
  ModelConfig c;
  c.architecture = Architecture::mlp(2, 2);
  c.likelihood = Likelihood::gaussian(50.0);
  c.adam.lr = 1e-3;
  c.dataset_size = 2000;
  c.seed = seed;
  return c;
}

}  // namespace dpvae::test
