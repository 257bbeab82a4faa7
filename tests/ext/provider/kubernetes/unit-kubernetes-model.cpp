// provider.kubernetes without a server: decoding the API's objects (errors
// name the path of the bad value), label selectors, which Services are
// interlook's, and how their targets are counted.
#include <interlook/ext/provider/kubernetes/kubernetes.hpp>
#include <interlook/ext/provider/kubernetes/services.hpp>
#include <interlook/http/url.hpp>

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

using namespace interlook;
using namespace interlook::ext::provider::k8s;

namespace {
boost::json::value j(std::string_view text) { return boost::json::parse(text); }

std::string decode_error(std::string_view text, int which) {
  try {
    if (which == 0) decode_service(j(text));
    else if (which == 1) decode_endpoint_slice(j(text));
    else decode_node(j(text));
  } catch (const json_error& e) {
    return e.what();
  }
  return "no error";
}

service_object svc(std::string type, label_map labels, label_map annotations = {}, std::vector<service_port> ports = {{"", "TCP", 8080, 8080, 30080}}) {
  service_object s;
  s.meta.name = "web";
  s.meta.ns = "default";
  s.meta.labels = std::move(labels);
  s.meta.annotations = std::move(annotations);
  s.type = std::move(type);
  s.ports = std::move(ports);
  return s;
}
}  // namespace

TEST_CASE("a Service decodes: ports with numeric and named targetPorts, the load balancer status") {
  auto s = decode_service(j(R"j({"kind":"Service","apiVersion":"v1",
    "metadata":{"name":"web","namespace":"shop","resourceVersion":"12","uid":"u1",
                "labels":{"interlook.hosts":"web.example"},"annotations":{"interlook.port":"8080"}},
    "spec":{"type":"LoadBalancer","ports":[{"name":"http","port":80,"targetPort":8080,"nodePort":30080},
                                           {"port":443,"targetPort":"https","nodePort":30443,"protocol":"TCP"},
                                           {"port":53,"targetPort":"5353","protocol":"UDP"}]},
    "status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.1"},{"hostname":"lb.example"}]}}})j"));
  CHECK(s.meta.key() == "shop/web");
  CHECK(s.meta.resource_version == "12");
  CHECK(s.type == "LoadBalancer");
  REQUIRE(s.ports.size() == 3);
  CHECK(s.ports[0].port == 80);
  CHECK(s.ports[0].target_port == 8080u);
  CHECK(s.ports[0].node_port == 30080);
  CHECK_FALSE(s.ports[1].target_port.has_value());  // named: not a number
  CHECK(s.ports[2].target_port == 5353u);           // a number written as a string
  CHECK(s.ports[2].protocol == "UDP");
  CHECK(s.ingress_ips == std::vector<std::string>{"192.0.2.1"});
  // Absent fields take their defaults; a ClusterIP Service without spec.type.
  auto bare = decode_service(j(R"j({"metadata":{"name":"x","namespace":"y"},"spec":{}})j"));
  CHECK(bare.type == "ClusterIP");
}

TEST_CASE("decoding errors name the path of the bad value") {
  CHECK(decode_error(R"j({"metadata":{"name":"web"},"spec":{"ports":[{"port":80},{"port":80,"nodePort":"x"}]}})j", 0) ==
        "spec.ports[1].nodePort: expected an unsigned integer");
  CHECK(decode_error(R"j({"metadata":{"name":"web","labels":{"a":1}}})j", 0) == "metadata.labels.a: expected a string");
  CHECK(decode_error(R"j({"spec":{}})j", 0) == "metadata: missing");
  CHECK(decode_error(R"j({"metadata":{"name":"s"},"endpoints":[{"addresses":["10.1.0.1"],"conditions":{"ready":"yes"}}]})j", 1) ==
        "endpoints[0].conditions.ready: expected true or false");
  CHECK(decode_error(R"j({"metadata":{"name":"n"},"status":{"addresses":[{"type":"InternalIP","address":7}]}})j", 2) ==
        "status.addresses[0].address: expected a string");
  CHECK(decode_error(R"j({"metadata":{"name":"web"},"spec":{"ports":[{"port":70000}]}})j", 0) == "spec.ports[0].port: port 70000 is out of range");
}

