#include <interlook/config/file.hpp>
#include <interlook/config/yaml.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <cstdlib>
#include <fstream>
#include <string>

using namespace interlook;
using namespace std::chrono_literals;

namespace {
struct fake_provider {
  static constexpr std::string_view name = "provider.swarm";
  static constexpr bool answers_refresh = true;
  struct config {
    std::string endpoint;
    std::vector<std::string> labelSelector;
    duration pollInterval = 15s;
    static constexpr auto fields() {
      return interlook::fields(required("endpoint", &config::endpoint),
                               optional("labelSelector", &config::labelSelector),
                               optional("pollInterval", &config::pollInterval));
    }
  };
  explicit fake_provider(const config&) {}
  void start(inbox&, outbox&) {}
  void stop() {}
};
struct fake_lb {
  static constexpr std::string_view name = "lb.f5ltm";
  struct config {
    std::string httpEndpoint;
    std::string username;
    secret password;
    std::uint16_t httpPort = 80;
    bool verifyTls = true;
    static constexpr auto fields() {
      return interlook::fields(required("httpEndpoint", &config::httpEndpoint),
                               optional("username", &config::username), optional("password", &config::password),
                               optional("httpPort", &config::httpPort), optional("verifyTls", &config::verifyTls));
    }
    void validate() const {
      if (!username.empty() && password.empty()) throw invalid_setting("password", "is required with a username");
    }
  };
  explicit fake_lb(const config&) {}
  void start(inbox&, outbox&) {}
  void stop() {}
};
struct fake_ipam {
  static constexpr std::string_view name = "ipam.ipalloc";
  struct config {
    std::string network_cidr = "10.0.0.0/24";
    static constexpr auto fields() { return interlook::fields(optional("network_cidr", &config::network_cidr)); }
  };
  explicit fake_ipam(const config&) {}
  message handle(message m) { return m; }
};
using reg = registry<fake_provider, fake_lb, fake_ipam>;

loaded_config<reg> load(const std::string& text) {
  return load_config<reg>(config_document::parse(text, "test.yml"));
}

// Asserts that loading fails with exactly this file:line: key: reason text.
void fails_with(const std::string& text, const std::string& expected) {
  try {
    load(text);
    FAIL("no error; expected: " << expected);
  } catch (const config_error& e) {
    CHECK(std::string(e.what()) == expected);
  }
}

const char* good_file = R"(core:
  logLevel: debug
  listenPort: 9090
  workflowSteps: provider.swarm,provisioner.ipalloc,lb.f5ltm
  serviceWIPTimeout: 1m30s
provider:
  swarm:
    endpoint: unix:///var/run/docker.sock
    labelSelector:
      - l7aas
      - team
lb:
  f5ltm:
    httpEndpoint: https://bigip.example
    username: admin
    password: ${INTERLOOK_TEST_F5_PASSWORD}
  kemplm:
    endpoint: 42   # not in the workflow: never looked at
)";
}  // namespace

TEST_CASE("core keys keep Go's names and defaults") {
  auto cfg = load("core:\n  workflowSteps: provider.swarm\nprovider:\n  swarm:\n    endpoint: tcp://a:1\n");
  CHECK(cfg.core.logLevel == log_level::info);
  CHECK(cfg.core.listenPort == 8080);
  CHECK(cfg.core.listenAddress.empty());
  CHECK(cfg.core.logFile == "stdout");
  CHECK(cfg.core.workflowActivityLauncherInterval == 3s);
  CHECK(cfg.core.workflowHousekeeperInterval == 60s);
  CHECK(cfg.core.serviceWIPTimeout == 90s);
  CHECK(cfg.core.cleanUndeployedServiceAfter == 10min);
  CHECK(cfg.core.serviceMaxLastUpdated == 90s);
  CHECK(cfg.core.retryInitialInterval == 5s);
  CHECK(cfg.core.retryMaxInterval == 5min);
  CHECK(cfg.config_of<0>().pollInterval == 15s);
}

TEST_CASE("a full file decodes the core, the workflow and each used extension's section") {
  setenv("INTERLOOK_TEST_F5_PASSWORD", "s3cr3t-pw", 1);
  auto cfg = load(good_file);
  CHECK(cfg.core.logLevel == log_level::debug);
  CHECK(cfg.core.listenPort == 9090);
  CHECK(cfg.core.serviceWIPTimeout == 90s);
  CHECK(cfg.steps == std::vector<step_index>{0, 2, 1});
  CHECK(cfg.config_of<0>().endpoint == "unix:///var/run/docker.sock");
  CHECK(cfg.config_of<0>().labelSelector == std::vector<std::string>{"l7aas", "team"});
  CHECK(cfg.config_of<1>().password.value == "s3cr3t-pw");
  CHECK(cfg.config_of<1>().httpPort == 80);
  CHECK(cfg.config_of<2>().network_cidr == "10.0.0.0/24");  // no section: defaults
  CHECK(cfg.uses(2));
  CHECK(cfg.warnings.empty());
}

