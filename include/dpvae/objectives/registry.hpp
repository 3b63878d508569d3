// dpvae/objectives/registry.hpp — the run-time view of the compile-time list of regularizers
// (list.hpp), for front ends that pick an objective by name: each objective's names, its
// official run, and each hyperparameter's key, flag, help, rule, default and official value
// as text; building an objective from (key → text) values with every check of its
// description. No I/O; the command line and config.json are built on it.
#pragma once

#include "dpvae/objectives/list.hpp"

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace dpvae {

/// Hyperparameter values by key, as text (numbers in shortest round-trip form).
using HyperparameterValues = std::map<std::string, std::string>;

struct HyperparameterInfo {
  std::string key;      ///< config.json key
  std::string flag;     ///< command-line flag (--key, '_' → '-')
  std::string help;
  std::string rule;     ///< "finite and >= 0", "in (0, 1)", "rbf or imq", …
  std::string default_value, official_value;
  bool numeric = true;  ///< false for a choice (an enum)
};

struct ObjectiveInfo {
  std::string name, display_standard, display_decoupled;
  OfficialRun official_run;
  bool uses_dataset_size = false;
  std::vector<HyperparameterInfo> hyperparameters;
  /// The values of the regularizers' own papers (the field initializers) / the official code.
  HyperparameterValues defaults() const, officials() const;
  /// The display name under a prior ("standard" or "decoupled").
  const std::string& display(std::string_view prior) const { return prior == "decoupled" ? display_decoupled : display_standard; }
  /// Throws dpvae::Error unless `values` names only this objective's hyperparameters, each
  /// parses, and the objective built from them (defaults for the rest) validates.
  std::function<void(const HyperparameterValues&)> check;
};

/// Sets o's hyperparameters from `values` (keys it does not have are refused: "--lambda does
/// not apply to beta-tc (its hyperparameters: --alpha, --beta, --gamma)"), then validates.
template <class O>
void apply_hyperparameters(O& o, const HyperparameterValues& values) {
  for (const auto& entry : values) {
    const std::string& key = entry.first;
    const std::string& text = entry.second;
    bool found = false;
    for_each_hyperparameter<O>([&](const auto& h) {
      if (!found && key == h.key) {
        set_hyperparameter(o, h, text);
        found = true;
      }
    });
    if (!found) {
      std::string own;
      for_each_hyperparameter<O>([&](const auto& h) { own += (own.empty() ? "" : ", ") + detail::flag_of(h.key); });
      detail::fail(detail::flag_of(key.c_str()) + " does not apply to " + O::name +
                   (own.empty() ? std::string(" (it has no hyperparameters)") : " (its hyperparameters: " + own + ")"));
    }
  }
  o.validate();
}

namespace detail {
template <class R>
ObjectiveInfo describe_objective() {
  using O = typename R::template policy<double>;
  ObjectiveInfo info;
  info.name = O::name;
  info.display_standard = O::display_standard;
  info.display_decoupled = O::display_decoupled;
  info.official_run = O::official_run;
  if constexpr (requires { O::uses_dataset_size; }) info.uses_dataset_size = O::uses_dataset_size;
  const O defaults{};
  const O officials = official_hyperparameters<O>();
  for_each_hyperparameter<O>([&](const auto& h) {
    using V = std::decay_t<decltype(defaults.*(h.field))>;
    HyperparameterInfo hi;
    hi.key = h.key;
    hi.flag = flag_of(h.key);
    hi.help = h.help;
    hi.default_value = hyperparameter_text(defaults, h);
    hi.official_value = hyperparameter_text(officials, h);
    if constexpr (std::is_enum_v<V>) {
      hi.numeric = false;
      const auto& names = EnumNames<V>::names;
      for (std::size_t i = 0; i < names.size(); ++i)
        hi.rule += (i ? (i + 1 == names.size() ? " or " : ", ") : "") + std::string(names[i]);
    } else {
      hi.rule = range_rule(h.lo, h.hi, h.lo_open, h.hi_open);
      if constexpr (std::is_integral_v<V>) hi.rule = "an integer " + hi.rule.substr(hi.rule.rfind("finite and ", 0) == 0 ? 11 : 0);
    }
    info.hyperparameters.push_back(std::move(hi));
  });
  info.check = [](const HyperparameterValues& values) {
    O o;
    apply_hyperparameters(o, values);
  };
  return info;
}
}  // namespace detail

inline HyperparameterValues ObjectiveInfo::defaults() const {
  HyperparameterValues v;
  for (const auto& h : hyperparameters) v[h.key] = h.default_value;
  return v;
}
inline HyperparameterValues ObjectiveInfo::officials() const {
  HyperparameterValues v;
  for (const auto& h : hyperparameters) v[h.key] = h.official_value;
  return v;
}

/// Every regularizer of dpvae::Regularizers, in list order.
inline const std::vector<ObjectiveInfo>& objective_infos() {
  static const std::vector<ObjectiveInfo> infos = [] {
    std::vector<ObjectiveInfo> v;
    Regularizers::for_each([&](auto r) { v.push_back(detail::describe_objective<typename decltype(r)::type>()); });
    return v;
  }();
  return infos;
}

/// "vae, beta-h, …, or info": the objective names, for messages.
inline std::string objective_names() {
  std::string s;
  const auto& infos = objective_infos();
  for (std::size_t i = 0; i < infos.size(); ++i)
    s += (i ? (i + 1 == infos.size() ? " or " : ", ") : "") + infos[i].name;
  return s;
}

/// The objective named `name`. Throws dpvae::Error "unknown objective 'x' (expected …)".
inline const ObjectiveInfo& objective_info(std::string_view name) {
  for (const auto& info : objective_infos())
    if (info.name == name) return info;
  detail::fail("unknown objective '" + std::string(name) + "' (expected " + objective_names() + ")");
}

/// Every hyperparameter key of every objective (config.json keys a run folder may hold).
inline std::set<std::string> all_hyperparameter_keys() {
  std::set<std::string> keys;
  for (const auto& info : objective_infos())
    for (const auto& h : info.hyperparameters) keys.insert(h.key);
  return keys;
}

}  // namespace dpvae
