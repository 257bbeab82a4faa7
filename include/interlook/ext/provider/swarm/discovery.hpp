#pragma once
// provider.swarm: from what Docker lists to what interlook announces. Pure
// functions, no I/O.
//
// A service is announced when it carries the labels interlook.hosts and
// interlook.port and every label of the labelSelector ("key" present, or
// "key=value" with that exact value). Its targets: for each task whose desired
// and current states are both "running", the address of the task's node with
//   - host-mode ports: the task's own published port (Status.PortStatus.Ports)
//     whose target port is interlook.port. Docker lists each binding twice
//     (IPv4 and IPv6); a task counts once per published port;
//   - ingress-mode ports: the service's published port (Endpoint.Ports) whose
//     target port is interlook.port, on the node of every running task (two
//     tasks on one node: one target of weight 2).
// A node's address is Status.Addr, or the host part of ManagerStatus.Addr
// when Status.Addr is 0.0.0.0 (a manager behind NAT reports so).

#include <interlook/core/message.hpp>
#include <interlook/ext/provider/swarm/model.hpp>

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace interlook::ext::provider::swarm_detail {

inline constexpr std::string_view hosts_label = "interlook.hosts";
inline constexpr std::string_view port_label = "interlook.port";
inline constexpr std::string_view ssl_label = "interlook.ssl";
inline constexpr std::string_view provider_name = "provider.swarm";

// One labelSelector entry: "key" (present) or "key=value" (exact value).
struct label_rule {
  std::string key;
  std::optional<std::string> value;

  std::string to_string() const { return value ? key + "=" + *value : key; }
};

inline label_rule parse_label_rule(std::string_view s) {
  label_rule r;
  auto eq = s.find('=');
  r.key = std::string(s.substr(0, eq));
  if (eq != std::string_view::npos) r.value = std::string(s.substr(eq + 1));
  return r;
}

inline std::vector<label_rule> parse_selector(const std::vector<std::string>& selector) {
  std::vector<label_rule> out;
  out.reserve(selector.size());
  for (const auto& s : selector) out.push_back(parse_label_rule(s));
  return out;
}

// Docker's `label` filters for GET /services: what every announced service
// carries (the two interlook labels and the selector).
inline std::vector<std::string> label_filters(const std::vector<label_rule>& selector) {
  std::vector<std::string> out{std::string(hosts_label), std::string(port_label)};
  for (const auto& r : selector) out.push_back(r.to_string());
  return out;
}

// Whether the service's labels ask for it (the same test as label_filters).
inline bool selected(const docker_service& s, const std::vector<label_rule>& selector) {
  if (!s.labels.count(std::string(hosts_label)) || !s.labels.count(std::string(port_label))) return false;
  for (const auto& r : selector) {
    auto it = s.labels.find(r.key);
    if (it == s.labels.end()) return false;
    if (r.value && it->second != *r.value) return false;
  }
  return true;
}

// What the provider makes of one service as Docker shows it now.
struct observation {
  enum class kind {
    ready,      // selected, labels valid, at least one target: `svc` is its definition
    no_target,  // selected, labels valid, no running task with the port yet
    malformed,  // selected, a label is invalid: `problem` says which and why
    absent,     // gone, or no longer selected (its labels were removed)
  };
  kind what = kind::absent;
  std::string name;
  std::string id;
  interlook::service svc;  // ready only
  std::string problem;     // malformed only
  bool unsettled = false;  // tasks on their way to running (or fewer than the replicas asked)
};

inline bool valid_alias(std::string_view a) {
  if (a.empty() || a.size() > 253) return false;
  for (char c : a)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
          c == '_' || c == '*'))
      return false;
  return a.front() != '.' && a.front() != '-';
}

// The service's labels as a definition without targets; or the problem.
struct labels_reading {
  interlook::service svc;
  std::uint32_t port = 0;
  std::string problem;
};

inline labels_reading read_labels(const docker_service& s) {
  labels_reading r;
  r.svc.provider = std::string(provider_name);
  r.svc.name = s.name;
  auto label = [&](std::string_view key) -> const std::string* {
    auto it = s.labels.find(std::string(key));
    return it == s.labels.end() ? nullptr : &it->second;
  };
  const std::string* hosts = label(hosts_label);
  const std::string* port = label(port_label);
  if (!hosts || !port) {
    r.problem = "lacks the " + std::string(!hosts ? hosts_label : port_label) + " label";
    return r;
  }
  std::string_view all = *hosts;
  while (!all.empty()) {
    auto comma = all.find(',');
    auto one = all.substr(0, comma);
    all = comma == std::string_view::npos ? std::string_view{} : all.substr(comma + 1);
    while (!one.empty() && (one.front() == ' ' || one.front() == '\t')) one.remove_prefix(1);
    while (!one.empty() && (one.back() == ' ' || one.back() == '\t')) one.remove_suffix(1);
    if (one.empty()) continue;
    if (!valid_alias(one)) {
      r.problem = "label " + std::string(hosts_label) + ": invalid DNS name \"" + std::string(one) + "\"";
      return r;
    }
    if (std::find(r.svc.dns_names.begin(), r.svc.dns_names.end(), one) == r.svc.dns_names.end())
      r.svc.dns_names.emplace_back(one);
  }
  if (r.svc.dns_names.empty()) {
    r.problem = "label " + std::string(hosts_label) + " names no DNS name";
    return r;
  }
  std::string_view p = *port;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (p.empty() || ec != std::errc{} || end != p.data() + p.size() || value == 0 || value > 65535) {
    r.problem = "label " + std::string(port_label) + ": \"" + std::string(p) + "\" is not a port (1-65535)";
    return r;
  }
  r.port = value;
  if (const std::string* ssl = label(ssl_label)) {
    // Go's strconv.ParseBool, plus yes/no.
    const std::string& v = *ssl;
    if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True" || v == "yes") {
      r.svc.tls = true;
    } else if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False" || v == "no" || v.empty()) {
      r.svc.tls = false;
    } else {
      r.problem = "label " + std::string(ssl_label) + ": \"" + v + "\" is not true or false";
      return r;
    }
  }
  return r;
}

