#include "common/web/console_server.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace cdnwarm::web {
namespace {

namespace fs = std::filesystem;

std::string ContentTypeOf(const fs::path& file) {
  static const auto* types =
      new absl::flat_hash_map<std::string, std::string>{{".html", "text/html; charset=utf-8"},
                                                        {".js", "text/javascript; charset=utf-8"},
                                                        {".mjs", "text/javascript; charset=utf-8"},
                                                        {".css", "text/css; charset=utf-8"},
                                                        {".json", "application/json"},
                                                        {".map", "application/json"},
                                                        {".svg", "image/svg+xml"},
                                                        {".png", "image/png"},
                                                        {".ico", "image/x-icon"},
                                                        {".woff2", "font/woff2"},
                                                        {".txt", "text/plain; charset=utf-8"}};
  const auto it = types->find(file.extension().string());
  return it != types->end() ? it->second : "application/octet-stream";
}

}  // namespace

std::vector<std::pair<std::string, std::string>> ConsoleSecurityHeaders() {
  return {{"Content-Security-Policy",
           "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
           "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
           "frame-ancestors 'none'"},
          {"X-Content-Type-Options", "nosniff"},
          {"Referrer-Policy", "no-referrer"},
          {"X-Frame-Options", "DENY"}};
}

absl::StatusOr<std::unique_ptr<ConsoleServer>> ConsoleServer::Start(ConsoleOptions options) {
  std::unique_ptr<ConsoleServer> server(new ConsoleServer());
  std::error_code ec;
  if (!fs::is_regular_file(fs::path(options.files_dir) / "index.html", ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--console_dir \"", options.files_dir,
                     "\" has no index.html: build the console (cmake builds console/ when "
                     "npm is installed) or point at its build output"));
  }
  for (auto it = fs::recursive_directory_iterator(options.files_dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::ostringstream body;
    body << in.rdbuf();
    if (!in) {
      return absl::InvalidArgumentError(absl::StrCat("cannot read ", it->path().string()));
    }
    const std::string url =
        absl::StrCat("/", fs::relative(it->path(), options.files_dir).generic_string());
    server->files_[url] = File{ContentTypeOf(it->path()), body.str()};
  }
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("--console_dir \"", options.files_dir, "\": ", ec.message()));
  }

  absl::StatusOr<std::unique_ptr<JsonGateway>> gateway =
      JsonGateway::Create(std::move(options.routes), options.gateway);
  if (!gateway.ok()) return gateway.status();
  server->gateway_ = *std::move(gateway);

  absl::StatusOr<std::unique_ptr<common::HttpServer>> http = common::HttpServer::Start(
      options.address,
      [self = server.get()](const common::HttpRequest& r) { return self->Serve(r); },
      {.threads = options.threads,
       .max_body_bytes = options.max_body_bytes,
       .certificate = options.certificate});
  if (!http.ok()) {
    return absl::Status(http.status().code(),
                        absl::StrCat("--console_address: ", http.status().message()));
  }
  server->http_ = *std::move(http);
  return server;
}

ConsoleServer::~ConsoleServer() {
  if (gateway_) gateway_->Shutdown();  // streams end, so the HTTP threads come back
  http_.reset();
}

common::HttpResponse ConsoleServer::Serve(const common::HttpRequest& request) const {
  common::HttpResponse response;
  if (absl::StartsWith(request.path, "/v1/")) {
    response = gateway_->Handle(request);
  } else if (request.method != "GET" && request.method != "HEAD") {
    response.status = 405;
    response.body = "the console's files take GET\n";
    response.headers.emplace_back("Allow", "GET, HEAD");
  } else {
    auto it = files_.find(request.path == "/" ? "/index.html" : request.path);
    // A console path (/jobs/<id>) is the page; a missing asset is 404.
    if (it == files_.end() && !absl::StartsWith(request.path, "/assets/")) {
      it = files_.find("/index.html");
    }
    if (it == files_.end()) {
      response.status = 404;
      response.body = absl::StrCat("no file at ", request.path, "\n");
    } else {
      response.content_type = it->second.content_type;
      response.body = it->second.body;
      // Vite names assets by content hash; the page itself is always asked again.
      response.headers.emplace_back("Cache-Control", absl::StartsWith(request.path, "/assets/")
                                                         ? "public, max-age=31536000, immutable"
                                                         : "no-cache");
    }
  }
  for (auto& header : ConsoleSecurityHeaders()) response.headers.push_back(std::move(header));
  return response;
}

}  // namespace cdnwarm::web
