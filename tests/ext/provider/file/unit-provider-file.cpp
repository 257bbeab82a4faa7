// provider.file: parsing the services file, and the provider announcing
// what changed in it, run on its own thread as the engine runs it.
#include <interlook/testing/ext_runner.hpp>

#include <interlook/ext/provider/file/file.hpp>

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace interlook;
using interlook::testing::ext_runner;
using interlook::ext::provider::file;
using interlook::ext::provider::parse_services;
using namespace std::chrono_literals;

namespace {
std::string temp_path(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  auto dir = std::filesystem::path(base ? base : "/tmp") / ("pfile-" + std::to_string(std::rand()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

void write(const std::string& path, const std::string& text) {
  // Atomic replace, as editors do, so the provider never reads half a file.
  std::ofstream(path + ".new") << text;
  std::filesystem::rename(path + ".new", path);
}

void fails_with(const std::string& text, const std::string& expected) {
  try {
    parse_services(text, "services.yml");
    FAIL("no error; expected " << expected);
  } catch (const config_error& e) {
    CHECK(std::string(e.what()) == expected);
  }
}
}  // namespace

TEST_CASE("the services file: aliases, ports, TLS, targets and labels") {
  auto services = parse_services(R"(services:
  - name: web
    hosts: [web.example, www.example]
    port: 8080
    targets: [10.0.0.1, "10.0.0.2:9000", 10.0.0.1, {host: 10.0.0.3, port: 81, weight: 4}, "[2001:db8::1]:443"]
  - name: api
    labels: {interlook.hosts: "api.example, api2.example", interlook.port: "9090", interlook.ssl: "true", team: x}
    targets: [10.0.0.5]
  - name: idle
    hosts: idle.example
    port: 80
)",
                                 "services.yml");
  REQUIRE(services.size() == 2);  // a service without targets is skipped until it has one
  auto& web = services[0];
  CHECK(web.name == "web");
  CHECK(web.provider == "provider.file");
  CHECK(web.dns_names == std::vector<std::string>{"web.example", "www.example"});
  CHECK_FALSE(web.tls);
  CHECK(web.targets == std::vector<target>{{"10.0.0.1", 8080, 2}, {"10.0.0.2", 9000, 1}, {"10.0.0.3", 81, 4},
                                           {"2001:db8::1", 443, 1}});
  auto& api = services[1];
  CHECK(api.dns_names == std::vector<std::string>{"api.example", "api2.example"});
  CHECK(api.tls);
  CHECK(api.targets == std::vector<target>{{"10.0.0.5", 9090, 1}});
  CHECK(parse_services("", "empty.yml").empty());
  CHECK(parse_services("services: []\n", "empty.yml").empty());
}

TEST_CASE("an invalid services file is reported with line and reason") {
  fails_with("services:\n  - name: web\n    hosts: web.example\n    targets: [10.0.0.1]\n",
             "services.yml:4: service web.targets[0]: target \"10.0.0.1\" has no port and the service sets none");
  fails_with("services:\n  - name: web\n    hosts: web.example\n    port: 80x\n    targets: [a]\n",
             "services.yml:4: services[0].port: invalid port \"80x\" (1-65535)");
  fails_with("services:\n  - name: web\n    port: 80\n    targets: [a]\n",
             "services.yml:2: service web: needs hosts (its DNS aliases)");
  fails_with("services:\n  - hosts: a.example\n    port: 80\n    targets: [a]\n",
             "services.yml:2: services[0]: a service needs a name");
  fails_with("services:\n  - name: web\n    hosts: bad..name!\n    port: 80\n",
             "services.yml:3: services[0].hosts: invalid DNS name \"bad..name!\"");
  fails_with("services:\n  - name: web\n    hosts: a\n    port: 80\n    targets: [x]\n  - name: web\n    hosts: b\n"
             "    port: 80\n    targets: [y]\n",
             "services.yml:6: service web: listed twice");
  fails_with("services:\n  - name: web\n    hostz: a\n",
             "services.yml:3: services[0]: unknown key \"hostz\" (name, hosts, port, tls, targets, labels)");
  fails_with("services:\n  - name: web\n    hosts: a\n    tls: maybe\n",
             "services.yml:4: services[0].tls: expected true or false, got \"maybe\"");
  fails_with("services: {web: 1}\n", "services.yml:1: services: expected a list of services");
  try {
    parse_services("services:\n  - name: [web\n", "services.yml");
    FAIL("no error");
  } catch (const config_error& e) {
    CHECK(std::string(e.what()).find("services.yml:") == 0);
    CHECK(std::string(e.what()).find("malformed YAML") != std::string::npos);
  }
}

TEST_CASE("provider.file announces additions, changes and removals, and keeps the last good content on errors") {
  auto path = temp_path("services.yml");
  write(path, "services:\n  - name: web\n    hosts: web.example\n    port: 80\n    targets: [10.0.0.1]\n");
  file::config cfg;
  cfg.path = path;
  cfg.pollInterval = 10ms;
  ext_runner<file> p(cfg);

  auto first = p.next();
  REQUIRE(first);
  CHECK(first->action == action::add);
  CHECK(first->service.name == "web");
  CHECK(first->service.targets == std::vector<target>{{"10.0.0.1", 80, 1}});

  write(path, "services:\n  - name: web\n    hosts: web.example\n    port: 80\n    targets: [10.0.0.2]\n"
              "  - name: api\n    hosts: api.example\n    port: 90\n    targets: [10.0.0.3]\n");
  auto a = p.next(), b = p.next();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->service.name == "api");  // sorted by name
  CHECK(b->service.name == "web");
  CHECK(b->service.targets[0].host == "10.0.0.2");

  // A typo: reported with its line, nothing announced, nothing undeployed.
  auto mark = p.log_size();
  write(path, "services:\n  - name: web\n    hosts: web.example\n    port: 8o\n    targets: [10.0.0.2]\n");
  CHECK(p.await_log(path + ":4: services[0].port: invalid port \"8o\"", mark) >= 0);
  CHECK(p.await_log("keeping the 2 services last read", mark) >= 0);
  CHECK(p.nothing_pending());

  // Deleted: an error too, not "everything is gone".
  mark = p.log_size();
  std::filesystem::remove(path);
  CHECK(p.await_log("cannot read the services file: No such file or directory", mark) >= 0);
  CHECK(p.nothing_pending());
  message refresh;
  refresh.action = action::refresh;
  refresh.service.name = "api";
  p.send(refresh);
  auto answer = p.next();
  REQUIRE(answer);
  CHECK(answer->action == action::add);  // still listed in the last good content
  CHECK(answer->service.name == "api");

  // Back, without api: only now is api removed.
  write(path, "services:\n  - name: web\n    hosts: web.example\n    port: 80\n    targets: [10.0.0.2]\n");
  auto removal = p.next();
  REQUIRE(removal);
  CHECK(removal->action == action::remove);
  CHECK(removal->service.name == "api");
  p.send(refresh);
  auto gone = p.next();
  REQUIRE(gone);
  CHECK(gone->action == action::remove);
  refresh.service.name = "web";
  p.send(refresh);
  auto web = p.next();
  REQUIRE(web);
  CHECK(web->action == action::add);
  CHECK(web->service.targets[0].host == "10.0.0.2");
  p.stop();
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST_CASE("provider.file: a file over maxServices or with a service over maxTargets is refused whole, naming it") {
  auto path = temp_path("services.yml");
  write(path, "services:\n  - name: web\n    hosts: web.example\n    port: 80\n    targets: [10.0.0.1, 10.0.0.2]\n");
  file::config cfg;
  cfg.path = path;
  cfg.pollInterval = 10ms;
  cfg.maxServices = 1;
  cfg.maxTargets = 2;
  ext_runner<file> p(cfg);
  auto first = p.next();
  REQUIRE(first);
  CHECK(first->service.targets.size() == 2);

  auto mark = p.log_size();
  write(path, "services:\n  - name: web\n    hosts: web.example\n    port: 80\n    targets: [10.0.0.1, 10.0.0.2, 10.0.0.3]\n");
  CHECK(p.await_log(path + ": service web: 3 targets, more than maxTargets (2); keeping the 1 services last read", mark) >= 0);
  CHECK(p.nothing_pending());

  mark = p.log_size();
  write(path, "services:\n  - name: web\n    hosts: web.example\n    port: 80\n    targets: [10.0.0.1]\n"
              "  - name: api\n    hosts: api.example\n    port: 90\n    targets: [10.0.0.3]\n");
  CHECK(p.await_log(path + ": 2 services, more than maxServices (1); keeping the 1 services last read", mark) >= 0);
  CHECK(p.nothing_pending());

  // Within the limits again: followed.
  write(path, "services:\n  - name: web\n    hosts: web.example\n    port: 80\n    targets: [10.0.0.4]\n");
  auto changed = p.next();
  REQUIRE(changed);
  CHECK(changed->service.targets == std::vector<target>{{"10.0.0.4", 80, 1}});
  p.stop();
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST_CASE("provider.file does not answer refreshes before it has ever read the file") {
  auto path = temp_path("missing.yml");
  file::config cfg;
  cfg.path = path;
  cfg.pollInterval = 10ms;
  ext_runner<file> p(cfg);
  message refresh;
  refresh.action = action::refresh;
  refresh.service.name = "web";
  p.send(refresh);
  CHECK(p.await_log("cannot answer the refresh of web before the services file has been read") >= 0);
  CHECK(p.nothing_pending());
}

TEST_CASE("the services file is read as a stream: anchors and aliases still work, errors keep their lines") {
  auto list = interlook::ext::provider::parse_services(
      "defaults: &web\n  hosts: web.example.test\n  port: 80\n"
      "services: &all\n  - name: a\n    hosts: a.example.test\n    targets: [10.0.0.1:80]\n"
      "  - name: b\n    hosts: b.example.test\n    targets: &t [10.0.0.2:80, 10.0.0.3:80]\n"
      "  - name: c\n    hosts: c.example.test\n    targets: *t\n",
      "services.yml");
  REQUIRE(list.size() == 3);
  CHECK(list[2].targets.size() == 2);
  CHECK_THROWS_WITH(interlook::ext::provider::parse_services(
                        "services:\n  - name: a\n    hosts: a.example.test\n    targets: [10.0.0.1:80]\n"
                        "  - name: b\n    hosts: b.example.test\n    port: eighty\n",
                        "services.yml"),
                    doctest::Contains("services.yml:7: services[1].port: invalid port"));
}
