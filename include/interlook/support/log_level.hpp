#pragma once
// Log levels, their names, and their hooks for the config decoder: what an
// extension needs to log, without the core's config.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace interlook {

enum class log_level : std::uint8_t { debug, info, warn, error };

constexpr std::string_view to_string(log_level l) noexcept {
  switch (l) {
    case log_level::debug: return "DEBUG";
    case log_level::info: return "INFO";
    case log_level::warn: return "WARN";
    case log_level::error: return "ERROR";
  }
  return "?";
}

// Case-insensitive, like Go's logrus.ParseLevel; "WARNING" is accepted too.
constexpr std::optional<log_level> parse_log_level(std::string_view s) noexcept {
  auto eq = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      char c = a[i];
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      if (c != b[i]) return false;
    }
    return true;
  };
  if (eq(s, "DEBUG")) return log_level::debug;
  if (eq(s, "INFO")) return log_level::info;
  if (eq(s, "WARN") || eq(s, "WARNING")) return log_level::warn;
  if (eq(s, "ERROR")) return log_level::error;
  return std::nullopt;
}

// Hooks for the YAML decoder and the settings printer (found by ADL).
inline std::optional<log_level> parse_setting(std::string_view s, log_level*) { return parse_log_level(s); }
inline std::string_view setting_hint(log_level*) { return "DEBUG, INFO, WARN or ERROR"; }
inline std::string print_value(log_level l) { return std::string(to_string(l)); }

}  // namespace interlook
