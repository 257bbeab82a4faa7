// The HTTP client's light parts, without Asio: endpoints, headers, requests,
// credentials, TLS options, errors and the text helpers behind messages.

#include <interlook/http/auth.hpp>
#include <interlook/http/endpoint.hpp>
#include <interlook/http/error.hpp>
#include <interlook/http/headers.hpp>
#include <interlook/http/request.hpp>
#include <interlook/http/response.hpp>
#include <interlook/http/tls_options.hpp>
#include <interlook/http/url.hpp>

#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace http = interlook::http;
using namespace std::chrono_literals;
using http::endpoint;

namespace {

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

std::string parse_error(std::string_view url) {
  try {
    endpoint::parse(url);
  } catch (const http::error& e) {
    CHECK(e.kind() == http::error_kind::config);
    return e.what();
  }
  FAIL("parsed: " << url);
  return {};
}

}  // namespace

TEST_CASE("endpoints: schemes, ports, base paths, unix sockets") {
  auto e = endpoint::parse("https://k8s.example:6443/api/");
  CHECK(e.scheme == endpoint::scheme_kind::https);
  CHECK(e.host == "k8s.example");
  CHECK(e.port == 6443);
  CHECK(e.base_path == "/api");
  CHECK(e.to_string() == "https://k8s.example:6443/api");

  e = endpoint::parse("HTTP://10.0.0.1");
  CHECK(e.scheme == endpoint::scheme_kind::http);
  CHECK(e.port == 0);
  CHECK(e.base_path.empty());
  CHECK(e.to_string() == "http://10.0.0.1");

  e = endpoint::parse("https://[fd00::1]:8443");
  CHECK(e.host == "fd00::1");
  CHECK(e.port == 8443);
  CHECK(e.host_port() == "[fd00::1]:8443");

  e = endpoint::parse("tcp://docker.example:2376");
  CHECK(e.scheme == endpoint::scheme_kind::docker_tcp);
  CHECK(e.to_string() == "tcp://docker.example:2376");

  e = endpoint::parse("unix:///var/run/docker.sock");
  CHECK(e.is_unix());
  CHECK(e.socket_path == "/var/run/docker.sock");
  CHECK(e.to_string() == "unix:///var/run/docker.sock");

  e = endpoint::parse("https://admin:p%40ss@bigip.example/mgmt");
  CHECK(e.user == "admin");
  CHECK(e.password == "p@ss");
  CHECK(e.to_string() == "https://bigip.example/mgmt");
}

TEST_CASE("bad endpoints are refused with a reason, without their credentials") {
  CHECK(contains(parse_error("ftp://h"), "unsupported scheme \"ftp\""));
  CHECK(contains(parse_error("localhost:8080"), "expected scheme://"));
  CHECK(contains(parse_error("http://:80"), "missing host"));
  CHECK(contains(parse_error("http://h:99999"), "port is out of range"));
  CHECK(contains(parse_error("http://h:8x"), "port is not a number"));
  CHECK(contains(parse_error("http://h:"), "empty port"));
  CHECK(contains(parse_error("http://fd00::1"), "IPv6 host must be written in brackets"));
  CHECK(contains(parse_error("http://h/api?x=1"), "no query"));
  CHECK(contains(parse_error("unix://relative.sock"), "unix:///absolute/path"));
  auto what = parse_error("htp://admin:topsecret@h");
  CHECK(what == "invalid endpoint \"htp://***@h\": unsupported scheme \"htp\"; expected http, https, unix or tcp");
  CHECK_FALSE(contains(parse_error("http://admin:topsecret@h:x"), "topsecret"));
}

TEST_CASE("headers: case-insensitive names, order kept") {
  http::headers h{{"Content-Type", "application/json"}};
  h.add("Set-Cookie", "a=1").add("set-cookie", "b=2");
  CHECK(h.get("content-type") == "application/json");
  CHECK(h.get_all("SET-COOKIE") == std::vector<std::string_view>{"a=1", "b=2"});
  CHECK_FALSE(h.get("X-Missing"));
  CHECK(h.get_or("X-Missing", "none") == "none");
  h.set("SET-COOKIE", "c=3");
  CHECK(h.get_all("set-cookie") == std::vector<std::string_view>{"c=3"});
  CHECK(h.erase("Content-type") == 1);
  CHECK(h.size() == 1);
}

TEST_CASE("requests: helpers for JSON and other bodies") {
  auto r = http::request::post("/v1/services", R"({"a":1})");
  CHECK(r.method == http::verb::post);
  CHECK(r.headers.get("Content-Type") == "application/json");
  CHECK(r.body == R"({"a":1})");
  r = http::request::patch("/api/v1/namespaces/x", "{}", "application/merge-patch+json").with_timeout(2s);
  CHECK(r.headers.get("content-type") == "application/merge-patch+json");
  CHECK(r.timeout == std::chrono::nanoseconds(2s));
  CHECK(http::request::delete_("/x").method == http::verb::delete_);
  http::response resp;
  resp.status = 204;
  CHECK(resp.ok());
}

