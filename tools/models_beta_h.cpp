// One translation unit per objective: both priors' model types are instantiated here.
#include "any_model.hpp"

namespace dpvae::cli::detail {
std::unique_ptr<AnyModel> make_beta_h(const std::string& prior, const ModelConfig& c, const Hyper& h) {
  (void)h;
  objective::BetaH<float> o;
  o.beta = h.beta;
  return make_for<BetaH>(prior, c, o);
}
}  // namespace dpvae::cli::detail
