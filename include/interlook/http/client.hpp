#pragma once
// interlook::http::client: the HTTP(S) client of every remote extension
// (Kubernetes, Docker, Consul, F5, ...). One client talks to one endpoint.
//
//   http::client api(executor, "https://10.0.0.1:6443", options);
//   http::response r = co_await api.request(http::request::get("/api/v1/pods"));
//   co_await api.stream_lines(http::request::get("/api/v1/pods?watch=1"),
//                             [&](std::string_view line) { ...; return true; });
//
// * Single-threaded: create it, call it and destroy it on the thread that
//   runs its executor (an extension's io_context); no thread per request.
//   Await its calls from coroutines running on that executor.
// * Keep-alive connections are reused; at most max_connections are open at
//   once (idle, busy or connecting) and further requests wait for one. A
//   reused connection that the server had closed while it sat idle is
//   replaced once, and the request repeated, when nothing of the response had
//   been received.
// * request(): the whole exchange (waiting for a connection, connecting,
//   sending, the full body) must finish within request_timeout, and the body
//   fit in max_body_bytes. A status >= 400 throws http::error (kind status,
//   status()) unless request::throw_on_error_status is false.
// * stream_lines(): for watch and event streams (chunked or close-delimited
//   bodies): on_line is called for each '\n'-terminated line as soon as it has
//   arrived (without the '\n' and a '\r' before it; a last unterminated line
//   too); the view is valid during the call only. Returning false stops the
//   stream (its connection is closed). stream_idle_timeout, when set, bounds
//   the wait for the header and for each next line; a line is bounded by
//   max_body_bytes.
// * Failures throw http::error (error.hpp): no secret in any message.
// * close() fails every request in flight (kind cancelled) and drops idle
//   connections; the client stays usable. The destructor closes.

#include <interlook/http/auth.hpp>
#include <interlook/http/client_options.hpp>
#include <interlook/http/detail/response_reader.hpp>
#include <interlook/http/detail/text.hpp>
#include <interlook/http/detail/transport.hpp>
#include <interlook/http/endpoint.hpp>
#include <interlook/http/error.hpp>
#include <interlook/http/request.hpp>
#include <interlook/http/response.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace interlook::http {

namespace detail {

// A request turned into bytes, with what messages about it need.
struct prepared {
  std::string method;  // "GET"
  std::string url;     // without credentials
  std::string wire;    // request line, header, body
  bool head = false;
  std::vector<std::string> secrets;  // secret values in this request's own headers and query
};

// A request waiting for a connection (max_connections reached).
struct pool_waiter {
  explicit pool_waiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  bool granted = false;              // handed a slot
  bool cancelled = false;            // client::close()
  std::shared_ptr<connection> conn;  // with an idle connection; null: open one
};

inline steady::time_point deadline_after(std::chrono::nanoseconds d) {
  if (d <= std::chrono::nanoseconds::zero()) return steady::time_point::max();
  return steady::now() + std::chrono::duration_cast<steady::duration>(d);
}

inline void cancel_timer(asio::steady_timer& t) noexcept {
  try {
    t.cancel();
  } catch (...) {
  }
}

struct client_state {
  struct extra_header {
    std::string name;
    std::string value;
    bool secret;
  };

  client_state(asio::any_io_executor executor, endpoint endpoint_, client_options options)
      : ex(std::move(executor)), ep(std::move(endpoint_)), opts(std::move(options)), creds(opts.credentials) {
    if (opts.max_connections == 0) throw error(error_kind::config, {}, {}, "max_connections must be at least 1");
    if (creds.empty() && !ep.user.empty()) creds = credentials::basic(ep.user, ep.password);
    bool tls = ep.scheme == endpoint::scheme_kind::https || (ep.scheme == endpoint::scheme_kind::docker_tcp && opts.tls.requested());
    if (tls) ssl.emplace(make_tls_context(opts.tls));
    std::string host = ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host;
    unsigned short port = ep.port;
    if (port == 0) {
      if (ep.scheme == endpoint::scheme_kind::docker_tcp) port = tls ? 2376 : 2375;
      else port = tls ? 443 : 80;
    }
    target.unix_socket = ep.is_unix();
    target.socket_path = ep.socket_path;
    target.host = ep.host;
    target.port = port;
    target.tls = ssl ? &*ssl : nullptr;
    target.verify = !opts.tls.insecure_skip_verify;
    target.verify_name = opts.tls.server_name.empty() ? ep.host : opts.tls.server_name;
    if (ep.is_unix()) {
      target.origin = ep.to_string();
      url_prefix = target.origin + ":";
      host_header = "localhost";
    } else {
      std::string scheme(ep.scheme_name());
      std::string shown = host;
      if (ep.port != 0 || ep.scheme == endpoint::scheme_kind::docker_tcp) shown += ":" + std::to_string(port);
      target.origin = scheme + "://" + shown;
      url_prefix = target.origin;
      host_header = host;
      if (port != (tls ? 443 : 80)) host_header += ":" + std::to_string(port);
    }
  }

