#pragma once
// The whole path on real peers, for the end-to-end tests: the stock daemon
// binary (//examples:interlook) as a process on the host, dockerd in a
// network namespace of its own (tests/peers/docker), HAProxy in master-worker
// mode inside that namespace (tests/peers/haproxy, run through nsenter), BIND
// on the host (tests/peers/bind).
//
// Where things are reachable (../shared/PEER-FACTS.md): ports inside the
// namespace are not reachable from the host and the host's loopback is not
// reachable from inside; unix sockets work from both sides. So the daemon
// speaks to dockerd and to HAProxy's master CLI through their sockets and to
// BIND over 127.0.0.1; HAProxy binds the service addresses (127.x loopback
// addresses, any of which binds inside the namespace) and reaches the tasks'
// host-mode ports there; DNS questions go from the host, HTTP requests to the
// VIPs from a thread of the test that entered the namespace (setns changes
// only the calling thread's network namespace).
//
// Every wait polls an observable (a peer's answer, a file, the daemon's API)
// with a deadline; nothing sleeps for a fixed time to synchronise.

#include "tests/http_client.hpp"
#include "tests/peer_support.hpp"

#include <interlook/support/json.hpp>

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace e2e {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// --- Small things ------------------------------------------------------------

using peer_support::command_result;
using peer_support::free_port;
using peer_support::quote;
using peer_support::runfile;
using peer_support::sh;

inline std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

inline std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

inline void write_atomically(const fs::path& p, const std::string& text) {
  {
    std::ofstream out(p.string() + ".new");
    out << text;
  }
  fs::rename(p.string() + ".new", p);
}

inline double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

inline std::string fixed(double v, int decimals = 2) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Polls `done` until it holds or `timeout` passes; its last answer.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 20s,
                       std::chrono::milliseconds every = 20ms) {
  auto deadline = clock_type::now() + timeout;
  while (clock_type::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(every);  // polling another process: its state is the only observable
  }
  return done();
}

inline std::string random_secret() { return peer_support::random_base64(32); }

inline fs::path short_temp_dir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

// --- dockerd -------------------------------------------------------------------

// One dockerd in swarm mode for the whole test binary, in a network namespace
// of its own, destroyed at exit (or by the peer script when this process dies).
class docker_peer {
 public:
  static docker_peer& get() {
    static docker_peer p;
    return p;
  }

  const std::string& sock() const { return sock_; }
  std::string netns_path() const { return "/run/netns/" + trimmed(read_text(dir_ / "netns")); }
  const fs::path& dir() const { return dir_; }

  void start() {
    auto r = sh(script() + " start " + dir_.string() + " " + std::to_string(::getpid()));
    if (r.status != 0) throw std::runtime_error("could not start dockerd: " + r.output);
    sock_ = trimmed(read_text(dir_ / "socket"));
  }
  void stop() {
    auto r = sh(script() + " stop " + dir_.string());
    if (r.status != 0) throw std::runtime_error("could not stop dockerd: " + r.output);
  }
  bool running() const { return docker("version").status == 0; }

  command_result docker(const std::string& args) const { return sh("/usr/bin/docker -H unix://" + sock_ + " " + args); }
  std::string docker_ok(const std::string& args) const {
    auto r = docker(args);
    if (r.status != 0) throw std::runtime_error("docker " + args + " failed: " + r.output);
    return r.output;
  }
  // Runs a command inside the namespace.
  command_result exec(const std::string& command) const { return sh(script() + " exec " + dir_.string() + " " + command); }

  static std::string script() { return runfile("tests/peers/docker/docker-peer.sh"); }

