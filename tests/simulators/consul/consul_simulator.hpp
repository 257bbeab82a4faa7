#pragma once
// A Consul catalog simulator for tests: the parts of Consul's HTTP API that
// dns.consul (and anyone registering external nodes) uses, served over HTTP
// (or HTTPS) on 127.0.0.1 by an in-process server, faithful to Consul's
// documented JSON (website/content/api-docs/catalog.mdx, txn.mdx,
// features/blocking.mdx, api-structure.mdx) and to its state store's rules
// where the documentation is silent (agent/consul/state/catalog.go, txn.go).
// No Consul can run on this machine; this is what stands in for it.
//
// Endpoints (all under /v1):
//   PUT  /catalog/register     Node, ID, Address, Datacenter, TaggedAddresses,
//                              NodeMeta, Service, Check(s) (accepted, not kept),
//                              SkipNodeUpdate -> true
//   PUT  /catalog/deregister   Node [, ServiceID | CheckID] -> true
//   GET  /catalog/nodes        [?node-meta=k:v ...] -> [Node...], sorted by name
//   GET  /catalog/node/<node>  -> {"Node": {...}, "Services": {id: {...}}} or null
//   GET  /catalog/service/<s>  [?tag=t] -> [ServiceNode...]
//   GET  /catalog/services     -> {"name": [tags]}
//   PUT  /txn                  Node and Service operations (verbs set, cas,
//                              get, delete, delete-cas), atomically; at most
//                              64 operations (413 beyond); 200 {"Results",
//                              "Errors": null} or 409 {"Results": null,
//                              "Errors": [{"OpIndex", "What"}]} with Consul's
//                              texts ("failed to set node \"x\", index is
//                              stale", ...). KV and Check operations answer
//                              an error (not simulated).
//   GET  /status/leader        -> "127.0.0.1:8300"
// Reads carry X-Consul-Index (the catalog's raft index), X-Consul-KnownLeader
// and X-Consul-LastContact, and block when given ?index=N (until the index
// passes N, or ?wait= — default 5m, at most 10m — runs out). ?dc= other than
// the simulator's datacenter answers 500 "No path to datacenter". A write
// bumps the index once; node names compare case-insensitively, as Consul's.
//
// ACLs (when enabled): the token comes from X-Consul-Token, "Authorization:
// Bearer", or ?token=. An unknown token: 403 "ACL not found" on every
// endpoint. A known token without write permission on a node or service
// name: register/deregister answer 403 "Permission denied: token with
// AccessorID '...' lacks permission 'node:write' on \"x\"", a transaction 409
// with that text as the operation's error; reads leave out what the token
// cannot read (X-Consul-Results-Filtered-By-ACLs: true). No token: the
// anonymous token, whose rights follow the default policy.
//
// For tests: stop() and start() again on the same port with the state kept;
// counters of requests and writes; direct reads of the state; and a DNS view
// (resolve()) that answers a name the way Consul's DNS interface would
// (<node>.node[.<dc>].<domain>, [tag.]<service>.service[.<dc>].<domain>):
// A/AAAA for IP addresses, CNAME for a host name, NXDOMAIN for none.
//
// The server: raw sockets (optionally OpenSSL), a thread per connection,
// HTTP/1.1 keep-alive, request bodies with Content-Length.

#include <boost/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace consul_sim {

namespace json = boost::json;

// A server certificate (PEM) for HTTPS.
struct tls_config {
  std::string cert_file;
  std::string key_file;
};

// One HTTP request as received.
struct http_request {
  std::string method;
  std::string target;
  std::string head;  // request line and header fields
  std::string body;

  // The first header of this name (case-insensitive), or "".
  std::string header(std::string_view name) const {
    std::size_t pos = head.find("\r\n");
    while (pos != std::string::npos && pos + 2 < head.size()) {
      std::size_t end = head.find("\r\n", pos + 2);
      std::string_view line(head.data() + pos + 2, (end == std::string::npos ? head.size() : end) - pos - 2);
      auto colon = line.find(':');
      if (colon == name.size() &&
          std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
        auto value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        return std::string(value);
      }
      pos = end;
    }
    return {};
  }
};

// A connection's framing: requests in, whole responses out.
class http_connection {
 public:
  http_connection(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}

  bool read(http_request& out) {
    std::size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return false;
    out.head = buffer_.substr(0, head_end);
    buffer_.erase(0, head_end + 4);
    auto sp1 = out.head.find(' ');
    auto sp2 = out.head.find(' ', sp1 + 1);
    if (sp1 == std::string::npos || sp2 == std::string::npos) return false;
    out.method = out.head.substr(0, sp1);
    out.target = out.head.substr(sp1 + 1, sp2 - sp1 - 1);
    auto length = out.header("Content-Length");
    std::size_t n = length.empty() ? 0 : std::stoul(length);
    while (buffer_.size() < n)
      if (!fill()) return false;
    out.body = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return true;
  }

