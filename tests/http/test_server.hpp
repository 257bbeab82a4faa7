#pragma once
// A scriptable HTTP/1.1 test server on raw sockets (and OpenSSL for TLS): it
// listens on 127.0.0.1:<ephemeral> or a unix socket, runs the test's handler
// for each connection on a thread of its own, and counts accepts and
// concurrent connections. It deliberately knows nothing of the client.

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace test_server {

// A one-shot event for synchronising the test with the server's threads.
class event {
 public:
  void set() {
    std::lock_guard lock(m_);
    set_ = true;
    cv_.notify_all();
  }
  // False after `timeout` without set().
  bool wait(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(m_);
    return cv_.wait_for(lock, timeout, [&] { return set_; });
  }
  bool is_set() {
    std::lock_guard lock(m_);
    return set_;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool set_ = false;
};

struct request {
  std::string method;
  std::string target;
  std::string head;  // request line and header fields
  std::string body;

  // The value of the first header of this name (case-insensitive), or "".
  std::string header(std::string_view name) const {
    std::size_t pos = head.find("\r\n");
    while (pos != std::string::npos && pos + 2 < head.size()) {
      std::size_t end = head.find("\r\n", pos + 2);
      std::string_view line(head.data() + pos + 2, (end == std::string::npos ? head.size() : end) - pos - 2);
      auto colon = line.find(':');
      if (colon == name.size() && std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
        auto value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        return std::string(value);
      }
      pos = end;
    }
    return {};
  }
};

inline std::string reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 500: return "Internal Server Error";
    default: return "Status";
  }
}

// A complete response with Content-Length.
inline std::string response(int status, std::string_view body, std::string_view extra_headers = "Content-Type: application/json\r\n") {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extra_headers) + "\r\n" + std::string(body);
}

inline std::string chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + std::string(data) + "\r\n";
}

class connection {
 public:
  connection(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}

  // Reads one request (Content-Length bodies only). False when the client
  // closed the connection (or it failed) first.
  bool read(request& out) {
    std::size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return false;
    out.head = buffer_.substr(0, head_end);
    buffer_.erase(0, head_end + 4);
    auto sp1 = out.head.find(' ');
    auto sp2 = out.head.find(' ', sp1 + 1);
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

  // Blocks until the client closes the connection (or sends more).
  bool wait_closed() {
    char c;
    long n = ssl_ ? SSL_read(ssl_, &c, 1) : ::recv(fd_, &c, 1, 0);
    return n <= 0;
  }

  // Sends FIN (and stops reading) without closing the descriptor yet.
  void shutdown() { ::shutdown(fd_, SHUT_RDWR); }

  // The SNI name the client sent, "" without.
  std::string server_name() const {
    const char* name = ssl_ ? SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name) : nullptr;
    return name ? name : "";
  }
  // The client certificate's subject CN, "" without.
  std::string peer_cn() const {
    if (!ssl_) return {};
    X509* peer = SSL_get1_peer_certificate(ssl_);
    if (!peer) return {};
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
    X509_free(peer);
    return cn;
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

struct tls_config {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // non-empty: a client certificate is required
};

class server {
 public:
  using handler = std::function<void(connection&)>;

  // OpenSSL writes alerts with write(): a client that has gone must not
  // kill the test with SIGPIPE.
  static void ignore_sigpipe() {
    static const bool done = [] { return ::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
    (void)done;
  }

  // On 127.0.0.1, an ephemeral port; TLS when `tls` is given.
  explicit server(handler h, const tls_config* tls = nullptr) : handler_(std::move(h)) {
    ignore_sigpipe();
    if (tls) setup_tls(*tls);
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("bind failed");
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    start();
  }

  // On a unix socket at `path`.
  server(const std::string& path, handler h) : handler_(std::move(h)), path_(path) {
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ::unlink(path.c_str());
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("bind failed for " + path);
    start();
  }

  ~server() { stop(); }
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  unsigned short port() const { return port_; }
  std::string url(std::string_view scheme = "http") const { return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_); }
  int accepts() const { return accepts_.load(); }
  int max_active() const { return max_active_.load(); }
  int active() const { return active_.load(); }
  int tls_failures() const { return tls_failures_.load(); }

  // Stops accepting, unblocks the handlers (shutting their sockets down) and
  // joins every thread.
  void stop() {
    if (stopped_.exchange(true)) return;
    ::shutdown(listen_fd_, SHUT_RDWR);
    char c = 0;
    [[maybe_unused]] auto n = ::write(wake_[1], &c, 1);
    if (acceptor_.joinable()) acceptor_.join();
    {
      std::lock_guard lock(m_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : workers_) t.join();
    ::close(listen_fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
    ::close(wake_[0]);
    ::close(wake_[1]);
    if (ctx_) SSL_CTX_free(ctx_);
  }

 private:
  void setup_tls(const tls_config& tls) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    if (SSL_CTX_use_certificate_chain_file(ctx_, tls.cert_file.c_str()) != 1 || SSL_CTX_use_PrivateKey_file(ctx_, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      throw std::runtime_error("server certificate");
    if (!tls.client_ca_file.empty()) {
      SSL_CTX_load_verify_locations(ctx_, tls.client_ca_file.c_str(), nullptr);
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
  }

  void start() {
    if (::pipe(wake_) != 0) throw std::runtime_error("pipe failed");
    ::listen(listen_fd_, 64);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  void accept_loop() {
    for (;;) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      ::poll(fds, 2, -1);
      if (stopped_.load() || (fds[1].revents & POLLIN)) return;
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      ++accepts_;
      {
        std::lock_guard lock(m_);
        open_fds_.insert(fd);
      }
      workers_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    int now = ++active_;
    for (int seen = max_active_.load(); now > seen && !max_active_.compare_exchange_weak(seen, now);) {
    }
    SSL* ssl = nullptr;
    bool ok = true;
    if (ctx_) {
      ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) != 1) {
        ++tls_failures_;
        ok = false;
        // A lingering close: unread client data would make close() send a
        // reset that can overtake the alert on its way to the client.
        ::shutdown(fd, SHUT_WR);
        char buf[4096];
        while (::recv(fd, buf, sizeof buf, 0) > 0) {
        }
      }
    }
    if (ok) {
      connection c(fd, ssl);
      handler_(c);
    }
    --active_;
    if (ssl) {
      if (ok) SSL_shutdown(ssl);
      SSL_free(ssl);
    }
    {
      std::lock_guard lock(m_);
      open_fds_.erase(fd);
    }
    ::close(fd);
  }

  handler handler_;
  std::string path_;  // of a unix socket
  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  unsigned short port_ = 0;
  std::thread acceptor_;
  std::vector<std::thread> workers_;  // the acceptor's until stop() joins it
  std::mutex m_;
  std::set<int> open_fds_;
  std::atomic<bool> stopped_{false};
  std::atomic<int> accepts_{0}, active_{0}, max_active_{0}, tls_failures_{0};
};

// Answers every request on the connection with respond(request).
inline server::handler keep_alive(std::function<std::string(const request&)> respond) {
  return [respond = std::move(respond)](connection& c) {
    request r;
    while (c.read(r))
      if (!c.send(respond(r))) return;
  };
}

}  // namespace test_server
