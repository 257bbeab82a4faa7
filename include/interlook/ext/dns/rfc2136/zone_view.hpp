#pragma once
// What dns.rfc2136 knows of the zone while it handles one batch: per name,
// whether it is in use and its A, AAAA and TXT records; per service of this
// owner, the names its ownership TXT marks. Built from a zone transfer
// (complete: a name that is not here is not in use) or from questions
// about the batch's names only (incomplete).

#include <interlook/ext/dns/rfc2136/ldns.hpp>
#include <interlook/ext/dns/rfc2136/ownership.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace interlook::ext::dns::rfc2136_detail {

struct name_records {
  rdf_ptr name;          // as the zone writes it
  bool in_use = false;   // owns at least one record of any type
  std::vector<rr_ptr> txt;
  std::vector<std::string> a, aaaa;  // addresses as ldns prints them (inet_ntop)
  std::uint32_t a_ttl = 0, aaaa_ttl = 0, txt_ttl = 0;
  std::vector<std::string> others;   // a few other records, for error texts

  // The TXT record `text`, or null.
  const ldns_rr* find_txt(std::string_view text) const {
    for (const auto& t : txt)
      if (txt_text(t.get()) == text) return t.get();
    return nullptr;
  }
};

class zone_view {
 public:
  bool complete = false;      // from a zone transfer
  std::uint32_t serial = 0;   // the SOA serial it was taken at (complete views)

  explicit zone_view(std::string owner_id) : owner_id_(std::move(owner_id)) {}

  const name_records* find(const std::string& key) const {
    auto it = names_.find(key);
    return it == names_.end() ? nullptr : &it->second;
  }

  // Names whose TXT says this owner and `service`.
  const std::vector<std::string>& owned_by(const std::string& service) const {
    static const std::vector<std::string> none;
    auto it = owned_.find(service);
    return it == owned_.end() ? none : it->second;
  }

  // A name asked about and found not in use (incomplete views).
  void absent(const ldns_rdf* name) { entry(name); }

  void add(const ldns_rr* rr) {
    auto& [key, rec] = *entry(ldns_rr_owner(rr));
    rec.in_use = true;
    switch (ldns_rr_get_type(rr)) {
      case LDNS_RR_TYPE_A:
        rec.a.push_back(to_text(ldns_rr_rdf(rr, 0)));
        rec.a_ttl = ldns_rr_ttl(rr);
        return;
      case LDNS_RR_TYPE_AAAA:
        rec.aaaa.push_back(to_text(ldns_rr_rdf(rr, 0)));
        rec.aaaa_ttl = ldns_rr_ttl(rr);
        return;
      case LDNS_RR_TYPE_TXT: {
        rr_ptr copy(ldns_rr_clone(rr));
        if (!copy) throw std::bad_alloc();
        auto text = txt_text(rr);
        rec.txt.push_back(std::move(copy));
        rec.txt_ttl = ldns_rr_ttl(rr);
        auto o = parse_ownership(text);
        if (o && o->owner == owner_id_ && text == ownership_text(o->owner, o->service)) {
          auto& names = owned_[o->service];
          if (std::find(names.begin(), names.end(), key) == names.end()) names.push_back(key);
        }
        return;
      }
      default:
        if (rec.others.size() < 3) {
          chars_ptr s(ldns_rr2str(rr));
          std::string line = s ? s.get() : type_text(ldns_rr_get_type(rr));
          // "name ttl class type rdata" -> "type rdata"
          std::size_t at = 0;
          for (int field = 0; field < 3 && at != std::string::npos; ++field) at = line.find('\t', at + 1);
          if (at != std::string::npos) line = line.substr(at + 1);
          while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
          for (auto& c : line)
            if (c == '\t') c = ' ';
          rec.others.push_back(std::move(line));
        }
        return;
    }
  }

  std::size_t size() const noexcept { return names_.size(); }

 private:
  std::unordered_map<std::string, name_records>::iterator entry(const ldns_rdf* name) {
    auto key = name_key(name);
    auto it = names_.find(key);
    if (it != names_.end()) return it;
    name_records rec;
    rec.name.reset(ldns_rdf_clone(name));
    if (!rec.name) throw std::bad_alloc();
    return names_.emplace(std::move(key), std::move(rec)).first;
  }

  std::string owner_id_;
  std::unordered_map<std::string, name_records> names_;
  std::unordered_map<std::string, std::vector<std::string>> owned_;
};

}  // namespace interlook::ext::dns::rfc2136_detail