  bool send(std::string_view data) {
    while (!data.empty()) {
      long n = ssl_ ? SSL_write(ssl_, data.data(), static_cast<int>(data.size())) : ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

 private:
  bool fill() {
    char buf[16384];
    long n = ssl_ ? SSL_read(ssl_, buf, sizeof buf) : ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  int fd_;
  SSL* ssl_;
  std::string buffer_;
};

struct token {
  std::string accessor;  // AccessorID: shown in denials
  std::string secret;    // SecretID: what clients send
  bool read = true;      // node:read and service:read on every name
  bool write = true;     // node:write and service:write on names starting with write_prefix
  std::string write_prefix;
};

struct dns_answer {
  std::string rcode = "NXDOMAIN";      // NOERROR, NXDOMAIN
  std::vector<std::string> records;    // "A 10.0.0.1", "AAAA ...", "CNAME host."
  bool has(const std::string& r) const { return std::find(records.begin(), records.end(), r) != records.end(); }
};

class simulator {
 public:
  struct options {
    std::string datacenter = "dc1";
    std::string domain = "consul";
    bool acl = false;
    bool anonymous_read = false;      // the anonymous token's rights (default policy deny)
    bool anonymous_write = false;
    const tls_config* tls = nullptr;
  };

  simulator() : simulator(options{}) {}
  explicit simulator(options o) : opt_(std::move(o)) {
    // OpenSSL writes alerts with write(): a client that has gone must not kill the test.
    static const bool sigpipe_ignored = [] { return ::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
    (void)sigpipe_ignored;
    if (opt_.tls) {
      ctx_ = SSL_CTX_new(TLS_server_method());
      if (SSL_CTX_use_certificate_chain_file(ctx_, opt_.tls->cert_file.c_str()) != 1 ||
          SSL_CTX_use_PrivateKey_file(ctx_, opt_.tls->key_file.c_str(), SSL_FILETYPE_PEM) != 1)
        throw std::runtime_error("consul simulator: server certificate");
    }
    {
      // The server's own node and the "consul" service, as a real agent registers them.
      std::lock_guard lock(m_);
      ++index_;
      json::object self{{"ID", "a1b2c3d4-0000-4000-8000-000000000001"}, {"Node", "consul-server-1"}, {"Address", "127.0.0.1"},
                        {"Datacenter", opt_.datacenter},
                        {"TaggedAddresses", json::object{{"lan", "127.0.0.1"}, {"wan", "127.0.0.1"}}},
                        {"Meta", json::object{{"consul-network-segment", ""}}}};
      put_node(self);
      put_service("consul-server-1", json::object{{"ID", "consul"}, {"Service", "consul"}, {"Port", 8300}});
    }
    start();
  }

  ~simulator() {
    stop();
    if (ctx_) SSL_CTX_free(ctx_);
  }
  simulator(const simulator&) = delete;
  simulator& operator=(const simulator&) = delete;

  // ---- the server ------------------------------------------------------------

  // Listens again (on the same port after the first time).
  void start() {
    std::lock_guard run(run_m_);
    if (running_) return;
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port_);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(listen_fd_);
      throw std::runtime_error("consul simulator: cannot bind 127.0.0.1:" + std::to_string(port_));
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(listen_fd_, 128);
    if (::pipe(wake_) != 0) throw std::runtime_error("pipe failed");
    {
      std::lock_guard lock(m_);
      stopping_ = false;
    }
    running_ = true;
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  // Stops listening and closes every connection (blocked queries return);
  // the catalog is kept.
  void stop() {
    std::lock_guard run(run_m_);
    if (!running_) return;
    running_ = false;
    {
      std::lock_guard lock(m_);
      stopping_ = true;
      changed_.notify_all();
    }
    char c = 0;
    [[maybe_unused]] auto n = ::write(wake_[1], &c, 1);
    acceptor_.join();
    ::close(listen_fd_);
    {
      std::lock_guard lock(conn_m_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : workers_) t.join();
    workers_.clear();
    ::close(wake_[0]);
    ::close(wake_[1]);
  }

  std::uint16_t port() const { return port_; }
  std::string url() const { return std::string(opt_.tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_); }

  // ---- ACL -------------------------------------------------------------------

  void add_token(token t) {
    std::lock_guard lock(m_);
    tokens_[t.secret] = std::move(t);
  }

  // ---- state, for tests ------------------------------------------------------

  std::uint64_t index() const {
    std::lock_guard lock(m_);
    return index_;
  }
  // Requests that changed the catalog (register, deregister, transactions with writes that committed).
  std::uint64_t writes() const {
    std::lock_guard lock(m_);
    return writes_;
  }
  // Requests received per "METHOD /v1/path-prefix" (e.g. "PUT /v1/txn", "GET /v1/catalog/node").
  std::uint64_t requests(const std::string& key) const {
    std::lock_guard lock(m_);
    auto it = requests_.find(key);
    return it == requests_.end() ? 0 : it->second;
  }
  std::uint64_t total_requests() const {
    std::lock_guard lock(m_);
    std::uint64_t n = 0;
    for (const auto& [k, v] : requests_) n += v;
    return n;
  }

  // The node as GET /v1/catalog/node/<name> shows it ("Node" and "Services"), or nullopt.
  std::optional<json::object> node(const std::string& name) const {
    std::lock_guard lock(m_);
    auto v = node_view(lower(name), nullptr);
    if (v.is_null()) return std::nullopt;
    return v.as_object();
  }
  std::vector<std::string> node_names() const {
    std::lock_guard lock(m_);
    std::vector<std::string> out;
    for (const auto& [k, n] : nodes_) out.emplace_back(n.at("Node").as_string());
    return out;
  }

  // Registers as PUT /v1/catalog/register with a management token would
  // (someone else's registration, made behind the extension's back).
  void register_entity(const json::object& body) {
    std::lock_guard lock(m_);
    std::string error;
    if (!apply_register(body, nullptr, error)) throw std::runtime_error("consul simulator: register: " + error);
  }
  void deregister_node(const std::string& name) {
    std::lock_guard lock(m_);
    if (nodes_.erase(lower(name))) {
      services_.erase(lower(name));
      bump();
    }
  }

  // Runs before each request is handled (method, path), on the connection's
  // thread, without the catalog's lock: a test may change the catalog there
  // (someone else's write racing the client's).
  void before_request(std::function<void(const std::string& method, const std::string& path)> hook) {
    std::lock_guard lock(m_);
    before_ = std::move(hook);
  }

  // What Consul's DNS interface answers for an A/AAAA question about `qname`.
  dns_answer resolve(std::string qname) const {
    std::lock_guard lock(m_);
    qname = lower(qname);
    if (!qname.empty() && qname.back() == '.') qname.pop_back();
    dns_answer a;
    std::string suffix = "." + opt_.domain;
    if (qname.size() <= suffix.size() || qname.compare(qname.size() - suffix.size(), suffix.size(), suffix) != 0) {
      a.rcode = "REFUSED";
      return a;
    }
    std::vector<std::string> labels;
    std::string rest = qname.substr(0, qname.size() - suffix.size());
    for (std::size_t pos = 0;;) {
      auto dot = rest.find('.', pos);
      labels.push_back(rest.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos));
      if (dot == std::string::npos) break;
      pos = dot + 1;
    }
    std::string dc = opt_.datacenter;
    for (bool parsed_dc = false;;) {
      std::size_t n = labels.size();
      if (n == 0) return a;
      const std::string& kind = labels[n - 1];
      if (kind == "node" && n >= 2) {
        std::string node;
        for (std::size_t i = 0; i + 1 < n; ++i) node += (i ? "." : "") + labels[i];
        if (dc != opt_.datacenter) return a;
        auto it = nodes_.find(node);
        if (it == nodes_.end()) return a;
        add_address(a, std::string(it->second.at("Address").as_string()));
        return a;
      }
      if (kind == "service" && n >= 2) {
        std::string service = labels[n - 2];
        std::string tag;
        for (std::size_t i = 0; i + 2 < n; ++i) tag += (i ? "." : "") + labels[i];
        if (dc != opt_.datacenter) return a;
        for (const auto& [node_key, svcs] : services_)
          for (const auto& [id, s] : svcs) {
            if (lower(std::string(s.at("Service").as_string())) != service) continue;
            if (!tag.empty() && !has_tag(s, tag)) continue;
            std::string addr(s.at("Address").as_string());
            if (addr.empty()) addr = std::string(nodes_.at(node_key).at("Address").as_string());
            add_address(a, addr);
          }
        return a;
      }
      if (parsed_dc) return a;
      dc = labels[n - 1];
      labels.pop_back();
      parsed_dc = true;
    }
  }

 private:
  // ---- networking ------------------------------------------------------------

  void accept_loop() {
    for (;;) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      ::poll(fds, 2, -1);
      if (fds[1].revents & POLLIN) return;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      {
        std::lock_guard lock(conn_m_);
        open_fds_.insert(fd);
      }
      workers_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    SSL* ssl = nullptr;
    bool ok = true;
    if (ctx_) {
      ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, fd);
      ok = SSL_accept(ssl) == 1;
    }
    if (ok) {
      http_connection c(fd, ssl);
      http_request r;
      while (c.read(r)) {
        if (!c.send(handle(r))) break;
        std::lock_guard lock(m_);
        if (stopping_) break;
      }
    }
    if (ssl) {
      if (ok) SSL_shutdown(ssl);
      SSL_free(ssl);
    }
    {
      std::lock_guard lock(conn_m_);
      open_fds_.erase(fd);
    }
    ::close(fd);
  }

  static std::string reason(int status) {
    switch (status) {
      case 200: return "OK";
      case 400: return "Bad Request";
      case 403: return "Forbidden";
      case 404: return "Not Found";
      case 405: return "Method Not Allowed";
      case 409: return "Conflict";
      case 413: return "Request Entity Too Large";
      case 500: return "Internal Server Error";
      default: return "Status";
    }
  }

  struct reply {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
  };

  static std::string render(const reply& r) {
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) + "\r\n";
    out += "Content-Type: " + r.content_type + "\r\n";
    out += "Vary: Accept-Encoding\r\n";
    for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n";
    out += r.body;
    return out;
  }

  static reply text(int status, std::string body) { return reply{status, std::move(body), "text/plain; charset=utf-8", {}}; }

  // ---- requests --------------------------------------------------------------

  struct query {
    std::string path;
    std::multimap<std::string, std::string> params;
    std::optional<std::string> get(const std::string& k) const {
      auto it = params.find(k);
      if (it == params.end()) return std::nullopt;
      return it->second;
    }
  };

  static std::string url_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else if (s[i] == '+') {
        out += ' ';
      } else {
        out += s[i];
      }
    }
    return out;
  }