TEST_CASE("the settings listing masks secrets") {
  setenv("INTERLOOK_TEST_F5_PASSWORD", "s3cr3t-pw", 1);
  auto cfg = load(good_file);
  auto lines = cfg.settings();
  std::string all;
  for (auto& [k, v] : lines) all += k + ": " + v + "\n";
  CHECK(all.find("s3cr3t-pw") == std::string::npos);
  CHECK(all.find("lb.f5ltm.password: ********") != std::string::npos);
  CHECK(all.find("core.serviceWIPTimeout: 1m30s") != std::string::npos);
  CHECK(all.find("provider.swarm.labelSelector: [l7aas, team]") != std::string::npos);
  CHECK(all.find("core.logLevel: DEBUG") != std::string::npos);
}

TEST_CASE("unknown keys are warnings with file and line, not errors") {
  auto cfg = load("core:\n  workflowSteps: provider.swarm\n  colour: blue\nprovider:\n  swarm:\n    endpoint: x\n"
                  "    Watch: true\n");
  REQUIRE(cfg.warnings.size() == 2);
  CHECK(cfg.warnings[0] == "test.yml:3: unknown key \"core.colour\" ignored");
  CHECK(cfg.warnings[1] == "test.yml:7: unknown key \"provider.swarm.Watch\" ignored");
}

TEST_CASE("errors name file, line and key") {
  const std::string head = "core:\n  workflowSteps: provider.swarm\n";
  const std::string swarm = "provider:\n  swarm:\n    endpoint: x\n";
  fails_with("core:\n  workflowSteps: provider.swarm\n  serviceWIPTimeout: 90x\n" + swarm,
             "test.yml:3: core.serviceWIPTimeout: invalid duration \"90x\": unknown unit \"x\" in duration \"90x\"");
  fails_with("core:\n  workflowSteps: provider.swarm\n  housekeeper: 1\n  workflowHousekeeperInterval: 60\n" + swarm,
             "test.yml:4: core.workflowHousekeeperInterval: invalid duration \"60\": missing unit in duration "
             "\"60\" (use ns, us, ms, s, m or h)");
  fails_with(head + "  listenPort: http\n" + swarm, "test.yml:3: core.listenPort: expected a whole number, got \"http\"");
  fails_with(head + "  listenPort: 70000\n" + swarm, "test.yml:3: core.listenPort: value 70000 is out of range (0..65535)");
  fails_with(head + "  logLevel: LOUD\n" + swarm,
             "test.yml:3: core.logLevel: invalid value \"LOUD\" (expected DEBUG, INFO, WARN or ERROR)");
  fails_with(head + "  logFile:\n    - a\n" + swarm, "test.yml:4: core.logFile: expected a string");
  fails_with("core:\n  workflowSteps: provider.swarm,lb.nginx\n" + swarm,
             "test.yml:2: core.workflowSteps: unknown workflow step \"lb.nginx\"; this binary has: provider.swarm, "
             "lb.f5ltm, ipam.ipalloc");
  fails_with("core:\n  logLevel: INFO\n" + swarm, "test.yml:2: core.workflowSteps: missing required key \"workflowSteps\"");
  fails_with(head + "provider:\n  swarm:\n    labelSelector: []\n",
             "test.yml:5: provider.swarm.endpoint: missing required key \"endpoint\"");
  fails_with(head + "provider:\n  swarm:\n    endpoint: x\n    labelSelector: l7aas\n",
             "test.yml:6: provider.swarm.labelSelector: expected a list");
  fails_with(head + "  retryInitialInterval: 10m\n  retryMaxInterval: 1m\n" + swarm,
             "test.yml:4: core.retryMaxInterval: must not be shorter than retryInitialInterval");
  fails_with("core:\n  workflowSteps: provider.swarm,lb.f5ltm\n" + swarm,
             "test.yml:2: lb.f5ltm: the workflow uses lb.f5ltm but the file has no `lb: f5ltm:` section (missing "
             "required key \"httpEndpoint\")");
  fails_with("core:\n  workflowSteps: provider.swarm,lb.f5ltm\n" + swarm +
                 "lb:\n  f5ltm:\n    httpEndpoint: h\n    username: admin\n",
             "test.yml:8: lb.f5ltm.password: is required with a username");
  fails_with("core:\n  workflowSteps: provider.swarm,lb.f5ltm\n" + swarm +
                 "lb:\n  f5ltm:\n    httpEndpoint: h\n    verifyTls: maybe\n",
             "test.yml:9: lb.f5ltm.verifyTls: expected true or false, got \"maybe\"");
  fails_with("provider:\n  swarm:\n    endpoint: x\n", "test.yml:1: core: missing section `core:`");
}

