#pragma once
// lb.f5ltm: puts each service behind an F5 BIG-IP LTM through iControl REST
// (session.hpp: token login, X-F5-Auth-Token, one re-login on a 401).
//
// Concurrent form: up to maxInFlight services in progress at once, as
// coroutines on the extension's thread, over one keep-alive connection
// pool (maxInFlight connections).
//
// updateMode vs (the default): per service, in `partition` P,
//   - a pool /P/<service>: loadBalancingMode, monitorName, one member per
//     target (<ip>:<port>, ratio = the target's weight; a member goes on the
//     existing node of its address when there is one, found with one node
//     listing per service that adds members);
//   - a virtual server /P/<service> on public_ip:httpPort (httpsPort for TLS
//     services), destination /P/<ip>:<port>, mask, TCP, the pool, SNAT
//     automap, and tcpProfile when set.
// updateMode policy: the pool as above, and a rule named <service> in the
// global policy globalHTTPPolicy (match: the HTTP Host header is one of the
// service's aliases) or globalSSLPolicy for TLS services (match: the TLS
// ClientHello's server name), forwarding to the pool. Policies are edited
// the way BIG-IP wants: a draft (PATCH ...?options=create-draft), the rule
// added, replaced or removed in it, then published. interlook never creates
// the global policies: a missing one is an error naming it. Edits of one
// policy are serialised inside interlook (BIG-IP has one draft per policy).
// A draft found before an edit is thrown away when it holds nothing but
// interlook's own rules (an edit interrupted by a crash or a failure), and
// is otherwise someone's work: an error naming it, untouched. A failed
// edit deletes its draft and never publishes: a rule that could not be
// removed leaves the policy published as it was, and the pool in place.
//
// Every add compares before it writes: the pool's attributes, its members
// (by address and port, in any order, ratio 0 read as 1), the virtual
// server's destination (parsed, not a substring), pool, protocol, SNAT and
// profile, the rule's host names (in any order and case) and pool. Only
// what differs is written, with PATCH bodies naming only what changes (a
// new address goes with its mask). An add that finds everything in place
// writes nothing. The writes of one service are one transaction
// (/mgmt/tm/transaction, X-F5-REST-Coordination-Id) when there are several,
// so a service is never left half-built; a policy edit is its own draft.
//
// Ownership: objects carry Go interlook's descriptions ("Pool for <service>
// <objectDescriptionSuffix>", "Virtual Server for ...", "ingress rule for
// ..."). A pool, virtual server or rule of the service's name without it,
// or a virtual server of another name on the service's address and port,
// is an error on that service naming it, and is never changed or deleted
// (a delete leaves such an object alone, with a warning). Nodes are
// BIG-IP's shared objects (created with a member, possibly used by other
// pools): they are left in place.

#include <interlook/config/error.hpp>
#include <interlook/config/fields.hpp>
#include <interlook/core/message.hpp>
#include <interlook/ext/lb/f5ltm/async_mutex.hpp>
#include <interlook/ext/lb/f5ltm/model.hpp>
#include <interlook/ext/lb/f5ltm/session.hpp>
#include <interlook/extension/async_handler.hpp>
#include <interlook/extension/context.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace interlook::ext::lb {

class f5ltm {
 public:
  static constexpr std::string_view name = "lb.f5ltm";
  using update_mode = f5ltm_detail::update_mode;

  struct config {
    std::string httpEndpoint;  // https://bigip.example.com
    std::string username;
    secret password;
    std::string authProvider;  // tmos when a username is set
    secret authToken;
    std::uint16_t httpPort = 80;
    std::uint16_t httpsPort = 443;
    std::string monitorName;
    std::string tcpProfile;
    std::string partition = "Common";
    std::string loadBalancingMode = "least-connections-member";
    update_mode updateMode = update_mode::vs;
    std::string globalHTTPPolicy;
    std::string globalSSLPolicy;
    std::string objectDescriptionSuffix = std::string(f5ltm_detail::default_description_suffix);
    std::string tlsCa;
    bool insecureSkipVerify = false;
    unsigned maxInFlight = 8;

