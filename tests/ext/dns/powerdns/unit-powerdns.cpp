// dns.powerdns against a real PowerDNS Authoritative 4.7 with the gsqlite3
// backend (tests/peers/powerdns/powerdns-peer starts it): the names are asked
// over DNS; the API calls are counted; someone else's records are made
// through the API and must come through every add and delete unchanged.
#include "tests/ext/dns/powerdns/peer.hpp"

#include <interlook/ext/dns/powerdns/powerdns.hpp>
#include <interlook/testing/ext_runner.hpp>
#include <interlook/testing/handle.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using interlook::action;
using interlook::message;
using interlook::ext::dns::powerdns;
using powerdns_test::pdns_peer;
using powerdns_test::type_aaaa;
using powerdns_test::type_txt;

namespace {

message add(const std::string& name, const std::string& ip, std::vector<std::string> aliases) {
  message m;
  m.action = action::add;
  m.service.name = name;
  m.service.public_ip = ip;
  m.service.dns_names = std::move(aliases);
  m.service.targets = {{"10.9.0.1", 8080, 1}};
  return m;
}

message remove(message m) {
  m.action = action::remove;
  return m;
}

// The handler called directly, one batch at a time (deterministic batches).
struct direct {
  explicit direct(const powerdns::config& c) : h(c, ctx) {}
  std::vector<message> batch(std::vector<message> b) { return interlook::testing::handle_batch(h, std::move(b)); }
  message one(message m) { return interlook::testing::handle_one(h, std::move(m)); }
  interlook::logger log{interlook::log_level::warn, [](interlook::log_level, std::string_view) {}};
  interlook::extension_context ctx{log, powerdns::name};
  powerdns h;
};

std::string txt_of(const std::string& service) {
  return "TXT \"heritage=interlook,owner=interlook,service=" + service + "\"";
}

}  // namespace

TEST_CASE("add: every alias answers with the VIP over DNS, the ownership TXT beside it; a second add sends no PATCH") {
  pdns_peer peer;
  direct d(peer.config());
  auto a = d.one(add("web", "10.0.0.10", {"web.example.test", "WWW.example.test."}));
  CHECK(a.error.empty());
  CHECK(d.h.patches() == 1);
  CHECK(d.h.zone_reads() == 1);
  for (auto name : {"web.example.test", "www.example.test"}) {
    auto r = peer.dig(name);
    CHECK(r.status == "NOERROR");
    CHECK(r.records == std::vector<std::string>{"A 10.0.0.10"});
    CHECK(peer.dig(name, type_txt).has(txt_of("web")));
  }
  auto again = d.one(add("web", "10.0.0.10", {"web.example.test", "www.example.test"}));
  CHECK(again.error.empty());
  CHECK(d.h.patches() == 1);  // nothing written
  CHECK(d.h.zone_reads() == 2);
}

TEST_CASE("several services in one batch: one GET, one PATCH") {
  pdns_peer peer;
  direct d(peer.config());
  auto answers = d.batch({add("a", "10.0.1.1", {"a.example.test"}), add("b", "10.0.1.2", {"b.example.test", "b2.example.test"}),
                          add("c", "10.0.1.3", {"c.example.test"})});
  for (auto& m : answers) CHECK(m.error.empty());
  CHECK(d.h.zone_reads() == 1);
  CHECK(d.h.patches() == 1);
  CHECK(peer.dig("b2.example.test").has("A 10.0.1.2"));
  CHECK(peer.dig("c.example.test").has("A 10.0.1.3"));
}

TEST_CASE("update: a new VIP and an alias dropped change the answers, the dropped name is gone; delete: NXDOMAIN") {
  pdns_peer peer;
  direct d(peer.config());
  CHECK(d.one(add("api", "10.0.2.1", {"api.example.test", "api-v1.example.test"})).error.empty());
  CHECK(peer.dig("api-v1.example.test").has("A 10.0.2.1"));

  auto u = d.one(add("api", "10.0.2.2", {"api.example.test"}));
  CHECK(u.error.empty());
  CHECK(d.h.patches() == 2);
  CHECK(peer.dig("api.example.test").records == std::vector<std::string>{"A 10.0.2.2"});
  CHECK(peer.dig("api-v1.example.test").status == "NXDOMAIN");
  CHECK(peer.dig("api-v1.example.test", type_txt).status == "NXDOMAIN");

  // IPv6: AAAA replaces A.
  CHECK(d.one(add("api", "2001:db8::2", {"api.example.test"})).error.empty());
  CHECK(peer.dig("api.example.test", type_aaaa).records == std::vector<std::string>{"AAAA 2001:db8::2"});
  CHECK(peer.dig("api.example.test").records.empty());

  auto del = d.one(remove(add("api", "2001:db8::2", {"api.example.test"})));
  CHECK(del.error.empty());
  CHECK(peer.dig("api.example.test").status == "NXDOMAIN");
  CHECK(peer.dig("api.example.test", type_txt).status == "NXDOMAIN");
  auto patches = d.h.patches();
  CHECK(d.one(remove(add("api", "2001:db8::2", {"api.example.test"}))).error.empty());
  CHECK(d.h.patches() == patches);  // gone already: nothing written
  CHECK(peer.zone_lines() == std::vector<std::string>{"example.test. NS 3600 ns1.example.test."});
}

