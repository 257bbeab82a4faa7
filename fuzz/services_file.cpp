// provider.file's services file (ext/provider/file/services_file.hpp):
// parse_services on any text. config_error naming the file is the
// documented failure; what parses is what the core accepts: named, unique,
// with DNS aliases, merged targets with a host, a port and a weight.
// fuzz-dict: yaml
#include "fuzz/fuzz.hpp"

#include <interlook/ext/provider/file/services_file.hpp>

#include <set>

using namespace interlook;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(fuzz::text(data, size));
  std::vector<service> services;
  try {
    services = ext::provider::parse_services(text, "services.yml");
  } catch (const config_error& e) {
    FUZZ_CHECK(e.file() == "services.yml" && std::string_view(e.what()).starts_with("services.yml"), e.what());
    return 0;
  }
  std::set<std::string> names;
  for (const auto& s : services) {
    FUZZ_CHECK(!s.name.empty() && names.insert(s.name).second, "service \"" + s.name + "\"");
    FUZZ_CHECK(s.provider == "provider.file", s.provider);
    FUZZ_CHECK(!s.dns_names.empty(), s.name + " without aliases");
    for (const auto& d : s.dns_names) FUZZ_CHECK(!d.empty(), s.name + ": an empty alias");
    FUZZ_CHECK(!s.targets.empty(), s.name + " without targets");
    for (std::size_t i = 0; i < s.targets.size(); ++i) {
      const auto& t = s.targets[i];
      FUZZ_CHECK(!t.host.empty() && t.port >= 1 && t.port <= 65535 && t.weight >= 1,
                 s.name + ": target \"" + t.host + "\":" + std::to_string(t.port) + " weight " + std::to_string(t.weight));
      if (i) FUZZ_CHECK(detail::target_less(s.targets[i - 1], t), s.name + ": targets not merged and sorted");
    }
  }
  return 0;
}
