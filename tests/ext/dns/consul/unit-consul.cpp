// dns.consul against the Consul catalog simulator (tests/simulators/consul/):
// what it registers and what Consul's DNS then answers, idempotence counted
// in writes, updates and deletes, ownership (someone else's nodes and
// service names are never touched), ACL and transport failures without the
// token in any message, recovery after Consul comes back, TLS, and a race
// that check-and-set turns into an error instead of an overwrite.
#include <interlook/ext/dns/consul/consul.hpp>
#include <interlook/extension/async_handler.hpp>
#include <interlook/testing/ext_runner.hpp>

#include "tests/simulators/consul/consul_simulator.hpp"

#include <doctest/doctest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using interlook::action;
using interlook::message;
using interlook::ext::dns::consul;
using runner = interlook::testing::ext_runner<consul>;
namespace json = boost::json;

namespace {

message add(const std::string& name, const std::string& ip, std::vector<std::string> aliases, bool tls = false) {
  message m;
  m.action = action::add;
  m.service.name = name;
  m.service.public_ip = ip;
  m.service.dns_names = std::move(aliases);
  m.service.tls = tls;
  m.service.targets = {{"10.9.0.1", 8080, 1}};
  return m;
}

message remove(message m) {
  m.action = action::remove;
  return m;
}

consul::config config_for(const consul_sim::simulator& sim) {
  consul::config c;
  c.url = sim.url();
  c.timeout = 3s;
  return c;
}

// The answer to `m`, which must come.
message ask(runner& r, message m) {
  r.send(std::move(m));
  auto a = r.next(15s);
  REQUIRE(a);
  return std::move(*a);
}

std::string address_of(const consul_sim::simulator& sim, const std::string& node) {
  auto n = sim.node(node);
  if (!n) return {};
  return std::string(n->at("Node").at("Address").as_string());
}

std::uint64_t modify_index(const consul_sim::simulator& sim, const std::string& node) {
  return sim.node(node)->at("Node").at("ModifyIndex").to_number<std::uint64_t>();
}

// A self-signed certificate for 127.0.0.1 (its own CA), PEM files in `dir`.
consul_sim::tls_config make_certificate(const std::filesystem::path& dir) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  REQUIRE(key);
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 7);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* subject = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("consul test"), -1, -1, 0);
  X509_set_issuer_name(cert, subject);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1"}, std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    REQUIRE(ext);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  REQUIRE(X509_sign(cert, key, EVP_sha256()) > 0);
  consul_sim::tls_config t{(dir / "cert.pem").string(), (dir / "key.pem").string()};
  FILE* f = std::fopen(t.cert_file.c_str(), "w");
  PEM_write_X509(f, cert);
  std::fclose(f);
  f = std::fopen(t.key_file.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
  return t;
}

