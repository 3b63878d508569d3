// dpvae/prior/priors.hpp — the latent priors p(z): the standard normal and the decoupled prior.
//
// Decoupled prior (docs/math.md "Decoupled prior", paper eq. 2):
//     p_ψ(z) = N(f(z); 0, I) · |det ∂f/∂z|,  f = K flow blocks (flow_block.hpp; the paper's
//     block is the affine coupling, affine_coupling.hpp).
// The standard normal prior is the special case f = identity.
//
// Both priors share one API (rows are points, log-densities in nats):
//     dpvae::Coupling<6, double> prior(/*dim=*/2, /*seed=*/1);
//     auto [z0, logdet] = prior.forward(z);   // z0 = f(z) (n × d), log|det ∂f/∂z| (n)
//     Matrix z = prior.inverse(z0);            // f⁻¹
//     Vector lp = prior.log_prob(z);           // exact log p(z)
//     Matrix s = prior.sample(n, rng);         // f⁻¹(z0), z0 ~ N(0, I)
//     std::span<T> w = prior.parameters();     // the flat parameter slice, mutable
// plus the tape-based passes and backward passes the objectives use (docs/math.md
// "Gradients"). Each pass records on a Tape the caller owns; a prior keeps no state between
// two calls.
// A standalone prior owns its parameters; inside a model it is bound to a slice of the
// model's flat buffers.
#pragma once

#include "dpvae/prior/affine_coupling.hpp"
#include <concepts>

#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>
#include <utility>

namespace dpvae {

/// Prior family tag: p(z) = N(0, I).
struct StandardNormal {
  static constexpr const char* name = "standard";
};
/// K = dynamic_blocks: the number of flow blocks is a run-time value (ModelConfig::flow_blocks).
inline constexpr int dynamic_blocks = 0;

/// Prior family tag: the decoupled prior with K blocks of type Block<T, Backend> (a
/// dpvae::FlowBlock), or a run-time number of them when K = dynamic_blocks.
template <template <class, class> class Block, int K>
struct Decoupled {
  static_assert(K >= 0, "Decoupled<Block, K> needs K >= 1 flow blocks (or dynamic_blocks)");
  static constexpr int blocks = K;
  static constexpr const char* name = "decoupled";
  template <class T, class B>
  using block = Block<T, B>;
};
/// The paper's decoupled prior family: K affine coupling blocks.
template <int K>
using AffineCoupling = Decoupled<AffineCouplingBlock, K>;

template <class Family, class T = float, class B = Cpu>
class Prior;

namespace detail {
/// log N(x; 0, I) per row: −½‖x‖² − (d/2) log 2π.
template <class T>
Vector<T> log_standard_normal(const Matrix<T>& x) {
  return (-T(0.5) * x.rowwise().squaredNorm().array() - T(0.5 * kLog2Pi) * T(x.cols())).matrix();
}
}  // namespace detail

/// The standard normal prior p(z) = N(z; 0, I): f = identity, no parameters.
template <class T, class B>
class Prior<StandardNormal, T, B> {
 public:
  using Scalar = T;
  using Family = StandardNormal;
  struct Tape {};
  static constexpr bool is_decoupled = false;

  explicit Prior(Index dim, std::uint64_t /*seed*/ = 0) : dim_(dim) {
    detail::require(dim >= 1, "the prior needs a latent dimension >= 1");
  }
  Index dim() const { return dim_; }
  Index num_parameters() const { return 0; }
  std::span<T> parameters() { return {}; }
  std::span<T> gradients() { return {}; }
  void bind(std::span<T>, std::span<T>) {}
  void init(Rng&) {}
  /// No tensors.
  template <class F>
  void visit_tensors(const std::string&, F&&) const {}
  /// The settings that fix the prior's math.
  std::string describe() const { return "standard"; }

