// dns.powerdns's pure parts, without a server: names in the zone, the
// ownership TXT, the zone view and the plans made against it.
#include <interlook/ext/dns/powerdns/powerdns.hpp>

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <map>
#include <string>

namespace pd = interlook::ext::dns::powerdns_detail;

namespace {

std::string zone_json(const std::string& rrsets) {
  return R"({"name":"example.test.","kind":"Native","rrsets":[)"
         R"({"name":"example.test.","type":"SOA","ttl":3600,"records":[{"content":"ns1.example.test. hostmaster.example.test. 1 10800 3600 604800 60","disabled":false}],"comments":[]})" +
         (rrsets.empty() ? std::string() : "," + rrsets) + "]}";
}

std::string rrset(const std::string& name, const std::string& type, const std::string& content, int ttl = 60) {
  boost::json::object o{{"name", name}, {"type", type}, {"ttl", ttl},
                        {"records", boost::json::array{boost::json::object{{"content", content}, {"disabled", false}}}},
                        {"comments", boost::json::array{}}};
  return boost::json::serialize(o);
}

pd::plan_input add(const std::string& service, const std::string& ip, std::vector<std::string> names) {
  pd::plan_input in;
  in.owner = "interlook";
  in.service = service;
  in.address = ip;
  in.v6 = ip.find(':') != std::string::npos;
  in.names = std::move(names);
  return in;
}

std::vector<std::string> changes(const pd::plan& p) {
  std::vector<std::string> out;
  for (const auto& r : p.rrsets) {
    std::string line = std::string(r.at("changetype").as_string()) + " " + std::string(r.at("name").as_string()) + " " +
                       std::string(r.at("type").as_string());
    if (const auto* recs = r.if_contains("records"))
      for (const auto& rec : recs->as_array()) line += " " + std::string(rec.at("content").as_string());
    out.push_back(line);
  }
  return out;
}

const std::string ours_web = "\"heritage=interlook,owner=interlook,service=web\"";

}  // namespace

TEST_CASE("names: in the zone, canonical; others refused with a reason") {
  std::string why;
  CHECK(pd::zone_name("WWW.Example.Test", "example.test.", why) == "www.example.test.");
  CHECK(pd::zone_name("example.test.", "example.test.", why) == "example.test.");
  CHECK_FALSE(pd::zone_name("web.example.com", "example.test.", why));
  CHECK(why == "DNS alias \"web.example.com\" is not in zone example.test.");
  CHECK_FALSE(pd::zone_name("webexample.test", "example.test.", why));
  CHECK_FALSE(pd::zone_name("a..example.test", "example.test.", why));
  CHECK_FALSE(pd::zone_name("a b.example.test", "example.test.", why));
}

TEST_CASE("ownership TXT: dns.rfc2136's text, quoted for PowerDNS, parsed back") {
  auto text = pd::ownership_text("interlook", "web app,1");
  CHECK(text == "heritage=interlook,owner=interlook,service=web%20app%2C1");
  CHECK(pd::txt_content(text) == "\"" + text + "\"");
  CHECK(pd::txt_text(pd::txt_content(text)) == text);
  CHECK(pd::txt_text(R"("a\"b" "c\\d" "\065")") == "a\"bc\\dA");
  auto o = pd::parse_ownership(text);
  REQUIRE(o);
  CHECK(o->service == "web app,1");
  CHECK_FALSE(pd::parse_ownership("v=spf1 -all"));
  auto long_text = std::string(300, 'x');
  CHECK(pd::txt_content(long_text) == "\"" + std::string(255, 'x') + "\" \"" + std::string(45, 'x') + "\"");
}

TEST_CASE("plan: a free name gets A and TXT; as asked already: nothing; a changed address: REPLACE A only") {
  std::map<std::string, std::string> claimed;
  auto empty = pd::zone_view::parse(zone_json(""));
  auto p = pd::make_plan(empty, add("web", "10.0.0.1", {"web.example.test."}), claimed);
  CHECK(changes(p) == std::vector<std::string>{"REPLACE web.example.test. A 10.0.0.1", "REPLACE web.example.test. TXT " + ours_web});
  CHECK(p.rrsets[0].at("comments").as_array()[0].at("content").as_string() == "interlook: owner interlook, service web");

  auto done = pd::zone_view::parse(zone_json(rrset("web.example.test.", "A", "10.0.0.1") + "," + rrset("web.example.test.", "TXT", ours_web)));
  claimed.clear();
  CHECK(pd::make_plan(done, add("web", "10.0.0.1", {"web.example.test."}), claimed).rrsets.empty());
  claimed.clear();
  CHECK(changes(pd::make_plan(done, add("web", "10.0.0.2", {"web.example.test."}), claimed)) ==
        std::vector<std::string>{"REPLACE web.example.test. A 10.0.0.2"});
  claimed.clear();
  CHECK(changes(pd::make_plan(done, add("web", "2001:db8::1", {"web.example.test."}), claimed)) ==
        std::vector<std::string>{"REPLACE web.example.test. AAAA 2001:db8::1", "DELETE web.example.test. A"});
}

