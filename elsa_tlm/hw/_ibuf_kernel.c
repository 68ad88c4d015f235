/* The PE input-buffer queue kernel of elsa_tlm/hw/input_buffer.py, in plain C.
 *
 * A line-for-line port of _simulate_py / _flush_py there (the reference implementation; read its comments
 * for the model). Built by the normal install as the extension module elsa_tlm.hw._ibuf_kernel so that no
 * run waits for a JIT compiler; input_buffer.py calls ibuf_simulate through ctypes. The floating-point
 * cycle counts are accumulated in double with the same operations in the same order as the Python code,
 * so the results are bit-identical (build with -ffp-contract=off: no fused multiply-adds).
 *
 * Arrays are C-contiguous: int64 except table, absorb_flush and final_cycles (double). 2-D arrays are
 * row-major with the shapes given in input_buffer.py. Returns 0; -1 when memory runs out; -2 for a stream
 * whose target receives spikes after its release (the reference raises ValueError).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef _WIN32
#define IBUF_API __declspec(dllexport)
#else
#define IBUF_API __attribute__((visibility("default")))
#endif

/* The SHA-256 of this file when it was built (setup.py defines it): input_buffer.py compares it with the
 * source next to it, so a clone whose source changed since `pip install -e .` does not use a stale build. */
#ifndef IBUF_SOURCE_SHA256
#define IBUF_SOURCE_SHA256 ""
#endif

/* Per-step statistics: the columns of BufferResult.per_step (input_buffer.py). */
enum { FLUSHES, FULL, EVICTIONS, FINALS, SPIKES, ALLOCS, PEAK_LIVE, HAZARDS, MEMBRANE_RMW, N_STATS };

IBUF_API const char *ibuf_source_sha256(void) { return IBUF_SOURCE_SHA256; }

/* Flush queue q (target row): its cycles; updates the step's statistics st and empties the queue. */
static double flush(int64_t q, int64_t row, int64_t last_row, int64_t *qcount, int64_t *qhist, int nway,
                    int exact, const double *table, int64_t ways, int forward, int64_t hazard, int64_t *st) {
    int64_t m = qcount[q];
    int64_t nb = (m + ways - 1) / ways;
    int64_t *hist = qhist + q * ways;
    double cyc;
    if (nway) {
        cyc = (double)nb;
        if (exact)
            for (int64_t b = 0; b < ways; b++) hist[b] = 0;
    } else if (exact) {
        int64_t mx = 0;
        for (int64_t b = 0; b < ways; b++) {
            if (hist[b] > mx) mx = hist[b];
            hist[b] = 0;
        }
        cyc = (double)(mx > nb ? mx : nb); /* at least one cycle per mini-batch */
    } else {
        int64_t full = m / ways;
        cyc = table[m - full * ways];
        if (full > 0) cyc += (double)full * table[ways];
    }
    if (forward) {
        if (row != last_row) st[MEMBRANE_RMW] += 1;
    } else {
        int64_t hz = nb - 1;
        if (row == last_row) hz += 1;
        cyc += (double)(hz * hazard);
        st[HAZARDS] += hz;
        st[MEMBRANE_RMW] += nb;
    }
    st[FLUSHES] += nb;
    st[SPIKES] += m;
    qcount[q] = 0;
    return cyc;
}

