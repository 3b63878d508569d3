// tools/evaluation.cpp — implementation of tools/evaluation.hpp.
#include "evaluation.hpp"

#include "feature_net.hpp"
#include "fid.hpp"
#include "figures.hpp"
#include "io_util.hpp"
#include "latents.hpp"

#include <dpvae/eval.hpp>

#include <cmath>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace dpvae::cli {

namespace fs = std::filesystem;
using dpvae::detail::require;
using json = nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

void progress_line(const std::string& what) { std::cout << "evaluate: " << what << std::endl; }

json estimate_json(const Estimate& e) { return {{"value", e.value}, {"standard_error", e.standard_error}, {"samples", e.samples}}; }

/// β-TCVAE's I, TC and DWKL (nats; mean and standard deviation over `batches` random training
/// batches of `batch` posteriors, z drawn from each, M = the training set's size) under both
/// estimators, evaluated in double on the same batches and draws.
json tc_estimates(AnyModel& m, const Matrix<double>& mu, const Matrix<double>& logvar, Index batch, Index batches,
                  std::uint64_t seed) {
  const Index n_train = mu.rows(), d = mu.cols();
  Rng rng(seed ^ 0x7CE57ull);
  std::vector<std::vector<double>> mi(2), tc(2), dwkl(2);
  MinibatchWeighted<double> est;
  for (Index b = 0; b < batches; ++b) {
    Matrix<double> mb(batch, d), lb(batch, d), zb(batch, d);
    for (Index r = 0; r < batch; ++r) {
      const Index i = static_cast<Index>(rng.below(static_cast<std::uint64_t>(n_train)));
      mb.row(r) = mu.row(i);
      lb.row(r) = logvar.row(i);
      for (Index k = 0; k < d; ++k) zb(r, k) = mb(r, k) + std::exp(0.5 * lb(r, k)) * rng.normal();
    }
    const Vector<double> log_qzx = log_gaussian_diag(zb, mb, lb);
    const Vector<double> log_pz = m.log_prior(zb.cast<float>());
    for (int e = 0; e < 2; ++e) {
      est.forward(zb, mb, lb, static_cast<double>(n_train), e == 0 ? TcEstimator::mws : TcEstimator::mss);
      mi[e].push_back((log_qzx - est.log_qz()).mean());
      tc[e].push_back((est.log_qz() - est.log_prod_qz()).mean());
      dwkl[e].push_back((est.log_prod_qz() - log_pz).mean());
    }
  }
  const auto stats = [](const std::vector<double>& v) {
    double mean = 0, sq = 0;
    for (double x : v) mean += x / static_cast<double>(v.size());
    for (double x : v) sq += (x - mean) * (x - mean);
    return json{{"mean", mean}, {"sd", v.size() > 1 ? std::sqrt(sq / static_cast<double>(v.size() - 1)) : 0.0}};
  };
  json out{{"batch", batch}, {"batches", batches}, {"dataset_size", n_train}, {"units", "nats"}};
  for (int e = 0; e < 2; ++e)
    out[e == 0 ? "mws" : "mss"] = {{"mi", stats(mi[e])}, {"tc", stats(tc[e])}, {"dwkl", stats(dwkl[e])}};
  return out;
}

/// The FID Inception network of a weight file, loaded once per process (reproduce evaluates
/// twelve runs with it).
const FidInception& inception_network(const fs::path& weights) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<FidInception>> nets;
  const std::lock_guard lock(mutex);
  std::unique_ptr<FidInception>& net = nets[fs::absolute(weights).string()];
  if (!net) net = std::make_unique<FidInception>(weights);
  return *net;
}

/// The FID Inception features of the first n test images of a data set, computed once per
/// process and (weights, data set, n).
const Matrix<float>& real_inception_features(const fs::path& weights, const RunConfig& c, const Data& d, Index n) {
  static std::mutex mutex;
  static std::map<std::string, Matrix<float>> cache;
  const std::lock_guard lock(mutex);
  const std::string key = fs::absolute(weights).string() + "\n" + c.dataset + "\n" + c.data_root + "\n" + std::to_string(n);
  auto it = cache.find(key);
  if (it == cache.end()) {
    const Matrix<float> x = d.test.block(0, n).cwiseMax(0.0f).cwiseMin(1.0f);
    it = cache.emplace(key, inception_network(weights).features(x, d.height, d.width, d.channels)).first;
  }
  return it->second;
}


