// provider.swarm against a real Docker Engine 20.10 in swarm mode
// (tests/peers/docker/docker-peer.sh starts it in a network namespace of its
// own, once per test binary). Services are created with Debian's docker CLI
// from an image of busybox-static; every expectation waits on what the
// provider sends, with a deadline, never on a fixed sleep.
//
// Each case selects its own services with labelSelector itest=<case>, so
// cases do not see each other's services.
#include "tests/peer_support.hpp"
#include <interlook/ext/provider/swarm/swarm.hpp>
#include <interlook/testing/ext_runner.hpp>

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using interlook::action;
using interlook::message;
using interlook::target;
using swarm = interlook::ext::provider::swarm;
using runner = interlook::testing::ext_runner<swarm>;
using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

std::string peer_script() { return peer_support::runfile("tests/peers/docker/docker-peer.sh"); }

using peer_support::command_result;
command_result run(const std::string& cmd) { return peer_support::sh(cmd); }

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::string s((std::istreambuf_iterator<char>(in)), {});
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

double ms_since(clock_type::time_point t) { return std::chrono::duration<double, std::milli>(clock_type::now() - t).count(); }

// The peer: one dockerd for the whole binary, also listening with TLS on
// 127.0.0.1:2376 inside its namespace (client certificates required).
class docker_peer {
 public:
  static docker_peer& get() {
    static docker_peer p;
    return p;
  }

  std::string sock() const { return sock_; }
  fs::path certs() const { return dir_ / "certs"; }
  std::string netns() const { return read_file(dir_ / "netns"); }
  fs::path dir() const { return dir_; }

  void start() {
    auto c = certs().string();
    auto r = run(peer_script() + " start " + dir_.string() + " " + std::to_string(::getpid()) + " -- --tlsverify --tlscacert " +
                 c + "/ca.pem --tlscert " + c + "/server.pem --tlskey " + c + "/server-key.pem -H tcp://127.0.0.1:2376");
    if (r.status != 0) throw std::runtime_error("could not start dockerd: " + r.output + "\n" + read_file(dir_ / "dockerd.log"));
    sock_ = read_file(dir_ / "socket");
  }
  void stop() { run(peer_script() + " stop " + dir_.string()); }
  // After a case that failed while dockerd was stopped.
  void ensure_running() {
    if (docker("version").status != 0) start();
  }

  command_result docker(const std::string& args) const { return run("/usr/bin/docker -H unix://" + sock_ + " " + args); }
  std::string docker_ok(const std::string& args) const {
    auto r = docker(args);
    if (r.status != 0) throw std::runtime_error("docker " + args + " failed: " + r.output);
    return r.output;
  }