TEST_CASE("secrets from unset environment variables are errors naming the variable") {
  unsetenv("INTERLOOK_TEST_UNSET_VAR");
  fails_with("core:\n  workflowSteps: provider.swarm,lb.f5ltm\nprovider:\n  swarm:\n    endpoint: x\n"
             "lb:\n  f5ltm:\n    httpEndpoint: h\n    password: ${INTERLOOK_TEST_UNSET_VAR}\n",
             "test.yml:9: lb.f5ltm.password: environment variable INTERLOOK_TEST_UNSET_VAR is not set");
  setenv("INTERLOOK_TEST_PORT", "8443", 1);
  auto cfg = load("core:\n  workflowSteps: provider.swarm\n  listenPort: ${INTERLOOK_TEST_PORT}\n"
                  "provider:\n  swarm:\n    endpoint: a$${b}\n");
  CHECK(cfg.core.listenPort == 8443);
  CHECK(cfg.config_of<0>().endpoint == "a${b}");
}

TEST_CASE("malformed YAML and unreadable files are errors naming the file") {
  try {
    config_document::parse("core:\n  workflowSteps: [provider.swarm\n", "broken.yml");
    FAIL("no error");
  } catch (const config_error& e) {
    CHECK(e.file() == "broken.yml");
    CHECK(e.line() >= 2);
    CHECK(std::string(e.what()).find("malformed YAML") != std::string::npos);
  }
  CHECK_THROWS_WITH_AS(config_document::load("/nonexistent/interlook.yml"),
                       "/nonexistent/interlook.yml: cannot read the file: No such file or directory", config_error);
  CHECK_THROWS_WITH_AS(config_document::parse("- a\n- b\n", "list.yml"),
                       "list.yml:1: expected a mapping with a `core` section", config_error);
}

TEST_CASE("a config file on disk loads") {
  std::string path = std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") +
                     "/unit-config.yml";
  {
    std::ofstream out(path);
    out << "core:\n  workflowSteps: provider.swarm\nprovider:\n  swarm:\n    endpoint: tcp://h:2375\n";
  }
  auto cfg = load_config_file<reg>(path);
  CHECK(cfg.config_of<0>().endpoint == "tcp://h:2375");
  std::remove(path.c_str());
}

TEST_CASE("a compile-time workflow needs no workflowSteps, and rejects a different one") {
  using wf = workflow<fake_provider, fake_ipam>;
  auto cfg = load_config<wf>(config_document::parse("core:\n  logLevel: INFO\nprovider:\n  swarm:\n    endpoint: x\n", "wf.yml"));
  CHECK(cfg.steps == std::vector<step_index>{0, 1});
  auto same = load_config<wf>(config_document::parse(
      "core:\n  workflowSteps: provider.swarm,ipam.ipalloc\nprovider:\n  swarm:\n    endpoint: x\n", "wf.yml"));
  CHECK(same.steps == cfg.steps);
  CHECK_THROWS_WITH_AS(load_config<wf>(config_document::parse(
                           "core:\n  workflowSteps: provider.swarm\nprovider:\n  swarm:\n    endpoint: x\n", "wf.yml")),
                       doctest::Contains("wf.yml:2: core.workflowSteps: this binary's workflow is fixed"),
                       config_error);
}

TEST_CASE("whole numbers read in the field's own type: negative signed values, the whole uint64 range") {
  // Found by fuzz/config: -1 for a signed field was "out of range", and
  // numbers past 2^63 could not be read into a uint64 field.
  auto read = [](const std::string& text, auto value) {
    interlook::yaml_context ctx{"t.yml", "k"};
    auto node = YAML::Load("k: " + text)["k"];
    interlook::decode_value(node, value, ctx);
    return value;
  };
  auto error = [&](const std::string& text, auto value) -> std::string {
    try {
      read(text, value);
    } catch (const interlook::config_error& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK(read("-1", int{}) == -1);
  CHECK(read("-9223372036854775808", std::int64_t{}) == std::numeric_limits<std::int64_t>::min());
  CHECK(read("18446744073709551615", std::uint64_t{}) == std::numeric_limits<std::uint64_t>::max());
  CHECK(error("-1", std::uint16_t{}) == "t.yml:1: k: value -1 is out of range (0..65535)");
  CHECK(error("-129", std::int8_t{}) == "t.yml:1: k: value -129 is out of range (-128..127)");
  CHECK(error("18446744073709551616", std::uint64_t{}) ==
        "t.yml:1: k: value 18446744073709551616 is out of range (0..18446744073709551615)");
  CHECK(error("\"-\"", std::int32_t{}) == "t.yml:1: k: expected a whole number, got \"-\"");
  CHECK(error("1.5", std::uint32_t{}) == "t.yml:1: k: expected a whole number, got \"1.5\"");
}
