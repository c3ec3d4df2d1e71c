/*
 * The matcher's hot loops in C. Mainly: sum a question's postings into one
 * score vector, reduce it to per-entry features, pick the candidate entries
 * and the phrasings worth a fuzzy comparison (candidates). Also jieba's
 * HMM-free segmentation of a block (cut_block), homophone repair of policy
 * terms (restore_terms), and turning candidates' features into calibrated
 * confidence (confidence).
 *
 * Why C: with ~2,400 phrasings and ~130 entries, the numpy version spends its
 * time in the fixed cost of some forty small numpy calls per question, not in
 * arithmetic. The numpy version (FeatureIndex._features_numpy in features.py)
 * stays the reference: it is used for calibration and wherever this module
 * was not compiled, and the tests check both give bit-identical features —
 * so every floating-point operation below is done in the same order as
 * there (and the module is compiled with -ffp-contract=off).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ABI_VERSION 7 /* bot/matching/compiled.py expects this */
#define N_OUT 8 /* dice, cover, bag, typical, bigram, keyword, foreign, known */

typedef struct {
    Py_buffer view;
    int held;
} Buf;

static int
take(PyObject *obj, Buf *buf, char kind, Py_ssize_t min_len, const char *name)
{
    /* kind: 'd' float64 (or bytes holding float64, as candidates returns them), 'f' float32, 'i' int64 */
    const Py_ssize_t itemsize = kind == 'f' ? 4 : 8;
    if (PyObject_GetBuffer(obj, &buf->view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    buf->held = 1;
    int ok;
    if (kind == 'd' && PyBytes_Check(obj)) {
        ok = buf->view.len % 8 == 0;
    } else {
        const char *fmt = buf->view.format ? buf->view.format : "B";
        if (*fmt == '<' || *fmt == '=' || *fmt == '@')
            fmt++;
        char want = fmt[0];
        ok = buf->view.itemsize == itemsize && fmt[1] == '\0' &&
             (kind == 'i' ? (want == 'q' || want == 'l') : want == kind);
    }
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s: expected a contiguous array of %s", name,
                     kind == 'd' ? "float64" : kind == 'f' ? "float32" : "int64");
        return -1;
    }
    if (buf->view.len / itemsize < min_len) {
        PyErr_Format(PyExc_ValueError, "%s: expected at least %zd items", name, min_len);
        return -1;
    }
    return 0;
}

static void
release(Buf *bufs, int n)
{
    for (int i = 0; i < n; i++)
        if (bufs[i].held)
            PyBuffer_Release(&bufs[i].view);
}

static PyObject *
int_list(const Py_ssize_t *values, Py_ssize_t n)
{
    PyObject *list = PyList_New(n);
    if (!list)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyLong_FromSsize_t(values[i]);
        if (!v) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, v);
    }
    return list;
}

/* A slot tuple's first items: (slot, idf, out-of-scope weight, ...) — see FlatPostings. */
static int
read_slot(PyObject *slot, Py_ssize_t *s, double *idf, double *oos)
{
    if (!PyTuple_Check(slot) || PyTuple_GET_SIZE(slot) < 2) {
        PyErr_SetString(PyExc_TypeError, "a slot is a tuple (slot, idf, ...)");
        return -1;
    }
    *s = PyNumber_AsSsize_t(PyTuple_GET_ITEM(slot, 0), PyExc_OverflowError);
    *idf = PyFloat_AsDouble(PyTuple_GET_ITEM(slot, 1));
    if (oos)
        *oos = PyTuple_GET_SIZE(slot) > 2 ? PyFloat_AsDouble(PyTuple_GET_ITEM(slot, 2)) : 0.0;
    return PyErr_Occurred() ? -1 : 0;
}

/*
 * Insert item into best[0..n), kept sorted by score, highest first, at most k long;
 * an item only displaces one with a strictly lower score (ties: the earlier item stays
 * ahead). Returns the new length.
 */
static Py_ssize_t
keep_best(Py_ssize_t *best, Py_ssize_t n, Py_ssize_t k, const double *score, Py_ssize_t item)
{
    if (k <= 0 || (n == k && !(score[item] > score[best[k - 1]])))
        return n;
    Py_ssize_t i = n < k ? n++ : k - 1;
    while (i > 0 && score[item] > score[best[i - 1]]) {
        best[i] = best[i - 1];
        i--;
    }
    best[i] = item;
    return n;
}

