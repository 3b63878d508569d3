// The six objectives × both priors: the whole model's hand-written gradient against central
// differences in double, the β-TCVAE and MMD estimators against brute force and their
// identities, and FactorVAE's discriminator (its own gradient, its permutation).
#include "gradcheck.hpp"

#include <dpvae/dpvae.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <map>

using namespace dpvae;
using dpvae::test::check_gradients;
using dpvae::test::check_model_gradient;

namespace {

ModelConfig small_config(Likelihood lik) {
  ModelConfig c;
  c.architecture = Architecture::mlp(5, 3, {7, 6});
  c.likelihood = lik;
  c.flow_hidden = 6;
  c.dataset_size = 1000;
  c.seed = 3;
  return c;
}

Matrix<double> data_batch(Index n, Index dim, std::uint64_t seed) {
  Rng rng(seed);
  Matrix<double> x(n, dim);
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = rng.uniform();
  return x;
}


template <class Reg>
void check_both_priors(typename Reg::template policy<double> objective, Likelihood lik) {
  const Matrix<double> x = data_batch(6, 5, 4);
  {
    DpVae<Reg, Prior<StandardNormal, double>> model(small_config(lik), objective);
    check_model_gradient(model, x);
  }
  {
    DpVae<Reg, Coupling<3, double>> model(small_config(lik), objective);
    check_model_gradient(model, x);
  }
}

}  // namespace

TEST_CASE("model gradient: VAE, both priors, Bernoulli and Gaussian likelihoods") {
  check_both_priors<Vae>({}, Likelihood::bernoulli());
  check_both_priors<Vae>({}, Likelihood::gaussian(3.0));
}

TEST_CASE("model gradient: β-VAE-H") {
  objective::BetaH<double> o;
  o.beta = 4.0;
  check_both_priors<BetaH>(o, Likelihood::bernoulli());
}

TEST_CASE("model gradient: β-VAE-B (above and below the capacity)") {
  objective::BetaB<double> o;
  o.gamma = 7.0;
  o.c_max = 0.0;  // KL > C
  check_both_priors<BetaB>(o, Likelihood::bernoulli());
  o.c_max = 1e6;
  o.capacity_steps = 1;  // C at its maximum from step 0... so KL < C
  objective::BetaB<double> o2 = o;
  o2.capacity_steps = 1e-9;
  check_both_priors<BetaB>(o2, Likelihood::bernoulli());
}

TEST_CASE("model gradient: β-TCVAE") {
  objective::BetaTC<double> o;
  o.alpha = 0.7;
  o.beta = 6.0;
  o.gamma = 1.3;
  check_both_priors<BetaTC>(o, Likelihood::bernoulli());
}

TEST_CASE("model gradient: FactorVAE (through the discriminator, which the VAE step leaves alone)") {
  objective::Factor<double> o;
  o.gamma = 5.0;
  o.discriminator_width = 8;
  o.discriminator_depth = 2;
  check_both_priors<Factor>(o, Likelihood::bernoulli());

  DpVae<Factor, Coupling<2, double>> model(small_config(Likelihood::bernoulli()), o);
  const AlignedBuffer<double> before = model.objective().discriminator_parameters();
  model.compute_gradients(data_batch(6, 5, 5));
  CHECK(model.objective().discriminator_parameters() == before);
}

TEST_CASE("model gradient: InfoVAE (MMD through the inverse flow), both kernels") {
  objective::Info<double> o;
  o.alpha = 0.2;
  o.lambda = 50;
  check_both_priors<Info>(o, Likelihood::bernoulli());
  o.kernel = MmdKernel::imq;
  check_both_priors<Info>(o, Likelihood::bernoulli());
}

TEST_CASE("FactorVAE: the discriminator's own gradient matches central differences") {
  objective::Factor<double> o;
  o.discriminator_width = 9;
  o.discriminator_depth = 3;
  Rng rng(6);
  o.setup(3, rng);
  Matrix<double> z(7, 3);
  for (Index i = 0; i < z.size(); ++i) z.data()[i] = rng.normal();
  const Matrix<double> permuted = objective::Factor<double>::permute_dims(z, rng);
  auto& params = o.discriminator_parameters();
  auto loss = [&]() { return o.discriminator_loss(z, permuted, false); };
  auto backward = [&](std::span<double> dp, std::span<double>) {
    o.discriminator_loss(z, permuted, true);
    for (std::size_t i = 0; i < dp.size(); ++i) dp[i] += o.discriminator_gradients()[i];
  };
  const auto r = check_gradients(params, {}, loss, backward);
  INFO(r.worst);
  CHECK(r.max_error < 1e-6);
}

