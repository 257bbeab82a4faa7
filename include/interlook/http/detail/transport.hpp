#pragma once
// The byte streams under the HTTP client: TCP, TLS over TCP, unix sockets,
// behind one small virtual interface so that the HTTP exchange (client.hpp)
// is compiled once, not once per stream type. Connecting (resolve, connect,
// TLS handshake with chain and host-name verification) and a per-connection
// watchdog timer that closes the socket at a deadline live here too.
//
// Every Asio/OpenSSL detail of the client is in this header and client.hpp.

#include <interlook/http/detail/text.hpp>
#include <interlook/http/endpoint.hpp>
#include <interlook/http/error.hpp>
#include <interlook/http/tls_options.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

namespace interlook::http::detail {

namespace asio = boost::asio;
using error_code = boost::system::error_code;
using steady = std::chrono::steady_clock;

// A failure below HTTP; the client adds the method and URL.
struct transport_failure {
  error_kind kind;
  std::string message;
};

// "Connection refused", "connection closed by the server", "certificate verify failed (SSL routines)".
inline std::string describe(const error_code& ec) {
  if (ec == asio::error::eof) return "connection closed by the server";
  if (ec == asio::ssl::error::stream_truncated) return "connection closed by the server (TLS stream truncated)";
  if (ec == asio::error::connection_reset) return "connection reset by the server";
  return ec.message();
}

// Whether an error on a reused connection means the server had closed it
// while it sat idle (so the request may be repeated on a new one).
inline bool stale_connection_error(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::connection_aborted || ec == asio::error::not_connected;
}

// Where and how to connect; built once per client.
struct connect_target {
  bool unix_socket = false;
  std::string socket_path;
  std::string host;
  unsigned short port = 0;
  asio::ssl::context* tls = nullptr;  // null: plain
  bool verify = true;
  std::string verify_name;  // host name or IP the certificate must match; SNI when a name
  std::string origin;       // "https://127.0.0.1:1234", for messages
};

class connection : public std::enable_shared_from_this<connection> {
 public:
  explicit connection(const asio::any_io_executor& ex) : watchdog_(ex) {}
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  virtual ~connection() = default;

  // Both report failure in `ec`, never by throwing.
  virtual asio::awaitable<std::size_t> read_some(asio::mutable_buffer buffer, error_code& ec) = 0;
  virtual asio::awaitable<void> write(asio::const_buffer buffer, error_code& ec) = 0;
  virtual bool is_tls() const noexcept = 0;
  // Connects (and for TLS, handshakes) to `t`; the caller has armed the
  // watchdog. Throws transport_failure, whose timeout message ends with
  // `timeout_text` ("after 2s").
  virtual asio::awaitable<void> connect(const connect_target& t, const std::string& timeout_text) = 0;
  // Closes the socket (and cancels a name resolution): pending operations
  // complete with an error.
  virtual void shut() noexcept = 0;

  // client::close(): fail whatever is pending; the connection is not reused.
  void abort() noexcept {
    aborted_ = true;
    shut();
  }
  bool aborted() const noexcept { return aborted_; }

  // Shuts the connection at `deadline` (steady::time_point::max(): never).
  // Each call replaces the previous deadline.
  void expire_at(steady::time_point deadline) {
    ++generation_;
    if (deadline == steady::time_point::max()) {
      watchdog_.cancel();
      return;
    }
    watchdog_.expires_at(deadline);
    watchdog_.async_wait([weak = weak_from_this(), generation = generation_](const error_code& ec) {
      if (ec) return;
      auto self = weak.lock();
      if (!self || self->generation_ != generation) return;
      self->timed_out_ = true;
      self->shut();
    });
  }
  void disarm() { expire_at(steady::time_point::max()); }
  bool timed_out() const noexcept { return timed_out_; }

  // Pool bookkeeping.
  bool reused = false;
  steady::time_point idle_since{};

