// dpvae/model.hpp — the statically composed model DpVae<Regularizer, Prior, Encoder, Decoder>.
//
//     dpvae::DpVae<dpvae::BetaTC, dpvae::Coupling<6>> model(config);   // β-TC-dpVAE
//     dpvae::DpVae<dpvae::BetaTC, dpvae::Prior<dpvae::StandardNormal>> vae(config);  // β-TCVAE
//
// Data flows one way: x → encoder → (μ, log σ²) → z = μ + σ ⊙ ε → decoder → likelihood,
// with the regularizer's latent terms asking the prior; then the hand-written backward
// passes and one Adam step over the model's one flat parameter buffer, laid out as
// [encoder | decoder | prior ψ]. FactorVAE's discriminator lives in its regularizer, with
// its own buffer and Adam.
#pragma once

#include "dpvae/nn/architecture.hpp"
#include "dpvae/io/safetensors.hpp"
#include "dpvae/nn/likelihood.hpp"
#include "dpvae/nn/optim.hpp"
#include "dpvae/prior/priors.hpp"
#include "dpvae/objectives/regularizers.hpp"

#include <tbb/parallel_invoke.h>

#include <cmath>
#include <string>

namespace dpvae {

/// What an encoder or decoder policy provides: a Network-like type built from an Architecture.
template <class N>
concept NetworkPolicy = requires(N& net, const N& cn, const Matrix<typename N::Scalar>& x,
                                 typename N::Tape& tape, Matrix<typename N::Scalar>* dx, Rng& rng,
                                 std::span<typename N::Scalar> s) {
  typename N::Scalar;
  { cn.num_parameters() } -> std::convertible_to<Index>;
  { cn.input_size() } -> std::convertible_to<Index>;
  { cn.output_size() } -> std::convertible_to<Index>;
  net.bind(s, s);
  cn.init(rng);
  { cn.forward(x, tape) } -> std::convertible_to<const Matrix<typename N::Scalar>&>;
  cn.backward(tape, x, dx);
  requires std::constructible_from<N, const Architecture&>;
};

/// Run-time settings of a model (hyperparameters of the objective live in the objective).
struct ModelConfig {
  Architecture architecture;
  Likelihood likelihood;
  AdamConfig adam;
  double dataset_size = 60000;   // M, used by β-TCVAE's minibatch-weighted sampling
  Index flow_hidden = 64;        // width of the coupling nets
  Index flow_blocks = 6;         // coupling blocks, for Prior<AffineCoupling<dynamic_blocks>>
  double logvar_min = -30.0;     // log σ² is clamped to [logvar_min, logvar_max]
  double logvar_max = 20.0;
  std::uint64_t seed = 0;
  void validate() const {
    architecture.validate();
    adam.validate();
    detail::require(dataset_size >= 1, "the data-set size must be >= 1");
    detail::require(flow_hidden >= 1, "the coupling nets need a positive width");
    detail::require(logvar_min < logvar_max, "the log-variance range is empty");
  }
};

/// A step whose loss or gradient is not finite.
class NumericalError : public Error {
 public:
  using Error::Error;
};

template <class Reg, class PriorT = Coupling<6>, class Enc = Encoder<typename PriorT::Scalar>,
          class Dec = Decoder<typename PriorT::Scalar>>
class DpVae {
 public:
  using Scalar = typename PriorT::Scalar;
  using T = Scalar;
  using PriorType_ = PriorT;
  using Objective = typename Reg::template policy<T>;

  static_assert(PriorType<PriorT>, "DpVae: the prior must model dpvae::PriorType (Coupling<K> or Prior<StandardNormal>)");
  static_assert(NetworkPolicy<Enc>, "DpVae: the encoder must model dpvae::NetworkPolicy");
  static_assert(NetworkPolicy<Dec>, "DpVae: the decoder must model dpvae::NetworkPolicy");
  static_assert(std::same_as<typename Enc::Scalar, T> && std::same_as<typename Dec::Scalar, T>,
                "DpVae: encoder, decoder and prior must share one scalar type");
  static_assert(RegularizerPolicy<Objective, T, PriorT>,
                "DpVae: the regularizer must be a dpvae::Regularizer<...> policy (Vae, BetaH, BetaB, BetaTC, Factor, Info)");

  static constexpr bool is_decoupled = PriorT::is_decoupled;

