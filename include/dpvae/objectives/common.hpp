// dpvae/objectives/common.hpp — what every objective shares: the step's latent batch, the
// gradients an objective adds, the named terms it returns, the regularizer-policy concept,
// and the base that gives an objective no parameters of its own.
//
// docs/math.md "Objectives" and "Conventions and defaults": every objective is a loss
// (= −objective), per sample: reconstruction and KL summed over dimensions and averaged
// over the batch, batch statistics per sample by construction. A policy holds its
// hyperparameters (run-time values, described once by hyperparameters()), asks the prior
// for KL, log p(z) and samples (never for block internals), and returns its named terms
// plus the gradients of its latent terms with respect to z, μ and log σ² (the prior's ψ
// gradients accumulate in the prior). Its scratch lives in its own Workspace<Prior>, which
// the model keeps for it; nothing passes between two calls but through that workspace.
#pragma once

#include "dpvae/nn/network.hpp"
#include "dpvae/nn/optim.hpp"
#include "dpvae/objectives/estimators.hpp"
#include "dpvae/objectives/hyperparameters.hpp"
#include "dpvae/prior/priors.hpp"

#include <array>
#include <cmath>
#include <concepts>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dpvae {

/// Named loss terms of one step, in nats per sample; "loss" (the total) first, then "recon"
/// and the objective's terms ("kl", "tc", …), in order. A vector of (name, value) pairs, with
/// lookups by name.
struct Terms : std::vector<std::pair<std::string, double>> {
  using std::vector<std::pair<std::string, double>>::vector;
  using std::vector<std::pair<std::string, double>>::operator[];
  /// The value of term `name`. Throws dpvae::Error naming it when the step has no such term.
  double operator[](std::string_view name) const {
    for (const auto& [k, v] : *this)
      if (k == name) return v;
    detail::fail("no loss term '" + std::string(name) + "' in this step's terms");
  }
  bool has(std::string_view name) const {
    for (const auto& kv : *this)
      if (kv.first == name) return true;
    return false;
  }
  /// The total loss (nats per sample): the first term.
  double loss() const { return (*this)["loss"]; }
};

/// What a regularizer sees of a step (rows are points; all n × d).
template <class T>
struct LatentBatch {
  const Matrix<T>& mu;
  const Matrix<T>& logvar;
  const Matrix<T>& z;          // μ + exp(½ log σ²) ⊙ ε
  std::uint64_t step = 0;      // 0-based index of this optimisation step
  double dataset_size = 1;     // M, the number of training points
};

/// The gradients a regularizer adds (accumulates) for its latent terms.
template <class T>
struct LatentGrads {
  Matrix<T> dz, dmu, dlogvar;
  void reset(Index n, Index d) {
    dz.setZero(n, d);
    dmu.setZero(n, d);
    dlogvar.setZero(n, d);
  }
};

template <>
struct EnumNames<MmdKernel> {
  static constexpr std::array<const char*, 2> names{"rbf", "imq"};
};
template <>
struct EnumNames<TcEstimator> {
  static constexpr std::array<const char*, 2> names{"mws", "mss"};
};

inline constexpr double kInf = std::numeric_limits<double>::infinity();

/// The base of an objective without parameters of its own: no auxiliary step, no state
/// beyond its hyperparameters. FactorVAE's discriminator overrides these.
template <class T>
struct ObjectiveBase {
  /// Builds and initialises the objective's own parameters for latent dimension d.
  void setup(Index /*latent_dim*/, Rng& /*rng*/) {}
  /// The objective's own step, before any update (called after the model's gradients on
  /// this step's z): fills its own gradients and returns its terms (nats).
  Terms auxiliary_prepare(const Matrix<T>& /*z*/, Rng& /*rng*/) { return {}; }
  /// One optimiser step of the objective's own parameters on the prepared gradients.
  void auxiliary_apply() {}
  /// The gradients of the objective's own parameters (empty when it has none).
  std::span<T> auxiliary_gradients() { return {}; }
  /// Visits the objective's learned state (tensors, counts) for checkpoints.
  template <class V>
  void visit_state(V& /*visitor*/) {}
};

namespace detail {
/// For a state visitor v (DpVae::visit_state): calls v.tensor(name, slice, shape) for every
/// tensor that `enumerate` names as (name, offset, shape) inside the flat `buffer`.
template <class T, class V, class Enumerate>
void visit_buffer_tensors(V& v, std::span<T> buffer, Enumerate&& enumerate) {
  enumerate([&](const std::string& name, Index offset, const std::vector<std::int64_t>& shape) {
    std::int64_t numel = 1;
    for (const auto s : shape) numel *= s;
    v.tensor(name, buffer.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(numel)), shape);
  });
}

/// Mean per-sample KL under the prior and its gradient, scaled by `weight`.
template <class T, class P>
double kl_term(const LatentBatch<T>& b, const P& prior, typename P::Tape& tape, double weight, LatentGrads<T>& g) {
  const Vector<T> kl = prior.kl(b.mu, b.logvar, b.z, tape);
  const Index n = b.z.rows();
  if (weight != 0.0) {
    const Vector<T> c = Vector<T>::Constant(n, static_cast<T>(weight / static_cast<double>(n)));
    prior.accumulate_kl_grad(tape, b.mu, b.logvar, c, g.dmu, g.dlogvar, g.dz);
  }
  return static_cast<double>(kl.mean());
}
}  // namespace detail

/// The objective's latent terms with a fresh workspace, for one-off calls (a model keeps
/// one workspace for every step).
template <class O, class T, class P>
Terms latent_loss(O& o, const LatentBatch<T>& b, const P& prior, Rng& rng, LatentGrads<T>& g) {
  typename O::template Workspace<P> ws;
  return o.latent_loss(b, prior, rng, g, ws);
}

/// A regularizer policy: wraps an objective template so that models name it without a
/// scalar type (`DpVae<BetaTC, Coupling<6>>`) and instantiate it for theirs.
template <template <class> class Objective>
struct Regularizer {
  template <class T>
  using policy = Objective<T>;
  static constexpr const char* name = Objective<float>::name;
};

/// What an objective provides (checked with static_assert by the model).
template <class O, class T, class P>
concept RegularizerPolicy = requires(O& o, const O& co, const LatentBatch<T>& b, const P& prior, Rng& rng,
                                     LatentGrads<T>& g, typename O::template Workspace<P>& ws, const Matrix<T>& z) {
  { O::name } -> std::convertible_to<const char*>;
  { O::display_standard } -> std::convertible_to<const char*>;
  { O::display_decoupled } -> std::convertible_to<const char*>;
  { O::official_run } -> std::convertible_to<OfficialRun>;
  O::hyperparameters();
  co.validate();
  { o.latent_loss(b, prior, rng, g, ws) } -> std::same_as<Terms>;
  { o.auxiliary_prepare(z, rng) } -> std::same_as<Terms>;
  o.auxiliary_apply();
  { o.auxiliary_gradients() } -> std::convertible_to<std::span<T>>;
};

}  // namespace dpvae
