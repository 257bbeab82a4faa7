#pragma once
// The parts of Consul's catalog HTTP API that dns.consul uses, as plain
// functions over JSON text (no I/O, so they are tested on their own):
//
//   GET /v1/catalog/nodes?node-meta=K:V&...   the nodes a service owns
//   GET /v1/catalog/node/<node>               one node and its services ("null": none)
//   GET /v1/catalog/service/<name>            the instances of a service name
//   PUT /v1/txn                               Node and Service operations, atomically
//
// Shapes follow Consul's documentation (website/content/api-docs/catalog.mdx
// and txn.mdx): Node objects carry ID, Node, Address, Datacenter,
// TaggedAddresses, Meta, CreateIndex, ModifyIndex; the node endpoint nests
// services by ID; a rolled-back transaction answers 409 with
// {"Results": null, "Errors": [{"OpIndex": i, "What": "..."}]}.
//
// Ownership: dns.consul marks every node it registers with NodeMeta
//   external-node: "true"             (Consul ESM and others read it: no agent behind it)
//   interlook-owner: <ownerId>
//   interlook-service: <service name>
// and its one service with the same interlook-* Meta. A node without both
// interlook keys is someone else's.

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <interlook/http/url.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace interlook::ext::dns::consul_detail {

inline constexpr std::string_view meta_external = "external-node";
inline constexpr std::string_view meta_owner = "interlook-owner";
inline constexpr std::string_view meta_service = "interlook-service";

// Consul allows at most 64 operations in one transaction (agent/txn_endpoint.go,
// maxTxnOps; newer versions allow 128).
inline constexpr std::size_t max_txn_ops = 64;

using meta_map = std::map<std::string, std::string>;

struct service_instance {
  std::string id;
  std::string service;
  std::string address;
  std::uint32_t port = 0;
  meta_map meta;
};

struct node_record {
  std::string node;
  std::string address;
  meta_map meta;
  std::uint64_t modify_index = 0;
  std::vector<service_instance> services;  // only from GET /v1/catalog/node/<node>

  const service_instance* find_service(std::string_view id) const {
    for (const auto& s : services)
      if (s.id == id) return &s;
    return nullptr;
  }
};

// A node (or service) of a service name on some node: GET /v1/catalog/service/<name>.
struct service_node {
  std::string node;
  std::string service_id;
  std::string node_owner;    // NodeMeta interlook-owner, "" when none
  std::string node_service;  // NodeMeta interlook-service
};

struct txn_error {
  std::size_t op_index = 0;
  std::string what;
};

class bad_reply : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

inline const boost::json::object& as_object(const boost::json::value& v, std::string_view what) {
  if (!v.is_object()) throw bad_reply(std::string(what) + ": expected a JSON object");
  return v.get_object();
}

inline std::string str(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return {};
  return std::string(it->value().get_string());
}

inline std::uint64_t u64(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return 0;
  if (it->value().is_uint64()) return it->value().get_uint64();
  if (it->value().is_int64() && it->value().get_int64() >= 0) return static_cast<std::uint64_t>(it->value().get_int64());
  return 0;
}

inline meta_map meta(const boost::json::object& o, std::string_view key) {
  meta_map out;
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_object()) return out;
  for (const auto& kv : it->value().get_object())
    if (kv.value().is_string()) out.emplace(std::string(kv.key()), std::string(kv.value().get_string()));
  return out;
}

inline boost::json::value parse(std::string_view body, std::string_view what) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec) throw bad_reply(std::string(what) + ": not JSON (" + ec.message() + ")");
  return v;
}

inline node_record node_from(const boost::json::object& n) {
  node_record r;
  r.node = str(n, "Node");
  r.address = str(n, "Address");
  r.meta = meta(n, "Meta");
  r.modify_index = u64(n, "ModifyIndex");
  return r;
}

inline boost::json::object to_object(const meta_map& m) {
  boost::json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

}  // namespace detail

