/* SPDX-License-Identifier: MIT */
/*
    plot.h -- CSV files and SVG charts from C, with no plotting dependency.

    A small header-only helper for parx's examples and benchmarks (it does
    not use parx at all): a program that measured something writes its
    numbers as CSV, for a spreadsheet or a script, and as an SVG chart that
    any browser, GitHub's README view included, shows as it is. Only C11 and
    its standard library (stdio, string, strtod) are used -- not even libm:
    the logarithm and exponential it needs are computed here -- so including
    it adds no link flag.

    Use
    ===
        #include "plot.h"

        // (1) CSV: named columns of doubles, one row per index.
        const char *names[] = {"workers", "speedup"};
        const double *cols[] = {workers, speedup};
        int rc = plot_csv_write("scaling.csv", 2, names, cols, n);   // 0 or -errno
        // (plot_csv_write_labeled puts a column of text first, e.g. bar labels.)

        // (2) A line chart: one or more series of (x, y) points.
        plot_series s = {.name = "parx_for", .x = workers, .y = speedup, .n = n};
        rc = plot_line_svg("scaling.svg", &(plot_line_desc){
            .title = "Speedup vs workers", .x_label = "workers",
            .y_label = "speedup", .series = &s, .nseries = 1,
            .ideal = 1,            // the dashed y = x line a perfect speedup would follow
            .log_x = 2});          // worker counts 1, 2, 4, 8, ...: a log2 axis

        // (3) A bar chart: a label and a value per bar, the value printed on it.
        rc = plot_bar_svg("overhead.svg", &(plot_bar_desc){
            .title = "Overhead per backend", .value_label = "ns (log scale)",
            .labels = labels, .values = ns, .nbars = k, .unit = " ns",
            .log_scale = 1});      // overheads span ns to ms: one decade per step

    Every function returns 0 on success or a negative errno value: -EINVAL
    for a NULL or empty argument, the errno of fopen() when the file cannot
    be created, -EIO when a write fails. The file is closed in every case.
    Functions are `static inline` so that a program may include this header
    and use only some of them without an "unused function" warning.

    What the SVG holds (so tests and scripts can rely on it)
    ========================================================
    A standalone SVG 1.1 document (xmlns, width/height and viewBox): one
    white background <rect> (charts stay readable on a dark page), a <title>,
    the axes with ticks at round numbers (1, 2 or 5 times a power of ten on a
    linear axis, whole numbers only where every x is one; every power of the
    base on a log axis), axis labels, then
      - line chart: one <polyline> per series with a <circle> at each point,
        one more dashed <polyline> for the ideal line when asked for, and a
        legend in the top-left corner (a <rect> box with a <line> per entry);
      - bar chart: one <rect class="bar"> per bar and the value as text at
        its end. A value that cannot be drawn (not finite, or <= 0 on a log
        axis) gets no bar and "n/a" as its text.
    All text (title, labels, names) is XML-escaped: `<`, `&`, `>`, quotes.
    Points that are not finite (or <= 0 on a log axis) are left out of lines.
*/
#ifndef PARX_EXAMPLES_PLOT_H_INCLUDED
#define PARX_EXAMPLES_PLOT_H_INCLUDED

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h> /* strtod */
#include <string.h>

/* ===== API ================================================================ */

/* One line of a line chart: n points (x[i], y[i]). */
typedef struct plot_series {
    const char *name; /* legend text; NULL: "series 1", "series 2", ... */
    const double *x;  /* n x values */
    const double *y;  /* n y values */
    size_t n;         /* number of points, >= 1 */
} plot_series;

/* A line chart. Zeroed fields mean the defaults. */
typedef struct plot_line_desc {
    const char *title;         /* above the chart; NULL: none */
    const char *x_label;       /* under the x axis; NULL: none */
    const char *y_label;       /* beside the y axis; NULL: none */
    const plot_series *series; /* nseries series, drawn in palette colours */
    size_t nseries;            /* >= 1 */
    int ideal;                 /* nonzero: a dashed y = x line named "ideal" (speedup charts) */
    int log_x;                 /* 0: linear x axis; 2 or 10 (any base >= 2): logarithmic */
    int log_y;                 /* 0: linear y axis (it always includes 0); else log base */
    int width, height;         /* pixels; 0: 720 x 440 */
} plot_line_desc;

