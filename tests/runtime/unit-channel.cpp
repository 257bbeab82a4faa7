#include <interlook/runtime/channel.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

using namespace interlook;
using namespace std::chrono_literals;

TEST_CASE("a channel moves items through in order, without copying") {
  wakeup w;
  channel<std::unique_ptr<int>> ch(w, 2);
  for (int i = 0; i < 100; ++i) CHECK(ch.send(std::make_unique<int>(i)));
  std::unique_ptr<int> out;
  for (int i = 0; i < 100; ++i) {
    REQUIRE(ch.try_receive(out));
    CHECK(*out == i);
  }
  CHECK_FALSE(ch.try_receive(out));
}

TEST_CASE("a closed channel refuses sends but drains what was sent before") {
  wakeup w;
  channel<int> ch(w);
  int one = 1, two = 2;
  CHECK(ch.send(std::move(one)));
  ch.close();
  CHECK(ch.closed());
  CHECK_FALSE(ch.send(std::move(two)));
  int out = 0;
  CHECK(ch.try_receive(out));
  CHECK(out == 1);
  CHECK_FALSE(ch.try_receive(out));
}

TEST_CASE("batched sends wake the consumer at flush() or at the batch limit, not per item") {
  wakeup w;
  channel<int> ch(w);
  auto ticket = w.prepare();
  for (unsigned i = 0; i + 1 < channel<int>::batch_limit; ++i) CHECK(ch.send_batched(static_cast<int>(i)));
  CHECK(w.notifications() == ticket);  // queued, nobody woken yet
  CHECK(ch.send_batched(99));          // the limit: one wake-up for the run
  CHECK(w.notifications() == ticket + 1);
  CHECK(ch.send_batched(100));
  ch.flush();
  CHECK(w.notifications() == ticket + 2);
  ch.flush();  // nothing new: no wake-up
  CHECK(w.notifications() == ticket + 2);
  int out = -1, n = 0;
  while (ch.try_receive(out)) ++n;
  CHECK(n == static_cast<int>(channel<int>::batch_limit) + 1);
  CHECK(out == 100);
}

TEST_CASE("a batched send to a closed channel is refused") {
  wakeup w;
  channel<int> ch(w);
  ch.close();
  CHECK_FALSE(ch.send_batched(1));
}

TEST_CASE("the wakeup returns at once for a notify between ticket and wait") {
  wakeup w;
  auto ticket = w.prepare();
  w.notify();
  CHECK(w.wait_until(ticket, wakeup::clock::now() + 10s));  // would block 10 s if the notify were lost
}

TEST_CASE("the wakeup times out when nothing is sent") {
  wakeup w;
  auto ticket = w.prepare();
  auto start = wakeup::clock::now();
  CHECK_FALSE(w.wait_until(ticket, start + 20ms));
  CHECK(wakeup::clock::now() - start >= 20ms);
}

TEST_CASE("one consumer sleeps on one wakeup until any of several channels has data") {
  wakeup core;
  constexpr int producers = 3, per_producer = 20000;
  std::vector<std::unique_ptr<channel<int>>> channels;
  for (int p = 0; p < producers; ++p) channels.push_back(std::make_unique<channel<int>>(core));
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i) {
        int v = p * per_producer + i;
        channels[p]->send(std::move(v));
      }
      channels[p]->close();
    });
  std::vector<int> next(producers, 0);
  int received = 0;
  for (;;) {
    auto ticket = core.prepare();
    bool any = false, all_closed = true;
    for (int p = 0; p < producers; ++p) {
      int v;
      while (channels[p]->try_receive(v)) {
        CHECK(v == p * per_producer + next[p]);  // per-channel order holds
        ++next[p];
        ++received;
        any = true;
      }
      all_closed = all_closed && channels[p]->closed();
    }
    if (all_closed && !any) {
      // A final drain: items sent before close are still delivered.
      bool more = false;
      for (int p = 0; p < producers; ++p) {
        int v;
        while (channels[p]->try_receive(v)) {
          ++next[p];
          ++received;
          more = true;
        }
      }
      if (!more) break;
    }
    if (!any) core.wait(ticket);
  }
  for (auto& t : threads) t.join();
  CHECK(received == producers * per_producer);
}

TEST_CASE("inbox receive blocks until a message, then ends when closed") {
  mailbox<message_ptr> box;
  inbox in(box.get());
  outbox out(box.get());
  std::thread producer([&] {
    message m;
    m.service.name = "web";
    out.send(std::move(m));
    box.get().close();
  });
  auto first = in.receive();
  REQUIRE(first);
  CHECK(first->service.name == "web");
  CHECK_FALSE(in.receive());  // closed and drained
  CHECK(in.closed());
  producer.join();
  message late;
  CHECK_FALSE(out.send(std::move(late)));
}