  static query parse_target(const std::string& target) {
    query q;
    auto qm = target.find('?');
    q.path = url_decode(target.substr(0, qm));
    if (qm == std::string::npos) return q;
    std::string rest = target.substr(qm + 1);
    for (std::size_t pos = 0; pos <= rest.size();) {
      auto amp = rest.find('&', pos);
      std::string pair = rest.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
      if (!pair.empty()) {
        auto eq = pair.find('=');
        q.params.emplace(url_decode(pair.substr(0, eq)), eq == std::string::npos ? "" : url_decode(pair.substr(eq + 1)));
      }
      if (amp == std::string::npos) break;
      pos = amp + 1;
    }
    return q;
  }

  static std::string request_key(const std::string& method, const std::string& path) {
    static const char* prefixes[] = {"/v1/catalog/register", "/v1/catalog/deregister", "/v1/catalog/nodes",
                                     "/v1/catalog/node/",    "/v1/catalog/services",   "/v1/catalog/service/",
                                     "/v1/txn",              "/v1/status/leader"};
    for (const char* p : prefixes)
      if (path.rfind(p, 0) == 0) {
        std::string k = p;
        if (k.back() == '/') k.pop_back();
        return method + " " + k;
      }
    return method + " " + path;
  }

  std::string handle(const http_request& r) {
    auto q = parse_target(r.target);
    std::function<void(const std::string&, const std::string&)> hook;
    {
      std::lock_guard lock(m_);
      hook = before_;
    }
    if (hook) hook(r.method, q.path);
    std::unique_lock lock(m_);
    ++requests_[request_key(r.method, q.path)];
    // The token: header, bearer, or query parameter.
    std::string secret = r.header("X-Consul-Token");
    if (secret.empty()) {
      auto auth = r.header("Authorization");
      if (auth.rfind("Bearer ", 0) == 0) secret = auth.substr(7);
    }
    if (secret.empty())
      if (auto t = q.get("token")) secret = *t;
    const token* tok = nullptr;
    token anonymous{"00000000-0000-0000-0000-000000000002", "anonymous", opt_.anonymous_read, opt_.anonymous_write, ""};
    if (opt_.acl) {
      if (secret.empty() || secret == "anonymous") {
        tok = &anonymous;
      } else {
        auto it = tokens_.find(secret);
        if (it == tokens_.end()) return render(text(403, "ACL not found"));
        tok = &it->second;
      }
    }
    if (auto dc = q.get("dc"); dc && !dc->empty() && *dc != opt_.datacenter)
      return render(text(500, "No path to datacenter"));
    try {
      if (r.method == "GET") return render(read(q, tok, lock));
      if (r.method == "PUT" || r.method == "POST") {
        if (q.path == "/v1/catalog/register") return render(do_register(r.body, tok));
        if (q.path == "/v1/catalog/deregister") return render(do_deregister(r.body, tok));
        if (q.path == "/v1/txn") return render(do_txn(r.body, tok));
      }
      if (known_path(q.path)) return render(text(405, "method " + r.method + " not allowed"));
      return render(text(404, "Not Found"));
    } catch (const std::exception& e) {
      return render(text(400, std::string("Request decode failed: ") + e.what()));
    }
  }

