#pragma once
// The extension laws (extension/laws.hpp) as checks a test can run on what an
// extension sends, without the engine. ext_runner applies them to every
// message it reads; they throw law_violation, which fails the test that
// read the message.

#include <interlook/core/message.hpp>
#include <interlook/extension/name.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace interlook::testing {

class law_violation : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// Follows one extension's traffic: what was sent to it, what it answered.
class law_checker {
 public:
  explicit law_checker(std::string_view extension, bool wants_outcomes = false)
      : name_(extension), provider_(is_provider_name(extension)), outcomes_(wants_outcomes) {}

  // The test (in the core's seat) sent `m` to the extension.
  void sent(const message& m) {
    if (provider_) {
      if ((m.action == action::add || m.action == action::remove) && outcomes_) return;  // an outcome: no answer
      if (m.action != action::refresh)
        throw law_violation("the core only sends a provider refresh requests" +
                            std::string(outcomes_ ? " and outcomes (add, delete)" : "") + ", not " +
                            std::string(to_string(m.action)));
      refreshes_[m.service.name] += 1;
      return;
    }
    if (pending_.count(m.service.name))
      throw law_violation("two steps for " + m.service.name + " at once: the core never does that, and " + name_ +
                          " need not cope with it");
    pending_.emplace(m.service.name, m);
  }

  // The extension sent `m` to the core.
  void received(const message& m) {
    if (provider_) return check_provider(m);
    auto it = pending_.find(m.service.name);
    if (it == pending_.end())
      throw law_violation(name_ + " answered for \"" + m.service.name +
                          "\", which it was not asked about (an answer keeps the request's service name)");
    const message& request = it->second;
    if (m.action != request.action)
      throw law_violation(name_ + " answered " + std::string(to_string(request.action)) + " for " + m.service.name +
                          " with " + std::string(to_string(m.action)) + " (an answer keeps the request's action)");
    bool ipam = extension_kind(name_) == "ipam";
    if (m.error.empty() && m.action == action::add && !ipam && !request.service.public_ip.empty() &&
        !m.service.public_ip.empty() && m.service.public_ip != request.service.public_ip)
      throw law_violation(name_ + " changed the public IP of " + m.service.name + " from " +
                          request.service.public_ip + " to " + m.service.public_ip +
                          "; only an ipam step may change an address already given");
    pending_.erase(it);
  }

  // Requests not answered yet.
  std::size_t pending() const noexcept { return pending_.size(); }

 private:
  void check_provider(const message& m) {
    if (m.action != action::add && m.action != action::remove)
      throw law_violation("a provider sends add or delete, not " + std::string(to_string(m.action)));
    if (m.service.name.empty()) throw law_violation("a provider sent a service without a name");
    if (m.action == action::add && m.service.targets.empty())
      throw law_violation("a provider announced " + m.service.name +
                          " without targets (a service with none is skipped until it has one)");
    if (auto it = refreshes_.find(m.service.name); it != refreshes_.end() && --it->second == 0) refreshes_.erase(it);
  }

  std::string name_;
  bool provider_;
  bool outcomes_;
  std::map<std::string, message> pending_;
  std::map<std::string, int> refreshes_;
};

}  // namespace interlook::testing