std::filesystem::path temp_dir(const std::string& stem) {
  const char* base = std::getenv("TEST_TMPDIR");
  auto dir = std::filesystem::path(base ? base : "/tmp") / (stem + "-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace

TEST_CASE("config: url, ownerId, maxInFlight, datacenter are checked") {
  consul::config c;
  c.url = "ftp://x";
  CHECK_THROWS_AS(c.validate(), interlook::invalid_setting);
  c.url = "http://127.0.0.1:8500";
  CHECK_NOTHROW(c.validate());
  c.ownerId = "";
  CHECK_THROWS_AS(c.validate(), interlook::invalid_setting);
  c.ownerId = "me";
  c.maxInFlight = 0;
  CHECK_THROWS_AS(c.validate(), interlook::invalid_setting);
  c.maxInFlight = 4;
  c.datacenter = "dc 1";
  CHECK_THROWS_AS(c.validate(), interlook::invalid_setting);
}

TEST_CASE("catalog helpers: alias to node name, node and transaction replies") {
  namespace cd = interlook::ext::dns::consul_detail;
  std::string why;
  CHECK(cd::node_name("WWW.Example.COM.", why) == "www.example.com");
  CHECK_FALSE(cd::node_name("a..b", why));
  CHECK(why.find("empty label") != std::string::npos);
  CHECK_FALSE(cd::node_name("a b", why));
  CHECK_FALSE(cd::node_name(std::string(64, 'x') + ".test", why));
  // Found by fuzz/dns_consul: "Www.." became the node name "www.".
  CHECK_FALSE(cd::node_name("Www..", why));
  CHECK(why == "DNS alias \"Www..\" has an empty label");
  CHECK_FALSE(cd::node_name("..", why));
  CHECK_FALSE(cd::parse_node("null"));
  auto n = cd::parse_node(R"({"Node":{"Node":"a","Address":"10.0.0.1","Meta":{"k":"v"},"ModifyIndex":12},
                             "Services":{"a":{"ID":"a","Service":"a","Address":"10.0.0.1","Port":443,"Meta":null}}})");
  REQUIRE(n);
  CHECK(n->modify_index == 12);
  CHECK(n->meta.at("k") == "v");
  REQUIRE(n->find_service("a"));
  CHECK(n->find_service("a")->port == 443);
  auto errs = cd::parse_txn_errors(R"({"Results":null,"Errors":[{"OpIndex":1,"What":"failed to set node \"a\", index is stale"}]})");
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].op_index == 1);
  // Errors name operations by index within the transaction (ops[2, 4) here);
  // an index outside it, however large, reads no operation.
  std::vector<cd::txn_op> ops(5);
  for (std::size_t i = 0; i < ops.size(); ++i) ops[i].node = "n" + std::to_string(i);
  auto text = cd::rollback_text(R"({"Errors":[{"OpIndex":1,"What":"Permission denied"},{"OpIndex":18446744073709551614,"What":"x"}]})",
                                ops, 2, 4, "409");
  CHECK(text ==
        "Consul rolled the transaction back, nothing changed: node n3: Permission denied; node ?: x (the ACL token needs "
        "node:write and service:write on the alias names)");
  CHECK(cd::rollback_text("{}", ops, 2, 4, "HTTP 409") == "Consul rolled the transaction back: HTTP 409");
  CHECK(interlook::http::percent_encode("interlook-service:web app/1") == "interlook-service%3Aweb%20app%2F1");
}

TEST_CASE("add publishes every alias (one transaction); Consul's DNS answers the VIP; a second add writes nothing") {
  consul_sim::simulator sim;
  runner r(config_for(sim));
  auto before = sim.requests("PUT /v1/txn");
  auto a = ask(r, add("web", "10.0.0.10", {"web", "WWW.example.com", "web-alt"}));
  CHECK(a.error.empty());
  CHECK(sim.requests("PUT /v1/txn") == before + 1);  // three aliases, one transaction

  auto node = sim.node("www.example.com");
  REQUIRE(node);
  const auto& n = node->at("Node").as_object();
  CHECK(n.at("Address").as_string() == "10.0.0.10");
  CHECK(n.at("Meta").at("external-node").as_string() == "true");
  CHECK(n.at("Meta").at("interlook-owner").as_string() == "interlook");
  CHECK(n.at("Meta").at("interlook-service").as_string() == "web");
  const auto& svc = node->at("Services").at("www.example.com").as_object();
  CHECK(svc.at("Service").as_string() == "www.example.com");
  CHECK(svc.at("Address").as_string() == "10.0.0.10");  // the VIP, not the alias (Go's CNAME loop)
  CHECK(svc.at("Port").to_number<int>() == 80);

  CHECK(sim.resolve("web.node.consul").has("A 10.0.0.10"));
  CHECK(sim.resolve("web.service.consul").records == std::vector<std::string>{"A 10.0.0.10"});
  CHECK(sim.resolve("www.example.com.node.consul").has("A 10.0.0.10"));
  CHECK(sim.resolve("www.example.com.node.dc1.consul").has("A 10.0.0.10"));
  CHECK(sim.resolve("web-alt.service.dc1.consul").has("A 10.0.0.10"));

  auto writes = sim.writes();
  auto txns = sim.requests("PUT /v1/txn");
  auto again = ask(r, add("web", "10.0.0.10", {"web", "www.example.com", "web-alt"}));
  CHECK(again.error.empty());
  CHECK(sim.writes() == writes);
  CHECK(sim.requests("PUT /v1/txn") == txns);
  CHECK(r.get().get().transactions() == 1);
  CHECK(sim.requests("PUT /v1/catalog/register") == 0);
  CHECK(sim.requests("PUT /v1/catalog/deregister") == 0);
}

TEST_CASE("TLS service: port 443; IPv6 VIP: AAAA") {
  consul_sim::simulator sim;
  runner r(config_for(sim));
  CHECK(ask(r, add("secure", "2001:db8::10", {"secure"}, true)).error.empty());
  auto node = sim.node("secure");
  REQUIRE(node);
  CHECK(node->at("Services").at("secure").at("Port").to_number<int>() == 443);
  CHECK(sim.resolve("secure.service.consul").has("AAAA 2001:db8::10"));
}

