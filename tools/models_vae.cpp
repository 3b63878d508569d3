// One translation unit per objective: both priors' model types are instantiated here.
#include "any_model.hpp"

namespace dpvae::cli::detail {
std::unique_ptr<AnyModel> make_vae(const std::string& prior, const ModelConfig& c, const Hyper& h) {
  (void)h;
  return make_for<Vae>(prior, c, {});
}
}  // namespace dpvae::cli::detail
