#include <interlook/support/json.hpp>

#include <doctest/doctest.h>

using namespace interlook;

namespace {
message sample() {
  message m;
  m.action = action::remove;
  m.sender = "ipam.ipalloc";
  m.destination = "dns.hosts";
  m.error = "";
  m.service = service{"provider.file", "web", {{"10.0.0.1", 8080, 2}, {"10.0.0.2", 8080, 1}}, true, "192.0.2.10",
                      {"web.example.com", "www.example.com"}};
  return m;
}
}  // namespace

TEST_CASE("a message round-trips through JSON") {
  message m = sample();
  auto text = to_json_text(m);
  CHECK(message_from_json(parse_json_text(text)) == m);
}

TEST_CASE("JSON uses the SPEC's field names") {
  auto v = to_json(sample());
  const auto& o = v.as_object();
  CHECK(o.at("action").as_string() == "delete");
  CHECK(o.at("sender").as_string() == "ipam.ipalloc");
  CHECK(o.at("destination").as_string() == "dns.hosts");
  const auto& s = o.at("service").as_object();
  for (auto key : {"provider", "name", "targets", "tls", "public_ip", "dns_name"}) CHECK(s.contains(key));
  const auto& t = s.at("targets").as_array()[0].as_object();
  CHECK(t.at("host").as_string() == "10.0.0.1");
  CHECK(t.at("port").to_number<int>() == 8080);
  CHECK(t.at("weight").to_number<int>() == 2);
}

TEST_CASE("a service as Go interlook wrote it (omitted fields, no weight) decodes") {
  auto s = service_from_json(parse_json_text(
      R"({"provider":"provider.swarm","name":"web","targets":[{"host":"10.0.0.1","port":30001}],"dns_name":["web.example"],"info":"x"})"));
  CHECK(s.name == "web");
  CHECK_FALSE(s.tls);
  CHECK(s.public_ip.empty());
  REQUIRE(s.targets.size() == 1);
  CHECK(s.targets[0] == target{"10.0.0.1", 30001, 1});
  CHECK(s.dns_names == std::vector<std::string>{"web.example"});
  auto empty = service_from_json(parse_json_text("{}"));
  CHECK(empty == service{});
}

TEST_CASE("decoding errors name the field that is wrong") {
  auto fails_with = [](const char* text, const char* where) {
    try {
      message_from_json(parse_json_text(text));
      FAIL("no error for " << text);
    } catch (const json_error& e) {
      CHECK_MESSAGE(std::string(e.what()).find(where) != std::string::npos, e.what());
    }
  };
  fails_with(R"({"action":"explode"})", "message.action: unknown action \"explode\"");
  fails_with(R"({"action":"add","service":{"targets":[{"host":"a","port":"80"}]}})",
             "message.service.targets[0].port: expected an unsigned integer");
  fails_with(R"({"action":"add","service":{"targets":[{"host":"a","port":70000}]}})",
             "message.service.targets[0].port: port 70000 is out of range");
  fails_with(R"({"action":"add","service":{"dns_name":"web"}})", "message.service.dns_name: expected an array");
  fails_with(R"({"action":"add","service":{"tls":"yes"}})", "message.service.tls: expected true or false");
  fails_with(R"([1,2])", "message: expected an object");
  CHECK_THROWS_WITH_AS(parse_json_text("{\"action\":", "state.json"), doctest::Contains("state.json: malformed JSON"),
                       json_error);
}