 private:
  docker_peer() {
    char tmpl[] = "/tmp/il-swarm-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    auto r = run(peer_script() + " certs " + certs().string());
    if (r.status != 0) throw std::runtime_error("could not make certificates: " + r.output);
    auto t = clock_type::now();
    start();
    std::fprintf(stderr, "dockerd in swarm mode ready in %.0f ms (%s)\n", ms_since(t), sock_.c_str());
  }
  ~docker_peer() {
    run(peer_script() + " destroy " + dir_.string());
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path dir_;
  std::string sock_;
};

const std::string httpd_command = "sh -c 'trap \"exit 0\" TERM; httpd -f -p 80 -h /www & wait'";

// docker service create, detached: returns at once.
void create_service(const std::string& name, const std::vector<std::string>& labels, const std::string& publish, int replicas = 1) {
  std::string args = "service create -d --name " + name + " --no-resolve-image --stop-grace-period 1s";
  for (const auto& l : labels) args += " --label '" + l + "'";
  if (!publish.empty()) args += " --publish " + publish;
  args += " --replicas " + std::to_string(replicas) + " interlook-test/busybox " + httpd_command;
  docker_peer::get().docker_ok(args);
}

void remove_service(const std::string& name) { docker_peer::get().docker("service rm " + name); }

// The host-mode ports of the service's running tasks, as the docker CLI
// shows them: each task's published port once (Docker lists IPv4 and IPv6).
std::vector<std::uint32_t> running_host_ports(const std::string& name) {
  auto& d = docker_peer::get();
  auto ids = d.docker("service ps -q --filter desired-state=running " + name).output;
  std::vector<std::uint32_t> out;
  std::istringstream in(ids);
  std::string id;
  while (in >> id) {
    auto r = d.docker("inspect --format '{{.Status.State}} {{range .Status.PortStatus.Ports}}{{.PublishedPort}} {{end}}' " + id);
    std::istringstream words(r.output);
    std::string state;
    words >> state;
    if (state != "running") continue;
    std::vector<std::uint32_t> ports;
    std::uint32_t p;
    while (words >> p)
      if (std::find(ports.begin(), ports.end(), p) == ports.end()) ports.push_back(p);
    out.insert(out.end(), ports.begin(), ports.end());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<target> loopback_targets(const std::vector<std::uint32_t>& ports) {
  std::vector<target> t;
  for (auto p : ports) t.push_back({"127.0.0.1", p, 1});
  interlook::merge_targets(t);
  return t;
}

swarm::config config_for(const std::string& test) {
  docker_peer::get().ensure_running();
  swarm::config c;
  c.endpoint = "unix://" + docker_peer::get().sock();
  c.labelSelector = {"itest=" + test};
  c.pollInterval = 1h;  // events do the work; the poll is only the safety net
  return c;
}

// Reads messages until one satisfies `want`; every message read is also
// passed to `seen` (which may FAIL on unexpected ones). nullopt after the
// deadline.
std::optional<message> await_message(runner& r, const std::function<bool(const message&)>& want,
                                     std::chrono::milliseconds timeout,
                                     const std::function<void(const message&)>& seen = {}) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    if (left <= 0ms) return std::nullopt;
    auto m = r.next(left);
    if (!m) return std::nullopt;
    if (seen) seen(*m);
    if (want(*m)) return m;
  }
}

auto is_add(const std::string& name, std::size_t targets = 0) {
  return [name, targets](const message& m) {
    return m.action == action::add && m.service.name == name && (targets == 0 || m.service.targets.size() == targets);
  };
}
auto is_delete(const std::string& name) {
  return [name](const message& m) { return m.action == action::remove && m.service.name == name; };
}

// Polls `pred` until true or the deadline.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  while (clock_type::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return pred();
}

std::size_t count_lines(runner& r, const std::string& text, std::size_t from = 0) {
  std::size_t n = 0;
  for (int i = r.await_log(text, from, 0ms); i >= 0; i = r.await_log(text, static_cast<std::size_t>(i) + 1, 0ms)) ++n;
  return n;
}

// Builds a runner on a thread that entered the peer's network namespace: its
// extension thread and the watcher thread it starts inherit the namespace,
// so tcp://127.0.0.1:2376 is dockerd's TLS listener.
std::unique_ptr<runner> runner_in_peer_netns(const swarm::config& cfg) {
  std::unique_ptr<runner> r;
  std::string failure;
  std::thread t([&] {
    int fd = ::open(("/run/netns/" + docker_peer::get().netns()).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      failure = std::string("cannot enter the peer's network namespace: ") + std::strerror(errno);
      if (fd >= 0) ::close(fd);
      return;
    }
    ::close(fd);
    r = std::make_unique<runner>(cfg);
  });
  t.join();
  if (!failure.empty()) throw std::runtime_error(failure);
  return r;
}

}  // namespace