TEST_CASE("a Service's name and namespace must be DNS labels (the entry name is name.namespace)") {
  // Found by fuzz/provider_kubernetes: a Service without a name became the
  // entry ".default", which refresh look-ups could not map back.
  CHECK(decode_error(R"j({"metadata":{"namespace":"default"},"spec":{}})j", 0) == "metadata.name: missing");
  CHECK(decode_error(R"j({"metadata":{"name":"a.b","namespace":"default"},"spec":{}})j", 0) ==
        "metadata.name: \"a.b\" is not a DNS label (at most 63 of a-z, 0-9 and -)");
  CHECK(decode_error(R"j({"metadata":{"name":"web"},"spec":{}})j", 0) ==
        "metadata.namespace: \"\" is not a DNS label (at most 63 of a-z, 0-9 and -)");
  CHECK(decode_error(R"j({"metadata":{"name":"Web","namespace":"default"}})j", 0).starts_with("metadata.name: \"Web\""));
  CHECK(decode_error(R"j({"metadata":{"name":"web-2","namespace":"shop-eu"}})j", 0) == "no error");
  CHECK(decode_error(R"j({"metadata":{"namespace":"default"}})j", 2) == "metadata.name: missing");
}

TEST_CASE("EndpointSlices and Nodes decode") {
  auto s = decode_endpoint_slice(j(R"j({"metadata":{"name":"web-x1","namespace":"default","labels":{"kubernetes.io/service-name":"web"}},
    "addressType":"IPv4","endpoints":[
      {"addresses":["10.1.0.1"],"conditions":{"ready":true},"nodeName":"a","targetRef":{"kind":"Pod","name":"web-1"}},
      {"addresses":["10.1.0.2"],"conditions":{},"nodeName":"b"},
      {"addresses":["10.1.0.3"],"conditions":{"ready":false,"terminating":true},"nodeName":"b"}],
    "ports":[{"port":8080}]})j"));
  CHECK(s.service() == "web");
  REQUIRE(s.endpoints.size() == 3);
  CHECK(s.endpoints[0].target_ref == "Pod/default/web-1");
  CHECK(s.endpoints[1].is_ready());  // unknown readiness reads as ready (the API's advice)
  CHECK_FALSE(s.endpoints[2].is_ready());
  auto n = decode_node(j(R"j({"metadata":{"name":"a"},"status":{"addresses":[{"type":"Hostname","address":"a"},
    {"type":"ExternalIP","address":"203.0.113.5"},{"type":"InternalIP","address":"10.0.0.1"}]}})j"));
  CHECK(n.address() == "10.0.0.1");
  auto ext = decode_node(j(R"j({"metadata":{"name":"b"},"status":{"addresses":[{"type":"ExternalIP","address":"203.0.113.6"}]}})j"));
  CHECK(ext.address() == "203.0.113.6");
  auto st = decode_status(j(R"j({"kind":"Status","status":"Failure","message":"too old resource version: 5 (9)","reason":"Expired","code":410})j"));
  CHECK(st.code == 410);
  CHECK(st.reason == "Expired");
}

TEST_CASE("label selectors parse, match and refuse what the API server would") {
  auto s = label_selector::parse("team=edge, tier!=db,env in (prod, staging),!legacy,app.kubernetes.io/name, x==y, z notin (a)");
  REQUIRE(s.requirements().size() == 7);
  label_map ok{{"team", "edge"}, {"env", "prod"}, {"app.kubernetes.io/name", "web"}, {"x", "y"}};
  CHECK(s.matches(ok));
  auto with = [&](std::string k, std::string v) {
    auto l = ok;
    l[k] = v;
    return l;
  };
  CHECK_FALSE(s.matches(with("tier", "db")));
  CHECK(s.matches(with("tier", "web")));
  CHECK_FALSE(s.matches(with("env", "dev")));
  CHECK_FALSE(s.matches(with("legacy", "")));
  CHECK_FALSE(s.matches(with("z", "a")));
  auto no_name = ok;
  no_name.erase("app.kubernetes.io/name");
  CHECK_FALSE(s.matches(no_name));
  CHECK(label_selector::parse("").empty());
  CHECK(label_selector::parse("").matches({}));
  CHECK_THROWS_WITH(label_selector::parse("team=edge,,x"), "label selector requirement \"\": empty requirement");
  CHECK_THROWS_WITH(label_selector::parse("te am=x"), "label selector requirement \"te am=x\": invalid label key \"te am\"");
  CHECK_THROWS(label_selector::parse("a=b c"));
  CHECK_THROWS(label_selector::parse("env within (a)"));
  CHECK(interlook::http::percent_encode("team=edge,env in (a,b)") == "team%3Dedge%2Cenv%20in%20%28a%2Cb%29");
}

