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
#include <string.h>

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
static inline __attribute__((always_inline)) int64_t server_core(int64_t n, const double *arrive, const double *cum,
                                                                  const double *before, double *finish,
                                                                  int64_t *starts) {
    /* before NULL: the cost before a position is the running sum's previous entry (rec_pass checks it is,
     * exactly, per slice): one stream less to read */
    double m = 0.0;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = arrive[i] - (before ? before[i] : (i ? cum[i - 1] : 0.0));
        if (d < 0.0) d = 0.0;
        if (d > m) m = d;
        finish[i] = cum[i] + m;
        if (i == 0 || arrive[i] > finish[i - 1] + 1e-9) starts[k++] = i;
    }
    return k;
}

REC_API int64_t rec_server(int64_t n, const double *arrive, const double *cum, const double *before,
                           double *finish, int64_t *starts) {
    return server_core(n, arrive, cum, before, finish, starts);
}

/* A spine's ready cycle, by where it comes from: a given array, rec_ready's formula, or its step's (gated). */
typedef struct {
    const double *ready;  /* (T * n_emit,) each spine's, or NULL */
    const double *finish; /* (T * n_in,) with offset (T * n_emit,): ceil(finish[t, pos_emit[e]] + offset[k] - 1e-9) */
    const double *offset;
    const double *step; /* (T,) every spine of step t at step[t] (ready and finish NULL) */
    int64_t n_in;
} SpineReady;

static inline double spine_ready(const SpineReady *r, const int64_t *pos_emit, int64_t t, int64_t e, int64_t k) {
    if (r->ready) return r->ready[k];
    if (r->finish) return ceil((r->finish[t * r->n_in + pos_emit[e]] + r->offset[k]) - 1e-9);
    return r->step[t];
}

/* The flit generator's trains over T steps of n_emit emitted spines (flat, step-major). A spine's transaction:
 * 0 when gated, else (its busy period << 20) + (its position's offset in the period) / batch, its position
 * being t * n_in + pos_emit[e] and its busy period the last of starts[0..n_starts) at or before it. A train
 * starts at a new (step, transaction) and every chunk flits into one (counted from the transaction's first
 * spine). Writes each spine's train (tid) and each train's ready (its last spine's: computed for that spine
 * only), flits and packets (an all-empty train: one flit, one packet); returns the number of trains. */
static inline __attribute__((always_inline)) int64_t
trains_core(int64_t T, int64_t n_emit, int64_t n_in, const int64_t *pos_emit, const int64_t *starts, int64_t n_starts,
            int64_t batch, int64_t gated, const int64_t *flits, const int64_t *packets, const int64_t *packed,
            const SpineReady *rd, int64_t chunk, int64_t *tid, double *tr_ready, int64_t *tr_flits,
            int64_t *tr_packets) {
    /* packed (or NULL: flits and packets): a spine's packets << 32 | its flits, one stream to read and one sum for
     * both (a train's flits stay far below 2^32) */
    int64_t ntr = 0, sent = 0, start_cum = 0, prev_key = 0, prev_piece = 0, piece_end = 0;
    int64_t g = 0; /* the busy period of the previous spine's position (positions rarely go back: a walk) */
    int64_t q_g = -1, q = 0, q_lo = 0; /* the previous spine's transaction in its busy period, from position q_lo */
    int64_t last_t = 0, last_e = 0, last_k = 0; /* the current train's last spine */
    int64_t acc_flits = 0, acc_packets = 0, acc_packed = 0; /* the current train's flits and packets so far */
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
                /* (p - starts[g]) / batch, by a walk from the previous spine's transaction (a division only
                 * when the position jumps: the same integer either way) */
                if (g != q_g || p < q_lo || p >= q_lo + 2 * batch) {
                    q = (p - starts[g]) / batch;
                    q_lo = starts[g] + q * batch;
                    q_g = g;
                } else if (p >= q_lo + batch) {
                    q++;
                    q_lo += batch;
                }
                tx = (g << 20) + q;
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
                if (packed) {
                    acc_flits = acc_packed & 0xffffffff;
                    acc_packets = acc_packed >> 32;
                }
                if (ntr > 0) { /* the previous train closes */
                    tr_ready[ntr - 1] = spine_ready(rd, pos_emit, last_t, last_e, last_k);
                    tr_flits[ntr - 1] = acc_flits ? acc_flits : 1; /* all empty: one head-only flit */
                    tr_packets[ntr - 1] = acc_flits ? acc_packets : 1;
                }
                acc_flits = 0;
                acc_packets = 0;
                acc_packed = 0;
                ntr++;
            }
            tid[k] = ntr - 1;
            int64_t fl;
            if (packed) {
                acc_packed += packed[k];
                fl = packed[k] & 0xffffffff;
            } else {
                fl = flits[k];
                acc_flits += fl;
                acc_packets += packets[k];
            }
            last_t = t;
            last_e = e;
            last_k = k;
            sent += fl;
            prev_key = key;
            prev_piece = piece;
        }
    }
    if (packed) {
        acc_flits = acc_packed & 0xffffffff;
        acc_packets = acc_packed >> 32;
    }
    if (ntr > 0) {
        tr_ready[ntr - 1] = spine_ready(rd, pos_emit, last_t, last_e, last_k);
        tr_flits[ntr - 1] = acc_flits ? acc_flits : 1;
        tr_packets[ntr - 1] = acc_flits ? acc_packets : 1;
    }
    return ntr;
}

