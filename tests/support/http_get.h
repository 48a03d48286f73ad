#pragma once

// Blocking libcurl requests for tests of the HTTP ports.

#include <string>
#include <string_view>
#include <vector>

namespace cdnwarm::testing {

struct HttpResult {
  long status = 0;
  std::string content_type;
  std::string body;
  std::string error;
};

HttpResult HttpGet(const std::string& url);
// GET over HTTPS, trusting only the certificates in `ca_file` (PEM).
HttpResult HttpsGet(const std::string& url, const std::string& ca_file);
// Any method, with a body and extra "Name: value" header lines.
HttpResult HttpSend(const std::string& method, const std::string& url, const std::string& body,
                    const std::vector<std::string>& headers = {}, const std::string& ca_file = "");

// Sends `request` (raw HTTP) to 127.0.0.1:`port` on a fresh connection and reads until
// `until` has arrived (or the peer closed); then closes, as a browser tab does. Returns
// what was read, headers included.
std::string RawHttpUntil(int port, const std::string& request, std::string_view until);

}  // namespace cdnwarm::testing
