// lb.f5ltm against the simulated BIG-IP (tests/simulators/f5), run as the
// engine runs it: the concurrent form through the public test kit, which
// also checks every answer against the extension laws.

#include <interlook/ext/lb/f5ltm/f5ltm.hpp>
#include <interlook/testing/ext_runner.hpp>

#include "tests/http/test_pki.hpp"
#include "tests/simulators/f5/f5_simulator.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace interlook;
using interlook::ext::lb::f5ltm;
using interlook::testing::ext_runner;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

f5sim::simulator::options sim_options() {
  f5sim::simulator::options o;
  o.partitions = {"Common", "interlook"};
  return o;
}

f5ltm::config base_config(const std::string& url) {
  f5ltm::config c;
  c.httpEndpoint = url;
  c.username = "admin";
  c.password = secret{"admin-password"};
  c.partition = "interlook";
  c.monitorName = "tcp";
  c.tcpProfile = "tcp-lan-optimized";
  c.maxInFlight = 4;
  return c;
}

f5ltm::config policy_config(const std::string& url) {
  auto c = base_config(url);
  c.updateMode = f5ltm::update_mode::policy;
  c.globalHTTPPolicy = "http_policy";
  c.globalSSLPolicy = "https_policy";
  return c;
}

message msg(action a, const std::string& name, const std::string& ip, std::vector<target> targets, bool tls = false,
            std::vector<std::string> aliases = {}) {
  message m;
  m.action = a;
  m.service.name = name;
  m.service.public_ip = ip;
  m.service.targets = std::move(targets);
  m.service.tls = tls;
  m.service.dns_names = std::move(aliases);
  return m;
}

// Sends one message and returns its answer's error ("" on success).
template <class Runner>
std::string step(Runner& r, message m) {
  r.send(std::move(m));
  auto a = r.next();
  REQUIRE(a);
  return a->error;
}

int writes_except_transactions(f5sim::simulator& sim) {
  int n = 0;
  for (const auto& [k, v] : sim.writes())
    if (k.rfind("transaction.", 0) != 0) n += v;
  return n;
}

// A published policy as the administrator made it, with a rule of their own.
void seed_policies(f5sim::simulator& sim) {
  for (const char* name : {"http_policy", "https_policy"}) {
    json::object rule{{"name", "manual"},
                      {"description", "hand made"},
                      {"ordinal", 0},
                      {"conditions", json::array{json::object{{"name", "0"}, {"httpHost", true}, {"host", true}, {"request", true},
                                                              {"equals", true}, {"values", json::array{"legacy.example.com"}}}}},
                      {"actions", json::array{json::object{{"name", "0"}, {"forward", true}, {"request", true},
                                                           {"pool", "/Common/legacy"}}}}};
    sim.seed("pool", json::object{{"name", "legacy"}, {"partition", "Common"}});
    sim.seed("policy", json::object{{"name", name},
                                    {"partition", "interlook"},
                                    {"description", "global policy"},
                                    {"controls", json::array{"forwarding"}},
                                    {"requires", json::array{std::string_view(name) == "http_policy" ? "http" : "client-ssl"}},
                                    {"rules", json::array{rule}}});
  }
}

std::optional<json::object> rule_in(const json::object& policy, const std::string& name) {
  for (const auto& r : policy.at("rulesReference").at("items").as_array())
    if (r.at("name").as_string() == name) return r.as_object();
  return std::nullopt;
}

std::vector<std::string> values_of(const json::object& rule) {
  std::vector<std::string> out;
  for (const auto& v : rule.at("conditionsReference").at("items").at(0).at("values").as_array()) out.emplace_back(v.as_string());
  return out;
}

bool any_draft(f5sim::simulator& sim) {
  auto ps = sim.policies();
  return std::any_of(ps.begin(), ps.end(), [](const std::string& p) { return contains(p, "/Drafts/"); });
}

}  // namespace

// --- vs mode ---------------------------------------------------------------------------------

