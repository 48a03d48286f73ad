#pragma once

// TLS for gRPC servers and channels, from PEM files that are re-read while the process
// runs, so rotating a certificate (a Kubernetes Secret update, cert-manager) needs no
// restart. Files are checked at start-up, so a wrong path or a key that does not match its
// certificate is an error naming the flag, not a failed handshake later.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/core/clock.h"
#include "common/core/sync.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace cdnwarm::common {

struct TlsFiles {
  // PEM certificate chain this side presents, and its private key. A server needs both to
  // serve TLS; a client sends them only for mutual TLS.
  std::string cert_file{};
  std::string key_file{};
  // PEM certificates that verify the peer. Server: when set, clients must present a
  // certificate signed by one of them (mutual TLS). Client: the roots the server's
  // certificate must chain to (empty: the system's roots).
  std::string ca_file{};
  // How often the files are checked for changes.
  absl::Duration reload_interval = absl::Seconds(60);
  // The flags the files came from, named in error messages.
  std::string cert_flag = "tls_cert_file";
  std::string key_flag = "tls_key_file";
  std::string ca_flag = "tls_ca_file";
};

// Insecure credentials when no file is set; else TLS, mutual when `ca_file` is set.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsFiles& tls);

// TLS channel credentials (roots from `ca_file`, client identity when cert and key are set).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(const TlsFiles& tls);

// Checks that each file set is readable PEM of the right kind and that the key belongs to the
// certificate; errors name the flag, e.g. "--tls_key_file=/x: does not match --tls_cert_file".
absl::Status CheckTlsFiles(const TlsFiles& tls);
// CheckTlsFiles, and that a client CA comes with a server certificate.
absl::Status CheckServerTls(const TlsFiles& tls);

// The certificate chain and key of an OpenSSL server that is not gRPC (the console's HTTPS),
// read from `cert_file` and `key_file` and read again every `reload_interval`, so it
// rotates without a restart as the gRPC servers' credentials do. A rotation caught half
// written (unreadable, or a key of another certificate) keeps the pair already served and
// is logged once. No client certificate is asked for: browsers are its clients, and the
// bearer token is their check.
class ServerCertificate {
 public:
  // Reads and checks the pair (errors as CheckTlsFiles's).
  static absl::StatusOr<std::shared_ptr<ServerCertificate>> Load(
      const TlsFiles& tls, const Clock& clock = Clock::Real());
  ~ServerCertificate();

  // Makes `ssl_ctx` (an OpenSSL SSL_CTX*) present the current pair at each handshake and
  // speak TLS 1.2 or later. This object must outlive the context's connections.
  absl::Status Install(void* ssl_ctx);

  struct Pair;  // the loaded certificates and key (tls.cc)

 private:
  ServerCertificate(const TlsFiles& tls, const Clock& clock, std::shared_ptr<const Pair> pair);
  static int OnHandshake(void* ssl, void* self);  // OpenSSL's certificate callback
  // The pair to present now, re-read first when the interval has passed.
  std::shared_ptr<const Pair> Current();

  const TlsFiles tls_;
  const Clock& clock_;
  Mutex mu_;
  std::shared_ptr<const Pair> pair_ ABSL_GUARDED_BY(mu_);
  absl::Time next_read_ ABSL_GUARDED_BY(mu_);
  bool failing_ ABSL_GUARDED_BY(mu_) = false;  // the last re-read failed (logged)
};

}  // namespace cdnwarm::common
