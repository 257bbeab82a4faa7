#pragma once
// Names the calling thread: what top -H, perf and gdb show. Linux keeps the
// first 15 bytes.

#include <string_view>

#if defined(__linux__)
#include <pthread.h>
#endif

namespace interlook::detail {

inline void name_this_thread(std::string_view name) {
#if defined(__linux__)
  char buf[16] = {};
  name.copy(buf, sizeof buf - 1);
  pthread_setname_np(pthread_self(), buf);
#else
  (void)name;
#endif
}

}  // namespace interlook::detail
