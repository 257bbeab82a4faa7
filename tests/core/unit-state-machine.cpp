// The SPEC's workflow rules, one scenario each, on the state machine alone:
// no threads, the sink records what would be sent, time is passed in.
#include <interlook/core/state_machine.hpp>

#include <doctest/doctest.h>

#include <deque>

using namespace interlook;
using namespace std::chrono_literals;

namespace {

// Workflow: provider.script, ipam.script, dns.script, lb.script.
constexpr std::size_t P = 0, IPAM = 1, DNS = 2, LB = 3;

struct harness {
  std::deque<std::pair<std::size_t, message>> sent;
  std::vector<std::string> logs;
  core_config cfg;
  std::unique_ptr<state_machine> sm;

  explicit harness(core_config c = {}, bool provider_wants_outcomes = false) : cfg(std::move(c)) {
    cfg.retryInitialInterval = 1s;
    cfg.retryMaxInterval = 4s;
    state_machine::sink out{[this](std::size_t step, message_ptr&& m) { sent.emplace_back(step, std::move(*m)); },
                            [this](log_level, const std::string& line) { logs.push_back(line); }, log_level::debug};
    sm = std::make_unique<state_machine>(
        cfg,
        std::vector<workflow_step>{{"provider.script", true, false, provider_wants_outcomes},
                                   make_workflow_step("ipam.script"), make_workflow_step("dns.script"),
                                   make_workflow_step("lb.script")},
        std::move(out));
  }

  static service web(std::vector<target> targets = {{"10.0.0.1", 8080, 1}}) {
    return service{"provider.script", "web", std::move(targets), false, "", {"web.example"}};
  }

  void provider(action a, service s) {
    message m;
    m.action = a;
    m.service = std::move(s);
    sm->receive(P, std::move(m));
  }

  // Takes the next sent message, checking where it went and what it asks.
  message expect(std::size_t step, action a, const std::string& name = "web") {
    REQUIRE_MESSAGE(!sent.empty(), "nothing was sent; expected " << to_string(a) << " to step " << step);
    auto [to, m] = std::move(sent.front());
    sent.pop_front();
    CHECK(to == step);
    CHECK(m.action == a);
    CHECK(m.service.name == name);
    return m;
  }

  // The extension at `step` answers m (possibly with an error).
  void answer(std::size_t step, message m, std::string error = {}) {
    m.error = std::move(error);
    if (step == IPAM && m.action == action::add && m.error.empty()) m.service.public_ip = "192.0.2.7";
    sm->receive(step, std::move(m));
  }

  // web added and deleted again, every step answered at once.
  void deploy_and_undeploy() {
    provider(action::add, web());
    run();
    provider(action::remove, web());
    run();
  }

  // Echoes every pending message until nothing more is sent.
  void run() {
    while (!sent.empty()) {
      auto [to, m] = std::move(sent.front());
      sent.pop_front();
      if (m.action != action::refresh) answer(to, std::move(m));
    }
  }

  const entry& at(const std::string& name = "web") { return sm->entries().at(name); }
  std::string state(const std::string& name = "web") { return sm->state_name(at(name)); }
};

}  // namespace

TEST_CASE("rule 1 and 3: a new service walks forward through every provisioner to deployed") {
  harness h;
  auto before = now();
  h.provider(action::add, harness::web());
  CHECK(h.state() == "ipam.script");
  CHECK(h.at().work_in_progress);
  CHECK(h.at().expect_deployed);
  CHECK(h.at().time_detected >= before);
  CHECK(h.at().wip_time >= before);
  auto m = h.expect(IPAM, action::add);
  CHECK(m.destination == "ipam.script");
  h.answer(IPAM, m);
  CHECK(h.state() == "dns.script");
  auto dns = h.expect(DNS, action::add);
  CHECK(dns.service.public_ip == "192.0.2.7");  // the IPAM's change is merged and carried on
  h.answer(DNS, dns);
  h.answer(LB, h.expect(LB, action::add));
  CHECK(h.state() == "deployed");
  CHECK_FALSE(h.at().work_in_progress);
  CHECK(h.at().close_time >= before);
  CHECK(h.at().service.public_ip == "192.0.2.7");
  CHECK(h.sent.empty());
  CHECK(h.sm->counters().deployed == 1);
}

