/* The analytic mode's two per-position loops (elsa_tlm/recurrences.py), in plain C.
 *
 * A port of server_py, trains_py, arrive_py, ready_py and port_queues_py there (the reference implementations, in numpy; read their docstrings for
 * the model). Built by the normal install as the extension module elsa_tlm._recurrences (optional: without
 * it the numpy reference runs) and called through ctypes. Each result is bit-identical to the reference's:
 * the same double operations in the same order (build with -ffp-contract=off: no fused multiply-adds), the
 * integer ones exact.
 *
 * Arrays are C-contiguous, int64 or double as named.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

#ifdef _WIN32
#define REC_API __declspec(dllexport)
#else
#define REC_API __attribute__((visibility("default")))
#endif

/* The SHA-256 of this file when it was built (setup.py defines it): recurrences.py compares it with the source
 * next to it, so a clone whose source changed since `pip install -e .` does not use a stale build. */
#ifndef REC_SOURCE_SHA256
#define REC_SOURCE_SHA256 ""
#endif

REC_API const char *rec_source_sha256(void) { return REC_SOURCE_SHA256; }

/* A single FIFO server over n positions: finish[i] = cum[i] + max(0, max_{j<=i}(arrive[j] - before[j])), i.e.
 * F_i = max(A_i, F_{i-1}) + c_i with cum the running sum of c and before = cum - c. Writes finish and the
 * positions that start a busy period (0, and every i whose arrival is after F_{i-1} + 1e-9) into starts;
 * returns how many. */
REC_API int64_t rec_server(int64_t n, const double *arrive, const double *cum, const double *before,
                           double *finish, int64_t *starts) {
    double m = 0.0;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = arrive[i] - before[i];
        if (d < 0.0) d = 0.0;
        if (d > m) m = d;
        finish[i] = cum[i] + m;
        if (i == 0 || arrive[i] > finish[i - 1] + 1e-9) starts[k++] = i;
    }
    return k;
}

/* The flit generator's trains over T steps of n_emit emitted spines (flat, step-major). A spine's transaction:
 * 0 when gated, else (its busy period << 20) + (its position's offset in the period) / batch, its position
 * being t * n_in + pos_emit[e] and its busy period the last of starts[0..n_starts) at or before it. A train
 * starts at a new (step, transaction) and every chunk flits into one (counted from the transaction's first
 * spine). Writes each spine's train (tid) and each train's ready (its last spine's), flits and packets (an
 * all-empty train: one flit, one packet); returns the number of trains. */
REC_API int64_t rec_trains(int64_t T, int64_t n_emit, int64_t n_in, const int64_t *pos_emit,
                           const int64_t *starts, int64_t n_starts, int64_t batch, int64_t gated,
                           const int64_t *flits, const int64_t *packets, const double *ready, int64_t chunk,
                           int64_t *tid, double *tr_ready, int64_t *tr_flits, int64_t *tr_packets) {
    int64_t ntr = 0, sent = 0, start_cum = 0, prev_key = 0, prev_piece = 0, piece_end = 0;
    int64_t g = 0; /* the busy period of the previous spine's position (positions rarely go back: a walk) */
    for (int64_t t = 0; t < T; t++) {
        for (int64_t e = 0; e < n_emit; e++) {
            int64_t k = t * n_emit + e;
            int64_t tx = 0;
            if (!gated) {
                int64_t p = t * n_in + pos_emit[e];
                if (starts[g] > p) { /* went back: a binary search for the last start at or before p */
                    int64_t lo = 0, hi = n_starts;
                    while (lo < hi) {
                        int64_t mid = lo + (hi - lo) / 2;
                        if (starts[mid] <= p) lo = mid + 1;
                        else hi = mid;
                    }
                    g = lo - 1;
                }
                while (g + 1 < n_starts && starts[g + 1] <= p) g++;
                tx = (g << 20) + (p - starts[g]) / batch;
            }
            int64_t key = (t << 40) + tx;
            int new_tx = (k == 0 || key != prev_key);
            int64_t piece = prev_piece;
            if (new_tx) {
                start_cum = sent;
                piece = 0;
                piece_end = sent + chunk;
            } else if (sent >= piece_end) { /* crossed a chunk boundary: the division only then */
                piece = (sent - start_cum) / chunk;
                piece_end = start_cum + (piece + 1) * chunk;
            }
            if (new_tx || piece != prev_piece) {
                tr_flits[ntr] = 0;
                tr_packets[ntr] = 0;
                ntr++;
            }
            tid[k] = ntr - 1;
            tr_flits[ntr - 1] += flits[k];
            tr_packets[ntr - 1] += packets[k];
            tr_ready[ntr - 1] = ready[k];
            sent += flits[k];
            prev_key = key;
            prev_piece = piece;
        }
    }
    for (int64_t j = 0; j < ntr; j++) {
        if (tr_flits[j] == 0) {
            tr_flits[j] = 1;
            tr_packets[j] = 1;
        }
    }
    return ntr;
}