/* trains_core with each spine's ready cycle from ready (T * n_emit), or (ready NULL) rec_ready's formula over
 * finish (T * n_in) and offset (T * n_emit). */
REC_API int64_t rec_trains(int64_t T, int64_t n_emit, int64_t n_in, const int64_t *pos_emit,
                           const int64_t *starts, int64_t n_starts, int64_t batch, int64_t gated,
                           const int64_t *flits, const int64_t *packets, const double *ready,
                           const double *finish, const double *offset, int64_t chunk,
                           int64_t *tid, double *tr_ready, int64_t *tr_flits, int64_t *tr_packets) {
    SpineReady rd = {ready, ready ? NULL : finish, offset, NULL, n_in};
    return trains_core(T, n_emit, n_in, pos_emit, starts, n_starts, batch, gated, flits, packets, NULL, &rd, chunk,
                       tid, tr_ready, tr_flits, tr_packets);
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
    SpineReady rd = {NULL, finish, offset, NULL, n_in}; /* the formula the trains use for a train's last spine */
    for (int64_t t = 0; t < T; t++)
        for (int64_t e = 0; e < n_emit; e++) ready[t * n_emit + e] = spine_ready(&rd, pos_emit, t, e, t * n_emit + e);
}

/* The NoC's ports and links as FIFO servers over every flow's trains (port_queues_py's, merging, not sorting):
 * flow f's trains are places [flow_first[f], flow_first[f] + flow_size[f]) of t0 (the cycle each leaves,
 * nondecreasing within a flow) and ser (its serialisation cycles); resource r serves the trains of the flows
 * res_flow[res_ptr[r] .. res_ptr[r + 1]) (in increasing flow order), a train reaching it res_offset[.] cycles
 * after it leaves. Each resource takes its trains in arrival order, ties in place order (a k-way merge of its
 * flows), and each train keeps the largest wait any resource gives it: wait[place] = max(...). */
/* One train through a FIFO server (the closed form's step): it reaches the server at a and takes s cycles; c is the
 * running sum of the service, m the running max of (arrival - service before it). Returns the train's wait. */
static inline double fifo_step(double a, double s, double *c, double *m) {
    *c = *c + s;
    double before = *c - s;
    double d = a - before;
    if (d < 0.0) d = 0.0;
    if (d > *m) *m = d;
    return ((*c + *m) - s) - a;
}

REC_API void rec_port_queues(int64_t n_res, const int64_t *res_ptr, const int64_t *res_flow,
                             const double *res_offset, const int64_t *flow_first, const int64_t *flow_size,
                             const double *t0, const double *ser, int64_t *cursor, double *wait) {
    for (int64_t r = 0; r < n_res; r++) {
        int64_t lo = res_ptr[r], hi = res_ptr[r + 1];
        double c = 0.0, m = 0.0;
        if (hi - lo == 1) { /* one flow: its trains in order, nothing to merge */
            const int64_t f = res_flow[lo];
            const double off = res_offset[lo];
            for (int64_t q = flow_first[f]; q < flow_first[f] + flow_size[f]; q++) {
                double w = fifo_step(t0[q] + off, ser[q], &c, &m);
                if (w > wait[q]) wait[q] = w;
            }
            continue;
        }
        for (int64_t i = lo; i < hi; i++) cursor[i] = flow_first[res_flow[i]];
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
            double w = fifo_step(ba, ser[q], &c, &m);
            if (w > wait[q]) wait[q] = w;
        }
    }
}

