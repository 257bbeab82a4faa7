// The three provisioner forms, run as the engine runs them (through the
// public test kit, which also checks every answer against the laws):
// one message at a time, batch, and concurrent (coroutines on Asio).
#include <interlook/extension.hpp>
#include <interlook/extension/async_handler.hpp>
#include <interlook/testing/ext_runner.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <stdexcept>

using namespace interlook;
using interlook::testing::ext_runner;
using namespace std::chrono_literals;

namespace {

message add(const std::string& name) {
  message m;
  m.action = action::add;
  m.service.name = name;
  return m;
}

// A gate a handler waits at until the test opens it.
struct gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false, reached = false;
  void wait() {
    std::unique_lock lock(mu);
    reached = true;
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
  }
  void await_reached() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return reached; });
  }
  void release() {
    std::lock_guard lock(mu);
    open = true;
    cv.notify_all();
  }
};

// --- one message at a time ---------------------------------------------------

struct simple_dns {
  static constexpr std::string_view name = "dns.simple";
  using config = no_config;
  static inline gate* hold = nullptr;  // when set, the first message waits there
  explicit simple_dns(const config&) {}
  message handle(message m) {
    if (hold) std::exchange(hold, nullptr)->wait();
    if (m.service.name.starts_with("bad")) throw std::runtime_error("cannot publish " + m.service.name);
    if (m.service.name == "renamer") m.service.name = "someone-else";
    return m;
  }
};

TEST_CASE("one at a time: an exception fails only its message; a renamed answer is an error, not lost") {
  ext_runner<simple_dns> r(no_config{});
  r.send(add("a"));
  r.send(add("bad1"));
  r.send(add("renamer"));
  auto a = r.next(), bad = r.next(), renamed = r.next();
  REQUIRE((a && bad && renamed));
  CHECK(a->error.empty());
  CHECK(bad->error == "dns.simple: cannot publish bad1");
  CHECK(renamed->service.name == "renamer");
  CHECK(renamed->error ==
        "dns.simple: the answer changed the service name (\"someone-else\"); an answer keeps the request's action "
        "and service name");
}

TEST_CASE("one at a time: stop answers the message in hand and leaves the queue") {
  gate g;
  simple_dns::hold = &g;
  ext_runner<simple_dns> r(no_config{});
  for (int i = 0; i < 100; ++i) r.send(add("s" + std::to_string(i)));
  g.await_reached();
  r.get().stop();  // what the engine does at shutdown
  g.release();
  r.stop();        // joins: returns without working through the 99 queued
  auto first = r.next(1s);
  REQUIRE(first);
  CHECK(first->service.name == "s0");
  CHECK_FALSE(r.next(100ms));
  CHECK(r.pending() == 99);
}

// --- batch --------------------------------------------------------------------

struct batch_dns {
  static constexpr std::string_view name = "dns.batched";
  static constexpr std::size_t max_batch = 8;
  using config = no_config;
  static inline gate* hold = nullptr;
  static inline std::vector<std::size_t>* sizes = nullptr;
  static inline bool fail_all = false;
  explicit batch_dns(const config&) {}
  void handle_batch(std::span<message> batch) {
    if (sizes) sizes->push_back(batch.size());
    if (hold) std::exchange(hold, nullptr)->wait();
    if (fail_all) throw std::runtime_error("UPDATE refused by 127.0.0.1:53");
    for (auto& m : batch)
      if (m.service.name.starts_with("bad")) m.error = "no alias for " + m.service.name;
  }
};

TEST_CASE("batch: messages waiting are taken together, up to max_batch; errors stay on their message") {
  gate g;
  std::vector<std::size_t> sizes;
  batch_dns::hold = &g;
  batch_dns::sizes = &sizes;
  ext_runner<batch_dns> r(no_config{});
  r.send(add("first"));
  g.await_reached();  // the first batch is in hand; the next ones queue up meanwhile
  for (int i = 0; i < 19; ++i) r.send(add(i % 5 == 0 ? "bad" + std::to_string(i) : "s" + std::to_string(i)));
  g.release();
  std::vector<message> answers;
  for (int i = 0; i < 20; ++i) {
    auto m = r.next();
    REQUIRE(m);
    answers.push_back(std::move(*m));
  }
  CHECK(sizes == std::vector<std::size_t>{1, 8, 8, 3});
  CHECK(answers[0].service.name == "first");  // answered in order
  for (auto& m : answers) {
    if (m.service.name.starts_with("bad"))
      CHECK(m.error == "no alias for " + m.service.name);
    else
      CHECK(m.error.empty());
  }
  batch_dns::sizes = nullptr;
}

