// Concept tests: types that must satisfy interlook's concepts and types that
// must not, one missing piece each.
#include <interlook/extension/handler.hpp>

#include <doctest/doctest.h>

#include <stdexcept>
#include <thread>

using namespace interlook;

namespace good {
struct dns {
  static constexpr std::string_view name = "dns.good";
  using config = no_config;
  explicit dns(const config&) {}
  void start(inbox&, outbox&) {}
  void stop() {}
};
struct swarm {
  static constexpr std::string_view name = "provider.good";
  static constexpr bool answers_refresh = true;
  using config = no_config;
  explicit swarm(const config&) {}
  void start(inbox&, outbox&) {}
  void stop() {}
};
struct handler_lb {
  static constexpr std::string_view name = "lb.handled";
  struct config {
    std::string prefix = "ok:";
    static constexpr auto fields() { return interlook::fields(optional("prefix", &config::prefix)); }
  };
  std::string prefix;
  explicit handler_lb(const config& c) : prefix(c.prefix) {}
  message handle(message m) {
    if (m.service.name == "boom") throw std::runtime_error("backend refused");
    if (m.service.name == "weird") throw 42;
    m.service.public_ip = prefix + m.service.name;
    return m;
  }
};
}  // namespace good

namespace bad {
struct no_name {
  using config = no_config;
  explicit no_name(const config&) {}
  void start(inbox&, outbox&) {}
  void stop() {}
};
struct runtime_name {
  static inline std::string_view name = "dns.runtime";  // not a constant
  using config = no_config;
  explicit runtime_name(const config&) {}
  void start(inbox&, outbox&) {}
  void stop() {}
};
struct malformed_name {
  static constexpr std::string_view name = "DNS";
  using config = no_config;
  explicit malformed_name(const config&) {}
  void start(inbox&, outbox&) {}
  void stop() {}
};
struct no_config_type {
  static constexpr std::string_view name = "dns.noconfig";
  void start(inbox&, outbox&) {}
  void stop() {}
};
struct undescribed_config {
  static constexpr std::string_view name = "dns.undescribed";
  struct config {
    int x;
  };
  explicit undescribed_config(const config&) {}
  void start(inbox&, outbox&) {}
  void stop() {}
};
struct not_constructible {
  static constexpr std::string_view name = "dns.ctor";
  using config = no_config;
  not_constructible(int) {}
  void start(inbox&, outbox&) {}
  void stop() {}
};
struct no_start {
  static constexpr std::string_view name = "dns.nostart";
  using config = no_config;
  explicit no_start(const config&) {}
  void stop() {}
};
struct no_stop {
  static constexpr std::string_view name = "dns.nostop";
  using config = no_config;
  explicit no_stop(const config&) {}
  void start(inbox&, outbox&) {}
};
struct silent_provider {  // a provider that does not promise to answer refresh
  static constexpr std::string_view name = "provider.silent";
  using config = no_config;
  explicit silent_provider(const config&) {}
  void start(inbox&, outbox&) {}
  void stop() {}
};
struct handler_returning_void {
  static constexpr std::string_view name = "lb.void";
  using config = no_config;
  explicit handler_returning_void(const config&) {}
  void handle(message) {}
};
struct provider_handler {  // providers cannot be handlers: they originate messages
  static constexpr std::string_view name = "provider.handled";
  using config = no_config;
  explicit provider_handler(const config&) {}
  message handle(message m) { return m; }
};
}  // namespace bad

TEST_CASE("extension names: kind.impl") {
  static_assert(is_valid_extension_name("lb.f5ltm"));
  static_assert(is_valid_extension_name("provider.kubernetes"));
  static_assert(is_valid_extension_name("dns.my-dns_2"));
  static_assert(!is_valid_extension_name("lb"));
  static_assert(!is_valid_extension_name("lb."));
  static_assert(!is_valid_extension_name(".f5"));
  static_assert(!is_valid_extension_name("lb.f5.ltm"));
  static_assert(!is_valid_extension_name("LB.f5"));
  static_assert(!is_valid_extension_name("lb f5"));
  static_assert(extension_kind("lb.f5ltm") == "lb");
  static_assert(extension_impl("lb.f5ltm") == "f5ltm");
  CHECK(is_provider_name("provider.swarm"));
  CHECK_FALSE(is_provider_name("ipam.ipalloc"));
}

TEST_CASE("types that satisfy the concepts") {
  static_assert(extension<good::dns>);
  static_assert(provisioner<good::dns>);
  static_assert(!provider<good::dns>);
  static_assert(extension<good::swarm>);
  static_assert(provider<good::swarm>);
  static_assert(!provisioner<good::swarm>);
  static_assert(handler<good::handler_lb>);
  static_assert(!extension<good::handler_lb>);
  static_assert(extension<provisioner_adapter<good::handler_lb>>);
  static_assert(std::is_same_v<as_extension_t<good::handler_lb>, provisioner_adapter<good::handler_lb>>);
  static_assert(std::is_same_v<as_extension_t<good::dns>, good::dns>);
  CHECK(check_extension<good::dns>());
}

TEST_CASE("types that miss one piece fail the concepts") {
  static_assert(!named_extension<bad::no_name>);
  static_assert(!extension<bad::no_name>);
  static_assert(!named_extension<bad::runtime_name>);
  static_assert(!named_extension<bad::malformed_name>);
  static_assert(!configurable_extension<bad::no_config_type>);
  static_assert(!configurable_extension<bad::undescribed_config>);
  static_assert(!configurable_extension<bad::not_constructible>);
  static_assert(!runnable_extension<bad::no_start>);
  static_assert(!runnable_extension<bad::no_stop>);
  static_assert(extension<bad::silent_provider>);
  static_assert(!provider<bad::silent_provider>);
  static_assert(!handler<bad::handler_returning_void>);
  static_assert(!handler<bad::provider_handler>);
}

TEST_CASE("the handler adapter answers every message and turns exceptions into errors") {
  provisioner_adapter<good::handler_lb> lb(good::handler_lb::config{});
  mailbox<message_ptr> to_ext;
  wakeup core;
  channel<message_ptr> from_ext(core);
  inbox in(to_ext.get());
  outbox out(from_ext);
  std::thread runner([&] { lb.start(in, out); });

  for (const char* name : {"web", "boom", "weird"}) {
    message m;
    m.action = action::add;
    m.service.name = name;
    to_ext.get().send(std::make_unique<message>(std::move(m)));
  }
  std::vector<message> answers;
  while (answers.size() < 3) {
    auto ticket = core.prepare();
    message_ptr m;
    if (from_ext.try_receive(m)) {
      answers.push_back(std::move(*m));
    } else {
      core.wait(ticket);
    }
  }
  lb.stop();
  runner.join();

  CHECK(answers[0].error.empty());
  CHECK(answers[0].service.public_ip == "ok:web");
  CHECK(answers[1].service.name == "boom");
  CHECK(answers[1].action == action::add);
  CHECK(answers[1].error == "lb.handled: backend refused");
  CHECK(answers[2].error == "lb.handled: unknown exception");
}

TEST_CASE("a handler adapter stopped before it starts returns at once") {
  provisioner_adapter<good::handler_lb> lb(good::handler_lb::config{});
  mailbox<message_ptr> to_ext;
  wakeup core;
  channel<message_ptr> from_ext(core);
  inbox in(to_ext.get());
  outbox out(from_ext);
  lb.stop();
  lb.start(in, out);  // would block forever if stop() were lost
}