/* A bar chart. Zeroed fields mean the defaults. */
typedef struct plot_bar_desc {
    const char *title;         /* above the chart; NULL: none */
    const char *value_label;   /* the value axis' label, e.g. "ns per task"; NULL: none */
    const char *const *labels; /* nbars labels (NULL entries print as "") */
    const double *values;      /* nbars values */
    size_t nbars;              /* >= 1 */
    const char *unit;          /* appended to each printed value, e.g. " ns"; NULL: none */
    const char *const *texts;  /* NULL, or nbars texts printed on the bars instead of the
                                  values (e.g. "59 ns", "1.1 ms": units that vary per bar) */
    int vertical;              /* 0: horizontal bars, labels at the left (long labels fit) */
    int log_scale;             /* nonzero: log10 value axis, for values spanning decades */
    int width, height;         /* pixels; 0: sized to the labels and the number of bars */
} plot_bar_desc;

/* Every function below: thread safety, any thread (no state is kept between
   calls; two calls writing one path at once leave either file). Text
   (names, titles, labels) is escaped for CSV or XML but must be valid
   UTF-8: it is not checked. */

/* Writes `path` as CSV (RFC 4180): a header of the ncols names (quoted when
   they hold a comma, a quote or a line break), then nrows rows; cols[c][r] is
   row r of column c. Values are printed with as many significant digits
   (15 to 17) as it takes for strtod() to read back the same doubles; a value that is not finite is an
   empty field. Returns 0 or -errno. */
static inline int plot_csv_write(const char *path, size_t ncols, const char *const *names,
                                 const double *const *cols, size_t nrows);

/* The same with a first column of text: labels[r] heads row r (quoted like
   the names where needed), under the header label_name; for a bar chart's
   data, say. Returns 0 or -errno. */
static inline int plot_csv_write_labeled(const char *path, const char *label_name,
                                         const char *const *labels, size_t ncols,
                                         const char *const *names, const double *const *cols,
                                         size_t nrows);

/* Writes `path` as an SVG line chart described by `d`. Returns 0 or -errno. */
static inline int plot_line_svg(const char *path, const plot_line_desc *d);

/* Writes `path` as an SVG bar chart described by `d`. Returns 0 or -errno. */
static inline int plot_bar_svg(const char *path, const plot_bar_desc *d);

/* ===== Implementation ===================================================== */

/* >>numbers: small maths without libm ------------------------------------- */

/* Finite means neither NaN (the only value unequal to itself) nor infinite
   (inf - inf is NaN, so the difference is not 0). */
static inline int plot__finite(double v)
{
    return v == v && v - v == 0.0;
}

/* floor() for the modest magnitudes a chart's axis needs (|x| < 2^62). */
static inline double plot__floor(double x)
{
    double i = (double)(long long)x; /* truncates toward zero */
    return i > x ? i - 1.0 : i;
}

static inline double plot__ceil(double x)
{
    double i = (double)(long long)x;
    return i < x ? i + 1.0 : i;
}

/* Natural logarithm of x > 0: write x = m * 2^e with m in [1, 2), then
   ln m = 2 atanh(z) = 2 (z + z^3/3 + z^5/5 + ...) with z = (m-1)/(m+1) < 1/3,
   a series whose terms shrink at least ninefold each: 30 terms reach the
   last bit of a double. */
static inline double plot__ln(double x)
{
    int e = 0;
    while (x >= 2.0) {
        x *= 0.5; /* exact: halving only changes the exponent */
        e++;
    }
    while (x < 1.0) {
        x *= 2.0;
        e--;
    }
    double z = (x - 1.0) / (x + 1.0), z2 = z * z, term = z, sum = 0.0;
    for (int k = 1; k < 60; k += 2) {
        sum += term / k;
        term *= z2;
    }
    return 2.0 * sum + e * 0.69314718055994530942; /* + e ln 2 */
}

/* e^u: halve u until |u| <= 1, sum the Taylor series there (30 terms are
   plenty), then square back: e^u = (e^(u/2))^2. */
static inline double plot__exp(double u)
{
    int k = 0;
    while (u > 1.0 || u < -1.0) {
        u /= 2.0;
        k++;
    }
    double sum = 1.0, term = 1.0;
    for (int j = 1; j < 30; j++) {
        term *= u / j;
        sum += term;
    }
    while (k-- > 0) {
        sum *= sum;
    }
    return sum;
}

/* base^k for an integer k, by repeated multiplication (exact for small
   powers of 2 and 10, which are all the ticks need). */
