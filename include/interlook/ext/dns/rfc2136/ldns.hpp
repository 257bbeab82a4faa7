#pragma once
// The few ldns objects dns.rfc2136 uses, owned by unique_ptr, and the name
// and record helpers built on them. Link with -lldns (//third_party:ldns).
//
// Why ldns rather than libknot: ldns is a plain C library with a stable,
// documented API for exactly what an RFC 2136 client needs: packets built
// and parsed from wire format (ldns_pkt2wire, ldns_wire2pkt), UPDATE packets
// (ldns_update_pkt_new), TSIG signing of requests and verification of
// answers, including the chained MACs of a multi-message zone transfer
// (ldns_pkt_tsig_sign, ldns_pkt_tsig_verify_next). libknot is the Knot
// server's internal library: its API follows the server's releases and its
// client-side helpers (TSIG context, packet writer) are not meant for
// outside use.

// Without __bool_true_false_are_defined, ldns/common.h defines the macros
// bool, true and false even in C++, which breaks the standard library
// included after it (<optional>, ...). <stdbool.h> defines it.
#include <stdbool.h>  // NOLINT(modernize-deprecated-headers): must come before ldns

#include <ldns/ldns.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace interlook::ext::dns::rfc2136_detail {

struct pkt_deleter {
  void operator()(ldns_pkt* p) const noexcept { ldns_pkt_free(p); }
};
struct rr_deleter {
  void operator()(ldns_rr* p) const noexcept { ldns_rr_free(p); }
};
struct rr_list_deleter {
  void operator()(ldns_rr_list* p) const noexcept { ldns_rr_list_deep_free(p); }
};
struct rr_list_shallow_deleter {  // a list whose records someone else owns
  void operator()(ldns_rr_list* p) const noexcept { ldns_rr_list_free(p); }
};
struct rdf_deleter {
  void operator()(ldns_rdf* p) const noexcept { ldns_rdf_deep_free(p); }
};
struct malloc_deleter {  // what ldns allocates with LDNS_MALLOC (malloc)
  void operator()(void* p) const noexcept { std::free(p); }
};

using pkt_ptr = std::unique_ptr<ldns_pkt, pkt_deleter>;
using rr_ptr = std::unique_ptr<ldns_rr, rr_deleter>;
using rr_list_ptr = std::unique_ptr<ldns_rr_list, rr_list_deleter>;
using rr_view_list_ptr = std::unique_ptr<ldns_rr_list, rr_list_shallow_deleter>;
using rdf_ptr = std::unique_ptr<ldns_rdf, rdf_deleter>;
using bytes_ptr = std::unique_ptr<std::uint8_t, malloc_deleter>;
using chars_ptr = std::unique_ptr<char, malloc_deleter>;

// A domain name in presentation form ("web.example.test", a trailing dot
// optional), or null when it is not one.
inline rdf_ptr make_dname(std::string_view text) {
  std::string s(text);
  if (s.empty() || s.find_first_of(" \t\r\n\"();") != std::string::npos) return nullptr;
  if (s.back() != '.') s += '.';
  if (s.size() > 1 && s.find("..") != std::string::npos) return nullptr;
  return rdf_ptr(ldns_dname_new_frm_str(s.c_str()));
}

// The presentation form of any rdata field or name, as ldns prints it.
inline std::string to_text(const ldns_rdf* rdf) {
  if (!rdf) return {};
  chars_ptr s(ldns_rdf2str(rdf));
  return s ? std::string(s.get()) : std::string();
}

// A name's key for comparisons: lower case, absolute ("web.example.test.").
inline std::string name_key(const ldns_rdf* dname) {
  rdf_ptr copy(ldns_rdf_clone(dname));
  if (!copy) throw std::bad_alloc();
  ldns_dname2canonical(copy.get());
  return to_text(copy.get());
}

// `sub` is `parent` or below it.
inline bool in_zone(const ldns_rdf* sub, const ldns_rdf* parent) {
  return ldns_dname_compare(sub, parent) == 0 || ldns_dname_is_subdomain(sub, parent);
}

inline std::string type_text(ldns_rr_type t) {
  chars_ptr s(ldns_rr_type2str(t));
  return s ? std::string(s.get()) : "TYPE" + std::to_string(static_cast<unsigned>(t));
}

