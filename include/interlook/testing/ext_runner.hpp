#pragma once
// The public test kit: runs one extension on its own thread, as the engine
// would, with the test in the core's seat. It sends to the extension's
// inbox, reads its outbox, waits for log lines, and checks every message the
// extension sends against the extension laws (testing/laws.hpp): a
// violation throws law_violation out of next().
//
//   interlook::testing::ext_runner<my_dns> r(cfg);   // handlers of every form work too
//   r.send(add_message);
//   auto answer = r.next();                          // nullopt after a timeout

#include <interlook/extension/concepts.hpp>
#include <interlook/extension/handler.hpp>
#include <interlook/testing/laws.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace interlook::testing {

// E: an extension, or a handler of any form (wrapped as the registry would).
template <class Ext, class E = as_extension_t<Ext>>
class ext_runner {
 public:
  using clock = std::chrono::steady_clock;

  explicit ext_runner(const typename E::config& cfg)
      : log_(interlook::log_level::debug,
             [this](interlook::log_level level, std::string_view line) {
               // called with the logger's mutex held
               {
                 std::lock_guard lock(lines_mutex_);
                 lines_.emplace_back(line);
                 levels_.push_back(level);
               }
               lines_cv_.notify_all();
             }),
        ctx_(log_, E::name),
        ext_(make(cfg)),
        from_(core_),
        in_(to_.get()),
        out_(from_) {
    thread_ = std::thread([this] { ext_.start(in_, out_); });
  }

  ~ext_runner() { stop(); }

  void stop() {
    if (!thread_.joinable()) return;
    to_.get().close();
    ext_.stop();
    thread_.join();
  }

  E& get() { return ext_; }

  // Requests sent and not answered yet.
  std::size_t pending() const { return laws_.pending(); }

  void send(interlook::message m) {
    laws_.sent(m);
    to_.get().send(std::make_unique<interlook::message>(std::move(m)));
  }

  // The next message from the extension, or nullopt after `timeout`.
  std::optional<interlook::message> next(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = clock::now() + timeout;
    interlook::message_ptr m;
    for (;;) {
      auto ticket = core_.prepare();
      if (from_.try_receive(m)) {
        laws_.received(*m);
        return std::move(*m);
      }
      if (clock::now() >= deadline) return std::nullopt;
      core_.wait_until(ticket, deadline);
    }
  }

  bool nothing_pending() {
    interlook::message_ptr m;
    return !from_.try_receive(m);
  }

  // Waits until a log line containing `text` appears (counting from `from`
  // lines on); returns its index or -1 after the timeout.
  int await_log(const std::string& text, std::size_t from = 0,
                std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(lines_mutex_);
    int found = -1;
    lines_cv_.wait_for(lock, timeout, [&] {
      for (std::size_t i = from; i < lines_.size(); ++i)
        if (lines_[i].find(text) != std::string::npos) {
          found = static_cast<int>(i);
          return true;
        }
      return false;
    });
    return found;
  }

  // How many log lines so far contain `text` (at `level` or above).
  std::size_t count_log(const std::string& text, interlook::log_level level = interlook::log_level::debug) {
    std::lock_guard lock(lines_mutex_);
    std::size_t n = 0;
    for (std::size_t i = 0; i < lines_.size(); ++i)
      n += levels_[i] >= level && lines_[i].find(text) != std::string::npos;
    return n;
  }

  std::size_t log_size() {
    std::lock_guard lock(lines_mutex_);
    return lines_.size();
  }

 private:
  E make(const typename E::config& cfg) {
    if constexpr (std::is_constructible_v<E, const typename E::config&, interlook::extension_context&>)
      return E(cfg, ctx_);
    else
      return E(cfg);
  }

  std::mutex lines_mutex_;
  std::condition_variable lines_cv_;
  std::vector<std::string> lines_;
  std::vector<interlook::log_level> levels_;
  interlook::logger log_;
  interlook::extension_context ctx_;
  E ext_;
  interlook::wakeup core_;
  interlook::mailbox<interlook::message_ptr> to_;
  interlook::channel<interlook::message_ptr> from_;
  interlook::inbox in_;
  interlook::outbox out_;
  law_checker laws_{E::name, wants_outcomes<E>};
  std::thread thread_;
};

}  // namespace interlook::testing