static inline double plot__pow(double base, int k)
{
    double r = 1.0;
    for (int i = 0; i < (k < 0 ? -k : k); i++) {
        r *= base;
    }
    return k < 0 ? 1.0 / r : r;
}

/* Formats v with about `sig` significant digits and no exponent where that
   stays short (0.001 <= |v| < 10^6): "52300", "1.23", "0.0123"; otherwise
   in compact exponent form, "1.5e8" or "2e-6" rather than printf's
   "1.5e+08". */
static inline void plot__fmt(char *buf, size_t size, double v, int sig)
{
    double a = v < 0 ? -v : v;
    if (!plot__finite(v)) {
        snprintf(buf, size, "n/a");
    } else if (a == 0.0 || (a >= 1e-3 && a < 1e6)) {
        int intdigits = 1; /* digits before the point: 1 for a < 10 */
        for (double t = a; t >= 10.0; t /= 10.0) {
            intdigits++;
        }
        int decimals = sig - intdigits;
        if (a != 0.0 && a < 1.0) { /* zeros after the point are not significant */
            for (double t = a; t < 1.0; t *= 10.0) {
                decimals++;
            }
        }
        if (decimals < 0) {
            decimals = 0;
        }
        snprintf(buf, size, "%.*f", decimals, v);
        /* "1.50" -> "1.5", "2.00" -> "2": trailing zeros say nothing. */
        if (strchr(buf, '.') != NULL) {
            size_t n = strlen(buf);
            while (n > 0 && buf[n - 1] == '0') {
                buf[--n] = '\0';
            }
            if (n > 0 && buf[n - 1] == '.') {
                buf[--n] = '\0';
            }
        }
    } else {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%.*g", sig, v);
        /* Copy, dropping the exponent's '+' and leading zeros. */
        size_t o = 0;
        for (const char *p = tmp; *p != '\0' && o + 1 < size; p++) {
            buf[o++] = *p;
            if (*p == 'e') {
                p++;
                if (*p == '-' && o + 1 < size) {
                    buf[o++] = '-';
                    p++;
                } else if (*p == '+') {
                    p++;
                }
                while (*p == '0' && p[1] != '\0') {
                    p++;
                }
                p--; /* the loop's p++ steps onto the first digit kept */
            }
        }
        buf[o] = '\0';
    }
}

/* >>svg: text and file helpers --------------------------------------------- */

/* Writes s with the five XML specials escaped. Control characters other than
   tab and newline are not allowed in XML 1.0 at all: they become '?'. */
static inline void plot__esc(FILE *f, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fputc(c < 0x20 && c != '\t' && c != '\n' ? '?' : c, f); break;
        }
    }
}

/* A rough text width in pixels for a sans-serif font of size px: about 0.6
   em per character (SVG cannot measure text for us; layout only needs room). */
static inline double plot__text_w(const char *s, double px)
{
    return (s != NULL ? (double)strlen(s) : 0.0) * px * 0.6;
}

/* Opens path for writing; NULL with *rc = -errno on failure. */
static inline FILE *plot__open(const char *path, int *rc)
{
    errno = 0;
    FILE *f = fopen(path, "w");
    *rc = f != NULL ? 0 : (errno != 0 ? -errno : -EIO);
    return f;
}

/* Closes f and says whether everything reached the file: a write error is
   sticky in ferror(), and fclose() flushes what is still buffered. */
static inline int plot__close(FILE *f)
{
    int bad = ferror(f);
    errno = 0;
    if (fclose(f) != 0) {
        return errno != 0 ? -errno : -EIO;
    }
    return bad ? -EIO : 0;
}

/* Colour i of the Okabe-Ito palette: eight colours that colour-blind
   readers can tell apart. Series take them in turn. (A function rather than
   a file-scope array, so a program that uses no chart has no unused one.) */
static inline const char *plot__color(size_t i)
{
    static const char *const palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                          "#E69F00", "#56B4E9", "#000000", "#F0E442"};
    return palette[i % (sizeof palette / sizeof palette[0])];
}

static inline void plot__svg_begin(FILE *f, int w, int h, const char *title)
{
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
            w, h, w, h);
    fputs("<title>", f);
    plot__esc(f, title != NULL ? title : "chart");
    fputs("</title>\n", f);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", w, h);
    if (title != NULL) {
        fprintf(f, "<text x=\"%.1f\" y=\"24\" text-anchor=\"middle\" font-size=\"16\" "
                   "font-weight=\"bold\">", w / 2.0);
        plot__esc(f, title);
        fputs("</text>\n", f);
    }
}