TEST_CASE("FactorVAE: the dimension-wise permutation keeps every marginal and mixes the joint") {
  Rng rng(7);
  Matrix<double> z(50, 4);
  for (Index i = 0; i < z.size(); ++i) z.data()[i] = rng.normal();
  const Matrix<double> p = objective::Factor<double>::permute_dims(z, rng);
  for (Index k = 0; k < 4; ++k) {
    std::vector<double> a(z.col(k).data(), z.col(k).data() + 0), b;
    for (Index i = 0; i < 50; ++i) {
      a.push_back(z(i, k));
      b.push_back(p(i, k));
    }
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    CHECK(a == b);
  }
  Index same_rows = 0;
  for (Index i = 0; i < 50; ++i) same_rows += (p.row(i) == z.row(i)) ? 1 : 0;
  CHECK(same_rows < 5);
}

TEST_CASE("model gradient: β-TCVAE with minibatch stratified sampling") {
  objective::BetaTC<double> o;
  o.alpha = 0.7;
  o.beta = 6.0;
  o.gamma = 1.3;
  o.tc_estimator = TcEstimator::mss;
  check_both_priors<BetaTC>(o, Likelihood::bernoulli());
}

TEST_CASE("β-TCVAE mss: unbiased for q(z) and each q(z_k) over every batch, against the full data set") {
  // A data set of N posteriors; for z_i drawn from posterior i, every batch that holds i (i
  // first, then an ordered choice of B − 1 of the others: the estimator's weights depend on
  // the order) is enumerated. The mean over batches of exp(log q̂) must equal the full-data
  // density q(z_i) = (1/N) Σ_n q(z_i|n), and likewise for each marginal q(z_ik).
  const Index N = 6, B = 3, d = 2;
  Rng rng(12);
  Matrix<double> mu(N, d), logvar(N, d), z(N, d);
  for (Index i = 0; i < mu.size(); ++i) {
    mu.data()[i] = rng.normal();
    logvar.data()[i] = 0.4 * rng.normal();
  }
  for (Index i = 0; i < z.size(); ++i)
    z.data()[i] = mu.data()[i] + std::exp(0.5 * logvar.data()[i]) * rng.normal();
  auto log_n = [](double x, double m, double lv) { return -0.5 * (kLog2Pi + lv + (x - m) * (x - m) / std::exp(lv)); };
  MinibatchWeighted<double> est;
  for (Index i = 0; i < N; ++i) {
    double q = 0;
    Vector<double> qk = Vector<double>::Zero(d);
    for (Index n = 0; n < N; ++n) {
      double s = 0;
      for (Index k = 0; k < d; ++k) {
        s += log_n(z(i, k), mu(n, k), logvar(n, k));
        qk[k] += std::exp(log_n(z(i, k), mu(n, k), logvar(n, k))) / N;
      }
      q += std::exp(s) / N;
    }
    double mean_q = 0, count = 0;
    Vector<double> mean_qk = Vector<double>::Zero(d);
    for (Index a = 0; a < N; ++a)
      for (Index b = 0; b < N; ++b) {
        if (a == i || b == i || a == b) continue;
        const Index rows[B] = {i, a, b};
        Matrix<double> zb(B, d), mb(B, d), lb(B, d);
        for (Index r = 0; r < B; ++r) {
          zb.row(r) = z.row(rows[r]);
          mb.row(r) = mu.row(rows[r]);
          lb.row(r) = logvar.row(rows[r]);
        }
        est.forward(zb, mb, lb, static_cast<double>(N), TcEstimator::mss);
        mean_q += std::exp(est.log_qz()[0]);
        // each marginal alone: a 1-d batch of column k
        for (Index k = 0; k < d; ++k) {
          MinibatchWeighted<double> one;
          one.forward(zb.col(k), mb.col(k), lb.col(k), static_cast<double>(N), TcEstimator::mss);
          mean_qk[k] += std::exp(one.log_qz()[0]);
        }
        ++count;
      }
    CHECK(mean_q / count == doctest::Approx(q).epsilon(1e-12));
    for (Index k = 0; k < d; ++k) CHECK(mean_qk[k] / count == doctest::Approx(qk[k]).epsilon(1e-12));
  }
}

