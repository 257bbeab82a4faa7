#pragma once
// A real PowerDNS Authoritative 4.7 (gsqlite3) for dns.powerdns's tests,
// started by tests/peers/powerdns/powerdns-peer as a child of the test (it
// dies with the test), with the zone example.test. created through its API;
// a tiny DNS client (UDP) to ask it; and its API to change the zone behind
// the extension's back.

#include <interlook/ext/dns/powerdns/powerdns.hpp>
#include <interlook/http/blocking_client.hpp>

#include "tests/peer_support.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace powerdns_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using peer_support::free_port;
using peer_support::quote;
using peer_support::runfile;
using peer_support::shell;
inline std::string random_key() { return peer_support::random_token("pdns-key-"); }

// ---- a tiny DNS client ------------------------------------------------------------

struct answer {
  std::string status;                // NOERROR, NXDOMAIN, SERVFAIL, REFUSED, TIMEOUT
  std::vector<std::string> records;  // "A 10.0.0.1", "AAAA 2001:db8::1", "TXT \"...\""
  bool has(const std::string& r) const { return std::find(records.begin(), records.end(), r) != records.end(); }
};

enum : std::uint16_t { type_a = 1, type_cname = 5, type_txt = 16, type_aaaa = 28 };

// One question over UDP to 127.0.0.1:port (no recursion), its answer section.
inline answer query(unsigned short port, const std::string& qname, std::uint16_t qtype) {
  std::string q;
  std::random_device rd;
  std::uint16_t id = static_cast<std::uint16_t>(rd());
  auto u16 = [&](std::uint16_t v) {
    q += static_cast<char>(v >> 8);
    q += static_cast<char>(v & 0xff);
  };
  u16(id);
  u16(0);  // a query, RD off
  u16(1);
  u16(0);
  u16(0);
  u16(0);
  std::string name = qname;
  if (!name.empty() && name.back() == '.') name.pop_back();
  for (std::size_t pos = 0; pos < name.size();) {
    auto dot = name.find('.', pos);
    auto label = name.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    q += static_cast<char>(label.size());
    q += label;
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  q += '\0';
  u16(qtype);
  u16(1);

  answer a;
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string r(65535, '\0');
  long n = -1;
  for (int attempt = 0; attempt < 3 && n < 12; ++attempt) {
    ::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    for (;;) {
      n = ::recv(fd, r.data(), r.size(), 0);
      if (n < 12) break;
      if ((static_cast<unsigned char>(r[0]) << 8 | static_cast<unsigned char>(r[1])) == id) break;
    }
  }
  ::close(fd);
  if (n < 12) {
    a.status = "TIMEOUT";
    return a;
  }
  r.resize(static_cast<std::size_t>(n));
  auto byte = [&](std::size_t i) { return static_cast<unsigned>(static_cast<unsigned char>(r.at(i))); };
  auto get16 = [&](std::size_t i) { return byte(i) << 8 | byte(i + 1); };
  static const char* rcodes[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};
  unsigned rcode = byte(3) & 0x0f;
  a.status = rcode < 6 ? rcodes[rcode] : "RCODE" + std::to_string(rcode);
  auto skip_name = [&](std::size_t p) {
    while (byte(p) != 0) {
      if ((byte(p) & 0xc0) == 0xc0) return p + 2;
      p += byte(p) + 1;
    }
    return p + 1;
  };
  std::size_t p = skip_name(12) + 4;
  unsigned ancount = get16(6);
  for (unsigned i = 0; i < ancount; ++i) {
    p = skip_name(p);
    unsigned type = get16(p), len = get16(p + 8);
    std::size_t rd_at = p + 10;
    if (type == type_a && len == 4) {
      char buf[INET_ADDRSTRLEN];
      ::inet_ntop(AF_INET, r.data() + rd_at, buf, sizeof buf);
      a.records.push_back(std::string("A ") + buf);
    } else if (type == type_aaaa && len == 16) {
      char buf[INET6_ADDRSTRLEN];
      ::inet_ntop(AF_INET6, r.data() + rd_at, buf, sizeof buf);
      a.records.push_back(std::string("AAAA ") + buf);
    } else if (type == type_txt) {
      std::string text;
      for (std::size_t s = rd_at; s < rd_at + len;) {
        unsigned l = byte(s);
        text += r.substr(s + 1, l);
        s += l + 1;
      }
      a.records.push_back("TXT \"" + text + "\"");
    } else if (type == type_cname) {
      a.records.push_back("CNAME");
    }
    p = rd_at + len;
  }
  return a;
}

// ---- the server ---------------------------------------------------------------------

class pdns_peer {
 public:
  static constexpr const char* zone = "example.test";

  pdns_peer() : dns_port_(free_port()), web_port_(free_port()), key_(random_key()) {
    const char* base = std::getenv("TEST_TMPDIR");
    dir_ = fs::path(base ? base : "/tmp") / ("pdns-" + std::to_string(::getpid()) + "-" + std::to_string(dns_port_));
    fs::remove_all(dir_);
    int status = 0;
    auto out = shell(script() + " prepare " + quote(dir_.string()) + " " + std::to_string(dns_port_) + " " +
                         std::to_string(web_port_) + " " + key_ + " 2>&1",
                     &status);
    INFO(out);
    REQUIRE(status == 0);
    start();
    // The zone, created through the API as an operator would.
    auto r = api().request(interlook::http::request::post(
        "/api/v1/servers/localhost/zones",
        R"({"name":"example.test.","kind":"Native","nameservers":["ns1.example.test."]})"));
    REQUIRE(r.status == 201);
  }

  ~pdns_peer() {
    stop();
    shell(script() + " clean " + quote(dir_.string()) + " 2>&1");
  }

  pdns_peer(const pdns_peer&) = delete;
  pdns_peer& operator=(const pdns_peer&) = delete;

  static std::string script() { return runfile("tests/peers/powerdns/powerdns-peer"); }

  unsigned short dns_port() const { return dns_port_; }
  const std::string& key() const { return key_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(web_port_); }

  interlook::ext::dns::powerdns::config config() const {
    interlook::ext::dns::powerdns::config c;
    c.url = url();
    c.apiKey.value = key_;
    c.zone = zone;
    c.timeout = 3s;
    return c;
  }

  void start() {
    std::string bin = script();
    std::string log = (dir_ / "pdns.log").string();
    std::string dir = dir_.string();
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the server dies with the test, even a crashed one
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
        FAIL("pdns_server exited at start:\n" << log_text());
      }
      std::this_thread::sleep_for(50ms);
    }
    FAIL("pdns_server did not answer within 15 s:\n" << log_text());
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
    std::ifstream in(dir_ / "pdns.log");
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }

  answer dig(const std::string& name, std::uint16_t type = type_a) const { return query(dns_port_, name, type); }

  // The API, as someone else (the operator) uses it.
  interlook::http::blocking_client& api() {
    if (!api_) {
      api_ = std::make_unique<interlook::http::blocking_client>(url());
      api_->set_header("X-API-Key", key_);
    }
    return *api_;
  }

  // Someone else's RRset, written through the API.
  void put_rrset(const std::string& name, const std::string& type, const std::vector<std::string>& contents) {
    boost::json::array records;
    for (const auto& c : contents) records.push_back(boost::json::object{{"content", c}, {"disabled", false}});
    boost::json::object rr{{"name", name}, {"type", type}, {"ttl", 300}, {"changetype", "REPLACE"}, {"records", records}};
    auto body = boost::json::serialize(boost::json::object{{"rrsets", boost::json::array{rr}}});
    auto r = api().request(interlook::http::request::patch("/api/v1/servers/localhost/zones/example.test.", body, "application/json"));
    REQUIRE(r.status == 204);
  }

  // Every RRset of the zone as "name type ttl content" lines, sorted (SOA left out).
  std::vector<std::string> zone_lines() {
    auto r = api().request(interlook::http::request::get("/api/v1/servers/localhost/zones/example.test."));
    std::vector<std::string> lines;
    auto zone = boost::json::parse(r.body);
    for (const auto& s : zone.at("rrsets").as_array()) {
      const auto& o = s.as_object();
      if (o.at("type").as_string() == "SOA") continue;
      for (const auto& rec : o.at("records").as_array())
        lines.push_back(std::string(o.at("name").as_string()) + " " + std::string(o.at("type").as_string()) + " " +
                        std::to_string(o.at("ttl").to_number<long>()) + " " + std::string(rec.at("content").as_string()));
    }
    std::sort(lines.begin(), lines.end());
    return lines;
  }

 private:
  unsigned short dns_port_, web_port_;
  std::string key_;
  fs::path dir_;
  pid_t pid_ = -1;
  std::unique_ptr<interlook::http::blocking_client> api_;
};

}  // namespace powerdns_test
