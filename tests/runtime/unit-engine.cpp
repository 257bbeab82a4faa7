// The engine with real threads and channels, driven by scripted extensions.
// Tests wait for events (engine::await), never for time to pass.
#include "tests/scripted.hpp"

#include <interlook/runtime/engine.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

using namespace interlook;
using namespace std::chrono_literals;

namespace {

using reg = registry<scripted::provider, scripted::ipam, scripted::dns, scripted::lb, scripted::broken_ctor,
                     scripted::crashing>;

std::string temp_dir() {
  const char* base = std::getenv("TEST_TMPDIR");
  auto dir = std::filesystem::path(base ? base : "/tmp") / ("engine-" + std::to_string(std::rand()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

loaded_config<reg> config_for(const std::string& steps, const std::string& extra = {}) {
  return load_config<reg>(config_document::parse("core:\n  workflowSteps: " + steps + "\n" + extra, "test.yml"));
}

service web(const std::string& name = "web", std::uint32_t port = 8080) {
  return service{"provider.script", name, {{"10.0.0.1", port, 1}}, false, "", {name + ".example"}};
}

auto state_is(const std::string& name, std::string_view state) {
  return [name, state = std::string(state)](const state_machine& sm) {
    auto it = sm.entries().find(name);
    return it != sm.entries().end() && sm.state_name(it->second) == state && !it->second.work_in_progress;
  };
}

}  // namespace

TEST_CASE("services flow through extension threads to deployed and back") {
  logger log(log_level::error, "stderr");
  auto cfg = config_for("provider.script,ipam.script,dns.script,lb.script");
  engine<reg> core(cfg, log);
  core.start();
  auto& p = core.extension<scripted::provider>();
  for (int i = 0; i < 50; ++i) p.add(web("svc" + std::to_string(i), static_cast<std::uint32_t>(8000 + i)));
  for (int i = 0; i < 50; ++i) REQUIRE(core.await(state_is("svc" + std::to_string(i), "deployed"), 10s));
  auto ip = core.ask([](const state_machine& sm) { return sm.entries().at("svc7").service.public_ip; }).get();
  CHECK(ip == "192.0.2.10");
  for (int i = 0; i < 50; ++i) p.remove("svc" + std::to_string(i));
  for (int i = 0; i < 50; ++i) REQUIRE(core.await(state_is("svc" + std::to_string(i), "undeployed"), 10s));
  auto lb = core.extension<scripted::lb>().messages();
  CHECK(lb.size() == 100);  // one add and one delete each, nothing twice
  core.request_stop();
  CHECK(core.wait() == 0);
}

TEST_CASE("an update during a walk reaches every step after the step in progress answers") {
  logger log(log_level::error, "stderr");
  engine<reg> core(config_for("provider.script,ipam.script,dns.script"), log);
  core.start();
  auto& dns = core.extension<scripted::dns>();
  dns.set_hold(true);
  auto& p = core.extension<scripted::provider>();
  p.add(web("web", 1));
  REQUIRE(core.await([&](const state_machine& sm) {
    auto it = sm.entries().find("web");
    return it != sm.entries().end() && sm.state_name(it->second) == "dns.script";
  }, 10s));
  p.add(web("web", 2));
  REQUIRE(core.await([](const state_machine& sm) { return sm.entries().at("web").restart_walk; }, 10s));
  dns.release();
  REQUIRE(core.await(state_is("web", "deployed"), 10s));
  auto last = dns.messages().back();
  CHECK(last.service.targets.at(0).port == 2);
  auto ipam = core.extension<scripted::ipam>().messages();
  CHECK(ipam.back().service.targets.at(0).port == 2);
  core.request_stop();
  CHECK(core.wait() == 0);
}

TEST_CASE("a stale refresh: the housekeeper asks the provider, whose delete undeploys") {
  logger log(log_level::error, "stderr");
  auto cfg = config_for("provider.script,ipam.script",
                        "  workflowHousekeeperInterval: 5ms\n  serviceMaxLastUpdated: 20ms\n");
  engine<reg> core(cfg, log);
  core.start();
  auto& p = core.extension<scripted::provider>();
  p.add(web());
  REQUIRE(core.await(state_is("web", "deployed"), 10s));
  p.forget("web");  // no delete is sent; the refresh answer says delete
  REQUIRE(core.await(state_is("web", "undeployed"), 10s));
  CHECK_FALSE(p.refresh_requests().empty());
  core.request_stop();
  core.wait();
}

TEST_CASE("an extension that cannot be built stops start-up with its name") {
  logger log(log_level::error, "stderr");
  CHECK_THROWS_WITH_AS(engine<reg>(config_for("provider.script,dns.broken"), log),
                       "extension dns.broken failed to start: cannot reach the DNS server", extension_start_error);
}

TEST_CASE("an extension that fails while running stops the engine with a non-zero status naming it") {
  logger log(log_level::error, "stderr");
  engine<reg> core(config_for("provider.script,lb.crashing"), log);
  core.start();
  CHECK(core.wait() == 1);
  auto f = core.failure();
  REQUIRE(f);
  CHECK(f->first == "lb.crashing");
  CHECK(f->second == "lost the session");
}

TEST_CASE("entries survive a stop and resume where they stood, in-progress steps included") {
  auto dir = temp_dir();
  auto path = dir + "/entries.json";
  logger log(log_level::error, "stderr");
  auto cfg = config_for("provider.script,ipam.script,dns.script", "  shutdownTimeout: 0s\n");
  {
    engine<reg> core(cfg, log, std::make_unique<state_store>(path));
    core.load_state();
    core.start();
    core.extension<scripted::dns>().set_hold(true);
    auto& p = core.extension<scripted::provider>();
    p.add(web("done"));
    REQUIRE(core.await([](const state_machine& sm) {
      auto it = sm.entries().find("done");
      return it != sm.entries().end() && sm.state_name(it->second) == "dns.script";
    }, 10s));
    core.extension<scripted::dns>().release();
    REQUIRE(core.await(state_is("done", "deployed"), 10s));
    core.extension<scripted::dns>().set_hold(true);
    p.add(web("pending"));
    REQUIRE(core.await([](const state_machine& sm) {
      auto it = sm.entries().find("pending");
      return it != sm.entries().end() && sm.state_name(it->second) == "dns.script";
    }, 10s));
    core.request_stop();
    CHECK(core.wait() == 0);
  }
  // The state file has Go's shape: name -> entry.
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  auto doc = parse_json_text(text);
  CHECK(doc.as_object().at("done").as_object().at("state").as_string() == "deployed");
  CHECK(doc.as_object().at("pending").as_object().at("state").as_string() == "dns.script");
  CHECK(doc.as_object().at("pending").as_object().at("work_in_progress").as_bool());
  {
    engine<reg> core(cfg, log, std::make_unique<state_store>(path));
    core.load_state();
    core.start();
    REQUIRE(core.await(state_is("pending", "deployed"), 10s));
    CHECK(core.ask([](const state_machine& sm) { return sm.state_name(sm.entries().at("done")); }).get() ==
          "deployed");
    // The resumed walk re-sent only the step in progress.
    CHECK(core.extension<scripted::ipam>().messages().empty());
    CHECK(core.extension<scripted::dns>().messages().size() == 1);
    core.request_stop();
    CHECK(core.wait() == 0);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("write-ahead: a new service's first step is sent only once the journal records the service") {
  // Otherwise a kill -9 between ipalloc's durable allocation and the core's
  // group commit left an address held for a service the restart never knew.
  auto dir = temp_dir();
  auto path = dir + "/entries.json";
  logger log(log_level::error, "stderr");
  engine<reg> core(config_for("provider.script,ipam.script,dns.script"), log, std::make_unique<state_store>(path));
  core.load_state();
  core.start();
  std::mutex m;
  std::map<std::string, bool> recorded_first;  // service -> was it in the journal when ipam heard of it
  core.extension<scripted::ipam>().set_on_receive([&](const message& msg) {
    std::ifstream in(path + ".journal");
    std::string journal((std::istreambuf_iterator<char>(in)), {});
    std::lock_guard lock(m);
    recorded_first.emplace(msg.service.name, journal.find("\"name\":\"" + msg.service.name + "\"") != std::string::npos);
  });
  auto& p = core.extension<scripted::provider>();
  for (int i = 0; i < 50; ++i) p.add(web("s" + std::to_string(i)));
  REQUIRE(core.await([](const state_machine& sm) {
    if (sm.entries().size() != 50) return false;
    for (const auto& [name, e] : sm.entries())
      if (sm.state_name(e) != "deployed") return false;
    return true;
  }, 10s));
  {
    std::lock_guard lock(m);
    REQUIRE(recorded_first.size() == 50);
    for (const auto& [name, recorded] : recorded_first) CHECK_MESSAGE(recorded, name << " reached ipam before the journal had it");
  }
  core.request_stop();
  CHECK(core.wait() == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("with the journal folded into the state file at every commit, nothing is lost") {
  auto dir = temp_dir();
  auto path = dir + "/entries.json";
  logger log(log_level::error, "stderr");
  auto cfg = config_for("provider.script,ipam.script,dns.script");
  constexpr int n = 40;
  // What the files on disk say, read as a restart would.
  auto on_disk = [&] {
    std::pair<int, int> counts{0, 0};  // deployed, undeployed
    try {
      for (auto& e : state_store(path).load()) {
        if (e.state == "deployed") ++counts.first;
        if (e.state == "undeployed") ++counts.second;
      }
    } catch (const store_error&) {
    }
    return counts;
  };
  engine<reg> core(cfg, log, std::make_unique<state_store>(path));
  core.compact_journal_after(0);  // fold whenever the journal outgrows twice the state file
  core.load_state();
  core.start();
  auto& p = core.extension<scripted::provider>();
  for (int i = 0; i < n; ++i) p.add(web("svc" + std::to_string(i)));
  REQUIRE(core.await([](const state_machine& sm) { return sm.counters().deployed >= n; }, 10s));
  for (int i = 0; i < n / 2; ++i) p.remove("svc" + std::to_string(i));
  REQUIRE(core.await([](const state_machine& sm) { return sm.counters().undeployed >= n / 2; }, 10s));
  // While still running (no final snapshot yet), the files catch up within
  // a few commit intervals: nothing was lost in the folds.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (on_disk() != std::pair{n / 2, n / 2} && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);  // polling files: there is no event to await
  CHECK(on_disk() == std::pair{n / 2, n / 2});
  CHECK(std::filesystem::file_size(path) > 0);  // a fold happened
  core.request_stop();
  CHECK(core.wait() == 0);
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  CHECK(on_disk() == std::pair{n / 2, n / 2});
  std::filesystem::remove_all(dir);
}
