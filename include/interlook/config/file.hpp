#pragma once
// Loading a configuration file for a registry: the core section, the
// workflow resolved to step indices, and the section of each extension the
// workflow uses (sections of other extensions are ignored).

#include <interlook/config/print.hpp>
#include <interlook/config/yaml.hpp>
#include <interlook/config/core_config.hpp>
#include <interlook/extension/registry.hpp>

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace interlook {

// A parsed YAML file that remembers its name for error messages.
class config_document {
 public:
  static config_document load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw config_error(path, 0, "", std::string("cannot read the file: ") + std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw config_error(path, 0, "", std::string("cannot read the file: ") + std::strerror(errno));
    return parse(text.str(), path);
  }

  static config_document parse(const std::string& text, std::string name) {
    config_document doc;
    doc.file_ = std::move(name);
    try {
      doc.root_ = YAML::Load(text);
    } catch (const YAML::ParserException& e) {
      throw config_error(doc.file_, e.mark.line >= 0 ? e.mark.line + 1 : 0, "", "malformed YAML: " + e.msg);
    }
    if (!doc.root_.IsMap()) throw config_error(doc.file_, 1, "", "expected a mapping with a `core` section");
    return doc;
  }

  const std::string& file() const noexcept { return file_; }
  const YAML::Node& root() const noexcept { return root_; }
  yaml_context context(std::vector<std::string>* warnings = nullptr) const { return {file_, {}, warnings}; }

  // The section of "lb.f5ltm" is `lb: f5ltm:`; an undefined node if absent.
  YAML::Node section(std::string_view extension_name) const {
    const YAML::Node kind = root_[std::string(extension_kind(extension_name))];
    if (!kind.IsDefined() || !kind.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    return kind[std::string(extension_impl(extension_name))];
  }

 private:
  std::string file_;
  YAML::Node root_;
};

namespace detail {
template <class Registry, class Seq>
struct config_tuple_of;
template <class Registry, std::size_t... I>
struct config_tuple_of<Registry, std::index_sequence<I...>> {
  using type = std::tuple<std::optional<typename Registry::template type_at<I>::config>...>;
};
}  // namespace detail

// Everything a daemon built on Registry needs from its configuration file.
template <class Registry>
struct loaded_config {
  core_config core;
  std::vector<step_index> steps;
  // One slot per registered extension; filled for those in the workflow.
  typename detail::config_tuple_of<Registry, std::make_index_sequence<Registry::size>>::type extensions;
  std::vector<std::string> warnings;  // unknown keys, with file and line

  template <std::size_t I>
  const auto& config_of() const {
    return *std::get<I>(extensions);
  }
  bool uses(std::size_t index) const {
    for (auto s : steps)
      if (s == index) return true;
    return false;
  }

  // "key: value" lines of every setting in force, secrets masked.
  setting_lines settings() const {
    setting_lines out;
    describe(core, out, "core");
    for (auto s : steps) {
      Registry::with_type(s, [&](auto type) {
        using E = typename decltype(type)::type;
        constexpr std::size_t index = *Registry::find(E::name);
        std::string prefix = std::string(extension_kind(E::name)) + "." + std::string(extension_impl(E::name));
        describe(*std::get<index>(extensions), out, prefix);
      });
    }
    return out;
  }
};

template <class Registry>
loaded_config<Registry> load_config(const config_document& doc) {
  loaded_config<Registry> cfg;
  auto ctx = doc.context(&cfg.warnings);
  const YAML::Node core = doc.root()["core"];
  if (!core.IsDefined()) throw config_error(doc.file(), 1, "core", "missing section `core:`");
  cfg.core = decode_config<core_config>(core, ctx.child("core"));

  const YAML::Node steps_node = core["workflowSteps"];
  auto steps_ctx = ctx.child("core").child("workflowSteps");
  if constexpr (is_compile_time_workflow<Registry>::value) {
    cfg.steps.assign(Registry::steps.begin(), Registry::steps.end());
    if (!cfg.core.workflowSteps.empty()) {
      std::vector<step_index> named;
      try {
        named = Registry::resolve(cfg.core.workflowSteps);
      } catch (const workflow_error& e) {
        steps_ctx.fail(steps_node, e.what());
      }
      if (named != cfg.steps)
        steps_ctx.fail(steps_node, "this binary's workflow is fixed to " + Registry::registered_names() +
                                       "; remove workflowSteps or make it match");
    }
  } else {
    if (cfg.core.workflowSteps.empty()) steps_ctx.fail(core, "missing required key \"workflowSteps\"");
    try {
      cfg.steps = Registry::resolve(cfg.core.workflowSteps);
    } catch (const workflow_error& e) {
      steps_ctx.fail(steps_node, e.what());
    }
  }

  for (auto s : cfg.steps) {
    Registry::with_type(s, [&](auto type) {
      using E = typename decltype(type)::type;
      constexpr std::size_t index = *Registry::find(E::name);
      std::string path = std::string(extension_kind(E::name)) + "." + std::string(extension_impl(E::name));
      const YAML::Node section = doc.section(E::name);
      yaml_context section_ctx{doc.file(), path, &cfg.warnings};
      if (!section.IsDefined()) {
        // Absent section: fine when every key has a default; otherwise say
        // which section the workflow needs.
        try {
          std::get<index>(cfg.extensions).emplace(decode_config<typename E::config>(section, section_ctx));
        } catch (const config_error& e) {
          throw config_error(doc.file(), yaml_context::line_of(steps_node), path,
                             "the workflow uses " + std::string(E::name) + " but the file has no `" +
                                 std::string(extension_kind(E::name)) + ": " +
                                 std::string(extension_impl(E::name)) + ":` section (" + e.reason() + ")");
        }
      } else {
        std::get<index>(cfg.extensions).emplace(decode_config<typename E::config>(section, section_ctx));
      }
    });
  }
  return cfg;
}

template <class Registry>
loaded_config<Registry> load_config_file(const std::string& path) {
  return load_config<Registry>(config_document::load(path));
}

}  // namespace interlook