// GET /v1/catalog/node/<node>: the node with its services, or nullopt for "null".
inline std::optional<node_record> parse_node(std::string_view body) {
  auto v = detail::parse(body, "catalog node");
  if (v.is_null()) return std::nullopt;
  const auto& o = detail::as_object(v, "catalog node");
  auto it = o.find("Node");
  if (it == o.end() || it->value().is_null()) return std::nullopt;
  node_record r = detail::node_from(detail::as_object(it->value(), "catalog node.Node"));
  auto s = o.find("Services");
  if (s != o.end() && s->value().is_object()) {
    for (const auto& kv : s->value().get_object()) {
      if (!kv.value().is_object()) continue;
      const auto& so = kv.value().get_object();
      service_instance i;
      i.id = detail::str(so, "ID");
      if (i.id.empty()) i.id = std::string(kv.key());
      i.service = detail::str(so, "Service");
      i.address = detail::str(so, "Address");
      i.port = static_cast<std::uint32_t>(detail::u64(so, "Port"));
      i.meta = detail::meta(so, "Meta");
      r.services.push_back(std::move(i));
    }
  }
  return r;
}

// GET /v1/catalog/nodes: the nodes listed.
inline std::vector<node_record> parse_nodes(std::string_view body) {
  auto v = detail::parse(body, "catalog nodes");
  std::vector<node_record> out;
  if (v.is_null()) return out;
  if (!v.is_array()) throw bad_reply("catalog nodes: expected a JSON array");
  for (const auto& n : v.get_array()) out.push_back(detail::node_from(detail::as_object(n, "catalog nodes[]")));
  return out;
}

// GET /v1/catalog/service/<name>: where instances of the name run.
inline std::vector<service_node> parse_service_nodes(std::string_view body) {
  auto v = detail::parse(body, "catalog service");
  std::vector<service_node> out;
  if (v.is_null()) return out;
  if (!v.is_array()) throw bad_reply("catalog service: expected a JSON array");
  for (const auto& e : v.get_array()) {
    const auto& o = detail::as_object(e, "catalog service[]");
    service_node s;
    s.node = detail::str(o, "Node");
    s.service_id = detail::str(o, "ServiceID");
    auto m = detail::meta(o, "NodeMeta");
    if (auto it = m.find(std::string(meta_owner)); it != m.end()) s.node_owner = it->second;
    if (auto it = m.find(std::string(meta_service)); it != m.end()) s.node_service = it->second;
    out.push_back(std::move(s));
  }
  return out;
}

// The Errors of a rolled-back transaction (409), or of any answer that has them.
inline std::vector<txn_error> parse_txn_errors(std::string_view body) {
  std::vector<txn_error> out;
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return out;
  auto it = v.get_object().find("Errors");
  if (it == v.get_object().end() || !it->value().is_array()) return out;
  for (const auto& e : it->value().get_array()) {
    if (!e.is_object()) continue;
    txn_error t;
    t.op_index = static_cast<std::size_t>(detail::u64(e.get_object(), "OpIndex"));
    t.what = detail::str(e.get_object(), "What");
    out.push_back(std::move(t));
  }
  return out;
}

// ---- transaction operations ---------------------------------------------------

// One operation of a /v1/txn body, as JSON.
struct txn_op {
  boost::json::object json;
  std::string node;  // the node it is about, for messages
};

// Node "cas": with modify_index 0, creates the node only if it does not
// exist; otherwise changes it only if nobody changed it since it was read.
inline txn_op node_cas(const std::string& node, const std::string& address, const meta_map& meta,
                       std::uint64_t modify_index, const std::string& datacenter) {
  boost::json::object n;
  n["Node"] = node;
  n["Address"] = address;
  if (!datacenter.empty()) n["Datacenter"] = datacenter;
  n["Meta"] = detail::to_object(meta);
  n["ModifyIndex"] = modify_index;
  boost::json::object op;
  op["Verb"] = "cas";
  op["Node"] = std::move(n);
  boost::json::object wrapper;
  wrapper["Node"] = std::move(op);
  return {std::move(wrapper), node};
}

