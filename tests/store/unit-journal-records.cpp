// The core hands journal records to the writer in a binary form; the lines
// the writer makes of them must be exactly those the store writes directly.
#include <interlook/store/detail/journal_records.hpp>

#include <doctest/doctest.h>

using namespace interlook;

namespace {

entry rich() {
  entry e;
  e.work_in_progress = true;
  e.expect_deployed = false;
  e.restart_walk = true;
  e.wip_time = now();
  e.time_detected = timestamp(std::chrono::nanoseconds(1'700'000'000'123'456'789));
  e.last_update = e.time_detected + std::chrono::seconds(5);
  e.close_time = timestamp{};  // Go's zero time
  e.info = "note \"quoted\"";
  e.error = "lb.f5ltm: pool\nrefused \\ twice";
  e.service = service{"provider.swarm", "stack_web", {{"10.0.0.1", 80, 2}, {"10.0.0.2", 8080, 1}, {"::1", 443, 3}},
                      true, "192.0.2.9", {"web.example", "www.example", "\x01odd"}};
  return e;
}

entry small() {
  entry e;
  e.service = service{"provider.file", "api", {{"h", 1, 1}}, false, "", {}};
  return e;
}

}  // namespace

TEST_CASE("binary journal records become the same lines as the store writes directly") {
  // Records of different sizes in turn: the decoder's scratch entry must not
  // carry a longer record's targets or aliases into a shorter one.
  const entry big = rich(), little = small();
  std::string records, direct;
  detail::record_writer put(records);
  put.entry("stack_web", big, "lb.f5ltm");
  state_store::journal_line(direct, "stack_web", big, "lb.f5ltm");
  put.entry("api", little, "deployed");
  state_store::journal_line(direct, "api", little, "deployed");
  put.progress("stack_web", big, "dns.consul");
  state_store::journal_progress(direct, "stack_web", big, "dns.consul");
  put.removal("gone \"x\"");
  state_store::journal_removal(direct, "gone \"x\"");
  put.entry("", entry{}, "undeployed");
  state_store::journal_line(direct, "", entry{}, "undeployed");

  entry scratch;
  std::string lines;
  detail::record_reader(records, scratch).to_journal_lines(lines);
  CHECK(lines == direct);
  // Batch after batch with the same scratch entry: same again.
  std::string again;
  detail::record_reader(records, scratch).to_journal_lines(again);
  CHECK(again == direct);
}

TEST_CASE("a cut-short record buffer is a programming error, reported, never read past") {
  std::string records;
  detail::record_writer(records).entry("web", rich(), "deployed");
  records.resize(records.size() - 3);
  entry scratch;
  std::string lines;
  CHECK_THROWS_AS(detail::record_reader(records, scratch).to_journal_lines(lines), std::logic_error);
}
