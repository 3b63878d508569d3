// make_model: the model of an objective named at run time, found in dpvae::Regularizers.
#include "any_model.hpp"

namespace dpvae::cli {

std::unique_ptr<AnyModel> make_model(const std::string& objective, const std::string& prior, const ModelConfig& c,
                                     const HyperparameterValues& hyper) {
  std::unique_ptr<AnyModel> model;
  bool found = false;
  Regularizers::for_each([&](auto r) {
    using R = typename decltype(r)::type;
    if (!found && objective == R::name) {
      found = true;
      model = make_for<R>(prior, c, hyper);
    }
  });
  if (!found) objective_info(objective);  // throws "unknown objective … (expected …)"
  return model;
}

}  // namespace dpvae::cli
