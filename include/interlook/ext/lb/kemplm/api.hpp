#pragma once
// The Kemp LoadMaster's /access/ API as lb.kemplm uses it: GET
// /access/<command>?<parameters>, basic authentication or an API key
// (the `apikey` parameter, which then takes precedence), and an XML answer
// whose <Response stat="..."> says whether the command worked:
//
//   <Response stat="200" code="ok"><Success>...</Success></Response>
//   <Response stat="422" code="fail"><Error>Unknown VS</Error></Response>
//
// Every answer's stat is checked (Go interlook took a failed addvs or addrs
// for a success): a command worked only when the HTTP status is 2xx and
// stat is 200. Anything else throws kemp_error with the LoadMaster's
// <Error> text: "<what>: <Error> (stat 422, /access/addrs)". The API key
// never appears in a message (the HTTP client redacts `apikey`).

#include <interlook/ext/lb/kemplm/xml.hpp>
#include <interlook/extension/context.hpp>
#include <interlook/http/client.hpp>
#include <interlook/http/url.hpp>
#include <interlook/support/ip_address.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace interlook::ext::lb::kemplm_detail {

class kemp_error : public std::runtime_error {
 public:
  kemp_error(const std::string& what, unsigned stat) : std::runtime_error(what), stat_(stat) {}
  unsigned stat() const noexcept { return stat_; }

 private:
  unsigned stat_;
};

struct real_server {
  std::string address;  // canonical when an IP address
  std::uint32_t port = 0;
  std::uint32_t weight = 1000;
  std::string index;  // RsIndex
};

struct virtual_service {
  std::string index;
  std::string address;  // canonical when an IP address
  std::uint32_t port = 0;
  std::string protocol;  // tcp, udp
  std::string nickname;
  std::string vstype;
  std::string checktype;
  std::string schedule;
  std::vector<real_server> real_servers;
};

// A host as the LoadMaster compares it: canonical for IP addresses, lower
// case for names.
inline std::string canonical_host(const std::string& h) {
  if (auto ip = ip_address::parse(h)) return ip->str();
  std::string out = h;
  for (auto& c : out) c = static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  return out;
}

inline std::uint32_t to_number(const std::string& s, std::uint32_t fallback) {
  if (s.empty()) return fallback;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return fallback;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
    if (v > 0xffffffffull) return fallback;
  }
  return static_cast<std::uint32_t>(v);
}

inline virtual_service parse_vs(const xml_element& e) {
  virtual_service v;
  v.index = e.child_text("Index");
  v.address = canonical_host(e.child_text("VSAddress"));
  v.port = to_number(e.child_text("VSPort"), 0);
  v.protocol = canonical_host(e.child_text("Protocol"));
  v.nickname = e.child_text("NickName");
  v.vstype = canonical_host(e.child_text("VStype"));
  v.checktype = canonical_host(e.child_text("CheckType"));
  v.schedule = canonical_host(e.child_text("Schedule"));
  for (const auto* rs : e.all("Rs")) {
    real_server r;
    r.address = canonical_host(rs->child_text("Addr"));
    r.port = to_number(rs->child_text("Port"), 0);
    r.weight = to_number(rs->child_text("Weight"), 1000);
    r.index = rs->child_text("RsIndex");
    v.real_servers.push_back(std::move(r));
  }
  return v;
}

// The <Success> element of a command's answer (empty when it has none), or
// kemp_error: a command worked only when the HTTP status is 2xx and the
// answer is <Response stat="200">. `where` is the command's path.
inline xml_element success_of(unsigned http_status, std::string_view body, const std::string& what, const std::string& where) {
  std::optional<xml_element> doc;
  try {
    doc = parse_xml(body);
  } catch (const std::exception&) {
  }
  if (!doc || !xml_element::same_name(doc->name, "Response")) {
    if (http_status == 401)
      throw kemp_error(what + ": the LoadMaster refused the credentials (HTTP 401, " + where + ")", 401);
    throw kemp_error(what + ": the answer is not the LoadMaster's XML (HTTP " + std::to_string(http_status) + ", " + where +
                         "): " + http::detail::excerpt(body),
                     http_status);
  }
  unsigned stat = to_number(doc->attribute("stat"), 0);
  if (stat == 200 && http_status >= 200 && http_status < 300) {
    if (const auto* ok = doc->child("Success")) return *ok;
    return xml_element{};
  }
  // The LoadMaster's words go into logs: control bytes (a NUL, a newline
  // forging a log line) are blanked and the length bounded.
  std::string text = http::detail::excerpt(doc->child_text("Error"));
  if (text.empty()) text = http::detail::excerpt(doc->attribute("code"));
  if (text.empty()) text = "failed";
  throw kemp_error(what + ": " + text + " (stat " + (stat ? std::to_string(stat) : std::string("missing")) +
                       (http_status != stat ? ", HTTP " + std::to_string(http_status) : std::string()) + ", " + where + ")",
                   stat ? stat : http_status);
}

