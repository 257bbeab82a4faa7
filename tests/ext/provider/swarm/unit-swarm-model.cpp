// provider.swarm without a peer: decoding Docker's JSON (errors name the
// path), the label rules, the targets of host-mode and ingress-mode ports, the
// node address fallback, API version negotiation, config validation.
#include <interlook/ext/provider/swarm/swarm.hpp>

#include <doctest/doctest.h>

#include <string>

using namespace interlook::ext::provider::swarm_detail;
using interlook::target;

namespace {

// A service as GET /services shows it (trimmed to what matters).
std::string service_json(const std::string& labels, const std::string& endpoint_ports = "[]", int replicas = 2) {
  return R"({"ID":"svc1","Version":{"Index":12},"Spec":{"Name":"web","Labels":)" + labels +
         R"(,"Mode":{"Replicated":{"Replicas":)" + std::to_string(replicas) +
         R"(}},"EndpointSpec":{"Mode":"vip"}},"Endpoint":{"Spec":{},"Ports":)" + endpoint_ports + "}}";
}

std::string task_json(const std::string& id, const std::string& node, const std::string& desired, const std::string& state,
                      const std::string& ports = "null") {
  return R"({"ID":")" + id + R"(","ServiceID":"svc1","NodeID":")" + node + R"(","DesiredState":")" + desired +
         R"(","Status":{"State":")" + state + R"(","PortStatus":{"Ports":)" + ports + "}},\"NetworksAttachments\":null}";
}

// Docker lists a dynamically published host port twice (IPv4 and IPv6).
std::string host_ports(int published) {
  std::string one = R"({"Protocol":"tcp","TargetPort":80,"PublishedPort":)" + std::to_string(published) +
                    R"(,"PublishMode":"host"})";
  return "[" + one + "," + one + "]";
}

const std::string good_labels =
    R"({"interlook.hosts":"web.example.test, www.example.test","interlook.port":"80","team":"a"})";

node_addresses one_node() { return {{"n1", "127.0.0.1"}}; }

std::vector<const docker_task*> ptrs(const std::vector<docker_task>& ts) {
  std::vector<const docker_task*> out;
  for (const auto& t : ts) out.push_back(&t);
  return out;
}

}  // namespace

TEST_CASE("services, tasks, nodes, events and version decode; errors name the path") {
  auto services = decode_services("[" + service_json(good_labels) + "]");
  REQUIRE(services.size() == 1);
  CHECK(services[0].id == "svc1");
  CHECK(services[0].name == "web");
  CHECK(services[0].labels.at("interlook.port") == "80");
  CHECK(services[0].replicas == 2u);

  auto tasks = decode_tasks("[" + task_json("t1", "n1", "running", "running", host_ports(32768)) + "]");
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].ports.size() == 2);
  CHECK(tasks[0].ports[0].published_port == 32768);
  CHECK(tasks[0].ports[0].publish_mode == "host");

  auto nodes = decode_nodes(
      R"([{"ID":"n1","Status":{"State":"ready","Addr":"0.0.0.0"},"ManagerStatus":{"Leader":true,"Addr":"10.1.2.3:2377"}}])");
  CHECK(node_address(nodes[0]) == "10.1.2.3");

  auto e = decode_event(
      R"({"status":"start","id":"abc","Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"com.docker.swarm.service.id":"svc1","com.docker.swarm.service.name":"web","name":"web.1.x"}},"scope":"local","time":1,"timeNano":1})");
  CHECK(e.type == "container");
  CHECK(e.service_id == "svc1");
  auto se = decode_event(R"({"Type":"service","Action":"update","Actor":{"ID":"svc1","Attributes":{"name":"web"}},"scope":"swarm"})");
  CHECK(se.service_id == "svc1");
  CHECK(se.name == "web");

  CHECK_THROWS_WITH(decode_services(R"([{"ID":"x","Spec":{"Name":"a","Labels":{"interlook.port":80}}}])"),
                    "services[0].Spec.Labels.interlook.port: expected a string");
  CHECK_THROWS_WITH(
      decode_tasks(R"([{"ID":"t","Status":{"PortStatus":{"Ports":[{"TargetPort":80,"PublishedPort":"x"}]}}}])"),
      "tasks[0].Status.PortStatus.Ports[0].PublishedPort: expected an unsigned integer");
  CHECK_THROWS_WITH(decode_services(R"({"message":"no"})"), "services: expected an array");
  CHECK_THROWS_WITH(decode_services("[{]"), doctest::Contains("services: malformed JSON"));
  CHECK_THROWS_WITH(decode_services(R"([{"ID":"x","Spec":{}}])"), "services[0].Spec.Name: missing");
}