/*
 * candidates(token_slots, bigram_slots, tokens, bigrams, unknown_weight, keyword_hits,
 *            ptr, index, weight, entry_starts, ph_weight, bi_weight, inv_sizes, k, per_entry)
 *   -> None when the question has no weight at all, else
 *      (top entries, features bytes (k × 8 float64), chosen phrasings,
 *       where each candidate's chosen phrasings start in that list)
 *
 * Features per candidate: dice, cover, bag, typical, bigram, keyword, foreign, known.
 * The score vector is laid out as in FlatPostings: [phrasing overlap | bigram
 * overlap | bag | foreign | typical], n_ph, n_ph, n_entries × 3 long.
 */
static PyObject *
candidates(PyObject *self, PyObject *args)
{
    PyObject *token_slots, *bigram_slots, *tokens, *bigrams, *hits;
    PyObject *o_ptr, *o_index, *o_weight, *o_starts, *o_phw, *o_biw, *o_inv;
    double unknown;
    Py_ssize_t k, per_entry;
    if (!PyArg_ParseTuple(args, "O!O!OOdOOOOOOOOnn", &PyDict_Type, &token_slots, &PyDict_Type, &bigram_slots,
                          &tokens, &bigrams, &unknown, &hits, &o_ptr, &o_index, &o_weight, &o_starts, &o_phw,
                          &o_biw, &o_inv, &k, &per_entry))
        return NULL;
    if (k < 0 || per_entry < 0) {
        PyErr_SetString(PyExc_ValueError, "k and per_entry must be >= 0");
        return NULL;
    }

    Buf b[8];
    memset(b, 0, sizeof b);
    PyObject *result = NULL, *fast_tokens = NULL, *fast_bigrams = NULL, *fast_hits = NULL;
    double *total = NULL, *per = NULL;
    Py_ssize_t *slots = NULL, *top = NULL, *chosen = NULL, *first = NULL, *kw = NULL;

    if (take(o_ptr, &b[0], 'i', 1, "ptr") < 0 || take(o_index, &b[1], 'i', 0, "index") < 0 ||
        take(o_weight, &b[2], 'd', 0, "weight") < 0 || take(o_starts, &b[3], 'i', 1, "entry_starts") < 0 ||
        take(o_phw, &b[4], 'd', 1, "ph_weight") < 0 || take(o_biw, &b[5], 'd', 0, "bi_weight") < 0 ||
        take(o_inv, &b[6], 'd', 0, "inv_sizes") < 0)
        goto done;
    const int64_t *ptr = b[0].view.buf, *index = b[1].view.buf, *starts = b[3].view.buf;
    const double *weight = b[2].view.buf, *ph_weight = b[4].view.buf, *bi_weight = b[5].view.buf,
                 *inv_sizes = b[6].view.buf;
    const Py_ssize_t n_slots = b[0].view.len / 8 - 1, n_postings = b[1].view.len / 8;
    const Py_ssize_t n_entries = b[3].view.len / 8, n_ph = b[4].view.len / 8;
    if (b[2].view.len != b[1].view.len || b[5].view.len / 8 != n_ph || b[6].view.len / 8 != n_entries) {
        PyErr_SetString(PyExc_ValueError, "array lengths do not agree");
        goto done;
    }
    const Py_ssize_t at_bag = 2 * n_ph, at_foreign = at_bag + n_entries, at_typical = at_foreign + n_entries;
    const Py_ssize_t size = at_typical + n_entries;

    fast_tokens = PySequence_Fast(tokens, "tokens must be a sequence");
    fast_bigrams = PySequence_Fast(bigrams, "bigrams must be a sequence");
    fast_hits = PySequence_Fast(hits, "keyword_hits must be a sequence");
    if (!fast_tokens || !fast_bigrams || !fast_hits)
        goto done;
    const Py_ssize_t n_tokens = PySequence_Fast_GET_SIZE(fast_tokens),
                     n_bigrams = PySequence_Fast_GET_SIZE(fast_bigrams);
    slots = malloc(sizeof(Py_ssize_t) * (n_tokens + n_bigrams + 1));
    if (!slots) {
        PyErr_NoMemory();
        goto done;
    }

    /* the question's slots and weights, in the order features.py adds them up */
    Py_ssize_t n_used = 0;
    double wq = 0.0, known = 0.0, foreign_total = 0.0, bwq = 0.0;
    PyObject **items = PySequence_Fast_ITEMS(fast_tokens);
    for (Py_ssize_t i = 0; i < n_tokens; i++) {
        PyObject *slot = PyDict_GetItemWithError(token_slots, items[i]);
        if (!slot) {
            if (PyErr_Occurred())
                goto done;
            wq += unknown;  /* in no entry's vocabulary */
            continue;
        }
        double idf, oos;
        if (read_slot(slot, &slots[n_used], &idf, &oos) < 0)
            goto done;
        n_used++;
        wq += idf;
        known += idf;
        foreign_total += oos;
    }
    if (wq == 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    items = PySequence_Fast_ITEMS(fast_bigrams);
    for (Py_ssize_t i = 0; i < n_bigrams; i++) {
        PyObject *slot = PyDict_GetItemWithError(bigram_slots, items[i]);
        if (!slot) {
            if (PyErr_Occurred())
                goto done;
            bwq += unknown;
            continue;
        }
        double idf;
        if (read_slot(slot, &slots[n_used], &idf, NULL) < 0)
            goto done;
        n_used++;
        bwq += idf;
    }

    total = calloc(size, sizeof(double));
    per = malloc(sizeof(double) * 4 * n_entries);
    kw = calloc(n_entries, sizeof(Py_ssize_t));
    top = malloc(sizeof(Py_ssize_t) * (k + 1));
    chosen = malloc(sizeof(Py_ssize_t) * (k * per_entry + 1));
    first = malloc(sizeof(Py_ssize_t) * (k + 1));
    if (!total || !per || !kw || !top || !chosen || !first) {
        PyErr_NoMemory();
        goto done;
    }

    /* Σ postings, slot by slot in the given order (as numpy's bincount adds them) */
    for (Py_ssize_t i = 0; i < n_used; i++) {
        Py_ssize_t s = slots[i];
        if (s < 0 || s >= n_slots || ptr[s] < 0 || ptr[s] > ptr[s + 1] || ptr[s + 1] > n_postings) {
            PyErr_Format(PyExc_IndexError, "slot %zd out of range", s);
            goto done;
        }
        for (int64_t j = ptr[s]; j < ptr[s + 1]; j++) {
            int64_t at = index[j];
            if (at < 0 || at >= size) {
                PyErr_Format(PyExc_IndexError, "posting %lld out of range", (long long)at);
                goto done;
            }
            total[at] += weight[j];
        }
    }
    items = PySequence_Fast_ITEMS(fast_hits);
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fast_hits); i++) {
        Py_ssize_t e = PyNumber_AsSsize_t(items[i], PyExc_OverflowError);
        if (e == -1 && PyErr_Occurred())
            goto done;
        if (e < 0 || e >= n_entries) {
            PyErr_Format(PyExc_IndexError, "keyword entry %zd out of range", e);
            goto done;
        }
        kw[e]++;
    }

    /* per entry: best phrasing Dice, cover and bigram Dice; bag, typical, keyword; rough rank */
    double *dice = per, *cover = per + n_entries, *bigram = per + 2 * n_entries, *rough = per + 3 * n_entries;
    const double *acc = total, *bacc = total + n_ph;
    for (Py_ssize_t e = 0; e < n_entries; e++) {
        Py_ssize_t s = starts[e], t = e + 1 < n_entries ? starts[e + 1] : n_ph;
        if (s < 0 || s >= t || t > n_ph) {
            PyErr_SetString(PyExc_ValueError, "entry_starts must rise and every entry have a phrasing");
            goto done;
        }
        /* Every weight is positive, so a phrasing sharing nothing scores exactly 0.0 and the
           maxima can start there and skip it: most phrasings share nothing with a question. */
        double d = 0.0, c = 0.0, g = 0.0;
        for (Py_ssize_t p = s; p < t; p++) {
            if (acc[p] != 0) {
                double dp = 2 * acc[p] / (wq + ph_weight[p]);
                if (dp > d)
                    d = dp;
                if (acc[p] > c)
                    c = acc[p];
            }
            if (bacc[p] != 0 && bwq != 0) {
                double gp = 2 * bacc[p] / (bwq + bi_weight[p]);
                if (gp > g)
                    g = gp;
            }
        }
        double bag = total[at_bag + e] / wq;
        double typical = total[at_typical + e] * (inv_sizes[e] / wq);
        double keyword = (double)(kw[e] < 2 ? kw[e] : 2) / 2;
        dice[e] = d;
        cover[e] = c / wq;
        bigram[e] = g;
        rough[e] = d + bag + typical + g + 0.5 * keyword;
    }

    /* the k best by rough score (ties: lower entry first), only those above zero */
    Py_ssize_t n_top = 0;
    for (Py_ssize_t e = 0; e < n_entries; e++)
        if (rough[e] > 0)
            n_top = keep_best(top, n_top, k, rough, e);

    /* per candidate: its per_entry phrasings with most overlap (ties: lower phrasing first) */
    Py_ssize_t n_chosen = 0;
    for (Py_ssize_t i = 0; i < n_top; i++) {
        Py_ssize_t e = top[i], s = starts[e], t = e + 1 < n_entries ? starts[e + 1] : n_ph;
        Py_ssize_t n = 0;
        first[i] = n_chosen;
        for (Py_ssize_t p = s; p < t; p++)
            n = keep_best(chosen + n_chosen, n, per_entry, acc, p);
        n_chosen += n;
    }

    PyObject *feats = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)sizeof(double) * N_OUT * n_top);
    if (!feats)
        goto done;
    double *out = (double *)PyBytes_AS_STRING(feats);
    for (Py_ssize_t i = 0; i < n_top; i++) {
        Py_ssize_t e = top[i];
        double keyword = (double)(kw[e] < 2 ? kw[e] : 2) / 2;
        double row[N_OUT] = {dice[e], cover[e], total[at_bag + e] / wq,
                             total[at_typical + e] * (inv_sizes[e] / wq), bigram[e], keyword,
                             (foreign_total - total[at_foreign + e]) / wq, known / wq};
        for (int f = 0; f < N_OUT; f++)
            out[i * N_OUT + f] = row[f];
    }
    PyObject *l_top = int_list(top, n_top), *l_chosen = int_list(chosen, n_chosen),
             *l_first = int_list(first, n_top);
    if (l_top && l_chosen && l_first)
        result = PyTuple_Pack(4, l_top, feats, l_chosen, l_first);
    Py_XDECREF(l_top);
    Py_XDECREF(l_chosen);
    Py_XDECREF(l_first);
    Py_DECREF(feats);