TEST_CASE("rule 3: a provisioner that alters what it sends back does not pass the alteration on") {
  harness h;
  h.provider(action::add, harness::web({{"10.0.0.1", 8080, 1}, {"10.0.0.2", 8080, 1}}));
  auto m = h.expect(IPAM, action::add);
  h.answer(IPAM, std::move(m));
  auto to_dns = h.expect(DNS, action::add);
  // DNS answers with targets, aliases and TLS of its own making, and an
  // empty provider; only an IPAM's public_ip may come back from a step.
  to_dns.service.targets[0].port = 9999;
  to_dns.service.targets.pop_back();
  to_dns.service.dns_names = {"evil.example"};
  to_dns.service.tls = true;
  to_dns.service.provider.clear();
  h.answer(DNS, std::move(to_dns));
  auto to_lb = h.expect(LB, action::add);
  CHECK(to_lb.service == h.at().service);
  CHECK(to_lb.service.targets == std::vector<target>{{"10.0.0.1", 8080, 1}, {"10.0.0.2", 8080, 1}});
  CHECK(to_lb.service.dns_names == std::vector<std::string>{"web.example"});
  CHECK_FALSE(to_lb.service.tls);
  CHECK(to_lb.service.public_ip == "192.0.2.7");
  CHECK(to_lb.service.provider == "provider.script");
  // An unaltered answer goes on as it came: the same definition again.
  auto unchanged = to_lb;
  h.answer(LB, std::move(to_lb));
  CHECK(h.state() == "deployed");
  CHECK(h.at().service == unchanged.service);
}

TEST_CASE("law 4: a step other than ipam that changes an address already given fails, not silently ignored") {
  harness h;
  h.provider(action::add, harness::web());
  h.answer(IPAM, h.expect(IPAM, action::add));
  auto to_dns = h.expect(DNS, action::add);
  to_dns.service.public_ip = "203.0.113.9";
  h.answer(DNS, std::move(to_dns));
  CHECK(h.state() == "dns.script");
  CHECK(h.at().error == "dns.script answered with public IP 203.0.113.9 for a service that has 192.0.2.7; "
                        "only an ipam step may change an address already given");
  CHECK(h.at().service.public_ip == "192.0.2.7");
}

TEST_CASE("law 4: a load balancer may give a VIP to a service that has none (no ipam in the workflow)") {
  harness h;
  h.provider(action::add, harness::web());
  auto to_ipam = h.expect(IPAM, action::add);
  to_ipam.service.public_ip.clear();  // an IPAM that gives nothing (answered by hand, below)
  h.sm->receive(IPAM, std::move(to_ipam));
  h.answer(DNS, h.expect(DNS, action::add));
  auto to_lb = h.expect(LB, action::add);
  CHECK(to_lb.service.public_ip.empty());
  to_lb.service.public_ip = "198.51.100.4";
  h.answer(LB, std::move(to_lb));
  CHECK(h.state() == "deployed");
  CHECK(h.at().service.public_ip == "198.51.100.4");
}

TEST_CASE("rule 2: an unchanged add for a deployed service does nothing but note the time") {
  harness h;
  h.provider(action::add, harness::web({{"b", 1, 1}, {"a", 1, 1}, {"b", 1, 1}}));
  h.run();
  REQUIRE(h.state() == "deployed");
  auto seen = h.at().last_update;
  // Same definition in another order and with duplicates spelled out.
  h.provider(action::add, harness::web({{"b", 1, 1}, {"a", 1, 1}, {"b", 1, 1}}));
  h.provider(action::add, harness::web({{"a", 1, 1}, {"b", 1, 2}}));
  CHECK(h.sent.empty());
  CHECK(h.at().last_update >= seen);
  CHECK(h.at().service.targets == std::vector<target>{{"a", 1, 1}, {"b", 1, 2}});
}

TEST_CASE("rule 2: a changed definition walks the workflow again and keeps the public IP") {
  harness h;
  h.provider(action::add, harness::web());
  h.run();
  h.provider(action::add, harness::web({{"10.0.0.9", 8080, 1}}));
  auto m = h.expect(IPAM, action::add);
  CHECK(m.service.targets == std::vector<target>{{"10.0.0.9", 8080, 1}});
  CHECK(m.service.public_ip == "192.0.2.7");
  h.answer(IPAM, m);
  h.run();
  CHECK(h.state() == "deployed");
}

