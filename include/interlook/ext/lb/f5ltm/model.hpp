#pragma once
// lb.f5ltm's picture of BIG-IP objects: the names and descriptions interlook
// gives them (Go interlook's, so that an existing deployment's objects are
// recognised), the JSON bodies it sends, and the comparisons that decide
// whether anything must be written. No I/O here: f5ltm.hpp drives it.
//
// Names, in `partition` (P):
//   pool            /P/<service>       "Pool for <service> <suffix>"
//   pool member     /P/<ip>:<port>     "Pool Member for <service> <suffix>"   (IPv6: <ip>.<port>)
//                   or <node>:<port> when a node with that address exists already
//   virtual server  /P/<service>       "Virtual Server for <service> <suffix>", destination /P/<ip>:<port>
//   policy rule     <service>          "ingress rule for <service> <suffix>"
// An object is interlook's when its description is the one interlook
// writes (or Go interlook's older "<service> pool (by Interlook)" and
// "<service> (by Interlook)"); anything else is never changed or deleted.

#include <interlook/support/ip_address.hpp>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cstdint>
#include <charconv>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace interlook::ext::lb::f5ltm_detail {

namespace json = boost::json;

// --- settings ------------------------------------------------------------------

enum class update_mode : std::uint8_t { vs, policy };

inline std::string_view to_string(update_mode m) noexcept { return m == update_mode::policy ? "policy" : "vs"; }
inline std::optional<update_mode> parse_setting(std::string_view s, update_mode*) {
  if (s == "vs") return update_mode::vs;
  if (s == "policy") return update_mode::policy;
  return std::nullopt;
}
inline std::string_view setting_hint(update_mode*) { return "vs or policy"; }
inline std::string print_value(update_mode m) { return std::string(to_string(m)); }

inline constexpr std::string_view default_description_suffix = "(auto generated - do not edit)";
inline constexpr std::uint32_t max_ratio = 65535;  // BIG-IP's limit for a member's ratio

// What the model needs of the configuration.
struct settings {
  std::string partition = "Common";
  std::string suffix = std::string(default_description_suffix);
  std::string lb_mode = "least-connections-member";
  std::string monitor;      // empty: not managed
  std::string tcp_profile;  // empty: not managed (BIG-IP gives a tcp VS its default)
  std::uint16_t http_port = 80;
  std::uint16_t https_port = 443;
};

// --- names -----------------------------------------------------------------------

// BIG-IP object names: interlook writes the service name as it is, so it
// must be one BIG-IP takes and that needs no escaping in a URI.
inline bool valid_object_name(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == '-'))
      return false;
  return true;
}

inline std::string full_path(std::string_view partition, std::string_view name) {
  return "/" + std::string(partition) + "/" + std::string(name);
}
// "/Common/web" -> "~Common~web" (the form in REST URIs).
inline std::string uri_name(std::string_view path) {
  std::string out(path);
  std::replace(out.begin(), out.end(), '/', '~');
  return out;
}

inline std::string pool_description(const settings& s, std::string_view service) {
  return "Pool for " + std::string(service) + " " + s.suffix;
}
inline std::string member_description(const settings& s, std::string_view service) {
  return "Pool Member for " + std::string(service) + " " + s.suffix;
}
inline std::string virtual_description(const settings& s, std::string_view service) {
  return "Virtual Server for " + std::string(service) + " " + s.suffix;
}
inline std::string rule_description(const settings& s, std::string_view service) {
  return "ingress rule for " + std::string(service) + " " + s.suffix;
}

// Whether an object with this description is interlook's. Go interlook's
// first versions wrote "<service> pool (by Interlook)" and
// "<service> (by Interlook)"; those are recognised too (and rewritten).
inline bool owned(std::string_view description, std::string_view expected, std::string_view service) {
  if (description == expected) return true;
  std::string svc(service);
  return description == svc + " pool (by Interlook)" || description == svc + " (by Interlook)";
}

// The last component of a BIG-IP path: "/Common/tcp" -> "tcp".
inline std::string_view leaf(std::string_view path) {
  while (!path.empty() && path.back() == ' ') path.remove_suffix(1);
  while (!path.empty() && path.front() == ' ') path.remove_prefix(1);
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// Two references to one object, "tcp" matching "/Common/tcp": a name given
// without a folder is compared by its last component.
inline bool same_reference(std::string_view actual, std::string_view configured) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    return s;
  };
  actual = trim(actual);
  configured = trim(configured);
  if (configured.find('/') != std::string_view::npos) return actual == configured;
  return leaf(actual) == configured;
}

