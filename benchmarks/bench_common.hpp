// benchmarks/bench_common.hpp — what several benchmark binaries build alike (benchmark
// support only): the model configurations of the benchmarked data sets, random inputs, page faults.
#pragma once

#include <dpvae/dpvae.hpp>

#include <sys/resource.h>

namespace dpvae::bench {

/// The paper's MNIST model: the conv net on 28 × 28 × 1 images, latent d = 2 (the library's
/// MNIST preset, tools/run_config.hpp), Bernoulli likelihood, seed 1.
inline ModelConfig mnist_config() {
  ModelConfig c;
  c.architecture = Architecture::conv_images(28, 28, 1, 2);
  c.dataset_size = 60000;
  c.seed = 1;
  return c;
}

/// The two-moons model: the MLP 2 → 100 → 50 → 2d, d = 2, Gaussian w = 50, seed 1.
inline ModelConfig moons_config() {
  ModelConfig c;
  c.architecture = Architecture::mlp(2, 2);
  c.likelihood = Likelihood::gaussian(50.0);
  c.dataset_size = 2000;
  c.seed = 1;
  return c;
}

/// A colour set as the `dpvae` program configures it (docs/data.md "Networks and likelihood
/// for colour images"): SVHN 32 × 32 × 3 with ReLU, CelebA 64 × 64 × 3 with LeakyReLU(0.2);
/// d = 32, Gaussian w = 50, seed 1.
inline ModelConfig svhn_config() {
  ModelConfig c;
  c.architecture = Architecture::conv_images(32, 32, 3, 32);
  c.likelihood = Likelihood::gaussian(50.0);
  c.dataset_size = 73257;
  c.seed = 1;
  return c;
}
inline ModelConfig celeba_config() {
  ModelConfig c = svhn_config();
  c.architecture = Architecture::conv_images(64, 64, 3, 32, Activation::leaky_relu, 0.2);
  c.dataset_size = 162770;
  return c;
}

/// rows × cols values uniform in [0, 1), row by row: random "images" (rows are images).
inline Matrix<float> uniform_images(Index rows, Index cols, Rng& rng) {
  Matrix<float> x(rows, cols);
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(rng.uniform());
  return x;
}

/// Minor page faults of the process so far (getrusage): each is a fresh page touched, as
/// after memory was allocated anew or handed back to the OS and allocated again.
inline long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

}  // namespace dpvae::bench
