#pragma once
// dns.rfc2136: publishes each service's DNS aliases in a zone of an
// authoritative server that takes RFC 2136 dynamic updates signed with
// TSIG (RFC 8945); tested with BIND 9.18 and Knot DNS 3.2. Wire format and TSIG come from ldns (ldns.hpp says why ldns
// rather than libknot); link with -lldns (//third_party:ldns).
//
// Per alias: an A record (AAAA for an IPv6 public_ip) at public_ip, and
// beside it an ownership TXT, "heritage=interlook,owner=<ownerId>,service=<name>"
// (external-dns's habit; ownership.hpp). A name is ours only while that TXT
// is there: a name that exists without it is never changed or deleted.
//
// Batch form. Per batch:
//   1. look-up: the zone's SOA serial, then, when it differs from the last
//      transfer's, a zone transfer (AXFR, TSIG-signed). The transfer is
//      what finds the names a service owns but no longer lists (aliases
//      dropped by an update: the add message carries only the current
//      aliases, and DNS cannot be asked "which names have this TXT"). If
//      the server refuses transfers, the batch's names are asked about one
//      by one (TXT, A, AAAA) instead; dropped aliases then cannot be found:
//      that is logged once and they stay in DNS. (A local state file was the
//      other way; it was not chosen because it drifts from the zone after a
//      crash between UPDATE and write, or a restore of either, whereas the
//      zone itself cannot disagree with itself.)
//   2. plan, per service, against that picture and with prerequisites
//      (RFC 2136 2.4) that make the server itself refuse a name that is not
//      ours any more or not free any more:
//        - a name not in use: prerequisite "name is not in use"; add A/AAAA
//          and the TXT;
//        - a name with our TXT: prerequisite "RRset exists (value
//          dependent)" on its TXT RRset as seen; only when the address or
//          TTL differs: delete the A and AAAA RRsets, add the A/AAAA;
//        - a name in use without our TXT: an error on that service naming
//          the name, its records, and the owner when an interlook TXT names
//          one; nothing is sent for that service;
//        - add: names we own for the service that it no longer lists, and
//          delete: every name we own for it: prerequisite on the TXT RRset
//          as seen; delete the A and AAAA RRsets and our TXT record (other
//          TXT records of the name are left).
//      A service whose records are already as asked needs nothing: an add
//      repeated changes nothing and sends no UPDATE.
//   3. one UPDATE for the whole batch (split only past ~60 KB of records).
//      An UPDATE is atomic: when a prerequisite fails (the zone changed
//      since the look-up: YXDOMAIN, NXRRSET, ...) or the server's policy
//      refuses it (REFUSED), it is sent again as one UPDATE per service, so
//      the others still succeed; services whose UPDATE still fails are
//      looked up again and fail with the name and owner that conflict.
// Every request is TSIG-signed and every answer's TSIG verified. A TSIG
// error (BADKEY, BADSIG, BADTIME), REFUSED or NOTAUTH is an error naming the
// zone, the server and the key name, never the secret. An unreachable or
// silent server is an error on the batch's services (the core retries with
// backoff), never a reason to delete anything.
//
// The server must allow, for the TSIG key: updates of the names the
// services use (BIND `update-policy { grant KEY zonesub ANY; };`, Knot an
// ACL with `action: update`), and, to find dropped aliases, zone transfers
// (BIND `allow-transfer { key KEY; };`, Knot `action: transfer`).

#include <interlook/config/error.hpp>
#include <interlook/config/fields.hpp>
#include <interlook/core/message.hpp>
#include <interlook/ext/dns/rfc2136/client.hpp>
#include <interlook/ext/dns/rfc2136/ldns.hpp>
#include <interlook/ext/dns/rfc2136/ownership.hpp>
#include <interlook/ext/dns/rfc2136/zone_view.hpp>
#include <interlook/extension/context.hpp>
#include <interlook/support/duration.hpp>
#include <interlook/support/ip_address.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace interlook::ext::dns {

class rfc2136 {
 public:
  static constexpr std::string_view name = "dns.rfc2136";

  struct config {
    std::string server;       // host or host:port ([v6]:port); port 53 by default
    std::string zone;         // the zone every alias must be in
    std::string tsigKeyName;
    secret tsigSecret;        // base64, as in BIND's and Knot's key files
    std::string tsigAlgorithm = "hmac-sha256";
    std::uint32_t ttl = 60;
    std::string ownerId = "interlook";
    duration timeout = std::chrono::seconds(5);

