#pragma once
// dns.powerdns's picture of a zone and its plans, as plain functions over
// PowerDNS's JSON (no I/O, so they are tested on their own).
//
//   GET /api/v1/servers/{server}/zones/{zone}
//     {"name": "example.test.", ..., "rrsets": [{"name": "web.example.test.",
//      "type": "A", "ttl": 60, "records": [{"content": "10.0.0.1",
//      "disabled": false}], "comments": [...]}, ...]}
//   PATCH the same URL with {"rrsets": [...]}: each RRset with "changetype"
//     REPLACE (name, type, ttl, records[, comments]) or DELETE (name, type);
//     204 when applied, all of them or none (422 {"error": "..."}).
//
// A plan says, for one service, which RRsets to REPLACE or DELETE so that
// the zone holds exactly its aliases at its public IP, each with our
// ownership TXT beside it (ownership.hpp), and nothing of names it no longer
// lists; or why it cannot (a name someone else holds).

#include <interlook/ext/dns/powerdns/ownership.hpp>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace interlook::ext::dns::powerdns_detail {

class bad_reply : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A name someone else holds: the service's error, nothing written for it.
class conflict : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "Example.TEST" -> "example.test." (lower case, one trailing dot).
inline std::string canonical(std::string_view name) {
  std::string n;
  n.reserve(name.size() + 1);
  for (char c : name) n += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  while (!n.empty() && n.back() == '.') n.pop_back();
  return n + ".";
}

// An alias as a name of `zone` (both canonical); nullopt and a reason when
// it is not a name in the zone or not a host name PowerDNS takes.
inline std::optional<std::string> zone_name(std::string_view alias, const std::string& zone, std::string& why) {
  std::string n = canonical(alias);
  if (n == ".") {
    why = "an empty DNS alias";
    return std::nullopt;
  }
  bool inside = n == zone || (n.size() > zone.size() && n.compare(n.size() - zone.size(), zone.size(), zone) == 0 &&
                              n[n.size() - zone.size() - 1] == '.');
  if (!inside) {
    why = "DNS alias \"" + std::string(alias) + "\" is not in zone " + zone;
    return std::nullopt;
  }
  if (n.size() > 254) {
    why = "DNS alias \"" + std::string(alias) + "\" is longer than 253 characters";
    return std::nullopt;
  }
  std::size_t label = 0;
  for (std::size_t i = 0; i + 1 < n.size(); ++i) {
    char c = n[i];
    if (c == '.') {
      if (label == 0) {
        why = "DNS alias \"" + std::string(alias) + "\" has an empty label";
        return std::nullopt;
      }
      label = 0;
      continue;
    }
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '*')) {
      why = "DNS alias \"" + std::string(alias) + "\" has a character that is not allowed in a host name ('" + std::string(1, c) + "')";
      return std::nullopt;
    }
    if (++label > 63) {
      why = "DNS alias \"" + std::string(alias) + "\" has a label longer than 63 characters";
      return std::nullopt;
    }
  }
  return n;
}

struct rrset {
  std::string type;
  std::uint32_t ttl = 0;
  std::vector<std::string> contents;  // enabled and disabled records alike
};

// Every RRset of one name.
struct name_records {
  std::string name;
  std::map<std::string, rrset> sets;  // by type; only RRsets with records

  const rrset* find(std::string_view type) const {
    auto it = sets.find(std::string(type));
    return it == sets.end() ? nullptr : &it->second;
  }
  std::vector<std::string> txt_texts() const {
    std::vector<std::string> out;
    if (const auto* t = find("TXT"))
      for (const auto& c : t->contents) out.push_back(txt_text(c));
    return out;
  }
  bool has_txt(std::string_view text) const {
    auto all = txt_texts();
    return std::find(all.begin(), all.end(), text) != all.end();
  }
};

