#pragma once
// dns.consul: publishes each service's DNS aliases in a Consul catalog, so
// that Consul's DNS interface answers them with the service's public IP.
//
// Per alias, one external node and one service on it (catalog.hpp has the
// shapes and the ownership marks):
//   node     Node = the alias (lower case, no trailing dot), Address = public_ip,
//            NodeMeta external-node "true", interlook-owner <ownerId>,
//            interlook-service <service name>
//   service  ID = Service = the alias, Address = public_ip, Port 80 (443 when
//            the service is TLS), Meta interlook-owner / interlook-service
// The service's Address is the VIP itself. (Go interlook set it to the alias
// name, so Consul's DNS answered <alias>.service.<domain> with a CNAME to the
// alias, which it could not resolve: no address came back.)
//
// Which names resolve, with Consul's DNS interface on `domain` (consul):
//   <alias>.node.<domain>, <alias>.node.<datacenter>.<domain>
//       A (AAAA for an IPv6 VIP) = public_ip, for every alias: Consul joins
//       all the labels left of "node" into the node name, dots included.
//   <alias>.service.<domain>, <alias>.service.<datacenter>.<domain>,
//   _<alias>._tcp.service.<domain> (SRV: port 80/443)
//       the same address, only for an alias without dots: Consul reads the
//       label left of "service" as the service name and any labels before
//       it as a tag, so www.example.com.service.consul asks for service
//       "com" with tag "www.example" and does not find ours.
//
// Ownership (the extension laws' rule 5): a node is ours only when its
// NodeMeta carries interlook-owner = ownerId and interlook-service = the
// service. Before any write the nodes are read: a node of an alias that
// exists without our marks (someone else's, Go interlook's, or another
// service's) is an error on the service naming the node, its address and its
// owner, and nothing is written for that service (the core retries it).
// A new alias whose service name is already registered on another node (so
// that <alias>.service.<domain> would mix both) is an error too.
//
// Writes go through /v1/txn with check-and-set: a new node is created with
// Node "cas" ModifyIndex 0 (only if it still does not exist), an owned node
// is changed with "cas" on the ModifyIndex it was read with, and removed with
// "delete-cas" likewise; so a node someone else created or changed between
// our read and our write makes Consul roll the transaction back (409, "index
// is stale"): an error, retried, never an overwrite. All the aliases of one
// service go in one transaction (split past Consul's 64 operations).
//
// Per add: GET the service's nodes by NodeMeta (which finds aliases the
// service no longer lists), GET each alias's node; compare; write only what
// differs (a repeated add writes nothing: no deregister/register churn and no
// DNS gap as in Go interlook). Per delete: GET the service's nodes by NodeMeta
// and delete them. Any error (unreachable Consul, 403, a rolled-back
// transaction) is the service's error; nothing is ever deleted because Consul
// could not be read.
//
// Concurrent form: up to maxInFlight services in progress at once on one
// Asio io_context, each a short series of HTTP calls. A batch would have to
// wait for its slowest service, and one Consul transaction for many services
// would roll back all of them for one conflict; per-service transactions
// keep one service's conflict its own.
//
// The ACL token travels only in the X-Consul-Token header (never in a URL, a
// log line or an error: interlook/http scrubs it even from echoed bodies).
// It needs node:write and service:write on the alias names, and node:read
// and service:read to look them up, e.g.
//   node_prefix "" { policy = "write" }  service_prefix "" { policy = "write" }
// (or prefixes matching your aliases).

#include <interlook/config/error.hpp>
#include <interlook/config/fields.hpp>
#include <interlook/core/message.hpp>
#include <interlook/ext/dns/consul/catalog.hpp>
#include <interlook/extension/async_handler.hpp>  // the concurrent form's adapter
#include <interlook/extension/context.hpp>
#include <interlook/http/client.hpp>
#include <interlook/support/duration.hpp>
#include <interlook/support/ip_address.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace interlook::ext::dns {

class consul {
 public:
  static constexpr std::string_view name = "dns.consul";

