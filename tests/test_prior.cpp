// The decoupled prior's identities (docs/math.md "Decoupled prior", "KL under the decoupled
// prior", "Gradients"): bijection, log-det, normalisation, KL, and both backward passes.
#include "gradcheck.hpp"

#include <dpvae/prior/priors.hpp>

#include <Eigen/LU>

#include <doctest/doctest.h>

#include <cmath>
#include <iomanip>

using namespace dpvae;
using dpvae::test::check_gradients;
using dpvae::test::normal_matrix;

namespace {

/// A prior with random, non-trivial parameters (larger than the initialisation's).
template <int K>
Coupling<K, double> random_prior(Index dim, std::uint64_t seed, double scale = 0.3, Index hidden = 64) {
  Coupling<K, double> prior(dim, seed, hidden);
  Rng rng(seed + 100);
  for (auto& p : prior.parameters()) p = scale * rng.normal();
  return prior;
}

}  // namespace

TEST_CASE("coupling flow: inverse(forward(z)) == z and forward(inverse(z0)) == z0") {
  for (Index d : {1, 2, 3, 5}) {
    auto prior = random_prior<6>(d, 11);
    Rng rng(12);
    const Matrix<double> z = normal_matrix(50, d, rng, 3.0);
    auto [z0, logdet] = prior.forward(z);
    CHECK((prior.inverse(z0) - z).cwiseAbs().maxCoeff() < 1e-12);
    CHECK((prior.forward(prior.inverse(z)).first - z).cwiseAbs().maxCoeff() < 1e-12);
    CHECK((z0 - z).cwiseAbs().maxCoeff() > 1e-2);  // the flow is not the identity
  }
}

TEST_CASE("coupling flow: log|det| equals that of a finite-difference Jacobian") {
  const Index d = 4;
  auto prior = random_prior<6>(d, 13, 0.5);
  Rng rng(14);
  const Matrix<double> z = normal_matrix(5, d, rng, 2.0);
  const auto [z0, logdet] = prior.forward(z);
  for (Index i = 0; i < z.rows(); ++i) {
    Eigen::MatrixXd jac(d, d);
    for (Index j = 0; j < d; ++j) {
      // Five-point central difference: the flow's own rounding (~1e-14 of values up to
      // e³·|z|) needs a step well above 1e-6; LeakyReLU's kinks need one well below 1e-3.
      const double h = 1e-5;
      auto at = [&](double t) {
        Matrix<double> p = z.row(i);
        p(0, j) += t;
        return Matrix<double>(prior.forward(p).first);
      };
      jac.col(j) = ((at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h)).transpose();
    }
    INFO(std::setprecision(17) << std::log(std::abs(jac.determinant())) << " vs " << logdet[i]);
    CHECK(std::log(std::abs(jac.determinant())) == doctest::Approx(logdet[i]).epsilon(1e-7));
  }
  // inverse log-det is the negative of the forward one at the image point
  typename Coupling<6, double>::Tape tape;
  Matrix<double> back;
  Vector<double> inv_logdet;
  prior.flow().inverse(z0, back, tape.flow, &inv_logdet);
  CHECK((inv_logdet + logdet).cwiseAbs().maxCoeff() < 1e-10);
}

TEST_CASE("decoupled prior: log_prob integrates to 1 over the plane") {
  // Each block may scale by up to e^±1, so p_ψ can be up to e³ wider than N(0, I): a
  // Riemann sum on [-40, 40]² holds all but a negligible part of its mass.
  auto prior = random_prior<6>(2, 15, 0.4, 16);
  const Index n = 1001;
  const double lo = -40, h = 80.0 / static_cast<double>(n - 1);
  Matrix<double> grid(n * n, 2);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < n; ++j) grid.row(i * n + j) << lo + h * static_cast<double>(i), lo + h * static_cast<double>(j);
  const double mass = prior.log_prob(grid).array().exp().sum() * h * h;
  CHECK(mass == doctest::Approx(1.0).epsilon(1e-3));
  // and the standard prior is the special case f = identity
  Normal<double> normal(2);
  CHECK(normal.log_prob(grid).array().exp().sum() * h * h == doctest::Approx(1.0).epsilon(1e-6));
}

