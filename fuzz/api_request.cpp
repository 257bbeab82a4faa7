// The HTTP API (api/http_server.hpp, api/api.hpp): raw bytes in, through
// the server's session (Beast's parser, limits, keep-alive, pipelining) and
// the routes of a real engine, responses out. The bytes go down one end of
// a socketpair handed to http_server::serve_connection; the other end is
// half-closed after them and read until the server closes it.
//
// What comes back is zero or more complete HTTP/1.1 responses with a status
// the API documents (200, 400, 404, 405, 413; 503 if the core were slow),
// never 500 (a handler exception), and every JSON body parses.
// fuzz-dict: http
#include "fuzz/fuzz.hpp"
#include "tests/scripted.hpp"

#include <interlook/api/api.hpp>
#include <interlook/runtime/engine.hpp>

#include <boost/beast/http/read.hpp>
#include <boost/json/parse.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>

using namespace interlook;
using namespace std::chrono_literals;

namespace {
using reg = registry<scripted::provider, scripted::ipam, scripted::dns>;

struct api {
  logger log{log_level::error, [](log_level, std::string_view) {}};
  loaded_config<reg> cfg = load_config<reg>(config_document::parse(
      "core:\n  workflowSteps: provider.script,ipam.script,dns.script\n", "api.yml"));
  engine<reg> core{cfg, log};
  http_server server{"127.0.0.1", 0, api_routes<engine<reg>>(core, "1.2.3"), log};

  api() {
    core.start();
    server.start();
    for (std::string name : {"web", "caf\xC3\xA9", "a b", "x/y"})
      core.extension<scripted::provider>().add(
          service{"provider.script", name, {{"10.0.0.1", 80, 1}}, false, "", {name + ".example"}});
    bool ready = core.await([](const state_machine& sm) { return sm.entries().size() == 4; }, 10s);
    if (!ready) std::abort();
  }
};

// Never destroyed: its threads run until the process ends.
api& the_api() {
  static api* a = new api;
  return *a;
}

// Writes `in` to fd while reading what comes back, half-closes after the
// last byte, and reads until the server closes.
std::string exchange(int fd, std::string_view in) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::string out;
  bool writing = true;
  if (in.empty()) {
    ::shutdown(fd, SHUT_WR);
    writing = false;
  }
  auto deadline = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    pollfd p{fd, static_cast<short>(POLLIN | (writing ? POLLOUT : 0)), 0};
    int r = ::poll(&p, 1, 1000);
    FUZZ_CHECK(std::chrono::steady_clock::now() < deadline, "no end of the answer after 20 s");
    if (r <= 0) continue;
    if (writing && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
      auto n = ::send(fd, in.data(), in.size(), MSG_NOSIGNAL);
      if (n > 0) in.remove_prefix(static_cast<std::size_t>(n));
      if (n < 0 && errno != EAGAIN) in = {};  // the server closed early (a 413, say)
      if (in.empty()) {
        ::shutdown(fd, SHUT_WR);
        writing = false;
      }
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[65536];
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        out.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EAGAIN) {
        return out;
      }
    }
  }
}

void check_responses(std::string_view out, std::string_view in) {
  namespace http = boost::beast::http;
  std::size_t count = 0;
  while (!out.empty()) {
    http::response_parser<http::string_body> parser;
    parser.eager(true);
    parser.body_limit(16 * 1024 * 1024);
    boost::beast::error_code ec;
    std::size_t used = parser.put(boost::asio::buffer(out.data(), out.size()), ec);
    FUZZ_CHECK(!ec && parser.is_done(), "response " + std::to_string(count) + " does not parse (" + ec.message() +
                                            "):\n" + std::string(out.substr(0, 300)));
    out.remove_prefix(used);
    ++count;
    auto& res = parser.get();
    unsigned status = res.result_int();
    FUZZ_CHECK(status == 200 || status == 400 || status == 404 || status == 405 || status == 413 || status == 503,
               "status " + std::to_string(status) + " for:\n" + std::string(in.substr(0, 300)));
    if (res[http::field::content_type] == "application/json") {
      boost::json::error_code jec;
      boost::json::parse(res.body(), jec);
      FUZZ_CHECK(!jec, "invalid JSON (" + jec.message() + "): " + res.body());
    }
    FUZZ_CHECK(res[http::field::server] == "interlook", std::string(res[http::field::server]));
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& a = the_api();
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
  a.server.serve_connection(fds[1]);
  auto in = fuzz::text(data, size);
  std::string out = exchange(fds[0], in);
  ::close(fds[0]);
  check_responses(out, in);
  return 0;
}
