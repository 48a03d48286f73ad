#pragma once

// TLS for gRPC servers and channels, from PEM files that are re-read while the process
// runs, so rotating a certificate (a Kubernetes Secret update, cert-manager) needs no
// restart. Files are checked at start-up, so a wrong path or a key that does not match its
// certificate is an error naming the flag, not a failed handshake later.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
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

}  // namespace cdnwarm::common
