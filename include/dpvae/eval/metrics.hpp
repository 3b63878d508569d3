// dpvae/eval/metrics.hpp — the measurements of the dpVAE paper (§4.1, §5.1; docs/math.md "Sampling"
// and "Metrics"): the aggregate posterior q(z), low- and high-posterior selection, the
// Fréchet distance (FID in any feature space), the symmetric KL between q(z) and the prior,
// the importance-sampled log-likelihood and the leakage-score curve.
//
// Nothing in the core includes this header. All densities are in nats, all sums of
// densities are logsumexps, and every computation here runs in double precision
// whatever the model's scalar type. Rows are points.
#pragma once

#include "dpvae/core.hpp"
#include "dpvae/rng.hpp"

#include <Eigen/Eigenvalues>
#include <Eigen/SVD>
#include <tbb/blocked_range.h>
#include <tbb/parallel_invoke.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <type_traits>
#include <limits>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

namespace dpvae {

/// log Σ_i exp(v_i), stable (the largest term factored out); −∞ for an empty or all −∞ input.
inline double logsumexp(const double* v, Index n) {
  double m = -std::numeric_limits<double>::infinity();
  for (Index i = 0; i < n; ++i) m = std::max(m, v[i]);
  if (!std::isfinite(m)) return m;
  double s = 0;
  for (Index i = 0; i < n; ++i) s += std::exp(v[i] - m);
  return m + std::log(s);
}

// ------------------------------------------------------------------------------------------
// Aggregate posterior
// ------------------------------------------------------------------------------------------

/// The aggregate posterior of M training points, the mixture
///   q(z) = (1/M) Σ_i N(z; μ_i, diag σ_i²)                        (docs/math.md "Sampling"),
/// held as M × d means and log-variances (double). log_prob evaluates
///   log q(z) = logsumexp_i [−½ Σ_k (log 2π + log σ²_ik + (z_k − μ_ik)² / σ²_ik)] − log M
/// over all d dimensions, with the squared distance formed directly (no expansion that
/// cancels when σ² is small). The N × M × d array is never formed: queries are taken in
/// chunks of `query_chunk` rows (in parallel under oneTBB) and components in chunks of
/// `component_chunk`, folded into a running logsumexp per query. Chunk boundaries depend
/// only on the sizes, so the result is bit-identical for any number of threads.
class AggregatePosterior {
 public:
  AggregatePosterior() = default;
  /// mu, logvar: M × d posteriors (rows are training points). Throws dpvae::Error when the
  /// shapes differ, M or d is 0, or a value is not finite.
  template <class T>
  AggregatePosterior(const Matrix<T>& mu, const Matrix<T>& logvar) {
    detail::require(mu.rows() == logvar.rows() && mu.cols() == logvar.cols(),
                    "aggregate posterior: mu is " + shape(mu) + " but logvar is " + shape(logvar));
    detail::require(mu.rows() > 0 && mu.cols() > 0, "aggregate posterior: needs at least one posterior of dimension >= 1");
    detail::require(mu.allFinite() && logvar.allFinite(), "aggregate posterior: mu or logvar holds a non-finite value");
    const Index m = mu.rows(), d = mu.cols();
    // Dimension-major copies: each dimension's M values are contiguous, so the inner loop
    // over components is one vectorised pass.
    mu_t_.resize(d, m);
    inv_var_t_.resize(d, m);
    log_norm_.resize(m);
    for (Index i = 0; i < m; ++i) {
      double c = 0;
      for (Index k = 0; k < d; ++k) {
        const double lv = static_cast<double>(logvar(i, k));
        mu_t_(k, i) = static_cast<double>(mu(i, k));
        // Capped at the largest double (log σ² < −709.8 overflows): then z = μ exactly still
        // gives 0 · cap = 0 in the exponent, not 0 · ∞ = NaN.
        inv_var_t_(k, i) = std::min(std::exp(-lv), std::numeric_limits<double>::max());
        c += kLog2Pi + lv;
      }
      log_norm_(i) = -0.5 * c;
    }
    mu_ = mu.template cast<double>();
    logvar_ = logvar.template cast<double>();
  }