TEST_CASE("coupling flow: backward of forward() matches central differences (z and ψ)") {
  const Index d = 3;
  auto prior = random_prior<4>(d, 16);
  Rng rng(17);
  Matrix<double> z = normal_matrix(6, d, rng, 1.5);
  const Matrix<double> w = normal_matrix(6, d, rng);
  const Vector<double> v = normal_matrix(6, 1, rng);
  typename Coupling<4, double>::Tape tape;
  auto loss = [&]() {
    Matrix<double> z0;
    Vector<double> logdet;
    prior.forward(z, z0, logdet, tape);
    return (z0.array() * w.array()).sum() + logdet.dot(v);
  };
  auto backward = [&](std::span<double> dp, std::span<double> dz) {
    std::copy(dp.begin(), dp.end(), prior.gradients().begin());
    Matrix<double> z0, dzm;
    Vector<double> logdet;
    prior.forward(z, z0, logdet, tape);
    prior.backward_forward(tape, w, v, &dzm);
    std::copy(prior.gradients().begin(), prior.gradients().end(), dp.begin());
    std::copy(dzm.data(), dzm.data() + dzm.size(), dz.begin());
  };
  const auto r = check_gradients(prior.parameters(), std::span<double>(z.data(), static_cast<std::size_t>(z.size())), loss,
                                 backward);
  INFO(r.worst);
  CHECK(r.max_error < 1e-6);
}

TEST_CASE("coupling flow: backward of inverse() matches central differences (z0 and ψ)") {
  const Index d = 4;
  auto prior = random_prior<3>(d, 18);
  Rng rng(19);
  Matrix<double> z0 = normal_matrix(5, d, rng);
  const Matrix<double> w = normal_matrix(5, d, rng);
  typename Coupling<3, double>::Tape tape;
  auto loss = [&]() {
    Matrix<double> z;
    prior.inverse(z0, z, tape);
    return (z.array() * w.array()).sum();
  };
  auto backward = [&](std::span<double> dp, std::span<double> dz0) {
    std::copy(dp.begin(), dp.end(), prior.gradients().begin());
    Matrix<double> z, dm;
    prior.inverse(z0, z, tape);
    prior.backward_inverse(tape, w, &dm);
    std::copy(prior.gradients().begin(), prior.gradients().end(), dp.begin());
    std::copy(dm.data(), dm.data() + dm.size(), dz0.begin());
  };
  const auto r = check_gradients(prior.parameters(), std::span<double>(z0.data(), static_cast<std::size_t>(z0.size())), loss,
                                 backward);
  INFO(r.worst);
  CHECK(r.max_error < 1e-6);
}

TEST_CASE("KL: gradients of both priors' KL match central differences (μ, log σ², z, ψ)") {
  const Index d = 3, n = 4;
  Rng rng(20);
  Matrix<double> mu = normal_matrix(n, d, rng), logvar = normal_matrix(n, d, rng, 0.5), z = normal_matrix(n, d, rng);
  const Vector<double> c = normal_matrix(n, 1, rng);
  // inputs packed as [μ | log σ² | z]
  std::vector<double> packed(static_cast<std::size_t>(3 * n * d));
  auto unpack = [&]() {
    for (Index i = 0; i < n * d; ++i) {
      mu.data()[i] = packed[static_cast<std::size_t>(i)];
      logvar.data()[i] = packed[static_cast<std::size_t>(n * d + i)];
      z.data()[i] = packed[static_cast<std::size_t>(2 * n * d + i)];
    }
  };
  for (Index i = 0; i < n * d; ++i) {
    packed[static_cast<std::size_t>(i)] = mu.data()[i];
    packed[static_cast<std::size_t>(n * d + i)] = logvar.data()[i];
    packed[static_cast<std::size_t>(2 * n * d + i)] = z.data()[i];
  }
  auto run = [&](auto& prior, bool decoupled) {
    typename std::decay_t<decltype(prior)>::Tape tape;
    auto loss = [&]() {
      unpack();
      return prior.kl(mu, logvar, z, tape).dot(c);
    };
    auto backward = [&](std::span<double> dp, std::span<double> din) {
      unpack();
      if constexpr (std::decay_t<decltype(prior)>::is_decoupled) std::copy(dp.begin(), dp.end(), prior.gradients().begin());
      prior.kl(mu, logvar, z, tape);
      Matrix<double> dmu = Matrix<double>::Zero(n, d), dlv = dmu, dz = dmu;
      prior.accumulate_kl_grad(tape, mu, logvar, c, dmu, dlv, dz);
      if constexpr (std::decay_t<decltype(prior)>::is_decoupled) std::copy(prior.gradients().begin(), prior.gradients().end(), dp.begin());
      for (Index i = 0; i < n * d; ++i) {
        din[static_cast<std::size_t>(i)] = dmu.data()[i];
        din[static_cast<std::size_t>(n * d + i)] = dlv.data()[i];
        din[static_cast<std::size_t>(2 * n * d + i)] = dz.data()[i];
      }
    };
    const auto r = check_gradients(prior.parameters(), packed, loss, backward);
    INFO((decoupled ? "decoupled: " : "standard: ") << r.worst);
    CHECK(r.max_error < 1e-6);
  };
  auto decoupled = random_prior<6>(d, 21);
  run(decoupled, true);
  Normal<double> standard(d);
  run(standard, false);
}