  // ---- messages -------------------------------------------------------------

  std::vector<std::string> secrets(const prepared& p) const {
    std::vector<std::string> out = creds.secrets();
    if (!ep.password.empty()) out.push_back(ep.password);
    for (const auto& h : extra)
      if (h.secret) out.push_back(h.value);
    out.insert(out.end(), p.secrets.begin(), p.secrets.end());
    // Longest first, so that a secret containing another is replaced whole.
    std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    return out;
  }

  error make_error(const prepared& p, error_kind kind, const std::string& what, unsigned status = 0, std::string body = {}) const {
    auto s = secrets(p);
    std::string url = p.url;
    std::string message = p.method + " " + p.url + ": " + what;
    scrub(url, s);
    scrub(message, s);
    scrub(body, s);
    return error(kind, p.method, std::move(url), message, status, std::move(body));
  }

  error status_error(const prepared& p, response r) const {
    auto s = secrets(p);
    scrub(r.body, s);  // before the excerpt: a cut must not leave half a secret
    std::string what = std::to_string(r.status);
    if (!r.reason.empty()) what += " " + r.reason;
    if (auto ex = excerpt(r.body); !ex.empty()) what += ": " + ex;
    return make_error(p, error_kind::status, what, r.status, std::move(r.body));
  }

  // Why reading or writing failed. `phase`: "waiting for the response", ...;
  // `timeout_message`: what to say when the watchdog shut the connection.
  error exchange_error(const prepared& p, const connection& c, const error_code& ec, const std::string& phase, const std::string& timeout_message) const {
    namespace bhttp = boost::beast::http;
    if (c.timed_out()) return make_error(p, error_kind::timeout, timeout_message);
    if (c.aborted()) return make_error(p, error_kind::cancelled, "cancelled (client closed) while " + phase);
    if (ec == asio::error::operation_aborted) return make_error(p, error_kind::cancelled, "cancelled while " + phase);
    if (ec == bhttp::error::body_limit)
      return make_error(p, error_kind::body_too_large, "response body exceeds max_body_bytes (" + std::to_string(opts.max_body_bytes) + " bytes)");
    if (ec == bhttp::error::header_limit)
      return make_error(p, error_kind::protocol, "response header exceeds " + std::to_string(opts.max_header_bytes) + " bytes");
    if (ec == bhttp::error::partial_message) return make_error(p, error_kind::io, "connection closed by the server before the end of the response");
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category())
      return make_error(p, error_kind::protocol, "malformed response: " + ec.message());
    if (ec.category() == asio::error::get_ssl_category() || ec.category() == asio::ssl::error::get_stream_category())
      return make_error(p, error_kind::tls, "TLS error while " + phase + ": " + describe(ec));
    return make_error(p, error_kind::io, describe(ec) + " while " + phase);
  }

  // ---- requests -------------------------------------------------------------

