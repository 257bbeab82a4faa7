#pragma once
// provider.kubernetes: from Kubernetes objects to interlook services.
//
// A Service is interlook's when it is of type NodePort or LoadBalancer,
// matches the provider's labelSelector, and carries interlook.hosts and
// interlook.port (labels, or annotations of the same names; an annotation
// wins over a label). Its targets are the addresses of the nodes that run
// its ready endpoints (EndpointSlices of its own namespace labelled
// kubernetes.io/service-name=<name>), on the nodePort of the Service port
// whose port (else targetPort) is interlook.port; a target's weight is the
// number of ready endpoints on that node. The interlook service is named
// "<name>.<namespace>" (neither part can hold a dot).

#include <interlook/core/message.hpp>
#include <interlook/ext/provider/kubernetes/model.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace interlook::ext::provider::k8s {

inline constexpr std::string_view hosts_label = "interlook.hosts";
inline constexpr std::string_view port_label = "interlook.port";
inline constexpr std::string_view ssl_label = "interlook.ssl";

// "web.default"
inline std::string entry_name(std::string_view ns, std::string_view name) {
  std::string s(name);
  s += '.';
  s += ns;
  return s;
}

// "web.default" -> {"default", "web"}; nullopt when it is not of that form.
inline std::optional<std::pair<std::string, std::string>> split_entry_name(std::string_view entry) {
  auto dot = entry.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == entry.size() || entry.find('.', dot + 1) != std::string_view::npos)
    return std::nullopt;
  return std::make_pair(std::string(entry.substr(dot + 1)), std::string(entry.substr(0, dot)));
}

// What a Service asks of interlook.
struct verdict {
  enum class kind {
    not_ours,   // not NodePort/LoadBalancer, not selected, or not labelled
    malformed,  // labelled, but a label cannot be used: `problem` says which and why
    ours,
  };
  kind what = kind::not_ours;
  std::string problem;
  std::vector<std::string> hosts;
  std::uint32_t port = 0;  // interlook.port
  bool tls = false;
  std::uint32_t node_port = 0;
};

namespace detail {
// The value of a discovery label: the annotation of that name, else the
// label. `from` says which it was ("annotation" or "label").
inline std::optional<std::string> discovery_value(const object_meta& m, std::string_view key, std::string& from) {
  if (auto it = m.annotations.find(std::string(key)); it != m.annotations.end()) {
    from = "annotation";
    return it->second;
  }
  if (auto it = m.labels.find(std::string(key)); it != m.labels.end()) {
    from = "label";
    return it->second;
  }
  return std::nullopt;
}

inline std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Go's strconv.ParseBool.
inline std::optional<bool> parse_bool(std::string_view s) {
  if (s == "1" || s == "t" || s == "T" || s == "true" || s == "TRUE" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "false" || s == "FALSE" || s == "False") return false;
  return std::nullopt;
}
}  // namespace detail