TEST_CASE("vs mode: add builds the pool, its members and the virtual server in one transaction; a second add writes nothing") {
  f5sim::simulator sim(sim_options());
  ext_runner<f5ltm> r(base_config(sim.url()));
  CHECK(step(r, msg(action::add, "web", "10.1.1.1", {{"10.0.0.1", 8080, 1}, {"10.0.0.2", 8080, 2}})) == "");

  auto pool = sim.pool("/interlook/web");
  REQUIRE(pool);
  CHECK(pool->at("description").as_string() == "Pool for web (auto generated - do not edit)");
  CHECK(pool->at("loadBalancingMode").as_string() == "least-connections-member");
  CHECK(pool->at("monitor").as_string() == "/Common/tcp ");
  CHECK(sim.members("/interlook/web") == std::vector<std::string>{"10.0.0.1:8080*1", "10.0.0.2:8080*2"});
  auto vs = sim.virtual_server("/interlook/web");
  REQUIRE(vs);
  CHECK(vs->at("destination").as_string() == "/interlook/10.1.1.1:80");
  CHECK(vs->at("pool").as_string() == "/interlook/web");
  CHECK(vs->at("ipProtocol").as_string() == "tcp");
  CHECK(vs->at("sourceAddressTranslation").at("type").as_string() == "automap");
  CHECK(vs->at("description").as_string() == "Virtual Server for web (auto generated - do not edit)");
  CHECK(vs->at("profilesReference").at("items").at(0).at("fullPath").as_string() == "/Common/tcp-lan-optimized");
  CHECK(sim.writes("pool.create") == 1);
  CHECK(sim.writes("virtual.create") == 1);
  CHECK(sim.writes("transaction.create") == 1);
  CHECK(sim.writes("transaction.commit") == 1);
  CHECK(sim.logins() == 1);

  // The same add again, targets listed in another order, a weight of 0 (read as 1): nothing to write.
  sim.reset_counts();
  CHECK(step(r, msg(action::add, "web", "10.1.1.1", {{"10.0.0.2", 8080, 2}, {"10.0.0.1", 8080, 0}})) == "");
  CHECK(sim.total_writes() == 0);
  CHECK(sim.logins() == 1);
}

TEST_CASE("vs mode: a target change writes only the members that differ; delete removes what interlook created") {
  f5sim::simulator sim(sim_options());
  ext_runner<f5ltm> r(base_config(sim.url()));
  REQUIRE(step(r, msg(action::add, "web", "10.1.1.1", {{"10.0.0.1", 8080, 1}, {"10.0.0.2", 8080, 2}})) == "");

  sim.reset_counts();
  CHECK(step(r, msg(action::update, "web", "10.1.1.1", {{"10.0.0.2", 8080, 3}, {"10.0.0.3", 8080, 1}})) == "");
  CHECK(sim.members("/interlook/web") == std::vector<std::string>{"10.0.0.2:8080*3", "10.0.0.3:8080*1"});
  CHECK(sim.writes("member.create") == 1);
  CHECK(sim.writes("member.modify") == 1);
  CHECK(sim.writes("member.delete") == 1);
  CHECK(writes_except_transactions(sim) == 3);  // no pool or virtual server write
  auto log = sim.log();
  CHECK(std::count_if(log.begin(), log.end(), [](const std::string& l) { return contains(l, "/mgmt/tm/ltm/node"); }) == 1);

  sim.reset_counts();
  CHECK(step(r, msg(action::remove, "web", "10.1.1.1", {{"10.0.0.2", 8080, 3}})) == "");
  CHECK_FALSE(sim.pool("/interlook/web"));
  CHECK_FALSE(sim.virtual_server("/interlook/web"));
  CHECK(sim.writes("virtual.delete") == 1);
  CHECK(sim.writes("pool.delete") == 1);

  // Deleting what is gone is a success that writes nothing.
  sim.reset_counts();
  CHECK(step(r, msg(action::remove, "web", "10.1.1.1", {})) == "");
  CHECK(sim.total_writes() == 0);
}