  prepared prepare(const request& req) {
    prepared p;
    p.method = std::string(boost::beast::http::to_string(req.method));
    std::string path = req.target;
    if (path.empty() || (path.front() != '/' && path.front() != '?')) path.insert(0, "/");
    path.insert(0, ep.base_path);
    if (path.front() == '?') path.insert(0, "/");
    p.url = url_prefix + redact_target(path);
    p.head = req.method == verb::head;
    p.secrets = secret_query_values(path);
    for (const auto& [name, value] : req.headers)
      if (secret_parameter(name) || iequals(name, "cookie")) p.secrets.push_back(value);

    auto invalid = [&](const std::string& why) { return make_error(p, error_kind::invalid_request, why); };
    if (req.method == verb::unknown) throw invalid("unknown method");
    for (char c : path)
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) throw invalid("the target contains a space or a control character");

    auto has = [&](std::string_view name) {
      return req.headers.contains(name) || std::any_of(extra.begin(), extra.end(), [&](const extra_header& h) { return iequals(h.name, name); });
    };
    std::string authorization;
    if (!has("Authorization")) {
      try {
        authorization = creds.authorization();
      } catch (const error& e) {
        throw make_error(p, error_kind::auth, e.what());
      }
    }

    std::string& w = p.wire;
    w.reserve(256 + req.body.size());
    w += p.method;
    w += ' ';
    w += path;
    w += " HTTP/1.1\r\n";
    auto field = [&](std::string_view name, std::string_view value) {
      if (!valid_header_name(name)) throw invalid("invalid header name \"" + excerpt(name, 64) + "\"");
      if (!valid_header_value(value)) throw invalid("the value of header " + std::string(name) + " contains CR, LF or NUL");
      w += name;
      w += ": ";
      w += value;
      w += "\r\n";
    };
    if (!has("Host")) field("Host", host_header);
    if (!has("User-Agent") && !opts.user_agent.empty()) field("User-Agent", opts.user_agent);
    if (!authorization.empty()) field("Authorization", authorization);
    for (const auto& h : extra)
      if (!req.headers.contains(h.name)) field(h.name, h.value);
    for (const auto& [name, value] : req.headers) {
      if (iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding")) throw invalid(name + " is set by the client");
      field(name, value);
    }
    if (!req.body.empty() || req.method == verb::post || req.method == verb::put || req.method == verb::patch)
      field("Content-Length", std::to_string(req.body.size()));
    w += "\r\n";
    w += req.body;
    return p;
  }

  // ---- pool -----------------------------------------------------------------

  // Takes back a connection (null: only its slot); a reusable one goes to the
  // first waiter or the idle list.
  void give_back(std::shared_ptr<connection> c, bool reusable) noexcept {
    if (c) {
      std::erase(busy, c.get());
      try {
        c->disarm();
      } catch (...) {
        reusable = false;
      }
      if (!reusable || c->timed_out() || c->aborted()) {
        c->shut();
        c.reset();
      } else {
        c->reused = true;
      }
    }
    if (!waiters.empty()) {
      pool_waiter* w = waiters.front();
      waiters.pop_front();
      w->granted = true;
      w->conn = std::move(c);
      cancel_timer(w->timer);
      return;
    }
    if (c) {
      c->idle_since = steady::now();
      idle.push_back(std::move(c));
    } else {
      --open;
    }
  }

  void close() noexcept {
    for (auto& c : idle) c->shut();
    open -= idle.size();
    idle.clear();
    for (connection* c : busy) c->abort();
    for (pool_waiter* w : waiters) {
      w->cancelled = true;
      cancel_timer(w->timer);
    }
    waiters.clear();
  }

  asio::any_io_executor ex;
  endpoint ep;
  client_options opts;
  std::optional<asio::ssl::context> ssl;
  connect_target target;
  std::string url_prefix;  // "https://h:8443", "unix:///var/run/docker.sock:"
  std::string host_header;
  credentials creds;
  std::vector<extra_header> extra;

  std::vector<std::shared_ptr<connection>> idle;  // oldest first
  std::vector<connection*> busy;                  // leased (owned by their lease)
  std::size_t open = 0;                           // slots taken: idle + leased
  std::deque<pool_waiter*> waiters;
  std::size_t connects = 0;  // connections opened so far
};

// A slot of the pool, with or without a connection in it; gives both back on
// destruction. keep() makes the connection reusable.
class lease {
 public:
  explicit lease(std::shared_ptr<client_state> st, std::shared_ptr<connection> c = nullptr) : st_(std::move(st)) {
    if (c) set(std::move(c));
  }
  lease(lease&& o) noexcept : st_(std::move(o.st_)), conn_(std::move(o.conn_)), keep_(o.keep_) {}
  lease& operator=(lease&&) = delete;
  ~lease() { release(); }

