// The stock interlook daemon: every built-in extension; the config file's
// core.workflowSteps picks the workflow out of them.
#include "examples/builtin_registry.hpp"

#include <interlook/runtime/daemon.hpp>

int main(int argc, char** argv) { return interlook::run_daemon<interlook::examples::builtin_registry>(argc, argv); }
