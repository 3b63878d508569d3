// Tests for dpvae/eval/expost.hpp: the ex-post Gaussian mixture. Its density against an
// independent evaluation (explicit inverse and determinant) and against quadrature (it
// integrates to 1), the one-component fit against the closed-form ML estimates, recovery of a
// known mixture, EM's monotone log-likelihood, the sampler's moments, thread independence,
// and the errors.
#include <dpvae/eval/expost.hpp>

#include <doctest/doctest.h>
#include <tbb/global_control.h>

#include <Eigen/LU>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

using namespace dpvae;

namespace {

/// N points from a fixed 3-component mixture in 2-D: weights .5/.3/.2, distinct
/// full covariances.
Matrix<double> three_clusters(Index n, std::uint64_t seed) {
  Rng rng(seed);
  const double mu[3][2] = {{-4, 0}, {3, 3}, {2, -4}};
  const double l[3][3] = {{1.0, 0.5, 0.4}, {0.3, -0.2, 0.8}, {0.6, 0.0, 0.2}};  // L = [[a, 0], [b, c]]
  Matrix<double> z(n, 2);
  for (Index i = 0; i < n; ++i) {
    const double u = rng.uniform();
    const int c = u < 0.5 ? 0 : u < 0.8 ? 1 : 2;
    const double e0 = rng.normal(), e1 = rng.normal();
    z(i, 0) = mu[c][0] + l[c][0] * e0;
    z(i, 1) = mu[c][1] + l[c][1] * e0 + l[c][2] * e1;
  }
  return z;
}

/// log Σ_k π_k N(z; μ_k, Σ_k) with the explicit inverse and determinant.
double brute_log_prob(const ExPostGmm& g, const Eigen::RowVectorXd& z) {
  double s = 0;
  const Index d = g.dim();
  for (Index k = 0; k < g.components(); ++k) {
    const Eigen::MatrixXd cov = g.covariance(k);
    const Eigen::VectorXd diff = (z - g.means().row(k)).transpose();
    const double q = diff.dot(cov.inverse() * diff);
    s += g.weights()(k) * std::exp(-0.5 * q) / std::sqrt(std::pow(2 * std::numbers::pi, static_cast<double>(d)) * cov.determinant());
  }
  return std::log(s);
}

}  // namespace

TEST_CASE("ExPostGmm: one component is the sample mean and the ML covariance (+ reg)") {
  const Matrix<double> z = three_clusters(500, 3);
  GmmOptions o;
  o.components = 1;
  o.reg = 1e-6;
  const ExPostGmm g = ExPostGmm::fit(z, o);
  const Eigen::RowVectorXd mean = z.colwise().mean();
  const Matrix<double> centred = z.rowwise() - mean;
  Matrix<double> cov = centred.transpose() * centred / static_cast<double>(z.rows());
  cov.diagonal().array() += 1e-6;
  CHECK((g.means().row(0) - mean).norm() < 1e-12);
  CHECK((g.covariance(0) - cov).norm() < 1e-10);
  CHECK(g.weights()(0) == doctest::Approx(1.0).epsilon(1e-14));
  CHECK(g.converged());
}

TEST_CASE("ExPostGmm: log_prob against an independent evaluation, and it integrates to 1") {
  const Matrix<double> z = three_clusters(3000, 5);
  GmmOptions o;
  o.components = 3;
  const ExPostGmm g = ExPostGmm::fit(z, o);
  const Vector<double> lp = g.log_prob(z.topRows(50));
  for (Index i = 0; i < 50; ++i) CHECK(lp(i) == doctest::Approx(brute_log_prob(g, z.row(i))).epsilon(1e-11));
  // Midpoint rule on [-12, 12]² with h = 0.05: the tails beyond are < 1e-10 of the mass.
  const double h = 0.05;
  const Index m = 480;
  Matrix<double> grid(m * m, 2);
  for (Index a = 0; a < m; ++a)
    for (Index b = 0; b < m; ++b) grid(a * m + b, 0) = -12 + (static_cast<double>(a) + 0.5) * h, grid(a * m + b, 1) = -12 + (static_cast<double>(b) + 0.5) * h;
  const Vector<double> lg = g.log_prob(grid);
  CHECK(lg.array().exp().sum() * h * h == doctest::Approx(1.0).epsilon(1e-6));
}

