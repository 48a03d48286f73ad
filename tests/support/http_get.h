#pragma once

// Blocking libcurl requests for tests of the HTTP ports.

#include <string>
#include <vector>

namespace cdnwarm::testing {

struct HttpResult {
  long status = 0;
  std::string content_type;
  std::string body;
  std::string error;
};

HttpResult HttpGet(const std::string& url);
// Any method, with a body and extra "Name: value" header lines.
HttpResult HttpSend(const std::string& method, const std::string& url, const std::string& body,
                    const std::vector<std::string>& headers = {});

}  // namespace cdnwarm::testing
