#pragma once
// A real DNS server for dns.rfc2136's tests: BIND 9 or Knot DNS, started by
// tests/peers/{bind,knot}/*-peer as a child of the test (it dies with the
// test), serving example.test on a free 127.0.0.1 port with a fresh TSIG
// key; and dig/nsupdate to look at it and change it behind the extension's
// back.

#include <interlook/ext/dns/rfc2136/rfc2136.hpp>

#include "tests/peer_support.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace rfc2136_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

enum class server_kind { bind, knot };

inline std::string kind_name(server_kind k) { return k == server_kind::bind ? "bind" : "knot"; }

using peer_support::free_port;
using peer_support::quote;
using peer_support::runfile;
using peer_support::shell;
// A fresh 32-byte TSIG key in base64.
inline std::string random_secret() { return peer_support::random_base64(32); }

struct answer {
  std::string status;                // NOERROR, NXDOMAIN, ...
  std::vector<std::string> records;  // "A 10.0.0.1", "TXT \"...\""
  bool has(const std::string& r) const {
    for (const auto& x : records)
      if (x == r) return true;
    return false;
  }
};

struct peer_options {
  std::string records;  // zone file lines, relative to example.test.
  bool axfr = true;     // zone transfers allowed for the key
  std::string updates_below;  // the key may update only this name (relative) and below
  std::string algorithm = "hmac-sha256";
};

class dns_peer {
 public:
  explicit dns_peer(server_kind kind, peer_options opt = {})
      : kind_(kind), port_(free_port()), secret_(random_secret()), algorithm_(opt.algorithm) {
    const char* base = std::getenv("TEST_TMPDIR");
    dir_ = fs::path(base ? base : "/tmp") /
           ("rfc2136-" + kind_name(kind) + "-" + std::to_string(::getpid()) + "-" + std::to_string(port_));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "records.txt") << opt.records;
    int status = 0;
    auto out = shell(script() + " prepare " + quote(dir_.string()) + " " + std::to_string(port_) + " " + zone +
                         " " + key_name + " " + algorithm_ + " " + secret_ + (opt.axfr ? "" : " --no-axfr") +
                         " --records " + quote((dir_ / "records.txt").string()) +
                         (opt.updates_below.empty() ? "" : " --updates-below " + opt.updates_below) + " 2>&1",
                     &status);
    INFO(out);
    REQUIRE(status == 0);
    start();
  }

  ~dns_peer() {
    stop();
    shell(script() + " clean " + quote(dir_.string()) + " 2>&1");
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  dns_peer(const dns_peer&) = delete;
  dns_peer& operator=(const dns_peer&) = delete;

  static constexpr const char* zone = "example.test";
  static constexpr const char* key_name = "interlook-key";

  unsigned short port() const { return port_; }
  const std::string& secret() const { return secret_; }
  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
  server_kind kind() const { return kind_; }

  interlook::ext::dns::rfc2136::config config() const {
    interlook::ext::dns::rfc2136::config c;
    c.server = server();
    c.zone = zone;
    c.tsigKeyName = key_name;
    c.tsigSecret.value = secret_;
    c.tsigAlgorithm = algorithm_;
    c.timeout = 2s;
    return c;
  }

  void start() {
    std::string bin = script();
    std::string log = (dir_ / "server.log").string();
    std::string dir = dir_.string();
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      // The server dies with the test, even a crashed one.
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
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      shell(script() + " ready " + quote(dir) + " 2>/dev/null", &status);
      if (status == 0) return;
      int ws = 0;
      if (::waitpid(pid_, &ws, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL("the " << kind_name(kind_) << " server exited at start:\n" << log_text());
      }
      std::this_thread::sleep_for(50ms);
    }
    FAIL("the " << kind_name(kind_) << " server did not answer within 15 s:\n" << log_text());
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    pid_ = -1;
  }

  std::string log_text() const {
    std::ifstream in(dir_ / "server.log");
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }

  // The server's answer for name/type (dig over TCP, no TSIG).
  answer dig(const std::string& name, const std::string& type) const {
    auto out = shell("dig +tcp +norec +time=2 +tries=1 -p " + std::to_string(port_) + " @127.0.0.1 " + quote(name) +
                     " " + type + " +noall +comments +answer 2>&1");
    answer a;
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
      if (auto at = line.find("status: "); at != std::string::npos) {
        auto end = line.find(',', at);
        a.status = line.substr(at + 8, end - at - 8);
        continue;
      }
      if (line.empty() || line[0] == ';') continue;
      std::istringstream f(line);
      std::string owner, ttl, cls, rtype, rest;
      f >> owner >> ttl >> cls >> rtype;
      std::getline(f, rest);
      auto first = rest.find_first_not_of(" \t");
      a.records.push_back(rtype + " " + (first == std::string::npos ? "" : rest.substr(first)));
    }
    return a;
  }

  // The whole zone as "name type rdata" lines, sorted (dig AXFR with the key).
  std::vector<std::string> zone_lines() const {
    auto out = shell("dig +tcp -p " + std::to_string(port_) + " @127.0.0.1 -y " + algorithm_ + ":" + key_name + ":" +
                     secret_ + " " + zone + " AXFR +noall +answer 2>&1");
    std::vector<std::string> lines;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == ';') continue;
      std::istringstream f(line);
      std::string owner, ttl, cls, rtype, rest;
      f >> owner >> ttl >> cls >> rtype;
      if (rtype == "SOA") continue;
      std::getline(f, rest);
      auto first = rest.find_first_not_of(" \t");
      lines.push_back(owner + " " + rtype + " " + (first == std::string::npos ? "" : rest.substr(first)));
    }
    std::sort(lines.begin(), lines.end());
    return lines;
  }

  // Changes the zone with nsupdate (the test's "someone else").
  void nsupdate(const std::string& commands) const {
    std::ofstream(dir_ / "nsupdate.txt") << "server 127.0.0.1 " << port_ << "\nzone " << zone << "\n"
                                          << commands << "\nsend\n";
    int status = 0;
    auto out = shell("nsupdate -v -y " + algorithm_ + ":" + std::string(key_name) + ":" + secret_ + " " +
                         quote((dir_ / "nsupdate.txt").string()) + " 2>&1",
                     &status);
    INFO(out);
    REQUIRE(status == 0);
  }

 private:
  std::string script() const {
    return runfile(kind_ == server_kind::bind ? "tests/peers/bind/bind-peer" : "tests/peers/knot/knot-peer");
  }

  server_kind kind_;
  unsigned short port_;
  std::string secret_;
  std::string algorithm_;
  fs::path dir_;
  pid_t pid_ = -1;
};

inline interlook::message msg(interlook::action a, const std::string& name, const std::string& ip,
                              std::vector<std::string> aliases) {
  interlook::message m;
  m.action = a;
  m.service.name = name;
  m.service.public_ip = ip;
  m.service.dns_names = std::move(aliases);
  return m;
}

inline std::string txt_of(const std::string& service, const std::string& owner = "interlook") {
  return "TXT \"heritage=interlook,owner=" + owner + ",service=" + service + "\"";
}

}  // namespace rfc2136_test