inline std::string rcode_text(unsigned rcode) {
  if (const ldns_lookup_table* e = ldns_lookup_by_id(ldns_rcodes, static_cast<int>(rcode))) return e->name;
  return "RCODE" + std::to_string(rcode);
}

// The text of a TXT record: its character-strings joined (a TXT written as
// several strings reads as one).
inline std::string txt_text(const ldns_rr* rr) {
  std::string out;
  for (std::size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
    const ldns_rdf* f = ldns_rr_rdf(rr, i);
    if (!f || ldns_rdf_size(f) < 1) continue;
    const std::uint8_t* d = ldns_rdf_data(f);
    std::size_t n = d[0];
    if (n + 1 > ldns_rdf_size(f)) n = ldns_rdf_size(f) - 1;
    out.append(reinterpret_cast<const char*>(d + 1), n);
  }
  return out;
}

// A record with no rdata: the "RRset exists", "name is not in use" and
// "delete an RRset" forms of RFC 2136 (sections 2.4 and 2.5), or a question.
inline rr_ptr make_rr(const ldns_rdf* owner, ldns_rr_type type, ldns_rr_class cls, std::uint32_t ttl) {
  rr_ptr rr(ldns_rr_new());
  rdf_ptr name(ldns_rdf_clone(owner));
  if (!rr || !name) throw std::bad_alloc();
  ldns_rr_set_owner(rr.get(), name.release());
  ldns_rr_set_type(rr.get(), type);
  ldns_rr_set_class(rr.get(), cls);
  ldns_rr_set_ttl(rr.get(), ttl);
  return rr;
}

// An A or AAAA record (or the same rdata under another class, to delete it).
inline rr_ptr make_address_rr(const ldns_rdf* owner, bool v6, const std::string& address, ldns_rr_class cls,
                              std::uint32_t ttl) {
  auto rr = make_rr(owner, v6 ? LDNS_RR_TYPE_AAAA : LDNS_RR_TYPE_A, cls, ttl);
  rdf_ptr data(ldns_rdf_new_frm_str(v6 ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, address.c_str()));
  if (!data) throw std::invalid_argument("not an IP address: " + address);
  ldns_rr_push_rdf(rr.get(), data.release());
  return rr;
}

// A TXT record of one character-string (at most 255 bytes).
inline rr_ptr make_txt_rr(const ldns_rdf* owner, std::string_view text, ldns_rr_class cls, std::uint32_t ttl) {
  if (text.size() > 255) throw std::length_error("a TXT string is longer than 255 bytes");
  auto rr = make_rr(owner, LDNS_RR_TYPE_TXT, cls, ttl);
  std::string data;
  data += static_cast<char>(text.size());
  data += text;
  rdf_ptr f(ldns_rdf_new_frm_data(LDNS_RDF_TYPE_STR, data.size(), data.data()));
  if (!f) throw std::bad_alloc();
  ldns_rr_push_rdf(rr.get(), f.release());
  return rr;
}

// A copy of `rr` under another class and TTL: the value-dependent
// prerequisite (class = the zone's, TTL 0) or the delete-this-RR form
// (class NONE, TTL 0).
inline rr_ptr recast(const ldns_rr* rr, ldns_rr_class cls, std::uint32_t ttl) {
  rr_ptr copy(ldns_rr_clone(rr));
  if (!copy) throw std::bad_alloc();
  ldns_rr_set_class(copy.get(), cls);
  ldns_rr_set_ttl(copy.get(), ttl);
  return copy;
}

// Base64 that ldns accepts as TSIG key material: canonical, so the bits
// past the last byte are zero (ldns_b64_pton, and BIND, refuse others).
inline bool valid_base64(const std::string& s) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (s.empty() || s.size() % 4 != 0) return false;
  std::size_t pad = s.size() - s.find_last_not_of('=') - 1;
  if (pad > 2) return false;
  for (std::size_t i = 0; i < s.size() - pad; ++i)
    if (value(s[i]) < 0) return false;
  int last = value(s[s.size() - pad - 1]);
  if (pad == 1 && (last & 3) != 0) return false;
  if (pad == 2 && (last & 15) != 0) return false;
  return true;
}

}  // namespace interlook::ext::dns::rfc2136_detail
