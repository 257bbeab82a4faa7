// expect: a handler's `handle` has the wrong signature
#include <interlook/extension/registry.hpp>
struct sloppy {
  static constexpr std::string_view name = "dns.sloppy";
  using config = interlook::no_config;
  explicit sloppy(const config&) {}
  void handle(const interlook::message&) {}  // returns nothing: not a handler
};
constexpr auto n = interlook::registry<sloppy>::size;