/* ---- one analytic pass over every slice (analytic.solve's passes; analytic.evaluate is its reference) ----
 *
 * Slices in layer order, each described by a row of sm (S_NCOL int64 columns, below) and its producer parts by
 * rows of qm (Q_NCOL columns: a part is one producer slice of one producer link). The plan's static arrays are
 * concatenated, each slice at its offsets: cum and before (positions), pos_emit (emitted spines of one step),
 * emit_offset and packed (emitted spines: packets << 32 | flits), last_offset (steps), skip (a skip part's (T, n_emit + 1)
 * running sums of residual-unit cycles) and posmap (a part's absorption position per emitted spine).
 *
 * The pass writes two buffers, each slice at its static offsets (lay = {cap, sum_T}, cap = sum of T * n_emit):
 *   fb (double): tr_ready [cap] | step_end [sum_T] | answer per step [sum_T] | first_finish [S] | answer first [S]
 *   ib (int64):  tr_flits [cap] | tr_packets [cap] | tr_ser [cap] | n_trains [S] | n_tx [S] | train offset [S]
 * A slice's trains follow the previous slice's (at its train offset; a slice has at most T * n_emit of them, so
 * cap is enough and only what the trains take is touched); each spine's train goes to i_tid (cap, at the slice's
 * spine offset), one buffer for both passes: the second pass's reused slices keep the first's.
 *
 * The second pass carries each train's wait at the NoC (c_t0: every flow's trains' leave cycles in the previous
 * pass, c_wait their waits, flow f at places [c_first[f], c_first[f] + c_size[f])) and copies the slices
 * marked reuse from the previous pass's buffers (prev_fb, prev_ib). Scratch, kept by the caller between passes:
 * arrive, finish and starts (the largest T * n_in), tail (the largest T * n_emit), gate (the largest T). */
enum { S_T, S_NIN, S_NEMIT, S_NOUT, S_POS, S_EMIT, S_SPINE, S_STEP, S_LASTPOS, S_FIRSTPOS, S_PLO, S_PHI, S_PROD,
       S_OUT, S_REUSE, S_SHIFTED, S_CHUNK, S_NCOL };
enum { Q_SRC, Q_SKIP, Q_POSMAP, Q_FLATTEN, Q_FLOW, Q_ZL, Q_NCOL };

/* analytic._carry, added to tail: each of the n_now trains leaving at x[j] takes the previous pass's wait of the
 * train at the same index (same count), else of the last train that left at or before x[j] (ties: the later
 * one), else of the first to leave. The trains leave in order, nearly always: a walk, a search when x goes back. */
static void add_carry(double *tail, const double *x, int64_t n_now, const double *then, const double *wait,
                      int64_t n_then) {
    if (n_then == n_now) {
        for (int64_t j = 0; j < n_now; j++) tail[j] = tail[j] + wait[j];
        return;
    }
    if (n_then == 0) return; /* + 0.0: the same double */
    int sorted = 1;
    for (int64_t i = 1; i < n_then; i++)
        if (then[i] < then[i - 1]) {
            sorted = 0;
            break;
        }
    if (sorted) {
        int64_t lo = 0; /* how many trains of then left at or before x[j] */
        for (int64_t j = 0; j < n_now; j++) {
            const double xj = x[j];
            if (lo > 0 && then[lo - 1] > xj) { /* went back: a binary search */
                int64_t hi = lo;
                lo = 0;
                while (lo < hi) {
                    int64_t mid = lo + (hi - lo) / 2;
                    if (then[mid] <= xj) lo = mid + 1;
                    else hi = mid;
                }
            }
            while (lo < n_then && then[lo] <= xj) lo++;
            tail[j] = tail[j] + wait[lo > 0 ? lo - 1 : 0];
        }
        return;
    }
    /* not in order: a stable sort's searchsorted, the largest (then, index) at or before x, else the smallest */
    for (int64_t j = 0; j < n_now; j++) {
        int64_t best = -1, low = 0;
        for (int64_t i = 0; i < n_then; i++) {
            if (then[i] <= x[j] && (best < 0 || then[i] >= then[best])) best = i;
            if (then[i] < then[low]) low = i;
        }
        tail[j] = tail[j] + wait[best >= 0 ? best : low];
    }
}

