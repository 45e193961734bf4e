/*
 * translit.c: a word's spellings in the other script, Cyrillic and Latin
 * (README "Spelling variants").
 *
 * Names in the news are written both ways, and several ways in Latin:
 * Токаев is Tokayev (BGN/PCGN), Tokaev (the passport scheme, ICAO 9303)
 * and, in the Kazakh Latin alphabet of 2021, Toqaev for Тоқаев.
 *
 *   Cyrillic to Latin: the word in each scheme (BGN/PCGN, ICAO, and the
 *   Kazakh alphabet when the word has a Kazakh letter); the same for the
 *   word without a Russian case ending (Токаева, Токаеву: Tokayev); and a
 *   word with Kazakh letters also in Russian ones (Тоқаев: Токаев).
 *   Latin to Cyrillic: the schemes read backwards. Reading back is
 *   ambiguous (y is ы or й, e is е or э, ye is е or ье), so every reading
 *   is made, in the order of the alternatives below, up to
 *   KZ_TRANSLIT_MAX; letters with diacritics of the Kazakh Latin alphabet
 *   (ä, ö, ü, ū, ğ, ñ, ş, ı, q) read as Kazakh letters.
 *
 * The caller keeps the spellings whose terms the index has: a wrong
 * reading costs one dictionary lookup and finds nothing.
 *
 * Input is a word case-folded and composed (NFC), marks kept (й, ä).
 */
#include "kzint.h"

#include <utf8proc.h>

typedef struct to_latin {
    uint32_t cyr;
    const char *bgn, *icao, *kazakh;
} to_latin;

/* Russian letters, then the Kazakh ones. NULL: as in BGN/PCGN. */
static const to_latin cyrillic[] = {
    { 0x430, "a", NULL, NULL },      { 0x431, "b", NULL, NULL },       { 0x432, "v", NULL, NULL },
    { 0x433, "g", NULL, NULL },      { 0x434, "d", NULL, NULL },       { 0x435, "e", NULL, NULL },
    { 0x451, "yo", "e", "io" },      { 0x436, "zh", NULL, "j" },       { 0x437, "z", NULL, NULL },
    { 0x438, "i", NULL, NULL },      { 0x439, "y", "i", "i" },         { 0x43A, "k", NULL, NULL },
    { 0x43B, "l", NULL, NULL },      { 0x43C, "m", NULL, NULL },       { 0x43D, "n", NULL, NULL },
    { 0x43E, "o", NULL, NULL },      { 0x43F, "p", NULL, NULL },       { 0x440, "r", NULL, NULL },
    { 0x441, "s", NULL, NULL },      { 0x442, "t", NULL, NULL },       { 0x443, "u", NULL, NULL },
    { 0x444, "f", NULL, NULL },      { 0x445, "kh", NULL, "h" },       { 0x446, "ts", NULL, NULL },
    { 0x447, "ch", NULL, NULL },     { 0x448, "sh", NULL, "sh" },      { 0x449, "shch", NULL, "shsh" },
    { 0x44A, "", "ie", "" },         { 0x44B, "y", NULL, "y" },        { 0x44C, "", NULL, "" },
    { 0x44D, "e", NULL, NULL },      { 0x44E, "yu", "iu", "iu" },      { 0x44F, "ya", "ia", "ia" },
    /* Kazakh: ә ғ қ ң ө ұ ү һ і */
    { 0x4D9, "a", NULL, "a" },       { 0x493, "g", NULL, "g" },        { 0x49B, "k", NULL, "q" },
    { 0x4A3, "n", NULL, "n" },       { 0x4E9, "o", NULL, "o" },        { 0x4B1, "u", NULL, "u" },
    { 0x4AF, "u", NULL, "u" },       { 0x4BB, "h", NULL, "h" },        { 0x456, "i", NULL, "i" },
};

static const to_latin *find_cyrillic(uint32_t c)
{
    for (size_t i = 0; i < sizeof cyrillic / sizeof *cyrillic; i++)
        if (cyrillic[i].cyr == c)
            return &cyrillic[i];
    return NULL;
}

static int is_russian_vowel(uint32_t c)
{
    return c == 0x430 || c == 0x435 || c == 0x451 || c == 0x438 || c == 0x43E || c == 0x443 || c == 0x44B ||
           c == 0x44D || c == 0x44E || c == 0x44F || c == 0x4D9 || c == 0x4E9 || c == 0x4B1 || c == 0x4AF;
}

static int is_kazakh_letter(uint32_t c)
{
    return c == 0x4D9 || c == 0x493 || c == 0x49B || c == 0x4A3 || c == 0x4E9 || c == 0x4B1 || c == 0x4AF ||
           c == 0x4BB || c == 0x456;
}

/* Decodes w into cp (room for max); returns the count, or 0 when w is not
 * valid UTF-8 or longer. */
static size_t decode(const char *w, size_t n, uint32_t *cp, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        int32_t c;
        utf8proc_ssize_t m = utf8proc_iterate((const uint8_t *)w + i, (utf8proc_ssize_t)(n - i), &c);
        if (m <= 0 || k == max)
            return 0;
        cp[k++] = (uint32_t)c;
        i += (size_t)m;
    }
    return k;
}

