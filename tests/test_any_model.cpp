// The precompiled models (dpvae::models, dpvae/any_model.hpp): a checkpoint holds the whole
// configuration, ModelConfig::entries round-trips, load_model rebuilds the saved model from the
// file alone and continues it bit-identically, and every way a file can fail is one message.
#include "fixtures.hpp"
#include <dpvae/any_model.hpp>
#include <dpvae/data/two_moons.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <unistd.h>

using namespace dpvae;

namespace {

std::map<std::string, std::string> as_map(const std::vector<std::pair<std::string, std::string>>& e) {
  return {e.begin(), e.end()};
}

ModelConfig round_trip(const ModelConfig& c) {
  const auto m = as_map(c.entries());
  return ModelConfig::from_entries(
      [&](const std::string& k) -> const std::string* {
        const auto it = m.find(k);
        return it == m.end() ? nullptr : &it->second;
      },
      "test");
}

struct TempDir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("dpvae-any-model-" + std::to_string(::getpid()));
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
};

Matrix<float> moons_batch(std::uint64_t seed, Index n = 64) {
  const auto moons = data::make_two_moons(3);
  Rng rng(seed);
  Matrix<float> x(n, 2);
  for (Index i = 0; i < n; ++i) x.row(i) = moons.train.row(static_cast<Index>(rng.below(2000)));
  return x;
}

std::vector<float> params(std::span<float> p) { return {p.begin(), p.end()}; }

}  // namespace

TEST_CASE("ModelConfig::entries round-trips every field, and a broken entry is named") {
  ModelConfig a = ModelConfig::images(32, 28, 3, 16, 73257);
  a.architecture.conv_channels = 48;
  a.adam.lr = 3.0e-4 / 7.0;  // not a short decimal: the shortest round-trip form must restore it exactly
  a.logvar_min = -12.5;
  a.seed = 0xFFFFFFFFFFFFFFFFull;
  a.flow_blocks = 4;
  ModelConfig b = ModelConfig::vectors(5, 3, 1000, 0.3);
  b.architecture.hidden = {7, 11, 13};
  ModelConfig leaky = ModelConfig::images(64, 64, 3, 32, 162770);  // the CelebA net: LeakyReLU(0.2)
  leaky.architecture.activation = Activation::leaky_relu;
  leaky.architecture.leaky_slope = 0.2;
  for (const ModelConfig& c : {a, b, leaky, ModelConfig{}}) {
    const ModelConfig r = round_trip(c);
    CHECK(r.entries() == c.entries());
    CHECK(r.architecture.activation == c.architecture.activation);
    if (c.architecture.activation == Activation::leaky_relu) CHECK(r.architecture.leaky_slope == c.architecture.leaky_slope);
    CHECK(r.adam.lr == c.adam.lr);
    CHECK(r.likelihood.weight == c.likelihood.weight);
    CHECK(r.architecture.hidden == c.architecture.hidden);
    CHECK(r.seed == c.seed);
  }
  auto m = as_map(a.entries());
  const auto parse = [&] {
    return ModelConfig::from_entries(
        [&](const std::string& k) -> const std::string* {
          const auto it = m.find(k);
          return it == m.end() ? nullptr : &it->second;
        },
        "f.safetensors");
  };
  m.erase("adam.beta2");
  CHECK_THROWS_WITH_AS(parse(), "f.safetensors: the entry config.adam.beta2 is missing", Error);
  m = as_map(a.entries());
  m["architecture.width"] = "28x";
  CHECK_THROWS_WITH_AS(parse(), doctest::Contains("config.architecture.width = '28x' is not a valid value"), Error);
  m["architecture.width"] = "99999999999";
  CHECK_THROWS_WITH_AS(parse(), doctest::Contains("config.architecture.width"), Error);
  m = as_map(a.entries());
  m["likelihood"] = "poisson";
  CHECK_THROWS_WITH_AS(parse(), doctest::Contains("config.likelihood = 'poisson'"), Error);
  m = as_map(leaky.entries());
  m["architecture.activation"] = "gelu";
  CHECK_THROWS_WITH_AS(parse(), doctest::Contains("config.architecture.activation = 'gelu'"), Error);
  m = as_map(leaky.entries());
  m["architecture.leaky_slope"] = "1.5";
  CHECK_THROWS_WITH_AS(parse(), doctest::Contains("config.architecture.leaky_slope = '1.5'"), Error);
  m = as_map(a.entries());  // a checkpoint from before the activation was recorded: ReLU
  CHECK(m.count("architecture.activation") == 0);
  CHECK(parse().architecture.activation == Activation::relu);
  m["logvar_max"] = "-20";  // parses, but the range is empty
  CHECK_THROWS_WITH_AS(parse(), doctest::Contains("the recorded config is not valid"), Error);
}