TEST_CASE("ExPostGmm: recovers a known mixture; EM's log-likelihood never decreases; thread count does not matter") {
  const Matrix<double> z = three_clusters(20000, 7);
  GmmOptions o;
  o.components = 3;
  const ExPostGmm g = ExPostGmm::fit(z, o);
  REQUIRE(g.converged());
  const auto& h = g.log_likelihood_history();
  for (std::size_t i = 1; i < h.size(); ++i) CHECK(h[i] >= h[i - 1] - 1e-12);
  // Match components to the truth by their means.
  const double mu[3][2] = {{-4, 0}, {3, 3}, {2, -4}};
  const double w[3] = {0.5, 0.3, 0.2};
  for (int c = 0; c < 3; ++c) {
    Index best = 0;
    for (Index k = 1; k < 3; ++k)
      if (std::hypot(g.means()(k, 0) - mu[c][0], g.means()(k, 1) - mu[c][1]) <
          std::hypot(g.means()(best, 0) - mu[c][0], g.means()(best, 1) - mu[c][1]))
        best = k;
    CHECK(std::hypot(g.means()(best, 0) - mu[c][0], g.means()(best, 1) - mu[c][1]) < 0.05);
    CHECK(g.weights()(best) == doctest::Approx(w[c]).epsilon(0.05));
  }
  // The fitted mixture scores its data better than the single Gaussian does.
  GmmOptions one = o;
  one.components = 1;
  CHECK(g.log_prob(z).mean() > ExPostGmm::fit(z, one).log_prob(z).mean() + 0.5);
  // One thread or all: the same fit to the bit.
  tbb::global_control single(tbb::global_control::max_allowed_parallelism, 1);
  const ExPostGmm g1 = ExPostGmm::fit(z, o);
  CHECK(g1.means() == g.means());
  CHECK(g1.iterations() == g.iterations());
}

TEST_CASE("ExPostGmm: samples have the mixture's mean and covariance") {
  const Matrix<double> z = three_clusters(4000, 9);
  GmmOptions o;
  o.components = 3;
  const ExPostGmm g = ExPostGmm::fit(z, o);
  Rng rng(11);
  const Index n = 200000;
  const Matrix<double> s = g.sample(n, rng);
  Eigen::RowVectorXd mean = Eigen::RowVectorXd::Zero(2);
  Eigen::MatrixXd second = Eigen::MatrixXd::Zero(2, 2);
  for (Index k = 0; k < 3; ++k) {
    mean += g.weights()(k) * g.means().row(k);
    second += g.weights()(k) * (g.covariance(k) + g.means().row(k).transpose() * g.means().row(k));
  }
  const Eigen::MatrixXd cov = second - mean.transpose() * mean;
  const Eigen::RowVectorXd sm = s.colwise().mean();
  const Matrix<double> c = s.rowwise() - sm;
  const Eigen::MatrixXd scov = c.transpose() * c / static_cast<double>(n - 1);
  for (Index j = 0; j < 2; ++j) CHECK(std::abs(sm(j) - mean(j)) < 5 * std::sqrt(cov(j, j) / static_cast<double>(n)));
  CHECK((scov - cov).norm() < 0.05 * cov.norm());
}

TEST_CASE("ExPostGmm: bad input is refused with a message") {
  Matrix<double> z = three_clusters(20, 1);
  GmmOptions o;
  o.components = 30;
  CHECK_THROWS_WITH_AS(ExPostGmm::fit(z, o), "ExPostGmm::fit: 20 points for 30 components", Error);
  o.components = 2;
  z(3, 1) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH_AS(ExPostGmm::fit(z, o), doctest::Contains("not all finite"), Error);
  z(3, 1) = 0;
  o.reg = -1;
  CHECK_THROWS_AS(ExPostGmm::fit(z, o), Error);
  o.reg = 1e-6;
  const ExPostGmm g = ExPostGmm::fit(z, o);
  CHECK_THROWS_WITH_AS(g.log_prob(Matrix<double>::Zero(2, 3)), doctest::Contains("points of 3 dimensions for a 2-d mixture"), Error);
  // Duplicated points (a collapsed encoder): reg keeps every covariance positive definite.
  const Matrix<double> same = Matrix<double>::Constant(50, 2, 0.25);
  const ExPostGmm d = ExPostGmm::fit(same, o);
  CHECK(std::isfinite(d.log_prob(same)(0)));
}

