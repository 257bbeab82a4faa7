// The HTTP API through real connections, on an engine with scripted
// extensions.
#include "tests/http_client.hpp"
#include "tests/scripted.hpp"

#include <interlook/api/api.hpp>
#include <interlook/runtime/engine.hpp>
#include <interlook/support/json.hpp>

#include <doctest/doctest.h>

using namespace interlook;
using namespace std::chrono_literals;

namespace {
using reg = registry<scripted::provider, scripted::ipam, scripted::dns>;

struct api_fixture {
  logger log{log_level::error, [](log_level, std::string_view) {}};
  loaded_config<reg> cfg = load_config<reg>(config_document::parse(
      "core:\n  workflowSteps: provider.script,ipam.script,dns.script\n", "api.yml"));
  engine<reg> core{cfg, log};
  http_server server{"127.0.0.1", 0, api_routes<engine<reg>>(core, "1.2.3"), log};
  unsigned short port = server.port();

  api_fixture() {
    core.start();
    server.start();
    core.extension<scripted::provider>().add(
        service{"provider.script", "web", {{"10.0.0.1", 80, 1}}, false, "", {"web.example"}});
    REQUIRE(core.await([](const state_machine& sm) {
      auto it = sm.entries().find("web");
      return it != sm.entries().end() && sm.state_name(it->second) == "deployed";
    }, 10s));
  }
  ~api_fixture() {
    server.stop();
    core.request_stop();
    core.wait();
  }
};
}  // namespace

TEST_CASE("GET /health, /version, /workflow, /extensions") {
  api_fixture f;
  auto health = test_http::get(f.port, "/health");
  CHECK(health.status == 200);
  CHECK(health.headers.find("Content-Type: application/json") != std::string::npos);
  CHECK(test_http::get(f.port, "/version").body == "\"1.2.3\"");
  auto workflow = parse_json_text(test_http::get(f.port, "/workflow").body);
  CHECK(boost::json::serialize(workflow) ==
        R"([{"ID":0,"Name":"undeployed"},{"ID":1,"Name":"provider.script"},{"ID":2,"Name":"ipam.script"},)"
        R"({"ID":3,"Name":"dns.script"},{"ID":4,"Name":"deployed"}])");
  auto ext = parse_json_text(test_http::get(f.port, "/extensions").body).as_array();
  REQUIRE(ext.size() == 3);
  CHECK(ext[0].as_object().at("name").as_string() == "provider.script");
  CHECK(ext[0].as_object().at("kind").as_string() == "provider");
  CHECK(ext[2].as_object().at("kind").as_string() == "provisioner");
}

TEST_CASE("GET /services and /services/{name} return entries with the SPEC's field names") {
  api_fixture f;
  auto all = test_http::get(f.port, "/services");
  CHECK(all.status == 200);
  auto doc = parse_json_text(all.body).as_object();
  REQUIRE(doc.contains("web"));
  const auto& web = doc.at("web").as_object();
  for (auto key : {"work_in_progress", "wip_time", "state", "expected_state", "info", "error", "time_detected",
                   "last_update", "service", "close_time"})
    CHECK_MESSAGE(web.contains(key), key);
  CHECK(web.at("state").as_string() == "deployed");
  CHECK(web.at("service").as_object().at("public_ip").as_string() == "192.0.2.10");
  auto one = test_http::get(f.port, "/services/web");
  CHECK(one.status == 200);
  CHECK(parse_json_text(one.body).as_object().at("expected_state").as_string() == "deployed");
  auto missing = test_http::get(f.port, "/services/nope");
  CHECK(missing.status == 404);
  CHECK(missing.body == R"({"error":"no service named nope"})");
  CHECK(test_http::get(f.port, "/services/bad%zz").status == 400);
}

TEST_CASE("unknown paths are 404, other methods 405, malformed or oversized requests 400/413") {
  api_fixture f;
  CHECK(test_http::get(f.port, "/nope").status == 404);
  auto post = test_http::request(f.port, "POST", "/services");
  CHECK(post.status == 405);
  CHECK(post.headers.find("Allow: GET") != std::string::npos);
  CHECK(test_http::request(f.port, "DELETE", "/services/web").status == 405);
  CHECK(test_http::exchange(f.port, "THIS IS NOT HTTP\r\n\r\n").status == 400);
  std::string big_header = "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
  CHECK(test_http::exchange(f.port, big_header).status == 413);
  std::string big_body = "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + std::string(100000, 'b');
  CHECK(test_http::exchange(f.port, big_body).status == 413);
  // The server still answers afterwards.
  CHECK(test_http::get(f.port, "/health").status == 200);
}

TEST_CASE("GET /metrics speaks the Prometheus text format") {
  api_fixture f;
  auto m = test_http::get(f.port, "/metrics");
  CHECK(m.status == 200);
  CHECK(m.headers.find("text/plain; version=0.0.4") != std::string::npos);
  for (auto line : {"# TYPE interlook_entries gauge", "interlook_entries{state=\"deployed\"} 1",
                    "interlook_messages_total{extension=\"ipam.script\",direction=\"sent\",action=\"add\"} 1",
                    "interlook_messages_total{extension=\"provider.script\",direction=\"received\",action=\"add\"} 1",
                    "interlook_errors_total{extension=\"dns.script\"} 0", "# TYPE interlook_step_duration_seconds histogram",
                    "interlook_step_duration_seconds_count 2", "interlook_step_duration_seconds_bucket{le=\"+Inf\"} 2",
                    "interlook_queue_depth{extension=\"dns.script\",direction=\"to_extension\"} 0"})
    CHECK_MESSAGE(m.body.find(line) != std::string::npos, line);
}

TEST_CASE("a listen address that is taken or invalid is a start-up error naming it") {
  api_fixture f;
  logger log(log_level::error, [](log_level, std::string_view) {});
  auto noop = [](std::string_view, std::string_view) { return http_reply{}; };
  CHECK_THROWS_WITH(http_server("127.0.0.1", f.port, noop, log),
                    doctest::Contains(("cannot listen on 127.0.0.1:" + std::to_string(f.port)).c_str()));
  CHECK_THROWS_WITH(http_server("not-an-ip", 0, noop, log), "API listen address \"not-an-ip\" is not an IP address");
}
