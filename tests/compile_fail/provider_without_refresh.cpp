// expect: a provider must answer refresh requests
#include <interlook/extension/registry.hpp>
struct silent {
  static constexpr std::string_view name = "provider.silent";
  using config = interlook::no_config;
  explicit silent(const config&) {}
  void start(interlook::inbox&, interlook::outbox&) {}
  void stop() {}
};
constexpr auto n = interlook::registry<silent>::size;