  Index size() const { return mu_.rows(); }
  Index dim() const { return mu_.cols(); }
  const Matrix<double>& mu() const { return mu_; }
  const Matrix<double>& logvar() const { return logvar_; }

  /// log q(z) per row of z (N × d), nats: logsumexp_m log N(z; μ_m, σ²_m) − log M, −∞ where
  /// every component underflows (never NaN for finite z; a NaN in z gives NaN). Throws
  /// dpvae::Error on a dimension mismatch or non-positive chunk sizes.
  template <class T>
  Vector<double> log_prob(const Matrix<T>& z, Index query_chunk = 64, Index component_chunk = 4096) const {
    detail::require(size() > 0, "aggregate posterior: empty");
    detail::require(z.cols() == dim(), "aggregate posterior: queries have " + std::to_string(z.cols()) +
                                           " dimensions but the posteriors have " + std::to_string(dim()));
    detail::require(query_chunk > 0 && component_chunk > 0, "aggregate posterior: chunk sizes must be positive");
    const Index n = z.rows(), m = size(), d = dim();
    Vector<double> out(n);
    const double log_m = std::log(static_cast<double>(m));
    const Index chunks = (n + query_chunk - 1) / query_chunk;
    tbb::parallel_for(tbb::blocked_range<Index>(0, chunks), [&](const tbb::blocked_range<Index>& r) {
      Eigen::ArrayXd acc(std::min(component_chunk, m));
      for (Index c = r.begin(); c != r.end(); ++c) {
        const Index q0 = c * query_chunk, q1 = std::min(n, q0 + query_chunk);
        for (Index q = q0; q < q1; ++q) {
          double run_max = -std::numeric_limits<double>::infinity(), run_sum = 0;
          for (Index j0 = 0; j0 < m; j0 += component_chunk) {
            const Index len = std::min(component_chunk, m - j0);
            auto a = acc.head(len);
            a = log_norm_.segment(j0, len).array();
            for (Index k = 0; k < d; ++k) {
              const double zk = static_cast<double>(z(q, k));
              a -= 0.5 * (mu_t_.row(k).segment(j0, len).array() - zk).square() *
                   inv_var_t_.row(k).segment(j0, len).array();
            }
            const double b = a.maxCoeff();
            if (b == -std::numeric_limits<double>::infinity()) continue;  // every term underflows: adds 0
            if (b > run_max) {
              run_sum = run_sum * std::exp(run_max - b) + (a - b).exp().sum();
              run_max = b;
            } else {
              run_sum += (a - run_max).exp().sum();
            }
          }
          // log 0 = −∞ when every component underflows (far queries, e.g. |z| ≥ 1e155)
          out(q) = run_sum > 0 ? run_max + std::log(run_sum) - log_m : -std::numeric_limits<double>::infinity();
        }
      }
    });
    return out;
  }

  /// n draws z ~ q(z): i uniform in [0, M), z = μ_i + σ_i ⊙ ε, ε ~ N(0, I) (n × d).
  Matrix<double> sample(Index n, Rng& rng) const {
    detail::require(size() > 0, "aggregate posterior: empty");
    Matrix<double> z(n, dim());
    for (Index r = 0; r < n; ++r) {
      const auto i = static_cast<Index>(rng.below(static_cast<std::uint64_t>(size())));
      for (Index k = 0; k < dim(); ++k) z(r, k) = mu_(i, k) + std::exp(0.5 * logvar_(i, k)) * rng.normal();
    }
    return z;
  }

