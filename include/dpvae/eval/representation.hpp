// dpvae/eval/representation.hpp — the representation half of the dpVAE claim: how much a
// regularized latent space knows about the data, with and without the decoupled prior.
//
//  * linear_probe: multinomial logistic regression on mean encodings, trained on the
//    training set and scored on the test set (classification accuracy);
//  * mutual_information_gap (MIG; Chen et al. 2018, eq. 7) with the histogram estimator of
//    disentanglement_lib (Locatello et al. 2019), for data whose generative factors are known.
// Rows are points; mutual informations and entropies are in nats.
#pragma once

#include "dpvae/core.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace dpvae {

// ------------------------------------------------------------------------------------------
// Linear probe
// ------------------------------------------------------------------------------------------

/// The mean softmax cross-entropy of a linear classifier plus an L2 penalty (nats):
///   L(W, b) = (1/n) Σ_i [logsumexp_c (x_i W + b)_c − (x_i W + b)_{y_i}] + (λ/2) ‖W‖²,
/// x n × F, W F × C, b C, labels y_i ∈ [0, C). Fills dW, db with ∂L/∂W, ∂L/∂b and returns L.
/// Throws dpvae::Error on a shape mismatch or a label outside [0, C).
inline double softmax_regression_loss(const Matrix<double>& x, const std::vector<int>& y, const Matrix<double>& w,
                                      const Vector<double>& b, double lambda, Matrix<double>& dw,
                                      Vector<double>& db) {
  const Index n = x.rows(), c = w.cols();
  detail::require(static_cast<Index>(y.size()) == n && w.rows() == x.cols() && b.size() == c && n > 0,
                  "softmax regression: shape mismatch");
  Matrix<double> logits = x * w;
  logits.rowwise() += b.transpose();
  double loss = 0;
  for (Index i = 0; i < n; ++i) {
    const int yi = y[static_cast<std::size_t>(i)];
    detail::require(yi >= 0 && yi < c, "softmax regression: label " + std::to_string(yi) + " outside [0, " +
                                           std::to_string(c) + ")");
    const double m = logits.row(i).maxCoeff();
    auto p = (logits.row(i).array() - m).exp().eval();
    const double s = p.sum();
    loss += m + std::log(s) - logits(i, yi);
    logits.row(i) = (p / s).matrix();  // now the softmax probabilities
    logits(i, yi) -= 1.0;
  }
  logits /= static_cast<double>(n);
  dw = x.transpose() * logits + lambda * w;
  db = logits.colwise().sum().transpose();
  return loss / static_cast<double>(n) + 0.5 * lambda * w.squaredNorm();
}

struct ProbeConfig {
  double lambda = 1e-4;      ///< L2 penalty on W (on standardised features)
  Index iterations = 500;    ///< full-batch Adam steps
  double learning_rate = 0.05;
};

struct ProbeResult {
  double train_accuracy = 0, test_accuracy = 0;  ///< fractions in [0, 1]
  double train_loss = 0;                         ///< final L(W, b), nats
  Index classes = 0;
};

