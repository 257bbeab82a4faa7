#pragma once
// interlook::http::blocking_client: http::client for plain synchronous code.
// It owns an io_context that runs on the calling thread, inside each call, and
// only then; same requests, options, errors and pool as http::client.
//
//   http::blocking_client consul("http://127.0.0.1:8500");
//   consul.set_header("X-Consul-Token", token);
//   auto r = consul.request(http::request::get("/v1/catalog/services"));
//
// Not for use from inside a running io_context's handlers (it would block
// that thread); use http::client there.

#include <interlook/http/client.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace interlook::http {

class blocking_client {
 public:
  // Throws http::error (kind config) for a bad URL or TLS files.
  explicit blocking_client(std::string_view url, client_options options = {}) : io_(1), client_(io_.get_executor(), url, std::move(options)) {}
  blocking_client(endpoint ep, client_options options = {}) : io_(1), client_(io_.get_executor(), std::move(ep), std::move(options)) {}

  response request(http::request req) { return run(client_.request(std::move(req))); }
  void stream_lines(http::request req, std::function<bool(std::string_view line)> on_line) {
    run(client_.stream_lines(std::move(req), std::move(on_line)));
  }

  void set_header(std::string name, std::string value, bool secret = true) { client_.set_header(std::move(name), std::move(value), secret); }
  void remove_header(std::string_view name) { client_.remove_header(name); }
  void set_credentials(http::credentials c) { client_.set_credentials(std::move(c)); }
  void close() noexcept { client_.close(); }

  std::string url() const { return client_.url(); }
  std::string describe() const { return client_.describe(); }
  bool uses_tls() const noexcept { return client_.uses_tls(); }
  std::size_t open_connections() const noexcept { return client_.open_connections(); }
  std::size_t idle_connections() const noexcept { return client_.idle_connections(); }
  std::size_t connections_opened() const noexcept { return client_.connections_opened(); }

  // The asynchronous client underneath and its io_context.
  http::client& async_client() noexcept { return client_; }
  boost::asio::io_context& context() noexcept { return io_; }

 private:
  template <class T>
  T run(boost::asio::awaitable<T> op) {
    std::exception_ptr failure;
    std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> result;
    io_.restart();
    if constexpr (std::is_void_v<T>) {
      boost::asio::co_spawn(io_, std::move(op), [&](std::exception_ptr e) { failure = e; });
    } else {
      boost::asio::co_spawn(io_, std::move(op), [&](std::exception_ptr e, T value) {
        failure = e;
        if (!e) result.emplace(std::move(value));
      });
    }
    io_.run();
    if (failure) std::rethrow_exception(failure);
    if constexpr (!std::is_void_v<T>) return std::move(*result);
  }

  boost::asio::io_context io_;
  http::client client_;
};

}  // namespace interlook::http
