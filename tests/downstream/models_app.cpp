// A downstream program against dpvae::models: it includes only dpvae/any_model.hpp (no model
// type is compiled here), builds a model by name, trains it, saves it and rebuilds it from the
// checkpoint alone with load_model.
#include <dpvae/any_model.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>

int main() {
  auto model = dpvae::make_model("beta-tc", "decoupled", dpvae::ModelConfig::vectors(2, 2, 2000), {{"beta", "2"}});
  dpvae::Rng rng(1);
  dpvae::Matrix<float> x(64, 2);
  for (int s = 0; s < 20; ++s) {
    rng.fill_normal(std::span<float>(x.data(), static_cast<std::size_t>(x.size())));
    model->train_step(x);
  }
  const auto path = std::filesystem::temp_directory_path() / "dpvae_downstream_models.safetensors";
  model->save(path);
  const auto back = dpvae::load_model(path);
  std::filesystem::remove(path);
  const auto a = model->parameters(), b = back->parameters();
  const bool same = back->objective_name() == "beta-tc" && back->hyperparameters().at("beta") == "2" &&
                    std::equal(a.begin(), a.end(), b.begin(), b.end());
  std::printf("models_app: %s/%s rebuilt from its checkpoint: %s\n", back->objective_name().c_str(),
              back->prior_name().c_str(), same ? "equal" : "DIFFERENT");
  return same ? 0 : 1;
}
