// dpvae/objectives/estimators.hpp — batch estimators used by the regularizers, with their gradients.
//
//  * log_gaussian_diag: log N(z; μ, diag exp(log σ²)) per row;
//  * minibatch-weighted (MWS) and minibatch stratified (MSS) sampling (Chen et al. 2018,
//    appendix C; docs/math.md "β-TCVAE") of log q(z) and log Π_k q(z_k) for a batch of B
//    posteriors from a data set of M points;
//  * the unbiased MMD² between two samples (Gretton et al. 2012) with the kernels of
//    docs/math.md "InfoVAE".
// All are O(B² d) on the latent batch (rows are points).
#pragma once

#include "dpvae/core.hpp"

#include <cmath>
#include <string>

namespace dpvae {

/// log N(z_i; μ_i, diag σ²_i) per row i (nats).
template <class T>
Vector<T> log_gaussian_diag(const Matrix<T>& z, const Matrix<T>& mu, const Matrix<T>& logvar) {
  return (-T(0.5) * (T(kLog2Pi) + logvar.array() + (z - mu).array().square() * (-logvar.array()).exp())
                        .rowwise().sum()).matrix();
}

/// The two minibatch estimators of Chen et al. (2018) (docs/math.md "β-TCVAE"):
///   mws  minibatch-weighted sampling: every pair (i, j) weighted 1/(B·M);
///   mss  minibatch stratified sampling: for z_i, its own posterior weighted 1/M, one other
///        point (j = i + 1 mod B) (M − B + 1)/(M(B − 1)), the remaining B − 2 points 1/(B − 1);
///        the weights of each row sum to 1 (mws's to 1/M), so when every posterior is the same
///        both log q̂(z) and each log q̂(z_k) are exact and the total correlation is 0, where mws
///        is off by (d − 1)·log M.
enum class TcEstimator { mws, mss };

/// Minibatch estimates for a batch (docs/math.md "β-TCVAE", golden `betatc_mws_*`), with
/// a_ijk = log N(z_ik; μ_jk, σ²_jk) and the estimator's log-weights log w_ij (TcEstimator):
///   log q(z_i)      = logsumexp_j (Σ_k a_ijk + log w_ij),
///   log Π_k q(z_ik) = Σ_k logsumexp_j (a_ijk + log w_ij).
/// `backward` adds ∂L/∂z, ∂L/∂μ, ∂L/∂log σ² given ∂L/∂log q(z_i) = cj_i and
/// ∂L/∂log Π q(z_i) = cm_i (the weights are constants). Throws dpvae::Error for M < 1, and for
/// mss also for B < 2 or M < B.
template <class T>
class MinibatchWeighted {
 public:
  /// log w_ij of the estimator for a batch of n from a data set of M points (n × n).
  static Matrix<T> log_weights(Index n, double dataset_size, TcEstimator estimator) {
    detail::require(dataset_size >= 1, "minibatch-weighted sampling needs the data-set size M >= 1");
    if (estimator == TcEstimator::mws)
      return Matrix<T>::Constant(n, n, static_cast<T>(-std::log(static_cast<double>(n) * dataset_size)));
    detail::require(n >= 2 && dataset_size >= static_cast<double>(n),
                    "minibatch stratified sampling needs a batch of at least 2 and a data set at least as large");
    const double m = dataset_size, b = static_cast<double>(n - 1);
    Matrix<T> w = Matrix<T>::Constant(n, n, static_cast<T>(-std::log(b)));
    for (Index i = 0; i < n; ++i) {
      w(i, i) = static_cast<T>(-std::log(m));
      w(i, (i + 1) % n) = static_cast<T>(std::log((m - b) / (m * b)));
    }
    return w;
  }
  void forward(const Matrix<T>& z, const Matrix<T>& mu, const Matrix<T>& logvar, double dataset_size,
               TcEstimator estimator = TcEstimator::mws) {
    const Index n = z.rows(), d = z.cols();
    if (log_w_.rows() != n || dataset_size != weights_m_ || estimator != weights_for_) {
      log_w_ = log_weights(n, dataset_size, estimator);
      weights_m_ = dataset_size;
      weights_for_ = estimator;
    }
    const bool uniform = estimator == TcEstimator::mws;
    const T log_norm = uniform ? -log_w_(0, 0) : T(0);
    a_.resize(n * n, d);  // row (i·n + j): a_ij·
    const auto inv_var = (-logvar.array()).exp().eval();
    for (Index i = 0; i < n; ++i)
      for (Index j = 0; j < n; ++j)
        a_.row(i * n + j) = -T(0.5) * (T(kLog2Pi) + logvar.row(j).array() +
                                       (z.row(i) - mu.row(j)).array().square() * inv_var.row(j));
    log_qz_.resize(n);
    log_prod_.resize(n);
    wj_.resize(n, n);
    wm_.resize(n * n, d);
    for (Index i = 0; i < n; ++i) {
      auto block = a_.middleRows(i * n, n);  // n × d: rows j
      // mws's weights are one constant, subtracted after the logsumexp (as Chen et al. write
      // it); mss's enter each term.
      Vector<T> joint = block.rowwise().sum();
      if (!uniform) {
        joint += log_w_.row(i).transpose();
        block.colwise() += log_w_.row(i).transpose();  // a_ijk + log w_ij
      }
      const T mj = joint.maxCoeff();
      const auto ej = (joint.array() - mj).exp();
      const T sj = ej.sum();
      log_qz_[i] = mj + std::log(sj) - log_norm;
      wj_.row(i) = (ej / sj).transpose();
      const Eigen::Array<T, 1, Eigen::Dynamic> mk = block.colwise().maxCoeff().array();
      const Matrix<T> ek = (block.array().rowwise() - mk).exp().matrix();
      const Eigen::Array<T, 1, Eigen::Dynamic> sk = ek.colwise().sum().array();
      wm_.middleRows(i * n, n) = (ek.array().rowwise() / sk).matrix();
      log_prod_[i] = (mk + sk.log()).sum() - T(d) * log_norm;
    }
  }
  const Vector<T>& log_qz() const { return log_qz_; }
  const Vector<T>& log_prod_qz() const { return log_prod_; }

