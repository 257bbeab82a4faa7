#pragma once
// A simulated F5 BIG-IP iControl REST endpoint, for lb.f5ltm's tests.
//
// No BIG-IP can run here (it is a licensed appliance image), so this serves
// the subset of iControl REST that lb.f5ltm uses, as F5's documentation
// describes it, over HTTP or HTTPS on 127.0.0.1 (tests/http/test_server.hpp):
//
//   - token authentication: POST /mgmt/shared/authn/login {"username",
//     "password", "loginProviderName"} answers {"token": {"token": ...,
//     "timeout": 1200}}; every other request needs X-F5-Auth-Token, and an
//     unknown or expired token gets 401 {"code":401,"message":"X-F5-Auth-Token
//     does not exist.","errorStack":[]} (expire_tokens() expires them all);
//   - errors as F5 writes them: {"code":409,"message":"01020066:3: The
//     requested Pool (/Common/web) already exists in partition Common.",
//     "errorStack":[],"apiError":3}; 404 for a missing object, 409 for a
//     duplicate, 400 for a refused configuration (a virtual server sharing
//     another's destination, a pool in use, a rule naming no pool, a
//     published policy edited directly, a node address taken by another
//     node);
//   - /mgmt/tm/ltm/pool (+ /members), /node, /virtual (profiles as a
//     subcollection), /policy: GET with ?expandSubcollections=true, POST,
//     PATCH (only the fields given), PUT, DELETE, with ~Partition~name URIs;
//     a member created with an address creates its node, as BIG-IP does;
//   - policy drafts: PATCH /policy/~P~name?options=create-draft makes
//     /P/Drafts/name (published policies cannot be edited), rules are added,
//     replaced and deleted in the draft, POST /mgmt/tm/ltm/policy
//     {"command":"publish","name":"/P/Drafts/name"} replaces the published
//     policy and removes the draft;
//   - transactions: POST /mgmt/tm/transaction gives a transId; writes sent
//     with X-F5-REST-Coordination-Id are queued (answered 200) and applied
//     together by PATCH /mgmt/tm/transaction/<id> {"state":"VALIDATING"},
//     all or nothing (a failure answers 400 "transaction failed:..." and
//     leaves the configuration as it was); DELETE drops a transaction.
//
// For tests: every write call is counted by kind ("pool.create",
// "member.delete", "virtual.modify", "rule.create", "policy.publish",
// "transaction.commit", ...), requests are logged, the next matching
// request can be made to fail, and foreign objects can be seeded.

#include "tests/http/test_server.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace f5sim {

namespace json = boost::json;

struct reply {
  int status = 200;
  json::value body;
};

inline reply error(int status, const std::string& message) {
  return {status, json::object{{"code", status}, {"message", message}, {"errorStack", json::array{}}, {"apiError", 3}}};
}

class simulator {
 public:
  struct options {
    std::string username = "admin";
    std::string password = "admin-password";
    std::vector<std::string> partitions = {"Common"};
    const test_server::tls_config* tls = nullptr;
  };

  simulator() : simulator(options{}) {}
  explicit simulator(options o)
      : opts_(std::move(o)),
        server_(test_server::keep_alive([this](const test_server::request& r) { return serve(r); }), opts_.tls) {
    for (const auto& p : opts_.partitions) state_.partitions.insert(p);
  }
  ~simulator() { server_.stop(); }

  std::string url() const { return server_.url(opts_.tls ? "https" : "http"); }
  int max_active_connections() const { return server_.max_active(); }

  // --- seeding (not counted) ----------------------------------------------------------

  void add_partition(const std::string& p) {
    std::lock_guard lock(m_);
    state_.partitions.insert(p);
  }
  void add_node(const std::string& path, const std::string& address) {
    std::lock_guard lock(m_);
    state_.nodes[path] = address;
  }
  // A pool, a virtual server or a published policy as an administrator made
  // it (the body as one would POST it; policies may carry "rules" with
  // "conditions" and "actions").
  reply seed(const std::string& collection, json::object body) {
    std::lock_guard lock(m_);
    if (collection == "policy") {
      policy_rec p;
      std::string partition = str(body, "partition").empty() ? "Common" : str(body, "partition");
      std::string path = "/" + partition + "/" + str(body, "name");
      if (auto it = body.find("rules"); it != body.end() && it->value().is_array())
        for (const auto& r : it->value().get_array()) p.rules.push_back(normalise_rule(r.get_object()));
      body.erase("rules");
      body["fullPath"] = path;
      body["partition"] = partition;
      body["status"] = "published";
      if (!body.contains("strategy")) body["strategy"] = "/Common/first-match";
      p.attrs = std::move(body);
      state_.policies[path] = std::move(p);
      return {200, {}};
    }
    return dispatch(state_, "POST", "/mgmt/tm/ltm/" + collection, {}, body);
  }

