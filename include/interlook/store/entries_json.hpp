#pragma once
// Every entry of a state machine as one JSON object, service name -> entry:
// the state file's document and the /services answer.

#include <interlook/support/json_write.hpp>
#include <interlook/store/entry_json.hpp>
#include <interlook/core/state_machine.hpp>

#include <limits>
#include <string>

namespace interlook {

// Writes the document into `out`, handing it to flush(out) whenever it
// reaches `chunk` bytes (and once at the end), so that a large state file
// is written through a buffer of that size instead of built whole. Must
// run on the core thread (it reads the entries).
template <class Flush>
void write_entries_json(const state_machine& sm, std::string& out, std::size_t chunk, Flush&& flush) {
  out += '{';
  bool first = true;
  for (const auto& [name, e] : sm.entries()) {
    if (!first) out += ',';
    first = false;
    json_write::string(out, name);
    out += ':';
    append_entry_json(out, e, sm.state_name(e));
    if (out.size() >= chunk) {
      flush(out);
      out.clear();
    }
  }
  out += '}';
  flush(out);
  out.clear();
}

// The whole document in one string: written in one piece, handed over once.
inline std::string entries_to_json(const state_machine& sm) {
  std::string doc, whole;
  write_entries_json(sm, doc, std::numeric_limits<std::size_t>::max(), [&](std::string& all) { whole.swap(all); });
  return whole;
}

}  // namespace interlook