TEST_CASE("API version: min(the engine's, 1.41); older than 1.24 is refused") {
  docker_version v;
  v.api_version = "1.43";
  CHECK(negotiate_api_version(v) == "1.41");
  v.api_version = "1.40";
  CHECK(negotiate_api_version(v) == "1.40");
  v.api_version = "1.9";
  CHECK_THROWS_WITH(negotiate_api_version(v), doctest::Contains("older than 1.24"));
  v.api_version = "latest";
  CHECK_THROWS_WITH(negotiate_api_version(v), doctest::Contains("unreadable API version"));
}

TEST_CASE("label selection: both interlook labels and every selector rule") {
  auto s = decode_one_service(service_json(good_labels));
  CHECK(selected(s, {}));
  CHECK(selected(s, parse_selector({"team"})));
  CHECK(selected(s, parse_selector({"team=a"})));
  CHECK_FALSE(selected(s, parse_selector({"team=b"})));
  CHECK_FALSE(selected(s, parse_selector({"l7aas"})));
  auto no_port = decode_one_service(service_json(R"({"interlook.hosts":"a.test"})"));
  CHECK_FALSE(selected(no_port, {}));
  CHECK(label_filters(parse_selector({"team=a", "l7aas"})) ==
        std::vector<std::string>{"interlook.hosts", "interlook.port", "team=a", "l7aas"});
}

TEST_CASE("host mode: one target per task's published port, IPv4/IPv6 duplicates once, only running tasks") {
  auto s = decode_one_service(service_json(good_labels, R"([{"Protocol":"tcp","TargetPort":80,"PublishMode":"host"}])"));
  auto tasks = decode_tasks("[" + task_json("t1", "n1", "running", "running", host_ports(32768)) + "," +
                            task_json("t2", "n1", "running", "running", host_ports(32769)) + "," +
                            task_json("t3", "n1", "shutdown", "running", host_ports(32770)) + "," +
                            task_json("t4", "n1", "running", "failed", host_ports(32771)) + "]");
  auto o = observe(s, ptrs(tasks), one_node());
  REQUIRE(o.what == observation::kind::ready);
  CHECK(o.svc.name == "web");
  CHECK(o.svc.provider == "provider.swarm");
  CHECK(o.svc.dns_names == std::vector<std::string>{"web.example.test", "www.example.test"});
  CHECK(o.svc.targets == std::vector<target>{{"127.0.0.1", 32768, 1}, {"127.0.0.1", 32769, 1}});
  CHECK_FALSE(o.svc.tls);
  CHECK_FALSE(o.unsettled);
}

TEST_CASE("ingress mode: the service's published port on the node of every running task") {
  auto s = decode_one_service(service_json(
      good_labels,
      R"([{"Protocol":"tcp","TargetPort":80,"PublishedPort":30001,"PublishMode":"ingress"},{"Protocol":"tcp","TargetPort":443,"PublishedPort":30002,"PublishMode":"ingress"}])",
      3));
  auto tasks = decode_tasks("[" + task_json("t1", "n1", "running", "running") + "," + task_json("t2", "n1", "running", "running") +
                            "," + task_json("t3", "n2", "running", "running") + "]");
  auto o = observe(s, ptrs(tasks), {{"n1", "10.0.0.1"}, {"n2", "10.0.0.2"}});
  REQUIRE(o.what == observation::kind::ready);
  CHECK(o.svc.targets == std::vector<target>{{"10.0.0.1", 30001, 2}, {"10.0.0.2", 30001, 1}});
}

TEST_CASE("defaultPortPublishMode: the mode of a port that names none") {
  auto s = decode_one_service(service_json(good_labels, R"([{"Protocol":"tcp","TargetPort":80,"PublishedPort":30001}])", 1));
  auto tasks = decode_tasks("[" + task_json("t1", "n1", "running", "running") + "]");
  CHECK(observe(s, ptrs(tasks), one_node(), "ingress").svc.targets == std::vector<target>{{"127.0.0.1", 30001, 1}});
  CHECK(observe(s, ptrs(tasks), one_node(), "host").what == observation::kind::no_target);
}

TEST_CASE("no running task yet: no_target and unsettled; a node not known is reported") {
  auto s = decode_one_service(service_json(good_labels));
  auto tasks = decode_tasks("[" + task_json("t1", "n1", "running", "starting") + "," +
                            task_json("t2", "n9", "running", "running", host_ports(32768)) + "]");
  std::set<std::string> missing;
  auto o = observe(s, ptrs(tasks), one_node(), "ingress", &missing);
  CHECK(o.what == observation::kind::no_target);
  CHECK(o.unsettled);
  CHECK(missing == std::set<std::string>{"n9"});
  // Fewer desired-running tasks than replicas: the orchestrator is still at work.
  auto fewer = observe(s, {}, one_node());
  CHECK(fewer.unsettled);
}

