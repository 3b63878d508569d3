// libFuzzer harness: a run's config.json reader (JSON parse, then RunConfig::from_json with
// its key, type and range checks). Bad input must raise a JSON parse error or dpvae::Error.
#include "run_config.hpp"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(data), size));
  } catch (const nlohmann::json::exception&) {
    return 0;
  }
  try {
    const auto c = dpvae::cli::RunConfig::from_json(j, "fuzz");
    // An accepted config is valid and round-trips through its JSON.
    c.validate();
    const auto again = dpvae::cli::RunConfig::from_json(c.to_json(), "fuzz (round trip)");
    if (again.to_json() != c.to_json()) __builtin_trap();
  } catch (const dpvae::Error&) {
  }
  return 0;
}
