// Go-style durations (support/duration.hpp): parse_duration on any text;
// what parses formats back to text that parses to the same value, and every
// 64-bit value formats to text that parses back to it.
// fuzz-dict: duration
#include "fuzz/fuzz.hpp"

#include <interlook/support/duration.hpp>

#include <cstring>

using interlook::duration;
using interlook::format_duration;
using interlook::parse_duration;

static void round_trips(duration d, std::string_view from) {
  std::string text = format_duration(d);
  std::string why;
  auto back = parse_duration(text, &why);
  FUZZ_CHECK(back.has_value(), "\"" + text + "\" (from " + std::string(from) + ") does not parse: " + why);
  FUZZ_CHECK(*back == d, "\"" + text + "\" parses to " + std::to_string(back->count()) + " ns, not " +
                             std::to_string(d.count()));
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto input = fuzz::text(data, size);
  std::string why;
  auto d = parse_duration(input, &why);
  if (d) {
    round_trips(*d, "\"" + std::string(input) + "\"");
  } else {
    FUZZ_CHECK(!why.empty(), "rejected without a reason: \"" + std::string(input) + "\"");
  }
  if (size >= sizeof(std::int64_t)) {
    std::int64_t ns;
    std::memcpy(&ns, data, sizeof ns);
    round_trips(duration(ns), std::to_string(ns) + " ns");
  }
  return 0;
}
