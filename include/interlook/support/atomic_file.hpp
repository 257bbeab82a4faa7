#pragma once
// Whole-file reads and crash-safe whole-file replacement: write a temporary
// file beside the target, fsync it, rename it over the target, fsync the
// directory. After a crash the target holds either the old or the new
// content, never a mix.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace interlook {

[[noreturn]] inline void throw_file_error(const std::string& op, const std::string& path) {
  throw std::runtime_error("cannot " + op + " " + path + ": " + std::strerror(errno));
}

// False when the file does not exist; throws for other failures.
inline bool read_whole_file(const std::string& path, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    throw_file_error("read", path);
  }
  out.clear();
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int saved = errno;
      ::close(fd);
      errno = saved;
      throw_file_error("read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return true;
}

inline void write_all(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_file_error("write", what);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

inline void sync_parent_directory(const std::string& path) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_file_error("open directory", dir);
  ::fsync(fd);
  ::close(fd);
}

// A replacement for `path`, written piece by piece into path.tmp; commit()
// makes it durable and renames it over `path`. Dropped without commit(),
// the temporary file is removed and `path` is untouched.
class atomic_file_writer {
 public:
  atomic_file_writer(std::string path, mode_t mode) : path_(std::move(path)), tmp_(path_ + ".tmp") {
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd_ < 0) throw_file_error("create", tmp_);
  }
  atomic_file_writer(atomic_file_writer&& o) noexcept
      : path_(std::move(o.path_)), tmp_(std::move(o.tmp_)), fd_(std::exchange(o.fd_, -1)) {}
  atomic_file_writer& operator=(atomic_file_writer&& o) noexcept {
    if (this != &o) {
      discard();
      path_ = std::move(o.path_);
      tmp_ = std::move(o.tmp_);
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~atomic_file_writer() { discard(); }

  void write(std::string_view data) { write_all(fd_, data, tmp_); }

  // durable = false skips the fsyncs (the rename stays atomic).
  void commit(bool durable) {
    if (durable && ::fsync(fd_) != 0) throw_file_error("fsync", tmp_);
    ::close(std::exchange(fd_, -1));
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
      int saved = errno;
      ::unlink(tmp_.c_str());
      errno = saved;
      throw_file_error("rename " + tmp_ + " to", path_);
    }
    if (durable) sync_parent_directory(path_);
  }

 private:
  void discard() noexcept {
    if (fd_ < 0) return;
    ::close(std::exchange(fd_, -1));
    ::unlink(tmp_.c_str());
  }

  std::string path_, tmp_;
  int fd_ = -1;
};

inline void write_file_atomically(const std::string& path, std::string_view content, bool durable = true,
                                  mode_t mode = 0644) {
  atomic_file_writer file(path, mode);
  file.write(content);
  file.commit(durable);
}

}  // namespace interlook
