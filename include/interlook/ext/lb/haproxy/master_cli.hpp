#pragma once
// A client of HAProxy's master CLI (haproxy -W -S <socket>), and readers of
// the answers lb.haproxy uses: `show proc`, `show backend`,
// `show servers state`.
//
// One command per connection, as socat sends it: the command and "\n", then
// a half-close (without it the master waits about 5 s before answering
// `show proc`), then everything up to EOF. Several commands may share a line
// separated by ";", each with its own "@!<pid>" routing prefix. Every error
// names the socket's path.

#include <interlook/support/duration.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace interlook::ext::lb::haproxy_detail {

class cli_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class master_cli {
 public:
  using clock = std::chrono::steady_clock;

  // `show servers state` of 100,000 servers is about 20 MiB.
  static constexpr std::size_t max_answer_bytes = std::size_t{256} << 20;

  master_cli(std::string path, duration timeout) : path_(std::move(path)), timeout_(timeout) {}

  const std::string& path() const noexcept { return path_; }

  // Sends one command line and returns the whole answer.
  std::string run(std::string_view command) const {
    auto deadline = clock::now() + std::chrono::duration_cast<clock::duration>(timeout_);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof addr.sun_path)
      throw cli_error("master socket " + path_ + ": path longer than " + std::to_string(sizeof addr.sun_path - 1) +
                      " bytes");
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    struct closer {
      int fd;
      ~closer() { ::close(fd); }
    } guard{fd};
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("connect");
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);

    std::string line(command);
    line += '\n';
    std::string_view rest = line;
    while (!rest.empty()) {
      ssize_t n = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          wait(fd, POLLOUT, deadline, command);
          continue;
        }
        fail("send");
      }
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    ::shutdown(fd, SHUT_WR);

    std::string answer;
    char buf[16384];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        answer.append(buf, static_cast<std::size_t>(n));
        if (answer.size() > max_answer_bytes)
          throw cli_error("master socket " + path_ + ": the answer to \"" + std::string(command.substr(0, 60)) +
                          "\" exceeds " + std::to_string(max_answer_bytes >> 20) + " MiB");
        continue;
      }
      if (n == 0) return answer;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wait(fd, POLLIN, deadline, command);
        continue;
      }
      if (errno == ECONNRESET) return answer;  // `reload`: the master re-executes itself
      fail("receive");
    }
  }

 private:
  [[noreturn]] void fail(const char* op) const {
    throw cli_error("master socket " + path_ + ": " + op + ": " + std::strerror(errno));
  }

  void wait(int fd, short events, clock::time_point deadline, std::string_view command) const {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
      if (left <= 0)
        throw cli_error("master socket " + path_ + ": no answer to \"" + std::string(command.substr(0, 60)) +
                        "\" within " + format_duration(timeout_));
      pollfd p{fd, events, 0};
      int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60'000)));
      if (r > 0) return;
      if (r < 0 && errno != EINTR) fail("poll");
    }
  }

  std::string path_;
  duration timeout_;
};

namespace detail {
inline std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    if (i >= line.size()) break;
    auto start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    out.push_back(line.substr(start, i - start));
  }
  return out;
}

