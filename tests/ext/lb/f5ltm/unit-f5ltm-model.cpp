// lb.f5ltm's model without a BIG-IP: destinations, member comparison, rules,
// drafts left behind.

#include <interlook/ext/lb/f5ltm/model.hpp>
#include <interlook/ext/lb/f5ltm/session.hpp>

#include <boost/json/parse.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace interlook::ext::lb::f5ltm_detail;
namespace bj = boost::json;

namespace {
struct t {
  std::string host;
  std::uint32_t port;
  std::uint32_t weight;
};
}  // namespace

TEST_CASE("destinations are parsed, not matched as substrings") {
  auto a = parse_destination("/Common/10.1.1.1:80");
  REQUIRE(a);
  CHECK(a->address == "10.1.1.1");
  CHECK(a->port == 80);
  CHECK(*parse_destination("/Common/10.1.1.1%2:80") == *a);
  CHECK(*parse_destination("10.1.1.1:80") == *a);
  CHECK(*parse_destination("/Common/10.1.1.1:8080") != *a);
  auto v6 = parse_destination("/P/2001:db8:0::1.443");
  REQUIRE(v6);
  CHECK(v6->address == "2001:db8::1");
  CHECK(v6->port == 443);
  CHECK(v6->v6);
  CHECK_FALSE(parse_destination("/Common/my-vip:80"));
  CHECK(endpoint_text(*v6) == "2001:db8::1.443");
  CHECK(display(*v6) == "[2001:db8::1]:443");
}

TEST_CASE("members compare by address and port in any order; weight 0 reads as 1; duplicates add up") {
  auto want = desired_members(std::vector<t>{{"10.0.0.2", 80, 2}, {"10.0.0.1", 80, 0}, {"10.0.0.2", 80, 1}});
  REQUIRE(want.size() == 2);
  CHECK(want[0].at.address == "10.0.0.1");
  CHECK(want[0].ratio == 1);
  CHECK(want[1].ratio == 3);
  std::vector<member> have;
  for (const char* j : {R"({"name":"10.0.0.2:80","address":"10.0.0.2","fullPath":"/P/10.0.0.2:80","ratio":3})",
                        R"({"name":"web01:80","address":"10.0.0.1","fullPath":"/Common/web01:80"})"})
    have.push_back(*parse_member(bj::parse(j).as_object()));
  CHECK(diff_members(want, have).empty());
  auto changes = diff_members(desired_members(std::vector<t>{{"10.0.0.1", 80, 5}, {"10.0.0.3", 80, 1}}), have);
  REQUIRE(changes.add.size() == 1);
  CHECK(changes.add[0].at.address == "10.0.0.3");
  REQUIRE(changes.reweight.size() == 1);
  CHECK(changes.reweight[0].path == "/Common/web01:80");
  CHECK(changes.reweight[0].ratio == 5);
  REQUIRE(changes.remove.size() == 1);
  CHECK(changes.remove[0].path == "/P/10.0.0.2:80");
  CHECK_THROWS_WITH(desired_members(std::vector<t>{{"web.example", 80, 1}}),
                    "target web.example is not an IP address (BIG-IP pool members need one)");
}

TEST_CASE("numbers out of BIG-IP's range read as such, never wrapped into it (found by fuzz/lb_f5ltm)") {
  auto member_of = [](const char* j) { return parse_member(bj::parse(j).as_object()); };
  // A ratio of 2^32 read as 0, and matched nothing it should.
  auto big = member_of(R"({"name":"10.0.0.1:80","address":"10.0.0.1","ratio":4294967296})");
  REQUIRE(big);
  CHECK(big->ratio == 0xffffffffu);
  auto huge = member_of(R"({"name":"10.0.0.1:80","address":"10.0.0.1","ratio":18446744073709551615})");
  REQUIRE(huge);
  CHECK(huge->ratio == 0xffffffffu);
  CHECK(diff_members(desired_members(std::vector<t>{{"10.0.0.1", 80, 1}}), {*big}).reweight.size() == 1);
  // Ports past 65535, signs and spaces are no port (std::stoul took " -1").
  for (const char* j : {R"({"name":"10.0.0.1:65536","address":"10.0.0.1"})", R"({"name":"10.0.0.1:4294967376","address":"10.0.0.1"})",
                        R"({"name":"10.0.0.1: -1","address":"10.0.0.1"})", R"({"name":"10.0.0.1:","address":"10.0.0.1"})"})
    CHECK_FALSE(member_of(j));
  // The largest ordinal does not overflow the next one.
  auto policy = bj::parse(R"({"rulesReference":{"items":[{"name":"a","ordinal":9223372036854775807},{"name":"b","ordinal":4}]}})").as_object();
  CHECK(next_ordinal(policy) == 5);
}