done:
    Py_XDECREF(fast_tokens);
    Py_XDECREF(fast_bigrams);
    Py_XDECREF(fast_hits);
    free(slots);
    free(total);
    free(per);
    free(kw);
    free(top);
    free(chosen);
    free(first);
    release(b, 8);
    return result;
}

/* best_of_others on plain arrays: out[i] = max(best value of a group other than groups[i], floor) */
static void
others(const double *values, const int64_t *groups, Py_ssize_t n, double floor_, double *out)
{
    double first = -INFINITY, second = -INFINITY;
    int64_t first_group = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (i == 0 || values[i] > first) {
            first = values[i];
            first_group = groups[i];
        }
    for (Py_ssize_t i = 0; i < n; i++)
        if (groups[i] != first_group && values[i] > second)
            second = values[i];
    for (Py_ssize_t i = 0; i < n; i++) {
        double other = groups[i] == first_group ? second : first;
        out[i] = other > floor_ ? other : floor_;
    }
}

/*
 * best_of_others(values, groups, floor) -> bytes (n float64)
 * For each item, the best value among items of another group, or floor if higher:
 * features.best_of_others, for the dozen candidates of every question.
 */
static PyObject *
best_of_others(PyObject *self, PyObject *args)
{
    PyObject *o_values, *o_groups;
    double floor_;
    if (!PyArg_ParseTuple(args, "OOd", &o_values, &o_groups, &floor_))
        return NULL;
    Buf b[2];
    memset(b, 0, sizeof b);
    PyObject *result = NULL;
    if (take(o_values, &b[0], 'd', 0, "values") < 0 || take(o_groups, &b[1], 'i', 0, "groups") < 0)
        goto done;
    const double *values = b[0].view.buf;
    const int64_t *groups = b[1].view.buf;
    const Py_ssize_t n = b[0].view.len / 8;
    if (b[1].view.len / 8 != n) {
        PyErr_SetString(PyExc_ValueError, "values and groups differ in length");
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)sizeof(double) * n);
    if (result)
        others(values, groups, n, floor_, (double *)PyBytes_AS_STRING(result));
