#pragma once
// Go-style durations ("500ms", "3s", "1h30m"), as Go interlook's YAML used them.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace interlook {

using duration = std::chrono::nanoseconds;

namespace detail {

struct duration_unit {
  std::string_view suffix;
  std::int64_t nanoseconds;
};

// Longest suffixes first so that "ms" is not read as "m" followed by "s".
inline constexpr duration_unit duration_units[] = {
    {"ns", 1},
    {"us", 1'000},
    {"\xC2\xB5s", 1'000},  // U+00B5 micro sign
    {"\xCE\xBCs", 1'000},  // U+03BC Greek mu
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60'000'000'000},
    {"h", 3'600'000'000'000},
};

}  // namespace detail

// Parses Go's time.ParseDuration syntax: an optional sign, then one or more
// decimal numbers each followed by a unit (ns, us, µs, ms, s, m, h). "0" alone
// is accepted. On failure returns nullopt and, if `why` is given, a reason.
inline std::optional<duration> parse_duration(std::string_view text, std::string* why = nullptr) {
  auto fail = [&](std::string reason) -> std::optional<duration> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return duration::zero();
  if (s.empty()) return fail("empty duration");

  // Accumulate in long double only for the fractional part; whole parts stay
  // exact in 128 bits so "292y"-scale overflow is detected, not wrapped. A
  // negative duration reaches one nanosecond further (INT64_MIN), as in Go.
  __int128 total = 0;
  const __int128 limit = static_cast<__int128>(INT64_MAX) + (negative ? 1 : 0);
  while (!s.empty()) {
    std::size_t i = 0;
    __int128 whole = 0;
    bool digits = false;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      whole = whole * 10 + (s[i] - '0');
      if (whole > limit) return fail("duration out of range");
      digits = true;
      ++i;
    }
    std::string_view fraction;
    if (i < s.size() && s[i] == '.') {
      std::size_t start = ++i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
      fraction = s.substr(start, i - start);
      digits = digits || !fraction.empty();
    }
    if (!digits) return fail("expected a number in \"" + std::string(text) + "\"");
    s.remove_prefix(i);
    std::size_t unit_len = 0;
    while (unit_len < s.size() && !(s[unit_len] >= '0' && s[unit_len] <= '9') && s[unit_len] != '.') ++unit_len;
    std::string_view unit = s.substr(0, unit_len);
    if (unit.empty()) return fail("missing unit in duration \"" + std::string(text) + "\" (use ns, us, ms, s, m or h)");
    const detail::duration_unit* found = nullptr;
    for (const auto& u : detail::duration_units)
      if (u.suffix == unit) found = &u;
    if (!found) return fail("unknown unit \"" + std::string(unit) + "\" in duration \"" + std::string(text) + "\"");
    s.remove_prefix(unit_len);

    __int128 part = whole * found->nanoseconds;
    // Fractional digits: exact integer arithmetic, truncating like Go.
    __int128 scale = 1;
    __int128 frac_value = 0;
    for (char c : fraction) {
      if (scale > limit) break;  // further digits are below one nanosecond
      frac_value = frac_value * 10 + (c - '0');
      scale *= 10;
    }
    part += frac_value * found->nanoseconds / scale;
    total += part;
    if (total > limit) return fail("duration out of range");
  }
  return duration(static_cast<std::int64_t>(negative ? -total : total));
}

// Formats like Go's Duration.String(): "1h30m0s", "1.5s", "500ms", "0s".
inline std::string format_duration(duration d) {
  std::int64_t ns = d.count();
  if (ns == 0) return "0s";
  std::string sign = ns < 0 ? "-" : "";
  unsigned long long u = ns < 0 ? 0ULL - static_cast<unsigned long long>(ns) : static_cast<unsigned long long>(ns);
  auto with_fraction = [](unsigned long long value, unsigned long long unit, int digits) {
    std::string out = std::to_string(value / unit);
    unsigned long long rest = value % unit;
    if (rest) {
      std::string frac = std::to_string(rest);
      frac.insert(0, static_cast<std::size_t>(digits) - frac.size(), '0');
      while (!frac.empty() && frac.back() == '0') frac.pop_back();
      out += "." + frac;
    }
    return out;
  };
  if (u < 1'000ULL) return sign + std::to_string(u) + "ns";
  if (u < 1'000'000ULL) return sign + with_fraction(u, 1'000ULL, 3) + "us";
  if (u < 1'000'000'000ULL) return sign + with_fraction(u, 1'000'000ULL, 6) + "ms";
  std::string out;
  unsigned long long hours = u / 3'600'000'000'000ULL;
  u %= 3'600'000'000'000ULL;
  unsigned long long minutes = u / 60'000'000'000ULL;
  u %= 60'000'000'000ULL;
  if (hours) out += std::to_string(hours) + "h";
  if (hours || minutes) out += std::to_string(minutes) + "m";
  out += with_fraction(u, 1'000'000'000ULL, 9) + "s";
  return sign + out;
}

}  // namespace interlook
