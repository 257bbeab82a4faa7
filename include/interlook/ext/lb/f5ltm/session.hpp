#pragma once
// lb.f5ltm's iControl REST session: one interlook::http::client, a token in
// X-F5-Auth-Token, and F5's error bodies turned into messages.
//
// Authentication. With `username`, the session logs in (POST
// /mgmt/shared/authn/login with the login provider, `tmos` by default) the
// first time it needs to, and sends the token it got on every request. With
// `authToken`, that token is used as given. A 401 on a request whose token
// is still the current one (an expired or revoked token) logs in again,
// once for every coroutine that saw it (the others wait for that login),
// and the request is sent again, once; a second 401 is an error. Without a
// username a 401 is an error: a fixed token cannot be renewed.
//
// Errors read "<what interlook was doing>: <F5's message> (HTTP <status>,
// <METHOD> <path>)", e.g.
//   creating pool /Common/web: 01020066:3: The requested Pool (/Common/web) already
//   exists in partition Common. (HTTP 409, POST /mgmt/tm/ltm/pool)
// No password or token ever appears in them (the client scrubs its secret
// headers; the login body is not echoed).

#include <interlook/ext/lb/f5ltm/async_mutex.hpp>
#include <interlook/extension/context.hpp>
#include <interlook/http/client.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace interlook::ext::lb::f5ltm_detail {

// F5 answered with an error status (or a transaction failed).
class f5_error : public std::runtime_error {
 public:
  f5_error(const std::string& what, unsigned status) : std::runtime_error(what), status_(status) {}
  unsigned status() const noexcept { return status_; }

 private:
  unsigned status_;
};

struct session_options {
  std::string endpoint;  // https://bigip.example.com (https:// is assumed without a scheme)
  std::string username;
  std::string password;
  std::string auth_provider;  // "tmos" when empty and a username is set
  std::string auth_token;     // used as given
  std::string ca_file;
  bool insecure_skip_verify = false;
  std::size_t max_connections = 8;
};

// "bigip.example.com" -> "https://bigip.example.com" (go-bigip's habit, which
// Go interlook's configs may rely on).
inline std::string normalise_endpoint(std::string url) {
  if (url.find("://") == std::string::npos) url = "https://" + url;
  while (url.size() > 8 && url.back() == '/') url.pop_back();
  return url;
}

// F5's error body {"code":409,"message":"...","errorStack":[]}: the message,
// else the body's first 200 bytes.
inline std::string f5_message(const std::string& body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (!ec && v.is_object()) {
    auto& o = v.get_object();
    if (auto it = o.find("message"); it != o.end() && it->value().is_string()) {
      std::string m(it->value().get_string());
      if (!m.empty()) return m;
    }
  }
  return http::detail::excerpt(body);
}

// The token of a login answer ({"token":{"token":"..."}}), or "" when it has
// none that can go in a header (visible ASCII only: a CR or LF would end
// the header line it is sent in).
inline std::string login_token(std::string_view body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return {};
  auto t = v.get_object().find("token");
  if (t == v.get_object().end() || !t->value().is_object()) return {};
  auto& to = t->value().get_object();
  auto s = to.find("token");
  if (s == to.end() || !s->value().is_string()) return {};
  std::string token(s->value().get_string());
  for (char c : token)
    if (c <= ' ' || c > '~') return {};
  return token;
}

class session {
 public:
  struct call {
    http::verb method = http::verb::get;
    std::string target;  // "/mgmt/tm/ltm/pool/~Common~web"
    std::string body;    // JSON, or empty
    std::string what;    // "creating pool /Common/web", for messages
    std::string transaction;  // X-F5-REST-Coordination-Id, or empty

    // A constructor, not an aggregate: GCC 12 destroys a braced aggregate
    // temporary twice when it is a coroutine's argument inside co_await.
    call() = default;
    call(http::verb m, std::string t, std::string b, std::string w, std::string tx = {})
        : method(m), target(std::move(t)), body(std::move(b)), what(std::move(w)), transaction(std::move(tx)) {}
  };

  session(boost::asio::any_io_executor ex, session_options o, extension_context& ctx)
      : opts_(std::move(o)), ctx_(ctx), client_(ex, normalise_endpoint(opts_.endpoint), client_options(opts_)), login_mutex_(ex) {
    if (!opts_.auth_token.empty()) {
      token_ = opts_.auth_token;
      client_.set_header("X-F5-Auth-Token", token_, true);
    }
    if (opts_.auth_provider.empty() && !opts_.username.empty()) opts_.auth_provider = "tmos";
  }

  std::string url() const { return client_.url(); }
  std::string describe() const { return client_.describe(); }
  // How many times a token was obtained by logging in (for tests and logs).
  std::uint64_t logins() const noexcept { return logins_; }