TEST_CASE("vs mode: a new address is a PATCH of destination and mask that keeps everything else; TLS services use httpsPort") {
  f5sim::simulator sim(sim_options());
  ext_runner<f5ltm> r(base_config(sim.url()));
  REQUIRE(step(r, msg(action::add, "web", "10.1.1.1", {{"10.0.0.1", 8080, 1}})) == "");
  sim.reset_counts();
  CHECK(step(r, msg(action::add, "web", "10.1.1.7", {{"10.0.0.1", 8080, 1}})) == "");
  auto vs = sim.virtual_server("/interlook/web");
  REQUIRE(vs);
  CHECK(vs->at("destination").as_string() == "/interlook/10.1.1.7:80");
  CHECK(vs->at("sourceAddressTranslation").at("type").as_string() == "automap");
  CHECK(vs->at("pool").as_string() == "/interlook/web");
  CHECK(vs->at("profilesReference").at("items").at(0).at("fullPath").as_string() == "/Common/tcp-lan-optimized");
  CHECK(sim.writes("virtual.modify") == 1);
  CHECK(writes_except_transactions(sim) == 1);

  CHECK(step(r, msg(action::add, "secure", "10.1.1.8", {{"10.0.0.1", 8443, 1}}, true)) == "");
  CHECK(sim.virtual_server("/interlook/secure")->at("destination").as_string() == "/interlook/10.1.1.8:443");

  CHECK(step(r, msg(action::add, "v6", "2001:db8::10", {{"2001:db8::1", 8080, 1}})) == "");
  CHECK(sim.virtual_server("/interlook/v6")->at("destination").as_string() == "/interlook/2001:db8::10.80");
  sim.reset_counts();
  CHECK(step(r, msg(action::add, "v6", "2001:db8::10", {{"2001:db8::1", 8080, 1}})) == "");
  CHECK(sim.total_writes() == 0);
}

TEST_CASE("vs mode: a foreign virtual server on the address is an error naming it, and is left untouched") {
  f5sim::simulator sim(sim_options());
  sim.seed("pool", json::object{{"name", "theirs"}, {"partition", "Common"}});
  sim.seed("virtual", json::object{{"name", "foreign"}, {"partition", "Common"}, {"destination", "/Common/10.1.1.1:80"},
                                   {"pool", "/Common/theirs"}, {"description", "ops team"}});
  // Same address, another port: not the same destination (Go compared substrings).
  sim.seed("virtual", json::object{{"name", "alt"}, {"partition", "Common"}, {"destination", "/Common/10.1.1.2:8080"},
                                   {"description", "ops team"}});
  ext_runner<f5ltm> r(base_config(sim.url()));
  sim.reset_counts();
  auto err = step(r, msg(action::add, "web", "10.1.1.1", {{"10.0.0.1", 8080, 1}}));
  CHECK(contains(err, "lb.f5ltm: 10.1.1.1:80 is already the destination of virtual server /Common/foreign"));
  CHECK(sim.total_writes() == 0);  // nothing half-built: checked before anything is written
  auto foreign = sim.virtual_server("/Common/foreign");
  REQUIRE(foreign);
  CHECK(foreign->at("description").as_string() == "ops team");
  CHECK(foreign->at("pool").as_string() == "/Common/theirs");
  CHECK_FALSE(sim.pool("/interlook/web"));

  CHECK(step(r, msg(action::add, "other", "10.1.1.2", {{"10.0.0.1", 8080, 1}})) == "");
  CHECK(sim.virtual_server("/interlook/other")->at("destination").as_string() == "/interlook/10.1.1.2:80");
  CHECK(sim.virtual_server("/Common/alt")->at("destination").as_string() == "/Common/10.1.1.2:8080");
}

