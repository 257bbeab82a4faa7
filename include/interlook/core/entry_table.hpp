#pragma once
// The core's entries, one per service, by name.

#include <interlook/core/entry.hpp>

#include <boost/unordered/unordered_flat_map.hpp>

#include <cstddef>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>

namespace interlook {

// The entries by service name, read-only for everyone but the state machine.
// Entries live in their own allocations: the table itself stays small (a
// name and a pointer per slot), so growing it moves little, and an entry
// stays where it is while others come and go.
class entry_table {
 public:
  using map = boost::unordered_flat_map<std::string, std::unique_ptr<entry>>;

  struct value_type {
    const std::string& first;
    const entry& second;
  };

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using difference_type = std::ptrdiff_t;
    using value_type = entry_table::value_type;
    using reference = value_type;
    struct pointer {
      value_type v;
      const value_type* operator->() const { return &v; }
    };

    const_iterator() = default;
    explicit const_iterator(map::const_iterator it) : it_(it) {}
    value_type operator*() const { return {it_->first, *it_->second}; }
    pointer operator->() const { return {{it_->first, *it_->second}}; }
    const_iterator& operator++() {
      ++it_;
      return *this;
    }
    const_iterator operator++(int) {
      auto old = *this;
      ++it_;
      return old;
    }
    friend bool operator==(const const_iterator&, const const_iterator&) = default;

   private:
    map::const_iterator it_;
  };

  const_iterator begin() const { return const_iterator(map_.begin()); }
  const_iterator end() const { return const_iterator(map_.end()); }
  const_iterator find(const std::string& name) const { return const_iterator(map_.find(name)); }
  const entry& at(const std::string& name) const {
    auto it = map_.find(name);
    if (it == map_.end()) throw std::out_of_range("no entry named " + name);
    return *it->second;
  }
  std::size_t count(const std::string& name) const { return map_.count(name); }
  std::size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }

 private:
  friend class state_machine;
  map map_;
};

}  // namespace interlook
