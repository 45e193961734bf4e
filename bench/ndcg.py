#!/usr/bin/env python3
"""nDCG@k of a TREC run against qrels, as trec_eval computes it (ndcg_cut):
gain = relevance grade, discount 1/log2(rank + 1), ideal DCG from the qrels;
averaged over the queries that have relevant documents in the qrels (a query
with no hits in the run counts as 0). Ties in the run are kept in the order of
the file (kzsearch writes them ranked, ties already broken by docid).

usage: bench/ndcg.py QRELS RUN [K]
QRELS: qid<TAB>docid<TAB>grade (an optional header line is skipped), or
       TREC "qid 0 docid grade". RUN: TREC "qid Q0 docid rank score tag".
"""
import math
import sys
from collections import defaultdict


def read_qrels(path):
    qrels = defaultdict(dict)
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                qid, doc, grade = parts
            elif len(parts) == 4:
                qid, _, doc, grade = parts
            else:
                continue
            try:
                qrels[qid][doc] = int(grade)
            except ValueError:
                continue  # a header
    return qrels


def read_run(path):
    run = defaultdict(list)
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6:
                run[parts[0]].append((int(parts[3]), parts[2]))
    return {q: [d for _, d in sorted(v, key=lambda x: x[0])] for q, v in run.items()}


def ndcg(ranked, rels, k):
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in rels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    k = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    qrels, run = read_qrels(sys.argv[1]), read_run(sys.argv[2])
    qids = [q for q, r in qrels.items() if any(g > 0 for g in r.values())]
    scores = [ndcg(run.get(q, []), qrels[q], k) for q in qids]
    print(f"ndcg@{k} {sum(scores) / len(scores):.4f} over {len(scores)} queries")


if __name__ == "__main__":
    main()
