// dpvae/objectives/hyperparameters.hpp — how an objective describes itself, once: its
// name, its display names under both priors, and each hyperparameter (field, help text,
// valid range, official-preset value; the default is the field's initializer). Validation,
// the command line's flags, config.json, the presets, checkpoints' settings and the tables
// are all derived from this description (docs/extending.md "Add a regularizer").
#pragma once

#include "dpvae/core.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

namespace dpvae {

/// The names of an enumeration's values, for hyperparameters of enum type: specialise with
/// `static constexpr std::array<const char*, N> names` (value i is named names[i]).
template <class E>
struct EnumNames;

/// One hyperparameter of objective O, a field of type V (double, Index or an enum with
/// EnumNames). `key` is the config.json key and, with '_' → '-', the command-line flag.
template <class O, class V>
struct Hyperparameter {
  const char* key;
  V O::*field;
  const char* help;
  double lo = -std::numeric_limits<double>::infinity();  ///< valid range (numbers only)
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  V official{};  ///< the official code's value (docs/math.md "Conventions and defaults")
};

/// A numeric hyperparameter in [lo, hi] (open ends by flag), official value `official`.
template <class O, class V>
constexpr Hyperparameter<O, V> hyperparameter(const char* key, V O::*field, const char* help, double lo, double hi,
                                              V official, bool lo_open = false, bool hi_open = false) {
  return {key, field, help, lo, hi, lo_open, hi_open, official};
}
/// An enum-valued hyperparameter (its choices are EnumNames<V>::names).
template <class O, class V>
  requires std::is_enum_v<V>
constexpr Hyperparameter<O, V> choice(const char* key, V O::*field, const char* help, V official) {
  return {key, field, help, 0, 0, false, false, official};
}

/// The batch, learning rate and likelihood weight of the official code's configuration of
/// an objective (docs/math.md "The official code"); the objective weights are in its
/// Hyperparameter::official values.
struct OfficialRun {
  double lr = 1e-4;
  Index batch_size = 100;
  double likelihood_weight = 1.0;  ///< w of the Gaussian likelihood (the official code's is Gaussian)
  bool exists = true;              ///< false: the official code has no such objective
};

namespace detail {
inline std::string format_number(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
  return std::string(buf, r.ptr);
}
inline std::string flag_of(const char* key) {
  std::string f = std::string("--") + key;
  for (char& c : f)
    if (c == '_') c = '-';
  return f;
}
/// "finite and >= 0", "in (0, 1)", … : the rule of a range, as messages state it.
inline std::string range_rule(double lo, double hi, bool lo_open, bool hi_open) {
  const bool has_lo = std::isfinite(lo), has_hi = std::isfinite(hi);
  if (has_lo && has_hi)
    return std::string("in ") + (lo_open ? "(" : "[") + format_number(lo) + ", " + format_number(hi) + (hi_open ? ")" : "]");
  if (has_lo) return std::string("finite and ") + (lo_open ? "> " : ">= ") + format_number(lo);
  if (has_hi) return std::string("finite and ") + (hi_open ? "< " : "<= ") + format_number(hi);
  return "finite";
}
}  // namespace detail

/// The value of hyperparameter h of o as text (numbers in shortest round-trip form).
template <class O, class V>
std::string hyperparameter_text(const O& o, const Hyperparameter<O, V>& h) {
  const V& v = o.*(h.field);
  if constexpr (std::is_enum_v<V>) return EnumNames<V>::names.at(static_cast<std::size_t>(v));
  else if constexpr (std::is_integral_v<V>) return std::to_string(v);
  else return detail::format_number(static_cast<double>(v));
}

/// Throws dpvae::Error "--key must be <rule> (got v)" when h's value in o lies outside its range.
template <class O, class V>
void check_hyperparameter(const O& o, const Hyperparameter<O, V>& h) {
  if constexpr (!std::is_enum_v<V>) {
    const double v = static_cast<double>(o.*(h.field));
    const bool ok = std::isfinite(v) && (h.lo_open ? v > h.lo : v >= h.lo) && (h.hi_open ? v < h.hi : v <= h.hi);
    // Checked before every training step: the message is built only on failure.
    if (!ok)
      detail::fail(detail::flag_of(h.key) + " must be " + detail::range_rule(h.lo, h.hi, h.lo_open, h.hi_open) +
                   " (got " + detail::format_number(v) + ")");
  }
}

/// Sets hyperparameter h of o from text (a number, or a choice's name). Throws
/// dpvae::Error naming the flag when the text is not a value of its type; the range is
/// checked by validate_hyperparameters.
template <class O, class V>
void set_hyperparameter(O& o, const Hyperparameter<O, V>& h, std::string_view text) {
  const std::string flag = detail::flag_of(h.key);
  if constexpr (std::is_enum_v<V>) {
    const auto& names = EnumNames<V>::names;
    std::string expected;
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (text == names[i]) {
        o.*(h.field) = static_cast<V>(i);
        return;
      }
      expected += (i ? (i + 1 == names.size() ? " or " : ", ") : "") + std::string(names[i]);
    }
    detail::fail(flag + " must be " + expected + " (got '" + std::string(text) + "')");
  } else {
    V v{};
    const char* end = text.data() + text.size();
    const auto r = std::from_chars(text.data(), end, v);
    detail::require(r.ec == std::errc() && r.ptr == end,
                    flag + " must be " + (std::is_integral_v<V> ? "an integer" : "a number") + " (got '" +
                        std::string(text) + "')");
    o.*(h.field) = v;
  }
}

/// Calls f(h) for each hyperparameter of objective type O, in description order.
template <class O, class F>
void for_each_hyperparameter(F&& f) {
  std::apply([&](const auto&... h) { (f(h), ...); }, O::hyperparameters());
}

/// Checks every described hyperparameter of o against its range, then the objective's own
/// cross-field rules (O::check_rules, when it has them). Throws dpvae::Error "<objective>:
/// --key must be …" for the first violation.
template <class O>
void validate_hyperparameters(const O& o) {
  try {
    for_each_hyperparameter<O>([&](const auto& h) { check_hyperparameter(o, h); });
    if constexpr (requires { o.check_rules(); }) o.check_rules();
  } catch (const Error& e) {
    throw Error(std::string(O::name) + ": " + e.what());
  }
}

/// (key, value text) for every hyperparameter of o: what a checkpoint records of it.
template <class O>
std::vector<std::pair<std::string, std::string>> hyperparameter_values(const O& o) {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(std::tuple_size_v<decltype(O::hyperparameters())>);  // also keeps GCC 12's -Warray-bounds quiet
  for_each_hyperparameter<O>([&](const auto& h) { out.emplace_back(h.key, hyperparameter_text(o, h)); });
  return out;
}

/// o with every hyperparameter at its official-preset value.
template <class O>
O official_hyperparameters(O o = {}) {
  for_each_hyperparameter<O>([&](const auto& h) { o.*(h.field) = h.official; });
  return o;
}

}  // namespace dpvae