// --- addresses -------------------------------------------------------------------

struct endpoint {
  std::string address;  // canonical text (ip_address::str)
  std::uint32_t port = 0;
  bool v6 = false;
  friend auto operator<=>(const endpoint&, const endpoint&) = default;
};

// "10.0.0.1:80", "2001:db8::1.80" (BIG-IP separates an IPv6 port with a dot).
inline std::string endpoint_text(const endpoint& e) {
  return e.address + (e.v6 ? "." : ":") + std::to_string(e.port);
}
// For messages: "10.0.0.1:80", "[2001:db8::1]:80".
inline std::string display(const endpoint& e) {
  return (e.v6 ? "[" + e.address + "]" : e.address) + ":" + std::to_string(e.port);
}

// An address as BIG-IP writes it, route domain ("%2") dropped.
inline std::optional<ip_address> parse_address(std::string_view text) {
  auto pct = text.find('%');
  if (pct != std::string_view::npos) text = text.substr(0, pct);
  return ip_address::parse(std::string(text));
}

// "/Common/10.1.1.1:80", "/Common/10.1.1.1%2:80", "/P/2001:db8::1.443",
// "10.1.1.1:80" -> the address and port; nullopt when it names no address
// (a destination written with a virtual-address name).
inline std::optional<endpoint> parse_destination(std::string_view text) {
  if (auto slash = text.rfind('/'); slash != std::string_view::npos) text = text.substr(slash + 1);
  std::size_t sep;
  auto colons = std::count(text.begin(), text.end(), ':');
  if (colons > 1) sep = text.rfind('.');  // IPv6: address.port
  else sep = text.rfind(':');
  if (sep == std::string_view::npos || sep + 1 >= text.size()) return std::nullopt;
  auto ip = parse_address(text.substr(0, sep));
  if (!ip) return std::nullopt;
  std::uint32_t port = 0;
  for (char c : text.substr(sep + 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + static_cast<std::uint32_t>(c - '0');
    if (port > 65535) return std::nullopt;
  }
  return endpoint{ip->str(), port, ip->v6};
}

inline std::string destination(const settings& s, const endpoint& e) {
  return full_path(s.partition, endpoint_text(e));
}
inline std::string host_mask(const endpoint& e) {
  return e.v6 ? "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" : "255.255.255.255";
}

// --- JSON access -------------------------------------------------------------------

inline std::string str(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return {};
  return std::string(it->value().get_string());
}
inline bool flag(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_bool() && it->value().get_bool();
}
inline std::int64_t number(const json::object& o, std::string_view key, std::int64_t fallback) {
  auto it = o.find(key);
  if (it == o.end()) return fallback;
  if (it->value().is_int64()) return it->value().get_int64();
  if (it->value().is_uint64())
    return static_cast<std::int64_t>(std::min<std::uint64_t>(it->value().get_uint64(), std::numeric_limits<std::int64_t>::max()));
  if (it->value().is_string()) {  // some versions answer numbers as strings
    try {
      return std::stoll(std::string(it->value().get_string()));
    } catch (...) {
      return fallback;
    }
  }
  return fallback;
}
// The items of a collection answer ({"items": [...]}) or of an expanded
// subcollection ({"membersReference": {"items": [...]}}); empty when absent.
inline std::vector<json::object> items(const json::object& o, std::string_view reference = {}) {
  const json::object* at = &o;
  if (!reference.empty()) {
    auto r = o.find(reference);
    if (r == o.end() || !r->value().is_object()) return {};
    at = &r->value().get_object();
  }
  std::vector<json::object> out;
  auto it = at->find("items");
  if (it == at->end() || !it->value().is_array()) return out;
  for (const auto& v : it->value().get_array())
    if (v.is_object()) out.push_back(v.get_object());
  return out;
}

// --- pools and members ---------------------------------------------------------------

struct member {
  endpoint at;
  std::uint32_t ratio = 1;
  std::string path;  // existing members: the fullPath, for the member's URI
};

// What interlook wants: one member per merged target, ratio = weight.
// Throws for a target that is not an IP address (BIG-IP members need one).
template <class Targets>
std::vector<member> desired_members(const Targets& targets) {
  std::map<endpoint, std::uint32_t> merged;
  for (const auto& t : targets) {
    auto ip = parse_address(t.host);
    if (!ip) throw std::runtime_error("target " + t.host + " is not an IP address (BIG-IP pool members need one)");
    if (t.port == 0 || t.port > 65535)
      throw std::runtime_error("target " + t.host + " has no valid port (" + std::to_string(t.port) + ")");
    std::uint32_t w = t.weight == 0 ? 1 : t.weight;
    auto& r = merged[endpoint{ip->str(), t.port, ip->v6}];
    r = std::min<std::uint32_t>(max_ratio, r + w);
  }
  std::vector<member> out;
  for (auto& [at, ratio] : merged) out.push_back(member{at, ratio, {}});
  return out;
}

// A member as BIG-IP answers it.
inline std::optional<member> parse_member(const json::object& item) {
  auto ip = parse_address(str(item, "address"));
  std::string name = str(item, "name");
  if (!ip || name.empty()) return std::nullopt;
  auto sep = ip->v6 ? name.rfind('.') : name.rfind(':');
  if (sep == std::string::npos) return std::nullopt;
  std::string_view digits = std::string_view(name).substr(sep + 1);
  std::uint32_t port = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || port > 65535) return std::nullopt;
  member m;
  m.at = endpoint{ip->str(), port, ip->v6};
  // Out of BIG-IP's range (1..65535) reads as such, never wrapped into it:
  // it then differs from what interlook wants and is rewritten.
  auto ratio = number(item, "ratio", 1);
  m.ratio = ratio <= 0 ? 1 : static_cast<std::uint32_t>(std::min<std::int64_t>(ratio, 0xffffffff));
  m.path = str(item, "fullPath");
  if (m.path.empty()) m.path = full_path(str(item, "partition").empty() ? "Common" : str(item, "partition"), name);
  return m;
}