  static bool known_path(const std::string& p) {
    return p == "/v1/catalog/register" || p == "/v1/catalog/deregister" || p == "/v1/txn" || p == "/v1/catalog/nodes" ||
           p.rfind("/v1/catalog/node/", 0) == 0 || p.rfind("/v1/catalog/service/", 0) == 0 || p == "/v1/catalog/services";
  }

  // ---- reads (blocking) ------------------------------------------------------

  static std::chrono::milliseconds parse_wait(const std::string& w) {
    if (w.empty()) return std::chrono::minutes(5);
    std::size_t i = 0;
    double n = std::stod(w, &i);
    std::string unit = w.substr(i);
    double ms = unit == "ms" ? n : unit == "s" || unit.empty() ? n * 1000 : unit == "m" ? n * 60000 : unit == "h" ? n * 3600000 : n;
    return std::min(std::chrono::milliseconds(static_cast<long long>(ms)), std::chrono::milliseconds(std::chrono::minutes(10)));
  }

  reply read(const query& q, const token* tok, std::unique_lock<std::mutex>& lock) {
    if (!(q.path == "/v1/catalog/nodes" || q.path == "/v1/catalog/services" || q.path.rfind("/v1/catalog/node/", 0) == 0 ||
          q.path.rfind("/v1/catalog/service/", 0) == 0 || q.path == "/v1/status/leader")) {
      if (known_path(q.path)) return text(405, "method GET not allowed");
      return text(404, "Not Found");
    }
    if (q.path == "/v1/status/leader") return reply{200, "\"127.0.0.1:8300\"", "application/json", {}};
    if (auto idx = q.get("index")) {
      std::uint64_t want = std::stoull(*idx);
      auto deadline = std::chrono::steady_clock::now() + parse_wait(q.get("wait").value_or(""));
      changed_.wait_until(lock, deadline, [&] { return index_ > want || stopping_; });
      if (stopping_) return text(500, "rpc error: server shutting down");
    }
    bool filtered = false;
    json::value body;
    if (q.path == "/v1/catalog/nodes") {
      if (q.get("filter")) return text(400, "simulator: filter expressions are not simulated; use node-meta");
      std::vector<std::pair<std::string, std::string>> want;
      for (auto [it, end] = q.params.equal_range("node-meta"); it != end; ++it) {
        auto colon = it->second.find(':');
        if (colon == std::string::npos) return text(400, "Bad request: node-meta filter must be of the form key:value");
        want.emplace_back(it->second.substr(0, colon), it->second.substr(colon + 1));
      }
      json::array out;
      for (const auto& [key, n] : nodes_) {
        if (!can_read(tok)) {
          filtered = true;
          continue;
        }
        const auto& meta = n.at("Meta").as_object();
        bool match = std::all_of(want.begin(), want.end(), [&](const auto& kv) {
          auto it = meta.find(kv.first);
          return it != meta.end() && it->value().as_string() == kv.second;
        });
        if (match) out.push_back(n);
      }
      body = std::move(out);
    } else if (q.path.rfind("/v1/catalog/node/", 0) == 0) {
      std::string name = lower(q.path.substr(std::string("/v1/catalog/node/").size()));
      if (!can_read(tok) && nodes_.count(name)) filtered = true;
      body = can_read(tok) ? node_view(name, tok) : json::value(nullptr);
    } else if (q.path.rfind("/v1/catalog/service/", 0) == 0) {
      std::string service = q.path.substr(std::string("/v1/catalog/service/").size());
      auto tag = q.get("tag");
      json::array out;
      for (const auto& [node_key, svcs] : services_)
        for (const auto& [id, s] : svcs) {
          if (s.at("Service").as_string() != service) continue;
          if (tag && !has_tag(s, *tag)) continue;
          if (!can_read(tok)) {
            filtered = true;
            continue;
          }
          out.push_back(service_node(nodes_.at(node_key), s));
        }
      body = std::move(out);
    } else {  // /v1/catalog/services
      json::object out;
      for (const auto& [node_key, svcs] : services_)
        for (const auto& [id, s] : svcs) {
          if (!can_read(tok)) {
            filtered = true;
            continue;
          }
          auto& tags = out[std::string(s.at("Service").as_string())];
          if (tags.is_null()) tags = json::array();
          if (const auto* t = s.if_contains("Tags"); t && t->is_array())
            for (const auto& x : t->as_array())
              if (std::find(tags.as_array().begin(), tags.as_array().end(), x) == tags.as_array().end()) tags.as_array().push_back(x);
        }
      body = std::move(out);
    }
    reply rep{200, json::serialize(body), "application/json", {}};
    rep.headers.emplace_back("X-Consul-Index", std::to_string(index_ == 0 ? 1 : index_));
    rep.headers.emplace_back("X-Consul-Knownleader", "true");
    rep.headers.emplace_back("X-Consul-Lastcontact", "0");
    if (filtered) rep.headers.emplace_back("X-Consul-Results-Filtered-By-Acls", "true");
    return rep;
  }

