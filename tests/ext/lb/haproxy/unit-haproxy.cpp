// lb.haproxy against a real HAProxy 2.6 in master-worker mode
// (tests/peers/haproxy/haproxy-peer.sh starts it), with traffic through it to
// small HTTP backends the test runs on loopback.
#include <interlook/ext/lb/haproxy/haproxy.hpp>
#include <interlook/testing/ext_runner.hpp>
#include <interlook/testing/handle.hpp>

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using interlook::action;
using interlook::message;
using interlook::target;
using interlook::ext::lb::haproxy;
namespace fs = std::filesystem;
namespace hd = interlook::ext::lb::haproxy_detail;

namespace {

constexpr std::uint16_t http_port = 18080;
constexpr std::uint16_t https_port = 18443;

// VIPs of this test process: 127.<random>.<random>.<n> (any 127/8 address
// binds), so that runs side by side (whose sandboxes may share pids) do not
// share a VIP: HAProxy binds with SO_REUSEPORT, two of them would split the
// traffic.
std::string vip(int n) {
  static const std::string prefix = [] {
    std::random_device rd;
    return "127." + std::to_string(100 + rd() % 150) + "." + std::to_string(rd() % 256) + ".";
  }();
  return prefix + std::to_string(n);
}

// A tiny HTTP server on 127.0.0.1:<ephemeral> answering its own name.
class http_backend {
 public:
  explicit http_backend(std::string name) : name_(std::move(name)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 128) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    REQUIRE(::pipe2(stop_, O_CLOEXEC) == 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~http_backend() {
    char c = 'x';
    (void)!::write(stop_[1], &c, 1);
    thread_.join();
    ::close(fd_);
    ::close(stop_[0]);
    ::close(stop_[1]);
  }
  std::uint32_t port() const { return port_; }
  const std::string& name() const { return name_; }
  target as_target(std::uint32_t weight = 1) const { return {"127.0.0.1", port_, weight}; }

 private:
  void serve() {
    for (;;) {
      pollfd p[2] = {{fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) continue;
      if (p[1].revents) return;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      timeval tv{2, 0};
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::string req;
      char buf[1024];
      while (req.find("\r\n\r\n") == std::string::npos) {
        auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<std::size_t>(n));
      }
      std::string resp = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                         std::to_string(name_.size()) + "\r\n\r\n" + name_;
      (void)!::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  std::string name_;
  int fd_ = -1;
  int stop_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// One HTTP/1.0 request to ip:port: the body, or nullopt when the connection
// is refused or fails.
std::optional<std::string> get(const std::string& ip, std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  std::string req = "GET / HTTP/1.0\r\nHost: test\r\n\r\n";
  (void)!::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string resp;
  char buf[1024];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    resp.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  auto body = resp.find("\r\n\r\n");
  if ((resp.rfind("HTTP/1.0 200", 0) != 0 && resp.rfind("HTTP/1.1 200", 0) != 0) || body == std::string::npos)
    return std::nullopt;
  return resp.substr(body + 4);
}

// Which backend answered how many of n requests.
std::map<std::string, int> spread(const std::string& ip, int n, std::uint16_t port = http_port) {
  std::map<std::string, int> out;
  for (int i = 0; i < n; ++i) out[get(ip, port).value_or("(failed)")] += 1;
  return out;
}

// Polls an observable (another process's state) until it holds, up to a deadline.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

std::string peer_script() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  return std::string(srcdir ? srcdir : ".") + "/" + (ws ? ws : "interlook") + "/tests/peers/haproxy/haproxy-peer.sh";
}

// A HAProxy of the test's own, in a short directory under /tmp (unix socket
// paths must stay under 108 bytes; TEST_TMPDIR is long).
struct haproxy_peer {
  fs::path dir;
  std::string main_cfg_extra;

  explicit haproxy_peer(std::string extra = {}) : main_cfg_extra(std::move(extra)) {
    char tmpl[] = "/tmp/il-haproxy-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    // As README advises: the listening sockets handed over at each reload.
    std::ofstream(dir / "main.cfg") << "global\n    maxconn 2000\n    stats socket " << (dir / "admin.sock").string()
                                    << " mode 600 level admin expose-fd listeners\n\ndefaults\n"
                                       "    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\n"
                                    << main_cfg_extra;
  }
  ~haproxy_peer() {
    stop();
    std::error_code ec;
    if (!std::getenv("KEEP_HAPROXY_DIRS")) fs::remove_all(dir, ec);  // kept for a post-mortem
  }
  // Returns once the master CLI answers with a worker ("Loading success." in
  // the log, where the script stops waiting, comes a little before that).
  void start() {
    auto cmd = peer_script() + " start " + dir.string() + " " + std::to_string(::getpid());
    REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, "could not start haproxy: " << log());
    REQUIRE_MESSAGE(eventually([&] {
                      try {
                        return !procs().workers.empty();
                      } catch (const std::exception&) {
                        return false;
                      }
                    }),
                    "haproxy's master CLI does not answer: " << log());
  }
  void stop() { (void)std::system((peer_script() + " stop " + dir.string()).c_str()); }
  std::string log() const { return read("haproxy.log"); }
  std::string read(const std::string& file) const {
    std::ifstream in(dir / file);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }

  std::string socket() const { return (dir / "master.sock").string(); }
  std::string config_file() const { return (dir / "interlook.cfg").string(); }

  hd::process_list procs() const {
    hd::master_cli cli(socket(), 5s);
    return hd::parse_show_proc(cli.run("show proc"), socket());
  }
  long worker() const { return procs().workers.at(0); }
  long reloads() const { return procs().reloads; }

  haproxy::config config() const {
    haproxy::config c;
    c.configFile = config_file();
    c.masterSocket = socket();
    c.httpPort = http_port;
    c.httpsPort = https_port;
    c.validateWith = {(dir / "main.cfg").string()};
    return c;
  }
};

message add(const std::string& name, const std::string& ip, std::vector<target> targets, bool tls = false) {
  message m;
  m.action = action::add;
  m.service.name = name;
  m.service.public_ip = ip;
  m.service.targets = std::move(targets);
  m.service.tls = tls;
  m.service.dns_names = {name + ".example.test"};
  return m;
}

message remove(const std::string& name, const std::string& ip, std::vector<target> targets) {
  auto m = add(name, ip, std::move(targets));
  m.action = action::remove;
  return m;
}

struct quiet_context {
  interlook::logger log{interlook::log_level::error, [](interlook::log_level, std::string_view) {}};
  interlook::extension_context ctx{log, "lb.haproxy"};
};

bool refuses(const std::string& ip, std::uint16_t port = http_port) { return !get(ip, port).has_value(); }

}  // namespace

TEST_CASE("add balances by weight; target changes go through the runtime API without a reload; delete closes the VIP") {
  http_backend a("A"), b("B"), c("C");
  haproxy_peer peer;
  peer.start();
  interlook::testing::ext_runner<haproxy> r(peer.config());
  auto& h = r.get().get();
  const auto ip = vip(1);

  r.send(add("web", ip, {a.as_target(1), b.as_target(3)}));
  auto answer = r.next();
  REQUIRE(answer);
  REQUIRE_MESSAGE(answer->error.empty(), answer->error);
  CHECK(h.reloads() == 1);
  CHECK(h.writes() == 1);
  auto file = peer.read("interlook.cfg");
  CHECK(file.find("frontend interlook-web") != std::string::npos);
  CHECK(file.find("bind " + ip + ":18080") != std::string::npos);

  // Weights 1 and 3, round-robin, a fresh worker: 10 and 30 of 40.
  auto s = spread(ip, 40);
  CHECK(s["A"] == 10);
  CHECK(s["B"] == 30);

  // The same add again: nothing written, nothing reloaded.
  const long worker = peer.worker(), reloads = peer.reloads();
  r.send(add("web", ip, {a.as_target(1), b.as_target(3)}));
  answer = r.next();
  REQUIRE(answer);
  CHECK(answer->error.empty());
  CHECK(h.writes() == 1);
  CHECK(h.reloads() == 1);
  CHECK(h.runtime_commands() == 0);

  // A target added (and a weight changed): runtime API, same worker.
  r.send(add("web", ip, {a.as_target(1), b.as_target(1), c.as_target(2)}));
  answer = r.next();
  REQUIRE(answer);
  REQUIRE_MESSAGE(answer->error.empty(), answer->error);
  CHECK(h.reloads() == 1);
  CHECK(h.runtime_commands() > 0);
  CHECK(peer.worker() == worker);
  CHECK(peer.reloads() == reloads);
  // Weights 1, 1, 2: round-robin changed in flight is proportional over
  // time, not exactly within a short window.
  s = spread(ip, 80);
  INFO("A " << s["A"] << ", B " << s["B"] << ", C " << s["C"]);
  CHECK(s["A"] >= 12);
  CHECK(s["A"] <= 28);
  CHECK(s["B"] >= 12);
  CHECK(s["B"] <= 28);
  CHECK(s["C"] >= 28);
  CHECK(s["C"] <= 52);
  // ... and written down, so that a reload loses nothing.
  file = peer.read("interlook.cfg");
  CHECK(file.find("server 127.0.0.1:" + std::to_string(c.port()) + " 127.0.0.1:" + std::to_string(c.port()) +
                  " weight 2") != std::string::npos);
  CHECK(h.writes() == 2);

  // A target removed: no traffic to it, same worker.
  r.send(add("web", ip, {b.as_target(1), c.as_target(1)}));
  answer = r.next();
  REQUIRE(answer);
  REQUIRE_MESSAGE(answer->error.empty(), answer->error);
  CHECK(peer.worker() == worker);
  CHECK(peer.reloads() == reloads);
  CHECK(h.reloads() == 1);
  s = spread(ip, 20);
  CHECK(s.count("A") == 0);
  CHECK(s["B"] == 10);
  CHECK(s["C"] == 10);
  CHECK(peer.read("interlook.cfg").find("127.0.0.1:" + std::to_string(a.port())) == std::string::npos);

  // delete: frontend and backend gone, one reload, the VIP refuses connections.
  r.send(remove("web", ip, {}));
  answer = r.next();
  REQUIRE(answer);
  REQUIRE_MESSAGE(answer->error.empty(), answer->error);
  CHECK(h.reloads() == 2);
  CHECK(peer.worker() != worker);
  CHECK(eventually([&] { return refuses(ip); }));
  CHECK(peer.read("interlook.cfg").find("interlook-web") == std::string::npos);
  // delete again: nothing to do.
  r.send(remove("web", ip, {}));
  answer = r.next();
  REQUIRE(answer);
  CHECK(answer->error.empty());
  CHECK(h.reloads() == 2);
}

TEST_CASE("HAProxy restarted with the same files serves every deployed service, and interlook carries on") {
  http_backend a("A"), b("B");
  haproxy_peer peer;
  peer.start();
  quiet_context q;
  haproxy h(peer.config(), q.ctx);
  auto answers = interlook::testing::handle_batch(
      h, {add("one", vip(11), {a.as_target()}), add("two", vip(12), {b.as_target()}),
          add("secure", vip(13), {a.as_target(), b.as_target()}, /*tls=*/true)});
  for (auto& m : answers) REQUIRE_MESSAGE(m.error.empty(), m.error);
  CHECK(h.reloads() == 1);
  // Give "one" a second target at run time, then restart HAProxy.
  auto m = interlook::testing::handle_one(h, add("one", vip(11), {a.as_target(), b.as_target()}));
  REQUIRE_MESSAGE(m.error.empty(), m.error);
  CHECK(h.reloads() == 1);

  const long before = peer.worker();
  peer.stop();
  CHECK(refuses(vip(11)));
  peer.start();
  CHECK(peer.worker() != before);
  CHECK(get(vip(12), http_port) == "B");
  CHECK(spread(vip(11), 10) == std::map<std::string, int>{{"A", 5}, {"B", 5}});   // the run-time target survived
  CHECK(spread(vip(13), 4, https_port) == std::map<std::string, int>{{"A", 2}, {"B", 2}});  // TLS: httpsPort

  // interlook talks to the new worker: a target removed at run time.
  m = interlook::testing::handle_one(h, add("one", vip(11), {b.as_target()}));
  REQUIRE_MESSAGE(m.error.empty(), m.error);
  CHECK(h.reloads() == 1);
  CHECK(spread(vip(11), 4) == std::map<std::string, int>{{"B", 4}});
}

TEST_CASE("100 services in one batch: one validation, one write, one reload") {
  http_backend a("A"), b("B");
  haproxy_peer peer;
  peer.start();
  quiet_context q;
  haproxy h(peer.config(), q.ctx);
  const long reloads = peer.reloads();
  std::vector<message> batch;
  for (int i = 0; i < 100; ++i)
    batch.push_back(add("svc" + std::to_string(i), vip(100 + i), {a.as_target(), b.as_target(i % 3 + 1)}));
  auto t0 = std::chrono::steady_clock::now();
  auto answers = interlook::testing::handle_batch(h, batch);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("100 services deployed in one batch in " << ms << " ms");
  for (auto& m : answers) REQUIRE_MESSAGE(m.error.empty(), m.error);
  CHECK(h.reloads() == 1);
  CHECK(h.writes() == 1);
  CHECK(peer.reloads() == reloads + 1);
  for (int i = 0; i < 100; ++i) CHECK(get(vip(100 + i), http_port).has_value());

  // Again: nothing to do.
  answers = interlook::testing::handle_batch(h, batch);
  for (auto& m : answers) CHECK(m.error.empty());
  CHECK(h.writes() == 1);
  CHECK(peer.reloads() == reloads + 1);

  // All removed in one batch: one reload more.
  for (auto& m : batch) m.action = action::remove;
  t0 = std::chrono::steady_clock::now();
  answers = interlook::testing::handle_batch(h, batch);
  ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("100 services removed in one batch in " << ms << " ms");
  for (auto& m : answers) CHECK(m.error.empty());
  CHECK(h.reloads() == 2);
  CHECK(peer.reloads() == reloads + 2);
  CHECK(eventually([&] { return refuses(vip(100)) && refuses(vip(199)); }));
}

TEST_CASE("a configuration HAProxy rejects: an error with its message; the old worker keeps serving") {
  http_backend a("A");
  // The user's own backend takes the name interlook would give service "clash".
  haproxy_peer peer("backend interlook-clash\n    mode tcp\n    server s 127.0.0.1:1\n");
  peer.start();
  quiet_context q;
  haproxy h(peer.config(), q.ctx);
  auto m = interlook::testing::handle_one(h, add("good", vip(21), {a.as_target()}));
  REQUIRE_MESSAGE(m.error.empty(), m.error);
  const auto file = peer.read("interlook.cfg");
  const long worker = peer.worker(), reloads = peer.reloads();

  m = interlook::testing::handle_one(h, add("clash", vip(22), {a.as_target()}));
  CHECK(m.error.find("lb.haproxy: haproxy -c rejected the new " + peer.config_file()) == 0);
  CHECK(m.error.find("backend 'interlook-clash' has the same name as backend 'interlook-clash'") != std::string::npos);
  CHECK(peer.read("interlook.cfg") == file);  // not replaced
  CHECK_FALSE(fs::exists(peer.config_file() + ".tmp"));
  CHECK(peer.worker() == worker);
  CHECK(peer.reloads() == reloads);
  CHECK(get(vip(21), http_port) == "A");

  // In a batch, only the service HAProxy names fails; the others deploy with one reload.
  auto answers = interlook::testing::handle_batch(
      h, {add("clash", vip(22), {a.as_target()}), add("fine", vip(23), {a.as_target()})});
  CHECK(answers[0].error.find("has the same name as backend 'interlook-clash'") != std::string::npos);
  CHECK(answers[1].error.empty());
  CHECK(peer.reloads() == reloads + 1);
  CHECK(get(vip(23), http_port) == "A");
  CHECK(peer.read("interlook.cfg").find("interlook-clash") == std::string::npos);
}

TEST_CASE("a reload HAProxy refuses after a valid check: error, configFile put back, old worker serving") {
  http_backend a("A");
  haproxy_peer peer;
  peer.start();
  quiet_context q;
  haproxy h(peer.config(), q.ctx);
  auto m = interlook::testing::handle_one(h, add("good", vip(31), {a.as_target()}));
  REQUIRE_MESSAGE(m.error.empty(), m.error);
  const auto file = peer.read("interlook.cfg");
  const long worker = peer.worker();
  // 192.0.2.1 (TEST-NET-1) is no address of this machine: haproxy -c accepts
  // the bind, the new worker cannot make it.
  m = interlook::testing::handle_one(h, add("unbindable", "192.0.2.1", {a.as_target()}));
  CHECK(m.error.find("lb.haproxy: HAProxy refused the reload of " + peer.config_file()) == 0);
  CHECK(peer.read("interlook.cfg") == file);
  CHECK(peer.worker() == worker);
  CHECK(get(vip(31), http_port) == "A");
  // HAProxy and interlook carry on.
  m = interlook::testing::handle_one(h, add("next", vip(32), {a.as_target()}));
  REQUIRE_MESSAGE(m.error.empty(), m.error);
  CHECK(get(vip(32), http_port) == "A");
}

TEST_CASE("a VIP:port a frontend of the user's files binds is refused, naming it") {
  http_backend a("A");
  haproxy_peer peer("frontend user_site\n    mode http\n    bind " + vip(41) + ":18080\n"
                    "    http-request return status 200 content-type text/plain string user\n");
  peer.start();
  quiet_context q;
  haproxy h(peer.config(), q.ctx);
  auto m = interlook::testing::handle_one(h, add("web", vip(41), {a.as_target()}));
  CHECK(m.error == "lb.haproxy: " + vip(41) + ":18080 is already bound by frontend user_site (" +
                       (peer.dir / "main.cfg").string() + ":12), which interlook does not manage");
  CHECK(h.writes() == 0);
  CHECK(h.reloads() == 0);
  CHECK(get(vip(41), http_port) == "user");
  // Two services of interlook's cannot share one either.
  m = interlook::testing::handle_one(h, add("one", vip(42), {a.as_target()}));
  REQUIRE_MESSAGE(m.error.empty(), m.error);
  m = interlook::testing::handle_one(h, add("two", vip(42), {a.as_target()}));
  CHECK(m.error == "lb.haproxy: " + vip(42) + ":18080 is already the address of service one");
}

TEST_CASE("master socket gone: an error naming it, nothing written; success once it is back") {
  http_backend a("A");
  haproxy_peer peer;
  peer.start();
  quiet_context q;
  haproxy h(peer.config(), q.ctx);
  auto m = interlook::testing::handle_one(h, add("one", vip(51), {a.as_target()}));
  REQUIRE_MESSAGE(m.error.empty(), m.error);
  peer.stop();
  const auto file = peer.read("interlook.cfg");
  m = interlook::testing::handle_one(h, add("two", vip(52), {a.as_target()}));
  CHECK(m.error.find("lb.haproxy: master socket " + peer.socket() + ": connect: ") == 0);
  // A delete fails alike: nothing is removed from the file while HAProxy is away.
  m = interlook::testing::handle_one(h, remove("one", vip(51), {}));
  CHECK(m.error.find("master socket " + peer.socket()) != std::string::npos);
  CHECK(peer.read("interlook.cfg") == file);
  CHECK(h.writes() == 1);
  peer.start();
  CHECK(get(vip(51), http_port) == "A");
  m = interlook::testing::handle_one(h, add("two", vip(52), {a.as_target()}));
  REQUIRE_MESSAGE(m.error.empty(), m.error);
  CHECK(get(vip(52), http_port) == "A");
}

TEST_CASE("what interlook wrote is read back at start: a repeated add changes nothing") {
  http_backend a("A"), b("B");
  haproxy_peer peer;
  peer.start();
  quiet_context q;
  {
    haproxy h(peer.config(), q.ctx);
    auto answers = interlook::testing::handle_batch(
        h, {add("one", vip(61), {a.as_target(2), b.as_target()}), add("two", vip(62), {b.as_target()})});
    for (auto& m : answers) REQUIRE_MESSAGE(m.error.empty(), m.error);
  }
  const long reloads = peer.reloads();
  haproxy h(peer.config(), q.ctx);
  auto answers = interlook::testing::handle_batch(
      h, {add("one", vip(61), {b.as_target(), a.as_target(2)}), add("two", vip(62), {b.as_target()})});
  for (auto& m : answers) REQUIRE_MESSAGE(m.error.empty(), m.error);
  CHECK(h.writes() == 0);
  CHECK(h.reloads() == 0);
  CHECK(h.runtime_commands() == 0);
  CHECK(peer.reloads() == reloads);
  auto m = interlook::testing::handle_one(h, remove("two", vip(62), {}));
  REQUIRE_MESSAGE(m.error.empty(), m.error);
  CHECK(eventually([&] { return refuses(vip(62)); }));
  CHECK(get(vip(61), http_port).has_value());
}

TEST_CASE("health checks and http mode") {
  http_backend a("A"), b("B");
  haproxy_peer peer;
  peer.start();
  quiet_context q;
  auto cfg = peer.config();
  cfg.healthCheck = true;
  cfg.mode = haproxy::proxy_mode::http;
  haproxy h(cfg, q.ctx);
  auto m = interlook::testing::handle_one(h, add("web", vip(71), {a.as_target()}));
  REQUIRE_MESSAGE(m.error.empty(), m.error);
  auto file = peer.read("interlook.cfg");
  CHECK(file.find("    mode http\n") != std::string::npos);
  CHECK(file.find(" check\n") != std::string::npos);
  CHECK(get(vip(71), http_port) == "A");
  const long worker = peer.worker();
  // A checked server added at run time serves once its check passes.
  m = interlook::testing::handle_one(h, add("web", vip(71), {a.as_target(), b.as_target()}));
  REQUIRE_MESSAGE(m.error.empty(), m.error);
  CHECK(peer.worker() == worker);
  CHECK(eventually([&] { return spread(vip(71), 4) == std::map<std::string, int>{{"A", 2}, {"B", 2}}; }));
}