 private:
  template <class M>
  static std::string shape(const M& x) {
    return std::to_string(x.rows()) + " × " + std::to_string(x.cols());
  }
  Matrix<double> mu_, logvar_;
  Matrix<double> mu_t_, inv_var_t_;  // d × M, row-major: each dimension's M values contiguous
  Eigen::VectorXd log_norm_;
};

/// Indices of the k smallest scores, ascending by score (ties by index). This is the
/// selection of low-posterior samples (scores log q(z) of prior draws) and of
/// high-posterior samples (scores log N(f(z); 0, I) of aggregate-posterior draws), docs/math.md
/// "Sampling". Throws dpvae::Error when k exceeds the number of scores or a score is NaN.
inline std::vector<Index> lowest_scores(const Vector<double>& scores, Index k) {
  detail::require(k >= 0 && k <= scores.size(), "cannot keep " + std::to_string(k) + " of " +
                                                    std::to_string(scores.size()) + " candidates");
  for (Index i = 0; i < scores.size(); ++i) detail::require(!std::isnan(scores(i)), "a candidate's score is NaN");
  std::vector<Index> idx(static_cast<std::size_t>(scores.size()));
  std::iota(idx.begin(), idx.end(), Index{0});
  auto less = [&](Index a, Index b) { return scores(a) < scores(b) || (scores(a) == scores(b) && a < b); };
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), less);
  idx.resize(static_cast<std::size_t>(k));
  return idx;
}

/// log N(z; 0, I) per row (nats): −½ Σ_k (z_k² + log 2π). The generation-space density of
/// docs/math.md's high-posterior score and leakage region (no log-det).
template <class T>
Vector<double> log_standard_normal(const Matrix<T>& z) {
  const auto zd = z.template cast<double>();
  return (-0.5 * (zd.array().square().rowwise().sum() + kLog2Pi * static_cast<double>(z.cols()))).matrix();
}

// ------------------------------------------------------------------------------------------
// Fréchet distance (FID)
// ------------------------------------------------------------------------------------------

/// A Gaussian fit of features: the mean and the unbiased covariance (divides by N − 1).
struct GaussianFit {
  Vector<double> mean;
  Matrix<double> covariance;
  Index count = 0;
};

/// Fits mean and unbiased covariance to N × F features (N >= 2). The sums are taken over
/// fixed chunks of 1024 rows in order, so the fit does not depend on the thread count or on
/// how the features were batched. Throws dpvae::Error for N < 2 or a non-finite feature.
template <class T>
GaussianFit fit_gaussian(const Matrix<T>& features) {
  const Index n = features.rows(), f = features.cols();
  detail::require(n >= 2 && f >= 1, "a Gaussian fit needs at least 2 feature rows (got " + std::to_string(n) + ")");
  detail::require(features.allFinite(), "a feature vector holds a non-finite value");
  GaussianFit g;
  g.count = n;
  g.mean = features.template cast<double>().colwise().sum().transpose() / static_cast<double>(n);
  g.covariance = Matrix<double>::Zero(f, f);
  constexpr Index kChunk = 1024;
  for (Index r0 = 0; r0 < n; r0 += kChunk) {
    const Index len = std::min(kChunk, n - r0);
    Matrix<double> c = features.middleRows(r0, len).template cast<double>();
    c.rowwise() -= g.mean.transpose();
    g.covariance.noalias() += c.transpose() * c;
  }
  g.covariance /= static_cast<double>(n - 1);
  return g;
}

