#pragma once
// A small DNS client for dns.rfc2136: TSIG-signed requests over TCP to one
// server, answers checked (id, TSIG), zone transfers. Wire format and TSIG
// are ldns's (ldns.hpp says why ldns); the sockets are ours, so that every
// exchange has one deadline, errors name the server, and nothing is printed
// on stderr (ldns_send reports through perror).
//
// TCP for every exchange: an UPDATE for a batch of services exceeds what UDP
// carries without EDNS, a zone transfer needs TCP anyway, and one transport
// means one timeout path. One connection is kept for the requests of a batch
// (close() ends it); when a kept connection turns out to be closed by the
// server before it answered, the request is sent once more on a new one.
// That is safe for UPDATEs too: they carry prerequisites, so one applied
// twice fails its prerequisites the second time instead of changing anything.

#include <interlook/ext/dns/rfc2136/ldns.hpp>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace interlook::ext::dns::rfc2136_detail {

// `host`, `host:port`, `[v6]:port` or a bare IPv6 address; port 53 by default.
struct server_address {
  std::string host;
  std::uint16_t port = 53;

  std::string text() const {
    return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  }

  static std::optional<server_address> parse(std::string_view s, std::string& why) {
    server_address out;
    std::string_view port;
    if (!s.empty() && s.front() == '[') {
      auto close = s.find(']');
      if (close == std::string_view::npos) return why = "missing ] after an IPv6 address", std::nullopt;
      out.host = std::string(s.substr(1, close - 1));
      auto rest = s.substr(close + 1);
      if (!rest.empty()) {
        if (rest.front() != ':') return why = "expected :port after ]", std::nullopt;
        port = rest.substr(1);
        if (port.empty()) return why = "empty port", std::nullopt;
      }
    } else if (auto colon = s.find(':'); colon != std::string_view::npos && s.find(':', colon + 1) == s.npos) {
      out.host = std::string(s.substr(0, colon));
      port = s.substr(colon + 1);
      if (port.empty()) return why = "empty port", std::nullopt;
    } else {
      out.host = std::string(s);  // a name, an IPv4 address or a bare IPv6 address
    }
    if (out.host.empty()) return why = "empty host", std::nullopt;
    if (!port.empty()) {
      unsigned v = 0;
      for (char c : port) {
        if (c < '0' || c > '9' || v > 65535) return why = "invalid port \"" + std::string(port) + "\"", std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
      }
      if (v == 0 || v > 65535) return why = "port out of range (1..65535)", std::nullopt;
      out.port = static_cast<std::uint16_t>(v);
    }
    return out;
  }
};

struct tsig_key {
  std::string name;       // as the server knows it
  std::string secret;     // base64; never printed
  std::string algorithm;  // ldns's name, with its trailing dot: "hmac-sha256."
};

// No answer: the server could not be reached, closed the connection, or
// did not answer in time. Whether a request it was sent took effect is
// unknown.
class network_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The server answered, but not as asked: a TSIG error (the key, signature
// or time was refused), an answer that is not signed or whose signature
// does not verify, or (from transfer) an error code. rcode and tsig_error
// are the answer's.
class answer_error : public std::runtime_error {
 public:
  answer_error(const std::string& what, unsigned rcode, unsigned tsig_error)
      : std::runtime_error(what), rcode_(rcode), tsig_error_(tsig_error) {}
  unsigned rcode() const noexcept { return rcode_; }
  unsigned tsig_error() const noexcept { return tsig_error_; }

 private:
  unsigned rcode_;
  unsigned tsig_error_;
};

inline std::string tsig_error_text(unsigned e) {
  switch (e) {
    case 16: return "BADSIG";
    case 17: return "BADKEY";
    case 18: return "BADTIME";
    case 19: return "BADMODE";
    case 20: return "BADNAME";
    case 21: return "BADALG";
    case 22: return "BADTRUNC";
  }
  return "TSIG error " + std::to_string(e);
}

// The HMAC's length for an algorithm as ldns names it.
inline std::size_t digest_size(const std::string& algorithm) {
  if (algorithm == "hmac-sha512.") return 64;
  if (algorithm == "hmac-sha1.") return 20;
  return 32;  // hmac-sha256
}

// An answer's wire form as a packet: a message of the server's that parses,
// is a response (QR) and carries the request's id. Throws network_error.
inline pkt_ptr parse_reply(const std::vector<std::uint8_t>& reply, std::uint16_t request_id) {
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, reply.data(), reply.size()) != LDNS_STATUS_OK || !raw)
    throw network_error("the server sent a malformed message");
  pkt_ptr p(raw);
  if (ldns_pkt_id(p.get()) != request_id || !ldns_pkt_qr(p.get()))
    throw network_error("the server answered another request (id mismatch)");
  return p;
}

