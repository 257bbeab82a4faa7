// dns.powerdns' reading of a zone as the PowerDNS API answers it
// (GET /api/v1/servers/localhost/zones/<zone>; ext/dns/powerdns/zone.hpp)
// and the plans made against it: bad_reply for an answer that is not a
// zone, conflict for a name someone else holds, are the documented
// failures. A plan never touches a name that is not ours: what it gives up
// carried our ownership TXT, what it publishes was asked for.
// fuzz-dict: json powerdns
#include "fuzz/fuzz.hpp"

#include <interlook/ext/dns/powerdns/zone.hpp>

#include <algorithm>

using namespace interlook::ext::dns::powerdns_detail;

namespace {

bool contains(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

void check_plan(const zone_view& view, const plan_input& in, const plan& p) {
  const std::string text = ownership_text(in.owner, in.service);
  for (const auto& n : p.published) FUZZ_CHECK(!in.remove && contains(in.names, n), n + " published, not asked for");
  for (const auto& n : p.removed) {
    const auto* rec = view.find(n);
    FUZZ_CHECK(rec && rec->has_txt(text), n + " given up without our TXT");
    FUZZ_CHECK(in.remove || !contains(in.names, n), n + " given up while asked for");
  }
  for (const auto& r : p.rrsets) {
    auto name = std::string(r.at("name").as_string());
    FUZZ_CHECK(contains(p.published, name) || contains(p.removed, name), name + " changed, neither published nor given up");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto body = fuzz::text(data, size);
  zone_view view;
  try {
    view = zone_view::parse(body);
  } catch (const bad_reply& e) {
    FUZZ_CHECK(std::string_view(e.what()).starts_with("the zone"), e.what());
    return 0;
  }
  const std::string zone = "example.test.";
  std::map<std::string, std::string> claimed;
  plan_input add{.owner = "il1", .service = "web", .ttl = 60, .remove = false, .address = "192.0.2.10", .v6 = false,
                 .names = {"web.example.test.", "www.example.test."}};
  try {
    check_plan(view, add, make_plan(view, add, claimed));
  } catch (const conflict& e) {
    FUZZ_CHECK(std::string_view(e.what()).find("not ours") != std::string_view::npos ||
                   std::string_view(e.what()).find("belongs to owner") != std::string_view::npos,
               e.what());
  }
  plan_input v6 = add;
  v6.address = "2001:db8::10";
  v6.v6 = true;
  v6.names = {"web.example.test."};
  std::map<std::string, std::string> none;
  try {
    check_plan(view, v6, make_plan(view, v6, none));
  } catch (const conflict&) {
  }
  plan_input remove{.owner = "il1", .service = "web", .remove = true};
  check_plan(view, remove, make_plan(view, remove, none));

  // Every name the zone holds, as an alias: canonical in the zone, or refused
  // with a reason.
  std::string why;
  for (const auto& t : {std::string("web.example.test"), std::string(body.substr(0, std::min<std::size_t>(body.size(), 300)))}) {
    if (auto n = zone_name(t, zone, why)) FUZZ_CHECK(n->ends_with(zone) && n->size() <= 254, *n);
    else FUZZ_CHECK(!why.empty(), t);
  }
  // Our TXT contents read back as the text written.
  auto line = std::string(body.substr(0, body.find('\n')));
  FUZZ_CHECK(txt_text(txt_content(line)) == line, line);
  return 0;
}