  connection* get() const noexcept { return conn_.get(); }
  void set(std::shared_ptr<connection> c) {
    st_->busy.push_back(c.get());
    conn_ = std::move(c);
  }
  // Closes the connection but keeps the slot (for a new connection).
  void discard() noexcept {
    if (!conn_) return;
    std::erase(st_->busy, conn_.get());
    conn_->shut();
    conn_.reset();
  }
  void keep() noexcept { keep_ = true; }
  void release() noexcept {
    if (!st_) return;
    auto st = std::move(st_);
    st->give_back(std::move(conn_), keep_);
  }

 private:
  std::shared_ptr<client_state> st_;
  std::shared_ptr<connection> conn_;
  bool keep_ = false;
};

// A pool slot: an idle connection, a free slot, or the first one given back
// before `deadline`.
inline asio::awaitable<lease> acquire(std::shared_ptr<client_state> st, const prepared& p, steady::time_point deadline, std::string timeout_text) {
  auto now = steady::now();
  auto max_idle = st->opts.pool_idle_timeout;
  while (!st->idle.empty() && max_idle > std::chrono::nanoseconds::zero() && now - st->idle.front()->idle_since >= max_idle) {
    st->idle.front()->shut();
    st->idle.erase(st->idle.begin());
    --st->open;
  }
  if (!st->idle.empty()) {
    auto c = std::move(st->idle.back());
    st->idle.pop_back();
    co_return lease(st, std::move(c));
  }
  if (st->open < st->opts.max_connections) {
    ++st->open;
    co_return lease(st);
  }

  pool_waiter w(st->ex);
  w.timer.expires_at(deadline);
  st->waiters.push_back(&w);
  struct guard {
    client_state& st;
    pool_waiter& w;
    bool taken = false;
    ~guard() {
      if (!w.granted) std::erase(st.waiters, &w);
      else if (!taken) st.give_back(std::move(w.conn), w.conn != nullptr);
    }
  } g{*st, w};
  error_code ec;
  co_await w.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (w.granted) {
    g.taken = true;
    co_return lease(st, std::move(w.conn));
  }
  if (w.cancelled) throw st->make_error(p, error_kind::cancelled, "cancelled (client closed) while waiting for a free connection");
  if (!ec)
    throw st->make_error(p, error_kind::timeout,
                         timeout_text + " waiting for a free connection (max_connections " + std::to_string(st->opts.max_connections) + ", all busy)");
  throw st->make_error(p, error_kind::cancelled, "cancelled while waiting for a free connection");
}

// Opens a connection in the lease's slot when it has none. `deadline` and
// `deadline_text` are the request's; the connect timeout applies when earlier.
inline asio::awaitable<void> connect_lease(std::shared_ptr<client_state> st, lease& l, const prepared& p, steady::time_point deadline,
                                           const std::string& deadline_text) {
  if (l.get()) co_return;
  auto c = make_connection(st->ex, st->target);
  l.set(c);
  auto connect_deadline = deadline_after(st->opts.connect_timeout);
  std::string text = "after " + format_duration(st->opts.connect_timeout);
  if (deadline < connect_deadline) {
    connect_deadline = deadline;
    text = "(" + deadline_text + ")";
  }
  c->expire_at(connect_deadline);
  std::optional<transport_failure> failure;
  try {
    co_await c->connect(st->target, text);
  } catch (transport_failure& f) {
    failure = std::move(f);
  }
  if (failure) throw st->make_error(p, failure->kind, failure->message);
  ++st->connects;
}

// Whether a failed exchange on `c` may be repeated on a new connection.
inline bool retry_on_new_connection(int attempt, const connection& c, std::size_t received, const error_code& ec) {
  return attempt == 0 && c.reused && received == 0 && !c.timed_out() && !c.aborted() && stale_connection_error(ec);
}

