// expect: an extension needs a nested type `config`
#include <interlook/extension/registry.hpp>
struct dns_without_config {
  static constexpr std::string_view name = "dns.noconfig";
  void start(interlook::inbox&, interlook::outbox&) {}
  void stop() {}
};
using bad = interlook::registry<dns_without_config>;
constexpr auto n = bad::size;
