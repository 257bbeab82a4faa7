// provider.kubernetes against the API server simulator: run on its own
// thread as the engine runs it (ext_runner, which also checks the extension
// laws), over HTTP and HTTPS on 127.0.0.1. Synchronisation is by events:
// messages from the provider, its log lines, and requests seen by the
// simulator; never by sleeping.
#include "tests/http/test_pki.hpp"
#include "tests/scripted.hpp"
#include "tests/simulators/kubernetes/apiserver.hpp"

#include <interlook/ext/provider/kubernetes/kubernetes.hpp>
#include <interlook/runtime/engine.hpp>
#include <interlook/testing/ext_runner.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

using namespace interlook;
using interlook::ext::provider::kubernetes;
using runner = interlook::testing::ext_runner<kubernetes>;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

const k8s_sim::label_map web_labels{{"interlook.hosts", "web.example.test"}, {"interlook.port", "8080"}};

void seed_nodes(k8s_sim::apiserver& sim) {
  sim.apply("nodes", k8s_sim::node("node-a", "10.0.0.1", "203.0.113.1"));
  sim.apply("nodes", k8s_sim::node("node-b", "10.0.0.2"));
  sim.apply("nodes", k8s_sim::node("node-c", "", "203.0.113.3"));  // ExternalIP only
}

// web: 3 ready pods (2 on node-a, 1 on node-b) and a Pending one on node-b.
std::vector<k8s_sim::endpoint_spec> web_endpoints(bool second_ready = true, bool fourth_ready = false) {
  return {{"10.1.0.1", "node-a", true, "web-1"},
          {"10.1.0.2", "node-a", second_ready, "web-2"},
          {"10.1.0.3", "node-b", true, "web-3"},
          {"10.1.0.4", "node-b", fourth_ready, "web-4"}};
}

void seed_web(k8s_sim::apiserver& sim, const std::string& ns = "default", const std::string& type = "NodePort") {
  seed_nodes(sim);
  sim.apply("services", k8s_sim::service(ns, "web", type, web_labels, {{8080, 30080, 8080, "http"}}));
  sim.apply("endpointslices", k8s_sim::endpoint_slice(ns, "web-abcde", "web", web_endpoints()));
}

kubernetes::config config_for(const k8s_sim::apiserver& sim) {
  kubernetes::config c;
  c.endpoint = sim.url();
  c.token.value = "sim-token";
  c.pollInterval = std::chrono::hours(1);
  return c;
}

const std::vector<target> web_targets{{"10.0.0.1", 30080, 2}, {"10.0.0.2", 30080, 1}};

bool watching(k8s_sim::apiserver& sim, int per_resource = 1) {
  return sim.wait_until([&] {
    return sim.open_watches("services") == per_resource && sim.open_watches("endpointslices") == per_resource &&
           sim.open_watches("nodes") == 1;
  });
}

message expect(runner& r, action a, const std::string& name, std::chrono::milliseconds timeout = 10s) {
  auto m = r.next(timeout);
  REQUIRE_MESSAGE(m, "no message; expected " << to_string(a) << " " << name);
  CHECK(m->action == a);
  CHECK(m->service.name == name);
  return *m;
}

message refresh(const std::string& name) {
  message m;
  m.action = action::refresh;
  m.service.name = name;
  return m;
}

message outcome(action a, const std::string& name, const std::string& ip) {
  message m;
  m.action = a;
  m.sender = "core";
  m.service.provider = "provider.kubernetes";
  m.service.name = name;
  m.service.public_ip = ip;
  return m;
}

int log_count(runner& r, const std::string& text) {
  int n = 0;
  for (int at = -1; (at = r.await_log(text, static_cast<std::size_t>(at + 1), 0ms)) >= 0;) ++n;
  return n;
}

std::string temp_dir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  auto dir = std::filesystem::path(base ? base : "/tmp") / ("k8s-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path + ".new") << text;
  std::filesystem::rename(path + ".new", path);
}

std::vector<std::string> ingress_ips(k8s_sim::apiserver& sim, const std::string& ns, const std::string& name) {
  std::vector<std::string> out;
  auto s = sim.get("services", ns, name);
  if (!s) return out;
  auto* st = s->if_contains("status");
  if (!st) return out;
  auto* lb = st->as_object().if_contains("loadBalancer");
  if (!lb) return out;
  auto* ing = lb->as_object().if_contains("ingress");
  if (!ing) return out;
  for (const auto& i : ing->as_array()) out.emplace_back(i.as_object().at("ip").as_string());
  return out;
}

}  // namespace

