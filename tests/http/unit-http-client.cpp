// interlook::http::client and blocking_client against in-process servers
// (test_server.hpp) on 127.0.0.1 and a unix socket, with certificates made at
// test time (test_pki.hpp).

#include <interlook/http/blocking_client.hpp>
#include <interlook/http/client.hpp>

#include "tests/http/test_pki.hpp"
#include "tests/http/test_server.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace http = interlook::http;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using test_server::event;
using test_server::response;
using test_server::server;

namespace {

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// The http::error that f() throws.
template <class F>
http::error failure_of(F&& f) {
  try {
    f();
  } catch (const http::error& e) {
    return e;
  }
  FAIL("no http::error was thrown");
  throw std::logic_error("unreachable");
}

// Echoes what the server saw: "METHOD target|content-type|body".
server::handler echo() {
  return test_server::keep_alive([](const test_server::request& r) {
    std::string body = r.method + " " + r.target + "|" + r.header("Content-Type") + "|" + r.body;
    std::string full = response(200, body);
    if (r.method == "HEAD") full.resize(full.size() - body.size());
    return full;
  });
}

// Echoes one request header's value as the body.
server::handler echo_header(std::string name) {
  return test_server::keep_alive([name](const test_server::request& r) { return response(200, r.header(name)); });
}

test_pki::pki& certs() {
  static test_pki::pki p;
  return p;
}

test_server::tls_config server_tls(const test_pki::identity& id = certs().server, std::string client_ca = {}) {
  return {id.cert_file, id.key_file, std::move(client_ca)};
}

std::string temp_dir() {
  char tmpl[] = "/tmp/interlook-http-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  return tmpl;
}

// Runs a coroutine on `io` to completion; its exception propagates.
template <class F>
void run(asio::io_context& io, F make) {
  asio::co_spawn(io, make(), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  io.restart();
  io.run();
}

}  // namespace

TEST_CASE("plain GET, POST with JSON, HEAD; response headers by name; base path") {
  server s(echo());
  http::blocking_client c(s.url() + "/api/");
  CHECK_FALSE(c.uses_tls());

  auto r = c.request(http::request::get("/v1/things?limit=2"));
  CHECK(r.status == 200);
  CHECK(r.ok());
  CHECK(r.reason == "OK");
  CHECK(r.body == "GET /api/v1/things?limit=2||");
  CHECK(r.headers.get("content-type") == "application/json");
  CHECK(r.headers.get("CONTENT-LENGTH") == std::to_string(r.body.size()));

  r = c.request(http::request::post("v1/things", R"({"name":"web"})"));
  CHECK(r.body == R"(POST /api/v1/things|application/json|{"name":"web"})");

  r = c.request(http::request::head("/v1/things"));
  CHECK(r.status == 200);
  CHECK(r.body.empty());

  CHECK(s.accepts() == 1);  // one keep-alive connection for all three
  CHECK(c.connections_opened() == 1);
  CHECK(c.idle_connections() == 1);
}

TEST_CASE("status errors carry the status, the URL and a short body excerpt") {
  server s(test_server::keep_alive([](const test_server::request& r) {
    if (r.target == "/conflict") return response(409, R"({"message":"already exists"})");
    return response(404, std::string(1000, 'x'));
  }));
  http::blocking_client c(s.url());

  auto e = failure_of([&] { c.request(http::request::get("/missing")); });
  CHECK(e.kind() == http::error_kind::status);
  CHECK(e.status() == 404);
  CHECK(e.method() == "GET");
  CHECK(e.url() == s.url() + "/missing");
  CHECK(e.body().size() == 1000);
  std::string what = e.what();
  CHECK(what.rfind("GET " + s.url() + "/missing: 404 Not Found: xxxx", 0) == 0);
  CHECK(what.size() < 300);  // the excerpt is at most 200 bytes
  CHECK(contains(what, "x..."));

  http::request lenient = http::request::get("/conflict").with_header("Accept", "application/json").with_timeout(5s);
  lenient.throw_on_error_status = false;
  auto r = c.request(lenient);
  CHECK(r.status == 409);
  CHECK(r.body == R"({"message":"already exists"})");
}

TEST_CASE("connect refused names what failed") {
  int port;
  {
    server s(echo());  // a port that was free a moment ago
    port = s.port();
  }
  http::blocking_client c("http://127.0.0.1:" + std::to_string(port));
  auto e = failure_of([&] { c.request(http::request::get("/")); });
  CHECK(e.kind() == http::error_kind::connect);
  CHECK(e.status() == 0);
  CHECK(std::string(e.what()) == "GET http://127.0.0.1:" + std::to_string(port) + "/: connect to http://127.0.0.1:" + std::to_string(port) + ": Connection refused");
  CHECK(c.open_connections() == 0);  // the slot is given back
}

TEST_CASE("TLS: the generated CA verifies the server; SNI carries the name") {
  auto sni = std::make_shared<std::string>();
  auto seen = std::make_shared<event>();
  auto tls = server_tls();
  server s(
      [sni, seen](test_server::connection& conn) {
        *sni = conn.server_name();
        seen->set();
        echo()(conn);
      },
      &tls);
  http::client_options o;
  o.tls.ca_file = certs().ca.cert_file;

  SUBCASE("by IP address, against the IP SAN") {
    http::blocking_client c(s.url("https"), o);
    CHECK(c.uses_tls());
    CHECK(c.request(http::request::get("/x")).body == "GET /x||");
    REQUIRE(seen->wait());
    CHECK(*sni == "");  // no SNI for an IP literal
  }
  SUBCASE("by name, against the DNS SAN") {
    http::blocking_client c("https://localhost:" + std::to_string(s.port()), o);
    CHECK(c.request(http::request::get("/x")).body == "GET /x||");
    REQUIRE(seen->wait());
    CHECK(*sni == "localhost");
  }
  SUBCASE("tcp:// speaks TLS when a CA is set") {
    http::blocking_client c("tcp://127.0.0.1:" + std::to_string(s.port()), o);
    CHECK(c.uses_tls());
    CHECK(c.request(http::request::get("/v1.43/info")).body == "GET /v1.43/info||");
  }
}

TEST_CASE("TLS: an unknown CA, or a certificate for another name, is refused") {
  auto good = server_tls();
  auto other = server_tls(certs().wrong_name);
  server s(echo(), &good);
  server wrong(echo(), &other);

  SUBCASE("wrong CA") {
    http::client_options o;
    o.tls.ca_file = certs().other_ca.cert_file;
    http::blocking_client c(s.url("https"), o);
    auto e = failure_of([&] { c.request(http::request::get("/x")); });
    CHECK(e.kind() == http::error_kind::tls);
    CHECK(std::string(e.what()) == "GET " + s.url("https") + "/x: TLS handshake with " + s.url("https") +
                                       ": certificate verify failed: unable to get local issuer certificate");
  }
  SUBCASE("system CAs do not know the test CA") {
    http::blocking_client c(s.url("https"));
    auto e = failure_of([&] { c.request(http::request::get("/x")); });
    CHECK(e.kind() == http::error_kind::tls);
    CHECK(contains(e.what(), "certificate verify failed"));
  }
  SUBCASE("certificate for other.example, reached by IP") {
    http::client_options o;
    o.tls.ca_file = certs().ca.cert_file;
    http::blocking_client c(wrong.url("https"), o);
    auto e = failure_of([&] { c.request(http::request::get("/x")); });
    CHECK(e.kind() == http::error_kind::tls);
    CHECK(contains(e.what(), "certificate verify failed: IP address mismatch"));
  }
  SUBCASE("certificate for other.example, reached as localhost") {
    http::client_options o;
    o.tls.ca_file = certs().ca.cert_file;
    http::blocking_client c("https://localhost:" + std::to_string(wrong.port()), o);
    auto e = failure_of([&] { c.request(http::request::get("/x")); });
    CHECK(e.kind() == http::error_kind::tls);
    CHECK(contains(e.what(), "certificate verify failed: hostname mismatch"));
  }
  SUBCASE("server_name names the certificate's host") {
    http::client_options o;
    o.tls.ca_file = certs().ca.cert_file;
    o.tls.server_name = "other.example";
    http::blocking_client c(wrong.url("https"), o);
    CHECK(c.request(http::request::get("/x")).status == 200);
  }
  SUBCASE("insecure_skip_verify accepts both") {
    http::client_options o;
    o.tls.insecure_skip_verify = true;
    http::blocking_client c1(s.url("https"), o);
    CHECK(c1.request(http::request::get("/x")).status == 200);
    http::blocking_client c2(wrong.url("https"), o);
    CHECK(c2.request(http::request::get("/x")).status == 200);
  }
}

TEST_CASE("TLS: a server requiring a client certificate") {
  auto cn = std::make_shared<std::string>();
  auto tls = server_tls(certs().server, certs().ca.cert_file);
  server s(
      [cn](test_server::connection& conn) {
        *cn = conn.peer_cn();
        echo()(conn);
      },
      &tls);
  http::client_options o;
  o.tls.ca_file = certs().ca.cert_file;

  SUBCASE("without one: refused") {
    http::blocking_client c(s.url("https"), o);
    auto e = failure_of([&] { c.request(http::request::get("/x")); });
    CHECK(e.kind() == http::error_kind::tls);
    CHECK(contains(e.what(), "certificate"));
  }
  SUBCASE("with one: accepted") {
    o.tls.cert_file = certs().client.cert_file;
    o.tls.key_file = certs().client.key_file;
    http::blocking_client c(s.url("https"), o);
    CHECK(c.request(http::request::get("/x")).status == 200);
    s.stop();
    CHECK(*cn == "interlook test client");
  }
  SUBCASE("an unreadable certificate file is a configuration error") {
    o.tls.cert_file = certs().dir + "/missing.crt";
    auto e = failure_of([&] { http::blocking_client c(s.url("https"), o); });
    CHECK(e.kind() == http::error_kind::config);
    CHECK(contains(e.what(), "TLS: loading the client certificate " + certs().dir + "/missing.crt"));
  }
}

TEST_CASE("a unix socket (Docker's)") {
  auto dir = temp_dir();
  std::string path = dir + "/docker.sock";
  {
    server s(path, test_server::keep_alive([](const test_server::request& r) { return response(200, r.target + " host=" + r.header("Host")); }));
    http::blocking_client c("unix://" + path);
    CHECK(c.url() == "unix://" + path);
    CHECK(c.request(http::request::get("/v1.43/containers/json")).body == "/v1.43/containers/json host=localhost");
    CHECK(c.request(http::request::get("/_ping")).body == "/_ping host=localhost");
    CHECK(s.accepts() == 1);
  }
  http::blocking_client gone("unix://" + path);
  auto e = failure_of([&] { gone.request(http::request::get("/_ping")); });
  CHECK(e.kind() == http::error_kind::connect);
  CHECK(std::string(e.what()) == "GET unix://" + path + ":/_ping: connect to unix://" + path + ": " + std::strerror(ENOENT));
  std::filesystem::remove_all(dir);
}

TEST_CASE("tcp:// without TLS options is plain HTTP") {
  server s(echo());
  http::blocking_client c("tcp://127.0.0.1:" + std::to_string(s.port()));
  CHECK_FALSE(c.uses_tls());
  CHECK(c.request(http::request::get("/info")).body == "GET /info||");
}

TEST_CASE("timeouts say what timed out") {
  auto release = std::make_shared<event>();
  SUBCASE("a slow response") {
    server s([release](test_server::connection& conn) {
      test_server::request r;
      conn.read(r);
      release->wait();  // never answers
    });
    http::client_options o;
    o.request_timeout = 300ms;
    http::blocking_client c(s.url(), o);
    auto start = std::chrono::steady_clock::now();
    auto e = failure_of([&] { c.request(http::request::get("/slow")); });
    auto took = std::chrono::steady_clock::now() - start;
    release->set();
    CHECK(e.kind() == http::error_kind::timeout);
    CHECK(std::string(e.what()) == "GET " + s.url() + "/slow: request timed out after 300ms while waiting for the response");
    CHECK(took >= 300ms);
    CHECK(took < 5s);
    CHECK(c.open_connections() == 0);
  }
  SUBCASE("a TLS handshake that never completes counts against connect_timeout") {
    server s([release](test_server::connection&) { release->wait(); });  // plain TCP: says nothing
    http::client_options o;
    o.connect_timeout = 200ms;
    o.tls.insecure_skip_verify = true;
    http::blocking_client c(s.url("https"), o);
    auto e = failure_of([&] { c.request(http::request::get("/")); });
    release->set();
    CHECK(e.kind() == http::error_kind::timeout);
    CHECK(contains(e.what(), ": TLS handshake with " + s.url("https") + " timed out after 200ms"));
  }
}

TEST_CASE("a body larger than max_body_bytes is refused") {
  server s(test_server::keep_alive([](const test_server::request& r) {
    std::string big(4096, 'b');
    if (r.target == "/chunked")
      return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + test_server::chunk(big) + test_server::chunk(big) + "0\r\n\r\n";
    return response(200, big);
  }));
  http::client_options o;
  o.max_body_bytes = 1024;
  http::blocking_client c(s.url(), o);
  for (std::string target : {"/length", "/chunked"}) {
    CAPTURE(target);
    auto e = failure_of([&] { c.request(http::request::get(target)); });
    CHECK(e.kind() == http::error_kind::body_too_large);
    CHECK(std::string(e.what()) == "GET " + s.url() + target + ": response body exceeds max_body_bytes (1024 bytes)");
  }
  CHECK(c.idle_connections() == 0);  // not reused after a refused body
}

TEST_CASE("a chunked watch stream is read line by line as the lines arrive") {
  const std::vector<std::string> lines = {R"({"type":"ADDED","n":1})", R"({"type":"MODIFIED","n":2})", R"({"type":"DELETED","n":3})"};
  auto sent = std::make_shared<std::atomic<int>>(0);
  auto seen = std::make_shared<std::vector<event>>(lines.size());
  auto waited_in_vain = std::make_shared<std::atomic<bool>>(false);
  server s([&lines, sent, seen, waited_in_vain](test_server::connection& conn) {
    test_server::request r;
    if (!conn.read(r)) return;
    conn.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (std::size_t i = 0; i < lines.size(); ++i) {
      ++*sent;
      if (i == 1) {  // one line over two chunks, ending in CRLF
        conn.send(test_server::chunk(lines[i].substr(0, 10)));
        conn.send(test_server::chunk(lines[i].substr(10) + "\r\n"));
      } else {
        conn.send(test_server::chunk(lines[i] + "\n"));
      }
      if (!(*seen)[i].wait(5s)) *waited_in_vain = true;  // the client must see it before the next one is sent
    }
    conn.send(test_server::chunk("a\nb\n") + test_server::chunk("last without newline") + "0\r\n\r\n");
    while (conn.read(r)) conn.send(response(200, "after the stream"));
  });
  http::blocking_client c(s.url());
  std::vector<std::string> got;
  c.stream_lines(http::request::get("/api/v1/pods?watch=1"), [&](std::string_view line) {
    got.emplace_back(line);
    if (got.size() <= lines.size()) {
      CHECK(sent->load() == static_cast<int>(got.size()));  // the server has not sent the next line yet
      (*seen)[got.size() - 1].set();
    }
    return true;
  });
  CHECK_FALSE(waited_in_vain->load());
  REQUIRE(got.size() == 6);
  CHECK(got[0] == lines[0]);
  CHECK(got[1] == lines[1]);
  CHECK(got[2] == lines[2]);
  CHECK(got[3] == "a");
  CHECK(got[4] == "b");
  CHECK(got[5] == "last without newline");
  // The stream ended cleanly: its connection is reused.
  CHECK(c.request(http::request::get("/next")).body == "after the stream");
  CHECK(s.accepts() == 1);
}

TEST_CASE("stream_lines: stopping, an idle timeout, an error status") {
  auto closed = std::make_shared<event>();
  auto release = std::make_shared<event>();
  server s([closed, release](test_server::connection& conn) {
    test_server::request r;
    if (!conn.read(r)) return;
    if (r.target == "/forbidden") {
      conn.send(response(403, R"({"message":"watch not allowed"})"));
      return;
    }
    conn.send("HTTP/1.1 200 OK\r\n\r\n");  // close-delimited body
    conn.send("one\ntwo\n");
    if (r.target == "/idle") release->wait();
    else if (conn.wait_closed()) closed->set();
  });
  http::client_options o;
  o.stream_idle_timeout = 300ms;
  http::blocking_client c(s.url(), o);

  SUBCASE("on_line returning false stops the stream and closes its connection") {
    std::vector<std::string> got;
    c.stream_lines(http::request::get("/events"), [&](std::string_view line) {
      got.emplace_back(line);
      return got.size() < 2;
    });
    CHECK(got == std::vector<std::string>{"one", "two"});
    CHECK(closed->wait());
    CHECK(c.open_connections() == 0);
  }
  SUBCASE("no line within stream_idle_timeout") {
    int lines = 0;
    auto e = failure_of([&] { c.stream_lines(http::request::get("/idle"), [&](std::string_view) { return ++lines, true; }); });
    release->set();
    CHECK(lines == 2);
    CHECK(e.kind() == http::error_kind::timeout);
    CHECK(std::string(e.what()) == "GET " + s.url() + "/idle: stream idle: no complete line after 300ms (stream idle timeout)");
  }
  SUBCASE("a status >= 400 is thrown with its body") {
    auto e = failure_of([&] { c.stream_lines(http::request::get("/forbidden"), [](std::string_view) { return true; }); });
    CHECK(e.status() == 403);
    CHECK(contains(e.what(), R"(403 Status: {"message":"watch not allowed"})"));
  }
}

TEST_CASE("a keep-alive connection closed by the server is re-opened once, transparently") {
  auto served = std::make_shared<std::atomic<int>>(0);
  auto first_closed = std::make_shared<event>();
  server s([served, first_closed](test_server::connection& conn) {
    test_server::request r;
    while (conn.read(r)) {
      int n = ++*served;
      conn.send(response(200, n == 1 ? "first" : "second"));  // keep-alive, by the look of it
      if (n == 1) {
        conn.shutdown();  // ... but closed right after
        first_closed->set();
        return;
      }
    }
  });
  http::blocking_client c(s.url());
  CHECK(c.request(http::request::post("/a", "{}")).body == "first");
  REQUIRE(first_closed->wait());
  CHECK(c.idle_connections() == 1);
  CHECK(c.request(http::request::post("/a", "{}")).body == "second");
  CHECK(s.accepts() == 2);
  CHECK(served->load() == 2);  // the request reached the server once more, not twice
  CHECK(c.connections_opened() == 2);
}

TEST_CASE("credentials: basic, userinfo, bearer, a token file that changes") {
  server s(echo_header("Authorization"));

  SUBCASE("basic") {
    http::client_options o;
    o.credentials = http::credentials::basic("admin", "s3cret pass");
    http::blocking_client c(s.url(), o);
    CHECK(c.request(http::request::get("/")).body == "Basic YWRtaW46czNjcmV0IHBhc3M=");
    CHECK(c.describe() == s.url() + ", auth basic (user admin), max_connections 4");
  }
  SUBCASE("user:password in the endpoint URL") {
    http::blocking_client c("http://admin:s3cret%20pass@127.0.0.1:" + std::to_string(s.port()));
    CHECK(c.request(http::request::get("/")).body == "Basic YWRtaW46czNjcmV0IHBhc3M=");
    CHECK(c.url() == s.url());
  }
  SUBCASE("bearer") {
    http::client_options o;
    o.credentials = http::credentials::bearer("tok-abc123");
    http::blocking_client c(s.url(), o);
    CHECK(c.request(http::request::get("/")).body == "Bearer tok-abc123");
  }
  SUBCASE("a request's own Authorization wins") {
    http::client_options o;
    o.credentials = http::credentials::bearer("tok-abc123");
    http::blocking_client c(s.url(), o);
    CHECK(c.request(http::request::get("/").with_header("Authorization", "Bearer mine")).body == "Bearer mine");
  }
  SUBCASE("a bearer token file, rotated the way Kubernetes does it") {
    auto dir = temp_dir();
    std::string path = dir + "/token";
    auto write = [&](const std::string& token) {
      std::ofstream(dir + "/token.tmp") << token << "\n";
      std::filesystem::rename(dir + "/token.tmp", path);
    };
    write("tok-one");
    http::client_options o;
    o.credentials = http::credentials::bearer_file(path);
    http::blocking_client c(s.url(), o);
    CHECK(c.request(http::request::get("/")).body == "Bearer tok-one");
    CHECK(c.request(http::request::get("/")).body == "Bearer tok-one");
    write("tok-two");
    CHECK(c.request(http::request::get("/")).body == "Bearer tok-two");
    std::filesystem::remove(path);
    auto e = failure_of([&] { c.request(http::request::get("/")); });
    CHECK(e.kind() == http::error_kind::auth);
    CHECK(std::string(e.what()) == "GET " + s.url() + "/: bearer token file " + path + ": No such file or directory");
    std::filesystem::remove_all(dir);
  }
}

TEST_CASE("extra headers set at runtime (F5's token after login)") {
  server s(test_server::keep_alive([](const test_server::request& r) { return response(200, r.header("X-F5-Auth-Token") + "|" + r.header("X-API-Key")); }));
  http::blocking_client c(s.url());
  CHECK(c.request(http::request::get("/")).body == "|");
  c.set_header("X-F5-Auth-Token", "F5TOKEN1");
  c.set_header("X-API-Key", "key-123456");
  CHECK(c.request(http::request::get("/")).body == "F5TOKEN1|key-123456");
  c.set_header("x-f5-auth-token", "F5TOKEN2");
  CHECK(c.request(http::request::get("/")).body == "F5TOKEN2|key-123456");
  c.remove_header("X-API-Key");
  CHECK(c.request(http::request::get("/")).body == "F5TOKEN2|");
  CHECK(c.describe() == s.url() + ", auth none, headers x-f5-auth-token, max_connections 4");
}

TEST_CASE("secrets never appear in errors or descriptions") {
  // A server that echoes every credential it was sent into its error body.
  server s(test_server::keep_alive([](const test_server::request& r) {
    return response(401, "denied: auth=" + r.header("Authorization") + " key=" + r.header("X-API-Key") + " consul=" + r.header("X-Consul-Token") +
                             " target=" + r.target);
  }));
  const std::string password = "hunter2-password";
  const std::string basic64 = "YWRtaW46aHVudGVyMi1wYXNzd29yZA==";  // admin:hunter2-password
  const std::string token = "eyJhbGciOiJSUzI1NiJ9.secret-token";
  const std::string api_key = "ak-0123456789";
  const std::string consul = "consul-acl-token-42";
  auto check_clean = [&](const std::string& text) {
    CAPTURE(text);
    CHECK_FALSE(contains(text, password));
    CHECK_FALSE(contains(text, basic64));
    CHECK_FALSE(contains(text, token));
    CHECK_FALSE(contains(text, api_key));
    CHECK_FALSE(contains(text, consul));
  };

  SUBCASE("basic in the URL, a secret query parameter, a secret extra header") {
    http::blocking_client c("http://admin:" + password + "@127.0.0.1:" + std::to_string(s.port()) + "/api");
    c.set_header("X-API-Key", api_key);
    auto e = failure_of([&] { c.request(http::request::get("/items?token=" + token + "&limit=5")); });
    CHECK(e.status() == 401);
    CHECK(e.url() == s.url() + "/api/items?token=***&limit=5");
    CHECK(contains(e.what(), "401 Unauthorized: denied: auth=Basic *** key=*** consul= target=/api/items?token=***&limit=5"));
    check_clean(e.what());
    check_clean(e.body());
    check_clean(e.url());
    check_clean(c.describe());
    check_clean(c.url());
  }
  SUBCASE("bearer, and a request's own secret header") {
    http::client_options o;
    o.credentials = http::credentials::bearer(token);
    http::blocking_client c(s.url(), o);
    auto e = failure_of([&] { c.request(http::request::get("/").with_header("X-Consul-Token", consul)); });
    CHECK(contains(e.what(), "auth=Bearer *** key= consul=***"));
    check_clean(e.what());
    check_clean(e.body());
    check_clean(c.describe());
  }
  SUBCASE("transport errors and bad requests") {
    http::client_options o;
    o.credentials = http::credentials::basic("admin", password);
    http::blocking_client c("http://admin:" + password + "@127.0.0.1:1", o);
    auto e = failure_of([&] { c.request(http::request::get("/")); });
    CHECK(e.kind() == http::error_kind::connect);
    check_clean(e.what());
    e = failure_of([&] { c.request(http::request::get("/").with_header("X-API-Key", api_key + "\r\nInjected: 1")); });
    CHECK(e.kind() == http::error_kind::invalid_request);
    CHECK(contains(e.what(), "the value of header X-API-Key contains CR, LF or NUL"));
    check_clean(e.what());
    e = failure_of([&] { http::blocking_client bad("htp://admin:" + password + "@host"); });
    CHECK(e.kind() == http::error_kind::config);
    check_clean(e.what());
  }
}

TEST_CASE("max_connections bounds the connections; further requests wait for one") {
  auto two_active = std::make_shared<event>();
  auto connections = std::make_shared<std::atomic<int>>(0);
  server s([two_active, connections](test_server::connection& conn) {
    if (++*connections >= 2) two_active->set();
    test_server::request r;
    while (conn.read(r)) {
      two_active->wait(2s);  // hold the first requests until both connections are up
      conn.send(response(200, r.target));
    }
  });
  asio::io_context io(1);
  http::client_options o;
  o.max_connections = 2;
  http::client c(io, s.url(), o);
  std::vector<std::string> bodies;
  std::size_t most_open = 0;
  for (int i = 0; i < 6; ++i)
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          auto r = co_await c.request(http::request::get("/" + std::to_string(i)));
          most_open = std::max(most_open, c.open_connections());
          bodies.push_back(r.body);
        },
        [](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);
        });
  io.run();
  CHECK(bodies.size() == 6);
  CHECK(two_active->is_set());
  CHECK(s.max_active() == 2);
  CHECK(s.accepts() == 2);
  CHECK(most_open == 2);
  CHECK(c.idle_connections() == 2);
}