TEST_CASE("a rule as BIG-IP answers it is compared on what interlook sets, hosts in any order and case") {
  settings s;
  s.partition = "P";
  auto hosts = host_values(std::vector<std::string>{"WWW.example.com", "web.example.com."});
  CHECK(hosts == std::vector<std::string>{"web.example.com", "www.example.com"});
  auto body = rule_body(s, "web", false, hosts, 3);
  // What GET ?expandSubcollections=true gives back: the subcollections, and BIG-IP's defaults.
  bj::object answered{{"name", "web"}, {"description", body.at("description")}, {"ordinal", 3}};
  auto cond = body.at("conditions").at(0).as_object();
  cond["external"] = true;
  cond["present"] = true;
  cond["values"] = bj::array{"www.example.com", "web.example.com"};
  auto act = body.at("actions").at(0).as_object();
  act["code"] = 0;
  answered["conditionsReference"] = bj::object{{"items", bj::array{cond}}};
  answered["actionsReference"] = bj::object{{"items", bj::array{act}}};
  CHECK(same_rule(s, "web", false, hosts, answered));
  CHECK_FALSE(same_rule(s, "web", true, hosts, answered));  // an SNI rule is another rule
  CHECK_FALSE(same_rule(s, "web", false, {"web.example.com"}, answered));
  act["pool"] = "/P/other";
  answered["actionsReference"] = bj::object{{"items", bj::array{act}}};
  CHECK_FALSE(same_rule(s, "web", false, hosts, answered));
}

TEST_CASE("a draft holding only interlook's rules is a leftover; any other change makes it someone's") {
  settings s;
  auto policy = [&](bj::array rules) {
    return bj::object{{"strategy", "/Common/first-match"}, {"rulesReference", bj::object{{"items", std::move(rules)}}}};
  };
  bj::object manual{{"name", "manual"}, {"description", "hand made"}, {"ordinal", 0}};
  bj::object ours{{"name", "web"}, {"description", rule_description(s, "web")}, {"ordinal", 1}};
  auto published = policy(bj::array{manual});
  CHECK(foreign_draft_changes(s, policy(bj::array{manual, ours}), published).empty());
  CHECK(foreign_draft_changes(s, policy(bj::array{manual}), policy(bj::array{manual, ours})).empty());
  bj::object edited = manual;
  edited["description"] = "hand made, edited";
  CHECK(foreign_draft_changes(s, policy(bj::array{edited}), published) == std::vector<std::string>{"rule manual"});
  auto other_strategy = policy(bj::array{manual});
  other_strategy["strategy"] = "/Common/best-match";
  CHECK(foreign_draft_changes(s, other_strategy, published) == std::vector<std::string>{"strategy"});
}

TEST_CASE("ownership: interlook's description, or Go interlook's first ones") {
  settings s;
  CHECK(owned(pool_description(s, "web"), pool_description(s, "web"), "web"));
  CHECK(pool_description(s, "web") == "Pool for web (auto generated - do not edit)");
  CHECK(owned("web pool (by Interlook)", pool_description(s, "web"), "web"));
  CHECK(owned("web (by Interlook)", virtual_description(s, "web"), "web"));
  CHECK_FALSE(owned("", pool_description(s, "web"), "web"));
  CHECK_FALSE(owned("Pool for web", pool_description(s, "web"), "web"));
  CHECK(same_reference("/Common/tcp ", "tcp"));
  CHECK(same_reference("/Common/tcp", "/Common/tcp"));
  CHECK_FALSE(same_reference("/Common/http", "tcp"));
}

TEST_CASE("a login answer's token is taken only if a header can carry it") {
  CHECK(login_token(R"({"token":{"token":"ABC123","timeout":1200}})") == "ABC123");
  CHECK(login_token(R"({"token":{"token":"ABC\r\nX-Evil: 1"}})").empty());
  CHECK(login_token(R"({"token":{"token":"a b"}})").empty());
  CHECK(login_token(R"({"token":{"token":""}})").empty());
  CHECK(login_token(R"({"token":"ABC"})").empty());
  CHECK(login_token("not json").empty());
}
