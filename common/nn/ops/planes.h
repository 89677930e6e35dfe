/* planes: the phase-split padded plane layout of the direct convolutions
 * (depthwise.c's generic path, grouped.c), as static inline helpers.
 *
 * The layout: the padded plane (rows hp, columns wn: those some tap reads)
 * split into sh x sw phase sub-planes, sub-plane (a, b) holding padded
 * element (i * sh + a, j * sw + b) at [i][j], rows of len floats. Output
 * (oy, ox) then reads, for tap (ki, kj), sub-plane (ki dh % sh, kj dw % sw)
 * at [oy + ki dh / sh][ox + kj dw / sw]: with the output laid out in rows of
 * the same len (columns ow..len-1 computed and dropped), each tap is one
 * run over the whole flat plane at a fixed offset. So a 7x7 output is one
 * loop of 7 len floats per tap, not 7 loops of 7. */
#ifndef CNN_PLANES_H
#define CNN_PLANES_H

#include <stddef.h>
#include <stdint.h>

#include "nn/ops/act.h"

/* A plane convolution's geometry: c planes of h x w, outputs oh x ow,
 * kernel kh x kw, strides, top/left pads, dilations (depthwise.h's and
 * grouped.h's kernels). */
typedef struct dwgeo {
    int64_t c, h, w, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw;
} dwgeo;

typedef struct lay {
    int64_t hp, wn, len, hq, sp;   /* sp: floats per sub-plane */
    size_t area;                   /* floats of all sub-planes */
    int64_t flat;                  /* oh * len */
} lay;