// ------------------------------------------------------------------------------------------
// ExPostFlow: the coupling flow fitted ex-post (docs/math.md "Ex-post samplers").
// ------------------------------------------------------------------------------------------

namespace {

/// A flow with random (non-identity) parameters and a non-trivial standardisation, by
/// fitting a few steps to points and then perturbing every parameter.
ExPostFlow random_flow(std::uint64_t seed) {
  FlowFitOptions o;
  o.blocks = 3;
  o.hidden = 8;
  o.steps = 5;
  o.batch = 64;
  o.seed = seed;
  ExPostFlow f = ExPostFlow::fit_to_points(three_clusters(300, seed), o);
  Rng rng(seed + 100);
  for (double& w : f.parameters()) w += 0.1 * rng.normal();
  return f;
}

}  // namespace

TEST_CASE("ExPostFlow: the fitting loss's gradient matches central finite differences (double)") {
  ExPostFlow f = random_flow(3);
  const Matrix<double> u = f.standardise(three_clusters(40, 9));
  AlignedBuffer<double> grad(static_cast<std::size_t>(f.num_parameters())), scratch(grad.size());
  const double loss = f.loss_and_gradient(u, grad);
  CHECK(std::isfinite(loss));
  const double h = 1e-5;
  double worst = 0;
  auto w = f.parameters();
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double keep = w[i];
    w[i] = keep + h;
    const double up = f.loss_and_gradient(u, scratch);
    w[i] = keep - h;
    const double down = f.loss_and_gradient(u, scratch);
    w[i] = keep;
    const double fd = (up - down) / (2 * h);
    worst = std::max(worst, std::abs(fd - grad[i]) / std::max(1e-3, std::abs(fd) + std::abs(grad[i])));
  }
  CHECK(worst < 1e-6);
  CHECK(f.loss_and_gradient(u, scratch) == doctest::Approx(loss).epsilon(1e-14));  // the pass keeps no state
}

TEST_CASE("ExPostFlow: log_prob is the change of variables (finite-difference Jacobian) and integrates to 1") {
  const ExPostFlow f = random_flow(5);
  // log p(z) = log N(f(s(z))) + log|det ∂f(s(z))/∂z|, the Jacobian of z ↦ f(s(z)) by central differences.
  Rng rng(11);
  for (int t = 0; t < 5; ++t) {
    Matrix<double> z(1, 2);
    z << 3 * rng.normal(), 3 * rng.normal();
    const auto map = [&](const Matrix<double>& p) { return f.flow().forward(f.standardise(p)).first; };
    Eigen::Matrix2d jac;
    const double h = 1e-5;
    for (int j = 0; j < 2; ++j) {
      Matrix<double> a = z, b = z;
      a(0, j) += h;
      b(0, j) -= h;
      jac.col(j) = ((map(a) - map(b)) / (2 * h)).transpose();
    }
    const double expected = log_standard_normal(map(z))(0) + std::log(std::abs(jac.determinant()));
    CHECK(f.log_prob(z)(0) == doctest::Approx(expected).epsilon(1e-7));
    CHECK(f.log_generation_density(z)(0) == doctest::Approx(log_standard_normal(map(z))(0)).epsilon(1e-12));
  }
  // Midpoint quadrature over a box that holds all but a negligible mass.
  const double lo = -30, hi = 30;
  const Index m = 1000;
  const double cell = (hi - lo) / static_cast<double>(m);
  Matrix<double> grid(m * m, 2);
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < m; ++j) grid.row(i * m + j) << lo + (static_cast<double>(i) + 0.5) * cell, lo + (static_cast<double>(j) + 0.5) * cell;
  const double mass = f.log_prob(grid).array().exp().sum() * cell * cell;
  MESSAGE("mass on the grid: " << mass);
  CHECK(mass == doctest::Approx(1.0).epsilon(1e-3));
}