  // A draft of a published policy, as an administrator's create-draft makes it.
  void make_draft(const std::string& policy_path) {
    std::lock_guard lock(m_);
    auto uri_path = "/mgmt/tm/ltm/policy/" + uri(policy_path);
    dispatch(state_, "PATCH", uri_path, "options=create-draft", json::object{});
  }
  // Adds or replaces a rule of a draft, as an administrator's edit does.
  void put_rule(const std::string& draft_path, json::object rule) {
    std::lock_guard lock(m_);
    auto& rec = state_.policies.at(draft_path);
    std::string name = str(rule, "name");
    std::erase_if(rec.rules, [&](const json::object& r) { return str(r, "name") == name; });
    rec.rules.push_back(normalise_rule(std::move(rule)));
  }

  void expire_tokens() {
    std::lock_guard lock(m_);
    tokens_.clear();
  }

  // The next `times` requests whose method is `method` and whose path
  // contains `path_part` (is `path_part`, when exact) fail with `status`
  // and F5's error body.
  void fail_next(std::string method, std::string path_part, int status, std::string message, int times = 1,
                 bool exact = false) {
    std::lock_guard lock(m_);
    faults_.push_back({std::move(method), std::move(path_part), status, std::move(message), times, exact});
  }

  // Every request waits this long before it is answered; for tests of
  // concurrency (how many requests are in progress at once).
  void set_delay(std::chrono::milliseconds d) {
    std::lock_guard lock(m_);
    delay_ = d;
  }

  // --- inspection ---------------------------------------------------------------------------

  std::map<std::string, int> writes() {
    std::lock_guard lock(m_);
    return writes_;
  }
  int writes(const std::string& kind) {
    std::lock_guard lock(m_);
    auto it = writes_.find(kind);
    return it == writes_.end() ? 0 : it->second;
  }
  int total_writes() {
    std::lock_guard lock(m_);
    int n = 0;
    for (auto& [k, v] : writes_) n += v;
    return n;
  }
  int logins() {
    std::lock_guard lock(m_);
    return logins_;
  }
  void reset_counts() {
    std::lock_guard lock(m_);
    writes_.clear();
    log_.clear();
  }
  std::vector<std::string> log() {
    std::lock_guard lock(m_);
    return log_;
  }
  // Most requests in progress at once (between request and answer).
  int peak_in_progress() {
    std::lock_guard lock(m_);
    return peak_;
  }

  std::optional<json::object> pool(const std::string& path) {
    std::lock_guard lock(m_);
    auto it = state_.pools.find(path);
    if (it == state_.pools.end()) return std::nullopt;
    return render_pool(path, it->second);
  }
  std::optional<json::object> virtual_server(const std::string& path) {
    std::lock_guard lock(m_);
    auto it = state_.virtuals.find(path);
    if (it == state_.virtuals.end()) return std::nullopt;
    return render_virtual(it->second);
  }
  std::optional<json::object> policy(const std::string& path) {
    std::lock_guard lock(m_);
    auto it = state_.policies.find(path);
    if (it == state_.policies.end()) return std::nullopt;
    return render_policy(path, it->second);
  }
  std::vector<std::string> policies() {
    std::lock_guard lock(m_);
    std::vector<std::string> out;
    for (auto& [k, v] : state_.policies) out.push_back(k);
    return out;
  }
  std::size_t virtual_count() {
    std::lock_guard lock(m_);
    return state_.virtuals.size();
  }
  std::size_t pool_count() {
    std::lock_guard lock(m_);
    return state_.pools.size();
  }
  std::size_t open_transactions() {
    std::lock_guard lock(m_);
    return transactions_.size();
  }

