#pragma once
// Reads one HTTP/1.1 response from a detail::connection with Beast's parser:
// the header first, then the body piece by piece (client.hpp buffers it for
// request() and splits it into lines for stream_lines()).

#include <interlook/http/detail/transport.hpp>
#include <interlook/http/response.hpp>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace interlook::http::detail {

class response_reader {
 public:
  // body_limit: nullopt for none (streams).
  response_reader(connection& conn, std::size_t header_limit, std::optional<std::size_t> body_limit, bool head_request)
      : conn_(conn), header_limit_(header_limit), body_limit_(body_limit), head_request_(head_request) {
    reset();
  }

  // One read from the connection when the parser needs more, then one parse
  // step. Failure in `ec`: a transport error, a Beast parse error, or eof
  // when the server closed before sending a byte.
  asio::awaitable<void> step(error_code& ec) {
    namespace bhttp = boost::beast::http;
    if (need_read_) {
      auto space = buffer_.prepare(read_size);
      std::size_t n = co_await conn_.read_some(space, ec);
      if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
        if (received_ == 0) co_return;  // nothing of a response: eof
        ec = {};
        parser_->put_eof(ec);  // done (a close-delimited body), or partial_message
        co_return;
      }
      if (ec) co_return;
      buffer_.commit(n);
      received_ += n;
      need_read_ = false;
    }
    std::size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == bhttp::error::need_more) {
      ec = {};
      need_read_ = true;
      co_return;
    }
    if (ec) co_return;
    if (parser_->is_header_done()) {
      unsigned status = parser_->get().result_int();
      if (status >= 100 && status < 200 && status != 101) {  // interim response: the real one follows
        reset();
        need_read_ = buffer_.size() == 0;
        co_return;
      }
    }
    if (buffer_.size() == 0 || used == 0) need_read_ = true;
  }

  bool header_done() const noexcept { return parser_->is_header_done(); }
  bool done() const noexcept { return parser_->is_done(); }
  // Bytes read from the connection, for the retry-on-stale-connection rule.
  std::size_t received() const noexcept { return received_; }
  unsigned status() const { return parser_->get().result_int(); }
  // The body read so far; the caller may consume it (streams).
  std::string& body() { return parser_->get().body(); }
  // Whether the connection may carry another request.
  bool reusable() const { return parser_->is_done() && parser_->get().keep_alive() && buffer_.size() == 0; }

  // The response; the body is moved out.
  response take() {
    response r;
    auto& m = parser_->get();
    r.status = m.result_int();
    r.reason = std::string(m.reason());
    for (const auto& f : m.base()) r.headers.add(std::string_view(f.name_string().data(), f.name_string().size()), std::string_view(f.value().data(), f.value().size()));
    r.body = std::move(m.body());
    return r;
  }

 private:
  static constexpr std::size_t read_size = 16 * 1024;
  using parser_type = boost::beast::http::response_parser<boost::beast::http::string_body>;

  void reset() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(header_limit_));
    if (body_limit_) parser_->body_limit(static_cast<std::uint64_t>(*body_limit_));
    else parser_->body_limit(boost::none);
    parser_->eager(true);
    if (head_request_) parser_->skip(true);
  }

  connection& conn_;
  std::size_t header_limit_;
  std::optional<std::size_t> body_limit_;
  bool head_request_;
  std::optional<parser_type> parser_;
  boost::beast::flat_buffer buffer_;
  std::size_t received_ = 0;
  bool need_read_ = true;
};

}  // namespace interlook::http::detail
