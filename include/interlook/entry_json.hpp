#pragma once
// Entries as JSON: the shape of Go interlook's state file and /services.

#include <interlook/entry.hpp>
#include <interlook/json.hpp>

#include <string>
#include <string_view>

namespace interlook {

inline boost::json::object entry_to_json(const entry& e, std::string_view state) {
  return boost::json::object{{"work_in_progress", e.work_in_progress},
                             {"wip_time", format_timestamp(e.wip_time)},
                             {"state", state},
                             {"expected_state", e.expect_deployed ? deployed_state : undeployed_state},
                             {"info", e.info},
                             {"error", e.error},
                             {"time_detected", format_timestamp(e.time_detected)},
                             {"last_update", format_timestamp(e.last_update)},
                             {"service", to_json(e.service)},
                             {"close_time", format_timestamp(e.close_time)},
                             {"restart_walk", e.restart_walk}};
}

// Decodes an entry; its state name goes to `state` for the caller to place
// in its workflow. Absent fields take Go's zero values.
inline entry entry_from_json(const boost::json::value& v, std::string_view path, std::string& state) {
  namespace jr = detail::json_read;
  const auto& o = jr::object(v, path);
  entry e;
  auto time_of = [&](std::string_view key) {
    std::string text = jr::string(o, key, path);
    if (text.empty()) return timestamp{};
    auto t = parse_timestamp(text);
    if (!t) throw json_error(jr::join(path, key), "invalid time \"" + text + "\"");
    return *t;
  };
  e.work_in_progress = jr::boolean(o, "work_in_progress", path);
  e.wip_time = time_of("wip_time");
  state = jr::string(o, "state", path);
  std::string expected = jr::string(o, "expected_state", path);
  if (expected.empty() || expected == deployed_state) {
    e.expect_deployed = true;
  } else if (expected == undeployed_state) {
    e.expect_deployed = false;
  } else {
    throw json_error(jr::join(path, "expected_state"), "unknown state \"" + expected + "\"");
  }
  e.info = jr::string(o, "info", path);
  e.error = jr::string(o, "error", path);
  e.time_detected = time_of("time_detected");
  e.last_update = time_of("last_update");
  e.close_time = time_of("close_time");
  e.restart_walk = jr::boolean(o, "restart_walk", path);
  if (const auto* s = jr::find(o, "service")) e.service = service_from_json(*s, jr::join(path, "service"));
  merge_targets(e.service.targets);
  return e;
}

}  // namespace interlook
