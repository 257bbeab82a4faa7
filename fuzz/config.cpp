// The configuration file, the way `interlook --conf FILE --check-config`
// reads it (runtime/daemon.hpp): YAML text -> load_config for the stock
// daemon's registry (examples/builtin_registry.hpp: every built-in
// extension), then the settings --check-config prints. config_error naming
// the file is the documented failure; nothing else may escape.
// fuzz-dict: yaml
// fuzz-link: -lldns
#include "fuzz/fuzz.hpp"

#include "examples/builtin_registry.hpp"

#include <interlook/config/file.hpp>

using namespace interlook;
using stock = interlook::examples::builtin_registry;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(fuzz::text(data, size));
  try {
    auto cfg = load_config<stock>(config_document::parse(text, "interlook.yml"));
    FUZZ_CHECK(!cfg.steps.empty(), "a workflow without steps");
    for (auto s : cfg.steps) FUZZ_CHECK(s < stock::size && cfg.uses(s), "step " + std::to_string(s));
    std::size_t printed = 0;
    for (const auto& [key, value] : cfg.settings()) printed += key.size() + value.size();
    for (const auto& w : cfg.warnings) FUZZ_CHECK(w.starts_with("interlook.yml:"), w);
    (void)printed;
  } catch (const config_error& e) {
    FUZZ_CHECK(e.file() == "interlook.yml" && std::string_view(e.what()).starts_with("interlook.yml"), e.what());
  }
  return 0;
}
