// expect: an extension needs `static constexpr std::string_view name = "kind.impl";`
#include <interlook/extension/registry.hpp>
struct badly_named {
  static constexpr std::string_view name = "F5";
  using config = interlook::no_config;
  explicit badly_named(const config&) {}
  void start(interlook::inbox&, interlook::outbox&) {}
  void stop() {}
};
constexpr auto n = interlook::registry<badly_named>::size;
