#pragma once
// provider.swarm: the part of Docker Engine's JSON that the provider reads
// (API 1.24 and later: services, tasks, nodes, events, version), decoded with
// Boost.JSON. A value of the wrong type is an error that names where it is:
//
//   services[2].Spec.Labels.interlook.port: expected a string
//   tasks[0].Status.PortStatus.Ports[1].PublishedPort: expected an unsigned integer
//
// Absent fields and JSON null read as empty, as Go's decoder (and so Docker's
// own client) reads them. Only what the provider uses is kept.

#include <interlook/support/json_read.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace interlook::ext::provider::swarm_detail {

// swarm.PortConfig: one port of a service (Endpoint.Ports) or of a task
// (Status.PortStatus.Ports).
struct port_config {
  std::string protocol;      // "tcp", "udp", "sctp"; empty reads as tcp
  std::uint32_t target_port = 0;
  std::uint32_t published_port = 0;  // 0: none (yet)
  std::string publish_mode;  // "ingress", "host"; empty on engines before API 1.25

  friend bool operator==(const port_config&, const port_config&) = default;
};

struct docker_service {
  std::string id;
  std::string name;                           // Spec.Name
  std::map<std::string, std::string> labels;  // Spec.Labels
  std::vector<port_config> endpoint_ports;    // Endpoint.Ports (ingress ports get their published port here)
  std::optional<std::uint64_t> replicas;      // Spec.Mode.Replicated.Replicas; none for global services
  std::string update_state;                   // UpdateStatus.State: "updating", "completed", ...
};

struct docker_task {
  std::string id;
  std::string service_id;
  std::string node_id;
  std::string desired_state;  // DesiredState
  std::string state;          // Status.State
  std::vector<port_config> ports;  // Status.PortStatus.Ports (host-mode ports)
};

struct docker_node {
  std::string id;
  std::string addr;          // Status.Addr
  std::string manager_addr;  // ManagerStatus.Addr ("host:port"), managers only
};

// One line of /events. Services: Actor.ID is the service's ID. Containers of
// swarm tasks: the attribute com.docker.swarm.service.id names the service.
struct docker_event {
  std::string type;    // "service", "container", "node", ...
  std::string action;  // "create", "update", "remove", "start", "die", ...
  std::string actor_id;
  std::string service_id;  // for service events the actor; for containers the attribute
  std::string name;        // Actor.Attributes.name
};

struct docker_version {
  std::string api_version;      // ApiVersion: "1.41"
  std::string min_api_version;  // MinAPIVersion
  std::string version;          // Version: "20.10.24+dfsg1"
};

namespace jr = interlook::json_read;

inline boost::json::value parse_json(std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) throw json_error(std::string(what), "malformed JSON: " + ec.message());
  return v;
}

// A JSON object's member that must be an object when present.
inline const boost::json::object* sub_object(const boost::json::object& o, std::string_view key, std::string_view path) {
  const auto* v = jr::find(o, key);
  if (!v) return nullptr;
  return &jr::object(*v, jr::join(path, key));
}

inline const boost::json::array* sub_array(const boost::json::object& o, std::string_view key, std::string_view path) {
  const auto* v = jr::find(o, key);
  if (!v) return nullptr;
  return &jr::array(*v, jr::join(path, key));
}

inline std::map<std::string, std::string> decode_labels(const boost::json::object& o, std::string_view key,
                                                        std::string_view path) {
  std::map<std::string, std::string> out;
  const auto* labels = sub_object(o, key, path);
  if (!labels) return out;
  std::string at = jr::join(path, key);
  for (const auto& kv : *labels) {
    if (kv.value().is_null()) {
      out.emplace(std::string(kv.key()), std::string());
      continue;
    }
    if (!kv.value().is_string()) throw json_error(jr::join(at, kv.key()), "expected a string");
    out.emplace(std::string(kv.key()), std::string(kv.value().get_string()));
  }
  return out;
}

