#include "run.hpp"

#include "io_util.hpp"
#include "plot.hpp"

#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <fstream>
#include <iostream>
#include <sstream>

namespace dpvae::cli {

namespace fs = std::filesystem;
using dpvae::detail::fail;
using dpvae::detail::require;

namespace {

std::string step_name(std::int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

/// A run's config.json, validated.
RunConfig read_config(const fs::path& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text(path));
  } catch (const nlohmann::json::exception&) {
    fail(path.string() + ": not valid JSON");
  }
  return RunConfig::from_json(j, path.string());
}

/// Checkpoints in a run folder, newest first.
std::vector<fs::path> list_checkpoints(const fs::path& run) {
  std::vector<fs::path> out;
  const fs::path dir = run / "checkpoints";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".safetensors" && e.path().filename().string().rfind("step-", 0) == 0) out.push_back(e.path());
  std::sort(out.rbegin(), out.rend());
  return out;
}

/// model.read_state(f), every error naming the checkpoint file (a tensor's dtype error
/// from io::Tensor::copy_to names only the tensor).
void read_checkpoint(AnyModel& model, const io::File& f, const fs::path& cp) {
  try {
    model.read_state(f, cp.string());
  } catch (const NumericalError&) {
    throw;
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind(cp.string(), 0) == 0) throw;
    fail(cp.string() + ": " + what);
  }
}

/// The training data order: one permutation per epoch from its own RNG stream, batches
/// taken in order (a final partial batch is dropped), all of it checkpointed.
struct DataOrder {
  Rng rng;
  std::vector<std::int64_t> order;
  std::int64_t position = 0;

