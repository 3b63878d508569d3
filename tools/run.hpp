// tools/run.hpp — run folders: training with checkpoints and logs, and loading a trained run.
#pragma once

#include "comm.hpp"
#include "run_config.hpp"

#include <filesystem>
#include <memory>

namespace dpvae::cli {

/// Trains cfg in the run folder `out` (creating it), or continues it when `resume`:
/// config.json, metrics.csv, samples/step-N.png, checkpoints/step-N.safetensors (the last
/// cfg.keep_checkpoints kept). Returns 0; throws dpvae::Error on bad input.
/// With `resume`, steps_override > 0 sets a new total and threads_override >= 0 the threads.
/// With `comm` of N > 1 ranks (the MPI build), data-parallel: every rank takes its B/N rows
/// of each batch, the gradients are summed in one all-reduce per step and divided by N,
/// and rank 0 alone writes the run folder and progress (README, "Data-parallel training").
int train(RunConfig cfg, const std::filesystem::path& out, bool resume, std::int64_t steps_override,
          int threads_override = -1, Comm* comm = nullptr);

/// The paper's name of a run's model: VAE, β-VAE-H, … and dpVAE, β-dpVAE-H, … (decoupled).
std::string display_name(const RunConfig& c);

/// A trained run: its settings, data and model restored from its newest checkpoint.
struct LoadedRun {
  RunConfig config;
  Data data;
  std::unique_ptr<AnyModel> model;
  std::filesystem::path checkpoint;
};
/// Throws dpvae::Error naming the folder and what is missing or corrupt.
LoadedRun load_run(const std::filesystem::path& run);

/// Writes `n` samples of a run as a PNG: an image grid, or for 2-D data a scatter plot of the
/// samples over the training data.
void write_samples(const LoadedRun& run, AnyModel& model, Index n, std::uint64_t seed, const std::filesystem::path& png);

/// The comparison figure of several runs (paper Fig. 1 for 2-D latents; sample grids for images).
void write_comparison(const std::vector<LoadedRun>& runs, std::uint64_t seed, const std::filesystem::path& png);

}  // namespace dpvae::cli
