/*
 * date.c: dates as news metadata and queries write them.
 *
 * Accepted (surrounding blanks ignored, English month names in any case,
 * full or of three letters):
 *
 *   2022-03                      a month
 *   2022-03-01, 2022/03/01       a day
 *   2022-03-01T14:05[:09[.123]]  a time, 'T' or one space before it,
 *                                then optionally Z, UTC, GMT or an offset
 *                                (+03:00, +0300, -05)
 *   Tue, 01 Mar 2022 14:05:09 +0300   RFC 2822 (the weekday is optional
 *                                and not checked), with a time or not
 *   1 March 2022, March 1, 2022  a day
 *
 * A time with an offset is converted to UTC; one without is taken as UTC.
 * A bare year (2022) is not a date: as metadata it is more often a number.
 * Years run from 1 to 9999. Days are counted from 1970-01-01 in the
 * proleptic Gregorian calendar (the civil-from-days arithmetic of
 * H. Hinnant's "chrono-compatible low-level date algorithms").
 */
#include "kzint.h"

#include <string.h>

static const char *const month_names[12] = { "january", "february", "march",     "april",   "may",      "june",
                                             "july",    "august",   "september", "october", "november", "december" };

int64_t kz_days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void kz_civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400) + (*m <= 2);
}

static unsigned days_in_month(int y, unsigned m)
{
    static const unsigned n[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : n[m - 1];
}

typedef struct scan {
    const char *p, *end;
} scan;

static void skip_blanks(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t'))
        s->p++;
}

/* Exactly n digits (n > 0), or -1. */
static int digits(scan *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++, s->p++) {
        if (s->p >= s->end || *s->p < '0' || *s->p > '9')
            return -1;
        v = v * 10 + (*s->p - '0');
    }
    return v;
}

/* One or two digits, or -1. */
static int small_number(scan *s)
{
    int v = digits(s, 1);
    if (v >= 0 && s->p < s->end && *s->p >= '0' && *s->p <= '9')
        v = v * 10 + (*s->p++ - '0');
    return v;
}

static int eat(scan *s, char c)
{
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return 1;
    }
    return 0;
}

/* An English month name (full or its first three letters), or 0. */
static unsigned month_name(scan *s)
{
    const char *start = s->p;
    size_t n = 0;
    while (start + n < s->end && ((start[n] | 0x20) >= 'a' && (start[n] | 0x20) <= 'z'))
        n++;
    if (n < 3)
        return 0;
    for (unsigned m = 0; m < 12; m++) {
        size_t full = strlen(month_names[m]);
        if (n != 3 && n != full && !(m == 8 && n == 4)) /* "Sept" */
            continue;
        if (n > full)
            continue;
        size_t i = 0;
        while (i < n && (start[i] | 0x20) == month_names[m][i])
            i++;
        if (i == n) {
            s->p += n;
            return m + 1;
        }
    }
    return 0;
}

/* [HH:MM[:SS[.fff]]] then an optional zone; seconds of the day and the
 * zone's offset in seconds. Returns 0, or -1 when malformed. */
static int time_and_zone(scan *s, int64_t *secs, int64_t *offset)
{
    int hh = digits(s, 2);
    if (hh < 0 || hh > 23 || !eat(s, ':'))
        return -1;
    int mm = digits(s, 2), ss = 0;
    if (mm < 0 || mm > 59)
        return -1;
    if (eat(s, ':')) {
        if ((ss = digits(s, 2)) < 0 || ss > 60)
            return -1;
        if (ss == 60) /* a leap second: its minute's last second, on its own day */
            ss = 59;
        if (eat(s, '.') || eat(s, ','))
            while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
                s->p++;
    }
    *secs = hh * 3600 + mm * 60 + ss;
    *offset = 0;
    skip_blanks(s);
    if (s->p == s->end)
        return 0;
    if (eat(s, 'Z') || eat(s, 'z'))
        return 0;
    if (s->end - s->p >= 3 && (memcmp(s->p, "UTC", 3) == 0 || memcmp(s->p, "GMT", 3) == 0)) {
        s->p += 3;
        return 0;
    }
    int sign = eat(s, '+') ? 1 : eat(s, '-') ? -1 : 0;
    if (!sign)
        return -1;
    int oh = digits(s, 2), om = 0;
    if (oh < 0 || oh > 14)
        return -1;
    if (eat(s, ':') || (s->p < s->end && *s->p >= '0' && *s->p <= '9'))
        if ((om = digits(s, 2)) < 0 || om > 59)
            return -1;
    *offset = sign * (oh * 3600 + om * 60);
    return 0;
}

