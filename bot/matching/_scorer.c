/*
 * The matcher's hot loop in C: sum a question's postings into one score
 * vector, reduce it to per-entry features, pick the candidate entries and the
 * phrasings worth a fuzzy comparison.
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

#define ABI_VERSION 2
#define N_OUT 8 /* dice, cover, bag, typical, bigram, keyword, foreign, known */

typedef struct {
    Py_buffer view;
    int held;
} Buf;

static int
take(PyObject *obj, Buf *buf, char kind, Py_ssize_t min_len, const char *name)
{
    if (PyObject_GetBuffer(obj, &buf->view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    buf->held = 1;
    const char *fmt = buf->view.format ? buf->view.format : "B";
    if (*fmt == '<' || *fmt == '=' || *fmt == '@')
        fmt++;
    int ok = buf->view.itemsize == 8 &&
             (kind == 'd' ? fmt[0] == 'd' : (fmt[0] == 'q' || fmt[0] == 'l')) && fmt[1] == '\0';
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s: expected a contiguous array of %s", name,
                     kind == 'd' ? "float64" : "int64");
        return -1;
    }
    if (buf->view.len / 8 < min_len) {
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

    Buf b[8] = {{{0}}};
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
        double d = 2 * acc[s] / (wq + ph_weight[s]), c = acc[s];
        double g = bwq != 0 ? 2 * bacc[s] / (bwq + bi_weight[s]) : 0.0;
        for (Py_ssize_t p = s + 1; p < t; p++) {
            double dp = 2 * acc[p] / (wq + ph_weight[p]);
            if (dp > d)
                d = dp;
            if (acc[p] > c)
                c = acc[p];
            if (bwq != 0) {
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
    for (Py_ssize_t e = 0; e < n_entries && k > 0; e++) {
        if (!(rough[e] > 0))
            continue;
        if (n_top == k && !(rough[e] > rough[top[k - 1]]))
            continue;
        Py_ssize_t i = n_top < k ? n_top++ : k - 1;
        while (i > 0 && rough[e] > rough[top[i - 1]]) {
            top[i] = top[i - 1];
            i--;
        }
        top[i] = e;
    }

    /* per candidate: its per_entry phrasings with most overlap (ties: lower phrasing first) */
    Py_ssize_t n_chosen = 0;
    for (Py_ssize_t i = 0; i < n_top; i++) {
        Py_ssize_t e = top[i], s = starts[e], t = e + 1 < n_entries ? starts[e + 1] : n_ph;
        Py_ssize_t *mine = chosen + n_chosen, n = 0;
        first[i] = n_chosen;
        for (Py_ssize_t p = s; p < t && per_entry > 0; p++) {
            if (n == per_entry && !(acc[p] > acc[mine[n - 1]]))
                continue;
            Py_ssize_t j = n < per_entry ? n++ : per_entry - 1;
            while (j > 0 && acc[p] > acc[mine[j - 1]]) {
                mine[j] = mine[j - 1];
                j--;
            }
            mine[j] = p;
        }
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

static PyMethodDef methods[] = {
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
