#pragma once
// provider.kubernetes: the part of the Kubernetes API objects the provider
// reads, decoded from Boost.JSON with errors that name where the bad value
// is ("spec.ports[0].nodePort: expected an unsigned integer"), and label
// selectors (parsed and matched; http/url.hpp encodes them for a query).
//
// Decoding is lenient about what it does not read (unknown fields, kinds it
// does not know) and strict about the type of what it reads, as Go's
// encoding/json is for the API server's own types.

#include <interlook/support/json_read.hpp>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace interlook::ext::provider::k8s {

using label_map = std::map<std::string, std::string>;

// ---- objects -------------------------------------------------------------------

struct object_meta {
  std::string name;
  std::string ns;  // empty for cluster-scoped objects (nodes)
  std::string resource_version;
  std::string uid;
  label_map labels;
  label_map annotations;

  // "default/web", or "node-a" for a cluster-scoped object.
  std::string key() const { return ns.empty() ? name : ns + "/" + name; }
  friend bool operator==(const object_meta&, const object_meta&) = default;
};

struct service_port {
  std::string name;
  std::string protocol = "TCP";
  std::uint32_t port = 0;
  std::optional<std::uint32_t> target_port;  // numeric targetPort; a named one is not kept
  std::uint32_t node_port = 0;               // 0: none allocated
  friend bool operator==(const service_port&, const service_port&) = default;
};

struct service_object {
  object_meta meta;
  std::string type = "ClusterIP";
  std::vector<service_port> ports;
  std::vector<std::string> ingress_ips;  // status.loadBalancer.ingress[].ip
  friend bool operator==(const service_object&, const service_object&) = default;
};

struct endpoint {
  std::vector<std::string> addresses;
  // conditions.ready; absent means unknown, which the API asks consumers to
  // read as ready.
  std::optional<bool> ready;
  std::string node_name;
  std::string target_ref;  // "Pod/default/web-1", or "" without targetRef

  bool is_ready() const noexcept { return ready.value_or(true); }
  friend bool operator==(const endpoint&, const endpoint&) = default;
};

inline constexpr std::string_view service_name_label = "kubernetes.io/service-name";

struct endpoint_slice {
  object_meta meta;
  std::string address_type;
  std::vector<endpoint> endpoints;

  // The Service this slice belongs to (label kubernetes.io/service-name),
  // in the slice's namespace; "" when unlabelled.
  std::string service() const {
    auto it = meta.labels.find(std::string(service_name_label));
    return it == meta.labels.end() ? std::string() : it->second;
  }
  friend bool operator==(const endpoint_slice&, const endpoint_slice&) = default;
};

struct node_object {
  object_meta meta;
  std::string internal_ip;  // the first InternalIP
  std::string external_ip;  // the first ExternalIP

  // The address targets use: InternalIP, else ExternalIP ("" for neither).
  const std::string& address() const noexcept { return internal_ip.empty() ? external_ip : internal_ip; }
  friend bool operator==(const node_object&, const node_object&) = default;
};

// A meta/v1 Status (error bodies, and ERROR watch events).
struct status_object {
  std::string status;  // "Failure"
  std::string message;
  std::string reason;  // "Expired", "Gone", "Unauthorized", "Conflict", ...
  unsigned code = 0;
};

// ---- decoding ------------------------------------------------------------------

// Parses a response body; `what` names it in the error.
inline boost::json::value parse_json(std::string_view text, std::string_view what) {
  boost::json::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec) throw json_error(std::string(what), "malformed JSON: " + ec.message());
  return v;
}

namespace detail {
namespace jr = interlook::json_read;

inline label_map string_map(const boost::json::object& o, std::string_view key, std::string_view path) {
  label_map out;
  const auto* v = jr::find(o, key);
  if (!v) return out;
  std::string p = jr::join(path, key);
  for (const auto& [k, val] : jr::object(*v, p)) {
    if (!val.is_string()) throw json_error(jr::join(p, std::string_view(k)), "expected a string");
    out.emplace(std::string(k), std::string(val.get_string()));
  }
  return out;
}

inline std::vector<std::string> string_list(const boost::json::object& o, std::string_view key, std::string_view path) {
  std::vector<std::string> out;
  const auto* v = jr::find(o, key);
  if (!v) return out;
  std::string p = jr::join(path, key);
  const auto& arr = jr::array(*v, p);
  for (std::size_t i = 0; i < arr.size(); ++i) {
    if (!arr[i].is_string()) throw json_error(jr::index(p, i), "expected a string");
    out.emplace_back(arr[i].get_string());
  }
  return out;
}

inline std::optional<bool> optional_bool(const boost::json::object& o, std::string_view key, std::string_view path) {
  const auto* v = jr::find(o, key);
  if (!v) return std::nullopt;
  if (!v->is_bool()) throw json_error(jr::join(path, key), "expected true or false");
  return v->get_bool();
}

// A port number (0 when absent).
inline std::uint32_t port_number(const boost::json::object& o, std::string_view key, std::string_view path) {
  auto n = jr::unsigned_number<std::uint32_t>(o, key, path, 0);
  if (n > 65535) throw json_error(jr::join(path, key), "port " + std::to_string(n) + " is out of range");
  return n;
}
}  // namespace detail