TEST_CASE("batch: an exception fails every message of the batch with its text") {
  batch_dns::fail_all = true;
  ext_runner<batch_dns> r(no_config{});
  r.send(add("a"));
  r.send(add("b"));
  for (int i = 0; i < 2; ++i) {
    auto m = r.next();
    REQUIRE(m);
    CHECK(m->error == "dns.batched: UPDATE refused by 127.0.0.1:53");
  }
  batch_dns::fail_all = false;
}

TEST_CASE("batch: stop finishes and answers the batch in hand, and leaves the rest") {
  gate g;
  batch_dns::hold = &g;
  ext_runner<batch_dns> r(no_config{});
  r.send(add("first"));
  g.await_reached();
  for (int i = 0; i < 50; ++i) r.send(add("s" + std::to_string(i)));
  r.get().stop();
  g.release();
  r.stop();
  auto first = r.next(1s);
  REQUIRE(first);
  CHECK(first->service.name == "first");
  CHECK_FALSE(r.next(100ms));
  CHECK(r.pending() == 50);
}

// --- concurrent ------------------------------------------------------------------

struct remote_lb {
  static constexpr std::string_view name = "lb.remote";
  struct config {
    unsigned maxInFlight = 4;
    std::chrono::milliseconds call = 20ms;
    static constexpr auto fields() { return interlook::fields(optional("maxInFlight", &config::maxInFlight)); }
  };
  static inline std::atomic<unsigned> now{0}, peak{0};
  remote_lb(const config& c, boost::asio::any_io_executor ex) : cfg(c), ex(std::move(ex)) {}

  boost::asio::awaitable<message> handle(message m) {
    unsigned n = ++now;
    unsigned p = peak.load();
    while (n > p && !peak.compare_exchange_weak(p, n)) {
    }
    struct leave {
      ~leave() { --now; }
    } on_exit;
    boost::asio::steady_timer t(ex, m.service.name == "slow" ? std::chrono::milliseconds(1h) : cfg.call);
    co_await t.async_wait(boost::asio::use_awaitable);
    if (m.service.name.starts_with("bad")) throw std::runtime_error("virtual server " + m.service.name + " refused");
    co_return m;
  }
  config cfg;
  boost::asio::any_io_executor ex;
};

TEST_CASE("concurrent: up to maxInFlight services in progress at once, each answered; errors per service") {
  remote_lb::peak = 0;
  ext_runner<remote_lb> r(remote_lb::config{4, 20ms});
  for (int i = 0; i < 20; ++i) r.send(add(i == 7 ? "bad7" : "s" + std::to_string(i)));
  int errors = 0;
  for (int i = 0; i < 20; ++i) {
    auto m = r.next();
    REQUIRE(m);
    if (!m->error.empty()) {
      ++errors;
      CHECK(m->error == "lb.remote: virtual server bad7 refused");
    }
  }
  CHECK(errors == 1);
  CHECK(remote_lb::peak.load() == 4);  // never more, and the bound was used
  CHECK(r.pending() == 0);
}

TEST_CASE("concurrent: stop cancels what is in progress at once; nothing is answered for it") {
  ext_runner<remote_lb> r(remote_lb::config{4, 20ms});
  for (int i = 0; i < 4; ++i) r.send(add("slow"  + std::string(i ? std::to_string(i) : "")));
  // Only "slow" waits an hour; the other three answer.
  for (int i = 0; i < 3; ++i) REQUIRE(r.next());
  for (int i = 0; i < 10; ++i) r.send(add("q" + std::to_string(i)));
  auto started = std::chrono::steady_clock::now();
  r.stop();
  CHECK(std::chrono::steady_clock::now() - started < 5s);
  // Some of the queued ones may have been answered before the stop; "slow" never is.
  while (auto m = r.next(100ms)) CHECK(m->service.name != "slow");
  CHECK(remote_lb::now.load() == 0);  // every coroutine finished (its frame unwound)
}

}  // namespace
