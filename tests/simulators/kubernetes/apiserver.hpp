#pragma once
// k8s_sim::apiserver: an in-memory Kubernetes API server for tests.
//
// No kube-apiserver (nor etcd) can run on this project's machines, so this
// simulator follows the Kubernetes API conventions instead
// (https://kubernetes.io/docs/reference/using-api/api-concepts/ and
// api-conventions.md), closely enough that a client written against it
// talks to a real API server the same way:
//
// * resources: core/v1 services, pods, nodes and discovery.k8s.io/v1
//   endpointslices, under /api/v1/... and /apis/discovery.k8s.io/v1/...,
//   namespaced (/namespaces/<ns>/<plural>) or across all namespaces;
// * one global, monotonically increasing resourceVersion (etcd's revision):
//   every create, update and delete takes the next one; an update that
//   changes nothing takes none;
// * get: the object with kind and apiVersion; 404 with a Status otherwise;
// * list: <Kind>List with metadata.resourceVersion, items sorted by
//   namespace/name without kind/apiVersion, labelSelector (=, ==, !=,
//   exists, !key, in, notin) and fieldSelector (metadata.name,
//   metadata.namespace); pagination with limit and an opaque continue token
//   that serves the same snapshot (the list's resourceVersion) page after
//   page, or 410 Expired once that version has left the history;
// * watch (?watch=1): a chunked stream, one JSON event per line: ADDED,
//   MODIFIED, DELETED (the object's last state at the deletion's version),
//   BOOKMARK (only with allowWatchBookmarks=true; an object of the kind with
//   only metadata.resourceVersion), ERROR (a Status); from
//   resourceVersion "" or "0": synthetic ADDED events for what exists, then
//   changes; from a version N: every change after N, or HTTP 410 Gone (a
//   Status, reason Expired) when N is older than the bounded event history;
//   a label selector turns an update into ADDED/DELETED when the object
//   starts/stops matching; timeoutSeconds ends the stream cleanly;
// * update of the Service /status subresource (PUT): only status changes;
//   metadata.resourceVersion, when given, must be the current one, else 409
//   Conflict (optimistic concurrency);
// * bearer-token authentication (401 Status otherwise); TLS with a test CA,
//   optionally requiring a client certificate;
// * errors are meta/v1 Status objects with the HTTP status as code.
//
// Hooks for tests: change the token, cut every watch stream (no terminating
// chunk), end watches with an ERROR 410 event, send bookmarks, compact the
// history, fail the next requests of a verb and resource with a status,
// run code before a status update (to make it conflict), and count and wait
// for requests.

#include "tests/http/test_server.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace k8s_sim {

namespace json = boost::json;

using label_map = std::map<std::string, std::string>;

// ---- builders for the objects tests create ------------------------------------------

struct port_spec {
  int port = 80;
  int node_port = 0;    // 0: none
  int target_port = 0;  // 0: same as port
  std::string name;
  std::string protocol = "TCP";
};