TEST_CASE("plan: dropped aliases and deletes give up A/AAAA and our TXT only") {
  auto view = pd::zone_view::parse(zone_json(
      rrset("web.example.test.", "A", "10.0.0.1") + "," + rrset("web.example.test.", "TXT", ours_web) + "," +
      rrset("old.example.test.", "A", "10.0.0.1") + "," +
      R"({"name":"old.example.test.","type":"TXT","ttl":60,"records":[{"content":")" + std::string("\\\"heritage=interlook,owner=interlook,service=web\\\"") +
      R"(","disabled":false},{"content":"\"v=spf1 -all\"","disabled":false}]})"));
  std::map<std::string, std::string> claimed;
  CHECK(changes(pd::make_plan(view, add("web", "10.0.0.1", {"web.example.test."}), claimed)) ==
        std::vector<std::string>{"DELETE old.example.test. A", "REPLACE old.example.test. TXT \"v=spf1 -all\""});
  pd::plan_input del;
  del.owner = "interlook";
  del.service = "web";
  del.remove = true;
  claimed.clear();
  auto p = pd::make_plan(view, del, claimed);
  CHECK(p.removed.size() == 2);
  CHECK(changes(p).size() == 4);
}

TEST_CASE("plan: a name someone else holds is a conflict naming it and its owner; a name asked twice goes to the first") {
  auto view = pd::zone_view::parse(zone_json(
      rrset("shop.example.test.", "A", "192.0.2.7") + "," +
      rrset("blog.example.test.", "TXT", "\"heritage=interlook,owner=other,service=blog\"") + "," +
      rrset("blog.example.test.", "A", "10.9.9.9")));
  std::map<std::string, std::string> claimed;
  try {
    pd::make_plan(view, add("shop", "10.0.0.1", {"new.example.test.", "shop.example.test."}), claimed);
    FAIL("no conflict");
  } catch (const pd::conflict& e) {
    CHECK(std::string(e.what()) == "shop.example.test. exists and is not ours (A 192.0.2.7; no interlook ownership TXT); left alone");
  }
  CHECK(claimed.empty());  // nothing of the service was taken
  try {
    pd::make_plan(view, add("blog", "10.0.0.1", {"blog.example.test."}), claimed);
    FAIL("no conflict");
  } catch (const pd::conflict& e) {
    CHECK(std::string(e.what()).find("belongs to owner \"other\", service \"blog\"") != std::string::npos);
  }
  CHECK_FALSE(pd::make_plan(view, add("one", "10.0.0.1", {"both.example.test."}), claimed).rrsets.empty());
  CHECK_THROWS_WITH_AS(pd::make_plan(view, add("two", "10.0.0.2", {"both.example.test."}), claimed),
                       "both.example.test. is also asked for by service one in this batch; left to it", pd::conflict);
}

TEST_CASE("a zone answer that cannot be trusted is refused, naming what is wrong (found by fuzz/dns_powerdns)") {
  // Two TXT RRsets for one name: the second hid the first, while the first
  // still marked the name ours, so a delete would have given up a name whose
  // TXT (as the view kept it) was someone else's.
  auto twice = zone_json(rrset("web.example.test.", "TXT", ours_web) + "," +
                         rrset("web.example.test.", "TXT", "\"heritage=interlook,owner=other,service=web\""));
  CHECK_THROWS_WITH_AS(pd::zone_view::parse(twice), "the zone lists the TXT RRset of web.example.test. twice", pd::bad_reply);
  // A ttl that is no 32-bit count escaped as a Boost.JSON exception.
  auto with_ttl = [](const std::string& ttl) {
    return zone_json(R"({"name":"web.example.test.","type":"A","ttl":)" + ttl +
                     R"(,"records":[{"content":"192.0.2.1","disabled":false}]})");
  };
  for (std::string ttl : {"-1", "4294967296", "\"60\""})
    CHECK_THROWS_WITH_AS(pd::zone_view::parse(with_ttl(ttl)),
                         ("the zone's A RRset of web.example.test. has a ttl that is not a 32-bit count (" + ttl + ")").c_str(),
                         pd::bad_reply);
  for (std::string ttl : {"1.5", "1e300"}) CHECK_THROWS_AS(pd::zone_view::parse(with_ttl(ttl)), pd::bad_reply);
  auto fine = pd::zone_view::parse(zone_json(rrset("web.example.test.", "A", "192.0.2.1", 0) + "," +
                                             rrset("web.example.test.", "TXT", ours_web, 0)));
  REQUIRE(fine.find("web.example.test."));
  CHECK(fine.find("web.example.test.")->find("A")->ttl == 0);
}

TEST_CASE("config: url, apiKey, zone, ttl are checked") {
  interlook::ext::dns::powerdns::config c;
  c.url = "http://127.0.0.1:8081";
  c.apiKey.value = "k";
  c.zone = "example.test";
  CHECK_NOTHROW(c.validate());
  c.apiKey.value = "";
  CHECK_THROWS_AS(c.validate(), interlook::invalid_setting);
  c.apiKey.value = "k";
  c.zone = "";
  CHECK_THROWS_AS(c.validate(), interlook::invalid_setting);
  c.zone = "a..b";
  CHECK_THROWS_AS(c.validate(), interlook::invalid_setting);
  c.zone = "example.test";
  c.url = "tcp://x:1";
  CHECK_THROWS_AS(c.validate(), interlook::invalid_setting);
}
