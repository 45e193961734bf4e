/*
 * bench_xapian.cc: Xapian 1.4 behind bench_xapian.h's C calls. Every call
 * catches what Xapian throws and returns -1, keeping the message.
 */
#include "bench_xapian.h"

#include <xapian.h>

#include <memory>
#include <string>
#include <vector>

struct kzb_xapian {
    std::unique_ptr<Xapian::Database> db;
    Xapian::WritableDatabase *writable = nullptr; /* db, when it is one */
};

static thread_local std::string last_error;

static int fail(const char *what, const std::string &message)
{
    last_error = std::string(what) + ": " + message;
    return -1;
}

const char *kzb_xapian_error(void) { return last_error.c_str(); }

int kzb_xapian_create(kzb_xapian **out, const char *path)
{
    *out = nullptr;
    try {
        std::unique_ptr<kzb_xapian> x(new kzb_xapian);
        auto *w = new Xapian::WritableDatabase(path, Xapian::DB_CREATE_OR_OVERWRITE);
        x->db.reset(w);
        x->writable = w;
        *out = x.release();
        return 0;
    } catch (const Xapian::Error &e) {
        return fail(path, e.get_description());
    } catch (const std::exception &e) {
        return fail(path, e.what());
    }
}

int kzb_xapian_open(kzb_xapian **out, const char *path)
{
    *out = nullptr;
    try {
        std::unique_ptr<kzb_xapian> x(new kzb_xapian);
        x->db.reset(new Xapian::Database(path));
        *out = x.release();
        return 0;
    } catch (const Xapian::Error &e) {
        return fail(path, e.get_description());
    } catch (const std::exception &e) {
        return fail(path, e.what());
    }
}

int kzb_xapian_add(kzb_xapian *x, const char *data, const kzb_xapian_term *terms, const uint32_t *positions,
                   size_t n)
{
    if (!x->writable)
        return fail("add", "the database is open for reading");
    try {
        Xapian::Document doc;
        doc.set_data(data);
        for (size_t i = 0; i < n; i++)
            doc.add_posting(std::string(terms[i].s, terms[i].len), positions[i], 1);
        x->writable->add_document(doc);
        return 0;
    } catch (const Xapian::Error &e) {
        return fail("add", e.get_description());
    } catch (const std::exception &e) {
        return fail("add", e.what());
    }
}

int kzb_xapian_commit(kzb_xapian *x)
{
    if (!x->writable)
        return 0;
    try {
        x->writable->commit();
        return 0;
    } catch (const Xapian::Error &e) {
        return fail("commit", e.get_description());
    }
}

void kzb_xapian_close(kzb_xapian *x)
{
    if (!x)
        return;
    try {
        x->db->close();
    } catch (const Xapian::Error &) {
    }
    delete x;
}

uint64_t kzb_xapian_docs(kzb_xapian *x)
{
    try {
        return x->db->get_doccount();
    } catch (const Xapian::Error &e) {
        fail("docs", e.get_description());
        return 0;
    }
}

int kzb_xapian_search(kzb_xapian *x, kzb_xapian_op op, const kzb_xapian_term *terms, size_t n, unsigned k,
                      uint64_t *rows, uint64_t *total, kzb_xapian_hit_fn hit, void *ctx)
{
    *rows = *total = 0;
    try {
        std::vector<std::string> words;
        words.reserve(n);
        for (size_t i = 0; i < n; i++)
            words.emplace_back(terms[i].s, terms[i].len);
        Xapian::Query query;
        if (n == 1)
            query = Xapian::Query(words[0]);
        else if (n > 1)
            query = Xapian::Query(op == KZB_XAPIAN_AND ? Xapian::Query::OP_AND
                                  : op == KZB_XAPIAN_OR ? Xapian::Query::OP_OR
                                                        : Xapian::Query::OP_PHRASE,
                                  words.begin(), words.end(), op == KZB_XAPIAN_PHRASE ? (Xapian::termcount)n : 0);
        Xapian::Enquire enquire(*x->db);
        enquire.set_query(query);
        enquire.set_weighting_scheme(Xapian::BM25Weight(1.2, 0, 1, 0.75, 0));
        /* Counting: every match is checked, so the estimate is exact. */
        Xapian::MSet mset = k ? enquire.get_mset(0, k) : enquire.get_mset(0, 0, x->db->get_doccount());
        *rows = mset.size();
        *total = mset.get_matches_estimated();
        if (hit)
            for (Xapian::MSetIterator m = mset.begin(); m != mset.end(); ++m) {
                std::string data = m.get_document().get_data();
                hit(ctx, data.data(), data.size(), m.get_weight());
            }
        return 0;
    } catch (const Xapian::Error &e) {
        return fail("search", e.get_description());
    } catch (const std::exception &e) {
        return fail("search", e.what());
    }
}
