#pragma once
// dns.powerdns: publishes each service's DNS aliases in a zone of a PowerDNS
// Authoritative server through its HTTP API (api=yes, the X-API-Key header).
//
// Per alias: an A record (AAAA for an IPv6 public_ip) at public_ip, with a
// comment naming the owner and service, and beside it the ownership TXT
// "heritage=interlook,owner=<ownerId>,service=<name>" (ownership.hpp; the
// same text as dns.rfc2136's). A name is ours only while that TXT is there: a
// name that exists without it is never changed or deleted.
//
// Batch form. Per batch:
//   1. one GET /api/v1/servers/{serverId}/zones/{zone}: the whole zone, which
//      is what finds the names a service owns but no longer lists (an add
//      carries only the current aliases) and every name's current records;
//   2. per service, a plan against that picture (zone.hpp): a name in use
//      without our TXT is an error on that service naming the name, its
//      records and its owner (when an interlook TXT names one), and nothing
//      is sent for that service; a name already as asked needs nothing (a
//      repeated add sends no PATCH); a changed address or TTL is a REPLACE;
//      a dropped alias (and every name, for a delete) is a DELETE of its
//      A/AAAA and of our TXT record;
//   3. one PATCH with every service's RRsets (split past ~1 MB of JSON).
//      PowerDNS applies a PATCH whole or not at all: when it answers 422 (an
//      RRset it cannot take), each service's RRsets are sent again in a PATCH
//      of their own, so that one bad service fails alone with PowerDNS's
//      reason and the others succeed.
// PowerDNS has no conditional update: a record someone else creates at one
// of our free names between the GET and the PATCH is replaced. The window
// is one round trip; the next batch sees the name as ours (it holds our TXT).
//
// Errors name the zone, the server id and the URL, never the API key (the
// HTTP client scrubs it even from echoed bodies): 401 (a wrong apiKey), 404
// (no such zone or server id), 422 (PowerDNS's reason), and an unreachable
// server (an error on every service of the batch; the core retries them;
// nothing is ever deleted because the zone could not be read).
//
// Cost: one GET of the whole zone per batch (a zone of N records is read
// once for up to max_batch services) and at most one PATCH.

