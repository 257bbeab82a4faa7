// The Kubernetes API server simulator (tests/simulators/kubernetes) speaks
// the API conventions the provider relies on: these tests hold it to them,
// through the project's own HTTP client, so that the provider's tests prove
// something about a real API server.
#include "tests/simulators/kubernetes/apiserver.hpp"
#include "tests/http/test_pki.hpp"

#include <interlook/http/blocking_client.hpp>

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

#include <string>
#include <vector>

using namespace interlook;
namespace json = boost::json;

namespace {
http::client_options with_token(std::string token = "sim-token") {
  http::client_options o;
  o.credentials = http::credentials::bearer(std::move(token));
  return o;
}

json::object get_json(http::blocking_client& c, const std::string& target) {
  return json::parse(c.request(http::request::get(target)).body).as_object();
}

std::string str(const json::value& v) { return std::string(v.as_string()); }

std::vector<json::object> watch(http::blocking_client& c, const std::string& target, std::function<bool(const json::object&)> each = {}) {
  std::vector<json::object> events;
  c.stream_lines(http::request::get(target), [&](std::string_view line) {
    events.push_back(json::parse(line).as_object());
    return each ? each(events.back()) : true;
  });
  return events;
}

void seed(k8s_sim::apiserver& sim) {
  for (auto [ns, name] : std::vector<std::pair<std::string, std::string>>{{"a", "s1"}, {"a", "s2"}, {"b", "s3"}, {"b", "s4"}, {"c", "s5"}})
    sim.apply("services", k8s_sim::service(ns, name, "NodePort", {{"team", ns == "a" ? "edge" : "core"}}, {{80, 30000}}));
}
}  // namespace

TEST_CASE("simulator: lists carry kind, version and items; pages come from one snapshot; an old continue is 410 Expired") {
  k8s_sim::apiserver sim;
  seed(sim);
  http::blocking_client c(sim.url(), with_token());
  auto all = get_json(c, "/api/v1/services");
  CHECK(str(all["kind"]) == "ServiceList");
  CHECK(str(all["apiVersion"]) == "v1");
  CHECK(str(all["metadata"].as_object()["resourceVersion"]) == std::to_string(sim.resource_version()));
  REQUIRE(all["items"].as_array().size() == 5);
  auto& first = all["items"].as_array()[0].as_object();
  CHECK_FALSE(first.contains("kind"));  // list items carry neither kind nor apiVersion
  CHECK(str(first["metadata"].as_object()["namespace"]) == "a");
  CHECK_FALSE(str(first["metadata"].as_object()["uid"]).empty());

  CHECK(get_json(c, "/api/v1/namespaces/b/services")["items"].as_array().size() == 2);
  CHECK(get_json(c, "/api/v1/services?labelSelector=team%3Dedge")["items"].as_array().size() == 2);
  CHECK(get_json(c, "/api/v1/services?labelSelector=team%20notin%20%28edge%29")["items"].as_array().size() == 3);
  CHECK(get_json(c, "/api/v1/services?fieldSelector=metadata.name%3Ds3")["items"].as_array().size() == 1);

  auto page1 = get_json(c, "/api/v1/services?limit=2");
  auto& md1 = page1["metadata"].as_object();
  REQUIRE(md1.contains("continue"));
  CHECK(md1["remainingItemCount"].to_number<int>() == 3);
  std::string rv = str(md1["resourceVersion"]);
  // Changes between pages do not show: the pages are one snapshot.
  sim.remove("services", "b", "s3");
  sim.apply("services", k8s_sim::service("a", "s0", "NodePort", {}, {{80, 30001}}));
  auto page2 = get_json(c, "/api/v1/services?limit=2&continue=" + str(md1["continue"]));
  CHECK(str(page2["metadata"].as_object()["resourceVersion"]) == rv);
  auto& items2 = page2["items"].as_array();
  REQUIRE(items2.size() == 2);
  CHECK(str(items2[0].as_object()["metadata"].as_object()["name"]) == "s3");
  std::string cont2 = str(page2["metadata"].as_object()["continue"]);

  sim.compact();
  try {
    c.request(http::request::get("/api/v1/services?limit=2&continue=" + cont2));
    FAIL("an expired continue token was served");
  } catch (const http::error& e) {
    CHECK(e.status() == 410);
    auto status = json::parse(e.body()).as_object();
    CHECK(str(status["kind"]) == "Status");
    CHECK(str(status["reason"]) == "Expired");
    CHECK(status["code"].to_number<int>() == 410);
  }
}

