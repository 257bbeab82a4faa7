#pragma once
// Extension names: "kind.impl" ("provider.swarm", "lb.f5ltm").

#include <string_view>

namespace interlook {

namespace detail {
// Index of the first '.', or size() when there is none. A plain loop, not
// string_view::find: GCC's -fsanitize=undefined makes find's null-pointer
// check non-constant, and these functions run at compile time.
constexpr std::size_t dot_index(std::string_view name) noexcept {
  std::size_t i = 0;
  while (i < name.size() && name[i] != '.') ++i;
  return i;
}
}  // namespace detail

// True for "kind.impl" where both parts are non-empty and made of lower-case
// letters, digits, '-' and '_' (the config section is found from the parts).
constexpr bool is_valid_extension_name(std::string_view name) noexcept {
  std::size_t dot = detail::dot_index(name);
  if (dot == name.size() || dot == 0 || dot + 1 == name.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (i == dot) continue;
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// "lb" of "lb.f5ltm".
constexpr std::string_view extension_kind(std::string_view name) noexcept {
  return name.substr(0, detail::dot_index(name));
}

// "f5ltm" of "lb.f5ltm".
constexpr std::string_view extension_impl(std::string_view name) noexcept {
  std::size_t dot = detail::dot_index(name);
  return dot == name.size() ? std::string_view{} : name.substr(dot + 1);
}

constexpr bool is_provider_name(std::string_view name) noexcept { return extension_kind(name) == "provider"; }

}  // namespace interlook
