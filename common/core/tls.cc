#include "common/core/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/core/c_handle.h"
#include "common/core/log.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"

namespace cdnwarm::common {
namespace {

void FreeChain(STACK_OF(X509) * chain) { sk_X509_pop_free(chain, X509_free); }

using BioPtr = CHandle<BIO, BIO_free>;
using X509Ptr = CHandle<X509, X509_free>;
using KeyPtr = CHandle<EVP_PKEY, EVP_PKEY_free>;
using ChainPtr = CHandle<STACK_OF(X509), FreeChain>;

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

// The first certificate of a PEM file, after checking the file holds at least one; the
// ones after it go into `rest` when given (a chain's intermediates).
absl::StatusOr<X509Ptr> ReadCertificates(absl::string_view which, const std::string& path,
                                         ChainPtr* rest = nullptr) {
  absl::StatusOr<BioPtr> bio = Open(which, path);
  if (!bio.ok()) return bio.status();
  X509Ptr first(PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (first == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(Flag(which, path), ": holds no PEM certificate"));
  }
  if (rest != nullptr) {
    rest->reset(sk_X509_new_null());
    while (X509* next = PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr)) {
      sk_X509_push(rest->get(), next);
    }
    ERR_clear_error();  // the end of the file reads as an error
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

absl::Status CheckKeyMatches(const TlsFiles& tls, X509* cert, EVP_PKEY* key) {
  const bool match = X509_check_private_key(cert, key) == 1;
  ERR_clear_error();
  if (!match) {
    return absl::InvalidArgumentError(
        absl::StrCat(Flag(tls.key_flag, tls.key_file), ": does not match --", tls.cert_flag));
  }
  return absl::OkStatus();
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
    if (absl::Status s = CheckKeyMatches(tls, cert->get(), key->get()); !s.ok()) return s;
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

struct ServerCertificate::Pair {
  X509Ptr leaf;
  ChainPtr chain;  // the certificates after the leaf in the file (intermediates)
  KeyPtr key;
};

namespace {

absl::StatusOr<std::shared_ptr<const ServerCertificate::Pair>> ReadPair(const TlsFiles& tls) {
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", tls.cert_flag, " and --", tls.key_flag, " must be set together"));
  }
  auto pair = std::make_shared<ServerCertificate::Pair>();
  absl::StatusOr<X509Ptr> leaf = ReadCertificates(tls.cert_flag, tls.cert_file, &pair->chain);
  if (!leaf.ok()) return leaf.status();
  pair->leaf = *std::move(leaf);
  absl::StatusOr<KeyPtr> key = ReadKey(tls, tls.key_file);
  if (!key.ok()) return key.status();
  pair->key = *std::move(key);
  if (absl::Status s = CheckKeyMatches(tls, pair->leaf.get(), pair->key.get()); !s.ok()) return s;
  return pair;
}

}  // namespace

absl::StatusOr<std::shared_ptr<ServerCertificate>> ServerCertificate::Load(const TlsFiles& tls,
                                                                           const Clock& clock) {
  absl::StatusOr<std::shared_ptr<const Pair>> pair = ReadPair(tls);
  if (!pair.ok()) return pair.status();
  return std::shared_ptr<ServerCertificate>(new ServerCertificate(tls, clock, *std::move(pair)));
}

ServerCertificate::ServerCertificate(const TlsFiles& tls, const Clock& clock,
                                     std::shared_ptr<const Pair> pair)
    : tls_(tls),
      clock_(clock),
      pair_(std::move(pair)),
      next_read_(clock.Now() + tls.reload_interval) {}

ServerCertificate::~ServerCertificate() = default;

absl::Status ServerCertificate::Install(void* ssl_ctx) {
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    ERR_clear_error();
    return absl::InternalError("TLS: cannot require TLS 1.2 or later");
  }
  SSL_CTX_set_cert_cb(
      ctx, [](SSL* ssl, void* self) { return OnHandshake(ssl, self); }, this);
  return absl::OkStatus();
}

int ServerCertificate::OnHandshake(void* ssl, void* self) {
  const std::shared_ptr<const Pair> pair = static_cast<ServerCertificate*>(self)->Current();
  // The SSL takes its own references: the pair may be replaced while the connection lives.
  const int ok = SSL_use_cert_and_key(static_cast<SSL*>(ssl), pair->leaf.get(), pair->key.get(),
                                      pair->chain.get(), /*override=*/1);
  if (ok != 1) ERR_clear_error();
  return ok == 1 ? 1 : 0;  // 0 fails the handshake
}

std::shared_ptr<const ServerCertificate::Pair> ServerCertificate::Current() {
  {
    MutexLock lock(&mu_);
    const absl::Time now = clock_.Now();
    if (now < next_read_) return pair_;
    next_read_ = now + tls_.reload_interval;  // one handshake re-reads; the others go on
  }
  absl::StatusOr<std::shared_ptr<const Pair>> read = ReadPair(tls_);  // file I/O, unlocked
  MutexLock lock(&mu_);
  if (read.ok()) {
    pair_ = *std::move(read);
    failing_ = false;
  } else if (!failing_) {
    failing_ = true;
    log::Warn("TLS files could not be re-read; serving the certificate already loaded",
              {{"error", read.status().message()}});
  }
  return pair_;
}

}  // namespace cdnwarm::common