template <class F>
void for_each_line(std::string_view text, F f) {
  while (!text.empty()) {
    auto end = text.find('\n');
    f(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

inline std::optional<long> number(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}
}  // namespace detail

// `show proc` on the master:
//   #<PID>  <type>  <reloads>  <uptime>  <version>
//   1162    master  5 [failed: 0]  0d00h02m07s  2.6.12
//   # workers
//   1271    worker  1  0d00h00m00s  2.6.12
//   # old workers
//   1233    worker  3  ...
struct process_list {
  long master_pid = 0;
  long reloads = 0;         // reloads the master went through
  long failed_reloads = 0;  // "[failed: N]": failures since the last success
  std::vector<long> workers;      // current
  std::vector<long> old_workers;  // still finishing their connections

  // The worker that serves the current configuration, as "@!<pid>".
  std::string route() const {
    if (workers.empty()) throw cli_error("show proc lists no current worker");
    return "@!" + std::to_string(workers.front());
  }
};

inline process_list parse_show_proc(std::string_view text, const std::string& socket) {
  process_list p;
  enum { none, current, old, other } section = none;
  bool master = false;
  detail::for_each_line(text, [&](std::string_view line) {
    if (line.substr(0, 1) == "#") {
      if (line.find("old workers") != std::string_view::npos)
        section = old;
      else if (line.find("workers") != std::string_view::npos)
        section = current;
      else if (line.find("<PID>") == std::string_view::npos)
        section = other;
      return;
    }
    auto f = detail::fields(line);
    if (f.size() < 3) return;
    auto pid = detail::number(f[0]);
    if (!pid) return;
    if (f[1] == "master") {
      master = true;
      p.master_pid = *pid;
      p.reloads = detail::number(f[2]).value_or(0);
      if (f.size() > 4 && f[3] == "[failed:") {
        auto n = f[4];
        if (!n.empty() && n.back() == ']') n.remove_suffix(1);
        p.failed_reloads = detail::number(n).value_or(0);
      }
    } else if (f[1] == "worker") {
      if (section == current) p.workers.push_back(*pid);
      if (section == old) p.old_workers.push_back(*pid);
    }
  });
  if (!master) {
    std::string shown(text.substr(0, 120));
    std::replace(shown.begin(), shown.end(), '\n', ' ');
    throw cli_error("master socket " + socket + " is not HAProxy's master CLI (show proc answered \"" + shown +
                    "\"); start HAProxy with -W -S " + socket);
  }
  return p;
}

// `show backend`: "# name" then one name a line.
inline std::vector<std::string> parse_show_backend(std::string_view text) {
  std::vector<std::string> out;
  detail::for_each_line(text, [&](std::string_view line) {
    auto f = detail::fields(line);
    if (f.size() == 1 && f[0].front() != '#') out.emplace_back(f[0]);
  });
  return out;
}

// One server of `show servers state`.
struct runtime_server {
  std::string name;
  std::string address;  // "-" when unresolved
  std::uint32_t port = 0;
  unsigned admin_state = 0;
  std::uint32_t weight = 0;  // srv_uweight: the weight in force

  // SRV_ADMF_FMAINT | IMAINT | CMAINT | RMAINT: not given traffic.
  bool in_maintenance() const noexcept { return (admin_state & 0x27u) != 0; }
};

// backend name -> its servers, for the backends `show servers state` lists
// (format 1; columns found by their header names).
inline std::map<std::string, std::vector<runtime_server>> parse_servers_state(std::string_view text) {
  std::map<std::string, std::vector<runtime_server>> out;
  int be = -1, name = -1, addr = -1, admin = -1, weight = -1, port = -1;
  detail::for_each_line(text, [&](std::string_view line) {
    auto f = detail::fields(line);
    if (f.empty()) return;
    if (f[0] == "#") {
      for (std::size_t i = 1; i < f.size(); ++i) {
        int at = static_cast<int>(i) - 1;
        if (f[i] == "be_name") be = at;
        if (f[i] == "srv_name") name = at;
        if (f[i] == "srv_addr") addr = at;
        if (f[i] == "srv_admin_state") admin = at;
        if (f[i] == "srv_uweight") weight = at;
        if (f[i] == "srv_port") port = at;
      }
      return;
    }
    int need = std::max({be, name, addr, admin, weight, port});
    if (need < 0 || be < 0 || name < 0 || addr < 0 || admin < 0 || weight < 0 || port < 0 ||
        static_cast<int>(f.size()) <= need)
      return;
    runtime_server s;
    s.name = std::string(f[static_cast<std::size_t>(name)]);
    s.address = std::string(f[static_cast<std::size_t>(addr)]);
    s.port = static_cast<std::uint32_t>(detail::number(f[static_cast<std::size_t>(port)]).value_or(0));
    s.admin_state = static_cast<unsigned>(detail::number(f[static_cast<std::size_t>(admin)]).value_or(0));
    s.weight = static_cast<std::uint32_t>(detail::number(f[static_cast<std::size_t>(weight)]).value_or(0));
    out[std::string(f[static_cast<std::size_t>(be)])].push_back(std::move(s));
  });
  return out;
}

}  // namespace interlook::ext::lb::haproxy_detail
