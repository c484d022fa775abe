// The gateway's JSON in and out. Parsing goes through nlohmann's non-throwing entry point and
// reads fields only after checking their type, so no input can raise an exception here.
// Thread contract: pure; any thread.
#include "etcd/codec.h"

#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>

namespace cw::etcd {
namespace {

using json = nlohmann::json;

Unexpected<std::string> bad(std::string what) { return Unexpected<std::string>{std::move(what)}; }

// The body as a JSON object.
Parsed<json> parse_object(std::string_view body, const char* what) {
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad(std::string(what) + ": not JSON");
  if (!j.is_object()) return bad(std::string(what) + ": not a JSON object");
  return j;
}

// The member `name` of object `o`, or nullptr when absent or null (proto3 JSON may write
// either for a zero value).
const json* member(const json& o, const char* name) {
  auto it = o.find(name);
  if (it == o.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string where(std::string_view at, const char* name) {
  std::string w(at);
  if (!w.empty()) w += '.';
  return w + name;
}

// int64 fields: decimal strings from the gateway; plain JSON integers accepted too.
Parsed<int64_t> get_int(const json& o, const char* name, std::string_view at) {
  const json* v = member(o, name);
  if (!v) return int64_t{0};
  if (v->is_number_integer() && !v->is_number_unsigned()) return v->get<int64_t>();
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u <= uint64_t(std::numeric_limits<int64_t>::max())) return int64_t(u);
  } else if (v->is_string()) {
    const std::string& s = v->get_ref<const std::string&>();
    int64_t out = 0;
    const char* first = s.data();
    const char* last = s.data() + s.size();
    auto [ptr, ec] = std::from_chars(first, last, out);
    if (!s.empty() && ec == std::errc() && ptr == last) return out;
  }
  return bad(where(at, name) + " is not an int64");
}

Parsed<bool> get_bool(const json& o, const char* name, std::string_view at) {
  const json* v = member(o, name);
  if (!v) return false;
  if (!v->is_boolean()) return bad(where(at, name) + " is not a boolean");
  return v->get<bool>();
}

Parsed<std::string> get_string(const json& o, const char* name, std::string_view at) {
  const json* v = member(o, name);
  if (!v) return std::string();
  if (!v->is_string()) return bad(where(at, name) + " is not a string");
  return v->get<std::string>();
}

Parsed<std::string> get_bytes(const json& o, const char* name, std::string_view at) {
  auto s = get_string(o, name, at);
  if (!s) return s;
  auto b = base64_decode(*s);
  if (!b) return bad(where(at, name) + ": " + b.error());
  return b;
}

// An object member that must be there ("header"), or an optional one (nullptr when absent).
Parsed<const json*> get_object(const json& o, const char* name, std::string_view at,
                               bool required) {
  const json* v = member(o, name);
  if (!v) {
    if (required) return bad(where(at, name) + " is missing");
    return static_cast<const json*>(nullptr);
  }
  if (!v->is_object()) return bad(where(at, name) + " is not an object");
  return v;
}

// header.revision of a response object (0 when etcd left it out).
Parsed<int64_t> header_revision(const json& o, std::string_view at) {
  auto h = get_object(o, "header", at, true);
  if (!h) return Unexpected{h.error()};
  return get_int(**h, "revision", where(at, "header"));
}

Parsed<KeyValue> parse_kv(const json& o, const std::string& at) {
  KeyValue kv;
  auto key = get_bytes(o, "key", at);
  if (!key) return Unexpected{key.error()};
  kv.key = std::move(*key);
  auto value = get_bytes(o, "value", at);
  if (!value) return Unexpected{value.error()};
  kv.value = std::move(*value);
  const std::pair<const char*, int64_t*> ints[] = {{"create_revision", &kv.create_revision},
                                                   {"mod_revision", &kv.mod_revision},
                                                   {"version", &kv.version},
                                                   {"lease", &kv.lease}};
  for (auto [name, out] : ints) {
    auto v = get_int(o, name, at);
    if (!v) return Unexpected{v.error()};
    *out = *v;
  }
  return kv;
}

// A RangeResponse object (top level, or inside a txn's response_range).
Parsed<RangeResult> parse_range_object(const json& o, std::string_view at) {
  RangeResult r;
  auto rev = header_revision(o, at);
  if (!rev) return Unexpected{rev.error()};
  r.revision = *rev;
  auto count = get_int(o, "count", at);
  if (!count) return Unexpected{count.error()};
  r.count = *count;
  if (const json* kvs = member(o, "kvs")) {
    if (!kvs->is_array()) return bad(where(at, "kvs") + " is not an array");
    r.kvs.reserve(kvs->size());
    for (size_t i = 0; i < kvs->size(); ++i) {
      const std::string kv_at = where(at, "kvs") + "[" + std::to_string(i) + "]";
      if (!(*kvs)[i].is_object()) return bad(kv_at + " is not an object");
      auto kv = parse_kv((*kvs)[i], kv_at);
      if (!kv) return Unexpected{kv.error()};
      r.kvs.push_back(std::move(*kv));
    }
  }
  return r;
}

const char* target_name(Compare::Target t) {
  switch (t) {
    case Compare::Target::kVersion:
      return "VERSION";
    case Compare::Target::kCreateRevision:
      return "CREATE";
    case Compare::Target::kModRevision:
      return "MOD";
    case Compare::Target::kValue:
      return "VALUE";
    case Compare::Target::kLease:
      return "LEASE";
  }
  return "VERSION";
}

const char* target_field(Compare::Target t) {
  switch (t) {
    case Compare::Target::kVersion:
      return "version";
    case Compare::Target::kCreateRevision:
      return "create_revision";
    case Compare::Target::kModRevision:
      return "mod_revision";
    case Compare::Target::kValue:
      return "value";
    case Compare::Target::kLease:
      return "lease";
  }
  return "version";
}

const char* op_name(Compare::Op op) {
  switch (op) {
    case Compare::Op::kEqual:
      return "EQUAL";
    case Compare::Op::kGreater:
      return "GREATER";
    case Compare::Op::kLess:
      return "LESS";
    case Compare::Op::kNotEqual:
      return "NOT_EQUAL";
  }
  return "EQUAL";
}

json txn_op(const TxnOp& op) {
  json body = json::object();
  body["key"] = base64_encode(op.key);
  json out = json::object();
  switch (op.kind) {
    case TxnOp::Kind::kPut:
      body["value"] = base64_encode(op.value);
      if (op.lease != 0) body["lease"] = std::to_string(op.lease);
      out["request_put"] = std::move(body);
      break;
    case TxnOp::Kind::kDelete:
      if (!op.range_end.empty()) body["range_end"] = base64_encode(op.range_end);
      out["request_delete_range"] = std::move(body);
      break;
    case TxnOp::Kind::kRange:
      if (!op.range_end.empty()) body["range_end"] = base64_encode(op.range_end);
      out["request_range"] = std::move(body);
      break;
  }
  return out;
}

// Either shape of the gateway's error answer (see codec.h).
Parsed<GatewayError> gateway_error_of(const json& j) {
  const json* e = member(j, "error");
  if (!e) return bad("error body: no \"error\"");
  GatewayError out;
  if (e->is_object()) {  // a stream's error
    auto code = get_int(*e, "grpc_code", "error");
    if (!code) return bad("error body: " + code.error());
    auto msg = get_string(*e, "message", "error");
    if (!msg) return bad("error body: " + msg.error());
    out.code = int(*code);
    out.message = std::move(*msg);
  } else if (e->is_string()) {
    auto code = get_int(j, "code", "");
    if (!code) return bad("error body: " + code.error());
    auto msg = get_string(j, "message", "");
    if (!msg) return bad("error body: " + msg.error());
    out.code = member(j, "code") ? int(*code) : 2;
    out.message = msg->empty() ? e->get<std::string>() : std::move(*msg);
  } else {
    return bad("error body: \"error\" is neither a string nor an object");
  }
  if (out.message.empty()) out.message = "(no message)";
  return out;
}

// The "result" object of a streamed answer ({"result":{..}}), or the stream's error.
Parsed<const json*> stream_result(const json& j, const char* what) {
  if (member(j, "error")) {
    auto ge = gateway_error_of(j);
    if (ge) return bad(std::string(what) + ": etcd: " + ge->message);
    return bad(std::string(what) + ": " + ge.error());
  }
  auto r = get_object(j, "result", "", true);
  if (!r) return bad(std::string(what) + ": " + r.error());
  return r;
}

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int8_t sextet(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return int8_t(c - 'A');
  if (c >= 'a' && c <= 'z') return int8_t(c - 'a' + 26);
  if (c >= '0' && c <= '9') return int8_t(c - '0' + 52);
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

// ---- bytes ----------------------------------------------------------------------------------

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16 | uint32_t(uint8_t(in[i + 1])) << 8 |
                       uint32_t(uint8_t(in[i + 2]));
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t left = in.size() - i;
  if (left > 0) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    if (left == 2) v |= uint32_t(uint8_t(in[i + 1])) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += left == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Parsed<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return bad("bad base64 (length " + std::to_string(in.size()) + ")");
  size_t pad = 0;
  if (!in.empty() && in.back() == '=') pad = in.size() >= 2 && in[in.size() - 2] == '=' ? 2 : 1;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    const size_t real = last ? 4 - pad : 4;  // characters that carry bits in this quantum
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      int8_t s = 0;
      if (k < real) {
        s = sextet(static_cast<unsigned char>(in[i + k]));
        if (s < 0) return bad("bad base64 (byte " + std::to_string(i + k) + ")");
      }
      v = v << 6 | uint32_t(s);
    }
    out += char(v >> 16);
    if (real > 2) out += char((v >> 8) & 0xff);
    if (real > 3) out += char(v & 0xff);
  }
  return out;
}

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    const auto c = static_cast<unsigned char>(end.back());
    if (c < 0xff) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