TEST_CASE("rule 2: an update during a walk is applied once the current step answers") {
  harness h;
  h.provider(action::add, harness::web());
  auto first = h.expect(IPAM, action::add);
  h.provider(action::add, harness::web({{"10.0.0.2", 80, 1}}));
  CHECK(h.sent.empty());  // nothing sent while ipam works: never two steps at once
  CHECK(h.at().restart_walk);
  h.answer(IPAM, first);
  // The walk restarts from the first provisioner with the new definition.
  auto again = h.expect(IPAM, action::add);
  CHECK(again.service.targets == std::vector<target>{{"10.0.0.2", 80, 1}});
  h.answer(IPAM, again);
  auto dns = h.expect(DNS, action::add);
  CHECK(dns.service.targets == std::vector<target>{{"10.0.0.2", 80, 1}});
  h.answer(DNS, dns);
  h.run();
  CHECK(h.state() == "deployed");
  CHECK_FALSE(h.at().restart_walk);
}

TEST_CASE("rule 4: an error stops the walk at its step and is retried with exponential backoff") {
  harness h;
  h.provider(action::add, harness::web());
  h.answer(IPAM, h.expect(IPAM, action::add));
  auto t0 = state_machine::clock::now();
  h.answer(DNS, h.expect(DNS, action::add), "zone is read-only");
  CHECK(h.state() == "dns.script");
  CHECK(h.at().error == "zone is read-only");
  CHECK_FALSE(h.at().work_in_progress);
  CHECK(h.sent.empty());
  // Not before the first interval (1s) ...
  h.sm->tick(t0 + 900ms);
  CHECK(h.sent.empty());
  CHECK(h.sm->next_deadline() <= t0 + 1100ms);
  h.sm->tick(t0 + 1100ms);
  auto t1 = state_machine::clock::now();
  h.answer(DNS, h.expect(DNS, action::add), "still read-only");
  // ... then twice as long (2s) ...
  h.sm->tick(t1 + 1900ms);
  CHECK(h.sent.empty());
  h.sm->tick(t1 + 2100ms);
  auto t2 = state_machine::clock::now();
  h.answer(DNS, h.expect(DNS, action::add), "still read-only");
  // ... capped at retryMaxInterval (4s).
  h.sm->tick(t2 + 3900ms);
  CHECK(h.sent.empty());
  h.sm->tick(t2 + 4100ms);
  h.answer(DNS, h.expect(DNS, action::add));
  h.run();
  CHECK(h.state() == "deployed");
  CHECK(h.at().error.empty());  // a successful walk clears the error
  CHECK(h.sm->counters().errors[DNS] == 3);
}

TEST_CASE("rule 4: the provider's next add retries an entry in error at once") {
  harness h;
  h.provider(action::add, harness::web());
  h.answer(IPAM, h.expect(IPAM, action::add), "pool exhausted");
  h.provider(action::add, harness::web());
  h.answer(IPAM, h.expect(IPAM, action::add));
  h.run();
  CHECK(h.state() == "deployed");
}

TEST_CASE("rule 5: a delete walks back through the steps reached, carrying the stored definition") {
  harness h;
  h.provider(action::add, harness::web());
  h.run();
  // The provider no longer knows the service: only the name comes with the delete.
  service gone;
  gone.name = "web";
  h.provider(action::remove, gone);
  CHECK_FALSE(h.at().expect_deployed);
  auto lb = h.expect(LB, action::remove);
  CHECK(lb.service.public_ip == "192.0.2.7");
  CHECK(lb.service.dns_names == std::vector<std::string>{"web.example"});
  CHECK(lb.service.targets.size() == 1);
  h.answer(LB, lb);
  h.answer(DNS, h.expect(DNS, action::remove));
  h.answer(IPAM, h.expect(IPAM, action::remove));
  CHECK(h.state() == "undeployed");
  CHECK_FALSE(h.at().work_in_progress);
  CHECK(h.sent.empty());
}

TEST_CASE("rule 5: a delete during a walk rolls back the step in progress too") {
  harness h;
  h.provider(action::add, harness::web());
  h.answer(IPAM, h.expect(IPAM, action::add));
  auto dns_add = h.expect(DNS, action::add);
  service gone;
  gone.name = "web";
  h.provider(action::remove, gone);
  CHECK(h.sent.empty());
  h.answer(DNS, dns_add);
  h.answer(DNS, h.expect(DNS, action::remove));  // rolled back, though it was mid-walk
  h.answer(IPAM, h.expect(IPAM, action::remove));
  CHECK(h.state() == "undeployed");
  CHECK(h.sm->counters().sent[LB][0] == 0);  // lb never saw the service
}

