/*
 * format.h: the constants of the on-disk index, as FORMAT.md specifies them.
 *
 * On-disk codes are never renumbered: a new section or flag gets a new
 * number, and the format version changes when an old reader could misread
 * a new file.
 */
#ifndef KZ_FORMAT_H
#define KZ_FORMAT_H

#include <stdint.h>

#define KZ_INDEX_FILE "index.kz" /* the one segment of an index without a manifest */
#define KZ_LOCK_FILE "lock"
#define KZ_MANIFEST_FILE "manifest"
#define KZ_SHARDS_FILE "shards" /* in a shard set's folder (shards.c) */

/* The manifest (FORMAT.md "Manifest"): "\x89KZM\r\n\x1a\n", as the
 * index file's magic with M for manifest. */
#define KZ_MANIFEST_MAGIC "\x89KZM\r\n\x1a\n"
#define KZ_MANIFEST_VERSION 2u /* what a writer writes when fields are typed */
#define KZ_MANIFEST_VERSION_UNTYPED 1u /* no field types: what older readers read too */
#define KZ_MANIFEST_HEADER 40u

/* 0x89 (not ASCII), "KZI", CR LF, ^Z, LF: catches 7-bit and text-mode
 * transfers, as PNG's signature does. */
#define KZ_MAGIC "\x89KZI\r\n\x1a\n"
#define KZ_END_MAGIC "KZIEND\r\n"
#define KZ_FORMAT_VERSION 7u /* what a writer writes */
#define KZ_FORMAT_TITLE_TERMS 6u /* the first with title terms ("Field terms") */
#define KZ_FORMAT_TEXT_MARKS 7u /* the first with text marks after each text (STORE) */
#define KZ_FORMAT_VERSION_MIN 5u /* the oldest a reader reads: 5 has no title terms */
/* Written as a u64 in the file's byte order (little-endian): a big-endian
 * reader sees 0x0807060504030201 and knows. */
#define KZ_BYTE_ORDER_MARK 0x0102030405060708ull

#define KZ_HEADER_SIZE 64u
#define KZ_TRAILER_SIZE 32u
#define KZ_SECTION_ENTRY_SIZE 48u
#define KZ_SECTION_ALIGN 64u
#define KZ_CHUNK_SHIFT 13u /* checksummed chunks of 8 KiB */
#define KZ_CHUNK_SIZE (1u << KZ_CHUNK_SHIFT)

/* Header field offsets. */
#define KZ_HDR_MAGIC 0
#define KZ_HDR_VERSION 8
#define KZ_HDR_SIZE 12
#define KZ_HDR_BOM 16
#define KZ_HDR_FILE_SIZE 24
#define KZ_HDR_CREATED 32
#define KZ_HDR_CHECKSUM 56

/* Section ids. */
enum {
    KZ_SEC_META = 1,
    KZ_SEC_DOCS = 2,
    KZ_SEC_DOCINFO = 3,
    KZ_SEC_STORE = 4,
    KZ_SEC_STOREIDX = 5,
    KZ_SEC_TERMS = 6,
    KZ_SEC_TERMSTR = 7,
    KZ_SEC_POSTINGS = 8,
    KZ_SEC_CHUNKSUMS = 9,
    KZ_SEC_STOREDICT = 10, /* zstd dictionary of the store blocks; may be empty */
    KZ_SEC_IDS = 11,       /* id lookup: (XXH3 of the id, docid), sorted */
    KZ_SEC_DOCHASH = 12,   /* per docid, the fingerprint of its fields */
    KZ_SEC_SIMHASH = 13,   /* per docid, the SimHash of its text (near-duplicates) */
    KZ_SEC_MAX = 14
};