TEST_CASE("a labelled NodePort Service: its nodes' addresses on the nodePort, weighted by ready endpoints; then changes and deletion") {
  k8s_sim::apiserver sim;
  seed_web(sim);
  // Go's bugs: Pods of another namespace with the same labels were targets,
  // and so were Pending ones. Here, another namespace has a Service of the
  // same name (not labelled for interlook), its own endpoints on node-c, and
  // a Running Pod labelled app=web.
  sim.apply("services", k8s_sim::service("other", "web", "NodePort", {}, {{8080, 31080}}));
  sim.apply("endpointslices", k8s_sim::endpoint_slice("other", "web-zzz", "web", {{"10.9.0.1", "node-c", true, "web-x"}}));
  sim.apply("pods", k8s_sim::pod("other", "web-x", {{"app", "web"}}, "node-c", "Running", true));
  sim.apply("pods", k8s_sim::pod("default", "web-4", {{"app", "web"}}, "node-b", "Pending", false));

  runner r(config_for(sim));
  auto add = expect(r, action::add, "web.default");
  CHECK(add.service.provider == "provider.kubernetes");
  CHECK(add.service.dns_names == std::vector<std::string>{"web.example.test"});
  CHECK_FALSE(add.service.tls);
  CHECK(add.service.targets == web_targets);
  CHECK(r.nothing_pending());  // other/web is not interlook's
  REQUIRE(watching(sim));

  // A pod turns unready: the EndpointSlice is modified, the targets follow
  // within a second.
  auto t0 = std::chrono::steady_clock::now();
  sim.apply("endpointslices", k8s_sim::endpoint_slice("default", "web-abcde", "web", web_endpoints(false)));
  auto changed = expect(r, action::add, "web.default", 1s);
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  CHECK(changed.service.targets == std::vector<target>{{"10.0.0.1", 30080, 1}, {"10.0.0.2", 30080, 1}});

  // The Pending pod becomes ready.
  sim.apply("endpointslices", k8s_sim::endpoint_slice("default", "web-abcde", "web", web_endpoints(false, true)));
  CHECK(expect(r, action::add, "web.default").service.targets == std::vector<target>{{"10.0.0.1", 30080, 1}, {"10.0.0.2", 30080, 2}});

  // A node's address changes.
  sim.apply("nodes", k8s_sim::node("node-b", "10.0.0.22"));
  CHECK(expect(r, action::add, "web.default").service.targets == std::vector<target>{{"10.0.0.1", 30080, 1}, {"10.0.0.22", 30080, 2}});

  // The Service is deleted.
  sim.remove("services", "default", "web");
  expect(r, action::remove, "web.default");
  CHECK(sim.count("list", "services") == 1);  // all of it through the watch
}

TEST_CASE("a Service whose ready endpoints all go keeps its last definition (a rolling update); new targets when one is back") {
  k8s_sim::apiserver sim;
  seed_web(sim);
  sim.apply("services", k8s_sim::service("default", "api", "NodePort", {{"interlook.hosts", "api.example.test"}, {"interlook.port", "9000"}},
                                         {{9000, 30090}}));
  sim.apply("endpointslices", k8s_sim::endpoint_slice("default", "api-1", "api", {{"10.1.1.1", "node-b", true, "api-1"}}, 9000));
  runner r(config_for(sim));
  expect(r, action::add, "api.default");
  auto web = expect(r, action::add, "web.default");
  REQUIRE(watching(sim));
  // web's one pod is replaced: the old one is terminating (not ready), the
  // new one not ready yet. Then api scales up: one watch, so api's event
  // comes after web's, and the next message shows web said nothing.
  sim.apply("endpointslices", k8s_sim::endpoint_slice("default", "web-abcde", "web",
                                                      {{"10.1.0.1", "node-a", false, "web-1", true}, {"10.1.0.9", "node-c", false, "web-9"}}));
  sim.apply("endpointslices", k8s_sim::endpoint_slice("default", "api-1", "api",
                                                      {{"10.1.1.1", "node-b", true, "api-1"}, {"10.1.1.2", "node-a", true, "api-2"}}, 9000));
  CHECK(expect(r, action::add, "api.default").service.targets.size() == 2);
  r.send(refresh("web.default"));
  CHECK(expect(r, action::add, "web.default").service == web.service);  // its last definition
  // The new pod is ready.
  sim.apply("endpointslices", k8s_sim::endpoint_slice("default", "web-abcde", "web", {{"10.1.0.9", "node-c", true, "web-9"}}));
  CHECK(expect(r, action::add, "web.default").service.targets == std::vector<target>{{"203.0.113.3", 30080, 1}});
}