TEST_CASE("rule 5: a delete for an entry stopped in error undoes the failed step as well") {
  harness h;
  h.provider(action::add, harness::web());
  h.answer(IPAM, h.expect(IPAM, action::add));
  h.answer(DNS, h.expect(DNS, action::add), "half done");
  service gone;
  gone.name = "web";
  h.provider(action::remove, gone);
  h.answer(DNS, h.expect(DNS, action::remove));
  h.answer(IPAM, h.expect(IPAM, action::remove));
  CHECK(h.state() == "undeployed");
  CHECK(h.at().error.empty());
}

TEST_CASE("rule 6: stale and foreign answers are logged and ignored") {
  harness h;
  h.provider(action::add, harness::web());
  auto ipam = h.expect(IPAM, action::add);
  // An answer from a step that is not the entry's current one.
  message foreign = ipam;
  h.sm->receive(LB, std::move(foreign));
  // An answer for a service nobody asked about.
  message unknown = ipam;
  unknown.service.name = "ghost";
  h.sm->receive(IPAM, std::move(unknown));
  // An answer with the wrong action for the step in progress.
  message wrong = ipam;
  wrong.action = action::remove;
  h.sm->receive(IPAM, std::move(wrong));
  CHECK(h.sm->counters().stale == 3);
  CHECK(h.state() == "ipam.script");
  CHECK(h.at().work_in_progress);
  CHECK(h.sent.empty());
  h.answer(IPAM, ipam);
  // Answering twice: the second is stale.
  message twice = ipam;
  h.sm->receive(IPAM, std::move(twice));
  CHECK(h.sm->counters().stale == 4);
  CHECK(h.state() == "dns.script");
  bool logged = false;
  for (auto& l : h.logs) logged = logged || l.find("ignored a stale add answer from lb.script for web") != std::string::npos;
  CHECK(logged);
}

TEST_CASE("rule 7: an entry in progress too long is closed in error naming its step, then retried") {
  core_config c;
  c.serviceWIPTimeout = 90s;
  harness h(c);
  h.provider(action::add, harness::web());
  h.answer(IPAM, h.expect(IPAM, action::add));
  h.expect(DNS, action::add);  // never answered
  h.sm->housekeep(now() + 60s);
  CHECK(h.at().work_in_progress);
  h.sm->housekeep(now() + 91s);
  CHECK_FALSE(h.at().work_in_progress);
  CHECK(h.at().error == "timed out after 1m30s in step dns.script");
  CHECK(h.state() == "dns.script");
  CHECK(h.sm->in_flight() == 0);
  h.sm->tick(state_machine::clock::now() + 2s);
  h.answer(DNS, h.expect(DNS, action::add));
  h.run();
  CHECK(h.state() == "deployed");
}

TEST_CASE("rule 7 and 5: a stale deployed entry gets a refresh request; a refresh answered by delete undeploys") {
  core_config c;
  c.serviceMaxLastUpdated = 90s;
  harness h(c);
  h.provider(action::add, harness::web());
  h.run();
  h.sm->housekeep(now() + 30s);
  CHECK(h.sent.empty());
  h.sm->housekeep(now() + 91s);
  auto refresh = h.expect(P, action::refresh);
  CHECK(refresh.destination == "provider.script");
  h.provider(action::remove, refresh.service);
  h.answer(LB, h.expect(LB, action::remove));
  h.run();
  CHECK(h.state() == "undeployed");
}

TEST_CASE("rule 7: undeployed entries are removed after cleanUndeployedServiceAfter") {
  core_config c;
  c.cleanUndeployedServiceAfter = 10min;
  harness h(c);
  h.deploy_and_undeploy();
  REQUIRE(h.state() == "undeployed");
  h.sm->take_dirty();
  h.sm->housekeep(now() + 9min);
  CHECK(h.sm->entries().count("web") == 1);
  h.sm->housekeep(now() + 11min);
  CHECK(h.sm->entries().count("web") == 0);
  CHECK(h.sm->take_dirty() == std::vector<std::string>{"web"});  // the store learns of the removal
}

TEST_CASE("a provider flapping add/delete converges on its last word") {
  harness h;
  service gone;
  gone.name = "web";
  h.provider(action::add, harness::web());
  auto ipam = h.expect(IPAM, action::add);
  for (int i = 0; i < 5; ++i) {
    h.provider(action::remove, gone);
    h.provider(action::add, harness::web());
  }
  h.provider(action::remove, gone);
  h.answer(IPAM, ipam);
  h.run();
  CHECK(h.state() == "undeployed");
  h.provider(action::add, harness::web());
  h.run();
  CHECK(h.state() == "deployed");
  CHECK(h.sm->in_flight() == 0);
}