  explicit DpVae(const ModelConfig& config, Objective objective = {})
      : config_(config),
        objective_(std::move(objective)),
        encoder_(config.architecture),
        decoder_(config.architecture),
        prior_(make_prior(config)),
        rng_(config.seed) {
    config_.validate();
    objective_.validate();
    const Index ne = encoder_.num_parameters(), nd = decoder_.num_parameters(), np = prior_.num_parameters();
    params_.assign(static_cast<std::size_t>(ne + nd + np), T(0));
    grads_.assign(params_.size(), T(0));
    std::span<T> p(params_), g(grads_);
    encoder_.bind(p.subspan(0, static_cast<std::size_t>(ne)), g.subspan(0, static_cast<std::size_t>(ne)));
    decoder_.bind(p.subspan(static_cast<std::size_t>(ne), static_cast<std::size_t>(nd)),
                  g.subspan(static_cast<std::size_t>(ne), static_cast<std::size_t>(nd)));
    prior_.bind(p.subspan(static_cast<std::size_t>(ne + nd)), g.subspan(static_cast<std::size_t>(ne + nd)));
    Rng init_rng(config.seed ^ 0x5EEDC0DEull);
    encoder_.init(init_rng);
    decoder_.init(init_rng);
    prior_.init(init_rng);
    if constexpr (requires { objective_.setup(Index{1}, init_rng); }) objective_.setup(latent_dim(), init_rng);
    adam_ = Adam<T>(params_.size(), config.adam);
  }
  DpVae(const DpVae&) = delete;
  DpVae& operator=(const DpVae&) = delete;

  // --- access --------------------------------------------------------------------------
  const ModelConfig& config() const { return config_; }
  Index latent_dim() const { return config_.architecture.latent_dim; }
  Index data_dim() const { return config_.architecture.input_size(); }
  Objective& objective() { return objective_; }
  const Objective& objective() const { return objective_; }
  PriorT& prior() { return prior_; }
  const PriorT& prior() const { return prior_; }
  const Enc& encoder() const { return encoder_; }
  const Dec& decoder() const { return decoder_; }
  /// The flat parameter buffer [encoder | decoder | prior] and its gradient buffer.
  std::span<T> parameters() { return params_; }
  std::span<T> gradients() { return grads_; }
  Adam<T>& optimizer() { return adam_; }
  Rng& rng() { return rng_; }
  std::uint64_t step() const { return step_; }
  static constexpr const char* objective_name() { return Objective::name; }
  static constexpr const char* prior_name() { return PriorT::Family::name; }

  // --- inference -----------------------------------------------------------------------
  /// The posterior q(z|x) = N(μ, diag exp(log σ²)) of a batch x (n × D): (μ, log σ²), n × d.
  std::pair<Matrix<T>, Matrix<T>> encode(const Matrix<T>& x) const {
    check_data(x);
    typename Enc::Tape tape;
    const Matrix<T>& h = encoder_.forward(x, tape);
    const Index d = latent_dim();
    return {h.leftCols(d), h.rightCols(d).cwiseMax(T(config_.logvar_min)).cwiseMin(T(config_.logvar_max))};
  }
  /// The decoder output for latents z (n × d): logits (Bernoulli) or means (Gaussian).
  Matrix<T> decode_raw(const Matrix<T>& z) const {
    detail::require(z.cols() == latent_dim(), "decode: latents have " + std::to_string(z.cols()) +
                                                  " columns, the latent dimension is " + std::to_string(latent_dim()));
    typename Dec::Tape tape;
    return decoder_.forward(z, tape);
  }
  /// E[x|z] for latents z (n × d): n × D probabilities (Bernoulli) or means (Gaussian).
  Matrix<T> decode(const Matrix<T>& z) const { return config_.likelihood.mean(decode_raw(z)); }
  /// log p_θ(x_i|z_i) per row, with the likelihood's normaliser (nats; x n × D, z n × d):
  /// Bernoulli −Σ_j [softplus(l_j) − x_j l_j]; Gaussian −w‖x − x̂‖² − (D/2) log(π/w).
  Vector<double> log_likelihood(const Matrix<T>& x, const Matrix<T>& z) const {
    check_data(x);
    detail::require(x.rows() == z.rows(), "log_likelihood: x and z have different numbers of rows");
    const Vector<T> loss = config_.likelihood.loss(x, decode_raw(z));
    return (-loss.template cast<double>().array() - config_.likelihood.log_normalizer(data_dim())).matrix();
  }
  /// log p_ψ(z) per row (nats): the prior's exact density, with the flow's log-det.
  Vector<double> log_prior(const Matrix<T>& z) const { return prior_.log_prob(z).template cast<double>(); }
  /// n random samples: z0 ~ N(0, I), z = f⁻¹(z0), decoded to E[x|z] (SPEC.md "Sampling").
  Matrix<T> sample(Index n, Rng& rng) const { return decode(prior_.sample(n, rng)); }

