// lb.kemplm's reading of LoadMaster /access/ answers (ext/lb/kemplm/xml.hpp,
// api.hpp): the first two bytes are the HTTP status (mod 600), the rest the
// body. The XML reader must end on any bytes (depth, entities, CDATA), and a
// command counts as done only for a 2xx <Response stat="200">: anything
// else is a kemp_error naming the command. What a done listvs or showvs
// shows reads as virtual services with canonical addresses.
// fuzz-dict: kemp
#include "fuzz/fuzz.hpp"

#include <interlook/ext/lb/kemplm/api.hpp>

using namespace interlook::ext::lb::kemplm_detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  unsigned status = ((unsigned(data[0]) << 8) | data[1]) % 600;
  auto body = fuzz::text(data + 2, size - 2);

  try {
    auto doc = parse_xml(body);
    FUZZ_CHECK(!doc.name.empty(), "an element without a name");
  } catch (const std::runtime_error& e) {
    FUZZ_CHECK(std::string_view(e.what()).starts_with("malformed XML at byte "), e.what());
  }

  xml_element ok;
  try {
    ok = success_of(status, body, "listing virtual services", "/access/listvs");
    FUZZ_CHECK(status >= 200 && status < 300, "done with HTTP " + std::to_string(status));
  } catch (const kemp_error& e) {
    FUZZ_CHECK(std::string_view(e.what()).starts_with("listing virtual services: "), e.what());
    FUZZ_CHECK(std::string_view(e.what()).find("/access/listvs") != std::string_view::npos, e.what());
    return 0;
  }
  for (const auto& vs : listed_services(ok)) {
    FUZZ_CHECK(canonical_host(vs.address) == vs.address, vs.address);
    for (const auto& rs : vs.real_servers) FUZZ_CHECK(canonical_host(rs.address) == rs.address, rs.address);
  }
  if (auto vs = shown_service(ok)) FUZZ_CHECK(canonical_host(vs->address) == vs->address, vs->address);
  return 0;
}