inline object_meta decode_meta(const boost::json::object& o) {
  namespace jr = interlook::json_read;
  object_meta m;
  const auto* v = jr::find(o, "metadata");
  if (!v) throw json_error("metadata", "missing");
  const auto& md = jr::object(*v, "metadata");
  m.name = jr::string(md, "name", "metadata");
  if (m.name.empty()) throw json_error("metadata.name", "missing");
  m.ns = jr::string(md, "namespace", "metadata");
  m.resource_version = jr::string(md, "resourceVersion", "metadata");
  m.uid = jr::string(md, "uid", "metadata");
  m.labels = detail::string_map(md, "labels", "metadata");
  m.annotations = detail::string_map(md, "annotations", "metadata");
  return m;
}

// The name of an object for messages, as far as its metadata can be read:
// "default/web", or "" when it cannot.
inline std::string object_key_of(const boost::json::value& v) {
  if (!v.is_object()) return {};
  const auto* md = v.get_object().if_contains("metadata");
  if (!md || !md->is_object()) return {};
  const auto& o = md->get_object();
  auto str = [&](std::string_view k) -> std::string {
    const auto* s = o.if_contains(k);
    return s && s->is_string() ? std::string(s->get_string()) : std::string();
  };
  std::string name = str("name"), ns = str("namespace");
  return ns.empty() ? name : ns + "/" + name;
}

namespace detail {
// A Service's name (RFC 1035 label) or namespace (RFC 1123 label): at most 63
// of [a-z0-9-]. The provider names the service "<name>.<namespace>" and finds
// the Service again from that name, so neither part may hold a dot.
inline void check_dns_label(const std::string& value, std::string_view path) {
  bool ok = !value.empty() && value.size() <= 63 && value.front() != '-' && value.back() != '-';
  for (char c : value) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  if (!ok) throw json_error(std::string(path), "\"" + value + "\" is not a DNS label (at most 63 of a-z, 0-9 and -)");
}
}  // namespace detail

inline service_object decode_service(const boost::json::value& v) {
  namespace jr = interlook::json_read;
  const auto& o = jr::object(v, "");
  service_object s;
  s.meta = decode_meta(o);
  if (const auto* spec_v = jr::find(o, "spec")) {
    const auto& spec = jr::object(*spec_v, "spec");
    s.type = jr::string(spec, "type", "spec");
    if (s.type.empty()) s.type = "ClusterIP";
    if (const auto* ports_v = jr::find(spec, "ports")) {
      const auto& ports = jr::array(*ports_v, "spec.ports");
      for (std::size_t i = 0; i < ports.size(); ++i) {
        std::string p = jr::index("spec.ports", i);
        const auto& po = jr::object(ports[i], p);
        service_port sp;
        sp.name = jr::string(po, "name", p);
        if (auto proto = jr::string(po, "protocol", p); !proto.empty()) sp.protocol = proto;
        sp.port = detail::port_number(po, "port", p);
        sp.node_port = detail::port_number(po, "nodePort", p);
        if (const auto* tp = jr::find(po, "targetPort")) {
          // IntOrString: a number, or the name of a container port.
          if (tp->is_string()) {
            // A numeric string is how some clients write an int.
            std::string_view t = tp->get_string();
            std::uint32_t n = 0;
            bool digits = !t.empty() && t.size() <= 5;
            for (char c : t) digits = digits && c >= '0' && c <= '9';
            if (digits) {
              for (char c : t) n = n * 10 + static_cast<std::uint32_t>(c - '0');
              if (n > 0 && n <= 65535) sp.target_port = n;
            }
          } else {
            sp.target_port = detail::port_number(po, "targetPort", p);
          }
        }
        s.ports.push_back(std::move(sp));
      }
    }
  }
  if (const auto* status_v = jr::find(o, "status")) {
    const auto& status = jr::object(*status_v, "status");
    if (const auto* lb_v = jr::find(status, "loadBalancer")) {
      const auto& lb = jr::object(*lb_v, "status.loadBalancer");
      if (const auto* ing_v = jr::find(lb, "ingress")) {
        const auto& ing = jr::array(*ing_v, "status.loadBalancer.ingress");
        for (std::size_t i = 0; i < ing.size(); ++i) {
          std::string p = jr::index("status.loadBalancer.ingress", i);
          auto ip = jr::string(jr::object(ing[i], p), "ip", p);
          if (!ip.empty()) s.ingress_ips.push_back(std::move(ip));
        }
      }
    }
  }
  detail::check_dns_label(s.meta.name, "metadata.name");
  detail::check_dns_label(s.meta.ns, "metadata.namespace");
  return s;
}