  // --- training ------------------------------------------------------------------------
  /// Forward and hand-written backward pass on the batch x (n × D) without an update:
  /// fills gradients() with ∂loss/∂parameters and returns the named per-sample terms
  /// ("loss" first, then "recon" and the objective's terms; nats). Draws ε (and the
  /// objective's prior samples) from rng(). Throws NumericalError naming the step and the
  /// term (steps counted from 1) when the loss or a gradient is not finite.
  Terms compute_gradients(const Matrix<T>& x) {
    check_data(x);
    const Index n = x.rows(), d = latent_dim();
    detail::require(n >= 2, "a training batch needs at least 2 points");
    std::fill(grads_.begin(), grads_.end(), T(0));
    const Matrix<T>& h = encoder_.forward(x, enc_tape_);
    mu_ = h.leftCols(d);
    logvar_ = h.rightCols(d).cwiseMax(T(config_.logvar_min)).cwiseMin(T(config_.logvar_max));
    if (shard_total_ > 0) {  // data-parallel: this batch is rows [offset, offset + n) of the whole
      detail::require(shard_offset_ + n <= shard_total_, "compute_gradients: the shard runs past the sharded batch");
      noise_.resize(shard_total_, d);
      rng_.fill_normal(std::span<T>(noise_.data(), static_cast<std::size_t>(noise_.size())));
      eps_ = noise_.middleRows(shard_offset_, n);
    } else {
      eps_.resize(n, d);
      rng_.fill_normal(std::span<T>(eps_.data(), static_cast<std::size_t>(eps_.size())));
    }
    std_ = (T(0.5) * logvar_.array()).exp().matrix();
    z_ = mu_ + std_.cwiseProduct(eps_);
    // Given z, the decoder's pass (reconstruction term, its gradients, ∂/∂z) and the latent
    // terms (the objective's estimators and the prior's flow) are independent and write
    // disjoint state: their own tapes, their own slices of the gradient buffer, and only the
    // latent side draws from rng_. They run as two tasks, so the flow's small, mostly
    // serial operations overlap the decoder's parallel convolutions; each side is
    // deterministic by itself, so the results do not depend on the number of threads.
    Vector<T> recon;
    Terms latent;
    latent_grads_.reset(n, d);
    const LatentBatch<T> batch{mu_, logvar_, z_, step_, config_.dataset_size};
    tbb::parallel_invoke(
        [&] {
          const Matrix<T>& out = decoder_.forward(z_, dec_tape_);
          recon = config_.likelihood.loss(x, out);
          const Vector<T> weights = Vector<T>::Constant(n, T(1) / T(n));
          config_.likelihood.gradient(x, out, weights, dout_);
          decoder_.backward(dec_tape_, dout_, &dz_);
        },
        [&] { latent = objective_.latent_loss(batch, prior_, rng_, latent_grads_); });
    dz_ += latent_grads_.dz;
    dh_.resize(n, 2 * d);
    dh_.leftCols(d) = latent_grads_.dmu + dz_;
    dh_.rightCols(d) = latent_grads_.dlogvar + (T(0.5) * dz_.array() * eps_.array() * std_.array()).matrix();
    // The clamp passes no gradient where it is active.
    const auto raw_logvar = h.rightCols(d).array();
    dh_.rightCols(d) = ((raw_logvar >= T(config_.logvar_min)) && (raw_logvar <= T(config_.logvar_max)))
                           .select(dh_.rightCols(d).array(), T(0)).matrix();
    encoder_.backward(enc_tape_, dh_, nullptr);

    const double recon_mean = static_cast<double>(recon.mean());
    double latent_total = 0;
    for (const auto& [k, v] : latent)
      if (k == "latent") latent_total = v;
    Terms terms;
    terms.emplace_back("loss", recon_mean + latent_total);
    terms.emplace_back("recon", recon_mean);
    for (const auto& kv : latent)
      if (kv.first != "latent") terms.push_back(kv);
    // Name the first non-finite term after the total (the total inherits it).
    for (std::size_t i = 0; i < terms.size(); ++i) {
      const auto& [k, v] = terms[(i + 1) % terms.size()];
      if (!std::isfinite(v))
        throw NumericalError("step " + std::to_string(step_ + 1) + ": the loss term '" + k + "' is not finite (" +
                             std::to_string(v) + ")");
    }
    check_gradients();
    return terms;
  }