TEST_CASE("simulator: get; 404 and 401 are Status objects") {
  k8s_sim::apiserver sim;
  seed(sim);
  http::blocking_client c(sim.url(), with_token());
  auto s = get_json(c, "/api/v1/namespaces/a/services/s1");
  CHECK(str(s["kind"]) == "Service");
  CHECK(str(s["apiVersion"]) == "v1");
  auto req = http::request::get("/api/v1/namespaces/a/services/nope");
  req.throw_on_error_status = false;
  auto r = c.request(req);
  CHECK(r.status == 404);
  auto st = json::parse(r.body).as_object();
  CHECK(str(st["reason"]) == "NotFound");
  CHECK(str(st["message"]) == "services \"nope\" not found");
  http::blocking_client anonymous(sim.url());
  auto r401 = anonymous.request([] {
    auto q = http::request::get("/api/v1/services");
    q.throw_on_error_status = false;
    return q;
  }());
  CHECK(r401.status == 401);
  CHECK(str(json::parse(r401.body).as_object()["reason"]) == "Unauthorized");
  CHECK(sim.count("list", "services", 401) == 1);
}

TEST_CASE("simulator: watches replay changes after a version, follow selectors, end at timeoutSeconds") {
  k8s_sim::apiserver sim;
  seed(sim);
  http::blocking_client c(sim.url(), with_token());
  auto from = std::to_string(sim.resource_version());
  sim.apply("services", k8s_sim::service("a", "x", "NodePort", {{"team", "edge"}}, {{80, 30010}}));
  sim.apply("services", k8s_sim::service("a", "x", "NodePort", {{"team", "core"}}, {{80, 30010}}));
  sim.apply("nodes", k8s_sim::node("n1", "10.0.0.1"));  // another resource: not in a services watch
  sim.remove("services", "a", "x");
  auto events = watch(c, "/api/v1/services?watch=1&resourceVersion=" + from + "&timeoutSeconds=1");
  REQUIRE(events.size() == 3);
  CHECK(str(events[0]["type"]) == "ADDED");
  CHECK(str(events[1]["type"]) == "MODIFIED");
  CHECK(str(events[2]["type"]) == "DELETED");
  auto rv_of = [](json::object& e) { return std::stoull(str(e["object"].as_object()["metadata"].as_object()["resourceVersion"])); };
  CHECK(rv_of(events[0]) < rv_of(events[1]));
  CHECK(rv_of(events[2]) == sim.resource_version());  // a deletion's object carries the deletion's version
  CHECK(str(events[0]["object"].as_object()["kind"]) == "Service");

  // With a selector, an object that stops matching is DELETED, one that starts is ADDED.
  auto selected = watch(c, "/api/v1/services?watch=1&labelSelector=team%3Dedge&resourceVersion=" + from + "&timeoutSeconds=1");
  REQUIRE(selected.size() == 2);
  CHECK(str(selected[0]["type"]) == "ADDED");
  CHECK(str(selected[1]["type"]) == "DELETED");

  // From "0": the current objects as ADDED.
  auto initial = watch(c, "/api/v1/namespaces/b/services?watch=1&resourceVersion=0&timeoutSeconds=1");
  CHECK(initial.size() == 2);
}

TEST_CASE("simulator: 410 for a version older than the history, as HTTP status and as an ERROR event; bookmarks") {
  k8s_sim::apiserver sim;
  seed(sim);
  http::blocking_client c(sim.url(), with_token());
  auto old = std::to_string(sim.resource_version());
  sim.apply("services", k8s_sim::service("a", "x", "NodePort", {}, {{80, 30010}}));
  sim.compact();
  try {
    watch(c, "/api/v1/services?watch=1&resourceVersion=" + old);
    FAIL("a watch from a compacted version was served");
  } catch (const http::error& e) {
    CHECK(e.status() == 410);
    auto st = json::parse(e.body()).as_object();
    CHECK(str(st["reason"]) == "Expired");
    CHECK(str(st["message"]).find("too old resource version: " + old) == 0);
  }
  // Mid-stream: an ERROR event whose object is a Status with code 410, then the end.
  auto events = watch(c, "/api/v1/services?watch=1&resourceVersion=0&allowWatchBookmarks=true", [&](const json::object& e) {
    if (str(e.at("type")) == "ADDED" && str(e.at("object").as_object().at("metadata").as_object().at("name")) == "s1") sim.bookmark();
    if (str(e.at("type")) == "BOOKMARK") sim.expire_watches();
    return true;
  });
  REQUIRE(events.size() == 8);  // 6 ADDED, a BOOKMARK, an ERROR
  CHECK(str(events[6]["type"]) == "BOOKMARK");
  auto& bookmark = events[6]["object"].as_object();
  CHECK(str(bookmark["kind"]) == "Service");
  CHECK(str(bookmark["metadata"].as_object()["resourceVersion"]) == std::to_string(sim.resource_version()));
  CHECK(str(events[7]["type"]) == "ERROR");
  auto& status = events[7]["object"].as_object();
  CHECK(str(status["kind"]) == "Status");
  CHECK(status["code"].to_number<int>() == 410);
  // Without allowWatchBookmarks, no bookmark.
  auto plain = watch(c, "/api/v1/namespaces/b/services?watch=1&resourceVersion=0&timeoutSeconds=1", [&](const json::object&) {
    sim.bookmark();
    return true;
  });
  CHECK(plain.size() == 2);
}