TEST_CASE("someone else's record of the same name: an error naming it; nothing else of the service; others go ahead; it survives add and delete") {
  pdns_peer peer;
  peer.put_rrset("shop.example.test.", "A", {"192.0.2.7"});
  peer.put_rrset("blog.example.test.", "TXT", {"\"heritage=interlook,owner=team-b,service=blog\""});
  peer.put_rrset("blog.example.test.", "A", {"192.0.2.8"});
  auto before = peer.zone_lines();
  direct d(peer.config());

  auto answers = d.batch({add("shop", "10.0.3.1", {"shop-new.example.test", "shop.example.test"}),
                          add("blog", "10.0.3.2", {"blog.example.test"}), add("fine", "10.0.3.3", {"fine.example.test"})});
  CHECK(answers[0].error ==
        "dns.powerdns: service shop: shop.example.test. exists and is not ours (A 192.0.2.7; no interlook ownership TXT); left alone");
  CHECK(answers[1].error.find("blog.example.test. belongs to owner \"team-b\", service \"blog\"") != std::string::npos);
  CHECK(answers[2].error.empty());
  CHECK(peer.dig("shop-new.example.test").status == "NXDOMAIN");  // nothing else of shop was written
  CHECK(peer.dig("shop.example.test").records == std::vector<std::string>{"A 192.0.2.7"});
  CHECK(peer.dig("fine.example.test").has("A 10.0.3.3"));

  auto del = d.batch({remove(add("shop", "10.0.3.1", {"shop-new.example.test", "shop.example.test"})),
                      remove(add("blog", "10.0.3.2", {"blog.example.test"})), remove(add("fine", "10.0.3.3", {"fine.example.test"}))});
  for (auto& m : del) CHECK(m.error.empty());
  CHECK(peer.zone_lines() == before);  // the foreign records exactly as they were
}

TEST_CASE("TXT records someone adds to one of our names stay through updates and the delete") {
  pdns_peer peer;
  direct d(peer.config());
  CHECK(d.one(add("mail", "10.0.4.1", {"mail.example.test"})).error.empty());
  peer.put_rrset("mail.example.test.", "TXT", {"\"heritage=interlook,owner=interlook,service=mail\"", "\"v=spf1 -all\""});
  CHECK(d.one(add("mail", "10.0.4.2", {"mail.example.test"})).error.empty());
  CHECK(peer.dig("mail.example.test").has("A 10.0.4.2"));
  CHECK(d.one(remove(add("mail", "10.0.4.2", {"mail.example.test"}))).error.empty());
  auto txt = peer.dig("mail.example.test", type_txt);
  CHECK(txt.records == std::vector<std::string>{"TXT \"v=spf1 -all\""});
  CHECK(peer.dig("mail.example.test").records.empty());
}

TEST_CASE("422: the batch PATCH is refused for one bad service; each is sent alone, the bad one fails with PowerDNS's reason") {
  pdns_peer peer;
  direct d(peer.config());
  auto answers = d.batch({add("good1", "10.0.5.1", {"good1.example.test"}), add("bad", "10.0.5.2", {"a*b.example.test"}),
                          add("good2", "10.0.5.3", {"good2.example.test"})});
  CHECK(answers[0].error.empty());
  CHECK(answers[1].error ==
        "dns.powerdns: service bad: zone example.test. on PowerDNS server localhost at " + peer.url() +
            ": PowerDNS refused the change (422): Name 'a*b.example.test.' contains unsupported characters");
  CHECK(answers[2].error.empty());
  CHECK(d.h.patches() == 4);  // the batch, then three alone
  CHECK(peer.dig("good1.example.test").has("A 10.0.5.1"));
  CHECK(peer.dig("good2.example.test").has("A 10.0.5.3"));
}

TEST_CASE("a wrong API key, zone or server id: clear errors naming zone and server, never the key") {
  pdns_peer peer;
  auto cfg = peer.config();
  cfg.apiKey.value = "wrong-key-4711-abcdef";
  {
    direct d(cfg);
    auto a = d.one(add("web", "10.0.6.1", {"web.example.test"}));
    CHECK(a.error == "dns.powerdns: service web: zone example.test. on PowerDNS server localhost at " + peer.url() +
                         ": the API key was refused (401; check dns.powerdns apiKey)");
    CHECK(a.error.find(cfg.apiKey.value) == std::string::npos);
    CHECK(a.error.find(peer.key()) == std::string::npos);
  }
  cfg = peer.config();
  cfg.zone = "nothere.test";
  {
    direct d(cfg);
    auto a = d.one(add("web", "10.0.6.1", {"web.nothere.test"}));
    CHECK(a.error.find("zone nothere.test. on PowerDNS server localhost") != std::string::npos);
    CHECK(a.error.find("not found (404: no such zone or server id") != std::string::npos);
    CHECK(a.error.find(peer.key()) == std::string::npos);
  }
  cfg = peer.config();
  cfg.serverId = "elsewhere";
  direct d(cfg);
  auto a = d.one(add("web", "10.0.6.1", {"web.example.test"}));
  CHECK(a.error.find("on PowerDNS server elsewhere") != std::string::npos);
  CHECK(a.error.find("404") != std::string::npos);
  // An alias outside the zone is the service's own error, before any call.
  CHECK(d.one(add("x", "10.0.6.2", {"web.example.com"})).error ==
        "dns.powerdns: service x: DNS alias \"web.example.com\" is not in zone example.test.");
}