TEST_CASE("load_model rebuilds a typed model's checkpoint from the file alone and continues it bit-identically") {
  TempDir dir;
  ModelConfig c = test::moons_config(11);
  c.flow_blocks = 6;
  objective::BetaTC<float> o;
  o.beta = 3.5;
  DpVae<BetaTC, Coupling<6>> typed(c, o);
  for (int s = 0; s < 15; ++s) typed.train_step(moons_batch(100 + s));
  save(typed, dir.path / "m.safetensors");

  auto any = load_model(dir.path / "m.safetensors");
  CHECK(any->objective_name() == "beta-tc");
  CHECK(any->prior_name() == "decoupled");
  CHECK(any->decoupled());
  CHECK(any->hyperparameters().at("beta") == "3.5");
  CHECK(any->config().entries() == c.entries());
  CHECK(any->settings() == typed.settings());
  CHECK(any->step() == 15);
  CHECK(params(any->parameters()) == params(typed.parameters()));
  Rng r1(9), r2(9);
  CHECK(any->sample(8, r1) == typed.sample(8, r2));
  // the next steps agree bit for bit: Adam moments, the RNG and the step were restored
  for (int s = 0; s < 5; ++s) {
    const Matrix<float> x = moons_batch(200 + s);
    const Terms ta = typed.train_step(x), tb = any->train_step(x);
    CHECK(ta == tb);
  }
  CHECK(params(any->parameters()) == params(typed.parameters()));

  // save from AnyModel → load into the typed model, and into a second AnyModel
  any->save(dir.path / "n.safetensors");
  DpVae<BetaTC, Coupling<6>> again(c, o);
  load(again, dir.path / "n.safetensors");
  CHECK(params(again.parameters()) == params(any->parameters()));
  CHECK(params(load_model(dir.path / "n.safetensors")->parameters()) == params(any->parameters()));
}

TEST_CASE("make_model by name, the standard prior, and hyperparameters set through AnyModel") {
  TempDir dir;
  auto m = make_model("beta-h", "standard", test::moons_config(3), {{"beta", "2"}});
  CHECK(m->hyperparameters().at("beta") == "2");
  CHECK_THROWS_WITH_AS(m->set_hyperparameters({{"beta", "-1"}}), doctest::Contains("--beta must be"), Error);
  CHECK(m->hyperparameters().at("beta") == "2");  // unchanged after a refused value
  CHECK_THROWS_WITH_AS(m->set_hyperparameters({{"gamma", "1"}}), doctest::Contains("gamma"), Error);
  m->set_hyperparameters({{"beta", "4"}});
  for (int s = 0; s < 3; ++s) m->train_step(moons_batch(s));
  m->save(dir.path / "h.safetensors");
  auto back = load_model(dir.path / "h.safetensors");
  CHECK(back->prior_name() == "standard");
  CHECK(back->hyperparameters().at("beta") == "4");
  CHECK(params(back->parameters()) == params(m->parameters()));
  // FactorVAE owns a discriminator: a refused value restores the others, and training goes on.
  auto f = make_model("factor", "decoupled", test::moons_config(4), {{"discriminator_width", "16"}});
  f->set_hyperparameters({{"gamma", "3"}});
  CHECK_THROWS_AS(f->set_hyperparameters({{"gamma", "4"}, {"discriminator_lr", "-1"}}), Error);
  CHECK(f->hyperparameters().at("gamma") == "3");
  // The discriminator's shape is fixed once built: a new width is refused, the old one kept.
  CHECK_THROWS_WITH_AS(f->set_hyperparameters({{"discriminator_width", "32"}}),
                       doctest::Contains("fixed when the model is built (built 16 wide, 5 deep; now 32, 5)"), Error);
  CHECK(f->hyperparameters().at("discriminator_width") == "16");
  for (int s = 0; s < 3; ++s) CHECK(std::isfinite(f->train_step(moons_batch(s)).loss()));
  CHECK_THROWS_WITH_AS(make_model("beta-hh", "standard", test::moons_config()), doctest::Contains("beta-h"), Error);
  CHECK_THROWS_WITH_AS(make_model("vae", "flat", test::moons_config()), doctest::Contains("unknown prior 'flat'"),
                       Error);
}

TEST_CASE("load_model refuses what it cannot rebuild, in one line naming the file") {
  TempDir dir;
  const auto path = dir.path / "m.safetensors";
  DpVae<Vae, Prior<StandardNormal>> model(test::moons_config());
  model.train_step(moons_batch(1));
  io::File f;
  write_checkpoint(model, f);

  io::File old = f;  // a checkpoint from before configs were recorded
  std::erase_if(old.metadata, [](const auto& kv) { return kv.first.rfind("config.", 0) == 0; });
  io::save(path, old);
  CHECK_THROWS_WITH_AS(load_model(path), doctest::Contains("does not record its model's configuration"), Error);

  io::File other = f;
  other.metadata["objective"] = "beta-q";
  io::save(path, other);
  CHECK_THROWS_WITH_AS(load_model(path), doctest::Contains("objective 'beta-q' is not one of"), Error);

  io::File lied = f;  // the recorded latent size disagrees with the tensors
  lied.metadata["config.latent_dim"] = "3";
  io::save(path, lied);
  CHECK_THROWS_WITH_AS(load_model(path), doctest::Contains("checkpoint of another model"), Error);

  DpVae<Vae, Prior<StandardNormal, double>> dbl(test::moons_config());
  save(dbl, path);
  CHECK_THROWS_WITH_AS(load_model(path), doctest::Contains("f64 model"), Error);

  CHECK_THROWS_AS(load_model(dir.path / "missing.safetensors"), Error);
}