inline port_config decode_port(const boost::json::value& v, std::string_view path) {
  const auto& o = jr::object(v, path);
  port_config p;
  p.protocol = jr::string(o, "Protocol", path);
  p.target_port = jr::unsigned_number<std::uint32_t>(o, "TargetPort", path, 0);
  p.published_port = jr::unsigned_number<std::uint32_t>(o, "PublishedPort", path, 0);
  p.publish_mode = jr::string(o, "PublishMode", path);
  if (p.target_port > 65535) throw json_error(jr::join(path, "TargetPort"), "port " + std::to_string(p.target_port) + " is out of range");
  if (p.published_port > 65535)
    throw json_error(jr::join(path, "PublishedPort"), "port " + std::to_string(p.published_port) + " is out of range");
  return p;
}

inline std::vector<port_config> decode_ports(const boost::json::object& o, std::string_view key, std::string_view path) {
  std::vector<port_config> out;
  const auto* ports = sub_array(o, key, path);
  if (!ports) return out;
  std::string at = jr::join(path, key);
  out.reserve(ports->size());
  for (std::size_t i = 0; i < ports->size(); ++i) out.push_back(decode_port((*ports)[i], jr::index(at, i)));
  return out;
}

inline docker_service decode_service(const boost::json::value& v, std::string_view path) {
  const auto& o = jr::object(v, path);
  docker_service s;
  s.id = jr::string(o, "ID", path);
  if (s.id.empty()) throw json_error(jr::join(path, "ID"), "missing");
  std::string spec_path = jr::join(path, "Spec");
  const auto* spec = sub_object(o, "Spec", path);
  if (!spec) throw json_error(spec_path, "missing");
  s.name = jr::string(*spec, "Name", spec_path);
  if (s.name.empty()) throw json_error(jr::join(spec_path, "Name"), "missing");
  s.labels = decode_labels(*spec, "Labels", spec_path);
  if (const auto* mode = sub_object(*spec, "Mode", spec_path)) {
    std::string mode_path = jr::join(spec_path, "Mode");
    if (const auto* replicated = sub_object(*mode, "Replicated", mode_path))
      s.replicas = jr::unsigned_number<std::uint64_t>(*replicated, "Replicas", jr::join(mode_path, "Replicated"), 1);
  }
  if (const auto* endpoint = sub_object(o, "Endpoint", path))
    s.endpoint_ports = decode_ports(*endpoint, "Ports", jr::join(path, "Endpoint"));
  if (const auto* update = sub_object(o, "UpdateStatus", path))
    s.update_state = jr::string(*update, "State", jr::join(path, "UpdateStatus"));
  return s;
}

inline docker_task decode_task(const boost::json::value& v, std::string_view path) {
  const auto& o = jr::object(v, path);
  docker_task t;
  t.id = jr::string(o, "ID", path);
  t.service_id = jr::string(o, "ServiceID", path);
  t.node_id = jr::string(o, "NodeID", path);
  t.desired_state = jr::string(o, "DesiredState", path);
  if (const auto* status = sub_object(o, "Status", path)) {
    std::string status_path = jr::join(path, "Status");
    t.state = jr::string(*status, "State", status_path);
    if (const auto* ps = sub_object(*status, "PortStatus", status_path))
      t.ports = decode_ports(*ps, "Ports", jr::join(status_path, "PortStatus"));
  }
  return t;
}

inline docker_node decode_node(const boost::json::value& v, std::string_view path) {
  const auto& o = jr::object(v, path);
  docker_node n;
  n.id = jr::string(o, "ID", path);
  if (const auto* status = sub_object(o, "Status", path)) n.addr = jr::string(*status, "Addr", jr::join(path, "Status"));
  if (const auto* ms = sub_object(o, "ManagerStatus", path))
    n.manager_addr = jr::string(*ms, "Addr", jr::join(path, "ManagerStatus"));
  return n;
}