TEST_CASE("waiting for a free connection is bounded by the request timeout") {
  auto release = std::make_shared<event>();
  server s([release](test_server::connection& conn) {
    test_server::request r;
    if (conn.read(r)) conn.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + test_server::chunk("held\n"));
    release->wait();
  });
  asio::io_context io(1);
  http::client_options o;
  o.max_connections = 1;
  o.request_timeout = 200ms;
  http::client c(io, s.url(), o);
  std::optional<http::error> stream_error, request_error;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          co_await c.stream_lines(http::request::get("/watch"), [&](std::string_view) {
            // The stream holds the only connection: a request has to wait, and gives up.
            asio::co_spawn(
                io,
                [&]() -> asio::awaitable<void> {
                  try {
                    co_await c.request(http::request::get("/other"));
                  } catch (const http::error& e) {
                    request_error = e;
                  }
                  c.close();  // ends the stream too
                },
                asio::detached);
            return true;
          });
        } catch (const http::error& e) {
          stream_error = e;
        }
      },
      asio::detached);
  io.run();
  release->set();
  REQUIRE(request_error);
  CHECK(request_error->kind() == http::error_kind::timeout);
  CHECK(std::string(request_error->what()) ==
        "GET " + s.url() + "/other: request timed out after 200ms waiting for a free connection (max_connections 1, all busy)");
  REQUIRE(stream_error);
  CHECK(stream_error->kind() == http::error_kind::cancelled);
  CHECK(std::string(stream_error->what()) == "GET " + s.url() + "/watch: cancelled (client closed) while reading the stream");
  CHECK(c.open_connections() == 0);
  CHECK(s.accepts() == 1);
}

TEST_CASE("the caller's cancellation (an Asio cancellation slot) ends a stream") {
  auto release = std::make_shared<event>();
  server s([release](test_server::connection& conn) {
    test_server::request r;
    if (conn.read(r)) conn.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + test_server::chunk("one\n"));
    release->wait();
  });
  asio::io_context io(1);
  http::client c(io, s.url());
  asio::cancellation_signal cancel;
  std::optional<http::error> failure;
  int lines = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          co_await c.stream_lines(http::request::get("/watch"), [&](std::string_view) {
            ++lines;
            asio::post(io, [&] { cancel.emit(asio::cancellation_type::terminal); });
            return true;
          });
        } catch (const http::error& e) {
          failure = e;
        }
      },
      asio::bind_cancellation_slot(cancel.slot(), asio::detached));
  io.run();
  release->set();
  CHECK(lines == 1);
  REQUIRE(failure);
  CHECK(failure->kind() == http::error_kind::cancelled);
  CHECK(std::string(failure->what()) == "GET " + s.url() + "/watch: cancelled while reading the stream");
  CHECK(c.open_connections() == 0);
}
