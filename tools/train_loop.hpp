// tools/train_loop.hpp — `dpvae train`: the training loop. Steps over seeded batches, the
// data-parallel gradient all-reduce (comm.hpp), non-finite losses and gradients (stop, or
// skip and count), the fault-injection hook of the tests, progress lines, and, through the
// run folder (run_folder.hpp), checkpoints, metrics.csv and sample figures at their steps.
#pragma once

#include "comm.hpp"
#include "run_config.hpp"

#include <cstdint>
#include <filesystem>

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

}  // namespace dpvae::cli