TEST_CASE("update: a new VIP and an alias dropped change the answers; the dropped name is gone; delete removes the rest") {
  consul_sim::simulator sim;
  runner r(config_for(sim));
  CHECK(ask(r, add("api", "10.0.0.20", {"api", "api-v1", "api.example.com"})).error.empty());
  CHECK(sim.resolve("api-v1.node.consul").has("A 10.0.0.20"));

  auto txns = sim.requests("PUT /v1/txn");
  auto u = ask(r, add("api", "10.0.0.21", {"api", "api.example.com"}));
  CHECK(u.error.empty());
  CHECK(sim.requests("PUT /v1/txn") == txns + 1);  // changes and the removal together
  CHECK(sim.resolve("api.node.consul").records == std::vector<std::string>{"A 10.0.0.21"});
  CHECK(sim.resolve("api.service.consul").records == std::vector<std::string>{"A 10.0.0.21"});
  CHECK(sim.resolve("api.example.com.node.consul").has("A 10.0.0.21"));
  CHECK(sim.resolve("api-v1.node.consul").rcode == "NXDOMAIN");
  CHECK_FALSE(sim.node("api-v1"));

  auto d = ask(r, remove(add("api", "10.0.0.21", {"api", "api.example.com"})));
  CHECK(d.error.empty());
  CHECK_FALSE(sim.node("api"));
  CHECK_FALSE(sim.node("api.example.com"));
  CHECK(sim.resolve("api.service.consul").rcode == "NXDOMAIN");

  auto writes = sim.writes();
  CHECK(ask(r, remove(add("api", "10.0.0.21", {"api"}))).error.empty());  // gone already: nothing written
  CHECK(sim.writes() == writes);
}

TEST_CASE("delete finds every node of the service, also aliases the delete no longer lists") {
  consul_sim::simulator sim;
  runner r(config_for(sim));
  CHECK(ask(r, add("svc", "10.0.0.30", {"one", "two"})).error.empty());
  CHECK(ask(r, remove(add("svc", "10.0.0.30", {"one"}))).error.empty());
  CHECK_FALSE(sim.node("one"));
  CHECK_FALSE(sim.node("two"));
}

TEST_CASE("someone else's node of the same name: an error naming it and its owner; it is never changed or deleted") {
  consul_sim::simulator sim;
  sim.register_entity(json::object{{"Node", "shop"}, {"Address", "192.0.2.7"}, {"NodeMeta", json::object{{"team", "payments"}}}});
  sim.register_entity(json::object{{"Node", "legacy"}, {"Address", "192.0.2.8"}, {"NodeMeta", json::object{{"external-node", "true"}}}});
  auto shop_index = modify_index(sim, "shop");
  runner r(config_for(sim));

  auto a = ask(r, add("shop", "10.0.0.40", {"shop-new", "shop"}));
  CHECK(a.error.find("dns.consul: service shop: ") == 0);
  CHECK(a.error.find("Consul node shop (address 192.0.2.7)") != std::string::npos);
  CHECK(a.error.find("not registered by interlook") != std::string::npos);
  CHECK_FALSE(sim.node("shop-new"));  // nothing else of the service was touched
  CHECK(address_of(sim, "shop") == "192.0.2.7");
  CHECK(modify_index(sim, "shop") == shop_index);

  auto g = ask(r, add("legacy", "10.0.0.41", {"legacy"}));
  CHECK(g.error.find("Go interlook") != std::string::npos);

  // Another service of this interlook holds the name: its owner is named.
  CHECK(ask(r, add("first", "10.0.0.42", {"shared"})).error.empty());
  auto second = ask(r, add("second", "10.0.0.43", {"shared"}));
  CHECK(second.error.find("belongs to interlook owner \"interlook\", service \"first\"") != std::string::npos);
  CHECK(address_of(sim, "shared") == "10.0.0.42");

  // A delete of the service never touches the foreign node.
  CHECK(ask(r, remove(add("shop", "10.0.0.40", {"shop-new", "shop"}))).error.empty());
  CHECK(address_of(sim, "shop") == "192.0.2.7");
  CHECK(modify_index(sim, "shop") == shop_index);
  CHECK(address_of(sim, "shared") == "10.0.0.42");
}

