// dns.rfc2136 without a server: the ownership TXT codec, the configuration,
// and the messages refused before any request is sent.
#include <interlook/config/file.hpp>
#include <interlook/ext/dns/rfc2136/rfc2136.hpp>
#include <interlook/ext/provider/file/file.hpp>
#include <interlook/extension/registry.hpp>
#include <interlook/testing/handle.hpp>

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include <string>

using namespace interlook;
using interlook::ext::dns::rfc2136;
namespace d = interlook::ext::dns::rfc2136_detail;

namespace {

message msg(action a, const std::string& name, const std::string& ip, std::vector<std::string> aliases) {
  message m;
  m.action = a;
  m.service.name = name;
  m.service.public_ip = ip;
  m.service.dns_names = std::move(aliases);
  return m;
}

using reg = registry<ext::provider::file, rfc2136>;

const std::string good_section =
    "dns:\n  rfc2136:\n    server: 127.0.0.1:5353\n    zone: example.test\n    tsigKeyName: k\n"
    "    tsigSecret: c2VjcmV0LXNlY3JldC1zZWNyZXQ=\n";

loaded_config<reg> load(const std::string& dns_section) {
  return load_config<reg>(config_document::parse(
      "core:\n  workflowSteps: provider.file,dns.rfc2136\nprovider:\n  file:\n    path: s.yml\n" + dns_section,
      "test.yml"));
}

std::string load_error(const std::string& dns_section) {
  try {
    load(dns_section);
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("the ownership TXT: external-dns's shape, values that always parse back") {
  CHECK(d::ownership_text("interlook", "web") == "heritage=interlook,owner=interlook,service=web");
  CHECK(d::parse_ownership("heritage=interlook,owner=interlook,service=web") == d::ownership{"interlook", "web"});
  CHECK(d::parse_ownership("service=web,owner=a,heritage=interlook") == d::ownership{"a", "web"});
  auto odd = d::ownership_text("team a", "x,y=z%\"");
  CHECK(odd == "heritage=interlook,owner=team%20a,service=x%2Cy%3Dz%25%22");
  CHECK(d::parse_ownership(odd) == d::ownership{"team a", "x,y=z%\""});
  CHECK_FALSE(d::parse_ownership("heritage=external-dns,owner=x,service=y"));
  CHECK_FALSE(d::parse_ownership("heritage=interlook,owner=x"));
  CHECK_FALSE(d::parse_ownership("v=spf1 -all"));
  CHECK_FALSE(d::parse_ownership("heritage=interlook,owner=x,service=%4"));
}

TEST_CASE("server addresses: host, host:port, [v6]:port, a bare IPv6 address; port 53 by default") {
  std::string why;
  auto a = d::server_address::parse("ns1.example.test", why);
  REQUIRE(a);
  CHECK(a->text() == "ns1.example.test:53");
  CHECK(d::server_address::parse("127.0.0.1:5353", why)->text() == "127.0.0.1:5353");
  CHECK(d::server_address::parse("[::1]:5353", why)->text() == "[::1]:5353");
  CHECK(d::server_address::parse("2001:db8::1", why)->text() == "[2001:db8::1]:53");
  CHECK_FALSE(d::server_address::parse("127.0.0.1:0", why));
  CHECK_FALSE(d::server_address::parse("127.0.0.1:99999", why));
  CHECK_FALSE(d::server_address::parse("host:", why));
  CHECK_FALSE(d::server_address::parse("", why));
}

TEST_CASE("TSIG secrets: canonical base64 only, as ldns and the servers decode it") {
  CHECK(d::valid_base64("c2VjcmV0LXNlY3JldC1zZWNyZXQ="));
  CHECK(d::valid_base64("c2VjcmV0"));
  CHECK(d::valid_base64("YQ=="));
  CHECK_FALSE(d::valid_base64("YR=="));  // bits past the last byte
  CHECK_FALSE(d::valid_base64("c2VjcmV0LXNlY3JldC1zZWNyZXR="));
  CHECK_FALSE(d::valid_base64("c2VjcmV"));
  CHECK_FALSE(d::valid_base64("c2Vj=mV0"));
  CHECK_FALSE(d::valid_base64("Y==="));
  CHECK_FALSE(d::valid_base64(""));
}

TEST_CASE("configuration: defaults, and errors that name the key (and never print the secret)") {
  auto cfg = load(good_section).config_of<1>();
  CHECK(cfg.tsigAlgorithm == "hmac-sha256");
  CHECK(cfg.ttl == 60);
  CHECK(cfg.ownerId == "interlook");
  CHECK(cfg.timeout == std::chrono::seconds(5));
  CHECK(*cfg.algorithm() == "hmac-sha256.");
  auto settings = load(good_section).settings();
  for (auto& [k, v] : settings)
    if (k == "dns.rfc2136.tsigSecret") CHECK(v == "********");

  CHECK(load(good_section + "    tsigAlgorithm: HMAC-SHA512\n").config_of<1>().algorithm() == "hmac-sha512.");
  CHECK(load(good_section + "    tsigAlgorithm: hmac-sha1\n").config_of<1>().algorithm() == "hmac-sha1.");
  CHECK(load_error(good_section + "    tsigAlgorithm: hmac-md5\n") ==
        "test.yml:12: dns.rfc2136.tsigAlgorithm: unsupported TSIG algorithm \"hmac-md5\" (expected hmac-sha256, "
        "hmac-sha512 or hmac-sha1)");
  auto bad_secret = load_error(
      "dns:\n  rfc2136:\n    server: 127.0.0.1\n    zone: example.test\n    tsigKeyName: k\n    tsigSecret: not*b64\n");
  CHECK(bad_secret == "test.yml:11: dns.rfc2136.tsigSecret: must be the key's secret in base64");
  CHECK(load_error("dns:\n  rfc2136:\n    server: \"127.0.0.1:\"\n    zone: example.test\n    tsigKeyName: k\n"
                   "    tsigSecret: c2VjcmV0\n")
            .find("dns.rfc2136.server: invalid server \"127.0.0.1:\": empty port") != std::string::npos);
  CHECK(load_error("dns:\n  rfc2136:\n    server: 127.0.0.1\n    zone: example.test\n    tsigSecret: c2VjcmV0\n")
            .find("tsigKeyName") != std::string::npos);
  CHECK(load_error(good_section + "    ttl: -1\n").find("dns.rfc2136.ttl") != std::string::npos);
  CHECK(load_error(good_section + "    timeout: 0s\n").find("dns.rfc2136.timeout: must be positive") !=
        std::string::npos);
}

TEST_CASE("messages refused before any request: aliases outside the zone, no public IP, a bad address") {
  logger log{log_level::error, [](log_level, std::string_view) {}};
  extension_context ctx{log, "dns.rfc2136"};
  rfc2136::config c;
  c.server = "127.0.0.1:1";  // nothing listens: any request would fail differently
  c.zone = "Example.Test.";
  c.tsigKeyName = "k";
  c.tsigSecret.value = "c2VjcmV0";
  rfc2136 dns(c, ctx);
  auto answers = interlook::testing::handle_batch(
      dns, {msg(action::add, "a", "10.0.0.1", {"a.example.test", "a.example.org"}),
            msg(action::add, "b", "10.0.0.1", {"example.test.evil"}),
            msg(action::add, "c", "", {"c.example.test"}), msg(action::add, "d", "10.0.0.300", {"d.example.test"}),
            msg(action::add, "e", "10.0.0.1", {"bad name.example.test"}),
            msg(action::add, std::string(250, 'x'), "10.0.0.1", {"x.example.test"})});
  CHECK(answers[0].error == "dns.rfc2136: service a: alias a.example.org is outside zone example.test");
  CHECK(answers[1].error == "dns.rfc2136: service b: alias example.test.evil is outside zone example.test");
  CHECK(answers[2].error ==
        "dns.rfc2136: service c: service c has no public_ip (put an ipam step before dns.rfc2136)");
  CHECK(answers[3].error == "dns.rfc2136: service d: public_ip \"10.0.0.300\" is not an IP address");
  CHECK(answers[4].error == "dns.rfc2136: service e: alias \"bad name.example.test\" is not a domain name");
  CHECK(answers[5].error.find("too long for an ownership TXT record") != std::string::npos);
  CHECK(dns.updates_sent() == 0);
}

TEST_CASE("an unreachable server fails the batch's services with its address; nothing else happens") {
  logger log{log_level::error, [](log_level, std::string_view) {}};
  extension_context ctx{log, "dns.rfc2136"};
  rfc2136::config c;
  c.server = "127.0.0.1:1";
  c.zone = "example.test";
  c.tsigKeyName = "k";
  c.tsigSecret.value = "c2VjcmV0";
  rfc2136 dns(c, ctx);
  auto answers = interlook::testing::handle_batch(dns, {msg(action::add, "a", "10.0.0.1", {"a.example.test"}),
                                                        msg(action::remove, "b", "10.0.0.2", {"b.example.test"})});
  for (auto& a : answers)
    CHECK(a.error ==
          "dns.rfc2136: zone example.test, DNS server 127.0.0.1:1: cannot connect: Connection refused");
  CHECK(dns.updates_sent() == 0);
}

TEST_CASE("a server that accepts the connection and never answers is a timeout naming it") {
  // A listening socket nobody accepts from: the kernel completes the
  // handshake, no answer ever comes.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 8) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::string server = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  logger log{log_level::error, [](log_level, std::string_view) {}};
  extension_context ctx{log, "dns.rfc2136"};
  rfc2136::config c;
  c.server = server;
  c.zone = "example.test";
  c.tsigKeyName = "k";
  c.tsigSecret.value = "c2VjcmV0";
  c.timeout = std::chrono::milliseconds(200);
  rfc2136 dns(c, ctx);
  auto t0 = std::chrono::steady_clock::now();
  auto a = interlook::testing::handle_one(dns, msg(action::add, "a", "10.0.0.1", {"a.example.test"}));
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(a.error == "dns.rfc2136: zone example.test, DNS server " + server +
                       ": timed out after 200ms waiting for the answer");
  CHECK(took >= std::chrono::milliseconds(200));
  CHECK(took < std::chrono::seconds(2));
  ::close(fd);
}
