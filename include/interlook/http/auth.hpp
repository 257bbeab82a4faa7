#pragma once
// interlook::http::credentials: how a client authenticates.
//
//   credentials::basic(user, password)   Authorization: Basic ...
//   credentials::bearer(token)           Authorization: Bearer ...
//   credentials::bearer_file(path)       the same, the token read from a file and
//                                        re-read whenever the file's identity,
//                                        size or mtime changes (Kubernetes
//                                        rotates service-account tokens)
//
// Other schemes (X-API-Key, X-F5-Auth-Token, X-Consul-Token, ...) are secret
// extra headers: client::set_header().
//
// Secrets are never printed: describe() names the scheme, the user name and
// the token file, nothing else, and there is no operator<<.

#include <interlook/http/detail/text.hpp>
#include <interlook/http/error.hpp>

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace interlook::http {

class credentials {
 public:
  enum class scheme_kind { none, basic, bearer, bearer_file };

  credentials() = default;  // none

  static credentials basic(std::string user, std::string password) {
    credentials c;
    c.scheme_ = scheme_kind::basic;
    c.user_ = std::move(user);
    c.secret_ = std::move(password);
    c.header_ = "Basic " + detail::base64(c.user_ + ":" + c.secret_);
    return c;
  }
  static credentials bearer(std::string token) {
    credentials c;
    c.scheme_ = scheme_kind::bearer;
    c.secret_ = std::move(token);
    c.header_ = "Bearer " + c.secret_;
    return c;
  }
  static credentials bearer_file(std::string path) {
    credentials c;
    c.scheme_ = scheme_kind::bearer_file;
    c.path_ = std::move(path);
    return c;
  }

  scheme_kind scheme() const noexcept { return scheme_; }
  bool empty() const noexcept { return scheme_ == scheme_kind::none; }
  const std::string& user() const noexcept { return user_; }
  const std::string& token_file() const noexcept { return path_; }

  // "none", "basic (user admin)", "bearer token", "bearer token from /var/run/secrets/.../token".
  std::string describe() const {
    switch (scheme_) {
      case scheme_kind::none: return "none";
      case scheme_kind::basic: return "basic (user " + user_ + ")";
      case scheme_kind::bearer: return "bearer token";
      case scheme_kind::bearer_file: return "bearer token from " + path_;
    }
    return "none";
  }

  // The Authorization header's value ("" for none). For bearer_file, stats the
  // file and re-reads it when it changed; throws http::error (kind auth) when
  // it cannot be read or is empty. The message names the file, not its content.
  const std::string& authorization() {
    if (scheme_ == scheme_kind::bearer_file) refresh();
    return header_;
  }

  // Every secret value (and encoding) this holds, for scrubbing messages.
  std::vector<std::string> secrets() const {
    std::vector<std::string> out;
    if (!secret_.empty()) out.push_back(secret_);
    if (scheme_ == scheme_kind::basic) out.push_back(header_.substr(6));  // the base64 of user:password
    for (const auto& old : previous_) out.push_back(old);
    return out;
  }

 private:
  struct file_identity {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    timespec mtime{};
    bool operator==(const file_identity& o) const noexcept {
      return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec;
    }
  };

  void refresh() {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
      int e = errno;
      throw error(error_kind::auth, {}, {}, "bearer token file " + path_ + ": " + std::strerror(e));
    }
    file_identity id{st.st_dev, st.st_ino, st.st_size, st.st_mtim};
    if (loaded_ && id == identity_) return;
    std::ifstream in(path_, std::ios::binary);
    if (!in) throw error(error_kind::auth, {}, {}, "bearer token file " + path_ + ": cannot be opened");
    std::ostringstream content;
    content << in.rdbuf();
    std::string token = content.str();
    auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!token.empty() && is_space(token.back())) token.pop_back();
    std::size_t lead = 0;
    while (lead < token.size() && is_space(token[lead])) ++lead;
    token.erase(0, lead);
    if (token.empty()) throw error(error_kind::auth, {}, {}, "bearer token file " + path_ + " is empty");
    if (!detail::valid_header_value(token)) throw error(error_kind::auth, {}, {}, "bearer token file " + path_ + " holds more than one line");
    // The previous token stays scrubbed: an error may still be about it.
    if (!secret_.empty() && secret_ != token) {
      previous_.push_back(std::move(secret_));
      if (previous_.size() > 2) previous_.erase(previous_.begin());
    }
    secret_ = std::move(token);
    header_ = "Bearer " + secret_;
    identity_ = id;
    loaded_ = true;
  }

  scheme_kind scheme_ = scheme_kind::none;
  std::string user_;
  std::string secret_;  // password or token
  std::string header_;  // Authorization value
  std::string path_;
  file_identity identity_;
  bool loaded_ = false;
  std::vector<std::string> previous_;
};

}  // namespace interlook::http