  json::value node_view(const std::string& key, const token*) const {
    auto it = nodes_.find(key);
    if (it == nodes_.end()) return nullptr;
    json::object services;
    if (auto s = services_.find(key); s != services_.end())
      for (const auto& [id, svc] : s->second) services[id] = svc;
    return json::object{{"Node", it->second}, {"Services", std::move(services)}};
  }

  static json::object service_node(const json::object& n, const json::object& s) {
    return json::object{{"ID", n.at("ID")},
                        {"Node", n.at("Node")},
                        {"Address", n.at("Address")},
                        {"Datacenter", n.at("Datacenter")},
                        {"TaggedAddresses", n.at("TaggedAddresses")},
                        {"NodeMeta", n.at("Meta")},
                        {"ServiceKind", ""},
                        {"ServiceID", s.at("ID")},
                        {"ServiceName", s.at("Service")},
                        {"ServiceTags", s.at("Tags")},
                        {"ServiceAddress", s.at("Address")},
                        {"ServiceTaggedAddresses", s.at("TaggedAddresses")},
                        {"ServiceWeights", s.at("Weights")},
                        {"ServiceMeta", s.at("Meta")},
                        {"ServicePort", s.at("Port")},
                        {"ServiceEnableTagOverride", s.at("EnableTagOverride")},
                        {"CreateIndex", s.at("CreateIndex")},
                        {"ModifyIndex", s.at("ModifyIndex")}};
  }

