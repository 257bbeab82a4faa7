#pragma once
// Everything needed to write an extension: the concepts, the handler forms
// (one message at a time, batch), the context (logging), config tables and
// errors, messages, and the public helpers extensions share. The concurrent
// form brings in Asio: include <interlook/extension/async_handler.hpp> for it.
// The laws an extension keeps are in <interlook/extension/laws.hpp>.

#include <interlook/config/error.hpp>
#include <interlook/config/fields.hpp>
#include <interlook/core/message.hpp>
#include <interlook/extension/batch_handler.hpp>
#include <interlook/extension/concepts.hpp>
#include <interlook/extension/context.hpp>
#include <interlook/extension/handler.hpp>
#include <interlook/extension/job_queue.hpp>
#include <interlook/extension/laws.hpp>
#include <interlook/support/duration.hpp>
