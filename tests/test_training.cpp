// Training end to end on two-moons: every objective × prior lowers its loss; runs are
// reproducible (same seed → bit-identical parameters, for any thread count); save → load
// restores a model whose outputs are identical; bad values are rejected with clear errors.
#include "fixtures.hpp"
#include <dpvae/data/two_moons.hpp>
#include <dpvae/dpvae.hpp>

#include <doctest/doctest.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <filesystem>
#include <numeric>

using namespace dpvae;

using test::moons_config;

namespace {

template <class Model>
std::pair<double, double> train_moons(Model& model, int steps, Index batch = 48) {
  const auto moons = data::make_two_moons(3);
  Rng rng(4);
  Matrix<float> x(batch, 2);
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) {
    for (Index i = 0; i < batch; ++i) x.row(i) = moons.train.row(static_cast<Index>(rng.below(2000)));
    losses.push_back(model.train_step(x).front().second);
  }
  const int k = steps / 5;
  const double first = std::accumulate(losses.begin(), losses.begin() + k, 0.0) / k;
  const double last = std::accumulate(losses.end() - k, losses.end(), 0.0) / k;
  return {first, last};
}

template <class Reg>
void check_lowers_loss(typename Reg::template policy<float> objective, int steps = 200) {
  {
    DpVae<Reg, Prior<StandardNormal>> model(moons_config(), objective);
    const auto [first, last] = train_moons(model, steps);
    INFO(Reg::name << " / standard: " << first << " → " << last);
    CHECK(last < first);
  }
  {
    DpVae<Reg, Coupling<6>> model(moons_config(), objective);
    const auto [first, last] = train_moons(model, steps);
    INFO(Reg::name << " / decoupled: " << first << " → " << last);
    CHECK(last < first);
  }
}

}  // namespace

TEST_CASE("a short two-moons run lowers the loss for all 12 objective × prior pairs") {
  check_lowers_loss<Vae>({});
  check_lowers_loss<BetaH>({});
  objective::BetaB<float> bb;
  bb.gamma = 20;
  bb.c_max = 5;
  bb.capacity_steps = 1e6;  // C ≈ 0 over the run, so the loss is comparable over time
  check_lowers_loss<BetaB>(bb);
  check_lowers_loss<BetaTC>({});
  objective::Factor<float> f;
  f.discriminator_width = 200;  // the paper's 5 × 1000 works too, more slowly
  check_lowers_loss<Factor>(f, 150);
  check_lowers_loss<Info>({});
}

TEST_CASE_TEMPLATE("training is reproducible: same seed, same parameters, for 1 and 2 threads", M,
                   DpVae<BetaTC, Coupling<6>>, DpVae<Info, Coupling<6>>) {
  // The decoder's pass and the latent terms run as concurrent tasks in every step (InfoVAE's
  // draws prior samples there); neither the scheduling nor the thread count may show.
  auto run = [](int threads) {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
    ModelConfig c = ModelConfig::images(28, 28, 1, 2, 60000);
    c.seed = 9;
    M model(c);
    Rng rng(1);
    Matrix<float> x(100, 784);
    for (int s = 0; s < 3; ++s) {
      for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(rng.uniform());
      model.train_step(x);
    }
    return std::vector<float>(model.parameters().begin(), model.parameters().end());
  };
  const auto a = run(2), b = run(2), c = run(1);
  CHECK(a == b);
  CHECK(a == c);
}

TEST_CASE("a moved model continues exactly where it was") {
  ModelConfig c = moons_config();
  const Matrix<float> x = data::make_two_moons(3).train.topRows(64);
  DpVae<BetaTC, Coupling<6>> reference(c), moved_from(c);
  for (int s = 0; s < 20; ++s) {
    reference.train_step(x);
    moved_from.train_step(x);
  }
  DpVae<BetaTC, Coupling<6>> moved = std::move(moved_from);
  std::vector<DpVae<BetaTC, Coupling<6>>> models;
  models.push_back(std::move(moved));
  models.emplace_back(c);  // may reallocate: the first model moves again
  for (int s = 0; s < 10; ++s) {
    reference.train_step(x);
    models.front().train_step(x);
  }
  CHECK(std::vector<float>(reference.parameters().begin(), reference.parameters().end()) ==
        std::vector<float>(models.front().parameters().begin(), models.front().parameters().end()));
  Rng r1(4), r2(4);
  CHECK(reference.sample(8, r1) == models.front().sample(8, r2));
}

