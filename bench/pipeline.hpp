#pragma once
// What the throughput benchmarks run: a provider that pushes N services on
// command, echo provisioners, and the raw pipeline baseline (same threads,
// same SPSC hops, no state machine).

#include <interlook/runtime/engine.hpp>
#include <interlook/extension/job_queue.hpp>

#include <boost/unordered/unordered_flat_map.hpp>

#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bench {

using namespace interlook;

// N services with 3 targets and 1 DNS alias each, as in the Go measurement.
inline std::vector<service> make_services(std::size_t n) {
  std::vector<service> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    service s;
    s.provider = "provider.bench";
    s.name = "svc" + std::to_string(i);
    for (int t = 0; t < 3; ++t)
      s.targets.push_back({"10." + std::to_string(t) + "." + std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255),
                           30000 + static_cast<std::uint32_t>(i % 1000), 1});
    s.dns_names.push_back(s.name + ".bench.example");
    out.push_back(std::move(s));
  }
  return out;
}

// A provider that sends what it is told to, from its own thread.
struct push_provider {
  static constexpr std::string_view name = "provider.bench";
  static constexpr bool answers_refresh = true;  // answers nothing: the bench never goes stale
  using config = no_config;
  explicit push_provider(const config&) {}

  void start(inbox& in, outbox& out) {
    jobs_.serve(in, out, [](message, outbox&) {});  // refresh requests: none in the bench
  }
  void stop() {}

  void push(const std::vector<service>* services, action a) {
    jobs_.post([services, a](outbox& out) {
      for (const auto& s : *services) {
        auto m = out.make_message();
        m->action = a;
        m->service = s;
        out.send_batched(std::move(m));
      }
      out.flush();
    });
  }

 private:
  job_queue jobs_;
};

// A provisioner that answers every message unchanged: only the framework's
// cost remains.
template <const char* Name>
struct echo {
  static constexpr std::string_view name = Name;
  using config = no_config;
  explicit echo(const config&) {}
  message handle(message m) { return m; }
};

inline constexpr char echo1[] = "lb.echo1";
inline constexpr char echo2[] = "lb.echo2";
inline constexpr char echo3[] = "lb.echo3";
inline constexpr char echo4[] = "lb.echo4";
inline constexpr char echo5[] = "lb.echo5";
inline constexpr char echo6[] = "lb.echo6";

using bench_registry = registry<push_provider, echo<echo1>, echo<echo2>, echo<echo3>, echo<echo4>, echo<echo5>,
                                echo<echo6>>;

inline std::string workflow_of(int k) {
  std::string w = "provider.bench";
  for (int i = 1; i <= k; ++i) w += ",lb.echo" + std::to_string(i);
  return w;
}

// --- The raw pipeline: provider thread -> core <-> K echo threads ------------
//
// The same message type, the same moodycamel SPSC channels and wakeup, one
// hash-map update per message on the core, the same 2K+1 hops per service
// and phase, each message handed on in its box (as the engine does), and nothing
// else: the physical limit of this design on this machine.
class raw_pipeline {
 public:
  explicit raw_pipeline(int k) : k_(k) {
    for (int i = 0; i < k; ++i) {
      links_.push_back(std::make_unique<link>(core_wake_));
    }
    for (int i = 0; i < k; ++i) threads_.emplace_back([this, i] {
      interlook::detail::name_this_thread("raw-echo" + std::to_string(i + 1));
      echo_loop(*links_[i]);
    });
  }
  ~raw_pipeline() {
    for (auto& l : links_) l->to.get().close();
    for (auto& t : threads_) t.join();
  }

  // Pushes every service through all K steps forward (add) or backward
  // (delete); returns when all have come through.
  void run(const std::vector<service>& services, action a) {
    channel<message_ptr> from_provider(core_wake_);
    std::thread provider([&] {
      interlook::detail::name_this_thread("raw-provider");
      for (const auto& s : services) {
        auto m = recycled_or_new(&spares_);
        m->action = a;
        m->service = s;
        from_provider.send_batched(std::move(m));
      }
      from_provider.flush();
    });
    std::size_t done = 0;
    while (done < services.size()) {
      auto ticket = core_wake_.prepare();
      bool any = false;
      message_ptr m;
      while (from_provider.try_receive(m)) {
        any = true;
        auto& st = table_[m->service.name];
        st = a == action::add ? 0 : k_ - 1;
        links_[st]->to.get().send_batched(std::move(m));
      }
      flush_all();
      for (int i = 0; i < k_; ++i) {
        while (links_[i]->from.try_receive(m)) {
          any = true;
          auto& st = table_[m->service.name];
          int next = a == action::add ? st + 1 : st - 1;
          if (next < 0 || next >= k_) {
            ++done;
            // Back to the provider for reuse, as the engine does.
            if (spares_.size_approx() < 1024) spares_.send_batched(std::move(m));
            continue;
          }
          st = next;
          links_[st]->to.get().send_batched(std::move(m));
        }
        flush_all();
      }
      if (!any) core_wake_.wait(ticket);
    }
    provider.join();
  }

 private:
  struct link {
    explicit link(wakeup& core) : from(core) {}
    mailbox<message_ptr> to;
    channel<message_ptr> from;
  };
  void flush_all() {
    for (auto& l : links_) l->to.get().flush();
  }
  // Drains what has arrived, answers it with one wake-up for the lot.
  static void echo_loop(link& l) {
    auto& in = l.to.get();
    auto& w = in.consumer_wakeup();
    message_ptr m;
    for (;;) {
      auto ticket = w.prepare();
      bool any = false;
      while (in.try_receive(m)) {
        any = true;
        l.from.send_batched(std::move(m));
      }
      l.from.flush();
      if (!any) {
        if (in.closed()) return;
        w.wait(ticket);
      }
    }
  }

  int k_;
  wakeup core_wake_;
  wakeup spares_wake_;  // nobody waits for spares
  channel<message_ptr> spares_{spares_wake_};
  std::vector<std::unique_ptr<link>> links_;
  std::vector<std::thread> threads_;
  boost::unordered_flat_map<std::string, int> table_;  // service -> current step
};

}  // namespace bench
