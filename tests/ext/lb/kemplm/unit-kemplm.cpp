// lb.kemplm against the simulated LoadMaster (tests/simulators/kemp), run as
// the engine runs it: the concurrent form through the public test kit, which
// also checks every answer against the extension laws.

#include <interlook/ext/lb/kemplm/kemplm.hpp>
#include <interlook/testing/ext_runner.hpp>

#include "tests/http/test_pki.hpp"
#include "tests/simulators/kemp/kemp_simulator.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace interlook;
using interlook::ext::lb::kemplm;
using interlook::testing::ext_runner;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

kemplm::config base_config(const std::string& url) {
  kemplm::config c;
  c.endpoint = url;
  c.username = "bal";
  c.password = secret{"lm-password"};
  c.maxInFlight = 4;
  return c;
}

message msg(action a, const std::string& name, const std::string& ip, std::vector<target> targets, bool tls = false) {
  message m;
  m.action = a;
  m.service.name = name;
  m.service.public_ip = ip;
  m.service.targets = std::move(targets);
  m.service.tls = tls;
  return m;
}

template <class Runner>
std::string step(Runner& r, message m) {
  r.send(std::move(m));
  auto a = r.next();
  REQUIRE(a);
  return a->error;
}

using strings = std::vector<std::string>;

}  // namespace

TEST_CASE("add makes the virtual service and a real server per target with its weight; a second add writes nothing") {
  kempsim::simulator sim;
  ext_runner<kemplm> r(base_config(sim.url()));
  CHECK(step(r, msg(action::add, "web", "10.2.2.2", {{"10.0.0.1", 8080, 1}, {"10.0.0.2", 8080, 2}})) == "");
  auto vs = sim.vs("10.2.2.2", 80);
  REQUIRE(vs);
  CHECK(vs->nickname == "web");
  CHECK(vs->vstype == "gen");
  CHECK(vs->checktype == "icmp");
  CHECK(vs->schedule == "wrr");
  CHECK(sim.real_servers("10.2.2.2", 80) == strings{"10.0.0.1:8080*1", "10.0.0.2:8080*2"});
  CHECK(sim.count("addvs") == 1);
  CHECK(sim.count("addrs") == 2);
  CHECK(sim.writes() == 3);

  sim.reset_counts();
  CHECK(step(r, msg(action::add, "web", "10.2.2.2", {{"10.0.0.2", 8080, 2}, {"10.0.0.1", 8080, 0}})) == "");
  CHECK(sim.writes() == 0);

  CHECK(step(r, msg(action::add, "secure", "10.2.2.3", {{"10.0.0.1", 8443, 1}}, true)) == "");
  CHECK(sim.vs("10.2.2.3", 443));
}

TEST_CASE("an update adds, re-weights and removes real servers and nothing else; delete removes the virtual service") {
  kempsim::simulator sim;
  ext_runner<kemplm> r(base_config(sim.url()));
  REQUIRE(step(r, msg(action::add, "web", "10.2.2.2", {{"10.0.0.1", 8080, 1}, {"10.0.0.2", 8080, 2}})) == "");
  sim.reset_counts();
  CHECK(step(r, msg(action::update, "web", "10.2.2.2", {{"10.0.0.2", 8080, 5}, {"10.0.0.3", 8080, 1}})) == "");
  CHECK(sim.real_servers("10.2.2.2", 80) == strings{"10.0.0.2:8080*5", "10.0.0.3:8080*1"});
  CHECK(sim.count("addrs") == 1);
  CHECK(sim.count("modrs") == 1);
  CHECK(sim.count("delrs") == 1);
  CHECK(sim.writes() == 3);

  sim.reset_counts();
  CHECK(step(r, msg(action::remove, "web", "10.2.2.2", {{"10.0.0.2", 8080, 5}})) == "");
  CHECK_FALSE(sim.vs("10.2.2.2", 80));
  CHECK(sim.count("delvs") == 1);
  sim.reset_counts();
  CHECK(step(r, msg(action::remove, "web", "10.2.2.2", {})) == "");
  CHECK(sim.writes() == 0);
}

TEST_CASE("a virtual service on the address with another nickname is an error naming it, and is left untouched") {
  kempsim::simulator sim;
  kempsim::virtual_service theirs;
  theirs.address = "10.2.2.2";
  theirs.port = 80;
  theirs.nickname = "intranet";
  theirs.rs.push_back({0, "10.9.9.9", 80, 1000, true});
  sim.seed(theirs);
  ext_runner<kemplm> r(base_config(sim.url()));
  auto err = step(r, msg(action::add, "web", "10.2.2.2", {{"10.0.0.1", 8080, 1}}));
  CHECK(contains(err, "lb.kemplm: 10.2.2.2:80/tcp is already virtual service \"intranet\" (index 1)"));
  CHECK(sim.writes() == 0);
  CHECK(sim.real_servers("10.2.2.2", 80) == strings{"10.9.9.9:80*1000"});
  // A delete of the service leaves it too.
  CHECK(step(r, msg(action::remove, "web", "10.2.2.2", {})) == "");
  CHECK(sim.vs("10.2.2.2", 80));
  CHECK(r.await_log("is \"intranet\", not interlook's for web: not deleted") >= 0);
}

