/*
 * reseal.h: recomputes every checksum of a damaged index file in memory,
 * as a hostile writer would, so that what a test or a fuzzer changed
 * reaches the structure behind the checksums.
 *
 * Written from FORMAT.md, not from the writer (store/file.c): each chunk
 * checksum, each section checksum (CHUNKSUMS after the others, since it
 * covers their chunk sums), the section table's checksum and the header's.
 * Whatever is out of range is left alone: a table entry that points past
 * the file, a CHUNKSUMS section too short for the chunks. Never reads or
 * writes outside [buf, buf+size).
 */
#ifndef KZ_TEST_RESEAL_H
#define KZ_TEST_RESEAL_H

#include "format.h"
#include "kzint.h"

#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

/* The section table's checksum alone: over the table and the first 16
 * bytes of the trailer (count, entry size, table offset). */
static inline void kz_test_reseal_table(uint8_t *buf, size_t size)
{
    if (size < KZ_HEADER_SIZE + KZ_TRAILER_SIZE)
        return;
    uint8_t *t = buf + size - KZ_TRAILER_SIZE;
    uint64_t table_off = kz_load_u64(t + 8);
    if (table_off > size - KZ_TRAILER_SIZE)
        return;
    kz_store_u64(t + 16, XXH3_64bits(buf + table_off, (size_t)(size - table_off - 16)));
}

/* The header's checksum alone. */
static inline void kz_test_reseal_header(uint8_t *buf, size_t size)
{
    if (size >= KZ_HEADER_SIZE)
        kz_store_u64(buf + KZ_HDR_CHECKSUM, XXH3_64bits(buf, KZ_HDR_CHECKSUM));
}

/* Every checksum in the file. */
static inline void kz_test_reseal(uint8_t *buf, size_t size)
{
    if (size < KZ_HEADER_SIZE + KZ_TRAILER_SIZE)
        return;
    uint8_t *t = buf + size - KZ_TRAILER_SIZE;
    uint32_t n = kz_load_u32(t);
    uint64_t table_off = kz_load_u64(t + 8);
    if (table_off > size - KZ_TRAILER_SIZE ||
        (size - KZ_TRAILER_SIZE - table_off) / KZ_SECTION_ENTRY_SIZE < n) {
        kz_test_reseal_header(buf, size);
        return;
    }
    /* Find CHUNKSUMS first: the other sections' chunk sums go there. */
    uint8_t *sums = NULL, *sums_entry = NULL;
    uint64_t n_sums = 0, sums_len = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = buf + table_off + (uint64_t)i * KZ_SECTION_ENTRY_SIZE;
        uint64_t off = kz_load_u64(e + 8), len = kz_load_u64(e + 16);
        if (kz_load_u32(e) == KZ_SEC_CHUNKSUMS && off <= size && len <= size - off) {
            sums = buf + off;
            sums_len = len; /* as it is now: the sums written below may land on the table itself */
            n_sums = len / 8;
            sums_entry = e;
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = buf + table_off + (uint64_t)i * KZ_SECTION_ENTRY_SIZE;
        uint64_t off = kz_load_u64(e + 8), len = kz_load_u64(e + 16), first = kz_load_u64(e + 24);
        if (e == sums_entry || off > size || len > size - off)
            continue;
        for (uint64_t c = 0; c * KZ_CHUNK_SIZE < len; c++) {
            uint64_t at = c * KZ_CHUNK_SIZE, n_bytes = len - at < KZ_CHUNK_SIZE ? len - at : KZ_CHUNK_SIZE;
            if (sums && first < n_sums && c < n_sums - first)
                kz_store_u64(sums + 8 * (first + c), XXH3_64bits(buf + off + at, (size_t)n_bytes));
        }
        kz_store_u64(e + 32, XXH3_64bits(buf + off, (size_t)len));
    }
    if (sums_entry)
        kz_store_u64(sums_entry + 32, XXH3_64bits(sums, (size_t)sums_len));
    kz_test_reseal_table(buf, size);
    kz_test_reseal_header(buf, size);
}

#endif
