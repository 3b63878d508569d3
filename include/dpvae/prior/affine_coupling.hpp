// dpvae/prior/affine_coupling.hpp — the RealNVP affine coupling block, the flow block of the
// paper's decoupled prior (docs/math.md "Decoupled prior"; paper eqs. 2, 3, 7–9).
//
// Block k has a binary mask b (1 = passed through; the first ⌊d/2⌋ dimensions for even k,
// the rest for odd k):
//     y = b ⊙ u + (1 − b) ⊙ (u ⊙ exp(s(b ⊙ u)) + t(b ⊙ u)),
//     log|det ∂y/∂u| = Σ_j (1 − b_j) s(b ⊙ u)_j,
// s and t separate MLPs Linear(d,h)–LeakyReLU(0.01)–Linear(h,h)–LeakyReLU–Linear(h,d)–Tanh
// (h = 64 in the paper), so |s| < 1 and every block's scale lies in (e⁻¹, e): f⁻¹ of a
// far-out z0 cannot overflow.
// Inverse: u = b ⊙ y + (1 − b) ⊙ (y − t(b ⊙ y)) ⊙ exp(−s(b ⊙ y)).
// Backward passes in both directions (docs/math.md "Gradients") follow nn/layers.hpp's contract.
#pragma once

#include "dpvae/prior/flow_block.hpp"

namespace dpvae {

template <class T, class B = Cpu>
class AffineCouplingBlock {
 public:
  using Scalar = T;
  using Net = Network<T, B>;
  using RowArray = Eigen::Array<T, 1, Eigen::Dynamic>;
  static constexpr const char* kind = "affine-coupling";

  /// What a pass records. Every buffer persists across steps when a tape is reused.
  struct Tape {
    Matrix<T> in;                  // u (forward) or y (inverse)
    Matrix<T> h;                   // b ⊙ in, the input of s and t
    Matrix<T> e;                   // exp(s) (forward) or exp(−s) (inverse)
    typename Net::Tape s_tape, t_tape;
    Matrix<T> ds, dt, dh, grad;    // backward scratch
  };

  AffineCouplingBlock(Index dim, Index index, const FlowBlockConfig& config = {})
      : mask_(dim), s_(coupling_net<T, B>(dim, config.hidden)), t_(coupling_net<T, B>(dim, config.hidden)),
        hidden_(config.hidden) {
    const Index half = dim / 2;
    for (Index j = 0; j < dim; ++j) mask_[j] = ((j < half) == (index % 2 == 0)) ? T(1) : T(0);
    complement_ = T(1) - mask_;
  }

  Index dim() const { return mask_.size(); }
  Index num_parameters() const { return s_.num_parameters() + t_.num_parameters(); }
  const RowArray& mask() const { return mask_; }
  /// Replaces the mask (a 0/1 row of length d); the default alternates halves.
  void set_mask(const RowArray& m) {
    detail::require(m.size() == dim(), "flow mask has the wrong length");
    mask_ = m;
    complement_ = T(1) - m;
  }
  const Net& s_net() const { return s_; }
  const Net& t_net() const { return t_; }
  /// Parameter layout: the s net, then the t net.
  void bind(std::span<T> params, std::span<T> grads) {
    const auto ns = static_cast<std::size_t>(s_.num_parameters()), nt = static_cast<std::size_t>(t_.num_parameters());
    s_.bind(params.subspan(0, ns), grads.empty() ? grads : grads.subspan(0, ns));
    t_.bind(params.subspan(ns, nt), grads.empty() ? grads : grads.subspan(ns, nt));
  }
  void init(Rng& rng) const {
    s_.init(rng);
    t_.init(rng);
  }
  /// Tensors `prefix.s.*` and `prefix.t.*` (the nets' own names), offsets in the block's slice.
  void visit_tensors(const std::string& prefix, const TensorCallback& f) const {
    const Index ns = s_.num_parameters();
    s_.visit_tensors(prefix + ".s", [&](const std::string& n, Index o, const auto& s) { f(n, o, s); });
    t_.visit_tensors(prefix + ".t", [&](const std::string& n, Index o, const auto& s) { f(n, ns + o, s); });
  }
  std::string describe() const { return std::string(kind) + "(hidden=" + std::to_string(hidden_) + ")"; }