/// A model whose prior is replaced by a sampler's density: what importance sampling needs
/// (dpvae::LikelihoodModel) for the NLL of p(z) p_θ(x|z) with an ex-post p.
struct WithPrior {
  const AnyModel& m;
  const LatentSampler& s;
  std::pair<Matrix<float>, Matrix<float>> encode(const Matrix<float>& x) const { return m.encode(x); }
  Vector<double> log_likelihood(const Matrix<float>& x, const Matrix<float>& z) const { return m.log_likelihood(x, z); }
  Vector<double> log_prior(const Matrix<float>& z) const { return s.log_prob(z); }
};

/// What every sampler's measurement shares: the model, its data, q(z) (mixture and the
/// posteriors it is made of), the FID feature space and the held-out features.
struct SamplerContext {
  const AnyModel& m;
  const Data& d;
  const AggregatePosterior& q;
  const Matrix<float>& mu_train;
  const Matrix<float>& lv_train;
  const FeatureSpace& space;
  const Matrix<float>& f_real;
  const GaussianFit& real;
  const EvalOptions& o;
  const RunConfig& config;
  Index candidates;
  Index batch;  ///< B of the minibatch estimate of q(z) (the run's batch size)
};

struct SamplerMetrics {
  json j;
  Matrix<float> x_random, x_lp;  ///< decoded random and (exact-q) LP samples
};

