// dpvae/prior/coupling.hpp — the RealNVP affine coupling flow f: z → z0 of the decoupled prior.
//
// SPEC.md "Decoupled prior" (paper eqs. 2, 3, 7–9): f = f_K ∘ … ∘ f_1, block k with binary
// mask b_k (1 = passed through; the first ⌊d/2⌋ dimensions for even k, the rest for odd k):
//     y = b ⊙ u + (1 − b) ⊙ (u ⊙ exp(s_k(b ⊙ u)) + t_k(b ⊙ u)),
//     log|det ∂y/∂u| = Σ_j (1 − b_j) s_k(b ⊙ u)_j,
// s_k and t_k separate MLPs Linear(d,64)–LeakyReLU(0.01)–Linear(64,64)–LeakyReLU–Linear(64,d)–Tanh,
// so |s| < 1 and every block's scale lies in (e⁻¹, e): f⁻¹ of a far-out z0 cannot overflow.
// Inverse: u = b ⊙ y + (1 − b) ⊙ (y − t(b ⊙ y)) ⊙ exp(−s(b ⊙ y)).
// Backward passes in both directions (SPEC.md "Gradients") follow layers.hpp's contract.
#pragma once

#include "dpvae/nn/network.hpp"

#include <vector>

namespace dpvae {

template <class T, class B = Cpu>
class CouplingFlow {
 public:
  using Scalar = T;
  using Net = Network<T, B>;
  using RowArray = Eigen::Array<T, 1, Eigen::Dynamic>;

  /// One block's part of a pass. Every buffer persists across steps when a tape is reused,
  /// so a pass with a reused tape allocates nothing once the batch size is fixed.
  struct BlockTape {
    Matrix<T> in;                  // u (forward) or y (inverse)
    Matrix<T> h;                   // b ⊙ in, the input of s and t
    Matrix<T> e;                   // exp(s) (forward) or exp(−s) (inverse)
    typename Net::Tape s_tape, t_tape;
    Matrix<T> ds, dt, dh;          // backward scratch
  };
  /// One pass (forward or inverse) of the whole flow: keep one per use in a step.
  struct Tape {
    std::vector<BlockTape> blocks;
    Matrix<T> grad, carry;  // backward scratch
  };

  CouplingFlow() = default;
  CouplingFlow(Index dim, Index blocks, Index hidden = 64) : dim_(dim) {
    detail::require(dim >= 1, "the flow needs a latent dimension >= 1");
    detail::require(blocks >= 0, "the flow needs a non-negative number of coupling blocks");
    const Index half = dim / 2;
    for (Index k = 0; k < blocks; ++k) {
      RowArray m(dim);
      for (Index j = 0; j < dim; ++j) m[j] = ((j < half) == (k % 2 == 0)) ? T(1) : T(0);
      masks_.push_back(m);
      complements_.push_back(T(1) - m);
      s_.push_back(coupling_net<T, B>(dim, hidden));
      t_.push_back(coupling_net<T, B>(dim, hidden));
    }
  }

  Index dim() const { return dim_; }
  Index num_blocks() const { return static_cast<Index>(masks_.size()); }
  Index num_parameters() const {
    Index n = 0;
    for (std::size_t k = 0; k < s_.size(); ++k) n += s_[k].num_parameters() + t_[k].num_parameters();
    return n;
  }
  const RowArray& mask(Index k) const { return masks_[static_cast<std::size_t>(k)]; }
  /// Replaces block k's mask (a 0/1 row of length d); the default alternates halves.
  void set_mask(Index k, const RowArray& m) {
    detail::require(m.size() == dim_, "flow mask has the wrong length");
    masks_[static_cast<std::size_t>(k)] = m;
    complements_[static_cast<std::size_t>(k)] = T(1) - m;
  }
  const Net& s_net(Index k) const { return s_[static_cast<std::size_t>(k)]; }
  const Net& t_net(Index k) const { return t_[static_cast<std::size_t>(k)]; }

  /// Parameter layout: for k = 0..K−1, block k's s net, then its t net.
  void bind(std::span<T> params, std::span<T> grads) {
    std::size_t off = 0;
    for (std::size_t k = 0; k < s_.size(); ++k)
      for (Net* net : {&s_[k], &t_[k]}) {
        const auto n = static_cast<std::size_t>(net->num_parameters());
        net->bind(params.subspan(off, n), grads.empty() ? grads : grads.subspan(off, n));
        off += n;
      }
  }
  void init(Rng& rng) const {
    for (std::size_t k = 0; k < s_.size(); ++k) {
      s_[k].init(rng);
      t_[k].init(rng);
    }
  }