    static constexpr auto fields() {
      return interlook::fields(required("server", &config::server), required("zone", &config::zone),
                               required("tsigKeyName", &config::tsigKeyName),
                               required("tsigSecret", &config::tsigSecret),
                               optional("tsigAlgorithm", &config::tsigAlgorithm), optional("ttl", &config::ttl),
                               optional("ownerId", &config::ownerId), optional("timeout", &config::timeout));
    }

    void validate() const {
      std::string why;
      if (!rfc2136_detail::server_address::parse(server, why))
        throw invalid_setting("server", "invalid server \"" + server + "\": " + why + " (expected host or host:port)");
      if (!rfc2136_detail::make_dname(zone)) throw invalid_setting("zone", "not a domain name: \"" + zone + "\"");
      if (!rfc2136_detail::make_dname(tsigKeyName))
        throw invalid_setting("tsigKeyName", "not a key name: \"" + tsigKeyName + "\"");
      if (!rfc2136_detail::valid_base64(tsigSecret.value))
        throw invalid_setting("tsigSecret", "must be the key's secret in base64");
      if (!algorithm())
        throw invalid_setting("tsigAlgorithm", "unsupported TSIG algorithm \"" + tsigAlgorithm +
                                                   "\" (expected hmac-sha256, hmac-sha512 or hmac-sha1)");
      if (ttl > 2147483647u) throw invalid_setting("ttl", "must be at most 2147483647 (RFC 2181)");
      if (ownerId.empty()) throw invalid_setting("ownerId", "must not be empty");
      if (timeout <= duration::zero()) throw invalid_setting("timeout", "must be positive");
    }

    // ldns's name of the algorithm ("hmac-sha256."), or nullopt.
    std::optional<std::string> algorithm() const {
      std::string a;
      for (char c : tsigAlgorithm) a += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (!a.empty() && a.back() == '.') a.pop_back();
      if (a == "hmac-sha256" || a == "hmac-sha512" || a == "hmac-sha1") return a + ".";
      return std::nullopt;
    }
  };

  rfc2136(const config& c, extension_context& ctx)
      : cfg_((c.validate(), c)),
        ctx_(ctx),
        zone_(rfc2136_detail::make_dname(c.zone)),
        zone_text_(rfc2136_detail::name_key(zone_.get())),
        client_(server_of(c), rfc2136_detail::tsig_key{c.tsigKeyName, c.tsigSecret.value, *c.algorithm()},
                c.timeout) {
    if (zone_text_.size() > 1 && zone_text_.back() == '.') zone_text_.pop_back();
  }

  void handle_batch(std::span<message> batch) {
    std::vector<job> jobs;
    jobs.reserve(batch.size());
    for (auto& m : batch) {
      if (m.action != action::add && m.action != action::remove) continue;
      try {
        jobs.push_back(prepare(m));
      } catch (const std::exception& e) {
        m.error = service_error(m.service.name, e.what());
      }
    }
    if (jobs.empty()) return;
    struct closer {
      rfc2136_detail::dns_client& c;
      ~closer() { c.close(); }
    } close_at_end{client_};

    std::vector<job*> all;
    for (auto& j : jobs) all.push_back(&j);
    run(all, true);
  }

  // UPDATE messages sent so far (tests, benchmarks).
  std::uint64_t updates_sent() const noexcept { return updates_.load(std::memory_order_relaxed); }
  // Zone transfers done so far.
  std::uint64_t transfers() const noexcept { return transfers_.load(std::memory_order_relaxed); }

  // For tests: runs after a batch's look-up and before its first UPDATE
  // (to change the zone behind the extension's back).
  void before_update(std::function<void()> hook) { before_update_ = std::move(hook); }

 private:
  using rdf_ptr = rfc2136_detail::rdf_ptr;
  using rr_ptr = rfc2136_detail::rr_ptr;

  struct job {
    message* m;
    std::vector<std::string> keys;  // the aliases' canonical names, no duplicates
    std::vector<rdf_ptr> names;     // the same as ldns names
    std::vector<std::string> shown; // the same as written in the service
    bool v6 = false;
    std::string address;            // public_ip as ldns prints it
    std::string txt;                // our ownership text for this service
  };