struct member_changes {
  std::vector<member> add;                                  // desired members not there
  std::vector<member> reweight;                             // existing (path) with the desired ratio
  std::vector<member> remove;                               // existing members not desired
  bool empty() const { return add.empty() && reweight.empty() && remove.empty(); }
};

// Compared by address and port, in no particular order: listing order and
// how a member is named (node name or address) never cause a change.
inline member_changes diff_members(const std::vector<member>& want, const std::vector<member>& have) {
  member_changes c;
  std::map<endpoint, const member*> existing;
  for (const auto& m : have) existing.emplace(m.at, &m);
  for (const auto& w : want) {
    auto it = existing.find(w.at);
    if (it == existing.end()) {
      c.add.push_back(w);
    } else {
      if (it->second->ratio != w.ratio) c.reweight.push_back(member{w.at, w.ratio, it->second->path});
      existing.erase(it);
    }
  }
  for (auto& [at, m] : existing) c.remove.push_back(*m);
  return c;
}

// The name a new member gets: on an existing node when one has the address
// (BIG-IP refuses a second node with one address), else a new node named
// after the address in the partition.
inline std::string new_member_name(const settings& s, const member& m, const std::map<std::string, std::string>& nodes) {
  if (auto it = nodes.find(m.at.address); it != nodes.end()) return it->second + (m.at.v6 ? "." : ":") + std::to_string(m.at.port);
  return full_path(s.partition, endpoint_text(m.at));
}

inline json::object member_body(const settings& s, std::string_view service, const member& m,
                                 const std::map<std::string, std::string>& nodes) {
  json::object o;
  o["name"] = new_member_name(s, m, nodes);
  if (!nodes.contains(m.at.address)) o["address"] = m.at.address;
  o["ratio"] = m.ratio;
  o["description"] = member_description(s, service);
  return o;
}

inline json::object pool_body(const settings& s, std::string_view service, const std::vector<member>& members,
                              const std::map<std::string, std::string>& nodes) {
  json::object o;
  o["name"] = service;
  o["partition"] = s.partition;
  o["description"] = pool_description(s, service);
  o["loadBalancingMode"] = s.lb_mode;
  if (!s.monitor.empty()) o["monitor"] = s.monitor;
  json::array ms;
  for (const auto& m : members) ms.push_back(member_body(s, service, m, nodes));
  o["members"] = std::move(ms);
  return o;
}

