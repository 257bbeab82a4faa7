#include <interlook/testing/ext_runner.hpp>
#include <interlook/testing/handle.hpp>

#include <interlook/ext/ipam/ipalloc/ipalloc.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace interlook;
using interlook::ext::ipam::ipalloc;
using interlook::testing::ext_runner;
using interlook::testing::handle_one;

namespace {
struct fixture {
  std::filesystem::path dir;
  logger log{log_level::error, [](log_level, std::string_view) {}};
  extension_context ctx{log, "ipam.ipalloc"};
  fixture() {
    const char* base = std::getenv("TEST_TMPDIR");
    dir = std::filesystem::path(base ? base : "/tmp") / ("ipalloc-" + std::to_string(std::rand()));
    std::filesystem::create_directories(dir);
  }
  ~fixture() { std::filesystem::remove_all(dir); }
  ipalloc::config cfg(std::string cidr, std::string start = {}, std::string end = {}) {
    return {std::move(cidr), std::move(start), std::move(end), (dir / "ipalloc.json").string()};
  }
};

message add(const std::string& name) {
  message m;
  m.action = action::add;
  m.service.name = name;
  return m;
}
message del(const std::string& name) {
  message m = add(name);
  m.action = action::remove;
  return m;
}
std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}
}  // namespace

TEST_CASE("addresses come in order, never the network or broadcast address") {
  fixture f;
  ipalloc ip(f.cfg("10.1.0.0/30"), f.ctx);
  CHECK(handle_one(ip, add("a")).service.public_ip == "10.1.0.1");
  CHECK(handle_one(ip, add("b")).service.public_ip == "10.1.0.2");
  CHECK(handle_one(ip, add("c")).error == "ipam.ipalloc: no free address left in 10.1.0.1-10.1.0.2 for c");
  CHECK(handle_one(ip, add("a")).service.public_ip == "10.1.0.1");  // an exhausted range hurts only the newcomer
}

TEST_CASE("ip_start and ip_end bound the range") {
  fixture f;
  ipalloc ip(f.cfg("10.2.0.0/24", "10.2.0.100", "10.2.0.101"), f.ctx);
  CHECK(handle_one(ip, add("a")).service.public_ip == "10.2.0.100");
  CHECK(handle_one(ip, add("b")).service.public_ip == "10.2.0.101");
  CHECK(!handle_one(ip, add("c")).error.empty());
}

TEST_CASE("IPv6 networks work") {
  fixture f;
  ipalloc ip(f.cfg("2001:db8:5::/64"), f.ctx);
  CHECK(handle_one(ip, add("a")).service.public_ip == "2001:db8:5::1");
  CHECK(handle_one(ip, add("b")).service.public_ip == "2001:db8:5::2");
  fixture g;
  ipalloc ranged(g.cfg("2001:db8:6::/120", "2001:db8:6::f0", "2001:db8:6::ff"), g.ctx);
  CHECK(handle_one(ranged, add("a")).service.public_ip == "2001:db8:6::f0");
}

TEST_CASE("a service keeps its address across re-deploys and restarts; delete frees it") {
  fixture f;
  {
    ipalloc ip(f.cfg("10.3.0.0/29"), f.ctx);
    CHECK(handle_one(ip, add("web")).service.public_ip == "10.3.0.1");
    CHECK(handle_one(ip, add("api")).service.public_ip == "10.3.0.2");
    handle_one(ip, del("web"));
    CHECK(ip.allocations() == std::map<std::string, std::string>{{"10.3.0.2", "api"}});
    CHECK(handle_one(ip, add("new")).service.public_ip == "10.3.0.3");  // web's address is kept for web
    CHECK(handle_one(ip, add("web")).service.public_ip == "10.3.0.1");
  }
  ipalloc again(f.cfg("10.3.0.0/29"), f.ctx);  // a restart reads db_file
  CHECK(handle_one(again, add("api")).service.public_ip == "10.3.0.2");
  CHECK(again.allocations().size() == 3);
}

TEST_CASE("released addresses are reused once the never-used ones are gone") {
  fixture f;
  ipalloc ip(f.cfg("10.4.0.0/30"), f.ctx);
  handle_one(ip, add("a"));
  handle_one(ip, add("b"));
  handle_one(ip, del("a"));
  CHECK(handle_one(ip, add("c")).service.public_ip == "10.4.0.1");
  CHECK(!handle_one(ip, add("a")).error.empty());  // its old address went to c
}

TEST_CASE("db_file keeps Go's shape and loads one written by Go interlook") {
  fixture f;
  std::ofstream(f.dir / "ipalloc.json") << R"([{"ip":"10.5.0.1","host":"legacy"},{"ip":"10.5.0.2","host":"other"}])";
  ipalloc ip(f.cfg("10.5.0.0/24"), f.ctx);
  CHECK(handle_one(ip, add("legacy")).service.public_ip == "10.5.0.1");
  CHECK(handle_one(ip, add("fresh")).service.public_ip == "10.5.0.3");
  auto text = read(f.dir / "ipalloc.json");
  CHECK(text == R"([{"ip":"10.5.0.1","host":"legacy"},{"ip":"10.5.0.2","host":"other"},{"ip":"10.5.0.3","host":"fresh"}])");
}

