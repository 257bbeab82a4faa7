#pragma once
// interlook::http::error: every failure of the HTTP client.
//
// what() reads "<METHOD> <url>: <what failed>", e.g.
//   GET https://10.0.0.1:6443/api/v1/pods: 404 Not Found: {"kind":"Status",...}
//   GET https://127.0.0.1:1234/x: connect to https://127.0.0.1:1234 timed out after 2s
//   GET https://127.0.0.1:1234/x: TLS handshake with https://127.0.0.1:1234: certificate verify failed: Hostname mismatch
// The URL never carries credentials (no userinfo; credential-looking query
// parameters read "***"), and the client scrubs every secret it knows of
// (password, tokens, secret header values) from the whole message and from
// body(), in case a server echoes them.

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace interlook::http {

enum class error_kind {
  config,           // bad endpoint URL or options (client construction)
  invalid_request,  // a target or header that cannot be sent (CR/LF, bad name)
  auth,             // credentials unavailable (the token file cannot be read)
  connect,          // name resolution or TCP/unix connect failed
  tls,              // TLS handshake, certificate verification, TLS alert
  timeout,          // connect, request, stream-idle, or waiting for a connection
  io,               // the connection failed or closed in the middle of an exchange
  protocol,         // the response is not valid HTTP/1.1
  body_too_large,   // the body (or a streamed line) exceeds max_body_bytes
  status,           // the server answered with status >= 400
  cancelled,        // client::close(), or the caller's cancellation
};

constexpr std::string_view to_string(error_kind k) noexcept {
  switch (k) {
    case error_kind::config: return "config";
    case error_kind::invalid_request: return "invalid request";
    case error_kind::auth: return "auth";
    case error_kind::connect: return "connect";
    case error_kind::tls: return "tls";
    case error_kind::timeout: return "timeout";
    case error_kind::io: return "io";
    case error_kind::protocol: return "protocol";
    case error_kind::body_too_large: return "body too large";
    case error_kind::status: return "status";
    case error_kind::cancelled: return "cancelled";
  }
  return "unknown";
}

class error : public std::runtime_error {
 public:
  // `detail` says what failed; for kind status it is "404 Not Found" and the
  // body excerpt (<= 200 bytes) is appended to what() by the caller.
  error(error_kind kind, std::string method, std::string url, const std::string& message, unsigned status = 0, std::string body = {})
      : std::runtime_error(message), kind_(kind), status_(status), method_(std::move(method)), url_(std::move(url)), body_(std::move(body)) {}

  error_kind kind() const noexcept { return kind_; }
  // The HTTP status of the response, 0 when there was none (transport errors).
  unsigned status() const noexcept { return status_; }
  bool is_status(unsigned s) const noexcept { return status_ == s; }
  // "GET", "POST", ...; empty for configuration errors.
  const std::string& method() const noexcept { return method_; }
  // The request URL without credentials.
  const std::string& url() const noexcept { return url_; }
  // The response body (scrubbed of secrets) for kind status; else empty.
  const std::string& body() const noexcept { return body_; }

 private:
  error_kind kind_;
  unsigned status_;
  std::string method_;
  std::string url_;
  std::string body_;
};

}  // namespace interlook::http