TEST_CASE("a cut watch stream is resumed from the last version seen, without a re-list") {
  k8s_sim::apiserver sim;
  seed_web(sim);
  runner r(config_for(sim));
  expect(r, action::add, "web.default");
  REQUIRE(watching(sim));
  // A change through the watch: the reflector's version is now this one's.
  auto rv = sim.apply("services",
                      k8s_sim::service("default", "web", "NodePort", web_labels, {{8080, 30080}}, {{"interlook.hosts", "a.example,b.example"}}));
  CHECK(expect(r, action::add, "web.default").service.dns_names == std::vector<std::string>{"a.example", "b.example"});
  int lists = sim.count("list", "services");
  int watches = sim.count("watch", "services");

  sim.cut_watches("services");
  REQUIRE(sim.wait_until([&] { return sim.count("watch", "services") > watches && sim.open_watches("services") == 1; }));
  CHECK(sim.last_watch_version("services") == rv);
  // The slice is replaced by another with the same endpoints: no change.
  sim.apply("endpointslices", k8s_sim::endpoint_slice("default", "web-2", "web", web_endpoints()));
  sim.remove("endpointslices", "default", "web-abcde");
  sim.apply("services", k8s_sim::service("default", "web", "NodePort", web_labels, {{8080, 30080}}, {{"interlook.hosts", "c.example"}}));
  CHECK(expect(r, action::add, "web.default").service.dns_names == std::vector<std::string>{"c.example"});
  CHECK(sim.count("list", "services") == lists);
  CHECK(sim.count("list", "endpointslices") == 1);
  CHECK(log_count(r, "API server") == 0);  // a cut is not an error
}

TEST_CASE("410 Gone: a re-list reconciles, and a Service deleted during the gap is deleted") {
  k8s_sim::apiserver sim;
  seed_web(sim);
  sim.apply("services", k8s_sim::service("default", "api", "NodePort", {{"interlook.hosts", "api.example.test"}, {"interlook.port", "9000"}},
                                         {{9000, 30090}}));
  sim.apply("endpointslices", k8s_sim::endpoint_slice("default", "api-1", "api", {{"10.1.1.1", "node-b", true, "api-1"}}, 9000));
  runner r(config_for(sim));
  expect(r, action::add, "api.default");
  expect(r, action::add, "web.default");
  REQUIRE(watching(sim));
  int lists = sim.count("list", "services");

  // The API server stalls; api is deleted meanwhile and the watch never says so.
  sim.pause_watches(true);
  sim.remove("services", "default", "api");
  SUBCASE("as an ERROR event whose object is a Status with code 410") {
    sim.compact();  // the open watch fell out of the history
  }
  SUBCASE("as the HTTP status of the next watch") {
    sim.fail_next("watch", "services", 410);
    sim.cut_watches("services");
  }
  REQUIRE(sim.wait_until([&] { return sim.count("list", "services") == lists + 1; }));
  sim.pause_watches(false);
  expect(r, action::remove, "api.default");
  CHECK(r.nothing_pending());  // web is unchanged: nothing said about it
  CHECK(log_count(r, "API server") == 0);
}

TEST_CASE("bookmarks advance the version a watch resumes from") {
  k8s_sim::apiserver sim;
  seed_web(sim);
  runner r(config_for(sim));
  expect(r, action::add, "web.default");
  REQUIRE(watching(sim));
  int lists = sim.count("list", "services");
  int watches = sim.count("watch", "services");
  // Changes elsewhere move the global version past the services watch's.
  sim.apply("pods", k8s_sim::pod("default", "batch-1", {{"app", "batch"}}, "node-a", "Running", true));
  sim.apply("pods", k8s_sim::pod("default", "batch-2", {{"app", "batch"}}, "node-a", "Running", true));
  auto now = std::to_string(sim.resource_version());
  int sent = sim.bookmarks_sent();
  sim.bookmark("services");
  REQUIRE(sim.wait_until([&] { return sim.bookmarks_sent() > sent; }));
  // Without the bookmark, the version the watch had is now too old (410,
  // and a re-list); with it, the watch resumes.
  sim.compact();
  sim.cut_watches("services");
  REQUIRE(sim.wait_until([&] { return sim.count("watch", "services") > watches && sim.open_watches("services") == 1; }));
  CHECK(sim.last_watch_version("services") == now);
  CHECK(sim.count("list", "services") == lists);
  CHECK(sim.count("watch", "services", 410) == 0);
}

