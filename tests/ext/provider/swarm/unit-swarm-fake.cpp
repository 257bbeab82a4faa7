// provider.swarm against a scripted Docker API on a unix socket: what a real
// dockerd will not do on demand. Malformed JSON is an error logged once that
// deletes nothing; an event stream that is refused (a socket proxy that
// forbids /events) leaves the poll in charge; a swarm that is not active is an
// error, not an empty listing.
#include <interlook/ext/provider/swarm/swarm.hpp>
#include <interlook/testing/ext_runner.hpp>

#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using interlook::action;
using interlook::message;
using swarm = interlook::ext::provider::swarm;
using runner = interlook::testing::ext_runner<swarm>;
namespace fs = std::filesystem;

namespace {

// Answers each request from the current script, then closes the connection.
class fake_docker {
 public:
  fake_docker() {
    char tmpl[] = "/tmp/il-swarm-fake-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    path_ = (dir_ / "docker.sock").string();
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 64) == 0);
    REQUIRE(::pipe2(stop_, O_CLOEXEC) == 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~fake_docker() {
    char c = 'x';
    (void)!::write(stop_[1], &c, 1);
    thread_.join();
    ::close(fd_);
    ::close(stop_[0]);
    ::close(stop_[1]);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string endpoint() const { return "unix://" + path_; }
  // Answers GET `path` (query ignored) with this status and body.
  void set(std::string path, int status, std::string body) {
    std::lock_guard lock(mutex_);
    routes_[std::move(path)] = {status, std::move(body)};
  }

 private:
  void serve() {
    for (;;) {
      pollfd p[2] = {{fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) continue;
      if (p[1].revents) return;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string req;
      char buf[2048];
      while (req.find("\r\n\r\n") == std::string::npos) {
        auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<std::size_t>(n));
      }
      auto sp = req.find(' ');
      std::string target = sp == std::string::npos ? "" : req.substr(sp + 1, req.find(' ', sp + 1) - sp - 1);
      int status = 404;
      std::string body = R"({"message":"page not found"})";
      {
        std::lock_guard lock(mutex_);
        std::string path = target.substr(0, target.find('?'));
        if (auto it = routes_.find(path); it != routes_.end()) {
          status = it->second.first;
          body = it->second.second;
        }
      }
      std::string resp = "HTTP/1.1 " + std::to_string(status) +
                         " X\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\nConnection: close\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n" + body;
      (void)!::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  fs::path dir_;
  std::string path_;
  int fd_ = -1;
  int stop_[2] = {-1, -1};
  std::thread thread_;
  std::mutex mutex_;
  std::map<std::string, std::pair<int, std::string>> routes_;
};

const std::string version = R"({"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12"})";
const std::string one_service =
    R"([{"ID":"s1","Spec":{"Name":"web","Labels":{"interlook.hosts":"web.test","interlook.port":"80"},"Mode":{"Replicated":{"Replicas":1}}},"Endpoint":{"Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":30080,"PublishMode":"ingress"}]}}])";
const std::string one_task =
    R"([{"ID":"t1","ServiceID":"s1","NodeID":"n1","DesiredState":"running","Status":{"State":"running"}}])";
const std::string one_node = R"([{"ID":"n1","Status":{"Addr":"10.9.0.1"}}])";

void healthy(fake_docker& d) {
  d.set("/version", 200, version);
  d.set("/v1.41/services", 200, one_service);
  d.set("/v1.41/tasks", 200, one_task);
  d.set("/v1.41/nodes", 200, one_node);
  // Refused, as a socket proxy that forbids /events answers.
  d.set("/v1.41/events", 403, R"({"message":"forbidden by the proxy"})");
}

swarm::config config_for(const fake_docker& d) {
  swarm::config c;
  c.endpoint = d.endpoint();
  c.pollInterval = 200ms;
  return c;
}

}  // namespace

TEST_CASE("events refused: one warning, the poll does the work") {
  fake_docker d;
  healthy(d);
  runner r(config_for(d));
  auto add = r.next(10s);
  REQUIRE(add);
  CHECK(add->action == action::add);
  CHECK(add->service.targets == std::vector<interlook::target>{{"10.9.0.1", 30080, 1}});
  REQUIRE(r.await_log("no events from Docker", 0, 5s) >= 0);
  // The service disappears from a successful listing: deleted by the poll.
  d.set("/v1.41/services", 200, "[]");
  auto del = r.next(5s);
  REQUIRE(del);
  CHECK(del->action == action::remove);
  CHECK(del->service.name == "web");
  CHECK(del->service.dns_names == std::vector<std::string>{"web.test"});
  int warnings = 0;
  for (int at = r.await_log("no events from Docker", 0, 0ms); at >= 0; at = r.await_log("no events from Docker", static_cast<std::size_t>(at) + 1, 0ms))
    ++warnings;
  CHECK(warnings == 1);
}

TEST_CASE("malformed JSON and error statuses: one error naming the endpoint, nothing deleted, converges when fixed") {
  fake_docker d;
  healthy(d);
  runner r(config_for(d));
  REQUIRE(r.next(10s));  // web announced

  auto from = r.log_size();
  d.set("/v1.41/services", 200, R"([{"ID":"s1","Spec":{"Name":"web","Labels":{"interlook.port":80}}}])");
  auto at = r.await_log("nothing is deleted", from, 5s);
  REQUIRE(at >= 0);
  CHECK(r.await_log("cannot use what Docker at " + d.endpoint() + " answers: services[0].Spec.Labels.interlook.port: expected a string",
                    from, 0ms) == at);
  // Several failed attempts later: still one error, no message.
  for (int i = 0, next = at; i < 3; ++i) {
    next = r.await_log("still unreachable or failing", static_cast<std::size_t>(next) + 1, 10s);
    REQUIRE(next >= 0);
  }
  CHECK_FALSE(r.next(200ms));

  // A node that left the swarm: 503 from /services.
  d.set("/v1.41/services", 503, R"({"message":"This node is not a swarm manager."})");
  CHECK_FALSE(r.next(1s));

  // Fixed: one listing, same definition, nothing to send; a change is sent.
  d.set("/v1.41/services", 200, one_service);
  REQUIRE(r.await_log("is reachable again", from, 10s) >= 0);
  CHECK_FALSE(r.next(300ms));
  CHECK(r.await_log("nothing is deleted", static_cast<std::size_t>(at) + 1, 0ms) == -1);
  d.set("/v1.41/nodes", 200, R"([{"ID":"n1","Status":{"Addr":"0.0.0.0"},"ManagerStatus":{"Addr":"10.9.0.7:2377"}}])");
  auto moved = r.next(5s);
  REQUIRE(moved);
  CHECK(moved->service.targets == std::vector<interlook::target>{{"10.9.0.7", 30080, 1}});
}

TEST_CASE("refresh: answered from a look-up; a failed look-up answers nothing") {
  fake_docker d;
  healthy(d);
  d.set("/v1.41/services/web", 200, one_service.substr(1, one_service.size() - 2));
  runner r(config_for(d));
  REQUIRE(r.next(10s));
  message ask;
  ask.action = action::refresh;
  ask.service.name = "web";
  r.send(ask);
  auto answer = r.next(5s);
  REQUIRE(answer);
  CHECK(answer->action == action::add);
  ask.service.name = "gone";
  r.send(ask);
  answer = r.next(5s);
  REQUIRE(answer);
  CHECK(answer->action == action::remove);
  CHECK(answer->service.name == "gone");

  d.set("/v1.41/services/web", 500, R"({"message":"boom"})");
  ask.service.name = "web";
  r.send(ask);
  CHECK(r.await_log("cannot answer the refresh of web", 0, 5s) >= 0);
  CHECK_FALSE(r.next(300ms));  // not answered
}

TEST_CASE("stop is bounded while Docker is unreachable") {
  swarm::config c;
  c.endpoint = "unix:///tmp/il-swarm-no-such-dir/docker.sock";
  auto r = std::make_unique<runner>(c);
  REQUIRE(r->await_log("cannot reach Docker at unix:///tmp/il-swarm-no-such-dir/docker.sock", 0, 5s) >= 0);
  auto t = std::chrono::steady_clock::now();
  r.reset();
  CHECK(std::chrono::steady_clock::now() - t < 1s);
}

TEST_CASE("refreshes while Docker is unreachable: unanswered, one line per attempt, one warning per outage") {
  swarm::config c;
  c.endpoint = "unix:///tmp/il-swarm-no-such-dir/docker.sock";
  runner r(c);
  REQUIRE(r.await_log("cannot reach Docker at", 0, 5s) >= 0);
  message ask;
  ask.action = action::refresh;
  for (const char* name : {"a", "b"}) {
    ask.service.name = name;
    r.send(ask);
  }
  int first = r.await_log("cannot answer the refresh of a, b: Docker at", 0, 10s);
  REQUIRE(first >= 0);
  CHECK(r.await_log("nothing is undeployed", static_cast<std::size_t>(first), 0ms) == first);
  ask.service.name = "c";
  r.send(ask);
  CHECK(r.await_log("cannot answer the refresh of c: Docker at", static_cast<std::size_t>(first), 10s) > first);
  CHECK(r.count_log("cannot answer the refresh of", interlook::log_level::warn) == 1);
  CHECK(r.count_log("cannot answer the refresh of") == 2);
  CHECK_FALSE(r.next(100ms));  // never answered, least of all by a removal
}

TEST_CASE("limits: a service over maxTargets is skipped by name; past maxServices new services wait for room") {
  fake_docker d;
  healthy(d);
  auto svc = [](const std::string& id, const std::string& name, int port) {
    return R"({"ID":")" + id + R"(","Spec":{"Name":")" + name + R"(","Labels":{"interlook.hosts":")" + name +
           R"(.test","interlook.port":"80"},"Mode":{"Replicated":{"Replicas":1}}},"Endpoint":{"Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":)" +
           std::to_string(port) + R"(,"PublishMode":"ingress"}]}})";
  };
  auto task = [](const std::string& id, const std::string& service, const std::string& node) {
    return R"({"ID":")" + id + R"(","ServiceID":")" + service + R"(","NodeID":")" + node +
           R"(","DesiredState":"running","Status":{"State":"running"}})";
  };
  // web runs on three nodes (three targets), api and db on one each.
  d.set("/v1.41/nodes", 200,
        R"([{"ID":"n1","Status":{"Addr":"10.9.0.1"}},{"ID":"n2","Status":{"Addr":"10.9.0.2"}},{"ID":"n3","Status":{"Addr":"10.9.0.3"}}])");
  d.set("/v1.41/tasks", 200,
        "[" + task("t1", "s1", "n1") + "," + task("t2", "s1", "n2") + "," + task("t3", "s1", "n3") + "," + task("t4", "s2", "n1") +
            "," + task("t5", "s3", "n2") + "]");
  d.set("/v1.41/services", 200, "[" + svc("s1", "web", 30080) + "," + svc("s2", "api", 30081) + "," + svc("s3", "db", 30082) + "]");
  auto c = config_for(d);
  c.maxTargets = 2;
  c.maxServices = 1;
  runner r(c);
  auto first = r.next(10s);
  REQUIRE(first);
  CHECK(first->action == action::add);
  CHECK(first->service.name == "api");  // in name order: api takes the one place
  REQUIRE(r.await_log("service web: 3 targets, more than maxTargets (2); service skipped", 0, 5s) >= 0);
  REQUIRE(r.await_log("service db not announced: maxServices (1) services are announced already", 0, 5s) >= 0);
  CHECK_FALSE(r.next(600ms));  // three polls later: still nothing else, nothing logged twice
  CHECK(r.count_log("more than maxTargets") == 1);
  CHECK(r.count_log("maxServices (1)") == 1);
  // api goes: its place goes to db; web stays over its limit.
  d.set("/v1.41/services", 200, "[" + svc("s1", "web", 30080) + "," + svc("s3", "db", 30082) + "]");
  auto del = r.next(5s);
  REQUIRE(del);
  CHECK(del->action == action::remove);
  CHECK(del->service.name == "api");
  auto add = r.next(5s);
  REQUIRE(add);
  CHECK(add->action == action::add);
  CHECK(add->service.name == "db");
}
