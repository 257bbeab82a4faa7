#pragma once
// moodycamel's ReaderWriterQueue, made visible to ThreadSanitizer.
//
// The queue synchronises through std::atomic_thread_fence, which TSan does
// not model; moodycamel annotates its fences only where __has_feature exists
// (clang). GCC signals TSan with __SANITIZE_THREAD__, so we supply the same
// happens-before annotations (implemented by the TSan runtime) ourselves.
#if defined(__SANITIZE_THREAD__) && !defined(AE_TSAN_ANNOTATE_RELEASE)
extern "C" void AnnotateHappensBefore(const char*, int, void*);
extern "C" void AnnotateHappensAfter(const char*, int, void*);
namespace interlook::detail {
inline int tsan_queue_sync;
}
#define AE_TSAN_ANNOTATE_RELEASE() AnnotateHappensBefore(__FILE__, __LINE__, &::interlook::detail::tsan_queue_sync)
#define AE_TSAN_ANNOTATE_ACQUIRE() AnnotateHappensAfter(__FILE__, __LINE__, &::interlook::detail::tsan_queue_sync)
#endif

#include <readerwriterqueue/readerwriterqueue.h>
