// A custom static interlook binary: the built-in file provider and IPAM plus
// a provisioner of our own, fixed at compile time as the workflow
// provider.file -> ipam.ipalloc -> audit.logfile. The config file carries
// only parameters (its core.workflowSteps may be left out).
#include "examples/custom/audit_log.hpp"

#include <interlook/runtime/daemon.hpp>
#include <interlook/ext/ipam/ipalloc/ipalloc.hpp>
#include <interlook/ext/provider/file/file.hpp>

using my_workflow = interlook::workflow<interlook::ext::provider::file, interlook::ext::ipam::ipalloc, acme::audit_log>;

int main(int argc, char** argv) { return interlook::run_daemon<my_workflow>(argc, argv); }