  /// z0 = f(z) and logdet = log|det ∂f/∂z| per row (n), recording the pass on `tape`.
  void forward(const Matrix<T>& z, Matrix<T>& z0, Vector<T>& logdet, Tape& tape) const {
    detail::require(z.cols() == dim_, "flow input has " + std::to_string(z.cols()) +
                                          " columns, the latent dimension is " + std::to_string(dim_));
    tape.blocks.resize(s_.size());
    logdet.setZero(z.rows());
    z0 = z;
    for (std::size_t k = 0; k < s_.size(); ++k) {
      BlockTape& bt = tape.blocks[k];
      bt.in = z0;
      const RowArray& b = masks_[k];
      const RowArray& nb = complements_[k];
      bt.h = (bt.in.array().rowwise() * b).matrix();
      const auto& s = s_[k].forward(bt.h, bt.s_tape);
      const auto& t = t_[k].forward(bt.h, bt.t_tape);
      bt.e = s.array().exp().matrix();
      z0 = (bt.h.array() + (bt.in.array() * bt.e.array() + t.array()).rowwise() * nb).matrix();
      logdet += (s.array().rowwise() * nb).rowwise().sum().matrix();
    }
  }

  /// Backward of forward(): given dz0 = ∂L/∂z0 and dlogdet = ∂L/∂logdet (n), assigns
  /// *dz = ∂L/∂z (when given) and accumulates ∂L/∂ψ into the bound gradients.
  void backward_forward(Tape& tape, const Matrix<T>& dz0, const Vector<T>& dlogdet, Matrix<T>* dz) const {
    Matrix<T>& dy = tape.carry;
    dy = dz0;
    for (std::size_t k = s_.size(); k-- > 0;) {
      BlockTape& bt = tape.blocks[k];
      const RowArray& b = masks_[k];
      const RowArray& nb = complements_[k];
      const auto es = bt.e.array();
      bt.ds = ((dy.array() * bt.in.array() * es).colwise() + dlogdet.array()).rowwise() * nb;
      bt.dt = (dy.array().rowwise() * nb).matrix();
      s_[k].backward(bt.s_tape, bt.ds, &bt.dh);
      t_[k].backward(bt.t_tape, bt.dt, &tape.grad);
      bt.dh += tape.grad;
      dy = (dy.array() * ((es.rowwise() * nb).rowwise() + b) + bt.dh.array().rowwise() * b).matrix();
    }
    if (dz) *dz = dy;
  }

  /// z = f⁻¹(z0), recording the pass on `tape`; `logdet`, when given, receives
  /// log|det ∂f⁻¹/∂z0| per row.
  void inverse(const Matrix<T>& z0, Matrix<T>& z, Tape& tape, Vector<T>* logdet = nullptr) const {
    detail::require(z0.cols() == dim_, "flow input has " + std::to_string(z0.cols()) +
                                           " columns, the latent dimension is " + std::to_string(dim_));
    tape.blocks.resize(s_.size());
    if (logdet) logdet->setZero(z0.rows());
    z = z0;
    for (std::size_t k = s_.size(); k-- > 0;) {
      BlockTape& bt = tape.blocks[k];
      bt.in = z;
      const RowArray& b = masks_[k];
      const RowArray& nb = complements_[k];
      bt.h = (bt.in.array().rowwise() * b).matrix();
      const auto& s = s_[k].forward(bt.h, bt.s_tape);
      const auto& t = t_[k].forward(bt.h, bt.t_tape);
      bt.e = (-s.array()).exp().matrix();
      z = (bt.h.array() + ((bt.in.array() - t.array()) * bt.e.array()).rowwise() * nb).matrix();
      if (logdet) *logdet -= (s.array().rowwise() * nb).rowwise().sum().matrix();
    }
  }

  /// Backward of inverse(): given dz = ∂L/∂z, assigns *dz0 = ∂L/∂z0 (when given) and
  /// accumulates ∂L/∂ψ into the bound gradients.
  void backward_inverse(Tape& tape, const Matrix<T>& dz, Matrix<T>* dz0) const {
    Matrix<T>& du = tape.carry;
    du = dz;
    for (std::size_t k = 0; k < s_.size(); ++k) {
      BlockTape& bt = tape.blocks[k];
      const RowArray& b = masks_[k];
      const RowArray& nb = complements_[k];
      const auto e = bt.e.array();
      const auto& t = bt.t_tape.output();
      bt.dt = ((du.array() * e).rowwise() * (-nb)).matrix();
      bt.ds = (bt.dt.array() * (bt.in.array() - t.array())).matrix();
      s_[k].backward(bt.s_tape, bt.ds, &bt.dh);
      t_[k].backward(bt.t_tape, bt.dt, &tape.grad);
      bt.dh += tape.grad;
      du = (du.array() * ((e.rowwise() * nb).rowwise() + b) + bt.dh.array().rowwise() * b).matrix();
    }
    if (dz0) *dz0 = du;
  }

 private:
  Index dim_ = 0;
  std::vector<RowArray> masks_, complements_;  // b_k and 1 − b_k
  std::vector<Net> s_, t_;
};

}  // namespace dpvae