IBUF_API int64_t ibuf_simulate(int64_t T, int64_t n_in, const int64_t *counts, const int64_t *order,
                               const int64_t *fan_ptr, const int64_t *fan_tgt, const int64_t *fan_kofs,
                               const int64_t *rel_ptr, const int64_t *rel_tgt, int64_t n_out, int64_t queues,
                               int64_t depth, int64_t ways, int nway, const double *table, int exact,
                               const int64_t *chan_ptr, const int64_t *chan_val, int64_t cin, int forward,
                               int64_t hazard, double *absorb_flush, double *final_cycles,
                               int64_t *final_spikes, int64_t *stats) {
    int64_t *qtarget = malloc(sizeof(int64_t) * (size_t)queues);
    int64_t *qcount = calloc((size_t)queues, sizeof(int64_t));
    int64_t *qseq = calloc((size_t)queues, sizeof(int64_t));
    int64_t *qhist = calloc((size_t)(queues * ways), sizeof(int64_t));
    int64_t *tgt_q = malloc(sizeof(int64_t) * (size_t)(n_out > 0 ? n_out : 1));
    int64_t rc = -1;
    if (!qtarget || !qcount || !qseq || !qhist || !tgt_q) goto done;
    for (int64_t k = 0; k < queues; k++) qtarget[k] = -1;
    for (int64_t o = 0; o < n_out; o++) tgt_q[o] = -1;
    for (int64_t t = 0; t < T; t++) {
        int64_t *st = stats + t * N_STATS;
        double *absorb = absorb_flush + t * n_in;
        int64_t seq = 0, nlive = 0, last_row = -1;
        for (int64_t p = 0; p < n_in; p++) {
            int64_t i = order[p];
            int64_t c = counts[t * n_in + i];
            if (c > 0) {
                for (int64_t f = fan_ptr[i]; f < fan_ptr[i + 1]; f++) {
                    int64_t o = fan_tgt[f];
                    int64_t q = tgt_q[o];
                    if (q < 0) {
                        if (nlive == queues) { /* evict the oldest-allocated live queue */
                            int64_t old = 0, best = -1;
                            for (int64_t k = 0; k < queues; k++) {
                                if (qtarget[k] >= 0 && (best < 0 || qseq[k] < best)) {
                                    best = qseq[k];
                                    old = k;
                                }
                            }
                            int64_t row = qtarget[old];
                            if (qcount[old] > 0) { /* a queue just flushed full holds nothing: freed, no flush */
                                absorb[p] += flush(old, row, last_row, qcount, qhist, nway, exact, table, ways,
                                                   forward, hazard, st);
                                last_row = row;
                            }
                            st[EVICTIONS] += 1;
                            tgt_q[row] = -1;
                            qtarget[old] = -1;
                            nlive -= 1;
                        }
                        for (int64_t k = 0; k < queues; k++) { /* a free queue */
                            if (qtarget[k] < 0) {
                                q = k;
                                break;
                            }
                        }
                        qtarget[q] = o;
                        qcount[q] = 0;
                        qseq[q] = seq;
                        seq += 1;
                        tgt_q[o] = q;
                        nlive += 1;
                        st[ALLOCS] += 1;
                        if (nlive > st[PEAK_LIVE]) st[PEAK_LIVE] = nlive;
                    }
                    /* write the record's c spikes; a queue that fills up is flushed (and stays allocated) */
                    int64_t left = c;
                    int64_t base = exact ? chan_ptr[t * (n_in + 1) + i] : 0;
                    int64_t k0 = fan_kofs[f] * cin;
                    int64_t *hist = qhist + q * ways;
                    while (left > 0) {
                        int64_t take = depth - qcount[q];
                        if (take > left) take = left;
                        if (exact) {
                            for (int64_t s = 0; s < take; s++) {
                                int64_t ch = chan_val[base + (c - left) + s];
                                int64_t b = (k0 + ch) % ways;
                                hist[b < 0 ? b + ways : b] += 1; /* Python's modulo */
                            }
                        }
                        qcount[q] += take;
                        left -= take;
                        if (qcount[q] == depth) {
                            absorb[p] += flush(q, o, last_row, qcount, qhist, nway, exact, table, ways, forward,
                                               hazard, st);
                            st[FULL] += 1;
                            last_row = o;
                        }
                    }
                }
            }
            /* targets whose receptive field is now complete: final flush, release the queue */
            for (int64_t r = rel_ptr[p]; r < rel_ptr[p + 1]; r++) {
                int64_t o = rel_tgt[r];
                int64_t q = tgt_q[o];
                if (q >= 0) {
                    int64_t m = qcount[q];
                    if (m > 0) {
                        final_cycles[t * n_out + o] = flush(q, o, last_row, qcount, qhist, nway, exact, table,
                                                            ways, forward, hazard, st);
                        final_spikes[t * n_out + o] = m;
                        st[FINALS] += 1;
                        last_row = o;
                    }
                    qtarget[q] = -1;
                    tgt_q[o] = -1;
                    nlive -= 1;
                }
            }
        }
        if (nlive != 0) { /* every target is released by the end of the step (deferred: after the last input) */
            rc = -2;        /* a target received spikes after its release: refused, as by the reference */
            goto done;
        }
    }
    rc = 0;
done:
    free(qtarget);
    free(qcount);
    free(qseq);
    free(qhist);
    free(tgt_q);
    return rc;
}

/* A valid (empty) extension module, so that the install builds and names the file like any other. */
static struct PyModuleDef ibuf_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_ibuf_kernel",
    .m_doc = "The PE input-buffer queue kernel (C, called through ctypes by elsa_tlm.hw.input_buffer).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__ibuf_kernel(void) { return PyModule_Create(&ibuf_module); }