namespace detail {
/// Eigenvalues of a symmetric PSD matrix at or below its rounding level, n ε λ_max, are
/// zero: a singular covariance (a feature that is a linear combination of others) has
/// computed eigenvalues of order ε λ_max of either sign, and their square roots, of order
/// √ε, would otherwise add noise of ~1e-8 to the trace (the golden near-singular case).
inline Eigen::VectorXd clamp_psd_eigenvalues(const Eigen::VectorXd& ev) {
  const double top = ev.size() > 0 ? std::max(0.0, ev.maxCoeff()) : 0.0;
  const double tol = static_cast<double>(ev.size()) * std::numeric_limits<double>::epsilon() * top;
  return ev.unaryExpr([tol](double v) { return v <= tol ? 0.0 : v; });
}
/// The symmetric positive-semidefinite square root V Λ₊^{1/2} Vᵀ of a symmetric A.
inline Matrix<double> psd_sqrt(const Matrix<double>& a) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(Eigen::MatrixXd(0.5 * (a + a.transpose())));
  require(es.info() == Eigen::Success, "Fréchet distance: the eigensolver did not converge");
  const Eigen::VectorXd s = clamp_psd_eigenvalues(es.eigenvalues()).cwiseSqrt();
  return es.eigenvectors() * s.asDiagonal() * es.eigenvectors().transpose();
}
/// The nuclear norm Σ σ_i(P) of a square P: Householder bidiagonalization P = U B Vᵀ, then
/// the eigenvalues of B's Golub–Kahan form — the 2n × 2n symmetric tridiagonal matrix with a
/// zero diagonal and off-diagonal (d1, e1, d2, e2, …, dn), whose eigenvalues are ±σ_i — by the
/// implicit QL/QR iteration; the n largest sum to Σ σ_i. Each σ_i is accurate to ~ε σ_max, as
/// an SVD's (no squared condition number). Not Eigen 3.4's BDCSVD, whose divide-and-conquer
/// step reads out of bounds on some rank-deficient products (it crashed `dpvae reproduce` on
/// a collapsed model; tests/data/nuclear_norm_bdcsvd_crash.safetensors), nor JacobiSVD (minutes
/// at n = 2048). Throws dpvae::Error when P is not finite or the iteration does not converge.
inline double nuclear_norm(const Eigen::MatrixXd& p) {
  require(p.rows() == p.cols() && p.rows() >= 1, "nuclear norm: the matrix must be square and non-empty");
  require(p.allFinite(), "Fréchet distance: the covariance product holds a non-finite value");
  const Eigen::Index n = p.cols();
  Eigen::internal::UpperBidiagonalization<Eigen::MatrixXd> bd(p);
  auto b = bd.bidiagonal();  // a copy: BandMatrix's diagonal<1>() is not const-callable in 3.4
  Eigen::VectorXd diagonal = Eigen::VectorXd::Zero(2 * n), off(2 * n - 1);
  for (Eigen::Index i = 0; i < n; ++i) {
    off(2 * i) = b.diagonal()(i);
    if (i + 1 < n) off(2 * i + 1) = b.template diagonal<1>()(i);
  }
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es;
  es.computeFromTridiagonal(diagonal, off, Eigen::EigenvaluesOnly);
  require(es.info() == Eigen::Success, "Fréchet distance: the singular value iteration did not converge");
  return es.eigenvalues().tail(n).sum();  // ascending: the n largest are the σ_i
}
}  // namespace detail

/// The Fréchet distance between N(m1, C1) and N(m2, C2) (docs/math.md "FID"):
///   ‖m1 − m2‖² + Tr(C1) + Tr(C2) − 2 Tr((C1 C2)^{1/2}),
/// with Tr((C1 C2)^{1/2}) = Σ σ(C1^{1/2} C2^{1/2}), the singular values of the product of the
/// two symmetric square roots (their squares are the eigenvalues of C1^{1/2} C2 C1^{1/2}, whose
/// eigensolver would square the condition number and lose every eigenvalue below √(nε)·λ_max).
/// The square roots come from symmetric eigensolvers in double, eigenvalues at the rounding
/// level (≤ n ε λ_max) counting as 0; the singular values from detail::nuclear_norm. FID(C, C)
/// is 0 to ~n ε Tr(C) (tests: 2048-d spectra of condition number 1e12 to 1e-9 relative).
/// Units: squared feature units. Cost: two eigendecompositions and one bidiagonalization of
/// d × d (d = 2048: seconds). Throws dpvae::Error when the dimensions differ, a covariance is
/// not finite, or a decomposition fails.
inline double frechet_distance(const GaussianFit& a, const GaussianFit& b) {
  detail::require(a.mean.size() >= 1 && a.covariance.rows() == a.mean.size() && a.covariance.cols() == a.mean.size() &&
                      b.covariance.rows() == b.mean.size() && b.covariance.cols() == b.mean.size(),
                  "Fréchet distance: each side needs a mean of F >= 1 values and an F × F covariance");
  detail::require(a.mean.size() == b.mean.size() && a.covariance.rows() == b.covariance.rows(),
                  "Fréchet distance: feature dimensions differ (" + std::to_string(a.mean.size()) + " vs " +
                      std::to_string(b.mean.size()) + ")");
  Matrix<double> s1, s2;  // the two eigensolvers are serial in Eigen: run them side by side
  tbb::parallel_invoke([&] { s1 = detail::psd_sqrt(a.covariance); }, [&] { s2 = detail::psd_sqrt(b.covariance); });
  const double tr_sqrt = detail::nuclear_norm(s1 * s2);
  const double d = (a.mean - b.mean).squaredNorm() + a.covariance.trace() + b.covariance.trace() - 2.0 * tr_sqrt;
  return std::max(d, 0.0);
}

