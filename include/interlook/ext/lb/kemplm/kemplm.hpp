#pragma once
// lb.kemplm: puts each service behind a Kemp LoadMaster through its /access/
// API (api.hpp: basic authentication or an API key, every answer's stat
// checked; TLS verified against tlsCa or the system's CAs unless
// insecureSkipVerify, where Go interlook never verified).
//
// Concurrent form: up to maxInFlight services in progress at once, as
// coroutines on the extension's thread.
//
// Per service: a virtual service on public_ip:httpPort/tcp (httpsPort for
// TLS services) with nickname = the service name, type gen, health check
// icmp (as Go interlook made them) and weighted round robin (schedule wrr,
// so that the weights count), and one real server per target (address,
// port, weight = the target's weight, at most 65535; non_local=1, as Go).
//
// add reads the LoadMaster (listvs, and showvs for the service's own
// virtual service), then writes only what differs: addvs when the virtual
// service is missing, modvs with the parameters that differ, addrs for
// missing real servers, modrs for a different weight, delrs for real servers
// that are no longer targets. An add that finds everything in place writes
// nothing. The API has no transactions: a failed command is an error on the
// service (the core retries, and the next add converges from what is
// there); nothing is left half-built silently.
//
// Ownership: the nickname is the mark. A virtual service whose nickname is
// the service's name is interlook's for that service; any other on the
// service's address and port is an error naming it, and is never changed
// or deleted. delete removes the service's virtual services (its real
// servers go with them); an add also removes the service's virtual
// services left on another address or port (after its public_ip or TLS
// flag changed). So keep nicknames that equal a service name for
// interlook's virtual services.

#include <interlook/config/error.hpp>
#include <interlook/config/fields.hpp>
#include <interlook/core/message.hpp>
#include <interlook/ext/lb/kemplm/api.hpp>
#include <interlook/extension/async_handler.hpp>
#include <interlook/extension/context.hpp>
#include <interlook/support/ip_address.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace interlook::ext::lb {

class kemplm {
 public:
  static constexpr std::string_view name = "lb.kemplm";

  struct config {
    std::string endpoint;  // https://loadmaster.example.com
    std::string username;
    secret password;
    secret apiKey;
    std::uint16_t httpPort = 80;
    std::uint16_t httpsPort = 443;
    std::string tlsCa;
    bool insecureSkipVerify = false;
    unsigned maxInFlight = 4;

    static constexpr auto fields() {
      return interlook::fields(required("endpoint", &config::endpoint), optional("username", &config::username),
                               optional("password", &config::password), optional("apiKey", &config::apiKey),
                               optional("httpPort", &config::httpPort), optional("httpsPort", &config::httpsPort),
                               optional("tlsCa", &config::tlsCa), optional("insecureSkipVerify", &config::insecureSkipVerify),
                               optional("maxInFlight", &config::maxInFlight));
    }
    void validate() const {
      if (endpoint.empty()) throw invalid_setting("endpoint", "must name the LoadMaster, e.g. https://lm.example.com");
      if (apiKey.empty() && username.empty()) throw invalid_setting("username", "set username and password, or apiKey");
      if (apiKey.empty() && password.empty()) throw invalid_setting("password", "is required with username");
      if (httpPort == 0) throw invalid_setting("httpPort", "must be 1..65535");
      if (httpsPort == 0) throw invalid_setting("httpsPort", "must be 1..65535");
      if (maxInFlight == 0) throw invalid_setting("maxInFlight", "must be at least 1");
    }
  };

  static constexpr std::string_view vs_type = "gen";
  static constexpr std::string_view check_type = "icmp";
  static constexpr std::string_view schedule = "wrr";
  static constexpr std::uint32_t max_weight = 65535;

  kemplm(const config& c, extension_context& ctx, boost::asio::any_io_executor ex)
      : cfg_(c), ctx_(ctx), api_(ex, api_options(c)) {
    ctx_.info(api_.describe());
  }

  boost::asio::awaitable<message> handle(message m) {
    std::string failure;
    try {
      if (m.service.name.empty()) throw std::runtime_error("a service without a name");
      if (m.action == action::add || m.action == action::update) co_await add(m.service);
      else if (m.action == action::remove) co_await remove(m.service);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!failure.empty()) m.error = std::string(name) + ": " + failure;
    co_return m;
  }

 private:
  using vs_t = kemplm_detail::virtual_service;
  using params = kemplm_detail::parameters;