/// Linear-probe accuracy: features standardised with the training mean and standard
/// deviation, a multinomial logistic regression (softmax_regression_loss) fitted by
/// full-batch Adam, the fraction of correct argmax predictions on train and test.
/// Classes are 0 … max label. Throws dpvae::Error on mismatched sizes, an empty set or a
/// negative label.
template <class T>
ProbeResult linear_probe(const Matrix<T>& train_x, const std::vector<int>& train_y, const Matrix<T>& test_x,
                         const std::vector<int>& test_y, const ProbeConfig& cfg = {}) {
  detail::require(train_x.rows() > 0 && static_cast<Index>(train_y.size()) == train_x.rows() &&
                      static_cast<Index>(test_y.size()) == test_x.rows() && test_x.cols() == train_x.cols(),
                  "linear probe: features and labels do not match in size");
  int max_label = 0;
  for (int v : train_y) {
    detail::require(v >= 0, "linear probe: negative label");
    max_label = std::max(max_label, v);
  }
  for (int v : test_y) detail::require(v >= 0, "linear probe: negative label");
  const Index c = max_label + 1, f = train_x.cols();
  Matrix<double> x = train_x.template cast<double>();
  const Vector<double> mean = x.colwise().mean().transpose();
  x.rowwise() -= mean.transpose();
  Vector<double> sd = (x.array().square().colwise().sum() / static_cast<double>(x.rows())).sqrt().matrix().transpose();
  for (Index k = 0; k < f; ++k) sd(k) = sd(k) > 1e-12 ? sd(k) : 1.0;
  x.array().rowwise() /= sd.transpose().array();

  Matrix<double> w = Matrix<double>::Zero(f, c), dw, mw = w, vw = w;
  Vector<double> b = Vector<double>::Zero(c), db, mb = b, vb = b;
  ProbeResult r;
  r.classes = c;
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  for (Index t = 1; t <= cfg.iterations; ++t) {
    r.train_loss = softmax_regression_loss(x, train_y, w, b, cfg.lambda, dw, db);
    const double c1 = 1 - std::pow(b1, static_cast<double>(t)), c2 = 1 - std::pow(b2, static_cast<double>(t));
    mw = b1 * mw + (1 - b1) * dw;
    vw = (b2 * vw.array() + (1 - b2) * dw.array().square()).matrix();
    mb = b1 * mb + (1 - b1) * db;
    vb = (b2 * vb.array() + (1 - b2) * db.array().square()).matrix();
    w.array() -= cfg.learning_rate * (mw.array() / c1) / ((vw.array() / c2).sqrt() + eps);
    b.array() -= cfg.learning_rate * (mb.array() / c1) / ((vb.array() / c2).sqrt() + eps);
  }
  r.train_loss = softmax_regression_loss(x, train_y, w, b, cfg.lambda, dw, db);
  auto accuracy = [&](const Matrix<double>& xs, const std::vector<int>& ys) {
    if (xs.rows() == 0) return 0.0;
    Matrix<double> logits = xs * w;
    logits.rowwise() += b.transpose();
    Index correct = 0;
    for (Index i = 0; i < xs.rows(); ++i) {
      Index arg = 0;
      logits.row(i).maxCoeff(&arg);
      correct += (arg == ys[static_cast<std::size_t>(i)]) ? 1 : 0;
    }
    return static_cast<double>(correct) / static_cast<double>(xs.rows());
  };
  Matrix<double> xt = test_x.template cast<double>();
  xt.rowwise() -= mean.transpose();
  xt.array().rowwise() /= sd.transpose().array();
  r.train_accuracy = accuracy(x, train_y);
  r.test_accuracy = accuracy(xt, test_y);
  return r;
}

// ------------------------------------------------------------------------------------------
// Mutual information gap
// ------------------------------------------------------------------------------------------

/// Equal-width histogram bins of v over [min v, max v]: bin ⌊bins (v − min) / (max − min)⌋,
/// the maximum in the last bin (disentanglement_lib's discretisation). Throws
/// dpvae::Error for bins < 1 or a non-finite value.
inline std::vector<int> discretize(const Vector<double>& v, int bins) {
  detail::require(bins >= 1, "discretize: needs at least one bin");
  detail::require(v.allFinite(), "discretize: a value is not finite");
  std::vector<int> out(static_cast<std::size_t>(v.size()), 0);
  if (v.size() == 0) return out;
  const double lo = v.minCoeff(), hi = v.maxCoeff();
  if (!(hi > lo)) return out;
  for (Index i = 0; i < v.size(); ++i)
    out[static_cast<std::size_t>(i)] =
        std::min(bins - 1, static_cast<int>(std::floor(bins * (v(i) - lo) / (hi - lo))));
  return out;
}