// The pool's own attributes that differ from what interlook wants (a PATCH
// body), empty when none do.
inline json::object pool_patch(const settings& s, std::string_view service, const json::object& pool) {
  json::object p;
  auto desc = pool_description(s, service);
  if (str(pool, "description") != desc) p["description"] = desc;
  if (str(pool, "loadBalancingMode") != s.lb_mode) p["loadBalancingMode"] = s.lb_mode;
  if (!s.monitor.empty() && !same_reference(str(pool, "monitor"), s.monitor)) p["monitor"] = s.monitor;
  return p;
}

// --- virtual servers ---------------------------------------------------------------------

inline std::uint16_t service_port(const settings& s, bool tls) { return tls ? s.https_port : s.http_port; }

inline json::object virtual_body(const settings& s, std::string_view service, const endpoint& at) {
  json::object o;
  o["name"] = service;
  o["partition"] = s.partition;
  o["description"] = virtual_description(s, service);
  o["destination"] = destination(s, at);
  o["mask"] = host_mask(at);
  o["ipProtocol"] = "tcp";
  o["pool"] = full_path(s.partition, service);
  o["sourceAddressTranslation"] = json::object{{"type", "automap"}};
  if (!s.tcp_profile.empty()) o["profiles"] = json::array{json::object{{"name", s.tcp_profile}}};
  return o;
}

// The profiles of a virtual server answered with expandSubcollections.
inline std::vector<std::string> profiles_of(const json::object& vs) {
  std::vector<std::string> out;
  for (const auto& p : items(vs, "profilesReference")) {
    auto path = str(p, "fullPath");
    out.push_back(path.empty() ? str(p, "name") : path);
  }
  return out;
}

// The virtual server's attributes that differ from what interlook wants, as
// a PATCH body (a PATCH changes only what it names; the address and its
// mask go together), empty when none do.
inline json::object virtual_patch(const settings& s, std::string_view service, const endpoint& at, const json::object& vs) {
  json::object p;
  auto desc = virtual_description(s, service);
  if (str(vs, "description") != desc) p["description"] = desc;
  auto dest = parse_destination(str(vs, "destination"));
  if (!dest || *dest != at) {
    p["destination"] = destination(s, at);
    p["mask"] = host_mask(at);
  }
  if (str(vs, "ipProtocol") != "tcp") p["ipProtocol"] = "tcp";
  if (!same_reference(str(vs, "pool"), full_path(s.partition, service))) p["pool"] = full_path(s.partition, service);
  std::string snat;
  if (auto it = vs.find("sourceAddressTranslation"); it != vs.end() && it->value().is_object())
    snat = str(it->value().get_object(), "type");
  if (snat != "automap") p["sourceAddressTranslation"] = json::object{{"type", "automap"}};
  if (!s.tcp_profile.empty()) {
    auto profiles = profiles_of(vs);
    bool found = std::any_of(profiles.begin(), profiles.end(), [&](const std::string& x) { return same_reference(x, s.tcp_profile); });
    if (!found) p["profiles"] = json::array{json::object{{"name", s.tcp_profile}}};
  }
  return p;
}

// --- policy rules ---------------------------------------------------------------------------

// DNS aliases as a rule matches them: lower case, sorted, no duplicates.
template <class Names>
std::vector<std::string> host_values(const Names& names) {
  std::set<std::string> out;
  for (const auto& n : names) {
    std::string v(n);
    for (auto& c : v) c = static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
    while (!v.empty() && v.back() == '.') v.pop_back();
    if (!v.empty()) out.insert(std::move(v));
  }
  return {out.begin(), out.end()};
}

// The rule of a service: its host names (HTTP Host header, or the TLS
// ClientHello's server name for TLS services) forward to its pool.
inline json::object rule_body(const settings& s, std::string_view service, bool tls,
                              const std::vector<std::string>& hosts, std::int64_t ordinal) {
  json::array values;
  for (const auto& h : hosts) values.emplace_back(h);
  json::object cond{{"name", "0"}, {"caseInsensitive", true}, {"equals", true}, {"values", std::move(values)}};
  json::object act{{"name", "0"}, {"forward", true}, {"select", true}, {"pool", full_path(s.partition, service)}};
  if (tls) {
    cond["sslExtension"] = true;
    cond["serverName"] = true;
    cond["sslClientHello"] = true;
    act["sslClientHello"] = true;
  } else {
    cond["httpHost"] = true;
    cond["host"] = true;
    cond["request"] = true;
    act["request"] = true;
  }
  json::object rule{{"name", service}, {"description", rule_description(s, service)}, {"ordinal", ordinal}};
  rule["conditions"] = json::array{std::move(cond)};
  rule["actions"] = json::array{std::move(act)};
  return rule;
}