TEST_CASE("vs mode: an object of the service's name that interlook did not create is an error, and a delete leaves it") {
  f5sim::simulator sim(sim_options());
  sim.seed("pool", json::object{{"name", "web"}, {"partition", "interlook"}, {"description", "made by hand"}});
  ext_runner<f5ltm> r(base_config(sim.url()));
  sim.reset_counts();
  auto err = step(r, msg(action::add, "web", "10.1.1.1", {{"10.0.0.1", 8080, 1}}));
  CHECK(contains(err, "pool /interlook/web exists and was not created by interlook"));
  CHECK(sim.total_writes() == 0);
  CHECK(step(r, msg(action::remove, "web", "10.1.1.1", {})) == "");
  CHECK(sim.pool("/interlook/web"));
  CHECK(sim.total_writes() == 0);

  // Go interlook's first descriptions are recognised, and converged.
  sim.seed("pool", json::object{{"name", "old"}, {"partition", "interlook"}, {"description", "old pool (by Interlook)"},
                                {"loadBalancingMode", "least-connections-member"}, {"monitor", "tcp"}});
  CHECK(step(r, msg(action::add, "old", "10.1.1.3", {{"10.0.0.1", 8080, 1}})) == "");
  CHECK(sim.pool("/interlook/old")->at("description").as_string() == "Pool for old (auto generated - do not edit)");
}

TEST_CASE("vs mode: members go on an existing node of their address; a node listing per service, not per target") {
  f5sim::simulator sim(sim_options());
  sim.add_node("/Common/web01", "10.0.0.9");
  ext_runner<f5ltm> r(base_config(sim.url()));
  CHECK(step(r, msg(action::add, "web", "10.1.1.1", {{"10.0.0.9", 80, 1}, {"10.0.0.10", 80, 1}, {"10.0.0.11", 80, 1}})) == "");
  auto pool = sim.pool("/interlook/web");
  REQUIRE(pool);
  std::vector<std::string> paths;
  for (const auto& m : pool->at("membersReference").at("items").as_array()) paths.emplace_back(m.at("fullPath").as_string());
  std::sort(paths.begin(), paths.end());
  CHECK(paths == std::vector<std::string>{"/Common/web01:80", "/interlook/10.0.0.10:80", "/interlook/10.0.0.11:80"});
  auto log = sim.log();
  CHECK(std::count_if(log.begin(), log.end(), [](const std::string& l) { return contains(l, "/mgmt/tm/ltm/node"); }) == 1);
  sim.reset_counts();
  CHECK(step(r, msg(action::add, "web", "10.1.1.1", {{"10.0.0.11", 80, 1}, {"10.0.0.9", 80, 1}, {"10.0.0.10", 80, 1}})) == "");
  CHECK(sim.total_writes() == 0);
}

TEST_CASE("vs mode: a failed commit is an error, leaves nothing and no open transaction; the retry builds it") {
  f5sim::simulator sim(sim_options());
  ext_runner<f5ltm> r(base_config(sim.url()));
  sim.fail_next("PATCH", "/mgmt/tm/transaction/", 400, "transaction failed:01070226:3: Pool /interlook/web does not exist.");
  auto err = step(r, msg(action::add, "web", "10.1.1.1", {{"10.0.0.1", 8080, 1}}));
  CHECK(contains(err, "committing transaction"));
  CHECK(contains(err, "01070226:3: Pool /interlook/web does not exist. (HTTP 400, PATCH /mgmt/tm/transaction/"));
  CHECK_FALSE(sim.pool("/interlook/web"));
  CHECK_FALSE(sim.virtual_server("/interlook/web"));
  CHECK(sim.open_transactions() == 0);
  CHECK(step(r, msg(action::add, "web", "10.1.1.1", {{"10.0.0.1", 8080, 1}})) == "");
  CHECK(sim.virtual_server("/interlook/web"));

  // One write is sent as it is, and its failure is an error too.
  sim.fail_next("POST", "/members", 400, "01070734:3: Configuration error: out of members");
  err = step(r, msg(action::add, "web", "10.1.1.1", {{"10.0.0.1", 8080, 1}, {"10.0.0.2", 8080, 1}}));
  CHECK(contains(err, "adding member 10.0.0.2:8080 to pool /interlook/web: 01070734:3: Configuration error: out of members (HTTP 400, POST /mgmt/tm/ltm/pool/~interlook~web/members)"));
}