done:
    release(b, 2);
    return result;
}

/* out.append(text[start:end]) */
static int
append_slice(PyObject *out, PyObject *text, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *w = PyUnicode_Substring(text, start, end);
    int failed = !w || PyList_Append(out, w) < 0;
    Py_XDECREF(w);
    return failed ? -1 : 0;
}

/*
 * cut_block(block, freq, logtotal) -> list[str]
 * jieba's HMM-free cut of one run of Chinese/alphanumerics (Tokenizer.__cut_DAG_NO_HMM):
 * lexicon.Segmenter._cut_block is the Python reference. Same dictionary (freq: word or
 * prefix → count, 0 for a prefix only), same scores log(count or 1) - logtotal, same tie
 * rule (the longer word), same gluing of single ASCII letters and digits.
 */
static PyObject *
cut_block(PyObject *self, PyObject *args)
{
    PyObject *text, *freq;
    double logtotal;
    if (!PyArg_ParseTuple(args, "UO!d", &text, &PyDict_Type, &freq, &logtotal))
        return NULL;
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    double *score = malloc(sizeof(double) * (n + 1));
    Py_ssize_t *end = malloc(sizeof(Py_ssize_t) * (n + 1));
    PyObject *out = NULL;
    if (!score || !end) {
        PyErr_NoMemory();
        goto done;
    }
    score[n] = 0.0;
    for (Py_ssize_t k = n - 1; k >= 0; k--) {
        int found = 0;
        double best = 0.0;
        end[k] = k;
        for (Py_ssize_t i = k; i < n; i++) {
            PyObject *frag = PyUnicode_Substring(text, k, i + 1);
            if (!frag)
                goto done;
            PyObject *count = PyDict_GetItemWithError(freq, frag);
            Py_DECREF(frag);
            if (!count) {
                if (PyErr_Occurred())
                    goto done;
                break;  /* no word starts with this fragment */
            }
            long long c = PyLong_AsLongLong(count);
            if (c == -1 && PyErr_Occurred())
                goto done;
            if (c) {
                double value = (log((double)c) - logtotal) + score[i + 1];
                if (!found || value >= best) {  /* a tie goes to the longer word */
                    best = value;
                    end[k] = i;
                    found = 1;
                }
            }
        }
        if (!found) {  /* an unknown character is a word of its own */
            PyObject *ch = PyUnicode_Substring(text, k, k + 1);
            if (!ch)
                goto done;
            PyObject *count = PyDict_GetItemWithError(freq, ch);
            Py_DECREF(ch);
            long long c = 0;
            if (count) {
                c = PyLong_AsLongLong(count);
                if (c == -1 && PyErr_Occurred())
                    goto done;
            } else if (PyErr_Occurred()) {
                goto done;
            }
            best = (log((double)(c ? c : 1)) - logtotal) + score[k + 1];
        }
        score[k] = best;
    }
    out = PyList_New(0);
    if (!out)
        goto done;
    Py_ssize_t glued = -1;  /* start of a run of single ASCII letters/digits */
    for (Py_ssize_t x = 0; x < n;) {
        Py_ssize_t y = end[x] + 1;
        Py_UCS4 ch = PyUnicode_READ(kind, data, x);
        int alnum = y - x == 1 && ch < 128 && ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
                                              (ch >= 'A' && ch <= 'Z'));
        if (alnum) {
            if (glued < 0)
                glued = x;
        } else {
            if (glued >= 0 && append_slice(out, text, glued, x) < 0)
                goto fail;
            glued = -1;
            if (append_slice(out, text, x, y) < 0)
                goto fail;
        }
        x = y;
    }
    if (glued >= 0 && append_slice(out, text, glued, n) < 0)
        goto fail;
    goto done;
