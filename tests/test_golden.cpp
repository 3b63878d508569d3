// The reference values of tests/data/golden/vectors.json (copied from ../shared/golden/,
// computed independently from docs/math.md in float64; its README states the conventions).
// Tolerance: 1e-9 relative in double, as the README asks.
#include <dpvae/dpvae.hpp>

#include "golden.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <fstream>

using namespace dpvae;
using json = nlohmann::json;
using dpvae::test::golden;
using dpvae::test::mat;
using dpvae::test::vec;

namespace {

void check_close(const Matrix<double>& got, const Matrix<double>& want, double rel = 1e-9) {
  REQUIRE(got.rows() == want.rows());
  REQUIRE(got.cols() == want.cols());
  for (Index i = 0; i < got.size(); ++i) {
    INFO("entry " << i << ": got " << got.data()[i] << ", want " << want.data()[i]);
    CHECK(std::abs(got.data()[i] - want.data()[i]) <= rel * std::max(1.0, std::abs(want.data()[i])));
  }
}
void check_close(double got, double want, double rel = 1e-9) {
  INFO("got " << got << ", want " << want);
  CHECK(std::abs(got - want) <= rel * std::max(1.0, std::abs(want)));
}

/// The golden flow loaded into dpvae's decoupled prior (checking the masks agree).
Coupling<6, double> load_prior(const json& flow, Index d) {
  Coupling<6, double> prior(d, 0);
  auto params = prior.parameters();
  std::size_t off = 0;
  for (std::size_t k = 0; k < 6; ++k) {
    const Vector<double> mask = vec(flow["masks"][k]);
    for (Index j = 0; j < d; ++j) REQUIRE(prior.flow().block(static_cast<Index>(k)).mask()[j] == mask[j]);
    for (const char* net : {"s", "t"})
      for (const auto& layer : flow["blocks"][k][net]) {
        const Matrix<double> w = mat(layer["weight"]);
        const Vector<double> b = vec(layer["bias"]);
        for (Index i = 0; i < w.size(); ++i) params[off++] = w.data()[i];
        for (Index i = 0; i < b.size(); ++i) params[off++] = b[i];
      }
  }
  REQUIRE(off == params.size());
  return prior;
}

struct Case {
  Index d, batch;
  double dataset_size;
  Matrix<double> x, mu, logvar, eps, z0_prior, z;
  const json* expected;
  const json* inputs;
};
Case load_case(const json& c) {
  Case k{c["d"].get<Index>(), c["batch"].get<Index>(), c["dataset_size_M"].get<double>(), mat(c["inputs"]["x"]),
         mat(c["inputs"]["mu"]), mat(c["inputs"]["logvar"]), mat(c["inputs"]["eps"]), mat(c["inputs"]["z0_prior"]),
         {}, &c["expected"], &c["inputs"]};
  k.z = k.mu + ((0.5 * k.logvar.array()).exp() * k.eps.array()).matrix();
  return k;
}

}  // namespace

