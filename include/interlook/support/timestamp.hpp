#pragma once
// Wall-clock times in the state file and the API: RFC 3339 with nanoseconds,
// the way Go's time.Time marshals them.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace interlook {

// Nanosecond wall-clock time. The default value (the Unix epoch) stands for
// Go's zero time and is written as "0001-01-01T00:00:00Z": year 1 does not fit
// in 64-bit nanoseconds, and no real event of this daemon happens in 1970.
using timestamp = std::chrono::sys_time<std::chrono::nanoseconds>;

inline constexpr std::string_view zero_time_text = "0001-01-01T00:00:00Z";

inline bool is_zero(timestamp t) { return t.time_since_epoch().count() == 0; }

inline timestamp now() {
  return std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
}

// Appends "2024-05-01T12:03:04.5Z": UTC, fractional seconds without
// trailing zeros (Go's RFC3339Nano layout). Written into a stack buffer and
// appended once: this runs several times for every saved entry.
inline void append_timestamp(std::string& out, timestamp t) {
  using namespace std::chrono;
  if (is_zero(t)) {
    out += zero_time_text;
    return;
  }
  // Whole seconds first (floor division): days * 86400e9 would overflow
  // 64 bits in the first and last partial day of the representable range.
  std::int64_t ns = t.time_since_epoch().count();
  std::int64_t epoch_secs = ns / 1'000'000'000;
  std::int64_t nanos = ns % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    --epoch_secs;
  }
  std::int64_t day_number = epoch_secs / 86'400;
  std::int64_t secs = epoch_secs % 86'400;
  if (secs < 0) {
    secs += 86'400;
    --day_number;
  }
  year_month_day ymd{sys_days{days{day_number}}};
  char buf[40];
  char* p = buf;
  auto digits = [&p](long long v, int width) {
    for (int i = width - 1; i >= 0; --i) {
      p[i] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
    p += width;
  };
  digits(static_cast<int>(ymd.year()), 4);
  *p++ = '-';
  digits(static_cast<unsigned>(ymd.month()), 2);
  *p++ = '-';
  digits(static_cast<unsigned>(ymd.day()), 2);
  *p++ = 'T';
  digits(secs / 3600, 2);
  *p++ = ':';
  digits(secs / 60 % 60, 2);
  *p++ = ':';
  digits(secs % 60, 2);
  if (nanos) {
    int width = 9;
    while (nanos % 10 == 0) {
      nanos /= 10;
      --width;
    }
    *p++ = '.';
    digits(nanos, width);
  }
  *p++ = 'Z';
  out.append(buf, static_cast<std::size_t>(p - buf));
}

inline std::string format_timestamp(timestamp t) {
  std::string out;
  out.reserve(32);
  append_timestamp(out, t);
  return out;
}

// Parses RFC 3339 with optional fractional seconds and a "Z" or "+hh:mm"
// offset. Go's zero time maps to the zero timestamp.
inline std::optional<timestamp> parse_timestamp(std::string_view s) {
  using namespace std::chrono;
  auto digits = [&](std::size_t pos, std::size_t count, int& out) {
    if (pos + count > s.size()) return false;
    int v = 0;
    for (std::size_t i = pos; i < pos + count; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    out = v;
    return true;
  };
  int Y, M, D, h, m, sec;
  if (!digits(0, 4, Y) || s.size() < 20 || s[4] != '-' || !digits(5, 2, M) || s[7] != '-' || !digits(8, 2, D) ||
      (s[10] != 'T' && s[10] != 't') || !digits(11, 2, h) || s[13] != ':' || !digits(14, 2, m) || s[16] != ':' ||
      !digits(17, 2, sec))
    return std::nullopt;
  std::size_t pos = 19;
  std::int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t start = pos;
    std::int64_t scale = 100'000'000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (scale) nanos += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  if (pos >= s.size()) return std::nullopt;
  int offset_minutes = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!digits(pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(pos + 4, 2, om))
      return std::nullopt;
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  if (Y == 1 && M == 1 && D == 1 && h == 0 && m == 0 && sec == 0 && nanos == 0 && offset_minutes == 0)
    return timestamp{};
  year_month_day ymd{year{Y}, month{static_cast<unsigned>(M)}, day{static_cast<unsigned>(D)}};
  if (!ymd.ok() || h > 23 || m > 59 || sec > 60) return std::nullopt;
  // 64-bit nanoseconds span 1677-09-21T00:12:43.145224192Z to
  // 2262-04-11T23:47:16.854775807Z; outside, the time is rejected.
  if (Y < 1677 || Y > 2262) return std::nullopt;
  std::int64_t epoch_secs = static_cast<std::int64_t>(sys_days{ymd}.time_since_epoch().count()) * 86'400 +
                            h * 3600 + m * 60 + sec - std::int64_t{offset_minutes} * 60;
  __int128 total = static_cast<__int128>(epoch_secs) * 1'000'000'000 + nanos;
  if (total < INT64_MIN || total > INT64_MAX) return std::nullopt;
  return timestamp{nanoseconds{static_cast<std::int64_t>(total)}};
}

}  // namespace interlook
