// The Consul simulator against Consul's documented behaviour: catalog
// shapes, transactions with check-and-set and rollback, blocking queries,
// ACL answers, a restart on the same port, and the DNS view.
#include "tests/simulators/consul/consul_simulator.hpp"

#include <interlook/http/blocking_client.hpp>

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <chrono>
#include <future>
#include <string>
#include <thread>

using namespace std::chrono_literals;
namespace json = boost::json;
namespace http = interlook::http;

namespace {

json::object external(const std::string& node, const std::string& address, json::object meta = {}) {
  return json::object{{"Node", node}, {"Address", address}, {"NodeMeta", std::move(meta)}};
}

http::response get(http::blocking_client& c, const std::string& target) {
  auto req = http::request::get(target);
  req.throw_on_error_status = false;
  return c.request(std::move(req));
}

http::response put(http::blocking_client& c, const std::string& target, const std::string& body) {
  auto req = http::request::put(target, body);
  req.throw_on_error_status = false;
  return c.request(std::move(req));
}

std::uint64_t index_of(const http::response& r) { return std::stoull(std::string(r.headers.get_or("X-Consul-Index", "0"))); }

}  // namespace

TEST_CASE("catalog: register, read a node with its services, list by node-meta, deregister") {
  consul_sim::simulator sim;
  http::blocking_client c(sim.url());

  auto body = external("web.example.test", "10.0.0.1", json::object{{"external-node", "true"}, {"team", "a"}});
  body["Service"] = json::object{{"Service", "web"}, {"Address", "10.0.0.1"}, {"Port", 80}};
  auto r = put(c, "/v1/catalog/register", json::serialize(body));
  CHECK(r.status == 200);
  CHECK(r.body == "true");

  r = get(c, "/v1/catalog/node/WEB.example.test");  // names compare case-insensitively
  REQUIRE(r.status == 200);
  CHECK(index_of(r) == sim.index());
  CHECK(r.headers.get_or("X-Consul-KnownLeader", "") == "true");
  auto v = json::parse(r.body).as_object();
  const auto& node = v.at("Node").as_object();
  CHECK(node.at("Node").as_string() == "web.example.test");
  CHECK(node.at("Address").as_string() == "10.0.0.1");
  CHECK(node.at("Datacenter").as_string() == "dc1");
  CHECK(node.at("Meta").as_object().at("team").as_string() == "a");
  CHECK(node.at("ModifyIndex").to_number<std::uint64_t>() == node.at("CreateIndex").to_number<std::uint64_t>());
  const auto& svc = v.at("Services").as_object().at("web").as_object();  // ID defaults to the service name
  CHECK(svc.at("Service").as_string() == "web");
  CHECK(svc.at("Port").to_number<std::uint64_t>() == 80);

  CHECK(get(c, "/v1/catalog/node/nobody").body == "null");

  auto other = external("db.example.test", "10.0.0.2", json::object{{"team", "b"}});
  CHECK(put(c, "/v1/catalog/register", json::serialize(other)).status == 200);
  auto list = json::parse(get(c, "/v1/catalog/nodes?node-meta=team:a").body).as_array();
  REQUIRE(list.size() == 1);
  CHECK(list[0].as_object().at("Node").as_string() == "web.example.test");
  CHECK(json::parse(get(c, "/v1/catalog/nodes").body).as_array().size() == 3);  // with the server's own node

  auto instances = json::parse(get(c, "/v1/catalog/service/web").body).as_array();
  REQUIRE(instances.size() == 1);
  CHECK(instances[0].as_object().at("ServiceAddress").as_string() == "10.0.0.1");
  CHECK(instances[0].as_object().at("NodeMeta").as_object().at("team").as_string() == "a");
  CHECK(json::parse(get(c, "/v1/catalog/services").body).as_object().contains("consul"));

  CHECK(put(c, "/v1/catalog/deregister", R"({"Node":"web.example.test"})").status == 200);
  CHECK(get(c, "/v1/catalog/node/web.example.test").body == "null");
  CHECK(json::parse(get(c, "/v1/catalog/service/web").body).as_array().empty());
  CHECK(get(c, "/v1/catalog/node/x?dc=dc9").status == 500);
  CHECK(get(c, "/v1/nothing").status == 404);
}