/// The generation metrics of one sampler (docs/math.md "Metrics"): FID and KID of random
/// samples; FID(LP) and KID(LP) of low-posterior samples under the exact q(z); FID(LP) under
/// the official minibatch estimate of q(z); where the LP latents lie; sKL(q, p); the
/// importance-sampled NLL with the sampler as the prior; the leakage curve. Timings go to
/// timing[prefix + name].
SamplerMetrics sampler_metrics(const SamplerContext& c, const LatentSampler& s, Rng& rng, json& timing,
                               const std::string& prefix) {
  const EvalOptions& o = c.o;
  SamplerMetrics out;
  json& j = out.j;
  auto t = Clock::now();
  const std::string who = s.name == "prior" ? std::string() : s.name + ": ";
  progress_line(who + "drawing " + std::to_string(o.samples) + " random samples");
  out.x_random = decode_all(c.m, s.sample(o.samples, rng));
  progress_line(who + "scoring " + std::to_string(c.candidates) + " draws under q(z) (" + std::to_string(c.q.size()) +
                " posteriors) for " + std::to_string(o.samples) + " low-posterior samples");
  const Matrix<float> z_lp = low_posterior_latents(s, c.q, o.samples, c.candidates, rng);
  out.x_lp = decode_all(c.m, z_lp);
  Rng mb_rng(o.seed ^ 0x3B1A7Cull);
  const Matrix<float> z_lp_mb = low_posterior_latents_minibatch(s, c.mu_train, c.lv_train, o.samples, c.candidates, c.batch, mb_rng);
  const Matrix<float> x_lp_mb = decode_all(c.m, z_lp_mb);
  timing[prefix + "sampling"] = seconds_since(t);

  t = Clock::now();
  progress_line(who + "FID of random and LP samples against " + std::to_string(c.d.test.rows()) + " held-out points");
  const Matrix<float> f_random = extract_features(c.space.extract, out.x_random, kEvalBatch);
  const Matrix<float> f_lp = extract_features(c.space.extract, out.x_lp, kEvalBatch);
  const Matrix<float> f_lp_mb = extract_features(c.space.extract, x_lp_mb, kEvalBatch);
  j["fid"] = {{"value", frechet_distance(c.real, fit_gaussian(f_random))}, {"generated", o.samples}, {"real", c.d.test.rows()},
              {"real_set", "test"}, {"feature_space", c.space.name}};
  // Where the LP latents lie: their distance from q(z)'s mean against that of q(z)'s own draws.
  Rng radius_rng(o.seed ^ 0x7AD1ull);
  const Matrix<double> zq = c.q.sample(o.samples, radius_rng);
  const Vector<double> centre = zq.colwise().mean().transpose();
  const auto quantiles = [&](const Matrix<double>& z) {
    std::vector<double> r(static_cast<std::size_t>(z.rows()));
    for (Index i = 0; i < z.rows(); ++i) r[static_cast<std::size_t>(i)] = (z.row(i).transpose() - centre).norm();
    std::sort(r.begin(), r.end());
    const auto at = [&](double p) { return r[static_cast<std::size_t>(p * static_cast<double>(r.size() - 1))]; };
    return json{{"median", at(0.5)}, {"p90", at(0.9)}, {"max", r.back()}};
  };
  j["fid_lp"] = {{"value", frechet_distance(c.real, fit_gaussian(f_lp))},
                 {"generated", o.samples},
                 {"candidates", c.candidates},
                 {"posteriors", c.q.size()},
                 {"real", c.d.test.rows()},
                 {"feature_space", c.space.name},
                 {"distance_from_q_mean", {{"lp", quantiles(z_lp.cast<double>())}, {"q", quantiles(zq)}}},
                 {"mean_log_q", c.q.log_prob(Matrix<double>(z_lp.cast<double>())).mean()}};
  j["fid_lp_minibatch"] = {{"value", frechet_distance(c.real, fit_gaussian(f_lp_mb))},
                           {"generated", o.samples},
                           {"candidates", c.candidates},
                           {"posteriors_per_group", c.batch},
                           {"note", "q(z) estimated per group of B training posteriors, the official code's estimate"},
                           {"distance_from_q_mean", {{"lp", quantiles(z_lp_mb.cast<double>())}}},
                           {"mean_log_q", c.q.log_prob(Matrix<double>(z_lp_mb.cast<double>())).mean()}};
  // KID in the same feature space: unbiased at these counts (torch-fidelity's subsets).
  Rng kid_rng(o.seed ^ 0x4B1Dull);
  for (const auto& [key, f] : {std::pair{"kid", &f_random}, std::pair{"kid_lp", &f_lp}}) {
    const KernelDistance k = kernel_inception_distance(c.f_real, *f, kid_rng);
    j[key] = {{"mean", k.mean}, {"sd", k.sd}, {"subsets", k.subsets}, {"subset_size", k.subset_size},
              {"generated", f->rows()}, {"real", c.f_real.rows()}, {"feature_space", c.space.name}};
  }
  timing[prefix + "fid"] = seconds_since(t);

  // sKL in the representation space.
  t = Clock::now();
  progress_line(who + "sKL with " + std::to_string(o.skl_samples) + " samples per direction");
  auto log_p = [&](const Matrix<double>& z) { return s.log_prob(z.cast<float>()); };
  const Matrix<double> z_q = c.q.sample(o.skl_samples, rng).cast<float>().cast<double>();
  const Matrix<double> z_p = s.sample(o.skl_samples, rng).cast<double>();
  const SymmetricKl skl = symmetric_kl(c.q, log_p, z_q, z_p);
  j["skl"] = {{"value", skl.value()},
              {"kl_q_p", estimate_json(skl.kl_q_p)},
              {"kl_p_q", estimate_json(skl.kl_p_q)},
              {"posteriors", c.q.size()}};
  timing[prefix + "skl"] = seconds_since(t);

  // Importance-sampled NLL of the generative model p(z) p_θ(x|z), p the sampler's density.
  t = Clock::now();
  const Index n_nll = o.nll_points > 0 ? std::min<Index>(o.nll_points, c.d.test.rows()) : c.d.test.rows();
  progress_line(who + "NLL by importance sampling: " + std::to_string(n_nll) + " test points × K = " + std::to_string(o.nll_k));
  const Index every = std::max<Index>(1, n_nll / 5);
  const WithPrior model{c.m, s};
  const Vector<double> ll = importance_sampled_log_likelihood(
      model, c.d.test.block(0, n_nll), o.nll_k, rng, [&](Index done) {
        if (done % every == 0 && done < n_nll)
          progress_line("  NLL " + std::to_string(done) + "/" + std::to_string(n_nll) + " (" +
                        std::to_string(static_cast<int>(seconds_since(t))) + " s)");
      },
      kEvalBatch);
  const Estimate nll = mean_estimate(-ll);
  const double dims = static_cast<double>(c.d.test.cols());
  const RunConfig& rc = c.config;
  j["nll"] = {{"nats", nll.value},
              {"standard_error", nll.standard_error},
              {"bits_per_dim", nll.value / (dims * std::log(2.0))},
              {"k", o.nll_k},
              {"points", n_nll},
              {"likelihood", rc.likelihood},
              {"note", rc.likelihood == "bernoulli" && c.d.images
                           ? "Bernoulli likelihood on [0, 1] intensities (not a density of continuous images)"
                           : "Gaussian likelihood with its normaliser"}};
  timing[prefix + "nll"] = seconds_since(t);

  // Leakage-score curve: the region by the sampler's generation-space density.
  t = Clock::now();
  progress_line(who + "leakage score with " + std::to_string(o.leakage_samples) + " samples of q(z)");
  const Matrix<float> z_leak = c.q.sample(o.leakage_samples, rng).cast<float>();
  const auto curve = leakage_curve(s.log_generation_density(z_leak), c.q.log_prob(z_leak), s.log_prob(z_leak),
                                   official_leakage_thresholds());
  json lj = json::array();
  for (const auto& p : curve)
    lj.push_back({{"tau", p.tau}, {"score", std::isnan(p.score) ? json(nullptr) : json(p.score)}, {"fraction", p.fraction},
                  {"count", p.count}});
  j["leakage"] = {{"samples", o.leakage_samples}, {"curve", lj}};
  timing[prefix + "leakage"] = seconds_since(t);
  return out;
}

}  // namespace