  void next_batch(const Matrix<float>& data, std::int64_t batch, Matrix<float>& out) {
    const auto n = static_cast<std::int64_t>(data.rows());
    if (order.empty() || position + batch > n) {
      order = rng.permutation(n);
      position = 0;
    }
    out.resize(batch, data.cols());
    for (std::int64_t i = 0; i < batch; ++i) out.row(i) = data.row(order[static_cast<std::size_t>(position + i)]);
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

/// Removes the temporaries of writes that a kill cut off (NAME.tmpPID beside a file written
/// by io::write_file_atomic); the files they were to replace are intact. Returns the count.
int remove_stale_temporaries(const fs::path& run) {
  int removed = 0;
  std::error_code ec;
  for (const fs::path& dir : {run, run / "checkpoints", run / "samples"}) {
    if (!fs::is_directory(dir, ec)) continue;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename().string();
      const auto pos = name.rfind(".tmp");
      if (pos == std::string::npos || pos + 4 >= name.size() ||
          name.find_first_not_of("0123456789", pos + 4) != std::string::npos || !e.is_regular_file(ec))
        continue;
      if (fs::remove(e.path(), ec)) ++removed;
    }
  }
  return removed;
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

std::string display_name(const RunConfig& c) {
  // The paper's names: VAE / dpVAE, β-VAE-H / β-dpVAE-H, β-TCVAE / β-TC-dpVAE, …
  static const std::map<std::string, std::pair<std::string, std::string>> names{
      {"vae", {"VAE", "dpVAE"}},           {"beta-h", {"β-VAE-H", "β-dpVAE-H"}},
      {"beta-b", {"β-VAE-B", "β-dpVAE-B"}}, {"beta-tc", {"β-TCVAE", "β-TC-dpVAE"}},
      {"factor", {"FactorVAE", "Factor-dpVAE"}}, {"info", {"InfoVAE", "Info-dpVAE"}}};
  const auto& n = names.at(c.objective);
  return c.prior == "decoupled" ? n.second : n.first;
}

int train(RunConfig cfg, const fs::path& out, bool resume, std::int64_t steps_override, int threads_override,
          Comm* comm_ptr) {
  Comm single;
  Comm& comm = comm_ptr != nullptr ? *comm_ptr : single;
  const int rank = comm.rank(), ranks = comm.size();
  const bool writer = rank == 0;  // rank 0 alone writes files and progress
  std::ostream null_out(nullptr);
  std::ostream& log = writer ? std::cout : null_out;
  std::error_code ec;
  if (resume) {
    require(fs::exists(out / "config.json"), out.string() + ": no config.json to resume from (is this a run folder?)");
    cfg = read_config(out / "config.json");
    if (steps_override > 0) cfg.steps = steps_override;
    if (threads_override >= 0) cfg.threads = threads_override;
  } else {
    require(!fs::exists(out / "config.json"),
            out.string() + " already holds a run (use --resume to continue it, or another --out)");
    cfg.data_root = fs::absolute(cfg.data_root).lexically_normal().string();
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
  if (writer) {
    if (!resume) {
      fs::create_directories(out, ec);
      require(!ec && fs::is_directory(out), "cannot create the run folder " + out.string() + ": " + ec.message());
    }
    fs::create_directories(out / "checkpoints", ec);
    fs::create_directories(out / "samples", ec);
    require(!ec, "cannot write to the run folder " + out.string() + ": " + ec.message());
  }
  std::int64_t skipped_steps = 0;  // non-finite steps skipped (cfg.skip_nonfinite), checkpointed
  if (resume) {
    if (const int n = writer ? remove_stale_temporaries(out) : 0; n > 0)
      log << "dpvae: removed " << n << " temporary file(s) of writes cut off by an earlier kill\n";
    const auto cps = list_checkpoints(out);
    require(!cps.empty(), out.string() + ": no checkpoint to resume from (checkpoints/ is empty)");
    std::string errors;
    std::vector<std::string> skipped;
    bool loaded = false;
    for (const auto& cp : cps) {  // newest loadable checkpoint
      try {
        const io::File f = io::load(cp);
        read_checkpoint(*model, f, cp);
        order.read(f, cp.string(), data.train.rows());
        skipped_steps = 0;
        if (const auto it = f.metadata.find("run.skipped_steps"); it != f.metadata.end()) {
          const std::string& v = it->second;
          require(!v.empty() && v.size() < 19 && v.find_first_not_of("0123456789") == std::string::npos,
                  cp.string() + ": run.skipped_steps is not a number");
          skipped_steps = std::stoll(v);
        }
        loaded = true;
        log << "dpvae: resuming " << out.string() << " from " << cp.filename().string() << " (step " << model->step() << ")\n";
        break;
      } catch (const Error& e) {
        errors += std::string(errors.empty() ? "" : "; ") + e.what();
        skipped.push_back(e.what());
      }
    }
    require(loaded, out.string() + ": no usable checkpoint (" + errors + ")");
    for (const auto& why : skipped) log << "dpvae: skipped an unusable checkpoint: " << why << "\n";
  } else if (writer) {
    write_text_atomic(out / "config.json", cfg.to_json().dump(2) + "\n");
  }

  // metrics.csv: keep the rows up to the resumed step, then append.
  const fs::path metrics = out / "metrics.csv";
  std::vector<std::string> kept;
  std::string header;
  if (resume && fs::exists(metrics)) {
    std::istringstream in(read_text(metrics));
    std::string line;
    std::getline(in, header);
    while (std::getline(in, line)) {
      const auto step = std::strtoll(line.c_str(), nullptr, 10);
      if (step <= static_cast<long long>(model->step())) kept.push_back(line);
    }
  }
  const std::int64_t sample_every = cfg.sample_every > 0 ? cfg.sample_every : std::max<std::int64_t>(1, cfg.steps / 5);
  LoadedRun view{cfg, data, nullptr, {}};

  auto save_checkpoint = [&]() {
    if (!writer) return;
    io::File f;
    model->write_state(f);
    order.write(f);
    f.metadata["config"] = cfg.to_json().dump();
    f.metadata["run.skipped_steps"] = std::to_string(skipped_steps);
    const fs::path path = out / "checkpoints" / (step_name(static_cast<std::int64_t>(model->step())) + ".safetensors");
    io::save(path, f);
    const auto cps = list_checkpoints(out);
    for (std::size_t i = static_cast<std::size_t>(cfg.keep_checkpoints); i < cps.size(); ++i) fs::remove(cps[i], ec);
  };
  auto flush_metrics = [&]() {
    if (!writer) return;
    std::string text = (header.empty() ? std::string("step,seconds") : header) + "\n";
    for (const auto& l : kept) text += l + "\n";
    write_text_atomic(metrics, text);
  };

  if (!resume) save_checkpoint();  // step 0: a run folder is resumable from its first moment
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
    if (!skipped) {
      if (header.empty()) {
        header = "step,seconds";
        for (const auto& [k, v] : terms) header += "," + k;
        if (cfg.skip_nonfinite) header += ",skipped";
      }
      std::ostringstream row;
      row << step << "," << elapsed;
      for (const auto& [k, v] : terms) row << "," << v;
      if (cfg.skip_nonfinite) row << "," << skipped_steps;  // cumulative count of skipped steps
      kept.push_back(row.str());
    }
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
      write_samples(view, *model, 64, cfg.seed + static_cast<std::uint64_t>(step),
                    out / "samples" / (step_name(step) + ".png"));
    if (step % cfg.checkpoint_every == 0 || step == cfg.steps) {
      flush_metrics();
      save_checkpoint();
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

LoadedRun load_run(const fs::path& run) {
  require(fs::is_directory(run), run.string() + ": no such run folder");
  require(fs::exists(run / "config.json"), run.string() + ": not a run folder (no config.json)");
  LoadedRun r;
  r.config = read_config(run / "config.json");
  r.data = load_data(r.config);
  r.model = make_model(r.config.objective, r.config.prior,
                       r.config.model_config(r.data.architecture(r.config.latent_dim), static_cast<double>(r.data.train.rows())),
                       r.config.hyper);
  const auto cps = list_checkpoints(run);
  require(!cps.empty(), run.string() + ": no checkpoint (checkpoints/step-*.safetensors); was the run trained?");
  r.checkpoint = cps.front();
  read_checkpoint(*r.model, io::load(r.checkpoint), r.checkpoint);
  return r;
}

namespace {
Matrix<double> to_double(const Matrix<float>& m) { return m.cast<double>(); }
const std::array<double, 3> kGrey{0.55, 0.55, 0.55}, kBlue{0.12, 0.35, 0.8}, kOrange{0.9, 0.45, 0.05};
}  // namespace

void write_samples(const LoadedRun& run, AnyModel& model, Index n, std::uint64_t seed, const fs::path& png) {
  Rng rng(seed);
  const Matrix<float> x = model.decode(model.prior_sample(n, rng));
  if (run.data.images) {
    plot::write_image_grid(png, x, run.data.height, run.data.width, run.data.channels, 8, 2);
    return;
  }
  require(x.cols() == 2, "sample plots of non-image data need 2-D data");
  plot::Panel p;
  p.title = display_name(run.config) + ": samples (step " + std::to_string(model.step()) + ")";
  p.layers.push_back({to_double(run.data.train), kGrey, 0.35, 1.2, "data"});
  p.layers.push_back({to_double(x), kOrange, 0.8, 1.8, "samples"});
  plot::write_panels(png, {{p}});
}

void write_comparison(const std::vector<LoadedRun>& runs, std::uint64_t seed, const fs::path& png) {
  require(!runs.empty(), "compare needs at least one run");
  const bool images = runs.front().data.images;
  for (const auto& r : runs)
    require(r.data.images == images && r.data.train.cols() == runs.front().data.train.cols(),
            "compare needs runs on the same data set");
  if (images) {
    std::vector<plot::GridPanel> panels;
    for (const auto& r : runs) {
      Rng rng(seed);
      panels.push_back({display_name(r.config) + " (step " + std::to_string(r.model->step()) + ")",
                        r.model->decode(r.model->prior_sample(64, rng))});
    }
    plot::write_grid_comparison(png, panels, runs.front().data.height, runs.front().data.width,
                                runs.front().data.channels, 8, 2);
    return;
  }
  // Paper Fig. 1 for 2-D latents: per run, data and samples; the aggregate posterior over the
  // prior's density in the representation space z; and the same in the generation space z0.
  std::vector<std::vector<plot::Panel>> rows;
  for (const auto& r : runs) {
    auto& m = *r.model;
    require(m.latent_dim() == 2, "the latent-space panels need a 2-D latent space");
    Rng rng(seed);
    const std::string name = display_name(r.config);
    const Index n = std::min<Index>(2000, r.data.train.rows());
    const Matrix<float> x = m.decode(m.prior_sample(n, rng));
    auto [mu, logvar] = m.encode(r.data.train.topRows(n));
    Matrix<float> eps(n, 2);
    rng.fill_normal(std::span<float>(eps.data(), static_cast<std::size_t>(eps.size())));
    const Matrix<float> z = mu + ((0.5f * logvar.array()).exp() * eps.array()).matrix();
    const Matrix<float> z0 = m.prior_forward(z);

    plot::Panel samples{name + ": data and samples", {}, std::nullopt, std::nullopt};
    samples.layers.push_back({to_double(r.data.train), kGrey, 0.35, 1.2, "data"});
    samples.layers.push_back({to_double(x), kOrange, 0.7, 1.6, "samples"});

    // Density grids over the range of the posterior samples (z) and over [-4, 4]² (z0).
    auto density = [&](double x0, double x1, double y0, double y1, bool in_z) {
      const Index g = 160;
      Matrix<float> pts(g * g, 2);
      for (Index i = 0; i < g; ++i)
        for (Index j = 0; j < g; ++j)
          pts.row(i * g + j) << static_cast<float>(x0 + (x1 - x0) * (static_cast<double>(j) + 0.5) / g),
              static_cast<float>(y1 - (y1 - y0) * (static_cast<double>(i) + 0.5) / g);
      Vector<float> lp = in_z ? m.prior_log_prob(pts)
                              : (-0.5f * pts.rowwise().squaredNorm().array() - static_cast<float>(kLog2Pi)).matrix();
      plot::Heatmap h;
      h.values = Eigen::Map<Matrix<float>>(lp.data(), g, g).cast<double>().array().exp().matrix();
      h.x_min = x0, h.x_max = x1, h.y_min = y0, h.y_max = y1;
      return h;
    };
    const double zx0 = std::min(z.col(0).minCoeff(), -3.0f), zx1 = std::max(z.col(0).maxCoeff(), 3.0f);
    const double zy0 = std::min(z.col(1).minCoeff(), -3.0f), zy1 = std::max(z.col(1).maxCoeff(), 3.0f);
    const double px = 0.05 * (zx1 - zx0), py = 0.05 * (zy1 - zy0);
    plot::Panel latent{name + ": q(z) over p(z)", {}, density(zx0 - px, zx1 + px, zy0 - py, zy1 + py, true), std::nullopt};
    latent.layers.push_back({to_double(z), {1, 1, 1}, 0.5, 1.2, "q(z) samples"});
    plot::Panel gen{name + ": f(z) over N(0, I)", {}, density(-4.5, 4.5, -4.5, 4.5, false), std::nullopt};
    gen.layers.push_back({to_double(z0), {1, 1, 1}, 0.5, 1.2, "f(z), z ~ q(z)"});
    rows.push_back({samples, latent, gen});
  }
  plot::write_panels(png, rows, "data and samples | aggregate posterior in z | in z0 = f(z)");
}

}  // namespace dpvae::cli