/* Arrivals from one producer slice: each of its spines lands with its train's tail (tail[tid]), plus the
 * residual unit's cycles for a skip part (skip: (T, n_emit + 1) running sums of its ops, or NULL); a position
 * has arrived when its last part has (arrive = max). The spine goes to position e (posmap NULL), posmap[e], or
 * (flatten) every spine of a step to position 0. arrive is (T, n_in), updated in place. */
REC_API void rec_arrive(int64_t T, int64_t n_in, int64_t n_emit, const int64_t *tid, const double *tail,
                        const int64_t *skip, const int64_t *posmap, int64_t flatten, double *arrive) {
    for (int64_t t = 0; t < T; t++) {
        double *row = arrive + t * n_in;
        const int64_t *ids = tid + t * n_emit;
        const int64_t *sk = skip ? skip + t * (n_emit + 1) : NULL;
        for (int64_t e = 0; e < n_emit; e++) {
            double a = tail[ids[e]];
            if (sk) a = a + (double)(sk[e + 1] - sk[e]);
            int64_t i = flatten ? 0 : (posmap ? posmap[e] : e);
            if (a > row[i]) row[i] = a;
        }
    }
}

/* The cycle each emitted spine is ready: ceil(finish[t, pos_emit[e]] + offset[t, e] - 1e-9), (T, n_emit). */
REC_API void rec_ready(int64_t T, int64_t n_in, int64_t n_emit, const double *finish, const int64_t *pos_emit,
                       const double *offset, double *ready) {
    for (int64_t t = 0; t < T; t++) {
        const double *f = finish + t * n_in;
        for (int64_t e = 0; e < n_emit; e++) {
            int64_t k = t * n_emit + e;
            ready[k] = ceil((f[pos_emit[e]] + offset[k]) - 1e-9);
        }
    }
}

/* The NoC's ports and links as FIFO servers over every flow's trains (port_queues_py's, merging, not sorting):
 * flow f's trains are places [flow_first[f], flow_first[f] + flow_size[f]) of t0 (the cycle each leaves,
 * nondecreasing within a flow) and ser (its serialisation cycles); resource r serves the trains of the flows
 * res_flow[res_ptr[r] .. res_ptr[r + 1]) (in increasing flow order), a train reaching it res_offset[.] cycles
 * after it leaves. Each resource takes its trains in arrival order, ties in place order (a k-way merge of its
 * flows), and each train keeps the largest wait any resource gives it: wait[place] = max(...). */
REC_API void rec_port_queues(int64_t n_res, const int64_t *res_ptr, const int64_t *res_flow,
                             const double *res_offset, const int64_t *flow_first, const int64_t *flow_size,
                             const double *t0, const double *ser, int64_t *cursor, double *wait) {
    for (int64_t r = 0; r < n_res; r++) {
        int64_t lo = res_ptr[r], hi = res_ptr[r + 1];
        for (int64_t i = lo; i < hi; i++) cursor[i] = flow_first[res_flow[i]];
        double c = 0.0, m = 0.0;
        for (;;) {
            int64_t best = -1;
            double ba = 0.0;
            for (int64_t i = lo; i < hi; i++) { /* the earliest head; ties: the lower place (earlier flow) */
                int64_t f = res_flow[i];
                if (cursor[i] >= flow_first[f] + flow_size[f]) continue;
                double a = t0[cursor[i]] + res_offset[i];
                if (best < 0 || a < ba || (a == ba && cursor[i] < cursor[best])) {
                    best = i;
                    ba = a;
                }
            }
            if (best < 0) break;
            int64_t q = cursor[best]++;
            double s = ser[q];
            c = c + s;
            double before = c - s;
            double d = ba - before;
            if (d < 0.0) d = 0.0;
            if (d > m) m = d;
            double w = ((c + m) - s) - ba;
            if (w > wait[q]) wait[q] = w;
        }
    }
}

/* An importable extension module with nothing in it: the functions above are called through ctypes. */
static struct PyModuleDef rec_module = {PyModuleDef_HEAD_INIT, "_recurrences", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__recurrences(void) { return PyModule_Create(&rec_module); }