TEST_CASE("which Services are interlook's: type, selector, labels or annotations, the port") {
  label_selector none;
  label_map labelled{{"interlook.hosts", "web.example"}, {"interlook.port", "8080"}};
  auto v = judge(svc("NodePort", labelled), none);
  CHECK(v.what == verdict::kind::ours);
  CHECK(v.hosts == std::vector<std::string>{"web.example"});
  CHECK(v.port == 8080);
  CHECK(v.node_port == 30080);
  CHECK_FALSE(v.tls);
  CHECK(judge(svc("LoadBalancer", labelled), none).what == verdict::kind::ours);
  CHECK(judge(svc("ClusterIP", labelled), none).what == verdict::kind::not_ours);
  CHECK(judge(svc("ExternalName", labelled), none).what == verdict::kind::not_ours);
  CHECK(judge(svc("NodePort", {}), none).what == verdict::kind::not_ours);
  CHECK(judge(svc("NodePort", labelled), label_selector::parse("team=edge")).what == verdict::kind::not_ours);
  auto team = labelled;
  team["team"] = "edge";
  CHECK(judge(svc("NodePort", team), label_selector::parse("team=edge")).what == verdict::kind::ours);

  // Annotations win over labels, and only they can hold several aliases.
  auto a = judge(svc("NodePort", labelled, {{"interlook.hosts", "a.example, b.example,"}, {"interlook.ssl", "true"}}), none);
  CHECK(a.hosts == std::vector<std::string>{"a.example", "b.example"});
  CHECK(a.tls);
  auto only_annotations = judge(svc("NodePort", {}, {{"interlook.hosts", "c.example"}, {"interlook.port", "8080"}}), none);
  CHECK(only_annotations.what == verdict::kind::ours);

  // interlook.port matches a port, else a targetPort; its nodePort is the target port.
  auto by_target = judge(svc("NodePort", labelled, {}, {{"", "TCP", 80, 8080, 31000}}), none);
  CHECK(by_target.node_port == 31000);
  auto port_first = judge(svc("NodePort", labelled, {}, {{"", "TCP", 80, 8080, 31000}, {"", "TCP", 8080, 9000, 32000}}), none);
  CHECK(port_first.node_port == 32000);
}

TEST_CASE("malformed discovery labels say which label and why") {
  label_selector none;
  auto problem = [&](label_map labels, label_map annotations = {}, std::vector<service_port> ports = {{"", "TCP", 8080, 8080, 30080}}) {
    auto v = judge(svc("NodePort", std::move(labels), std::move(annotations), std::move(ports)), none);
    CHECK(v.what == verdict::kind::malformed);
    return v.problem;
  };
  CHECK(problem({{"interlook.hosts", "w.example"}, {"interlook.port", "http"}}) == "label interlook.port \"http\" is not a port number (1-65535)");
  CHECK(problem({{"interlook.hosts", "w.example"}}, {{"interlook.port", "70000"}}) ==
        "annotation interlook.port \"70000\" is not a port number (1-65535)");
  CHECK(problem({{"interlook.hosts", "w.example"}}) == "interlook.hosts is set but interlook.port is not");
  CHECK(problem({{"interlook.port", "8080"}}) == "interlook.port is set but interlook.hosts is not");
  CHECK(problem({{"interlook.hosts", "w.example"}, {"interlook.port", "8080"}, {"interlook.ssl", "maybe"}}) ==
        "label interlook.ssl \"maybe\" is not true or false");
  CHECK(problem({{"interlook.port", "8080"}}, {{"interlook.hosts", " , "}}) == "annotation interlook.hosts is empty");
  CHECK(problem({{"interlook.hosts", "w.example"}, {"interlook.port", "9090"}}) ==
        "label interlook.port 9090: no TCP port of the Service has port or targetPort 9090 with a nodePort");
  CHECK(problem({{"interlook.hosts", "w.example"}, {"interlook.port", "8080"}}, {}, {{"", "TCP", 8080, 8080, 0}}) ==
        "label interlook.port 8080: no TCP port of the Service has port or targetPort 8080 with a nodePort");
}

