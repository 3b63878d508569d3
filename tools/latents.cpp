// tools/latents.cpp — implementation of tools/latents.hpp.
#include "latents.hpp"

namespace dpvae::cli {

using dpvae::detail::require;

std::pair<Matrix<float>, Matrix<float>> encode_all(const AnyModel& m, const Matrix<float>& x) {
  Matrix<float> mu(x.rows(), m.latent_dim()), lv(x.rows(), m.latent_dim());
  for (Index r0 = 0; r0 < x.rows(); r0 += kEvalBatch) {
    const Index len = std::min<Index>(kEvalBatch, x.rows() - r0);
    auto [a, b] = m.encode(x.middleRows(r0, len));
    mu.middleRows(r0, len) = a;
    lv.middleRows(r0, len) = b;
  }
  return {mu, lv};
}

std::pair<Matrix<float>, Matrix<float>> encode_all(const AnyModel& m, const Points& x) {
  if (!x.bytes()) return encode_all(m, x.all());
  Matrix<float> mu(x.rows(), m.latent_dim()), lv(x.rows(), m.latent_dim());
  for (Index r0 = 0; r0 < x.rows(); r0 += kEvalBatch) {
    const Index len = std::min<Index>(kEvalBatch, x.rows() - r0);
    auto [a, b] = m.encode(x.block(r0, len));
    mu.middleRows(r0, len) = a;
    lv.middleRows(r0, len) = b;
  }
  return {mu, lv};
}

Matrix<float> features_of(const std::function<Matrix<float>(const Matrix<float>&)>& extract, const Points& x) {
  if (!x.bytes()) return extract_features(extract, x.all(), kEvalBatch);
  Matrix<float> out;
  const Index chunk = 10 * kEvalBatch;
  for (Index r0 = 0; r0 < x.rows(); r0 += chunk) {
    const Index len = std::min<Index>(chunk, x.rows() - r0);
    const Matrix<float> f = extract_features(extract, x.block(r0, len), kEvalBatch);
    if (out.size() == 0) out.resize(x.rows(), f.cols());
    out.middleRows(r0, len) = f;
  }
  return out;
}

Matrix<float> decode_all(const AnyModel& m, const Matrix<float>& z) {
  Matrix<float> out;
  for (Index r0 = 0; r0 < z.rows(); r0 += kEvalBatch) {
    const Index len = std::min<Index>(kEvalBatch, z.rows() - r0);
    Matrix<float> x = m.decode(z.middleRows(r0, len));
    if (out.size() == 0) out.resize(z.rows(), x.cols());
    out.middleRows(r0, len) = x;
  }
  return out;
}

Matrix<float> rows_of(const Matrix<float>& x, const std::vector<Index>& idx) {
  Matrix<float> out(static_cast<Index>(idx.size()), x.cols());
  for (std::size_t i = 0; i < idx.size(); ++i) out.row(static_cast<Index>(i)) = x.row(idx[i]);
  return out;
}

std::vector<Index> posterior_subset(Index n, Index count, std::uint64_t seed) {
  Rng rng(seed ^ 0xA66E6A7Eull);
  const auto perm = rng.permutation(n);
  return std::vector<Index>(perm.begin(), perm.begin() + count);
}

AggregatePosterior aggregate_posterior(const AnyModel& m, const Data& d, Index count, std::uint64_t seed) {
  const Index n = d.train.rows();
  if (count <= 0 || count >= n) {
    auto [mu, lv] = encode_all(m, d.train);
    return AggregatePosterior(mu, lv);
  }
  auto [mu, lv] = encode_all(m, d.train.gather(posterior_subset(n, count, seed)));
  return AggregatePosterior(mu, lv);
}

ExPostGmm fit_expost_gmm(const AnyModel& m, const Data& d, const GmmOptions& o) {
  require(d.train.rows() >= o.components, "the ex-post GMM needs at least " + std::to_string(o.components) +
                                              " training points (one per component); the run's data set has " +
                                              std::to_string(d.train.rows()));
  const Matrix<double> mu = encode_all(m, d.train).first.cast<double>();
  return ExPostGmm::fit(mu, o);
}

ExPostFlow fit_expost_flow(const AnyModel& m, const Data& d, const FlowFitOptions& o) {
  const auto [mu, lv] = encode_all(m, d.train);
  return ExPostFlow::fit_to_posteriors(mu.cast<double>(), lv.cast<double>(), o);
}

Vector<double> log_generation_density(const AnyModel& m, const Matrix<float>& z) {
  return log_standard_normal(m.prior_forward(z));
}

LatentSampler prior_sampler(const AnyModel& m) {
  return {"prior", [&m](Index n, Rng& rng) { return m.prior_sample(n, rng); },
          [&m](const Matrix<float>& z) { return m.log_prior(z); },
          [&m](const Matrix<float>& z) { return log_generation_density(m, z); }};
}

LatentSampler gmm_sampler(const ExPostGmm& g) {
  const auto log_prob = [&g](const Matrix<float>& z) { return g.log_prob(z.cast<double>()); };
  return {"ex-post GMM", [&g](Index n, Rng& rng) { return Matrix<float>(g.sample(n, rng).cast<float>()); }, log_prob, log_prob};
}

LatentSampler flow_sampler(const ExPostFlow& f) {
  return {"ex-post flow", [&f](Index n, Rng& rng) { return Matrix<float>(f.sample(n, rng).cast<float>()); },
          [&f](const Matrix<float>& z) { return f.log_prob(z.cast<double>()); },
          [&f](const Matrix<float>& z) { return f.log_generation_density(z.cast<double>()); }};
}

Matrix<float> low_posterior_latents_minibatch(const LatentSampler& s, const Matrix<float>& mu, const Matrix<float>& logvar,
                                              Index n, Index candidates, Index batch, Rng& rng) {
  require(candidates >= n && n >= 1, "low-posterior samples: need candidates >= n >= 1");
  require(batch >= 1 && batch <= mu.rows() && logvar.rows() == mu.rows(),
          "low-posterior samples (minibatch q): the batch must hold 1 to " + std::to_string(mu.rows()) + " posteriors");
  const Index per_group = (batch * candidates + n - 1) / n;  // ⌈B · candidates / n⌉
  Matrix<float> out(n, mu.cols());
  for (Index done = 0; done < n;) {
    const std::vector<std::int64_t> perm = rng.permutation(mu.rows());
    const std::vector<Index> idx(perm.begin(), perm.begin() + batch);
    const AggregatePosterior qb(rows_of(mu, idx), rows_of(logvar, idx));
    const Matrix<float> z = s.sample(per_group, rng);
    const Index keep = std::min(batch, n - done);
    out.middleRows(done, keep) = rows_of(z, lowest_scores(qb.log_prob(z), keep));
    done += keep;
  }
  return out;
}

Matrix<float> low_posterior_latents(const LatentSampler& s, const AggregatePosterior& q, Index n, Index candidates, Rng& rng) {
  require(candidates >= n && n >= 1, "low-posterior samples: need candidates >= n >= 1");
  const Matrix<float> z = s.sample(candidates, rng);
  return rows_of(z, lowest_scores(q.log_prob(z), n));
}

Matrix<float> low_posterior_latents(const AnyModel& m, const AggregatePosterior& q, Index n, Index candidates, Rng& rng) {
  return low_posterior_latents(prior_sampler(m), q, n, candidates, rng);
}

Matrix<float> high_posterior_latents(const LatentSampler& s, const AggregatePosterior& q, Index n, Index candidates, Rng& rng) {
  require(candidates >= n && n >= 1, "high-posterior samples: need candidates >= n >= 1");
  const Matrix<float> z = q.sample(candidates, rng).cast<float>();
  return rows_of(z, lowest_scores(s.log_generation_density(z), n));
}

Matrix<float> high_posterior_latents(const AnyModel& m, const AggregatePosterior& q, Index n, Index candidates, Rng& rng) {
  return high_posterior_latents(prior_sampler(m), q, n, candidates, rng);
}

}  // namespace dpvae::cli