  struct config {
    std::string url;                    // http://127.0.0.1:8500, https://..., unix:///path
    secret token;                       // ACL token; empty: Consul's anonymous token
    std::string domain = "consul";      // Consul's DNS domain (for logs and the names it answers)
    std::string datacenter;             // empty: the agent's own
    std::string ownerId = "interlook";  // NodeMeta interlook-owner: two daemons, two owners
    std::string tlsCa;
    bool insecureSkipVerify = false;
    unsigned maxInFlight = 8;
    duration timeout = std::chrono::seconds(10);  // one HTTP request

    static constexpr auto fields() {
      return interlook::fields(required("url", &config::url), optional("token", &config::token),
                               optional("domain", &config::domain), optional("datacenter", &config::datacenter),
                               optional("ownerId", &config::ownerId), optional("tlsCa", &config::tlsCa),
                               optional("insecureSkipVerify", &config::insecureSkipVerify),
                               optional("maxInFlight", &config::maxInFlight), optional("timeout", &config::timeout));
    }

    void validate() const {
      try {
        auto ep = http::endpoint::parse(url);
        if (ep.scheme == http::endpoint::scheme_kind::docker_tcp)
          throw invalid_setting("url", "expected http://, https:// or unix://, not tcp://");
      } catch (const http::error& e) {
        throw invalid_setting("url", e.what());
      }
      if (domain.empty() || domain == ".") throw invalid_setting("domain", "must not be empty (Consul's default is consul)");
      for (char c : datacenter)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
          throw invalid_setting("datacenter", "\"" + datacenter + "\" is not a Consul datacenter name");
      if (ownerId.empty()) throw invalid_setting("ownerId", "must not be empty");
      if (ownerId.size() > 512) throw invalid_setting("ownerId", "must be at most 512 characters (a Consul NodeMeta value)");
      if (maxInFlight == 0) throw invalid_setting("maxInFlight", "must be at least 1");
      if (timeout <= duration::zero()) throw invalid_setting("timeout", "must be positive");
      if (!token.value.empty() && token.value.find_first_of("\r\n") != std::string::npos)
        throw invalid_setting("token", "must be one line");
    }
  };

  consul(const config& c, extension_context& ctx, boost::asio::any_io_executor ex)
      : cfg_((c.validate(), c)), ctx_(ctx), client_(std::move(ex), c.url, options(c)) {
    if (!cfg_.token.value.empty()) client_.set_header("X-Consul-Token", cfg_.token.value, true);
    domain_ = cfg_.domain;
    if (!domain_.empty() && domain_.back() == '.') domain_.pop_back();
    if (!domain_.empty() && domain_.front() == '.') domain_.erase(0, 1);
  }

  boost::asio::awaitable<message> handle(message m) {
    std::string failure;
    try {
      if (m.action == action::add)
        co_await publish(m.service);
      else if (m.action == action::remove)
        co_await withdraw(m.service);
    } catch (const std::exception& e) {
      failure = describe_failure(e);
    }
    if (!failure.empty()) m.error = std::string(name) + ": service " + m.service.name + ": " + failure;
    co_return m;
  }

  // The DNS names Consul answers for an alias (as documented above).
  std::vector<std::string> dns_names(const std::string& node) const {
    std::vector<std::string> out{node + ".node." + domain_};
    if (!cfg_.datacenter.empty()) out.push_back(node + ".node." + cfg_.datacenter + "." + domain_);
    if (node.find('.') == std::string::npos) out.push_back(node + ".service." + domain_);
    return out;
  }

  // Requests sent so far: transactions (writes) and reads (tests, metrics).
  std::uint64_t transactions() const noexcept { return txns_.load(std::memory_order_relaxed); }
  std::uint64_t reads() const noexcept { return reads_.load(std::memory_order_relaxed); }

 private:
  using node_record = consul_detail::node_record;
  using service_instance = consul_detail::service_instance;
  using txn_op = consul_detail::txn_op;

  // A name taken by someone else: the service's error, nothing written.
  struct conflict : std::runtime_error {
    using std::runtime_error::runtime_error;
  };
  // A transaction Consul rolled back (409).
  struct rolled_back : std::runtime_error {
    using std::runtime_error::runtime_error;
  };

  static http::client_options options(const config& c) {
    http::client_options o;
    o.tls.ca_file = c.tlsCa;
    o.tls.insecure_skip_verify = c.insecureSkipVerify;
    o.request_timeout = c.timeout;
    o.connect_timeout = std::min<std::chrono::nanoseconds>(c.timeout, std::chrono::seconds(10));
    o.max_connections = std::max<std::size_t>(4, c.maxInFlight);
    return o;
  }