// Node "delete-cas": deletes the node (and its services and checks) only if
// nobody changed it since it was read.
inline txn_op node_delete_cas(const std::string& node, std::uint64_t modify_index, const std::string& datacenter) {
  boost::json::object n;
  n["Node"] = node;
  if (!datacenter.empty()) n["Datacenter"] = datacenter;
  n["ModifyIndex"] = modify_index;
  boost::json::object op;
  op["Verb"] = "delete-cas";
  op["Node"] = std::move(n);
  boost::json::object wrapper;
  wrapper["Node"] = std::move(op);
  return {std::move(wrapper), node};
}

// Service "set" on a node.
inline txn_op service_set(const std::string& node, const service_instance& s) {
  boost::json::object svc;
  svc["ID"] = s.id;
  svc["Service"] = s.service;
  svc["Address"] = s.address;
  svc["Port"] = s.port;
  svc["Meta"] = detail::to_object(s.meta);
  boost::json::object op;
  op["Verb"] = "set";
  op["Node"] = node;
  op["Service"] = std::move(svc);
  boost::json::object wrapper;
  wrapper["Service"] = std::move(op);
  return {std::move(wrapper), node};
}

inline std::string txn_body(const std::vector<txn_op>& ops, std::size_t begin, std::size_t end) {
  boost::json::array a;
  a.reserve(end - begin);
  for (std::size_t i = begin; i < end; ++i) a.push_back(ops[i].json);
  return boost::json::serialize(a);
}

// ---- URLs ------------------------------------------------------------------------


// ---- names -----------------------------------------------------------------------

// What a rolled-back transaction of ops[begin, end) did, from the answer's
// Errors (each names its operation by index within the transaction);
// `fallback` describes the failure when the answer lists none.
inline std::string rollback_text(std::string_view body, const std::vector<txn_op>& ops, std::size_t begin,
                                 std::size_t end, std::string_view fallback) {
  auto errors = parse_txn_errors(body);
  if (errors.empty()) return "Consul rolled the transaction back: " + std::string(fallback);
  std::string text = "Consul rolled the transaction back, nothing changed:";
  bool denied = false, stale = false;
  for (std::size_t i = 0; i < errors.size(); ++i) {
    const auto& err = errors[i];
    std::string node = err.op_index < end - begin ? ops[begin + err.op_index].node : std::string("?");
    text += (i ? "; " : " ") + ("node " + node + ": " + err.what);
    denied = denied || err.what.find("ermission denied") != std::string::npos;
    stale = stale || err.what.find("index is stale") != std::string::npos;
  }
  if (denied) text += " (the ACL token needs node:write and service:write on the alias names)";
  if (stale) text += " (someone else changed or created the node since it was read; retried)";
  return text;
}

// An alias as a Consul node name: lower case, no trailing dot, DNS labels of
// letters, digits, '-' and '_' (1..63 bytes each, 253 in all). nullopt and a
// reason otherwise.
inline std::optional<std::string> node_name(std::string_view alias, std::string& why) {
  std::string n;
  n.reserve(alias.size());
  for (char c : alias) n += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  if (!n.empty() && n.back() == '.') n.pop_back();
  if (n.empty()) {
    why = "an empty DNS alias";
    return std::nullopt;
  }
  if (n.size() > 253) {
    why = "DNS alias \"" + std::string(alias) + "\" is longer than 253 characters";
    return std::nullopt;
  }
  std::size_t label = 0;
  for (char c : n) {
    if (c == '.') {
      if (label == 0) {
        why = "DNS alias \"" + std::string(alias) + "\" has an empty label";
        return std::nullopt;
      }
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) {
      why = "DNS alias \"" + std::string(alias) + "\" has a character Consul's DNS cannot serve ('" +
            std::string(1, c) + "')";
      return std::nullopt;
    }
    if (++label > 63) {
      why = "DNS alias \"" + std::string(alias) + "\" has a label longer than 63 characters";
      return std::nullopt;
    }
  }
  if (label == 0) {  // "a.." less its root dot
    why = "DNS alias \"" + std::string(alias) + "\" has an empty label";
    return std::nullopt;
  }
  return n;
}

}  // namespace interlook::ext::dns::consul_detail