TEST_CASE("ExPostFlow: samples invert the flow; a fit to q(z) comes close to q(z) (KL against the exact mixture)") {
  // Posteriors around the three clusters' points: q(z) is a mixture of 1,500 Gaussians whose
  // exact log-density AggregatePosterior gives, so KL(q ‖ p_flow) = E_q[log q − log p_flow].
  const Matrix<double> mu = three_clusters(1500, 21);
  const Matrix<double> logvar = Matrix<double>::Constant(1500, 2, std::log(0.1));
  FlowFitOptions o;
  o.steps = 1500;
  o.batch = 256;
  o.seed = 4;
  const ExPostFlow f = ExPostFlow::fit_to_posteriors(mu, logvar, o);
  CHECK(f.shift()(0) == doctest::Approx(mu.col(0).mean()).epsilon(1e-12));
  const double var0 = (mu.col(0).array() - mu.col(0).mean()).square().mean() + 0.1;
  CHECK(f.scale()(0) == doctest::Approx(std::sqrt(var0)).epsilon(1e-9));
  const AggregatePosterior q(mu, logvar);
  Rng rng(8);
  const Matrix<double> zq = q.sample(4000, rng);
  const double kl_flow = (q.log_prob(zq) - f.log_prob(zq)).mean();
  // The best single Gaussian (the flow with no blocks at its standardisation) for scale.
  const Vector<double> log_gauss = (log_standard_normal(f.standardise(zq)).array() - f.scale().array().log().sum()).matrix();
  const double kl_gauss = (q.log_prob(zq) - log_gauss).mean();
  MESSAGE("KL(q || flow) = " << kl_flow << " nats, KL(q || Gaussian) = " << kl_gauss << " nats");
  CHECK(kl_flow > -0.05);  // a KL, up to Monte Carlo error
  CHECK(kl_flow < 0.15);
  CHECK(kl_flow < 0.25 * kl_gauss);
  CHECK(f.loss_history().back() < f.loss_history().front());
  // sample() is s⁻¹ ∘ f⁻¹ of standard normal draws: mapping the samples forward gives the draws back.
  Rng a(77), b(77);
  const Matrix<double> s = f.sample(200, a);
  Matrix<double> z0(200, 2);
  b.fill_normal(std::span<double>(z0.data(), static_cast<std::size_t>(z0.size())));
  CHECK((f.flow().forward(f.standardise(s)).first - z0).cwiseAbs().maxCoeff() < 1e-9);
  // The same seed gives the same fit, whatever the thread count (and wherever the heap puts
  // its buffers: Eigen's vectorised kernels round by alignment, so every buffer is aligned).
  // A fit's first steps do not depend on how many follow, so the first 100 of a 1-thread fit
  // must repeat the losses above bit for bit (an unaligned buffer diverged at step 14).
  tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
  FlowFitOptions short_fit = o;
  short_fit.steps = 100;
  const ExPostFlow g = ExPostFlow::fit_to_posteriors(mu, logvar, short_fit);
  REQUIRE(g.loss_history().size() == 100);
  bool same = true;
  for (std::size_t k = 0; k < 100; ++k) same = same && g.loss_history()[k] == f.loss_history()[k];
  CHECK(same);
  const ExPostFlow h = ExPostFlow::fit_to_posteriors(mu, logvar, short_fit);
  CHECK((g.log_prob(zq) - h.log_prob(zq)).cwiseAbs().maxCoeff() == 0.0);
}