  // ---- the work ----------------------------------------------------------------

  boost::asio::awaitable<void> publish(const service& s) {
    if (s.public_ip.empty())
      throw std::runtime_error("no public_ip to publish (put an ipam step before dns.consul)");
    auto ip = ip_address::parse(s.public_ip);
    if (!ip) throw std::runtime_error("public_ip \"" + s.public_ip + "\" is not an IP address");
    const std::string address = ip->str();
    if (s.name.size() > 512) throw std::runtime_error("the service name is longer than a Consul Meta value (512)");
    std::vector<std::string> nodes;
    for (const auto& alias : s.dns_names) {
      std::string why;
      auto n = consul_detail::node_name(alias, why);
      if (!n) throw std::runtime_error(why);
      if (std::find(nodes.begin(), nodes.end(), *n) == nodes.end()) nodes.push_back(std::move(*n));
    }
    const std::uint32_t port = s.tls ? 443 : 80;
    const auto meta = node_meta(s.name);
    const auto smeta = service_meta(s.name);

    auto owned = (co_await owned_nodes(s.name)).nodes;
    std::vector<std::vector<txn_op>> groups;  // per alias: its operations, kept in one transaction
    std::vector<std::string> conflicts, changed;
    for (const auto& node : nodes) {
      auto current = co_await read_node(node);
      std::vector<txn_op> ops;
      service_instance want{node, node, address, port, smeta};
      if (!current) {
        if (auto taken = co_await service_taken(node, s.name)) {
          conflicts.push_back(*taken);
          continue;
        }
        ops.push_back(consul_detail::node_cas(node, address, meta, 0, cfg_.datacenter));
        ops.push_back(consul_detail::service_set(node, want));
      } else if (!ours(*current, s.name)) {
        conflicts.push_back(describe_foreign(*current));
        continue;
      } else {
        bool node_ok = current->address == address && has_meta(current->meta, meta);
        const auto* svc = current->find_service(node);
        bool svc_ok = svc && svc->service == node && svc->address == address && svc->port == port &&
                      has_meta(svc->meta, smeta);
        if (node_ok && svc_ok) continue;
        if (!svc) {
          if (auto taken = co_await service_taken(node, s.name)) {
            conflicts.push_back(*taken);
            continue;
          }
        }
        // The node's cas also guards the service's set: both or neither.
        auto node_meta_now = current->meta;
        for (const auto& [k, v] : meta) node_meta_now[k] = v;
        ops.push_back(consul_detail::node_cas(node, address, node_ok ? current->meta : node_meta_now,
                                              current->modify_index, cfg_.datacenter));
        if (!svc_ok) ops.push_back(consul_detail::service_set(node, want));
      }
      changed.push_back(node + " -> " + address);
      groups.push_back(std::move(ops));
    }
    if (!conflicts.empty()) {
      std::string text;
      for (std::size_t i = 0; i < conflicts.size(); ++i) text += (i ? "; " : "") + conflicts[i];
      throw conflict(text);
    }
    // Nodes of this service for aliases it no longer lists.
    std::vector<std::string> removed;
    for (const auto& n : owned) {
      if (std::find(nodes.begin(), nodes.end(), n.node) != nodes.end()) continue;
      groups.push_back({consul_detail::node_delete_cas(n.node, n.modify_index, cfg_.datacenter)});
      removed.push_back(n.node);
    }
    if (groups.empty()) co_return;  // as asked already: nothing written
    co_await apply(groups);
    for (const auto& c : changed) ctx_.info("service " + s.name + ": " + c + " (" + dns_names(c.substr(0, c.find(' '))).front() + ")");
    for (const auto& r : removed) ctx_.info("service " + s.name + ": removed " + r + " (no longer an alias)");
  }

