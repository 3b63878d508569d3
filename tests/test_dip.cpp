// DIP-VAE-I and DIP-VAE-II (docs/math.md "DIP-VAE-I and DIP-VAE-II"): the covariance penalty
// against explicit loops, the latent terms' and the whole model's gradients against central
// differences in double under both priors, validation of λ_od and λ_d, and short two-moons
// runs.
#include "fixtures.hpp"
#include "gradcheck.hpp"

#include <dpvae/data/two_moons.hpp>
#include <dpvae/dpvae.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <vector>

using namespace dpvae;
using dpvae::test::check_gradients;
using dpvae::test::normal_matrix;
using dpvae::test::check_model_gradient;

namespace {

/// The penalty by explicit loops: the mean, the 1/n covariance of μ built entry by entry,
/// plus the mean σ² on the diagonal when `second`.
double direct_penalty(const Matrix<double>& mu, const Matrix<double>& logvar, bool second, double lambda_od,
                      double lambda_d) {
  const Index n = mu.rows(), d = mu.cols();
  std::vector<double> m(static_cast<std::size_t>(d), 0.0);
  for (Index j = 0; j < d; ++j) {
    for (Index i = 0; i < n; ++i) m[static_cast<std::size_t>(j)] += mu(i, j);
    m[static_cast<std::size_t>(j)] /= static_cast<double>(n);
  }
  double p = 0;
  for (Index j = 0; j < d; ++j)
    for (Index k = 0; k < d; ++k) {
      double c = 0;
      for (Index i = 0; i < n; ++i)
        c += (mu(i, j) - m[static_cast<std::size_t>(j)]) * (mu(i, k) - m[static_cast<std::size_t>(k)]);
      c /= static_cast<double>(n);
      if (j == k) {
        if (second) {
          double s = 0;
          for (Index i = 0; i < n; ++i) s += std::exp(logvar(i, j));
          c += s / static_cast<double>(n);
        }
        p += lambda_d * (c - 1) * (c - 1);
      } else {
        p += lambda_od * c * c;
      }
    }
  return p;
}

std::map<std::string, double> as_map(const Terms& t) { return {t.begin(), t.end()}; }

/// ∂(latent terms)/∂(μ, log σ², z) and ∂/∂ψ of the prior (when it has parameters) against
/// central differences: μ, log σ² and z are independent inputs of latent_loss.
template <class O, class P>
void check_latent_gradient(const O& objective, P& prior, Index n, Index d, std::uint64_t seed) {
  Rng rng(seed);
  for (auto& p : prior.parameters()) p += 0.1 * rng.normal();  // a non-trivial flow
  std::vector<double> input(static_cast<std::size_t>(3 * n * d));
  for (std::size_t i = 0; i < input.size(); ++i) input[i] = (i < input.size() / 3 ? 1.0 : 0.5) * rng.normal();
  const std::size_t block = static_cast<std::size_t>(n * d);
  auto unpack = [&](std::size_t which) {
    return Matrix<double>(Eigen::Map<const Matrix<double>>(input.data() + which * block, n, d));
  };
  auto run = [&](LatentGrads<double>& g) {
    const Matrix<double> mu = unpack(0), logvar = unpack(1), z = unpack(2);
    g.reset(n, d);
    O o = objective;
    Rng unused(1);
    const LatentBatch<double> batch{mu, logvar, z, 0, 1000};
    return as_map(latent_loss(o, batch, prior, unused, g));
  };
  auto loss = [&]() {
    LatentGrads<double> g;
    return run(g).at("latent");
  };
  auto backward = [&](std::span<double> dp, std::span<double> dinput) {
    auto grads = prior.gradients();
    std::fill(grads.begin(), grads.end(), 0.0);
    LatentGrads<double> g;
    run(g);
    for (std::size_t i = 0; i < dp.size(); ++i) dp[i] += grads[i];
    std::copy(g.dmu.data(), g.dmu.data() + block, dinput.begin());
    std::copy(g.dlogvar.data(), g.dlogvar.data() + block, dinput.begin() + static_cast<std::ptrdiff_t>(block));
    std::copy(g.dz.data(), g.dz.data() + block, dinput.begin() + static_cast<std::ptrdiff_t>(2 * block));
  };
  test::GradCheckOptions opt;
  opt.max_entries = 100000;
  const auto r = check_gradients(prior.parameters(), input, loss, backward, opt);
  const std::string label = std::string(O::name) + " / " + P::Family::name + " (n " + std::to_string(n) + ", d " +
                            std::to_string(d) + ")";
  INFO(label << ": max relative error " << r.max_error << " at " << r.worst << " (" << r.checked << " entries)");
  MESSAGE(label << ": max relative error " << r.max_error << " over " << r.checked << " entries");
  CHECK(r.max_error < 1e-6);
  CHECK(r.checked == static_cast<Index>(prior.parameters().size() + input.size()));
}

template <class O>
void check_latent_gradient_both_priors(const O& objective) {
  for (auto [n, d] : {std::pair<Index, Index>{2, 1}, {2, 3}, {7, 2}, {9, 4}}) {
    Normal<double> standard(d);
    check_latent_gradient(objective, standard, n, d, static_cast<std::uint64_t>(10 * n + d));
    Coupling<6, double> decoupled(d, 17, /*hidden=*/8);
    check_latent_gradient(objective, decoupled, n, d, static_cast<std::uint64_t>(10 * n + d + 1));
  }
}


template <class Reg>
void check_model_both_priors(typename Reg::template policy<double> objective) {
  ModelConfig c;
  c.architecture = Architecture::mlp(5, 3, {7, 6});
  c.likelihood = Likelihood::bernoulli();
  c.flow_hidden = 6;
  c.dataset_size = 1000;
  c.seed = 3;
  Rng rng(4);
  Matrix<double> x(6, 5);
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = rng.uniform();
  {
    DpVae<Reg, Normal<double>> model(c, objective);
    check_model_gradient(model, x);
  }
  {
    DpVae<Reg, Coupling<6, double>> model(c, objective);
    check_model_gradient(model, x);
  }
}

/// A short two-moons run: the mean loss and the mean penalty of the last fifth of the steps
/// against the first fifth, and samples of the trained model.
template <class Model>
void check_moons_run(Model& model, int steps) {
  const auto moons = data::make_two_moons(3);
  Rng rng(4);
  const Index batch = 48;
  Matrix<float> x(batch, 2);
  std::vector<double> losses, penalties;
  for (int s = 0; s < steps; ++s) {
    for (Index i = 0; i < batch; ++i) x.row(i) = moons.train.row(static_cast<Index>(rng.below(2000)));
    const auto t = as_map(model.train_step(x));
    losses.push_back(t.at("loss"));
    penalties.push_back(t.at("dip"));
  }
  const int k = steps / 5;
  auto first = [&](const std::vector<double>& v) { return std::accumulate(v.begin(), v.begin() + k, 0.0) / k; };
  auto last = [&](const std::vector<double>& v) { return std::accumulate(v.end() - k, v.end(), 0.0) / k; };
  MESSAGE(std::string(Model::objective_name()) << " / " << std::string(Model::prior_name()) << ": loss "
          << first(losses) << " → "
                                  << last(losses) << ", dip " << first(penalties) << " → " << last(penalties));
  CHECK(last(losses) < first(losses));
  CHECK(last(penalties) < first(penalties));
  Rng srng(8);
  const Matrix<float> samples = model.sample(200, srng);
  CHECK(samples.rows() == 200);
  CHECK(samples.allFinite());
}

}  // namespace