TEST_CASE("a boxed message passes through inbox and outbox without its contents moving") {
  mailbox<message_ptr> box;
  inbox in(box.get());
  outbox out(box.get());
  auto m = std::make_unique<message>();
  m->service.name = "web";
  const message* where = m.get();
  REQUIRE(out.send_batched(std::move(m)));
  out.flush();
  message_ptr got;
  REQUIRE(in.try_receive(got));
  CHECK(got.get() == where);
  CHECK(got->service.name == "web");
}

TEST_CASE("an outbox stamps what it sends with its definition's fingerprint, whatever was there") {
  mailbox<message_ptr> box;
  inbox in(box.get());
  outbox out(box.get());
  auto m = std::make_unique<message>();
  m->service.name = "web";
  m->service.targets = {{"10.0.0.1", 80, 1}};
  m->fingerprint = 42;  // stale or forged: not trusted
  auto expected = detail::service_fingerprint(m->service);
  REQUIRE(out.send(std::move(m)));
  message_ptr got;
  REQUIRE(in.try_receive(got));
  CHECK(got->fingerprint == expected);
  CHECK(got->fingerprint != 42);
  // Any change to the definition changes the fingerprint.
  auto changed = *got;
  changed.service.targets[0].port = 81;
  CHECK(detail::service_fingerprint(changed.service) != expected);
  changed = *got;
  changed.service.dns_names.push_back("web.example");
  CHECK(detail::service_fingerprint(changed.service) != expected);
  // ...and it is not part of the message's value.
  changed = *got;
  changed.fingerprint = 7;
  CHECK(changed == *got);
}

TEST_CASE("an outbox refuses an empty message_ptr with an error that says so") {
  mailbox<message_ptr> box;
  outbox out(box.get());
  CHECK_THROWS_WITH_AS(out.send(message_ptr{}), "outbox: cannot send an empty message_ptr", std::invalid_argument);
  message_ptr got;
  inbox in(box.get());
  CHECK_FALSE(in.try_receive(got));
}

TEST_CASE("a send to a closed outbox leaves the box with the sender") {
  mailbox<message_ptr> box;
  outbox out(box.get());
  box.get().close();
  auto m = std::make_unique<message>();
  CHECK_FALSE(out.send(std::move(m)));
  CHECK(m != nullptr);
}

TEST_CASE("inbox receive_for times out without closing") {
  mailbox<message_ptr> box;
  inbox in(box.get());
  CHECK_FALSE(in.receive_for(10ms));
  CHECK_FALSE(in.closed());
}

TEST_CASE("two threads ping-pong 20000 times through two wakeups: no wake-up is ever lost") {
  // A lost wake-up leaves one side asleep for good: the test then hangs and
  // fails on its timeout. Stale claims of earlier sleeps are exercised by the
  // tight alternation.
  mailbox<message_ptr> ping, pong;
  constexpr int rounds = 20000;
  std::thread other([&] {
    inbox in(ping.get());
    outbox out(pong.get());
    for (int i = 0; i < rounds; ++i) {
      auto m = in.receive();
      REQUIRE(m);
      out.send(std::move(*m));
    }
  });
  inbox in(pong.get());
  outbox out(ping.get());
  int returned = 0;
  for (int i = 0; i < rounds; ++i) {
    message m;
    m.service.name = "ball";
    out.send(std::move(m));
    auto back = in.receive_for(10s);
    if (!back) break;
    ++returned;
  }
  other.join();
  CHECK(returned == rounds);
}

TEST_CASE("eight producers ping one consumer on a shared wakeup: no wake-up is ever lost") {
  // Several producers notifying one sleeping consumer is where a stale claim
  // of an earlier sleep can leave the next one unguarded.
  wakeup core;
  constexpr int producers = 8, rounds = 10000;
  std::vector<std::unique_ptr<channel<int>>> to_core;
  std::vector<std::unique_ptr<mailbox<message_ptr>>> acks;
  for (int p = 0; p < producers; ++p) {
    to_core.push_back(std::make_unique<channel<int>>(core));
    acks.push_back(std::make_unique<mailbox<message_ptr>>());
  }
  std::atomic<int> completed{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      inbox in(acks[p]->get());
      for (int i = 0; i < rounds; ++i) {
        int v = i;
        to_core[p]->send(std::move(v));
        if (!in.receive_for(10s)) return;
      }
      ++completed;
    });
  int handled = 0;
  auto deadline = wakeup::clock::now() + 20s;
  while (handled < producers * rounds && wakeup::clock::now() < deadline) {
    auto ticket = core.prepare();
    bool any = false;
    for (int p = 0; p < producers; ++p) {
      int v;
      while (to_core[p]->try_receive(v)) {
        any = true;
        ++handled;
        acks[p]->get().send(std::make_unique<message>());
      }
    }
    if (!any) core.wait_until(ticket, deadline);
  }
  for (auto& t : threads) t.join();
  CHECK(handled == producers * rounds);
  CHECK(completed == producers);
}
