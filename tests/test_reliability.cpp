// Numerical faults: a non-finite step changes nothing (parameters, both
// Adam states, the step) and can be skipped; log σ² is clamped; the flow's bounded scales
// and shifts keep f⁻¹ of a far-out z0 finite for any parameters; the minibatch estimators
// sum densities with logsumexp, so far-apart points give finite log densities.
#include "fixtures.hpp"
#include <dpvae/dpvae.hpp>

#include <doctest/doctest.h>

#include <limits>
#include <vector>

using namespace dpvae;

using test::moons_config;

namespace {

Matrix<float> moons_batch(Index n, std::uint64_t seed) {
  Rng rng(seed);
  Matrix<float> x(n, 2);
  rng.fill_normal(std::span<float>(x.data(), static_cast<std::size_t>(x.size())));
  return x;
}

template <class S>
std::vector<float> copy(const S& s) {
  return std::vector<float>(s.begin(), s.end());
}

}  // namespace

TEST_CASE("a non-finite step changes no parameter, no Adam state and not the step; skip_step counts it") {
  DpVae<Factor, Coupling<2>> m(moons_config());
  for (int s = 0; s < 3; ++s) m.train_step(moons_batch(16, static_cast<std::uint64_t>(s)));
  const auto params = copy(m.parameters());
  const auto am = copy(m.optimizer().first_moment()), av = copy(m.optimizer().second_moment());
  const auto dparams = copy(m.objective().discriminator_parameters());
  const auto dm = copy(m.objective().discriminator_optimizer().first_moment());
  const auto adam_steps = m.optimizer().steps(), dsteps = m.objective().discriminator_optimizer().steps();
  Matrix<float> x = moons_batch(16, 9);
  x(3, 1) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(m.train_step(x), doctest::Contains("step 4: the loss term 'recon' is not finite"), NumericalError);
  CHECK(m.step() == 3);
  CHECK(copy(m.parameters()) == params);
  CHECK(copy(m.optimizer().first_moment()) == am);
  CHECK(copy(m.optimizer().second_moment()) == av);
  CHECK(m.optimizer().steps() == adam_steps);
  CHECK(copy(m.objective().discriminator_parameters()) == dparams);
  CHECK(copy(m.objective().discriminator_optimizer().first_moment()) == dm);
  CHECK(m.objective().discriminator_optimizer().steps() == dsteps);
  m.skip_step();
  CHECK(m.step() == 4);
  CHECK(copy(m.parameters()) == params);
  // and training goes on from there
  const Terms t = m.train_step(moons_batch(16, 10));
  CHECK(std::isfinite(t.front().second));
  CHECK(m.step() == 5);
  CHECK(copy(m.parameters()) != params);
}

TEST_CASE("a non-finite discriminator is caught before any update") {
  DpVae<Factor, Prior<StandardNormal>> m(moons_config());
  m.train_step(moons_batch(16, 1));
  // A discriminator weight of +inf: the VAE's loss term 'tc' turns non-finite first.
  auto dp = m.objective().discriminator_parameters();
  dp[0] = std::numeric_limits<float>::infinity();
  std::copy(dp.begin(), dp.end(), m.objective().discriminator_parameters().begin());
  const auto params = copy(m.parameters());
  CHECK_THROWS_AS(m.train_step(moons_batch(16, 2)), NumericalError);
  CHECK(copy(m.parameters()) == params);
  CHECK(m.step() == 1);
}

TEST_CASE("log σ² is clamped to [logvar_min, logvar_max] and the KL stays finite") {
  ModelConfig c = moons_config();
  DpVae<Vae, Prior<StandardNormal>> m(c);
  for (auto& p : m.parameters()) p *= 50.0f;  // an encoder driven far out
  Matrix<float> x = moons_batch(64, 3) * 1e4f;
  auto [mu, logvar] = m.encode(x);
  CHECK(logvar.minCoeff() >= static_cast<float>(c.logvar_min));
  CHECK(logvar.maxCoeff() <= static_cast<float>(c.logvar_max));
  // the clamp is active somewhere at both ends for this input
  CHECK(logvar.minCoeff() == static_cast<float>(c.logvar_min));
  CHECK(logvar.maxCoeff() == static_cast<float>(c.logvar_max));
}

TEST_CASE("the flow's scales and shifts are bounded: f⁻¹ of z0 = ±1e3 is finite for any parameters") {
  Coupling<6> prior(4, /*seed=*/11);
  Rng rng(12);
  for (const float scale : {1.0f, 100.0f, 1e4f}) {
    // parameters far outside anything training produces
    for (auto& p : prior.parameters()) p = static_cast<float>(rng.normal()) * scale;
    Matrix<float> z0(4, 4);
    z0 << 1e3f, 1e3f, 1e3f, 1e3f, -1e3f, -1e3f, -1e3f, -1e3f, 1e3f, -1e3f, 1e3f, -1e3f, 0, 0, 0, 1e3f;
    const Matrix<float> z = prior.inverse(z0);
    INFO("parameter scale " << scale);
    CHECK(z.allFinite());
    // each block scales by at most e and shifts by at most 1: |z| ≤ e^K (|z0| + K)
    CHECK(z.cwiseAbs().maxCoeff() <= std::exp(6.0f) * (1e3f + 6.0f));
    const auto [back, logdet] = prior.forward(z);
    CHECK(back.allFinite());
    CHECK(logdet.allFinite());
    CHECK(logdet.cwiseAbs().maxCoeff() <= 6.0f * 2.0f);  // K blocks, |s| < 1 on ≤ ⌈d/2⌉ = 2 dims
    CHECK(prior.log_prob(z).allFinite());
  }
}

TEST_CASE("β-TCVAE's minibatch estimators use logsumexp: far-apart points give finite log densities") {
  const Index n = 8, d = 3;
  Matrix<double> mu(n, d), logvar = Matrix<double>::Constant(n, d, -20.0), z(n, d);
  Rng rng(2);
  for (Index i = 0; i < n; ++i)
    for (Index k = 0; k < d; ++k) {
      mu(i, k) = 1e3 * static_cast<double>(i) + rng.normal();
      z(i, k) = mu(i, k) + 1e-5 * rng.normal();
    }
  MinibatchWeighted<double> mws;
  mws.forward(z, mu, logvar, 1000.0);
  // Each point lies in its own posterior only: the other B − 1 densities underflow to 0.
  CHECK(mws.log_qz().allFinite());
  CHECK(mws.log_prod_qz().allFinite());
  Matrix<double> far = z;
  // Far from every posterior: log N ≈ −1e16 for every j, exp underflows to 0 for all of
  // them, so a plain log Σ exp would be −inf; logsumexp gives the finite value.
  far.row(0).setConstant(-5e3);
  mws.forward(far, mu, logvar, 1000.0);
  CHECK(std::isfinite(mws.log_qz()[0]));
  CHECK(mws.log_qz()[0] < -1e10);
  CHECK(std::isfinite(mws.log_prod_qz()[0]));
}
