// A downstream program against dpvae::dpvae: train, save, load into a second model.
#include <dpvae/dpvae.hpp>

#include <cstdio>
#include <filesystem>

int main() {
  const auto config = dpvae::ModelConfig::vectors(2, 2, 2000);
  const auto moons = dpvae::data::make_two_moons(1);
  dpvae::DpVae<dpvae::BetaH, dpvae::Prior<dpvae::StandardNormal>> a(config), b(config);
  for (int s = 0; s < 20; ++s) a.train_step(moons.train.topRows(100));
  const auto path = std::filesystem::temp_directory_path() / "dpvae_downstream.safetensors";
  dpvae::save(a, path);
  dpvae::load(b, path);
  std::filesystem::remove(path);
  const bool same = std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin());
  std::printf("app: saved and loaded %zu parameters: %s\n", a.parameters().size(), same ? "equal" : "DIFFERENT");
  return same ? 0 : 1;
}
