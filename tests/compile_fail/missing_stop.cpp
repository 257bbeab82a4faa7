// expect: an extension needs `void stop()`
#include <interlook/extension/registry.hpp>
struct unstoppable {
  static constexpr std::string_view name = "dns.unstoppable";
  using config = interlook::no_config;
  explicit unstoppable(const config&) {}
  void start(interlook::inbox&, interlook::outbox&) {}
};
constexpr auto n = interlook::registry<unstoppable>::size;
