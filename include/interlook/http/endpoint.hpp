#pragma once
// interlook::http::endpoint: where a client connects.
//
//   http://host[:port][/base]         plain TCP, port 80
//   https://host[:port][/base]        TLS, port 443
//   unix:///path/to.sock              a unix socket (Docker's), plain HTTP, Host: localhost
//   tcp://host[:port][/base]          Docker's spelling: plain HTTP on 2375, or TLS on
//                                     2376 when the TLS options name a CA, a client
//                                     certificate, or insecure_skip_verify (the
//                                     docker CLI's --tlsverify/--tlscacert/--tls)
//
// Hosts may be names, IPv4 or [IPv6] literals. A base path ("/api") is
// prefixed to every request target. user:password@ in the URL is accepted as
// basic credentials; it is never printed.

#include <interlook/http/detail/text.hpp>
#include <interlook/http/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace interlook::http {

struct endpoint {
  enum class scheme_kind { http, https, unix_socket, docker_tcp };

  scheme_kind scheme = scheme_kind::http;
  std::string host;         // without brackets; empty for unix sockets
  std::uint16_t port = 0;   // 0: the scheme's default
  std::string base_path;    // "" or "/api" (no trailing slash)
  std::string socket_path;  // unix sockets only
  std::string user;         // from user:password@, if any
  std::string password;     // never printed

  // Throws http::error (kind config); the message shows the URL without userinfo.
  static endpoint parse(std::string_view url);

  bool is_unix() const noexcept { return scheme == scheme_kind::unix_socket; }
  std::string_view scheme_name() const noexcept {
    switch (scheme) {
      case scheme_kind::http: return "http";
      case scheme_kind::https: return "https";
      case scheme_kind::unix_socket: return "unix";
      case scheme_kind::docker_tcp: return "tcp";
    }
    return "http";
  }
  // The URL without userinfo: "https://h:8443/api", "unix:///var/run/docker.sock".
  // The port is shown as given (tcp:// without one shows none).
  std::string to_string() const {
    if (is_unix()) return "unix://" + socket_path;
    std::string s(scheme_name());
    s += "://";
    s += host_port();
    s += base_path;
    return s;
  }
  // "host" or "host:port", IPv6 in brackets, port only when given.
  std::string host_port() const {
    std::string s = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (port != 0) s += ":" + std::to_string(port);
    return s;
  }
};

namespace detail {

// The URL with any userinfo removed, for messages about a bad URL.
inline std::string strip_userinfo(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  auto authority_begin = scheme_end + 3;
  auto authority_end = url.find_first_of("/?#", authority_begin);
  auto authority = url.substr(authority_begin, authority_end == std::string_view::npos ? std::string_view::npos : authority_end - authority_begin);
  auto at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  std::string out(url.substr(0, authority_begin));
  out += "***@";
  out += url.substr(authority_begin + at + 1);
  return out;
}

inline bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

}  // namespace detail

inline endpoint endpoint::parse(std::string_view url) {
  auto fail = [&](std::string_view why) -> error {
    return error(error_kind::config, {}, {}, "invalid endpoint \"" + detail::strip_userinfo(url) + "\": " + std::string(why));
  };
  endpoint ep;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) throw fail("expected scheme://, one of http, https, unix, tcp");
  auto scheme = detail::to_lower(url.substr(0, scheme_end));
  auto rest = url.substr(scheme_end + 3);
  if (scheme == "http") ep.scheme = scheme_kind::http;
  else if (scheme == "https") ep.scheme = scheme_kind::https;
  else if (scheme == "unix") ep.scheme = scheme_kind::unix_socket;
  else if (scheme == "tcp") ep.scheme = scheme_kind::docker_tcp;
  else throw fail("unsupported scheme \"" + scheme + "\"; expected http, https, unix or tcp");

  if (ep.is_unix()) {
    if (rest.empty() || rest.front() != '/') throw fail("expected unix:///absolute/path");
    if (rest.find_first_of("?#") != std::string_view::npos) throw fail("a unix socket path takes no query or fragment");
    if (rest.size() > 107) throw fail("unix socket path longer than 107 bytes");
    ep.socket_path = std::string(rest);
    return ep;
  }

  auto authority_end = rest.find_first_of("/?#");
  auto authority = rest.substr(0, authority_end);
  auto path = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  if (!path.empty() && path.front() != '/') throw fail("the endpoint takes no query or fragment; put them in request targets");
  if (path.find_first_of("?#") != std::string_view::npos) throw fail("the endpoint takes no query or fragment; put them in request targets");
  for (char c : path)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) throw fail("control character or space in the base path");
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  ep.base_path = std::string(path);

  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    auto userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = userinfo.find(':');
    if (!detail::percent_decode(userinfo.substr(0, colon), ep.user)) throw fail("bad %-escape in the user name");
    if (colon != std::string_view::npos && !detail::percent_decode(userinfo.substr(colon + 1), ep.password)) throw fail("bad %-escape in the password");
  }

  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) throw fail("unterminated [IPv6] host");
    ep.host = std::string(authority.substr(1, close - 1));
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw fail("expected :port after ]");
      port = after.substr(1);
      if (port.empty()) throw fail("empty port");
    }
  } else {
    auto colon = authority.rfind(':');
    ep.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) throw fail("empty port");
    }
    if (ep.host.find(':') != std::string::npos) throw fail("an IPv6 host must be written in brackets");
  }
  if (ep.host.empty()) throw fail("missing host");
  for (char c : ep.host)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '/' || c == '\\') throw fail("invalid character in the host");
  if (!port.empty()) {
    unsigned long value = 0;
    for (char c : port) {
      if (c < '0' || c > '9') throw fail("the port is not a number");
      value = value * 10 + static_cast<unsigned long>(c - '0');
      if (value > 65535) throw fail("the port is out of range");
    }
    if (value == 0) throw fail("port 0");
    ep.port = static_cast<std::uint16_t>(value);
  }
  return ep;
}

}  // namespace interlook::http