  std::pair<Matrix<T>, Vector<T>> forward(const Matrix<T>& z) const {
    check(z);
    return {z, Vector<T>::Zero(z.rows())};
  }
  Matrix<T> inverse(const Matrix<T>& z0) const {
    check(z0);
    return z0;
  }
  Vector<T> log_prob(const Matrix<T>& z) const {
    check(z);
    return detail::log_standard_normal(z);
  }
  Matrix<T> sample(Index n, Rng& rng) const {
    detail::require(n >= 0, "prior sample: the number of samples must be >= 0");
    Matrix<T> z(n, dim_);
    rng.fill_normal(std::span<T>(z.data(), static_cast<std::size_t>(z.size())));
    return z;
  }

  // --- training passes -------------------------------------------------------------
  void forward(const Matrix<T>& z, Matrix<T>& z0, Vector<T>& logdet, Tape&) const {
    check(z);
    z0 = z;
    logdet.setZero(z.rows());
  }
  void backward_forward(Tape&, const Matrix<T>& dz0, const Vector<T>&, Matrix<T>* dz) const {
    if (dz) *dz = dz0;
  }
  void inverse(const Matrix<T>& z0, Matrix<T>& z, Tape&) const {
    check(z0);
    z = z0;
  }
  void backward_inverse(Tape&, const Matrix<T>& dz, Matrix<T>* dz0) const {
    if (dz0) *dz0 = dz;
  }

  /// Per-sample KL(q(z|x) ‖ N(0, I)) in closed form, ½ Σ_j (μ² + σ² − log σ² − 1) (nats;
  /// docs/math.md "KL under the decoupled prior", f = identity); z is not used.
  Vector<T> kl(const Matrix<T>& mu, const Matrix<T>& logvar, const Matrix<T>& /*z*/, Tape&) const {
    return (T(0.5) * (mu.array().square() + logvar.array().exp() - logvar.array() - T(1)).rowwise().sum()).matrix();
  }
  /// Adds c_i · ∂KL_i/∂(μ, log σ², z) to dmu, dlogvar, dz (n × d each), c = dkl (n).
  void accumulate_kl_grad(Tape&, const Matrix<T>& mu, const Matrix<T>& logvar, const Vector<T>& dkl,
                          Matrix<T>& dmu, Matrix<T>& dlogvar, Matrix<T>& /*dz*/) const {
    dmu.array() += mu.array().colwise() * dkl.array();
    dlogvar.array() += (T(0.5) * (logvar.array().exp() - T(1))).colwise() * dkl.array();
  }

 private:
  void check(const Matrix<T>& z) const {
    detail::require(z.cols() == dim_, "prior input has " + std::to_string(z.cols()) +
                                          " columns, the latent dimension is " + std::to_string(dim_));
  }
  Index dim_;
};

/// The decoupled prior p_ψ(z) = N(f(z); 0, I) |det ∂f/∂z| with K blocks.
template <template <class, class> class Blk, int K, class T, class B>
class Prior<Decoupled<Blk, K>, T, B> {
 public:
  using Scalar = T;
  using Family = Decoupled<Blk, K>;
  using Flow = dpvae::Flow<Blk<T, B>>;
  /// One training pass of the prior: the flow's tape, and what kl() records for
  /// accumulate_kl_grad (f(z), the log-det) with the backward scratch.
  struct Tape {
    typename Flow::Tape flow;
    Matrix<T> z0, dz0, dz;
    Vector<T> logdet, dlogdet;
  };
  static constexpr bool is_decoupled = true;
  static constexpr Index chunk_rows = 1024;

  /// A standalone prior owning its parameters, initialised from `seed`; `blocks` is used
  /// only when K = dynamic_blocks.
  explicit Prior(Index dim, std::uint64_t seed = 0, Index hidden = 64, Index blocks = 6)
      : flow_(dim, K == dynamic_blocks ? blocks : K, FlowBlockConfig{hidden}) {
    detail::require(flow_.num_blocks() >= 1, "the decoupled prior needs at least one flow block");
    owned_.assign(static_cast<std::size_t>(flow_.num_parameters()), T(0));
    owned_grads_.assign(owned_.size(), T(0));
    bind(owned_, owned_grads_);
    Rng rng(seed);
    init(rng);
  }
  Prior(const Prior& other) : flow_(other.flow_), owned_(other.owned_), owned_grads_(other.owned_grads_) {
    if (other.params_.data() == other.owned_.data()) {
      bind(owned_, owned_grads_);
    } else {
      bind(other.params_, other.grads_);
    }
  }
  Prior& operator=(const Prior&) = delete;
  /// Moves keep every view valid: the buffers' storage moves with them.
  Prior(Prior&&) noexcept = default;
  Prior& operator=(Prior&&) noexcept = default;