 private:
  docker_peer() {
    dir_ = short_temp_dir("il-e2e-d-");
    auto t = clock_type::now();
    start();
    std::fprintf(stderr, "dockerd in swarm mode ready in %.1f s (%s)\n", seconds_since(t), sock_.c_str());
  }
  ~docker_peer() {
    sh(script() + " destroy " + dir_.string());
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path dir_;
  std::string sock_;
};

// busybox httpd answering with its task's name: the container's hostname is
// set to {{.Task.Name}} at creation. A shell with a TERM trap runs httpd
// (which as PID 1 would ignore SIGTERM and make every stop wait 10 s).
inline const std::string httpd_command =
    "sh -c 'trap \"exit 0\" TERM; hostname >/www/index.html; httpd -f -p 80 -h /www & wait'";

// docker service create, detached: returns at once.
inline void create_service(const std::string& name, const std::vector<std::string>& labels, int replicas) {
  std::string args = "service create -d --name " + name +
                     " --no-resolve-image --stop-grace-period 1s --publish mode=host,target=80"
                     " --hostname '{{.Task.Name}}'";
  for (const auto& l : labels) args += " --label " + quote(l);
  args += " --replicas " + std::to_string(replicas) + " interlook-test/busybox " + httpd_command;
  docker_peer::get().docker_ok(args);
}

struct task_port {
  std::string name;  // the task's name, which its httpd answers
  std::uint16_t port = 0;
};

// The service's running tasks and their host-mode ports.
inline std::vector<task_port> running_tasks(const std::string& service) {
  auto& d = docker_peer::get();
  auto ids = d.docker("service ps -q --no-trunc --filter desired-state=running " + service).output;
  std::vector<task_port> out;
  std::istringstream in(ids);
  std::string id;
  while (in >> id) {
    auto r = d.docker("inspect --format '{{.Status.State}} {{.Slot}} {{range .Status.PortStatus.Ports}}{{.PublishedPort}} {{end}}' " + id);
    std::istringstream words(r.output);
    std::string state, slot;
    std::uint16_t port = 0;
    words >> state >> slot >> port;
    if (state != "running" || port == 0) continue;
    out.push_back({service + "." + slot + "." + id, port});
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

// --- Inside dockerd's namespace -----------------------------------------------

// Runs f on a thread that entered the namespace: the sockets it creates are
// the namespace's.
inline void in_netns(const std::string& netns_path, const std::function<void()>& f) {
  std::string failure;
  std::thread t([&] {
    int fd = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      failure = "cannot enter " + netns_path + ": " + std::strerror(errno);
      if (fd >= 0) ::close(fd);
      return;
    }
    ::close(fd);
    try {
      f();
    } catch (const std::exception& e) {
      failure = e.what();
    }
  });
  t.join();
  if (!failure.empty()) throw std::runtime_error(failure);
}

struct http_result {
  enum kind_t { ok, refused, failed } kind = failed;
  std::string body;  // ok: the body; failed: why
};

// One HTTP/1.0 GET to ip:port from the calling thread's namespace.
inline http_result http_get(const std::string& ip, std::uint16_t port, std::chrono::milliseconds timeout = 2s) {
  http_result r;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  auto deadline = clock_type::now() + timeout;
  auto wait_for = [&](short events) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, static_cast<int>(left)) > 0;
  };
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    if (errno == ECONNREFUSED) {
      ::close(fd);
      r.kind = http_result::refused;
      return r;
    }
    if (errno != EINPROGRESS || !wait_for(POLLOUT)) {
      r.body = errno == EINPROGRESS ? "connect timed out" : std::strerror(errno);
      ::close(fd);
      return r;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      ::close(fd);
      r.kind = err == ECONNREFUSED ? http_result::refused : http_result::failed;
      r.body = std::strerror(err);
      return r;
    }
  }
  std::string req = "GET / HTTP/1.0\r\nHost: e2e\r\n\r\n";
  (void)!::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string resp;
  char buf[4096];
  for (;;) {
    if (!wait_for(POLLIN)) {
      r.body = "no answer in time";
      ::close(fd);
      return r;
    }
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) break;
    resp.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  auto body = resp.find("\r\n\r\n");
  if ((resp.rfind("HTTP/1.0 200", 0) != 0 && resp.rfind("HTTP/1.1 200", 0) != 0) || body == std::string::npos) {
    r.body = resp.substr(0, resp.find("\r\n"));
    return r;
  }
  r.kind = http_result::ok;
  r.body = trimmed(resp.substr(body + 4));
  return r;
}

