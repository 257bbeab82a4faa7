#pragma once
// Helpers for the libFuzzer targets of this folder (built and run by
// tools/fuzz). A target treats the errors its code documents as fine and
// checks cheap invariants with FUZZ_CHECK; anything else (a crash, a
// sanitizer report, a leak, an exception escaping, a failed check) is a
// finding.

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace fuzz {

inline std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

[[noreturn]] inline void fail(const char* file, int line, const char* what, const std::string& detail) {
  std::fprintf(stderr, "%s:%d: invariant failed: %s\n  %s\n", file, line, what, detail.c_str());
  std::abort();
}

// A directory for files a target needs (state files, db files), on tmpfs
// when there is one so that fsync costs nothing; removed at exit.
inline const std::filesystem::path& scratch_dir() {
  struct dir {
    std::filesystem::path path;
    dir() {
      std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path().string();
      std::string templ = base + "/interlook-fuzz-XXXXXX";
      if (!::mkdtemp(templ.data())) std::abort();
      path = templ;
    }
    ~dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static dir d;
  return d.path;
}

// The input cut at NUL bytes into exactly `n` parts (a target fed several
// answers at once): the last part takes the rest, missing parts are empty.
inline std::vector<std::string_view> parts(std::string_view in, std::size_t n) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < n) {
    auto nul = in.find('\0');
    if (nul == std::string_view::npos) break;
    out.push_back(in.substr(0, nul));
    in.remove_prefix(nul + 1);
  }
  out.push_back(in);
  out.resize(n);
  return out;
}

// Writes `content` to `path`, replacing it.
inline void put_file(const std::filesystem::path& path, std::string_view content) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (!content.empty() && std::fwrite(content.data(), 1, content.size(), f) != content.size()) std::abort();
  std::fclose(f);
}

}  // namespace fuzz

#define FUZZ_CHECK(cond, detail)                                         \
  do {                                                                   \
    if (!(cond)) ::fuzz::fail(__FILE__, __LINE__, #cond, (detail));      \
  } while (0)