TEST_CASE("401: an error naming the endpoint, logged once; nothing deleted, refresh unanswered; then recovery") {
  k8s_sim::apiserver sim;
  seed_web(sim);
  runner r(config_for(sim));
  expect(r, action::add, "web.default");
  REQUIRE(watching(sim));

  sim.set_token("a-token-the-provider-does-not-have");
  sim.cut_watches();
  int at = r.await_log("API server " + sim.url() + ": ");
  REQUIRE(at >= 0);
  CHECK(r.await_log("401 Unauthorized", static_cast<std::size_t>(at), 0ms) == at);
  CHECK(r.await_log("nothing is deleted", static_cast<std::size_t>(at), 0ms) == at);
  // It keeps trying, with backoff, and says so only once.
  REQUIRE(sim.wait_until([&] { return sim.count("list", "", 401) >= 6; }));
  CHECK(log_count(r, "API server " + sim.url() + ": ") == 1);
  r.send(refresh("web.default"));
  CHECK(r.await_log("cannot answer the refresh of web.default") >= 0);
  CHECK_FALSE(r.next(300ms));  // not answered, and nothing deleted
  sim.remove("services", "default", "web");  // unseen meanwhile

  sim.set_token("sim-token");
  CHECK(r.await_log("API server " + sim.url() + " answers again") >= 0);
  // The re-list after the failure brings the change that was missed.
  expect(r, action::remove, "web.default");
  CHECK(r.nothing_pending());
}

TEST_CASE("an API server that cannot be reached: an error naming it, nothing announced, refresh unanswered") {
  kubernetes::config c;
  c.endpoint = "http://127.0.0.1:1";
  c.pollInterval = std::chrono::hours(1);
  runner r(c);
  int at = r.await_log("API server http://127.0.0.1:1: ");
  REQUIRE(at >= 0);
  r.send(refresh("web.default"));
  int first = r.await_log("cannot answer the refresh of web.default");
  REQUIRE(first >= 0);
  CHECK_FALSE(r.next(200ms));
  // The housekeeper asks again at each pass: one warning per outage.
  r.send(refresh("api.default"));
  r.send(refresh("web.default"));
  CHECK(r.await_log("cannot answer the refresh of api.default") > first);
  CHECK(r.await_log("cannot answer the refresh of web.default", static_cast<std::size_t>(first) + 1) > first);
  CHECK(r.count_log("cannot answer the refresh of") == 3);
  CHECK(r.count_log("cannot answer the refresh of", interlook::log_level::warn) == 1);
  CHECK_FALSE(r.next(100ms));
}

TEST_CASE("updateStatus: the VIP goes into a LoadBalancer's status on deployed (409 retried), out on undeployed; others' entries stay") {
  k8s_sim::apiserver sim;
  seed_web(sim, "default", "LoadBalancer");
  {
    auto s = *sim.get("services", "default", "web");
    s["status"] = json::object{{"loadBalancer", json::object{{"ingress", json::array{json::object{{"ip", "192.0.2.99"}}}}}}};
    sim.apply("services", s);  // another controller's address
  }
  auto c = config_for(sim);
  c.updateStatus = true;
  runner r(c);
  expect(r, action::add, "web.default");
  REQUIRE(watching(sim));

  r.send(outcome(action::add, "web.default", "10.77.0.10"));
  REQUIRE(sim.wait_until([&] { return ingress_ips(sim, "default", "web") == std::vector<std::string>{"192.0.2.99", "10.77.0.10"}; }));
  CHECK(sim.count("update", "services/status", 200) == 1);

  // Someone else updates the Service between our read and our write: 409,
  // read again, write again.
  std::atomic<bool> interfered{false};
  sim.before_status_update([&](const std::string& ns, const std::string& name) {
    if (interfered.exchange(true)) return;
    auto s = *sim.get("services", ns, name);
    s["metadata"].as_object()["labels"].as_object()["touched"] = "yes";
    sim.apply("services", s);
  });
  r.send(outcome(action::add, "web.default", "10.77.0.11"));  // re-deployed on another address
  REQUIRE(sim.wait_until([&] { return ingress_ips(sim, "default", "web") == std::vector<std::string>{"192.0.2.99", "10.77.0.11"}; }));
  CHECK(sim.count("update", "services/status", 409) == 1);
  CHECK(sim.count("update", "services/status", 200) == 2);

  r.send(outcome(action::remove, "web.default", "10.77.0.11"));
  REQUIRE(sim.wait_until([&] { return ingress_ips(sim, "default", "web") == std::vector<std::string>{"192.0.2.99"}; }));
  // The same outcome again changes nothing (no write).
  r.send(outcome(action::remove, "web.default", "10.77.0.11"));
  r.send(refresh("web.default"));
  expect(r, action::add, "web.default");  // the status writes and the label did not change the definition
  CHECK(sim.count("update", "services/status", 200) == 3);
  CHECK(r.nothing_pending());
  sim.before_status_update(nullptr);
}

