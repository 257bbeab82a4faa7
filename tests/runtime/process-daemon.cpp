// The real daemon binary, started as a process on a temporary copy of the
// local example, driven through its services file and its API, killed with
// SIGKILL and SIGTERM. Waiting is for observable conditions (the API's
// answers), bounded in time.
#include "tests/http_client.hpp"
#include "tests/peer_support.hpp"

#include <interlook/support/json.hpp>

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string daemon_binary() { return peer_support::runfile("examples/interlook"); }

using peer_support::free_port;

std::string read(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void write_atomically(const fs::path& p, const std::string& text) {
  std::ofstream(p.string() + ".new") << text;
  fs::rename(p.string() + ".new", p);
}

// Polls `done` until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& done, std::chrono::seconds timeout = 30s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);  // polling another process's API: its only observable
  }
  return done();
}

// Returns as soon as `file` grows (another process rewrote it), or after a
// minute. A burst of 20,000 services takes about a second through the local
// workflow, so a test that must act in the middle of one watches a file
// with a stat every millisecond rather than polling the API.
void wait_for_growth(const fs::path& file) {
  std::error_code ec;
  auto before = fs::file_size(file, ec);
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (fs::file_size(file, ec) <= before && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
}

std::string services_yaml(int first, int count, int port = 80) {
  std::ostringstream s;
  s << "services:\n";
  for (int i = first; i < first + count; ++i)
    s << "  - name: svc" << i << "\n    hosts: svc" << i << ".example.test\n    port: " << port
      << "\n    targets: [192.0.2." << (i % 250) + 1 << "]\n";
  return s.str();
}

struct daemon_dir {
  fs::path dir;
  unsigned short port = free_port();
  pid_t pid = -1;

  explicit daemon_dir(const std::string& extra_core = {}, const std::string& level = "DEBUG") {
    const char* base = std::getenv("TEST_TMPDIR");
    dir = fs::path(base ? base : "/tmp") / ("daemon-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
    fs::create_directories(dir);
    std::ofstream(dir / "interlook.yml")
        << "core:\n  logLevel: " << level << "\n  listenAddress: 127.0.0.1\n  listenPort: " << port
        << "\n  workflowSteps: provider.file,ipam.ipalloc,dns.hosts\n  workflowEntriesFile: ./entries.json\n"
        << "  workflowHousekeeperInterval: 200ms\n  serviceMaxLastUpdated: 1s\n  retryInitialInterval: 100ms\n"
        << extra_core << "provider:\n  file:\n    path: ./services.yml\n    pollInterval: 50ms\n"
        << "ipam:\n  ipalloc:\n    network_cidr: 10.77.0.0/16\n    ip_start: 10.77.0.10\n    db_file: ./ipalloc.json\n"
        << "dns:\n  hosts:\n    path: ./hosts\n";
  }
  ~daemon_dir() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    fs::remove_all(dir);
  }

  void start(std::vector<std::string> extra_args = {}) {
    pid = ::fork();
    if (pid == 0) {
      if (::chdir(dir.c_str()) != 0) _exit(127);
      int log = ::open("daemon.log", O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(log, 1);
      ::dup2(log, 2);
      std::string bin = daemon_binary();
      std::vector<char*> argv{bin.data(), const_cast<char*>("--conf"), const_cast<char*>("interlook.yml")};
      for (auto& a : extra_args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(bin.c_str(), argv.data());
      _exit(127);
    }
    REQUIRE(pid > 0);
  }

  bool ready() {
    return eventually([&] {
      try {
        return test_http::get(port, "/health").status == 200;
      } catch (...) {
        return false;
      }
    });
  }

  // Exit status after signal `sig`, or -1 if it died of a signal.
  int stop(int sig) {
    ::kill(pid, sig);
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // Runs the daemon to completion (it is expected to exit by itself).
  int run_to_exit(std::vector<std::string> extra_args = {}) {
    start(std::move(extra_args));
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  boost::json::object services() {
    try {
      auto r = test_http::get(port, "/services");
      if (r.status != 200) return {};
      return interlook::parse_json_text(r.body).as_object();
    } catch (...) {
      return {};
    }
  }

  int count_in_state(const std::string& state) {
    int n = 0;
    for (auto& kv : services()) n += kv.value().as_object().at("state").as_string() == state;
    return n;
  }
};

}  // namespace

TEST_CASE("services in the file are deployed, updated, undeployed; a malformed edit changes nothing") {
  daemon_dir d;
  write_atomically(d.dir / "services.yml", services_yaml(0, 3));
  d.start();
  REQUIRE(d.ready());
  REQUIRE(eventually([&] { return d.count_in_state("deployed") == 3; }));
  auto svc = d.services();
  auto ip0 = std::string(svc.at("svc0").as_object().at("service").as_object().at("public_ip").as_string());
  CHECK(ip0 == "10.77.0.10");
  CHECK(read(d.dir / "hosts").find("10.77.0.10 svc0.example.test # interlook:svc0\n") != std::string::npos);

  // Changed: new port for every target.
  write_atomically(d.dir / "services.yml", services_yaml(0, 3, 81));
  REQUIRE(eventually([&] {
    auto s = d.services();
    return s.contains("svc2") &&
           s.at("svc2").as_object().at("service").as_object().at("targets").as_array()[0].as_object().at("port") == 81 &&
           d.count_in_state("deployed") == 3;
  }));
  CHECK(d.services().at("svc0").as_object().at("service").as_object().at("public_ip").as_string() == ip0);

  // A malformed edit: logged with its line, nothing changes.
  write_atomically(d.dir / "services.yml", "services:\n  - name: svc0\n    hosts: svc0.example.test\n    port: eighty\n");
  REQUIRE(eventually([&] { return read(d.dir / "daemon.log").find("services.yml:4: services[0].port: invalid port") != std::string::npos; }));
  CHECK(d.count_in_state("deployed") == 3);

  // Removed: undeployed, address freed, line gone.
  write_atomically(d.dir / "services.yml", services_yaml(1, 2, 81));
  REQUIRE(eventually([&] { return d.count_in_state("undeployed") == 1 && d.count_in_state("deployed") == 2; }));
  CHECK(read(d.dir / "hosts").find("svc0") == std::string::npos);
  CHECK(read(d.dir / "ipalloc.json").find(R"({"ip":"10.77.0.10","host":"svc0","released":true})") != std::string::npos);
  CHECK(d.stop(SIGTERM) == 0);
}

TEST_CASE("kill -9 in the middle of a burst of 20,000 services, then a restart, converges with nothing lost") {
  daemon_dir d({}, "INFO");
  write_atomically(d.dir / "services.yml", services_yaml(0, 1));
  d.start();
  REQUIRE(d.ready());
  REQUIRE(eventually([&] { return d.count_in_state("deployed") == 1; }));
  write_atomically(d.dir / "services.yml", services_yaml(0, 20000));
  // Kill as soon as some, not all, of the burst has gone through: the first
  // rewrite of the hosts file after the burst arrived. The burst takes about
  // a second here, so this watches the file (a stat a millisecond), not the API.
  wait_for_growth(d.dir / "hosts");
  CHECK(d.stop(SIGKILL) == -1);
  int allocated = 0;
  {
    std::string ipalloc = read(d.dir / "ipalloc.json");
    for (std::size_t p = 0; (p = ipalloc.find("\"ip\"", p)) != std::string::npos; ++p) ++allocated;
  }
  auto hosts_at_kill = read(d.dir / "hosts");
  auto published = std::count(hosts_at_kill.begin(), hosts_at_kill.end(), '\n');
  MESSAGE("when killed: " << allocated << " addresses allocated, " << published << " names published");
  CHECK(published < 20000);  // killed mid-burst, or this test proves nothing
  d.start();
  REQUIRE(d.ready());
  REQUIRE(eventually([&] { return d.count_in_state("deployed") == 20000; }, 120s));
  // No address given twice, every service has its line.
  auto doc = interlook::parse_json_text(read(d.dir / "ipalloc.json")).as_array();
  std::set<std::string> ips, hosts;
  for (auto& r : doc) {
    ips.insert(std::string(r.as_object().at("ip").as_string()));
    hosts.insert(std::string(r.as_object().at("host").as_string()));
  }
  CHECK(doc.size() == 20000);
  CHECK(ips.size() == 20000);
  CHECK(hosts.size() == 20000);
  std::set<std::string> public_ips;
  for (auto& kv : d.services()) public_ips.insert(std::string(kv.value().as_object().at("service").as_object().at("public_ip").as_string()));
  CHECK(public_ips.size() == 20000);
  auto hosts_file = read(d.dir / "hosts");
  CHECK(std::count(hosts_file.begin(), hosts_file.end(), '\n') == 20000);
  CHECK(d.stop(SIGTERM) == 0);
}

// Rule 9 however much is queued: a burst of 20,000 services through the
// local workflow, SIGTERM in the middle of it. The process ends within
// shutdownTimeout plus a few seconds, and the next start deploys them all.
TEST_CASE("SIGTERM in the middle of a 20,000-service burst stops within shutdownTimeout and loses nothing") {
  daemon_dir d("  shutdownTimeout: 2s\n", "INFO");
  write_atomically(d.dir / "services.yml", services_yaml(0, 1));
  d.start();
  REQUIRE(d.ready());
  REQUIRE(eventually([&] { return d.count_in_state("deployed") == 1; }));
  write_atomically(d.dir / "services.yml", services_yaml(0, 20000));
  wait_for_growth(d.dir / "hosts");  // the burst is under way
  auto asked = std::chrono::steady_clock::now();
  int rc = d.stop(SIGTERM);
  auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count();
  MESSAGE("stopped in " << took << " s");
  CHECK(rc == 0);
  CHECK(took < 2 + 5);
  int deployed_at_stop = 0;
  {
    auto saved = interlook::parse_json_text(read(d.dir / "entries.json")).as_object();
    for (auto& kv : saved) deployed_at_stop += kv.value().as_object().at("state").as_string() == "deployed";
    MESSAGE(saved.size() << " entries saved, " << deployed_at_stop << " deployed");
  }
  CHECK(deployed_at_stop < 20000);  // stopped mid-burst, or this test proves nothing
  d.start();
  REQUIRE(d.ready());
  REQUIRE(eventually([&] { return d.count_in_state("deployed") == 20000; }, 120s));
  auto doc = interlook::parse_json_text(read(d.dir / "ipalloc.json")).as_array();
  std::set<std::string> ips;
  for (auto& r : doc) ips.insert(std::string(r.as_object().at("ip").as_string()));
  CHECK(doc.size() == 20000);
  CHECK(ips.size() == 20000);
  auto hosts_file = read(d.dir / "hosts");
  CHECK(std::count(hosts_file.begin(), hosts_file.end(), '\n') == 20000);
  CHECK(d.stop(SIGTERM) == 0);
}

TEST_CASE("SIGTERM saves every entry in the Go-shaped state file and exits 0") {
  daemon_dir d;
  write_atomically(d.dir / "services.yml", services_yaml(0, 5));
  d.start();
  REQUIRE(d.ready());
  REQUIRE(eventually([&] { return d.count_in_state("deployed") == 5; }));
  CHECK(d.stop(SIGTERM) == 0);
  auto saved = interlook::parse_json_text(read(d.dir / "entries.json")).as_object();
  CHECK(saved.size() == 5);
  CHECK(saved.at("svc3").as_object().at("state").as_string() == "deployed");
  CHECK(read(d.dir / "entries.json.journal").empty());
  auto log = read(d.dir / "daemon.log");
  CHECK(log.find("received SIGTERM; stopping") != std::string::npos);
  CHECK(log.find("saved 5 entries to ./entries.json") != std::string::npos);
}

TEST_CASE("an extension that fails to start makes the daemon exit non-zero naming it") {
  daemon_dir d;
  write_atomically(d.dir / "services.yml", services_yaml(0, 1));
  std::ofstream(d.dir / "ipalloc.json") << "{ not json";
  CHECK(d.run_to_exit() == 1);
  auto log = read(d.dir / "daemon.log");
  CHECK(log.find("extension ipam.ipalloc failed to start: db_file ./ipalloc.json is corrupt") != std::string::npos);
}

TEST_CASE("a corrupt state file stops the start with its path; --start-empty sets it aside") {
  daemon_dir d;
  write_atomically(d.dir / "services.yml", services_yaml(0, 1));
  std::ofstream(d.dir / "entries.json") << "{\"svc0\": {\"state\": ";
  CHECK(d.run_to_exit() == 1);
  CHECK(read(d.dir / "daemon.log").find("state file ./entries.json is corrupt") != std::string::npos);
  d.start({"--start-empty"});
  REQUIRE(d.ready());
  REQUIRE(eventually([&] { return d.count_in_state("deployed") == 1; }));
  CHECK(fs::exists(d.dir / "entries.json.corrupt"));
  CHECK(d.stop(SIGINT) == 0);
}

TEST_CASE("--check-config validates and names file:line on errors; --version answers") {
  daemon_dir d;
  CHECK(d.run_to_exit({"--check-config"}) == 0);
  auto out = read(d.dir / "daemon.log");
  CHECK(out.find("workflow: provider.file -> ipam.ipalloc -> dns.hosts") != std::string::npos);
  CHECK(out.find("ipam.ipalloc.network_cidr: 10.77.0.0/16") != std::string::npos);
  std::ofstream(d.dir / "interlook.yml", std::ios::app) << "  bogus: [\n";
  CHECK(d.run_to_exit({"--check-config"}) == 2);
  CHECK(read(d.dir / "daemon.log").find("interlook.yml:") != std::string::npos);
  CHECK(d.run_to_exit({"--version"}) == 0);
  CHECK(read(d.dir / "daemon.log").find("interlook 0.1.0") != std::string::npos);
}