// Which names answered n requests to ip:80 (a failure counts as "(failed)",
// a refused connection as "(refused)").
inline std::map<std::string, int> spread(const std::string& ip, int n) {
  std::map<std::string, int> out;
  in_netns(docker_peer::get().netns_path(), [&] {
    for (int i = 0; i < n; ++i) {
      auto r = http_get(ip, 80);
      out[r.kind == http_result::ok ? r.body : r.kind == http_result::refused ? "(refused)" : "(failed)"] += 1;
    }
  });
  return out;
}

inline std::set<std::string> names_of(const std::map<std::string, int>& s) {
  std::set<std::string> out;
  for (auto& [k, v] : s) out.insert(k);
  return out;
}

// --- A pool of real HTTP backends for provider.file's services ---------------

// One swarm service of `replicas` busybox tasks (no interlook labels, so no
// provider announces it), each answering its task name on its own host-mode
// port inside the namespace. Created once per test binary.
class backend_pool {
 public:
  static backend_pool& get() {
    static backend_pool p;
    return p;
  }
  const std::vector<task_port>& tasks() const { return tasks_; }

  // Waits until the pool's 3 tasks serve, and reads their ports again (a
  // dockerd restart gives the tasks new containers and new ports).
  void ensure_serving() {
    bool up = eventually(
        [&] {
          tasks_ = running_tasks("pool");
          if (tasks_.size() != 3) return false;
          bool all = true;
          in_netns(docker_peer::get().netns_path(), [&] {
            for (auto& task : tasks_) all = all && http_get("127.0.0.1", task.port).body == task.name;
          });
          return all;
        },
        60s, 100ms);
    if (!up) throw std::runtime_error("the backend pool does not serve: " + docker_peer::get().docker("service ps pool").output);
  }

 private:
  backend_pool() {
    auto t = clock_type::now();
    create_service("pool", {}, 3);
    ensure_serving();
    std::fprintf(stderr, "backend pool of 3 tasks serving in %.1f s\n", seconds_since(t));
  }
  std::vector<task_port> tasks_;
};

// --- BIND ------------------------------------------------------------------------

struct dns_answer {
  int rcode = -1;  // 0 NOERROR, 3 NXDOMAIN; -1 no answer
  std::vector<std::string> a;
  std::uint32_t serial = 0;  // for SOA questions
};

namespace detail {
inline bool skip_name(const std::string& m, std::size_t& at) {
  while (at < m.size()) {
    auto len = static_cast<unsigned char>(m[at]);
    if (len == 0) {
      ++at;
      return true;
    }
    if ((len & 0xc0) == 0xc0) {
      at += 2;
      return at <= m.size();
    }
    at += 1 + len;
  }
  return false;
}
inline unsigned u16(const std::string& m, std::size_t at) {
  return static_cast<unsigned char>(m[at]) << 8 | static_cast<unsigned char>(m[at + 1]);
}
}  // namespace detail

// One question over UDP to 127.0.0.1:port (qtype 1 = A, 6 = SOA).
inline dns_answer dns_query(unsigned short port, const std::string& name, unsigned qtype = 1,
                            std::chrono::milliseconds timeout = 1s) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  unsigned id = rng() & 0xffff;
  std::string q;
  q += static_cast<char>(id >> 8);
  q += static_cast<char>(id & 0xff);
  q += std::string("\0\0\0\1\0\0\0\0\0\0", 10);
  std::istringstream labels(name);
  std::string label;
  while (std::getline(labels, label, '.'))
    if (!label.empty()) q += static_cast<char>(label.size()) + label;
  q += '\0';
  q += static_cast<char>(qtype >> 8);
  q += static_cast<char>(qtype & 0xff);
  q += std::string("\0\1", 2);
  dns_answer out;
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  auto deadline = clock_type::now() + timeout;
  std::string m;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) {
      ::close(fd);
      return out;
    }
    char buf[4096];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n >= 12 && (static_cast<unsigned char>(buf[0]) << 8 | static_cast<unsigned char>(buf[1])) == id) {
      m.assign(buf, static_cast<std::size_t>(n));
      break;
    }
  }
  ::close(fd);
  out.rcode = static_cast<int>(detail::u16(m, 2) & 0xf);
  unsigned qd = detail::u16(m, 4), an = detail::u16(m, 6);
  std::size_t at = 12;
  for (unsigned i = 0; i < qd; ++i)
    if (!detail::skip_name(m, at) || (at += 4) > m.size()) return out;
  for (unsigned i = 0; i < an; ++i) {
    if (!detail::skip_name(m, at) || at + 10 > m.size()) return out;
    unsigned type = detail::u16(m, at), rdlen = detail::u16(m, at + 8);
    at += 10;
    if (at + rdlen > m.size()) return out;
    if (type == 1 && rdlen == 4) {
      char ip[INET_ADDRSTRLEN];
      ::inet_ntop(AF_INET, m.data() + at, ip, sizeof ip);
      out.a.push_back(ip);
    } else if (type == 6) {
      std::size_t r = at;
      if (detail::skip_name(m, r) && detail::skip_name(m, r) && r + 4 <= m.size())
        out.serial = detail::u16(m, r) << 16 | detail::u16(m, r + 2);
    }
    at += rdlen;
  }
  std::sort(out.a.begin(), out.a.end());
  return out;
}

