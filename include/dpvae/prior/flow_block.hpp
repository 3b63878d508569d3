// dpvae/prior/flow_block.hpp — the flow-block concept, and the flow f = f_K ∘ … ∘ f_1 of
// the decoupled prior as a sequence of blocks that each satisfy it (docs/math.md
// "Decoupled prior"; docs/extending.md "Add a flow block").
//
// A block is a bijection u → y of R^d with a tractable log|det ∂y/∂u|, its inverse, and the
// hand-written backward passes of both directions. Its parameters are a contiguous slice of
// the model's flat buffer (bind), initialised from an Rng (init), and it names its tensors
// (visit_tensors) so that checkpoints never know a block's internals. Every pass records
// what its backward pass needs on the block's own Tape; nothing is kept between calls
// anywhere else.
#pragma once

#include "dpvae/nn/network.hpp"

#include <concepts>
#include <functional>
#include <cstdint>
#include <string>
#include <vector>

namespace dpvae {

/// Construction settings every block receives (a block may ignore them).
struct FlowBlockConfig {
  Index hidden = 64;  ///< width of a block's conditioner networks
};

/// Calls back with (name, offset within the block's slice, shape) for each tensor.
using TensorCallback = std::function<void(const std::string&, Index, const std::vector<std::int64_t>&)>;

/// What a flow block provides. Shapes: u, y are n × d (rows are points); logdet is n.
///   forward(u, y, logdet, tape)            y = f_k(u); logdet += log|det ∂y/∂u| per row
///   backward_forward(tape, dy, dlogdet, du) given ∂L/∂y and ∂L/∂logdet, du = ∂L/∂u;
///                                           accumulates ∂L/∂ψ_k into the bound gradients
///   inverse(y, u, tape, logdet*)           u = f_k⁻¹(y); *logdet += log|det ∂u/∂y|
///   backward_inverse(tape, du, dy)         given ∂L/∂u, dy = ∂L/∂y; accumulates ∂L/∂ψ_k
/// A block is constructed as Block(dim, index k in the flow, FlowBlockConfig).
template <class Blk>
concept FlowBlock = requires(Blk& b, const Blk& cb, const Matrix<typename Blk::Scalar>& m,
                             Matrix<typename Blk::Scalar>& out, Vector<typename Blk::Scalar>& v,
                             const Vector<typename Blk::Scalar>& cv, typename Blk::Tape& tape,
                             std::span<typename Blk::Scalar> s, Rng& rng, const std::string& prefix,
                             const TensorCallback& f) {
  typename Blk::Scalar;
  typename Blk::Tape;
  { Blk::kind } -> std::convertible_to<const char*>;
  requires std::constructible_from<Blk, Index, Index, const FlowBlockConfig&>;
  { cb.dim() } -> std::convertible_to<Index>;
  { cb.num_parameters() } -> std::convertible_to<Index>;
  b.bind(s, s);
  cb.init(rng);
  cb.forward(m, out, v, tape);
  cb.backward_forward(tape, m, cv, out);
  cb.inverse(m, out, tape, &v);
  cb.backward_inverse(tape, m, out);
  cb.visit_tensors(prefix, f);
  { cb.describe() } -> std::convertible_to<std::string>;
};

/// f = f_{K−1} ∘ … ∘ f_0 over blocks of one type. Parameter layout: block 0's slice, then
/// block 1's, …; every pass runs in place on one carried matrix, so a pass with a reused tape
/// allocates nothing once the batch size is fixed.
template <class Blk>
class Flow {
 public:
  static_assert(FlowBlock<Blk>, "dpvae::Flow: the block type must model dpvae::FlowBlock (prior/flow_block.hpp)");
  using Scalar = typename Blk::Scalar;
  using T = Scalar;
  using Block = Blk;
  /// One pass (forward or inverse) of the whole flow: keep one per use in a step.
  struct Tape {
    std::vector<typename Blk::Tape> blocks;
    Matrix<T> carry;  // the gradient carried between blocks in the backward passes
  };

  Flow() = default;
  Flow(Index dim, Index blocks, const FlowBlockConfig& config = {}) : dim_(dim), config_(config) {
    detail::require(dim >= 1, "the flow needs a latent dimension >= 1");
    detail::require(blocks >= 0, "the flow needs a non-negative number of blocks");
    blocks_.reserve(static_cast<std::size_t>(blocks));
    for (Index k = 0; k < blocks; ++k) blocks_.emplace_back(dim, k, config);
  }