TEST_CASE("an alias whose service name is registered elsewhere (here Consul's own \"consul\") is an error") {
  consul_sim::simulator sim;
  runner r(config_for(sim));
  auto a = ask(r, add("c", "10.0.0.50", {"consul"}));
  CHECK(a.error.find("Consul service consul is already registered on node(s) consul-server-1") != std::string::npos);
  CHECK_FALSE(sim.node("consul"));
}

TEST_CASE("another owner's nodes are left alone; ownerId separates two daemons") {
  consul_sim::simulator sim;
  auto c1 = config_for(sim);
  auto c2 = config_for(sim);
  c2.ownerId = "interlook-b";
  runner a(c1), b(c2);
  CHECK(ask(a, add("web", "10.0.0.60", {"web-a"})).error.empty());
  auto e = ask(b, add("web", "10.0.0.61", {"web-a"}));
  CHECK(e.error.find("belongs to interlook owner \"interlook\"") != std::string::npos);
  CHECK(ask(b, remove(add("web", "10.0.0.61", {"web-a"}))).error.empty());
  CHECK(address_of(sim, "web-a") == "10.0.0.60");
}

TEST_CASE("ACL: an unknown token and a token without write permission are clear errors without the token") {
  consul_sim::simulator::options o;
  o.acl = true;
  consul_sim::simulator sim(o);
  const std::string reader = "8f7e6d5c-reader-secret-0000", writer = "1a2b3c4d-writer-secret-0000";
  sim.add_token({"acc-reader", reader, true, false, ""});
  sim.add_token({"acc-writer", writer, true, true, ""});

  auto cfg = config_for(sim);
  cfg.token.value = "0badc0de-not-a-token-9999";
  {
    runner r(cfg);
    auto a = ask(r, add("web", "10.0.0.70", {"web"}));
    CHECK(a.error.find("does not know the ACL token (403 ACL not found") != std::string::npos);
    CHECK(a.error.find(cfg.token.value) == std::string::npos);
  }
  cfg.token.value = reader;
  {
    runner r(cfg);
    auto a = ask(r, add("web", "10.0.0.70", {"web"}));
    CHECK(a.error.find("Permission denied") != std::string::npos);
    CHECK(a.error.find("node:write") != std::string::npos);
    CHECK(a.error.find(reader) == std::string::npos);
    CHECK_FALSE(sim.node("web"));
  }
  cfg.token.value = writer;
  {
    runner r(cfg);
    CHECK(ask(r, add("web", "10.0.0.70", {"web"})).error.empty());
    CHECK(address_of(sim, "web") == "10.0.0.70");
  }
  // A token that may not even read: Consul hides the nodes (filtered answers);
  // that is an error, not "gone already".
  const std::string blind = "5e6f7a8b-blind-secret-0000";
  sim.add_token({"acc-blind", blind, false, false, ""});
  cfg.token.value = blind;
  runner r(cfg);
  auto d = ask(r, remove(add("web", "10.0.0.70", {"web"})));
  CHECK(d.error.find("hid node web from the ACL token") != std::string::npos);
  CHECK(d.error.find(blind) == std::string::npos);
  auto a = ask(r, add("web", "10.0.0.71", {"web"}));
  CHECK(a.error.find("hid node web from the ACL token") != std::string::npos);
  CHECK(address_of(sim, "web") == "10.0.0.70");
}

TEST_CASE("Consul stopped: an error, nothing deleted; started again: the retried step converges") {
  consul_sim::simulator sim;
  runner r(config_for(sim));
  CHECK(ask(r, add("web", "10.0.0.80", {"web"})).error.empty());
  sim.stop();
  auto a = ask(r, add("web", "10.0.0.81", {"web", "www"}));
  CHECK(a.error.find("dns.consul: service web: Consul at " + sim.url() + " is unreachable") == 0);
  auto d = ask(r, remove(add("web", "10.0.0.80", {"web"})));
  CHECK_FALSE(d.error.empty());
  sim.start();
  CHECK(address_of(sim, "web") == "10.0.0.80");  // the failed delete deleted nothing
  CHECK(ask(r, add("web", "10.0.0.81", {"web", "www"})).error.empty());
  CHECK(sim.resolve("web.node.consul").has("A 10.0.0.81"));
  CHECK(sim.resolve("www.node.consul").has("A 10.0.0.81"));
}

