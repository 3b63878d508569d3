// dpvae::models: make_model (the model of an objective named at run time, found in
// dpvae::Regularizers), checkpoint_config and load_model (include/dpvae/any_model.hpp).
#include <dpvae/any_model.hpp>

namespace dpvae {

namespace detail {
template <class Reg>
std::unique_ptr<AnyModel> make_for(const std::string& prior, const ModelConfig& c, const HyperparameterValues& hyper);
}  // namespace detail

std::unique_ptr<AnyModel> make_model(const std::string& objective, const std::string& prior, const ModelConfig& c,
                                     const HyperparameterValues& hyper) {
  std::unique_ptr<AnyModel> model;
  bool found = false;
  Regularizers::for_each([&](auto r) {
    using R = typename decltype(r)::type;
    if (!found && objective == R::name) {
      found = true;
      model = detail::make_for<R>(prior, c, hyper);
    }
  });
  if (!found) objective_info(objective);  // throws "unknown objective … (expected …)"
  return model;
}

ModelConfig checkpoint_config(const io::File& file, const std::string& path) {
  detail::require(file.metadata.count("format") && file.metadata.at("format") == "dpvae-checkpoint-1",
                  path + ": not a dpvae checkpoint");
  detail::require(file.metadata.count("config.architecture") != 0,
                  path + ": the checkpoint does not record its model's configuration (written before dpvae "
                         "recorded it): build the model and call dpvae::load");
  return ModelConfig::from_entries(
      [&](const std::string& key) -> const std::string* {
        const auto it = file.metadata.find("config." + key);
        return it == file.metadata.end() ? nullptr : &it->second;
      },
      path);
}

std::unique_ptr<AnyModel> load_model(const std::filesystem::path& path) {
  const std::string where = path.string();
  const io::File file = io::load(path);
  const ModelConfig config = checkpoint_config(file, where);
  const std::string& objective = file.meta("objective", where);
  const std::string& prior = file.meta("prior", where);
  const auto scalar = file.metadata.find("setting.scalar");
  detail::require(scalar == file.metadata.end() || scalar->second == "f32",
                  where + ": a " + (scalar == file.metadata.end() ? std::string() : scalar->second) +
                      " model; load_model rebuilds float models: build the DpVae type and call dpvae::load");
  bool known = false;
  for (const auto& info : objective_infos()) known = known || objective == info.name;
  detail::require(known, where + ": the checkpoint's objective '" + objective + "' is not one of dpvae::Regularizers");
  detail::require(prior == "standard" || prior == "decoupled",
                  where + ": the checkpoint's prior '" + prior + "' is not standard or decoupled");
  HyperparameterValues hyper;
  const std::string prefix = "setting.objective.";
  for (const auto& [k, v] : file.metadata)
    if (k.rfind(prefix, 0) == 0) hyper[k.substr(prefix.size())] = v;
  std::unique_ptr<AnyModel> model;
  try {
    model = make_model(objective, prior, config, hyper);
  } catch (const Error& e) {
    detail::fail(where + ": the recorded model cannot be built: " + e.what());
  }
  model->read_state(file, where);  // checks the identity, every setting and every tensor
  return model;
}

}  // namespace dpvae