inline endpoint_slice decode_endpoint_slice(const boost::json::value& v) {
  namespace jr = interlook::json_read;
  const auto& o = jr::object(v, "");
  endpoint_slice s;
  s.meta = decode_meta(o);
  s.address_type = jr::string(o, "addressType", "");
  if (const auto* eps_v = jr::find(o, "endpoints")) {
    const auto& eps = jr::array(*eps_v, "endpoints");
    for (std::size_t i = 0; i < eps.size(); ++i) {
      std::string p = jr::index("endpoints", i);
      const auto& eo = jr::object(eps[i], p);
      endpoint e;
      e.addresses = detail::string_list(eo, "addresses", p);
      e.node_name = jr::string(eo, "nodeName", p);
      if (const auto* c = jr::find(eo, "conditions")) {
        std::string cp = jr::join(p, "conditions");
        e.ready = detail::optional_bool(jr::object(*c, cp), "ready", cp);
      }
      if (const auto* r = jr::find(eo, "targetRef")) {
        std::string rp = jr::join(p, "targetRef");
        const auto& ro = jr::object(*r, rp);
        auto kind = jr::string(ro, "kind", rp), name = jr::string(ro, "name", rp), ns = jr::string(ro, "namespace", rp);
        if (!name.empty()) e.target_ref = kind + "/" + (ns.empty() ? s.meta.ns : ns) + "/" + name;
      }
      s.endpoints.push_back(std::move(e));
    }
  }
  return s;
}

inline node_object decode_node(const boost::json::value& v) {
  namespace jr = interlook::json_read;
  const auto& o = jr::object(v, "");
  node_object n;
  n.meta = decode_meta(o);
  if (const auto* status_v = jr::find(o, "status")) {
    const auto& status = jr::object(*status_v, "status");
    if (const auto* addrs_v = jr::find(status, "addresses")) {
      const auto& addrs = jr::array(*addrs_v, "status.addresses");
      for (std::size_t i = 0; i < addrs.size(); ++i) {
        std::string p = jr::index("status.addresses", i);
        const auto& ao = jr::object(addrs[i], p);
        auto type = jr::string(ao, "type", p);
        auto address = jr::string(ao, "address", p);
        if (type == "InternalIP" && n.internal_ip.empty()) n.internal_ip = std::move(address);
        else if (type == "ExternalIP" && n.external_ip.empty()) n.external_ip = std::move(address);
      }
    }
  }
  return n;
}

inline status_object decode_status(const boost::json::value& v) {
  namespace jr = interlook::json_read;
  const auto& o = jr::object(v, "");
  status_object s;
  s.status = jr::string(o, "status", "");
  s.message = jr::string(o, "message", "");
  s.reason = jr::string(o, "reason", "");
  s.code = jr::unsigned_number<unsigned>(o, "code", "", 0);
  return s;
}

// The decoder of each object type, for the reflector.
template <class T>
struct decoder;
template <>
struct decoder<service_object> {
  static service_object decode(const boost::json::value& v) { return decode_service(v); }
};
template <>
struct decoder<endpoint_slice> {
  static endpoint_slice decode(const boost::json::value& v) { return decode_endpoint_slice(v); }
};
template <>
struct decoder<node_object> {
  static node_object decode(const boost::json::value& v) { return decode_node(v); }
};

// ---- label selectors -----------------------------------------------------------

// A Kubernetes label selector: requirements joined by commas, each `key`,
// `!key`, `key=value`, `key==value`, `key!=value`, `key in (a,b)` or
// `key notin (a,b)`. Matching follows the API server's semantics (`!=` and
// `notin` also match objects without the key).
class label_selector {
 public:
  struct requirement {
    enum class op { exists, not_exists, equals, not_equals, in, not_in };
    op kind = op::exists;
    std::string key;
    std::vector<std::string> values;
  };

  label_selector() = default;

  // Throws std::invalid_argument naming the requirement that does not parse.
  static label_selector parse(std::string_view text) {
    label_selector s;
    s.text_ = std::string(trim(text));
    std::size_t depth = 0, start = 0;
    std::string_view t = s.text_;
    for (std::size_t i = 0; i <= t.size(); ++i) {
      if (i < t.size() && t[i] == '(') ++depth;
      if (i < t.size() && t[i] == ')' && depth > 0) --depth;
      if (i == t.size() || (t[i] == ',' && depth == 0)) {
        auto part = trim(t.substr(start, i - start));
        if (!part.empty() || i < t.size()) s.requirements_.push_back(parse_requirement(part));
        start = i + 1;
      }
    }
    return s;
  }

