/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Unicode classes for the tokenizers, from tables generated at build time out of Debian's
 * unicode-data (tools/gen-unicode-tables.py). UTF-8 decoding follows llama.cpp's: lead-byte
 * length and continuation bytes are checked, an invalid byte decodes as U+FFFD and is skipped. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
        AID_UCD_UNDEFINED = 0x01,
        AID_UCD_NUMBER = 0x02,      /* \p{N} */
        AID_UCD_LETTER = 0x04,      /* \p{L} */
        AID_UCD_SEPARATOR = 0x08,   /* \p{Z} */
        AID_UCD_MARK = 0x10,        /* \p{M} */
        AID_UCD_PUNCTUATION = 0x20, /* \p{P} */
        AID_UCD_SYMBOL = 0x40,      /* \p{S} */
        AID_UCD_CONTROL = 0x80,     /* \p{C} except unassigned */
        AID_UCD_CATEGORY_MASK = 0xFF,
        AID_UCD_WHITESPACE = 0x100, /* White_Space property (\s) */
};

struct aid_ucd_run {
        uint32_t first; /* the run lasts until the next run's first */
        uint16_t flags;
};

struct aid_ucd_map {
        uint32_t cp, to;
};

extern const struct aid_ucd_run aid_ucd_runs[];
extern const size_t aid_ucd_n_runs;
extern const struct aid_ucd_map aid_ucd_lower[];
extern const size_t aid_ucd_n_lower;
extern const struct aid_ucd_map aid_ucd_nfd[];
extern const size_t aid_ucd_n_nfd;

/* 0 for code points above U+10FFFF (they can decode from 4-byte sequences). */
unsigned aid_ucd_flags(uint32_t cp);
uint32_t aid_ucd_tolower(uint32_t cp);
/* First code point of the canonical decomposition (the base letter of an accented one). */
uint32_t aid_ucd_nfd_first(uint32_t cp);

/* Byte length of the UTF-8 sequence a lead byte announces (1 for continuation bytes). */
size_t aid_utf8_len(uint8_t lead);
/* Decodes one code point at s[*pos], advancing *pos; invalid input yields U+FFFD and one byte. */
uint32_t aid_utf8_decode(const char *s, size_t len, size_t *pos);
/* Writes up to 4 bytes, returns the count. */
size_t aid_utf8_encode(uint32_t cp, char out[static 4]);
