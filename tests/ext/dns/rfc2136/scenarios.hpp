#pragma once
// dns.rfc2136 against a real server: the same scenarios for BIND and Knot
// (unit-rfc2136-bind.cpp, unit-rfc2136-knot.cpp run them).

#include "tests/ext/dns/rfc2136/peer.hpp"

#include <interlook/testing/ext_runner.hpp>
#include <interlook/testing/handle.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <regex>
#include <string>
#include <vector>

namespace rfc2136_test {

using interlook::action;
using interlook::ext::dns::rfc2136;
using interlook::testing::handle_batch;
using interlook::testing::handle_one;

struct quiet_context {
  interlook::logger log{interlook::log_level::error, [](interlook::log_level, std::string_view) {}};
  interlook::extension_context ctx{log, "dns.rfc2136"};
};

inline void add_update_delete(server_kind kind) {
  dns_peer peer(kind);
  quiet_context q;
  rfc2136 dns(peer.config(), q.ctx);

  // add: every alias answers with the VIP, an ownership TXT beside it.
  auto a = handle_one(dns, msg(action::add, "web", "10.0.0.1", {"web.example.test", "www.example.test"}));
  CHECK(a.error == "");
  CHECK(a.service.public_ip == "10.0.0.1");
  CHECK(dns.updates_sent() == 1);
  for (auto name : {"web.example.test", "www.example.test"}) {
    CHECK(peer.dig(name, "A").records == std::vector<std::string>{"A 10.0.0.1"});
    CHECK(peer.dig(name, "TXT").records == std::vector<std::string>{txt_of("web")});
  }

  // The same add again: nothing to change, no UPDATE.
  CHECK(handle_one(dns, msg(action::add, "web", "10.0.0.1", {"web.example.test", "www.example.test"})).error == "");
  CHECK(dns.updates_sent() == 1);

  // update: a new VIP and one alias dropped.
  CHECK(handle_one(dns, msg(action::add, "web", "10.0.0.2", {"web.example.test"})).error == "");
  CHECK(dns.updates_sent() == 2);
  CHECK(peer.dig("web.example.test", "A").records == std::vector<std::string>{"A 10.0.0.2"});
  CHECK(peer.dig("www.example.test", "A").status == "NXDOMAIN");
  CHECK(peer.dig("www.example.test", "TXT").status == "NXDOMAIN");

  // An IPv6 VIP gets AAAA records, and a change of family replaces the A.
  CHECK(handle_one(dns, msg(action::add, "v6", "2001:db8::5", {"v6.example.test"})).error == "");
  CHECK(peer.dig("v6.example.test", "AAAA").records == std::vector<std::string>{"AAAA 2001:db8::5"});
  CHECK(handle_one(dns, msg(action::add, "v6", "10.0.0.6", {"v6.example.test"})).error == "");
  CHECK(peer.dig("v6.example.test", "AAAA").records.empty());
  CHECK(peer.dig("v6.example.test", "A").records == std::vector<std::string>{"A 10.0.0.6"});

  // delete: gone; twice: nothing to do, no UPDATE, no error.
  auto sent = dns.updates_sent();
  CHECK(handle_one(dns, msg(action::remove, "web", "10.0.0.2", {"web.example.test"})).error == "");
  CHECK(dns.updates_sent() == sent + 1);
  CHECK(peer.dig("web.example.test", "A").status == "NXDOMAIN");
  CHECK(handle_one(dns, msg(action::remove, "web", "10.0.0.2", {"web.example.test"})).error == "");
  CHECK(dns.updates_sent() == sent + 1);
  // A delete carries the stored definition; names the service owns but the
  // message does not list are found by the transfer and removed too.
  CHECK(handle_one(dns, msg(action::remove, "v6", "", {})).error == "");
  CHECK(peer.dig("v6.example.test", "A").status == "NXDOMAIN");
  CHECK(peer.zone_lines() == std::vector<std::string>{"example.test. NS ns.example.test.",
                                                      "ns.example.test. A 127.0.0.1"});
}

inline const char* foreign_records =
    "taken IN A 192.0.2.50\n"
    "claimed IN A 192.0.2.51\n"
    "claimed IN TXT \"heritage=interlook,owner=someone-else,service=billing\"\n"
    "alias IN CNAME elsewhere.example.org.\n";

inline void foreign_records_are_left_alone(server_kind kind) {
  peer_options o;
  o.records = foreign_records;
  dns_peer peer(kind, o);
  // Created at run time by someone else, too.
  peer.nsupdate("update add late.example.test 300 A 192.0.2.52");
  auto before = peer.zone_lines();
  quiet_context q;
  rfc2136 dns(peer.config(), q.ctx);

  auto answers = handle_batch(dns, {msg(action::add, "one", "10.0.0.1", {"taken.example.test"}),
                                    msg(action::add, "two", "10.0.0.2", {"claimed.example.test"}),
                                    msg(action::add, "three", "10.0.0.3", {"late.example.test", "ok3.example.test"}),
                                    msg(action::add, "four", "10.0.0.4", {"alias.example.test"}),
                                    msg(action::add, "five", "10.0.0.5", {"web.example.org"}),
                                    msg(action::add, "ok", "10.0.0.9", {"ok.example.test"}),
                                    msg(action::add, "six", "10.0.0.6", {"dup.example.test"}),
                                    msg(action::add, "seven", "10.0.0.7", {"dup.example.test"})});
  CHECK(answers[0].error ==
        "dns.rfc2136: service one: taken.example.test exists and is not ours (A 192.0.2.50; no interlook ownership "
        "TXT); left alone");
  CHECK(answers[1].error ==
        "dns.rfc2136: service two: claimed.example.test belongs to owner \"someone-else\", service \"billing\" (TXT "
        "\"heritage=interlook,owner=someone-else,service=billing\"); left alone");
  CHECK(answers[2].error ==
        "dns.rfc2136: service three: late.example.test exists and is not ours (A 192.0.2.52; no interlook ownership "
        "TXT); left alone");
  CHECK(answers[3].error ==
        "dns.rfc2136: service four: alias.example.test exists and is not ours (CNAME elsewhere.example.org.; no "
        "interlook ownership TXT); left alone");
  CHECK(answers[4].error == "dns.rfc2136: service five: alias web.example.org is outside zone example.test");
  CHECK(answers[5].error == "");
  CHECK(answers[6].error == "");
  CHECK(answers[7].error ==
        "dns.rfc2136: service seven: dup.example.test is also asked for by service six in the same batch; left to the "
        "first");
  CHECK(peer.dig("dup.example.test", "A").records == std::vector<std::string>{"A 10.0.0.6"});
  CHECK(dns.updates_sent() == 1);
  // A failing service changes nothing, not even its other, free names.
  CHECK(peer.dig("ok3.example.test", "A").status == "NXDOMAIN");
  CHECK(peer.dig("ok.example.test", "A").records == std::vector<std::string>{"A 10.0.0.9"});

  // Deleting services that name foreign records deletes nothing of them.
  auto deleted = handle_batch(dns, {msg(action::remove, "one", "10.0.0.1", {"taken.example.test"}),
                                    msg(action::remove, "two", "10.0.0.2", {"claimed.example.test"}),
                                    msg(action::remove, "three", "10.0.0.3", {"late.example.test"}),
                                    msg(action::remove, "four", "10.0.0.4", {"alias.example.test"}),
                                    msg(action::remove, "ok", "10.0.0.9", {"ok.example.test"})});
  for (auto& d : deleted) CHECK(d.error == "");
  CHECK(handle_one(dns, msg(action::remove, "six", "10.0.0.6", {"dup.example.test"})).error == "");
  CHECK(peer.zone_lines() == before);
  CHECK(dns.updates_sent() == 3);
}

inline void the_server_refuses_a_name_taken_meanwhile(server_kind kind) {
  dns_peer peer(kind);
  quiet_context q;
  rfc2136 dns(peer.config(), q.ctx);
  // Between the look-up and the UPDATE, someone takes b.example.test: the
  // batch's UPDATE fails its prerequisites as a whole (one UPDATE is
  // atomic), then one UPDATE per service lets the others through.
  dns.before_update([&] { peer.nsupdate("update add b.example.test 300 A 192.0.2.77"); });
  auto answers = handle_batch(dns, {msg(action::add, "a", "10.0.0.1", {"a.example.test"}),
                                    msg(action::add, "b", "10.0.0.2", {"b.example.test"}),
                                    msg(action::add, "c", "10.0.0.3", {"c.example.test"})});
  dns.before_update(nullptr);
  CHECK(answers[0].error == "");
  CHECK(answers[1].error ==
        "dns.rfc2136: service b: b.example.test exists and is not ours (A 192.0.2.77; no interlook ownership TXT); "
        "left alone");
  CHECK(answers[2].error == "");
  CHECK(dns.updates_sent() == 4);  // the batch's, then one per service
  CHECK(peer.dig("a.example.test", "A").records == std::vector<std::string>{"A 10.0.0.1"});
  CHECK(peer.dig("b.example.test", "A").records == std::vector<std::string>{"A 192.0.2.77"});
  CHECK(peer.dig("b.example.test", "TXT").records.empty());
  CHECK(peer.dig("c.example.test", "A").records == std::vector<std::string>{"A 10.0.0.3"});
}

inline void a_name_outside_the_update_policy_fails_alone(server_kind kind) {
  peer_options o;
  o.updates_below = "apps";
  dns_peer peer(kind, o);
  quiet_context q;
  rfc2136 dns(peer.config(), q.ctx);
  auto answers = handle_batch(dns, {msg(action::add, "a", "10.0.0.1", {"a.apps.example.test"}),
                                    msg(action::add, "b", "10.0.0.2", {"b.example.test"}),
                                    msg(action::add, "c", "10.0.0.3", {"c.apps.example.test"})});
  CHECK(answers[0].error == "");
  std::string refusal = kind == server_kind::bind ? "REFUSED" : "NOTAUTH/BADKEY";
  CHECK(answers[1].error == "dns.rfc2136: service b: UPDATE of zone example.test refused by " + peer.server() + ": " +
                                refusal + " (does key interlook-key's update policy cover b.example.test?)");
  CHECK(answers[2].error == "");
  CHECK(dns.updates_sent() == 4);  // the batch's, then one per service
  CHECK(peer.dig("a.apps.example.test", "A").records == std::vector<std::string>{"A 10.0.0.1"});
  CHECK(peer.dig("b.example.test", "A").status == "NXDOMAIN");
  CHECK(peer.dig("c.apps.example.test", "A").records == std::vector<std::string>{"A 10.0.0.3"});
}

// ~400 KB of zone: the transfer comes in many messages, each TSIG-signed
// and chained to the previous one's MAC (RFC 8945 5.3.1).
inline void a_large_zone_transfers_in_many_signed_messages(server_kind kind) {
  std::string records;
  for (int i = 0; i < 3000; ++i)
    records += "filler" + std::to_string(i) + " IN TXT \"" + std::string(100, 'x') + "\"\n";
  records += "old IN A 10.0.0.1\nold IN TXT \"heritage=interlook,owner=interlook,service=web\"\n";
  peer_options o;
  o.records = records;
  dns_peer peer(kind, o);
  quiet_context q;
  rfc2136 dns(peer.config(), q.ctx);
  // "old" is a name web owned before; the transfer finds it and removes it.
  CHECK(handle_one(dns, msg(action::add, "web", "10.0.0.2", {"web.example.test"})).error == "");
  CHECK(dns.transfers() == 1);
  CHECK(dns.updates_sent() == 1);
  CHECK(peer.dig("web.example.test", "A").records == std::vector<std::string>{"A 10.0.0.2"});
  CHECK(peer.dig("old.example.test", "A").status == "NXDOMAIN");
  CHECK(peer.dig("filler2999.example.test", "TXT").records.size() == 1);
  // The server's log says how many messages the transfer took.
  auto log = peer.log_text();
  std::smatch m;
  REQUIRE(std::regex_search(log, m, std::regex(R"((\d+) messages)")));
  MESSAGE(kind_name(kind) << ": the transfer took " << m[1] << " messages");
  CHECK(std::stoi(m[1]) > 1);
}

inline void other_tsig_algorithms(server_kind kind) {
  for (std::string algorithm : {"hmac-sha512", "hmac-sha1"}) {
    INFO(algorithm);
    peer_options o;
    o.algorithm = algorithm;
    dns_peer peer(kind, o);
    quiet_context q;
    rfc2136 dns(peer.config(), q.ctx);
    CHECK(handle_one(dns, msg(action::add, "web", "10.0.0.1", {"web.example.test"})).error == "");
    CHECK(peer.dig("web.example.test", "A").records == std::vector<std::string>{"A 10.0.0.1"});
    CHECK(handle_one(dns, msg(action::remove, "web", "10.0.0.1", {"web.example.test"})).error == "");
    CHECK(peer.dig("web.example.test", "A").status == "NXDOMAIN");
    CHECK(dns.transfers() == 2);
  }
}

inline void a_wrong_key_is_a_clear_error_without_the_secret(server_kind kind) {
  dns_peer peer(kind);
  quiet_context q;
  auto cfg = peer.config();
  cfg.tsigSecret.value = random_secret();
  rfc2136 dns(cfg, q.ctx);
  auto a = handle_one(dns, msg(action::add, "web", "10.0.0.1", {"web.example.test"}));
  CHECK(a.error == "dns.rfc2136: zone example.test, DNS server " + peer.server() +
                       ": the server rejected TSIG key interlook-key: NOTAUTH/BADSIG (check tsigKeyName, tsigSecret "
                       "and tsigAlgorithm)");
  CHECK(a.error.find(cfg.tsigSecret.value) == std::string::npos);
  CHECK(a.error.find(peer.secret()) == std::string::npos);
  CHECK(peer.dig("web.example.test", "A").status == "NXDOMAIN");

  auto unknown = peer.config();
  unknown.tsigKeyName = "no-such-key";
  rfc2136 dns2(unknown, q.ctx);
  auto b = handle_one(dns2, msg(action::add, "web", "10.0.0.1", {"web.example.test"}));
  CHECK(b.error.find("the server rejected TSIG key no-such-key: NOTAUTH/BADKEY") != std::string::npos);
  CHECK(b.error.find(peer.secret()) == std::string::npos);
}

inline void an_unreachable_server_is_an_error_and_the_retry_converges(server_kind kind) {
  dns_peer peer(kind);
  quiet_context q;
  rfc2136 dns(peer.config(), q.ctx);
  CHECK(handle_one(dns, msg(action::add, "one", "10.0.0.1", {"one.example.test"})).error == "");

  peer.stop();
  auto down = handle_batch(dns, {msg(action::add, "two", "10.0.0.2", {"two.example.test"}),
                                 msg(action::remove, "one", "10.0.0.1", {"one.example.test"})});
  for (auto& d : down) {
    CHECK(d.error == "dns.rfc2136: zone example.test, DNS server " + peer.server() +
                         ": cannot connect: Connection refused");
  }

  peer.start();
  // What the core's retry sends again.
  auto up = handle_batch(dns, {msg(action::add, "two", "10.0.0.2", {"two.example.test"}),
                               msg(action::add, "one", "10.0.0.1", {"one.example.test"})});
  CHECK(up[0].error == "");
  CHECK(up[1].error == "");
  CHECK(peer.dig("one.example.test", "A").records == std::vector<std::string>{"A 10.0.0.1"});  // never deleted
  CHECK(peer.dig("two.example.test", "A").records == std::vector<std::string>{"A 10.0.0.2"});
}

inline void without_zone_transfers(server_kind kind) {
  peer_options o;
  o.records = "taken IN A 192.0.2.50\n";
  o.axfr = false;
  dns_peer peer(kind, o);
  interlook::testing::ext_runner<rfc2136> r(peer.config());
  auto add = [&](interlook::message m) {
    r.send(std::move(m));
    auto a = r.next();
    REQUIRE(a);
    return *a;
  };
  CHECK(add(msg(action::add, "web", "10.0.0.1", {"web.example.test", "www.example.test"})).error == "");
  CHECK(r.await_log("zone transfers of example.test refused by " + peer.server()) >= 0);
  CHECK(peer.dig("www.example.test", "A").records == std::vector<std::string>{"A 10.0.0.1"});
  auto sent = r.get().get().updates_sent();
  CHECK(add(msg(action::add, "web", "10.0.0.1", {"web.example.test", "www.example.test"})).error == "");
  CHECK(r.get().get().updates_sent() == sent);  // looked up name by name: nothing to change
  CHECK(add(msg(action::add, "x", "10.0.0.3", {"taken.example.test"})).error.find("taken.example.test exists") !=
        std::string::npos);
  // A dropped alias cannot be found: it stays, as the warning said.
  CHECK(add(msg(action::add, "web", "10.0.0.2", {"web.example.test"})).error == "");
  CHECK(peer.dig("web.example.test", "A").records == std::vector<std::string>{"A 10.0.0.2"});
  CHECK(peer.dig("www.example.test", "A").records == std::vector<std::string>{"A 10.0.0.1"});
  // What a delete lists is deleted.
  CHECK(add(msg(action::remove, "web", "10.0.0.2", {"web.example.test", "www.example.test"})).error == "");
  CHECK(peer.dig("web.example.test", "A").status == "NXDOMAIN");
  CHECK(peer.dig("www.example.test", "A").status == "NXDOMAIN");
  CHECK(peer.dig("taken.example.test", "A").records == std::vector<std::string>{"A 192.0.2.50"});
}

}  // namespace rfc2136_test