TEST_CASE("KL: with an identity flow the decoupled KL's expectation is the closed form") {
  // All flow parameters zero: s = t = tanh(0) = 0, so f is the identity. The estimator
  // −½Σ(1 + log σ²) + ½‖μ + σ ⊙ ε‖² is a quadratic in ε, so its expectation over
  // ε ~ N(0, I) is given exactly by the 2-point Gauss–Hermite rule in each dimension
  // (nodes ±1, weights ½): the mean over the 2^d sign patterns must equal the closed form.
  const Index d = 3, n = 4;
  Coupling<6, double> prior(d, 22);
  for (auto& p : prior.parameters()) p = 0.0;
  Normal<double> standard(d);
  Rng rng(23);
  const Matrix<double> mu = normal_matrix(n, d, rng), logvar = normal_matrix(n, d, rng, 0.5);
  typename Normal<double>::Tape nt;
  const Vector<double> closed = standard.kl(mu, logvar, mu, nt);
  typename Coupling<6, double>::Tape tape;
  Vector<double> mean = Vector<double>::Zero(n);
  for (int pattern = 0; pattern < (1 << d); ++pattern) {
    Matrix<double> eps(n, d);
    for (Index j = 0; j < d; ++j) eps.col(j).setConstant((pattern >> j) & 1 ? 1.0 : -1.0);
    const Matrix<double> z = mu + ((0.5 * logvar.array()).exp() * eps.array()).matrix();
    mean += prior.kl(mu, logvar, z, tape) / static_cast<double>(1 << d);
  }
  for (Index i = 0; i < n; ++i) CHECK(mean[i] == doctest::Approx(closed[i]).epsilon(1e-12));
  // and a single sample is not the closed form (the check above is not vacuous)
  Matrix<double> z = mu + (0.5 * logvar.array()).exp().matrix();
  CHECK(std::abs(prior.kl(mu, logvar, z, tape)[0] - closed[0]) > 1e-3);
}

TEST_CASE("KL: with a random flow the decoupled KL matches a brute-force integral") {
  // KL(q ‖ p_ψ) = ∫ q(z) [log q(z) − log p_ψ(z)] dz on a fine 2-D grid, against the mean of
  // docs/math.md's estimator over many reparameterised samples.
  auto prior = random_prior<6>(2, 24, 0.4, 16);
  Matrix<double> mu(1, 2), logvar(1, 2);
  mu << 0.7, -0.4;
  logvar << -0.6, 0.3;
  const Index g = 401;
  const double half = 7.0, h = 2 * half / static_cast<double>(g - 1);
  Matrix<double> grid(g * g, 2);
  for (Index i = 0; i < g; ++i)
    for (Index j = 0; j < g; ++j)
      grid.row(i * g + j) << mu(0, 0) + std::exp(0.5 * logvar(0, 0)) * (-half + h * static_cast<double>(i)),
          mu(0, 1) + std::exp(0.5 * logvar(0, 1)) * (-half + h * static_cast<double>(j));
  const Matrix<double> mus = mu.replicate(g * g, 1), lvs = logvar.replicate(g * g, 1);
  const Vector<double> log_q = (-0.5 * (kLog2Pi + lvs.array() + (grid - mus).array().square() / lvs.array().exp())).rowwise().sum().matrix();
  const Vector<double> log_p = prior.log_prob(grid);
  const double cell = h * h * std::exp(0.5 * (logvar(0, 0) + logvar(0, 1)));
  const double brute = (log_q.array().exp() * (log_q - log_p).array()).sum() * cell;

  Rng rng(25);
  const Index samples = 150000;
  Matrix<double> eps = normal_matrix(samples, 2, rng);
  const Matrix<double> ms = mu.replicate(samples, 1), ls = logvar.replicate(samples, 1);
  const Matrix<double> z = ms + ((0.5 * ls.array()).exp() * eps.array()).matrix();
  typename Coupling<6, double>::Tape tape;
  const Vector<double> kl = prior.kl(ms, ls, z, tape);
  const double mean = kl.mean();
  const double se = std::sqrt((kl.array() - mean).square().mean() / static_cast<double>(samples));
  INFO("brute force " << brute << ", estimator " << mean << " ± " << se);
  CHECK(std::abs(mean - brute) < 5 * se + 1e-4);
}
