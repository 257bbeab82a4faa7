#pragma once
// The daemon's main(): flags, config, logging, state, API, signals.
//
//   int main(int argc, char** argv) {
//     return interlook::run_daemon<my_registry>(argc, argv);
//   }
//
//   interlook --conf FILE           run
//   interlook --conf FILE --check-config
//                                   validate, print the workflow and settings
//                                   (secrets masked), exit 0 or 2
//   interlook --version
//   interlook --conf FILE --start-empty
//                                   set a corrupt state file aside and start

#include <interlook/api/api.hpp>
#include <interlook/config/file.hpp>
#include <interlook/runtime/engine.hpp>
#include <interlook/api/http_server.hpp>
#include <interlook/support/log.hpp>
#include <interlook/store/store.hpp>

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#ifndef INTERLOOK_VERSION
#define INTERLOOK_VERSION "0.1.0"
#endif

namespace interlook {

struct daemon_options {
  std::string conf = "interlook.yml";
  bool check_config = false;
  bool version = false;
  bool start_empty = false;
  bool help = false;
};

// Go's flag package accepts -conf and --conf, with a space or '='.
inline std::optional<daemon_options> parse_daemon_args(int argc, char** argv, std::string& error) {
  daemon_options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.starts_with("--")) a.remove_prefix(2);
    else if (a.starts_with("-")) a.remove_prefix(1);
    else {
      error = "unexpected argument \"" + std::string(argv[i]) + "\"";
      return std::nullopt;
    }
    std::string_view value;
    bool has_value = false;
    if (auto eq = a.find('='); eq != std::string_view::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_value = true;
    }
    if (a == "conf") {
      if (!has_value) {
        if (i + 1 >= argc) {
          error = "--conf needs a file";
          return std::nullopt;
        }
        value = argv[++i];
      }
      o.conf = std::string(value);
    } else if (a == "check-config") {
      o.check_config = true;
    } else if (a == "version") {
      o.version = true;
    } else if (a == "start-empty") {
      o.start_empty = true;
    } else if (a == "help" || a == "h") {
      o.help = true;
    } else {
      error = "unknown flag --" + std::string(a);
      return std::nullopt;
    }
  }
  return o;
}

template <class Registry>
int run_daemon(int argc, char** argv, std::string_view version = INTERLOOK_VERSION) {
  std::string arg_error;
  auto opts = parse_daemon_args(argc, argv, arg_error);
  if (!opts || opts->help) {
    if (!opts) std::cerr << "interlook: " << arg_error << "\n";
    std::cerr << "usage: interlook [--conf FILE] [--check-config] [--start-empty] [--version]\n"
              << "extensions in this binary: " << Registry::registered_names() << "\n";
    return opts ? 0 : 2;
  }
  if (opts->version) {
    std::cout << "interlook " << version << "\n";
    return 0;
  }

  std::optional<loaded_config<Registry>> cfg;
  try {
    cfg.emplace(load_config_file<Registry>(opts->conf));
  } catch (const config_error& e) {
    std::cerr << "interlook: " << e.what() << "\n";
    return 2;
  }
  if (opts->check_config) {
    for (auto& w : cfg->warnings) std::cout << "warning: " << w << "\n";
    std::cout << "workflow:";
    for (std::size_t i = 0; i < cfg->steps.size(); ++i)
      std::cout << (i ? " -> " : " ") << Registry::names[cfg->steps[i]];
    std::cout << "\n";
    for (auto& [key, value] : cfg->settings()) std::cout << key << ": " << value << "\n";
    std::cout << opts->conf << ": OK\n";
    return 0;
  }

  // Signals are taken by one thread with sigwait; block them everywhere
  // first, so that every thread started below inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);  // internal: the engine has stopped by itself
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<logger> log;
  try {
    log = std::make_unique<logger>(cfg->core.logLevel, cfg->core.logFile);
  } catch (const std::exception& e) {
    std::cerr << "interlook: " << opts->conf << ": core.logFile: " << e.what() << "\n";
    return 2;
  }
  for (auto& w : cfg->warnings) log->warn(w);
  log->info("interlook " + std::string(version) + " starting; workflow " + cfg->core.workflowSteps);

  std::unique_ptr<engine<Registry>> core;
  try {
    core = std::make_unique<engine<Registry>>(*cfg, *log, std::make_unique<state_store>(cfg->core.workflowEntriesFile));
    core->load_state(opts->start_empty);
  } catch (const std::exception& e) {
    log->error(e.what());
    std::cerr << "interlook: " << e.what() << "\n";
    return 1;
  }

  std::unique_ptr<http_server> api;
  try {
    api = std::make_unique<http_server>(cfg->core.listenAddress, cfg->core.listenPort,
                                        api_routes<engine<Registry>>(*core, std::string(version)), *log);
  } catch (const std::exception& e) {
    log->error(e.what());
    std::cerr << "interlook: " << e.what() << "\n";
    return 1;
  }

  core->start();
  api->start();
  log->info("API listening on " + (cfg->core.listenAddress.empty() ? std::string("*") : cfg->core.listenAddress) +
            ":" + std::to_string(api->port()));

  pthread_t main_thread = pthread_self();
  std::thread waiter([&] {
    int code = core->wait();
    (void)code;
    pthread_kill(main_thread, SIGUSR1);
  });
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGINT || sig == SIGTERM) {
      log->info(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + "; stopping");
      core->request_stop();
    }
    if (sig == SIGUSR1) break;
  }
  waiter.join();
  api->stop();
  int code = core->wait();
  if (auto f = core->failure()) {
    std::cerr << "interlook: extension " << f->first << " failed: " << f->second << "\n";
  }
  log->info(code == 0 ? "stopped" : "stopped after a failure");
  return code;
}

}  // namespace interlook
