#pragma once
// A simulated Kemp LoadMaster /access/ API, for lb.kemplm's tests.
//
// No LoadMaster can run here (it is a licensed appliance image), so this
// serves the commands lb.kemplm uses, as Kemp's RESTful API documentation
// describes them, over HTTP or HTTPS on 127.0.0.1 (tests/http/test_server.hpp):
//
//   - GET /access/<command>?<parameters> (parameters in a POSTed form body
//     work too); authentication by HTTP basic credentials or an `apikey`
//     parameter (which takes precedence); without either: HTTP 401;
//   - answers in XML: <Response stat="200" code="ok"><Success>...</Success>
//     </Response> on success, <Response stat="422" code="fail"><Error>...
//     </Error></Response> with HTTP 422 on failure ("Unknown VS", "Real
//     Server already exists", "Invalid weight", ...);
//   - listvs (every virtual service in <Data><VS>...</VS></Data>), showvs
//     (one, its fields in <Data>), addvs, modvs, delvs (vs=address&port=
//     &prot=, or vs=<index>), addrs, modrs, delrs (rs=&rsport=, weight
//     1..65535, default 1000; a real server outside the local network needs
//     non_local=1);
//   - a virtual service: Index, VSAddress, VSPort, Protocol, NickName,
//     VStype (gen by default), CheckType (tcp by default), Schedule (rr by
//     default), and <Rs> elements (RsIndex, Addr, Port, Weight, ...).
//
// For tests: commands are counted by name and logged, the next matching
// command can be made to fail (optionally with HTTP 200 and only stat 422
// in the body, as some firmware answers), virtual services can be seeded.

#include "tests/http/test_server.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace kempsim {

struct real_server {
  int index = 0;
  std::string address;
  int port = 0;
  int weight = 1000;
  bool non_local = false;
};

struct virtual_service {
  int index = 0;
  std::string address;
  int port = 0;
  std::string protocol = "tcp";
  std::string nickname;
  std::string vstype = "gen";
  std::string checktype = "tcp";
  std::string schedule = "rr";
  std::vector<real_server> rs;
  int next_rs = 1;
};

class simulator {
 public:
  struct options {
    std::string username = "bal";
    std::string password = "lm-password";
    std::string api_key;                   // accepted when set
    std::string local_prefix = "10.99.";   // real servers here need no non_local
    const test_server::tls_config* tls = nullptr;
  };

  simulator() : simulator(options{}) {}
  explicit simulator(options o)
      : opts_(std::move(o)),
        server_(test_server::keep_alive([this](const test_server::request& r) { return serve(r); }), opts_.tls) {}
  ~simulator() { server_.stop(); }

  std::string url() const { return server_.url(opts_.tls ? "https" : "http"); }

  // --- seeding and faults ---------------------------------------------------------------

  void seed(virtual_service v) {
    std::lock_guard lock(m_);
    v.index = next_vs_++;
    for (auto& r : v.rs) r.index = v.next_rs++;
    vss_.push_back(std::move(v));
  }

  // The next `times` commands named `cmd` fail with stat `stat` and
  // `message`; with http200, the HTTP status is 200 (only the body says so).
  void fail_next(std::string cmd, int stat, std::string message, int times = 1, bool http200 = false) {
    std::lock_guard lock(m_);
    faults_.push_back({std::move(cmd), stat, std::move(message), times, http200});
  }

  void set_delay(std::chrono::milliseconds d) {
    std::lock_guard lock(m_);
    delay_ = d;
  }

  // --- inspection -------------------------------------------------------------------------