TEST_CASE("credentials describe themselves without secrets") {
  auto basic = http::credentials::basic("admin", "pa55word");
  CHECK(basic.describe() == "basic (user admin)");
  CHECK(basic.authorization() == "Basic YWRtaW46cGE1NXdvcmQ=");
  auto bearer = http::credentials::bearer("t0ken-value");
  CHECK(bearer.describe() == "bearer token");
  CHECK(bearer.authorization() == "Bearer t0ken-value");
  CHECK(http::credentials().describe() == "none");
  CHECK(http::credentials().authorization().empty());
  auto secrets = basic.secrets();
  CHECK(std::find(secrets.begin(), secrets.end(), "pa55word") != secrets.end());
  CHECK(std::find(secrets.begin(), secrets.end(), "YWRtaW46cGE1NXdvcmQ=") != secrets.end());
}

TEST_CASE("a token file is re-read when it changes, trimmed, and its errors name the file only") {
  auto dir = std::filesystem::temp_directory_path() / ("interlook-token-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / "token").string();
  std::ofstream(path) << "  first-token\n";
  auto c = http::credentials::bearer_file(path);
  CHECK(c.describe() == "bearer token from " + path);
  CHECK(c.authorization() == "Bearer first-token");
  std::ofstream(dir / "next") << "second-token-longer\n";
  std::filesystem::rename(dir / "next", path);
  CHECK(c.authorization() == "Bearer second-token-longer");
  auto secrets = c.secrets();  // the previous token stays scrubbed
  CHECK(std::find(secrets.begin(), secrets.end(), "first-token") != secrets.end());
  CHECK(std::find(secrets.begin(), secrets.end(), "second-token-longer") != secrets.end());
  std::ofstream(path, std::ios::trunc) << "\n";
  try {
    c.authorization();
    FAIL("an empty token file was accepted");
  } catch (const http::error& e) {
    CHECK(e.kind() == http::error_kind::auth);
    CHECK(std::string(e.what()) == "bearer token file " + path + " is empty");
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("TLS options: the tcp:// rule and descriptions") {
  http::tls_options t;
  CHECK_FALSE(t.requested());
  CHECK(t.describe() == "verify (system CAs)");
  t.ca_file = "/certs/ca.pem";
  CHECK(t.requested());
  t.cert_file = "/certs/cert.pem";
  CHECK(t.describe() == "verify (CA /certs/ca.pem, client cert /certs/cert.pem)");
  http::tls_options insecure;
  insecure.insecure_skip_verify = true;
  CHECK(insecure.requested());
  CHECK(insecure.describe() == "NO VERIFICATION (insecure_skip_verify)");
}

TEST_CASE("message helpers: durations, excerpts, redaction, scrubbing, base64") {
  namespace d = interlook::http::detail;
  CHECK(d::format_duration(2s) == "2s");
  CHECK(d::format_duration(1500ms) == "1.5s");
  CHECK(d::format_duration(300ms) == "300ms");
  CHECK(d::format_duration(250us) == "250us");
  CHECK(d::format_duration(90s) == "1m30s");
  CHECK(d::format_duration(2h) == "2h");

  CHECK(d::excerpt("short\nbody\n") == "short body");
  auto long_body = std::string(300, 'a');
  CHECK(d::excerpt(long_body) == std::string(197, 'a') + "...");
  CHECK(d::excerpt(long_body).size() == 200);
  std::string utf8 = std::string(196, 'a') + "\xC3\xA9\xC3\xA9";  // é at the cut
  CHECK(d::excerpt(utf8 + std::string(10, 'b')) == std::string(196, 'a') + "...");

  CHECK(d::redact_target("/api/v1/pods?watch=1&token=abc&limit=5") == "/api/v1/pods?watch=1&token=***&limit=5");
  CHECK(d::redact_target("/x?access_token=a&X-Amz-Signature=b&api_key=c&key=d&monkey=e") == "/x?access_token=***&X-Amz-Signature=***&api_key=***&key=***&monkey=e");
  CHECK(d::redact_target("/plain/path") == "/plain/path");
  CHECK(d::secret_query_values("/x?token=abc&n=1&password=p") == std::vector<std::string>{"abc", "p"});

  std::string text = "auth=Bearer longsecret and longsecret again, pw=abc";
  d::scrub(text, {"longsecret", "abc"});
  CHECK(text == "auth=Bearer *** and *** again, pw=abc");  // 3-byte secrets are not scrubbed

  CHECK(d::base64("") == "");
  CHECK(d::base64("f") == "Zg==");
  CHECK(d::base64("fo") == "Zm8=");
  CHECK(d::base64("foo") == "Zm9v");
  CHECK(d::base64("user:pass") == "dXNlcjpwYXNz");
}

TEST_CASE("errors expose kind, status, method, URL") {
  http::error e(http::error_kind::status, "GET", "https://h/x", "GET https://h/x: 404 Not Found", 404, "{}");
  CHECK(e.status() == 404);
  CHECK(e.is_status(404));
  CHECK(e.method() == "GET");
  CHECK(e.url() == "https://h/x");
  CHECK(e.body() == "{}");
  CHECK(http::to_string(e.kind()) == "status");
  const std::runtime_error& base = e;
  CHECK(std::string(base.what()) == "GET https://h/x: 404 Not Found");
}

TEST_CASE("percent_encode leaves unreserved characters and escapes the rest") {
  CHECK(interlook::http::percent_encode("web.example-test_1~") == "web.example-test_1~");
  CHECK(interlook::http::percent_encode("a/b c?d=e&f") == "a%2Fb%20c%3Fd%3De%26f");
  CHECK(interlook::http::percent_encode("\xc3\xa9") == "%C3%A9");
}
