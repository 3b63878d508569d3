// Built against dpvae::core alone (Eigen and oneTBB; no nlohmann-json, zlib or file I/O):
// the model header must compile and link on its own, and train.
#include <dpvae/model.hpp>

#include <cstdio>

int main() {
  dpvae::ModelConfig c;
  c.architecture = dpvae::Architecture::mlp(2, 2);
  c.likelihood = dpvae::Likelihood::gaussian(50.0);
  c.dataset_size = 64;
  dpvae::DpVae<dpvae::BetaTC, dpvae::Coupling<2>> model(c);
  dpvae::Rng rng(1);
  dpvae::Matrix<float> x(64, 2);
  rng.fill_normal(std::span<float>(x.data(), static_cast<std::size_t>(x.size())));
  double first = 0, last = 0;
  for (int s = 0; s < 50; ++s) {
    last = model.train_step(x).front().second;
    if (s == 0) first = last;
  }
  std::printf("core-only model: loss %.4f -> %.4f\n", first, last);
  return std::isfinite(last) && last < first ? 0 : 1;
}