TEST_CASE("a model refuses data outside its likelihood's domain, a missing data-set size and bad counts") {
  // Bernoulli on real-valued data: refused on the batch, naming the range.
  DpVae<Vae, Coupling<2>> images(ModelConfig::images(16, 16, 1, 2, 100));
  Matrix<float> x = Matrix<float>::Constant(4, 256, 0.5f);
  CHECK_NOTHROW(images.train_step(x));
  x(1, 2) = -1.5f;
  CHECK_THROWS_WITH_AS(images.train_step(x), doctest::Contains("needs data in [0, 1]"), Error);
  // β-TCVAE without the data-set size M.
  ModelConfig c = ModelConfig::vectors(2, 2, 0);
  CHECK_THROWS_WITH_AS((DpVae<BetaTC, Coupling<2>>(c)), doctest::Contains("dataset_size"), Error);
  CHECK_NOTHROW((DpVae<BetaH, Coupling<2>>(c)));
  // Counts at the boundary.
  DpVae<BetaH, Coupling<2>> m(ModelConfig::vectors(2, 2, 100));
  Rng rng(1);
  CHECK_THROWS_AS(m.sample(-1, rng), Error);
  CHECK_THROWS_AS(m.sample(0, rng), Error);
  CHECK_THROWS_AS(m.encode(Matrix<float>(0, 2)), Error);
  CHECK_THROWS_AS(m.decode(Matrix<float>(3, 5)), Error);
  CHECK_THROWS_AS(m.train_step(Matrix<float>(1, 2)), Error);
  // A hyperparameter set out of range through objective() is refused before the next step.
  m.objective().beta = -1.0;
  CHECK_THROWS_WITH_AS(m.train_step(Matrix<float>::Zero(4, 2)), doctest::Contains("--beta must be"), Error);
}

TEST_CASE("save → load restores identical outputs, optimizer and RNG state") {
  const auto dir = std::filesystem::temp_directory_path() / ("dpvae-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ModelConfig c = moons_config();
  objective::Factor<float> f;
  f.discriminator_width = 32;
  DpVae<Factor, Coupling<6>> a(c, f);
  train_moons(a, 20);
  save(a, dir / "a.safetensors");
  c.seed = 77;  // a different initialisation, overwritten by load
  DpVae<Factor, Coupling<6>> b(c, f);
  load(b, dir / "a.safetensors");
  Rng r1(3), r2(3);
  CHECK(a.sample(10, r1) == b.sample(10, r2));
  CHECK(a.step() == b.step());
  // the next steps agree too: Adam moments, discriminator and RNG streams were restored
  const auto ta = train_moons(a, 5), tb = train_moons(b, 5);
  CHECK(ta == tb);
  CHECK(std::vector<float>(a.parameters().begin(), a.parameters().end()) ==
        std::vector<float>(b.parameters().begin(), b.parameters().end()));
  // a checkpoint of another model is refused, and the model is left unchanged
  DpVae<Factor, Prior<StandardNormal>> other(c, f);
  const std::vector<float> before(other.parameters().begin(), other.parameters().end());
  CHECK_THROWS_WITH_AS(load(other, dir / "a.safetensors"), doctest::Contains("checkpoint of another model"), Error);
  CHECK(std::vector<float>(other.parameters().begin(), other.parameters().end()) == before);
  std::filesystem::remove_all(dir);
}

TEST_CASE("bad values are rejected at the boundary with the rule stated") {
  ModelConfig c = moons_config();
  objective::BetaH<float> bh;
  bh.beta = -1;
  CHECK_THROWS_WITH_AS((DpVae<BetaH, Coupling<6>>(c, bh)), doctest::Contains("beta must be finite and >= 0"), Error);
  c.architecture.latent_dim = 0;
  CHECK_THROWS_AS((DpVae<Vae, Coupling<6>>(c)), Error);
  DpVae<Vae, Coupling<6>> m(moons_config());
  CHECK_THROWS_WITH_AS(m.train_step(Matrix<float>::Zero(4, 3)), doctest::Contains("expects 2"), Error);
  Matrix<float> nan = Matrix<float>::Zero(4, 2);
  nan(1, 1) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(m.train_step(nan), doctest::Contains("step 1: the loss term 'recon' is not finite"), NumericalError);
}

TEST_CASE("Minibatches: each epoch draws every row once; ThreadLimit bounds the threads") {
  Matrix<float> x(10, 2);
  for (Index i = 0; i < 10; ++i) x.row(i) << static_cast<float>(i), static_cast<float>(-i);
  data::Minibatches<float> batches(x, 3, 7);
  std::vector<int> seen(10, 0);
  for (int b = 0; b < 3; ++b) {  // one epoch: 3 batches of 3, the last row of the permutation dropped
    const Matrix<float>& m = batches.next();
    REQUIRE(m.rows() == 3);
    for (Index i = 0; i < 3; ++i) {
      CHECK(m(i, 1) == -m(i, 0));
      ++seen[static_cast<std::size_t>(m(i, 0))];
    }
  }
  CHECK(batches.epoch() == 1);
  CHECK(std::count(seen.begin(), seen.end(), 1) == 9);
  CHECK(std::count(seen.begin(), seen.end(), 0) == 1);
  batches.next();
  CHECK(batches.epoch() == 2);
  CHECK_THROWS_AS(data::Minibatches<float>(x, 11), Error);
  CHECK(data::gather_rows(x, {4, 1})(1, 0) == 1.0f);
  CHECK_THROWS_AS(data::gather_rows(x, {10}), Error);
  {
    ThreadLimit limit(1);
    CHECK(tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism) == 1);
  }
  CHECK_THROWS_AS(ThreadLimit(0), Error);
}
