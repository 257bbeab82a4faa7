#pragma once
// What the tests that start real peers (BIND, Knot, PowerDNS, HAProxy,
// dockerd, the daemon itself) share: their runfiles, free ports, shell
// commands, quoting, fresh secrets. No doctest, no interlook: any test links it.

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>

namespace peer_support {

// A file of this workspace as a test sees it (its runfiles), absolute.
inline std::string runfile(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  return std::filesystem::absolute(std::string(srcdir ? srcdir : ".") + "/" + (ws ? ws : "interlook") + "/" + path).string();
}

// A port free for both TCP and UDP on 127.0.0.1 (DNS servers take both).
inline unsigned short free_port() {
  for (;;) {
    int t = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(t, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(t, reinterpret_cast<sockaddr*>(&addr), &len);
    int u = ::socket(AF_INET, SOCK_DGRAM, 0);
    bool udp_free = ::bind(u, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(u);
    ::close(t);
    if (udp_free) return ntohs(addr.sin_port);
  }
}

// `s` as one word for /bin/sh.
inline std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct command_result {
  int status = -1;     // the exit status; -1 when it did not exit normally
  std::string output;  // standard output (and standard error, for sh())
};

namespace detail {
inline command_result run(const std::string& command) {
  command_result r;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run: " + command);
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}
}  // namespace detail

// Runs a shell command: its standard output and standard error together.
inline command_result sh(const std::string& command) { return detail::run(command + " 2>&1"); }

// Runs a shell command: its standard output (what a test parses, dig's say),
// the exit status in `status`.
inline std::string shell(const std::string& command, int* status = nullptr) {
  auto r = detail::run(command);
  if (status) *status = r.status;
  return r.output;
}

// `bytes` random bytes in base64 (TSIG keys, API secrets).
inline std::string random_base64(std::size_t bytes = 32) {
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::random_device rd;
  std::string raw;
  for (std::size_t i = 0; i < bytes; ++i) raw += static_cast<char>(rd() & 0xff);
  std::string out;
  for (std::size_t i = 0; i < raw.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(raw[i]) << 16;
    if (i + 1 < raw.size()) v |= static_cast<unsigned char>(raw[i + 1]) << 8;
    if (i + 2 < raw.size()) v |= static_cast<unsigned char>(raw[i + 2]);
    std::size_t chars = i + 2 < raw.size() ? 4 : i + 1 < raw.size() ? 3 : 2;
    for (std::size_t k = 0; k < 4; ++k) out += k < chars ? b64[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

// `prefix` and `n` random letters and digits (API keys).
inline std::string random_token(const std::string& prefix, int n = 24) {
  static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::string out = prefix;
  for (int i = 0; i < n; ++i) out += chars[rd() % 62];
  return out;
}

}  // namespace peer_support