static inline lay layout(const dwgeo *g)
{
    lay l;
    l.hp = (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    l.wn = (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1;
    l.len = (l.wn + g->sw - 1) / g->sw;
    l.hq = (l.hp + g->sh - 1) / g->sh;
    /* The dropped columns of the last row read up to len + (kw-1)dw/sw
     * floats past the rows. */
    l.sp = l.hq * l.len + l.len + 16;
    l.area = (size_t)(g->sh * g->sw * l.sp);
    l.flat = g->oh * l.len;
    return l;
}

/* The reach of a stride-1 plane's taps in the flat layout: the input
 * gradient reads gy this far before and after its plane (dw_xgrad). */
static inline int64_t reach(const dwgeo *g, const lay *l)
{
    return (g->kh - 1) * g->dh * l->len + (g->kw - 1) * g->dw;
}

/* The offset of each tap's run in the sub-planes. */
static inline void tap_offsets(const dwgeo *g, const lay *l, int64_t *to)
{
    for (int64_t ki = 0; ki < g->kh; ki++)
        for (int64_t kj = 0; kj < g->kw; kj++) {
            int64_t r = ki * g->dh, c = kj * g->dw;
            to[ki * g->kw + kj] = ((r % g->sh) * g->sw + c % g->sw) * l->sp +
                                  r / g->sh * l->len + c / g->sw;
        }
}

/* dst[k] = src[k s] and its adjoint, k < n; inlined with s = 2 as a
 * constant for stride 2 (the loads and stores then vectorise). */
static inline void gather(float *restrict dst, const float *restrict src, int64_t n, int64_t s)
{
    for (int64_t k = 0; k < n; k++)
        dst[k] = src[k * s];
}

static inline void scatter_add(float *restrict dst, const float *restrict src, int64_t n,
                               int64_t s)
{
    for (int64_t k = 0; k < n; k++)
        dst[k * s] += src[k];
}

/* Short rows: an inline loop beats a call of memcpy. */
static inline void copy(float *restrict dst, const float *restrict src, int64_t n)
{
#pragma omp simd
    for (int64_t k = 0; k < n; k++)
        dst[k] = src[k];
}

/* Where column phase b of a padded row takes its values: input columns
 * ix0, ix0 + sw, ... (cnt of them) at float at of the row. */
typedef struct phase {
    int64_t ix0, at, cnt;
} phase;

static inline phase col_phase(const dwgeo *g, const lay *l, int64_t b)
{
    phase c;
    int64_t xe = l->wn - g->pl < g->w ? l->wn - g->pl : g->w;
    c.ix0 = ((b - g->pl) % g->sw + g->sw) % g->sw;
    c.at = b * l->sp + (c.ix0 + g->pl) / g->sw;
    c.cnt = (xe - c.ix0 + g->sw - 1) / g->sw;
    return c;
}

/* The phases of the first DW_PH strides (the rest, rare, per row: per
 * row, the divisions cost more than copying the short rows of the late
 * layers did). */
#define DW_PH 4
typedef struct phases {
    phase b[DW_PH];
} phases;

static inline phases col_phases(const dwgeo *g, const lay *l)
{
    phases c;
    for (int64_t b = 0; b < g->sw && b < DW_PH; b++)
        c.b[b] = col_phase(g, l, b);
    return c;
}

static inline phase phase_at(const dwgeo *g, const lay *l, const phases *c, int64_t b)
{
    return b < DW_PH ? c->b[b] : col_phase(g, l, b);
}

/* body for each input row iy some tap reads, with row: where padded row
 * r = iy + pt starts (sub-plane r % sh, its row r / sh), stepped by phase
 * and row, not divided. */
#define FOR_PLANE_ROWS(g, l, iy, row, body)                                        \
    do {                                                                           \
        int64_t ph_ = (g)->pt % (g)->sh, base_ = (g)->pt / (g)->sh * (l)->len;     \
        for (int64_t iy = 0; iy < (g)->h && iy + (g)->pt < (l)->hp; iy++) {       \
            int64_t row = ph_ * (g)->sw * (l)->sp + base_;                         \
            if (++ph_ == (g)->sh)                                                  \
                ph_ = 0, base_ += (l)->len;                                        \
            body                                                                   \
        }                                                                          \
    } while (0)

/* Write plane x (h x w) into buf's interior; the rest (padding, margins)
 * no plane writes, so it stays as the caller zeroed it. */
static inline void fill_plane(const dwgeo *g, const lay *l, const phases *c, const float *x, float *buf)
{
    int64_t sw = g->sw;
    FOR_PLANE_ROWS(g, l, iy, at, {
        const float *xr = x + iy * g->w;
        float *row = buf + at;
        if (sw == 1) {
            copy(row + c->b[0].at, xr, c->b[0].cnt);
            continue;
        }
        /* Phase b holds the columns c = ix + pl = b (mod sw): input
         * columns ix0, ix0 + sw, ... (strided loads, which vectorise). */
        for (int64_t b = 0; b < sw; b++) {
            phase p = phase_at(g, l, c, b);
            if (sw == 2)
                gather(row + p.at, xr + p.ix0, p.cnt, 2);
            else
                gather(row + p.at, xr + p.ix0, p.cnt, sw);
        }
    });
}

/* The adjoint of fill_plane: gx (h x w) += buf's interior. */
static inline void unfill_plane(const dwgeo *g, const lay *l, const phases *c, const float *buf,
                         float *gx)
{
    int64_t sw = g->sw;
    FOR_PLANE_ROWS(g, l, iy, at, {
        float *restrict gr = gx + iy * g->w;
        const float *row = buf + at;
        if (sw == 1) {
            const float *restrict src = row + c->b[0].at;
            for (int64_t ix = 0; ix < c->b[0].cnt; ix++)
                gr[ix] += src[ix];
            continue;
        }
        for (int64_t b = 0; b < sw; b++) {
            phase p = phase_at(g, l, c, b);
            if (sw == 2)
                scatter_add(gr + p.ix0, row + p.at, p.cnt, 2);
            else
                scatter_add(gr + p.ix0, row + p.at, p.cnt, sw);
        }
    });
}

/* gy's plane into rows of len floats, the dropped columns zero. */
static inline void flat_gy(const dwgeo *g, const lay *l, const float *gp, float *gf)
{
    for (int64_t oy = 0; oy < g->oh; oy++) {
        copy(gf + oy * l->len, gp + oy * g->ow, g->ow);
        for (int64_t k = g->ow; k < l->len; k++)
            gf[oy * l->len + k] = 0;
    }
}

#endif
