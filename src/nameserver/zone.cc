// The zone: records from the registry's view, answers precomputed per (name, type), and the
// per-query path (parse, refuse or look up, copy, patch). Thread contract: see zone.h.
#include "nameserver/zone.h"

#include <arpa/inet.h>

#include <cstring>

#include "dns/name.h"

namespace cw::nameserver {
namespace {

constexpr uint16_t kAxfr = 252, kIxfr = 251;

// An A or AAAA record for `name` at `address`; false for text that is not an IP literal.
bool address_record(const std::string& name, const std::string& address, uint32_t ttl,
                    dns::Record& out) {
  std::array<uint8_t, 4> v4{};
  std::array<uint8_t, 16> v6{};
  if (inet_pton(AF_INET, address.c_str(), v4.data()) == 1) {
    out = dns::Record::a(name, ttl, v4);
    return true;
  }
  if (inet_pton(AF_INET6, address.c_str(), v6.data()) == 1) {
    out = dns::Record::aaaa(name, ttl, v6);
    return true;
  }
  return false;
}

// The wire length of a dotted name (labels, their length octets, the root).
size_t name_wire_length(std::string_view name) { return name.empty() ? 1 : name.size() + 2; }

}  // namespace

std::shared_ptr<const Zone> Zone::build(const ZoneInput& in) {
  auto z = std::shared_ptr<Zone>(new Zone());
  z->domain_ = dns::to_lower(in.domain);
  z->serial_ = in.serial;
  const std::string& d = z->domain_;
  const uint32_t ttl = in.ttl;
  z->soa_ = dns::Record::soa_record(
      d, ttl, dns::Soa{"ns." + d, "hostmaster." + d, in.serial, 3600, 600, 86400, ttl});

  auto& nodes = z->nodes_;
  // A name and every ancestor up to the apex exist: an empty non-terminal answers NODATA,
  // not NXDOMAIN (RFC 8020), so resolvers do not cut off the names below it.
  auto node = [&](const std::string& name) -> Node& {
    std::string_view n = name;
    while (n.size() > d.size()) {
      const size_t dot = n.find('.');
      if (dot == std::string_view::npos) break;
      n.remove_prefix(dot + 1);
      nodes[std::string(n)];
    }
    return nodes[name];
  };
  auto set = [&](const std::string& name, uint16_t type) -> RRset& {
    return node(name).sets[type];
  };

  set(d, dns::rr::kSOA).answers.push_back(z->soa_);
  RRset& ns = set(d, dns::rr::kNS);
  ns.answers.push_back(dns::Record::ns(d, ttl, "ns." + d));
  node("ns." + d);
  for (const std::string& a : in.ns_addresses) {
    dns::Record r;
    if (!address_record("ns." + d, a, ttl, r)) continue;
    ns.additional.push_back(r);
    set("ns." + d, r.type).answers.push_back(r);
  }

  for (const ZoneService& s : in.services) {
    const std::string sname = s.name + "." + d;
    const std::string srvname = "_" + s.name + "._tcp." + d;
    node(sname);
    node(srvname);
    for (const ZoneInstance& inst : s.instances) {
      const std::string iname = inst.id + "." + s.name + ".instance." + d;
      node(iname);
      for (const std::string& t : inst.tags) node(t + "." + sname);
      if (!inst.serving) continue;
      dns::Record target;
      if (!address_record(iname, inst.address, ttl, target)) continue;
      set(iname, target.type).answers.push_back(target);
      // The service name, its _tcp SRV name, and each of its tags' names answer for it.
      auto hand_out = [&](const std::string& name, bool addresses) {
        if (addresses) {
          dns::Record a = target;
          a.name = name;
          set(name, a.type).answers.push_back(std::move(a));
        }
        RRset& srv = set(name, dns::rr::kSRV);
        srv.answers.push_back(dns::Record::srv(name, ttl, 0, inst.weight, inst.port, iname));
        srv.additional.push_back(target);
      };
      hand_out(sname, true);
      hand_out(srvname, false);
      for (const std::string& t : inst.tags) hand_out(t + "." + sname, true);
    }
  }

  for (auto& [name, n] : nodes) {
    // RFC 8482: ANY gets one RRset, not all of them.
    for (uint16_t t : {dns::rr::kSOA, dns::rr::kA, dns::rr::kAAAA, dns::rr::kSRV}) {
      auto it = n.sets.find(t);
      if (it == n.sets.end() || it->second.answers.empty()) continue;
      RRset any;
      any.answers = it->second.answers;
      any.additional = it->second.additional;
      n.sets.emplace(dns::rr::kANY, std::move(any));
      break;
    }
    for (auto& [type, rs] : n.sets) precompute(name, type, rs);
  }
  return z;
}

void Zone::precompute(const std::string& name, uint16_t type, RRset& set) {
  const size_t n = set.answers.size();
  const bool rotates = type == dns::rr::kA || type == dns::rr::kAAAA || type == dns::rr::kSRV ||
                       type == dns::rr::kANY;
  set.rotations = rotates && n > 1 ? std::min(n, kMaxRotations) : 1;
  for (int v = 0; v < 4; ++v) {
    dns::Query q;
    q.question = dns::Question{name, type, dns::kClassIN};
    q.has_question = true;
    q.qname_lower = name;
    q.edns.present = v == 1 || v == 3;
    q.edns.udp_size = dns::kEdnsPayload;
    const size_t limit = v == 0 ? dns::kPlainUdpLimit : v == 1 ? dns::kEdnsPayload : dns::kTcpLimit;
    set.wire[size_t(v)].reserve(set.rotations);
    for (size_t r = 0; r < set.rotations; ++r) {
      set.wire[size_t(v)].push_back(build_wire(q, set, r, limit));
    }
  }
}

std::string Zone::build_wire(const dns::Query& q, const RRset& set, size_t rotation,
                             size_t limit) {
  dns::ResponseBuilder b(q, limit);
  b.set_authoritative(true);
  const size_t n = set.answers.size();
  const size_t start = n ? rotation * n / set.rotations : 0;
  for (size_t i = 0; i < n; ++i) {
    if (!b.add_answer(set.answers[(start + i) % n])) break;  // TC: the rest goes over TCP
  }
  if (!b.truncated()) {
    // Addresses of SRV targets, in the answers' order; those that do not fit are left out.
    const size_t m = set.additional.size();
    const bool aligned = m == n;
    for (size_t i = 0; i < m; ++i) {
      b.add_additional(set.additional[aligned ? (start + i) % m : i]);
    }
  }
  return b.finish();
}

bool Zone::answer(std::string_view query, Transport t, uint32_t rotation, std::string& out,
                  dns::Query* outside) const {
  out.clear();
  dns::QueryParse pq = dns::parse_query(query);
  const dns::Query& q = pq.query;
  switch (pq.status) {
    case dns::ParseStatus::kDrop:
      return false;
    case dns::ParseStatus::kFormErr:
      out = dns::error_response(q, dns::rcode::kFormErr);
      return false;
    case dns::ParseStatus::kOk:
      break;
  }
  if (q.header.opcode != dns::kOpcodeQuery) {
    out = dns::error_response(q, dns::rcode::kNotImp);
    return false;
  }
  if (q.edns.present && q.edns.version > 0) {
    out = dns::error_response(q, dns::rcode::kBadVers);  // RFC 6891 6.1.3
    return false;
  }
  const std::string& name = q.qname_lower;
  const bool in_zone = name == domain_ || (name.size() > domain_.size() &&
                                           name.ends_with(domain_) &&
                                           name[name.size() - domain_.size() - 1] == '.');
  const uint16_t type = q.question.type;
  const bool ordinary = q.question.qclass == dns::kClassIN && type != kAxfr && type != kIxfr;
  if (!in_zone && ordinary && outside) {
    *outside = std::move(pq.query);
    return true;
  }
  // Other classes, zone transfers and names we are not authoritative for (no recursion).
  if (!in_zone || !ordinary) {
    out = dns::error_response(q, dns::rcode::kRefused);
    return false;
  }
  const size_t limit = t == Transport::kTcp ? dns::kTcpLimit : dns::udp_limit(q);
  auto n = nodes_.find(name);
  if (n == nodes_.end()) {
    out = dns::negative_response(q, dns::rcode::kNxDomain, soa_, limit);
    return false;
  }
  auto s = n->second.sets.find(type);
  if (s == n->second.sets.end() || s->second.answers.empty()) {
    out = dns::negative_response(q, dns::rcode::kNoError, soa_, limit);
    return false;
  }
  const RRset& set = s->second;
  const size_t r = rotation % set.rotations;
  int v;
  if (t == Transport::kTcp) {
    v = q.edns.present ? 3 : 2;
  } else if (!q.edns.present) {
    v = 0;
  } else if (limit == dns::kEdnsPayload) {
    v = 1;
  } else {
    out = build_wire(q, set, r, limit);  // a client size between 512 and 1232: rare
    return false;
  }
  out = set.wire[size_t(v)][r];
  // The stored answer was built for ID 0, RD and CD clear, the name in lower case.
  out[0] = query[0];
  out[1] = query[1];
  out[2] = char((uint8_t(out[2]) & ~0x01u) | (uint8_t(query[2]) & 0x01u));
  out[3] = char((uint8_t(out[3]) & ~0x10u) | (uint8_t(query[3]) & 0x10u));
  // Echo the question's case (resolvers using 0x20 randomisation check it): same name, same
  // length, unless the query compressed it (then the lower-case copy stands).
  const size_t len = name_wire_length(name);
  if (query.size() >= dns::kHeaderSize + len && out.size() >= dns::kHeaderSize + len &&
      dns::iequals(query.substr(dns::kHeaderSize, len),
                   std::string_view(out).substr(dns::kHeaderSize, len))) {
    std::memcpy(out.data() + dns::kHeaderSize, query.data() + dns::kHeaderSize, len);
  }
  return false;
}

}  // namespace cw::nameserver
