// dpvae/io/checkpoint.hpp — model checkpoints as safetensors files, written and read over
// the model's state visitor (DpVae::visit_state) and its settings (DpVae::settings).
//
//     dpvae::save(model, "model.safetensors");   // atomic: temporary file, fsync, rename
//     dpvae::load(model, "model.safetensors");   // refuses another model's file, naming why
//
// Layout: every tensor the visitor names, in visit order (parameters, Adam moments, the RNG
// state, the objective's own state), F32/F64 as the model's scalar, the RNG as U64; metadata
// "format" = dpvae-checkpoint-1, "objective", "prior", "identity" (the parameter layout), the counts (step,
// optimizer.step, …), one "setting.<name>" per entry of settings() (what load() checks) and
// one "config.<key>" per entry of ModelConfig::entries() (what dpvae::load_model rebuilds the
// model from; load() does not compare them: a resumed run may change, say, the learning
// rate). Files written before settings were recorded load by their identity alone.
#pragma once

#include "dpvae/io/safetensors.hpp"

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace dpvae {

namespace detail_io {

/// Settings that checkpoints record since a later version, each with the value every
/// checkpoint written before then was trained with (a file without the entry loads into a
/// model with that value, and is refused by one with another).
inline const std::map<std::string, std::string>& settings_added_later() {
  static const std::map<std::string, std::string> added{{"objective.tc_estimator", "mws"}};
  return added;
}

/// Collects a model's state into an io::File.
struct CheckpointWriter {
  io::File& file;
  template <class T>
  void tensor(const std::string& name, std::span<T> data, const std::vector<std::int64_t>& shape) {
    file.add(name, io::Tensor::from(data.data(), shape));
  }
  void words(const std::string& name, std::span<std::uint64_t> data) {
    file.add(name, io::Tensor::from(data.data(), {static_cast<std::int64_t>(data.size())}));
  }
  void count(const std::string& name, std::uint64_t& value) { file.metadata[name] = std::to_string(value); }
};

/// Restores a model's state from an io::File in two passes: with `apply` false it only
/// checks that every tensor exists with its shape and dtype and every count parses (the
/// model is left as it was: spans are not written, counts are left unchanged); with `apply`
/// true it copies. Errors name the file and the tensor or count.
struct CheckpointReader {
  const io::File& file;
  const std::string& path;
  bool apply = false;
  template <class T>
  void tensor(const std::string& name, std::span<T> data, const std::vector<std::int64_t>& shape) {
    const io::Tensor& t = file.at(name, path);
    detail::require(t.shape == shape, path + ": tensor '" + name + "' has the wrong shape");
    std::vector<T> tmp(data.size());
    t.copy_to(tmp.data(), static_cast<std::int64_t>(tmp.size()), name);
    if (apply) std::copy(tmp.begin(), tmp.end(), data.begin());
  }
  void words(const std::string& name, std::span<std::uint64_t> data) {
    const io::Tensor& t = file.at(name, path);
    detail::require(t.numel() == static_cast<std::int64_t>(data.size()), path + ": tensor '" + name + "' has the wrong size");
    std::vector<std::uint64_t> tmp(data.size());
    t.copy_to(tmp.data(), static_cast<std::int64_t>(tmp.size()), name);
    if (apply) std::copy(tmp.begin(), tmp.end(), data.begin());
  }
  void count(const std::string& name, std::uint64_t& value) {
    const std::string& s = file.meta(name, path);
    detail::require(!s.empty() && s.size() < 20 && s.find_first_not_of("0123456789") == std::string::npos,
                    path + ": the count '" + name + "' in the metadata is not a number");
    if (apply) value = std::stoull(s);
  }
};

}  // namespace detail_io

/// Adds every tensor, count and setting of `model`'s state to `f` (see the file comment).
template <class Model>
void write_checkpoint(const Model& model, io::File& f) {
  detail_io::CheckpointWriter w{f};
  const_cast<Model&>(model).visit_state(w);  // the writer only reads through the spans
  f.metadata["format"] = "dpvae-checkpoint-1";
  f.metadata["objective"] = Model::objective_name();
  f.metadata["prior"] = Model::prior_name();
  f.metadata["identity"] = model.identity();
  for (const auto& [k, v] : model.settings()) f.metadata["setting." + k] = v;
  for (const auto& [k, v] : model.config().entries()) f.metadata["config." + k] = v;
}

/// Restores `model` from a file written by write_checkpoint. Throws dpvae::Error naming
/// `path` and the problem — not a checkpoint, another parameter layout ("checkpoint of
/// another model (…)"), a recorded setting that differs from the model's ("… was trained
/// with objective.beta = 5, this model has 3"), a missing or mis-shaped tensor, a bad count —
/// and leaves the model unchanged then.
template <class Model>
void read_checkpoint(Model& model, const io::File& f, const std::string& path) {
  detail::require(f.metadata.count("format") && f.metadata.at("format") == "dpvae-checkpoint-1",
                  path + ": not a dpvae checkpoint");
  const std::string id = f.meta("identity", path);
  detail::require(id == model.identity(),
                  path + ": checkpoint of another model (" + id + "), this model is " + model.identity());
  const auto settings = model.settings();
  bool recorded = false;
  for (const auto& [k, v] : f.metadata) recorded = recorded || k.rfind("setting.", 0) == 0;
  if (recorded) {
    for (const auto& [k, v] : settings) {
      const auto it = f.metadata.find("setting." + k);
      if (it == f.metadata.end()) {  // a setting added after the file was written: its implied value
        const auto later = detail_io::settings_added_later().find(k);
        detail::require(later != detail_io::settings_added_later().end(),
                        path + ": the checkpoint does not record the setting " + k);
        detail::require(later->second == v, path + ": the checkpoint predates the setting " + k +
                                                " and was trained with " + k + " = " + later->second +
                                                ", this model has " + k + " = " + v);
        continue;
      }
      detail::require(it->second == v, path + ": the checkpoint was trained with " + k + " = " + it->second +
                                           ", this model has " + k + " = " + v);
    }
    for (const auto& [k, v] : f.metadata)
      if (k.rfind("setting.", 0) == 0) {
        const std::string name = k.substr(8);
        bool known = false;
        for (const auto& s : settings) known = known || s.first == name;
        detail::require(known, path + ": the checkpoint records a setting this model does not have: " + name + " = " + v);
      }
  }
  detail_io::CheckpointReader check{f, path, false};
  model.visit_state(check);
  detail_io::CheckpointReader apply{f, path, true};
  model.visit_state(apply);
}

/// Saves `model` as a safetensors checkpoint (atomically: temporary file, fsync, rename).
/// Throws dpvae::Error naming the path when it cannot be written.
template <class Model>
void save(const Model& model, const std::filesystem::path& path) {
  io::File f;
  write_checkpoint(model, f);
  io::save(path, f);
}

/// Loads a checkpoint written by save() into `model`; see read_checkpoint for the checks.
template <class Model>
void load(Model& model, const std::filesystem::path& path) {
  read_checkpoint(model, io::load(path), path.string());
}

}  // namespace dpvae
