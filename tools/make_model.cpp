// make_model: the one place that names all twelve model types (apart from run_config.cpp,
// so that the config reader builds, and is fuzzed, without the models).
#include "any_model.hpp"

namespace dpvae::cli {

std::unique_ptr<AnyModel> make_model(const std::string& objective, const std::string& prior, const ModelConfig& c,
                                     const Hyper& h) {
  if (objective == "vae") return detail::make_vae(prior, c, h);
  if (objective == "beta-h") return detail::make_beta_h(prior, c, h);
  if (objective == "beta-b") return detail::make_beta_b(prior, c, h);
  if (objective == "beta-tc") return detail::make_beta_tc(prior, c, h);
  if (objective == "factor") return detail::make_factor(prior, c, h);
  if (objective == "info") return detail::make_info(prior, c, h);
  dpvae::detail::fail("unknown objective '" + objective + "' (expected vae, beta-h, beta-b, beta-tc, factor or info)");
}

}  // namespace dpvae::cli
