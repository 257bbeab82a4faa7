// expect: two extensions share one name
#include <interlook/extension/registry.hpp>
template <int>
struct twin {
  static constexpr std::string_view name = "lb.twin";
  using config = interlook::no_config;
  explicit twin(const config&) {}
  void start(interlook::inbox&, interlook::outbox&) {}
  void stop() {}
};
constexpr auto n = interlook::registry<twin<1>, twin<2>>::names.size();
