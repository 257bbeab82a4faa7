// Issue 14, faults on the whole path, each on real peers and the real
// daemon: a peer down (BIND, HAProxy's master socket, dockerd), a peer that
// never answers, the daemon killed with SIGKILL or stopped with SIGTERM in
// the middle of a burst. Nothing may be lost: every service converges when
// the fault ends, no address is given twice, no DNS record or HAProxy
// frontend is left behind or written twice.
//
// Bulk services come from provider.file (Swarm tasks take a second or more
// each to start), with targets at the real busybox containers of the
// backend pool; the dockerd case uses provider.swarm.
#include "tests/e2e/harness.hpp"

#include <future>
#include <iterator>
#include <sstream>

using namespace e2e;

namespace {

// Retries come quickly, so that a fault's end is seen within a second or two.
const std::string fast_retries =
    "  retryInitialInterval: 200ms\n  retryMaxInterval: 1600ms\n  workflowHousekeeperInterval: 200ms\n";

// Every one of `names` stopped in step `state` with an error containing `needle`.
bool all_failing(const boost::json::object& s, const std::vector<std::string>& names, const std::string& state,
                 const std::string& needle) {
  for (auto& n : names)
    if (state_of(s, n) != state || error_of(s, n).find(needle) == std::string::npos) return false;
  return true;
}

// Some log line says the refresh of `name` (among others, maybe) went unanswered.
bool refresh_unanswered(const std::string& log, const std::string& name) {
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    auto at = line.find("cannot answer the refresh of ");
    if (at != std::string::npos && line.find(name, at) != std::string::npos) return true;
  }
  return false;
}

// The zone holds exactly one A record (the service's VIP) and one ownership
// TXT record for each of `names`, and nothing else of interlook's.
void check_records_exactly(const whole_path& p, const std::vector<std::string>& names) {
  auto records = p.interlook_records();
  auto services = p.daemon.services();
  CHECK(records.size() == names.size());
  for (auto& n : names) {
    auto& rr = records[n + ".example.test."];
    INFO(n);
    CHECK(rr == std::vector<std::string>{"A " + vip_of(services, n),
                                         "TXT \"heritage=interlook,owner=interlook,service=" + n + "\""});
  }
}

// HAProxy's file has exactly one frontend per service of `names`.
void check_frontends_exactly(const whole_path& p, const std::vector<std::string>& names) {
  std::vector<std::string> want;
  for (auto& n : names) want.push_back("interlook-" + n);
  std::sort(want.begin(), want.end());
  CHECK(p.haproxy.frontends() == want);
}

// ipalloc never gave one address twice: every address once in db_file, each
// service at most one address in use, and the deployed services' addresses
// distinct and in use by them. An address still held by a service that is
// gone is an error.
void check_addresses(const whole_path& p, const std::vector<std::string>& deployed) {
  auto db = allocations(p.ipalloc_db());
  std::set<std::string> ips, in_use_hosts;
  for (auto& [ip, a] : db) {
    CHECK_MESSAGE(ips.insert(ip).second, ip << " appears twice in ipalloc's db_file");
    if (!a.released) CHECK_MESSAGE(in_use_hosts.insert(a.host).second, a.host << " holds two addresses");
  }
  std::set<std::string> want(deployed.begin(), deployed.end()), extra, missing;
  std::set_difference(in_use_hosts.begin(), in_use_hosts.end(), want.begin(), want.end(), std::inserter(extra, extra.end()));
  std::set_difference(want.begin(), want.end(), in_use_hosts.begin(), in_use_hosts.end(),
                      std::inserter(missing, missing.end()));
  auto list = [](const std::set<std::string>& s) {
    std::string out;
    for (auto& x : s) out += " " + x;
    return out;
  };
  CHECK_MESSAGE(extra.empty(), "addresses still held by services that are gone:" << list(extra));
  CHECK_MESSAGE(missing.empty(), "deployed services without an address in use:" << list(missing));
  auto services = p.daemon.services();
  std::set<std::string> vips;
  for (auto& n : deployed) {
    auto vip = vip_of(services, n);
    CHECK_MESSAGE(vips.insert(vip).second, vip << " given to two services");
    auto it = std::find_if(db.begin(), db.end(), [&](auto& e) { return e.first == vip; });
    CHECK((it != db.end() && it->second.host == n && !it->second.released));
  }
}