  // Members of a pool as "address:port*ratio", sorted.
  std::vector<std::string> members(const std::string& pool_path) {
    std::lock_guard lock(m_);
    std::vector<std::string> out;
    auto it = state_.pools.find(pool_path);
    if (it == state_.pools.end()) return out;
    for (const auto& m : it->second.members)
      out.push_back(str(m, "address") + (colons(str(m, "address")) > 1 ? "." : ":") + port_of(str(m, "name")) + "*" +
                    std::to_string(m.at("ratio").as_int64()));
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  // --- state ------------------------------------------------------------------------------

  struct pool_rec {
    json::object attrs;
    std::vector<json::object> members;
  };
  struct policy_rec {
    json::object attrs;
    std::vector<json::object> rules;  // each with "conditions" and "actions" arrays
  };
  struct state {
    std::set<std::string> partitions;
    std::map<std::string, std::string> nodes;  // path -> address
    std::map<std::string, pool_rec> pools;
    std::map<std::string, json::object> virtuals;
    std::map<std::string, policy_rec> policies;  // published and drafts
  };
  struct queued {
    std::string method, path, query;
    json::value body;
  };
  struct fault {
    std::string method, path_part;
    int status;
    std::string message;
    int times;
    bool exact;
  };

  static std::string str(const json::object& o, std::string_view k) {
    auto it = o.find(k);
    return it != o.end() && it->value().is_string() ? std::string(it->value().get_string()) : std::string();
  }
  static long colons(std::string_view s) { return std::count(s.begin(), s.end(), ':'); }
  // "10.0.0.1:80" -> "80"; "2001:db8::1.80" -> "80".
  static std::string port_of(const std::string& member_name) {
    auto leaf = member_name.substr(member_name.rfind('/') == std::string::npos ? 0 : member_name.rfind('/') + 1);
    auto sep = colons(leaf) > 1 ? leaf.rfind('.') : leaf.rfind(':');
    return sep == std::string::npos ? std::string() : leaf.substr(sep + 1);
  }
  static std::string node_of(const std::string& member_leaf) {
    auto sep = colons(member_leaf) > 1 ? member_leaf.rfind('.') : member_leaf.rfind(':');
    return sep == std::string::npos ? member_leaf : member_leaf.substr(0, sep);
  }
  // "~Common~web" -> "/Common/web"
  static std::string from_uri(std::string s) {
    std::replace(s.begin(), s.end(), '~', '/');
    return s;
  }
  static std::pair<std::string, std::string> split_path(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == 0 || slash == std::string::npos) return {"Common", path.substr(slash == std::string::npos ? 0 : 1)};
    std::string folder = path.substr(1, slash - 1);
    return {folder, path.substr(slash + 1)};
  }
  // The full path of an object created from a body with name and partition.
  static std::string full_path(const json::object& body, const std::string& fallback_partition = "Common") {
    std::string name = str(body, "name");
    if (!name.empty() && name.front() == '/') return name;
    std::string part = str(body, "partition").empty() ? fallback_partition : str(body, "partition");
    return "/" + part + "/" + name;
  }
  static std::string with_partition(const std::string& ref, const std::string& partition) {
    if (ref.empty() || ref.front() == '/') return ref;
    return "/" + partition + "/" + ref;
  }
  // "/P/10.1.1.1:80" -> "10.1.1.1:80" canonical-ish key (route domain dropped).
  static std::string destination_key(const std::string& dest) {
    std::string leaf = dest.substr(dest.rfind('/') == std::string::npos ? 0 : dest.rfind('/') + 1);
    auto pct = leaf.find('%');
    if (pct != std::string::npos) {
      auto sep = colons(leaf) > 1 ? leaf.rfind('.') : leaf.rfind(':');
      leaf = leaf.substr(0, pct) + leaf.substr(sep);
    }
    return leaf;
  }

  // Conditions and actions as BIG-IP answers them: with its defaults.
  static json::object normalise_rule(json::object r) {
    for (const char* k : {"conditions", "actions"}) {
      json::array out;
      if (auto it = r.find(k); it != r.end() && it->value().is_array()) {
        for (auto v : it->value().get_array()) {
          auto& o = v.as_object();
          if (std::string_view(k) == "conditions") {
            for (const char* d : {"external", "present"})
              if (!o.contains(d)) o[d] = true;
            if (!o.contains("index")) o["index"] = 0;
            if (!o.contains("remote")) o["remote"] = false;
          } else {
            for (const char* d : {"code", "expirySecs", "length", "offset", "port", "status", "timeout", "vlanId"})
              if (!o.contains(d)) o[d] = 0;
          }
          out.push_back(v);
        }
      }
      r[k] = std::move(out);
    }
    if (!r.contains("ordinal")) r["ordinal"] = 0;
    return r;
  }

  json::object render_pool(const std::string& path, const pool_rec& p) const {
    json::object o = p.attrs;
    json::array items;
    for (const auto& m : p.members) items.push_back(m);
    o["membersReference"] = json::object{{"link", "https://localhost/mgmt/tm/ltm/pool/" + uri(path) + "/members"},
                                         {"isSubcollection", true},
                                         {"items", std::move(items)}};
    return o;
  }
  json::object render_virtual(const json::object& v) const {
    json::object o = v;
    json::array items;
    if (auto it = v.find("profiles"); it != v.end())
      for (const auto& p : it->value().get_array()) {
        std::string full = std::string(p.as_string());
        auto [part, name] = split_path(full);
        items.push_back(json::object{{"name", name}, {"partition", part}, {"fullPath", full}, {"context", "all"}});
      }
    o.erase("profiles");
    o["profilesReference"] = json::object{{"isSubcollection", true}, {"items", std::move(items)}};
    return o;
  }
  json::object render_policy(const std::string& path, const policy_rec& p) const {
    json::object o = p.attrs;
    json::array rules;
    for (const auto& r : p.rules) {
      json::object ro;
      for (const auto& [k, v] : r)
        if (k != "conditions" && k != "actions") ro[k] = v;
      ro["selfLink"] = "https://localhost/mgmt/tm/ltm/policy/" + uri(path) + "/rules/" + str(r, "name") + "?ver=15.1.0";
      ro["fullPath"] = str(r, "name");
      ro["generation"] = generation_;
      ro["conditionsReference"] = json::object{{"isSubcollection", true}, {"items", r.at("conditions")}};
      ro["actionsReference"] = json::object{{"isSubcollection", true}, {"items", r.at("actions")}};
      rules.push_back(std::move(ro));
    }
    o["rulesReference"] = json::object{{"isSubcollection", true}, {"items", std::move(rules)}};
    o["selfLink"] = "https://localhost/mgmt/tm/ltm/policy/" + uri(path) + "?ver=15.1.0";
    return o;
  }
  static std::string uri(std::string path) {
    std::replace(path.begin(), path.end(), '/', '~');
    return path;
  }