TEST_CASE("txn: cas with ModifyIndex 0 creates only; a failed operation rolls the whole transaction back") {
  consul_sim::simulator sim;
  http::blocking_client c(sim.url());
  std::string create = R"([{"Node":{"Verb":"cas","Node":{"Node":"a","Address":"10.0.0.1","ModifyIndex":0}}},
                            {"Service":{"Verb":"set","Node":"a","Service":{"ID":"a","Service":"a","Address":"10.0.0.1","Port":80}}}])";
  auto r = put(c, "/v1/txn", create);
  REQUIRE(r.status == 200);
  auto res = json::parse(r.body).as_object();
  CHECK(res.at("Errors").is_null());
  CHECK(res.at("Results").as_array().size() == 2);
  auto modify = json::parse(get(c, "/v1/catalog/node/a").body).at("Node").at("ModifyIndex").to_number<std::uint64_t>();
  auto writes = sim.writes();

  // Again: the node exists, so the cas fails, and the b registration with it.
  std::string again = R"([{"Node":{"Verb":"cas","Node":{"Node":"b","Address":"10.0.0.2","ModifyIndex":0}}},
                           {"Node":{"Verb":"cas","Node":{"Node":"a","Address":"10.0.0.9","ModifyIndex":0}}}])";
  r = put(c, "/v1/txn", again);
  CHECK(r.status == 409);
  auto errs = json::parse(r.body).as_object();
  CHECK(errs.at("Results").is_null());
  REQUIRE(errs.at("Errors").as_array().size() == 1);
  CHECK(errs.at("Errors").as_array()[0].at("OpIndex").to_number<std::uint64_t>() == 1);
  CHECK(errs.at("Errors").as_array()[0].at("What").as_string() == "failed to set node \"a\", index is stale");
  CHECK(get(c, "/v1/catalog/node/b").body == "null");
  CHECK(sim.writes() == writes);

  // cas with the index read changes it; with an old index it fails; delete-cas likewise.
  r = put(c, "/v1/txn", R"([{"Node":{"Verb":"cas","Node":{"Node":"a","Address":"10.0.0.3","ModifyIndex":)" + std::to_string(modify) + "}}}]");
  CHECK(r.status == 200);
  r = put(c, "/v1/txn", R"([{"Node":{"Verb":"delete-cas","Node":{"Node":"a","ModifyIndex":)" + std::to_string(modify) + "}}}]");
  CHECK(r.status == 409);
  CHECK(r.body.find("failed to delete node \\\"a\\\", index is stale") != std::string::npos);
  auto now = json::parse(get(c, "/v1/catalog/node/a").body).at("Node").at("ModifyIndex").to_number<std::uint64_t>();
  CHECK(now > modify);
  r = put(c, "/v1/txn", R"([{"Node":{"Verb":"delete-cas","Node":{"Node":"a","ModifyIndex":)" + std::to_string(now) + "}}}]");
  CHECK(r.status == 200);
  CHECK(get(c, "/v1/catalog/node/a").body == "null");

  // A service on a missing node; more than 64 operations.
  r = put(c, "/v1/txn", R"([{"Service":{"Verb":"set","Node":"ghost","Service":{"Service":"x"}}}])");
  CHECK(r.status == 409);
  CHECK(r.body.find("Missing node registration") != std::string::npos);
  std::string many = "[";
  for (int i = 0; i < 65; ++i) many += std::string(i ? "," : "") + R"({"Node":{"Verb":"set","Node":{"Node":"n)" + std::to_string(i) + R"(","Address":"10.1.0.1"}}})";
  r = put(c, "/v1/txn", many + "]");
  CHECK(r.status == 413);
  CHECK(r.body == "Transaction contains too many operations (65 > 64)");
}

TEST_CASE("blocking queries: ?index= waits for a change, or for ?wait=") {
  consul_sim::simulator sim;
  http::blocking_client c(sim.url());
  auto first = get(c, "/v1/catalog/nodes");
  auto idx = index_of(first);
  REQUIRE(idx > 0);

  auto t0 = std::chrono::steady_clock::now();
  auto r = get(c, "/v1/catalog/nodes?index=" + std::to_string(idx) + "&wait=200ms");
  auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(waited >= 180ms);
  CHECK(index_of(r) == idx);

  auto later = std::async(std::launch::async, [&] {
    http::blocking_client c2(sim.url());
    return get(c2, "/v1/catalog/nodes?index=" + std::to_string(idx) + "&wait=10s");
  });
  std::this_thread::sleep_for(100ms);
  CHECK(later.wait_for(0ms) == std::future_status::timeout);  // still blocked
  sim.register_entity(external("late", "10.0.0.7"));
  auto woke = later.get();
  CHECK(index_of(woke) > idx);
  CHECK(woke.body.find("\"late\"") != std::string::npos);
}

