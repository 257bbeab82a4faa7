#pragma once
// Typed single-producer/single-consumer channels between the core and the
// extensions, and the two ends an extension sees: its inbox and its outbox.

#include <interlook/runtime/detail/moodycamel.hpp>
#include <interlook/support/duration.hpp>
#include <interlook/core/message.hpp>
#include <interlook/runtime/wakeup.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <optional>
#include <utility>

namespace interlook {

// An unbounded SPSC queue of T whose consumer is woken through a wakeup that
// may be shared with other channels (the core consumes many). Items are
// moved in and moved out, never copied.
template <class T>
class channel {
 public:
  explicit channel(wakeup& consumer, std::size_t initial_capacity = 64)
      : queue_(initial_capacity), consumer_(&consumer) {}
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  // Producer side. Returns false, leaving `item` untouched, once closed.
  bool send(T&& item) {
    if (!send_batched(std::move(item))) return false;
    flush();
    return true;
  }

  // Producer side, for a producer that sends runs of items: the consumer is
  // woken by flush() (and every `batch_limit` items), not by each item, so
  // that a run costs one wake-up instead of a cache-line transfer per item.
  // The producer must flush() before it waits for anything.
  bool send_batched(T&& item) {
    if (closed_.load(std::memory_order_acquire)) return false;
    queue_.enqueue(std::move(item));
    if (++unflushed_ >= batch_limit) flush();
    return true;
  }
  void flush() noexcept {
    if (unflushed_ == 0) return;
    unflushed_ = 0;
    consumer_->notify();
  }
  static constexpr unsigned batch_limit = 64;

  // Consumer side.
  bool try_receive(T& out) { return queue_.try_dequeue(out); }

  // Either side: no more sends are accepted; the consumer still drains what
  // was sent before.
  void close() noexcept {
    closed_.store(true, std::memory_order_release);
    consumer_->notify();
  }
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  std::size_t size_approx() const { return queue_.size_approx(); }
  wakeup& consumer_wakeup() const noexcept { return *consumer_; }

 private:
  moodycamel::ReaderWriterQueue<T> queue_;
  wakeup* consumer_;
  std::atomic<bool> closed_{false};
  unsigned unflushed_ = 0;  // the producer's alone
};

// A channel with its own wakeup: what the core sends an extension on.
template <class T>
class mailbox {
 public:
  explicit mailbox(std::size_t initial_capacity = 64) : channel_(wakeup_, initial_capacity) {}
  channel<T>& get() noexcept { return channel_; }

 private:
  wakeup wakeup_;
  channel<T> channel_;
};

// An empty message: a box taken from `spares` (emptied, its strings and
// vectors keeping their capacity) when there is one, else a new one.
inline message_ptr recycled_or_new(channel<message_ptr>* spares) {
  message_ptr m;
  if (spares && spares->try_receive(m)) {
    clear(*m);
    return m;
  }
  return std::make_unique<message>();
}

// What an extension receives on. Blocking receives return nullopt once the
// channel is closed and drained: that is the extension's signal to return
// from start().
class inbox {
 public:
  using clock = wakeup::clock;

  explicit inbox(channel<message_ptr>& ch) noexcept : channel_(&ch) {}

  // The message in its box, for a receive loop that hands it on without
  // moving its contents.
  bool try_receive(message_ptr& out) { return channel_->try_receive(out); }

  bool try_receive(message& out) {
    message_ptr box;
    if (!channel_->try_receive(box)) return false;
    out = std::move(*box);
    return true;
  }

  std::optional<message> receive() { return receive_until(clock::time_point::max()); }

  // nullopt on timeout or when closed; closed() tells which.
  std::optional<message> receive_until(clock::time_point deadline) {
    message_ptr box;
    auto& w = channel_->consumer_wakeup();
    for (;;) {
      auto ticket = w.prepare();
      if (channel_->try_receive(box)) return std::move(*box);
      if (channel_->closed()) return std::nullopt;
      if (clock::now() >= deadline) return std::nullopt;
      w.wait_until(ticket, deadline);
    }
  }

  std::optional<message> receive_for(duration timeout) {
    return receive_until(clock::now() + std::chrono::duration_cast<clock::duration>(timeout));
  }

  bool closed() const noexcept { return channel_->closed(); }
  void close() noexcept { channel_->close(); }

  // The wakeup receive() sleeps on. An extension with event sources of its
  // own (a file watcher, a test's commands) notifies it to be woken too.
  wakeup& waker() const noexcept { return channel_->consumer_wakeup(); }

 private:
  channel<message_ptr>* channel_;
};

// What an extension sends its answers and events on.
class outbox {
 public:
  // spares: boxes the core has finished with, handed back for reuse (the
  // engine gives providers one); nullptr for none.
  explicit outbox(channel<message_ptr>& ch, channel<message_ptr>* spares = nullptr) noexcept
      : channel_(&ch), spares_(spares) {}

  // An empty message to fill in and send: a box the core has finished with
  // when one is spare (its strings and vectors keep their capacity), or a
  // new one. For extensions that originate messages: providers.
  message_ptr make_message() { return recycled_or_new(spares_); }

  // False when the core no longer listens (shutdown): the message is dropped.
  bool send(message&& m) { return send(std::make_unique<message>(std::move(m))); }
  bool send(const message& m) { return send(std::make_unique<message>(m)); }
  // A boxed message goes as it is. False (and the box stays with the
  // caller) when the core no longer listens.
  bool send(message_ptr&& m) { return channel_->send(checked(std::move(m))); }

  // For runs of messages: the core is woken by flush() (and every few dozen
  // messages) rather than by each one. Call flush() at the end of the run,
  // before waiting for anything; unflushed messages may wait unseen.
  bool send_batched(message&& m) { return send_batched(std::make_unique<message>(std::move(m))); }
  bool send_batched(message_ptr&& m) { return channel_->send_batched(checked(std::move(m))); }
  void flush() noexcept { channel_->flush(); }

 private:
  static message_ptr&& checked(message_ptr&& m) {
    if (!m) throw std::invalid_argument("outbox: cannot send an empty message_ptr");
    // Here, on the extension's thread, rather than on the core's: the core
    // only compares it (see message::fingerprint).
    m->fingerprint = detail::service_fingerprint(m->service);
    return std::move(m);
  }
  channel<message_ptr>* channel_;
  channel<message_ptr>* spares_;
};

}  // namespace interlook