TEST_CASE("golden: priors, KL forms and the reconstruction term") {
  for (const auto& c : golden()["cases"]) {
    const Case k = load_case(c);
    const json& e = *k.expected;
    CAPTURE(k.d);
    check_close(k.z, mat(e["z"]));
    // the linear decoder of the vectors, with dpvae's Linear layer
    const Linear<double> dec(k.d, k.x.cols());
    std::vector<double> dp;
    const Matrix<double> w = mat((*k.inputs)["decoder_weight"]);
    const Vector<double> b = vec((*k.inputs)["decoder_bias"]);
    dp.assign(w.data(), w.data() + w.size());
    dp.insert(dp.end(), b.data(), b.data() + b.size());
    Matrix<double> logits, scratch;
    dec.forward(dp.data(), k.z, logits, scratch);
    check_close(logits, mat(e["decoder_logits"]));
    const Vector<double> recon = Likelihood::bernoulli().loss(k.x, logits);
    check_close(recon, vec(e["recon_bernoulli_per_sample"]));

    auto prior = load_prior((*k.inputs)["flow"], k.d);
    Normal<double> standard(k.d);
    const auto [z0, logdet] = prior.forward(k.z);
    check_close(z0, mat(e["flow_forward_z0"]));
    check_close(logdet, vec(e["flow_forward_logdet"]));
    const Vector<double> lp_dec = prior.log_prob(k.z), lp_std = standard.log_prob(k.z);
    check_close(lp_dec, vec(e["log_prob_decoupled"]));
    check_close(lp_std, vec(e["log_prob_standard"]));
    const Vector<double> log_qzx = log_gaussian_diag(k.z, k.mu, k.logvar);
    check_close(log_qzx, vec(e["log_q_z_given_x"]));

    typename Normal<double>::Tape nt;
    typename Coupling<6, double>::Tape ct;
    check_close(standard.kl(k.mu, k.logvar, k.z, nt), vec(e["kl_standard_closed_form_per_sample"]));
    check_close(prior.kl(k.mu, k.logvar, k.z, ct), vec(e["kl_decoupled_spec_form_per_sample"]));
    const Vector<double> neg_entropy = (-0.5 * (1.0 + k.logvar.array() + kLog2Pi)).rowwise().sum().matrix();
    check_close(neg_entropy - lp_std, vec(e["kl_standard_spec_form_per_sample"]));
    check_close(log_qzx - lp_std, vec(e["kl_standard_one_sample_per_sample"]));
    check_close(log_qzx - lp_dec, vec(e["kl_decoupled_one_sample_per_sample"]));

    check_close(prior.inverse(k.z0_prior), mat(e["prior_samples_decoupled"]));
  }
}

TEST_CASE("golden: β-TCVAE minibatch-weighted estimates, MMD and the objectives' losses") {
  for (const auto& c : golden()["cases"]) {
    const Case k = load_case(c);
    const json& e = *k.expected;
    CAPTURE(k.d);
    auto prior = load_prior((*k.inputs)["flow"], k.d);
    Normal<double> standard(k.d);
    Rng rng(0);
    LatentBatch<double> batch{k.mu, k.logvar, k.z, 0, k.dataset_size};
    auto terms_of = [](const Terms& t) {
      std::map<std::string, double> m(t.begin(), t.end());
      return m;
    };
    {
      objective::BetaTC<double> tc;
      LatentGrads<double> g;
      g.reset(k.batch, k.d);
      auto t = terms_of(latent_loss(tc, batch, standard, rng, g));
      check_close(t["mi"], e["betatc_mws_standard"]["mi"].get<double>());
      check_close(t["tc"], e["betatc_mws_standard"]["tc"].get<double>());
      check_close(t["dwkl"], e["betatc_mws_standard"]["dwkl"].get<double>());
      g.reset(k.batch, k.d);
      t = terms_of(latent_loss(tc, batch, prior, rng, g));
      check_close(t["mi"], e["betatc_mws_decoupled"]["mi"].get<double>());
      check_close(t["tc"], e["betatc_mws_decoupled"]["tc"].get<double>());
      check_close(t["dwkl"], e["betatc_mws_decoupled"]["dwkl"].get<double>());
    }
    check_close(mmd_unbiased(k.z, k.z0_prior, MmdKernel::rbf), e["mmd_unbiased_standard"].get<double>());
    check_close(mmd_unbiased(k.z, prior.inverse(k.z0_prior), MmdKernel::rbf), e["mmd_unbiased_decoupled"].get<double>());

    // loss_* : batch means of recon + weight·KL with the decoder of the vectors.
    const Matrix<double> w = mat((*k.inputs)["decoder_weight"]);
    const Matrix<double> logits = (k.z * w.transpose()).rowwise() + vec((*k.inputs)["decoder_bias"]).transpose();
    const double recon = Likelihood::bernoulli().loss(k.x, logits).mean();
    auto latent = [&](auto objective, const auto& p) {
      LatentGrads<double> g;
      g.reset(k.batch, k.d);
      return terms_of(latent_loss(objective, batch, p, rng, g))["latent"];
    };
    check_close(recon + latent(objective::Vae<double>{}, standard), e["loss_vae_standard_closed"].get<double>());
    check_close(recon + latent(objective::Vae<double>{}, prior), e["loss_vae_decoupled_spec_form"].get<double>());
    objective::BetaH<double> bh;
    bh.beta = 5;
    check_close(recon + latent(bh, prior), e["loss_beta_h_decoupled_spec_form_beta5"].get<double>());
  }
}
