#pragma once
// JSON encoding and decoding of the message model, with the SPEC's (and Go
// interlook's) field names. Link //third_party:boost_json (Boost.JSON is
// compiled once there).

#include <interlook/support/json_read.hpp>
#include <interlook/core/message.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <string>
#include <string_view>

namespace interlook {

inline boost::json::value to_json(const target& t) {
  return boost::json::object{{"host", t.host}, {"port", t.port}, {"weight", t.weight}};
}

inline boost::json::value to_json(const service& s) {
  boost::json::array targets;
  targets.reserve(s.targets.size());
  for (const auto& t : s.targets) targets.push_back(to_json(t));
  boost::json::array names;
  names.reserve(s.dns_names.size());
  for (const auto& n : s.dns_names) names.emplace_back(n);
  return boost::json::object{{"provider", s.provider},   {"name", s.name},
                             {"targets", std::move(targets)}, {"tls", s.tls},
                             {"public_ip", s.public_ip}, {"dns_name", std::move(names)}};
}

inline boost::json::value to_json(const message& m) {
  return boost::json::object{{"action", to_string(m.action)},
                             {"sender", m.sender},
                             {"destination", m.destination},
                             {"error", m.error},
                             {"service", to_json(m.service)}};
}

// Decoders. `path` prefixes error messages so that a caller can say where in
// a larger document the value sits. Absent fields take their defaults, as
// with Go's encoding/json; present fields of the wrong type are errors.
inline target target_from_json(const boost::json::value& v, std::string_view path = "target") {
  namespace jr = json_read;
  const auto& o = jr::object(v, path);
  target t;
  t.host = jr::string(o, "host", path);
  t.port = jr::unsigned_number<std::uint32_t>(o, "port", path, 0);
  if (t.port > 65535) throw json_error(jr::join(path, "port"), "port " + std::to_string(t.port) + " is out of range");
  // Go interlook wrote no weight: one appearance of the target.
  t.weight = jr::unsigned_number<std::uint32_t>(o, "weight", path, 1);
  return t;
}

inline service service_from_json(const boost::json::value& v, std::string_view path = "service") {
  namespace jr = json_read;
  const auto& o = jr::object(v, path);
  service s;
  s.provider = jr::string(o, "provider", path);
  s.name = jr::string(o, "name", path);
  s.tls = jr::boolean(o, "tls", path);
  s.public_ip = jr::string(o, "public_ip", path);
  if (const auto* ts = jr::find(o, "targets")) {
    std::string tpath = jr::join(path, "targets");
    const auto& arr = jr::array(*ts, tpath);
    s.targets.reserve(arr.size());
    for (std::size_t i = 0; i < arr.size(); ++i) s.targets.push_back(target_from_json(arr[i], jr::index(tpath, i)));
  }
  if (const auto* ns = jr::find(o, "dns_name")) {
    std::string npath = jr::join(path, "dns_name");
    const auto& arr = jr::array(*ns, npath);
    s.dns_names.reserve(arr.size());
    for (std::size_t i = 0; i < arr.size(); ++i) {
      if (!arr[i].is_string()) throw json_error(jr::index(npath, i), "expected a string");
      s.dns_names.emplace_back(arr[i].get_string());
    }
  }
  return s;
}

inline message message_from_json(const boost::json::value& v, std::string_view path = "message") {
  namespace jr = json_read;
  const auto& o = jr::object(v, path);
  message m;
  std::string a = jr::string(o, "action", path);
  auto parsed = parse_action(a);
  if (!parsed) throw json_error(jr::join(path, "action"), "unknown action \"" + a + "\" (add, update, delete, refresh)");
  m.action = *parsed;
  m.sender = jr::string(o, "sender", path);
  m.destination = jr::string(o, "destination", path);
  m.error = jr::string(o, "error", path);
  if (const auto* s = jr::find(o, "service")) m.service = service_from_json(*s, jr::join(path, "service"));
  return m;
}

template <class T>
std::string to_json_text(const T& value) {
  return boost::json::serialize(to_json(value));
}

// Parses text into a value, turning syntax errors into json_error.
inline boost::json::value parse_json_text(std::string_view text, std::string_view what = "JSON") {
  boost::json::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec) throw json_error(std::string(what), "malformed JSON: " + ec.message());
  return v;
}

}  // namespace interlook