// A throw-away BIND 9 serving example.test on a free 127.0.0.1 port, with a
// fresh TSIG key that may update and transfer the zone. named runs as a child
// of the test (dies with it); stop()/start() keep the zone and its journal.
class bind_server {
 public:
  static constexpr const char* zone = "example.test";
  static constexpr const char* key_name = "interlook-e2e";

  explicit bind_server(unsigned short port = free_port()) : port_(port), secret_(random_secret()) {
    dir_ = short_temp_dir("il-e2e-b-");
    auto r = sh(script() + " prepare " + dir_.string() + " " + std::to_string(port_) + " " + zone + " " + key_name +
                " hmac-sha256 " + secret_);
    if (r.status != 0) throw std::runtime_error("bind-peer prepare failed: " + r.output);
  }
  ~bind_server() {
    stop();
    std::error_code ec;
    if (!std::getenv("E2E_KEEP")) fs::remove_all(dir_, ec);
  }
  bind_server(const bind_server&) = delete;
  bind_server& operator=(const bind_server&) = delete;

  unsigned short port() const { return port_; }
  const std::string& secret() const { return secret_; }
  const fs::path& dir() const { return dir_; }

  void start() {
    std::string bin = script(), dir = dir_.string(), log = (dir_ / "named.log").string();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      const char* argv[] = {bin.c_str(), "run", dir.c_str(), nullptr};
      ::execv(bin.c_str(), const_cast<char* const*>(argv));
      ::_exit(127);
    }
    bool up = eventually([&] {
      int ws = 0;
      if (::waitpid(pid_, &ws, WNOHANG) == pid_) throw std::runtime_error("named exited at start:\n" + read_text(log));
      return dns_query(port_, zone, 6, 200ms).rcode == 0;
    }, 15s, 50ms);
    if (!up) throw std::runtime_error("named did not answer within 15 s:\n" + read_text(log));
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    auto deadline = clock_type::now() + 10s;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (clock_type::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(10ms);  // waiting on our own child's exit
    }
    pid_ = -1;
  }

  dns_answer query(const std::string& name, unsigned qtype = 1) const { return dns_query(port_, name, qtype); }
  std::uint32_t serial() const { return query(zone, 6).serial; }

  // The zone as "owner type rdata" lines (SOA left out), by AXFR with the key.
  std::vector<std::string> zone_lines() const {
    auto r = sh("dig +tcp -p " + std::to_string(port_) + " @127.0.0.1 -y hmac-sha256:" + key_name + ":" + secret_ + " " +
                zone + " AXFR +noall +answer");
    std::vector<std::string> lines;
    std::istringstream in(r.output);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == ';') continue;
      std::istringstream f(line);
      std::string owner, ttl, cls, type, rest;
      f >> owner >> ttl >> cls >> type;
      if (type == "SOA" || type.empty()) continue;
      std::getline(f, rest);
      auto first = rest.find_first_not_of(" \t");
      lines.push_back(owner + " " + type + " " + (first == std::string::npos ? "" : rest.substr(first)));
    }
    std::sort(lines.begin(), lines.end());
    return lines;
  }
  // Records BIND added or deleted through UPDATEs, from its log (one line
  // per record). The number of UPDATE messages that changed the zone is the
  // serial's increase (BIND's serial-update-method increment).
  int records_updated() const {
    auto log = read_text(dir_ / "named.log");
    int n = 0;
    for (std::size_t p = 0; (p = log.find(": updating zone 'example.test/IN': ", p)) != std::string::npos; ++p) ++n;
    return n;
  }
  std::string log() const { return read_text(dir_ / "named.log"); }

  // The server's key in the daemon's configuration.
  std::string config_yaml(const std::string& timeout = "2s") const {
    return "dns:\n  rfc2136:\n    server: 127.0.0.1:" + std::to_string(port_) + "\n    zone: " + zone +
           "\n    tsigKeyName: " + key_name + "\n    tsigSecret: " + secret_ + "\n    ttl: 5\n    timeout: " + timeout + "\n";
  }

  static std::string script() { return runfile("tests/peers/bind/bind-peer"); }

 private:
  unsigned short port_;
  std::string secret_;
  fs::path dir_;
  pid_t pid_ = -1;
};