  static bool has_tag(const json::object& s, const std::string& tag) {
    const auto* t = s.if_contains("Tags");
    if (!t || !t->is_array()) return false;
    for (const auto& x : t->as_array())
      if (x.is_string() && lower(std::string(x.as_string())) == lower(tag)) return true;
    return false;
  }

  // ---- ACL checks --------------------------------------------------------------

  bool can_read(const token* t) const { return !t || t->read; }
  bool can_write(const token* t, const std::string& name) const { return !t || (t->write && name.rfind(t->write_prefix, 0) == 0); }
  static std::string denied(const token* t, const std::string& perm, const std::string& name) {
    return "Permission denied: token with AccessorID '" + t->accessor + "' lacks permission '" + perm + "' on \"" + name + "\"";
  }

  // ---- writes ------------------------------------------------------------------

  void bump() {
    ++index_;
    ++writes_;
    changed_.notify_all();
  }

  static std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  static std::string str(const json::object& o, std::string_view k) {
    const auto* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  }
  static std::uint64_t num(const json::object& o, std::string_view k) {
    const auto* v = o.if_contains(k);
    if (!v) return 0;
    if (v->is_uint64()) return v->as_uint64();
    if (v->is_int64()) return static_cast<std::uint64_t>(v->as_int64());
    return 0;
  }

  // A node as stored: every field Consul shows, indexes from the store.
  json::object make_node(const json::object& in) const {
    json::object n;
    n["ID"] = str(in, "ID");
    n["Node"] = str(in, "Node");
    n["Address"] = str(in, "Address");
    n["Datacenter"] = str(in, "Datacenter").empty() ? opt_.datacenter : str(in, "Datacenter");
    const auto* ta = in.if_contains("TaggedAddresses");
    n["TaggedAddresses"] = ta && ta->is_object() ? *ta : json::value(nullptr);
    const auto* meta = in.if_contains("Meta");
    if (!meta) meta = in.if_contains("NodeMeta");
    n["Meta"] = meta && meta->is_object() ? *meta : json::value(json::object());
    return n;
  }

  static bool same_node(const json::object& a, const json::object& b) {
    for (auto k : {"ID", "Node", "Address", "Datacenter", "TaggedAddresses", "Meta"})
      if (a.at(k) != b.at(k)) return false;
    return true;
  }

  // ensureNodeTxn: inserts or updates; ModifyIndex moves only when something changed.
  void put_node(const json::object& in) {
    json::object n = make_node(in);
    std::string key = lower(std::string(n.at("Node").as_string()));
    auto it = nodes_.find(key);
    if (it != nodes_.end()) {
      n["CreateIndex"] = it->second.at("CreateIndex");
      n["ModifyIndex"] = it->second.at("ModifyIndex");
      if (same_node(n, it->second)) return;
      n["ModifyIndex"] = index_;
      it->second = std::move(n);
      return;
    }
    n["CreateIndex"] = index_;
    n["ModifyIndex"] = index_;
    nodes_.emplace(key, std::move(n));
  }

  // ensureServiceTxn: the node must exist.
  bool put_service(const std::string& node, const json::object& in, std::string* error = nullptr) {
    std::string key = lower(node);
    if (!nodes_.count(key)) {
      if (error) *error = "failed inserting service: Missing node registration";
      return false;
    }
    json::object s;
    s["ID"] = str(in, "ID").empty() ? str(in, "Service") : str(in, "ID");
    s["Service"] = str(in, "Service");
    const auto* tags = in.if_contains("Tags");
    s["Tags"] = tags && tags->is_array() ? *tags : json::value(nullptr);
    s["Address"] = str(in, "Address");
    const auto* ta = in.if_contains("TaggedAddresses");
    s["TaggedAddresses"] = ta && ta->is_object() ? *ta : json::value(nullptr);
    const auto* meta = in.if_contains("Meta");
    s["Meta"] = meta && meta->is_object() ? *meta : json::value(json::object());
    s["Port"] = num(in, "Port");
    s["Weights"] = json::object{{"Passing", 1}, {"Warning", 1}};
    const auto* eto = in.if_contains("EnableTagOverride");
    s["EnableTagOverride"] = eto && eto->is_bool() ? eto->as_bool() : false;
    auto& svcs = services_[key];
    std::string id(s.at("ID").as_string());
    auto it = svcs.find(id);
    s["CreateIndex"] = it == svcs.end() ? json::value(index_) : it->second.at("CreateIndex");
    s["ModifyIndex"] = index_;
    svcs[id] = std::move(s);
    return true;
  }