    static constexpr auto fields() {
      return interlook::fields(
          required("httpEndpoint", &config::httpEndpoint), optional("username", &config::username),
          optional("password", &config::password), optional("authProvider", &config::authProvider),
          optional("authToken", &config::authToken), optional("httpPort", &config::httpPort),
          optional("httpsPort", &config::httpsPort), optional("monitorName", &config::monitorName),
          optional("tcpProfile", &config::tcpProfile), optional("partition", &config::partition),
          optional("loadBalancingMode", &config::loadBalancingMode), optional("updateMode", &config::updateMode),
          optional("globalHTTPPolicy", &config::globalHTTPPolicy), optional("globalSSLPolicy", &config::globalSSLPolicy),
          optional("objectDescriptionSuffix", &config::objectDescriptionSuffix), optional("tlsCa", &config::tlsCa),
          optional("insecureSkipVerify", &config::insecureSkipVerify), optional("maxInFlight", &config::maxInFlight));
    }
    void validate() const {
      if (httpEndpoint.empty()) throw invalid_setting("httpEndpoint", "must name the BIG-IP, e.g. https://bigip.example.com");
      if (username.empty() && authToken.empty())
        throw invalid_setting("username", "set username (and password) or authToken: iControl REST needs one");
      if (!username.empty() && password.empty()) throw invalid_setting("password", "is required with username");
      if (httpPort == 0) throw invalid_setting("httpPort", "must be 1..65535");
      if (httpsPort == 0) throw invalid_setting("httpsPort", "must be 1..65535");
      if (!f5ltm_detail::valid_object_name(partition)) throw invalid_setting("partition", "must be a BIG-IP folder name (letters, digits, . _ -)");
      if (loadBalancingMode.empty()) throw invalid_setting("loadBalancingMode", "must not be empty");
      if (objectDescriptionSuffix.empty())
        throw invalid_setting("objectDescriptionSuffix", "must not be empty: it is how interlook recognises its objects");
      if (updateMode == update_mode::policy && globalHTTPPolicy.empty() && globalSSLPolicy.empty())
        throw invalid_setting("updateMode", "policy needs globalHTTPPolicy and/or globalSSLPolicy");
      for (const auto* p : {&globalHTTPPolicy, &globalSSLPolicy})
        if (!p->empty() && !f5ltm_detail::valid_object_name(*p))
          throw invalid_setting(p == &globalHTTPPolicy ? "globalHTTPPolicy" : "globalSSLPolicy",
                                "must be a policy name in partition (letters, digits, . _ -)");
      if (maxInFlight == 0) throw invalid_setting("maxInFlight", "must be at least 1");
    }
  };

  f5ltm(const config& c, extension_context& ctx, boost::asio::any_io_executor ex)
      : cfg_(c), ctx_(ctx), ex_(ex), session_(ex, session_options(c), ctx) {
    s_.partition = c.partition;
    s_.suffix = c.objectDescriptionSuffix;
    s_.lb_mode = c.loadBalancingMode;
    s_.monitor = c.monitorName;
    s_.tcp_profile = c.tcpProfile;
    s_.http_port = c.httpPort;
    s_.https_port = c.httpsPort;
    ctx_.info(session_.describe() + ", updateMode " + std::string(f5ltm_detail::to_string(c.updateMode)) +
              ", partition " + c.partition);
  }

  boost::asio::awaitable<message> handle(message m) {
    std::string failure;
    try {
      if (!f5ltm_detail::valid_object_name(m.service.name)) {
        // Nothing of such a service can exist, so there is nothing to delete.
        if (m.action == action::remove) co_return m;
        throw std::runtime_error("service name \"" + m.service.name +
                                 "\" cannot name a BIG-IP object (letters, digits, '.', '_' and '-' only)");
      }
      if (m.action == action::add || m.action == action::update) {
        if (cfg_.updateMode == update_mode::vs) co_await add_vs(m.service);
        else co_await add_policy(m.service);
      } else if (m.action == action::remove) {
        if (cfg_.updateMode == update_mode::vs) co_await remove_vs(m.service);
        else co_await remove_policy(m.service);
      }
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!failure.empty()) m.error = std::string(name) + ": " + failure;
    co_return m;
  }

