// provider.swarm's decoding of Docker Engine answers
// (ext/provider/swarm/model.hpp, discovery.hpp). The input is up to five
// NUL-separated parts, each one answer: GET /services, /tasks, /nodes,
// /version, then /events lines. json_error naming where the bad value is
// (and, for the version, std::runtime_error from the negotiation) is the
// documented failure. What decodes is observed as the provider does, and a
// service it would announce is one the core accepts: named, with DNS names,
// and merged targets with a host, a port and a weight.
// fuzz-dict: json docker
#include "fuzz/fuzz.hpp"

#include <interlook/ext/provider/swarm/discovery.hpp>

using namespace interlook;
using namespace interlook::ext::provider::swarm_detail;

namespace {

template <class F>
bool decoded(F&& f) {
  try {
    f();
    return true;
  } catch (const json_error& e) {
    FUZZ_CHECK(std::string_view(e.what()).size() > 0, "an empty json_error");
    return false;
  }
}

void check_observation(const observation& o, const docker_service& s) {
  FUZZ_CHECK(o.name == s.name && o.id == s.id, o.name);
  switch (o.what) {
    case observation::kind::ready: {
      FUZZ_CHECK(o.svc.name == s.name && o.svc.provider == provider_name, o.svc.name);
      FUZZ_CHECK(!o.svc.dns_names.empty(), s.name + ": ready without DNS names");
      for (const auto& d : o.svc.dns_names) FUZZ_CHECK(valid_alias(d), s.name + ": alias \"" + d + "\"");
      FUZZ_CHECK(!o.svc.targets.empty(), s.name + ": ready without targets");
      for (std::size_t i = 0; i < o.svc.targets.size(); ++i) {
        const auto& t = o.svc.targets[i];
        FUZZ_CHECK(!t.host.empty() && t.port >= 1 && t.weight >= 1,
                   s.name + ": target \"" + t.host + "\":" + std::to_string(t.port));
        if (i) FUZZ_CHECK(detail::target_less(o.svc.targets[i - 1], t), s.name + ": targets not merged");
      }
      break;
    }
    case observation::kind::malformed:
      FUZZ_CHECK(!o.problem.empty(), s.name + ": malformed without a problem");
      break;
    case observation::kind::no_target:
    case observation::kind::absent:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto p = fuzz::parts(fuzz::text(data, size), 5);
  std::vector<docker_service> services;
  std::vector<docker_task> tasks;
  std::vector<docker_node> nodes;
  decoded([&] { services = decode_services(p[0]); });
  decoded([&] { (void)decode_one_service(p[0]); });
  decoded([&] { tasks = decode_tasks(p[1]); });
  decoded([&] { nodes = decode_nodes(p[2]); });
  decoded([&] {
    auto v = decode_version(p[3]);
    try {
      auto use = negotiate_api_version(v);
      auto parsed = parse_api_version(use);
      FUZZ_CHECK(parsed && *parsed <= *parse_api_version(coded_api_version) &&
                     *parsed >= *parse_api_version(oldest_api_version),
                 "negotiated " + use + " from " + v.api_version);
    } catch (const json_error&) {
      throw;
    } catch (const std::runtime_error& e) {
      FUZZ_CHECK(std::string_view(e.what()).find("API") != std::string_view::npos, e.what());
    }
  });
  std::string_view events = p[4];
  while (!events.empty()) {
    auto nl = events.find('\n');
    auto line = events.substr(0, nl);
    events = nl == std::string_view::npos ? std::string_view{} : events.substr(nl + 1);
    decoded([&] {
      auto e = decode_event(line);
      if (e.type == "service") FUZZ_CHECK(e.service_id == e.actor_id, e.actor_id);
    });
  }

  auto addresses = address_map(nodes);
  std::vector<const docker_task*> all;
  for (const auto& t : tasks) all.push_back(&t);
  std::set<std::string> missing;
  for (const auto& s : services) {
    check_observation(observe(s, all, addresses, "ingress", &missing), s);
    check_observation(observe(s, all, addresses, "host"), s);
  }
  for (const auto& m : missing) {
    bool found = false;
    for (const auto& t : tasks) found = found || t.node_id == m;
    FUZZ_CHECK(found && !addresses.count(m), "missing node " + m);
  }
  return 0;
}