  /// One optimisation step on the batch x (n × D): compute_gradients, one Adam step over
  /// the flat buffer, then the objective's own step if it has one (FactorVAE's
  /// discriminator, on this step's z). Returns the terms of compute_gradients (plus
  /// "discriminator", its loss). Every loss and gradient (the discriminator's too) is
  /// checked before any update: on NumericalError the parameters, both Adam states and
  /// step() are unchanged (the RNG has advanced), so a caller may skip_step() and go on.
  Terms train_step(const Matrix<T>& x) {
    Terms terms = prepare_step(x);
    apply_step();
    return terms;
  }

  /// The first half of train_step: compute_gradients, then the objective's own gradients
  /// (FactorVAE's discriminator), all checked; nothing is updated. Between the halves a
  /// data-parallel caller all-reduces gradients() and objective_gradients().
  Terms prepare_step(const Matrix<T>& x) {
    Terms terms = compute_gradients(x);
    if constexpr (requires { objective_.discriminator_prepare(z_, rng_); }) {
      const double dloss = objective_.discriminator_prepare(z_, rng_);
      if (!std::isfinite(dloss))
        throw NumericalError("step " + std::to_string(step_ + 1) + ": the loss term 'discriminator' is not finite (" +
                             std::to_string(dloss) + ")");
      for (const T g : objective_.discriminator_gradients())
        if (!std::isfinite(g))
          throw NumericalError("step " + std::to_string(step_ + 1) + ": a gradient of the discriminator is not finite");
      terms.emplace_back("discriminator", dloss);
    }
    return terms;
  }
  /// The second half of train_step: one Adam step of the model on gradients(), one of the
  /// objective's own parameters on objective_gradients(), and the step count.
  void apply_step() {
    adam_.step(params_, grads_);
    if constexpr (requires { objective_.discriminator_apply(); }) objective_.discriminator_apply();
    ++step_;
  }
  /// The gradients of the objective's own parameters (FactorVAE's discriminator), filled by
  /// prepare_step; empty for the other objectives.
  std::span<T> objective_gradients() {
    if constexpr (requires { objective_.discriminator_gradients(); }) return objective_.discriminator_gradients();
    else return {};
  }
  /// Data-parallel training (tools/comm.hpp): the batches given to compute_gradients are rows
  /// [offset, offset + n) of batches of `total` rows split across processes. Every process
  /// then draws the whole batch's noise ε (total × d, from the same RNG stream) and uses its
  /// own rows, so the mean of the shards' gradients equals one process's gradient on the
  /// whole batch (for objectives whose terms are per-sample means) and every process's RNG
  /// stays in step with the others. total = 0 turns it off. Throws Error for offset ∉ [0, total].
  void set_noise_shard(Index offset, Index total) {
    detail::require(offset >= 0 && total >= 0 && offset <= total, "set_noise_shard: the offset lies outside the batch");
    shard_offset_ = offset;
    shard_total_ = total;
  }

  /// Counts a step without an update (a step whose train_step threw NumericalError and
  /// that the caller chose to skip): step() advances, so schedules keyed on the step
  /// (β-VAE-B's capacity) stay on time; parameters and Adam states are untouched.
  void skip_step() { ++step_; }

  /// The posterior sample z = μ + σ ⊙ ε of the last compute_gradients call (n × d).
  const Matrix<T>& last_latent_sample() const { return z_; }

