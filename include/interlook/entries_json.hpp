#pragma once
// Every entry of a state machine as one JSON object, service name -> entry:
// the state file's document and the /services answer.

#include <interlook/detail/json_write.hpp>
#include <interlook/entry_json.hpp>
#include <interlook/state_machine.hpp>

#include <string>

namespace interlook {

// Must run on the core thread (it reads the entries).
inline std::string entries_to_json(const state_machine& sm) {
  std::string doc = "{";
  bool first = true;
  for (const auto& [name, e] : sm.entries()) {
    if (!first) doc += ',';
    first = false;
    detail::json_write::string(doc, name);
    doc += ':';
    append_entry_json(doc, e, sm.state_name(e));
  }
  doc += '}';
  return doc;
}

}  // namespace interlook