// ---- requests -------------------------------------------------------------------------------

std::string range_request(std::string_view key, std::string_view range_end, bool count_only) {
  json j = json::object();
  j["key"] = base64_encode(key);
  if (!range_end.empty()) j["range_end"] = base64_encode(range_end);
  if (count_only) j["count_only"] = true;
  return j.dump();
}

std::string put_request(std::string_view key, std::string_view value, int64_t lease) {
  json j = json::object();
  j["key"] = base64_encode(key);
  j["value"] = base64_encode(value);
  if (lease != 0) j["lease"] = std::to_string(lease);
  return j.dump();
}

std::string deleterange_request(std::string_view key, std::string_view range_end) {
  json j = json::object();
  j["key"] = base64_encode(key);
  if (!range_end.empty()) j["range_end"] = base64_encode(range_end);
  return j.dump();
}

std::string txn_request(const std::vector<Compare>& cmp, const std::vector<TxnOp>& success,
                        const std::vector<TxnOp>& failure) {
  json compare = json::array();
  for (const Compare& c : cmp) {
    json o = json::object();
    o["key"] = base64_encode(c.key);
    o["target"] = target_name(c.target);
    o["result"] = op_name(c.op);
    if (c.target == Compare::Target::kValue) {
      o["value"] = base64_encode(c.value);
    } else {
      o[target_field(c.target)] = std::to_string(c.number);
    }
    compare.push_back(std::move(o));
  }
  json ok = json::array();
  for (const TxnOp& op : success) ok.push_back(txn_op(op));
  json ko = json::array();
  for (const TxnOp& op : failure) ko.push_back(txn_op(op));
  json j = json::object();
  j["compare"] = std::move(compare);
  j["success"] = std::move(ok);
  j["failure"] = std::move(ko);
  return j.dump();
}

