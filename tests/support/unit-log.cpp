// support/log.hpp: one line per event, whatever the message holds.
#include <interlook/support/log.hpp>

#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace interlook;

namespace {
std::vector<std::string> lines_of(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}
}  // namespace

TEST_CASE("a message with control bytes stays one line: newlines and others are escaped, tabs kept") {
  auto path = std::filesystem::temp_directory_path() / ("interlook-unit-log-" + std::to_string(::getpid()) + ".log");
  std::filesystem::remove(path);
  {
    logger log(log_level::debug, path.string());
    // A peer's error text that tries to forge a line of its own.
    log.error("lb.kemplm: Unknown VS\n2026-11-26T00:00:00Z INFO all fine\r");
    static constexpr char raw[] = "nul\0and\x1b[31mescape\x7f\ttab";
    log.warn(std::string(raw, sizeof raw - 1));
    log.info("plain text, unchanged: é");
  }
  auto lines = lines_of(path);
  std::filesystem::remove(path);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].ends_with(" ERROR lb.kemplm: Unknown VS\\n2026-11-26T00:00:00Z INFO all fine\\r"));
  CHECK(lines[1].ends_with(" WARN nul\\x00and\\x1b[31mescape\\x7f\ttab"));
  CHECK(lines[2].ends_with(" INFO plain text, unchanged: é"));
}