TEST_CASE("updateStatus through the engine: deployed puts the ipam's address in the status, undeployed takes it out") {
  k8s_sim::apiserver sim;
  seed_web(sim, "default", "LoadBalancer");
  using reg = registry<kubernetes, scripted::ipam>;
  auto cfg = load_config<reg>(config_document::parse("core:\n  workflowSteps: provider.kubernetes,ipam.script\n"
                                                     "provider:\n  kubernetes:\n    endpoint: " + sim.url() +
                                                         "\n    token: sim-token\n    updateStatus: true\n",
                                                     "test.yml"));
  logger log(log_level::error, "stderr");
  engine<reg> core(cfg, log);
  core.start();
  auto state_is = [](std::string_view state) {
    return [state](const state_machine& sm) {
      auto it = sm.entries().find("web.default");
      return it != sm.entries().end() && sm.state_name(it->second) == state && !it->second.work_in_progress;
    };
  };
  REQUIRE(core.await(state_is("deployed"), 10s));
  auto ip = core.ask([](const state_machine& sm) { return sm.entries().at("web.default").service.public_ip; }).get();
  REQUIRE_FALSE(ip.empty());
  REQUIRE(sim.wait_until([&] { return ingress_ips(sim, "default", "web") == std::vector<std::string>{ip}; }));
  // The labels go: the provider deletes, the service is undeployed, the address leaves the status.
  sim.apply("services", k8s_sim::service("default", "web", "LoadBalancer", {}, {{8080, 30080}}));
  REQUIRE(core.await(state_is("undeployed"), 10s));
  REQUIRE(sim.wait_until([&] { return ingress_ips(sim, "default", "web").empty(); }));
  core.request_stop();
  CHECK(core.wait() == 0);
}

TEST_CASE("updateStatus leaves a NodePort Service's status alone, and outcomes are ignored without it") {
  k8s_sim::apiserver sim;
  seed_web(sim);
  auto c = config_for(sim);
  c.updateStatus = true;
  runner r(c);
  expect(r, action::add, "web.default");
  r.send(outcome(action::add, "web.default", "10.77.0.10"));
  REQUIRE(sim.wait_until([&] { return sim.count("get", "services") == 1; }));
  r.send(refresh("web.default"));
  expect(r, action::add, "web.default");
  CHECK(sim.count("update", "services/status") == 0);
}

TEST_CASE("TLS: tlsCa, a client certificate, and a token file that changes on disk") {
  test_pki::pki pki;
  k8s_sim::apiserver::options o;
  o.tls = true;
  o.cert_file = pki.server.cert_file;
  o.key_file = pki.server.key_file;
  o.client_ca_file = pki.ca.cert_file;
  o.token = "tok-1";
  k8s_sim::apiserver sim(o);
  seed_web(sim);
  auto dir = temp_dir("tls");
  write_file(dir + "/token", "tok-1\n");

  kubernetes::config c;
  c.endpoint = sim.url();
  c.tlsCa = pki.ca.cert_file;
  c.tlsCert = pki.client.cert_file;
  c.tlsKey = pki.client.key_file;
  c.tokenFile = dir + "/token";
  c.pollInterval = std::chrono::hours(1);
  {
    runner r(c);
    CHECK(r.await_log("bearer token from " + dir + "/token") >= 0);
    CHECK(expect(r, action::add, "web.default").service.targets == web_targets);
    REQUIRE(watching(sim));

    // Rotation: the new token is written, the old one stops working.
    sim.add_token("tok-2");
    write_file(dir + "/token", "tok-2\n");
    sim.set_token("tok-2");
    int watches = sim.count("watch", "services");
    sim.cut_watches();
    REQUIRE(sim.wait_until([&] { return sim.count("watch", "services") > watches && sim.open_watches("services") == 1; }));
    auto requests = sim.requests();
    CHECK(requests.back().token == "tok-2");
    for (const auto& q : requests) CHECK(q.status != 401);
    sim.apply("endpointslices", k8s_sim::endpoint_slice("default", "web-abcde", "web", web_endpoints(false)));
    CHECK(expect(r, action::add, "web.default").service.targets == std::vector<target>{{"10.0.0.1", 30080, 1}, {"10.0.0.2", 30080, 1}});
  }
  // Without the client certificate the handshake fails: an error naming the endpoint.
  c.tlsCert.clear();
  c.tlsKey.clear();
  runner r(c);
  CHECK(r.await_log("API server " + sim.url() + ": ") >= 0);
  CHECK_FALSE(r.next(200ms));
}

