/* SPDX-License-Identifier: MIT */
/* fuzz/fuzz_utf8.h -- the harnesses' own UTF-8 check (fuzz_probe_json.c,
   fuzz_probe_roundtrip.c): written apart from parx's parx__utf8_len, so
   that the two check each other. Include after <stddef.h> and <stdint.h>. */
#ifndef PARX_FUZZ_UTF8_H
#define PARX_FUZZ_UTF8_H

/* One UTF-8 sequence at s[0..avail): its length, or 0 (RFC 3629: no
   overlong forms, no surrogates, nothing past U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
    size_t len = s[0] < 0x80 ? 1 : s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
    if ((s[0] >= 0x80 && s[0] < 0xC2) || s[0] > 0xF4 || len > avail)
        return 0;
    uint32_t cp = len == 1 ? s[0] : s[0] & (0x7Fu >> len);
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3Fu);
    }
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

#endif