TEST_CASE("simulator: the Service status subresource updates only the status, with optimistic concurrency") {
  k8s_sim::apiserver sim;
  sim.apply("services", k8s_sim::service("a", "lb", "LoadBalancer", {}, {{80, 30000}}));
  http::blocking_client c(sim.url(), with_token());
  auto s = get_json(c, "/api/v1/namespaces/a/services/lb");
  std::string rv = str(s["metadata"].as_object()["resourceVersion"]);
  s["status"] = json::object{{"loadBalancer", json::object{{"ingress", json::array{json::object{{"ip", "192.0.2.7"}}}}}}};
  s["spec"].as_object()["type"] = "NodePort";  // ignored by /status
  sim.apply("services", k8s_sim::service("a", "lb", "LoadBalancer", {{"touched", "yes"}}, {{80, 30000}}));  // someone else writes
  try {
    c.request(http::request::put("/api/v1/namespaces/a/services/lb/status", json::serialize(s)));
    FAIL("a stale resourceVersion was accepted");
  } catch (const http::error& e) {
    CHECK(e.status() == 409);
    CHECK(str(json::parse(e.body()).as_object()["reason"]) == "Conflict");
  }
  auto fresh = get_json(c, "/api/v1/namespaces/a/services/lb");
  fresh["status"] = s["status"];
  fresh["spec"].as_object()["type"] = "NodePort";
  auto updated = json::parse(c.request(http::request::put("/api/v1/namespaces/a/services/lb/status", json::serialize(fresh))).body).as_object();
  CHECK(str(updated["spec"].as_object()["type"]) == "LoadBalancer");
  CHECK(std::stoull(str(updated["metadata"].as_object()["resourceVersion"])) > std::stoull(rv));
  auto stored = sim.get("services", "a", "lb");
  REQUIRE(stored);
  CHECK(json::serialize((*stored)["status"]) == R"({"loadBalancer":{"ingress":[{"ip":"192.0.2.7"}]}})");
  CHECK(sim.count("update", "services/status", 409) == 1);
  CHECK(sim.count("update", "services/status", 200) == 1);
}

TEST_CASE("simulator: TLS with a client certificate required") {
  test_pki::pki pki;
  k8s_sim::apiserver::options o;
  o.tls = true;
  o.cert_file = pki.server.cert_file;
  o.key_file = pki.server.key_file;
  o.client_ca_file = pki.ca.cert_file;
  k8s_sim::apiserver sim(o);
  seed(sim);
  auto opts = with_token();
  opts.tls.ca_file = pki.ca.cert_file;
  http::blocking_client no_cert(sim.url(), opts);
  CHECK_THROWS_AS(no_cert.request(http::request::get("/api/v1/services")), http::error);
  opts.tls.cert_file = pki.client.cert_file;
  opts.tls.key_file = pki.client.key_file;
  http::blocking_client with_cert(sim.url(), opts);
  CHECK(get_json(with_cert, "/api/v1/services")["items"].as_array().size() == 5);
}

TEST_CASE("simulator: the event history is bounded; a watch from before it is 410") {
  k8s_sim::apiserver::options o;
  o.history = 3;
  k8s_sim::apiserver sim(o);
  http::blocking_client c(sim.url(), with_token());
  auto before = std::to_string(sim.resource_version());
  for (int i = 0; i < 5; ++i) sim.apply("services", k8s_sim::service("a", "s" + std::to_string(i), "NodePort", {}, {{80, 30000 + i}}));
  auto r = c.request([&] {
    auto q = http::request::get("/api/v1/services?watch=1&resourceVersion=" + before);
    q.throw_on_error_status = false;
    return q;
  }());
  CHECK(r.status == 410);
  // The last three changes are still there.
  auto recent = std::to_string(sim.resource_version() - 3);
  CHECK(watch(c, "/api/v1/services?watch=1&timeoutSeconds=1&resourceVersion=" + recent).size() == 3);
}