template <class T, class Decode>
std::vector<T> decode_list(std::string_view body, std::string_view what, Decode decode) {
  auto v = parse_json(body, what);
  const auto& a = jr::array(v, what);
  std::vector<T> out;
  out.reserve(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) out.push_back(decode(a[i], jr::index(what, i)));
  return out;
}

// GET /services, /tasks, /nodes: arrays. GET /services/{id}: one object.
inline std::vector<docker_service> decode_services(std::string_view body) {
  return decode_list<docker_service>(body, "services", decode_service);
}
inline docker_service decode_one_service(std::string_view body) { return decode_service(parse_json(body, "service"), "service"); }
inline std::vector<docker_task> decode_tasks(std::string_view body) { return decode_list<docker_task>(body, "tasks", decode_task); }
inline std::vector<docker_node> decode_nodes(std::string_view body) { return decode_list<docker_node>(body, "nodes", decode_node); }

inline docker_event decode_event(std::string_view line) {
  auto v = parse_json(line, "event");
  const auto& o = jr::object(v, "event");
  docker_event e;
  e.type = jr::string(o, "Type", "event");
  e.action = jr::string(o, "Action", "event");
  if (const auto* actor = sub_object(o, "Actor", "event")) {
    e.actor_id = jr::string(*actor, "ID", "event.Actor");
    auto attributes = decode_labels(*actor, "Attributes", "event.Actor");
    if (auto it = attributes.find("name"); it != attributes.end()) e.name = it->second;
    if (e.type == "service") {
      e.service_id = e.actor_id;
    } else if (auto sid = attributes.find("com.docker.swarm.service.id"); sid != attributes.end()) {
      e.service_id = sid->second;
    }
  }
  return e;
}

inline docker_version decode_version(std::string_view body) {
  auto v = parse_json(body, "version");
  const auto& o = jr::object(v, "version");
  docker_version d;
  d.api_version = jr::string(o, "ApiVersion", "version");
  d.min_api_version = jr::string(o, "MinAPIVersion", "version");
  d.version = jr::string(o, "Version", "version");
  if (d.api_version.empty()) throw json_error("version.ApiVersion", "missing");
  return d;
}

// "1.41" -> {1, 41}; nullopt when it is not major.minor.
inline std::optional<std::pair<unsigned, unsigned>> parse_api_version(std::string_view s) {
  auto dot = s.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= s.size()) return std::nullopt;
  unsigned major = 0, minor = 0;
  for (std::size_t i = 0; i < dot; ++i) {
    if (s[i] < '0' || s[i] > '9' || major > 1000) return std::nullopt;
    major = major * 10 + static_cast<unsigned>(s[i] - '0');
  }
  for (std::size_t i = dot + 1; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9' || minor > 1000) return std::nullopt;
    minor = minor * 10 + static_cast<unsigned>(s[i] - '0');
  }
  return std::pair{major, minor};
}

// The API version this provider was written against, and the first with
// swarm services (Docker 1.12).
inline constexpr std::string_view coded_api_version = "1.41";
inline constexpr std::string_view oldest_api_version = "1.24";

// The version to put in request paths: min(the server's, ours). Throws
// std::runtime_error when the server's is unreadable or older than 1.24.
inline std::string negotiate_api_version(const docker_version& v) {
  auto server = parse_api_version(v.api_version);
  if (!server) throw std::runtime_error("the engine reports an unreadable API version \"" + v.api_version + "\"");
  auto ours = *parse_api_version(coded_api_version);
  auto oldest = *parse_api_version(oldest_api_version);
  if (*server < oldest)
    throw std::runtime_error("the engine speaks API " + v.api_version + ", older than " + std::string(oldest_api_version) +
                             " (the first with swarm services)");
  auto use = std::min(*server, ours);
  return std::to_string(use.first) + "." + std::to_string(use.second);
}

}  // namespace interlook::ext::provider::swarm_detail