std::string lease_grant_request(int64_t ttl_s) {
  return json{{"TTL", std::to_string(ttl_s)}}.dump();
}

std::string lease_keepalive_request(int64_t id) { return json{{"ID", std::to_string(id)}}.dump(); }

std::string lease_revoke_request(int64_t id) { return json{{"ID", std::to_string(id)}}.dump(); }

std::string watch_create_request(std::string_view key, std::string_view range_end,
                                 int64_t start_revision, bool progress_notify) {
  json c = json::object();
  c["key"] = base64_encode(key);
  if (!range_end.empty()) c["range_end"] = base64_encode(range_end);
  if (start_revision > 0) c["start_revision"] = std::to_string(start_revision);
  if (progress_notify) c["progress_notify"] = true;
  return json{{"create_request", std::move(c)}}.dump();
}

// ---- answers --------------------------------------------------------------------------------

Parsed<RangeResult> parse_range_response(std::string_view body) {
  auto j = parse_object(body, "range response");
  if (!j) return Unexpected{j.error()};
  auto r = parse_range_object(*j, "");
  if (!r) return bad("range response: " + r.error());
  return r;
}

Parsed<int64_t> parse_put_response(std::string_view body) {
  auto j = parse_object(body, "put response");
  if (!j) return Unexpected{j.error()};
  auto rev = header_revision(*j, "");
  if (!rev) return bad("put response: " + rev.error());
  return rev;
}