  bool apply_register(const json::object& body, const token* tok, std::string& error, int* status = nullptr) {
    std::string node = str(body, "Node");
    if (node.empty()) {
      error = "Must provide node";
      return false;
    }
    const auto* svc = body.if_contains("Service");
    bool skip_node = body.if_contains("SkipNodeUpdate") && body.at("SkipNodeUpdate").is_bool() && body.at("SkipNodeUpdate").as_bool();
    if (str(body, "Address").empty() && !skip_node) {
      error = "Must provide address if SkipNodeUpdate is not set";
      return false;
    }
    if (svc && svc->is_object() && str(svc->as_object(), "Service").empty()) {
      error = "Must provide service name with ID";
      return false;
    }
    if (!can_write(tok, node)) {
      error = denied(tok, "node:write", node);
      if (status) *status = 403;
      return false;
    }
    if (svc && svc->is_object() && !can_write(tok, str(svc->as_object(), "Service"))) {
      error = denied(tok, "service:write", str(svc->as_object(), "Service"));
      if (status) *status = 403;
      return false;
    }
    ++index_;  // one raft index for the whole registration
    if (!(skip_node && nodes_.count(lower(node)))) {
      json::object n = body;
      n["Meta"] = body.if_contains("NodeMeta") ? body.at("NodeMeta") : json::value(json::object());
      put_node(n);
    }
    if (svc && svc->is_object()) put_service(node, svc->as_object());
    ++writes_;
    changed_.notify_all();
    return true;
  }

  reply do_register(const std::string& body, const token* tok) {
    auto v = json::parse(body);
    if (!v.is_object()) return text(400, "Request decode failed: expected an object");
    std::string error;
    int status = 500;
    if (!apply_register(v.as_object(), tok, error, &status)) return text(status, error);
    return reply{200, "true", "application/json", {}};
  }

  reply do_deregister(const std::string& body, const token* tok) {
    auto v = json::parse(body);
    if (!v.is_object()) return text(400, "Request decode failed: expected an object");
    const auto& o = v.as_object();
    std::string node = str(o, "Node");
    if (node.empty()) return text(500, "Must provide node");
    if (!can_write(tok, node)) return text(403, denied(tok, "node:write", node));
    std::string key = lower(node);
    std::string service_id = str(o, "ServiceID");
    if (!service_id.empty()) {
      auto it = services_.find(key);
      if (it != services_.end() && it->second.erase(service_id)) bump();
    } else if (str(o, "CheckID").empty()) {
      if (nodes_.erase(key)) {
        services_.erase(key);
        bump();
      }
    }
    return reply{200, "true", "application/json", {}};
  }

  // ---- transactions ------------------------------------------------------------