  Index dim() const { return flow_.dim(); }
  Index num_parameters() const { return flow_.num_parameters(); }
  /// The flat parameter slice ψ (mutable: a caller may set it).
  std::span<T> parameters() { return params_; }
  std::span<T> gradients() { return grads_; }
  const Flow& flow() const { return flow_; }
  Flow& flow() { return flow_; }
  /// Rebinds the prior to a slice of a model's buffers (values are not copied).
  void bind(std::span<T> params, std::span<T> grads) {
    params_ = params;
    grads_ = grads;
    flow_.bind(params, grads);
  }
  void init(Rng& rng) { flow_.init(rng); }
  /// Calls f(name, offset in the prior's slice, shape) for each tensor (`prefix.block<k>.…`).
  template <class F>
  void visit_tensors(const std::string& prefix, F&& f) const {
    flow_.visit_tensors(prefix, std::forward<F>(f));
  }
  /// The settings that fix the prior's math: "decoupled: K x <block>".
  std::string describe() const { return std::string("decoupled: ") + flow_.describe(); }

  /// z0 = f(z) (n × d) and log|det ∂f/∂z| (n). Large batches run in row chunks in
  /// parallel (rows are independent, so the result does not depend on the thread count).
  std::pair<Matrix<T>, Vector<T>> forward(const Matrix<T>& z) const {
    Matrix<T> z0(z.rows(), z.cols());
    Vector<T> logdet(z.rows());
    tbb::enumerable_thread_specific<Workspace> workspaces;
    for_chunks(z.rows(), [&](Index r0, Index r1) {
      Workspace& w = workspaces.local();
      w.in = z.middleRows(r0, r1 - r0);
      flow_.forward(w.in, w.out, w.logdet, w.tape.flow);
      z0.middleRows(r0, r1 - r0) = w.out;
      logdet.segment(r0, r1 - r0) = w.logdet;
    });
    return {std::move(z0), std::move(logdet)};
  }
  /// z = f⁻¹(z0) (n × d), in parallel row chunks like forward().
  Matrix<T> inverse(const Matrix<T>& z0) const {
    Matrix<T> z(z0.rows(), z0.cols());
    tbb::enumerable_thread_specific<Workspace> workspaces;
    for_chunks(z0.rows(), [&](Index r0, Index r1) {
      Workspace& w = workspaces.local();
      w.in = z0.middleRows(r0, r1 - r0);
      flow_.inverse(w.in, w.out, w.tape.flow);
      z.middleRows(r0, r1 - r0) = w.out;
    });
    return z;
  }
  /// log p_ψ(z) = log N(f(z); 0, I) + log|det ∂f/∂z| per row (nats).
  Vector<T> log_prob(const Matrix<T>& z) const {
    auto [z0, logdet] = forward(z);
    return detail::log_standard_normal(z0) + logdet;
  }
  Matrix<T> sample(Index n, Rng& rng) const {
    detail::require(n >= 0, "prior sample: the number of samples must be >= 0");
    Matrix<T> z0(n, dim());
    rng.fill_normal(std::span<T>(z0.data(), static_cast<std::size_t>(z0.size())));
    return inverse(z0);
  }

  // --- training passes -------------------------------------------------------------
  void forward(const Matrix<T>& z, Matrix<T>& z0, Vector<T>& logdet, Tape& tape) const {
    flow_.forward(z, z0, logdet, tape.flow);
  }
  void backward_forward(Tape& tape, const Matrix<T>& dz0, const Vector<T>& dlogdet, Matrix<T>* dz) const {
    flow_.backward_forward(tape.flow, dz0, dlogdet, dz);
  }
  void inverse(const Matrix<T>& z0, Matrix<T>& z, Tape& tape) const { flow_.inverse(z0, z, tape.flow); }
  void backward_inverse(Tape& tape, const Matrix<T>& dz, Matrix<T>* dz0) const {
    flow_.backward_inverse(tape.flow, dz, dz0);
  }

