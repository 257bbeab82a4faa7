#pragma once
// Printing a described config as "key: value" lines, secrets masked; what
// --check-config shows.

#include <interlook/config/fields.hpp>
#include <interlook/support/duration.hpp>

#include <concepts>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace interlook {

using setting_lines = std::vector<std::pair<std::string, std::string>>;

inline std::string print_value(const std::string& s) { return s; }
inline std::string print_value(const secret& s) { return s.empty() ? std::string() : std::string(masked_secret); }
inline std::string print_value(bool b) { return b ? "true" : "false"; }
template <std::integral T>
  requires(!std::same_as<T, bool>)
std::string print_value(T v) {
  return std::to_string(v);
}
inline std::string print_value(duration d) { return format_duration(d); }
inline std::string print_value(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
  return out + "]";
}

template <described_config C>
void describe(const C& c, setting_lines& out, const std::string& prefix = {}) {
  std::apply(
      [&](const auto&... f) {
        [[maybe_unused]] auto one = [&](const auto& fld) {
          const auto& value = c.*(fld.member);
          std::string key = prefix.empty() ? std::string(fld.key) : prefix + "." + std::string(fld.key);
          if constexpr (described_config<std::remove_cvref_t<decltype(value)>>) {
            describe(value, out, key);
          } else {
            out.emplace_back(std::move(key), print_value(value));
          }
        };
        (one(f), ...);
      },
      C::fields());
}

template <described_config C>
setting_lines describe(const C& c) {
  setting_lines out;
  describe(c, out);
  return out;
}

}  // namespace interlook