TEST_CASE("through the engine's adapter: server stopped, errors and nothing deleted; started again, the retried steps converge") {
  pdns_peer peer;
  interlook::testing::ext_runner<powerdns> r(peer.config());
  r.send(add("web", "10.0.7.1", {"web.example.test"}));
  auto a = r.next(15s);
  REQUIRE(a);
  CHECK(a->error.empty());

  peer.stop();
  r.send(add("web", "10.0.7.2", {"web.example.test", "www.example.test"}));
  r.send(remove(add("other", "10.0.7.3", {"other.example.test"})));
  for (int i = 0; i < 2; ++i) {
    auto m = r.next(15s);
    REQUIRE(m);
    CHECK(m->error.find("zone example.test. on PowerDNS server localhost at " + peer.url() + ": unreachable") != std::string::npos);
  }
  peer.start();
  CHECK(peer.dig("web.example.test").has("A 10.0.7.1"));  // nothing was lost meanwhile
  r.send(add("web", "10.0.7.2", {"web.example.test", "www.example.test"}));
  auto b = r.next(15s);
  REQUIRE(b);
  CHECK(b->error.empty());
  CHECK(peer.dig("web.example.test").records == std::vector<std::string>{"A 10.0.7.2"});
  CHECK(peer.dig("www.example.test").records == std::vector<std::string>{"A 10.0.7.2"});
}

TEST_CASE("200 services: batched against one at a time (time and API calls)") {
  pdns_peer peer;
  std::vector<message> adds;
  for (int i = 0; i < 200; ++i)
    adds.push_back(add("s" + std::to_string(i), "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1),
                       {"s" + std::to_string(i) + ".example.test"}));
  using clock = std::chrono::steady_clock;
  auto ms = [](clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };

  direct batched(peer.config());
  auto t0 = clock::now();
  for (auto& m : batched.batch(adds)) CHECK(m.error.empty());
  auto add_ms = ms(clock::now() - t0);
  auto add_calls = batched.h.zone_reads() + batched.h.patches();
  t0 = clock::now();
  for (auto& m : batched.batch(adds)) CHECK(m.error.empty());
  auto again_ms = ms(clock::now() - t0);
  auto again_calls = batched.h.zone_reads() + batched.h.patches() - add_calls;
  for (int i = 0; i < 200; i += 37) CHECK(peer.dig("s" + std::to_string(i) + ".example.test").records.size() == 1);
  std::vector<message> deletes;
  for (auto& m : adds) deletes.push_back(remove(m));
  t0 = clock::now();
  for (auto& m : batched.batch(deletes)) CHECK(m.error.empty());
  auto del_ms = ms(clock::now() - t0);
  auto del_calls = batched.h.zone_reads() + batched.h.patches() - add_calls - again_calls;
  CHECK(add_calls == 2);
  CHECK(again_calls == 1);
  CHECK(del_calls == 2);
  CHECK(peer.dig("s0.example.test").status == "NXDOMAIN");

  // The same 200 one at a time (a batch of one each: what a handler without batching does).
  direct single(peer.config());
  t0 = clock::now();
  for (auto& m : adds) CHECK(single.one(m).error.empty());
  auto one_ms = ms(clock::now() - t0);
  auto one_calls = single.h.zone_reads() + single.h.patches();
  CHECK(one_calls == 400);
  for (auto& m : deletes) CHECK(single.one(m).error.empty());

  // Through the adapter, as the engine sends them (batches form from what is waiting).
  interlook::testing::ext_runner<powerdns> r(peer.config());
  t0 = clock::now();
  for (auto& m : adds) r.send(m);
  for (int i = 0; i < 200; ++i) {
    auto m = r.next(30s);
    REQUIRE(m);
    CHECK(m->error.empty());
  }
  auto runner_ms = ms(clock::now() - t0);
  auto& h = r.get().get();
  MESSAGE("200 services, PowerDNS 4.7 gsqlite3: batched add " << add_ms << " ms in " << add_calls << " API calls; repeated add "
                                                             << again_ms << " ms in " << again_calls << " call; delete " << del_ms
                                                             << " ms in " << del_calls << " calls; one at a time: add " << one_ms
                                                             << " ms in " << one_calls << " calls; through the adapter: " << runner_ms
                                                             << " ms, " << h.zone_reads() << " GETs + " << h.patches() << " PATCHes");
}