TEST_CASE("ACLs: unknown token, missing permission, anonymous reads") {
  consul_sim::simulator::options o;
  o.acl = true;
  consul_sim::simulator sim(o);
  sim.add_token({"acc-reader", "reader-secret", true, false, ""});
  sim.add_token({"acc-writer", "writer-secret", true, true, "web"});
  http::blocking_client c(sim.url());

  c.set_header("X-Consul-Token", "no-such-token");
  auto r = get(c, "/v1/catalog/nodes");
  CHECK(r.status == 403);
  CHECK(r.body == "ACL not found");

  c.set_header("X-Consul-Token", "reader-secret");
  CHECK(get(c, "/v1/catalog/nodes").status == 200);
  r = put(c, "/v1/catalog/register", json::serialize(external("web", "10.0.0.1")));
  CHECK(r.status == 403);
  CHECK(r.body == "Permission denied: token with AccessorID 'acc-reader' lacks permission 'node:write' on \"web\"");
  r = put(c, "/v1/txn", R"([{"Node":{"Verb":"set","Node":{"Node":"web","Address":"10.0.0.1"}}}])");
  CHECK(r.status == 409);
  CHECK(r.body.find("lacks permission 'node:write'") != std::string::npos);

  c.set_header("X-Consul-Token", "writer-secret");
  CHECK(put(c, "/v1/catalog/register", json::serialize(external("web", "10.0.0.1"))).status == 200);
  CHECK(put(c, "/v1/catalog/register", json::serialize(external("db", "10.0.0.2"))).status == 403);  // outside its prefix

  c.remove_header("X-Consul-Token");  // anonymous: default deny, reads filtered
  r = get(c, "/v1/catalog/nodes");
  CHECK(r.status == 200);
  CHECK(r.body == "[]");
  CHECK(r.headers.get_or("X-Consul-Results-Filtered-By-ACLs", "") == "true");
  CHECK(get(c, "/v1/catalog/node/web?token=reader-secret").body != "null");  // the deprecated query parameter
}

TEST_CASE("stop and start: same port, catalog kept; stopped means refused") {
  consul_sim::simulator sim;
  sim.register_entity(external("kept", "10.0.0.5"));
  auto url = sim.url();
  sim.stop();
  http::blocking_client c(url);
  CHECK_THROWS_AS(c.request(http::request::get("/v1/catalog/node/kept")), http::error);
  sim.start();
  CHECK(sim.url() == url);
  CHECK(get(c, "/v1/catalog/node/kept").body.find("10.0.0.5") != std::string::npos);
}

TEST_CASE("DNS view: node and service lookups as Consul's DNS interface answers them") {
  consul_sim::simulator sim;
  auto node = external("www.example.com", "10.0.0.1");
  node["Service"] = json::object{{"Service", "www.example.com"}, {"Address", "10.0.0.1"}, {"Port", 80}};
  sim.register_entity(node);
  auto plain = external("web", "10.0.0.2");
  plain["Service"] = json::object{{"Service", "web"}, {"Address", "10.0.0.2"}, {"Port", 80}};
  sim.register_entity(plain);
  auto go_style = external("old", "10.0.0.3");
  go_style["Service"] = json::object{{"Service", "old"}, {"Address", "old"}, {"Port", 80}};  // Go interlook's shape
  sim.register_entity(go_style);

  CHECK(sim.resolve("www.example.com.node.consul").has("A 10.0.0.1"));  // dots joined into the node name
  CHECK(sim.resolve("www.example.com.node.dc1.consul.").has("A 10.0.0.1"));
  CHECK(sim.resolve("web.service.consul").has("A 10.0.0.2"));
  CHECK(sim.resolve("web.service.dc1.consul").has("A 10.0.0.2"));
  CHECK(sim.resolve("www.example.com.service.consul").rcode == "NXDOMAIN");  // service "com", tag "www.example"
  CHECK(sim.resolve("old.service.consul").has("CNAME old."));  // Go's service Address: a CNAME to itself
  CHECK(sim.resolve("nobody.node.consul").rcode == "NXDOMAIN");
  CHECK(sim.resolve("web.node.dc2.consul").rcode == "NXDOMAIN");
}