  // For tests and logs: logins so far.
  std::uint64_t logins() const noexcept { return session_.logins(); }

 private:
  using call = f5ltm_detail::session::call;
  using json_object = boost::json::object;

  static f5ltm_detail::session_options session_options(const config& c) {
    f5ltm_detail::session_options o;
    o.endpoint = c.httpEndpoint;
    o.username = c.username;
    o.password = c.password.value;
    o.auth_provider = c.authProvider;
    o.auth_token = c.authToken.value;
    o.ca_file = c.tlsCa;
    o.insecure_skip_verify = c.insecureSkipVerify;
    o.max_connections = c.maxInFlight;
    return o;
  }

  // --- paths ------------------------------------------------------------------------

  std::string path(std::string_view object) const { return f5ltm_detail::full_path(s_.partition, object); }
  std::string pool_uri(std::string_view svc) const { return "/mgmt/tm/ltm/pool/" + f5ltm_detail::uri_name(path(svc)); }
  std::string virtual_uri(std::string_view svc) const {
    return "/mgmt/tm/ltm/virtual/" + f5ltm_detail::uri_name(path(svc));
  }
  std::string policy_uri(const std::string& policy_path) const {
    return "/mgmt/tm/ltm/policy/" + f5ltm_detail::uri_name(policy_path);
  }
  std::string draft_path(std::string_view policy) const { return path("Drafts/" + std::string(policy)); }

  // --- reads ------------------------------------------------------------------------

  boost::asio::awaitable<std::optional<json_object>> get_object(std::string target, std::string what) {
    auto v = co_await session_.get(std::move(target), what);
    if (!v) co_return std::nullopt;
    if (!v->is_object()) throw std::runtime_error(what + ": the answer is not a JSON object");
    co_return v->get_object();
  }

  // Address -> node path, for nodes members of the partition may use.
  boost::asio::awaitable<std::map<std::string, std::string>> node_map() {
    std::map<std::string, std::string> out;
    auto v = co_await get_object("/mgmt/tm/ltm/node?$select=name,partition,fullPath,address", "listing nodes");
    if (!v) co_return out;
    for (const auto& n : f5ltm_detail::items(*v)) {
      auto part = f5ltm_detail::str(n, "partition");
      auto addr = f5ltm_detail::str(n, "address");
      if (addr.find('%') != std::string::npos || (part != s_.partition && part != "Common")) continue;
      auto ip = f5ltm_detail::parse_address(addr);
      if (!ip) continue;
      auto full = f5ltm_detail::str(n, "fullPath");
      out.emplace(ip->str(), full.empty() ? f5ltm_detail::full_path(part, f5ltm_detail::str(n, "name")) : full);
    }
    co_return out;
  }

  // Throws when a virtual server other than the service's sends `at`.
  boost::asio::awaitable<void> check_address_free(const std::string& svc, const f5ltm_detail::endpoint& at) {
    auto v = co_await get_object("/mgmt/tm/ltm/virtual?$select=name,partition,fullPath,destination,description",
                                 "listing virtual servers");
    if (!v) co_return;
    for (const auto& vs : f5ltm_detail::items(*v)) {
      auto full = f5ltm_detail::str(vs, "fullPath");
      if (full == path(svc)) continue;
      auto dest = f5ltm_detail::parse_destination(f5ltm_detail::str(vs, "destination"));
      if (dest && *dest == at)
        throw std::runtime_error(f5ltm_detail::display(at) + " is already the destination of virtual server " + full +
                                 " (description \"" + f5ltm_detail::str(vs, "description") +
                                 "\"), which is not this service's: interlook leaves it alone");
    }
  }

  static void require_owned(const std::optional<json_object>& o, std::string_view kind, const std::string& full,
                            const std::string& expected, std::string_view svc) {
    if (!o) return;
    auto d = f5ltm_detail::str(*o, "description");
    if (!f5ltm_detail::owned(d, expected, svc))
      throw std::runtime_error(std::string(kind) + " " + full + " exists and was not created by interlook (description \"" +
                               d + "\", expected \"" + expected + "\"): interlook leaves it alone");
  }

  // --- writes ------------------------------------------------------------------------

