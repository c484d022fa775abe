// HeaderMap, request-target helpers and reason phrases (see message.h).
// Thread contract: pure functions over plain values; any thread.
#include "http/message.h"

#include <algorithm>

namespace cw::http {
namespace {

constexpr unsigned char ascii_lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c | 0x20) : c;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(static_cast<unsigned char>(a[i])) !=
        ascii_lower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

void HeaderMap::add(std::string_view name, std::string_view value) {
  items_.push_back(Header{std::string(name), std::string(value), lookup_header(name)});
}

const std::string* HeaderMap::get(std::string_view name) const {
  for (const Header& h : items_) {
    if (iequals(h.name, name)) return &h.value;
  }
  return nullptr;
}

std::string_view HeaderMap::get_or(std::string_view name, std::string_view fallback) const {
  const std::string* v = get(name);
  return v != nullptr ? std::string_view(*v) : fallback;
}

size_t HeaderMap::count(std::string_view name) const {
  return static_cast<size_t>(std::count_if(items_.begin(), items_.end(),
                                           [&](const Header& h) { return iequals(h.name, name); }));
}

void HeaderMap::set(std::string_view name, std::string_view value) {
  auto first = std::find_if(items_.begin(), items_.end(),
                            [&](const Header& h) { return iequals(h.name, name); });
  if (first == items_.end()) {
    add(name, value);
    return;
  }
  first->value.assign(value);
  auto rest = std::remove_if(first + 1, items_.end(),
                             [&](const Header& h) { return iequals(h.name, name); });
  items_.erase(rest, items_.end());
}

size_t HeaderMap::remove(std::string_view name) {
  auto rest = std::remove_if(items_.begin(), items_.end(),
                             [&](const Header& h) { return iequals(h.name, name); });
  size_t n = static_cast<size_t>(items_.end() - rest);
  items_.erase(rest, items_.end());
  return n;
}

bool HeaderMap::has_token(std::string_view name, std::string_view token) const {
  bool found = false;
  for (const Header& h : items_) {
    if (!iequals(h.name, name)) continue;
    for_each_list_item(h.value,
                       [&](std::string_view item) { found = found || iequals(item, token); });
    if (found) return true;
  }
  return false;
}

std::string_view RequestHead::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view RequestHead::query() const {
  std::string_view t = target;
  size_t q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 102:
      return "Processing";
    case 103:
      return "Early Hints";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 207:
      return "Multi-Status";
    case 208:
      return "Already Reported";
    case 226:
      return "IM Used";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 305:
      return "Use Proxy";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 418:
      return "I'm a teapot";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 423:
      return "Locked";
    case 424:
      return "Failed Dependency";
    case 425:
      return "Too Early";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 451:
      return "Unavailable For Legal Reasons";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    case 506:
      return "Variant Also Negotiates";
    case 507:
      return "Insufficient Storage";
    case 508:
      return "Loop Detected";
    case 510:
      return "Not Extended";
    case 511:
      return "Network Authentication Required";
    default:
      return "Unknown";
  }
}

}  // namespace cw::http
