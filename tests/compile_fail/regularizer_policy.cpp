// expect: Reg::policy<T> must model dpvae::RegularizerPolicy
#include <dpvae/model.hpp>
template <class T>
struct NotAnObjective {};
struct Fake {
  template <class T>
  using policy = NotAnObjective<T>;
};
dpvae::DpVae<Fake, dpvae::Coupling<6>> model(dpvae::ModelConfig{});