/// A feature space for FID: a callable mapping a batch of images (n × D, rows are images)
/// to features (n × F).
template <class F>
concept FeatureExtractor = requires(const F& f, const Matrix<float>& x) {
  { f(x) } -> std::convertible_to<Matrix<float>>;
};

/// Features of `images` in batches of `batch` rows (the extractor sees at most that many).
template <FeatureExtractor F>
Matrix<float> extract_features(const F& extractor, const Matrix<float>& images, Index batch = 500) {
  detail::require(batch > 0, "feature extraction: the batch size must be positive");
  Matrix<float> out;
  for (Index r0 = 0; r0 < images.rows(); r0 += batch) {
    const Index len = std::min(batch, images.rows() - r0);
    Matrix<float> f = extractor(Matrix<float>(images.middleRows(r0, len)));
    detail::require(f.rows() == len, "feature extraction: the extractor returned the wrong number of rows");
    if (out.size() == 0) out.resize(images.rows(), f.cols());
    detail::require(f.cols() == out.cols(), "feature extraction: the extractor changed its feature size");
    out.middleRows(r0, len) = f;
  }
  return out;
}

/// FID between held-out images and generated images in the extractor's feature space:
/// frechet_distance(fit_gaussian(features(real)), fit_gaussian(features(generated))).
template <FeatureExtractor F>
double fid(const F& extractor, const Matrix<float>& real, const Matrix<float>& generated, Index batch = 500) {
  return frechet_distance(fit_gaussian(extract_features(extractor, real, batch)),
                          fit_gaussian(extract_features(extractor, generated, batch)));
}

/// KID's result: the mean and the standard deviation (population, ddof 0, as torch-fidelity
/// reports it) of the unbiased MMD² over the subsets, in squared feature units.
struct KernelDistance {
  double mean = 0, sd = 0;
  Index subsets = 0, subset_size = 0;
};

/// Kernel inception distance (Bińkowski et al., ICLR 2018; docs/math.md "KID") between two
/// feature sets (rows are points, d columns each): over `subsets` pairs of subsets of
/// `subset_size` rows drawn without replacement from each set, the unbiased MMD² with the
/// cubic polynomial kernel k(x, y) = (xᵀy / d + 1)³,
///   MMD²_u = Σ_{i≠j} k(x_i, x_j)/(m(m−1)) + Σ_{i≠j} k(y_i, y_j)/(m(m−1)) − 2 Σ_ij k(x_i, y_j)/m²,
/// in double. Unbiased for MMD² at any subset size (unlike FID), so sets of a few thousand
/// compare fairly. Defaults are torch-fidelity's (100 subsets of 1,000; subset_size is capped
/// at the smaller set). Cost O(subsets · m² · d). Throws dpvae::Error when the dimensions
/// differ, a set has fewer than 2 rows, or subsets < 1.
template <class T>
KernelDistance kernel_inception_distance(const Matrix<T>& a, const Matrix<T>& b, Rng& rng, Index subsets = 100,
                                         Index subset_size = 1000) {
  detail::require(a.cols() == b.cols() && a.cols() > 0, "KID: the feature dimensions differ (" +
                                                             std::to_string(a.cols()) + " vs " + std::to_string(b.cols()) + ")");
  detail::require(a.rows() >= 2 && b.rows() >= 2, "KID: each set needs at least 2 points");
  detail::require(subsets >= 1 && subset_size >= 2, "KID: needs at least 1 subset of at least 2 points");
  const Index m = std::min({subset_size, a.rows(), b.rows()}), d = a.cols();
  const auto draw = [&](Index n) {  // m distinct rows of n: a partial Fisher–Yates shuffle
    std::vector<Index> idx(static_cast<std::size_t>(n));
    std::iota(idx.begin(), idx.end(), Index(0));
    for (Index i = 0; i < m; ++i)
      std::swap(idx[static_cast<std::size_t>(i)],
                idx[static_cast<std::size_t>(i + static_cast<Index>(rng.below(static_cast<std::uint64_t>(n - i))))]);
    idx.resize(static_cast<std::size_t>(m));
    return idx;
  };
  const auto cubic = [d](const Matrix<double>& g) { return ((g.array() / static_cast<double>(d) + 1.0).cube()).matrix(); };
  std::vector<double> mmd;
  Matrix<double> x(m, d), y(m, d);
  for (Index s = 0; s < subsets; ++s) {
    const auto ia = draw(a.rows()), ib = draw(b.rows());
    for (Index i = 0; i < m; ++i) {
      x.row(i) = a.row(ia[static_cast<std::size_t>(i)]).template cast<double>();
      y.row(i) = b.row(ib[static_cast<std::size_t>(i)]).template cast<double>();
    }
    const Matrix<double> kxx = cubic(x * x.transpose()), kyy = cubic(y * y.transpose()), kxy = cubic(x * y.transpose());
    const double mm1 = static_cast<double>(m) * static_cast<double>(m - 1);
    mmd.push_back((kxx.sum() - kxx.trace()) / mm1 + (kyy.sum() - kyy.trace()) / mm1 -
                  2.0 * kxy.sum() / (static_cast<double>(m) * static_cast<double>(m)));
  }
  KernelDistance r{0, 0, subsets, m};
  for (double v : mmd) r.mean += v / static_cast<double>(subsets);
  for (double v : mmd) r.sd += (v - r.mean) * (v - r.mean) / static_cast<double>(subsets);
  r.sd = std::sqrt(r.sd);
  return r;
}