// Checks an answer's TSIG: present, no TSIG error, a full MAC that verifies
// with `key` after `prior_mac` (the request's, or in a zone transfer the
// previous message's; RFC 8945 5.3.1). Throws answer_error.
inline void check_tsig(ldns_pkt* answer, const std::vector<std::uint8_t>& wire, const tsig_key& key, const ldns_rdf* prior_mac,
                       bool timers_only) {
  auto rcode = static_cast<unsigned>(ldns_pkt_get_rcode(answer));
  const ldns_rr* tsig = ldns_pkt_tsig(answer);
  if (!tsig || ldns_rr_rd_count(tsig) < 7)
    throw answer_error("the answer is not signed (" + rcode_text(rcode) + ")", rcode, 0);
  const ldns_rdf* error = ldns_rr_rdf(tsig, 5);
  unsigned tsig_error = 0;
  if (error && ldns_rdf_size(error) == 2) tsig_error = (ldns_rdf_data(error)[0] << 8) | ldns_rdf_data(error)[1];
  if (tsig_error != 0)
    throw answer_error("the server rejected TSIG key " + key.name + ": " + rcode_text(rcode) + "/" + tsig_error_text(tsig_error),
                       rcode, tsig_error);
  // A full-length MAC only (ldns verifies no truncated MAC anyway): then
  // the message less its TSIG record, plus the prior MAC, fits the
  // 65535-byte buffer ldns verifies in.
  const ldns_rdf* mac = ldns_rr_rdf(tsig, 3);
  auto full = 2 + digest_size(key.algorithm);
  if (!mac || ldns_rdf_size(mac) != full || !prior_mac || ldns_rdf_size(prior_mac) != full)
    throw answer_error("the answer's TSIG MAC is not a full " + key.algorithm + " MAC", rcode, 0);
  if (!ldns_pkt_tsig_verify_next(answer, wire.data(), wire.size(), key.name.c_str(), key.secret.c_str(), prior_mac,
                                 timers_only ? 1 : 0))
    throw answer_error("the answer's TSIG does not verify with key " + key.name, rcode, 0);
}

// One message of a zone transfer, its TSIG checked: calls on_rr for each of
// its records up to the closing SOA (the opening SOA included) and returns
// true when that closing SOA came. `soas` counts the SOAs seen so far.
// Throws answer_error for a refusal or a transfer that does not open with
// the SOA.
inline bool take_transfer_message(const ldns_pkt* answer, std::size_t& soas, const std::function<void(const ldns_rr*)>& on_rr) {
  auto rcode = static_cast<unsigned>(ldns_pkt_get_rcode(answer));
  if (rcode != LDNS_RCODE_NOERROR) throw answer_error("zone transfer refused: " + rcode_text(rcode), rcode, 0);
  const ldns_rr_list* rrs = ldns_pkt_answer(answer);
  for (std::size_t i = 0; i < ldns_rr_list_rr_count(rrs); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(rrs, i);
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA) {
      if (++soas == 2) return true;
    } else if (soas == 0) {
      throw answer_error("the zone transfer does not start with the SOA", rcode, 0);
    }
    on_rr(rr);
  }
  return false;
}

class dns_client {
 public:
  using clock = std::chrono::steady_clock;

  dns_client(server_address server, tsig_key key, std::chrono::nanoseconds timeout)
      : server_(std::move(server)), key_(std::move(key)), timeout_(timeout), ids_(std::random_device{}()) {}
  ~dns_client() { close(); }
  dns_client(const dns_client&) = delete;
  dns_client& operator=(const dns_client&) = delete;

  const server_address& server() const noexcept { return server_; }

  // Ends the kept connection (the end of a batch).
  void close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // A question for `name`, not yet signed.
  static pkt_ptr query(const ldns_rdf* name, ldns_rr_type type) {
    rdf_ptr n(ldns_rdf_clone(name));
    if (!n) throw std::bad_alloc();
    pkt_ptr p(ldns_pkt_query_new(n.release(), type, LDNS_RR_CLASS_IN, 0));
    if (!p) throw std::bad_alloc();
    return p;
  }