  boost::asio::awaitable<void> withdraw(const service& s) {
    auto [owned, filtered] = co_await owned_nodes(s.name);
    if (filtered) {
      // Consul left out nodes the token cannot read: make sure none of them is
      // one of ours before calling the service gone (read_node throws then).
      for (const auto& alias : s.dns_names) {
        std::string why;
        if (auto n = consul_detail::node_name(alias, why)) co_await read_node(*n);
      }
    }
    if (owned.empty()) co_return;  // gone already
    std::vector<std::vector<txn_op>> groups;
    for (const auto& n : owned) groups.push_back({consul_detail::node_delete_cas(n.node, n.modify_index, cfg_.datacenter)});
    co_await apply(groups);
    for (const auto& n : owned) ctx_.info("service " + s.name + ": removed " + n.node);
  }

  // ---- reading -------------------------------------------------------------------

  struct node_list {
    std::vector<node_record> nodes;
    bool filtered = false;  // Consul left out nodes the token cannot read
  };

  // The nodes this owner registered for the service (by NodeMeta).
  boost::asio::awaitable<node_list> owned_nodes(const std::string& service) {
    std::string target = "/v1/catalog/nodes?node-meta=" + http::percent_encode(std::string(consul_detail::meta_owner) + ":" + cfg_.ownerId) +
                         "&node-meta=" + http::percent_encode(std::string(consul_detail::meta_service) + ":" + service);
    auto r = co_await get(std::move(target));
    auto nodes = consul_detail::parse_nodes(r.body);
    // Consul filters already; the check keeps a server that ignores node-meta from
    // handing us someone else's nodes.
    std::erase_if(nodes, [&](const node_record& n) { return !ours(n, service); });
    co_return node_list{std::move(nodes), filtered_by_acl(r)};
  }

  // The node, or nullopt when there is none. A node the token may not read
  // (Consul answers null with X-Consul-Results-Filtered-By-ACLs) is an error:
  // it may be someone else's, or ours.
  boost::asio::awaitable<std::optional<node_record>> read_node(const std::string& node) {
    auto r = co_await get("/v1/catalog/node/" + http::percent_encode(node));
    auto n = consul_detail::parse_node(r.body);
    if (!n && filtered_by_acl(r))
      throw std::runtime_error("Consul at " + client_.url() + " hid node " + node +
                               " from the ACL token (X-Consul-Results-Filtered-By-ACLs); it needs node:read and "
                               "service:read on the alias names");
    co_return n;
  }

  static bool filtered_by_acl(const http::response& r) {
    auto v = r.headers.get("X-Consul-Results-Filtered-By-ACLs");
    return v && (*v == "true" || *v == "True");
  }

  // Why registering service `node` would mix with someone else's instances of
  // that service name, or nullopt when nobody else has it.
  boost::asio::awaitable<std::optional<std::string>> service_taken(const std::string& node, const std::string& service) {
    auto r = co_await get("/v1/catalog/service/" + http::percent_encode(node));
    auto where = consul_detail::parse_service_nodes(r.body);
    std::vector<std::string> others;
    for (const auto& w : where)
      if (!(w.node == node && w.node_owner == cfg_.ownerId && w.node_service == service)) others.push_back(w.node);
    if (others.empty()) co_return std::nullopt;
    std::string list;
    for (std::size_t i = 0; i < others.size() && i < 4; ++i) list += (i ? ", " : "") + others[i];
    if (others.size() > 4) list += ", ...";
    co_return "Consul service " + node + " is already registered on node(s) " + list +
        ", not by this interlook; " + node + ".service." + domain_ + " would answer with both; left alone";
  }

  boost::asio::awaitable<http::response> get(std::string target) {
    reads_.fetch_add(1, std::memory_order_relaxed);
    co_return co_await client_.request(http::request::get(with_dc(std::move(target))));
  }

  // ---- writing -------------------------------------------------------------------

  // The groups' operations in as few transactions as Consul takes (a group is
  // never split).
  boost::asio::awaitable<void> apply(const std::vector<std::vector<txn_op>>& groups) {
    std::vector<txn_op> ops;
    std::size_t begin = 0;
    for (std::size_t g = 0; g < groups.size(); ++g) {
      if (!ops.empty() && ops.size() - begin + groups[g].size() > consul_detail::max_txn_ops) {
        co_await transaction(ops, begin, ops.size());
        begin = ops.size();
      }
      ops.insert(ops.end(), groups[g].begin(), groups[g].end());
    }
    if (begin < ops.size()) co_await transaction(ops, begin, ops.size());
  }

