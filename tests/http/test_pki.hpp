#pragma once
// Test certificates made with the OpenSSL C API at test time: a CA, a second
// (untrusted) CA, a server certificate for 127.0.0.1 and localhost, a server
// certificate for another name only, and a client certificate, written as PEM
// files to a fresh temporary directory.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace test_pki {

struct identity {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  std::string cert_file;
  std::string key_file;
};

class pki {
 public:
  pki() {
    char tmpl[] = "/tmp/interlook-http-pki-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir = tmpl;
    ca = make("interlook test CA", nullptr, true, "", nullptr, "ca");
    other_ca = make("some other CA", nullptr, true, "", nullptr, "other-ca");
    server = make("127.0.0.1", &ca, false, "IP:127.0.0.1,DNS:localhost", "serverAuth", "server");
    wrong_name = make("other.example", &ca, false, "DNS:other.example", "serverAuth", "wrong-name");
    client = make("interlook test client", &ca, false, "", "clientAuth", "client");
  }
  ~pki() {
    for (identity* i : {&ca, &other_ca, &server, &wrong_name, &client}) {
      X509_free(i->cert);
      EVP_PKEY_free(i->key);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  pki(const pki&) = delete;
  pki& operator=(const pki&) = delete;

  std::string dir;
  identity ca, other_ca, server, wrong_name, client;

 private:
  static void add_ext(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
    if (!ext) throw std::runtime_error("X509V3_EXT_conf_nid failed for " + value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }

  identity make(const std::string& cn, const identity* issuer, bool is_ca, const std::string& san, const char* eku, const std::string& stem) {
    identity id;
    id.key = EVP_EC_gen("P-256");
    if (!id.key) throw std::runtime_error("EVP_EC_gen failed");
    X509* x = X509_new();
    id.cert = x;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial_);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
    X509_set_pubkey(x, id.key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert) : name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer->cert : x, x, nullptr, nullptr, 0);
    add_ext(x, &ctx, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add_ext(x, &ctx, NID_key_usage, is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    add_ext(x, &ctx, NID_subject_key_identifier, "hash");
    if (!san.empty()) add_ext(x, &ctx, NID_subject_alt_name, san);
    if (eku) add_ext(x, &ctx, NID_ext_key_usage, eku);
    if (X509_sign(x, issuer ? issuer->key : id.key, EVP_sha256()) == 0) throw std::runtime_error("X509_sign failed");

    id.cert_file = dir + "/" + stem + ".crt";
    id.key_file = dir + "/" + stem + ".key";
    BIO* out = BIO_new_file(id.cert_file.c_str(), "w");
    PEM_write_bio_X509(out, x);
    BIO_free(out);
    out = BIO_new_file(id.key_file.c_str(), "w");
    PEM_write_bio_PrivateKey(out, id.key, nullptr, nullptr, 0, nullptr, nullptr);
    BIO_free(out);
    return id;
  }

  long serial_ = 1000;
};

}  // namespace test_pki