TEST_CASE("ExPostFlow: bad input is refused with a message") {
  Matrix<double> z = three_clusters(50, 1);
  CHECK_THROWS_WITH_AS(ExPostFlow::fit_to_posteriors(z, Matrix<double>::Zero(49, 2)),
                       "ExPostFlow::fit: the means and log-variances differ in shape", Error);
  z(3, 1) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH_AS(ExPostFlow::fit_to_points(z), doctest::Contains("not all finite"), Error);
  FlowFitOptions o;
  o.batch = 0;
  CHECK_THROWS_AS(ExPostFlow::fit_to_points(three_clusters(50, 1), o), Error);
  o = {};
  o.steps = 2;
  const ExPostFlow f = ExPostFlow::fit_to_points(three_clusters(50, 1), o);
  CHECK_THROWS_WITH_AS(f.log_prob(Matrix<double>::Zero(2, 3)), doctest::Contains("3 dimensions for a 2-d flow"), Error);
}

// ------------------------------------------------------------------------------------------
// LP samples under the official minibatch estimate of q(z) (tools/latents.hpp).
// ------------------------------------------------------------------------------------------
#if __has_include("latents.hpp")
#include "latents.hpp"

TEST_CASE("minibatch-q LP selection: each kept latent is among the B lowest of its group under that group's mixture") {
  // A sampler that hands out a fixed sequence of candidates, so that each group's candidates are known.
  Rng src(5);
  Matrix<float> pool(4000, 2);
  for (Index i = 0; i < pool.rows(); ++i) pool.row(i) << static_cast<float>(2 * src.normal()), static_cast<float>(2 * src.normal());
  Index next = 0;
  cli::LatentSampler s{"fixed",
                       [&](Index n, Rng&) {
                         Matrix<float> z = pool.middleRows(next, n);
                         next += n;
                         return z;
                       },
                       nullptr, nullptr};
  Matrix<float> mu(60, 2), lv(60, 2);
  for (Index i = 0; i < 60; ++i) mu.row(i) << static_cast<float>(src.normal()), static_cast<float>(src.normal()), lv.row(i) << -1.0f, -0.5f;
  Rng rng(3), replay(3);
  const Index n = 25, candidates = 250, batch = 10;  // 3 groups of 10 (the last keeps 5), 100 candidates each
  const Matrix<float> got = cli::low_posterior_latents_minibatch(s, mu, lv, n, candidates, batch, rng);
  REQUIRE(next == 300);
  for (Index g = 0; g < 3; ++g) {
    const std::vector<std::int64_t> perm = replay.permutation(60);  // the group's posteriors, as drawn
    const std::vector<Index> idx(perm.begin(), perm.begin() + batch);
    Matrix<double> gm(batch, 2), gl(batch, 2);
    for (Index r = 0; r < batch; ++r) gm.row(r) = mu.row(idx[static_cast<std::size_t>(r)]).cast<double>(), gl.row(r) = lv.row(idx[static_cast<std::size_t>(r)]).cast<double>();
    // Brute force: log q_B(z) = log mean_r N(z; μ_r, σ_r²), then the lowest `keep` of the group's 100.
    std::vector<std::pair<double, Index>> scored;
    for (Index c = 0; c < 100; ++c) {
      double sum = 0;
      for (Index r = 0; r < batch; ++r) {
        double lp = 0;
        for (Index k = 0; k < 2; ++k) {
          const double diff = pool(g * 100 + c, k) - gm(r, k);
          lp += -0.5 * (std::log(2 * std::numbers::pi) + gl(r, k) + diff * diff / std::exp(gl(r, k)));
        }
        sum += std::exp(lp);
      }
      scored.emplace_back(std::log(sum / static_cast<double>(batch)), g * 100 + c);
    }
    std::sort(scored.begin(), scored.end());
    const Index keep = std::min<Index>(batch, n - g * batch);
    for (Index r = 0; r < keep; ++r) CHECK((got.row(g * batch + r) - pool.row(scored[static_cast<std::size_t>(r)].second)).norm() == 0.0f);
  }
  CHECK_THROWS_AS(cli::low_posterior_latents_minibatch(s, mu, lv, n, candidates, 61, rng), Error);
  CHECK_THROWS_AS(cli::low_posterior_latents_minibatch(s, mu, lv, n, n - 1, batch, rng), Error);
}
#endif