  bool empty() const noexcept { return requirements_.empty(); }
  const std::string& text() const noexcept { return text_; }
  const std::vector<requirement>& requirements() const noexcept { return requirements_; }

  bool matches(const label_map& labels) const {
    for (const auto& r : requirements_) {
      auto it = labels.find(r.key);
      bool has = it != labels.end();
      auto in_values = [&] {
        for (const auto& v : r.values)
          if (has && it->second == v) return true;
        return false;
      };
      switch (r.kind) {
        case requirement::op::exists:
          if (!has) return false;
          break;
        case requirement::op::not_exists:
          if (has) return false;
          break;
        case requirement::op::equals:
        case requirement::op::in:
          if (!in_values()) return false;
          break;
        case requirement::op::not_equals:
        case requirement::op::not_in:
          if (in_values()) return false;
          break;
      }
    }
    return true;
  }

 private:
  static std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  }

  // A label key: an optional DNS-subdomain prefix and '/', then a name of
  // at most 63 characters of [A-Za-z0-9._-], alphanumeric at both ends.
  static bool valid_key(std::string_view k) {
    auto slash = k.find('/');
    std::string_view name = slash == std::string_view::npos ? k : k.substr(slash + 1);
    if (slash != std::string_view::npos) {
      auto prefix = k.substr(0, slash);
      if (prefix.empty() || prefix.size() > 253) return false;
      for (char c : prefix)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
    }
    return !name.empty() && valid_value(name);
  }
  static bool valid_value(std::string_view v) {
    if (v.size() > 63) return false;
    if (v.empty()) return true;
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
    if (!alnum(v.front()) || !alnum(v.back())) return false;
    for (char c : v)
      if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
    return true;
  }

  static requirement parse_requirement(std::string_view part) {
    auto fail = [&](const std::string& why) {
      return std::invalid_argument("label selector requirement \"" + std::string(part) + "\": " + why);
    };
    if (part.empty()) throw fail("empty requirement");
    requirement r;
    auto check_key = [&](std::string_view k) {
      k = trim(k);
      if (!valid_key(k)) throw fail("invalid label key \"" + std::string(k) + "\"");
      return std::string(k);
    };
    auto check_value = [&](std::string_view v) {
      v = trim(v);
      if (!valid_value(v)) throw fail("invalid label value \"" + std::string(v) + "\"");
      return std::string(v);
    };
    if (part.front() == '!') {
      r.kind = requirement::op::not_exists;
      r.key = check_key(part.substr(1));
      return r;
    }
    // Set-based: key in (a,b) / key notin (a,b).
    if (auto open = part.find('('); open != std::string_view::npos) {
      if (part.back() != ')') throw fail("expected ) at the end");
      auto head = trim(part.substr(0, open));
      auto sp = head.find_last_of(" \t");
      if (sp == std::string_view::npos) throw fail("expected \"key in (...)\" or \"key notin (...)\"");
      auto word = head.substr(sp + 1);
      if (word == "in") r.kind = requirement::op::in;
      else if (word == "notin") r.kind = requirement::op::not_in;
      else throw fail("unknown operator \"" + std::string(word) + "\" (in, notin)");
      r.key = check_key(head.substr(0, sp));
      auto inner = part.substr(open + 1, part.size() - open - 2);
      std::size_t s = 0;
      for (std::size_t i = 0; i <= inner.size(); ++i)
        if (i == inner.size() || inner[i] == ',') {
          r.values.push_back(check_value(inner.substr(s, i - s)));
          s = i + 1;
        }
      return r;
    }
    if (auto ne = part.find("!="); ne != std::string_view::npos) {
      r.kind = requirement::op::not_equals;
      r.key = check_key(part.substr(0, ne));
      r.values.push_back(check_value(part.substr(ne + 2)));
      return r;
    }
    if (auto eq = part.find('='); eq != std::string_view::npos) {
      r.kind = requirement::op::equals;
      std::size_t value_at = eq + 1;
      if (value_at < part.size() && part[value_at] == '=') ++value_at;
      r.key = check_key(part.substr(0, eq));
      r.values.push_back(check_value(part.substr(value_at)));
      return r;
    }
    r.kind = requirement::op::exists;
    r.key = check_key(part);
    return r;
  }

  std::string text_;
  std::vector<requirement> requirements_;
};

}  // namespace interlook::ext::provider::k8s