namespace rfc2136_test {

// 200 services at once through the extension's own thread, as the engine
// drives it: batches form from what is waiting. Prints the figures.
inline void two_hundred_services(server_kind kind) {
  dns_peer peer(kind);
  interlook::testing::ext_runner<rfc2136> r(peer.config());
  auto& dns = r.get().get();
  constexpr int n = 200;
  auto run = [&](action a) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i)
      r.send(msg(a, "svc" + std::to_string(i), "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1),
                 {"svc" + std::to_string(i) + ".example.test"}));
    int errors = 0;
    for (int i = 0; i < n; ++i) {
      auto answer = r.next(std::chrono::seconds(30));
      REQUIRE(answer);
      if (!answer->error.empty()) {
        ++errors;
        MESSAGE(answer->error);
      }
    }
    CHECK(errors == 0);
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  auto add_ms = run(action::add);
  auto add_updates = dns.updates_sent();
  auto add_transfers = dns.transfers();
  auto lines = peer.zone_lines();
  CHECK(lines.size() == 2 + 2 * n);
  CHECK(peer.dig("svc199.example.test", "A").records == std::vector<std::string>{"A 10.1.0.200"});

  auto again_ms = run(action::add);
  CHECK(dns.updates_sent() == add_updates);  // all already there: no UPDATE

  auto delete_ms = run(action::remove);
  auto delete_updates = dns.updates_sent() - add_updates;
  CHECK(peer.zone_lines().size() == 2);
  MESSAGE(kind_name(kind) << ": " << n << " services: add " << add_ms << " ms, " << add_updates << " UPDATE(s), "
                          << add_transfers << " transfer(s); the same adds again " << again_ms
                          << " ms, 0 UPDATEs; delete " << delete_ms << " ms, " << delete_updates << " UPDATE(s)");
}

}  // namespace rfc2136_test
