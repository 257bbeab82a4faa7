#include <interlook/support/timestamp.hpp>
#include <cstdint>
#include <limits>

#include <doctest/doctest.h>

using namespace std::chrono;
using interlook::format_timestamp;
using interlook::parse_timestamp;
using interlook::timestamp;

TEST_CASE("timestamps format as RFC 3339 with trimmed nanoseconds, zero as Go's zero time") {
  CHECK(format_timestamp(timestamp{}) == "0001-01-01T00:00:00Z");
  timestamp t = sys_days{2024y / May / 1} + 12h + 3min + 4s;
  CHECK(format_timestamp(t) == "2024-05-01T12:03:04Z");
  CHECK(format_timestamp(t + 500ms) == "2024-05-01T12:03:04.5Z");
  CHECK(format_timestamp(t + 123456789ns) == "2024-05-01T12:03:04.123456789Z");
  CHECK(format_timestamp(t + 1000ns) == "2024-05-01T12:03:04.000001Z");
}

TEST_CASE("timestamps written by Go parse, offsets included") {
  timestamp t = sys_days{2019y / October / 7} + 9h + 15min + 2s + 314159265ns;
  CHECK(parse_timestamp("2019-10-07T09:15:02.314159265Z") == t);
  CHECK(parse_timestamp("2019-10-07T11:15:02.314159265+02:00") == t);
  CHECK(parse_timestamp("2019-10-07T04:15:02.314159265-05:00") == t);
  CHECK(parse_timestamp("0001-01-01T00:00:00Z") == timestamp{});
  auto now = interlook::now();
  CHECK(parse_timestamp(format_timestamp(now)) == now);
}

TEST_CASE("malformed timestamps are rejected") {
  CHECK_FALSE(parse_timestamp(""));
  CHECK_FALSE(parse_timestamp("2019-10-07"));
  CHECK_FALSE(parse_timestamp("2019-10-07T09:15:02"));  // no zone
  CHECK_FALSE(parse_timestamp("2019-13-07T09:15:02Z"));
  CHECK_FALSE(parse_timestamp("2019-02-30T09:15:02Z"));
  CHECK_FALSE(parse_timestamp("2019-10-07T09:15:02.Z"));
  CHECK_FALSE(parse_timestamp("2019-10-07T09:15:02Zjunk"));
  CHECK_FALSE(parse_timestamp("0002-01-01T00:00:00Z"));  // not representable in 64-bit nanoseconds
}

// Found by fuzz/timestamp: formatting a time in the first partial day of the
// 64-bit range overflowed (days * 86400e9, undefined behaviour), and the
// years 1677 and 2262, partly representable, did not parse back.
TEST_CASE("the extremes of 64-bit nanoseconds format and parse back") {
  auto at = [](std::int64_t ns) { return timestamp(nanoseconds(ns)); };
  constexpr auto lowest = std::numeric_limits<std::int64_t>::min();
  constexpr auto highest = std::numeric_limits<std::int64_t>::max();
  CHECK(format_timestamp(at(lowest)) == "1677-09-21T00:12:43.145224192Z");
  CHECK(format_timestamp(at(highest)) == "2262-04-11T23:47:16.854775807Z");
  CHECK(format_timestamp(at(-9223372036854763470)) == "1677-09-21T00:12:43.14523653Z");  // the fuzzer's input
  for (std::int64_t ns : {lowest, lowest + 1, std::int64_t{-9223372036854763470}, std::int64_t{-1}, std::int64_t{1},
                          highest - 1, highest})
    CHECK(parse_timestamp(format_timestamp(at(ns))) == at(ns));
  CHECK(parse_timestamp("1677-09-21T00:12:43.145224192Z") == at(lowest));
  CHECK(parse_timestamp("2262-04-11T23:47:16.854775807Z") == at(highest));
  CHECK(parse_timestamp("2262-04-12T01:47:16.854775807+02:00") == at(highest));
  CHECK_FALSE(parse_timestamp("1677-09-21T00:12:43.145224191Z"));  // one before
  CHECK_FALSE(parse_timestamp("2262-04-11T23:47:16.854775808Z"));  // one after
  CHECK_FALSE(parse_timestamp("1676-12-31T23:59:59Z"));
  CHECK_FALSE(parse_timestamp("2263-01-01T00:00:00Z"));
}
