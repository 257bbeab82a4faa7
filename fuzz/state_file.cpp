// The state file (store/store.hpp, entry_json.hpp): state_store::load on any
// snapshot text, without a journal. store_error is the documented failure;
// what loads is well-formed and survives a save and a reload unchanged.
// fuzz-dict: json
#include "fuzz/store_checks.hpp"

using namespace interlook;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = (fuzz::scratch_dir() / "flowentries.db").string();
  static const std::string copy = (fuzz::scratch_dir() / "copy.db").string();
  ::unlink((path + ".journal").c_str());
  fuzz::put_file(path, fuzz::text(data, size));
  std::vector<stored_entry> entries;
  try {
    entries = state_store(path, false).load();
  } catch (const store_error& e) {
    FUZZ_CHECK(std::string_view(e.what()).find(path) != std::string_view::npos, e.what());
    return 0;
  }
  fuzz::check_entries(entries);
  fuzz::check_round_trip(entries, copy);
  return 0;
}