TEST_CASE("a corrupt db_file stops the extension's start with its path") {
  fixture f;
  std::ofstream(f.dir / "ipalloc.json") << R"([{"ip":"not-an-ip","host":"x"}])";
  std::string expected = "db_file " + (f.dir / "ipalloc.json").string() + " is corrupt: [0].ip";
  CHECK_THROWS_WITH(ipalloc(f.cfg("10.6.0.0/24"), f.ctx), doctest::Contains(expected.c_str()));
  std::ofstream(f.dir / "ipalloc.json") << R"([{"ip":"10.6.0.1","host":"x"},{"ip":"10.6.0.1","host":"y"}])";
  CHECK_THROWS_WITH(ipalloc(f.cfg("10.6.0.0/24"), f.ctx), doctest::Contains("10.6.0.1 is listed twice"));
  std::ofstream(f.dir / "ipalloc.json") << "[{";
  CHECK_THROWS_WITH(ipalloc(f.cfg("10.6.0.0/24"), f.ctx), doctest::Contains("malformed JSON"));
}

TEST_CASE("bad ranges are config errors naming the key") {
  fixture f;
  CHECK_THROWS_WITH_AS(f.cfg("10.7.0.0").validate(), "expected an address/prefix such as 10.0.0.0/24", invalid_setting);
  CHECK_THROWS_WITH_AS(f.cfg("10.7.0.0/33").validate(), "invalid prefix length \"33\"", invalid_setting);
  CHECK_THROWS_WITH_AS(f.cfg("10.7.0.0/24", "10.8.0.1").validate(),
                       "10.8.0.1 is not a usable address of 10.7.0.0/24", invalid_setting);
  CHECK_THROWS_WITH_AS(f.cfg("10.7.0.0/24", "10.7.0.0").validate(),
                       "10.7.0.0 is not a usable address of 10.7.0.0/24", invalid_setting);  // the network address
  CHECK_THROWS_WITH_AS(f.cfg("10.7.0.0/24", "10.7.0.9", "10.7.0.5").validate(), "comes before ip_start",
                       invalid_setting);
  try {
    f.cfg("10.7.0.0/24", {}, "10.7.0.255").validate();
    FAIL("the broadcast address was accepted");
  } catch (const invalid_setting& e) {
    CHECK(e.key() == "ip_end");
  }
}

TEST_CASE("through the batch adapter, an exhausted range is an error answer for that service only") {
  fixture f;
  ext_runner<ipalloc> r(f.cfg("10.9.0.0/31"));
  r.send(add("a"));
  r.send(add("b"));
  r.send(add("c"));
  auto a = r.next(), b = r.next(), c = r.next();
  REQUIRE((a && b && c));
  CHECK(a->service.public_ip == "10.9.0.0");  // a /31 has no network or broadcast address
  CHECK(b->service.public_ip == "10.9.0.1");
  CHECK(c->error == "ipam.ipalloc: no free address left in 10.9.0.0-10.9.0.1 for c");
}

TEST_CASE("a batch is one durable write; an exhausted range fails only the newcomers") {
  fixture f;
  ipalloc ip(f.cfg("10.10.0.0/30"), f.ctx);  // two usable addresses
  auto answers = interlook::testing::handle_batch(ip, {add("a"), add("b"), add("c"), add("a")});
  CHECK(answers[0].service.public_ip == "10.10.0.1");
  CHECK(answers[1].service.public_ip == "10.10.0.2");
  CHECK(answers[2].error == "ipam.ipalloc: no free address left in 10.10.0.1-10.10.0.2 for c");
  CHECK(answers[3].service.public_ip == "10.10.0.1");
  CHECK(ip.saves() == 1);
  CHECK(read(f.dir / "ipalloc.json") == R"([{"ip":"10.10.0.1","host":"a"},{"ip":"10.10.0.2","host":"b"}])");
  // Nothing changed: nothing written.
  interlook::testing::handle_batch(ip, {add("a"), add("b")});
  CHECK(ip.saves() == 1);
  // A release and a new allocation in one batch: the released address is not
  // given to the newcomer while a never-used one... there is none left, so it is.
  answers = interlook::testing::handle_batch(ip, {del("a"), add("c")});
  CHECK(answers[1].service.public_ip == "10.10.0.1");
  CHECK(ip.saves() == 2);
}

TEST_CASE("a batch whose write fails answers the changed messages with the error, and nothing is lost") {
  fixture f;
  auto cfg = f.cfg("10.11.0.0/24");
  cfg.db_file = (f.dir / "no-such-dir" / "ipalloc.json").string();
  ipalloc ip(cfg, f.ctx);
  auto answers = interlook::testing::handle_batch(ip, {add("a"), add("b")});
  CHECK(answers[0].error.find("ipam.ipalloc: ") == 0);
  CHECK(answers[1].error.find("no-such-dir") != std::string::npos);
  std::filesystem::create_directories(f.dir / "no-such-dir");
  answers = interlook::testing::handle_batch(ip, {add("a"), add("b")});  // the retry
  CHECK(answers[0].service.public_ip == "10.11.0.1");
  CHECK(answers[1].service.public_ip == "10.11.0.2");
}

TEST_CASE("10,000 services allocate and release without a scan per message") {
  fixture f;
  ipalloc ip(f.cfg("10.12.0.0/16"), f.ctx);
  std::vector<message> batch;
  for (int i = 0; i < 10000; ++i) batch.push_back(add("s" + std::to_string(i)));
  auto answers = interlook::testing::handle_batch(ip, batch);
  CHECK(answers[9999].service.public_ip == "10.12.39.16");  // 10.12.0.1 + 9999
  CHECK(ip.saves() == 1);
  CHECK(ip.allocations().size() == 10000);
}
