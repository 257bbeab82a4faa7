#include <interlook/extension/registry.hpp>

#include <doctest/doctest.h>

#include <string>

using namespace interlook;

namespace {
template <const char* Name, bool Provider = false>
struct fake {
  static constexpr std::string_view name = Name;
  static constexpr bool answers_refresh = Provider;
  using config = no_config;
  explicit fake(const config&) {}
  void start(inbox&, outbox&) {}
  void stop() {}
};
constexpr char swarm_name[] = "provider.swarm";
constexpr char k8s_name[] = "provider.kubernetes";
constexpr char ipalloc_name[] = "ipam.ipalloc";
constexpr char consul_name[] = "dns.consul";
constexpr char f5_name[] = "lb.f5ltm";
constexpr char kemp_name[] = "lb.kemplm";
constexpr char other_consul_name[] = "kv.consul";

struct echo_handler {
  static constexpr std::string_view name = "lb.echo";
  using config = no_config;
  explicit echo_handler(const config&) {}
  message handle(message m) { return m; }
};

using reg = registry<fake<swarm_name, true>, fake<k8s_name, true>, fake<ipalloc_name>, fake<consul_name>,
                     fake<f5_name>, fake<kemp_name>, echo_handler>;
}  // namespace

TEST_CASE("names map to indices at compile time") {
  static_assert(reg::size == 7);
  static_assert(reg::find("provider.swarm") == 0);
  static_assert(reg::find("lb.f5ltm") == 4);
  static_assert(reg::find("lb.echo") == 6);
  static_assert(!reg::find("lb.nginx"));
  static_assert(reg::is_provider(1));
  static_assert(!reg::is_provider(2));
  static_assert(reg::names[3] == "dns.consul");
}

TEST_CASE("provisioner.<impl> is an alias of a provisioner's name, not of a provider's") {
  static_assert(reg::find("provisioner.consul") == 3);
  static_assert(reg::find("provisioner.ipalloc") == 2);
  static_assert(reg::find("provisioner.f5ltm") == 4);
  static_assert(reg::find("provisioner.kemplm") == 5);
  static_assert(!reg::find("provisioner.swarm"));
  using two_consuls = registry<fake<swarm_name, true>, fake<consul_name>, fake<other_consul_name>>;
  static_assert(!two_consuls::find("provisioner.consul"));  // ambiguous: needs the kind-based name
  static_assert(two_consuls::find("kv.consul") == 2);
}

TEST_CASE("a workflow string resolves to step indices") {
  CHECK(reg::resolve("provider.swarm,ipam.ipalloc,lb.f5ltm") == std::vector<step_index>{0, 2, 4});
  CHECK(reg::resolve(" provider.kubernetes , provisioner.ipalloc,provisioner.consul ") ==
        std::vector<step_index>{1, 2, 3});
  CHECK(reg::resolve("provider.swarm,lb.echo") == std::vector<step_index>{0, 6});
}

TEST_CASE("a bad workflow string is an error that lists the registered names") {
  CHECK_THROWS_WITH_AS(reg::resolve("provider.swarm,lb.nginx"),
                       "unknown workflow step \"lb.nginx\"; this binary has: provider.swarm, provider.kubernetes, "
                       "ipam.ipalloc, dns.consul, lb.f5ltm, lb.kemplm, lb.echo",
                       workflow_error);
  CHECK_THROWS_WITH_AS(reg::resolve(""), doctest::Contains("names no step"), workflow_error);
  CHECK_THROWS_WITH_AS(reg::resolve("ipam.ipalloc,lb.f5ltm"), doctest::Contains("has no provider"), workflow_error);
  CHECK_THROWS_WITH_AS(reg::resolve("provider.swarm,,lb.f5ltm"), doctest::Contains("empty step"), workflow_error);
  CHECK_THROWS_WITH_AS(reg::resolve("provider.swarm,lb.f5ltm,provisioner.f5ltm"),
                       doctest::Contains("\"provisioner.f5ltm\" appears twice"), workflow_error);
}

TEST_CASE("dispatch from an index reaches the extension type") {
  for (std::size_t i = 0; i < reg::size; ++i) {
    auto name = reg::with_type(i, [](auto type) { return std::string(decltype(type)::type::name); });
    CHECK(name == reg::names[i]);
  }
  int visited = -1;
  reg::with_type(6, [&](auto type) {
    using E = typename decltype(type)::type;
    visited = std::is_same_v<E, provisioner_adapter<echo_handler>> ? 6 : 0;
  });
  CHECK(visited == 6);
}

TEST_CASE("a compile-time workflow fixes its steps in order") {
  using wf = workflow<fake<swarm_name, true>, fake<ipalloc_name>, echo_handler>;
  static_assert(wf::steps.size() == 3);
  static_assert(wf::steps[2] == 2);
  static_assert(is_compile_time_workflow<wf>::value);
  static_assert(!is_compile_time_workflow<reg>::value);
  CHECK(wf::resolve("provider.swarm,ipam.ipalloc,lb.echo") == std::vector<step_index>{0, 1, 2});
}

namespace {
struct status_writer {
  static constexpr std::string_view name = "provider.statusy";
  static constexpr bool answers_refresh = true;
  static constexpr bool wants_outcomes = true;
  using config = no_config;
  explicit status_writer(const config&) {}
  void start(inbox&, outbox&) {}
  void stop() {}
};
struct provisioner_claiming_outcomes {  // only a provider can hear outcomes
  static constexpr std::string_view name = "lb.claims";
  static constexpr bool wants_outcomes = true;
  using config = no_config;
  explicit provisioner_claiming_outcomes(const config&) {}
  message handle(message m) { return m; }
};
using with_outcomes = registry<fake<swarm_name, true>, status_writer, provisioner_claiming_outcomes>;
}  // namespace

TEST_CASE("a provider opts in to outcomes; nobody else hears them") {
  static_assert(!with_outcomes::outcomes[0]);
  static_assert(with_outcomes::outcomes[1]);
  static_assert(!with_outcomes::outcomes[2]);
  CHECK(with_outcomes::outcomes == std::array<bool, 3>{false, true, false});
}