TEST_CASE("in-cluster: KUBERNETES_SERVICE_HOST/PORT and the service account's CA, token (re-read when rotated) and namespace") {
  test_pki::pki pki;
  k8s_sim::apiserver::options o;
  o.tls = true;
  o.cert_file = pki.server.cert_file;
  o.key_file = pki.server.key_file;
  o.token = "sa-1";
  k8s_sim::apiserver sim(o);
  seed_web(sim);
  auto dir = temp_dir("sa");
  std::filesystem::copy_file(pki.ca.cert_file, dir + "/ca.crt");
  write_file(dir + "/token", "sa-1");
  write_file(dir + "/namespace", "interlook");

  kubernetes::config c;
  c.serviceAccountDir = dir;
  c.pollInterval = std::chrono::hours(1);
  {
    interlook::logger quiet(log_level::error, [](log_level, std::string_view) {});
    extension_context ctx(quiet, "provider.kubernetes");
    ::unsetenv("KUBERNETES_SERVICE_HOST");
    CHECK_THROWS_WITH_AS([&] { kubernetes k(c, ctx); }(), doctest::Contains("KUBERNETES_SERVICE_HOST"), std::runtime_error);
  }
  ::setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", std::to_string(sim.port()).c_str(), 1);
  {
    runner r(c);
    CHECK(r.await_log("in-cluster (namespace interlook)") >= 0);
    CHECK(r.await_log("CA " + dir + "/ca.crt") >= 0);
    CHECK(expect(r, action::add, "web.default").service.targets == web_targets);
    REQUIRE(watching(sim));
    sim.add_token("sa-2");
    write_file(dir + "/token", "sa-2");
    sim.set_token("sa-2");
    int watches = sim.count("watch", "nodes");
    sim.cut_watches();
    REQUIRE(sim.wait_until([&] { return sim.count("watch", "nodes") > watches && sim.open_watches("nodes") == 1; }));
    CHECK(sim.requests().back().token == "sa-2");
    CHECK(sim.count("watch", "", 401) == 0);
  }
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
}

TEST_CASE("refresh: from the cache while the watch is healthy; otherwise from the API, with the namespace") {
  k8s_sim::apiserver sim;
  seed_web(sim);
  sim.apply("services", k8s_sim::service("other", "web", "NodePort", {}, {{8080, 31080}}));
  sim.apply("endpointslices", k8s_sim::endpoint_slice("other", "web-zzz", "web", {{"10.9.0.1", "node-c", true, "web-x"}}));
  runner r(config_for(sim));
  auto add = expect(r, action::add, "web.default");
  REQUIRE(watching(sim));

  r.send(refresh("web.default"));
  CHECK(expect(r, action::add, "web.default").service == add.service);
  r.send(refresh("web.other"));
  expect(r, action::remove, "web.other");
  r.send(refresh("gone.default"));
  expect(r, action::remove, "gone.default");
  CHECK(sim.count("get", "services") == 0);  // all from the cache

  // The Nodes watch fails: refresh goes to the API server.
  sim.fail_next("list", "nodes", 503, 1000000);
  sim.fail_next("watch", "nodes", 503, 1000000);
  sim.cut_watches("nodes");
  REQUIRE(r.await_log("API server " + sim.url() + ": ") >= 0);
  r.send(refresh("web.default"));
  CHECK(expect(r, action::add, "web.default").service == add.service);
  r.send(refresh("web.other"));
  expect(r, action::remove, "web.other");
  r.send(refresh("gone.default"));
  expect(r, action::remove, "gone.default");
  std::vector<std::string> gets;
  bool slices_in_namespace = false;
  for (const auto& q : sim.requests()) {
    if (q.verb == "get" && q.resource == "services") gets.push_back(q.path);
    if (q.verb == "list" && q.resource == "endpointslices" && q.ns == "default" &&
        q.query.find("labelSelector=kubernetes.io%2Fservice-name%3Dweb") != std::string::npos)
      slices_in_namespace = true;
  }
  CHECK(gets == std::vector<std::string>{"/api/v1/namespaces/default/services/web", "/api/v1/namespaces/other/services/web",
                                         "/api/v1/namespaces/default/services/gone"});
  CHECK(slices_in_namespace);
  CHECK(sim.count("get", "nodes") == 2);
}