// The zone as one GET showed it.
class zone_view {
 public:
  // Parses GET .../zones/{zone}; `zone` is the canonical zone name.
  static zone_view parse(std::string_view body) {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) throw bad_reply("the zone is not a JSON object");
    const auto& o = v.get_object();
    zone_view z;
    if (auto n = o.find("name"); n != o.end() && n->value().is_string()) z.zone_ = std::string(n->value().get_string());
    auto sets = o.find("rrsets");
    if (sets == o.end() || !sets->value().is_array()) throw bad_reply("the zone has no \"rrsets\" list");
    for (const auto& sv : sets->value().get_array()) {
      if (!sv.is_object()) continue;
      const auto& s = sv.get_object();
      auto str = [&](std::string_view k) {
        auto it = s.find(k);
        return it != s.end() && it->value().is_string() ? std::string(it->value().get_string()) : std::string();
      };
      rrset r;
      r.type = str("type");
      if (auto t = s.find("ttl"); t != s.end() && !t->value().is_null()) {
        const auto& tv = t->value();
        if (tv.is_uint64() && tv.get_uint64() <= 0xffffffffu) r.ttl = static_cast<std::uint32_t>(tv.get_uint64());
        else if (tv.is_int64() && tv.get_int64() >= 0 && tv.get_int64() <= 0xffffffff) r.ttl = static_cast<std::uint32_t>(tv.get_int64());
        else throw bad_reply("the zone's " + r.type + " RRset of " + str("name") + " has a ttl that is not a 32-bit count (" +
                             boost::json::serialize(tv) + ")");
      }
      if (auto rec = s.find("records"); rec != s.end() && rec->value().is_array())
        for (const auto& x : rec->value().get_array())
          if (x.is_object())
            if (auto c = x.get_object().find("content"); c != x.get_object().end() && c->value().is_string())
              r.contents.emplace_back(c->value().get_string());
      if (r.contents.empty()) continue;  // comments without records
      std::string name = canonical(str("name"));
      auto& nr = z.names_[name];
      nr.name = name;
      // PowerDNS has one RRset per name and type; an answer with two is not
      // one to act on (which would be the truth?).
      if (nr.sets.count(r.type)) throw bad_reply("the zone lists the " + r.type + " RRset of " + name + " twice");
      if (r.type == "TXT")
        for (const auto& c : r.contents) z.owners_[txt_text(c)].insert(name);
      nr.sets[r.type] = std::move(r);
      ++z.rrsets_;
    }
    return z;
  }

  const name_records* find(const std::string& name) const {
    auto it = names_.find(name);
    return it == names_.end() ? nullptr : &it->second;
  }

  // The names whose TXT RRset holds this exact text.
  std::vector<std::string> names_with_txt(const std::string& text) const {
    auto it = owners_.find(text);
    if (it == owners_.end()) return {};
    return {it->second.begin(), it->second.end()};
  }

  std::size_t rrset_count() const { return rrsets_; }
  const std::string& zone() const { return zone_; }

 private:
  std::string zone_;
  std::unordered_map<std::string, name_records> names_;
  std::unordered_map<std::string, std::set<std::string>> owners_;  // TXT text -> names
  std::size_t rrsets_ = 0;
};

// ---- RRset changes ------------------------------------------------------------------

inline boost::json::object replace_rrset(const std::string& name, std::string_view type, std::uint32_t ttl,
                                         const std::vector<std::string>& contents, const std::string& comment = {}) {
  boost::json::array records;
  for (const auto& c : contents) records.push_back(boost::json::object{{"content", c}, {"disabled", false}});
  boost::json::object o{{"name", name}, {"type", type}, {"ttl", ttl}, {"changetype", "REPLACE"}, {"records", std::move(records)}};
  if (!comment.empty())
    o["comments"] = boost::json::array{boost::json::object{{"content", comment}, {"account", "interlook"}}};
  return o;
}

inline boost::json::object delete_rrset(const std::string& name, std::string_view type) {
  return boost::json::object{{"name", name}, {"type", type}, {"changetype", "DELETE"}};
}

// ---- plans ----------------------------------------------------------------------------

struct plan {
  std::vector<boost::json::object> rrsets;  // what to PATCH; empty: as asked already
  std::vector<std::string> published;       // names added or changed
  std::vector<std::string> removed;         // names given up
};

struct plan_input {
  std::string owner;
  std::string service;
  std::uint32_t ttl = 60;
  bool remove = false;              // delete: give up every name
  std::string address;              // add: the public IP, as PowerDNS prints it
  bool v6 = false;
  std::vector<std::string> names;   // add: canonical names in the zone, no duplicates
};