  boost::asio::awaitable<void> transaction(const std::vector<txn_op>& ops, std::size_t begin, std::size_t end) {
    txns_.fetch_add(1, std::memory_order_relaxed);
    std::optional<std::string> rollback;
    try {
      co_await client_.request(http::request::put(with_dc("/v1/txn"), consul_detail::txn_body(ops, begin, end)));
    } catch (const http::error& e) {
      if (e.status() != 409) throw;
      rollback = describe_rollback(e, ops, begin, end);
    }
    if (rollback) throw rolled_back(*rollback);
  }

  // ---- ownership -------------------------------------------------------------------

  consul_detail::meta_map node_meta(const std::string& service) const {
    return {{std::string(consul_detail::meta_external), "true"},
            {std::string(consul_detail::meta_owner), cfg_.ownerId},
            {std::string(consul_detail::meta_service), service}};
  }
  consul_detail::meta_map service_meta(const std::string& service) const {
    return {{std::string(consul_detail::meta_owner), cfg_.ownerId}, {std::string(consul_detail::meta_service), service}};
  }

  bool ours(const node_record& n, const std::string& service) const {
    auto o = n.meta.find(std::string(consul_detail::meta_owner));
    auto s = n.meta.find(std::string(consul_detail::meta_service));
    return o != n.meta.end() && o->second == cfg_.ownerId && s != n.meta.end() && s->second == service;
  }

  static bool has_meta(const consul_detail::meta_map& have, const consul_detail::meta_map& want) {
    for (const auto& [k, v] : want) {
      auto it = have.find(k);
      if (it == have.end() || it->second != v) return false;
    }
    return true;
  }

  // ---- texts ---------------------------------------------------------------------

  std::string describe_foreign(const node_record& n) const {
    auto o = n.meta.find(std::string(consul_detail::meta_owner));
    auto s = n.meta.find(std::string(consul_detail::meta_service));
    std::string who;
    if (o != n.meta.end() || s != n.meta.end())
      who = "belongs to interlook owner \"" + (o != n.meta.end() ? o->second : std::string()) + "\", service \"" +
            (s != n.meta.end() ? s->second : std::string()) + "\"";
    else if (auto e = n.meta.find(std::string(consul_detail::meta_external)); e != n.meta.end() && e->second == "true")
      who = "is an external node not registered by this interlook (no interlook-owner NodeMeta; Go interlook's nodes look so)";
    else
      who = "is not registered by interlook (no interlook-owner NodeMeta)";
    return "Consul node " + n.node + " (address " + n.address + ") " + who + "; left alone";
  }

  std::string describe_rollback(const http::error& e, const std::vector<txn_op>& ops, std::size_t begin,
                                std::size_t end) const {
    return consul_detail::rollback_text(e.body(), ops, begin, end, e.what());
  }

  std::string describe_failure(const std::exception& e) const {
    auto* h = dynamic_cast<const http::error*>(&e);
    if (!h) return e.what();
    const std::string where = "Consul at " + client_.url();
    switch (h->kind()) {
      case http::error_kind::connect:
      case http::error_kind::timeout:
      case http::error_kind::io:
      case http::error_kind::tls:
        return where + " is unreachable: " + e.what();
      case http::error_kind::status:
        if (h->status() == 403) {
          if (h->body().find("ACL not found") != std::string::npos)
            return where + " does not know the ACL token (403 ACL not found; check dns.consul token): " + e.what();
          return where + " denied the request (403: the ACL token lacks a permission; it needs node:read/write and "
                         "service:read/write on the alias names): " + e.what();
        }
        if (h->status() == 401) return where + " requires authentication (401; check dns.consul token): " + e.what();
        return where + ": " + e.what();
      default:
        return where + ": " + e.what();
    }
  }

  std::string with_dc(std::string target) const {
    if (cfg_.datacenter.empty()) return target;
    target += target.find('?') == std::string::npos ? '?' : '&';
    target += "dc=" + http::percent_encode(cfg_.datacenter);
    return target;
  }

  config cfg_;
  extension_context& ctx_;
  http::client client_;
  std::string domain_;
  std::atomic<std::uint64_t> txns_{0};
  std::atomic<std::uint64_t> reads_{0};
};

}  // namespace interlook::ext::dns
