// tests/inception_weights.hpp — a FID Inception weight file of the real layout with random
// weights, for the tests (the real weights cannot be downloaded on the test machines).
#pragma once

#include <dpvae/eval/inception.hpp>
#include <dpvae/io/safetensors.hpp>
#include <dpvae/rng.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <vector>

namespace dpvae::test {

/// A weight file of the real layout with random BasicConv2d weights (He-scaled convolutions,
/// batch-norm statistics near 1 and 0, so activations stay of order 1 through the network).
inline io::File random_inception(Rng& rng) {
  io::File f;
  for (const auto& [name, shape] : dpvae::detail::fid_inception_layout()) {
    std::vector<float> v(static_cast<std::size_t>(std::accumulate(shape.begin(), shape.end(), std::int64_t(1),
                                                                  std::multiplies<>())));
    const bool conv = name.size() > 12 && name.substr(name.size() - 12) == ".conv.weight";
    const double fan_in = conv ? static_cast<double>(shape[1] * shape[2] * shape[3]) : 1.0;
    for (float& x : v) {
      if (conv) x = static_cast<float>(rng.normal() * std::sqrt(2.0 / fan_in));
      else if (name.ends_with(".bn.weight")) x = static_cast<float>(0.5 + rng.uniform());
      else if (name.ends_with(".bn.running_var")) x = static_cast<float>(0.5 + 1.5 * rng.uniform());
      else x = static_cast<float>(0.4 * rng.uniform() - 0.2);
    }
    f.add(name, io::Tensor::from(v.data(), shape));
  }
  return f;
}

}  // namespace dpvae::test