  // GET: the JSON answer, or nullopt for 404.
  boost::asio::awaitable<std::optional<boost::json::value>> get(std::string target, std::string what) {
    call c(http::verb::get, std::move(target), {}, std::move(what));
    auto r = co_await send(c);
    if (r.status == 404) co_return std::nullopt;
    if (r.status >= 400) throw failure(c, r);
    co_return parse(c, r);
  }

  // A write (or any call whose error status is an error): the JSON answer
  // (null for an empty body).
  boost::asio::awaitable<boost::json::value> run(call c) {
    auto r = co_await send(c);
    if (r.status >= 400) throw failure(c, r);
    co_return parse(c, r);
  }

  // The same, but a 404 is not an error (deleting what is already gone).
  boost::asio::awaitable<bool> run_unless_missing(call c) {
    auto r = co_await send(c);
    if (r.status == 404) co_return false;
    if (r.status >= 400) throw failure(c, r);
    co_return true;
  }

 private:
  static http::client_options client_options(const session_options& o) {
    http::client_options c;
    c.tls.ca_file = o.ca_file;
    c.tls.insecure_skip_verify = o.insecure_skip_verify;
    c.max_connections = o.max_connections == 0 ? 1 : o.max_connections;
    return c;
  }

  static std::string where(const call& c) {
    return std::string(boost::beast::http::to_string(c.method)) + " " + c.target;
  }

  static f5_error failure(const call& c, const http::response& r) {
    std::string msg = f5_message(r.body);
    return f5_error(c.what + ": " + msg + " (HTTP " + std::to_string(r.status) + ", " + where(c) + ")", r.status);
  }

  static boost::json::value parse(const call& c, const http::response& r) {
    if (r.body.empty()) return nullptr;
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    if (ec) throw std::runtime_error(c.what + ": the answer is not JSON (" + ec.message() + ", " + where(c) + ")");
    return v;
  }

  http::request make(const call& c) const {
    http::request req(c.method, c.target);
    if (!c.body.empty() || c.method == http::verb::post || c.method == http::verb::put || c.method == http::verb::patch)
      req.with_json(c.body.empty() ? "{}" : c.body);
    if (!c.transaction.empty()) req.with_header("X-F5-REST-Coordination-Id", c.transaction);
    req.throw_on_error_status = false;
    return req;
  }

  // One exchange, with the token session's rules (see the top of the file).
  boost::asio::awaitable<http::response> send(const call& c) {
    if (token_.empty() && can_login()) co_await login(generation_);
    auto generation = generation_;
    http::response r;
    try {
      r = co_await client_.request(make(c));
    } catch (const http::error& e) {
      throw std::runtime_error(c.what + ": " + e.what());
    }
    if (r.status != 401) co_return r;
    if (!can_login()) {
      throw f5_error(c.what + ": " + f5_message(r.body) + " (HTTP 401, " + where(c) +
                         "; authToken was refused and no username is set to log in again)",
                     401);
    }
    co_await login(generation);
    try {
      r = co_await client_.request(make(c));
    } catch (const http::error& e) {
      throw std::runtime_error(c.what + ": " + e.what());
    }
    co_return r;
  }

  bool can_login() const noexcept { return !opts_.username.empty(); }

  // Logs in unless someone did since `seen` was the token's generation.
  boost::asio::awaitable<void> login(std::uint64_t seen) {
    auto held = co_await login_mutex_.lock();
    if (generation_ != seen && !token_.empty()) co_return;  // another coroutine renewed it meanwhile
    boost::json::object body{{"username", opts_.username}, {"password", opts_.password},
                             {"loginProviderName", opts_.auth_provider}};
    http::request req = http::request::post("/mgmt/shared/authn/login", boost::json::serialize(body));
    req.throw_on_error_status = false;
    // A login carries no token (a stale one could get the login refused);
    // requests started meanwhile go without one, get 401 and wait for this.
    token_.clear();
    client_.remove_header("X-F5-Auth-Token");
    std::string what = "logging in to " + client_.url() + " as " + opts_.username + " (authProvider " + opts_.auth_provider + ")";
    http::response r;
    try {
      r = co_await client_.request(std::move(req));
    } catch (const http::error& e) {
      throw std::runtime_error(what + ": " + e.what());
    }
    if (r.status >= 400)
      throw f5_error(what + ": " + f5_message(r.body) + " (HTTP " + std::to_string(r.status) + ")", r.status);
    std::string token = login_token(r.body);
    if (token.empty()) throw std::runtime_error(what + ": the answer carries no usable token.token (visible ASCII)");
    token_ = std::move(token);
    client_.set_header("X-F5-Auth-Token", token_, true);
    ++generation_;
    ++logins_;
    ctx_.debug("logged in to " + client_.url() + " as " + opts_.username);
  }

  session_options opts_;
  extension_context& ctx_;
  http::client client_;
  async_mutex login_mutex_;
  std::string token_;
  std::uint64_t generation_ = 0;  // changes with each new token
  std::uint64_t logins_ = 0;
};

}  // namespace interlook::ext::lb::f5ltm_detail
