#include <interlook/support/duration.hpp>
#include <cstdint>
#include <limits>
#include <string>

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using interlook::format_duration;
using interlook::parse_duration;

TEST_CASE("Go-style durations parse to nanoseconds") {
  CHECK(parse_duration("500ms") == 500ms);
  CHECK(parse_duration("3s") == 3s);
  CHECK(parse_duration("10m") == 10min);
  CHECK(parse_duration("1h30m") == 90min);
  CHECK(parse_duration("1.5s") == 1500ms);
  CHECK(parse_duration("2h45m30.5s") == 2h + 45min + 30s + 500ms);
  CHECK(parse_duration("100us") == 100us);
  CHECK(parse_duration("100\xC2\xB5s") == 100us);
  CHECK(parse_duration("7ns") == 7ns);
  CHECK(parse_duration("0") == 0ns);
  CHECK(parse_duration("-1.5h") == -90min);
  CHECK(parse_duration(".5s") == 500ms);
}

TEST_CASE("malformed durations are rejected with a reason") {
  std::string why;
  CHECK_FALSE(parse_duration("90", &why));
  CHECK(why.find("missing unit") != std::string::npos);
  CHECK_FALSE(parse_duration("3x", &why));
  CHECK(why.find("unknown unit \"x\"") != std::string::npos);
  CHECK_FALSE(parse_duration("", &why));
  CHECK_FALSE(parse_duration("s", &why));
  CHECK(why.find("expected a number") != std::string::npos);
  CHECK_FALSE(parse_duration("1h-3m", &why));
  CHECK_FALSE(parse_duration("99999999999999999999h", &why));
  CHECK(why.find("out of range") != std::string::npos);
  CHECK_FALSE(parse_duration("3000000h", &why));  // > 292 years of nanoseconds
}

TEST_CASE("durations format like Go's Duration.String") {
  CHECK(format_duration(0ns) == "0s");
  CHECK(format_duration(90min) == "1h30m0s");
  CHECK(format_duration(1500ms) == "1.5s");
  CHECK(format_duration(500ms) == "500ms");
  CHECK(format_duration(3s) == "3s");
  CHECK(format_duration(10min) == "10m0s");
  CHECK(format_duration(1500us) == "1.5ms");
  CHECK(format_duration(42ns) == "42ns");
  CHECK(format_duration(-3s) == "-3s");
  for (interlook::duration d : {interlook::duration(1ns), interlook::duration(999ms), interlook::duration(61s), interlook::duration(25h), interlook::duration(1h + 1ns)}) CHECK(parse_duration(format_duration(d)) == d);
}

// Found by fuzz/duration: the most negative duration formatted to text that
// did not parse back ("duration out of range"); Go accepts it.
TEST_CASE("the extremes of the 64-bit range round-trip") {
  using interlook::duration;
  constexpr auto lowest = duration(std::numeric_limits<std::int64_t>::min());
  constexpr auto highest = duration(std::numeric_limits<std::int64_t>::max());
  CHECK(format_duration(lowest) == "-2562047h47m16.854775808s");
  CHECK(parse_duration("-2562047h47m16.854775808s") == lowest);
  CHECK(parse_duration("-9223372036854775808ns") == lowest);
  CHECK(parse_duration(format_duration(highest)) == highest);
  std::string why;
  CHECK_FALSE(parse_duration("2562047h47m16.854775808s", &why));  // one past the top
  CHECK(why.find("out of range") != std::string::npos);
  CHECK_FALSE(parse_duration("-2562047h47m16.854775809s"));
  CHECK_FALSE(parse_duration("-9223372036854775809ns"));
}
