#pragma once
// Extension names: "kind.impl" ("provider.swarm", "lb.f5ltm").

#include <string_view>

namespace interlook {

// True for "kind.impl" where both parts are non-empty and made of lower-case
// letters, digits, '-' and '_' (the config section is found from the parts).
constexpr bool is_valid_extension_name(std::string_view name) noexcept {
  auto dot = name.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == name.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (i == dot) continue;
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// "lb" of "lb.f5ltm".
constexpr std::string_view extension_kind(std::string_view name) noexcept { return name.substr(0, name.find('.')); }

// "f5ltm" of "lb.f5ltm".
constexpr std::string_view extension_impl(std::string_view name) noexcept {
  auto dot = name.find('.');
  return dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
}

constexpr bool is_provider_name(std::string_view name) noexcept { return extension_kind(name) == "provider"; }

}  // namespace interlook