// The virtual services of a listvs answer's <Success>.
inline std::vector<virtual_service> listed_services(const xml_element& ok) {
  std::vector<virtual_service> out;
  const xml_element* data = ok.child("Data");
  if (!data) return out;
  for (const auto* vs : data->all("VS")) out.push_back(parse_vs(*vs));
  return out;
}

// The virtual service of a showvs answer's <Success>, nullopt without one.
// Some versions wrap the service in <VS>, others put its fields in <Data>.
inline std::optional<virtual_service> shown_service(const xml_element& ok) {
  const xml_element* data = ok.child("Data");
  if (!data) return std::nullopt;
  if (const auto* inner = data->child("VS")) return parse_vs(*inner);
  return parse_vs(*data);
}

struct api_options {
  std::string endpoint;  // https://loadmaster.example.com
  std::string username;
  std::string password;
  std::string api_key;
  std::string ca_file;
  bool insecure_skip_verify = false;
  std::size_t max_connections = 4;
};

using parameters = std::vector<std::pair<std::string, std::string>>;

class api {
 public:
  api(boost::asio::any_io_executor ex, api_options o)
      : opts_(std::move(o)), client_(ex, normalise(opts_.endpoint), client_options(opts_)) {}

  std::string url() const { return client_.url(); }
  std::string describe() const { return client_.describe() + (opts_.api_key.empty() ? "" : ", API key"); }

  // Runs one command; the <Success> element of its answer.
  boost::asio::awaitable<xml_element> command(std::string cmd, const parameters& params, std::string what) {
    std::string target = "/access/" + cmd;
    char sep = '?';
    auto add = [&](std::string_view k, std::string_view v) {
      target += sep;
      sep = '&';
      target += k;
      target += '=';
      target += http::percent_encode(v);
    };
    if (!opts_.api_key.empty()) add("apikey", opts_.api_key);
    for (const auto& [k, v] : params) add(k, v);
    http::request req = http::request::get(target);
    req.throw_on_error_status = false;
    http::response r;
    try {
      r = co_await client_.request(std::move(req));
    } catch (const http::error& e) {
      throw std::runtime_error(what + ": " + e.what());
    }
    // An answer that is not the LoadMaster's XML goes into the error as an
    // excerpt; a proxy's error page may echo the request's URL (the API key).
    http::detail::scrub(r.body, {opts_.api_key, opts_.password});
    co_return success_of(r.status, r.body, what, "/access/" + cmd);
  }

  // Every virtual service, with its real servers when the answer lists them.
  boost::asio::awaitable<std::vector<virtual_service>> list() {
    auto ok = co_await command("listvs", {}, "listing virtual services");
    co_return listed_services(ok);
  }

  // One virtual service with its real servers; nullopt when there is none.
  boost::asio::awaitable<std::optional<virtual_service>> show(const parameters& vs, std::string what) {
    std::optional<xml_element> ok;
    try {
      ok = co_await command("showvs", vs, what);
    } catch (const kemp_error& e) {
      if (e.stat() != 422) throw;  // 422: "Unknown VS" (Go interlook read it so too)
    }
    if (!ok) co_return std::nullopt;
    co_return shown_service(*ok);
  }

 private:
  static std::string normalise(std::string url) {
    if (url.find("://") == std::string::npos) url = "https://" + url;
    while (url.size() > 8 && url.back() == '/') url.pop_back();
    return url;
  }

  static http::client_options client_options(const api_options& o) {
    http::client_options c;
    c.tls.ca_file = o.ca_file;
    c.tls.insecure_skip_verify = o.insecure_skip_verify;
    c.max_connections = o.max_connections == 0 ? 1 : o.max_connections;
    if (o.api_key.empty() && !o.username.empty()) c.credentials = http::credentials::basic(o.username, o.password);
    return c;
  }

  api_options opts_;
  http::client client_;
};

}  // namespace interlook::ext::lb::kemplm_detail