  // The service's writes: one call as it is, several as one transaction.
  boost::asio::awaitable<void> apply(const std::string& svc, std::vector<call> writes) {
    if (writes.empty()) co_return;
    std::string summary;
    for (const auto& w : writes) summary += (summary.empty() ? "" : ", ") + w.what;
    ctx_.debug("service " + svc + ": " + summary);
    if (writes.size() == 1) {
      co_await session_.run(std::move(writes.front()));
      co_return;
    }
    auto t = co_await session_.run(call{http::verb::post, "/mgmt/tm/transaction", "{}", "starting a transaction for service " + svc, {}});
    std::string id;
    if (t.is_object()) {
      if (auto it = t.get_object().find("transId"); it != t.get_object().end()) {
        if (it->value().is_int64()) id = std::to_string(it->value().get_int64());
        else if (it->value().is_uint64()) id = std::to_string(it->value().get_uint64());
        else if (it->value().is_string()) id = std::string(it->value().get_string());
      }
    }
    if (id.empty()) throw std::runtime_error("starting a transaction for service " + svc + ": the answer carries no transId");
    std::exception_ptr failure;
    try {
      for (auto& w : writes) {
        w.transaction = id;
        co_await session_.run(std::move(w));
      }
      auto done = co_await session_.run(call{http::verb::patch, "/mgmt/tm/transaction/" + id, R"({"state":"VALIDATING"})",
                                             "committing transaction " + id + " (" + summary + ")", {}});
      std::string state = done.is_object() ? f5ltm_detail::str(done.get_object(), "state") : std::string();
      if (state != "COMPLETED") {
        std::string reason = done.is_object() ? f5ltm_detail::str(done.get_object(), "failureReason") : std::string();
        throw f5ltm_detail::f5_error("committing transaction " + id + " (" + summary + "): state " +
                                         (state.empty() ? "unknown" : state) + (reason.empty() ? "" : ": " + reason),
                                     0);
      }
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      // Nothing of a transaction that was not committed is applied; drop it
      // rather than let it time out.
      try {
        co_await session_.run_unless_missing(call{http::verb::delete_, "/mgmt/tm/transaction/" + id, {}, "dropping transaction " + id, {}});
      } catch (const std::exception& e) {
        ctx_.debug(e.what());
      }
      std::rethrow_exception(failure);
    }
  }

  // The pool's writes: created whole, or its attributes and members changed.
  boost::asio::awaitable<void> plan_pool(const service& s, const std::vector<f5ltm_detail::member>& want,
                                         const std::optional<json_object>& pool, std::vector<call>& writes) {
    const std::string& svc = s.name;
    if (!pool) {
      std::map<std::string, std::string> nodes;
      if (!want.empty()) nodes = co_await node_map();
      writes.push_back(call{http::verb::post, "/mgmt/tm/ltm/pool",
                            boost::json::serialize(f5ltm_detail::pool_body(s_, svc, want, nodes)),
                            "creating pool " + path(svc) + " (" + std::to_string(want.size()) + " members)", {}});
      co_return;
    }
    if (auto p = f5ltm_detail::pool_patch(s_, svc, *pool); !p.empty())
      writes.push_back(call{http::verb::patch, pool_uri(svc), boost::json::serialize(p), "updating pool " + path(svc), {}});
    std::vector<f5ltm_detail::member> have;
    for (const auto& item : f5ltm_detail::items(*pool, "membersReference"))
      if (auto m = f5ltm_detail::parse_member(item)) have.push_back(std::move(*m));
    auto changes = f5ltm_detail::diff_members(want, have);
    std::map<std::string, std::string> nodes;
    if (!changes.add.empty()) nodes = co_await node_map();
    for (const auto& m : changes.add)
      writes.push_back(call{http::verb::post, pool_uri(svc) + "/members",
                            boost::json::serialize(f5ltm_detail::member_body(s_, svc, m, nodes)),
                            "adding member " + f5ltm_detail::display(m.at) + " to pool " + path(svc), {}});
    for (const auto& m : changes.reweight)
      writes.push_back(call{http::verb::patch, pool_uri(svc) + "/members/" + f5ltm_detail::uri_name(m.path),
                            boost::json::serialize(boost::json::object{{"ratio", m.ratio}}),
                            "setting the ratio of member " + f5ltm_detail::display(m.at) + " of pool " + path(svc) +
                                " to " + std::to_string(m.ratio),
                            {}});
    for (const auto& m : changes.remove)
      writes.push_back(call{http::verb::delete_, pool_uri(svc) + "/members/" + f5ltm_detail::uri_name(m.path), {},
                            "removing member " + f5ltm_detail::display(m.at) + " from pool " + path(svc), {}});
  }