inline asio::awaitable<response> run_request(std::shared_ptr<client_state> st, request req) {
  auto timeout = req.timeout.value_or(st->opts.request_timeout);
  auto deadline = deadline_after(timeout);
  std::string timeout_text = "request timed out after " + format_duration(timeout);
  prepared p = st->prepare(req);
  try {
    lease l = co_await acquire(st, p, deadline, timeout_text);
    for (int attempt = 0;; ++attempt) {
      co_await connect_lease(st, l, p, deadline, timeout_text);
      connection& c = *l.get();
      c.expire_at(deadline);
      error_code ec;
      co_await c.write(asio::buffer(p.wire), ec);
      bool sent = !ec;
      response_reader rd(c, st->opts.max_header_bytes, st->opts.max_body_bytes, p.head);
      while (!ec && !rd.done()) co_await rd.step(ec);
      if (ec) {
        if (retry_on_new_connection(attempt, c, rd.received(), ec)) {
          l.discard();
          continue;
        }
        std::string phase = !sent                ? "sending the request"
                            : rd.received() == 0 ? "waiting for the response"
                            : rd.header_done()   ? "reading the response body"
                                                 : "reading the response header";
        throw st->exchange_error(p, c, ec, phase, timeout_text + " while " + phase);
      }
      if (rd.reusable()) l.keep();
      response r = rd.take();
      l.release();
      if (req.throw_on_error_status && r.status >= 400) throw st->status_error(p, std::move(r));
      co_return r;
    }
  } catch (const boost::system::system_error& e) {
    // Asio's own cancellation check (this_coro::throw_if_cancelled).
    throw st->make_error(p, e.code() == asio::error::operation_aborted ? error_kind::cancelled : error_kind::io, e.code().message());
  }
}

inline asio::awaitable<void> run_stream(std::shared_ptr<client_state> st, request req, std::function<bool(std::string_view)> on_line) {
  auto idle = req.timeout.value_or(st->opts.stream_idle_timeout);
  std::string idle_text = "after " + format_duration(idle);
  prepared p = st->prepare(req);
  try {
    lease l = co_await acquire(st, p, deadline_after(idle), "stream timed out " + idle_text);
    std::optional<response_reader> rd;
    for (int attempt = 0;; ++attempt) {
      co_await connect_lease(st, l, p, deadline_after(idle), "stream timed out " + idle_text);
      connection& c = *l.get();
      c.expire_at(deadline_after(idle));
      error_code ec;
      co_await c.write(asio::buffer(p.wire), ec);
      bool sent = !ec;
      rd.emplace(c, st->opts.max_header_bytes, std::nullopt, false);
      while (!ec && !rd->header_done()) co_await rd->step(ec);
      if (!ec) break;
      if (retry_on_new_connection(attempt, c, rd->received(), ec)) {
        l.discard();
        continue;
      }
      throw st->exchange_error(p, c, ec, !sent ? "sending the request" : rd->received() == 0 ? "waiting for the response" : "reading the response header",
                               "no response header " + idle_text + " (stream idle timeout)");
    }
    connection& c = *l.get();
    error_code ec;
    if (req.throw_on_error_status && rd->status() >= 400) {
      constexpr std::size_t error_body_limit = 64 * 1024;
      while (!ec && !rd->done() && rd->body().size() <= error_body_limit) co_await rd->step(ec);
      throw st->status_error(p, rd->take());
    }
    std::size_t scanned = 0;  // body[0, scanned) holds no '\n'
    for (;;) {
      std::string& body = rd->body();
      std::size_t start = 0;
      bool delivered = false;
      for (auto nl = body.find('\n', scanned); nl != std::string::npos; nl = body.find('\n', start)) {
        std::string_view line(body.data() + start, nl - start);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (!delivered) c.disarm();  // the caller's time is not the server's
        delivered = true;
        start = nl + 1;
        if (!on_line(line)) co_return;  // the lease closes the connection
        if (c.aborted()) throw st->make_error(p, error_kind::cancelled, "cancelled (client closed) while reading the stream");
      }
      body.erase(0, start);
      scanned = body.size();
      if (body.size() > st->opts.max_body_bytes)
        throw st->make_error(p, error_kind::body_too_large, "a streamed line exceeds max_body_bytes (" + std::to_string(st->opts.max_body_bytes) + " bytes)");
      if (rd->done()) {
        if (!body.empty()) {
          std::string last = std::move(body);
          body.clear();
          std::string_view line(last);
          if (line.back() == '\r') line.remove_suffix(1);
          on_line(line);
        }
        if (rd->reusable()) l.keep();
        co_return;
      }
      if (delivered) c.expire_at(deadline_after(idle));
      co_await rd->step(ec);
      if (ec) throw st->exchange_error(p, c, ec, "reading the stream", "stream idle: no complete line " + idle_text + " (stream idle timeout)");
    }
  } catch (const boost::system::system_error& e) {
    throw st->make_error(p, e.code() == asio::error::operation_aborted ? error_kind::cancelled : error_kind::io, e.code().message());
  }
}

}  // namespace detail