TEST_CASE("labels: ssl, aliases, malformed values name the label") {
  auto with = [](const std::string& labels) {
    auto s = decode_one_service(service_json(labels));
    auto tasks = decode_tasks("[" + task_json("t1", "n1", "running", "running", host_ports(32768)) + "]");
    return observe(s, ptrs(tasks), one_node());
  };
  CHECK(with(R"({"interlook.hosts":"a.test","interlook.port":"80","interlook.ssl":"true"})").svc.tls);
  CHECK_FALSE(with(R"({"interlook.hosts":"a.test","interlook.port":"80","interlook.ssl":"false"})").svc.tls);
  CHECK(with(R"({"interlook.hosts":"a.test,,b.test,a.test","interlook.port":"80"})").svc.dns_names ==
        std::vector<std::string>{"a.test", "b.test"});
  auto bad_port = with(R"({"interlook.hosts":"a.test","interlook.port":"abc"})");
  CHECK(bad_port.what == observation::kind::malformed);
  CHECK(bad_port.problem == "label interlook.port: \"abc\" is not a port (1-65535)");
  CHECK(with(R"({"interlook.hosts":"a.test","interlook.port":"70000"})").what == observation::kind::malformed);
  CHECK(with(R"({"interlook.hosts":" , ","interlook.port":"80"})").problem == "label interlook.hosts names no DNS name");
  CHECK(with(R"({"interlook.hosts":"a b.test","interlook.port":"80"})").problem ==
        "label interlook.hosts: invalid DNS name \"a b.test\"");
  CHECK(with(R"({"interlook.hosts":"a.test","interlook.port":"80","interlook.ssl":"maybe"})").problem ==
        "label interlook.ssl: \"maybe\" is not true or false");
  // The port label selects the published port: another target port gives nothing.
  CHECK(with(R"({"interlook.hosts":"a.test","interlook.port":"8080"})").what == observation::kind::no_target);
}

TEST_CASE("node address: Status.Addr, else the manager address's host") {
  CHECK(node_address({"n", "10.0.0.5", "10.0.0.9:2377"}) == "10.0.0.5");
  CHECK(node_address({"n", "0.0.0.0", "10.0.0.9:2377"}) == "10.0.0.9");
  CHECK(node_address({"n", "0.0.0.0", "[2001:db8::1]:2377"}) == "2001:db8::1");
  CHECK(node_address({"n", "0.0.0.0", ""}).empty());
}

TEST_CASE("filters and dates for requests") {
  CHECK(filters_param({{"label", {"interlook.hosts", "a=b"}}}) ==
        "%7B%22label%22%3A%5B%22interlook.hosts%22%2C%22a%3Db%22%5D%7D");
  CHECK(parse_http_date("Wed, 25 Nov 2026 22:16:48 GMT") == 1795645008);
  CHECK_FALSE(parse_http_date("yesterday").has_value());
}

TEST_CASE("config: defaults, validation") {
  using config = interlook::ext::provider::swarm::config;
  config c;
  CHECK(c.endpoint == "unix:///var/run/docker.sock");
  CHECK(c.pollInterval == std::chrono::seconds(15));
  CHECK(c.publish_mode() == "ingress");
  CHECK_NOTHROW(c.validate());
  auto invalid_key = [](const config& bad) {
    try {
      bad.validate();
    } catch (const interlook::invalid_setting& e) {
      return e.key();
    }
    return std::string("(valid)");
  };
  config bad = c;
  bad.endpoint = "ftp://x";
  CHECK(invalid_key(bad) == "endpoint");
  bad = c;
  bad.tlsKey = "/k.pem";
  CHECK(invalid_key(bad) == "tlsKey");
  bad = c;
  bad.defaultPortPublishMode = "mesh";
  CHECK(invalid_key(bad) == "defaultPortPublishMode");
  bad = c;
  bad.labelSelector = {"=x"};
  CHECK(invalid_key(bad) == "labelSelector");
  bad = c;
  bad.pollInterval = interlook::duration::zero();
  CHECK(invalid_key(bad) == "pollInterval");
  config tcp = c;
  tcp.endpoint = "tcp://127.0.0.1:2376";
  tcp.defaultPortPublishMode = "Host";
  CHECK_NOTHROW(tcp.validate());
  CHECK(tcp.publish_mode() == "host");
}
