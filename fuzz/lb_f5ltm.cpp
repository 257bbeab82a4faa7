// lb.f5ltm's reading of BIG-IP iControl REST answers
// (ext/lb/f5ltm/model.hpp, session.hpp). The input is two NUL-separated JSON
// texts, A and B, each read as every object the extension reads: a pool with
// its members (membersReference), a virtual server, a policy and its draft
// (rulesReference), an error body, a login answer. Nothing here may throw:
// a malformed BIG-IP object is read as absent or as differing from what
// interlook wants (so that interlook rewrites its own objects), never as
// matching. The plans stay in range: ratios 1..65535, ports 0..65535.
// fuzz-dict: json f5
#include "fuzz/fuzz.hpp"

#include <interlook/ext/lb/f5ltm/model.hpp>
#include <interlook/ext/lb/f5ltm/session.hpp>
#include <interlook/core/message.hpp>

#include <boost/json/parse.hpp>

using namespace interlook;
using namespace interlook::ext::lb::f5ltm_detail;
namespace json = boost::json;

namespace {

json::object object_of(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return {};
  return v.get_object();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto p = fuzz::parts(fuzz::text(data, size), 2);
  auto a = object_of(p[0]), b = object_of(p[1]);
  settings s;
  s.tcp_profile = "/Common/tcp-lan-optimized";

  // A pool: its members against what interlook wants.
  std::vector<member> have;
  for (const auto& item : items(a, "membersReference"))
    if (auto m = parse_member(item)) {
      FUZZ_CHECK(m->ratio >= 1 && m->at.port <= 65535 && !m->path.empty(), m->path);
      have.push_back(*m);
    }
  std::vector<interlook::target> targets{{"10.0.0.1", 80, 3}, {"10.0.0.1", 80, 70000}, {"2001:db8::1", 8080, 1}};
  auto want = desired_members(targets);
  auto c = diff_members(want, have);
  FUZZ_CHECK(c.add.size() + c.reweight.size() <= want.size() && c.remove.size() <= have.size(), "diff sizes");
  for (const auto& m : c.reweight) FUZZ_CHECK(!m.path.empty() && m.ratio >= 1 && m.ratio <= max_ratio, m.path);
  (void)pool_patch(s, "web", a);

  // A virtual server: what differs. One that matches asks for nothing, and
  // asking for what was asked makes it match.
  endpoint at{"192.0.2.10", 443, false};
  auto patch = virtual_patch(s, "web", at, a);
  json::object patched = a;
  for (const auto& [k, v] : patch) patched[k] = v;
  if (patch.contains("profiles")) {
    patched["profilesReference"] = json::object{{"items", json::array{json::object{{"fullPath", s.tcp_profile}}}}};
  }
  FUZZ_CHECK(virtual_patch(s, "web", at, patched).empty(), json::serialize(virtual_patch(s, "web", at, patched)));
  if (auto d = parse_destination(str(a, "destination"))) FUZZ_CHECK(d->port <= 65535 && !d->address.empty(), d->address);

  // A policy and its draft.
  auto rules = rules_of(a);
  auto next = next_ordinal(a);
  for (const auto& [name, rule] : rules) {
    FUZZ_CHECK(number(rule, "ordinal", 0) < next || number(rule, "ordinal", 0) == std::numeric_limits<std::int64_t>::max(),
               name);
    (void)same_rule(s, name, true, {"web.example.test"}, rule);
    (void)same_rule(s, name, false, {"web.example.test"}, rule);
  }
  auto foreign = foreign_draft_changes(s, a, b);
  FUZZ_CHECK(foreign_draft_changes(s, a, a).empty(), "a policy differs from itself");
  (void)foreign;

  // Error bodies and login answers.
  auto msg = f5_message(std::string(p[0]));
  FUZZ_CHECK(msg.size() <= p[0].size() + 16 || msg == str(a, "message"), msg);
  auto token = login_token(p[0]);
  for (char ch : token) FUZZ_CHECK(ch > ' ' && ch <= '~', "a token with a byte a header cannot carry");
  return 0;
}