TEST_CASE("DIP: the penalty equals a direct computation with explicit loops (I and II)") {
  Rng rng(21);
  double worst = 0;  // the largest relative difference from the loops
  for (auto [n, d] : {std::pair<Index, Index>{2, 1}, {2, 3}, {3, 1}, {5, 2}, {7, 4}, {50, 6}}) {
    const Matrix<double> mu = normal_matrix(n, d, rng, 1.3);
    const Matrix<double> logvar = normal_matrix(n, d, rng, 0.7);
    const Matrix<double> z = normal_matrix(n, d, rng);
    for (const double lod : {10.0, 0.37}) {
      for (const double ld : {100.0, 2.5}) {
        const double p1 = dip_penalty(mu, static_cast<const Matrix<double>*>(nullptr), lod, ld);
        const double p2 = dip_penalty(mu, &logvar, lod, ld);
        const double e1 = direct_penalty(mu, logvar, false, lod, ld);
        const double e2 = direct_penalty(mu, logvar, true, lod, ld);
        INFO("n " << n << ", d " << d << ", λ_od " << lod << ", λ_d " << ld << ": I " << p1 << " vs " << e1
                  << ", II " << p2 << " vs " << e2);
        CHECK(p1 == doctest::Approx(e1).epsilon(1e-12));
        CHECK(p2 == doctest::Approx(e2).epsilon(1e-12));
        worst = std::max({worst, std::abs(p1 - e1) / std::abs(e1), std::abs(p2 - e2) / std::abs(e2)});
        // The objectives report the same value as "dip", the prior's mean KL as "kl", and
        // latent = kl + dip; the KL is the same with and without the penalty.
        objective::DipI<double> o1;
        objective::DipII<double> o2;
        objective::Vae<double> vae;
        o1.lambda_od = o2.lambda_od = lod;
        o1.lambda_d = o2.lambda_d = ld;
        const Coupling<6, double> prior(d, 5, 8);
        const LatentBatch<double> batch{mu, logvar, z, 0, 1000};
        LatentGrads<double> g;
        g.reset(n, d);
        const auto t1 = as_map(latent_loss(o1, batch, prior, rng, g));
        g.reset(n, d);
        const auto t2 = as_map(latent_loss(o2, batch, prior, rng, g));
        g.reset(n, d);
        const auto tv = as_map(latent_loss(vae, batch, prior, rng, g));
        CHECK(t1.at("dip") == doctest::Approx(e1).epsilon(1e-12));
        CHECK(t2.at("dip") == doctest::Approx(e2).epsilon(1e-12));
        CHECK(t1.at("kl") == tv.at("kl"));
        CHECK(t2.at("kl") == tv.at("kl"));
        CHECK(t1.at("latent") == doctest::Approx(t1.at("kl") + t1.at("dip")).epsilon(1e-14));
        CHECK(t2.at("latent") == doctest::Approx(t2.at("kl") + t2.at("dip")).epsilon(1e-14));
      }
    }
  }
  MESSAGE("DIP penalty vs explicit loops: largest relative difference " << worst);
  // Identities: C = I gives 0 for II (equal means, σ² = 1), and for I (the n = 2 points ±e_1
  // in d = 1 have variance 1); the float version agrees with double.
  const Matrix<double> same = Matrix<double>::Constant(4, 3, 0.8), zeros = Matrix<double>::Zero(4, 3);
  CHECK(dip_penalty(same, &zeros, 10.0, 10.0) == 0.0);
  Matrix<double> pm(2, 1);
  pm << 1.0, -1.0;
  CHECK(dip_penalty(pm, static_cast<const Matrix<double>*>(nullptr), 10.0, 100.0) == 0.0);
  const Matrix<double> mu = normal_matrix(100, 2, rng), lv = normal_matrix(100, 2, rng, 0.5);
  const Matrix<float> muf = mu.cast<float>(), lvf = lv.cast<float>();
  CHECK(dip_penalty(muf, &lvf, 10.0, 10.0) == doctest::Approx(dip_penalty(mu, &lv, 10.0, 10.0)).epsilon(1e-5));
}

