#pragma once
// Scripted test-only extensions: a provider and provisioners whose behaviour
// a test sets from its own thread. Commands run on the extension's thread
// (its outbox has one producer), woken through the inbox's wakeup.

#include <interlook/extension/concepts.hpp>
#include <interlook/extension/job_queue.hpp>

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace scripted {

using namespace interlook;

// Test commands run on the extension's thread through a job_queue.
struct command_loop {
  void post(job_queue::job j) { jobs_.post(std::move(j)); }

 protected:
  template <class OnMessage>
  void loop(inbox& in, outbox& out, OnMessage on_message) {
    jobs_.serve(in, out, std::move(on_message));
  }

  std::mutex mutex_;  // guards the scripted state below each extension

 private:
  job_queue jobs_;
};

struct provider : command_loop {
  static constexpr std::string_view name = "provider.script";
  static constexpr bool answers_refresh = true;
  using config = no_config;
  explicit provider(const config&) {}

  void start(inbox& in, outbox& out) {
    loop(in, out, [this](message m, outbox& o) {
      std::optional<service> answer;
      {
        std::lock_guard lock(mutex_);
        refreshes.push_back(m.service.name);
        auto it = current.find(m.service.name);
        if (it != current.end()) answer = it->second;
      }
      message reply;
      reply.service.name = m.service.name;
      if (answer) {
        reply.action = action::add;
        reply.service = *answer;
      } else {
        reply.action = action::remove;
      }
      o.send(std::move(reply));
    });
  }
  void stop() {}

  void add(service s) {
    {
      std::lock_guard lock(mutex_);
      current[s.name] = s;
    }
    post([s](outbox& o) mutable {
      message m;
      m.action = action::add;
      m.service = std::move(s);
      o.send(std::move(m));
    });
  }
  void remove(const std::string& service_name) {
    {
      std::lock_guard lock(mutex_);
      current.erase(service_name);
    }
    post([service_name](outbox& o) {
      message m;
      m.action = action::remove;
      m.service.name = service_name;
      o.send(std::move(m));
    });
  }
  // The platform loses the service without the provider noticing: only a
  // refresh request finds out.
  void forget(const std::string& service_name) {
    std::lock_guard lock(mutex_);
    current.erase(service_name);
  }
  std::vector<std::string> refresh_requests() {
    std::lock_guard lock(mutex_);
    return refreshes;
  }

 private:
  std::map<std::string, service> current;
  std::vector<std::string> refreshes;
};

// A provisioner that echoes, fails on demand, or holds its answers.
template <const char* Name>
struct provisioner : command_loop {
  static constexpr std::string_view name = Name;
  using config = no_config;
  explicit provisioner(const config&) {}

  void start(inbox& in, outbox& out) {
    loop(in, out, [this](message m, outbox& o) {
      std::lock_guard lock(mutex_);
      if (on_receive) on_receive(m);
      received.push_back(m);
      if (hold) {
        held.push_back(std::move(m));
      } else {
        answer(std::move(m), o);
      }
    });
  }
  void stop() {}

  void fail_next(int n, std::string why) {
    std::lock_guard lock(mutex_);
    failures = n;
    failure_text = std::move(why);
  }
  void set_hold(bool h) {
    std::lock_guard lock(mutex_);
    hold = h;
  }
  // Called (on the extension's thread) with each message as it arrives.
  void set_on_receive(std::function<void(const message&)> f) {
    std::lock_guard lock(mutex_);
    on_receive = std::move(f);
  }
  void release() {
    post([this](outbox& o) {
      std::lock_guard lock(mutex_);
      hold = false;
      for (auto& m : held) answer(std::move(m), o);
      held.clear();
    });
  }
  std::vector<message> messages() {
    std::lock_guard lock(mutex_);
    return received;
  }
  std::size_t held_count() {
    std::lock_guard lock(mutex_);
    return held.size();
  }

 private:
  void answer(message m, outbox& o) {
    if (failures > 0) {
      --failures;
      m.error = failure_text;
    } else if (extension_kind(name) == "ipam" && m.action == action::add) {
      m.service.public_ip = "192.0.2.10";
    }
    o.send(std::move(m));
  }

  std::function<void(const message&)> on_receive;
  std::vector<message> received;
  std::vector<message> held;
  int failures = 0;
  std::string failure_text;
  bool hold = false;
};

inline constexpr char ipam_name[] = "ipam.script";
inline constexpr char dns_name[] = "dns.script";
inline constexpr char lb_name[] = "lb.script";
using ipam = provisioner<ipam_name>;
using dns = provisioner<dns_name>;
using lb = provisioner<lb_name>;

// An extension that cannot be built from its config.
struct broken_ctor {
  static constexpr std::string_view name = "dns.broken";
  using config = no_config;
  explicit broken_ctor(const config&) { throw std::runtime_error("cannot reach the DNS server"); }
  void start(inbox&, outbox&) {}
  void stop() {}
};

// An extension whose run fails after it started.
struct crashing {
  static constexpr std::string_view name = "lb.crashing";
  using config = no_config;
  explicit crashing(const config&) {}
  void start(inbox&, outbox&) { throw std::runtime_error("lost the session"); }
  void stop() {}
};

}  // namespace scripted