fail:
    Py_CLEAR(out);
done:
    free(score);
    free(end);
    return out;
}

/*
 * confidence(features, ratios, first, top, topic_ids, group_ids, weights, decision) -> (order, confidence)
 *
 * From candidates' features to the calibrated confidence of each candidate and the
 * ranking order (by the ranking model's logit, ties in candidate order): what
 * FeatureIndex.candidates' last lines, training.decision_rows and Matcher.scored do
 * with numpy. features: k × 8 float64 as candidates returns them; ratios: float32
 * rapidfuzz ratios of the chosen phrasings, candidate by candidate from first[i];
 * top: the k candidate entries; topic_ids / group_ids: every entry's topic id and
 * group id (an out-of-scope entry is a group of its own, negative); weights: the ranking model
 * over FEATURES (dice, cover, bag, typical, bigram, fuzz, keyword, lead, known,
 * foreign) + bias; decision: the confidence model over (logit, lead, out of scope) + bias.
 */
#define MAX_CANDIDATES 64
static PyObject *
confidence(PyObject *self, PyObject *args)
{
    PyObject *o_feats, *o_ratios, *o_first, *o_top, *o_topics, *o_groups, *o_w, *o_dw;
    if (!PyArg_ParseTuple(args, "OOOOOOOO", &o_feats, &o_ratios, &o_first, &o_top, &o_topics, &o_groups, &o_w,
                          &o_dw))
        return NULL;
    Buf b[6];
    memset(b, 0, sizeof b);
    PyObject *result = NULL, *fast_top = NULL, *fast_first = NULL;
    if (take(o_feats, &b[0], 'd', 0, "features") < 0 || take(o_ratios, &b[1], 'f', 0, "ratios") < 0 ||
        take(o_topics, &b[2], 'i', 0, "topic_ids") < 0 || take(o_groups, &b[3], 'i', 0, "group_ids") < 0 ||
        take(o_w, &b[4], 'd', 11, "weights") < 0 || take(o_dw, &b[5], 'd', 4, "decision") < 0)
        goto done;
    fast_top = PySequence_Fast(o_top, "top must be a sequence");
    fast_first = PySequence_Fast(o_first, "first must be a sequence");
    if (!fast_top || !fast_first)
        goto done;
    const Py_ssize_t k = PySequence_Fast_GET_SIZE(fast_top), n_entries = b[2].view.len / 8;
    const Py_ssize_t n_ratios = b[1].view.len / 4;
    if (b[0].view.len / 8 != k * N_OUT || PySequence_Fast_GET_SIZE(fast_first) != k || b[3].view.len / 8 != n_entries) {
        PyErr_SetString(PyExc_ValueError, "features, first, top and the id arrays do not agree in length");
        goto done;
    }
    if (k > MAX_CANDIDATES) {
        PyErr_SetString(PyExc_ValueError, "too many candidates");
        goto done;
    }
    int64_t topics[MAX_CANDIDATES], groups[MAX_CANDIDATES];
    for (Py_ssize_t i = 0; i < k; i++) {
        Py_ssize_t e = PyNumber_AsSsize_t(PySequence_Fast_ITEMS(fast_top)[i], PyExc_OverflowError);
        if (e == -1 && PyErr_Occurred())
            goto done;
        if (e < 0 || e >= n_entries) {
            PyErr_Format(PyExc_IndexError, "entry %zd out of range", e);
            goto done;
        }
        topics[i] = ((const int64_t *)b[2].view.buf)[e];
        groups[i] = ((const int64_t *)b[3].view.buf)[e];
    }
    const double *f = b[0].view.buf, *w = b[4].view.buf, *dw = b[5].view.buf;
    const float *ratios = b[1].view.buf;
    double fz[MAX_CANDIDATES];
    /* each candidate's fuzz: its best ratio, as np.maximum.reduceat(ratios, first) / 100 */
    for (Py_ssize_t i = 0; i < k; i++) {
        Py_ssize_t from = PyNumber_AsSsize_t(PySequence_Fast_ITEMS(fast_first)[i], PyExc_OverflowError);
        Py_ssize_t to = i + 1 < k ? PyNumber_AsSsize_t(PySequence_Fast_ITEMS(fast_first)[i + 1], PyExc_OverflowError)
                                  : n_ratios;
        if (PyErr_Occurred())
            goto done;
        if (from < 0 || from >= to || to > n_ratios) {
            PyErr_SetString(PyExc_ValueError, "first must rise within ratios, one ratio at least per candidate");
            goto done;
        }
        float best = ratios[from];
        for (Py_ssize_t j = from + 1; j < to; j++)
            if (ratios[j] > best)
                best = ratios[j];
        fz[i] = (double)best / 100;
    }
    double base[MAX_CANDIDATES], lead[MAX_CANDIDATES], logit[MAX_CANDIDATES], other[MAX_CANDIDATES];
    Py_ssize_t order[MAX_CANDIDATES];
    for (Py_ssize_t i = 0; i < k; i++)
        base[i] = (f[i * N_OUT + 0] + f[i * N_OUT + 2] + f[i * N_OUT + 3] + fz[i]) / 4;
    others(base, topics, k, 0.0, other);
    for (Py_ssize_t i = 0; i < k; i++) {
        const double *r = f + i * N_OUT;
        lead[i] = base[i] - other[i];
        double row[10] = {r[0], r[1], r[2], r[3], r[4], fz[i], r[5], lead[i], r[7], r[6]};
        double sum = 0.0;
        for (int j = 0; j < 10; j++)
            sum += row[j] * w[j];
        logit[i] = sum + w[10];
    }
    others(logit, groups, k, w[10], other);
    PyObject *conf = PyList_New(k);
    if (!conf)
        goto done;
    for (Py_ssize_t i = 0; i < k; i++) {
        double z = logit[i] * dw[0] + (logit[i] - other[i]) * dw[1] + (groups[i] < 0 ? 1.0 : 0.0) * dw[2] + dw[3];
        PyObject *v = PyFloat_FromDouble(1 / (1 + exp(-z)));
        if (!v) {
            Py_DECREF(conf);
            goto done;
        }
        PyList_SET_ITEM(conf, i, v);
    }
    /* insertion sort by logit, highest first; equal logits keep candidate order */
    for (Py_ssize_t i = 0; i < k; i++) {
        Py_ssize_t j = i;
        while (j > 0 && logit[i] > logit[order[j - 1]]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    PyObject *l_order = int_list(order, k);
    if (l_order)
        result = PyTuple_Pack(2, l_order, conf);
    Py_XDECREF(l_order);
    Py_DECREF(conf);
done:
    Py_XDECREF(fast_top);
    Py_XDECREF(fast_first);
    release(b, 6);
    return result;
}

/* a Chinese spelling may stand for word: it is the word, or is no word itself and shares a character */
static int
plausible(PyObject *surface, PyObject *word, PyObject *words)
{
    int same = PyUnicode_Compare(surface, word);
    if (same == -1 && PyErr_Occurred())
        return -1;
    if (same == 0)
        return 1;
    int known = PySet_Contains(words, surface);
    if (known != 0)
        return known < 0 ? -1 : 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(surface), m = PyUnicode_GET_LENGTH(word);
    for (Py_ssize_t i = 0; i < n && i < m; i++)
        if (PyUnicode_READ_CHAR(surface, i) == PyUnicode_READ_CHAR(word, i))
            return 1;
    return 0;
}

/*
 * restore_terms(text, chars, term_follow, term_lengths, term_keys, words) -> str
 * PinyinRestorer._restore_chinese (the Python reference) up to its final whitespace
 * clean-up: replace homophone spellings of policy terms in text without Latin letters.
 */
static PyObject *
restore_terms(PyObject *self, PyObject *args)
{
    PyObject *text, *chars, *follow, *lengths, *keys, *words;
    if (!PyArg_ParseTuple(args, "UO!O!O!O!O", &text, &PyDict_Type, &chars, &PyDict_Type, &follow, &PyDict_Type,
                          &lengths, &PyDict_Type, &keys, &words))
        return NULL;
    if (!PyAnySet_Check(words)) {
        PyErr_SetString(PyExc_TypeError, "words must be a set");
        return NULL;
    }
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    PyObject **syl = calloc(n + 1, sizeof(PyObject *));  /* borrowed from chars */
    PyObject *pieces = NULL, *result = NULL;
    if (!syl)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *ch = PyUnicode_FromOrdinal(PyUnicode_READ_CHAR(text, i));
        if (!ch)
            goto done;
        syl[i] = PyDict_GetItemWithError(chars, ch);
        Py_DECREF(ch);
        if (!syl[i] && PyErr_Occurred())
            goto done;
    }
    pieces = PyList_New(0);
    if (!pieces)
        goto done;
    Py_ssize_t last = 0, i = 0;
    while (i < n - 1) {
        if (!syl[i] || !syl[i + 1]) {
            i++;
            continue;
        }
        /* does any policy term start with these two sounds? (no string built for the test) */
        PyObject *seconds = PyDict_GetItemWithError(follow, syl[i]);
        if (!seconds && PyErr_Occurred())
            goto done;
        int starts = seconds ? PySequence_Contains(seconds, syl[i + 1]) : 0;
        if (starts < 0)
            goto done;
        PyObject *lens = starts ? PyDict_GetItemWithError(lengths, syl[i]) : NULL;
        if (!lens) {
            if (PyErr_Occurred())
                goto done;
            i++;
            continue;
        }
        PyObject *fast_lens = PySequence_Fast(lens, "term lengths must be a sequence");
        if (!fast_lens)
            goto done;
        int matched = 0;
        for (Py_ssize_t j = 0; j < PySequence_Fast_GET_SIZE(fast_lens) && !matched; j++) {
            Py_ssize_t len = PyNumber_AsSsize_t(PySequence_Fast_ITEMS(fast_lens)[j], PyExc_OverflowError);
            if (len == -1 && PyErr_Occurred()) {
                Py_DECREF(fast_lens);
                goto done;
            }
            if (len < 1 || i + len > n)
                continue;
            int complete = 1;
            for (Py_ssize_t t = i; t < i + len; t++)
                complete &= syl[t] != NULL;
            if (!complete)
                continue;
            PyObject *window = PyTuple_New(len), *space = NULL, *key = NULL;
            if (window) {
                for (Py_ssize_t t = 0; t < len; t++) {
                    Py_INCREF(syl[i + t]);
                    PyTuple_SET_ITEM(window, t, syl[i + t]);
                }
                space = PyUnicode_FromString(" ");
                key = space ? PyUnicode_Join(space, window) : NULL;
            }
            Py_XDECREF(window);
            Py_XDECREF(space);
            if (!key) {
                Py_DECREF(fast_lens);
                goto done;
            }
            PyObject *word = PyDict_GetItemWithError(keys, key);
            Py_DECREF(key);
            if (!word) {
                if (PyErr_Occurred()) {
                    Py_DECREF(fast_lens);
                    goto done;
                }
                continue;
            }
            PyObject *surface = PyUnicode_Substring(text, i, i + len);
            int ok = surface && PyUnicode_Check(word) ? plausible(surface, word, words) : -1;
            Py_XDECREF(surface);
            if (ok < 0) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_TypeError, "term_keys must map to str");
                Py_DECREF(fast_lens);
                goto done;
            }
            if (ok) {
                PyObject *before = PyUnicode_Substring(text, last, i);
                int failed = !before || PyList_Append(pieces, before) < 0 || PyList_Append(pieces, word) < 0;
                Py_XDECREF(before);
                if (failed) {
                    Py_DECREF(fast_lens);
                    goto done;
                }
                i = last = i + len;
                matched = 1;
            }
        }
        Py_DECREF(fast_lens);
        if (!matched)
            i++;
    }
    if (PyList_GET_SIZE(pieces) == 0) {
        result = Py_NewRef(text);
        goto done;
    }
    PyObject *rest = PyUnicode_Substring(text, last, n);
    if (!rest || PyList_Append(pieces, rest) < 0) {
        Py_XDECREF(rest);
        goto done;
    }
    Py_DECREF(rest);
    PyObject *empty = PyUnicode_FromString("");
    if (empty) {
        result = PyUnicode_Join(empty, pieces);
        Py_DECREF(empty);
    }
done:
    Py_XDECREF(pieces);
    free(syl);
    return result;
}

static PyMethodDef methods[] = {
    {"restore_terms", restore_terms, METH_VARARGS,
     "restore_terms(text, chars, term_follow, term_lengths, term_keys, words) -> text with policy-term typos fixed"},
    {"confidence", confidence, METH_VARARGS,
     "confidence(features, ratios, first, top, topic_ids, group_ids, weights, decision) -> (order, confidence)"},
    {"cut_block", cut_block, METH_VARARGS,
     "cut_block(block, freq, logtotal) -> list of words: jieba's HMM-free cut of one block"},
    {"best_of_others", best_of_others, METH_VARARGS,
     "best_of_others(values, groups, floor) -> bytes of float64: per item, the best value of another group"},
    {"candidates", candidates, METH_VARARGS,
     "candidates(token_slots, bigram_slots, tokens, bigrams, unknown_weight, keyword_hits, ptr, index, weight, "
     "entry_starts, ph_weight, bi_weight, inv_sizes, k, per_entry) -> None or (top, features, chosen, first)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scorer", "The FAQ matcher's hot loop (see features.py for the reference).", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__scorer(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntConstant(m, "ABI_VERSION", ABI_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
