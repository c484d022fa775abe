// The admin index page (the live dashboard replaces it in a later issue). Thread contract: pure.
#include "admin/index_page.h"

namespace cw::admin {
namespace {

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

struct Link {
  const char* method;
  const char* path;
  const char* what;
};
constexpr Link kLinks[] = {
    {"GET", "/healthz", "liveness: 200 while the process runs"},
    {"GET", "/ready", "readiness: 200 when listeners are up and not draining, else 503"},
    {"GET", "/metrics", "Prometheus metrics, summed over all workers"},
    {"GET", "/api/v1/clusters", "clusters and hosts: health, weight, load, latency percentiles"},
    {"GET", "/api/v1/listeners", "listeners, their routes and access lists"},
    {"GET", "/api/v1/config", "the loaded configuration"},
    {"POST", "/api/v1/reload", "re-read the config file; a bad config is refused"},
};

}  // namespace

std::string index_page(std::string_view version) {
  std::string out =
      "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>causeway admin</title>\n"
      "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:50em}"
      "td{padding:.2em .8em}code{background:#f2f2f2;padding:0 .2em}</style></head><body>\n"
      "<h1>causeway</h1>\n<p>version ";
  out += html_escape(version);
  out += "</p>\n<table>\n";
  for (const Link& l : kLinks) {
    out += "<tr><td><code>";
    out += l.method;
    out += "</code></td><td>";
    if (std::string_view(l.method) == "GET") {
      out += "<a href=\"";
      out += l.path;
      out += "\">";
      out += l.path;
      out += "</a>";
    } else {
      out += "<code>";
      out += l.path;
      out += "</code>";
    }
    out += "</td><td>";
    out += l.what;
    out += "</td></tr>\n";
  }
  out +=
      "</table>\n<p>Reload from a shell: <code>curl -X POST http://HOST/api/v1/reload</code></p>\n"
      "</body></html>\n";
  return out;
}

}  // namespace cw::admin
