#pragma once
// Calls a handler directly, whatever its form, for tests that do not need a
// thread: one message in, its answer out.
//
//   auto answer = interlook::testing::handle_one(my_ipam, add_message);

#include <interlook/extension/batch_handler.hpp>
#include <interlook/extension/handler.hpp>

#include <span>
#include <utility>
#include <vector>

namespace interlook::testing {

// A one-message handler's answer (its exceptions propagate), or a batch
// handler's answer to a batch of one.
template <class H>
message handle_one(H& h, message m) {
  if constexpr (batch_handler<H>) {
    message batch[1] = {std::move(m)};
    h.handle_batch(std::span<message>(batch, 1));
    return std::move(batch[0]);
  } else {
    return h.handle(std::move(m));
  }
}

// A batch handler's answers to one batch.
template <batch_handler H>
std::vector<message> handle_batch(H& h, std::vector<message> batch) {
  h.handle_batch(std::span<message>(batch));
  return batch;
}

}  // namespace interlook::testing