  int count(const std::string& cmd) {
    std::lock_guard lock(m_);
    auto it = counts_.find(cmd);
    return it == counts_.end() ? 0 : it->second;
  }
  // Commands that change the configuration.
  int writes() {
    std::lock_guard lock(m_);
    int n = 0;
    for (const auto& [k, v] : counts_)
      if (k != "listvs" && k != "showvs") n += v;
    return n;
  }
  std::map<std::string, int> counts() {
    std::lock_guard lock(m_);
    return counts_;
  }
  void reset_counts() {
    std::lock_guard lock(m_);
    counts_.clear();
    log_.clear();
  }
  std::vector<std::string> log() {
    std::lock_guard lock(m_);
    return log_;
  }
  int peak_in_progress() {
    std::lock_guard lock(m_);
    return peak_;
  }
  int unauthorised() {
    std::lock_guard lock(m_);
    return unauthorised_;
  }
  std::optional<virtual_service> vs(const std::string& address, int port, const std::string& prot = "tcp") {
    std::lock_guard lock(m_);
    for (const auto& v : vss_)
      if (v.address == address && v.port == port && v.protocol == prot) return v;
    return std::nullopt;
  }
  std::size_t vs_count() {
    std::lock_guard lock(m_);
    return vss_.size();
  }
  // Real servers of a virtual service as "addr:port*weight", sorted.
  std::vector<std::string> real_servers(const std::string& address, int port) {
    std::vector<std::string> out;
    if (auto v = vs(address, port))
      for (const auto& r : v->rs) out.push_back(r.address + ":" + std::to_string(r.port) + "*" + std::to_string(r.weight));
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  struct fault {
    std::string cmd;
    int stat;
    std::string message;
    int times;
    bool http200;
  };
  using params = std::map<std::string, std::string>;

  static std::string decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') out += ' ';
      else if (s[i] == '%' && i + 2 < s.size()) {
        out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else out += s[i];
    }
    return out;
  }
  static void parse_form(std::string_view q, params& out) {
    for (std::size_t start = 0; start < q.size();) {
      auto amp = q.find('&', start);
      auto pair = q.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
      auto eq = pair.find('=');
      if (eq != std::string_view::npos) out[decode(pair.substr(0, eq))] = decode(pair.substr(eq + 1));
      else if (!pair.empty()) out[decode(pair)] = "";
      if (amp == std::string_view::npos) break;
      start = amp + 1;
    }
  }
  static std::string base64(std::string_view in) {
    static constexpr char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
      unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) | static_cast<unsigned char>(in[i + 2]);
      out += t[v >> 18];
      out += t[(v >> 12) & 63];
      out += t[(v >> 6) & 63];
      out += t[v & 63];
    }
    if (i + 1 == in.size()) {
      unsigned v = static_cast<unsigned char>(in[i]) << 16;
      out += t[v >> 18];
      out += t[(v >> 12) & 63];
      out += "==";
    } else if (i + 2 == in.size()) {
      unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
      out += t[v >> 18];
      out += t[(v >> 12) & 63];
      out += t[(v >> 6) & 63];
      out += '=';
    }
    return out;
  }
  static std::string esc(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '&') out += "&amp;";
      else if (c == '<') out += "&lt;";
      else if (c == '>') out += "&gt;";
      else out += c;
    }
    return out;
  }

  static std::string ok(const std::string& inner) {
    return "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<Response stat=\"200\" code=\"ok\">\n<Success>" + inner +
           "</Success>\n</Response>\n";
  }
  static std::string fail_body(int stat, const std::string& message) {
    return "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<Response stat=\"" + std::to_string(stat) +
           "\" code=\"fail\">\n<Error>" + esc(message) + "</Error>\n</Response>\n";
  }
  static std::string xml_response(int http, const std::string& body) {
    return test_server::response(http, body, "Content-Type: text/xml\r\n");
  }

  static std::string render_rs(const virtual_service& v, const real_server& r) {
    return "<Rs><Status>Up</Status><VSIndex>" + std::to_string(v.index) + "</VSIndex><RsIndex>" + std::to_string(r.index) +
           "</RsIndex><Addr>" + esc(r.address) + "</Addr><Port>" + std::to_string(r.port) +
           "</Port><DnsName></DnsName><Forward>nat</Forward><Weight>" + std::to_string(r.weight) +
           "</Weight><Limit>0</Limit><Follow>0</Follow><Enable>Y</Enable><Critical>N</Critical><Nrules>0</Nrules></Rs>";
  }
  static std::string render_fields(const virtual_service& v) {
    std::string s = "<Status>Up</Status><Index>" + std::to_string(v.index) + "</Index><VSAddress>" + esc(v.address) +
                    "</VSAddress><VSPort>" + std::to_string(v.port) + "</VSPort><Layer>4</Layer><Enable>Y</Enable>" +
                    "<SSLReverse>N</SSLReverse><SSLReencrypt>N</SSLReencrypt><Protocol>" + v.protocol +
                    "</Protocol><Schedule>" + v.schedule + "</Schedule><CheckType>" + v.checktype +
                    "</CheckType><PersistTimeout>0</PersistTimeout><NickName>" + esc(v.nickname) + "</NickName><VStype>" +
                    v.vstype + "</VStype><NumberOfRSs>" + std::to_string(v.rs.size()) + "</NumberOfRSs>";
    for (const auto& r : v.rs) s += render_rs(v, r);
    return s;
  }

  std::string serve(const test_server::request& r) {
    std::chrono::milliseconds delay{0};
    {
      std::lock_guard lock(m_);
      ++in_progress_;
      peak_ = std::max(peak_, in_progress_);
      delay = delay_;
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    std::lock_guard lock(m_);
    --in_progress_;
    return handle(r);
  }

  std::string handle(const test_server::request& r) {
    std::string path = r.target, query;
    if (auto q = path.find('?'); q != std::string::npos) {
      query = path.substr(q + 1);
      path = path.substr(0, q);
    }
    params p;
    parse_form(query, p);
    if (r.method == "POST") parse_form(r.body, p);
    bool authorised = false;
    if (auto k = p.find("apikey"); k != p.end()) authorised = !opts_.api_key.empty() && k->second == opts_.api_key;
    else authorised = r.header("Authorization") == "Basic " + base64(opts_.username + ":" + opts_.password);
    if (!authorised) {
      ++unauthorised_;
      return test_server::response(401, "Unauthorized", "Content-Type: text/plain\r\nWWW-Authenticate: Basic realm=\"LM\"\r\n");
    }
    if (path.rfind("/access/", 0) != 0) return xml_response(404, fail_body(404, "Unknown command"));
    std::string cmd = path.substr(8);
    ++counts_[cmd];
    std::string shown = cmd;
    for (const auto& [k, v] : p)
      if (k != "apikey") shown += " " + k + "=" + v;
    log_.push_back(shown);
    for (auto it = faults_.begin(); it != faults_.end(); ++it) {
      if (it->cmd == cmd) {
        std::string body = fail_body(it->stat, it->message);
        int http = it->http200 ? 200 : it->stat;
        if (--it->times == 0) faults_.erase(it);
        return xml_response(http, body);
      }
    }
    auto [stat, body] = run(cmd, p);
    if (stat != 200) return xml_response(stat, fail_body(stat, body));
    return xml_response(200, ok(body));
  }

  virtual_service* find_vs(const params& p) {
    auto vs = p.find("vs");
    if (vs == p.end()) return nullptr;
    auto port = p.find("port");
    if (port == p.end()) {  // by index
      for (auto& v : vss_)
        if (std::to_string(v.index) == vs->second) return &v;
      return nullptr;
    }
    std::string prot = p.contains("prot") ? p.at("prot") : "tcp";
    for (auto& v : vss_)
      if (v.address == vs->second && std::to_string(v.port) == port->second && v.protocol == prot) return &v;
    return nullptr;
  }

  static bool one_of(const std::string& v, std::initializer_list<const char*> allowed) {
    for (const char* a : allowed)
      if (v == a) return true;
    return false;
  }

  // Applies vstype/checktype/schedule/nickname from p; an error text or "".
  static std::string set_params(virtual_service& v, const params& p) {
    if (auto it = p.find("vstype"); it != p.end()) {
      if (!one_of(it->second, {"gen", "http", "http2", "ts", "tls", "log"})) return "Invalid vstype";
      v.vstype = it->second;
    }
    if (auto it = p.find("checktype"); it != p.end()) {
      if (!one_of(it->second, {"icmp", "tcp", "http", "https", "smtp", "nntp", "ftp", "telnet", "pop3", "imap", "rdp", "none"}))
        return "Invalid checktype";
      v.checktype = it->second;
    }
    if (auto it = p.find("schedule"); it != p.end()) {
      if (!one_of(it->second, {"rr", "wrr", "lc", "wlc", "fixed", "adaptive", "sh", "sdh", "lrt", "lrtw"})) return "Invalid schedule";
      v.schedule = it->second;
    }
    if (auto it = p.find("nickname"); it != p.end()) v.nickname = it->second;
    return {};
  }

  std::pair<int, std::string> run(const std::string& cmd, const params& p) {
    if (cmd == "listvs") {
      std::string s = "<Data>";
      for (const auto& v : vss_) s += "<VS>" + render_fields(v) + "</VS>";
      return {200, s + "</Data>"};
    }
    if (cmd == "addvs") {
      if (!p.contains("vs") || !p.contains("port")) return {422, "Missing parameter"};
      if (find_vs(p)) return {422, "Virtual Service already exists"};
      virtual_service v;
      v.address = p.at("vs");
      v.port = std::stoi(p.at("port"));
      v.protocol = p.contains("prot") ? p.at("prot") : "tcp";
      if (auto e = set_params(v, p); !e.empty()) return {422, e};
      v.index = next_vs_++;
      vss_.push_back(v);
      return {200, "<Data>" + render_fields(v) + "</Data>"};
    }
    virtual_service* v = find_vs(p);
    if (!v) return {422, "Unknown VS"};
    if (cmd == "showvs") return {200, "<Data>" + render_fields(*v) + "</Data>"};
    if (cmd == "modvs") {
      virtual_service copy = *v;
      if (auto e = set_params(copy, p); !e.empty()) return {422, e};
      *v = copy;
      return {200, "<Data>" + render_fields(*v) + "</Data>"};
    }
    if (cmd == "delvs") {
      vss_.erase(vss_.begin() + (v - vss_.data()));
      return {200, "Command completed ok"};
    }
    if (!p.contains("rs")) return {422, "Missing parameter: rs"};
    std::string addr = p.at("rs");
    int rsport = p.contains("rsport") ? std::stoi(p.at("rsport")) : v->port;
    auto rs = std::find_if(v->rs.begin(), v->rs.end(), [&](const real_server& x) { return x.address == addr && x.port == rsport; });
    auto weight = [&](int& out) -> bool {
      if (!p.contains("weight")) return true;
      int w = std::stoi(p.at("weight"));
      if (w < 1 || w > 65535) return false;
      out = w;
      return true;
    };
    if (cmd == "addrs") {
      if (rs != v->rs.end()) return {422, "Real Server already exists"};
      real_server n;
      n.address = addr;
      n.port = rsport;
      if (!weight(n.weight)) return {422, "Invalid weight"};
      n.non_local = p.contains("non_local") && p.at("non_local") == "1";
      if (!n.non_local && addr.rfind(opts_.local_prefix, 0) != 0) return {422, "Non-local Real Servers are not allowed"};
      n.index = v->next_rs++;
      v->rs.push_back(n);
      return {200, "Command completed ok"};
    }
    if (rs == v->rs.end()) return {422, "Unknown Real Server"};
    if (cmd == "modrs") {
      int w = rs->weight;
      if (!weight(w)) return {422, "Invalid weight"};
      rs->weight = w;
      return {200, "Command completed ok"};
    }
    if (cmd == "delrs") {
      v->rs.erase(rs);
      return {200, "Command completed ok"};
    }
    return {422, "Unknown command"};
  }

  options opts_;
  std::mutex m_;
  std::vector<virtual_service> vss_;
  int next_vs_ = 1;
  std::vector<fault> faults_;
  std::map<std::string, int> counts_;
  std::vector<std::string> log_;
  std::chrono::milliseconds delay_{0};
  int in_progress_ = 0, peak_ = 0, unauthorised_ = 0;
  test_server::server server_;  // last: stopped first, while the state is still there
};

}  // namespace kempsim