// A rule as answered with expandSubcollections: the same as rule_body would
// write (ordinal aside)?
inline bool same_rule(const settings& s, std::string_view service, bool tls, const std::vector<std::string>& hosts,
                      const json::object& rule) {
  if (str(rule, "description") != rule_description(s, service)) return false;
  auto conds = items(rule, "conditionsReference");
  auto acts = items(rule, "actionsReference");
  if (conds.size() != 1 || acts.size() != 1) return false;
  const auto& c = conds[0];
  const auto& a = acts[0];
  if (tls) {
    if (!flag(c, "sslExtension") || !flag(c, "serverName") || !flag(c, "sslClientHello")) return false;
    if (!flag(a, "sslClientHello")) return false;
  } else {
    if (!flag(c, "httpHost") || !flag(c, "host") || !flag(c, "request")) return false;
    if (!flag(a, "request")) return false;
  }
  if (!flag(c, "equals") || !flag(c, "caseInsensitive") || flag(c, "not")) return false;
  std::vector<std::string> values;
  if (auto it = c.find("values"); it != c.end() && it->value().is_array())
    for (const auto& v : it->value().get_array())
      if (v.is_string()) values.emplace_back(v.get_string());
  if (host_values(values) != hosts) return false;
  return flag(a, "forward") && same_reference(str(a, "pool"), full_path(s.partition, service));
}

// The rules of a policy (answered with expandSubcollections), by name.
inline std::map<std::string, json::object> rules_of(const json::object& policy) {
  std::map<std::string, json::object> out;
  for (auto& r : items(policy, "rulesReference")) out.emplace(str(r, "name"), std::move(r));
  return out;
}

inline std::int64_t next_ordinal(const json::object& policy) {
  std::int64_t next = 0;
  for (const auto& r : items(policy, "rulesReference")) {
    auto o = number(r, "ordinal", 0);
    if (o < std::numeric_limits<std::int64_t>::max()) next = std::max(next, o + 1);
  }
  return next;
}

// A value without what BIG-IP adds about where it sits (selfLink, kind,
// generation, fullPath, lastModified), for comparing a draft with its policy.
inline json::value comparable(const json::value& v) {
  if (v.is_object()) {
    json::object out;
    for (const auto& [k, x] : v.get_object()) {
      if (k == "selfLink" || k == "kind" || k == "generation" || k == "fullPath" || k == "lastModified" ||
          k == "status" || k == "link" || k == "partition" || k == "subPath")
        continue;
      out[k] = comparable(x);
    }
    return out;
  }
  if (v.is_array()) {
    json::array out;
    for (const auto& x : v.get_array()) out.push_back(comparable(x));
    return out;
  }
  return v;
}

// Whether a draft left behind holds only interlook's changes: every rule
// that differs between the draft and the published policy (added, removed
// or changed) carries interlook's description, and the policy's own
// settings are the same. Such a draft is a crashed edit of interlook's and
// may be thrown away; any other draft is someone's work in progress. The
// answer names what is foreign, empty when nothing is.
inline std::vector<std::string> foreign_draft_changes(const settings& s, const json::object& draft,
                                                      const json::object& published) {
  std::vector<std::string> foreign;
  for (std::string_view key : {"strategy", "controls", "requires", "description"}) {
    auto a = draft.find(key);
    auto b = published.find(key);
    json::value va = a == draft.end() ? json::value() : comparable(a->value());
    json::value vb = b == published.end() ? json::value() : comparable(b->value());
    if (va != vb) foreign.push_back(std::string(key));
  }
  auto ours = [&](const std::string& name, const json::object& rule) {
    return str(rule, "description") == rule_description(s, name);
  };
  auto d = rules_of(draft);
  auto p = rules_of(published);
  for (const auto& [name, rule] : d) {
    auto it = p.find(name);
    if (it != p.end() && comparable(rule) == comparable(it->second)) continue;
    if (!ours(name, rule) || (it != p.end() && !ours(name, it->second))) foreign.push_back("rule " + name);
  }
  for (const auto& [name, rule] : p)
    if (!d.contains(name) && !ours(name, rule)) foreign.push_back("rule " + name);
  return foreign;
}

}  // namespace interlook::ext::lb::f5ltm_detail