  struct place {
    std::string address;  // canonical
    std::uint32_t port = 0;
    bool v6 = false;
    std::string text() const { return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port) + "/tcp"; }
    bool is(const vs_t& v) const { return v.address == address && v.port == port && v.protocol == "tcp"; }
  };

  static kemplm_detail::api_options api_options(const config& c) {
    kemplm_detail::api_options o;
    o.endpoint = c.endpoint;
    o.username = c.username;
    o.password = c.password.value;
    o.api_key = c.apiKey.value;
    o.ca_file = c.tlsCa;
    o.insecure_skip_verify = c.insecureSkipVerify;
    o.max_connections = c.maxInFlight;
    return o;
  }

  place where(const service& s) const {
    if (s.public_ip.empty())
      throw std::runtime_error("service " + s.name + " has no public_ip (put an ipam step before lb.kemplm)");
    auto ip = ip_address::parse(s.public_ip);
    if (!ip) throw std::runtime_error("public_ip " + s.public_ip + " is not an IP address");
    return place{ip->str(), s.tls ? cfg_.httpsPort : cfg_.httpPort, ip->v6};
  }

  static params vs_params(const std::string& address, std::uint32_t port, const std::string& protocol = "tcp") {
    return {{"vs", address}, {"port", std::to_string(port)}, {"prot", protocol}};
  }

  // Merged targets: address (canonical) and port -> weight.
  static std::map<std::pair<std::string, std::uint32_t>, std::uint32_t> wanted(const service& s) {
    std::map<std::pair<std::string, std::uint32_t>, std::uint32_t> out;
    for (const auto& t : s.targets) {
      if (t.host.empty() || t.port == 0 || t.port > 65535)
        throw std::runtime_error("target " + t.host + ":" + std::to_string(t.port) + " is not a valid real server");
      auto& w = out[{kemplm_detail::canonical_host(t.host), t.port}];
      w = std::min<std::uint32_t>(max_weight, w + (t.weight == 0 ? 1 : t.weight));
    }
    return out;
  }

  boost::asio::awaitable<void> add(const service& s) {
    const std::string& svc = s.name;
    auto at = where(s);
    if (s.targets.empty()) throw std::runtime_error("service " + svc + " has no target");
    auto want = wanted(s);
    auto all = co_await api_.list();
    auto here = std::find_if(all.begin(), all.end(), [&](const vs_t& v) { return at.is(v); });
    if (here != all.end() && here->nickname != svc)
      throw std::runtime_error(at.text() + " is already virtual service \"" + here->nickname + "\" (index " + here->index +
                               "), which interlook did not create for " + svc + ": interlook leaves it alone");
    const params id = vs_params(at.address, at.port);
    std::vector<kemplm_detail::real_server> have;
    if (here == all.end()) {
      params p = id;
      p.insert(p.end(), {{"nickname", svc},
                         {"vstype", std::string(vs_type)},
                         {"checktype", std::string(check_type)},
                         {"schedule", std::string(schedule)}});
      co_await api_.command("addvs", p, "creating virtual service " + at.text() + " for " + svc);
      ctx_.debug("service " + svc + ": created virtual service " + at.text());
    } else {
      auto shown = co_await api_.show(id, "reading virtual service " + at.text());
      if (!shown) throw std::runtime_error("virtual service " + at.text() + " was listed but showvs does not know it");
      params changes;
      if (shown->vstype != vs_type) changes.emplace_back("vstype", vs_type);
      if (shown->checktype != check_type) changes.emplace_back("checktype", check_type);
      if (shown->schedule != schedule) changes.emplace_back("schedule", schedule);
      if (!changes.empty()) {
        params p = id;
        p.insert(p.end(), changes.begin(), changes.end());
        co_await api_.command("modvs", p, "updating virtual service " + at.text() + " of " + svc);
      }
      have = std::move(shown->real_servers);
    }
    // Real servers, by address and port.
    for (const auto& rs : have) {
      auto it = want.find({rs.address, rs.port});
      if (it == want.end()) {
        params p = id;
        p.insert(p.end(), {{"rs", rs.address}, {"rsport", std::to_string(rs.port)}});
        co_await api_.command("delrs", p, "removing real server " + rs.address + ":" + std::to_string(rs.port) + " from " + at.text());
        continue;
      }
      if (rs.weight != it->second) {
        params p = id;
        p.insert(p.end(), {{"rs", rs.address}, {"rsport", std::to_string(rs.port)}, {"weight", std::to_string(it->second)}});
        co_await api_.command("modrs", p,
                              "setting the weight of real server " + rs.address + ":" + std::to_string(rs.port) + " of " +
                                  at.text() + " to " + std::to_string(it->second));
      }
      want.erase(it);
    }
    for (const auto& [rs, weight] : want) {
      params p = id;
      p.insert(p.end(), {{"rs", rs.first},
                         {"rsport", std::to_string(rs.second)},
                         {"weight", std::to_string(weight)},
                         {"non_local", "1"}});
      co_await api_.command("addrs", p,
                            "adding real server " + rs.first + ":" + std::to_string(rs.second) + " to " + at.text());
    }
    // The service's virtual services elsewhere (an older address or port).
    for (const auto& v : all)
      if (v.nickname == svc && !at.is(v)) co_await delete_vs(v, svc);
  }

  boost::asio::awaitable<void> delete_vs(const vs_t& v, const std::string& svc) {
    // (No conditional expression inside co_await: GCC 12 destroys its
    // temporary twice.)
    std::string protocol = v.protocol;
    if (protocol.empty()) protocol = "tcp";
    std::string text = v.address + ":" + std::to_string(v.port) + "/" + protocol;
    params p = vs_params(v.address, v.port, protocol);
    co_await api_.command("delvs", p, "deleting virtual service " + text + " of " + svc);
    ctx_.debug("service " + svc + ": deleted virtual service " + text);
  }

  boost::asio::awaitable<void> remove(const service& s) {
    const std::string& svc = s.name;
    auto all = co_await api_.list();
    std::optional<place> at;
    if (!s.public_ip.empty() && ip_address::parse(s.public_ip)) at = where(s);
    for (const auto& v : all) {
      if (v.nickname == svc) co_await delete_vs(v, svc);
      else if (at && at->is(v))
        ctx_.warn("virtual service " + at->text() + " is \"" + v.nickname + "\", not interlook's for " + svc + ": not deleted");
    }
  }

  config cfg_;
  extension_context& ctx_;
  kemplm_detail::api api_;
};

}  // namespace interlook::ext::lb