TEST_CASE("targets: nodes of ready endpoints, weighted by how many, each endpoint once") {
  endpoint_slice v4, v6;
  v4.meta = {"web-v4", "default", "", "", {{"kubernetes.io/service-name", "web"}}, {}};
  v4.address_type = "IPv4";
  v4.endpoints = {{{"10.1.0.1"}, true, "a", "Pod/default/web-1"},
                  {{"10.1.0.2"}, std::nullopt, "a", "Pod/default/web-2"},
                  {{"10.1.0.3"}, true, "b", "Pod/default/web-3"},
                  {{"10.1.0.4"}, false, "b", "Pod/default/web-4"},  // unready (or Pending)
                  {{"10.1.0.5"}, true, "", "Pod/default/web-5"}};   // no node: cannot be a target
  v6 = v4;
  v6.meta.name = "web-v6";
  v6.address_type = "IPv6";
  for (auto& e : v6.endpoints) e.addresses = {"fd00::" + e.addresses[0].substr(7)};
  std::vector<const endpoint_slice*> slices{&v4, &v6};
  auto per_node = ready_per_node(slices);
  CHECK(per_node == std::map<std::string, std::uint32_t>{{"a", 2}, {"b", 1}});

  auto s = svc("NodePort", {{"interlook.hosts", "web.example"}, {"interlook.port", "8080"}});
  auto v = judge(s, label_selector{});
  auto def = make_service("provider.kubernetes", s, v, slices, [](const std::string& node) {
    return node == "a" ? std::string("10.0.0.1") : node == "b" ? std::string("10.0.0.2") : std::string();
  });
  CHECK(def.name == "web.default");
  CHECK(def.provider == "provider.kubernetes");
  CHECK(def.targets == std::vector<target>{{"10.0.0.1", 30080, 2}, {"10.0.0.2", 30080, 1}});
  // A node whose address is not known yet gives no target.
  auto partial = make_service("provider.kubernetes", s, v, slices, [](const std::string& node) {
    return node == "a" ? std::string("10.0.0.1") : std::string();
  });
  CHECK(partial.targets == std::vector<target>{{"10.0.0.1", 30080, 2}});
}

TEST_CASE("entry names are name.namespace") {
  CHECK(entry_name("default", "web") == "web.default");
  auto p = split_entry_name("web.default");
  REQUIRE(p);
  CHECK(p->first == "default");
  CHECK(p->second == "web");
  CHECK_FALSE(split_entry_name("web"));
  CHECK_FALSE(split_entry_name("a.b.c"));
  CHECK_FALSE(split_entry_name(".default"));
}

TEST_CASE("the configuration is validated") {
  using interlook::ext::provider::kubernetes;
  kubernetes::config c;
  CHECK_NOTHROW(c.validate());
  auto fails = [](kubernetes::config c, const std::string& key, const std::string& what) {
    try {
      c.validate();
      FAIL("no error for " << key);
    } catch (const invalid_setting& e) {
      CHECK(e.key() == key);
      CHECK(std::string(e.what()).find(what) != std::string::npos);
    }
  };
  auto bad = c;
  bad.pollInterval = std::chrono::milliseconds(10);
  fails(bad, "pollInterval", "at least 1s");
  bad = c;
  bad.endpoint = "ftp://x";
  fails(bad, "endpoint", "unsupported scheme");
  bad = c;
  bad.labelSelector = {"team=edge", "bad key=x"};
  fails(bad, "labelSelector", "invalid label key");
  bad = c;
  bad.token.value = "t";
  bad.tokenFile = "/f";
  fails(bad, "token", "not both");
  bad = c;
  bad.namespaces = {"Default"};
  fails(bad, "namespaces", "not a namespace name");
  bad = c;
  bad.tlsKey = "/k";
  fails(bad, "tlsKey", "needs tlsCert");
}