/// Entropy H(a) = −Σ p log p of the empirical distribution of integer codes (nats).
inline double discrete_entropy(const std::vector<int>& a) {
  std::map<int, double> count;
  for (int v : a) count[v] += 1;
  double h = 0;
  const double n = static_cast<double>(a.size());
  for (const auto& [k, c] : count) h -= c / n * std::log(c / n);
  return h;
}

/// Mutual information I(a; b) = Σ p(a, b) log [p(a, b) / (p(a) p(b))] of the empirical
/// joint distribution of two equally long code sequences (nats; the plug-in estimator).
/// Throws dpvae::Error when the lengths differ.
inline double discrete_mutual_information(const std::vector<int>& a, const std::vector<int>& b) {
  detail::require(a.size() == b.size(), "mutual information: sequences of different lengths");
  std::map<std::pair<int, int>, double> joint;
  std::map<int, double> pa, pb;
  for (std::size_t i = 0; i < a.size(); ++i) {
    joint[{a[i], b[i]}] += 1;
    pa[a[i]] += 1;
    pb[b[i]] += 1;
  }
  const double n = static_cast<double>(a.size());
  double mi = 0;
  for (const auto& [k, c] : joint) mi += c / n * std::log(c * n / (pa[k.first] * pb[k.second]));
  return std::max(mi, 0.0);
}

struct MigResult {
  double mig = 0;                     ///< mean over factors of the normalised gap
  std::vector<double> per_factor;     ///< (I_top1 − I_top2) / H(v_k) per factor
  Matrix<double> mutual_information;  ///< d × K: I(z_j; v_k), nats
  std::vector<double> factor_entropy; ///< H(v_k), nats
};

/// The mutual information gap (Chen et al. 2018, eq. 7):
///   MIG = (1/K) Σ_k [I(z_{j(k)}; v_k) − max_{j ≠ j(k)} I(z_j; v_k)] / H(v_k),
/// j(k) = argmax_j I(z_j; v_k), each latent dimension of `codes` (n × d, e.g. posterior
/// means) discretised into `bins` equal-width bins, each factor v_k given as integer codes
/// (discretise continuous factors first). A factor with H = 0 contributes 0. With d = 1 the
/// second term is 0. Throws dpvae::Error on mismatched lengths or no factors.
template <class T>
MigResult mutual_information_gap(const Matrix<T>& codes, const std::vector<std::vector<int>>& factors, int bins = 20) {
  const Index n = codes.rows(), d = codes.cols();
  detail::require(!factors.empty() && n > 0 && d > 0, "MIG: needs codes and at least one factor");
  for (const auto& f : factors) detail::require(static_cast<Index>(f.size()) == n, "MIG: a factor's length differs from the number of codes");
  std::vector<std::vector<int>> z(static_cast<std::size_t>(d));
  for (Index j = 0; j < d; ++j) z[static_cast<std::size_t>(j)] = discretize(codes.col(j).template cast<double>(), bins);
  MigResult r;
  const Index k_count = static_cast<Index>(factors.size());
  r.mutual_information.resize(d, k_count);
  for (Index k = 0; k < k_count; ++k) {
    const auto& v = factors[static_cast<std::size_t>(k)];
    const double h = discrete_entropy(v);
    r.factor_entropy.push_back(h);
    std::vector<double> mi(static_cast<std::size_t>(d));
    for (Index j = 0; j < d; ++j) {
      mi[static_cast<std::size_t>(j)] = discrete_mutual_information(z[static_cast<std::size_t>(j)], v);
      r.mutual_information(j, k) = mi[static_cast<std::size_t>(j)];
    }
    std::sort(mi.rbegin(), mi.rend());
    const double gap = mi[0] - (d > 1 ? mi[1] : 0.0);
    r.per_factor.push_back(h > 0 ? gap / h : 0.0);
  }
  double s = 0;
  for (double g : r.per_factor) s += g;
  r.mig = s / static_cast<double>(k_count);
  return r;
}

}  // namespace dpvae