TEST_CASE("a node created by someone else between the read and the write: Consul rolls back (cas), nothing overwritten") {
  consul_sim::simulator sim;
  std::atomic<bool> raced{false};
  sim.before_request([&](const std::string& method, const std::string& path) {
    if (method == "PUT" && path == "/v1/txn" && !raced.exchange(true))
      sim.register_entity(json::object{{"Node", "race"}, {"Address", "192.0.2.99"}});
  });
  runner r(config_for(sim));
  auto a = ask(r, add("racer", "10.0.0.90", {"racer", "race"}));
  CHECK(a.error.find("index is stale") != std::string::npos);
  CHECK(a.error.find("node race") != std::string::npos);
  CHECK(address_of(sim, "race") == "192.0.2.99");
  CHECK_FALSE(sim.node("racer"));  // the transaction was all or nothing
  sim.before_request(nullptr);
  auto again = ask(r, add("racer", "10.0.0.90", {"racer", "race"}));  // the retry now sees the foreign node
  CHECK(again.error.find("Consul node race (address 192.0.2.99)") != std::string::npos);
}

TEST_CASE("datacenter: requests name it; an unknown one is Consul's error") {
  consul_sim::simulator sim;
  auto cfg = config_for(sim);
  cfg.datacenter = "dc1";
  {
    runner r(cfg);
    CHECK(ask(r, add("web", "10.0.1.1", {"web"})).error.empty());
    CHECK(sim.node("web")->at("Node").at("Datacenter").as_string() == "dc1");
    CHECK(r.get().get().dns_names("web") ==
          std::vector<std::string>{"web.node.consul", "web.node.dc1.consul", "web.service.consul"});
  }
  cfg.datacenter = "dc2";
  runner r(cfg);
  auto a = ask(r, add("db", "10.0.1.2", {"db"}));
  CHECK(a.error.find("No path to datacenter") != std::string::npos);
}

TEST_CASE("bad input is the service's error: no public_ip, a bad alias") {
  consul_sim::simulator sim;
  runner r(config_for(sim));
  CHECK(ask(r, add("a", "", {"a"})).error.find("no public_ip") != std::string::npos);
  CHECK(ask(r, add("b", "10.0.0.1", {"b c"})).error.find("cannot serve") != std::string::npos);
  CHECK(sim.writes() == 0);
}

TEST_CASE("concurrent: 100 services with maxInFlight 8, every alias published, one transaction each") {
  consul_sim::simulator sim;
  auto cfg = config_for(sim);
  cfg.maxInFlight = 8;
  runner r(cfg);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i)
    r.send(add("s" + std::to_string(i), "10.2.0." + std::to_string(i + 1), {"s" + std::to_string(i), "s" + std::to_string(i) + ".example.com"}));
  for (int i = 0; i < 100; ++i) {
    auto a = r.next(15s);
    REQUIRE(a);
    CHECK(a->error.empty());
  }
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  MESSAGE("100 services, 200 aliases: " << took.count() << " ms, " << sim.total_requests() << " requests, "
                                        << sim.requests("PUT /v1/txn") << " transactions");
  CHECK(sim.requests("PUT /v1/txn") == 100);
  CHECK(sim.resolve("s42.example.com.node.consul").has("A 10.2.0.43"));
}

TEST_CASE("TLS: verified with tlsCa; refused without it; insecureSkipVerify only when written") {
  auto dir = temp_dir("consul-tls");
  auto tls = make_certificate(dir);
  consul_sim::simulator::options o;
  o.tls = &tls;
  consul_sim::simulator sim(o);
  auto cfg = config_for(sim);
  CHECK(cfg.url.rfind("https://", 0) == 0);
  {
    runner r(cfg);  // system CAs: refused
    auto a = ask(r, add("web", "10.0.2.1", {"web"}));
    CHECK(a.error.find("is unreachable") != std::string::npos);
    CHECK(a.error.find("certificate verify failed") != std::string::npos);
  }
  {
    auto c = cfg;
    c.tlsCa = tls.cert_file;
    runner r(c);
    CHECK(ask(r, add("web", "10.0.2.1", {"web"})).error.empty());
  }
  {
    auto c = cfg;
    c.insecureSkipVerify = true;
    runner r(c);
    CHECK(ask(r, add("web2", "10.0.2.2", {"web2"})).error.empty());
  }
  CHECK(address_of(sim, "web") == "10.0.2.1");
  std::filesystem::remove_all(dir);
}