  // --- state ---------------------------------------------------------------------------
  /// Adds every tensor and metadata entry of the model's state to `f`: named parameter
  /// tensors (encoder.*, decoder.*, prior.*: together the flat buffer, in order), Adam's
  /// moments, the discriminator and its Adam (FactorVAE), the RNG, and the model's identity.
  void write_state(io::File& f) const {
    visit_parameter_tensors([&](const std::string& name, Index offset, const std::vector<std::int64_t>& shape) {
      f.add(name, io::Tensor::from(params_.data() + offset, shape));
    });
    auto& self = const_cast<DpVae&>(*this);
    const auto np = static_cast<std::int64_t>(params_.size());
    f.add("optimizer.m", io::Tensor::from(self.adam_.first_moment().data(), {np}));
    f.add("optimizer.v", io::Tensor::from(self.adam_.second_moment().data(), {np}));
    const auto st = rng_.state();
    f.add("rng.state", io::Tensor::from(st.data(), {static_cast<std::int64_t>(st.size())}));
    if constexpr (requires { self.objective_.discriminator_parameters(); }) {
      auto& dp = self.objective_.discriminator_parameters();
      objective_.discriminator().visit_tensors("discriminator", [&](const std::string& name, Index off,
                                                                    const std::vector<std::int64_t>& shape) {
        f.add(name, io::Tensor::from(dp.data() + off, shape));
      });
      auto& dadam = self.objective_.discriminator_optimizer();
      const auto nd = static_cast<std::int64_t>(dp.size());
      f.add("discriminator_optimizer.m", io::Tensor::from(dadam.first_moment().data(), {nd}));
      f.add("discriminator_optimizer.v", io::Tensor::from(dadam.second_moment().data(), {nd}));
      f.metadata["discriminator_optimizer.step"] = std::to_string(dadam.steps());
    }
    f.metadata["format"] = "dpvae-checkpoint-1";
    f.metadata["objective"] = Objective::name;
    f.metadata["prior"] = PriorT::Family::name;
    f.metadata["identity"] = identity();
    f.metadata["step"] = std::to_string(step_);
    f.metadata["optimizer.step"] = std::to_string(adam_.steps());
  }

  /// Restores the state written by write_state. Throws dpvae::Error naming `path` and the
  /// problem when the file belongs to another model (objective, prior, architecture,
  /// sizes) or a tensor is missing or has the wrong shape; the model is then unchanged.
  void read_state(const io::File& f, const std::string& path) {
    detail::require(f.metadata.count("format") && f.metadata.at("format") == "dpvae-checkpoint-1",
                    path + ": not a dpvae checkpoint");
    const std::string id = f.meta("identity", path);
    detail::require(id == identity(), path + ": checkpoint of another model (" + id + "), this model is " + identity());
    std::vector<T> params(params_.size());
    visit_parameter_tensors([&](const std::string& name, Index offset, const std::vector<std::int64_t>& shape) {
      const io::Tensor& t = f.at(name, path);
      detail::require(t.shape == shape, path + ": tensor '" + name + "' has the wrong shape");
      t.copy_to(params.data() + offset, t.numel(), name);
    });
    std::vector<T> m(params_.size()), v(params_.size());
    f.at("optimizer.m", path).copy_to(m.data(), static_cast<std::int64_t>(m.size()), "optimizer.m");
    f.at("optimizer.v", path).copy_to(v.data(), static_cast<std::int64_t>(v.size()), "optimizer.v");
    std::array<std::uint64_t, 6> st{};
    f.at("rng.state", path).copy_to(st.data(), 6, "rng.state");
    const std::uint64_t step = parse_count(f.meta("step", path), path);
    const std::uint64_t adam_step = parse_count(f.meta("optimizer.step", path), path);
    if constexpr (requires { objective_.discriminator_parameters(); }) {
      auto& dp = objective_.discriminator_parameters();
      std::vector<T> dparams(dp.size()), dm(dp.size()), dv(dp.size());
      objective_.discriminator().visit_tensors("discriminator", [&](const std::string& name, Index off,
                                                                    const std::vector<std::int64_t>& shape) {
        const io::Tensor& t = f.at(name, path);
        detail::require(t.shape == shape, path + ": tensor '" + name + "' has the wrong shape");
        t.copy_to(dparams.data() + off, t.numel(), name);
      });
      f.at("discriminator_optimizer.m", path).copy_to(dm.data(), static_cast<std::int64_t>(dm.size()), "discriminator_optimizer.m");
      f.at("discriminator_optimizer.v", path).copy_to(dv.data(), static_cast<std::int64_t>(dv.size()), "discriminator_optimizer.v");
      const std::uint64_t dstep = parse_count(f.meta("discriminator_optimizer.step", path), path);
      auto& dadam = objective_.discriminator_optimizer();
      std::copy(dparams.begin(), dparams.end(), dp.begin());
      std::copy(dm.begin(), dm.end(), dadam.first_moment().begin());
      std::copy(dv.begin(), dv.end(), dadam.second_moment().begin());
      dadam.set_steps(dstep);
    }
    std::copy(params.begin(), params.end(), params_.begin());
    std::copy(m.begin(), m.end(), adam_.first_moment().begin());
    std::copy(v.begin(), v.end(), adam_.second_moment().begin());
    adam_.set_steps(adam_step);
    rng_.set_state(st);
    step_ = step;
  }