 protected:
  asio::steady_timer watchdog_;
  unsigned generation_ = 0;
  bool timed_out_ = false;
  bool aborted_ = false;
};

// The SSL context for a client's TLS options. Throws http::error (kind config)
// naming the file that could not be loaded.
inline asio::ssl::context make_tls_context(const tls_options& o) {
  auto fail = [](const std::string& what, const error_code& ec) {
    return error(error_kind::config, {}, {}, "TLS: " + what + ": " + ec.message());
  };
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  // An encrypted key must not make OpenSSL prompt on the terminal.
  SSL_CTX_set_default_passwd_cb(ctx.native_handle(), [](char*, int, int, void*) -> int { return 0; });
  error_code ec;
  if (o.insecure_skip_verify) {
    ctx.set_verify_mode(asio::ssl::verify_none);
  } else {
    ctx.set_verify_mode(asio::ssl::verify_peer);
    if (!o.ca_file.empty()) {
      ctx.load_verify_file(o.ca_file, ec);
      if (ec) throw fail("loading the CA file " + o.ca_file, ec);
    } else {
      ctx.set_default_verify_paths(ec);
      if (ec) throw fail("loading the system's CA paths", ec);
    }
  }
  if (!o.cert_file.empty()) {
    ctx.use_certificate_chain_file(o.cert_file, ec);
    if (ec) throw fail("loading the client certificate " + o.cert_file, ec);
    const std::string& key = o.key_file.empty() ? o.cert_file : o.key_file;
    ctx.use_private_key_file(key, asio::ssl::context::pem, ec);
    if (ec) throw fail("loading the client key " + key, ec);
  } else if (!o.key_file.empty()) {
    throw error(error_kind::config, {}, {}, "TLS: key_file " + o.key_file + " without cert_file");
  }
  return ctx;
}

inline bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

inline void tune_tcp(asio::ip::tcp::socket& s) {
  error_code ignored;
  s.set_option(asio::ip::tcp::no_delay(true), ignored);
  s.set_option(asio::socket_base::keep_alive(true), ignored);
  // Notice a vanished peer on long, silent streams within about a minute.
  int idle = 30, interval = 10, count = 3;
  ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

template <class Stream>
class stream_connection final : public connection {
 public:
  static constexpr bool tls = std::is_same_v<Stream, asio::ssl::stream<asio::ip::tcp::socket>>;
  static constexpr bool unix_socket = std::is_same_v<Stream, asio::local::stream_protocol::socket>;

  template <class... Args>
  explicit stream_connection(const asio::any_io_executor& ex, Args&&... args) : connection(ex), stream_(ex, std::forward<Args>(args)...) {}

  asio::awaitable<std::size_t> read_some(asio::mutable_buffer buffer, error_code& ec) override {
    co_return co_await stream_.async_read_some(buffer, asio::redirect_error(asio::use_awaitable, ec));
  }
  asio::awaitable<void> write(asio::const_buffer buffer, error_code& ec) override {
    co_await asio::async_write(stream_, buffer, asio::redirect_error(asio::use_awaitable, ec));
  }
  bool is_tls() const noexcept override { return tls; }
  void shut() noexcept override {
    error_code ignored;
    stream_.lowest_layer().close(ignored);
    if (resolver_) resolver_->cancel();
  }

  asio::awaitable<void> connect(const connect_target& t, const std::string& timeout_text) override {
    if constexpr (unix_socket) {
      error_code ec;
      co_await stream_.async_connect(asio::local::stream_protocol::endpoint(t.socket_path), asio::redirect_error(asio::use_awaitable, ec));
      check(ec, "connect to " + t.origin, timeout_text);
    } else if constexpr (!tls) {
      co_await connect_tcp(stream_, t, timeout_text);
    } else {
      co_await connect_tcp(stream_.next_layer(), t, timeout_text);
      SSL* ssl = stream_.native_handle();
      bool ip = is_ip_literal(t.verify_name);
      if (!ip) SSL_set_tlsext_host_name(ssl, t.verify_name.c_str());  // SNI carries names only
      if (t.verify) {
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, t.verify_name.c_str()) : X509_VERIFY_PARAM_set1_host(param, t.verify_name.c_str(), 0);
        if (ok != 1) throw transport_failure{error_kind::tls, "TLS: cannot verify against the name " + t.verify_name};
      }
      error_code ec;
      co_await stream_.async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
      if (ec && !timed_out_ && !aborted_) {
        long verify = SSL_get_verify_result(ssl);
        if (t.verify && verify != X509_V_OK)
          throw transport_failure{error_kind::tls, "TLS handshake with " + t.origin + ": certificate verify failed: " + X509_verify_cert_error_string(verify)};
        throw transport_failure{error_kind::tls, "TLS handshake with " + t.origin + ": " + describe(ec)};
      }
      check(ec, "TLS handshake with " + t.origin, timeout_text);
    }
  }

  Stream& stream() noexcept { return stream_; }

 private:
  // Throws for ec, a timeout or an abort, naming `what`.
  void check(const error_code& ec, const std::string& what, const std::string& timeout_text) const {
    if (timed_out_) throw transport_failure{error_kind::timeout, what + " timed out " + timeout_text};
    if (aborted_) throw transport_failure{error_kind::cancelled, what + ": cancelled (client closed)"};
    if (ec == asio::error::operation_aborted) throw transport_failure{error_kind::cancelled, what + ": cancelled"};
    if (ec) throw transport_failure{error_kind::connect, what + ": " + describe(ec)};
  }

  asio::awaitable<void> connect_tcp(asio::ip::tcp::socket& socket, const connect_target& t, const std::string& timeout_text) {
    using tcp = asio::ip::tcp;
    std::vector<tcp::endpoint> endpoints;
    error_code ec;
    if (auto address = asio::ip::make_address(t.host, ec); !ec) {
      endpoints.emplace_back(address, t.port);
    } else {
      resolver_.emplace(socket.get_executor());
      auto results = co_await resolver_->async_resolve(t.host, std::to_string(t.port), tcp::resolver::numeric_service, asio::redirect_error(asio::use_awaitable, ec));
      resolver_.reset();
      check(ec, "resolving " + t.host, timeout_text);
      for (const auto& r : results) endpoints.push_back(r.endpoint());
    }
    ec = asio::error::host_not_found;
    for (const auto& e : endpoints) {
      error_code ignored;
      socket.close(ignored);
      socket.open(e.protocol(), ec);
      if (ec) continue;
      co_await socket.async_connect(e, asio::redirect_error(asio::use_awaitable, ec));
      if (!ec || timed_out_ || aborted_) break;
    }
    check(ec, "connect to " + t.origin, timeout_text);
    tune_tcp(socket);
  }

  Stream stream_;
  std::optional<asio::ip::tcp::resolver> resolver_;
};

using tcp_connection = stream_connection<asio::ip::tcp::socket>;
using tls_connection = stream_connection<asio::ssl::stream<asio::ip::tcp::socket>>;
using unix_connection = stream_connection<asio::local::stream_protocol::socket>;

// A new, unconnected connection for `t`.
inline std::shared_ptr<connection> make_connection(const asio::any_io_executor& ex, const connect_target& t) {
  if (t.unix_socket) return std::make_shared<unix_connection>(ex);
  if (t.tls) return std::make_shared<tls_connection>(ex, *t.tls);
  return std::make_shared<tcp_connection>(ex);
}

}  // namespace interlook::http::detail