namespace detail {

inline std::string describe_foreign(const name_records& rec) {
  for (const auto& t : rec.txt_texts())
    if (auto o = parse_ownership(t))
      return rec.name + " belongs to owner \"" + o->owner + "\", service \"" + o->service + "\" (TXT \"" + t + "\"); left alone";
  std::vector<std::string> shown;
  for (const auto& [type, set] : rec.sets)
    for (const auto& c : set.contents) shown.push_back(type + " " + c);
  std::string list;
  for (std::size_t i = 0; i < shown.size() && i < 4; ++i) list += (i ? ", " : "") + shown[i];
  if (shown.size() > 4) list += ", ...";
  return rec.name + " exists and is not ours (" + list + "; no interlook ownership TXT); left alone";
}

// Gives up an owned name: its A and AAAA RRsets, and our TXT record (other
// TXT records of the name stay).
inline void give_up(plan& p, const name_records& rec, const std::string& text, std::uint32_t ttl) {
  if (rec.find("A")) p.rrsets.push_back(delete_rrset(rec.name, "A"));
  if (rec.find("AAAA")) p.rrsets.push_back(delete_rrset(rec.name, "AAAA"));
  std::vector<std::string> others;
  if (const auto* t = rec.find("TXT"))
    for (const auto& c : t->contents)
      if (txt_text(c) != text) others.push_back(c);
  if (others.empty())
    p.rrsets.push_back(delete_rrset(rec.name, "TXT"));
  else
    p.rrsets.push_back(replace_rrset(rec.name, "TXT", rec.find("TXT") ? rec.find("TXT")->ttl : ttl, others));
  p.removed.push_back(rec.name);
}

}  // namespace detail

// The service's plan against `view`. `claimed` holds the names other
// services of the same batch already take (a name asked for twice goes to
// the first); the plan adds its own names to it. Throws conflict.
inline plan make_plan(const zone_view& view, const plan_input& in, std::map<std::string, std::string>& claimed) {
  plan p;
  const std::string text = ownership_text(in.owner, in.service);
  const std::string comment = "interlook: owner " + in.owner + ", service " + in.service;
  const std::string_view addr_type = in.v6 ? "AAAA" : "A";
  const std::string_view other_type = in.v6 ? "A" : "AAAA";
  if (!in.remove) {
    std::vector<std::string> conflicts;
    for (const auto& name : in.names) {
      if (auto c = claimed.find(name); c != claimed.end() && c->second != in.service) {
        conflicts.push_back(name + " is also asked for by service " + c->second + " in this batch; left to it");
        continue;
      }
      const auto* rec = view.find(name);
      if (rec && !rec->has_txt(text)) conflicts.push_back(detail::describe_foreign(*rec));
    }
    if (!conflicts.empty()) {
      std::string all;
      for (std::size_t i = 0; i < conflicts.size(); ++i) all += (i ? "; " : "") + conflicts[i];
      throw conflict(all);
    }
    for (const auto& name : in.names) {
      claimed.emplace(name, in.service);
      const auto* rec = view.find(name);
      const auto* mine = rec ? rec->find(addr_type) : nullptr;
      const auto* other = rec ? rec->find(other_type) : nullptr;
      const auto* txt = rec ? rec->find("TXT") : nullptr;
      bool address_ok = mine && mine->contents.size() == 1 && mine->contents[0] == in.address && mine->ttl == in.ttl;
      bool txt_ok = txt && txt->ttl == in.ttl;  // holds our text: rec is ours or absent
      if (address_ok && txt_ok && !other) continue;
      if (!address_ok) p.rrsets.push_back(replace_rrset(name, addr_type, in.ttl, {in.address}, comment));
      if (other) p.rrsets.push_back(delete_rrset(name, other_type));
      if (!txt_ok) {
        std::vector<std::string> contents{txt_content(text)};
        if (txt)  // someone added TXT records to our name: they stay
          for (const auto& c : txt->contents)
            if (txt_text(c) != text) contents.push_back(c);
        p.rrsets.push_back(replace_rrset(name, "TXT", in.ttl, contents));
      }
      p.published.push_back(name);
    }
  }
  // Names the service owns and no longer lists (all of them for a delete).
  for (const auto& name : view.names_with_txt(text)) {
    if (!in.remove && std::find(in.names.begin(), in.names.end(), name) != in.names.end()) continue;
    if (auto c = claimed.find(name); c != claimed.end() && c->second != in.service) continue;  // another service takes it over
    detail::give_up(p, *view.find(name), text, in.ttl);
  }
  return p;
}

}  // namespace interlook::ext::dns::powerdns_detail
