#pragma once
// interlook::http::response: what client::request() returns.

#include <interlook/http/headers.hpp>

#include <string>

namespace interlook::http {

struct response {
  unsigned status = 0;
  std::string reason;
  http::headers headers;
  std::string body;

  bool ok() const noexcept { return status >= 200 && status < 300; }
};

}  // namespace interlook::http