TEST_CASE("an expired token mid-run: one login again, the request repeated, no error") {
  f5sim::simulator sim(sim_options());
  ext_runner<f5ltm> r(base_config(sim.url()));
  REQUIRE(step(r, msg(action::add, "a", "10.1.1.1", {{"10.0.0.1", 80, 1}})) == "");
  CHECK(sim.logins() == 1);
  sim.expire_tokens();
  CHECK(step(r, msg(action::add, "b", "10.1.1.2", {{"10.0.0.1", 80, 1}})) == "");
  CHECK(sim.logins() == 2);
  CHECK(sim.virtual_server("/interlook/b"));
  // Several services at once find the token expired: one login for them all.
  sim.expire_tokens();
  for (int i = 0; i < 4; ++i) r.send(msg(action::add, "c" + std::to_string(i), "10.1.2." + std::to_string(i + 1), {{"10.0.0.1", 80, 1}}));
  for (int i = 0; i < 4; ++i) {
    auto a = r.next();
    REQUIRE(a);
    CHECK(a->error == "");
  }
  CHECK(sim.logins() == 3);
}

TEST_CASE("a bad password and a refused fixed token are errors naming the login, never the secret") {
  f5sim::simulator sim(sim_options());
  auto c = base_config(sim.url());
  c.password = secret{"wrong-password"};
  ext_runner<f5ltm> r(c);
  auto err = step(r, msg(action::add, "a", "10.1.1.1", {{"10.0.0.1", 80, 1}}));
  CHECK(contains(err, "logging in to " + sim.url() + " as admin (authProvider tmos): Authentication failed. (HTTP 401)"));
  CHECK_FALSE(contains(err, "wrong-password"));

  auto t = base_config(sim.url());
  t.username.clear();
  t.password = {};
  t.authToken = secret{"STALE-TOKEN-1"};
  ext_runner<f5ltm> r2(t);
  err = step(r2, msg(action::add, "a", "10.1.1.1", {{"10.0.0.1", 80, 1}}));
  CHECK(contains(err, "authToken was refused and no username is set to log in again"));
  CHECK_FALSE(contains(err, "STALE-TOKEN-1"));
}

TEST_CASE("maxInFlight services are in progress at once, never more") {
  f5sim::simulator sim(sim_options());
  auto c = base_config(sim.url());
  c.maxInFlight = 3;
  ext_runner<f5ltm> r(c);
  REQUIRE(step(r, msg(action::add, "warm", "10.1.9.1", {{"10.0.0.1", 80, 1}})) == "");  // the login
  sim.set_delay(20ms);
  for (int i = 0; i < 12; ++i) r.send(msg(action::add, "s" + std::to_string(i), "10.1.3." + std::to_string(i + 1), {{"10.0.0.1", 80, 1}}));
  for (int i = 0; i < 12; ++i) {
    auto a = r.next();
    REQUIRE(a);
    CHECK(a->error == "");
  }
  CHECK(sim.peak_in_progress() >= 2);
  CHECK(sim.peak_in_progress() <= 3);
  CHECK(sim.virtual_count() == 13);
}

TEST_CASE("TLS to the BIG-IP is verified against tlsCa; insecureSkipVerify turns that off") {
  test_pki::pki pki;
  test_server::tls_config tls{pki.server.cert_file, pki.server.key_file, {}};
  auto o = sim_options();
  o.tls = &tls;
  f5sim::simulator sim(o);
  {
    auto c = base_config(sim.url());
    c.tlsCa = pki.ca.cert_file;
    ext_runner<f5ltm> r(c);
    CHECK(step(r, msg(action::add, "a", "10.1.1.1", {{"10.0.0.1", 80, 1}})) == "");
  }
  {
    auto c = base_config(sim.url());
    c.tlsCa = pki.other_ca.cert_file;
    ext_runner<f5ltm> r(c);
    CHECK(contains(step(r, msg(action::add, "b", "10.1.1.2", {{"10.0.0.1", 80, 1}})), "certificate verify failed"));
  }
  {
    auto c = base_config(sim.url());
    c.insecureSkipVerify = true;
    ext_runner<f5ltm> r(c);
    CHECK(step(r, msg(action::add, "c", "10.1.1.3", {{"10.0.0.1", 80, 1}})) == "");
  }
}