TEST_CASE("an add during a reverse walk turns it round after the current step") {
  harness h;
  h.provider(action::add, harness::web());
  h.run();
  h.provider(action::remove, harness::web());
  auto lb_delete = h.expect(LB, action::remove);
  h.provider(action::add, harness::web());
  CHECK(h.sent.empty());
  h.answer(LB, lb_delete);
  h.answer(LB, h.expect(LB, action::add));  // re-added where it was just removed
  CHECK(h.state() == "deployed");
}

TEST_CASE("two services interleave without disturbing each other") {
  harness h;
  h.provider(action::add, harness::web());
  service api = harness::web({{"10.0.0.5", 9090, 1}});
  api.name = "api";
  h.provider(action::add, api);
  auto web_ipam = h.expect(IPAM, action::add, "web");
  auto api_ipam = h.expect(IPAM, action::add, "api");
  h.answer(IPAM, api_ipam);  // answered in the other order
  h.answer(IPAM, web_ipam);
  auto api_dns = h.expect(DNS, action::add, "api");
  auto web_dns = h.expect(DNS, action::add, "web");
  CHECK(api_dns.service.targets[0].port == 9090);
  CHECK(web_dns.service.targets[0].port == 8080);
  h.answer(DNS, web_dns);
  h.answer(DNS, api_dns);
  h.run();
  CHECK(h.state("web") == "deployed");
  CHECK(h.state("api") == "deployed");
}

TEST_CASE("messages without a service name are reported, not tracked") {
  harness h;
  h.provider(action::add, service{});
  CHECK(h.sm->entries().empty());
  CHECK(h.logs.back() == "provider.script sent a add without a service name; ignored");
}

TEST_CASE("restored entries resume: in progress re-sent, in error retried, at rest untouched") {
  harness h;
  entry wip;
  wip.position = 3;  // dns.script
  wip.work_in_progress = true;
  wip.service = harness::web();
  h.sm->restore("web", wip);
  entry failed;
  failed.position = 2;
  failed.error = "boom";
  failed.service = harness::web();
  failed.service.name = "api";
  h.sm->restore("api", failed);
  entry done;
  done.position = h.sm->deployed_position();
  done.service = harness::web();
  done.service.name = "old";
  h.sm->restore("old", done);
  h.sm->resume_all();
  h.answer(DNS, h.expect(DNS, action::add, "web"));
  h.answer(LB, h.expect(LB, action::add, "web"));
  CHECK(h.state("web") == "deployed");
  CHECK(h.sent.empty());
  h.sm->tick(state_machine::clock::now() + 2s);
  h.expect(IPAM, action::add, "api");
  CHECK(h.state("old") == "deployed");
}

TEST_CASE("held steps during shutdown are recorded, not sent") {
  harness h;
  h.provider(action::add, harness::web());
  auto ipam = h.expect(IPAM, action::add);
  h.sm->hold_new_steps();
  CHECK(h.sm->in_flight() == 1);
  h.answer(IPAM, ipam);
  CHECK(h.sm->in_flight() == 0);
  CHECK(h.sent.empty());
  CHECK(h.state() == "dns.script");
  CHECK(h.at().work_in_progress);  // resumes from here after a restart
}

TEST_CASE("the journal learns of new definitions, errors and closes, not of each step done") {
  harness h;
  h.provider(action::add, harness::web());
  auto changes = h.sm->take_changes();
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].name == "web");
  CHECK(changes[0].definition);
  // IPAM answers (and sets the public IP): journalled, the IP is the entry's.
  h.answer(IPAM, h.expect(IPAM, action::add));
  CHECK(h.sm->take_dirty() == std::vector<std::string>{"web"});
  // DNS answers: a plain step done, nothing to journal.
  h.answer(DNS, h.expect(DNS, action::add));
  CHECK(h.state() == "lb.script");
  CHECK_FALSE(h.sm->has_changes());
  // The load balancer fails: the error is journalled.
  h.answer(LB, h.expect(LB, action::add), "refused");
  CHECK(h.sm->take_dirty() == std::vector<std::string>{"web"});
  // The provider's next add retries it at once; the close is journalled.
  h.provider(action::add, harness::web());
  h.sm->take_dirty();
  h.answer(LB, h.expect(LB, action::add));
  CHECK(h.state() == "deployed");
  CHECK(h.sm->take_dirty() == std::vector<std::string>{"web"});
  // A delete is journalled when it comes; the steps back are not, the end is.
  h.provider(action::remove, harness::web());
  CHECK(h.sm->take_dirty() == std::vector<std::string>{"web"});
  h.answer(LB, h.expect(LB, action::remove));
  CHECK_FALSE(h.sm->has_changes());
  h.answer(DNS, h.expect(DNS, action::remove));
  h.answer(IPAM, h.expect(IPAM, action::remove));
  CHECK(h.state() == "undeployed");
  CHECK(h.sm->take_dirty() == std::vector<std::string>{"web"});
}

