#pragma once
// A small HTTP/1.1 server on Boost.Beast for the API: one I/O thread,
// keep-alive, bounded request sizes and timeouts. Routing is the caller's.

#include <interlook/support/log.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace interlook {

struct http_reply {
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

// {"error": "..."} with a status.
inline http_reply error_reply(unsigned status, std::string_view what) {
  http_reply r;
  r.status = status;
  r.body = "{\"error\":\"";
  for (char c : what) {
    if (c == '"' || c == '\\') r.body += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) r.body += c;
  }
  r.body += "\"}";
  return r;
}

class http_server {
 public:
  // (method, target) -> reply. Runs on the server's I/O thread.
  using handler = std::function<http_reply(std::string_view method, std::string_view target)>;

  static constexpr std::size_t max_header_bytes = 8 * 1024;
  static constexpr std::size_t max_body_bytes = 64 * 1024;

  // Binds at once, so that a port in use is a start-up error. An empty
  // address means every interface; port 0 picks a free port (tests).
  http_server(const std::string& address, std::uint16_t port, handler h, logger& log)
      : acceptor_(io_), handler_(std::move(h)), log_(log) {
    namespace asio = boost::asio;
    boost::system::error_code ec;
    auto ip = address.empty() ? asio::ip::address(asio::ip::address_v6::any())
                              : asio::ip::make_address(address, ec);
    if (ec) throw std::runtime_error("API listen address \"" + address + "\" is not an IP address");
    asio::ip::tcp::endpoint ep(ip, port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec && ip.is_v6() && address.empty()) acceptor_.set_option(asio::ip::v6_only(false), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      throw std::runtime_error("cannot listen on " + (address.empty() ? std::string("*") : address) + ":" +
                               std::to_string(port) + ": " + ec.message());
  }
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;
  ~http_server() { stop(); }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  void start() {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }

  void stop() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  class session : public std::enable_shared_from_this<session> {
   public:
    session(boost::asio::ip::tcp::socket s, http_server& server) : stream_(std::move(s)), server_(server) {}

    void read() {
      parser_.emplace();
      parser_->header_limit(max_header_bytes);
      parser_->body_limit(max_body_bytes);
      stream_.expires_after(std::chrono::seconds(30));
      boost::beast::http::async_read(stream_, buffer_, *parser_,
                                     [self = shared_from_this()](boost::beast::error_code ec, std::size_t) {
                                       self->on_read(ec);
                                     });
    }

   private:
    void on_read(boost::beast::error_code ec) {
      namespace http = boost::beast::http;
      if (ec == http::error::end_of_stream || ec == boost::asio::error::eof ||
          ec == boost::beast::error::timeout || ec == boost::asio::error::operation_aborted ||
          ec == boost::asio::error::connection_reset)
        return close();
      if (ec == http::error::body_limit || ec == http::error::header_limit) {
        return reply(error_reply(413, "request too large"), 11, false);
      }
      if (ec) return reply(error_reply(400, "malformed request"), 11, false);
      auto req = parser_->release();
      http_reply r;
      try {
        r = server_.handler_(req.method_string(), req.target());
      } catch (const std::exception& e) {
        server_.log_.error(std::string("API handler failed: ") + e.what());
        r = error_reply(500, "internal error");
      }
      reply(std::move(r), req.version(), req.keep_alive());
    }

    void reply(http_reply r, unsigned version, bool keep_alive) {
      namespace http = boost::beast::http;
      auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), version);
      res->set(http::field::server, "interlook");
      res->set(http::field::content_type, r.content_type);
      for (auto& [k, v] : r.headers) res->set(k, v);
      res->keep_alive(keep_alive);
      res->body() = std::move(r.body);
      res->prepare_payload();
      http::async_write(stream_, *res, [self = shared_from_this(), res, keep_alive](boost::beast::error_code ec, std::size_t) {
        if (ec || !keep_alive) return self->close();
        self->read();
      });
    }

    void close() {
      boost::beast::error_code ec;
      stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
    }

    boost::beast::tcp_stream stream_;
    boost::beast::flat_buffer buffer_;
    std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
    http_server& server_;
  };

  void accept() {
    acceptor_.async_accept(boost::asio::make_strand(io_), [this](boost::beast::error_code ec,
                                                                 boost::asio::ip::tcp::socket socket) {
      if (!ec) std::make_shared<session>(std::move(socket), *this)->read();
      if (ec != boost::asio::error::operation_aborted) accept();
    });
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  handler handler_;
  logger& log_;
  std::thread thread_;
};

}  // namespace interlook