  struct plan {
    job* j;
    std::vector<rr_ptr> prerequisites, updates;
    std::size_t size = 0;  // wire bytes, uncompressed
    enum { pending, done, again } state = pending;  // again: look up and plan once more
  };

  struct conflict : std::runtime_error {
    using std::runtime_error::runtime_error;
  };

  enum class outcome { ok, prerequisite, refused };
  static constexpr unsigned badkey = 17;  // TSIG error

  static constexpr std::size_t max_update_bytes = 60000;

  static rfc2136_detail::server_address server_of(const config& c) {
    std::string why;
    return *rfc2136_detail::server_address::parse(c.server, why);  // validated
  }

  job prepare(message& m) {
    const auto& s = m.service;
    if (s.name.empty()) throw std::runtime_error("a service without a name");
    job j{&m, {}, {}, {}, false, {}, rfc2136_detail::ownership_text(cfg_.ownerId, s.name)};
    if (j.txt.size() > 255)
      throw std::runtime_error("service name too long for an ownership TXT record (255 bytes with ownerId)");
    for (const auto& alias : s.dns_names) {
      auto dname = rfc2136_detail::make_dname(alias);
      if (!dname) throw std::runtime_error("alias \"" + alias + "\" is not a domain name");
      if (!rfc2136_detail::in_zone(dname.get(), zone_.get()))
        throw std::runtime_error("alias " + alias + " is outside zone " + zone_text_);
      auto key = rfc2136_detail::name_key(dname.get());
      if (std::find(j.keys.begin(), j.keys.end(), key) != j.keys.end()) continue;
      j.keys.push_back(std::move(key));
      j.names.push_back(std::move(dname));
      j.shown.push_back(alias);
    }
    if (m.action == action::add && !j.keys.empty()) {
      if (s.public_ip.empty())
        throw std::runtime_error("service " + s.name + " has no public_ip (put an ipam step before dns.rfc2136)");
      auto ip = ip_address::parse(s.public_ip);
      if (!ip) throw std::runtime_error("public_ip \"" + s.public_ip + "\" is not an IP address");
      j.v6 = ip->v6;
      j.address = ip->str();
    }
    return j;
  }

  // Look-up, plan, send; on prerequisite failures, once more for the
  // services that failed (with a fresh look-up), which then fail with what
  // conflicts.
  void run(std::vector<job*>& jobs, bool first_round) {
    const rfc2136_detail::zone_view* view = nullptr;
    try {
      view = &look_up(jobs);
    } catch (const std::exception& e) {
      for (auto* j : jobs) j->m->error = server_error(e);
      return;
    }
    // Plans own their records: the view may be dropped once they are made.
    std::vector<plan> plans;
    std::unordered_map<std::string, const job*> claimed;  // new names, by the service that takes them
    for (auto* j : jobs) {
      try {
        plan p{j, {}, {}, 0, plan::pending};
        if (j->m->action == action::add)
          plan_add(*j, *view, claimed, p);
        else
          plan_remove(*j, *view, p);
        if (!p.updates.empty()) plans.push_back(std::move(p));
      } catch (const std::exception& e) {
        j->m->error = service_error(j->m->service.name, e.what());
      }
    }
    if (plans.empty()) return;
    if (first_round && before_update_) before_update_();

    std::size_t begin = 0;
    while (begin < plans.size()) {
      std::size_t end = begin, bytes = 0;
      while (end < plans.size() && (end == begin || bytes + plans[end].size <= max_update_bytes))
        bytes += plans[end++].size;
      std::span<plan> group(plans.data() + begin, end - begin);
      begin = end;
      try {
        auto [result, answered] = send(group);
        if (result == outcome::ok) {
          for (auto& p : group) p.state = plan::done;
          continue;
        }
        if (group.size() == 1) {
          failed(group[0], result, answered, first_round);
          continue;
        }
        ctx_.debug("UPDATE for " + std::to_string(group.size()) + " services answered " + answered +
                   "; one UPDATE per service");
        for (auto& p : group) {
          auto [r, c] = send(std::span<plan>(&p, 1));
          if (r == outcome::ok)
            p.state = plan::done;
          else
            failed(p, r, c, first_round);
        }
      } catch (const rfc2136_detail::network_error& e) {
        // Nothing more can be sent now: every service not done yet fails.
        for (auto& p : plans)
          if (p.state != plan::done) p.j->m->error = server_error(e);
        return;
      } catch (const std::exception& e) {
        for (auto& p : group)
          if (p.state != plan::done) {
            p.j->m->error = server_error(e);
            p.state = plan::done;
          }
      }
    }
    std::vector<job*> retry;
    for (auto& p : plans)
      if (p.state == plan::again) retry.push_back(p.j);
    if (!retry.empty()) run(retry, false);
  }