inline json::object labels_json(const label_map& m) {
  json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

inline json::object service(const std::string& ns, const std::string& name, const std::string& type, const label_map& labels,
                            const std::vector<port_spec>& ports, const label_map& annotations = {}) {
  json::array ps;
  for (const auto& p : ports) {
    json::object o{{"protocol", p.protocol}, {"port", p.port}, {"targetPort", p.target_port ? p.target_port : p.port}};
    if (!p.name.empty()) o["name"] = p.name;
    if (p.node_port) o["nodePort"] = p.node_port;
    ps.push_back(std::move(o));
  }
  json::object meta{{"name", name}, {"namespace", ns}};
  if (!labels.empty()) meta["labels"] = labels_json(labels);
  if (!annotations.empty()) meta["annotations"] = labels_json(annotations);
  return json::object{{"metadata", std::move(meta)},
                      {"spec", json::object{{"type", type}, {"ports", std::move(ps)}, {"selector", json::object{{"app", name}}}}},
                      {"status", json::object{{"loadBalancer", json::object{}}}}};
}

struct endpoint_spec {
  std::string ip;
  std::string node;                 // "" : no nodeName
  std::optional<bool> ready = true;  // nullopt: no conditions.ready
  std::string pod;                  // targetRef name; "" : none
  bool terminating = false;
};

inline json::object endpoint_slice(const std::string& ns, const std::string& name, const std::string& service_name,
                                   const std::vector<endpoint_spec>& endpoints, int port = 8080, const std::string& address_type = "IPv4") {
  json::array eps;
  for (const auto& e : endpoints) {
    json::object conditions;
    if (e.ready) conditions["ready"] = *e.ready;
    conditions["serving"] = e.ready.value_or(true);
    conditions["terminating"] = e.terminating;
    json::object o{{"addresses", json::array{json::value(e.ip)}}, {"conditions", std::move(conditions)}};
    if (!e.node.empty()) o["nodeName"] = e.node;
    if (!e.pod.empty()) o["targetRef"] = json::object{{"kind", "Pod"}, {"namespace", ns}, {"name", e.pod}};
    eps.push_back(std::move(o));
  }
  json::object meta{{"name", name},
                    {"namespace", ns},
                    {"labels", json::object{{"kubernetes.io/service-name", service_name},
                                            {"endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io"}}}};
  return json::object{{"metadata", std::move(meta)},
                      {"addressType", address_type},
                      {"endpoints", std::move(eps)},
                      {"ports", json::array{json::object{{"name", ""}, {"protocol", "TCP"}, {"port", port}}}}};
}

inline json::object node(const std::string& name, const std::string& internal_ip, const std::string& external_ip = "") {
  json::array addrs;
  if (!internal_ip.empty()) addrs.push_back(json::object{{"type", "InternalIP"}, {"address", internal_ip}});
  if (!external_ip.empty()) addrs.push_back(json::object{{"type", "ExternalIP"}, {"address", external_ip}});
  addrs.push_back(json::object{{"type", "Hostname"}, {"address", name}});
  return json::object{{"metadata", json::object{{"name", name}, {"labels", json::object{{"kubernetes.io/hostname", name}}}}},
                      {"status", json::object{{"addresses", std::move(addrs)},
                                              {"conditions", json::array{json::object{{"type", "Ready"}, {"status", "True"}}}}}}};
}

inline json::object pod(const std::string& ns, const std::string& name, const label_map& labels, const std::string& node_name,
                        const std::string& phase, bool ready) {
  return json::object{
      {"metadata", json::object{{"name", name}, {"namespace", ns}, {"labels", labels_json(labels)}}},
      {"spec", json::object{{"nodeName", node_name}}},
      {"status", json::object{{"phase", phase},
                              {"conditions", json::array{json::object{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}}}};
}

// ---- the server ---------------------------------------------------------------------

struct resource_type {
  std::string plural;
  std::string kind;
  std::string group_version;  // "v1", "discovery.k8s.io/v1"
  bool namespaced;
};

struct request_record {
  std::string method;
  std::string path;
  std::string query;
  std::string verb;      // get, list, watch, update, ... ("" when not routed)
  std::string resource;  // services, services/status, ...
  std::string ns;
  std::string resource_version;  // the resourceVersion parameter
  int status = 0;
  std::string token;  // the bearer token presented
};

class apiserver {
 public:
  struct options {
    std::string token = "sim-token";  // empty: no authentication
    std::size_t history = 1000;       // watch events kept
    bool tls = false;
    std::string cert_file, key_file;
    std::string client_ca_file;  // non-empty: a client certificate is required
  };

  apiserver() : apiserver(options()) {}
  explicit apiserver(options o) : opts_(std::move(o)) {
    types_ = {{"services", "Service", "v1", true},
              {"pods", "Pod", "v1", true},
              {"nodes", "Node", "v1", false},
              {"endpointslices", "EndpointSlice", "discovery.k8s.io/v1", true}};
    if (!opts_.token.empty()) tokens_.insert(opts_.token);
    test_server::tls_config tls{opts_.cert_file, opts_.key_file, opts_.client_ca_file};
    server_ = std::make_unique<test_server::server>([this](test_server::connection& c) { serve_connection(c); },
                                                    opts_.tls ? &tls : nullptr);
  }

  ~apiserver() {
    {
      std::lock_guard lock(m_);
      stopping_ = true;
    }
    cv_.notify_all();
    server_->stop();
  }
  apiserver(const apiserver&) = delete;
  apiserver& operator=(const apiserver&) = delete;

  std::string url() const { return server_->url(opts_.tls ? "https" : "http"); }
  unsigned short port() const { return server_->port(); }
  int tls_failures() const { return server_->tls_failures(); }

  // ---- objects ----

  // Creates or replaces an object (its metadata.name, and namespace for a
  // namespaced resource, say which); returns its new resourceVersion.
  std::string apply(const std::string& resource, json::object obj) {
    std::lock_guard lock(m_);
    const auto& t = type(resource);
    obj["kind"] = t.kind;
    obj["apiVersion"] = t.group_version;
    auto& meta = obj["metadata"].as_object();  // after the inserts, which may move it
    std::string key = object_key(t, meta);
    auto& store = objects_[resource];
    auto it = store.find(key);
    std::optional<json::object> prev;
    if (it != store.end()) {
      prev = it->second;
      meta["uid"] = it->second["metadata"].as_object()["uid"];
      meta["creationTimestamp"] = it->second["metadata"].as_object()["creationTimestamp"];
      meta["resourceVersion"] = it->second["metadata"].as_object()["resourceVersion"];
      if (obj == it->second) return std::string((meta["resourceVersion"]).as_string());  // no change, no new version
    } else {
      meta["uid"] = "00000000-0000-4000-8000-" + pad12(++uids_);
      meta["creationTimestamp"] = "2026-11-25T10:00:00Z";
    }
    meta["resourceVersion"] = std::to_string(++rv_);
    store[key] = obj;
    record(resource, key, std::move(prev), obj);
    return std::to_string(rv_);
  }

  // Deletes an object; false when there is none.
  bool remove(const std::string& resource, const std::string& ns, const std::string& name) {
    std::lock_guard lock(m_);
    const auto& t = type(resource);
    std::string key = t.namespaced ? ns + "/" + name : name;
    auto& store = objects_[resource];
    auto it = store.find(key);
    if (it == store.end()) return false;
    json::object prev = std::move(it->second);
    store.erase(it);
    json::object last = prev;
    last["metadata"].as_object()["resourceVersion"] = std::to_string(++rv_);
    record(resource, key, std::move(prev), std::nullopt, std::move(last));
    return true;
  }

  std::optional<json::object> get(const std::string& resource, const std::string& ns, const std::string& name) {
    std::lock_guard lock(m_);
    const auto& t = type(resource);
    auto& store = objects_[resource];
    auto it = store.find(t.namespaced ? ns + "/" + name : name);
    if (it == store.end()) return std::nullopt;
    return it->second;
  }

  std::uint64_t resource_version() {
    std::lock_guard lock(m_);
    return rv_;
  }

  // ---- hooks ----

  // The bearer token the server accepts (the only one).
  void set_token(std::string t) {
    std::lock_guard lock(m_);
    tokens_ = {std::move(t)};
  }
  // One more accepted token (a rotation's overlap).
  void add_token(std::string t) {
    std::lock_guard lock(m_);
    tokens_.insert(std::move(t));
  }
  // While paused, open watches deliver no events or bookmarks (a slow API
  // server); they still end when cut, expired or compacted past.
  void pause_watches(bool paused) {
    std::lock_guard lock(m_);
    paused_ = paused;
    cv_.notify_all();
  }
  // Closes every open watch stream (of `resource`, or all) abruptly: no
  // terminating chunk, as when a connection breaks.
  void cut_watches(const std::string& resource = "") {
    mark_watches(resource, [](watch_state& w) { w.cut = true; });
  }
  // Ends every open watch with an ERROR event carrying a 410 Status, as the
  // API server does when a watcher falls out of its history.
  void expire_watches(const std::string& resource = "") {
    mark_watches(resource, [](watch_state& w) { w.expire = true; });
  }
  // Sends every watch that allows them a BOOKMARK at the current version.
  void bookmark(const std::string& resource = "") {
    mark_watches(resource, [](watch_state& w) { w.bookmark = true; });
  }
  // Forgets the event history: a watch or continue from any version older
  // than the current one gets 410.
  void compact() {
    std::lock_guard lock(m_);
    history_.clear();
    compacted_ = rv_;
    ++generation_;
    cv_.notify_all();
  }
  // The next `times` requests of `verb` ("list", "watch", "get", "update")
  // on `resource` ("services", "services/status", ...; "" any) fail with
  // this status.
  void fail_next(const std::string& verb, const std::string& resource, int status, int times = 1) {
    std::lock_guard lock(m_);
    failures_.push_back({verb, resource, status, times});
  }
  // Runs before a status update is handled, outside the server's lock (it
  // may change objects, e.g. to make the update conflict).
  void before_status_update(std::function<void(const std::string& ns, const std::string& name)> f) {
    std::lock_guard lock(m_);
    before_status_update_ = std::move(f);
  }

  // ---- observation ----

  std::vector<request_record> requests() {
    std::lock_guard lock(m_);
    return log_;
  }
  int count(const std::string& verb, const std::string& resource, int status = 0) {
    std::lock_guard lock(m_);
    return count_locked(verb, resource, status);
  }
  int bookmarks_sent() {
    std::lock_guard lock(m_);
    return bookmarks_sent_;
  }
  int open_watches(const std::string& resource) {
    std::lock_guard lock(m_);
    int n = 0;
    for (auto* w : watches_)
      if (w->resource == resource) ++n;
    return n;
  }
  // The resourceVersion parameter of the last watch request on `resource`.
  std::string last_watch_version(const std::string& resource) {
    std::lock_guard lock(m_);
    for (auto it = log_.rbegin(); it != log_.rend(); ++it)
      if (it->verb == "watch" && it->resource == resource) return it->resource_version;
    return {};
  }
  // Waits until pred() holds, re-evaluating it after every request and
  // every change; false after the timeout.
  bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::uint64_t seen;
      {
        std::lock_guard lock(m_);
        seen = generation_;
      }
      if (pred()) return true;
      bool changed;
      {
        std::unique_lock lock(m_);
        changed = cv_.wait_until(lock, deadline, [&] { return generation_ != seen; });
      }
      if (!changed) return pred();  // (without the lock: pred takes it)
    }
  }

 private:
  struct event {
    std::uint64_t rv;
    std::string resource;
    std::string key;
    std::optional<json::object> prev;  // before; none for a creation
    std::optional<json::object> cur;   // after; none for a deletion
    std::optional<json::object> last;  // a deletion: the last state at the deletion's version
  };

  struct watch_state {
    std::string resource;
    std::string ns;
    bool cut = false, expire = false, bookmark = false;
  };

  struct injected {
    std::string verb, resource;
    int status;
    int times;
  };

  struct selector {
    struct req {
      std::string key, op;  // exists, !exists, =, !=, in, notin
      std::set<std::string> values;
    };
    std::vector<req> reqs;
    bool matches(const label_map& l) const {
      for (const auto& r : reqs) {
        auto it = l.find(r.key);
        bool has = it != l.end();
        bool in = has && r.values.count(it->second);
        if (r.op == "exists" && !has) return false;
        if (r.op == "!exists" && has) return false;
        if ((r.op == "=" || r.op == "in") && !in) return false;
        if ((r.op == "!=" || r.op == "notin") && in) return false;
      }
      return true;
    }
  };

  struct field_selector {
    std::vector<std::pair<std::string, std::pair<bool, std::string>>> reqs;  // field, (equal?, value)
    bool matches(const json::object& o) const {
      const auto& md = o.at("metadata").as_object();
      for (const auto& [field, test] : reqs) {
        std::string value;
        const char* f = field == "metadata.name" ? "name" : "namespace";
        if (const auto* v = md.if_contains(f); v && v->is_string()) value = std::string(v->get_string());
        if ((value == test.second) != test.first) return false;
      }
      return true;
    }
  };

  struct bad_request {
    int status;
    std::string reason, message;
  };

  static std::string pad12(std::uint64_t n) {
    std::string s = std::to_string(n);
    return std::string(12 - std::min<std::size_t>(12, s.size()), '0') + s;
  }

  const resource_type& type(const std::string& resource) const {
    for (const auto& t : types_)
      if (t.plural == resource) return t;
    throw std::invalid_argument("k8s_sim: unknown resource " + resource);
  }

  static std::string object_key(const resource_type& t, const json::object& meta) {
    std::string name = std::string((meta.at("name").as_string()));
    if (!t.namespaced) return name;
    const auto* ns = meta.if_contains("namespace");
    if (!ns || !ns->is_string()) throw std::invalid_argument("k8s_sim: a " + t.kind + " needs metadata.namespace");
    return std::string(ns->get_string()) + "/" + name;
  }

  static label_map labels_of(const json::object& o) {
    label_map out;
    const auto& md = o.at("metadata").as_object();
    if (const auto* l = md.if_contains("labels"); l && l->is_object())
      for (const auto& [k, v] : l->as_object())
        if (v.is_string()) out.emplace(std::string(k), std::string(v.get_string()));
    return out;
  }

  static std::string namespace_of(const json::object& o) {
    const auto& md = o.at("metadata").as_object();
    const auto* ns = md.if_contains("namespace");
    return ns && ns->is_string() ? std::string(ns->get_string()) : std::string();
  }

  // Called with m_ held.
  void record(const std::string& resource, const std::string& key, std::optional<json::object> prev, std::optional<json::object> cur,
              std::optional<json::object> last = std::nullopt) {
    history_.push_back({rv_, resource, key, std::move(prev), std::move(cur), std::move(last)});
    while (history_.size() > opts_.history) {
      compacted_ = history_.front().rv;
      history_.pop_front();
    }
    ++generation_;
    cv_.notify_all();
  }

  template <class F>
  void mark_watches(const std::string& resource, F f) {
    std::lock_guard lock(m_);
    for (auto* w : watches_)
      if (resource.empty() || w->resource == resource) f(*w);
    cv_.notify_all();
  }

  int count_locked(const std::string& verb, const std::string& resource, int status) const {
    int n = 0;
    for (const auto& r : log_)
      if (r.verb == verb && (resource.empty() || r.resource == resource) && (status == 0 || r.status == status)) ++n;
    return n;
  }

  // ---- HTTP ----

  static std::string reason_phrase(int status) {
    switch (status) {
      case 200: return "OK";
      case 201: return "Created";
      case 400: return "Bad Request";
      case 401: return "Unauthorized";
      case 403: return "Forbidden";
      case 404: return "Not Found";
      case 405: return "Method Not Allowed";
      case 409: return "Conflict";
      case 410: return "Gone";
      case 422: return "Unprocessable Entity";
      case 429: return "Too Many Requests";
      case 500: return "Internal Server Error";
      case 503: return "Service Unavailable";
      default: return "Status";
    }
  }

  static std::string status_reason(int status) {
    switch (status) {
      case 400: return "BadRequest";
      case 401: return "Unauthorized";
      case 403: return "Forbidden";
      case 404: return "NotFound";
      case 405: return "MethodNotAllowed";
      case 409: return "Conflict";
      case 410: return "Expired";
      case 429: return "TooManyRequests";
      case 500: return "InternalError";
      case 503: return "ServiceUnavailable";
      default: return "Unknown";
    }
  }

  static json::object status_object(int code, const std::string& reason, const std::string& message, const json::object* details = nullptr) {
    json::object s{{"kind", "Status"},   {"apiVersion", "v1"}, {"metadata", json::object{}}, {"status", "Failure"},
                   {"message", message}, {"reason", reason},   {"code", code}};
    if (details) s["details"] = *details;
    return s;
  }

  static std::string respond(int status, const json::value& body) {
    std::string text = json::serialize(body);
    return "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(text.size()) + "\r\n\r\n" + text;
  }

  static std::string respond_status(int code, const std::string& reason, const std::string& message, const json::object* details = nullptr) {
    return respond(code, status_object(code, reason, message, details));
  }

  static std::string percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') {
        out += ' ';
      } else if (s[i] == '%' && i + 2 < s.size()) {
        out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else {
        out += s[i];
      }
    }
    return out;
  }

  static std::map<std::string, std::string> parse_query(std::string_view q) {
    std::map<std::string, std::string> out;
    while (!q.empty()) {
      auto amp = q.find('&');
      auto part = q.substr(0, amp);
      auto eq = part.find('=');
      out[percent_decode(part.substr(0, eq))] = eq == std::string_view::npos ? "" : percent_decode(part.substr(eq + 1));
      if (amp == std::string_view::npos) break;
      q.remove_prefix(amp + 1);
    }
    return out;
  }

  static std::string trim(std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return std::string(s);
  }

  static selector parse_selector(const std::string& text) {
    selector sel;
    std::vector<std::string> parts;
    int depth = 0;
    std::string cur;
    for (char c : text) {
      if (c == '(') ++depth;
      if (c == ')') --depth;
      if (c == ',' && depth == 0) {
        parts.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    if (!cur.empty() || !parts.empty()) parts.push_back(cur);
    for (auto p : parts) {
      p = trim(p);
      if (p.empty()) throw bad_request{400, "BadRequest", "unable to parse requirement: found '', expected: identifier"};
      selector::req r;
      if (auto open = p.find('('); open != std::string::npos) {
        auto head = trim(p.substr(0, open));
        auto sp = head.rfind(' ');
        if (sp == std::string::npos || p.back() != ')') throw bad_request{400, "BadRequest", "unable to parse requirement: " + p};
        r.key = trim(head.substr(0, sp));
        r.op = trim(head.substr(sp + 1));
        if (r.op != "in" && r.op != "notin") throw bad_request{400, "BadRequest", "unable to parse requirement: " + p};
        std::string inner = p.substr(open + 1, p.size() - open - 2);
        std::size_t s = 0;
        for (std::size_t i = 0; i <= inner.size(); ++i)
          if (i == inner.size() || inner[i] == ',') {
            r.values.insert(trim(inner.substr(s, i - s)));
            s = i + 1;
          }
      } else if (p[0] == '!') {
        r.key = trim(p.substr(1));
        r.op = "!exists";
      } else if (auto ne = p.find("!="); ne != std::string::npos) {
        r.key = trim(p.substr(0, ne));
        r.op = "!=";
        r.values.insert(trim(p.substr(ne + 2)));
      } else if (auto eq = p.find('='); eq != std::string::npos) {
        r.key = trim(p.substr(0, eq));
        r.op = "=";
        auto v = p.substr(eq + 1);
        if (!v.empty() && v[0] == '=') v = v.substr(1);
        r.values.insert(trim(v));
      } else {
        r.key = p;
        r.op = "exists";
      }
      if (r.key.empty()) throw bad_request{400, "BadRequest", "unable to parse requirement: " + p};
      sel.reqs.push_back(std::move(r));
    }
    return sel;
  }

  static field_selector parse_field_selector(const std::string& text) {
    field_selector fs;
    std::size_t start = 0;
    while (start <= text.size() && !text.empty()) {
      auto comma = text.find(',', start);
      std::string p = trim(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      bool equal = true;
      auto op = p.find("!=");
      std::size_t vlen = 2;
      if (op == std::string::npos) {
        op = p.find("==");
        if (op == std::string::npos) {
          op = p.find('=');
          vlen = 1;
        }
      } else {
        equal = false;
      }
      if (op == std::string::npos) throw bad_request{400, "BadRequest", "invalid field selector: " + p};
      std::string field = trim(p.substr(0, op));
      if (field != "metadata.name" && field != "metadata.namespace")
        throw bad_request{400, "BadRequest", "field label not supported: " + field};
      fs.reqs.push_back({field, {equal, trim(p.substr(op + vlen))}});
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return fs;
  }

  static std::string base64(std::string_view in) {
    static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
      unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) | static_cast<unsigned char>(in[i + 2]);
      out += table[v >> 18];
      out += table[(v >> 12) & 63];
      out += table[(v >> 6) & 63];
      out += table[v & 63];
    }
    if (i < in.size()) {
      unsigned v = static_cast<unsigned char>(in[i]) << 16;
      if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
      out += table[v >> 18];
      out += table[(v >> 12) & 63];
      out += i + 1 < in.size() ? table[(v >> 6) & 63] : '=';
      out += '=';
    }
    return out;
  }

  static std::optional<std::string> unbase64(std::string_view in) {
    auto val = [](char c) -> int {
      if (c >= 'A' && c <= 'Z') return c - 'A';
      if (c >= 'a' && c <= 'z') return c - 'a' + 26;
      if (c >= '0' && c <= '9') return c - '0' + 52;
      if (c == '+') return 62;
      if (c == '/') return 63;
      return -1;
    };
    std::string out;
    unsigned buf = 0;
    int bits = 0;
    for (char c : in) {
      if (c == '=') break;
      int v = val(c);
      if (v < 0) return std::nullopt;
      buf = (buf << 6) | static_cast<unsigned>(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out += static_cast<char>((buf >> bits) & 0xff);
      }
    }
    return out;
  }

  struct route {
    const resource_type* type = nullptr;
    std::string ns, name, subresource;
  };

  // /api/v1/[namespaces/<ns>/]<plural>[/<name>[/<sub>]] and the same under /apis/<group>/<version>.
  std::optional<route> parse_route(const std::string& path) const {
    std::vector<std::string> seg;
    std::size_t start = 1;
    while (start <= path.size()) {
      auto slash = path.find('/', start);
      seg.push_back(path.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    std::string gv;
    std::size_t i;
    if (seg.size() >= 2 && seg[0] == "api" && seg[1] == "v1") {
      gv = "v1";
      i = 2;
    } else if (seg.size() >= 3 && seg[0] == "apis") {
      gv = seg[1] + "/" + seg[2];
      i = 3;
    } else {
      return std::nullopt;
    }
    route r;
    if (seg.size() >= i + 3 && seg[i] == "namespaces") {
      r.ns = seg[i + 1];
      i += 2;
    }
    if (i >= seg.size()) return std::nullopt;
    for (const auto& t : types_)
      if (t.plural == seg[i] && t.group_version == gv) r.type = &t;
    if (!r.type || (!r.type->namespaced && !r.ns.empty())) return std::nullopt;
    if (i + 1 < seg.size()) r.name = seg[i + 1];
    if (i + 2 < seg.size()) r.subresource = seg[i + 2];
    if (i + 3 < seg.size() || (i + 1 < seg.size() && r.name.empty())) return std::nullopt;
    return r;
  }

  void serve_connection(test_server::connection& c) {
    test_server::request r;
    while (c.read(r))
      if (!handle(c, r)) return;
  }

  // False: close the connection.
  bool handle(test_server::connection& c, const test_server::request& req) {
    auto qpos = req.target.find('?');
    std::string path = req.target.substr(0, qpos);
    std::string query = qpos == std::string::npos ? "" : req.target.substr(qpos + 1);
    auto q = parse_query(query);
    request_record rec{req.method, path, query, "", "", "", q.count("resourceVersion") ? q["resourceVersion"] : "", 0, ""};
    if (auto auth = req.header("Authorization"); auth.rfind("Bearer ", 0) == 0) rec.token = auth.substr(7);
    auto rt = parse_route(path);
    bool watch = q.count("watch") && (q["watch"] == "1" || q["watch"] == "true");
    if (rt) {
      rec.resource = rt->type->plural + (rt->subresource.empty() ? "" : "/" + rt->subresource);
      rec.ns = rt->ns;
      if (req.method == "GET") rec.verb = !rt->name.empty() ? "get" : watch ? "watch" : "list";
      else if (req.method == "PUT") rec.verb = "update";
      else if (req.method == "POST") rec.verb = "create";
      else if (req.method == "DELETE") rec.verb = "delete";
      else if (req.method == "PATCH") rec.verb = "patch";
    }

    std::unique_lock lock(m_);
    auto finish = [&](int status, std::string response) {
      rec.status = status;
      log_.push_back(rec);
      ++generation_;
      cv_.notify_all();
      lock.unlock();
      return c.send(response);
    };

    if (!tokens_.empty() && !tokens_.count(rec.token))
      return finish(401, respond_status(401, "Unauthorized", "Unauthorized"));
    if (!rt) return finish(404, respond_status(404, "NotFound", "the server could not find the requested resource"));
    for (auto it = failures_.begin(); it != failures_.end(); ++it)
      if ((it->verb.empty() || it->verb == rec.verb) && (it->resource.empty() || it->resource == rec.resource)) {
        int status = it->status;
        if (--it->times <= 0) failures_.erase(it);
        std::string message = status == 410 ? "too old resource version: " + rec.resource_version + " (" + std::to_string(rv_) + ")"
                              : status == 403 ? rec.resource + " is forbidden: User \"system:serviceaccount:interlook:interlook\" cannot " +
                                                    rec.verb + " resource \"" + rec.resource + "\""
                                              : "injected failure " + std::to_string(status);
        return finish(status, respond_status(status, status_reason(status), message));
      }

    try {
      const auto& t = *rt->type;
      if (req.method == "GET" && rt->name.empty() && watch) {
        rec.status = 200;
        log_.push_back(rec);
        ++generation_;
        cv_.notify_all();
        return serve_watch(c, t, rt->ns, q, lock);
      }
      if (req.method == "GET" && rt->name.empty()) return finish(200, respond(200, list(t, rt->ns, q)));
      if (req.method == "GET" && rt->subresource.empty()) {
        auto& store = objects_[t.plural];
        auto it = store.find(t.namespaced ? rt->ns + "/" + rt->name : rt->name);
        if (it == store.end()) return finish(404, not_found(t, rt->name));
        return finish(200, respond(200, it->second));
      }
      if (req.method == "PUT" && t.plural == "services" && rt->subresource == "status") {
        auto hook = before_status_update_;
        if (hook) {
          lock.unlock();
          hook(rt->ns, rt->name);
          lock.lock();
        }
        return update_status(t, rt->ns, rt->name, req.body, finish);
      }
      return finish(405, respond_status(405, "MethodNotAllowed", req.method + " is not supported on " + rec.resource + " by this simulator"));
    } catch (const bad_request& e) {
      return finish(e.status, respond_status(e.status, e.reason, e.message));
    }
  }

  std::string not_found(const resource_type& t, const std::string& name) const {
    json::object details{{"name", name}, {"kind", t.plural}};
    if (t.group_version != "v1") details["group"] = t.group_version.substr(0, t.group_version.find('/'));
    return respond_status(404, "NotFound", t.plural + " \"" + name + "\" not found", &details);
  }

  template <class Finish>
  bool update_status(const resource_type& t, const std::string& ns, const std::string& name, const std::string& body, Finish& finish) {
    auto& store = objects_[t.plural];
    auto it = store.find(ns + "/" + name);
    if (it == store.end()) return finish(404, not_found(t, name));
    json::error_code ec;
    auto v = json::parse(body, ec);
    if (ec || !v.is_object()) throw bad_request{400, "BadRequest", "the body is not a JSON object"};
    auto& o = v.as_object();
    const auto* md = o.if_contains("metadata");
    if (!md || !md->is_object()) throw bad_request{400, "BadRequest", "metadata is missing"};
    const auto* bname = md->as_object().if_contains("name");
    if (!bname || !bname->is_string() || bname->get_string() != name)
      throw bad_request{400, "BadRequest", "the name of the object (" + (bname && bname->is_string() ? std::string(bname->get_string()) : "") +
                                               ") does not match the name on the URL (" + name + ")"};
    std::string current = std::string((it->second["metadata"].as_object()["resourceVersion"]).as_string());
    if (const auto* brv = md->as_object().if_contains("resourceVersion"); brv && brv->is_string() && !brv->get_string().empty() &&
                                                                         brv->get_string() != current) {
      json::object details{{"name", name}, {"kind", t.plural}};
      return finish(409, respond_status(409, "Conflict",
                                        "Operation cannot be fulfilled on " + t.plural + " \"" + name +
                                            "\": the object has been modified; please apply your changes to the latest version and try again",
                                        &details));
    }
    json::object next = it->second;
    if (const auto* st = o.if_contains("status")) next["status"] = *st;
    else next.erase("status");
    if (next != it->second) {
      json::object prev = it->second;
      next["metadata"].as_object()["resourceVersion"] = std::to_string(++rv_);
      it->second = next;
      record(t.plural, ns + "/" + name, std::move(prev), next);
    }
    return finish(200, respond(200, it->second));
  }

  // The objects of a resource as they were at version `at` (the history
  // holds every change after it).
  std::map<std::string, json::object> state_at(const std::string& resource, std::uint64_t at) {
    auto state = objects_[resource];
    for (auto it = history_.rbegin(); it != history_.rend() && it->rv > at; ++it) {
      if (it->resource != resource) continue;
      if (it->prev) state[it->key] = *it->prev;
      else state.erase(it->key);
    }
    return state;
  }

  json::object list(const resource_type& t, const std::string& ns, std::map<std::string, std::string>& q) {
    selector sel = q.count("labelSelector") ? parse_selector(q["labelSelector"]) : selector{};
    field_selector fs = q.count("fieldSelector") ? parse_field_selector(q["fieldSelector"]) : field_selector{};
    std::size_t limit = 0;
    if (q.count("limit") && !q["limit"].empty()) {
      try {
        limit = std::stoul(q["limit"]);
      } catch (...) {
        throw bad_request{400, "BadRequest", "invalid limit " + q["limit"]};
      }
    }
    std::uint64_t at = rv_;
    std::string start;
    std::map<std::string, json::object> snapshot;
    if (q.count("continue") && !q["continue"].empty()) {
      auto raw = unbase64(q["continue"]);
      json::error_code ec;
      json::value tok;
      if (raw) tok = json::parse(*raw, ec);
      if (!raw || ec || !tok.is_object() || !tok.as_object().contains("rv") || !tok.as_object().contains("start"))
        throw bad_request{400, "BadRequest", "continue key is not valid"};
      at = tok.as_object()["rv"].to_number<std::uint64_t>();
      start = std::string((tok.as_object()["start"]).as_string());
      if (at < compacted_)
        throw bad_request{410, "Expired",
                          "The provided continue parameter is too old to display a consistent list result. You can start a new list "
                          "without the continue parameter, or use the continue token in this response to retrieve the remainder of "
                          "the results. Continuing with the provided token results in an inconsistent list - objects that were "
                          "created, modified, or deleted between the time the first chunk was returned and now may show up in the list."};
      snapshot = state_at(t.plural, at);
    } else {
      snapshot = objects_[t.plural];
    }
    json::array items;
    std::string next_key;
    std::size_t remaining = 0;
    for (auto it = snapshot.lower_bound(start); it != snapshot.end(); ++it) {
      const auto& o = it->second;
      if (!ns.empty() && namespace_of(o) != ns) continue;
      if (!sel.matches(labels_of(o)) || !fs.matches(o)) continue;
      if (limit && items.size() == limit) {
        if (next_key.empty()) next_key = it->first;
        ++remaining;
        continue;
      }
      json::object item = o;
      item.erase("kind");
      item.erase("apiVersion");
      items.push_back(std::move(item));
    }
    json::object md{{"resourceVersion", std::to_string(at)}};
    if (!next_key.empty()) {
      md["continue"] = base64(json::serialize(json::object{{"v", "meta.k8s.io/v1"}, {"rv", at}, {"start", next_key}}));
      md["remainingItemCount"] = remaining;
    }
    return json::object{{"kind", t.kind + "List"}, {"apiVersion", t.group_version}, {"metadata", std::move(md)}, {"items", std::move(items)}};
  }

  static std::string chunk_line(const json::value& ev) { return test_server::chunk(json::serialize(ev) + "\n"); }

  // A watch stream; called with the lock held (and returns having released it).
  bool serve_watch(test_server::connection& c, const resource_type& t, const std::string& ns, std::map<std::string, std::string>& q,
                   std::unique_lock<std::mutex>& lock) {
    auto fail = [&](int status, const std::string& reason, const std::string& message) {
      log_.back().status = status;
      lock.unlock();
      return c.send(respond_status(status, reason, message));
    };
    selector sel;
    field_selector fs;
    try {
      if (q.count("labelSelector")) sel = parse_selector(q["labelSelector"]);
      if (q.count("fieldSelector")) fs = parse_field_selector(q["fieldSelector"]);
    } catch (const bad_request& e) {
      return fail(e.status, e.reason, e.message);
    }
    bool bookmarks = q.count("allowWatchBookmarks") && (q["allowWatchBookmarks"] == "true" || q["allowWatchBookmarks"] == "1");
    long timeout_s = 1800;
    if (q.count("timeoutSeconds") && !q["timeoutSeconds"].empty()) {
      try {
        timeout_s = std::stol(q["timeoutSeconds"]);
      } catch (...) {
        return fail(400, "BadRequest", "invalid timeoutSeconds");
      }
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    std::string rv = q.count("resourceVersion") ? q["resourceVersion"] : "";
    auto matches = [&](const json::object& o) { return (ns.empty() || namespace_of(o) == ns) && sel.matches(labels_of(o)) && fs.matches(o); };

    std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    std::uint64_t cursor;
    if (rv.empty() || rv == "0") {
      for (const auto& [k, o] : objects_[t.plural])
        if (matches(o)) out += chunk_line(json::object{{"type", "ADDED"}, {"object", o}});
      cursor = rv_;
    } else {
      try {
        cursor = std::stoull(rv);
      } catch (...) {
        return fail(400, "BadRequest", "invalid resourceVersion \"" + rv + "\"");
      }
      if (cursor < compacted_) return fail(410, "Expired", "too old resource version: " + rv + " (" + std::to_string(compacted_ + 1) + ")");
    }
    watch_state ws{t.plural, ns};
    watches_.push_back(&ws);
    ++generation_;
    cv_.notify_all();
    struct unregister {
      apiserver& s;
      watch_state& w;
      std::unique_lock<std::mutex>& lock;
      ~unregister() {
        if (!lock.owns_lock()) lock.lock();
        s.watches_.remove(&w);
        ++s.generation_;
        s.cv_.notify_all();
        lock.unlock();
      }
    } guard{*this, ws, lock};

    for (;;) {
      if (!out.empty()) {
        lock.unlock();
        bool sent = c.send(out);
        lock.lock();
        out.clear();
        if (!sent) return false;
      }
      cv_.wait_until(lock, deadline, [&] {
        return stopping_ || ws.cut || ws.expire || cursor < compacted_ || (!paused_ && (ws.bookmark || rv_ > cursor));
      });
      if (stopping_ || ws.cut) {
        lock.unlock();
        c.shutdown();
        return false;
      }
      if (cursor < compacted_) ws.expire = true;  // fell out of the history while connected
      if (ws.expire) {
        out = chunk_line(json::object{{"type", "ERROR"},
                                      {"object", status_object(410, "Expired", "too old resource version: " + std::to_string(cursor) + " (" +
                                                                                   std::to_string(compacted_ + 1) + ")")}}) +
              "0\r\n\r\n";
        lock.unlock();
        return c.send(out);
      }
      if (paused_) {
        if (std::chrono::steady_clock::now() < deadline) continue;
        lock.unlock();
        return c.send("0\r\n\r\n");
      }
      auto first = std::lower_bound(history_.begin(), history_.end(), cursor, [](const event& e, std::uint64_t v) { return e.rv <= v; });
      for (auto it = first; it != history_.end(); ++it) {
        if (it->resource != t.plural) continue;
        bool was = it->prev && matches(*it->prev);
        bool is = it->cur && matches(*it->cur);
        if (it->cur && is) out += chunk_line(json::object{{"type", was ? "MODIFIED" : "ADDED"}, {"object", *it->cur}});
        else if (it->cur && was) out += chunk_line(json::object{{"type", "DELETED"}, {"object", *it->cur}});
        else if (!it->cur && was) out += chunk_line(json::object{{"type", "DELETED"}, {"object", *it->last}});
      }
      cursor = rv_;
      if (ws.bookmark) {
        ws.bookmark = false;
        if (bookmarks) {
          ++bookmarks_sent_;
          ++generation_;
          cv_.notify_all();
        }
        if (bookmarks)
          out += chunk_line(json::object{{"type", "BOOKMARK"},
                                         {"object", json::object{{"kind", t.kind},
                                                                 {"apiVersion", t.group_version},
                                                                 {"metadata", json::object{{"resourceVersion", std::to_string(rv_)}}}}}});
      }
      if (out.empty() && std::chrono::steady_clock::now() >= deadline) {
        lock.unlock();
        return c.send("0\r\n\r\n");  // timeoutSeconds: a clean end
      }
    }
  }

  options opts_;
  std::vector<resource_type> types_;
  std::mutex m_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::set<std::string> tokens_;
  bool paused_ = false;
  int bookmarks_sent_ = 0;
  std::uint64_t rv_ = 1000;
  std::uint64_t compacted_ = 1000;  // a watch or continue from an older version gets 410
  std::uint64_t uids_ = 0;
  std::uint64_t generation_ = 0;  // bumped by every request and change (wait_until)
  std::map<std::string, std::map<std::string, json::object>> objects_;  // resource -> key -> object
  std::deque<event> history_;
  std::list<watch_state*> watches_;
  std::vector<injected> failures_;
  std::function<void(const std::string&, const std::string&)> before_status_update_;
  std::vector<request_record> log_;
  std::unique_ptr<test_server::server> server_;  // last: its threads use the rest
};

}  // namespace k8s_sim