json evaluate(LoadedRun& run, const EvalOptions& o, const fs::path& out) {
  require(o.samples >= 2 && o.samples <= 1000000, "--samples must be in [2, 10^6]");
  require(o.skl_samples >= 2 && o.nll_k >= 1 && o.leakage_samples >= 1, "sample counts must be positive");
  const Index candidates = o.lp_candidates > 0 ? o.lp_candidates : 10 * o.samples;
  require(candidates >= o.samples, "--lp-candidates must be >= --samples");
  if (!out.empty()) {
    std::error_code ec;
    const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
    require(fs::is_directory(parent, ec), "cannot write " + out.string() + ": no folder " + parent.string());
  }
  AnyModel& m = *run.model;
  const Data& d = run.data;
  require(!o.expost_gmm || d.train.rows() >= GmmOptions{}.components,
          "--expost-gmm needs at least " + std::to_string(GmmOptions{}.components) +
              " training points (one per mixture component); the run's data set has " + std::to_string(d.train.rows()));
  const FidInception* inception = nullptr;
  if (!o.fid_weights.empty()) {  // checked before any work
    require(d.images, "--fid-weights: the run's data (" + run.config.dataset + ") are not images");
    require(o.standard_fid_samples >= 2, "--standard-fid-samples must be >= 2");
    inception = &inception_network(o.fid_weights);
  }
  const auto t_all = Clock::now();
  json j;
  j["run"] = out.empty() ? "" : fs::absolute(out).parent_path().string();
  j["model"] = display_name(run.config);
  j["objective"] = run.config.objective;
  j["prior"] = run.config.prior;
  j["dataset"] = run.config.dataset;
  j["step"] = m.step();
  j["checkpoint"] = run.checkpoint.filename().string();
  j["latent_dim"] = m.latent_dim();
  j["seed"] = o.seed;
  json timing;
  Rng rng(o.seed);

  // Aggregate posterior.
  auto t = Clock::now();
  const Index m_count = o.posteriors > 0 ? std::min<Index>(o.posteriors, d.train.rows()) : d.train.rows();
  progress_line("encoding " + std::to_string(m_count) + " training points for q(z)");
  // Every training point's posterior (the probe needs the means of all of them).
  const auto [mu_train, lv_train] = encode_all(m, d.train);
  const AggregatePosterior q = [&] {
    if (m_count >= d.train.rows()) return AggregatePosterior(mu_train, lv_train);
    const std::vector<Index> idx = posterior_subset(d.train.rows(), m_count, o.seed);
    return AggregatePosterior(rows_of(mu_train, idx), rows_of(lv_train, idx));
  }();
  timing["aggregate_posterior"] = seconds_since(t);

  // The FID feature space and the held-out features.
  t = Clock::now();
  FeatureSpace space = feature_space(d, o.feature_net.empty() ? default_feature_net(run.config) : o.feature_net);
  progress_line("features of " + std::to_string(d.test.rows()) + " held-out points");
  const Matrix<float> f_real = features_of(space.extract, d.test);
  const GaussianFit real = fit_gaussian(f_real);
  j["feature_space"] = {{"name", space.name}, {"test_accuracy", space.accuracy}};
  timing["real_features"] = seconds_since(t);
  const SamplerContext ctx{m, d, q, mu_train, lv_train, space, f_real, real, o, run.config, candidates,
                           std::min<Index>(run.config.batch_size, d.train.rows())};

  // The model's prior: random and LP samples (FID, FID(LP) both ways, KID), sKL, NLL, leakage.
  const LatentSampler prior = prior_sampler(m);
  SamplerMetrics pm = sampler_metrics(ctx, prior, rng, timing, "");
  for (auto& [key, value] : pm.j.items()) j[key] = value;

  // Standard FID, FID(LP) and KID in the FID Inception's feature space (docs/math.md
  // "Standard FID"): n of the same random and LP samples, evenly spaced through them (the LP
  // samples are sorted by q(z): a prefix would be only the lowest), against the first n test
  // images, so that the domain and the standard figures describe the same samples.
  if (inception) {
    t = Clock::now();
    const Index n = std::min({o.standard_fid_samples, o.samples, static_cast<Index>(d.test.rows())});
    progress_line("standard FID: FID Inception features of " + std::to_string(n) + " test images, " + std::to_string(n) +
                  " random and " + std::to_string(n) + " LP samples");
    const Matrix<float>& f_real_std = real_inception_features(o.fid_weights, run.config, d, n);
    const auto features = [&](const Matrix<float>& x) {
      std::vector<Index> rows(static_cast<std::size_t>(n));
      for (Index i = 0; i < n; ++i) rows[static_cast<std::size_t>(i)] = i * x.rows() / n;
      return inception->features(rows_of(x, rows).cwiseMax(0.0f).cwiseMin(1.0f), d.height, d.width, d.channels);
    };
    const Matrix<float> f_random_std = features(pm.x_random), f_lp_std = features(pm.x_lp);
    const GaussianFit real_std = fit_gaussian(f_real_std);
    const std::string weights = fs::absolute(o.fid_weights).string();
    const Index kid_size = std::min<Index>(1000, n);
    Rng kid_std_rng(o.seed ^ 0x1CE97ull);
    for (const auto& [name, f] : {std::pair{"", &f_random_std}, std::pair{"_lp", &f_lp_std}}) {
      j[std::string("fid") + name + "_inception"] = {{"value", frechet_distance(real_std, fit_gaussian(*f))},
                                                     {"generated", n},
                                                     {"real", n},
                                                     {"real_set", "test (first " + std::to_string(n) + ")"},
                                                     {"feature_space", FidInception::kFeatureSpace},
                                                     {"weights", weights}};
      const KernelDistance k = kernel_inception_distance(f_real_std, *f, kid_std_rng, 100, kid_size);
      j[std::string("kid") + name + "_inception"] = {{"mean", k.mean}, {"sd", k.sd}, {"subsets", k.subsets},
                                                     {"subset_size", k.subset_size}, {"generated", n}, {"real", n},
                                                     {"feature_space", FidInception::kFeatureSpace}};
    }
    timing["fid_inception"] = seconds_since(t);
  }

  // The ex-post samplers in place of the prior, measured alike (docs/math.md "Ex-post samplers").
  if (o.expost_gmm) {
    t = Clock::now();
    progress_line("ex-post GMM: fitting 10 components to " + std::to_string(mu_train.rows()) + " training encodings");
    GmmOptions go;
    go.seed = o.seed;
    const ExPostGmm g = ExPostGmm::fit(mu_train.cast<double>(), go);
    Rng grng(o.seed ^ 0x6A11ull);
    const LatentSampler gmm_s = gmm_sampler(g);
    SamplerMetrics gm = sampler_metrics(ctx, gmm_s, grng, timing, "expost_gmm_");
    if (!o.figures.empty()) write_sampler_figures(run, q, gmm_s, "expost-gmm", candidates, o.seed, o.figures);
    gm.j["components"] = g.components();
    gm.j["em_iterations"] = g.iterations();
    gm.j["converged"] = g.converged();
    gm.j["mean_log_likelihood"] = g.log_likelihood_history().back();
    gm.j["fitted_to"] = "posterior means of all training points";
    gm.j["seconds"] = seconds_since(t);
    j["expost_gmm"] = gm.j;
  }
  if (o.expost_flow) {
    t = Clock::now();
    FlowFitOptions fo;
    fo.seed = o.seed;
    fo.steps = o.expost_flow_steps;
    progress_line("ex-post flow: fitting " + std::to_string(fo.blocks) + " coupling blocks to q(z) of " +
                  std::to_string(mu_train.rows()) + " training posteriors (" + std::to_string(fo.steps) + " steps)");
    const ExPostFlow f = ExPostFlow::fit_to_posteriors(mu_train.cast<double>(), lv_train.cast<double>(), fo);
    timing["expost_flow_fit"] = seconds_since(t);
    Rng frng(o.seed ^ 0xF1077ull);
    const LatentSampler flow_s = flow_sampler(f);
    SamplerMetrics fm = sampler_metrics(ctx, flow_s, frng, timing, "expost_flow_");
    if (!o.figures.empty()) write_sampler_figures(run, q, flow_s, "expost-flow", candidates, o.seed, o.figures);
    const std::vector<double>& h = f.loss_history();
    double last = 0;  // the mean of the last 5 % of the steps' losses
    const std::size_t tail = std::max<std::size_t>(1, h.size() / 20);
    for (std::size_t i = h.size() - tail; i < h.size(); ++i) last += h[i] / static_cast<double>(tail);
    fm.j["blocks"] = fo.blocks;
    fm.j["hidden"] = fo.hidden;
    fm.j["steps"] = fo.steps;
    fm.j["batch"] = fo.batch;
    fm.j["final_nll_nats"] = last;
    fm.j["fitted_to"] = "draws of q(z), the posteriors of all training points";
    fm.j["seconds"] = seconds_since(t);
    j["expost_flow"] = fm.j;
  }

  // Representation: linear probe and (two-moons) MIG.
  t = Clock::now();
  if (!d.train_labels.empty() && !d.test_labels.empty()) {
    progress_line("linear probe on the mean encodings");
    const Matrix<float> mu_test = encode_all(m, d.test).first;
    const ProbeResult pr = linear_probe(mu_train, d.train_labels, mu_test, d.test_labels);
    j["probe"] = {{"train_accuracy", pr.train_accuracy}, {"test_accuracy", pr.test_accuracy}, {"classes", pr.classes},
                  {"features", "posterior means"}};
    if (!d.train_position.empty()) {
      Vector<double> pos = Eigen::Map<const Vector<double>>(d.train_position.data(), static_cast<Index>(d.train_position.size()));
      const MigResult mig = mutual_information_gap(mu_train, {d.train_labels, discretize(pos, 20)});
      j["mig"] = {{"value", mig.mig}, {"per_factor", mig.per_factor}, {"factors", {"moon", "position along the moon"}},
                  {"bins", 20}};
    }
  }
  timing["representation"] = seconds_since(t);

  // β-TCVAE: its decomposition I + TC + DWKL under both minibatch estimators, on training
  // batches of the run's size (docs/math.md "β-TCVAE"), so that a user sees what each reports.
  if (run.config.objective == "beta-tc") {
    t = Clock::now();
    progress_line("beta-tc: I, TC and DWKL under mws and mss");
    j["tc_estimates"] = tc_estimates(m, mu_train.cast<double>(), lv_train.cast<double>(),
                                     std::min<Index>(run.config.batch_size, d.train.rows()), 50, o.seed);
    timing["tc_estimates"] = seconds_since(t);
  }

  // Figures.
  if (!o.figures.empty()) {
    t = Clock::now();
    write_run_figures(run, q, pm.x_random, candidates, o.seed, o.figures);
    timing["figures"] = seconds_since(t);
  }
  timing["total"] = seconds_since(t_all);
  j["seconds"] = timing;
  if (!out.empty()) write_text_atomic(out, j.dump(2) + "\n");
  return j;
}

}  // namespace dpvae::cli