  boost::asio::awaitable<std::optional<json_object>> get_pool(const std::string& svc) {
    auto pool = co_await get_object(pool_uri(svc) + "?expandSubcollections=true", "reading pool " + path(svc));
    require_owned(pool, "pool", path(svc), f5ltm_detail::pool_description(s_, svc), svc);
    co_return pool;
  }

  // --- vs mode ------------------------------------------------------------------------

  f5ltm_detail::endpoint vip(const service& s) const {
    if (s.public_ip.empty())
      throw std::runtime_error("service " + s.name + " has no public_ip (put an ipam step before lb.f5ltm)");
    auto ip = f5ltm_detail::parse_address(s.public_ip);
    if (!ip) throw std::runtime_error("public_ip " + s.public_ip + " is not an IP address");
    return f5ltm_detail::endpoint{ip->str(), f5ltm_detail::service_port(s_, s.tls), ip->v6};
  }

  boost::asio::awaitable<void> add_vs(const service& s) {
    const std::string& svc = s.name;
    auto at = vip(s);
    if (s.targets.empty()) throw std::runtime_error("service " + svc + " has no target");
    auto want = f5ltm_detail::desired_members(s.targets);
    auto pool = co_await get_pool(svc);
    auto vs = co_await get_object(virtual_uri(svc) + "?expandSubcollections=true", "reading virtual server " + path(svc));
    require_owned(vs, "virtual server", path(svc), f5ltm_detail::virtual_description(s_, svc), svc);

    std::vector<call> writes;
    co_await plan_pool(s, want, pool, writes);
    if (!vs) {
      co_await check_address_free(svc, at);
      writes.push_back(call{http::verb::post, "/mgmt/tm/ltm/virtual",
                            boost::json::serialize(f5ltm_detail::virtual_body(s_, svc, at)),
                            "creating virtual server " + path(svc) + " on " + f5ltm_detail::display(at), {}});
    } else if (auto p = f5ltm_detail::virtual_patch(s_, svc, at, *vs); !p.empty()) {
      if (p.contains("destination")) co_await check_address_free(svc, at);
      writes.push_back(call{http::verb::patch, virtual_uri(svc), boost::json::serialize(p),
                            "updating virtual server " + path(svc) + " (" + keys(p) + ")", {}});
    }
    co_await apply(svc, std::move(writes));
  }

  boost::asio::awaitable<void> remove_vs(const service& s) {
    const std::string& svc = s.name;
    std::vector<call> writes;
    auto vs = co_await get_object(virtual_uri(svc), "reading virtual server " + path(svc));
    if (vs && leave_alone(*vs, "virtual server", path(svc), f5ltm_detail::virtual_description(s_, svc), svc)) vs.reset();
    auto pool = co_await get_object(pool_uri(svc), "reading pool " + path(svc));
    if (pool && leave_alone(*pool, "pool", path(svc), f5ltm_detail::pool_description(s_, svc), svc)) pool.reset();
    if (vs) writes.push_back(call{http::verb::delete_, virtual_uri(svc), {}, "deleting virtual server " + path(svc), {}});
    if (pool) writes.push_back(call{http::verb::delete_, pool_uri(svc), {}, "deleting pool " + path(svc), {}});
    co_await apply(svc, std::move(writes));
  }

  // A delete finds an object of the service's name that is not interlook's:
  // it is left, with a warning.
  bool leave_alone(const json_object& o, std::string_view kind, const std::string& full, const std::string& expected,
                   std::string_view svc) {
    auto d = f5ltm_detail::str(o, "description");
    if (f5ltm_detail::owned(d, expected, svc)) return false;
    ctx_.warn(std::string(kind) + " " + full + " was not created by interlook (description \"" + d + "\"): not deleted");
    return true;
  }