Parsed<int64_t> parse_deleterange_response(std::string_view body) {
  auto j = parse_object(body, "deleterange response");
  if (!j) return Unexpected{j.error()};
  auto rev = header_revision(*j, "");
  if (!rev) return bad("deleterange response: " + rev.error());
  auto deleted = get_int(*j, "deleted", "");
  if (!deleted) return bad("deleterange response: " + deleted.error());
  return rev;
}

Parsed<TxnResult> parse_txn_response(std::string_view body) {
  auto j = parse_object(body, "txn response");
  if (!j) return Unexpected{j.error()};
  TxnResult t;
  auto rev = header_revision(*j, "");
  if (!rev) return bad("txn response: " + rev.error());
  t.revision = *rev;
  auto ok = get_bool(*j, "succeeded", "");
  if (!ok) return bad("txn response: " + ok.error());
  t.succeeded = *ok;
  if (const json* rs = member(*j, "responses")) {
    if (!rs->is_array()) return bad("txn response: responses is not an array");
    for (size_t i = 0; i < rs->size(); ++i) {
      const std::string at = "responses[" + std::to_string(i) + "]";
      const json& op = (*rs)[i];
      if (!op.is_object()) return bad("txn response: " + at + " is not an object");
      auto range = get_object(op, "response_range", at, false);
      if (!range) return bad("txn response: " + range.error());
      if (*range) {
        auto r = parse_range_object(**range, at + ".response_range");
        if (!r) return bad("txn response: " + r.error());
        t.ranges.push_back(std::move(*r));
      } else if (!member(op, "response_put") && !member(op, "response_delete_range") &&
                 !member(op, "response_txn")) {
        return bad("txn response: " + at + " is no known response");
      }
    }
  }
  return t;
}

Parsed<Lease> parse_lease_grant_response(std::string_view body) {
  auto j = parse_object(body, "lease grant response");
  if (!j) return Unexpected{j.error()};
  auto refused = get_string(*j, "error", "");
  if (!refused) return bad("lease grant response: " + refused.error());
  if (!refused->empty()) return bad("lease grant refused: " + *refused);
  Lease l;
  auto id = get_int(*j, "ID", "");
  if (!id) return bad("lease grant response: " + id.error());
  auto ttl = get_int(*j, "TTL", "");
  if (!ttl) return bad("lease grant response: " + ttl.error());
  if (*id == 0) return bad("lease grant response: ID is missing");
  l.id = *id;
  l.ttl_s = *ttl;
  return l;
}