/* The document must end exactly with "</svg>\n". */
static inline void plot__svg_end(FILE *f)
{
    fputs("</svg>\n", f);
}

/* >>axis: mapping values to pixels, choosing ticks ------------------------- */

/* An axis maps a value to a pixel. On a log axis, lo/hi are exponents (the
   axis runs from base^lo to base^hi); on a linear one, values, and step is
   the distance between ticks. p0 is the pixel of lo, p1 that of hi (for a
   y axis p0 > p1: SVG's y grows downwards). */
typedef struct plot__axis {
    double lo, hi, step;
    int base; /* 0: linear */
    double lnbase;
    double p0, p1;
    int fitted; /* lo and hi are set (plot__axis_fit has run) */
} plot__axis;

/* Fits an axis to values in [vmin, vmax] (at least one finite value, and
   vmin > 0 on a log axis). A linear axis is widened to whole multiples of a
   round step -- 1, 2 or 5 times a power of ten, about five ticks -- and to
   include 0 when include_zero is set; the step is at least 1 when integer
   is set. */
static inline void plot__axis_fit(plot__axis *a, double vmin, double vmax, int base,
                                  int include_zero, int integer)
{
    a->fitted = 1;
    a->base = base >= 2 ? base : 0;
    if (a->base != 0) {
        a->lnbase = plot__ln((double)a->base);
        /* The 1e-9 keeps an exact power (log10(1000) computed as 2.9999...)
           on its own tick instead of one decade further out. */
        a->lo = plot__floor(plot__ln(vmin) / a->lnbase + 1e-9);
        a->hi = plot__ceil(plot__ln(vmax) / a->lnbase - 1e-9);
        if (a->hi <= a->lo) {
            a->hi = a->lo + 1.0;
        }
        a->step = 1.0;
        return;
    }
    if (include_zero) {
        vmin = vmin > 0.0 ? 0.0 : vmin;
        vmax = vmax < 0.0 ? 0.0 : vmax;
    }
    if (vmax - vmin <= 0.0) { /* one value: give it some room */
        double pad = vmin != 0.0 ? (vmin < 0 ? -vmin : vmin) * 0.5 : 1.0;
        vmin -= include_zero && vmin == 0.0 ? 0.0 : pad;
        vmax += pad;
    }
    /* A range no step can describe (it overflows, or is below the smallest
       normal double): a plain 0..1 axis, the points off it left out. */
    if (!(vmax - vmin < 1e300) || !(vmax - vmin > 1e-300)) {
        vmin = 0.0;
        vmax = 1.0;
    }
    /* A raw step of a fifth of the range, rounded to 1, 2 or 5 x 10^k (the
       loops end: raw lies within [1e-301, 2e299] here). */
    double raw = (vmax - vmin) / 5.0, mag = 1.0;
    while (mag * 10.0 <= raw) {
        mag *= 10.0;
    }
    while (mag > raw) {
        mag /= 10.0;
    }
    double norm = raw / mag;
    a->step = (norm < 1.5 ? 1.0 : norm < 3.0 ? 2.0 : norm < 7.0 ? 5.0 : 10.0) * mag;
    if (integer && a->step < 1.0) {
        a->step = 1.0; /* whole-number data (thread counts): no tick at 1.5 */
    }
    a->lo = plot__floor(vmin / a->step + 1e-9) * a->step;
    a->hi = plot__ceil(vmax / a->step - 1e-9) * a->step;
}

/* Whether v can be drawn on the axis at all: finite, positive on a log
   axis, and once the axis is fitted within its range (a little slack for
   rounding), which every value is unless the range had to be replaced
   (see plot__axis_fit). */
static inline int plot__axis_ok(const plot__axis *a, double v)
{
    if (!plot__finite(v) || (a->base != 0 && v <= 0.0)) {
        return 0;
    }
    if (!a->fitted) {
        return 1;
    }
    double u = a->base == 0 ? v : plot__ln(v) / a->lnbase, slack = 1e-6 * (a->hi - a->lo);
    return u >= a->lo - slack && u <= a->hi + slack;
}

