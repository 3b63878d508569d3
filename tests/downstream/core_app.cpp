// A downstream program against dpvae::core: a VAE on real-valued vectors trains.
#include <dpvae/model.hpp>

#include <cmath>
#include <cstdio>

int main() {
  const auto config = dpvae::ModelConfig::vectors(3, 2, 64);
  dpvae::DpVae<dpvae::Vae, dpvae::Prior<dpvae::StandardNormal>> model(config);
  dpvae::Rng rng(1);
  dpvae::Matrix<float> x(64, 3);
  rng.fill_normal(std::span<float>(x.data(), static_cast<std::size_t>(x.size())));
  double first = 0, last = 0;
  for (int s = 0; s < 40; ++s) {
    last = model.train_step(x).front().second;
    if (s == 0) first = last;
  }
  std::printf("core_app: loss %.3f -> %.3f\n", first, last);
  return std::isfinite(last) && last < first ? 0 : 1;
}