template <class T>
std::vector<T> concat(std::vector<T> a, const std::vector<T>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_CASE("BIND down while 20 services deploy: each shows the DNS error, retried with backoff; BIND back: all converge") {
  whole_path p("127.0.30.0/24");
  p.configure_file(fast_retries);
  p.daemon.start();
  p.bind.stop();
  auto svcs = pool_services("b", 0, 20);
  auto all = names(svcs);
  write_atomically(p.services_file(), services_yaml(svcs));

  // Addresses given, then the DNS step fails for each (the state an entry
  // shows is the step it is at), naming the server.
  std::string server = "DNS server 127.0.0.1:" + std::to_string(p.bind.port());
  REQUIRE_MESSAGE(eventually([&] { return all_failing(p.daemon.services(), all, "dns.rfc2136", server); }),
                  boost::json::serialize(p.daemon.services()));
  auto services = p.daemon.services();
  MESSAGE("the error while BIND is down: " << error_of(services, "b0"));
  CHECK(error_of(services, "b0").find("Connection refused") != std::string::npos);
  // Retried with backoff: 200 ms, then 400 ms, 800 ms, 1.6 s (the maximum).
  REQUIRE_MESSAGE(eventually([&] { return p.daemon.log().find("service b0: retry in 1.6s") != std::string::npos; }),
                  p.daemon.log());
  auto log = p.daemon.log();
  auto at = [&](const std::string& s) { return log.find("service b0: " + s); };
  CHECK(at("retry in 200ms") < at("retry in 400ms"));
  CHECK(at("retry in 400ms") < at("retry in 800ms"));
  CHECK(at("retry in 800ms") < at("retry in 1.6s"));
  CHECK(p.haproxy.frontends().empty());  // nothing goes past the failing step
  CHECK(allocations(p.ipalloc_db()).size() == 20);

  auto t0 = clock_type::now();
  p.bind.start();
  std::string why;
  REQUIRE_MESSAGE(eventually([&] { return p.all_reachable(all, &why); }, 30s, 50ms), why << "\n" << p.daemon.log());
  MESSAGE("BIND back -> all 20 reachable in " << fixed(seconds_since(t0)) << " s");
  check_records_exactly(p, all);
  check_frontends_exactly(p, all);
  check_addresses(p, all);
  CHECK(p.daemon.stop(SIGTERM) == 0);
}

TEST_CASE("HAProxy's master socket gone while 20 services deploy: each shows the error, retried; back: all converge") {
  whole_path p("127.0.31.0/24");
  p.configure_file(fast_retries);
  p.daemon.start();
  p.haproxy.hide_socket();
  auto svcs = pool_services("h", 0, 20);
  auto all = names(svcs);
  write_atomically(p.services_file(), services_yaml(svcs));

  // Named in DNS, then the load balancer step fails for each, naming the socket.
  std::string sock = "master socket " + p.haproxy.master_socket().string();
  REQUIRE_MESSAGE(eventually([&] { return all_failing(p.daemon.services(), all, "lb.haproxy", sock); }),
                  p.daemon.log());
  MESSAGE("the error while the socket is gone: " << error_of(p.daemon.services(), "h0"));
  REQUIRE_MESSAGE(eventually([&] { return p.daemon.log().find("service h0: retry in 800ms") != std::string::npos; }),
                  p.daemon.log());
  CHECK(p.haproxy.frontends().empty());  // nothing is written while HAProxy cannot be asked
  auto reloads = p.haproxy.procs().reloads;

  auto t0 = clock_type::now();
  p.haproxy.restore_socket();
  std::string why;
  REQUIRE_MESSAGE(eventually([&] { return p.all_reachable(all, &why); }, 30s, 50ms), why << "\n" << p.daemon.log());
  MESSAGE("master socket back -> all 20 reachable in " << fixed(seconds_since(t0)) << " s, "
                                                         << p.haproxy.procs().reloads - reloads << " reload(s)");
  CHECK(p.haproxy.procs().reloads - reloads < 20);  // batched, not one per service
  check_records_exactly(p, all);
  check_frontends_exactly(p, all);
  check_addresses(p, all);
  CHECK(p.daemon.stop(SIGTERM) == 0);
}

TEST_CASE("a DNS server that never answers: the step times out with a clear error, the rest keeps moving") {
  whole_path p("127.0.32.0/24");
  p.configure_file(fast_retries, "DEBUG", "500ms");
  p.daemon.start();
  auto first = pool_services("s", 0, 5);
  write_atomically(p.services_file(), services_yaml(first));
  std::string why;
  REQUIRE_MESSAGE(eventually([&] { return p.all_reachable(names(first), &why); }, 30s, 50ms), why);
  auto vip0 = vip_of(p.daemon.services(), "s0");

  // BIND replaced by a socket that accepts and never answers. s0 is removed,
  // s5..s14 are added.
  p.bind.stop();
  std::vector<std::string> added = names(pool_services("s", 5, 10));
  std::vector<std::string> kept = {"s1", "s2", "s3", "s4"};
  double slowest_api = 0;
  auto services = [&] {
    auto t = clock_type::now();
    auto s = p.daemon.services();
    slowest_api = std::max(slowest_api, seconds_since(t));
    return s;
  };
  {
    black_hole hole(p.bind.port());
    write_atomically(p.services_file(), services_yaml(pool_services("s", 1, 14)));
    // The new services get their addresses; their DNS step times out.
    std::string server = "DNS server 127.0.0.1:" + std::to_string(p.bind.port());
    REQUIRE_MESSAGE(eventually([&] { return all_failing(services(), added, "dns.rfc2136", server + ": timed out"); }),
                    p.daemon.log());
    MESSAGE("the error while DNS hangs: " << error_of(services(), "s5"));
    CHECK(allocations(p.ipalloc_db()).size() == 15);  // ipalloc's step went on for all of them
    // Work goes on: s0's frontend is removed (the load balancer comes before
    // DNS on the way back), then its DNS step times out as well.
    REQUIRE_MESSAGE(eventually([&] { return spread(vip0, 1).count("(refused)") == 1; }), p.daemon.log());
    REQUIRE_MESSAGE(eventually([&] { return all_failing(services(), {"s0"}, "dns.rfc2136", "timed out"); }),
                    p.daemon.log());
    // The services already deployed stay as they are and keep serving.
    auto s = services();
    for (auto& n : kept) {
      CHECK(state_of(s, n) == "deployed");
      auto answers = spread(vip_of(s, n), 2);
      CHECK_MESSAGE((!answers.count("(refused)") && !answers.count("(failed)")), n);
    }
    // Timed-out steps are retried, not left in progress.
    REQUIRE(eventually([&] { return p.daemon.log().find("service s5: retry in 800ms") != std::string::npos; }));
  }
  MESSAGE("slowest API answer while DNS hung: " << fixed(slowest_api, 3) << " s");
  CHECK(slowest_api < 1.0);

  auto t0 = clock_type::now();
  p.bind.start();
  auto now_listed = concat(kept, added);
  REQUIRE_MESSAGE(eventually([&] { return p.all_reachable(now_listed, &why); }, 30s, 50ms), why << "\n" << p.daemon.log());
  REQUIRE(eventually([&] { return p.nxdomain("s0.example.test") && state_of(p.daemon.services(), "s0") == "undeployed"; }));
  MESSAGE("DNS answering again -> all converged in " << fixed(seconds_since(t0)) << " s");
  check_records_exactly(p, now_listed);
  check_frontends_exactly(p, now_listed);
  check_addresses(p, now_listed);
  CHECK(p.daemon.stop(SIGTERM) == 0);
}

TEST_CASE("kill -9 in the middle of 50 deploys, services removed meanwhile: the restart converges, nothing left over") {
  whole_path p("127.0.33.0/24");
  // A provider announces what it has, not what went away while the daemon
  // was down: services removed meanwhile are found by the housekeeper's
  // refresh requests, once they were not confirmed for serviceMaxLastUpdated.
  p.configure_file(fast_retries + "  serviceMaxLastUpdated: 2s\n", "INFO");
  p.daemon.start();
  auto svcs = pool_services("k", 0, 50);

  // Five waves of ten, each written once the previous one has its addresses;
  // the kill comes as soon as the last wave has its addresses, while its
  // names and frontends are in flight.
  auto allocated = [&](const std::string& name) {
    for (auto& [ip, a] : allocations(p.ipalloc_db()))
      if (a.host == name) return true;
    return false;
  };
  for (int wave = 0; wave < 5; ++wave) {
    write_atomically(p.services_file(),
                     services_yaml(std::vector<file_service>(svcs.begin(), svcs.begin() + 10 * (wave + 1))));
    auto last = "k" + std::to_string(10 * wave + 9), first = "k" + std::to_string(10 * wave);
    REQUIRE_MESSAGE(eventually([&] { return allocated(first) || allocated(last); }, 20s, 1ms), p.daemon.log());
  }
  CHECK(p.daemon.stop(SIGKILL) == -1);
  auto frontends_at_kill = p.haproxy.frontends().size();
  auto names_at_kill = p.interlook_records().size();
  auto addresses_at_kill = allocations(p.ipalloc_db()).size();
  MESSAGE("when killed: " << addresses_at_kill << " addresses, " << names_at_kill << " names, " << frontends_at_kill
                          << " frontends of 50");
  CHECK(frontends_at_kill < 50);  // killed mid-way, or this case proves little

  // While it is down, k0..k4 (deployed early) and k45..k49 (in flight) go.
  std::vector<file_service> kept(svcs.begin() + 5, svcs.begin() + 45);
  write_atomically(p.services_file(), services_yaml(kept));
  auto t0 = clock_type::now();
  p.daemon.start();
  std::string why;
  REQUIRE_MESSAGE(eventually([&] { return p.all_reachable(names(kept), &why); }, 60s, 50ms), why << "\n" << p.daemon.log());
  double reachable = seconds_since(t0);
  std::vector<std::string> removed;
  for (int i : {0, 1, 2, 3, 4, 45, 46, 47, 48, 49}) removed.push_back("k" + std::to_string(i));
  REQUIRE_MESSAGE(eventually([&] {
                    auto s = p.daemon.services();
                    for (auto& n : removed)
                      if (state_of(s, n) != "undeployed" && state_of(s, n) != "(absent)") return false;
                    return true;
                  }),
                  boost::json::serialize(p.daemon.services()) << "\n" << p.daemon.log());
  MESSAGE("restart -> the 40 kept reachable in " << fixed(reachable) << " s, the 10 removed undeployed in "
                                                 << fixed(seconds_since(t0)) << " s (serviceMaxLastUpdated 2s)");
  for (auto& n : removed) CHECK_MESSAGE(p.nxdomain(n + ".example.test"), n);
  check_records_exactly(p, names(kept));
  check_frontends_exactly(p, names(kept));
  // No address is left behind: the core journals a new service before its
  // first step goes to ipalloc (write-ahead), so whatever ipalloc allocated
  // before the kill belongs to a service the restarted core knows, and is
  // released when that service turns out removed.
  check_addresses(p, names(kept));
  // The removed services' addresses, those that had one, refuse connections.
  std::vector<std::string> removed_vips;
  for (auto& [ip, a] : allocations(p.ipalloc_db()))
    if (a.released) removed_vips.push_back(ip);
  in_netns(docker_peer::get().netns_path(), [&] {
    for (auto& ip : removed_vips) CHECK_MESSAGE(http_get(ip, 80).kind == http_result::refused, ip);
  });
  CHECK(p.daemon.stop(SIGTERM) == 0);
}

TEST_CASE("SIGTERM in the middle of a burst of 100: a clean stop within shutdownTimeout; the restart resumes") {
  whole_path p("127.0.35.0/24");
  p.configure_file(fast_retries + "  shutdownTimeout: 2s\n", "INFO");
  p.daemon.start();
  auto svcs = pool_services("t", 0, 100);
  write_atomically(p.services_file(), services_yaml(svcs));
  REQUIRE_MESSAGE(eventually([&] { return !allocations(p.ipalloc_db()).empty(); }, 20s, 1ms), p.daemon.log());
  double took = 0;
  CHECK(p.daemon.stop(SIGTERM, &took) == 0);
  auto frontends_at_stop = p.haproxy.frontends().size();
  MESSAGE("SIGTERM -> exit in " << fixed(took) << " s; at the stop: " << p.interlook_records().size() << " names, "
                                << frontends_at_stop << " frontends of 100");
  CHECK(frontends_at_stop < 100);  // stopped mid-burst, or this case proves little
  CHECK(took < 2.0 + 1.0);         // shutdownTimeout, and the time to save the entries
  CHECK(p.daemon.log().find("INFO stopped") != std::string::npos);

  auto t0 = clock_type::now();
  p.daemon.start();
  std::string why;
  REQUIRE_MESSAGE(eventually([&] { return p.all_reachable(names(svcs), &why); }, 60s, 50ms), why << "\n" << p.daemon.log());
  MESSAGE("restart -> all 100 reachable in " << fixed(seconds_since(t0)) << " s");
  check_records_exactly(p, names(svcs));
  check_frontends_exactly(p, names(svcs));
  check_addresses(p, names(svcs));
  CHECK(p.daemon.stop(SIGTERM) == 0);
}

// Last of this file: the dockerd restart gives the backend pool new ports.
TEST_CASE("dockerd restarted: nothing is undeployed while it is away; its restarted tasks are followed") {
  whole_path p("127.0.34.0/24");
  p.configure_swarm("restart", fast_retries + "  serviceMaxLastUpdated: 1s\n", "    pollInterval: 1s\n");
  p.daemon.start();
  auto& docker = docker_peer::get();
  create_service("survivor", {"e2e=restart", "interlook.hosts=survivor.example.test", "interlook.port=80"}, 2);
  std::string why;
  REQUIRE_MESSAGE(eventually([&] { return p.all_reachable({"survivor"}, &why); }, 30s, 50ms), why << "\n" << p.daemon.log());
  auto vip = vip_of(p.daemon.services(), "survivor");
  REQUIRE(eventually([&] { return names_of(spread(vip, 4)).size() == 2; }));

  // dockerd runs again after this case, whatever happens in it.
  struct restart_guard {
    ~restart_guard() {
      if (!docker_peer::get().running()) docker_peer::get().start();
    }
  } guard;

  // Whatever the daemon sees while dockerd stops, is away and starts again,
  // the service stays deployed on its address and its name answers. (When
  // the restarted tasks come back one by one, each new set of targets walks
  // the steps again: the entry is then in progress at a step, still expected
  // deployed, never on its way to undeployed.)
  int polls = 0;
  auto still_there = [&] {
    ++polls;
    auto s = p.daemon.services();
    auto& e = s.at("survivor").as_object();
    CHECK(e.at("state").as_string() != "undeployed");
    if (e.at("state").as_string() != "deployed") CHECK(e.at("work_in_progress").as_bool());
    CHECK(e.at("expected_state").as_string() == "deployed");
    CHECK(vip_of(s, "survivor") == vip);
    CHECK(p.resolves("survivor.example.test", vip));
  };
  auto t0 = clock_type::now();
  auto stopping = std::async(std::launch::async, [&] { docker.stop(); });
  while (stopping.wait_for(50ms) != std::future_status::ready) still_there();
  stopping.get();
  // The outage is seen, and refreshes asked for meanwhile go unanswered
  // (never answered with a deletion).
  REQUIRE_MESSAGE(eventually([&] {
                    still_there();
                    auto log = p.daemon.log();
                    return log.find("Docker at unix://" + docker.sock()) != std::string::npos &&
                           log.find("keeping the services last listed (nothing is deleted)") != std::string::npos &&
                           refresh_unanswered(log, "survivor");
                  }, 20s, 50ms),
                  p.daemon.log());
  MESSAGE("dockerd stopped in " << fixed(seconds_since(t0)) << " s");
  auto starting = std::async(std::launch::async, [&] { docker.start(); });
  while (starting.wait_for(50ms) != std::future_status::ready) still_there();
  starting.get();
  // Docker restarts the tasks in new containers with new ports: followed.
  t0 = clock_type::now();
  std::set<std::string> seen;
  REQUIRE_MESSAGE(eventually([&] {
                    still_there();
                    auto s = spread(vip, 6);
                    seen = names_of(s);
                    std::set<std::string> tasks;
                    for (auto& t : running_tasks("survivor")) tasks.insert(t.name);
                    return tasks.size() == 2 && seen == tasks;
                  }, 60s, 100ms),
                  p.daemon.log());
  MESSAGE("dockerd back -> the restarted tasks answer through the same VIP in " << fixed(seconds_since(t0)) << " s ("
                                                                                  << polls << " looks while away)");
  CHECK(p.daemon.log().find("is reachable again") != std::string::npos);
  CHECK(p.daemon.log().find("service survivor undeployed") == std::string::npos);
  auto db = allocations(p.ipalloc_db());
  REQUIRE(db.size() == 1);
  CHECK_FALSE(db[0].second.released);

  docker.docker_ok("service rm survivor");
  REQUIRE(eventually([&] { return p.nxdomain("survivor.example.test"); }));
  CHECK(p.daemon.stop(SIGTERM) == 0);
}
