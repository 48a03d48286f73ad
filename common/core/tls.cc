#include "common/core/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"

namespace cdnwarm::common {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

std::string Flag(absl::string_view flag, const std::string& value) {
  return absl::StrCat("--", flag, "=", value);
}

absl::StatusOr<BioPtr> Open(absl::string_view which, const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (bio == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(Flag(which, path), ": cannot be read (missing or not permitted)"));
  }
  return bio;
}

// The first certificate of a PEM file, after checking the file holds at least one.
absl::StatusOr<X509Ptr> ReadCertificates(absl::string_view which, const std::string& path) {
  absl::StatusOr<BioPtr> bio = Open(which, path);
  if (!bio.ok()) return bio.status();
  X509Ptr first(PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (first == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(Flag(which, path), ": holds no PEM certificate"));
  }
  return first;
}

absl::StatusOr<KeyPtr> ReadKey(const TlsFiles& tls, const std::string& path) {
  absl::StatusOr<BioPtr> bio = Open(tls.key_flag, path);
  if (!bio.ok()) return bio.status();
  // An empty passphrase: encrypted keys are refused rather than prompting on a terminal.
  static char kNoPassphrase[] = "";
  KeyPtr key(PEM_read_bio_PrivateKey(bio->get(), nullptr, nullptr, kNoPassphrase));
  ERR_clear_error();
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(Flag(tls.key_flag, path), ": holds no unencrypted PEM private key"));
  }
  return key;
}

unsigned int RefreshSeconds(const TlsFiles& tls) {
  return static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(tls.reload_interval)));
}

}  // namespace

absl::Status CheckTlsFiles(const TlsFiles& tls) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", tls.cert_flag, " and --", tls.key_flag, " must be set together"));
  }
  if (!tls.cert_file.empty()) {
    absl::StatusOr<X509Ptr> cert = ReadCertificates(tls.cert_flag, tls.cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<KeyPtr> key = ReadKey(tls, tls.key_file);
    if (!key.ok()) return key.status();
    const bool match = X509_check_private_key(cert->get(), key->get()) == 1;
    ERR_clear_error();
    if (!match) {
      return absl::InvalidArgumentError(
          absl::StrCat(Flag(tls.key_flag, tls.key_file), ": does not match --", tls.cert_flag));
    }
  }
  if (!tls.ca_file.empty()) {
    absl::StatusOr<X509Ptr> ca = ReadCertificates(tls.ca_flag, tls.ca_file);
    if (!ca.ok()) return ca.status();
  }
  return absl::OkStatus();
}

absl::Status CheckServerTls(const TlsFiles& tls) {
  if (tls.cert_file.empty() && tls.key_file.empty() && !tls.ca_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", tls.ca_flag, " needs --", tls.cert_flag,
                                                   " and --", tls.key_flag,
                                                   " (mutual TLS is TLS first)"));
  }
  return CheckTlsFiles(tls);
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsFiles& tls) {
  if (absl::Status s = CheckServerTls(tls); !s.ok()) return s;
  if (tls.cert_file.empty()) return grpc::InsecureServerCredentials();
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      tls.key_file, tls.cert_file, tls.ca_file, RefreshSeconds(tls));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!tls.ca_file.empty()) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(const TlsFiles& tls) {
  if (absl::Status s = CheckTlsFiles(tls); !s.ok()) return s;
  grpc::experimental::TlsChannelCredentialsOptions options;
  if (!tls.cert_file.empty() || !tls.ca_file.empty()) {
    options.set_certificate_provider(
        std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
            tls.key_file, tls.cert_file, tls.ca_file, RefreshSeconds(tls)));
    if (!tls.ca_file.empty()) options.watch_root_certs();
    if (!tls.cert_file.empty()) options.watch_identity_key_cert_pairs();
  }
  return grpc::experimental::TlsCredentials(options);
}

}  // namespace cdnwarm::common