/* The pixel coordinate of value v (which must pass plot__axis_ok). */
static inline double plot__axis_px(const plot__axis *a, double v)
{
    double t = a->base != 0 ? plot__ln(v) / a->lnbase : v;
    return a->p0 + (t - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0);
}

/* Number of ticks and the value of tick i (ticks run from lo to hi). */
static inline int plot__axis_nticks(const plot__axis *a)
{
    return (int)((a->hi - a->lo) / a->step + 0.5) + 1;
}

static inline double plot__axis_tick(const plot__axis *a, int i)
{
    if (a->base != 0) {
        return plot__pow((double)a->base, (int)a->lo + i);
    }
    double v = a->lo + i * a->step;
    /* 0.1 + 0.2 style drift could print "-0" or "1e-17" for zero. */
    return (v < 0 ? -v : v) < a->step * 1e-9 ? 0.0 : v;
}

/* Draws an axis: the grid line, tick mark and label of each tick (plus
   unlabelled minor grid lines at 2..9 x 10^k on a log10 axis), the axis
   line, and the axis label. (x0, y0)-(x1, y1) is the plot area, horizontal
   says which axis this is. */
static inline void plot__axis_draw(FILE *f, const plot__axis *a, int horizontal, double x0,
                                   double y0, double x1, double y1, const char *label)
{
    char buf[48];
    int n = plot__axis_nticks(a);
    for (int i = 0; i < n; i++) {
        double v = plot__axis_tick(a, i);
        double p = plot__axis_px(a, v);
        if (a->base == 10 && i + 1 < n) { /* minor grid lines inside this decade */
            for (int m = 2; m <= 9; m++) {
                double q = plot__axis_px(a, v * m);
                if (horizontal) {
                    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                               "stroke=\"#f0f0f0\"/>\n", q, y0, q, y1);
                } else {
                    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                               "stroke=\"#f0f0f0\"/>\n", x0, q, x1, q);
                }
            }
        }
        plot__fmt(buf, sizeof buf, v, 6);
        if (horizontal) {
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n"
                       "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\"/>\n"
                       "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                    p, y0, p, y1, p, y1, p, y1 + 5, p, y1 + 18, buf);
        } else {
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n"
                       "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\"/>\n"
                       "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                    x0, p, x1, p, x0 - 5, p, x0, p, x0 - 8, p + 4, buf);
        }
    }
    /* The axis line itself, over the grid. */
    if (horizontal) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\"/>\n",
                x0, y1, x1, y1);
    } else {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\"/>\n",
                x0, y0, x0, y1);
    }
    if (label != NULL) {
        if (horizontal) {
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", (x0 + x1) / 2,
                    y1 + 40);
        } else { /* rotated to read bottom-up, left of the tick labels */
            fprintf(f, "<text x=\"0\" y=\"0\" text-anchor=\"middle\" "
                       "transform=\"translate(%.1f %.1f) rotate(-90)\">", x0 - 52, (y0 + y1) / 2);
        }
        plot__esc(f, label);
        fputs("</text>\n", f);
    }
}

/* >>csv --------------------------------------------------------------------- */

/* A CSV field is quoted when it holds a comma, a quote or a line break;
   quotes inside are doubled (RFC 4180). */
static inline void plot__csv_field(FILE *f, const char *s)
{
    s = s != NULL ? s : "";
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s != '\0'; s++) {
        if (*s == '"') {
            fputc('"', f);
        }
        fputc(*s, f);
    }
    fputc('"', f);
}

static inline int plot_csv_write(const char *path, size_t ncols, const char *const *names,
                                 const double *const *cols, size_t nrows)
{
    return plot_csv_write_labeled(path, NULL, NULL, ncols, names, cols, nrows);
}