TEST_CASE("DIP: latent-term gradients (μ, log σ², z, ψ) match central differences, both priors") {
  objective::DipI<double> o1;
  check_latent_gradient_both_priors(o1);  // defaults: λ_od = 10, λ_d = 100
  objective::DipII<double> o2;
  check_latent_gradient_both_priors(o2);  // defaults: λ_od = λ_d = 10
  o1.lambda_od = 3.7;
  o1.lambda_d = 0.6;
  check_latent_gradient_both_priors(o1);
  o2.lambda_od = 0.4;
  o2.lambda_d = 25.0;
  check_latent_gradient_both_priors(o2);
}

TEST_CASE("DIP: whole-model gradient (encoder, decoder, flow) matches central differences, both priors") {
  objective::DipI<double> o1;
  o1.lambda_od = 4.0;
  o1.lambda_d = 30.0;
  check_model_both_priors<DipI>(o1);
  objective::DipII<double> o2;
  o2.lambda_od = 6.0;
  o2.lambda_d = 9.0;
  check_model_both_priors<DipII>(o2);
}

TEST_CASE("DIP: description, validation and hyperparameters from text") {
  const ObjectiveInfo& i1 = objective_info("dip-i");
  const ObjectiveInfo& i2 = objective_info("dip-ii");
  CHECK(i1.display("standard") == "DIP-VAE-I");
  CHECK(i1.display("decoupled") == "DIP-dpVAE-I");
  CHECK(i2.display("standard") == "DIP-VAE-II");
  CHECK(i2.display("decoupled") == "DIP-dpVAE-II");
  CHECK_FALSE(i1.official_run.exists);
  CHECK_FALSE(i2.official_run.exists);
  CHECK(i1.defaults() == HyperparameterValues{{"lambda_od", "10"}, {"lambda_d", "100"}});
  CHECK(i2.defaults() == HyperparameterValues{{"lambda_od", "10"}, {"lambda_d", "10"}});
  CHECK(i1.officials() == i1.defaults());
  CHECK(i2.officials() == i2.defaults());
  for (const auto* info : {&i1, &i2})
    for (const auto& h : info->hyperparameters) CHECK(h.rule == "finite and >= 0");

  objective::DipI<float> o;
  o.lambda_od = -1;
  CHECK_THROWS_WITH_AS(o.validate(), doctest::Contains("--lambda-od must be finite and >= 0 (got -1)"), Error);
  CHECK_THROWS_WITH_AS((DpVae<DipI, Coupling<6>>(test::moons_config(), o)), doctest::Contains("--lambda-od must be"),
                       Error);
  o.lambda_od = 1;
  o.lambda_d = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(o.validate(), doctest::Contains("dip-i: --lambda-d must be finite and >= 0"), Error);
  objective::DipII<double> o2;
  o2.lambda_d = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH_AS(o2.validate(), doctest::Contains("dip-ii: --lambda-d must be"), Error);
  CHECK_THROWS_WITH_AS(i2.check({{"lambda_od", "-0.5"}}), doctest::Contains("--lambda-od must be"), Error);

  objective::DipII<double> a;
  apply_hyperparameters(a, {{"lambda_od", "2.5"}, {"lambda_d", "0"}});
  CHECK(a.lambda_od == 2.5);
  CHECK(a.lambda_d == 0.0);
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  CHECK(hyperparameter_values(a) == Pairs{{"lambda_od", "2.5"}, {"lambda_d", "0"}});
  CHECK_THROWS_WITH_AS(apply_hyperparameters(a, {{"lambda_od", "ten"}}),
                       doctest::Contains("--lambda-od must be a number"), Error);
  CHECK_THROWS_WITH_AS(
      apply_hyperparameters(a, {{"beta", "2"}}),
      doctest::Contains("--beta does not apply to dip-ii (its hyperparameters: --lambda-od, --lambda-d)"), Error);
  objective::DipI<double> b;
  CHECK_THROWS_WITH_AS(apply_hyperparameters(b, {{"lambda_od", "-3"}}), doctest::Contains("--lambda-od must be"),
                       Error);
  i1.check({{"lambda_od", "20"}, {"lambda_d", "200"}});
}

TEST_CASE("DIP: short two-moons runs lower the loss and the penalty; samples are finite") {
  {
    DpVae<DipI, Coupling<6>> model(test::moons_config());
    check_moons_run(model, 300);
  }
  {
    DpVae<DipII, Prior<StandardNormal>> model(test::moons_config());
    check_moons_run(model, 300);
  }
}
