// Issue 14, the whole path on real peers: a Docker Swarm service labelled
// for interlook goes through the stock daemon (provider.swarm, ipam.ipalloc,
// dns.rfc2136, lb.haproxy) to BIND and HAProxy; what is checked is what a
// user sees: the name at BIND, HTTP answers through the VIP, the daemon's
// API and ipalloc's db_file. Timings are from the docker command to the
// observable result.
#include "tests/e2e/harness.hpp"

using namespace e2e;

namespace {

struct timing {
  std::string step;
  double seconds;
};

void report(const std::vector<timing>& timings) {
  std::ostringstream s;
  s << "whole path timings (seconds from the docker command):\n";
  for (auto& t : timings) s << "  " << t.step << ": " << fixed(t.seconds) << " s\n";
  MESSAGE(s.str());
}

std::set<std::string> task_names(const std::string& service) {
  std::set<std::string> out;
  for (auto& t : running_tasks(service)) out.insert(t.name);
  return out;
}

// A window of requests all answered, by exactly `n` distinct names.
bool answered_by(const std::string& vip, std::size_t n, std::set<std::string>* seen) {
  auto s = spread(vip, static_cast<int>(2 * n + 2));
  *seen = names_of(s);
  return !s.count("(failed)") && !s.count("(refused)") && seen->size() == n;
}

}  // namespace

TEST_CASE("a swarm service through the whole path: deployed, scaled to 3 and to 1, removed") {
  whole_path p("127.0.20.0/24");
  p.configure_swarm("path", "  retryInitialInterval: 200ms\n");
  p.daemon.start();
  std::vector<timing> timings;
  auto& docker = docker_peer::get();

  // Created with 2 replicas: the name answers with the VIP ipalloc gave, and
  // both replicas answer through it.
  auto t0 = clock_type::now();
  create_service("web", {"e2e=path", "interlook.hosts=web.example.test", "interlook.port=80"}, 2);
  std::string vip;
  REQUIRE_MESSAGE(eventually([&] {
                    vip = vip_of(p.daemon.services(), "web");
                    return !vip.empty() && p.resolves("web.example.test", vip);
                  }, 30s, 10ms),
                  p.daemon.log());
  timings.push_back({"create (2 replicas) -> the name answers", seconds_since(t0)});
  std::set<std::string> seen;
  REQUIRE_MESSAGE(eventually([&] { return answered_by(vip, 2, &seen); }, 30s, 10ms), p.daemon.log());
  timings.push_back({"create (2 replicas) -> both replicas answer through the VIP", seconds_since(t0)});
  CHECK(seen == task_names("web"));
  CHECK(state_of(p.daemon.services(), "web") == "deployed");
  auto allocated = allocations(p.ipalloc_db());
  REQUIRE(allocated.size() == 1);
  CHECK(allocated[0].first == vip);
  CHECK(allocated[0].second.host == "web");
  CHECK_FALSE(allocated[0].second.released);
  // Exactly an A record and interlook's ownership TXT record.
  auto records = p.interlook_records();
  CHECK(records.size() == 1);
  CHECK(records["web.example.test."] ==
        std::vector<std::string>{"A " + vip, "TXT \"heritage=interlook,owner=interlook,service=web\""});

  // Scaled to 3: the third replica answers too.
  t0 = clock_type::now();
  docker.docker_ok("service scale -d web=3");
  REQUIRE_MESSAGE(eventually([&] { return answered_by(vip, 3, &seen); }, 30s, 10ms), p.daemon.log());
  timings.push_back({"scale to 3 -> all three answer", seconds_since(t0)});
  CHECK(seen == task_names("web"));

  // Scaled to 1: only the one left answers.
  t0 = clock_type::now();
  docker.docker_ok("service scale -d web=1");
  REQUIRE_MESSAGE(eventually([&] { return answered_by(vip, 1, &seen) && task_names("web") == seen; }, 30s, 10ms),
                  p.daemon.log());
  timings.push_back({"scale to 1 -> only one answers", seconds_since(t0)});
  CHECK(vip_of(p.daemon.services(), "web") == vip);  // the same address all along
  CHECK(p.resolves("web.example.test", vip));

  // Removed: NXDOMAIN, the VIP refuses connections, the address released,
  // the entry undeployed.
  t0 = clock_type::now();
  docker.docker_ok("service rm web");
  REQUIRE_MESSAGE(eventually([&] { return p.nxdomain("web.example.test"); }, 30s, 10ms), p.daemon.log());
  timings.push_back({"remove -> NXDOMAIN", seconds_since(t0)});
  REQUIRE_MESSAGE(eventually([&] { return spread(vip, 1).count("(refused)") == 1; }, 30s, 10ms), p.daemon.log());
  timings.push_back({"remove -> the VIP refuses connections", seconds_since(t0)});
  REQUIRE(eventually([&] { return state_of(p.daemon.services(), "web") == "undeployed"; }, 10s));
  timings.push_back({"remove -> /services shows it undeployed", seconds_since(t0)});
  allocated = allocations(p.ipalloc_db());
  REQUIRE(allocated.size() == 1);
  CHECK(allocated[0].first == vip);
  CHECK(allocated[0].second.released);
  CHECK(p.interlook_records().empty());
  CHECK(p.haproxy.frontends().empty());
  report(timings);
  CHECK(p.daemon.stop(SIGTERM) == 0);
}