TEST_CASE("an answer about a removed entry does not touch the entry that took its place") {
  core_config c;
  c.cleanUndeployedServiceAfter = 10min;
  harness h(c);
  h.provider(action::add, harness::web());
  h.run();
  h.provider(action::remove, harness::web());
  auto late = h.expect(LB, action::remove);  // held back: answered after all this
  h.answer(LB, late);
  h.run();
  REQUIRE(h.state() == "undeployed");
  h.sm->housekeep(now() + 11min);
  REQUIRE(h.sm->entries().count("web") == 0);
  // A new service takes the freed place in the core's index.
  h.provider(action::add, harness::web({{"10.0.0.9", 80, 1}}));
  auto fresh = h.expect(IPAM, action::add);
  auto stale_before = h.sm->counters().stale;
  // The old answer comes again (a duplicate from the LB): its ticket names
  // the old entry, which is gone; by name it is no answer to what is in
  // progress either.
  late.service.name = "web";
  h.sm->receive(LB, message(late));
  CHECK(h.sm->counters().stale == stale_before + 1);
  CHECK(h.state() == "ipam.script");
  CHECK(h.at().work_in_progress);
  // The renamed copy of a live answer is judged by its name, not its ticket.
  message renamed = fresh;
  renamed.service.name = "other";
  h.sm->receive(IPAM, std::move(renamed));
  CHECK(h.sm->counters().stale == stale_before + 2);
  CHECK(h.state() == "ipam.script");
  h.answer(IPAM, fresh);
  CHECK(h.state() == "dns.script");
}

TEST_CASE("a service removed and added again before a commit is journalled gone, then new") {
  core_config c;
  c.cleanUndeployedServiceAfter = 10min;
  harness h(c);
  h.deploy_and_undeploy();
  h.sm->take_changes();
  h.sm->housekeep(now() + 11min);
  h.provider(action::add, harness::web({{"10.0.0.9", 80, 1}}));
  auto changes = h.sm->take_changes();
  REQUIRE(changes.size() == 2);
  CHECK(changes[0].name == "web");
  CHECK(changes[0].now == nullptr);  // the removal comes first...
  CHECK(changes[1].name == "web");
  REQUIRE(changes[1].now != nullptr);  // ...then the new entry, whole
  CHECK(changes[1].definition);
  CHECK(changes[1].now->service.targets == std::vector<target>{{"10.0.0.9", 80, 1}});
  CHECK_FALSE(h.sm->has_changes());
}

TEST_CASE("outcomes: a provider that asked hears deployed (final definition) and undeployed; others hear nothing") {
  harness quiet;
  quiet.provider(action::add, harness::web());
  quiet.answer(IPAM, quiet.expect(IPAM, action::add));
  quiet.answer(DNS, quiet.expect(DNS, action::add));
  quiet.answer(LB, quiet.expect(LB, action::add));
  CHECK(quiet.state() == "deployed");
  CHECK(quiet.sent.empty());

  harness h({}, true);
  h.provider(action::add, harness::web());
  h.answer(IPAM, h.expect(IPAM, action::add));
  h.answer(DNS, h.expect(DNS, action::add));
  h.answer(LB, h.expect(LB, action::add));
  CHECK(h.state() == "deployed");
  auto deployed = h.expect(P, action::add);
  CHECK(deployed.sender == "core");
  CHECK(deployed.service.public_ip == "192.0.2.7");
  CHECK(deployed.service == h.at().service);
  CHECK(h.sent.empty());
  h.provider(action::remove, harness::web());
  h.answer(LB, h.expect(LB, action::remove));
  h.answer(DNS, h.expect(DNS, action::remove));
  h.answer(IPAM, h.expect(IPAM, action::remove));
  auto undeployed = h.expect(P, action::remove);
  CHECK(undeployed.service.public_ip == "192.0.2.7");  // what was deployed, to clear it
  CHECK(h.sent.empty());
}
