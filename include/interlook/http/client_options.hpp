#pragma once
// interlook::http::client_options: a client's TLS, credentials, pool and limits.

#include <interlook/http/auth.hpp>
#include <interlook/http/tls_options.hpp>

#include <chrono>
#include <cstddef>
#include <string>

namespace interlook::http {

struct client_options {
  http::tls_options tls;
  // Userinfo in the endpoint URL, if any, is used when these are none.
  http::credentials credentials;

  // TCP (or unix) connect plus the TLS handshake.
  std::chrono::nanoseconds connect_timeout = std::chrono::seconds(10);
  // A whole request(): waiting for a free connection, connecting, sending,
  // and reading the full response.
  std::chrono::nanoseconds request_timeout = std::chrono::seconds(30);
  // stream_lines(): the longest wait for the response header and then for
  // each next line. Zero: no limit (a silent watch stays open; TCP keep-alive
  // probes still notice a dead peer).
  std::chrono::nanoseconds stream_idle_timeout = std::chrono::nanoseconds::zero();
  // Connections open at once (idle, busy, or connecting); more requests wait.
  // A stream holds its connection until it ends.
  std::size_t max_connections = 4;
  // An idle keep-alive connection older than this is closed, not reused.
  std::chrono::nanoseconds pool_idle_timeout = std::chrono::seconds(30);
  // A larger response body (or streamed line) is an error (body_too_large).
  std::size_t max_body_bytes = 16 * 1024 * 1024;
  // Also the limit on the response header.
  std::size_t max_header_bytes = 64 * 1024;
  std::string user_agent = "interlook";
};

}  // namespace interlook::http