  // --- the server -------------------------------------------------------------------------

  std::string serve(const test_server::request& r) {
    std::chrono::milliseconds delay{0};
    {
      std::lock_guard lock(m_);
      ++in_progress_;
      peak_ = std::max(peak_, in_progress_);
      delay = delay_;
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    reply rep;
    {
      std::lock_guard lock(m_);
      rep = handle(r);
      --in_progress_;
    }
    std::string body = rep.body.is_null() ? std::string() : json::serialize(rep.body);
    return test_server::response(rep.status, body);
  }

  static std::string kind_of(const std::string& method, const std::string& path, const std::string& query,
                             const json::value& body) {
    auto has = [&](std::string_view s) { return path.find(s) != std::string::npos; };
    std::string verb = method == "POST" ? "create" : method == "DELETE" ? "delete" : "modify";
    if (has("/mgmt/tm/transaction")) return method == "POST" ? "transaction.create" : method == "PATCH" ? "transaction.commit" : "transaction.delete";
    if (has("/members")) return "member." + verb;
    if (has("/mgmt/tm/ltm/pool")) return "pool." + verb;
    if (has("/mgmt/tm/ltm/virtual")) return "virtual." + verb;
    if (has("/rules")) return "rule." + verb;
    if (has("/mgmt/tm/ltm/policy")) {
      if (query.find("create-draft") != std::string::npos) return "policy.create-draft";
      if (method == "POST" && body.is_object() && str(body.get_object(), "command") == "publish") return "policy.publish";
      return "policy." + verb;
    }
    return "other." + verb;
  }

  reply handle(const test_server::request& r) {
    std::string target = r.target;
    std::string path = target, query;
    if (auto q = target.find('?'); q != std::string::npos) {
      path = target.substr(0, q);
      query = target.substr(q + 1);
    }
    log_.push_back(r.method + " " + target);
    json::value body;
    if (!r.body.empty()) {
      boost::system::error_code ec;
      body = json::parse(r.body, ec);
      if (ec) return error(400, "Found invalid JSON body in the request.");
    }
    bool write = r.method != "GET";
    if (write && path != "/mgmt/shared/authn/login") ++writes_[kind_of(r.method, path, query, body)];
    for (auto it = faults_.begin(); it != faults_.end(); ++it) {
      bool match = it->exact ? path == it->path_part : path.find(it->path_part) != std::string::npos;
      if (it->method == r.method && match) {
        reply rep = error(it->status, it->message);
        if (--it->times == 0) faults_.erase(it);
        return rep;
      }
    }
    if (path == "/mgmt/shared/authn/login") {
      if (r.method != "POST" || !body.is_object()) return error(400, "Bad login request");
      auto& b = body.get_object();
      if (str(b, "username") != opts_.username || str(b, "password") != opts_.password)
        return error(401, "Authentication failed.");
      std::string token = "TOKEN" + std::to_string(++token_serial_);
      tokens_.insert(token);
      ++logins_;
      return {200, json::object{{"username", opts_.username},
                                {"loginProviderName", str(b, "loginProviderName")},
                                {"token", json::object{{"token", token},
                                                       {"name", token},
                                                       {"userName", opts_.username},
                                                       {"authProviderName", str(b, "loginProviderName")},
                                                       {"timeout", 1200}}}}};
    }
    if (!tokens_.contains(r.header("X-F5-Auth-Token"))) return error(401, "X-F5-Auth-Token does not exist.");

    // Transactions.
    if (path == "/mgmt/tm/transaction" && r.method == "POST") {
      auto id = ++transaction_serial_ + 1389812350;
      transactions_[id] = {};
      return {200, json::object{{"transId", id},
                                {"state", "STARTED"},
                                {"timeoutSeconds", 120},
                                {"asyncExecution", false},
                                {"validateOnly", false},
                                {"executionTimeout", 300},
                                {"executionTime", 0},
                                {"failureReason", ""},
                                {"kind", "tm:transactionstate"},
                                {"selfLink", "https://localhost/mgmt/tm/transaction/" + std::to_string(id) + "?ver=15.1.0"}}};
    }
    if (path.rfind("/mgmt/tm/transaction/", 0) == 0) {
      std::int64_t id = std::stoll(path.substr(std::string("/mgmt/tm/transaction/").size()));
      auto t = transactions_.find(id);
      if (t == transactions_.end()) return error(404, "Transaction with id " + std::to_string(id) + " not found.");
      if (r.method == "DELETE") {
        transactions_.erase(t);
        return {200, {}};
      }
      if (r.method == "PATCH") {
        if (!body.is_object() || str(body.get_object(), "state") != "VALIDATING")
          return error(400, "Transaction state must be VALIDATING to commit.");
        auto ops = std::move(t->second);
        transactions_.erase(t);
        state next = state_;
        for (const auto& op : ops) {
          reply rep = dispatch(next, op.method, op.path, op.query, op.body);
          if (rep.status >= 400) {
            std::string msg = rep.body.is_object() ? str(rep.body.get_object(), "message") : "";
            return error(400, "transaction failed:" + msg);
          }
        }
        state_ = std::move(next);
        ++generation_;
        return {200, json::object{{"transId", id}, {"state", "COMPLETED"}, {"failureReason", ""}}};
      }
      return {200, json::object{{"transId", id}, {"state", "STARTED"}}};
    }
    if (auto coord = r.header("X-F5-REST-Coordination-Id"); !coord.empty()) {
      auto t = transactions_.find(std::stoll(coord));
      if (t == transactions_.end()) return error(404, "Transaction with id " + coord + " not found.");
      if (!write) return error(400, "GET requests are not allowed in a transaction.");
      t->second.push_back({r.method, path, query, body});
      json::value echo = body.is_null() ? json::value(json::object{}) : body;
      return {200, echo};
    }
    reply rep = dispatch(state_, r.method, path, query, body);
    if (write && rep.status < 300) ++generation_;
    return rep;
  }

  // --- the configuration ---------------------------------------------------------------------

  reply dispatch(state& st, const std::string& method, const std::string& path, const std::string& query,
                 const json::value& body) {
    static const std::string ltm = "/mgmt/tm/ltm/";
    if (path.rfind(ltm, 0) != 0) return error(404, "Public URI path not registered: " + path);
    std::vector<std::string> parts;
    std::string rest = path.substr(ltm.size());
    for (std::size_t start = 0;;) {
      auto slash = rest.find('/', start);
      parts.push_back(rest.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    const json::object empty;
    const json::object& b = body.is_object() ? body.get_object() : empty;
    bool expand = query.find("expandSubcollections=true") != std::string::npos;
    const std::string& coll = parts[0];
    if (coll == "pool") return pools(st, method, parts, b);
    if (coll == "node") {
      if (method != "GET") return error(400, "not simulated");
      json::array items;
      for (const auto& [p, a] : st.nodes) {
        auto [part, name] = split_path(p);
        items.push_back(json::object{{"name", name}, {"partition", part}, {"fullPath", p}, {"address", a}});
      }
      return {200, json::object{{"kind", "tm:ltm:node:nodecollectionstate"}, {"items", std::move(items)}}};
    }
    if (coll == "virtual") return virtuals(st, method, parts, b, expand);
    if (coll == "policy") return policies(st, method, parts, query, b, expand);
    return error(404, "Public URI path not registered: " + path);
  }

  // A member created from `body` in pool `pool_path`; creates its node.
  reply create_member(state& st, const std::string& pool_path, pool_rec& pool, const json::object& body) {
    std::string pool_partition = split_path(pool_path).first;
    std::string full = full_path(body, pool_partition);
    auto [part, leaf] = split_path(full);
    std::string node_name = node_of(leaf);
    std::string port = port_of(leaf);
    if (port.empty()) return error(400, "01070587:3: The requested pool member (" + full + ") has no port.");
    std::string node_path = "/" + part + "/" + node_name;
    std::string address = str(body, "address");
    if (auto n = st.nodes.find(node_path); n != st.nodes.end()) {
      if (!address.empty() && address != n->second)
        return error(400, "01070734:3: Configuration error: node " + node_path + " has address " + n->second);
      address = n->second;
    } else {
      if (address.empty()) address = node_name;  // BIG-IP: a member named after its address
      for (const auto& [p, a] : st.nodes)
        if (a == address)
          return error(409, "01020066:3: The requested Node (" + node_path + ") already exists in partition " + part +
                                ": address " + address + " is node " + p + ".");
      if (!st.partitions.contains(part)) return error(400, "01020036:3: The requested folder (/" + part + ") was not found.");
      st.nodes[node_path] = address;
    }
    for (const auto& m : pool.members)
      if (str(m, "fullPath") == full)
        return error(409, "01020066:3: The requested Pool Member (" + pool_path + " " + full + ") already exists in partition " +
                              pool_partition + ".");
    json::object m{{"kind", "tm:ltm:pool:members:membersstate"},
                   {"name", leaf},
                   {"partition", part},
                   {"fullPath", full},
                   {"address", address},
                   {"ratio", 1},
                   {"monitor", "default"},
                   {"session", "monitor-enabled"},
                   {"state", "up"}};
    if (auto it = body.find("ratio"); it != body.end()) m["ratio"] = it->value().to_number<std::int64_t>();
    if (auto it = body.find("description"); it != body.end()) m["description"] = it->value();
    pool.members.push_back(std::move(m));
    return {200, pool.members.back()};
  }

  reply pools(state& st, const std::string& method, const std::vector<std::string>& parts, const json::object& b) {
    if (parts.size() == 1) {
      if (method == "GET") {
        json::array items;
        for (const auto& [p, rec] : st.pools) items.push_back(render_pool(p, rec));
        return {200, json::object{{"items", std::move(items)}}};
      }
      if (method != "POST") return error(405, "not allowed");
      std::string path = full_path(b);
      auto [part, name] = split_path(path);
      if (name.empty()) return error(400, "The name field is required.");
      if (!st.partitions.contains(part)) return error(400, "01020036:3: The requested folder (/" + part + ") was not found.");
      if (st.pools.contains(path))
        return error(409, "01020066:3: The requested Pool (" + path + ") already exists in partition " + part + ".");
      pool_rec p;
      p.attrs = json::object{{"kind", "tm:ltm:pool:poolstate"}, {"name", name}, {"partition", part}, {"fullPath", path},
                             {"loadBalancingMode", "round-robin"}};
      for (const auto& [k, v] : b)
        if (k != "members" && k != "name" && k != "partition") p.attrs[k] = v;
      if (auto it = b.find("monitor"); it != b.end()) p.attrs["monitor"] = monitor_text(std::string(it->value().as_string()));
      if (auto it = b.find("members"); it != b.end() && it->value().is_array())
        for (const auto& m : it->value().get_array()) {
          reply rep = create_member(st, path, p, m.as_object());
          if (rep.status >= 400) return rep;
        }
      st.pools[path] = p;
      return {200, render_pool(path, p)};
    }
    std::string path = from_uri(parts[1]);
    auto it = st.pools.find(path);
    if (it == st.pools.end()) return error(404, "01020036:3: The requested Pool (" + path + ") was not found.");
    pool_rec& p = it->second;
    if (parts.size() == 2) {
      if (method == "GET") return {200, render_pool(path, p)};
      if (method == "DELETE") {
        for (const auto& [vp, v] : st.virtuals)
          if (str(v, "pool") == path)
            return error(400, "01070265:3: The Pool (" + path + ") cannot be deleted because it is in use by a Virtual Server (" + vp + ").");
        for (const auto& [pp, pol] : st.policies)
          for (const auto& rule : pol.rules)
            for (const auto& a : rule.at("actions").as_array())
              if (str(a.as_object(), "pool") == path)
                return error(400, "01070265:3: The Pool (" + path + ") cannot be deleted because it is in use by a policy (" + pp + ").");
        st.pools.erase(it);
        return {200, {}};
      }
      if (method == "PATCH" || method == "PUT") {
        for (const auto& [k, v] : b) {
          if (k == "members" || k == "name" || k == "partition") continue;
          p.attrs[k] = k == "monitor" ? json::value(monitor_text(std::string(v.as_string()))) : v;
        }
        return {200, render_pool(path, p)};
      }
      return error(405, "not allowed");
    }
    if (parts[2] != "members") return error(404, "not found");
    if (parts.size() == 3) {
      if (method == "GET") return {200, json::object{{"items", render_pool(path, p).at("membersReference").at("items")}}};
      if (method == "POST") return create_member(st, path, p, b);
      return error(405, "not allowed");
    }
    std::string mpath = from_uri(parts[3]);
    auto m = std::find_if(p.members.begin(), p.members.end(), [&](const json::object& x) { return str(x, "fullPath") == mpath; });
    if (m == p.members.end())
      return error(404, "01020036:3: The requested Pool Member (" + path + " " + mpath + ") was not found.");
    if (method == "GET") return {200, *m};
    if (method == "DELETE") {
      p.members.erase(m);
      return {200, {}};
    }
    if (method == "PATCH" || method == "PUT") {
      for (const auto& [k, v] : b)
        if (k == "ratio") (*m)[k] = v.to_number<std::int64_t>();
        else if (k == "description" || k == "monitor" || k == "session" || k == "state") (*m)[k] = v;
      return {200, *m};
    }
    return error(405, "not allowed");
  }

  // BIG-IP answers a monitor with its folder and a trailing space.
  static std::string monitor_text(const std::string& m) {
    std::string out;
    std::string word;
    auto flush = [&] {
      if (word.empty()) return;
      if (word != "and" && word.front() != '/') word = "/Common/" + word;
      out += (out.empty() ? "" : " ") + word;
      word.clear();
    };
    for (char c : m) {
      if (c == ' ') flush();
      else word += c;
    }
    flush();
    return out + " ";
  }

  reply virtuals(state& st, const std::string& method, const std::vector<std::string>& parts, const json::object& b, bool expand) {
    auto check = [&](const std::string& self, const json::object& v) -> std::optional<reply> {
      std::string dest = str(v, "destination");
      if (dest.empty()) return error(400, "01070096:3: A virtual server needs a destination.");
      for (const auto& [p, o] : st.virtuals)
        if (p != self && destination_key(str(o, "destination")) == destination_key(dest))
          return error(400, "01070333:3: Virtual Server " + self +
                                " illegally shares destination address, source address, service port, ip-protocol, and route domain with Virtual Server " +
                                p + ".");
      std::string pool = str(v, "pool");
      if (!pool.empty() && !st.pools.contains(pool)) return error(400, "01070226:3: Pool " + pool + " does not exist.");
      return std::nullopt;
    };
    auto absorb = [&](json::object& v, const json::object& from, const std::string& partition) {
      for (const auto& [k, x] : from) {
        if (k == "name" || k == "partition") continue;
        if (k == "destination") v[k] = with_partition(std::string(x.as_string()), partition);
        else if (k == "pool") v[k] = with_partition(std::string(x.as_string()), partition);
        else if (k == "profiles") {
          json::array names;
          for (const auto& p : x.as_array()) {
            std::string n = p.is_string() ? std::string(p.as_string()) : str(p.as_object(), "name");
            if (n.front() != '/') n = "/" + (p.is_object() && !str(p.as_object(), "partition").empty() ? str(p.as_object(), "partition") : std::string("Common")) + "/" + n;
            names.push_back(json::value(n));
          }
          v[k] = std::move(names);
        } else v[k] = x;
      }
    };
    if (parts.size() == 1) {
      if (method == "GET") {
        json::array items;
        for (const auto& [p, v] : st.virtuals) items.push_back(expand ? render_virtual(v) : strip_profiles(v));
        return {200, json::object{{"kind", "tm:ltm:virtual:virtualcollectionstate"}, {"items", std::move(items)}}};
      }
      if (method != "POST") return error(405, "not allowed");
      std::string path = full_path(b);
      auto [part, name] = split_path(path);
      if (!st.partitions.contains(part)) return error(400, "01020036:3: The requested folder (/" + part + ") was not found.");
      if (st.virtuals.contains(path))
        return error(409, "01020066:3: The requested Virtual Server (" + path + ") already exists in partition " + part + ".");
      json::object v{{"kind", "tm:ltm:virtual:virtualstate"}, {"name", name}, {"partition", part}, {"fullPath", path},
                     {"ipProtocol", "any"}, {"mask", "255.255.255.255"},
                     {"sourceAddressTranslation", json::object{{"type", "none"}}},
                     {"profiles", json::array{"/Common/fastL4"}}};
      absorb(v, b, part);
      if (auto c = check(path, v)) return *c;
      st.virtuals[path] = v;
      return {200, render_virtual(v)};
    }
    std::string path = from_uri(parts[1]);
    auto it = st.virtuals.find(path);
    if (it == st.virtuals.end()) return error(404, "01020036:3: The requested Virtual Server (" + path + ") was not found.");
    if (method == "GET") return {200, expand ? render_virtual(it->second) : strip_profiles(it->second)};
    if (method == "DELETE") {
      st.virtuals.erase(it);
      return {200, {}};
    }
    if (method == "PATCH" || method == "PUT") {
      json::object v = it->second;
      absorb(v, b, split_path(path).first);
      if (auto c = check(path, v)) return *c;
      it->second = v;
      return {200, render_virtual(v)};
    }
    return error(405, "not allowed");
  }
  json::object strip_profiles(json::object v) const {
    v.erase("profiles");
    v["profilesReference"] = json::object{{"isSubcollection", true}};
    return v;
  }

  reply policies(state& st, const std::string& method, const std::vector<std::string>& parts, const std::string& query,
                 const json::object& b, bool expand) {
    (void)expand;
    if (parts.size() == 1) {
      if (method == "GET") {
        json::array items;
        for (const auto& [p, rec] : st.policies) items.push_back(render_policy(p, rec));
        return {200, json::object{{"items", std::move(items)}}};
      }
      if (method == "POST" && str(b, "command") == "publish") {
        std::string draft = str(b, "name");
        if (draft.empty() || draft.front() != '/') draft = "/Common/" + draft;
        auto d = st.policies.find(draft);
        if (d == st.policies.end() || draft.find("/Drafts/") == std::string::npos)
          return error(404, "01020036:3: The requested policy (" + draft + ") was not found.");
        for (const auto& rule : d->second.rules)
          for (const auto& a : rule.at("actions").as_array()) {
            std::string pool = str(a.as_object(), "pool");
            if (!pool.empty() && !st.pools.contains(pool))
              return error(400, "01070712:3: Values (" + pool + ") specified for rule (" + str(rule, "name") +
                                    ") of policy (" + draft + ") do not exist.");
          }
        std::string published = draft;
        published.erase(published.find("/Drafts/"), 7);
        policy_rec rec = d->second;
        auto [part, name] = split_path(published);
        rec.attrs["fullPath"] = published;
        rec.attrs["status"] = "published";
        rec.attrs.erase("subPath");
        st.policies.erase(d);
        st.policies[published] = std::move(rec);
        return {200, json::object{{"command", "publish"}, {"name", draft}}};
      }
      if (method == "POST") {
        std::string path = full_path(b);
        if (path.find("/Drafts/") == std::string::npos)
          return error(400, "01071726:3: Policies can only be created as drafts (Drafts/" + str(b, "name") + ").");
        if (st.policies.contains(path)) return error(409, "01020066:3: The requested policy (" + path + ") already exists.");
        policy_rec rec;
        rec.attrs = b;
        rec.attrs["fullPath"] = path;
        rec.attrs["status"] = "draft";
        st.policies[path] = rec;
        return {200, render_policy(path, rec)};
      }
      return error(405, "not allowed");
    }
    std::string path = from_uri(parts[1]);
    auto it = st.policies.find(path);
    bool draft = path.find("/Drafts/") != std::string::npos;
    if (parts.size() == 2 && method == "PATCH" && query.find("options=create-draft") != std::string::npos) {
      if (it == st.policies.end()) return error(404, "01020036:3: The requested policy (" + path + ") was not found.");
      if (draft) return error(400, "01071714:3: Cannot create a draft of the draft " + path + ".");
      auto [part, name] = split_path(path);
      std::string dpath = "/" + part + "/Drafts/" + name;
      if (st.policies.contains(dpath))
        return error(400, "01071712:3: Cannot create draft " + dpath + ": a draft of policy " + path + " already exists.");
      policy_rec rec = it->second;
      rec.attrs["fullPath"] = dpath;
      rec.attrs["status"] = "draft";
      rec.attrs["subPath"] = "Drafts";
      st.policies[dpath] = std::move(rec);
      return {200, render_policy(dpath, st.policies[dpath])};
    }
    if (it == st.policies.end()) return error(404, "01020036:3: The requested policy (" + path + ") was not found.");
    policy_rec& rec = it->second;
    if (parts.size() == 2) {
      if (method == "GET") return {200, render_policy(path, rec)};
      if (method == "DELETE") {
        st.policies.erase(it);
        return {200, {}};
      }
      if (!draft) return error(400, "01071726:3: Cannot modify the published policy " + path + "; create a draft first.");
      for (const auto& [k, v] : b)
        if (k != "rules" && k != "name" && k != "partition") rec.attrs[k] = v;
      return {200, render_policy(path, rec)};
    }
    if (parts[2] != "rules") return error(404, "not found");
    if (method != "GET" && !draft)
      return error(400, "01071726:3: Cannot modify the published policy " + path + "; create a draft first.");
    if (parts.size() == 3) {
      if (method == "GET") return {200, json::object{{"items", render_policy(path, rec).at("rulesReference").at("items")}}};
      if (method != "POST") return error(405, "not allowed");
      std::string name = str(b, "name");
      for (const auto& r : rec.rules)
        if (str(r, "name") == name) return error(409, "01020066:3: The requested policy rule (" + path + " " + name + ") already exists.");
      rec.rules.push_back(normalise_rule(b));
      return {200, rec.rules.back()};
    }
    std::string name = parts[3];
    auto r = std::find_if(rec.rules.begin(), rec.rules.end(), [&](const json::object& x) { return str(x, "name") == name; });
    if (r == rec.rules.end())
      return error(404, "01020036:3: The requested policy rule (" + path + " " + name + ") was not found.");
    if (method == "GET") return {200, *r};
    if (method == "DELETE") {
      rec.rules.erase(r);
      return {200, {}};
    }
    if (method == "PUT") {
      json::object nb = b;
      nb["name"] = name;
      *r = normalise_rule(nb);
      return {200, *r};
    }
    return error(405, "not allowed");
  }

  options opts_;
  std::mutex m_;
  state state_;
  std::set<std::string> tokens_;
  std::map<std::int64_t, std::vector<queued>> transactions_;
  std::vector<fault> faults_;
  std::map<std::string, int> writes_;
  std::vector<std::string> log_;
  std::chrono::milliseconds delay_{0};
  int in_progress_ = 0, peak_ = 0;
  int logins_ = 0;
  std::int64_t token_serial_ = 0, transaction_serial_ = 0, generation_ = 1;
  test_server::server server_;  // last: stopped first, while the state is still there
};

}  // namespace f5sim
