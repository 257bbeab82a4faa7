// RFC 3339 times (support/timestamp.hpp): parse_timestamp on any text; what
// parses formats to text that parses to the same instant, and every 64-bit
// nanosecond value formats to text that parses back to it (0, the Unix
// epoch, stands for Go's zero time and is written as such).
// fuzz-dict: timestamp
#include "fuzz/fuzz.hpp"

#include <interlook/support/timestamp.hpp>

#include <cstring>

using namespace interlook;

static void round_trips(timestamp t, std::string_view from) {
  std::string text = format_timestamp(t);
  auto back = parse_timestamp(text);
  FUZZ_CHECK(back.has_value(), "\"" + text + "\" (from " + std::string(from) + ") does not parse");
  FUZZ_CHECK(*back == t, "\"" + text + "\" parses to " + std::to_string(back->time_since_epoch().count()) +
                             " ns, not " + std::to_string(t.time_since_epoch().count()));
  if (is_zero(t)) FUZZ_CHECK(text == zero_time_text, text);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto input = fuzz::text(data, size);
  if (auto t = parse_timestamp(input)) round_trips(*t, "\"" + std::string(input) + "\"");
  if (size >= sizeof(std::int64_t)) {
    std::int64_t ns;
    std::memcpy(&ns, data, sizeof ns);
    round_trips(timestamp(std::chrono::nanoseconds(ns)), std::to_string(ns) + " ns");
  }
  return 0;
}
