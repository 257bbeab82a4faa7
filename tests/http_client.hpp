#pragma once
// A minimal blocking HTTP/1.1 client over a raw socket, so that tests can
// also send what a well-behaved client would not.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

namespace test_http {

struct response {
  int status = 0;
  std::string headers;
  std::string body;
};

// Sends `raw` to 127.0.0.1:port and reads until the server closes.
inline response exchange(unsigned short port, const std::string& raw) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("connect to port " + std::to_string(port) + " failed");
  }
  for (std::size_t sent = 0; sent < raw.size();) {
    auto n = ::send(fd, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early on an oversized request
    sent += static_cast<std::size_t>(n);
  }
  std::string data;
  char buf[65536];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  response r;
  auto head_end = data.find("\r\n\r\n");
  if (data.size() < 12 || head_end == std::string::npos) return r;
  r.status = std::stoi(data.substr(9, 3));
  r.headers = data.substr(0, head_end);
  r.body = data.substr(head_end + 4);
  return r;
}

inline response request(unsigned short port, const std::string& method, const std::string& target) {
  return exchange(port, method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
}

inline response get(unsigned short port, const std::string& target) { return request(port, "GET", target); }

}  // namespace test_http