Parsed<int64_t> parse_lease_keepalive_response(std::string_view body) {
  auto j = parse_object(body, "lease keepalive response");
  if (!j) return Unexpected{j.error()};
  auto r = stream_result(*j, "lease keepalive response");
  if (!r) return Unexpected{r.error()};
  auto rev = header_revision(**r, "result");
  if (!rev) return bad("lease keepalive response: " + rev.error());
  auto ttl = get_int(**r, "TTL", "result");
  if (!ttl) return bad("lease keepalive response: " + ttl.error());
  return *ttl < 0 ? 0 : *ttl;
}

Parsed<void> parse_lease_revoke_response(std::string_view body) {
  auto j = parse_object(body, "lease revoke response");
  if (!j) return Unexpected{j.error()};
  auto rev = header_revision(*j, "");
  if (!rev) return bad("lease revoke response: " + rev.error());
  return {};
}

Parsed<WatchMessage> parse_watch_message(std::string_view body) {
  auto j = parse_object(body, "watch message");
  if (!j) return Unexpected{j.error()};
  auto r = stream_result(*j, "watch message");
  if (!r) return Unexpected{r.error()};
  const json& o = **r;
  auto fail = [](const std::string& e) { return bad("watch message: " + e); };
  WatchMessage m;
  auto rev = header_revision(o, "result");
  if (!rev) return fail(rev.error());
  m.revision = *rev;
  auto created = get_bool(o, "created", "result");
  if (!created) return fail(created.error());
  m.created = *created;
  auto canceled = get_bool(o, "canceled", "result");
  if (!canceled) return fail(canceled.error());
  m.canceled = *canceled;
  auto compact = get_int(o, "compact_revision", "result");
  if (!compact) return fail(compact.error());
  m.compact_revision = *compact;
  auto reason = get_string(o, "cancel_reason", "result");
  if (!reason) return fail(reason.error());
  m.cancel_reason = std::move(*reason);
  if (const json* evs = member(o, "events")) {
    if (!evs->is_array()) return fail("result.events is not an array");
    m.events.reserve(evs->size());
    for (size_t i = 0; i < evs->size(); ++i) {
      const std::string at = "result.events[" + std::to_string(i) + "]";
      const json& e = (*evs)[i];
      if (!e.is_object()) return fail(at + " is not an object");
      Event ev;
      auto type = get_string(e, "type", at);
      if (!type) return fail(type.error());
      if (*type == "DELETE") {
        ev.type = Event::Type::kDelete;
      } else if (!type->empty() && *type != "PUT") {
        return fail(at + ".type is \"" + *type + "\"");
      }
      auto kv = get_object(e, "kv", at, true);
      if (!kv) return fail(kv.error());
      auto parsed = parse_kv(**kv, at + ".kv");
      if (!parsed) return fail(parsed.error());
      ev.kv = std::move(*parsed);
      m.events.push_back(std::move(ev));
    }
  }
  return m;
}

Parsed<GatewayError> parse_gateway_error(std::string_view body) {
  auto j = parse_object(body, "error body");
  if (!j) return Unexpected{j.error()};
  return gateway_error_of(*j);
}

// ---- streams --------------------------------------------------------------------------------

bool JsonObjectSplitter::scan(char c) {
  if (in_string_) {
    if (escaped_) {
      escaped_ = false;
    } else if (c == '\\') {
      escaped_ = true;
    } else if (c == '"') {
      in_string_ = false;
    }
    return false;
  }
  switch (c) {
    case '"':
      in_string_ = true;
      return false;
    case '{':
    case '[':
      ++depth_;
      return false;
    case '}':
    case ']':
      return --depth_ == 0;
    default:
      return false;
  }
}

}  // namespace cw::etcd