TEST_CASE("messages the BIG-IP cannot take are errors on that service only") {
  f5sim::simulator sim(sim_options());
  ext_runner<f5ltm> r(base_config(sim.url()));
  CHECK(contains(step(r, msg(action::add, "web", "", {{"10.0.0.1", 80, 1}})), "has no public_ip"));
  CHECK(contains(step(r, msg(action::add, "web", "10.1.1.1", {{"node-a.example", 80, 1}})), "target node-a.example is not an IP address"));
  CHECK(contains(step(r, msg(action::add, "a b", "10.1.1.1", {{"10.0.0.1", 80, 1}})), "cannot name a BIG-IP object"));
  CHECK(step(r, msg(action::remove, "a b", "10.1.1.1", {})) == "");  // nothing of it can exist
  CHECK(sim.total_writes() == 0);
}

// --- policy mode -----------------------------------------------------------------------------

TEST_CASE("policy mode: add makes the pool and a rule in the global policy through a published draft; again: no write") {
  f5sim::simulator sim(sim_options());
  seed_policies(sim);
  ext_runner<f5ltm> r(policy_config(sim.url()));
  sim.reset_counts();
  CHECK(step(r, msg(action::add, "web", "", {{"10.0.0.1", 8080, 1}}, false, {"web.example.com", "WWW.example.com"})) == "");
  CHECK(sim.members("/interlook/web") == std::vector<std::string>{"10.0.0.1:8080*1"});
  auto policy = sim.policy("/interlook/http_policy");
  REQUIRE(policy);
  auto rule = rule_in(*policy, "web");
  REQUIRE(rule);
  CHECK(rule->at("description").as_string() == "ingress rule for web (auto generated - do not edit)");
  CHECK(values_of(*rule) == std::vector<std::string>{"web.example.com", "www.example.com"});
  const auto& cond = rule->at("conditionsReference").at("items").at(0).as_object();
  CHECK(cond.at("httpHost").as_bool());
  CHECK(cond.at("request").as_bool());
  const auto& act = rule->at("actionsReference").at("items").at(0).as_object();
  CHECK(act.at("forward").as_bool());
  CHECK(act.at("pool").as_string() == "/interlook/web");
  CHECK(rule_in(*policy, "manual"));  // the administrator's rule stays
  CHECK(rule->at("ordinal").as_int64() == 1);
  CHECK_FALSE(any_draft(sim));
  CHECK(sim.writes("policy.create-draft") == 1);
  CHECK(sim.writes("rule.create") == 1);
  CHECK(sim.writes("policy.publish") == 1);
  CHECK_FALSE(sim.virtual_server("/interlook/web"));  // policy mode makes no virtual server

  // Again, after the token expired: one login, and still nothing to write.
  sim.expire_tokens();
  sim.reset_counts();
  CHECK(step(r, msg(action::add, "web", "", {{"10.0.0.1", 8080, 1}}, false, {"www.example.com", "web.example.com"})) == "");
  CHECK(sim.total_writes() == 0);
  CHECK(sim.logins() == 2);

  // New targets: only the members change, the policy is not touched.
  sim.reset_counts();
  CHECK(step(r, msg(action::add, "web", "", {{"10.0.0.2", 8080, 1}}, false, {"www.example.com", "web.example.com"})) == "");
  CHECK(sim.writes("member.create") == 1);
  CHECK(sim.writes("member.delete") == 1);
  CHECK(writes_except_transactions(sim) == 2);

  // New aliases: the rule is replaced through a draft.
  sim.reset_counts();
  CHECK(step(r, msg(action::add, "web", "", {{"10.0.0.2", 8080, 1}}, false, {"web.example.com"})) == "");
  CHECK(values_of(*rule_in(*sim.policy("/interlook/http_policy"), "web")) == std::vector<std::string>{"web.example.com"});
  CHECK(sim.writes("rule.modify") == 1);
  CHECK(sim.writes("policy.publish") == 1);
  CHECK(writes_except_transactions(sim) == 3);
  CHECK_FALSE(any_draft(sim));
}

