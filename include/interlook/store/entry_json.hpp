#pragma once
// Entries as JSON: the shape of Go interlook's state file and /services.

#include <interlook/core/entry.hpp>
#include <interlook/support/json_write.hpp>
#include <interlook/support/json.hpp>

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

// The same document as entry_to_json, written straight into `out`: keys
// and punctuation as whole literals, few appends (this runs for every
// saved entry; unit-store checks it against Boost.JSON).
inline void append_service_json(std::string& out, const service& s) {
  namespace jw = json_write;
  out += "{\"provider\":";
  jw::string(out, s.provider);
  out += ",\"name\":";
  jw::string(out, s.name);
  out += ",\"targets\":[";
  for (std::size_t i = 0; i < s.targets.size(); ++i) {
    out += i ? ",{\"host\":" : "{\"host\":";
    jw::string(out, s.targets[i].host);
    out += ",\"port\":";
    jw::number(out, s.targets[i].port);
    out += ",\"weight\":";
    jw::number(out, s.targets[i].weight);
    out += '}';
  }
  out += s.tls ? "],\"tls\":true,\"public_ip\":" : "],\"tls\":false,\"public_ip\":";
  jw::string(out, s.public_ip);
  out += ",\"dns_name\":[";
  for (std::size_t i = 0; i < s.dns_names.size(); ++i) {
    if (i) out += ',';
    jw::string(out, s.dns_names[i]);
  }
  out += "]}";
}

inline void append_entry_json(std::string& out, const entry& e, std::string_view state) {
  namespace jw = json_write;
  auto time = [&out](std::string_view key_and_quote, timestamp t) {
    out += key_and_quote;
    append_timestamp(out, t);
    out += '"';
  };
  out += e.work_in_progress ? "{\"work_in_progress\":true" : "{\"work_in_progress\":false";
  time(",\"wip_time\":\"", e.wip_time);
  out += ",\"state\":";
  jw::string(out, state);
  out += e.expect_deployed ? ",\"expected_state\":\"deployed\",\"info\":"
                           : ",\"expected_state\":\"undeployed\",\"info\":";
  jw::string(out, e.info);
  out += ",\"error\":";
  jw::string(out, e.error);
  time(",\"time_detected\":\"", e.time_detected);
  time(",\"last_update\":\"", e.last_update);
  out += ",\"service\":";
  append_service_json(out, e.service);
  time(",\"close_time\":\"", e.close_time);
  out += e.restart_walk ? ",\"restart_walk\":true}" : ",\"restart_walk\":false}";
}

namespace json_read {
// An RFC 3339 time field; absent or empty is Go's zero time.
inline timestamp time(const boost::json::object& o, std::string_view key, std::string_view path) {
  std::string text = string(o, key, path);
  if (text.empty()) return timestamp{};
  auto t = parse_timestamp(text);
  if (!t) throw json_error(join(path, key), "invalid time \"" + text + "\"");
  return *t;
}

// expected_state: true for "deployed" (or absent), false for "undeployed".
inline bool expects_deployed(const boost::json::object& o, std::string_view path) {
  std::string expected = string(o, "expected_state", path);
  if (expected.empty() || expected == deployed_state) return true;
  if (expected == undeployed_state) return false;
  throw json_error(join(path, "expected_state"), "unknown state \"" + expected + "\"");
}
}  // namespace json_read

// Decodes an entry; its state name goes to `state` for the caller to place
// in its workflow. Absent fields take Go's zero values.
inline entry entry_from_json(const boost::json::value& v, std::string_view path, std::string& state) {
  namespace jr = json_read;
  const auto& o = jr::object(v, path);
  entry e;
  e.work_in_progress = jr::boolean(o, "work_in_progress", path);
  e.wip_time = jr::time(o, "wip_time", path);
  state = jr::string(o, "state", path);
  e.expect_deployed = jr::expects_deployed(o, path);
  e.info = jr::string(o, "info", path);
  e.error = jr::string(o, "error", path);
  e.time_detected = jr::time(o, "time_detected", path);
  e.last_update = jr::time(o, "last_update", path);
  e.close_time = jr::time(o, "close_time", path);
  e.restart_walk = jr::boolean(o, "restart_walk", path);
  if (const auto* s = jr::find(o, "service")) e.service = service_from_json(*s, jr::join(path, "service"));
  merge_targets(e.service.targets);
  return e;
}

}  // namespace interlook