// ------------------------------------------------------------------------------------------
// Symmetric KL between the aggregate posterior and the prior
// ------------------------------------------------------------------------------------------

/// A Monte Carlo estimate with its standard error.
struct Estimate {
  double value = 0, standard_error = 0;
  Index samples = 0;
};

/// Mean and standard error of the values (NaN-free; throws dpvae::Error otherwise).
inline Estimate mean_estimate(const Vector<double>& v) {
  detail::require(v.size() > 0, "an estimate needs at least one sample");
  detail::require(v.allFinite(), "a Monte Carlo term is not finite");
  Estimate e;
  e.samples = v.size();
  e.value = v.mean();
  e.standard_error =
      v.size() > 1 ? std::sqrt((v.array() - e.value).square().sum() / static_cast<double>(v.size() - 1) /
                               static_cast<double>(v.size()))
                   : 0.0;
  return e;
}

struct SymmetricKl {
  Estimate kl_q_p;  ///< KL(q(z) ‖ p(z)) = E_q[log q − log p]
  Estimate kl_p_q;  ///< KL(p(z) ‖ q(z)) = E_p[log p − log q]
  double value() const { return kl_q_p.value + kl_p_q.value; }
};

/// sKL = KL(q ‖ p) + KL(p ‖ q) in the representation space (docs/math.md "sKL"), each a Monte
/// Carlo mean over the given samples of its first argument: `z_q` drawn from q(z)
/// (AggregatePosterior::sample), `z_p` from the prior (f⁻¹ of z0 ~ N(0, I)); log q from the
/// mixture, log p exact from `log_p` (a callable Matrix<double> → Vector, nats; the
/// decoupled prior's includes its log-det). Throws dpvae::Error on a non-finite term.
template <class LogP>
SymmetricKl symmetric_kl(const AggregatePosterior& q, const LogP& log_p, const Matrix<double>& z_q,
                         const Matrix<double>& z_p) {
  SymmetricKl s;
  const Vector<double> lq_q = q.log_prob(z_q), lq_p = q.log_prob(z_p);
  const Vector<double> lp_q = log_p(z_q), lp_p = log_p(z_p);
  s.kl_q_p = mean_estimate(lq_q - lp_q);
  s.kl_p_q = mean_estimate(lp_p - lq_p);
  return s;
}