  void backward(const Matrix<T>& z, const Matrix<T>& mu, const Matrix<T>& logvar, const Vector<T>& cj,
                const Vector<T>& cm, Matrix<T>& dz, Matrix<T>& dmu, Matrix<T>& dlogvar) const {
    const Index n = z.rows(), d = z.cols();
    inv_var_ = (-logvar.array()).exp().matrix();
    // Plain loops over k: per-pair Eigen row expressions with .eval() allocated a
    // temporary per pair (B² per step).
    for (Index i = 0; i < n; ++i)
      for (Index j = 0; j < n; ++j) {
        const T cw = cj[i] * wj_(i, j);
        for (Index k = 0; k < d; ++k) {
          // coefficient on ∂a_ijk: cj_i w_ij + cm_i w_ijk
          const T coef = cw + cm[i] * wm_(i * n + j, k);
          const T delta = z(i, k) - mu(j, k);
          const T diff = delta * inv_var_(j, k);
          dz(i, k) -= coef * diff;
          dmu(j, k) += coef * diff;
          dlogvar(j, k) += coef * (T(0.5) * delta * diff - T(0.5));
        }
      }
  }

 private:
  Matrix<T> a_, wj_, wm_, log_w_;
  double weights_m_ = 0;
  TcEstimator weights_for_ = TcEstimator::mws;
  mutable Matrix<T> inv_var_;
  Vector<T> log_qz_, log_prod_;
};

/// MMD kernels of docs/math.md "InfoVAE": the Gaussian k(a, b) = exp(−‖a − b‖² / d²) of Zhao's
/// reference code, or the inverse multiquadratic k(a, b) = C / (C + ‖a − b‖²), C = 2d.
enum class MmdKernel { rbf, imq };

/// Unbiased MMD² between samples X (n × d) and Y (m × d) (diagonal terms excluded):
///   MMD² = Σ_{i≠j} k(x_i, x_j) / (n(n−1)) + Σ_{i≠j} k(y_i, y_j) / (m(m−1)) − 2 Σ_ij k(x_i, y_j) / (nm).
/// When dx / dy are given, assigns c · ∂MMD²/∂X and c · ∂MMD²/∂Y.
template <class T>
T mmd_unbiased(const Matrix<T>& x, const Matrix<T>& y, MmdKernel kernel, T c = T(1), Matrix<T>* dx = nullptr,
               Matrix<T>* dy = nullptr) {
  const Index n = x.rows(), m = y.rows(), d = x.cols();
  detail::require(n >= 2 && m >= 2 && y.cols() == d, "MMD needs two samples of at least 2 points each, same dimension");
  const T scale = kernel == MmdKernel::rbf ? T(d) * T(d) : T(2 * d);
  // k and dk/d(r²) for r² = ‖a − b‖².
  auto k_and_slope = [&](T r2, T& k, T& slope) {
    if (kernel == MmdKernel::rbf) {
      k = std::exp(-r2 / scale);
      slope = -k / scale;
    } else {
      k = scale / (scale + r2);
      slope = -k * k / scale;
    }
  };
  if (dx) dx->setZero(n, d);
  if (dy) dy->setZero(m, d);
  T sxx = 0, syy = 0, sxy = 0;
  const T wxx = T(1) / (T(n) * T(n - 1)), wyy = T(1) / (T(m) * T(m - 1)), wxy = T(2) / (T(n) * T(m));
  auto pairs = [&](const Matrix<T>& a, const Matrix<T>& b, bool same, T w, T& sum, Matrix<T>* da, Matrix<T>* db) {
    // Plain loops over the d coordinates: a per-pair Eigen row temporary allocated B² times.
    for (Index i = 0; i < a.rows(); ++i)
      for (Index j = same ? i + 1 : 0; j < b.rows(); ++j) {
        const T* ai = a.data() + i * d;
        const T* bj = b.data() + j * d;
        T r2 = 0;
        for (Index q = 0; q < d; ++q) r2 += (ai[q] - bj[q]) * (ai[q] - bj[q]);
        T k, slope;
        k_and_slope(r2, k, slope);
        sum += same ? 2 * k : k;
        // ∂k/∂a_i = 2 slope (a_i − b_j); each unordered same-sample pair counts twice.
        const T g = c * w * T(2) * slope * (same ? T(2) : T(1));
        if (da)
          for (Index q = 0; q < d; ++q) (*da)(i, q) += g * (ai[q] - bj[q]);
        if (db)
          for (Index q = 0; q < d; ++q) (*db)(j, q) -= g * (ai[q] - bj[q]);
      }
  };
  pairs(x, x, true, wxx, sxx, dx, dx);
  pairs(y, y, true, wyy, syy, dy, dy);
  pairs(x, y, false, -wxy, sxy, dx, dy);
  return sxx * wxx + syy * wyy - sxy * wxy;
}

}  // namespace dpvae