TEST_CASE("host-mode service: announced with its aliases and each task's port; scaled, relabelled, removed by events") {
  auto& peer = docker_peer::get();
  runner r(config_for("host"));
  REQUIRE(r.await_log("connected to Docker at unix://" + peer.sock(), 0, 20s) >= 0);

  // Never announced: no interlook labels, or not the selector's label.
  create_service("plain-h", {"itest=host"}, "mode=host,target=80");
  create_service("other-h", {"itest=other", "interlook.hosts=other.example.test", "interlook.port=80"}, "mode=host,target=80");
  auto never = [](const message& m) {
    CHECK_MESSAGE(m.service.name != "plain-h", "a service without the interlook labels was announced");
    CHECK_MESSAGE(m.service.name != "other-h", "a service without the selector's label was announced");
  };

  auto t0 = clock_type::now();
  create_service("web-h", {"itest=host", "interlook.hosts=web.example.test,www.example.test", "interlook.port=80"},
                 "mode=host,target=80", 2);
  auto created = clock_type::now();
  auto add = await_message(r, is_add("web-h", 2), 60s, never);
  REQUIRE_MESSAGE(add, "no add with 2 targets for web-h");
  std::fprintf(stderr, "create 2 replicas -> add: %.0f ms (the CLI returned after %.0f ms)\n", ms_since(t0),
               std::chrono::duration<double, std::milli>(created - t0).count());
  CHECK(add->service.provider == "provider.swarm");
  CHECK(add->service.dns_names == std::vector<std::string>{"web.example.test", "www.example.test"});
  CHECK_FALSE(add->service.tls);
  auto ports = running_host_ports("web-h");
  REQUIRE(ports.size() == 2);
  CHECK(ports[0] != ports[1]);  // two tasks on one node: two dynamic ports
  CHECK(add->service.targets == loopback_targets(ports));

  {  // refresh is answered from Docker's current state
    message ask;
    ask.action = action::refresh;
    ask.service.name = "web-h";
    r.send(ask);
    auto again = await_message(r, is_add("web-h"), 10s, never);
    REQUIRE(again);
    CHECK(again->service.targets == add->service.targets);
    ask.service.name = "no-such-service";
    r.send(ask);
    CHECK(await_message(r, is_delete("no-such-service"), 10s, never));
    ask.service.name = "plain-h";  // exists, but not labelled for interlook
    r.send(ask);
    CHECK(await_message(r, is_delete("plain-h"), 10s));
  }

  {  // scale, TLS label, labels removed and back, service removed: each within 2 s
    auto t = clock_type::now();
    peer.docker_ok("service scale -d web-h=3");
    auto scaled = await_message(r, is_add("web-h", 3), 10s, never);
    REQUIRE_MESSAGE(scaled, "scaling to 3 was not announced");
    double scale_ms = ms_since(t);
    std::fprintf(stderr, "scale 2 -> 3 -> add with 3 targets: %.0f ms\n", scale_ms);
    CHECK(scale_ms < 2000);
    CHECK(scaled->service.targets == loopback_targets(running_host_ports("web-h")));

    t = clock_type::now();
    peer.docker_ok("service update -d --label-add interlook.ssl=true web-h");
    auto tls = await_message(r, [](const message& m) { return m.action == action::add && m.service.tls; }, 10s, never);
    REQUIRE(tls);
    double tls_ms = ms_since(t);
    std::fprintf(stderr, "label interlook.ssl=true -> add with TLS: %.0f ms\n", tls_ms);
    CHECK(tls_ms < 2000);
    CHECK(tls->service.targets == scaled->service.targets);

    t = clock_type::now();
    peer.docker_ok("service update -d --label-rm interlook.hosts web-h");
    auto unlabelled = await_message(r, is_delete("web-h"), 10s, never);
    REQUIRE(unlabelled);
    double rm_label_ms = ms_since(t);
    std::fprintf(stderr, "label interlook.hosts removed -> delete: %.0f ms\n", rm_label_ms);
    CHECK(rm_label_ms < 2000);
    CHECK(unlabelled->service.dns_names == std::vector<std::string>{"web.example.test", "www.example.test"});

    peer.docker_ok("service update -d --label-add interlook.hosts=web.example.test web-h");
    auto back = await_message(r, is_add("web-h", 3), 10s, never);
    REQUIRE(back);
    CHECK(back->service.dns_names == std::vector<std::string>{"web.example.test"});

    t = clock_type::now();
    remove_service("web-h");
    auto gone = await_message(r, is_delete("web-h"), 10s, never);
    REQUIRE(gone);
    double rm_ms = ms_since(t);
    std::fprintf(stderr, "service removed -> delete: %.0f ms\n", rm_ms);
    CHECK(rm_ms < 2000);
  }

  remove_service("web-h");
  remove_service("plain-h");
  remove_service("other-h");
  // Whatever else came (the removal above), nothing about the others.
  while (auto m = r.next(300ms)) never(*m);
  // A bounded stop: the event stream is cancelled, the watcher joined.
  auto t = clock_type::now();
  r.stop();
  std::fprintf(stderr, "stop with the event stream open: %.1f ms\n", ms_since(t));
  CHECK(ms_since(t) < 1000);
}

TEST_CASE("ingress-mode service: the service's published port on the node running its tasks") {
  runner r(config_for("ingress"));
  create_service("web-i", {"itest=ingress", "interlook.hosts=ingress.example.test", "interlook.port=80"}, "target=80", 2);
  auto add = await_message(r, is_add("web-i"), 60s);
  REQUIRE(add);
  auto published = docker_peer::get().docker_ok("service inspect --format '{{range .Endpoint.Ports}}{{.PublishedPort}}{{end}}' web-i");
  std::uint32_t port = static_cast<std::uint32_t>(std::stoul(published));
  // Two tasks on the one node, possibly announced while the second starts.
  if (add->service.targets.front().weight != 2) {
    add = await_message(r, [](const message& m) { return m.action == action::add && m.service.targets.front().weight == 2; }, 30s);
    REQUIRE(add);
  }
  CHECK(add->service.targets == std::vector<target>{{"127.0.0.1", port, 2}});
  remove_service("web-i");
  CHECK(await_message(r, is_delete("web-i"), 10s));
}