  /// Saves the model state as a safetensors file (atomically: temporary file, fsync, rename).
  void save(const std::filesystem::path& path) const {
    io::File f;
    write_state(f);
    io::save(path, f);
  }
  /// Loads a file written by save(); see read_state for the checks.
  void load(const std::filesystem::path& path) { read_state(io::load(path), path.string()); }

  /// A string naming everything that fixes the parameter layout.
  std::string identity() const {
    const Architecture& a = config_.architecture;
    std::string s = std::string(Objective::name) + "/" + PriorT::Family::name + "/" + a.name() + "/d=" +
                    std::to_string(a.latent_dim) + "/in=" + std::to_string(a.input_size());
    if constexpr (PriorT::is_decoupled)
      s += "/K=" + std::to_string(prior_.flow().num_blocks()) + "/h=" + std::to_string(config_.flow_hidden);
    s += "/" + std::string(sizeof(T) == 4 ? "f32" : "f64");
    return s;
  }

  /// Calls f(name, offset, shape) for every parameter tensor of the flat buffer, in order.
  template <class F>
  void visit_parameter_tensors(F&& f) const {
    const Index ne = encoder_.num_parameters(), nd = decoder_.num_parameters();
    encoder_.visit_tensors("encoder", [&](const std::string& n, Index o, const auto& s) { f(n, o, s); });
    decoder_.visit_tensors("decoder", [&](const std::string& n, Index o, const auto& s) { f(n, ne + o, s); });
    if constexpr (PriorT::is_decoupled) {
      Index off = ne + nd;
      const auto& flow = prior_.flow();
      for (Index k = 0; k < flow.num_blocks(); ++k) {
        const std::string b = "prior.block" + std::to_string(k);
        flow.s_net(k).visit_tensors(b + ".s", [&](const std::string& n, Index o, const auto& s) { f(n, off + o, s); });
        off += flow.s_net(k).num_parameters();
        flow.t_net(k).visit_tensors(b + ".t", [&](const std::string& n, Index o, const auto& s) { f(n, off + o, s); });
        off += flow.t_net(k).num_parameters();
      }
    }
  }

 private:
  static PriorT make_prior(const ModelConfig& c) {
    if constexpr (PriorT::is_decoupled) return PriorT(c.architecture.latent_dim, c.seed, c.flow_hidden, c.flow_blocks);
    else return PriorT(c.architecture.latent_dim, c.seed);
  }
  static std::uint64_t parse_count(const std::string& s, const std::string& path) {
    detail::require(!s.empty() && s.size() < 20 && s.find_first_not_of("0123456789") == std::string::npos,
                    path + ": a step count in the metadata is not a number");
    return std::stoull(s);
  }
  void check_data(const Matrix<T>& x) const {
    detail::require(x.cols() == data_dim(), "the data have " + std::to_string(x.cols()) +
                                                " values per point, the model expects " + std::to_string(data_dim()));
  }
  void check_gradients() const {
    const Index ne = encoder_.num_parameters(), nd = decoder_.num_parameters();
    for (std::size_t i = 0; i < grads_.size(); ++i)
      if (!std::isfinite(grads_[i])) {
        const auto ii = static_cast<Index>(i);
        const char* part = ii < ne ? "encoder" : (ii < ne + nd ? "decoder" : "prior");
        throw NumericalError("step " + std::to_string(step_ + 1) + ": a gradient of the " + part + " is not finite");
      }
  }

  ModelConfig config_;
  Objective objective_;
  Enc encoder_;
  Dec decoder_;
  PriorT prior_;
  AlignedBuffer<T> params_, grads_;
  Adam<T> adam_;
  Rng rng_;
  std::uint64_t step_ = 0;
  Index shard_offset_ = 0, shard_total_ = 0;  // set_noise_shard
  Matrix<T> noise_;
  // per-step buffers, reused
  typename Enc::Tape enc_tape_;
  typename Dec::Tape dec_tape_;
  Matrix<T> mu_, logvar_, eps_, std_, z_, dout_, dz_, dh_;
  LatentGrads<T> latent_grads_;
};

/// The model with the standard normal prior (the regularizer's original VAE).
template <class Reg, class T = float>
using StandardVae = DpVae<Reg, Prior<StandardNormal, T>>;
/// The model with the paper's decoupled prior (6 coupling blocks).
template <class Reg, class T = float>
using DecoupledVae = DpVae<Reg, Coupling<6, T>>;

}  // namespace dpvae