  reply do_txn(const std::string& body, const token* tok) {
    json::value v;
    try {
      v = json::parse(body);
    } catch (const std::exception& e) {
      return text(400, std::string("Failed to parse body: ") + e.what());
    }
    if (!v.is_array()) return text(400, "Failed to parse body: json: cannot unmarshal object into Go value of type api.TxnOps");
    const auto& ops = v.as_array();
    if (ops.size() > 64) return text(413, "Transaction contains too many operations (" + std::to_string(ops.size()) + " > 64)");
    json::array errors;
    auto fail = [&](std::size_t i, std::string what) { errors.push_back(json::object{{"OpIndex", i}, {"What", std::move(what)}}); };
    // Pre-check: ACLs, as Txn.Apply's preCheck does before Raft.
    bool writes = false;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      if (!ops[i].is_object()) return text(400, "Failed to parse body: an operation is not an object");
      const auto& op = ops[i].as_object();
      if (const auto* n = op.if_contains("Node")) {
        const auto& no = n->as_object();
        std::string verb = str(no, "Verb");
        std::string name = no.if_contains("Node") && no.at("Node").is_object() ? str(no.at("Node").as_object(), "Node") : "";
        if (verb != "get") writes = true;
        if (tok && verb != "get" && !can_write(tok, name)) fail(i, denied(tok, "node:write", name));
        if (tok && verb == "get" && !can_read(tok)) fail(i, denied(tok, "node:read", name));
      } else if (const auto* s = op.if_contains("Service")) {
        const auto& so = s->as_object();
        std::string verb = str(so, "Verb");
        std::string name = so.if_contains("Service") && so.at("Service").is_object() ? str(so.at("Service").as_object(), "Service") : "";
        if (verb != "get") writes = true;
        if (tok && verb != "get" && !can_write(tok, name)) fail(i, denied(tok, "service:write", name));
      } else if (op.if_contains("KV") || op.if_contains("Check")) {
        fail(i, "simulator: KV and Check operations are not simulated");
      } else {
        fail(i, "no operation specified");
      }
    }
    if (!errors.empty()) return reply{409, json::serialize(json::object{{"Results", nullptr}, {"Errors", errors}}), "application/json", {}};
    // Apply on a copy; commit only when every operation succeeded.
    auto saved_nodes = nodes_;
    auto saved_services = services_;
    auto saved_index = index_;
    if (writes) ++index_;
    json::array results;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const auto& op = ops[i].as_object();
      std::string what;
      if (const auto* n = op.if_contains("Node"))
        what = txn_node(n->as_object(), results);
      else
        what = txn_service(op.at("Service").as_object(), results);
      if (!what.empty()) fail(i, std::move(what));
    }
    if (!errors.empty()) {
      nodes_ = std::move(saved_nodes);
      services_ = std::move(saved_services);
      index_ = saved_index;
      return reply{409, json::serialize(json::object{{"Results", nullptr}, {"Errors", errors}}), "application/json", {}};
    }
    if (writes) {
      ++writes_;
      changed_.notify_all();
    }
    return reply{200, json::serialize(json::object{{"Results", results}, {"Errors", nullptr}}), "application/json", {}};
  }

  std::string txn_node(const json::object& op, json::array& results) {
    std::string verb = str(op, "Verb");
    if (!op.if_contains("Node") || !op.at("Node").is_object()) return "missing node";
    const auto& in = op.at("Node").as_object();
    std::string name = str(in, "Node");
    std::string key = lower(name);
    auto existing = nodes_.find(key);
    auto result = [&] { results.push_back(json::object{{"Node", nodes_.at(key)}}); };
    if (verb == "get") {
      if (existing == nodes_.end()) return "node \"" + name + "\" doesn't exist";
      result();
    } else if (verb == "set") {
      put_node(in);
      result();
    } else if (verb == "cas") {
      std::uint64_t idx = num(in, "ModifyIndex");
      bool exists = existing != nodes_.end();
      if ((idx == 0 && exists) || (idx != 0 && !exists) || (exists && idx != num(existing->second, "ModifyIndex")))
        return "failed to set node \"" + name + "\", index is stale";
      put_node(in);
      result();
    } else if (verb == "delete") {
      nodes_.erase(key);
      services_.erase(key);
    } else if (verb == "delete-cas") {
      if (existing == nodes_.end() || num(in, "ModifyIndex") != num(existing->second, "ModifyIndex"))
        return "failed to delete node \"" + name + "\", index is stale";
      nodes_.erase(key);
      services_.erase(key);
    } else {
      return "unknown Node verb \"" + verb + "\"";
    }
    return {};
  }

  std::string txn_service(const json::object& op, json::array& results) {
    std::string verb = str(op, "Verb");
    std::string node = str(op, "Node");
    if (!op.if_contains("Service") || !op.at("Service").is_object()) return "missing service";
    const auto& in = op.at("Service").as_object();
    std::string id = str(in, "ID").empty() ? str(in, "Service") : str(in, "ID");
    std::string key = lower(node);
    auto svcs = services_.find(key);
    const json::object* existing = nullptr;
    if (svcs != services_.end())
      if (auto it = svcs->second.find(id); it != svcs->second.end()) existing = &it->second;
    if (verb == "get") {
      if (!existing) return "service \"" + id + "\" on node \"" + node + "\" doesn't exist";
      results.push_back(json::object{{"Service", *existing}});
    } else if (verb == "set" || verb == "cas") {
      if (verb == "cas") {
        std::uint64_t idx = num(in, "ModifyIndex");
        if ((idx == 0 && existing) || (idx != 0 && (!existing || num(*existing, "ModifyIndex") != idx)))
          return "failed to set service \"" + id + "\" on node \"" + node + "\", index is stale";
      }
      std::string error;
      if (!put_service(node, in, &error)) return error;
      results.push_back(json::object{{"Service", services_[key][id]}});
    } else if (verb == "delete") {
      if (svcs != services_.end()) svcs->second.erase(id);
    } else if (verb == "delete-cas") {
      if (!existing || num(*existing, "ModifyIndex") != num(in, "ModifyIndex"))
        return "failed to delete service \"" + id + "\" on node \"" + node + "\", index is stale";
      svcs->second.erase(id);
    } else {
      return "unknown Service verb \"" + verb + "\"";
    }
    return {};
  }

  // ---- DNS view ------------------------------------------------------------------

  static void add_address(dns_answer& a, const std::string& addr) {
    in_addr v4{};
    in6_addr v6{};
    std::string record;
    if (::inet_pton(AF_INET, addr.c_str(), &v4) == 1)
      record = "A " + addr;
    else if (::inet_pton(AF_INET6, addr.c_str(), &v6) == 1)
      record = "AAAA " + addr;
    else
      record = "CNAME " + addr + ".";
    a.rcode = "NOERROR";
    if (!a.has(record)) a.records.push_back(record);
  }

  options opt_;
  SSL_CTX* ctx_ = nullptr;

  // The catalog (m_).
  mutable std::mutex m_;
  std::condition_variable changed_;
  std::map<std::string, json::object> nodes_;                              // lower-case name -> node
  std::map<std::string, std::map<std::string, json::object>> services_;    // lower-case node -> id -> service
  std::map<std::string, token> tokens_;
  std::uint64_t index_ = 0;
  std::uint64_t writes_ = 0;
  std::map<std::string, std::uint64_t> requests_;
  std::function<void(const std::string&, const std::string&)> before_;
  bool stopping_ = false;

  // The server (run_m_ for start/stop; conn_m_ for the open sockets).
  std::mutex run_m_;
  bool running_ = false;
  std::uint16_t port_ = 0;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::thread acceptor_;
  std::vector<std::thread> workers_;
  std::mutex conn_m_;
  std::set<int> open_fds_;
};

}  // namespace consul_sim