// Node ID -> the address its targets get ("" when it has none).
using node_addresses = std::unordered_map<std::string, std::string>;

inline std::string host_of(std::string_view host_port) {
  if (host_port.starts_with("[")) {
    auto close = host_port.find(']');
    return std::string(host_port.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1));
  }
  auto colon = host_port.rfind(':');
  if (colon != std::string_view::npos && host_port.find(':') == colon) return std::string(host_port.substr(0, colon));
  return std::string(host_port);
}

inline std::string node_address(const docker_node& n) {
  if (!n.addr.empty() && n.addr != "0.0.0.0") return n.addr;
  if (!n.manager_addr.empty()) return host_of(n.manager_addr);
  return {};
}

inline node_addresses address_map(const std::vector<docker_node>& nodes) {
  node_addresses out;
  for (const auto& n : nodes) out.emplace(n.id, node_address(n));
  return out;
}

inline bool is_tcp(const port_config& p) { return p.protocol.empty() || p.protocol == "tcp"; }

// A port's publish mode, with `default_mode` for one that names none (engines
// before API 1.25, which published every port through the ingress mesh).
inline std::string_view mode_of(const port_config& p, std::string_view default_mode) {
  return p.publish_mode.empty() ? default_mode : std::string_view(p.publish_mode);
}

// States a task passes through on its way to running.
inline bool starting_state(std::string_view s) {
  return s == "new" || s == "allocated" || s == "pending" || s == "assigned" || s == "accepted" || s == "preparing" ||
         s == "ready" || s == "starting";
}

// `tasks`: the service's tasks (others are ignored). `missing_nodes`, when
// given, collects node IDs that `nodes` does not know.
inline observation observe(const docker_service& s, const std::vector<const docker_task*>& tasks,
                           const node_addresses& nodes, std::string_view default_mode = "ingress",
                           std::set<std::string>* missing_nodes = nullptr) {
  observation o;
  o.name = s.name;
  o.id = s.id;
  auto labels = read_labels(s);
  if (!labels.problem.empty()) {
    o.what = observation::kind::malformed;
    o.problem = std::move(labels.problem);
    return o;
  }
  std::vector<std::uint32_t> ingress_ports;
  for (const auto& p : s.endpoint_ports)
    if (is_tcp(p) && p.target_port == labels.port && p.published_port != 0 && mode_of(p, default_mode) == "ingress" &&
        std::find(ingress_ports.begin(), ingress_ports.end(), p.published_port) == ingress_ports.end())
      ingress_ports.push_back(p.published_port);

  std::size_t desired_running = 0;
  for (const docker_task* t : tasks) {
    if (t->service_id != s.id || t->desired_state != "running") continue;
    ++desired_running;
    if (t->state != "running") {
      if (starting_state(t->state)) o.unsettled = true;
      continue;
    }
    auto node = nodes.find(t->node_id);
    if (node == nodes.end()) {
      if (missing_nodes) missing_nodes->insert(t->node_id);
      continue;
    }
    const std::string& addr = node->second;
    if (addr.empty()) continue;
    std::vector<std::uint32_t> host_ports;  // IPv4 and IPv6 bindings of one port: once
    for (const auto& p : t->ports)
      if (is_tcp(p) && p.target_port == labels.port && p.published_port != 0 && mode_of(p, default_mode) == "host" &&
          std::find(host_ports.begin(), host_ports.end(), p.published_port) == host_ports.end())
        host_ports.push_back(p.published_port);
    for (auto port : host_ports) labels.svc.targets.push_back({addr, port, 1});
    for (auto port : ingress_ports) labels.svc.targets.push_back({addr, port, 1});
  }
  if (s.replicas && desired_running < *s.replicas) o.unsettled = true;
  if (s.update_state == "updating" || s.update_state == "rollback_started") o.unsettled = true;
  merge_targets(labels.svc.targets);
  if (labels.svc.targets.empty()) {
    o.what = observation::kind::no_target;
    return o;
  }
  o.what = observation::kind::ready;
  o.svc = std::move(labels.svc);
  return o;
}

}  // namespace interlook::ext::provider::swarm_detail