REC_API void rec_pass(int64_t S, const int64_t *sm, const double *first_offset, const int64_t *qm,
                         const double *cum, const double *before, const int64_t *pos_emit,
                         const double *emit_offset, const double *last_offset, const int64_t *packed,
                         const int64_t *skip, const int64_t *posmap, int64_t policy,
                         int64_t batch, int64_t flit_bits, int64_t link_bits, const int64_t *lay,
                         const double *c_t0, const double *c_wait, const int64_t *c_first, const int64_t *c_size,
                         const double *prev_fb, const int64_t *prev_ib, double *fb, int64_t *ib, int64_t *i_tid,
                         double *arrive, double *finish, int64_t *starts, double *tail, double *gate) {
    const int64_t cap = lay[0], sum_T = lay[1];
    double *f_ready = fb, *f_step = fb + cap, *f_ans = fb + cap + sum_T, *f_first = fb + cap + 2 * sum_T;
    double *f_ans_first = f_first + S;
    int64_t *i_fl = ib, *i_pk = ib + cap, *i_ser = ib + 2 * cap;
    int64_t *i_ntr = ib + 3 * cap, *i_ntx = i_ntr + S, *i_off = i_ntx + S;
    int64_t tro = 0; /* the trains written so far: a slice's go right after the previous slice's */
    for (int64_t s = 0; s < S; s++) {
        const int64_t *m = sm + s * S_NCOL;
        const int64_t T = m[S_T], n_in = m[S_NIN], n_emit = m[S_NEMIT], has_out = m[S_NOUT];
        const int64_t sp = m[S_SPINE], st = m[S_STEP], N = T * n_in;
        i_off[s] = tro;
        if (m[S_REUSE] && prev_fb) { /* its input is on chip from cycle 0: the previous pass's, as it is (its
                                      * spines' trains, tid, are still the previous pass's: one buffer) */
            const int64_t n = prev_ib[3 * cap + s], po = prev_ib[3 * cap + 2 * S + s];
            memcpy(f_ready + tro, prev_fb + po, sizeof(double) * (size_t)n);
            memcpy(i_fl + tro, prev_ib + po, sizeof(int64_t) * (size_t)n);
            memcpy(i_pk + tro, prev_ib + cap + po, sizeof(int64_t) * (size_t)n);
            memcpy(i_ser + tro, prev_ib + 2 * cap + po, sizeof(int64_t) * (size_t)n);
            memcpy(f_step + st, prev_fb + cap + st, sizeof(double) * (size_t)T);
            memcpy(f_ans + st, prev_fb + cap + sum_T + st, sizeof(double) * (size_t)T);
            f_first[s] = prev_fb[cap + 2 * sum_T + s];
            f_ans_first[s] = prev_fb[cap + 2 * sum_T + S + s];
            i_ntr[s] = n;
            i_ntx[s] = prev_ib[3 * cap + S + s];
            tro += n;
            continue;
        }
        /* ---- arrivals: every producer part's spines with their trains' tails */
        const double *fin;
        int64_t k;
        if (m[S_PROD]) {
            memset(arrive, 0, sizeof(double) * (size_t)N);
            for (int64_t qi = m[S_PLO]; qi < m[S_PHI]; qi++) {
                const int64_t *q = qm + qi * Q_NCOL;
                const int64_t p = q[Q_SRC], *pm = sm + p * S_NCOL;
                const int64_t pe = pm[S_NEMIT], psp = pm[S_SPINE], ntr = i_ntr[p], pto = i_off[p];
                if (pe == 0) continue;
                const double *pr = f_ready + pto;
                const int64_t *pser = i_ser + pto, *ptid = i_tid + psp;
                const int64_t zl = q[Q_ZL];
                for (int64_t j = 0; j < ntr; j++) tail[j] = pr[j] + (double)(zl + pser[j]);
                if (q[Q_FLOW] >= 0 && c_t0) {
                    const int64_t f = q[Q_FLOW];
                    add_carry(tail, pr, ntr, c_t0 + c_first[f], c_wait + c_first[f], c_size[f]);
                }
                rec_arrive(T, n_in, pe, ptid, tail, q[Q_SKIP] >= 0 ? skip + q[Q_SKIP] : NULL,
                           q[Q_POSMAP] >= 0 ? posmap + q[Q_POSMAP] : NULL, q[Q_FLATTEN], arrive);
            }
            /* ---- the lane group: one FIFO server over the positions (rec_server); the costs before a
             * position read from the running sum when they are its previous entry (m[S_SHIFTED]: checked) */
            k = server_core(N, arrive, cum + m[S_POS], m[S_SHIFTED] ? NULL : before + m[S_POS], finish, starts);
            fin = finish;
        } else { /* its input is on chip at cycle 0: the server never waits, F = C */
            fin = cum + m[S_POS];
            starts[0] = 0;
            k = 1;
        }
        int64_t ntx = 0;
        for (int64_t j = 0; j < k; j++) {
            int64_t len = (j + 1 < k ? starts[j + 1] : N) - starts[j];
            ntx += (len + batch - 1) / batch;
        }
        i_ntx[s] = ntx;
        /* ---- each step's last output, the first output */
        double *step_end = f_step + st;
        for (int64_t t = 0; t < T; t++)
            step_end[t] = has_out ? ceil((fin[t * n_in + m[S_LASTPOS]] + last_offset[st + t]) - 1e-9) : 0.0;
        f_first[s] = has_out ? ceil((fin[m[S_FIRSTPOS]] + first_offset[s]) - 1e-9) : 0.0;
        /* ---- trains: each spine's ready cycle at once (spine, token), at its step's end (tbt), the layer's (lbl) */
        SpineReady rd = {NULL, NULL, NULL, NULL, n_in};
        const double *off = emit_offset + sp;
        if (policy == 0) {
            rd.finish = fin;
            rd.offset = off;
        } else if (policy == 1) {
            rd.step = step_end;
        } else {
            for (int64_t t = 0; t < T; t++) gate[t] = step_end[T - 1];
            rd.step = gate;
        }
        const int64_t *pem = pos_emit + m[S_EMIT];
        int64_t ntr = 0;
        if (n_emit)
            ntr = trains_core(T, n_emit, n_in, pem, starts, k, batch, policy != 0, NULL, NULL, packed + sp, &rd,
                              m[S_CHUNK], i_tid + sp, f_ready + tro, i_fl + tro, i_pk + tro);
        i_ntr[s] = ntr;
        for (int64_t j = tro; j < tro + ntr; j++) {
            int64_t ser = (i_fl[j] * flit_bits + link_bits - 1) / link_bits;
            i_ser[j] = ser > 1 ? ser : 1;
        }
        tro += ntr;
        /* ---- the answer: every spine's ready cycle (the output layer), else the slice's outputs */
        if (m[S_OUT]) {
            double *ans = f_ans + st;
            if (n_emit) {
                double lo = 0.0;
                for (int64_t t = 0; t < T; t++) {
                    double hi = 0.0;
                    for (int64_t e = 0; e < n_emit; e++) {
                        double r = spine_ready(&rd, pem, t, e, t * n_emit + e);
                        if (e == 0 || r > hi) hi = r;
                        if ((t == 0 && e == 0) || r < lo) lo = r;
                    }
                    ans[t] = hi;
                }
                f_ans_first[s] = lo;
            } else {
                for (int64_t t = 0; t < T; t++) ans[t] = step_end[t];
                f_ans_first[s] = f_first[s];
            }
        }
    }
}

/* An importable extension module with nothing in it: the functions above are called through ctypes. */
static struct PyModuleDef rec_module = {PyModuleDef_HEAD_INIT, "_recurrences", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__recurrences(void) { return PyModule_Create(&rec_module); }