  // Signs `request`, sends it and returns the answer, whatever its rcode,
  // once its id and TSIG check out. Throws network_error or answer_error.
  pkt_ptr exchange(pkt_ptr request) {
    auto wire = sign(request.get());
    auto reply = send_and_read_first(wire);
    auto answer = parse(reply, request.get());
    verify(answer.get(), reply, ldns_rr_rdf(ldns_pkt_tsig(request.get()), 3), false);
    return answer;
  }

  // Far above any zone interlook's names live in, far below what fills memory.
  static constexpr std::size_t max_transfer_records = 2'000'000;

  // AXFR of `zone`: calls on_rr for every record, the SOA first, the closing
  // SOA left out. Each message's TSIG is verified (RFC 8945 5.3.1: the
  // first against the request's MAC, each next one against the previous
  // MAC, timers only). A refusal is an answer_error with the rcode.
  void transfer(const ldns_rdf* zone, const std::function<void(const ldns_rr*)>& on_rr) {
    auto request = query(zone, LDNS_RR_TYPE_AXFR);
    auto wire = sign(request.get());
    rdf_ptr prior(ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(request.get()), 3)));
    auto reply = send_and_read_first(wire);
    std::size_t soas = 0, records = 0;
    // A server that never ends the transfer must not fill the memory.
    std::function<void(const ldns_rr*)> counted = [&](const ldns_rr* rr) {
      if (++records > max_transfer_records)
        throw answer_error("the zone transfer exceeds " + std::to_string(max_transfer_records) + " records", 0, 0);
      on_rr(rr);
    };
    for (bool first = true;; first = false) {
      auto answer = parse(reply, request.get());
      auto rcode = static_cast<unsigned>(ldns_pkt_get_rcode(answer.get()));
      if (!ldns_pkt_tsig(answer.get()) && !first)
        throw answer_error("a message of the zone transfer is not signed (unsigned intermediate messages are "
                           "not supported)",
                           rcode, 0);
      verify(answer.get(), reply, prior.get(), !first);
      prior.reset(ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(answer.get()), 3)));
      try {
        if (take_transfer_message(answer.get(), soas, counted)) return;
      } catch (const answer_error&) {
        close();  // the server may still be sending
        throw;
      }
      reply = read_message(clock::now() + timeout_);
    }
  }

 private:
  // Gives the request a fresh id, signs it, returns its wire form.
  std::vector<std::uint8_t> sign(ldns_pkt* p) {
    ldns_pkt_set_id(p, static_cast<std::uint16_t>(ids_()));
    // ldns signs in a buffer of 65535 bytes that it does not grow: measure
    // first (the TSIG record adds about 100 bytes).
    std::uint8_t* unsigned_raw = nullptr;
    std::size_t unsigned_size = 0;
    ldns_status s = ldns_pkt2wire(&unsigned_raw, p, &unsigned_size);
    bytes_ptr unsigned_owned(unsigned_raw);
    if (s != LDNS_STATUS_OK)
      throw std::runtime_error(std::string("cannot encode a request: ") + ldns_get_errorstr_by_id(s));
    if (unsigned_size > 65535 - 512)
      throw std::length_error("a request of " + std::to_string(unsigned_size) +
                              " bytes does not fit in a DNS message (65535 bytes with its TSIG)");
    s = ldns_pkt_tsig_sign(p, key_.name.c_str(), key_.secret.c_str(), 300, key_.algorithm.c_str(), nullptr);
    if (s != LDNS_STATUS_OK)
      throw std::runtime_error(std::string("cannot sign a request with TSIG key ") + key_.name + ": " +
                               ldns_get_errorstr_by_id(s));
    std::uint8_t* raw = nullptr;
    std::size_t size = 0;
    s = ldns_pkt2wire(&raw, p, &size);
    bytes_ptr owned(raw);
    if (s != LDNS_STATUS_OK)
      throw std::runtime_error(std::string("cannot encode a request: ") + ldns_get_errorstr_by_id(s));
    return std::vector<std::uint8_t>(raw, raw + size);
  }

  pkt_ptr parse(const std::vector<std::uint8_t>& reply, const ldns_pkt* request) {
    try {
      return parse_reply(reply, ldns_pkt_id(request));
    } catch (const network_error&) {
      close();
      throw;
    }
  }

  void verify(ldns_pkt* answer, const std::vector<std::uint8_t>& wire, const ldns_rdf* prior_mac, bool timers_only) {
    check_tsig(answer, wire, key_, prior_mac, timers_only);
  }

  // Sends one request; on a kept connection that the server closed before
  // answering, once more on a new connection.
  std::vector<std::uint8_t> send_and_read_first(const std::vector<std::uint8_t>& wire) {
    for (int attempt = 0;; ++attempt) {
      bool kept = fd_ >= 0;
      auto deadline = clock::now() + timeout_;
      if (!kept) connect(deadline);
      try {
        std::uint8_t len[2] = {static_cast<std::uint8_t>(wire.size() >> 8), static_cast<std::uint8_t>(wire.size())};
        write_all(len, 2, deadline);
        write_all(wire.data(), wire.size(), deadline);
        return read_message(deadline);
      } catch (const closed_early&) {
        close();
        if (!kept || attempt > 0)
          throw network_error("the server closed the connection without answering");
      }
    }
  }

  struct closed_early {};  // the peer closed before any byte of the answer


  void connect(clock::time_point deadline) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    std::string port = std::to_string(server_.port);
    int rc = ::getaddrinfo(server_.host.c_str(), port.c_str(), &hints, &found);
    if (rc != 0) throw network_error(std::string("cannot resolve the server's name: ") + ::gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);
    std::string why = "no address";
    for (addrinfo* a = found; a; a = a->ai_next) {
      int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) {
        why = std::strerror(errno);
        continue;
      }
      if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
        why = std::strerror(errno);
        ::close(fd);
        continue;
      }
      fd_ = fd;
      try {
        wait(POLLOUT, deadline, "while connecting");
      } catch (...) {
        close();
        throw;
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        why = std::strerror(err);
        close();
        continue;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return;
    }
    throw network_error("cannot connect: " + why);
  }

  void wait(short events, clock::time_point deadline, const char* doing) {
    for (;;) {
      auto now = clock::now();
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
      if (now >= deadline) {
        close();
        throw network_error("timed out after " + timeout_text() + " " + doing);
      }
      pollfd p{fd_, events, 0};
      int n = ::poll(&p, 1, static_cast<int>(left > 1000000 ? 1000000 : left));
      if (n > 0) return;
      if (n < 0 && errno != EINTR) {
        close();
        throw network_error(std::string("poll: ") + std::strerror(errno));
      }
    }
  }

  void write_all(const std::uint8_t* data, std::size_t size, clock::time_point deadline) {
    while (size > 0) {
      ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL);
      if (n > 0) {
        data += n;
        size -= static_cast<std::size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        wait(POLLOUT, deadline, "while sending");
      } else if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
        throw closed_early{};
      } else {
        auto why = std::string(std::strerror(errno));
        close();
        throw network_error("send: " + why);
      }
    }
  }

  // One length-prefixed message. A connection closed before its first byte
  // is closed_early; after it, a network_error.
  std::vector<std::uint8_t> read_message(clock::time_point deadline) {
    std::uint8_t len[2];
    read_exact(len, 2, deadline, true);
    std::vector<std::uint8_t> out(static_cast<std::size_t>(len[0] << 8 | len[1]));
    read_exact(out.data(), out.size(), deadline, false);
    return out;
  }

  void read_exact(std::uint8_t* data, std::size_t size, clock::time_point deadline, bool may_close_early) {
    std::size_t got = 0;
    while (got < size) {
      ssize_t n = ::recv(fd_, data + got, size - got, 0);
      if (n > 0) {
        got += static_cast<std::size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        wait(POLLIN, deadline, "waiting for the answer");
      } else if (may_close_early && got == 0 && (n == 0 || errno == ECONNRESET)) {
        throw closed_early{};
      } else {
        auto why = n == 0 ? std::string("connection closed") : std::string(std::strerror(errno));
        close();
        throw network_error(why + " in the middle of an answer");
      }
    }
  }

  std::string timeout_text() const {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout_).count();
    return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
  }

  server_address server_;
  tsig_key key_;
  std::chrono::nanoseconds timeout_;
  std::mt19937 ids_;
  int fd_ = -1;
};

}  // namespace interlook::ext::dns::rfc2136_detail
