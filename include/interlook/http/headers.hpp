#pragma once
// interlook::http::headers: an ordered list of header fields whose names
// compare case-insensitively.

#include <interlook/http/detail/text.hpp>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace interlook::http {

class headers {
 public:
  using field = std::pair<std::string, std::string>;
  using const_iterator = std::vector<field>::const_iterator;

  headers() = default;
  headers(std::initializer_list<field> fields) : fields_(fields) {}

  // Replaces every field of this name by one.
  headers& set(std::string_view name, std::string_view value) {
    erase(name);
    fields_.emplace_back(name, value);
    return *this;
  }
  // Appends a field, keeping others of the same name.
  headers& add(std::string_view name, std::string_view value) {
    fields_.emplace_back(name, value);
    return *this;
  }
  // Removes every field of this name; how many there were.
  std::size_t erase(std::string_view name) {
    auto before = fields_.size();
    std::erase_if(fields_, [&](const field& f) { return detail::iequals(f.first, name); });
    return before - fields_.size();
  }

  // The first field of this name.
  std::optional<std::string_view> get(std::string_view name) const {
    for (const auto& f : fields_)
      if (detail::iequals(f.first, name)) return std::string_view(f.second);
    return std::nullopt;
  }
  std::string_view get_or(std::string_view name, std::string_view fallback) const { return get(name).value_or(fallback); }
  bool contains(std::string_view name) const { return get(name).has_value(); }
  // Every field of this name, in order.
  std::vector<std::string_view> get_all(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const auto& f : fields_)
      if (detail::iequals(f.first, name)) out.emplace_back(f.second);
    return out;
  }

  const_iterator begin() const noexcept { return fields_.begin(); }
  const_iterator end() const noexcept { return fields_.end(); }
  std::size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  void clear() noexcept { fields_.clear(); }

 private:
  std::vector<field> fields_;
};

}  // namespace interlook::http
