#pragma once
// A small HTTP/1.1 server on Boost.Beast for the API: one I/O thread,
// keep-alive, pipelining (answers in order), bounded request sizes, a cap on
// connections and timeouts (http_limits). Routing is the caller's.

#include <interlook/support/log.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace interlook {

struct http_reply {
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

namespace detail {
// The length of the well-formed UTF-8 sequence at s[i], or 0.
inline std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  unsigned char c1 = byte(i + 1);
  if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F))
    return 0;  // overlong, a surrogate, or past U+10FFFF
  return n;
}
}  // namespace detail

// {"error": "..."} with a status. Control characters are left out and bytes
// that are not UTF-8 (a request's path may hold any) become U+FFFD, so that
// the body is always valid JSON.
inline http_reply error_reply(unsigned status, std::string_view what) {
  http_reply r;
  r.status = status;
  r.body = "{\"error\":\"";
  for (std::size_t i = 0; i < what.size();) {
    char c = what[i];
    std::size_t n = detail::utf8_sequence(what, i);
    if (n == 0) {
      r.body += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    if (n == 1) {
      if (c == '"' || c == '\\') r.body += '\\';
      if (static_cast<unsigned char>(c) >= 0x20) r.body += c;
    } else {
      r.body.append(what.substr(i, n));
    }
    i += n;
  }
  r.body += "\"}";
  return r;
}

// What one client may hold of the server. The defaults are the daemon's.
struct http_limits {
  // Open connections at most. At the cap, a new connection takes the place
  // of the one that has waited longest for (the rest of) a request header;
  // when every connection is busy with a request, the new one is closed.
  std::size_t max_connections = 1024;
  // A request's header must be complete this long after its first byte (for
  // the first request of a connection: after the connection opened); its
  // body gets as long again, and a response as long to be taken.
  std::chrono::milliseconds header_timeout = std::chrono::seconds(10);
  // A keep-alive connection may wait this long for its next request.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  // A request the handler has not answered this long after it was read is
  // answered 503 (the handler's late answer is dropped).
  std::chrono::milliseconds handler_timeout = std::chrono::seconds(5);
};

class http_server {
 public:
  // The answer to one request: called once, from any thread (the core's,
  // say); the I/O thread goes on serving other connections meanwhile.
  using respond = std::function<void(http_reply)>;
  // (method, target, respond). Runs on the server's I/O thread; it may
  // answer at once or later.
  using handler = std::function<void(std::string_view method, std::string_view target, respond)>;

  // A handler that answers at once: (method, target) -> reply.
  template <class F>
    requires std::is_invocable_r_v<http_reply, F&, std::string_view, std::string_view>
  static handler immediate(F f) {
    return [f = std::move(f)](std::string_view method, std::string_view target, respond done) mutable {
      done(f(method, target));
    };
  }

  static constexpr std::size_t max_header_bytes = 8 * 1024;
  static constexpr std::size_t max_body_bytes = 64 * 1024;

  // Binds at once, so that a port in use is a start-up error. An empty
  // address means every interface; port 0 picks a free port (tests).
  template <class F>
    requires std::is_invocable_r_v<http_reply, F&, std::string_view, std::string_view>
  http_server(const std::string& address, std::uint16_t port, F f, logger& log, http_limits limits = {})
      : http_server(address, port, immediate(std::move(f)), log, limits) {}

  http_server(const std::string& address, std::uint16_t port, handler h, logger& log, http_limits limits = {})
      : limits_(limits), acceptor_(io_), retry_accept_(io_), handler_(std::move(h)), log_(log) {
    mailbox_->io = &io_;
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
  ~http_server() {
    {
      std::lock_guard lock(mailbox_->mutex);
      mailbox_->io = nullptr;  // late answers are dropped from here on
    }
    stop();
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  const http_limits& limits() const noexcept { return limits_; }
  // Connections open now (not counting those closed to make room).
  std::size_t connections() const noexcept { return connections_.load(); }

  // Serves an already connected stream socket exactly like an accepted
  // connection (the cap included) and takes ownership of it: one end of a
  // socketpair lets tests and fuzz/api_request drive a session without TCP.
  void serve_connection(int fd) {
    boost::asio::ip::tcp::socket socket(boost::asio::make_strand(io_));
    boost::system::error_code ec;
    socket.assign(acceptor_.local_endpoint().protocol(), fd, ec);
    if (ec) {
      ::close(fd);
      throw std::runtime_error("API: cannot serve descriptor " + std::to_string(fd) + ": " + ec.message());
    }
    boost::asio::post(io_, [this, socket = std::move(socket)]() mutable { admit(std::move(socket)); });
  }

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
    session(boost::asio::ip::tcp::socket s, http_server& server)
        : stream_(std::move(s)), pending_(stream_.get_executor()), server_(server) {
      ++server_.connections_;
    }
    ~session() {
      stop_waiting();
      if (!evicted_) --server_.connections_;
    }

    // The first request's header is due header_timeout after the connection opened.
    void start() { read_header(); }

    // Closed to make room for a new connection (runs on the I/O thread).
    void evict() {
      stop_waiting();
      evicted_ = true;
      --server_.connections_;
      boost::beast::error_code ec;
      stream_.socket().close(ec);  // the pending read ends with operation_aborted
    }

   private:
    // Between two requests: a pipelined request is read at once; otherwise
    // the connection may idle until idle_timeout for the next one's first byte.
    void next_request() {
      if (buffer_.size() > 0) return read_header();
      start_waiting();
      stream_.expires_after(server_.limits_.idle_timeout);
      stream_.async_read_some(buffer_.prepare(1024),
                              [self = shared_from_this()](boost::beast::error_code ec, std::size_t n) {
                                self->buffer_.commit(n);
                                if (ec || n == 0) return self->close();
                                self->read_header();
                              });
    }

    void read_header() {
      start_waiting();
      parser_.emplace();
      parser_->header_limit(max_header_bytes);
      parser_->body_limit(max_body_bytes);
      stream_.expires_after(server_.limits_.header_timeout);
      boost::beast::http::async_read_header(stream_, buffer_, *parser_,
                                            [self = shared_from_this()](boost::beast::error_code ec, std::size_t) {
                                              self->on_header(ec);
                                            });
    }

    void on_header(boost::beast::error_code ec) {
      stop_waiting();
      if (ec || parser_->is_done()) return on_read(ec);
      stream_.expires_after(server_.limits_.header_timeout);
      boost::beast::http::async_read(stream_, buffer_, *parser_,
                                     [self = shared_from_this()](boost::beast::error_code ec, std::size_t) {
                                       self->on_read(ec);
                                     });
    }

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
      // One answer wins: the handler's, or the 503 of the timeout.
      auto answered = std::make_shared<std::atomic<bool>>(false);
      unsigned version = req.version();
      bool keep_alive = req.keep_alive();
      pending_.expires_after(server_.limits_.handler_timeout);
      pending_.async_wait([self = shared_from_this(), answered, version, keep_alive](boost::beast::error_code ec) {
        if (ec || answered->exchange(true)) return;
        self->reply(error_reply(503, "the core is busy; try again"), version, keep_alive);
      });
      // Called on another thread, maybe after the server is gone: it holds
      // the session weakly (the deadline's wait keeps it alive meanwhile),
      // posts only while the server's io_context exists, and captures
      // nothing of it (an executor, even a strand, outliving its io_context
      // is destroyed into freed memory). The server's one I/O thread runs
      // what is posted: the session is still touched by that thread only.
      http_server::respond done = [weak = weak_from_this(), mailbox = server_.mailbox_, answered, version,
                                   keep_alive](http_reply r) {
        std::lock_guard lock(mailbox->mutex);
        if (!mailbox->io) return;
        boost::asio::post(*mailbox->io, [weak, answered, version, keep_alive, r = std::move(r)]() mutable {
          auto self = weak.lock();
          if (!self || answered->exchange(true)) return;
          self->pending_.cancel();
          self->reply(std::move(r), version, keep_alive);
        });
      };
      try {
        server_.handler_(req.method_string(), req.target(), done);
      } catch (const std::exception& e) {
        server_.log_.error(std::string("API handler failed: ") + e.what());
        done(error_reply(500, "internal error"));
      }
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
      stream_.expires_after(server_.limits_.header_timeout);
      http::async_write(stream_, *res, [self = shared_from_this(), res, keep_alive](boost::beast::error_code ec, std::size_t) {
        if (ec || !keep_alive) return self->close();
        self->next_request();
      });
    }

    // Ends the connection as a lingering close: our side is shut, then what
    // the client still sends (the rest of an oversized body, say) is read and
    // dropped until it closes too, for at most linger_time and linger_bytes.
    // Closing with unread input would make the kernel reset the connection,
    // and a client could lose the 413 it was sent.
    void close() {
      boost::beast::error_code ec;
      stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
      if (ec) return;
      buffer_.clear();
      stream_.expires_after(linger_time);
      drain(0);
    }
    void drain(std::size_t dropped) {
      stream_.async_read_some(buffer_.prepare(16384), [self = shared_from_this(), dropped](boost::beast::error_code ec, std::size_t n) {
        if (ec || n == 0 || dropped + n > linger_bytes) return;  // the session ends: the socket closes
        self->buffer_.clear();
        self->drain(dropped + n);
      });
    }
    static constexpr auto linger_time = std::chrono::seconds(1);
    static constexpr std::size_t linger_bytes = 1 << 20;

    // Waiting for (the rest of) a request header: what the cap may close.
    void start_waiting() {
      if (waiting_) return;
      waiting_ = true;
      place_ = server_.waiting_.insert(server_.waiting_.end(), this);
    }
    void stop_waiting() {
      if (!waiting_) return;
      waiting_ = false;
      server_.waiting_.erase(place_);
    }

    boost::beast::tcp_stream stream_;
    boost::asio::steady_timer pending_;  // the handler's deadline
    boost::beast::flat_buffer buffer_;
    std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
    http_server& server_;
    bool waiting_ = false;
    bool evicted_ = false;
    std::list<session*>::iterator place_;
  };

  void accept() {
    acceptor_.async_accept(boost::asio::make_strand(io_), [this](boost::beast::error_code ec,
                                                                 boost::asio::ip::tcp::socket socket) {
      if (ec == boost::asio::error::operation_aborted) return;
      if (ec) {
        // Out of descriptors, say: try again shortly instead of spinning.
        log_.warn("API: cannot accept a connection: " + ec.message());
        retry_accept_.expires_after(std::chrono::milliseconds(100));
        retry_accept_.async_wait([this](boost::beast::error_code e) {
          if (!e) accept();
        });
        return;
      }
      admit(std::move(socket));
      accept();
    });
  }

  // Runs on the I/O thread.
  void admit(boost::asio::ip::tcp::socket socket) {
    if (connections_.load() >= limits_.max_connections) {
      if (waiting_.empty()) {  // every connection is busy with a request
        boost::beast::error_code ec;
        socket.close(ec);
        return;
      }
      waiting_.front()->evict();
    }
    std::make_shared<session>(std::move(socket), *this)->start();
  }

  // Where answers from other threads are posted: io_ while it exists.
  struct mailbox {
    std::mutex mutex;
    boost::asio::io_context* io = nullptr;
  };

  // Declared before io_: sessions destroyed with io_ still reach them.
  std::shared_ptr<mailbox> mailbox_ = std::make_shared<mailbox>();
  http_limits limits_;
  std::atomic<std::size_t> connections_{0};
  std::list<session*> waiting_;  // oldest first; I/O thread only
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_accept_;
  handler handler_;
  logger& log_;
  std::thread thread_;
};

}  // namespace interlook