  void failed(plan& p, outcome result, const std::string& answered, bool first_round) {
    if (result == outcome::prerequisite && first_round) {
      p.state = plan::again;  // looked up again: fails with what conflicts, or converges
      return;
    }
    p.state = plan::done;
    auto& m = *p.j->m;
    if (result == outcome::prerequisite)
      m.error = service_error(m.service.name,
                              "the zone keeps changing under the UPDATE (" + answered + " twice); retried later");
    else
      m.error = service_error(m.service.name, "UPDATE of zone " + zone_text_ + " refused by " +
                                                  client_.server().text() + ": " + answered + " (does key " +
                                                  cfg_.tsigKeyName + "'s update policy cover " + names_of(*p.j) +
                                                  "?)");
  }

  static std::string names_of(const job& j) {
    std::string out;
    for (std::size_t i = 0; i < j.shown.size(); ++i) out += (i ? ", " : "") + j.shown[i];
    return out.empty() ? "its names" : out;
  }

  // ---- look-up -------------------------------------------------------------

  // The picture of the zone for this batch: the last transfer while the
  // zone's serial has not moved, a new transfer otherwise, or (transfers
  // refused, asked again after 5 minutes) the batch's names one by one.
  const rfc2136_detail::zone_view& look_up(const std::vector<job*>& jobs) {
    using clock = std::chrono::steady_clock;
    if (!transfer_refused_at_ || clock::now() - *transfer_refused_at_ > std::chrono::minutes(5)) {
      auto serial = soa_serial();
      if (view_ && view_->complete && view_->serial == serial) return *view_;
      view_.emplace(cfg_.ownerId);
      try {
        client_.transfer(zone_.get(), [&](const ldns_rr* rr) { view_->add(rr); });
        transfers_.fetch_add(1, std::memory_order_relaxed);
        view_->complete = true;
        view_->serial = serial;
        transfer_refused_at_.reset();
        return *view_;
      } catch (const rfc2136_detail::answer_error& e) {
        view_.reset();
        // The key has just worked for the SOA query: a refusal here is the
        // server's transfer policy (Knot answers NOTAUTH/BADKEY for a key
        // its ACL does not allow to transfer, BIND REFUSED).
        bool refused = e.rcode() == LDNS_RCODE_REFUSED || e.rcode() == LDNS_RCODE_NOTAUTH ||
                       e.rcode() == LDNS_RCODE_NOTIMPL;
        if (!refused || (e.tsig_error() != 0 && e.tsig_error() != badkey)) throw;
        if (!warned_transfer_)
          ctx_.warn("zone transfers of " + zone_text_ + " refused by " + client_.server().text() + " (" +
                    rfc2136_detail::rcode_text(e.rcode()) +
                    (e.tsig_error() ? "/" + rfc2136_detail::tsig_error_text(e.tsig_error()) : std::string()) +
                    "): names are looked up one by one, and aliases dropped from a service cannot be found and "
                    "stay in DNS; allow transfers for key " + cfg_.tsigKeyName + " to remove them");
        warned_transfer_ = true;
        transfer_refused_at_ = clock::now();
      } catch (...) {
        view_.reset();
        throw;
      }
    }
    view_.emplace(cfg_.ownerId);
    std::unordered_set<std::string> asked;
    try {
      for (const auto* j : jobs)
        for (std::size_t i = 0; i < j->keys.size(); ++i)
          if (asked.insert(j->keys[i]).second) look_up_name(*view_, j->names[i].get(), j->keys[i]);
    } catch (...) {
      view_.reset();
      throw;
    }
    return *view_;
  }