TEST_CASE("a failed addrs is an error, also when only the answer's stat says so; the retry converges") {
  kempsim::simulator sim;
  ext_runner<kemplm> r(base_config(sim.url()));
  sim.fail_next("addrs", 422, "Invalid real server address");
  auto err = step(r, msg(action::add, "web", "10.2.2.2", {{"10.0.0.1", 8080, 1}, {"10.0.0.2", 8080, 1}}));
  CHECK(contains(err, "adding real server 10.0.0.1:8080 to 10.2.2.2:80/tcp: Invalid real server address (stat 422, /access/addrs)"));

  sim.fail_next("addrs", 422, "Real server limit reached", 1, true);  // HTTP 200, stat 422
  err = step(r, msg(action::add, "web", "10.2.2.2", {{"10.0.0.1", 8080, 1}, {"10.0.0.2", 8080, 1}}));
  CHECK(contains(err, "Real server limit reached (stat 422, HTTP 200, /access/addrs)"));

  sim.fail_next("addvs", 422, "Address already in use", 1, true);
  err = step(r, msg(action::add, "api", "10.2.2.9", {{"10.0.0.1", 8080, 1}}));
  CHECK(contains(err, "creating virtual service 10.2.2.9:80/tcp for api: Address already in use"));

  CHECK(step(r, msg(action::add, "web", "10.2.2.2", {{"10.0.0.1", 8080, 1}, {"10.0.0.2", 8080, 1}})) == "");
  CHECK(sim.real_servers("10.2.2.2", 80) == strings{"10.0.0.1:8080*1", "10.0.0.2:8080*1"});
}

TEST_CASE("a new address moves the service: the virtual service is made there and the old one deleted") {
  kempsim::simulator sim;
  ext_runner<kemplm> r(base_config(sim.url()));
  REQUIRE(step(r, msg(action::add, "web", "10.2.2.2", {{"10.0.0.1", 8080, 1}})) == "");
  CHECK(step(r, msg(action::add, "web", "10.2.2.4", {{"10.0.0.1", 8080, 1}})) == "");
  CHECK(sim.vs("10.2.2.4", 80));
  CHECK_FALSE(sim.vs("10.2.2.2", 80));
  CHECK(sim.vs_count() == 1);
}

TEST_CASE("a virtual service Go interlook made converges: weighted round robin, the targets' weights") {
  kempsim::simulator sim;
  kempsim::virtual_service go;
  go.address = "10.2.2.2";
  go.port = 80;
  go.nickname = "web";
  go.checktype = "icmp";
  go.rs.push_back({0, "10.0.0.1", 8080, 1000, true});
  sim.seed(go);
  ext_runner<kemplm> r(base_config(sim.url()));
  CHECK(step(r, msg(action::add, "web", "10.2.2.2", {{"10.0.0.1", 8080, 1}})) == "");
  CHECK(sim.count("modvs") == 1);
  CHECK(sim.count("modrs") == 1);
  CHECK(sim.writes() == 2);
  CHECK(sim.vs("10.2.2.2", 80)->schedule == "wrr");
}

TEST_CASE("maxInFlight services are in progress at once, never more") {
  kempsim::simulator sim;
  auto c = base_config(sim.url());
  c.maxInFlight = 3;
  ext_runner<kemplm> r(c);
  sim.set_delay(20ms);
  for (int i = 0; i < 12; ++i) r.send(msg(action::add, "s" + std::to_string(i), "10.2.3." + std::to_string(i + 1), {{"10.0.0.1", 80, 1}}));
  for (int i = 0; i < 12; ++i) {
    auto a = r.next();
    REQUIRE(a);
    CHECK(a->error == "");
  }
  CHECK(sim.peak_in_progress() >= 2);
  CHECK(sim.peak_in_progress() <= 3);
  CHECK(sim.vs_count() == 12);
}

TEST_CASE("authentication: an API key, or basic credentials; refused credentials are an error without the secret") {
  kempsim::simulator::options o;
  o.api_key = "K3MP-API-KEY-0001";
  kempsim::simulator sim(o);
  auto c = base_config(sim.url());
  c.username.clear();
  c.password = {};
  c.apiKey = secret{"K3MP-API-KEY-0001"};
  {
    ext_runner<kemplm> r(c);
    CHECK(step(r, msg(action::add, "web", "10.2.2.2", {{"10.0.0.1", 8080, 1}})) == "");
  }
  c.apiKey = secret{"WRONG-KEY-000"};
  {
    ext_runner<kemplm> r(c);
    auto err = step(r, msg(action::add, "api", "10.2.2.3", {{"10.0.0.1", 8080, 1}}));
    CHECK(contains(err, "the LoadMaster refused the credentials (HTTP 401, /access/listvs)"));
    CHECK_FALSE(contains(err, "WRONG-KEY-000"));
  }
  auto b = base_config(sim.url());
  b.password = secret{"not-the-password"};
  ext_runner<kemplm> r(b);
  CHECK(contains(step(r, msg(action::add, "api", "10.2.2.3", {{"10.0.0.1", 8080, 1}})), "refused the credentials"));
}

