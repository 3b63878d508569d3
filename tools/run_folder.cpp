// tools/run_folder.cpp — implementation of tools/run_folder.hpp.
#include "run_folder.hpp"

#include "io_util.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

namespace dpvae::cli {

namespace fs = std::filesystem;
using dpvae::detail::fail;
using dpvae::detail::require;
using nlohmann::json;

namespace {

std::string step_name(std::int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

/// A config.json, validated; errors name the file.
RunConfig read_config(const fs::path& path) {
  json j;
  try {
    j = json::parse(read_text(path));
  } catch (const json::exception&) {
    fail(path.string() + ": not valid JSON");
  }
  return RunConfig::from_json(j, path.string());
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

/// A config.json value as a user writes it on the command line: strings unquoted, whole
/// floating-point numbers without ".0".
std::string as_typed(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  std::string s = v.dump();
  if (v.is_number_float() && s.size() > 2 && s.ends_with(".0")) s.resize(s.size() - 2);
  return s;
}

}  // namespace

std::string display_name(const RunConfig& c) {
  // The paper's names (VAE / dpVAE, β-VAE-H / β-dpVAE-H, …), from the objective's description.
  return objective_info(c.objective).display(c.prior);
}

fs::path sample_png(const fs::path& run, std::int64_t step) { return run / "samples" / (step_name(step) + ".png"); }

// --- config.json -------------------------------------------------------------------------

RunConfig as_stored(RunConfig cfg) {
  cfg.data_root = fs::absolute(cfg.data_root).lexically_normal().string();
  return cfg;
}

void require_new_run(const fs::path& run) {
  require(!fs::exists(run / "config.json"),
          run.string() + " already holds a run (use --resume to continue it, or another --out)");
}

RunConfig read_run_config(const fs::path& run) {
  require(fs::exists(run / "config.json"), run.string() + ": no config.json to resume from (is this a run folder?)");
  return read_config(run / "config.json");
}

void write_run_config(const fs::path& run, const RunConfig& cfg) {
  write_text_atomic(run / "config.json", cfg.to_json().dump(2) + "\n");
}

void require_same_settings(const RunConfig& given, const std::vector<std::string>& options, const fs::path& run) {
  const json stored = read_run_config(run).to_json();
  const json wanted = as_stored(given).to_json();
  for (const std::string& name : options) {
    if (name == "--out" || name == "--resume" || name == "--steps" || name == "--threads" || name == "--help") continue;
    std::string key = name.substr(name.find_first_not_of('-'));
    std::replace(key.begin(), key.end(), '-', '_');
    require(stored.contains(key) && wanted.contains(key),
            name + " cannot be given with --resume (it is not a setting of " + (run / "config.json").string() + ")");
    if (wanted.at(key) != stored.at(key))
      fail(name + " " + as_typed(wanted.at(key)) + " differs from the run's stored value " + as_typed(stored.at(key)) +
           " (" + (run / "config.json").string() +
           "); a resumed run keeps its settings (only --steps and --threads may change)");
  }
}

// --- the folder, metrics.csv and checkpoints -----------------------------------------------

void create_run_folders(const fs::path& run, bool resume) {
  std::error_code ec;
  if (!resume) {
    fs::create_directories(run, ec);
    require(!ec && fs::is_directory(run), "cannot create the run folder " + run.string() + ": " + ec.message());
  }
  fs::create_directories(run / "checkpoints", ec);
  fs::create_directories(run / "samples", ec);
  require(!ec, "cannot write to the run folder " + run.string() + ": " + ec.message());
}

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

MetricsCsv::MetricsCsv(const fs::path& run, bool resume, std::int64_t resumed_step) : path_(run / "metrics.csv") {
  if (!resume || !fs::exists(path_)) return;
  std::istringstream in(read_text(path_));
  std::string line;
  std::getline(in, header_);
  while (std::getline(in, line)) {
    const auto step = std::strtoll(line.c_str(), nullptr, 10);
    if (step <= static_cast<long long>(resumed_step)) rows_.push_back(line);
  }
}

void MetricsCsv::add(std::int64_t step, double seconds, const Terms& terms, std::optional<std::int64_t> skipped) {
  if (header_.empty()) {
    header_ = "step,seconds";
    for (const auto& [k, v] : terms) header_ += "," + k;
    if (skipped) header_ += ",skipped";
  }
  std::ostringstream row;
  row << step << "," << seconds;
  for (const auto& [k, v] : terms) row << "," << v;
  if (skipped) row << "," << *skipped;
  rows_.push_back(row.str());
}

void MetricsCsv::flush() const {
  std::string text = (header_.empty() ? std::string("step,seconds") : header_) + "\n";
  for (const auto& l : rows_) text += l + "\n";
  write_text_atomic(path_, text);
}

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

void save_checkpoint(const fs::path& run, const RunConfig& cfg, const AnyModel& model,
                     const std::function<void(io::File&)>& add_state) {
  io::File f;
  model.write_state(f);
  add_state(f);
  f.metadata["config"] = cfg.to_json().dump();
  const fs::path path = run / "checkpoints" / (step_name(static_cast<std::int64_t>(model.step())) + ".safetensors");
  io::save(path, f);
  const auto cps = list_checkpoints(run);
  std::error_code ec;
  for (std::size_t i = static_cast<std::size_t>(cfg.keep_checkpoints); i < cps.size(); ++i) fs::remove(cps[i], ec);
}

ResumePoint restore_newest_checkpoint(const fs::path& run, AnyModel& model,
                                      const std::function<void(const io::File&, const fs::path&)>& read_state) {
  const auto cps = list_checkpoints(run);
  require(!cps.empty(), run.string() + ": no checkpoint to resume from (checkpoints/ is empty)");
  ResumePoint point;
  std::string errors;
  for (const auto& cp : cps) {
    try {
      const io::File f = io::load(cp);
      read_checkpoint(model, f, cp);
      read_state(f, cp);
      point.checkpoint = cp;
      return point;
    } catch (const Error& e) {
      errors += std::string(errors.empty() ? "" : "; ") + e.what();
      point.skipped.push_back(e.what());
    }
  }
  fail(run.string() + ": no usable checkpoint (" + errors + ")");
}

// --- a trained run -------------------------------------------------------------------------

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

}  // namespace dpvae::cli
