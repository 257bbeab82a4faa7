#pragma once
// What the state_file and journal targets check on loaded entries: every
// entry is well-formed, and writing the entries as a state file and loading
// that gives the same entries (the daemon's own save/restart cycle).

#include "fuzz/fuzz.hpp"

#include <interlook/store/store.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace fuzz {

// The entries as a state file document, in name order.
inline std::string state_document(std::vector<interlook::stored_entry> entries) {
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::string doc = "{";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i) doc += ',';
    interlook::json_write::string(doc, entries[i].name);
    doc += ':';
    interlook::append_entry_json(doc, entries[i].value, entries[i].state);
  }
  return doc + "}";
}

inline void check_entries(const std::vector<interlook::stored_entry>& entries) {
  std::set<std::string> names;
  for (const auto& s : entries) {
    FUZZ_CHECK(names.insert(s.name).second, "entry \"" + s.name + "\" loaded twice");
    const auto& targets = s.value.service.targets;
    for (std::size_t i = 0; i < targets.size(); ++i) {
      FUZZ_CHECK(targets[i].weight >= 1, s.name + ": target " + targets[i].host + " has weight 0");
      FUZZ_CHECK(targets[i].port <= 65535, s.name + ": port " + std::to_string(targets[i].port));
      if (i)
        FUZZ_CHECK(!(targets[i - 1].host == targets[i].host && targets[i - 1].port == targets[i].port),
                   s.name + ": target " + targets[i].host + " listed twice after merging");
    }
  }
}

// Saves `entries` as a state file at `path` (no journal), loads it and
// checks that the same document comes back.
inline void check_round_trip(const std::vector<interlook::stored_entry>& entries, const std::string& path) {
  std::string doc = state_document(entries);
  ::unlink((path + ".journal").c_str());
  put_file(path, doc);
  std::vector<interlook::stored_entry> again;
  try {
    again = interlook::state_store(path, false).load();
  } catch (const interlook::store_error& e) {
    fail(__FILE__, __LINE__, "a state file written from loaded entries loads", e.what() + std::string("\n  ") + doc);
  }
  std::string doc2 = state_document(again);
  FUZZ_CHECK(doc2 == doc, "reloaded entries differ:\n  " + doc + "\n  " + doc2);
}

}  // namespace fuzz