// A DNS server that is there and never answers: a TCP listener on
// 127.0.0.1:port that accepts every connection and reads nothing, and a UDP
// socket on the same port that reads nothing either.
class black_hole {
 public:
  explicit black_hole(unsigned short port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    tcp_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ::setsockopt(tcp_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    udp_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (::bind(tcp_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(tcp_, 128) != 0 ||
        ::bind(udp_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("black hole: cannot bind port " + std::to_string(port) + ": " + std::strerror(errno));
    if (::pipe2(stop_, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    thread_ = std::thread([this] {
      for (;;) {
        pollfd p[2] = {{tcp_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
        if (::poll(p, 2, -1) < 0) continue;
        if (p[1].revents) return;
        int c = ::accept4(tcp_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) accepted_.push_back(c);
      }
    });
  }
  ~black_hole() {
    char c = 'x';
    (void)!::write(stop_[1], &c, 1);
    thread_.join();
    for (int fd : accepted_) ::close(fd);
    ::close(tcp_);
    ::close(udp_);
    ::close(stop_[0]);
    ::close(stop_[1]);
  }
  black_hole(const black_hole&) = delete;
  black_hole& operator=(const black_hole&) = delete;

 private:
  int tcp_ = -1, udp_ = -1;
  int stop_[2] = {-1, -1};
  std::vector<int> accepted_;  // the accept thread's alone until it is joined
  std::thread thread_;
};

// --- HAProxy inside the namespace ------------------------------------------------

struct haproxy_procs {
  int reloads = -1;  // the master's reload counter
  std::vector<std::string> workers;
};

// A throw-away HAProxy in master-worker mode, started by haproxy-peer.sh run
// inside dockerd's namespace (so it binds the VIPs and reaches the tasks'
// ports there); its master socket, a unix socket, is used from the host.
class haproxy_server {
 public:
  haproxy_server() { dir_ = short_temp_dir("il-e2e-h-"); }
  ~haproxy_server() {
    stop();
    std::error_code ec;
    if (!std::getenv("E2E_KEEP")) fs::remove_all(dir_, ec);
  }
  haproxy_server(const haproxy_server&) = delete;
  haproxy_server& operator=(const haproxy_server&) = delete;

  const fs::path& dir() const { return dir_; }
  fs::path master_socket() const { return dir_ / "master.sock"; }
  fs::path config_file() const { return dir_ / "interlook.cfg"; }

  void start() {
    auto r = docker_peer::get().exec(script() + " start " + dir_.string() + " " + std::to_string(::getpid()));
    if (r.status != 0) throw std::runtime_error("could not start haproxy: " + r.output);
    if (!eventually([&] { return !procs().workers.empty(); }, 10s))
      throw std::runtime_error("haproxy's master CLI shows no worker:\n" + read_text(dir_ / "haproxy.log"));
  }
  void stop() { sh(script() + " stop " + dir_.string()); }

  // A master CLI command (the client half-closes, as HAProxy expects); empty
  // when the socket does not answer.
  std::string master(const std::string& command) const {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, master_socket().c_str(), sizeof a.sun_path - 1);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return {};
    }
    std::string line = command + "\n";
    (void)!::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    std::string out;
    char buf[4096];
    for (;;) {
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
  }

  haproxy_procs procs() const {
    haproxy_procs p;
    std::istringstream in(master("show proc"));
    std::string line;
    bool old = false;
    while (std::getline(in, line)) {
      if (line.rfind("# old workers", 0) == 0 || line.rfind("# programs", 0) == 0) old = true;
      if (line.empty() || line[0] == '#') continue;
      std::istringstream f(line);
      std::string pid, type;
      int reloads = 0;
      f >> pid >> type >> reloads;
      if (type == "master") p.reloads = reloads;
      if (type == "worker" && !old) p.workers.push_back(pid);
    }
    return p;
  }

  // Frontends interlook wrote, by name.
  std::vector<std::string> frontends() const {
    std::vector<std::string> out;
    std::istringstream in(read_text(config_file()));
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("frontend ", 0) == 0) out.push_back(trimmed(line.substr(9)));
    std::sort(out.begin(), out.end());
    return out;
  }

  // The master socket disappears (renamed away: connections fail as if
  // HAProxy were gone, while its worker keeps serving) and comes back.
  void hide_socket() { fs::rename(master_socket(), dir_ / "master.sock.away"); }
  void restore_socket() { fs::rename(dir_ / "master.sock.away", master_socket()); }

  std::string config_yaml() const {
    return "lb:\n  haproxy:\n    configFile: " + config_file().string() + "\n    masterSocket: " + master_socket().string() +
           "\n    validateWith:\n      - " + (dir_ / "main.cfg").string() + "\n    httpPort: 80\n    mode: http\n";
  }

  static std::string script() { return runfile("tests/peers/haproxy/haproxy-peer.sh"); }

 private:
  fs::path dir_;
};

// --- The daemon ---------------------------------------------------------------------

inline std::string daemon_binary() { return runfile("examples/interlook"); }

// The stock daemon as a child process in a directory of its own, with the
// API on a free port.
class daemon_process {
 public:
  unsigned short port = free_port();
  fs::path dir;

  daemon_process() {
    const char* base = std::getenv("TEST_TMPDIR");
    dir = fs::path(base ? base : "/tmp") / ("e2e-daemon-" + std::to_string(::getpid()) + "-" + std::to_string(port));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~daemon_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    if (!std::getenv("E2E_KEEP")) fs::remove_all(dir, ec);
  }
  daemon_process(const daemon_process&) = delete;
  daemon_process& operator=(const daemon_process&) = delete;

  // core settings (indented two spaces) and the provider, ipam, dns and lb
  // sections.
  void configure(const std::string& workflow, const std::string& core_extra, const std::string& sections,
                 const std::string& level = "DEBUG") {
    std::ofstream(dir / "interlook.yml") << "core:\n  logLevel: " << level << "\n  listenAddress: 127.0.0.1\n  listenPort: "
                                         << port << "\n  workflowSteps: " << workflow
                                         << "\n  workflowEntriesFile: ./entries.json\n" << core_extra << sections;
  }

  void start() {
    std::string bin = daemon_binary();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::chdir(dir.c_str()) != 0) ::_exit(127);
      int log = ::open("daemon.log", O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(log, 1);
      ::dup2(log, 2);
      const char* argv[] = {bin.c_str(), "--conf", "interlook.yml", nullptr};
      ::execv(bin.c_str(), const_cast<char* const*>(argv));
      ::_exit(127);
    }
    REQUIRE(pid_ > 0);
    REQUIRE_MESSAGE(eventually([&] {
                      int ws = 0;
                      if (::waitpid(pid_, &ws, WNOHANG) == pid_) {
                        pid_ = -1;
                        return true;
                      }
                      return health();
                    }, 20s),
                    "the daemon did not answer:\n" << log());
    REQUIRE_MESSAGE(pid_ > 0, "the daemon exited at start:\n" << log());
  }

  bool health() const {
    try {
      return test_http::get(port, "/health").status == 200;
    } catch (...) {
      return false;
    }
  }

  // Sends sig and waits for the exit: the exit status, or -1 when killed by a
  // signal; the seconds it took in *took.
  int stop(int sig, double* took = nullptr) {
    auto t = clock_type::now();
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    if (took) *took = seconds_since(t);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  pid_t pid() const { return pid_; }
  std::string log() const { return read_text(dir / "daemon.log"); }

  boost::json::object services() const {
    try {
      auto r = test_http::get(port, "/services");
      if (r.status != 200) return {};
      return interlook::parse_json_text(r.body).as_object();
    } catch (...) {
      return {};
    }
  }

  // CPU seconds (user + system) and peak RSS in KiB, from /proc.
  double cpu_seconds() const {
    auto s = read_text("/proc/" + std::to_string(pid_) + "/stat");
    auto close = s.rfind(')');
    std::istringstream f(s.substr(close + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && f >> field; ++i)
      if (i == 14 || i == 15) ticks += std::stod(field);
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  long peak_rss_kib() const {
    std::istringstream in(read_text("/proc/" + std::to_string(pid_) + "/status"));
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    return -1;
  }

 private:
  pid_t pid_ = -1;
};

// Fields of a /services entry.
inline std::string state_of(const boost::json::object& services, const std::string& name) {
  auto it = services.find(name);
  if (it == services.end()) return "(absent)";
  return std::string(it->value().as_object().at("state").as_string());
}
inline std::string error_of(const boost::json::object& services, const std::string& name) {
  auto it = services.find(name);
  if (it == services.end()) return {};
  return std::string(it->value().as_object().at("error").as_string());
}
inline std::string vip_of(const boost::json::object& services, const std::string& name) {
  auto it = services.find(name);
  if (it == services.end()) return {};
  return std::string(it->value().as_object().at("service").as_object().at("public_ip").as_string());
}
inline int count_state(const boost::json::object& services, const std::string& state) {
  int n = 0;
  for (auto& kv : services) n += kv.value().as_object().at("state").as_string() == state;
  return n;
}

// ipalloc's db_file: address -> (host, released).
struct allocation {
  std::string host;
  bool released = false;
};
inline std::vector<std::pair<std::string, allocation>> allocations(const fs::path& db) {
  std::vector<std::pair<std::string, allocation>> out;
  auto text = read_text(db);
  if (text.empty()) return out;
  auto doc = interlook::parse_json_text(text);
  for (auto& v : doc.as_array()) {
    auto& o = v.as_object();
    allocation a;
    a.host = std::string(o.at("host").as_string());
    if (auto* r = o.if_contains("released")) a.released = r->as_bool();
    out.emplace_back(std::string(o.at("ip").as_string()), a);
  }
  return out;
}

// --- The whole path, assembled -------------------------------------------------------

struct file_service {
  std::string name;
  std::vector<std::uint16_t> ports;  // targets 127.0.0.1:<port> inside the namespace
};

inline std::string services_yaml(const std::vector<file_service>& services) {
  std::ostringstream s;
  s << "services:\n";
  for (auto& svc : services) {
    s << "  - name: " << svc.name << "\n    hosts: " << svc.name << ".example.test\n    port: 80\n    targets: [";
    for (std::size_t i = 0; i < svc.ports.size(); ++i) s << (i ? ", " : "") << "\"127.0.0.1:" << svc.ports[i] << "\"";
    s << "]\n";
  }
  return s.str();
}

// n services named <prefix><i> for i in [first, first + n), each with two
// targets of the backend pool.
inline std::vector<file_service> pool_services(const std::string& prefix, int first, int n) {
  backend_pool::get().ensure_serving();
  auto& tasks = backend_pool::get().tasks();
  std::vector<file_service> out;
  for (int i = first; i < first + n; ++i)
    out.push_back({prefix + std::to_string(i),
                   {tasks[static_cast<std::size_t>(i) % tasks.size()].port,
                    tasks[static_cast<std::size_t>(i + 1) % tasks.size()].port}});
  return out;
}

// BIND, HAProxy and the daemon of one test case: a workflow
// <provider>,ipam.ipalloc,dns.rfc2136,lb.haproxy with addresses of `cidr`.
struct whole_path {
  bind_server bind;
  haproxy_server haproxy;
  daemon_process daemon;
  std::string cidr;

  explicit whole_path(std::string network) : cidr(std::move(network)) {
    docker_peer::get();
    bind.start();
    haproxy.start();
  }

  fs::path services_file() const { return daemon.dir / "services.yml"; }
  fs::path ipalloc_db() const { return daemon.dir / "ipalloc.json"; }

  std::string common_sections(const std::string& dns_timeout = "2s") const {
    return "ipam:\n  ipalloc:\n    network_cidr: " + cidr + "\n    db_file: ./ipalloc.json\n" +
           bind.config_yaml(dns_timeout) + haproxy.config_yaml();
  }

  // provider.file on ./services.yml.
  void configure_file(const std::string& core_extra = {}, const std::string& level = "DEBUG",
                      const std::string& dns_timeout = "2s") {
    if (!fs::exists(services_file())) write_atomically(services_file(), "services: []\n");
    daemon.configure("provider.file,ipam.ipalloc,dns.rfc2136,lb.haproxy", core_extra,
                     "provider:\n  file:\n    path: ./services.yml\n    pollInterval: 100ms\n" + common_sections(dns_timeout),
                     level);
  }

  // provider.swarm on the test's dockerd, services labelled e2e=<selector>.
  void configure_swarm(const std::string& selector, const std::string& core_extra = {},
                       const std::string& provider_extra = {}) {
    daemon.configure("provider.swarm,ipam.ipalloc,dns.rfc2136,lb.haproxy", core_extra,
                     "provider:\n  swarm:\n    endpoint: unix://" + docker_peer::get().sock() +
                         "\n    labelSelector:\n      - e2e=" + selector + "\n" + provider_extra + common_sections());
  }

  // The name answers with exactly this address.
  bool resolves(const std::string& name, const std::string& vip) const {
    auto a = bind.query(name);
    return a.rcode == 0 && a.a == std::vector<std::string>{vip};
  }
  bool nxdomain(const std::string& name) const { return bind.query(name).rcode == 3; }

  // Every service of the list is deployed, resolves to its address, and its
  // address serves one of its targets' names.
  bool all_reachable(const std::vector<std::string>& names, std::string* why = nullptr) const {
    auto svc = daemon.services();
    std::vector<std::string> vips;
    for (auto& n : names) {
      if (state_of(svc, n) != "deployed") {
        if (why) *why = n + " is " + state_of(svc, n) + " " + error_of(svc, n);
        return false;
      }
      vips.push_back(vip_of(svc, n));
      if (!resolves(n + ".example.test", vips.back())) {
        if (why) *why = n + ".example.test does not resolve to " + vips.back();
        return false;
      }
    }
    bool ok = true;
    in_netns(docker_peer::get().netns_path(), [&] {
      for (std::size_t i = 0; i < vips.size() && ok; ++i) {
        auto r = http_get(vips[i], 80);
        if (r.kind != http_result::ok) {
          ok = false;
          if (why) *why = names[i] + " at " + vips[i] + " does not serve: " + r.body;
        }
      }
    });
    return ok;
  }

  // DNS records of the zone that interlook wrote (A and ownership TXT), by owner.
  std::map<std::string, std::vector<std::string>> interlook_records() const {
    std::map<std::string, std::vector<std::string>> out;
    for (auto& line : bind.zone_lines()) {
      auto owner = line.substr(0, line.find(' '));
      if (owner == "example.test." || owner == "ns.example.test.") continue;
      out[owner].push_back(line.substr(owner.size() + 1));
    }
    return out;
  }
};

inline std::vector<std::string> names(const std::vector<file_service>& services) {
  std::vector<std::string> out;
  for (auto& s : services) out.push_back(s.name);
  return out;
}

}  // namespace e2e
