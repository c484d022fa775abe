// Reading one response into an Answer. Thread contract: see answer.h.
#include "resolver/answer.h"

#include <arpa/inet.h>

#include <algorithm>
#include <limits>

#include "dns/name.h"

namespace cw::resolver {

std::string qtype_name(uint16_t qtype) {
  switch (qtype) {
    case dns::rr::kA: return "A";
    case dns::rr::kAAAA: return "AAAA";
    case dns::rr::kSRV: return "SRV";
    default: return std::to_string(qtype);
  }
}

std::string address_text(const dns::Record& r) {
  char buf[INET6_ADDRSTRLEN] = {};
  const int family = r.type == dns::rr::kA ? AF_INET : AF_INET6;
  if (!inet_ntop(family, r.addr.data(), buf, sizeof buf)) return {};
  return buf;
}

namespace {

std::string rcode_text(uint16_t rc) {
  switch (rc) {
    case dns::rcode::kFormErr: return "FORMERR";
    case dns::rcode::kServFail: return "SERVFAIL";
    case dns::rcode::kNotImp: return "NOTIMP";
    case dns::rcode::kRefused: return "REFUSED";
    default: return "RCODE " + std::to_string(rc);
  }
}

// The negative TTL of RFC 2308 5: from the SOA in authority, min(its TTL, its MINIMUM).
void negative(const dns::Message& m, bool nxdomain, Answer& a) {
  a.negative = true;
  a.nxdomain = nxdomain;
  a.addresses.clear();
  a.srv.clear();
  for (const dns::Record& r : m.authority) {
    if (r.type != dns::rr::kSOA) continue;
    a.ttl_s = std::min(r.ttl, r.soa.minimum);
    a.cacheable = true;
    return;
  }
  a.ttl_s = 0;
  a.cacheable = false;  // no SOA: nothing says how long the name stays absent
}

}  // namespace

Result<Answer, std::string> read_answer(const dns::Message& m, std::string_view qname,
                                        uint16_t qtype) {
  if (m.questions.size() != 1 || !dns::iequals(m.questions[0].name, qname) ||
      m.questions[0].type != qtype) {
    return Unexpected{std::string("the response answers another question")};
  }
  const uint16_t rc = m.rcode();
  Answer a;
  if (rc == dns::rcode::kNxDomain) {
    negative(m, true, a);
    return a;
  }
  if (rc != dns::rcode::kNoError) return Unexpected{rcode_text(rc)};

  // Follow CNAMEs from the question's name; every record read on the way bounds the TTL.
  uint32_t ttl = std::numeric_limits<uint32_t>::max();
  std::string current(qname);
  for (int hop = 0;; ++hop) {
    bool found = false;
    const dns::Record* cname = nullptr;
    for (const dns::Record& r : m.answers) {
      if (!dns::iequals(r.name, current)) continue;
      if (r.type == qtype) {
        found = true;
        ttl = std::min(ttl, r.ttl);
        if (qtype == dns::rr::kSRV) {
          a.srv.push_back({r.priority, r.weight, r.port, r.target, {}});
        } else {
          a.addresses.push_back(address_text(r));
        }
      } else if (r.type == dns::rr::kCNAME && !cname) {
        cname = &r;
      }
    }
    if (found || !cname) break;
    if (hop + 1 >= kMaxCnameChain) return Unexpected{std::string("CNAME chain too long")};
    ttl = std::min(ttl, cname->ttl);
    current = cname->target;
  }
  if (a.addresses.empty() && a.srv.empty()) {
    negative(m, false, a);  // NODATA (also at the end of a CNAME chain)
    return a;
  }
  // SRV targets' addresses given as additional records (RFC 2782): used, and their TTLs count.
  for (SrvTarget& t : a.srv) {
    for (const dns::Record& r : m.additional) {
      if ((r.type != dns::rr::kA && r.type != dns::rr::kAAAA) || !dns::iequals(r.name, t.target))
        continue;
      t.addresses.push_back(address_text(r));
      ttl = std::min(ttl, r.ttl);
    }
  }
  a.ttl_s = ttl;
  return a;
}

}  // namespace cw::resolver