class client {
 public:
  // Throws http::error (kind config) for a bad URL or TLS files.
  client(boost::asio::any_io_executor executor, std::string_view url, client_options options = {})
      : client(std::move(executor), endpoint::parse(url), std::move(options)) {}
  client(boost::asio::any_io_executor executor, endpoint ep, client_options options = {})
      : st_(std::make_shared<detail::client_state>(std::move(executor), std::move(ep), std::move(options))) {}
  client(boost::asio::io_context& io, std::string_view url, client_options options = {}) : client(io.get_executor(), url, std::move(options)) {}

  client(client&&) noexcept = default;
  client& operator=(client&& o) noexcept {
    if (this != &o) {
      close();
      st_ = std::move(o.st_);
    }
    return *this;
  }
  ~client() { close(); }

  // One request; the whole response. See the top of this file.
  boost::asio::awaitable<response> request(http::request req) { return detail::run_request(st_, std::move(req)); }

  // A watch or event stream, line by line. See the top of this file.
  boost::asio::awaitable<void> stream_lines(http::request req, std::function<bool(std::string_view line)> on_line) {
    return detail::run_stream(st_, std::move(req), std::move(on_line));
  }

  // An extra header on every later request (X-API-Key, X-F5-Auth-Token,
  // X-Consul-Token, ...), replacing one of the same name. A secret value is
  // scrubbed from error messages. A request's own header of the same name wins.
  void set_header(std::string name, std::string value, bool secret = true) {
    remove_header(name);
    st_->extra.push_back({std::move(name), std::move(value), secret});
  }
  void remove_header(std::string_view name) {
    std::erase_if(st_->extra, [&](const auto& h) { return detail::iequals(h.name, name); });
  }
  void set_credentials(http::credentials c) { st_->creds = std::move(c); }

  // Fails every request in flight (error_kind::cancelled) and closes idle
  // connections. The client remains usable.
  void close() noexcept {
    if (st_) st_->close();
  }

  // "https://h:8443/api", "unix:///var/run/docker.sock": no credentials.
  std::string url() const { return st_->target.origin + (st_->ep.is_unix() ? "" : st_->ep.base_path); }
  bool uses_tls() const noexcept { return st_->ssl.has_value(); }
  // "https://h:8443/api, TLS verify (CA /etc/ca.pem), auth bearer token from /f,
  // headers X-API-Key, max_connections 4": no secret.
  std::string describe() const {
    std::string s = url();
    if (uses_tls()) s += ", TLS " + st_->opts.tls.describe();
    s += ", auth " + st_->creds.describe();
    if (!st_->extra.empty()) {
      s += ", headers";
      for (std::size_t i = 0; i < st_->extra.size(); ++i) s += (i ? ", " : " ") + st_->extra[i].name;
    }
    s += ", max_connections " + std::to_string(st_->opts.max_connections);
    return s;
  }

  // Pool state, for metrics and tests.
  std::size_t open_connections() const noexcept { return st_->open; }
  std::size_t idle_connections() const noexcept { return st_->idle.size(); }
  std::size_t connections_opened() const noexcept { return st_->connects; }

  boost::asio::any_io_executor get_executor() const { return st_->ex; }

 private:
  std::shared_ptr<detail::client_state> st_;
};

}  // namespace interlook::http
