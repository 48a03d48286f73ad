#include "tests/support/varnish_server.h"

#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace cdnwarm::testing {
namespace {

std::string Find(const char* name) {
  for (const char* dir : {"/usr/sbin/", "/usr/bin/"}) {
    const std::string path = absl::StrCat(dir, name);
    if (std::filesystem::exists(path)) return path;
  }
  return name;
}

}  // namespace

absl::StatusOr<std::unique_ptr<VarnishServer>> VarnishServer::Start(int backend_port,
                                                                    const std::string& listen_host,
                                                                    const std::string& vcl) {
  std::unique_ptr<VarnishServer> s(new VarnishServer());
  s->dir_ = MakeTempDir("varnish");
  s->host_ = listen_host;
  s->port_ = FreeLoopbackPort();
  const std::string name = s->dir_ + "/instance";
  std::vector<std::string> args = {
      Find("varnishd"), "-F", "-n",  name, "-a", absl::StrCat(listen_host, ":", s->port_), "-s",
      "malloc,32m",     "-T", "none"};
  if (vcl.empty()) {
    args.insert(args.end(), {"-b", absl::StrCat("127.0.0.1:", backend_port)});
  } else {
    WriteFile(s->dir_ + "/edge.vcl", vcl);
    args.insert(args.end(), {"-f", s->dir_ + "/edge.vcl"});
  }
  absl::StatusOr<std::unique_ptr<ChildProcess>> varnishd =
      ChildProcess::StartLogged(args, s->dir_ + "/varnishd.log");
  if (!varnishd.ok()) return varnishd.status();
  s->varnishd_ = *std::move(varnishd);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!CanConnect(s->host_, s->port_)) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("varnishd did not listen: ", ReadFile(s->dir_ + "/varnishd.log")));
    }
    absl::SleepFor(absl::Milliseconds(20));  // polling a condition with a deadline
  }
  // -d: from the head of the shared log, so no request made before it attached is missed.
  absl::StatusOr<std::unique_ptr<ChildProcess>> ncsa =
      ChildProcess::StartLogged({Find("varnishncsa"), "-n", name, "-d", "-F",
                                 "\"%r\" %s %{Varnish:hitmiss}x", "-w", s->dir_ + "/access.log"},
                                s->dir_ + "/varnishncsa.log");
  if (!ncsa.ok()) return ncsa.status();
  s->ncsa_ = *std::move(ncsa);
  return s;
}

VarnishServer::~VarnishServer() {
  ncsa_.reset();
  varnishd_.reset();
}

std::string VarnishServer::url(const std::string& path) const {
  return absl::StrCat("http://", host_, ":", port_, path);
}

std::string VarnishServer::access_log() const { return ReadFile(dir_ + "/access.log"); }

std::string VarnishServer::WaitForAccessLog(const std::string& needle,
                                            absl::Duration timeout) const {
  return WaitForFileToContain(dir_ + "/access.log", needle, timeout);
}

}  // namespace cdnwarm::testing
