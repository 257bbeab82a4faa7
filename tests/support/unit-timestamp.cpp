#include <interlook/support/timestamp.hpp>

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