typedef struct sink {
    kz_translit_fn fn;
    void *ctx;
    char seen[KZ_TRANSLIT_MAX][4 * KZ_TRANSLIT_WORD_MAX + 1];
    size_t seen_len[KZ_TRANSLIT_MAX];
    size_t n;
    int rc;
} sink;

/* Passes s on unless it was given already or KZ_TRANSLIT_MAX were. */
static void emit(sink *k, const char *s, size_t len)
{
    if (k->rc || k->n == KZ_TRANSLIT_MAX || len == 0 || len > 4 * KZ_TRANSLIT_WORD_MAX)
        return;
    for (size_t i = 0; i < k->n; i++)
        if (k->seen_len[i] == len && memcmp(k->seen[i], s, len) == 0)
            return;
    memcpy(k->seen[k->n], s, len);
    k->seen_len[k->n] = len;
    k->seen[k->n++][len] = 0;
    k->rc = k->fn(k->ctx, s, len);
}

enum { BGN, ICAO, KAZAKH };

/* Case endings a Russian surname or place takes (Токаев-а, -у, -ым, -е;
 * Астан-а, -ы, -е, -у, -ой), longest first. */
static const char *const case_endings[] = { "ым", "ом", "ой", "ою", "ей", "а", "у", "е", "ы", "и" };

static size_t encode(const uint32_t *cp, size_t n, char *out)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)utf8proc_encode_char((utf8proc_int32_t)cp[i], (utf8proc_uint8_t *)out + len);
    return len;
}

static void cyrillic_to_latin(sink *k, const uint32_t *cp, size_t n)
{
    int kazakh = 0;
    for (size_t i = 0; i < n; i++)
        kazakh |= is_kazakh_letter(cp[i]);
    for (int scheme = BGN; scheme <= KAZAKH; scheme++) {
        if (scheme == KAZAKH && !kazakh)
            continue;
        char out[8 * KZ_TRANSLIT_WORD_MAX + 1];
        size_t len = 0;
        for (size_t i = 0; i < n; i++) {
            const to_latin *t = find_cyrillic(cp[i]);
            if (!t)
                return; /* not a Cyrillic word */
            const char *s = scheme == ICAO && t->icao ? t->icao : scheme == KAZAKH && t->kazakh ? t->kazakh : t->bgn;
            /* BGN/PCGN: е and ё are ye and yo at the start and after a
             * vowel, ъ, ь or й. */
            if (scheme == BGN && (cp[i] == 0x435 || cp[i] == 0x451) &&
                (i == 0 || is_russian_vowel(cp[i - 1]) || cp[i - 1] == 0x44A || cp[i - 1] == 0x44C ||
                 cp[i - 1] == 0x439))
                s = cp[i] == 0x435 ? "ye" : "yo";
            size_t sl = strlen(s);
            if (len + sl >= sizeof out)
                return;
            memcpy(out + len, s, sl);
            len += sl;
        }
        emit(k, out, len);
    }
}

/* Latin (and Kazakh Latin) read back as Cyrillic: the alternatives of one
 * spot, the likelier first. */
typedef struct from_latin {
    const char *lat;          /* UTF-8, case-folded */
    const char *cyr[3];       /* UTF-8; NULL-terminated */
} from_latin;

static const from_latin latin[] = {
    /* longest first */
    { "shch", { "щ" } }, { "sch", { "щ" } }, { "zh", { "ж" } }, { "kh", { "х" } }, { "ts", { "ц" } },
    { "ch", { "ч" } }, { "sh", { "ш" } }, { "yu", { "ю" } }, { "iu", { "ю" } }, { "ya", { "я" } },
    { "ia", { "я" } }, { "yo", { "ё" } }, { "ye", { "е", "ье" } }, { "ie", { "ье", "ъе" } },
    { "a", { "а" } }, { "b", { "б" } }, { "v", { "в" } }, { "g", { "г" } }, { "d", { "д" } },
    { "e", { "е", "э" } }, { "z", { "з" } }, { "i", { "и", "й" } }, { "y", { "ы", "й" } }, { "k", { "к" } },
    { "l", { "л" } }, { "m", { "м" } }, { "n", { "н" } }, { "o", { "о" } }, { "p", { "п" } }, { "r", { "р" } },
    { "s", { "с" } }, { "t", { "т" } }, { "u", { "у" } }, { "f", { "ф" } }, { "h", { "х" } },
    { "c", { "ц", "к" } }, { "j", { "ж", "дж", "й" } }, { "w", { "в" } }, { "x", { "кс" } }, { "'", { "ь", "" } },
    /* the Kazakh Latin alphabet's own letters */
    { "q", { "қ", "к" } }, { "ä", { "ә" } }, { "ö", { "ө" } }, { "ü", { "ү" } }, { "ū", { "ұ" } },
    { "ğ", { "ғ" } }, { "ñ", { "ң" } }, { "ş", { "ш" } }, { "ı", { "ы" } }, { "ç", { "ч" } },
};