  static std::vector<call> one(call c) {
    std::vector<call> v;
    v.push_back(std::move(c));
    return v;
  }

  static std::string keys(const json_object& o) {
    std::string out;
    for (const auto& [k, v] : o) out += (out.empty() ? "" : ", ") + std::string(k);
    return out;
  }

  // --- policy mode --------------------------------------------------------------------

  f5ltm_detail::async_mutex& policy_lock(const std::string& policy_path) {
    auto& m = policy_locks_[policy_path];
    if (!m) m = std::make_unique<f5ltm_detail::async_mutex>(ex_);
    return *m;
  }

  const std::string& policy_for(bool tls) const { return tls ? cfg_.globalSSLPolicy : cfg_.globalHTTPPolicy; }
  static std::string_view policy_key(bool tls) { return tls ? "globalSSLPolicy" : "globalHTTPPolicy"; }

  boost::asio::awaitable<std::optional<json_object>> get_policy(const std::string& policy_path) {
    co_return co_await get_object(policy_uri(policy_path) + "?expandSubcollections=true", "reading policy " + policy_path);
  }

  // Edits a published policy through its draft: the draft is made, `edits`
  // are applied to it (their targets relative to the draft's URI), and it is
  // published; on any failure the draft is deleted and nothing is published.
  boost::asio::awaitable<void> edit_policy(const std::string& policy, const json_object& published, std::vector<call> edits) {
    const std::string policy_path = path(policy);
    const std::string draft = draft_path(policy);
    const std::string draft_uri = policy_uri(draft);
    if (auto left = co_await get_policy(draft)) {
      auto foreign = f5ltm_detail::foreign_draft_changes(s_, *left, published);
      if (!foreign.empty()) {
        std::string list;
        for (const auto& f : foreign) list += (list.empty() ? "" : ", ") + f;
        throw std::runtime_error("policy " + policy_path + " has a draft " + draft + " with changes interlook did not make (" +
                                 list + "): publish or delete it; interlook leaves it alone");
      }
      ctx_.info("deleting draft " + draft + ", left behind by an interrupted edit of interlook's");
      co_await session_.run_unless_missing(call{http::verb::delete_, draft_uri, {}, "deleting draft " + draft, {}});
    }
    co_await session_.run(call{http::verb::patch, policy_uri(policy_path) + "?options=create-draft", "{}",
                               "creating draft " + draft + " of policy " + policy_path, {}});
    std::exception_ptr failure;
    try {
      for (auto& e : edits) {
        e.target = draft_uri + e.target;
        co_await session_.run(std::move(e));
      }
      boost::json::object publish{{"command", "publish"}, {"name", draft}};
      co_await session_.run(call{http::verb::post, "/mgmt/tm/ltm/policy", boost::json::serialize(publish),
                                 "publishing draft " + draft, {}});
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      try {
        co_await session_.run_unless_missing(call{http::verb::delete_, draft_uri, {}, "deleting draft " + draft, {}});
      } catch (const std::exception& e) {
        ctx_.warn(std::string(e.what()) + " (it is deleted before the next edit)");
      }
      std::rethrow_exception(failure);
    }
  }

