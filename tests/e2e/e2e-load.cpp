// Issue 14, load: 500 services through the whole path at once (provider.file
// for the bulk, each service with two targets at the real busybox containers
// of the backend pool), then all 500 removed. Measured: the time until every
// name answers with its VIP at BIND and every VIP serves through HAProxy,
// HAProxy reloads (the master's reload counter in `show proc`), DNS UPDATE
// messages (the zone serial's increase) and records changed (BIND's log),
// the daemon's CPU time (/proc/PID/stat) and peak RSS (VmHWM). README's
// performance section quotes these figures.
#include "tests/e2e/harness.hpp"

using namespace e2e;

namespace {

constexpr int service_count = 500;
constexpr double target_seconds = 30;

struct sample {
  int reloads;
  std::uint32_t serial;
  int records;
  double cpu;
};

struct figures {
  double first_deployed = -1, all_deployed = -1, all_done = -1;
  int reloads = 0;
  std::uint32_t updates = 0;
  int records = 0;
  double cpu = 0;
};

sample take(const whole_path& p) {
  return {p.haproxy.procs().reloads, p.bind.serial(), p.bind.records_updated(), p.daemon.cpu_seconds()};
}

void account(figures& f, const sample& before, const sample& after) {
  f.reloads = after.reloads - before.reloads;
  f.updates = after.serial - before.serial;
  f.records = after.records - before.records;
  f.cpu = after.cpu - before.cpu;
}

}  // namespace

TEST_CASE("500 services through the whole path: all reachable within 30 s; then all removed") {
  whole_path p("127.1.0.0/22");
  p.configure_file("  retryInitialInterval: 500ms\n", "INFO");
  p.daemon.start();
  auto svcs = pool_services("l", 0, service_count);
  auto all = names(svcs);
  const auto netns = docker_peer::get().netns_path();

  // Deploy: every name answers with its VIP and every VIP serves.
  figures up;
  auto before = take(p);
  auto t0 = clock_type::now();
  write_atomically(p.services_file(), services_yaml(svcs));
  std::set<std::string> pending(all.begin(), all.end());
  std::map<std::string, std::string> vips;
  while (!pending.empty() && seconds_since(t0) < 120) {
    auto s = p.daemon.services();
    int deployed = count_state(s, "deployed");
    if (deployed > 0 && up.first_deployed < 0) up.first_deployed = seconds_since(t0);
    if (deployed == service_count && up.all_deployed < 0) up.all_deployed = seconds_since(t0);
    std::vector<std::string> named;
    for (auto& n : pending) {
      if (state_of(s, n) != "deployed") continue;
      vips[n] = vip_of(s, n);
      if (p.resolves(n + ".example.test", vips[n])) named.push_back(n);
    }
    in_netns(netns, [&] {
      for (auto& n : named)
        if (http_get(vips[n], 80).kind == http_result::ok) pending.erase(n);
    });
    if (!pending.empty()) std::this_thread::sleep_for(20ms);  // the next look at the peers
  }
  up.all_done = seconds_since(t0);
  REQUIRE_MESSAGE(pending.empty(), pending.size() << " services not reachable after 120 s, e.g. " << *pending.begin()
                                                  << "\n" << p.daemon.log());
  account(up, before, take(p));
  long rss_after_deploy = p.daemon.peak_rss_kib();
  std::set<std::string> distinct;
  for (auto& [n, v] : vips) distinct.insert(v);
  CHECK(distinct.size() == static_cast<std::size_t>(service_count));
  CHECK(p.haproxy.frontends().size() == static_cast<std::size_t>(service_count));
  CHECK(p.interlook_records().size() == static_cast<std::size_t>(service_count));

  // Remove them all: every name NXDOMAIN, every VIP refuses, every entry
  // undeployed.
  figures down;
  before = take(p);
  t0 = clock_type::now();
  write_atomically(p.services_file(), "services: []\n");
  pending = std::set<std::string>(all.begin(), all.end());
  while (!pending.empty() && seconds_since(t0) < 120) {
    auto s = p.daemon.services();
    int undeployed = count_state(s, "undeployed");
    if (undeployed > 0 && down.first_deployed < 0) down.first_deployed = seconds_since(t0);
    if (undeployed == service_count && down.all_deployed < 0) down.all_deployed = seconds_since(t0);
    std::vector<std::string> gone;
    for (auto& n : pending)
      if (state_of(s, n) == "undeployed" && p.nxdomain(n + ".example.test")) gone.push_back(n);
    in_netns(netns, [&] {
      for (auto& n : gone)
        if (http_get(vips[n], 80).kind == http_result::refused) pending.erase(n);
    });
    if (!pending.empty()) std::this_thread::sleep_for(20ms);
  }
  down.all_done = seconds_since(t0);
  REQUIRE_MESSAGE(pending.empty(), pending.size() << " services not removed after 120 s\n" << p.daemon.log());
  account(down, before, take(p));
  long rss = p.daemon.peak_rss_kib();
  CHECK(p.haproxy.frontends().empty());
  CHECK(p.interlook_records().empty());
  int released = 0;
  for (auto& [ip, a] : allocations(p.ipalloc_db())) released += a.released;
  CHECK(released == service_count);

  std::ostringstream r;
  r << service_count << " services through provider.file -> ipam.ipalloc -> dns.rfc2136 (BIND 9.18) -> lb.haproxy (HAProxy 2.6):\n"
    << "  step     first  all-in-API  all-reachable  reloads  UPDATEs  records  daemon-CPU\n";
  auto row = [&](const char* what, const figures& f) {
    char line[200];
    std::snprintf(line, sizeof line, "  %-7s %5.2fs %9.2fs %12.2fs %8d %8u %8d %9.2fs\n", what, f.first_deployed,
                  f.all_deployed, f.all_done, f.reloads, f.updates, f.records, f.cpu);
    r << line;
  };
  row("deploy", up);
  row("remove", down);
  r << "  daemon peak RSS (VmHWM): " << rss_after_deploy / 1024 << " MiB after the deploy, " << rss / 1024
    << " MiB at the end\n";
  MESSAGE(r.str());
#ifndef E2E_SANITIZED
  CHECK(up.all_done <= target_seconds);
#endif
  CHECK(p.daemon.stop(SIGTERM) == 0);
}