TEST_CASE("a malformed label is logged once, naming the service and the label, and the service skipped") {
  auto cfg = config_for("malformed");
  cfg.pollInterval = 300ms;  // several full listings during the case
  runner r(cfg);
  create_service("bad-m", {"itest=malformed", "interlook.hosts=bad.example.test", "interlook.port=abc"}, "mode=host,target=80");
  create_service("good-m", {"itest=malformed", "interlook.hosts=good.example.test", "interlook.port=80"}, "mode=host,target=80");
  auto skip_bad = [](const message& m) { CHECK_MESSAGE(m.service.name != "bad-m", "the malformed service was announced"); };
  REQUIRE(await_message(r, is_add("good-m"), 60s, skip_bad));
  REQUIRE(r.await_log("service bad-m: label interlook.port: \"abc\" is not a port", 0, 10s) >= 0);

  // Another label change on bad-m (an event, a look-up of bad-m alone), then
  // a new problem, which is news: logged. The old one stayed logged once.
  docker_peer::get().docker_ok("service update -d --label-add touched=1 bad-m");
  docker_peer::get().docker_ok("service update -d --label-add interlook.port=abd bad-m");
  REQUIRE(r.await_log("service bad-m: label interlook.port: \"abd\" is not a port", 0, 10s) >= 0);
  CHECK(count_lines(r, "\"abc\" is not a port") == 1);

  message ask;
  ask.action = action::refresh;
  ask.service.name = "bad-m";
  r.send(ask);
  CHECK(r.await_log("refresh of bad-m not answered", 0, 10s) >= 0);

  docker_peer::get().docker_ok("service update -d --label-add interlook.port=80 bad-m");
  auto fixed = await_message(r, is_add("bad-m"), 20s);
  CHECK(fixed);
  remove_service("bad-m");
  remove_service("good-m");
  CHECK(await_message(r, is_delete("bad-m"), 10s));
}

TEST_CASE("dockerd stopped: nothing deleted, one error naming the endpoint; back: one listing converges") {
  auto& peer = docker_peer::get();
  // The provider reaches dockerd through a symlink to its socket: removing
  // the link makes Docker unreachable for the provider alone, so a service
  // can be removed while the provider cannot see it.
  fs::path link = peer.dir() / "provider.sock";
  fs::remove(link);
  fs::create_symlink(peer.sock(), link);
  auto cfg = config_for("outage");
  cfg.endpoint = "unix://" + link.string();
  cfg.pollInterval = 1s;
  runner r(cfg);
  create_service("a-o", {"itest=outage", "interlook.hosts=a.example.test", "interlook.port=80"}, "mode=host,target=80");
  create_service("b-o", {"itest=outage", "interlook.hosts=b.example.test", "interlook.port=80"}, "mode=host,target=80");
  // Their tasks start in either order: both adds, whichever comes first.
  std::set<std::string> added;
  REQUIRE(await_message(r, [&](const message& m) {
    if (m.action == action::add && (m.service.name == "a-o" || m.service.name == "b-o")) added.insert(m.service.name);
    return added.size() == 2;
  }, 60s));
  auto no_delete = [](const message& m) { CHECK_MESSAGE(m.action != action::remove, "deleted while Docker was down: " << m.service.name); };

  auto from = r.log_size();
  auto t = clock_type::now();
  peer.stop();
  std::fprintf(stderr, "dockerd stopped in %.0f ms\n", ms_since(t));
  // The first failure may be the connection, or an answer of a daemon
  // shutting down (503): either way one error naming the endpoint.
  auto err = r.await_log("nothing is deleted", from, 20s);
  REQUIRE(err >= 0);
  CHECK(r.await_log("Docker at unix://" + link.string(), static_cast<std::size_t>(err), 0ms) == err);
  // Several reconnection attempts (DEBUG "still unreachable or failing"), and polls due.
  for (int i = 0, at = err; i < 3; ++i) {
    at = r.await_log("still unreachable or failing", static_cast<std::size_t>(at) + 1, 20s);
    REQUIRE(at >= 0);
  }
  while (auto m = r.next(100ms)) no_delete(*m);
  CHECK(count_lines(r, "nothing is deleted", from) == 1);

  // Back, but not yet for the provider: b-o is removed meanwhile.
  fs::remove(link);
  t = clock_type::now();
  peer.start();
  std::fprintf(stderr, "dockerd restarted in %.0f ms\n", ms_since(t));
  remove_service("b-o");
  REQUIRE(eventually([] { return !running_host_ports("a-o").empty(); }, 60s));
  while (auto m = r.next(100ms)) no_delete(*m);

  fs::create_symlink(peer.sock(), link);
  t = clock_type::now();
  auto deleted = await_message(r, is_delete("b-o"), 20s, [](const message& m) {
    CHECK_MESSAGE(!(m.action == action::remove && m.service.name == "a-o"), "a-o deleted");
  });
  REQUIRE_MESSAGE(deleted, "the service removed while Docker was unreachable was not deleted");
  std::fprintf(stderr, "reachable again -> delete of the service removed meanwhile: %.0f ms\n", ms_since(t));
  CHECK(r.await_log("is reachable again", from, 5s) >= 0);
  // a-o converges to its new task's port (the restart rescheduled it).
  auto want = loopback_targets(running_host_ports("a-o"));
  REQUIRE(eventually(
      [&] {
        auto ports = loopback_targets(running_host_ports("a-o"));
        if (ports != want) want = ports;
        message ask;
        ask.action = action::refresh;
        ask.service.name = "a-o";
        r.send(ask);
        auto m = await_message(r, is_add("a-o"), 5s);
        return m && m->service.targets == want;
      },
      30s));
  remove_service("a-o");
  CHECK(await_message(r, is_delete("a-o"), 10s));
}