  /// y = f_k(u) (u and y may be the same matrix); logdet += log|det ∂y/∂u| per row.
  void forward(const Matrix<T>& u, Matrix<T>& y, Vector<T>& logdet, Tape& bt) const {
    bt.in = u;
    bt.h = (bt.in.array().rowwise() * mask_).matrix();
    const auto& s = s_.forward(bt.h, bt.s_tape);
    const auto& t = t_.forward(bt.h, bt.t_tape);
    bt.e = s.array().exp().matrix();
    y = (bt.h.array() + (bt.in.array() * bt.e.array() + t.array()).rowwise() * complement_).matrix();
    logdet += (s.array().rowwise() * complement_).rowwise().sum().matrix();
  }
  /// Given dy = ∂L/∂y and dlogdet = ∂L/∂logdet, du = ∂L/∂u (dy and du may be the same
  /// matrix); accumulates ∂L/∂ψ_k.
  void backward_forward(Tape& bt, const Matrix<T>& dy, const Vector<T>& dlogdet, Matrix<T>& du) const {
    const auto es = bt.e.array();
    bt.ds = ((dy.array() * bt.in.array() * es).colwise() + dlogdet.array()).rowwise() * complement_;
    bt.dt = (dy.array().rowwise() * complement_).matrix();
    s_.backward(bt.s_tape, bt.ds, &bt.dh);
    t_.backward(bt.t_tape, bt.dt, &bt.grad);
    bt.dh += bt.grad;
    du = (dy.array() * ((es.rowwise() * complement_).rowwise() + mask_) + bt.dh.array().rowwise() * mask_).matrix();
  }
  /// u = f_k⁻¹(y) (y and u may be the same matrix); *logdet += log|det ∂u/∂y| when given.
  void inverse(const Matrix<T>& y, Matrix<T>& u, Tape& bt, Vector<T>* logdet) const {
    bt.in = y;
    bt.h = (bt.in.array().rowwise() * mask_).matrix();
    const auto& s = s_.forward(bt.h, bt.s_tape);
    const auto& t = t_.forward(bt.h, bt.t_tape);
    bt.e = (-s.array()).exp().matrix();
    u = (bt.h.array() + ((bt.in.array() - t.array()) * bt.e.array()).rowwise() * complement_).matrix();
    if (logdet) *logdet -= (s.array().rowwise() * complement_).rowwise().sum().matrix();
  }
  /// Given du = ∂L/∂u, dy = ∂L/∂y (du and dy may be the same matrix); accumulates ∂L/∂ψ_k.
  void backward_inverse(Tape& bt, const Matrix<T>& du, Matrix<T>& dy) const {
    const auto e = bt.e.array();
    const auto& t = bt.t_tape.output();
    bt.dt = ((du.array() * e).rowwise() * (-complement_)).matrix();
    bt.ds = (bt.dt.array() * (bt.in.array() - t.array())).matrix();
    s_.backward(bt.s_tape, bt.ds, &bt.dh);
    t_.backward(bt.t_tape, bt.dt, &bt.grad);
    bt.dh += bt.grad;
    dy = (du.array() * ((e.rowwise() * complement_).rowwise() + mask_) + bt.dh.array().rowwise() * mask_).matrix();
  }

 private:
  RowArray mask_, complement_;  // b and 1 − b
  Net s_, t_;
  Index hidden_ = 64;
};

static_assert(FlowBlock<AffineCouplingBlock<float>> && FlowBlock<AffineCouplingBlock<double>>);

/// The paper's flow: K affine coupling blocks (kept as a name for the CUDA tests and users).
template <class T, class B = Cpu>
class CouplingFlow : public Flow<AffineCouplingBlock<T, B>> {
 public:
  using Base = Flow<AffineCouplingBlock<T, B>>;
  CouplingFlow() = default;
  CouplingFlow(Index dim, Index blocks, Index hidden = 64) : Base(dim, blocks, FlowBlockConfig{hidden}) {}
  const typename Base::Block::RowArray& mask(Index k) const { return this->block(k).mask(); }
};

}  // namespace dpvae