TEST_CASE("policy mode: a TLS service's rule matches the server name in the SSL policy; delete removes rule and pool") {
  f5sim::simulator sim(sim_options());
  seed_policies(sim);
  ext_runner<f5ltm> r(policy_config(sim.url()));
  CHECK(step(r, msg(action::add, "api", "", {{"10.0.0.1", 8443, 1}}, true, {"api.example.com"})) == "");
  auto rule = rule_in(*sim.policy("/interlook/https_policy"), "api");
  REQUIRE(rule);
  const auto& cond = rule->at("conditionsReference").at("items").at(0).as_object();
  CHECK(cond.at("sslExtension").as_bool());
  CHECK(cond.at("serverName").as_bool());
  CHECK(cond.at("sslClientHello").as_bool());
  CHECK(rule->at("actionsReference").at("items").at(0).at("sslClientHello").as_bool());
  CHECK_FALSE(rule_in(*sim.policy("/interlook/http_policy"), "api"));

  // It becomes plain HTTP: its rule moves to the HTTP policy.
  CHECK(step(r, msg(action::add, "api", "", {{"10.0.0.1", 8080, 1}}, false, {"api.example.com"})) == "");
  CHECK(rule_in(*sim.policy("/interlook/http_policy"), "api"));
  CHECK_FALSE(rule_in(*sim.policy("/interlook/https_policy"), "api"));

  sim.reset_counts();
  CHECK(step(r, msg(action::remove, "api", "", {{"10.0.0.1", 8080, 1}}, false, {"api.example.com"})) == "");
  CHECK_FALSE(rule_in(*sim.policy("/interlook/http_policy"), "api"));
  CHECK(rule_in(*sim.policy("/interlook/http_policy"), "manual"));
  CHECK_FALSE(sim.pool("/interlook/api"));
  CHECK(sim.pool("/Common/legacy"));
  CHECK(sim.writes("rule.delete") == 1);
  CHECK(sim.writes("pool.delete") == 1);
  CHECK_FALSE(any_draft(sim));
}

TEST_CASE("policy mode: a missing global policy is an error naming it") {
  f5sim::simulator sim(sim_options());
  ext_runner<f5ltm> r(policy_config(sim.url()));
  auto err = step(r, msg(action::add, "web", "", {{"10.0.0.1", 80, 1}}, false, {"web.example.com"}));
  CHECK(contains(err, "the global policy /interlook/http_policy (globalHTTPPolicy) does not exist"));
  CHECK(contains(step(r, msg(action::add, "web", "", {{"10.0.0.1", 80, 1}}, false, {})), "has no DNS alias"));
}

TEST_CASE("policy mode: a rule of the service's name made by someone else is an error, and stays") {
  f5sim::simulator sim(sim_options());
  seed_policies(sim);
  ext_runner<f5ltm> r(policy_config(sim.url()));
  auto err = step(r, msg(action::add, "manual", "", {{"10.0.0.1", 80, 1}}, false, {"manual.example.com"}));
  CHECK(contains(err, "policy /interlook/http_policy already has a rule manual that interlook did not create"));
  CHECK(values_of(*rule_in(*sim.policy("/interlook/http_policy"), "manual")) == std::vector<std::string>{"legacy.example.com"});
  CHECK(sim.writes("policy.create-draft") == 0);
}

TEST_CASE("policy mode: a failed rule removal never publishes, leaves no draft and keeps the pool") {
  f5sim::simulator sim(sim_options());
  seed_policies(sim);
  ext_runner<f5ltm> r(policy_config(sim.url()));
  REQUIRE(step(r, msg(action::add, "web", "", {{"10.0.0.1", 80, 1}}, false, {"web.example.com"})) == "");
  sim.reset_counts();
  sim.fail_next("DELETE", "/rules/web", 400, "01071726:3: cannot delete rule web");
  auto err = step(r, msg(action::remove, "web", "", {{"10.0.0.1", 80, 1}}, false, {"web.example.com"}));
  CHECK(contains(err, "removing rule web from policy /interlook/http_policy: 01071726:3: cannot delete rule web"));
  CHECK(sim.writes("policy.publish") == 0);
  CHECK(sim.writes("pool.delete") == 0);
  CHECK(sim.pool("/interlook/web"));
  CHECK(rule_in(*sim.policy("/interlook/http_policy"), "web"));
  CHECK_FALSE(any_draft(sim));
  CHECK(step(r, msg(action::remove, "web", "", {{"10.0.0.1", 80, 1}}, false, {"web.example.com"})) == "");
  CHECK_FALSE(sim.pool("/interlook/web"));
}