TEST_CASE("malformed labels are logged once, naming the Service and the label; an annotation holds several aliases") {
  k8s_sim::apiserver sim;
  seed_nodes(sim);
  sim.apply("services", k8s_sim::service("default", "bad", "NodePort", {{"interlook.hosts", "bad.example"}, {"interlook.port", "http"}},
                                         {{8080, 30081}}));
  sim.apply("endpointslices", k8s_sim::endpoint_slice("default", "bad-1", "bad", {{"10.1.2.1", "node-a", true, "bad-1"}}));
  auto multi = [&](const std::string& aliases) {
    sim.apply("services", k8s_sim::service("default", "multi", "LoadBalancer", {{"interlook.hosts", "a.example"}, {"interlook.port", "8443"}},
                                           {{443, 30443, 8443}}, {{"interlook.hosts", aliases}, {"interlook.ssl", "true"}}));
  };
  multi("b.example,c.example");
  sim.apply("endpointslices", k8s_sim::endpoint_slice("default", "multi-1", "multi", {{"10.1.3.1", "node-b", true, "multi-1"}}, 8443));
  runner r(config_for(sim));
  auto m = expect(r, action::add, "multi.default");
  CHECK(m.service.dns_names == std::vector<std::string>{"b.example", "c.example"});
  CHECK(m.service.tls);
  CHECK(m.service.targets == std::vector<target>{{"10.0.0.2", 30443, 1}});  // targetPort 8443 -> nodePort 30443
  const std::string problem = "Service default/bad: label interlook.port \"http\" is not a port number (1-65535)";
  REQUIRE(r.await_log(problem) >= 0);
  REQUIRE(watching(sim));

  // bad changes without being repaired; multi changes after it (one watch, in order).
  sim.apply("services", k8s_sim::service("default", "bad", "NodePort",
                                         {{"interlook.hosts", "bad.example"}, {"interlook.port", "http"}, {"x", "y"}}, {{8080, 30081}}));
  multi("d.example");
  CHECK(expect(r, action::add, "multi.default").service.dns_names == std::vector<std::string>{"d.example"});
  CHECK(log_count(r, problem) == 1);
  r.send(refresh("bad.default"));
  CHECK(r.await_log("refresh of bad.default") >= 0);
  CHECK_FALSE(r.next(200ms));  // a typo undeploys nothing

  // Repaired.
  sim.apply("services", k8s_sim::service("default", "bad", "NodePort", {{"interlook.hosts", "bad.example"}, {"interlook.port", "8080"}},
                                         {{8080, 30081}}));
  CHECK(expect(r, action::add, "bad.default").service.targets == std::vector<target>{{"10.0.0.1", 30081, 1}});
}

TEST_CASE("an object that does not decode is logged with the path of the bad value and keeps its previous version") {
  k8s_sim::apiserver sim;
  seed_web(sim);
  runner r(config_for(sim));
  auto web = expect(r, action::add, "web.default");
  REQUIRE(watching(sim));
  auto broken = k8s_sim::service("default", "web", "NodePort", web_labels, {{8080, 30080}});
  broken["spec"].as_object()["ports"].as_array()[0].as_object()["nodePort"] = "thirty";
  sim.apply("services", broken);
  CHECK(r.await_log("Service default/web: spec.ports[0].nodePort: expected an unsigned integer; keeping its previous version") >= 0);
  r.send(refresh("web.default"));
  CHECK(expect(r, action::add, "web.default").service == web.service);
  sim.apply("services", k8s_sim::service("default", "web", "NodePort", web_labels, {{8080, 30081}}));
  CHECK(expect(r, action::add, "web.default").service.targets.front().port == 30081);
}

TEST_CASE("namespaces and labelSelector limit what is watched; a Service that stops matching is deleted") {
  k8s_sim::apiserver sim;
  seed_nodes(sim);
  auto labelled = web_labels;
  labelled["team"] = "edge";
  sim.apply("services", k8s_sim::service("default", "web", "NodePort", labelled, {{8080, 30080}}));
  sim.apply("services", k8s_sim::service("default", "api", "NodePort", web_labels, {{8080, 30081}}));  // not team=edge
  sim.apply("services", k8s_sim::service("other", "web", "NodePort", labelled, {{8080, 30082}}));    // not a watched namespace
  for (auto [ns, name] : std::vector<std::pair<std::string, std::string>>{{"default", "web"}, {"default", "api"}, {"other", "web"}})
    sim.apply("endpointslices", k8s_sim::endpoint_slice(ns, name + "-1", name, {{"10.1.0.1", "node-a", true, name + "-1"}}));
  auto c = config_for(sim);
  c.namespaces = {"default"};
  c.labelSelector = {"team=edge"};
  runner r(c);
  expect(r, action::add, "web.default");
  CHECK(r.nothing_pending());
  REQUIRE(watching(sim));
  for (const auto& q : sim.requests()) {
    if (q.resource == "services") {
      CHECK(q.path == "/api/v1/namespaces/default/services");
      CHECK(q.query.find("labelSelector=team%3Dedge") != std::string::npos);
    }
    if (q.resource == "endpointslices") CHECK(q.path == "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices");
  }
  // The label goes: the watch says DELETED (the selector no longer matches).
  sim.apply("services", k8s_sim::service("default", "web", "NodePort", web_labels, {{8080, 30080}}));
  expect(r, action::remove, "web.default");
}

