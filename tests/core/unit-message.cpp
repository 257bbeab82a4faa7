#include <interlook/core/message.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <limits>

using namespace interlook;

TEST_CASE("actions have the SPEC's wire names") {
  CHECK(to_string(action::add) == "add");
  CHECK(to_string(action::update) == "update");
  CHECK(to_string(action::remove) == "delete");
  CHECK(to_string(action::refresh) == "refresh");
  CHECK(parse_action("delete") == action::remove);
  CHECK_FALSE(parse_action("remove"));
  CHECK_FALSE(parse_action("ADD"));
}

TEST_CASE("duplicate host:port targets merge into one weighted by their count") {
  std::vector<target> t{{"10.0.0.2", 80, 1}, {"10.0.0.1", 80, 1}, {"10.0.0.2", 80, 1}, {"10.0.0.2", 80, 0},
                        {"10.0.0.1", 81, 1}};
  merge_targets(t);
  REQUIRE(t.size() == 3);
  CHECK(t[0] == target{"10.0.0.1", 80, 1});
  CHECK(t[1] == target{"10.0.0.1", 81, 1});
  CHECK(t[2] == target{"10.0.0.2", 80, 3});
}

TEST_CASE("merging keeps explicit weights and is idempotent") {
  std::vector<target> t{{"b", 1, 2}, {"a", 1, 5}, {"b", 1, 1}};
  merge_targets(t);
  CHECK(t == std::vector<target>{{"a", 1, 5}, {"b", 1, 3}});
  auto again = t;
  merge_targets(again);
  CHECK(again == t);
  std::vector<target> empty;
  merge_targets(empty);
  CHECK(empty.empty());
  std::vector<target> one{{"a", 1, 0}};
  merge_targets(one);
  CHECK(one[0].weight == 1);
}

// Found by fuzz/state_file: a state file with {"weight": 4294967295} and a
// second copy of the target loaded as one target of weight 0.
TEST_CASE("merged weights stop at the largest weight instead of wrapping to 0") {
  constexpr auto top = std::numeric_limits<std::uint32_t>::max();
  std::vector<target> t{{"h", 1, top}, {"h", 1, 1}};
  merge_targets(t);
  CHECK(t == std::vector<target>{{"h", 1, top}});
  std::vector<target> u{{"h", 1, top - 1}, {"h", 1, 1}, {"h", 1, 0}, {"h", 1, top}};
  merge_targets(u);
  CHECK(u == std::vector<target>{{"h", 1, top}});
  std::vector<target> v{{"h", 1, top - 2}, {"h", 1, 1}};
  merge_targets(v);
  CHECK(v[0].weight == top - 1);
}

TEST_CASE("same definition ignores target and alias order, provider fields and public IP") {
  service a{"provider.file", "web", {{"h1", 80, 1}, {"h2", 80, 1}}, false, "", {"web.example", "www.example"}};
  service b{"provider.swarm", "web", {{"h2", 80, 1}, {"h1", 80, 1}}, false, "10.1.1.1", {"www.example", "web.example"}};
  CHECK(same_definition(a, b));
  CHECK(same_definition(b, a));
  // Three copies of a target equal one target of weight 3.
  service c = a;
  c.targets = {{"h1", 80, 1}, {"h2", 80, 1}, {"h2", 80, 1}};
  service d = a;
  d.targets = {{"h2", 80, 2}, {"h1", 80, 1}};
  CHECK(same_definition(c, d));
}

TEST_CASE("definitions differing in TLS, targets, weights or aliases are not the same") {
  service a{"provider.file", "web", {{"h1", 80, 1}}, false, "", {"web.example"}};
  service tls = a;
  tls.tls = true;
  CHECK_FALSE(same_definition(a, tls));
  service port = a;
  port.targets[0].port = 81;
  CHECK_FALSE(same_definition(a, port));
  service weight = a;
  weight.targets[0].weight = 2;
  CHECK_FALSE(same_definition(a, weight));
  service alias = a;
  alias.dns_names.push_back("www.example");
  CHECK_FALSE(same_definition(a, alias));
  service no_targets = a;
  no_targets.targets.clear();
  CHECK_FALSE(same_definition(a, no_targets));
}

TEST_CASE("the definition fingerprint tells apart definitions that differ anywhere") {
  service base{"provider.swarm", "web", {{"10.0.0.1", 80, 1}, {"10.0.0.2", 80, 1}}, false, "", {"web.example"}};
  auto fp = detail::service_fingerprint(base);
  CHECK(fp != 0);
  CHECK(detail::service_fingerprint(base) == fp);  // stable
  std::vector<service> variants(12, base);
  variants[0].provider = "provider.kubernetes";
  variants[1].name = "web2";
  variants[2].targets[0].host = "10.0.0.10";
  variants[3].targets[1].port = 81;
  variants[4].targets[1].weight = 2;
  variants[5].targets.pop_back();
  std::swap(variants[6].targets[0], variants[6].targets[1]);  // order counts: what was sent, exactly
  variants[7].tls = true;
  variants[8].public_ip = "192.0.2.1";
  variants[9].dns_names.push_back("www.example");
  variants[10].dns_names[0] = "web.example.";
  variants[11].name = std::string("web\0", 4);  // a zero byte is not the end
  std::vector<std::uint64_t> seen{fp};
  for (const auto& v : variants) {
    auto f = detail::service_fingerprint(v);
    CHECK(std::find(seen.begin(), seen.end(), f) == seen.end());
    seen.push_back(f);
  }
  // Text moved from one field to the next is a different definition.
  service a = base, b = base;
  a.provider = "ab";
  a.name = "c";
  b.provider = "a";
  b.name = "bc";
  CHECK(detail::service_fingerprint(a) != detail::service_fingerprint(b));
}