  std::uint32_t soa_serial() {
    auto answer = client_.exchange(rfc2136_detail::dns_client::query(zone_.get(), LDNS_RR_TYPE_SOA));
    auto rcode = static_cast<unsigned>(ldns_pkt_get_rcode(answer.get()));
    if (rcode != LDNS_RCODE_NOERROR)
      throw rfc2136_detail::answer_error("the SOA query for zone " + zone_text_ + " was answered " +
                                             rfc2136_detail::rcode_text(rcode),
                                         rcode, 0);
    const ldns_rr_list* rrs = ldns_pkt_answer(answer.get());
    for (std::size_t i = 0; i < ldns_rr_list_rr_count(rrs); ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(rrs, i);
      if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && ldns_rr_rd_count(rr) >= 3 &&
          ldns_dname_compare(ldns_rr_owner(rr), zone_.get()) == 0)
        return ldns_rdf2native_int32(ldns_rr_rdf(rr, 2));
    }
    throw rfc2136_detail::answer_error("the server is not authoritative for the zone (no SOA in its answer)", rcode, 0);
  }

  void look_up_name(rfc2136_detail::zone_view& view, const ldns_rdf* name, const std::string& key) {
    bool any = false;
    for (auto type : {LDNS_RR_TYPE_TXT, LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA}) {
      auto answer = client_.exchange(rfc2136_detail::dns_client::query(name, type));
      auto rcode = static_cast<unsigned>(ldns_pkt_get_rcode(answer.get()));
      if (rcode == LDNS_RCODE_NXDOMAIN) break;
      if (rcode != LDNS_RCODE_NOERROR)
        throw rfc2136_detail::answer_error("the " + rfc2136_detail::type_text(type) + " query for " + key +
                                               " was answered " + rfc2136_detail::rcode_text(rcode),
                                           rcode, 0);
      const ldns_rr_list* rrs = ldns_pkt_answer(answer.get());
      for (std::size_t i = 0; i < ldns_rr_list_rr_count(rrs); ++i) {
        const ldns_rr* rr = ldns_rr_list_rr(rrs, i);
        if (ldns_dname_compare(ldns_rr_owner(rr), name) != 0) continue;
        auto t = ldns_rr_get_type(rr);
        if (t != type && t != LDNS_RR_TYPE_CNAME && t != LDNS_RR_TYPE_DNAME) continue;
        if (t == LDNS_RR_TYPE_CNAME && type != LDNS_RR_TYPE_TXT) continue;  // counted once
        view.add(rr);
        any = true;
      }
    }
    // Not found: "not in use" as far as TXT, A and AAAA go; the "name is not
    // in use" prerequisite lets the server decide about other types.
    if (!any) view.absent(name);
  }

  // ---- plans ---------------------------------------------------------------

  void plan_add(job& j, const rfc2136_detail::zone_view& view, std::unordered_map<std::string, const job*>& claimed,
                plan& p) {
    std::vector<std::string> mine;  // free names this service takes, claimed once its plan holds
    for (std::size_t i = 0; i < j.keys.size(); ++i) {
      const auto* rec = view.find(j.keys[i]);
      const ldns_rdf* owner = j.names[i].get();
      if (!rec || !rec->in_use) {
        if (auto it = claimed.find(j.keys[i]); it != claimed.end())
          throw conflict(j.shown[i] + " is also asked for by service " + it->second->m->service.name +
                         " in the same batch; left to the first");
        mine.push_back(j.keys[i]);
        push(p, p.prerequisites, rfc2136_detail::make_rr(owner, LDNS_RR_TYPE_ANY, LDNS_RR_CLASS_NONE, 0));
        push(p, p.updates, rfc2136_detail::make_address_rr(owner, j.v6, j.address, LDNS_RR_CLASS_IN, cfg_.ttl));
        push(p, p.updates, rfc2136_detail::make_txt_rr(owner, j.txt, LDNS_RR_CLASS_IN, cfg_.ttl));
        continue;
      }
      if (!rec->find_txt(j.txt)) throw conflict(describe(j.shown[i], *rec));
      const auto& same = j.v6 ? rec->aaaa : rec->a;
      const auto& other = j.v6 ? rec->a : rec->aaaa;
      auto same_ttl = j.v6 ? rec->aaaa_ttl : rec->a_ttl;
      bool address_ok = same.size() == 1 && same[0] == j.address && same_ttl == cfg_.ttl && other.empty();
      bool txt_ok = rec->txt_ttl == cfg_.ttl;
      if (address_ok && txt_ok) continue;
      owned_prerequisite(p, *rec);
      if (!address_ok) {
        push(p, p.updates, rfc2136_detail::make_rr(rec->name.get(), LDNS_RR_TYPE_A, LDNS_RR_CLASS_ANY, 0));
        push(p, p.updates, rfc2136_detail::make_rr(rec->name.get(), LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_ANY, 0));
        push(p, p.updates,
             rfc2136_detail::make_address_rr(rec->name.get(), j.v6, j.address, LDNS_RR_CLASS_IN, cfg_.ttl));
      }
      if (!txt_ok)
        push(p, p.updates, rfc2136_detail::make_txt_rr(rec->name.get(), j.txt, LDNS_RR_CLASS_IN, cfg_.ttl));
    }
    // Names this service owns but no longer lists.
    for (const auto& key : view.owned_by(j.m->service.name))
      if (std::find(j.keys.begin(), j.keys.end(), key) == j.keys.end()) remove_name(p, *view.find(key), j.txt);
    for (auto& key : mine) claimed.emplace(std::move(key), &j);
    if (!view.complete && j.keys.empty() && !warned_dropped_) {
      ctx_.warn("service " + j.m->service.name +
                " lists no alias: without zone transfers its former names cannot be found");
      warned_dropped_ = true;
    }
  }

  void plan_remove(job& j, const rfc2136_detail::zone_view& view, plan& p) {
    std::vector<std::string> keys = view.owned_by(j.m->service.name);
    for (const auto& key : j.keys)
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    for (const auto& key : keys) {
      const auto* rec = view.find(key);
      if (rec && rec->in_use && rec->find_txt(j.txt)) remove_name(p, *rec, j.txt);  // others: not ours, untouched
    }
  }

  // Removes our A/AAAA and TXT from a name we own, on condition that its
  // TXT RRset is still what we saw.
  void remove_name(plan& p, const rfc2136_detail::name_records& rec, const std::string& txt) {
    owned_prerequisite(p, rec);
    push(p, p.updates, rfc2136_detail::make_rr(rec.name.get(), LDNS_RR_TYPE_A, LDNS_RR_CLASS_ANY, 0));
    push(p, p.updates, rfc2136_detail::make_rr(rec.name.get(), LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_ANY, 0));
    push(p, p.updates, rfc2136_detail::recast(rec.find_txt(txt), LDNS_RR_CLASS_NONE, 0));
  }

  // "RRset exists (value dependent)" on the TXT RRset as seen.
  void owned_prerequisite(plan& p, const rfc2136_detail::name_records& rec) {
    for (const auto& t : rec.txt)
      push(p, p.prerequisites, rfc2136_detail::recast(t.get(), LDNS_RR_CLASS_IN, 0));
  }

  static void push(plan& p, std::vector<rr_ptr>& to, rr_ptr rr) {
    std::size_t size = 10 + ldns_rdf_size(ldns_rr_owner(rr.get()));
    for (std::size_t i = 0; i < ldns_rr_rd_count(rr.get()); ++i) size += ldns_rdf_size(ldns_rr_rdf(rr.get(), i));
    p.size += size;
    to.push_back(std::move(rr));
  }

  std::string describe(const std::string& alias, const rfc2136_detail::name_records& rec) const {
    for (const auto& t : rec.txt) {
      auto text = rfc2136_detail::txt_text(t.get());
      if (auto o = rfc2136_detail::parse_ownership(text))
        return alias + " belongs to owner \"" + o->owner + "\", service \"" + o->service + "\" (TXT \"" + text +
               "\"); left alone";
    }
    std::vector<std::string> shown;
    for (const auto& a : rec.a) shown.push_back("A " + a);
    for (const auto& a : rec.aaaa) shown.push_back("AAAA " + a);
    for (const auto& t : rec.txt) shown.push_back("TXT \"" + rfc2136_detail::txt_text(t.get()) + "\"");
    for (const auto& o : rec.others) shown.push_back(o);
    std::string list;
    for (std::size_t i = 0; i < shown.size() && i < 4; ++i) list += (i ? ", " : "") + shown[i];
    if (shown.size() > 4) list += ", ...";
    return alias + " exists and is not ours (" + (list.empty() ? std::string("records of other types") : list) +
           "; no interlook ownership TXT); left alone";
  }

  // ---- sending -------------------------------------------------------------

  // Sends one UPDATE for the group's plans: ok, a prerequisite failed, or
  // the server refused it (its policy: REFUSED, or Knot's NOTAUTH/BADKEY for
  // a key its ACL does not allow to update, after the key has just worked
  // for the look-up), with the answer's code. Other answers throw.
  std::pair<outcome, std::string> send(std::span<plan> group) {
    // The lists point at the plans' records; the packet takes copies.
    rfc2136_detail::rr_view_list_ptr pre(ldns_rr_list_new()), up(ldns_rr_list_new());
    if (!pre || !up) throw std::bad_alloc();
    for (auto& p : group) {
      for (auto& rr : p.prerequisites) ldns_rr_list_push_rr(pre.get(), rr.get());
      for (auto& rr : p.updates) ldns_rr_list_push_rr(up.get(), rr.get());
    }
    rdf_ptr zone(ldns_rdf_clone(zone_.get()));
    if (!zone) throw std::bad_alloc();
    rfc2136_detail::pkt_ptr request(
        ldns_update_pkt_new(zone.release(), LDNS_RR_CLASS_IN, pre.get(), up.get(), nullptr));
    if (!request) throw std::bad_alloc();
    ldns_pkt_set_rd(request.get(), false);

    view_.reset();  // whatever the answer, the zone may have changed
    updates_.fetch_add(1, std::memory_order_relaxed);
    rfc2136_detail::pkt_ptr answer;
    try {
      answer = client_.exchange(std::move(request));
    } catch (const rfc2136_detail::answer_error& e) {
      if (e.tsig_error() != badkey) throw;
      return {outcome::refused,
              rfc2136_detail::rcode_text(e.rcode()) + "/" + rfc2136_detail::tsig_error_text(e.tsig_error())};
    }
    auto rcode = static_cast<unsigned>(ldns_pkt_get_rcode(answer.get()));
    auto text = rfc2136_detail::rcode_text(rcode);
    if (ctx_.enabled(log_level::debug))
      ctx_.debug("UPDATE of " + zone_text_ + " for " + std::to_string(group.size()) + " service(s): " + text);
    switch (rcode) {
      case LDNS_RCODE_NOERROR: return {outcome::ok, text};
      case LDNS_RCODE_YXDOMAIN:
      case LDNS_RCODE_YXRRSET:
      case LDNS_RCODE_NXRRSET:
      case LDNS_RCODE_NXDOMAIN: return {outcome::prerequisite, text};
      case LDNS_RCODE_REFUSED: return {outcome::refused, text};
      default:
        throw rfc2136_detail::answer_error("UPDATE answered " + rfc2136_detail::rcode_text(rcode), rcode, 0);
    }
  }

  // ---- texts ---------------------------------------------------------------

  std::string service_error(const std::string& service, const std::string& what) const {
    return std::string(name) + ": service " + service + ": " + what;
  }

  // An error from the server or the way to it, naming the zone and the
  // server (and, for TSIG errors, the key's name: never its secret).
  std::string server_error(const std::exception& e) const {
    std::string out =
        std::string(name) + ": zone " + zone_text_ + ", DNS server " + client_.server().text() + ": " + e.what();
    if (auto* a = dynamic_cast<const rfc2136_detail::answer_error*>(&e)) {
      if (a->tsig_error() != 0)
        out += " (check tsigKeyName, tsigSecret and tsigAlgorithm" +
               std::string(a->tsig_error() == 18 ? ", and the clocks" : "") + ")";
      else if (a->rcode() == LDNS_RCODE_NOTAUTH || a->rcode() == LDNS_RCODE_REFUSED)
        out += " (is the server authoritative for the zone, and does it allow key " + cfg_.tsigKeyName + "?)";
    }
    return out;
  }

  config cfg_;
  extension_context& ctx_;
  rdf_ptr zone_;
  std::string zone_text_;
  rfc2136_detail::dns_client client_;
  std::optional<rfc2136_detail::zone_view> view_;  // the last look-up; kept while the serial holds
  std::optional<std::chrono::steady_clock::time_point> transfer_refused_at_;
  bool warned_transfer_ = false;
  bool warned_dropped_ = false;
  std::function<void()> before_update_;
  std::atomic<std::uint64_t> updates_{0};
  std::atomic<std::uint64_t> transfers_{0};
};

}  // namespace interlook::ext::dns