static inline int plot_csv_write_labeled(const char *path, const char *label_name,
                                         const char *const *labels, size_t ncols,
                                         const char *const *names, const double *const *cols,
                                         size_t nrows)
{
    if (path == NULL || ncols == 0 || names == NULL || (cols == NULL && nrows > 0) ||
        (label_name != NULL && labels == NULL && nrows > 0)) {
        return -EINVAL;
    }
    for (size_t c = 0; c < ncols && nrows > 0; c++) {
        if (cols[c] == NULL) {
            return -EINVAL;
        }
    }
    int rc;
    FILE *f = plot__open(path, &rc);
    if (f == NULL) {
        return rc;
    }
    /* label_name set: a text column first, then the numbers. */
    if (label_name != NULL) {
        plot__csv_field(f, label_name);
    }
    for (size_t c = 0; c < ncols; c++) {
        if (c > 0 || label_name != NULL) {
            fputc(',', f);
        }
        plot__csv_field(f, names[c]);
    }
    fputc('\n', f);
    for (size_t r = 0; r < nrows; r++) {
        if (label_name != NULL) {
            plot__csv_field(f, labels[r]);
        }
        for (size_t c = 0; c < ncols; c++) {
            if (c > 0 || label_name != NULL) {
                fputc(',', f);
            }
            /* The shortest of 15, 16 or 17 significant digits that reads
               back as the same double (17 always does): 1.9, not
               1.8999999999999999. */
            double v = cols[c][r];
            if (plot__finite(v)) {
                char buf[40];
                for (int prec = 15; prec <= 17; prec++) {
                    snprintf(buf, sizeof buf, "%.*g", prec, v);
                    if (strtod(buf, NULL) == v) {
                        break;
                    }
                }
                fputs(buf, f);
            }
        }
        fputc('\n', f);
    }
    return plot__close(f);
}

/* >>line --------------------------------------------------------------------- */

static inline int plot_line_svg(const char *path, const plot_line_desc *d)
{
    if (path == NULL || d == NULL || d->series == NULL || d->nseries == 0) {
        return -EINVAL;
    }
    for (size_t s = 0; s < d->nseries; s++) {
        if (d->series[s].x == NULL || d->series[s].y == NULL || d->series[s].n == 0) {
            return -EINVAL;
        }
    }
    int w = d->width > 0 ? d->width : 720, h = d->height > 0 ? d->height : 440;
    /* The plot area, inside margins for the title, tick labels and axis labels. */
    double x0 = 76, x1 = w - 24, y0 = 44, y1 = h - 56;

    /* The data's extent, over the points each axis can draw. */
    plot__axis ax = {0}, ay = {0};
    ax.base = d->log_x >= 2 ? d->log_x : 0;
    ay.base = d->log_y >= 2 ? d->log_y : 0;
    double xmin = 0, xmax = 0, ymin = 0, ymax = 0;
    int any = 0;
    for (size_t s = 0; s < d->nseries; s++) {
        const plot_series *se = &d->series[s];
        for (size_t i = 0; i < se->n; i++) {
            double x = se->x[i], y = se->y[i];
            if (!plot__axis_ok(&ax, x) || !plot__axis_ok(&ay, y)) {
                continue;
            }
            if (!any) {
                xmin = xmax = x;
                ymin = ymax = y;
                any = 1;
            }
            xmin = x < xmin ? x : xmin;
            xmax = x > xmax ? x : xmax;
            ymin = y < ymin ? y : ymin;
            ymax = y > ymax ? y : ymax;
        }
    }
    if (!any) { /* nothing drawable: still a valid, empty chart */
        xmin = ymin = 1.0;
        xmax = ymax = 2.0;
    }
    /* x values that are all whole numbers (thread or worker counts) get
       ticks at whole numbers only. */
    int x_integer = 1;
    for (size_t s = 0; s < d->nseries; s++) {
        for (size_t i = 0; i < d->series[s].n; i++) {
            double x = d->series[s].x[i];
            if (plot__finite(x) && plot__floor(x) != x) {
                x_integer = 0;
            }
        }
    }
    plot__axis_fit(&ax, xmin, xmax, ax.base, 0, x_integer);
    plot__axis_fit(&ay, ymin, ymax, ay.base, 1, 0);
    ax.p0 = x0;
    ax.p1 = x1;
    ay.p0 = y1;
    ay.p1 = y0;

    int rc;
    FILE *f = plot__open(path, &rc);
    if (f == NULL) {
        return rc;
    }
    plot__svg_begin(f, w, h, d->title);
    plot__axis_draw(f, &ax, 1, x0, y0, x1, y1, d->x_label);
    plot__axis_draw(f, &ay, 0, x0, y0, x1, y1, d->y_label);

    /* The ideal line y = x, sampled along the x axis (it is curved when only
       one axis is logarithmic) and kept where it lies inside the y range:
       y = x rises steadily, so the points kept are one unbroken run. */
    if (d->ideal) {
        fputs("<polyline class=\"ideal\" fill=\"none\" stroke=\"#888888\" "
              "stroke-width=\"1.5\" stroke-dasharray=\"6 4\" points=\"", f);
        int first = 1;
        for (int i = 0; i <= 64; i++) {
            double t = ax.lo + (ax.hi - ax.lo) * i / 64.0; /* in axis space */
            double x = ax.base != 0 ? plot__exp(t * ax.lnbase) : t; /* base^t */
            if (!plot__axis_ok(&ay, x)) {
                continue;
            }
            double py = plot__axis_px(&ay, x);
            if (py < y0 - 0.05 || py > y1 + 0.05) {
                continue;
            }
            fprintf(f, "%s%.1f,%.1f", first ? "" : " ", plot__axis_px(&ax, x), py);
            first = 0;
        }
        fputs("\"/>\n", f);
    }

    /* Each series: a polyline through its drawable points, a dot on each. */
    for (size_t s = 0; s < d->nseries; s++) {
        const plot_series *se = &d->series[s];
        const char *col = plot__color(s);
        fprintf(f, "<polyline class=\"series\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                   "points=\"", col);
        int first = 1;
        for (size_t i = 0; i < se->n; i++) {
            if (plot__axis_ok(&ax, se->x[i]) && plot__axis_ok(&ay, se->y[i])) {
                fprintf(f, "%s%.1f,%.1f", first ? "" : " ", plot__axis_px(&ax, se->x[i]),
                        plot__axis_px(&ay, se->y[i]));
                first = 0;
            }
        }
        fputs("\"/>\n", f);
        for (size_t i = 0; i < se->n; i++) {
            if (plot__axis_ok(&ax, se->x[i]) && plot__axis_ok(&ay, se->y[i])) {
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                        plot__axis_px(&ax, se->x[i]), plot__axis_px(&ay, se->y[i]), col);
            }
        }
    }

    /* The legend, top left, where a speedup chart (below its ideal line)
       leaves room: a box, then a short line in the colour and the name. */
    size_t entries = d->nseries + (d->ideal ? 1 : 0);
    double tw = plot__text_w("ideal", 12);
    char name[32];
    for (size_t s = 0; s < d->nseries; s++) {
        snprintf(name, sizeof name, "series %zu", s + 1);
        double t = plot__text_w(d->series[s].name != NULL ? d->series[s].name : name, 12);
        tw = t > tw ? t : tw;
    }
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#ffffff\" "
               "fill-opacity=\"0.9\" stroke=\"#bbbbbb\"/>\n",
            x0 + 10, y0 + 8, 44 + tw, 8 + 18.0 * (double)entries);
    for (size_t e = 0; e < entries; e++) {
        double ly = y0 + 8 + 15 + 18.0 * (double)e;
        int is_ideal = e == d->nseries;
        const char *col = is_ideal ? "#888888"
                                   : plot__color(e);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"2\"%s/>\n",
                x0 + 18, ly - 4, x0 + 42, ly - 4, col,
                is_ideal ? " stroke-dasharray=\"6 4\"" : "");
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", x0 + 48, ly);
        if (is_ideal) {
            fputs("ideal", f);
        } else if (d->series[e].name != NULL) {
            plot__esc(f, d->series[e].name);
        } else {
            fprintf(f, "series %zu", e + 1);
        }
        fputs("</text>\n", f);
    }
    plot__svg_end(f);
    return plot__close(f);
}

