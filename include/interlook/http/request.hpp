#pragma once
// interlook::http::request: what client::request() and stream_lines() send.

#include <interlook/http/headers.hpp>

#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace interlook::http {

using verb = boost::beast::http::verb;

inline constexpr std::string_view json_content_type = "application/json";

struct request {
  verb method = verb::get;
  // Path and query, appended to the endpoint's base path: "/api/v1/pods?watch=1".
  std::string target = "/";
  // Sent after the client's own (Host, User-Agent, Authorization, the
  // client's extra headers), replacing any of the same name.
  http::headers headers;
  std::string body;
  // Overrides client_options::request_timeout for request(), or
  // client_options::stream_idle_timeout for stream_lines().
  std::optional<std::chrono::nanoseconds> timeout;
  // A status >= 400 is thrown as http::error (kind status); false returns it.
  bool throw_on_error_status = true;

  request() = default;
  request(verb m, std::string t) : method(m), target(std::move(t)) {}

  static request get(std::string target) { return {verb::get, std::move(target)}; }
  static request head(std::string target) { return {verb::head, std::move(target)}; }
  static request delete_(std::string target) { return {verb::delete_, std::move(target)}; }
  static request post(std::string target, std::string json_body) { return request(verb::post, std::move(target)).with_json(std::move(json_body)); }
  static request put(std::string target, std::string json_body) { return request(verb::put, std::move(target)).with_json(std::move(json_body)); }
  // PATCH with an explicit content type: Kubernetes wants
  // application/merge-patch+json, application/json-patch+json, ...
  static request patch(std::string target, std::string body, std::string_view content_type) {
    return request(verb::patch, std::move(target)).with_body(std::move(body), content_type);
  }

  // The body, with Content-Type: application/json.
  request& with_json(std::string json) & { return with_body(std::move(json), json_content_type); }
  request&& with_json(std::string json) && { return std::move(with_json(std::move(json))); }
  request& with_body(std::string b, std::string_view content_type) & {
    body = std::move(b);
    headers.set("Content-Type", content_type);
    return *this;
  }
  request&& with_body(std::string b, std::string_view content_type) && { return std::move(with_body(std::move(b), content_type)); }
  request& with_header(std::string_view name, std::string_view value) & {
    headers.set(name, value);
    return *this;
  }
  request&& with_header(std::string_view name, std::string_view value) && { return std::move(with_header(name, value)); }
  request& with_timeout(std::chrono::nanoseconds t) & {
    timeout = t;
    return *this;
  }
  request&& with_timeout(std::chrono::nanoseconds t) && { return std::move(with_timeout(t)); }
};

}  // namespace interlook::http