  Index dim() const { return dim_; }
  Index num_blocks() const { return static_cast<Index>(blocks_.size()); }
  const FlowBlockConfig& config() const { return config_; }
  Blk& block(Index k) { return blocks_.at(static_cast<std::size_t>(k)); }
  const Blk& block(Index k) const { return blocks_.at(static_cast<std::size_t>(k)); }
  Index num_parameters() const {
    Index n = 0;
    for (const Blk& b : blocks_) n += b.num_parameters();
    return n;
  }
  void bind(std::span<T> params, std::span<T> grads) {
    std::size_t off = 0;
    for (Blk& b : blocks_) {
      const auto n = static_cast<std::size_t>(b.num_parameters());
      b.bind(params.subspan(off, n), grads.empty() ? grads : grads.subspan(off, n));
      off += n;
    }
  }
  void init(Rng& rng) const {
    for (const Blk& b : blocks_) b.init(rng);
  }
  /// Calls f(name, offset within the flow's slice, shape) for every tensor: block k's are
  /// named `prefix.block<k>.<the block's own names>`.
  template <class F>
  void visit_tensors(const std::string& prefix, F&& f) const {
    Index off = 0;
    for (std::size_t k = 0; k < blocks_.size(); ++k) {
      const Index base = off;
      blocks_[k].visit_tensors(prefix + ".block" + std::to_string(k),
                               TensorCallback([&](const std::string& n, Index o, const std::vector<std::int64_t>& s) {
                                 f(n, base + o, s);
                               }));
      off += blocks_[k].num_parameters();
    }
  }
  /// The settings that fix the flow's math: "K × <block description>".
  std::string describe() const {
    return std::to_string(blocks_.size()) + " x " + (blocks_.empty() ? std::string(Blk::kind) : blocks_[0].describe());
  }

  /// z0 = f(z) and logdet = log|det ∂f/∂z| per row (n), recording the pass on `tape`.
  void forward(const Matrix<T>& z, Matrix<T>& z0, Vector<T>& logdet, Tape& tape) const {
    check(z);
    tape.blocks.resize(blocks_.size());
    logdet.setZero(z.rows());
    z0 = z;
    for (std::size_t k = 0; k < blocks_.size(); ++k) blocks_[k].forward(z0, z0, logdet, tape.blocks[k]);
  }
  /// Backward of forward(): given dz0 = ∂L/∂z0 and dlogdet = ∂L/∂logdet (n), assigns
  /// *dz = ∂L/∂z (when given) and accumulates ∂L/∂ψ into the bound gradients.
  void backward_forward(Tape& tape, const Matrix<T>& dz0, const Vector<T>& dlogdet, Matrix<T>* dz) const {
    Matrix<T>& dy = tape.carry;
    dy = dz0;
    for (std::size_t k = blocks_.size(); k-- > 0;) blocks_[k].backward_forward(tape.blocks[k], dy, dlogdet, dy);
    if (dz) *dz = dy;
  }
  /// z = f⁻¹(z0), recording the pass on `tape`; `logdet`, when given, receives
  /// log|det ∂f⁻¹/∂z0| per row.
  void inverse(const Matrix<T>& z0, Matrix<T>& z, Tape& tape, Vector<T>* logdet = nullptr) const {
    check(z0);
    tape.blocks.resize(blocks_.size());
    if (logdet) logdet->setZero(z0.rows());
    z = z0;
    for (std::size_t k = blocks_.size(); k-- > 0;) blocks_[k].inverse(z, z, tape.blocks[k], logdet);
  }
  /// Backward of inverse(): given dz = ∂L/∂z, assigns *dz0 = ∂L/∂z0 (when given) and
  /// accumulates ∂L/∂ψ into the bound gradients.
  void backward_inverse(Tape& tape, const Matrix<T>& dz, Matrix<T>* dz0) const {
    Matrix<T>& du = tape.carry;
    du = dz;
    for (std::size_t k = 0; k < blocks_.size(); ++k) blocks_[k].backward_inverse(tape.blocks[k], du, du);
    if (dz0) *dz0 = du;
  }

 private:
  void check(const Matrix<T>& z) const {
    detail::require(z.cols() == dim_, "flow input has " + std::to_string(z.cols()) +
                                          " columns, the latent dimension is " + std::to_string(dim_));
  }
  Index dim_ = 0;
  FlowBlockConfig config_;
  std::vector<Blk> blocks_;
};

}  // namespace dpvae
