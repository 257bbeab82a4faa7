#pragma once
// What every provisioner adapter does to an answer before it leaves: the
// laws an answer must keep (see extension/laws.hpp), checked on the
// extension's thread.

#include <interlook/core/message.hpp>

#include <exception>
#include <string>
#include <string_view>
#include <utility>

namespace interlook::detail {

// The answer's action and service name are those of the request: the core
// routes answers by them. A handler that changed either gets its answer
// turned into an error naming the law, with the request's action and name
// restored, so that the entry is not left waiting for an answer it never
// recognises.
inline void keep_identity(message& answer, action requested, const std::string& service_name,
                          std::string_view extension) {
  if (answer.action == requested && answer.service.name == service_name) return;
  std::string what = answer.action != requested ? "action (" + std::string(to_string(requested)) + " answered as " +
                                                      std::string(to_string(answer.action)) + ")"
                                                : "service name (\"" + answer.service.name + "\")";
  answer.action = requested;
  answer.service.name = service_name;
  answer.error = std::string(extension) + ": the answer changed the " + what +
                 "; an answer keeps the request's action and service name";
}

inline message error_answer(action act, std::string service_name, std::string_view extension,
                            std::string what) {
  message r;
  r.action = act;
  r.service.name = std::move(service_name);
  r.error = std::string(extension) + ": " + (what.empty() ? std::string("failed") : std::move(what));
  return r;
}

// The current exception as text, for an answer's error.
inline std::string current_exception_text() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

}  // namespace interlook::detail