inline verdict judge(const service_object& s, const label_selector& selector) {
  verdict v;
  if (s.type != "NodePort" && s.type != "LoadBalancer") return v;
  if (!selector.matches(s.meta.labels)) return v;
  std::string hosts_from, port_from, ssl_from;
  auto hosts = detail::discovery_value(s.meta, hosts_label, hosts_from);
  auto port = detail::discovery_value(s.meta, port_label, port_from);
  auto ssl = detail::discovery_value(s.meta, ssl_label, ssl_from);
  if (!hosts && !port) return v;
  auto malformed = [&](std::string problem) {
    v.what = verdict::kind::malformed;
    v.problem = std::move(problem);
    return v;
  };
  if (!hosts) return malformed(std::string(port_label) + " is set but " + std::string(hosts_label) + " is not");
  if (!port) return malformed(std::string(hosts_label) + " is set but " + std::string(port_label) + " is not");

  std::string_view h = *hosts;
  for (std::size_t start = 0; start <= h.size();) {
    auto comma = h.find(',', start);
    if (comma == std::string_view::npos) comma = h.size();
    auto alias = detail::trim_spaces(h.substr(start, comma - start));
    if (!alias.empty()) {
      for (char c : alias)
        if (c == ' ' || c == '\t' || c == '/' || c == ':' || static_cast<unsigned char>(c) < 0x20)
          return malformed(hosts_from + " " + std::string(hosts_label) + " \"" + *hosts + "\": \"" + std::string(alias) +
                           "\" is not a DNS name");
      v.hosts.emplace_back(alias);
    }
    start = comma + 1;
  }
  if (v.hosts.empty()) return malformed(hosts_from + " " + std::string(hosts_label) + " is empty");

  std::string_view p = detail::trim_spaces(*port);
  std::uint32_t n = 0;
  bool ok = !p.empty() && p.size() <= 5;
  for (char c : p) {
    ok = ok && c >= '0' && c <= '9';
    if (ok) n = n * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (!ok || n == 0 || n > 65535)
    return malformed(port_from + " " + std::string(port_label) + " \"" + *port + "\" is not a port number (1-65535)");
  v.port = n;

  if (ssl) {
    auto b = detail::parse_bool(detail::trim_spaces(*ssl));
    if (!b) return malformed(ssl_from + " " + std::string(ssl_label) + " \"" + *ssl + "\" is not true or false");
    v.tls = *b;
  }

  // The Service port whose port is interlook.port, else whose targetPort is.
  for (const auto& sp : s.ports)
    if (sp.port == n && sp.node_port != 0 && sp.protocol == "TCP") {
      v.node_port = sp.node_port;
      break;
    }
  if (v.node_port == 0)
    for (const auto& sp : s.ports)
      if (sp.target_port && *sp.target_port == n && sp.node_port != 0 && sp.protocol == "TCP") {
        v.node_port = sp.node_port;
        break;
      }
  if (v.node_port == 0)
    return malformed(port_from + " " + std::string(port_label) + " " + std::to_string(n) +
                     ": no TCP port of the Service has port or targetPort " + std::to_string(n) + " with a nodePort");
  v.what = verdict::kind::ours;
  return v;
}

// The ready endpoints of a Service per node name, each endpoint counted
// once even when it appears in several slices (a dual-stack Service has an
// IPv4 and an IPv6 slice; slices overlap briefly while they are rebalanced).
// Endpoints without a nodeName cannot become targets and are not counted.
template <class Slices>
std::map<std::string, std::uint32_t> ready_per_node(const Slices& slices) {
  std::set<std::string> seen;
  std::map<std::string, std::uint32_t> out;
  for (const endpoint_slice* s : slices) {
    for (const auto& e : s->endpoints) {
      if (!e.is_ready() || e.node_name.empty() || e.addresses.empty()) continue;
      std::string id = !e.target_ref.empty() ? e.target_ref : s->meta.ns + "|" + e.addresses.front();
      if (!seen.insert(std::move(id)).second) continue;
      ++out[e.node_name];
    }
  }
  return out;
}

// The interlook service for a Service judged ours; its targets are empty
// while no ready endpoint runs on a node with a known address.
// `node_address` gives a node's address ("" when unknown).
template <class Slices>
interlook::service make_service(std::string_view provider, const service_object& s, const verdict& v, const Slices& slices,
                                const std::function<std::string(const std::string&)>& node_address) {
  interlook::service out;
  out.provider = std::string(provider);
  out.name = entry_name(s.meta.ns, s.meta.name);
  out.dns_names = v.hosts;
  out.tls = v.tls;
  for (const auto& [node, count] : ready_per_node(slices)) {
    std::string address = node_address(node);
    if (address.empty()) continue;
    out.targets.push_back({std::move(address), v.node_port, count});
  }
  merge_targets(out.targets);
  return out;
}

}  // namespace interlook::ext::provider::k8s