TEST_CASE("TLS: tcp://127.0.0.1:2376 with tlsCa, tlsCert, tlsKey; a wrong CA or no client certificate is refused clearly") {
  auto& peer = docker_peer::get();
  peer.ensure_running();
  auto certs = peer.certs().string();
  create_service("t-tls", {"itest=tls", "interlook.hosts=tls.example.test", "interlook.port=80"}, "mode=host,target=80");
  auto cfg = config_for("tls");
  cfg.endpoint = "tcp://127.0.0.1:2376";
  cfg.tlsCa = certs + "/ca.pem";
  cfg.tlsCert = certs + "/client.pem";
  cfg.tlsKey = certs + "/client-key.pem";
  {
    auto r = runner_in_peer_netns(cfg);
    REQUIRE(r->await_log("connected to Docker at tcp://127.0.0.1:2376", 0, 20s) >= 0);
    auto add = await_message(*r, is_add("t-tls"), 60s);
    REQUIRE(add);
    CHECK(add->service.targets == loopback_targets(running_host_ports("t-tls")));
  }
  {
    auto wrong = cfg;
    wrong.tlsCa = certs + "/other-ca.pem";
    auto r = runner_in_peer_netns(wrong);
    auto at = r->await_log("cannot reach Docker at tcp://127.0.0.1:2376", 0, 20s);
    REQUIRE(at >= 0);
    CHECK(r->await_log("certificate verify failed", static_cast<std::size_t>(at), 0ms) == at);
    CHECK_FALSE(r->next(500ms));
    auto t = clock_type::now();
    r->stop();  // while waiting to retry
    CHECK(ms_since(t) < 1000);
  }
  {
    auto anonymous = cfg;
    anonymous.tlsCert.clear();
    anonymous.tlsKey.clear();
    auto r = runner_in_peer_netns(anonymous);
    auto at = r->await_log("cannot reach Docker at tcp://127.0.0.1:2376", 0, 20s);
    REQUIRE(at >= 0);
    CHECK(r->await_log("TLS", static_cast<std::size_t>(at), 0ms) == at);
    CHECK_FALSE(r->next(500ms));
  }
  remove_service("t-tls");
}

TEST_CASE("a start with a TLS file that does not exist fails, naming it") {
  auto cfg = config_for("bad-tls");
  cfg.endpoint = "tcp://127.0.0.1:2376";
  cfg.tlsCa = "/nonexistent/ca.pem";
  interlook::logger log(interlook::log_level::error, [](interlook::log_level, std::string_view) {});
  interlook::extension_context ctx(log, swarm::name);
  CHECK_THROWS_WITH(swarm(cfg, ctx), doctest::Contains("/nonexistent/ca.pem"));
}
