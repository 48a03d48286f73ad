#pragma once

// A blocking libcurl GET for tests of the admin port.

#include <string>

namespace cdnwarm::testing {

struct HttpResult {
  long status = 0;
  std::string content_type;
  std::string body;
  std::string error;
};

HttpResult HttpGet(const std::string& url);

}  // namespace cdnwarm::testing