TEST_CASE("policy mode: a draft left behind by an interrupted edit is cleaned; someone else's draft is an error and stays") {
  f5sim::simulator sim(sim_options());
  seed_policies(sim);
  ext_runner<f5ltm> r(policy_config(sim.url()));
  // The publish fails and so does the draft's clean-up: as after a crash, the draft stays.
  sim.fail_next("POST", "/mgmt/tm/ltm/policy", 503, "service unavailable", 1, true);
  sim.fail_next("DELETE", "Drafts", 503, "service unavailable");
  auto err = step(r, msg(action::add, "web", "", {{"10.0.0.1", 80, 1}}, false, {"web.example.com"}));
  CHECK(contains(err, "publishing draft /interlook/Drafts/http_policy"));
  REQUIRE(sim.policy("/interlook/Drafts/http_policy"));
  CHECK(step(r, msg(action::add, "web", "", {{"10.0.0.1", 80, 1}}, false, {"web.example.com"})) == "");
  CHECK_FALSE(any_draft(sim));
  CHECK(rule_in(*sim.policy("/interlook/http_policy"), "web"));
  CHECK(r.await_log("deleting draft /interlook/Drafts/http_policy, left behind") >= 0);

  // An administrator's draft, their own rule changed in it: left alone.
  sim.make_draft("/interlook/http_policy");
  sim.put_rule("/interlook/Drafts/http_policy",
               json::object{{"name", "manual"},
                            {"description", "hand made, being edited"},
                            {"ordinal", 0},
                            {"conditions", json::array{}},
                            {"actions", json::array{}}});
  sim.reset_counts();
  err = step(r, msg(action::add, "api", "", {{"10.0.0.1", 80, 1}}, false, {"api.example.com"}));
  CHECK(contains(err, "policy /interlook/http_policy has a draft /interlook/Drafts/http_policy with changes interlook did not make (rule manual)"));
  CHECK(sim.writes("policy.publish") == 0);
  CHECK(sim.writes("policy.delete") == 0);
  REQUIRE(sim.policy("/interlook/Drafts/http_policy"));
  CHECK(rule_in(*sim.policy("/interlook/Drafts/http_policy"), "manual")->at("description").as_string() == "hand made, being edited");
}

TEST_CASE("policy mode: services of one policy at once are serialised on its draft, and all get their rule") {
  f5sim::simulator sim(sim_options());
  seed_policies(sim);
  auto c = policy_config(sim.url());
  c.maxInFlight = 4;
  ext_runner<f5ltm> r(c);
  for (int i = 0; i < 8; ++i)
    r.send(msg(action::add, "s" + std::to_string(i), "", {{"10.0.0.1", 80, 1}}, i % 2 == 1, {"s" + std::to_string(i) + ".example.com"}));
  for (int i = 0; i < 8; ++i) {
    auto a = r.next();
    REQUIRE(a);
    CHECK(a->error == "");
  }
  for (int i = 0; i < 8; ++i)
    CHECK(rule_in(*sim.policy(i % 2 ? "/interlook/https_policy" : "/interlook/http_policy"), "s" + std::to_string(i)));
  CHECK_FALSE(any_draft(sim));
}

TEST_CASE("configuration: what iControl REST needs is checked at start") {
  auto c = base_config("https://bigip.example.com");
  c.username.clear();
  CHECK_THROWS_WITH_AS(c.validate(), "set username (and password) or authToken: iControl REST needs one", invalid_setting);
  c = base_config("https://bigip.example.com");
  c.updateMode = f5ltm::update_mode::policy;
  CHECK_THROWS_WITH_AS(c.validate(), "policy needs globalHTTPPolicy and/or globalSSLPolicy", invalid_setting);
  c = base_config("https://bigip.example.com");
  c.partition = "a/b";
  CHECK_THROWS_AS(c.validate(), invalid_setting);
  CHECK_NOTHROW(base_config("bigip.example.com").validate());
}
