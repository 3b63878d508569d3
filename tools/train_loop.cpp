// tools/train_loop.cpp — implementation of tools/train_loop.hpp.
#include "train_loop.hpp"

#include "figures.hpp"
#include "run_folder.hpp"

#include <tbb/global_control.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <optional>
#include <sstream>

namespace dpvae::cli {

namespace fs = std::filesystem;
using dpvae::detail::fail;
using dpvae::detail::require;

namespace {

/// The training data order: one permutation per epoch from its own RNG stream, batches
/// taken in order (a final partial batch is dropped), all of it checkpointed.
struct DataOrder {
  Rng rng;
  std::vector<std::int64_t> order;
  std::int64_t position = 0;

  void next_batch(const Points& data, std::int64_t batch, Matrix<float>& out) {
    const auto n = static_cast<std::int64_t>(data.rows());
    if (order.empty() || position + batch > n) {
      order = rng.permutation(n);
      position = 0;
    }
    data.gather_into(order.data() + position, batch, out);
    position += batch;
  }
  void write(io::File& f) const {
    f.add("data.order", io::Tensor::from(order.data(), {static_cast<std::int64_t>(order.size())}));
    const auto st = rng.state();
    f.add("data.rng", io::Tensor::from(st.data(), {6}));
    f.metadata["data.position"] = std::to_string(position);
  }
  void read(const io::File& f, const std::string& path, std::int64_t n) {
    const io::Tensor& t = f.at("data.order", path);
    require(t.numel() == 0 || t.numel() == n, path + ": the data order does not match the data set (" +
                                                  std::to_string(t.numel()) + " vs " + std::to_string(n) + " points)");
    order.resize(static_cast<std::size_t>(t.numel()));
    t.copy_to(order.data(), t.numel(), "data.order");
    for (auto v : order) require(v >= 0 && v < n, path + ": the data order holds an index outside the data set");
    std::array<std::uint64_t, 6> st{};
    f.at("data.rng", path).copy_to(st.data(), 6, "data.rng");
    rng.set_state(st);
    const std::string& p = f.meta("data.position", path);
    require(!p.empty() && p.size() < 19 && p.find_first_not_of("0123456789") == std::string::npos,
            path + ": data.position is not a number");
    position = std::stoll(p);
    require(position <= static_cast<std::int64_t>(order.size()), path + ": data.position is out of range");
  }
};

/// The count of skipped non-finite steps a checkpoint holds (0 in checkpoints written
/// before the count existed).
std::int64_t read_skipped_steps(const io::File& f, const fs::path& cp) {
  const auto it = f.metadata.find("run.skipped_steps");
  if (it == f.metadata.end()) return 0;
  const std::string& v = it->second;
  require(!v.empty() && v.size() < 19 && v.find_first_not_of("0123456789") == std::string::npos,
          cp.string() + ": run.skipped_steps is not a number");
  return std::stoll(v);
}

/// A test hook (README, "Numerical faults"): DPVAE_FAULT_NAN_STEPS="3,7" puts a NaN into the
/// first value of the batches of steps 3 and 7 (counted from 1), to exercise the non-finite
/// handling end to end. Unset (always, outside tests), it does nothing.
std::vector<std::int64_t> fault_nan_steps() {
  std::vector<std::int64_t> steps;
  const char* env = std::getenv("DPVAE_FAULT_NAN_STEPS");
  if (env == nullptr) return steps;
  std::stringstream ss(env);
  std::string item;
  while (std::getline(ss, item, ',')) {
    require(!item.empty() && item.size() < 18 && item.find_first_not_of("0123456789") == std::string::npos,
            "DPVAE_FAULT_NAN_STEPS must be a comma-separated list of step numbers");
    steps.push_back(std::stoll(item));
  }
  return steps;
}

/// One data-parallel step (README, "Data-parallel training"): this rank's prepare_step on
/// its shard, then ONE all-reduce of [model gradients | objective gradients | terms | a
/// non-finite flag], divided by the rank count, then apply_step on every rank: the replicas
/// stay identical. A non-finite loss or gradient on any rank reaches every rank through the
/// flag, so all ranks stop (or skip) together; throws NumericalError then.
Terms data_parallel_step(AnyModel& model, Comm& comm, const Matrix<float>& shard, std::vector<float>& buf) {
  constexpr std::size_t kMaxTerms = 16;
  Terms terms;
  std::string why;
  try {
    terms = model.prepare_step(shard);
  } catch (const NumericalError& e) {
    why = e.what();
  }
  const auto g = model.gradients(), og = model.objective_gradients();
  const std::size_t ng = g.size(), nog = og.size();
  buf.assign(ng + nog + kMaxTerms + 1, 0.0f);
  if (why.empty()) {
    require(terms.size() <= kMaxTerms, "data-parallel training: more loss terms than the all-reduce holds");
    std::copy(g.begin(), g.end(), buf.begin());
    std::copy(og.begin(), og.end(), buf.begin() + static_cast<std::ptrdiff_t>(ng));
    for (std::size_t i = 0; i < terms.size(); ++i) buf[ng + nog + i] = static_cast<float>(terms[i].second);
  } else {
    buf.back() = 1.0f;
  }
  comm.allreduce_sum(buf);
  if (buf.back() > 0.0f) {
    if (!why.empty()) throw NumericalError(why);
    const std::string step = terms.empty() ? "this step" : "step " + std::to_string(model.step() + 1);
    throw NumericalError(step + ": a loss term or gradient is not finite on " +
                         std::to_string(static_cast<int>(buf.back())) + " other rank(s)");
  }
  const float inv = 1.0f / static_cast<float>(comm.size());
  for (std::size_t i = 0; i < ng; ++i) g[i] = buf[i] * inv;
  for (std::size_t i = 0; i < nog; ++i) og[i] = buf[ng + i] * inv;
  for (std::size_t i = 0; i < terms.size(); ++i) terms[i].second = static_cast<double>(buf[ng + nog + i] * inv);
  for (std::size_t i = 0; i < ng + nog; ++i)
    if (!std::isfinite(buf[i])) throw NumericalError("step " + std::to_string(model.step() + 1) + ": the all-reduced gradient is not finite");
  model.apply_step();
  return terms;
}

/// A duration for progress lines: 42s, 3m07s, 1h05m.
std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const auto t = static_cast<long long>(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", t / 3600, (t / 60) % 60);
  else if (t >= 60) std::snprintf(buf, sizeof buf, "%lldm%02llds", t / 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%llds", t);
  return buf;
}

}  // namespace

int train(RunConfig cfg, const fs::path& out, bool resume, std::int64_t steps_override, int threads_override,
          Comm* comm_ptr) {
  Comm single;
  Comm& comm = comm_ptr != nullptr ? *comm_ptr : single;
  const int rank = comm.rank(), ranks = comm.size();
  const bool writer = rank == 0;  // rank 0 alone writes files and progress
  std::ostream null_out(nullptr);
  std::ostream& log = writer ? std::cout : null_out;
  // On resume with a new total, config.json is rewritten with it (and only it), so that the
  // folder describes the run it holds (reproduce compares it with the run it asks for).
  std::optional<RunConfig> restated;
  if (resume) {
    cfg = read_run_config(out);
    if (steps_override > 0 && steps_override != cfg.steps) {
      restated = cfg;
      restated->steps = steps_override;
    }
    if (steps_override > 0) cfg.steps = steps_override;
    if (threads_override >= 0) cfg.threads = threads_override;
  } else {
    require_new_run(out);
    cfg = as_stored(cfg);
  }
  cfg.validate();
  require(cfg.batch_size % ranks == 0, "the batch size " + std::to_string(cfg.batch_size) + " is not a multiple of the " +
                                           std::to_string(ranks) + " ranks (each rank takes B/N rows of every batch)");
  std::optional<tbb::global_control> threads;
  if (cfg.threads > 0) threads.emplace(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(cfg.threads));

  const Data data = load_data(cfg);
  require(data.train.rows() >= cfg.batch_size, "the batch size " + std::to_string(cfg.batch_size) +
                                                   " exceeds the training set (" + std::to_string(data.train.rows()) + " points)");
  auto model = make_model(cfg.objective, cfg.prior, cfg.model_config(data.architecture(cfg.latent_dim),
                                                                     static_cast<double>(data.train.rows())),
                          cfg.hyper);
  DataOrder order{Rng(cfg.seed ^ 0xDA7A0DE5ull), {}, 0};
  const Index shard = cfg.batch_size / ranks, shard_begin = rank * shard;
  if (ranks > 1) model->set_noise_shard(shard_begin, cfg.batch_size);

  comm.barrier();  // every rank has checked the folder before rank 0 writes to it
  if (writer) create_run_folders(out, resume);
  std::int64_t skipped_steps = 0;  // non-finite steps skipped (cfg.skip_nonfinite), checkpointed
  if (resume) {
    if (const int n = writer ? remove_stale_temporaries(out) : 0; n > 0)
      log << "dpvae: removed " << n << " temporary file(s) of writes cut off by an earlier kill\n";
    const ResumePoint from = restore_newest_checkpoint(out, *model, [&](const io::File& f, const fs::path& cp) {
      order.read(f, cp.string(), data.train.rows());
      skipped_steps = read_skipped_steps(f, cp);
    });
    log << "dpvae: resuming " << out.string() << " from " << from.checkpoint.filename().string() << " (step "
        << model->step() << ")\n";
    if (writer && restated) write_run_config(out, *restated);
    for (const auto& why : from.skipped) log << "dpvae: skipped an unusable checkpoint: " << why << "\n";
  } else if (writer) {
    write_run_config(out, cfg);
  }

  MetricsCsv metrics(out, resume, static_cast<std::int64_t>(model->step()));
  const std::int64_t sample_every = cfg.sample_every > 0 ? cfg.sample_every : std::max<std::int64_t>(1, cfg.steps / 5);
  LoadedRun view{cfg, data, nullptr, {}};
  auto checkpoint = [&]() {
    if (!writer) return;
    save_checkpoint(out, cfg, *model, [&](io::File& f) {
      order.write(f);
      f.metadata["run.skipped_steps"] = std::to_string(skipped_steps);
    });
  };
  auto flush_metrics = [&]() {
    if (writer) metrics.flush();
  };

  if (!resume) checkpoint();  // step 0: a run folder is resumable from its first moment
  Matrix<float> batch;
  const auto start = std::chrono::steady_clock::now();
  const auto first_step = static_cast<std::int64_t>(model->step());
  if (first_step >= cfg.steps) {
    log << "dpvae: " << out.string() << " has already run " << first_step << " of " << cfg.steps << " steps\n";
    return 0;
  }
  log << "dpvae: training " << display_name(cfg) << " (" << cfg.objective << ", " << cfg.prior << " prior) on "
      << cfg.dataset << ": " << data.train.rows() << " points, batch " << cfg.batch_size << ", " << cfg.steps
      << " steps, " << model->parameters().size() << " parameters";
  if (ranks > 1) log << ", " << ranks << " ranks of " << shard << " points";
  log << "\n";
  const std::vector<std::int64_t> nan_steps = fault_nan_steps();
  std::vector<float> reduce_buffer;
  while (static_cast<std::int64_t>(model->step()) < cfg.steps) {
    order.next_batch(data.train, cfg.batch_size, batch);
    if (std::find(nan_steps.begin(), nan_steps.end(), static_cast<std::int64_t>(model->step()) + 1) != nan_steps.end())
      batch(0, 0) = std::numeric_limits<float>::quiet_NaN();
    Terms terms;
    bool skipped = false;
    try {
      if (ranks == 1) {
        terms = model->train_step(batch);
      } else {
        terms = data_parallel_step(*model, comm, batch.middleRows(shard_begin, shard), reduce_buffer);
      }
    } catch (const NumericalError& e) {
      if (!cfg.skip_nonfinite) {
        if (!writer) return 2;  // data-parallel: every rank stops here; rank 0 reports it
        flush_metrics();
        const auto cps = list_checkpoints(out);
        fail(std::string(e.what()) + (cps.empty() ? std::string("; no checkpoint was written yet")
                                                  : "; the last good checkpoint is " + cps.front().string()));
      }
      // The parameters and both Adam states are untouched (DpVae::train_step): count the step.
      model->skip_step();
      ++skipped_steps;
      skipped = true;
      log << "dpvae: skipped " << e.what() << " (" << skipped_steps << " skipped so far)" << std::endl;
    }
    const auto step = static_cast<std::int64_t>(model->step());
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!skipped)
      metrics.add(step, elapsed, terms, cfg.skip_nonfinite ? std::optional<std::int64_t>(skipped_steps) : std::nullopt);
    if (!skipped && (step % cfg.log_every == 0 || step == cfg.steps)) {
      const double rate = static_cast<double>(step - first_step) / std::max(elapsed, 1e-9);
      std::ostringstream line;
      line << "step " << step << "/" << cfg.steps << "  " << std::fixed;
      line.precision(1);
      line << rate << " steps/s  ETA " << format_duration(static_cast<double>(cfg.steps - step) / rate);
      line.precision(3);
      for (const auto& [k, v] : terms) line << "  " << k << " " << v;
      log << line.str() << std::endl;
    }
    if (writer && (step % sample_every == 0 || step == cfg.steps))
      write_samples(view, *model, 64, cfg.seed + static_cast<std::uint64_t>(step), sample_png(out, step));
    if (step % cfg.checkpoint_every == 0 || step == cfg.steps) {
      flush_metrics();
      checkpoint();
    }
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (cfg.skip_nonfinite)
    log << "dpvae: " << skipped_steps << " step(s) skipped for a non-finite loss or gradient\n";
  log << "dpvae: done in " << format_duration(elapsed) << " ("
      << 1000.0 * elapsed / static_cast<double>(cfg.steps - first_step) << " s per 1,000 steps); run folder "
      << out.string() << "\n";
  return 0;
}

}  // namespace dpvae::cli