/* META section: one fixed record. */
#define KZ_META_ANALYZER_VERSION 0  /* u32 */
#define KZ_META_FLAGS 4             /* u32, 0 */
#define KZ_META_DOCS 8              /* u64 N */
#define KZ_META_TERMS 16            /* u64 */
#define KZ_META_TOKENS 24           /* u64 sum of dl */
#define KZ_META_TEXT_BYTES 32       /* u64 */
#define KZ_META_STORE_BLOCKS 40     /* u64 */
#define KZ_META_POSTING_BLOCK 48    /* u32 postings per block (128) */
#define KZ_META_RESERVED 52         /* u32, 0 */
#define KZ_META_BOUND_K1 56         /* f64 k1 the stored bounds assume */
#define KZ_META_BOUND_B 64          /* f64 b the stored bounds assume */
#define KZ_META_LANGUAGE 72         /* char[32], NUL-padded */
#define KZ_META_SIZE 104

/* DOCS section: one record per document, by docid. */
#define KZ_DOC_INFO_OFF 0      /* u64 into DOCINFO */
#define KZ_DOC_LENGTH 8        /* u32 dl */
#define KZ_DOC_TITLE_TOKENS 12 /* u32 */
#define KZ_DOC_BLOCK 16        /* u32 store block */
#define KZ_DOC_BLOCK_OFF 20    /* u32 offset of the text in the block */
#define KZ_DOC_TEXT_LEN 24     /* u32 bytes of text */
#define KZ_DOC_SIZE 28

/* IDS section: one record per document, sorted by hash, then docid. */
#define KZ_IDS_HASH 0          /* u64 XXH3 of the id's bytes */
#define KZ_IDS_DOCID 8         /* u32 */
#define KZ_IDS_SIZE 12

/* DOCHASH section: one u64 per document, by docid (FORMAT.md "DOCHASH"). */
#define KZ_DOCHASH_SIZE 8

/* SIMHASH section: one u64 per document, by docid (FORMAT.md "SIMHASH"). */
#define KZ_SIMHASH_SIZE 8

/* STOREIDX section: one record per block. */
#define KZ_STOREIDX_OFF 0      /* u64 into STORE */
#define KZ_STOREIDX_CLEN 8     /* u32 compressed bytes */
#define KZ_STOREIDX_RLEN 12    /* u32 raw bytes */
#define KZ_STOREIDX_SIZE 16

/* TERMS section: the terms index, one entry per block of at most 16
 * terms of TERMSTR, in term order. */
#define KZ_TERMS_PER_BLOCK 16u
#define KZ_TIDX_FIRST 0        /* u32 ordinal of the block's first term */
#define KZ_TIDX_STR_OFF 4      /* u32 offset of the block in TERMSTR */
#define KZ_TIDX_BLOB_OFF 8     /* u64 offset of its first term's blob in POSTINGS */
#define KZ_TIDX_SIZE 16

/* TERMSTR: per term, varints prefix (bytes shared with the previous term
 * of its block; 0 for a block's first), suffix length, the suffix bytes,
 * then varints df and blob length (its blob follows the previous one's).
 * A term is shorter than KZ_TERM_MAX_BYTES (kzsearch.h). */

/* Posting blob (FORMAT.md "Posting blob"). For df == 1: varint tf,
 * varint bitmap_len, bitmap, positions. For df > 1: varints cf, max_tf,
 * bitmap_len; f32 bound; bitmap; block table (if df > block size); tf
 * bits; positions. */
#define KZ_POSTING_BLOCK 128u
#define KZ_BLOCK_POS_OFF 0     /* u64 offset of the block's positions */
#define KZ_BLOCK_TF_OFF 8      /* u32 offset of the block's tf bits */
#define KZ_BLOCK_LAST_DOC 12   /* u32 last docid in the block */
#define KZ_BLOCK_MAX_TF 16     /* u32 */
#define KZ_BLOCK_MIN_DL 20     /* u32 */
#define KZ_BLOCK_BOUND 24      /* f32, rounded up */
#define KZ_BLOCK_SIZE 28

/* Default BM25 parameters the stored bounds are computed with. */
#define KZ_BM25_K1 1.2
#define KZ_BM25_B 0.75

#endif
