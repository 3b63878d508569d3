// tools/run_folder.hpp — the run folder of `dpvae train` and what reads it: config.json
// (written once, read back, compared on --resume), metrics.csv, checkpoints/step-N.safetensors
// (written, rotated, the newest usable one found and restored), samples/step-N.png names, and
// load_run for the commands that use a trained run.
//
//   RUN/config.json                      the run's settings (RunConfig::to_json)
//   RUN/metrics.csv                      step,seconds,<loss terms>[,skipped], one row per step
//   RUN/checkpoints/step-%08d.safetensors model and optimiser state, data order, skipped count
//   RUN/samples/step-%08d.png            sample figures written while training
#pragma once

#include "run_config.hpp"

#include <dpvae/any_model.hpp>

#include <dpvae/io/safetensors.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dpvae::cli {

/// The paper's name of a run's model: VAE, β-VAE-H, … and dpVAE, β-dpVAE-H, … (decoupled).
std::string display_name(const RunConfig& c);

/// RUN/samples/step-N.png: the sample figure of step N.
std::filesystem::path sample_png(const std::filesystem::path& run, std::int64_t step);

// --- config.json -------------------------------------------------------------------------

/// A new run's settings as config.json stores them: data_root made absolute, so that the
/// run can be used from any working directory.
RunConfig as_stored(RunConfig cfg);

/// Refuses a folder that already holds a run (config.json), naming --resume.
void require_new_run(const std::filesystem::path& run);

/// RUN/config.json of a run to resume, validated. Throws dpvae::Error when there is none.
RunConfig read_run_config(const std::filesystem::path& run);

/// Writes RUN/config.json (atomically).
void write_run_config(const std::filesystem::path& run, const RunConfig& cfg);

/// Checks a `train --resume` command against the run it resumes: `given` is the config the
/// same command would give a new run (preset applied), `options` the long names ("--beta")
/// of the options given on the command line. Each option maps to its config.json key (dashes
/// to underscores); --out, --resume, --steps, --threads and --help are not settings. Throws
/// dpvae::Error naming the first option whose value differs from the stored one, or that
/// has no config.json key.
void require_same_settings(const RunConfig& given, const std::vector<std::string>& options,
                           const std::filesystem::path& run);

// --- the folder, metrics.csv and checkpoints -----------------------------------------------

/// Creates RUN (a new run), RUN/checkpoints and RUN/samples. Throws dpvae::Error naming the
/// folder when it cannot.
void create_run_folders(const std::filesystem::path& run, bool resume);

/// Removes the temporaries of writes that a kill cut off (NAME.tmpPID beside a file written
/// by io::write_file_atomic) in RUN, RUN/checkpoints and RUN/samples; the files they were to
/// replace are intact. Returns the count.
int remove_stale_temporaries(const std::filesystem::path& run);

/// RUN/metrics.csv of a run being trained: the header and rows are kept in memory and the
/// whole file is replaced atomically by flush(). Resuming keeps the header and the rows up
/// to the resumed step of the existing file.
class MetricsCsv {
 public:
  MetricsCsv(const std::filesystem::path& run, bool resume, std::int64_t resumed_step);
  /// Appends the row of `step`: seconds since the start of this process's training, the
  /// loss terms, and (when `skipped` is set) the cumulative count of skipped steps. The
  /// first row of a run fixes the header from the terms' names.
  void add(std::int64_t step, double seconds, const Terms& terms, std::optional<std::int64_t> skipped);
  void flush() const;

 private:
  std::filesystem::path path_;
  std::string header_;
  std::vector<std::string> rows_;
};

/// Checkpoints in a run folder, newest first.
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& run);

/// Writes RUN/checkpoints/step-N.safetensors (N = model.step()): the model's state, then what
/// `add_state` adds (the training loop's own state), and the config; then removes all but
/// the newest cfg.keep_checkpoints checkpoints.
void save_checkpoint(const std::filesystem::path& run, const RunConfig& cfg, const AnyModel& model,
                     const std::function<void(io::File&)>& add_state);

/// The checkpoint a run resumed from, and why each newer one was skipped.
struct ResumePoint {
  std::filesystem::path checkpoint;
  std::vector<std::string> skipped;
};

/// Restores `model` from the newest checkpoint of RUN that loads, `read_state` reading the
/// training loop's state from the same file (a throw skips that checkpoint too). Throws
/// dpvae::Error when there is no checkpoint or none is usable (every reason named).
ResumePoint restore_newest_checkpoint(const std::filesystem::path& run, AnyModel& model,
                                      const std::function<void(const io::File&, const std::filesystem::path&)>& read_state);

// --- a trained run -------------------------------------------------------------------------

/// A trained run: its settings, data and model restored from its newest checkpoint.
struct LoadedRun {
  RunConfig config;
  Data data;
  std::unique_ptr<AnyModel> model;
  std::filesystem::path checkpoint;
};
/// Throws dpvae::Error naming the folder and what is missing or corrupt.
LoadedRun load_run(const std::filesystem::path& run);

}  // namespace dpvae::cli
