// Journal replay (store/store.hpp): state_store::load on a fixed snapshot
// (two entries, "web" deployed and "api" half-way) plus any journal text.
// store_error is the documented failure (a torn last line is dropped with a
// warning instead); what loads is well-formed and survives a save and a
// reload unchanged.
// fuzz-dict: json
#include "fuzz/store_checks.hpp"

using namespace interlook;

namespace {
constexpr std::string_view snapshot = R"({
"web":{"work_in_progress":false,"wip_time":"2026-11-25T10:13:21.88Z","state":"deployed","expected_state":"deployed","info":"","error":"","time_detected":"2026-11-25T10:13:21.8Z","last_update":"2026-11-25T10:13:22Z","service":{"provider":"provider.file","name":"web","targets":[{"host":"192.0.2.11","port":8080,"weight":1},{"host":"192.0.2.12","port":8080,"weight":2}],"tls":false,"public_ip":"10.77.0.12","dns_name":["web.example.test","www.example.test"]},"close_time":"2026-11-25T10:13:21.89Z","restart_walk":false},
"api":{"work_in_progress":true,"wip_time":"2026-11-25T10:13:21.88Z","state":"dns.hosts","expected_state":"deployed","service":{"provider":"provider.file","name":"api","targets":[{"host":"192.0.2.21","port":8443}],"tls":true,"public_ip":"10.77.0.10","dns_name":["api.example.test"]}}
})";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = (fuzz::scratch_dir() / "entries.json").string();
  static const std::string copy = (fuzz::scratch_dir() / "copy.json").string();
  fuzz::put_file(path, snapshot);
  fuzz::put_file(path + ".journal", fuzz::text(data, size));
  std::vector<stored_entry> entries;
  std::vector<std::string> warnings;
  state_store store(path, false);
  try {
    entries = store.load(&warnings);
  } catch (const store_error& e) {
    FUZZ_CHECK(std::string_view(e.what()).find(path) != std::string_view::npos, e.what());
    return 0;
  }
  FUZZ_CHECK(store.journal_bytes() <= size, std::to_string(store.journal_bytes()) + " of " + std::to_string(size));
  fuzz::check_entries(entries);
  fuzz::check_round_trip(entries, copy);
  return 0;
}