  /// Per-sample KL(q(z|x) ‖ p_ψ) in nats (docs/math.md "KL under the decoupled prior";
  /// paper eq. 5, appendix A), with the analytic entropy and the one reparameterised sample z
  /// for the cross term:
  ///     KL_i = −½ Σ_j (1 + log σ²_ij) + ½ ‖f(z_i)‖² − log|det ∂f/∂z|(z_i)
  /// (the log 2π terms cancel). Records f(z) and the log-det on `tape` for accumulate_kl_grad.
  Vector<T> kl(const Matrix<T>& /*mu*/, const Matrix<T>& logvar, const Matrix<T>& z, Tape& tape) const {
    flow_.forward(z, tape.z0, tape.logdet, tape.flow);
    return (-T(0.5) * (T(1) + logvar.array()).rowwise().sum() + T(0.5) * tape.z0.rowwise().squaredNorm().array() -
            tape.logdet.array()).matrix();
  }
  /// Adds c_i · ∂KL_i/∂(μ, log σ², z) to dmu, dlogvar, dz and c_i · ∂KL_i/∂ψ to the
  /// prior's gradients, c = dkl (n); reads the pass that kl() recorded on `tape`.
  void accumulate_kl_grad(Tape& tape, const Matrix<T>& /*mu*/, const Matrix<T>& /*logvar*/, const Vector<T>& dkl,
                          Matrix<T>& /*dmu*/, Matrix<T>& dlogvar, Matrix<T>& dz) const {
    dlogvar.array().colwise() -= T(0.5) * dkl.array();
    tape.dz0 = (tape.z0.array().colwise() * dkl.array()).matrix();
    tape.dlogdet = -dkl;
    flow_.backward_forward(tape.flow, tape.dz0, tape.dlogdet, &tape.dz);
    dz += tape.dz;
  }

 private:
  struct Workspace {
    Tape tape;
    Matrix<T> in, out;
    Vector<T> logdet;
  };
  template <class F>
  static void for_chunks(Index n, F&& f) {
    const Index chunks = (n + chunk_rows - 1) / chunk_rows;
    if (chunks <= 1) {
      if (n > 0) f(Index{0}, n);
      return;
    }
    tbb::parallel_for(Index{0}, chunks, [&](Index c) { f(c * chunk_rows, std::min(n, (c + 1) * chunk_rows)); });
  }

  Flow flow_;
  AlignedBuffer<T> owned_, owned_grads_;
  std::span<T> params_, grads_;
};

/// The decoupled prior with K coupling blocks (the paper uses K = 6).
template <int K, class T = float, class B = Cpu>
using Coupling = Prior<AffineCoupling<K>, T, B>;
/// The standard normal prior.
template <class T = float, class B = Cpu>
using Normal = Prior<StandardNormal, T, B>;

/// What a prior provides to models and objectives.
template <class P>
concept PriorType = requires(const P& p, const Matrix<typename P::Scalar>& m, Matrix<typename P::Scalar>& out,
                             Vector<typename P::Scalar>& v, typename P::Tape& tape, Rng& rng) {
  typename P::Scalar;
  typename P::Tape;
  { P::is_decoupled } -> std::convertible_to<bool>;
  { p.dim() } -> std::convertible_to<Index>;
  { p.log_prob(m) } -> std::same_as<Vector<typename P::Scalar>>;
  { p.sample(Index{1}, rng) } -> std::same_as<Matrix<typename P::Scalar>>;
  p.forward(m, out, v, tape);
  p.inverse(m, out, tape);
  p.backward_forward(tape, m, v, &out);
  p.backward_inverse(tape, m, &out);
  { p.kl(m, m, m, tape) } -> std::same_as<Vector<typename P::Scalar>>;
  { p.describe() } -> std::convertible_to<std::string>;
};

static_assert(PriorType<Coupling<6, double>> && PriorType<Normal<float>>);

}  // namespace dpvae
