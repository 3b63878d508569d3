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