/// The 1-nearest-neighbour estimate of KL(P ‖ Q) from samples x ~ P (n × d) and y ~ Q
/// (m × d) (Wang, Kulkarni & Verdú 2009, eq. 5 with k = 1):
///   (d/n) Σ_i log(ν_i / ρ_i) + log(m / (n − 1)),
/// ρ_i the distance from x_i to its nearest other x, ν_i to its nearest y. The official
/// code's sKL estimator, offered as a cross-check (docs/math.md). Brute force, O(n (n + m) d),
/// parallel over i. Throws dpvae::Error for n < 2, m < 1, a dimension mismatch, or duplicate
/// points (ρ_i = 0).
inline double knn_kl(const Matrix<double>& x, const Matrix<double>& y) {
  const Index n = x.rows(), m = y.rows(), d = x.cols();
  detail::require(n >= 2 && m >= 1 && y.cols() == d, "kNN KL: needs n >= 2, m >= 1 samples of one dimension");
  Vector<double> term(n);
  tbb::parallel_for(tbb::blocked_range<Index>(0, n, 64), [&](const tbb::blocked_range<Index>& r) {
    for (Index i = r.begin(); i != r.end(); ++i) {
      double rho = std::numeric_limits<double>::infinity(), nu = rho;
      for (Index j = 0; j < n; ++j)
        if (j != i) rho = std::min(rho, (x.row(i) - x.row(j)).squaredNorm());
      for (Index j = 0; j < m; ++j) nu = std::min(nu, (x.row(i) - y.row(j)).squaredNorm());
      term(i) = 0.5 * (std::log(nu) - std::log(rho));
    }
  });
  detail::require(term.allFinite(), "kNN KL: duplicate sample points (a nearest-neighbour distance is 0)");
  return static_cast<double>(d) * term.mean() + std::log(static_cast<double>(m) / static_cast<double>(n - 1));
}

// ------------------------------------------------------------------------------------------
// Importance-sampled log-likelihood
// ------------------------------------------------------------------------------------------

/// What importance sampling needs of a model: the encoder's (μ, log σ²), the decoder's
/// log p_θ(x|z) per row (with its normaliser) and the prior's log p_ψ(z) per row.
template <class M>
concept LikelihoodModel = requires(const M& m, const Matrix<float>& x) {
  { m.encode(x) } -> std::convertible_to<std::pair<Matrix<float>, Matrix<float>>>;
  { m.log_likelihood(x, x) } -> std::convertible_to<Vector<double>>;
  { m.log_prior(x) } -> std::convertible_to<Vector<double>>;
};