typedef struct reader {
    sink *k;
    const char *w;
    size_t n;
    char out[8 * KZ_TRANSLIT_WORD_MAX + 1];
    /* Bit v of dead[at]: no reading of w from at, after a vowel (v 1) or
     * not, reaches its end. Without it a word that cannot be read whole
     * (a digit at its end) is tried every way: 2^n for n e's (е or э). */
    unsigned char dead[4 * KZ_TRANSLIT_WORD_MAX + 1];
} reader;

static int latin_vowel_before(const char *out, size_t len)
{
    /* The last Cyrillic letter written: а е ё и о у ы э ю я ә ө ұ ү. */
    if (len < 2)
        return 0;
    int32_t c = 0;
    size_t at = len - 2;
    if (((unsigned char)out[at] & 0xE0) != 0xC0)
        return 0;
    utf8proc_iterate((const uint8_t *)out + at, 2, &c);
    return is_russian_vowel((uint32_t)c);
}

/* Whether some reading of w from at reached its end (or the reading
 * stopped: enough spellings, or an error). */
static int read_back(reader *r, size_t at, size_t len)
{
    if (r->k->rc || r->k->n == KZ_TRANSLIT_MAX)
        return 1;
    if (at == r->n) {
        emit(r->k, r->out, len);
        return 1;
    }
    /* Whether the last letter is a vowel is all the past a reading of the
     * rest depends on (and whether there is one, at == 0). */
    int vowel = latin_vowel_before(r->out, len);
    if (r->dead[at] & (1u << vowel))
        return 0;
    int reached = 0;
    for (size_t i = 0; i < sizeof latin / sizeof *latin; i++) {
        if (latin[i].lat[0] != r->w[at]) /* most entries, at no cost */
            continue;
        size_t ll = strlen(latin[i].lat);
        if (ll > r->n - at || memcmp(r->w + at, latin[i].lat, ll) != 0)
            continue;
        for (int a = 0; a < 3 && latin[i].cyr[a]; a++) {
            const char *c = latin[i].cyr[a];
            /* й only after a vowel; э only at the start or after one. */
            if (strcmp(c, "й") == 0 && !vowel)
                continue;
            if (strcmp(c, "э") == 0 && len && !vowel)
                continue;
            size_t cl = strlen(c);
            if (len + cl >= sizeof r->out)
                continue;
            memcpy(r->out + len, c, cl);
            reached |= read_back(r, at + ll, len + cl);
        }
        /* A digraph is also read as its letters ("sh" as с + х is rare
         * enough to skip; "ye" and "ia" are not digraphs of one letter). */
        if (ll > 1 && strcmp(latin[i].lat, "ye") != 0 && strcmp(latin[i].lat, "ie") != 0)
            break;
    }
    if (!reached)
        r->dead[at] |= (unsigned char)(1u << vowel);
    return reached;
}

int kz_translit(const char *w, size_t n, kz_translit_fn fn, void *ctx)
{
    uint32_t cp[KZ_TRANSLIT_WORD_MAX];
    size_t m = decode(w, n, cp, KZ_TRANSLIT_WORD_MAX);
    if (m < KZ_TRANSLIT_WORD_MIN)
        return KZ_OK;
    sink k;
    k.fn = fn;
    k.ctx = ctx;
    k.n = 0;
    k.rc = KZ_OK;
    if (cp[0] >= 0x400 && cp[0] <= 0x52F) {
        cyrillic_to_latin(&k, cp, m);
        /* Without a case ending, if the rest is a word of 4 or more. */
        char utf[4 * KZ_TRANSLIT_WORD_MAX + 1];
        size_t len = encode(cp, m, utf);
        for (size_t e = 0; e < sizeof case_endings / sizeof *case_endings; e++) {
            uint32_t ending[2];
            size_t el = decode(case_endings[e], strlen(case_endings[e]), ending, 2);
            if (m >= el + 4 && memcmp(cp + m - el, ending, el * sizeof *cp) == 0) {
                cyrillic_to_latin(&k, cp, m - el);
                break;
            }
        }
        /* Kazakh letters as the Russian ones they are written with. */
        static const uint32_t kazakh[][2] = { { 0x4D9, 0x430 }, { 0x493, 0x433 }, { 0x49B, 0x43A },
                                              { 0x4A3, 0x43D }, { 0x4E9, 0x43E }, { 0x4B1, 0x443 },
                                              { 0x4AF, 0x443 }, { 0x4BB, 0x445 }, { 0x456, 0x438 } };
        uint32_t ru[KZ_TRANSLIT_WORD_MAX];
        int changed = 0;
        for (size_t i = 0; i < m; i++) {
            ru[i] = cp[i];
            for (size_t j = 0; j < sizeof kazakh / sizeof *kazakh; j++)
                if (cp[i] == kazakh[j][0]) {
                    ru[i] = kazakh[j][1];
                    changed = 1;
                }
        }
        if (changed) {
            len = encode(ru, m, utf);
            emit(&k, utf, len);
        }
    } else {
        reader r = { &k, w, n, { 0 }, { 0 } };
        read_back(&r, 0, 0); /* gives nothing for a letter no scheme writes */
    }
    return k.rc;
}
