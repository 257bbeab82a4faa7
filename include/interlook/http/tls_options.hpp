#pragma once
// interlook::http::tls_options: how a client speaks TLS.
//
// By default the server's chain is verified against the system's CA paths and
// its certificate must match the endpoint's host name (or IP address, against
// an IP SAN); SNI carries the host name. TLS 1.2 at least.
//
// For tcp:// endpoints (Docker), TLS is used exactly when ca_file, cert_file or
// insecure_skip_verify is set; see endpoint.hpp.

#include <string>

namespace interlook::http {

struct tls_options {
  // PEM file of trusted CAs; empty: the system's default verify paths.
  std::string ca_file;
  // PEM client certificate (chain) and its private key, for servers that
  // require one; key_file empty: the key is read from cert_file.
  std::string cert_file;
  std::string key_file;
  // Verify the certificate against this name instead of the endpoint's host
  // (and send it as SNI); for servers reached by an address their certificate
  // does not name.
  std::string server_name;
  // Accept any certificate. Only ever when set explicitly.
  bool insecure_skip_verify = false;

  // Whether a tcp:// endpoint speaks TLS with these options.
  bool requested() const noexcept { return !ca_file.empty() || !cert_file.empty() || insecure_skip_verify; }

  // "verify (CA /etc/x/ca.pem, client cert /etc/x/cert.pem)", "verify (system CAs)",
  // "NO VERIFICATION (insecure_skip_verify)". File names only, no contents.
  std::string describe() const {
    if (insecure_skip_verify) {
      std::string s = "NO VERIFICATION (insecure_skip_verify)";
      if (!cert_file.empty()) s += ", client cert " + cert_file;
      return s;
    }
    std::string s = "verify (" + (ca_file.empty() ? std::string("system CAs") : "CA " + ca_file);
    if (!server_name.empty()) s += ", name " + server_name;
    if (!cert_file.empty()) s += ", client cert " + cert_file;
    return s + ")";
  }
};

}  // namespace interlook::http
