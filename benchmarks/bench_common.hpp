// benchmarks/bench_common.hpp — what several benchmark binaries build alike (benchmark
// support only): the paper's MNIST model configuration, random inputs, page faults.
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