TEST_CASE("limits: a Service over maxTargets keeps its last definition; past maxServices new Services wait for room") {
  k8s_sim::apiserver sim;
  seed_web(sim);  // web: 2 targets (node-a, node-b)
  auto c = config_for(sim);
  c.maxTargets = 2;
  c.maxServices = 1;
  runner r(c);
  auto web = expect(r, action::add, "web.default");
  CHECK(web.service.targets == web_targets);
  REQUIRE(watching(sim));

  // api has room only once web goes.
  sim.apply("services", k8s_sim::service("default", "api", "NodePort", web_labels, {{8080, 30081}}));
  sim.apply("endpointslices", k8s_sim::endpoint_slice("default", "api-1", "api", {{"10.1.0.9", "node-a", true, "api-1"}}));
  REQUIRE(r.await_log("service api.default: not announced: maxServices (1) services are announced already", 0, 10s) >= 0);
  CHECK(r.nothing_pending());

  // web on a third node: three targets, over maxTargets; the last definition stays.
  auto three = web_endpoints();
  three.push_back({"10.1.0.5", "node-c", true, "web-5"});
  sim.apply("endpointslices", k8s_sim::endpoint_slice("default", "web-abcde", "web", three));
  REQUIRE(r.await_log("service web.default: 3 targets, more than maxTargets (2); keeping its last definition", 0, 10s) >= 0);
  CHECK(r.nothing_pending());
  r.send(refresh("web.default"));
  auto answer = expect(r, action::add, "web.default");
  CHECK(answer.service.targets == web_targets);  // the last definition answers

  // web goes: api takes its place.
  sim.remove("services", "default", "web");
  expect(r, action::remove, "web.default");
  expect(r, action::add, "api.default");
  CHECK(log_count(r, "more than maxTargets") == 1);
}

TEST_CASE("lists are read in pages") {
  k8s_sim::apiserver sim;
  seed_nodes(sim);
  const int n = 501;  // the provider asks for 500 a page
  for (int i = 0; i < n; ++i) {
    auto name = "s" + std::to_string(i);
    sim.apply("services", k8s_sim::service("default", name, "NodePort", web_labels, {{8080, 30000 + i}}));
    sim.apply("endpointslices", k8s_sim::endpoint_slice("default", name + "-1", name, {{"10.2.0.1", "node-a", true, name}}));
  }
  runner r(config_for(sim));
  std::set<std::string> names;
  for (int i = 0; i < n; ++i) {
    auto m = r.next();
    REQUIRE(m);
    names.insert(m->service.name);
  }
  CHECK(names.size() == static_cast<std::size_t>(n));
  CHECK(sim.count("list", "services") == 2);
  CHECK(sim.count("list", "endpointslices") == 2);
}

TEST_CASE("pollInterval: a full re-list every period catches what a stalled watch missed") {
  k8s_sim::apiserver sim;
  seed_web(sim);
  auto c = config_for(sim);
  c.pollInterval = std::chrono::seconds(1);
  runner r(c);
  expect(r, action::add, "web.default");
  REQUIRE(watching(sim));
  int lists = sim.count("list", "services");
  sim.pause_watches(true);
  sim.remove("services", "default", "web");
  expect(r, action::remove, "web.default", 5s);
  CHECK(sim.count("list", "services") > lists);
  sim.pause_watches(false);
}

TEST_CASE("stop is clean and bounded with watches open") {
  k8s_sim::apiserver sim;
  seed_web(sim);
  runner r(config_for(sim));
  expect(r, action::add, "web.default");
  REQUIRE(watching(sim));
  auto t0 = std::chrono::steady_clock::now();
  r.stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  CHECK(log_count(r, "did not stop") == 0);
}
