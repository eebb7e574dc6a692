/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unicode.h"

unsigned aid_ucd_flags(uint32_t cp)
{
        if (cp >= 0x110000)
                return 0;
        size_t lo = 0, hi = aid_ucd_n_runs;
        while (hi - lo > 1) {
                size_t mid = lo + (hi - lo) / 2;
                if (aid_ucd_runs[mid].first <= cp)
                        lo = mid;
                else
                        hi = mid;
        }
        return aid_ucd_runs[lo].flags;
}

static uint32_t map_lookup(const struct aid_ucd_map *map, size_t n, uint32_t cp)
{
        size_t lo = 0, hi = n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (map[mid].cp == cp)
                        return map[mid].to;
                if (map[mid].cp < cp)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return cp;
}

uint32_t aid_ucd_tolower(uint32_t cp)
{
        if (cp < 0x80)
                return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
        return map_lookup(aid_ucd_lower, aid_ucd_n_lower, cp);
}

uint32_t aid_ucd_nfd_first(uint32_t cp)
{
        /* Hangul syllables decompose algorithmically (Unicode 3.12); the leading jamo is first. */
        if (cp >= 0xAC00 && cp <= 0xD7A3)
                return 0x1100 + (cp - 0xAC00) / 588;
        return map_lookup(aid_ucd_nfd, aid_ucd_n_nfd, cp);
}

size_t aid_utf8_len(uint8_t lead)
{
        static const uint8_t lengths[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
        return lengths[lead >> 4];
}

uint32_t aid_utf8_decode(const char *str, size_t len, size_t *pos)
{
        const uint8_t *s = (const uint8_t *)str + *pos;
        size_t left = len - *pos;
        size_t n;
        uint32_t cp;

        if (!(s[0] & 0x80)) {
                *pos += 1;
                return s[0];
        }
        if (!(s[0] & 0x40))
                goto invalid;
        if (!(s[0] & 0x20)) {
                n = 2;
                cp = s[0] & 0x1F;
        } else if (!(s[0] & 0x10)) {
                n = 3;
                cp = s[0] & 0x0F;
        } else if (!(s[0] & 0x08)) {
                n = 4;
                cp = s[0] & 0x07;
        } else
                goto invalid;
        if (left < n)
                goto invalid;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xC0) != 0x80)
                        goto invalid;
                cp = (cp << 6) | (s[i] & 0x3F);
        }
        *pos += n;
        return cp;
invalid:
        *pos += 1;
        return 0xFFFD;
}

size_t aid_utf8_encode(uint32_t cp, char out[static 4])
{
        if (cp < 0x80) {
                out[0] = (char)cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char)(0xC0 | (cp >> 6));
                out[1] = (char)(0x80 | (cp & 0x3F));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char)(0xE0 | (cp >> 12));
                out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[2] = (char)(0x80 | (cp & 0x3F));
                return 3;
        }
        out[0] = (char)(0xF0 | ((cp >> 18) & 0x07));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
}