TEST_CASE("TLS to the LoadMaster is verified against tlsCa; insecureSkipVerify turns that off") {
  test_pki::pki pki;
  test_server::tls_config tls{pki.server.cert_file, pki.server.key_file, {}};
  kempsim::simulator::options o;
  o.tls = &tls;
  kempsim::simulator sim(o);
  {
    auto c = base_config(sim.url());
    c.tlsCa = pki.ca.cert_file;
    ext_runner<kemplm> r(c);
    CHECK(step(r, msg(action::add, "a", "10.2.2.1", {{"10.0.0.1", 80, 1}})) == "");
  }
  {
    ext_runner<kemplm> r(base_config(sim.url()));  // the system's CAs do not know the test CA
    CHECK(contains(step(r, msg(action::add, "b", "10.2.2.2", {{"10.0.0.1", 80, 1}})), "certificate verify failed"));
  }
  {
    auto c = base_config(sim.url());
    c.insecureSkipVerify = true;
    ext_runner<kemplm> r(c);
    CHECK(step(r, msg(action::add, "c", "10.2.2.3", {{"10.0.0.1", 80, 1}})) == "");
  }
}

TEST_CASE("the LoadMaster's XML: entities, CDATA, the prolog; malformed answers are errors") {
  using interlook::ext::lb::kemplm_detail::parse_xml;
  auto doc = parse_xml("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<!-- c --><Response stat=\"422\" code='fail'>"
                       "<Error>Bad &amp; &lt;worse&gt; &#65;&#x42;</Error><Data><![CDATA[<raw>]]></Data><Empty/></Response>");
  CHECK(doc.name == "Response");
  CHECK(doc.attribute("stat") == "422");
  CHECK(doc.attribute("code") == "fail");
  CHECK(doc.child_text("Error") == "Bad & <worse> AB");
  CHECK(doc.child_text("data") == "<raw>");
  CHECK(doc.child("Empty"));
  CHECK_THROWS_WITH(parse_xml("<a><b></a>"), doctest::Contains("</a> closes <b>"));
  CHECK_THROWS(parse_xml("<a>"));
  CHECK_THROWS(parse_xml("not xml"));
}

TEST_CASE("an answer counts as done only for a 2xx <Response stat=\"200\">; the LoadMaster's words are made safe for a log line") {
  namespace kd = interlook::ext::lb::kemplm_detail;
  auto ok = kd::success_of(200, R"(<Response stat="200" code="ok"><Success><Data><VS><Index>1</Index><VSAddress>2001:DB8::1</VSAddress>)"
                                R"(<VSPort>443</VSPort><Rs><Addr>10.0.0.1</Addr><Port>80</Port></Rs></VS></Data></Success></Response>)",
                           "listing", "/access/listvs");
  auto listed = kd::listed_services(ok);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].address == "2001:db8::1");
  REQUIRE(listed[0].real_servers.size() == 1);
  CHECK(listed[0].real_servers[0].weight == 1000);  // absent: the LoadMaster's default
  auto error = [](unsigned status, const std::string& body) -> std::string {
    try {
      kd::success_of(status, body, "adding", "/access/addrs");
    } catch (const kd::kemp_error& e) {
      return e.what();
    }
    return "done";
  };
  CHECK(error(500, R"(<Response stat="200" code="ok"><Success/></Response>)") == "adding: ok (stat 200, HTTP 500, /access/addrs)");
  CHECK(error(200, R"(<Response code="ok"><Success/></Response>)") == "adding: ok (stat missing, HTTP 200, /access/addrs)");
  // Found by fuzz/lb_kemplm: a NUL or a newline in <Error> went into the
  // message as it was (cutting it short, or forging a log line).
  CHECK(error(200, std::string(R"(<Response stat="422"><Error>Unknown)") + '\0' + "\nVS</Error></Response>") ==
        "adding: Unknown  VS (stat 422, HTTP 200, /access/addrs)");
  CHECK(error(200, R"(<Response stat="422"><Error>)" + std::string(300, 'x') + "</Error></Response>").size() < 260);
}

TEST_CASE("configuration: credentials are required") {
  auto c = base_config("https://lm.example.com");
  c.username.clear();
  CHECK_THROWS_WITH_AS(c.validate(), "set username and password, or apiKey", invalid_setting);
  c = base_config("https://lm.example.com");
  c.password = {};
  CHECK_THROWS_AS(c.validate(), invalid_setting);
  c.apiKey = secret{"k"};
  CHECK_NOTHROW(c.validate());
}