/* >>bar ---------------------------------------------------------------------- */

static inline int plot_bar_svg(const char *path, const plot_bar_desc *d)
{
    if (path == NULL || d == NULL || d->labels == NULL || d->values == NULL || d->nbars == 0) {
        return -EINVAL;
    }
    plot__axis av = {0};
    av.base = d->log_scale ? 10 : 0;
    double vmin = 0, vmax = 0, labw = 0;
    int any = 0;
    for (size_t i = 0; i < d->nbars; i++) {
        double t = plot__text_w(d->labels[i], 12);
        labw = t > labw ? t : labw;
        double v = d->values[i];
        if (!plot__axis_ok(&av, v)) {
            continue;
        }
        if (!any) {
            vmin = vmax = v;
            any = 1;
        }
        vmin = v < vmin ? v : vmin;
        vmax = v > vmax ? v : vmax;
    }
    if (!any) {
        vmin = 1.0;
        vmax = 10.0;
    }
    plot__axis_fit(&av, vmin, vmax, av.base, 1, 0);

    /* Layout. Horizontal: a row per bar, labels in a left column as wide as
       the longest (capped), room at the right for the printed values.
       Vertical: a column per bar, labels underneath, slanted when long. */
    int horizontal = !d->vertical;
    int slant = 0;
    double x0, x1, y0, y1;
    int w, h;
    if (horizontal) {
        labw = labw > 300 ? 300 : labw;
        w = d->width > 0 ? d->width : 720;
        h = d->height > 0 ? d->height : 44 + 30 * (int)d->nbars + 60;
        x0 = 16 + labw;
        x1 = w - 90.0;
        y0 = 44;
        y1 = h - 60.0;
        av.p0 = x0;
        av.p1 = x1;
    } else {
        w = d->width > 0 ? d->width : (int)(120 + 70 * d->nbars);
        w = w < 360 ? 360 : w;
        x0 = 76;
        x1 = w - 24.0;
        slant = labw > (x1 - x0) / (double)d->nbars - 8;
        double below = slant ? 30 + (labw > 240 ? 240 : labw) * 0.6 : 40;
        h = d->height > 0 ? d->height : (int)(44 + 300 + below);
        y0 = 44;
        y1 = h - below;
        av.p0 = y1;
        av.p1 = y0;
    }
    if (x1 <= x0 + 20 || y1 <= y0 + 20) {
        return -EINVAL; /* the caller's width or height leaves no room */
    }

    int rc;
    FILE *f = plot__open(path, &rc);
    if (f == NULL) {
        return rc;
    }
    plot__svg_begin(f, w, h, d->title);
    plot__axis_draw(f, &av, horizontal, x0, y0, x1, y1, d->value_label);
    /* The category axis: a plain line along the bars' side of the plot. */
    if (horizontal) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\"/>\n",
                x0, y0, x0, y1);
    } else {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\"/>\n",
                x0, y1, x1, y1);
    }

    /* Bars grow from the axis' origin: 0 on a linear axis, its lowest power
       of ten on a log one (a log axis has no zero). */
    double origin = av.base != 0 ? av.p0 : plot__axis_px(&av, 0.0);
    double slot = (horizontal ? y1 - y0 : x1 - x0) / (double)d->nbars;
    char buf[48];
    for (size_t i = 0; i < d->nbars; i++) {
        double v = d->values[i];
        int ok = plot__axis_ok(&av, v);
        double c0 = (horizontal ? y0 : x0) + slot * (double)i; /* the slot's start */
        double tip = ok ? plot__axis_px(&av, v) : origin;
        double lo = tip < origin ? tip : origin, len = tip < origin ? origin - tip : tip - origin;
        if (ok) {
            if (horizontal) {
                fprintf(f, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                           "height=\"%.1f\" fill=\"#0072B2\"/>\n", lo, c0 + slot * 0.15, len,
                        slot * 0.7);
            } else {
                fprintf(f, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                           "height=\"%.1f\" fill=\"#0072B2\"/>\n", c0 + slot * 0.15, lo,
                        slot * 0.7, len);
            }
        }
        /* The value, just past the bar's end (after it, or above it). */
        plot__fmt(buf, sizeof buf, v, 3);
        if (!ok) {
            snprintf(buf, sizeof buf, "n/a");
        }
        if (horizontal) {
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", (tip > origin ? tip : origin) + 4,
                    c0 + slot / 2 + 4);
        } else {
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", c0 + slot / 2,
                    (tip < origin ? tip : origin) - 4);
        }
        if (d->texts != NULL && d->texts[i] != NULL) {
            plot__esc(f, d->texts[i]);
        } else {
            fputs(buf, f); /* digits, '.', '-', 'e': nothing to escape */
            if (ok && d->unit != NULL) {
                plot__esc(f, d->unit);
            }
        }
        fputs("</text>\n", f);
        /* The bar's label: left of a row, or under a column. */
        if (horizontal) {
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", x0 - 6,
                    c0 + slot / 2 + 4);
        } else if (slant) {
            fprintf(f, "<text x=\"0\" y=\"0\" text-anchor=\"end\" "
                       "transform=\"translate(%.1f %.1f) rotate(-35)\">", c0 + slot / 2 + 4,
                    y1 + 14);
        } else {
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", c0 + slot / 2,
                    y1 + 18);
        }
        plot__esc(f, d->labels[i]);
        fputs("</text>\n", f);
    }
    plot__svg_end(f);
    return plot__close(f);
}

#endif /* PARX_EXAMPLES_PLOT_H_INCLUDED */