TEST_CASE("β-TCVAE: with one posterior for every point, mss gives TC = 0 and mws (d − 1)·log M") {
  const Index n = 8, d = 4;
  const double M = 60000;
  Rng rng(2);
  Matrix<double> mu = Matrix<double>::Zero(n, d), logvar = Matrix<double>::Zero(n, d), z(n, d);
  for (Index i = 0; i < z.size(); ++i) z.data()[i] = rng.normal();
  MinibatchWeighted<double> est;
  est.forward(z, mu, logvar, M, TcEstimator::mss);
  const Vector<double> exact = log_gaussian_diag(z, mu, logvar);  // q(z) = N(0, I) exactly
  CHECK((est.log_qz() - exact).cwiseAbs().maxCoeff() < 1e-12);
  CHECK((est.log_qz() - est.log_prod_qz()).cwiseAbs().maxCoeff() < 1e-12);
  est.forward(z, mu, logvar, M, TcEstimator::mws);
  CHECK((est.log_qz() - est.log_prod_qz()).mean() == doctest::Approx((d - 1) * std::log(M)).epsilon(1e-12));
  CHECK_THROWS_WITH_AS(est.forward(z, mu, logvar, 5.0, TcEstimator::mss),
                       doctest::Contains("a data set at least as large"), Error);
}

TEST_CASE("β-TCVAE: minibatch-weighted estimates equal a brute-force triple loop; I + TC + DWKL = mean KL") {
  const Index n = 5, d = 3;
  const double M = 250;
  Rng rng(8);
  Matrix<double> mu(n, d), logvar(n, d), eps(n, d);
  for (Index i = 0; i < mu.size(); ++i) {
    mu.data()[i] = rng.normal();
    logvar.data()[i] = 0.5 * rng.normal();
    eps.data()[i] = rng.normal();
  }
  const Matrix<double> z = mu + ((0.5 * logvar.array()).exp() * eps.array()).matrix();
  auto log_n = [](double x, double m, double lv) { return -0.5 * (kLog2Pi + lv + (x - m) * (x - m) / std::exp(lv)); };
  double mi = 0, tc = 0, dwkl = 0, kl = 0;
  Coupling<2, double> prior(d, 9);
  const Vector<double> lp = prior.log_prob(z);
  for (Index i = 0; i < n; ++i) {
    double qzx = 0;
    for (Index k = 0; k < d; ++k) qzx += log_n(z(i, k), mu(i, k), logvar(i, k));
    double joint = 0;  // Σ_j exp(Σ_k a_ijk) / (n M)
    for (Index j = 0; j < n; ++j) {
      double s = 0;
      for (Index k = 0; k < d; ++k) s += log_n(z(i, k), mu(j, k), logvar(j, k));
      joint += std::exp(s);
    }
    const double log_qz = std::log(joint / (n * M));
    double log_prod = 0;
    for (Index k = 0; k < d; ++k) {
      double m = 0;
      for (Index j = 0; j < n; ++j) m += std::exp(log_n(z(i, k), mu(j, k), logvar(j, k)));
      log_prod += std::log(m / (n * M));
    }
    mi += (qzx - log_qz) / n;
    tc += (log_qz - log_prod) / n;
    dwkl += (log_prod - lp[i]) / n;
    kl += (qzx - lp[i]) / n;
  }
  objective::BetaTC<double> o;
  LatentGrads<double> g;
  g.reset(n, d);
  LatentBatch<double> batch{mu, logvar, z, 0, M};
  const Terms t = latent_loss(o, batch, prior, rng, g);
  std::map<std::string, double> m(t.begin(), t.end());
  CHECK(m["mi"] == doctest::Approx(mi).epsilon(1e-12));
  CHECK(m["tc"] == doctest::Approx(tc).epsilon(1e-12));
  CHECK(m["dwkl"] == doctest::Approx(dwkl).epsilon(1e-12));
  CHECK(m["mi"] + m["tc"] + m["dwkl"] == doctest::Approx(kl).epsilon(1e-12));
}

TEST_CASE("MMD: zero in expectation for one distribution, growing with a shift") {
  Rng rng(10);
  auto sample = [&](Index n, double shift) {
    Matrix<double> m(n, 2);
    for (Index i = 0; i < m.size(); ++i) m.data()[i] = rng.normal() + shift;
    return m;
  };
  for (auto kernel : {MmdKernel::rbf, MmdKernel::imq}) {
    // Unbiased: the mean over independent pairs of same-distribution samples is 0.
    const int reps = 400;
    double sum = 0, sum_sq = 0;
    for (int r = 0; r < reps; ++r) {
      const double v = mmd_unbiased(sample(40, 0), sample(40, 0), kernel);
      sum += v;
      sum_sq += v * v;
    }
    const double mean = sum / reps, se = std::sqrt((sum_sq / reps - mean * mean) / reps);
    CHECK(std::abs(mean) < 4 * se);
    // Monotone in the shift.
    const Matrix<double> base = sample(200, 0);
    double last = -1;
    for (double shift : {0.5, 1.0, 2.0, 4.0}) {
      const double v = mmd_unbiased(base, sample(200, shift), kernel);
      CHECK(v > last);
      last = v;
    }
    CHECK(last > 10 * se);
  }
}