#include <interlook/config/error.hpp>
#include <interlook/config/fields.hpp>
#include <interlook/core/message.hpp>
#include <interlook/ext/dns/powerdns/ownership.hpp>
#include <interlook/ext/dns/powerdns/zone.hpp>
#include <interlook/extension/batch_handler.hpp>  // the batch form's adapter
#include <interlook/extension/context.hpp>
#include <interlook/http/blocking_client.hpp>
#include <interlook/http/url.hpp>
#include <interlook/support/duration.hpp>
#include <interlook/support/ip_address.hpp>

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace interlook::ext::dns {

class powerdns {
 public:
  static constexpr std::string_view name = "dns.powerdns";
  static constexpr std::size_t max_batch = 512;
  // A PATCH body larger than this is split (PowerDNS's webserver-max-bodysize is 2 MB by default).
  static constexpr std::size_t max_patch_bytes = 1024 * 1024;

  struct config {
    std::string url;                    // the webserver: http://127.0.0.1:8081 (https:// behind a TLS proxy)
    secret apiKey;                      // api-key of pdns.conf
    std::string serverId = "localhost";
    std::string zone;                   // the zone every alias must be in; it must exist
    std::uint32_t ttl = 60;
    std::string ownerId = "interlook";
    std::string tlsCa;
    bool insecureSkipVerify = false;
    duration timeout = std::chrono::seconds(10);  // one HTTP request

    static constexpr auto fields() {
      return interlook::fields(required("url", &config::url), required("apiKey", &config::apiKey),
                               optional("serverId", &config::serverId), required("zone", &config::zone),
                               optional("ttl", &config::ttl), optional("ownerId", &config::ownerId),
                               optional("tlsCa", &config::tlsCa), optional("insecureSkipVerify", &config::insecureSkipVerify),
                               optional("timeout", &config::timeout));
    }

    void validate() const {
      try {
        auto ep = http::endpoint::parse(url);
        if (ep.scheme == http::endpoint::scheme_kind::docker_tcp)
          throw invalid_setting("url", "expected http:// or https://, not tcp://");
      } catch (const http::error& e) {
        throw invalid_setting("url", e.what());
      }
      if (apiKey.value.empty()) throw invalid_setting("apiKey", "must not be empty (pdns.conf's api-key)");
      if (apiKey.value.find_first_of("\r\n") != std::string::npos) throw invalid_setting("apiKey", "must be one line");
      if (serverId.empty()) throw invalid_setting("serverId", "must not be empty (PowerDNS's is localhost)");
      std::string why;
      std::string z = powerdns_detail::canonical(zone);
      if (z == "." || !powerdns_detail::zone_name(z, z, why)) throw invalid_setting("zone", "not a zone name: \"" + zone + "\"");
      if (ttl > 2147483647u) throw invalid_setting("ttl", "must be at most 2147483647 (RFC 2181)");
      if (ownerId.empty()) throw invalid_setting("ownerId", "must not be empty");
      if (timeout <= duration::zero()) throw invalid_setting("timeout", "must be positive");
    }
  };

  powerdns(const config& c, extension_context& ctx)
      : cfg_((c.validate(), c)), ctx_(ctx), zone_(powerdns_detail::canonical(c.zone)), client_(c.url, options(c)) {
    client_.set_header("X-API-Key", cfg_.apiKey.value, true);
    zone_path_ = "/api/v1/servers/" + http::percent_encode(cfg_.serverId) + "/zones/" + http::percent_encode(zone_);
  }

  void handle_batch(std::span<message> batch) {
    struct job {
      message* m;
      powerdns_detail::plan_input in;
      powerdns_detail::plan plan;
    };
    std::vector<job> jobs;
    for (auto& m : batch) {
      if (m.action != action::add && m.action != action::remove) continue;
      try {
        jobs.push_back({&m, input(m), {}});
      } catch (const std::exception& e) {
        m.error = service_error(m.service.name, e.what());
      }
    }
    if (jobs.empty()) return;

    powerdns_detail::zone_view view;
    try {
      view = read_zone();
    } catch (const std::exception& e) {
      for (auto& j : jobs) j.m->error = service_error(j.m->service.name, server_error(e));
      return;
    }

    std::map<std::string, std::string> claimed;
    std::vector<job*> changing;
    for (auto& j : jobs) {
      try {
        j.plan = powerdns_detail::make_plan(view, j.in, claimed);
        if (!j.plan.rrsets.empty()) changing.push_back(&j);
      } catch (const std::exception& e) {
        j.m->error = service_error(j.m->service.name, e.what());
      }
    }
    if (changing.empty()) return;  // as asked already: no PATCH

    // One PATCH per ~1 MB of RRsets (normally one per batch).
    std::size_t begin = 0;
    while (begin < changing.size()) {
      std::size_t end = begin, bytes = 0;
      boost::json::array rrsets;
      while (end < changing.size()) {
        std::size_t size = 0;
        for (const auto& r : changing[end]->plan.rrsets) size += boost::json::serialize(r).size() + 1;
        if (end > begin && bytes + size > max_patch_bytes) break;
        bytes += size;
        for (const auto& r : changing[end]->plan.rrsets) rrsets.push_back(r);
        ++end;
      }
      std::optional<std::string> failure;
      bool unprocessable = false;
      try {
        patch(std::move(rrsets));
      } catch (const http::error& e) {
        unprocessable = e.status() == 422;
        failure = server_error(e);
      } catch (const std::exception& e) {
        failure = server_error(e);
      }
      if (!failure) {
        for (std::size_t i = begin; i < end; ++i) log_done(*changing[i]->m, changing[i]->plan);
      } else if (unprocessable && end - begin > 1) {
        // One service's RRsets made PowerDNS refuse the whole PATCH: each on its own.
        ctx_.debug("PATCH of " + zone_ + " for " + std::to_string(end - begin) + " services refused (" + *failure +
                   "); sending them one by one");
        for (std::size_t i = begin; i < end; ++i) {
          auto& j = *changing[i];
          boost::json::array one;
          for (const auto& r : j.plan.rrsets) one.push_back(r);
          try {
            patch(std::move(one));
            log_done(*j.m, j.plan);
          } catch (const std::exception& e) {
            j.m->error = service_error(j.m->service.name, server_error(e));
          }
        }
      } else {
        for (std::size_t i = begin; i < end; ++i)
          changing[i]->m->error = service_error(changing[i]->m->service.name, *failure);
      }
      begin = end;
    }
  }

  // API calls so far (tests, benchmarks): GETs of the zone and PATCHes.
  std::uint64_t zone_reads() const noexcept { return reads_.load(std::memory_order_relaxed); }
  std::uint64_t patches() const noexcept { return patches_.load(std::memory_order_relaxed); }

 private:
  static http::client_options options(const config& c) {
    http::client_options o;
    o.tls.ca_file = c.tlsCa;
    o.tls.insecure_skip_verify = c.insecureSkipVerify;
    o.request_timeout = c.timeout;
    o.connect_timeout = std::min<std::chrono::nanoseconds>(c.timeout, std::chrono::seconds(10));
    o.max_connections = 1;
    o.max_body_bytes = 256 * 1024 * 1024;  // a whole zone
    return o;
  }

  powerdns_detail::plan_input input(const message& m) const {
    powerdns_detail::plan_input in;
    in.owner = cfg_.ownerId;
    in.service = m.service.name;
    in.ttl = cfg_.ttl;
    if (m.service.name.empty()) throw std::runtime_error("a service without a name");
    if (m.action == action::remove) {
      in.remove = true;
      return in;
    }
    if (m.service.public_ip.empty()) throw std::runtime_error("no public_ip to publish (put an ipam step before dns.powerdns)");
    auto ip = ip_address::parse(m.service.public_ip);
    if (!ip) throw std::runtime_error("public_ip \"" + m.service.public_ip + "\" is not an IP address");
    in.address = ip->str();
    in.v6 = ip->v6;
    for (const auto& alias : m.service.dns_names) {
      std::string why;
      auto n = powerdns_detail::zone_name(alias, zone_, why);
      if (!n) throw std::runtime_error(why);
      if (std::find(in.names.begin(), in.names.end(), *n) == in.names.end()) in.names.push_back(std::move(*n));
    }
    return in;
  }

  powerdns_detail::zone_view read_zone() {
    reads_.fetch_add(1, std::memory_order_relaxed);
    auto r = client_.request(http::request::get(zone_path_));
    return powerdns_detail::zone_view::parse(r.body);
  }

  void patch(boost::json::array rrsets) {
    patches_.fetch_add(1, std::memory_order_relaxed);
    boost::json::object body{{"rrsets", std::move(rrsets)}};
    auto req = http::request::patch(zone_path_, boost::json::serialize(body), http::json_content_type);
    client_.request(std::move(req));
  }

  void log_done(const message& m, const powerdns_detail::plan& p) {
    for (const auto& n : p.published) ctx_.info("service " + m.service.name + ": " + n + " -> " + m.service.public_ip);
    for (const auto& n : p.removed) ctx_.info("service " + m.service.name + ": removed " + n);
  }

  std::string service_error(const std::string& service, const std::string& what) const {
    return std::string(name) + ": service " + service + ": " + what;
  }

  // An error of the server or the way to it, naming zone, server id and URL
  // (the API key never: the client scrubs it).
  std::string server_error(const std::exception& e) const {
    std::string where = "zone " + zone_ + " on PowerDNS server " + cfg_.serverId + " at " + client_.url();
    auto* h = dynamic_cast<const http::error*>(&e);
    if (!h) return where + ": " + e.what();
    switch (h->kind()) {
      case http::error_kind::connect:
      case http::error_kind::timeout:
      case http::error_kind::io:
      case http::error_kind::tls:
        return where + ": unreachable: " + e.what();
      case http::error_kind::status:
        switch (h->status()) {
          case 401:
          case 403: return where + ": the API key was refused (" + std::to_string(h->status()) + "; check dns.powerdns apiKey)";
          case 404: return where + ": not found (404: no such zone or server id; create the zone first, or check zone and serverId)";
          case 422: return where + ": PowerDNS refused the change (422): " + pdns_error(h->body());
          default: return where + ": " + e.what();
        }
      default:
        return where + ": " + e.what();
    }
  }

  // PowerDNS's {"error": "..."} text, or the body itself.
  static std::string pdns_error(const std::string& body) {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (!ec && v.is_object())
      if (auto it = v.get_object().find("error"); it != v.get_object().end() && it->value().is_string())
        return std::string(it->value().get_string());
    return body.substr(0, 300);
  }

  config cfg_;
  extension_context& ctx_;
  std::string zone_;       // canonical: "example.test."
  std::string zone_path_;  // /api/v1/servers/localhost/zones/example.test.
  http::blocking_client client_;
  std::atomic<std::uint64_t> reads_{0};
  std::atomic<std::uint64_t> patches_{0};
};

}  // namespace interlook::ext::dns