  boost::asio::awaitable<void> ensure_rule(const service& s, const std::vector<std::string>& hosts) {
    const std::string& svc = s.name;
    const std::string& policy = policy_for(s.tls);
    const std::string policy_path = path(policy);
    auto held = co_await policy_lock(policy_path).lock();
    auto pub = co_await get_policy(policy_path);
    if (!pub)
      throw std::runtime_error("the global policy " + policy_path + " (" + std::string(policy_key(s.tls)) +
                               ") does not exist: interlook adds rules to it but does not create it");
    auto rules = f5ltm_detail::rules_of(*pub);
    auto it = rules.find(svc);
    if (it != rules.end()) {
      auto d = f5ltm_detail::str(it->second, "description");
      if (!f5ltm_detail::owned(d, f5ltm_detail::rule_description(s_, svc), svc))
        throw std::runtime_error("policy " + policy_path + " already has a rule " + svc +
                                 " that interlook did not create (description \"" + d + "\"): interlook leaves it alone");
      if (f5ltm_detail::same_rule(s_, svc, s.tls, hosts, it->second)) co_return;
      auto body = f5ltm_detail::rule_body(s_, svc, s.tls, hosts, f5ltm_detail::number(it->second, "ordinal", 0));
      co_await edit_policy(policy, *pub, one(call{http::verb::put, "/rules/" + svc, boost::json::serialize(body),
                                               "replacing rule " + svc + " of policy " + policy_path, {}}));
    } else {
      auto body = f5ltm_detail::rule_body(s_, svc, s.tls, hosts, f5ltm_detail::next_ordinal(*pub));
      co_await edit_policy(policy, *pub, one(call{http::verb::post, "/rules", boost::json::serialize(body),
                                               "adding rule " + svc + " to policy " + policy_path, {}}));
    }
  }

  // Removes the service's rule from `policy` if it is there and ours.
  boost::asio::awaitable<void> drop_rule(const std::string& svc, const std::string& policy) {
    const std::string policy_path = path(policy);
    auto held = co_await policy_lock(policy_path).lock();
    auto pub = co_await get_policy(policy_path);
    if (!pub) co_return;
    auto rules = f5ltm_detail::rules_of(*pub);
    auto it = rules.find(svc);
    if (it == rules.end()) co_return;
    auto d = f5ltm_detail::str(it->second, "description");
    if (!f5ltm_detail::owned(d, f5ltm_detail::rule_description(s_, svc), svc)) {
      ctx_.warn("rule " + svc + " of policy " + policy_path + " was not created by interlook (description \"" + d +
                "\"): not removed");
      co_return;
    }
    co_await edit_policy(policy, *pub, one(call{http::verb::delete_, "/rules/" + svc, {},
                                             "removing rule " + svc + " from policy " + policy_path, {}}));
  }

  boost::asio::awaitable<void> add_policy(const service& s) {
    const std::string& svc = s.name;
    if (s.targets.empty()) throw std::runtime_error("service " + svc + " has no target");
    const std::string& policy = policy_for(s.tls);
    if (policy.empty())
      throw std::runtime_error(std::string(policy_key(s.tls)) + " is not set: updateMode policy cannot route " +
                               (s.tls ? "TLS" : "plain HTTP") + " service " + svc);
    auto hosts = f5ltm_detail::host_values(s.dns_names);
    if (hosts.empty())
      throw std::runtime_error("service " + svc + " has no DNS alias: updateMode policy routes by host name");
    auto want = f5ltm_detail::desired_members(s.targets);
    auto pool = co_await get_pool(svc);
    std::vector<call> writes;
    co_await plan_pool(s, want, pool, writes);
    co_await apply(svc, std::move(writes));
    co_await ensure_rule(s, hosts);
    // A service that changed between TLS and plain keeps no rule in the other policy.
    const std::string& other = policy_for(!s.tls);
    if (!other.empty() && other != policy) co_await drop_rule(svc, other);
  }

  boost::asio::awaitable<void> remove_policy(const service& s) {
    const std::string& svc = s.name;
    // The rules first: a pool a published rule still names cannot go.
    const std::string& first = policy_for(s.tls);
    const std::string& second = policy_for(!s.tls);
    if (!first.empty()) co_await drop_rule(svc, first);
    if (!second.empty() && second != first) co_await drop_rule(svc, second);
    auto pool = co_await get_object(pool_uri(svc), "reading pool " + path(svc));
    if (pool && leave_alone(*pool, "pool", path(svc), f5ltm_detail::pool_description(s_, svc), svc)) co_return;
    if (pool) co_await apply(svc, one(call{http::verb::delete_, pool_uri(svc), {}, "deleting pool " + path(svc), {}}));
  }

  config cfg_;
  extension_context& ctx_;
  boost::asio::any_io_executor ex_;
  f5ltm_detail::settings s_;
  f5ltm_detail::session session_;
  std::map<std::string, std::unique_ptr<f5ltm_detail::async_mutex>> policy_locks_;
};

}  // namespace interlook::ext::lb