int kz_date_parse(const char *text, size_t len, kz_date *out)
{
    scan s = { text, text + len };
    int y = -1;
    unsigned m = 0, d = 0;
    int has_time = 0;
    int64_t secs = 0, offset = 0;
    memset(out, 0, sizeof *out);
    skip_blanks(&s);
    while (s.end > s.p && (s.end[-1] == ' ' || s.end[-1] == '\t'))
        s.end--;
    if (s.p < s.end && *s.p >= '0' && *s.p <= '9' && s.end - s.p >= 7 && s.p[4] >= '-' && s.p[4] <= '/' &&
        s.p[4] != '.') {
        /* ISO 8601 (or with slashes). */
        char sep = s.p[4];
        y = digits(&s, 4);
        s.p++;
        int mv = digits(&s, 2);
        if (y < 1 || mv < 1 || mv > 12)
            return -1;
        m = (unsigned)mv;
        if (s.p == s.end) {
            out->precision = KZ_DATE_MONTH;
        } else {
            int dv;
            if (!eat(&s, sep) || (dv = digits(&s, 2)) < 1)
                return -1;
            d = (unsigned)dv;
            out->precision = KZ_DATE_DAY;
            if (s.p < s.end) {
                if (!eat(&s, 'T') && !eat(&s, 't') && !eat(&s, ' '))
                    return -1;
                if (time_and_zone(&s, &secs, &offset) != 0)
                    return -1;
                has_time = 1;
            }
        }
    } else {
        /* RFC 2822 and English: [Weekday,] D Month YYYY [time] or Month D, YYYY. */
        /* A weekday and a comma: "Tue, " (not checked against the date). */
        const char *w = s.p;
        while (w < s.end && ((*w | 0x20) >= 'a' && (*w | 0x20) <= 'z'))
            w++;
        if (w - s.p >= 3 && w < s.end && *w == ',' && w + 1 < s.end && w[1] == ' ') {
            scan probe = { s.p, w };
            if (!month_name(&probe) || probe.p != w) /* "March 1, 2022" has its comma later */
                s.p = w + 1;
        }
        skip_blanks(&s);
        int dv;
        unsigned mv;
        if (s.p < s.end && *s.p >= '0' && *s.p <= '9') {
            if ((dv = small_number(&s)) < 1)
                return -1;
            skip_blanks(&s);
            if (!(mv = month_name(&s)))
                return -1;
            eat(&s, '.');
        } else {
            if (!(mv = month_name(&s)))
                return -1;
            eat(&s, '.');
            skip_blanks(&s);
            if ((dv = small_number(&s)) < 1)
                return -1;
            eat(&s, ',');
        }
        skip_blanks(&s);
        if ((y = digits(&s, 4)) < 1)
            return -1;
        m = mv;
        d = (unsigned)dv;
        out->precision = KZ_DATE_DAY;
        skip_blanks(&s);
        if (s.p < s.end) {
            if (time_and_zone(&s, &secs, &offset) != 0)
                return -1;
            has_time = 1;
        }
    }
    if (s.p != s.end)
        return -1;
    if (out->precision == KZ_DATE_DAY && d > days_in_month(y, m))
        return -1;
    int64_t days = kz_days_from_civil(y, m, out->precision == KZ_DATE_DAY ? d : 1);
    out->seconds = days * 86400 + secs - offset;
    if (has_time)
        out->precision = KZ_DATE_SECOND;
    kz_civil_from_days(out->seconds >= 0 ? out->seconds / 86400 : -((-out->seconds + 86399) / 86400), &out->year,
                       &out->month, &out->day);
    if (out->year < 1 || out->year > 9999)
        return -1;
    return 0;
}
