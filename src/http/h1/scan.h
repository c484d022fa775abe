// Character-class scanning primitives for the head parser (SSE2 where available, else tables).
// Thread contract: pure inline functions; any thread. Internal to http/h1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "http/h1/tokens.h"

namespace cw::http::h1 {

// Calls on_lf(i) for each '\n' at index i in base[pos, limit), in order, until it returns
// non-zero; returns that value, or 0 when none is left.
template <class OnLf>
inline int for_each_lf(const char* base, size_t pos, size_t limit, OnLf&& on_lf) {
#if defined(__SSE2__)
  const __m128i lf = _mm_set1_epi8('\n');
  for (; pos + 16 <= limit; pos += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + pos));
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf)));
    while (mask != 0) {
      const int r = on_lf(pos + static_cast<size_t>(__builtin_ctz(mask)));
      if (r != 0) return r;
      mask &= mask - 1;
    }
  }
#endif
  for (; pos < limit; ++pos) {
    if (base[pos] != '\n') continue;
    const int r = on_lf(pos);
    if (r != 0) return r;
  }
  return 0;
}

// Advances p over characters of class `cls`. Never runs past the head: CR and LF belong to
// no class and the head ends in CRLFCRLF.
inline const char* scan(const char* p, uint8_t cls) {
  while ((detail::kCharClass[static_cast<unsigned char>(*p)] & cls) != 0) ++p;
  return p;
}

// scan() for field values (HTAB, SP, VCHAR, obs-text), 16 bytes at a time while they fit
// before `limit` (the end of the head).
inline const char* scan_value(const char* p, const char* limit) {
#if defined(__SSE2__)
  const __m128i max_ctl = _mm_set1_epi8(0x1f);
  const __m128i tab = _mm_set1_epi8('\t');
  const __m128i del = _mm_set1_epi8(0x7f);
  for (; limit - p >= 16; p += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i bad = _mm_cmpeq_epi8(_mm_min_epu8(v, max_ctl), v);  // v <= 0x1f
    bad = _mm_andnot_si128(_mm_cmpeq_epi8(v, tab), bad);
    bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, del));
    const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(bad));
    if (mask != 0) return p + __builtin_ctz(mask);
  }
#endif
  return scan(p, detail::kValueChar);
}

// scan() for the request-target (VCHAR: 0x21-0x7e), 16 bytes at a time before `limit`.
inline const char* scan_target(const char* p, const char* limit) {
#if defined(__SSE2__)
  const __m128i bias = _mm_set1_epi8(static_cast<char>(0x80));
  const __m128i lo = _mm_set1_epi8(static_cast<char>(0x21 ^ 0x80));
  const __m128i hi = _mm_set1_epi8(static_cast<char>(0x7e ^ 0x80));
  for (; limit - p >= 16; p += 16) {
    const __m128i v = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), bias);
    const __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, lo), _mm_cmpgt_epi8(v, hi));
    const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(bad));
    if (mask != 0) return p + __builtin_ctz(mask);
  }
#endif
  return scan(p, detail::kTargetChar);
}

// std::string::assign goes through _M_replace (aliasing checks); clear + append is a memcpy
// when the capacity is already there, which it is for a reused head.
inline void set_string(std::string& s, std::string_view v) {
  s.clear();
  s.append(v.data(), v.size());
}

}  // namespace cw::http::h1