/// log p(x) per row of x (n × D), nats, by importance sampling with the encoder as the
/// proposal (docs/math.md "NLL"; Burda et al. 2016):
///   log p(x) ≈ logsumexp_k [log p_θ(x|z_k) + log p_ψ(z_k) − log q(z_k|x)] − log K,
///   z_k = μ(x) + σ(x) ⊙ ε_k, ε_k ~ N(0, I), k = 1 … K,
/// each point with its own K proposals. The model is called on at most `batch` rows at a
/// time (the encoder on points, the decoder and prior on proposals), so memory is bounded
/// by the batch whatever n and K are. What `batch` does not change: the proposals (one RNG
/// stream, drawn point by point), log q and the logsumexp, all in double; a model whose
/// forward passes round each row independently of the others in its batch gives the same
/// result bit for bit for any `batch` (tests: a model computed row by row). What it may change: a float
/// model's matrix products are blocked by their row count, so its log p_θ(x|z), its
/// encodings and hence the estimate round differently (measured: up to 3e-8 relative per
/// point on MNIST, far below the estimator's own standard error). `progress`,
/// when given, is called with the number of points done. Throws dpvae::Error for K < 1,
/// batch < 1 or a NaN log-weight.
template <LikelihoodModel M, class Progress = std::nullptr_t>
Vector<double> importance_sampled_log_likelihood(const M& model, const Matrix<float>& x, Index K, Rng& rng,
                                                 Progress progress = nullptr, Index batch = 100) {
  detail::require(K >= 1, "importance sampling needs K >= 1 proposals");
  detail::require(batch >= 1, "importance sampling needs a batch of at least 1 row");
  const Index n = x.rows();
  Matrix<float> mu, logvar;
  for (Index r0 = 0; r0 < n; r0 += batch) {
    const Index len = std::min(batch, n - r0);
    auto [m, lv] = model.encode(x.middleRows(r0, len));
    if (r0 == 0) {
      mu.resize(n, m.cols());
      logvar.resize(n, lv.cols());
    }
    mu.middleRows(r0, len) = m;
    logvar.middleRows(r0, len) = lv;
  }
  const Index d = mu.cols();
  Vector<double> out(n);
  Matrix<float> z(K, d), xs(std::min(K, batch), x.cols());
  Matrix<double> eps(K, d);
  Vector<double> log_q(K), w(K);
  for (Index i = 0; i < n; ++i) {
    for (Index k = 0; k < K; ++k)
      for (Index j = 0; j < d; ++j) eps(k, j) = rng.normal();
    for (Index k = 0; k < K; ++k) {
      double lq = 0;
      for (Index j = 0; j < d; ++j) {
        const double lv = static_cast<double>(logvar(i, j));
        z(k, j) = static_cast<float>(static_cast<double>(mu(i, j)) + std::exp(0.5 * lv) * eps(k, j));
        // log q at the float sample actually decoded
        const double diff = static_cast<double>(z(k, j)) - static_cast<double>(mu(i, j));
        lq += -0.5 * (kLog2Pi + lv + diff * diff * std::exp(-lv));
      }
      log_q(k) = lq;
    }
    xs.rowwise() = x.row(i);
    for (Index k0 = 0; k0 < K; k0 += batch) {
      const Index len = std::min(batch, K - k0);
      const Matrix<float> zk = z.middleRows(k0, len);
      w.segment(k0, len) = model.log_likelihood(xs.topRows(len), zk) + model.log_prior(zk);
    }
    w -= log_q;
    detail::require(!w.array().isNaN().any(), "importance sampling: a log-weight is NaN");
    out(i) = logsumexp(w.data(), K) - std::log(static_cast<double>(K));
    if constexpr (!std::is_null_pointer_v<Progress>) progress(i + 1);
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// Leakage score
// ------------------------------------------------------------------------------------------

/// One point of the leakage curve.
struct LeakagePoint {
  double tau = 0;       ///< threshold on log N(f(z); 0, I) (nats)
  double score = 0;     ///< LS(τ): mean of log q(z) − log p_ψ(z) over the region (NaN if empty)
  double fraction = 0;  ///< fraction of the samples in the region
  Index count = 0;      ///< samples in the region
};

/// The leakage-score curve (paper eq. 6, docs/math.md "Leakage score"): for samples z ~ q(z)
/// with generation-space densities log_gen = log N(f(z); 0, I), aggregate-posterior
/// densities log_q and prior densities log_p (nats, one per sample), the region of τ is
/// {log_gen < τ}, and LS(τ) is the mean of log_q − log_p over it. Throws dpvae::Error when
/// the lengths differ or a value is NaN.
inline std::vector<LeakagePoint> leakage_curve(const Vector<double>& log_gen, const Vector<double>& log_q,
                                               const Vector<double>& log_p, const std::vector<double>& taus) {
  const Index n = log_gen.size();
  detail::require(n > 0 && log_q.size() == n && log_p.size() == n, "leakage: the three density vectors must have one equal, non-zero length");
  detail::require(!log_gen.array().isNaN().any() && !log_q.array().isNaN().any() && !log_p.array().isNaN().any(),
                  "leakage: a density is NaN");
  std::vector<LeakagePoint> out;
  for (double tau : taus) {
    LeakagePoint p;
    p.tau = tau;
    double sum = 0;
    for (Index i = 0; i < n; ++i)
      if (log_gen(i) < tau) {
        ++p.count;
        sum += log_q(i) - log_p(i);
      }
    p.fraction = static_cast<double>(p.count) / static_cast<double>(n);
    p.score = p.count > 0 ? sum / static_cast<double>(p.count) : std::numeric_limits<double>::quiet_NaN();
    out.push_back(p);
  }
  return out;
}

/// The official thresholds τ of the leakage curve (docs/math.md).
inline std::vector<double> official_leakage_thresholds() { return {-90, -70, -50, -30, -10, -1}; }

}  // namespace dpvae
