/* SPDX-License-Identifier: MIT */
/* tests/plot.c -- examples/plot.h, the CSV and SVG writer of the examples and
   the bench: a CSV reads back to the same header and doubles; each chart is a
   standalone SVG (declaration, xmlns, viewBox, one root closed at the end),
   holds every label, escaped, and the number of lines and bars it was given;
   bad arguments give -EINVAL and an unwritable path the errno of fopen.
   Everything is written into a fresh directory under $TMPDIR (or /tmp),
   removed at the end. */
#define _GNU_SOURCE /* mkdtemp */
#include <errno.h>
#include <math.h> /* NAN (a macro: no libm) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../examples/plot.h"
#include "parx_test.h"

static char dir[4096];

/* path_in("a.svg") -> "<dir>/a.svg" (in a static buffer per call site's use). */
static const char *path_in(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", dir, name);
    return buf;
}

/* The whole file as a NUL-terminated string (caller frees), or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    size_t n;
    while (s != NULL && (n = fread(s + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            char *t = realloc(s, cap * 2);
            if (t == NULL) {
                free(s);
                s = NULL;
                break;
            }
            s = t;
            cap *= 2;
        }
    }
    fclose(f);
    if (s != NULL)
        s[len] = '\0';
    return s;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static int ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

/* What every chart must be: an XML declaration, one <svg> root with the SVG
   namespace and a viewBox, closed as the last thing in the file, and no raw
   '&' that is not an entity (the escaping check). */
static void check_svg_shape(const char *svg)
{
    CHECK(strncmp(svg, "<?xml version=\"1.0\"", 19) == 0);
    CHECK(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"") != NULL);
    CHECK(strstr(svg, "viewBox=\"0 0 ") != NULL);
    CHECK_EQ(count(svg, "<svg"), 1);
    CHECK_EQ(count(svg, "</svg>"), 1);
    CHECK(ends_with(svg, "</svg>\n"));
    CHECK_EQ(count(svg, "<text"), count(svg, "</text>"));
    for (const char *p = strchr(svg, '&'); p != NULL; p = strchr(p + 1, '&'))
        CHECK(strncmp(p, "&lt;", 4) == 0 || strncmp(p, "&gt;", 4) == 0 ||
              strncmp(p, "&amp;", 5) == 0 || strncmp(p, "&quot;", 6) == 0 ||
              strncmp(p, "&apos;", 6) == 0);
    /* Nothing unescaped from the hostile labels below made it through. */
    CHECK(strstr(svg, "<b>") == NULL);
    CHECK(strstr(svg, "a & b") == NULL);
}

static void test_csv_roundtrip(void)
{
    const double x[] = {1, 2, 4, 8, 16};
    const double y[] = {1.0, 1.9, 3.6000000000000001, 0.1 + 0.2, -2.5e-300};
    const double z[] = {0.0, 1e300, 123456789.125, 1.0 / 3.0, 42};
    const char *names[] = {"workers", "speedup, \"measured\"", "z"};
    const double *cols[] = {x, y, z};
    char path[4200];
    REQUIRE(plot_csv_write(path_in("t.csv", path, sizeof path), 3, names, cols, 5) == 0);

    FILE *f = fopen(path, "r");
    REQUIRE(f != NULL);
    char line[512];
    /* Header: the name with a comma and quotes is quoted, quotes doubled. */
    CHECK(fgets(line, sizeof line, f) != NULL);
    CHECK_STR_EQ(line, "workers,\"speedup, \"\"measured\"\"\",z\n");
    size_t rows = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        REQUIRE(rows < 5);
        char *p = line, *end;
        for (int c = 0; c < 3; c++) {
            double v = strtod(p, &end);
            CHECK(end != p);
            CHECK_MSG(v == cols[c][rows], "row %zu col %d: read %.17g, wrote %.17g", rows, c, v,
                      cols[c][rows]);
            CHECK(*end == (c < 2 ? ',' : '\n'));
            p = end + 1;
        }
        rows++;
    }
    fclose(f);
    CHECK_EQ(rows, 5);
    remove(path);

    /* A first column of text (bar labels): quoted where needed. */
    const char *labels[] = {"fork, hot", "plain"};
    const double ns[] = {250.5, 59};
    const double *cn[] = {ns};
    const char *nn[] = {"ns"};
    REQUIRE(plot_csv_write_labeled(path, "what", labels, 1, nn, cn, 2) == 0);
    char *t = slurp(path);
    REQUIRE(t != NULL);
    CHECK_STR_EQ(t, "what,ns\n\"fork, hot\",250.5\nplain,59\n");
    free(t);
    remove(path);
    CHECK_EQ(plot_csv_write_labeled(path, "what", NULL, 1, nn, cn, 2), -EINVAL);

    /* The shortest exact form is chosen: 1.9 is written as "1.9". */
    char *s = NULL;
    const double one[] = {1.9};
    const double *c1[] = {one};
    const char *n1[] = {"v"};
    REQUIRE(plot_csv_write(path, 1, n1, c1, 1) == 0);
    s = slurp(path);
    REQUIRE(s != NULL);
    CHECK_STR_EQ(s, "v\n1.9\n");
    free(s);
    remove(path);
}

static void test_line_chart(void)
{
    const double w[] = {1, 2, 4, 8, 16};
    const double a[] = {1, 1.9, 3.7, 7.0, 12.5};
    const double b[] = {1, 1.6, 2.1, 2.3, 2.4};
    const plot_series s[] = {
        {.name = "parx <dynamic>", .x = w, .y = a, .n = 5},
        {.name = "a & b \"static\"", .x = w, .y = b, .n = 5},
    };
    char path[4200];
    for (int log_x = 0; log_x <= 2; log_x += 2) {
        REQUIRE(plot_line_svg(path_in("line.svg", path, sizeof path),
                              &(plot_line_desc){.title = "Speedup <b>vs</b> workers",
                                                .x_label = "workers",
                                                .y_label = "speedup",
                                                .series = s,
                                                .nseries = 2,
                                                .ideal = 1,
                                                .log_x = log_x}) == 0);
        char *svg = slurp(path);
        REQUIRE(svg != NULL);
        check_svg_shape(svg);
        CHECK(strstr(svg, "Speedup &lt;b&gt;vs&lt;/b&gt; workers") != NULL);
        CHECK(strstr(svg, ">workers</text>") != NULL);
        CHECK(strstr(svg, ">speedup</text>") != NULL);
        CHECK(strstr(svg, ">parx &lt;dynamic&gt;</text>") != NULL);
        CHECK(strstr(svg, ">a &amp; b &quot;static&quot;</text>") != NULL);
        CHECK(strstr(svg, ">ideal</text>") != NULL);
        /* Two series and the ideal line; a dot per point. */
        CHECK_EQ(count(svg, "<polyline"), 3);
        CHECK_EQ(count(svg, "class=\"ideal\""), 1);
        CHECK_EQ(count(svg, "<circle"), 10);
        /* Round ticks: 0 to 14 by 2 on the y axis (the data reach 12.5); on
           a linear x axis 0 to 20 by 5 (a fifth of 1..16 is 3, rounded to
           5), on the log2 one the powers 1 to 16. */
        CHECK(strstr(svg, ">0</text>") != NULL);
        CHECK(strstr(svg, ">14</text>") != NULL);
        if (log_x)
            CHECK(strstr(svg, ">1</text>") != NULL && strstr(svg, ">8</text>") != NULL &&
                  strstr(svg, ">16</text>") != NULL && strstr(svg, ">20</text>") == NULL);
        else
            CHECK(strstr(svg, ">15</text>") != NULL && strstr(svg, ">20</text>") != NULL &&
                  strstr(svg, ">16</text>") == NULL);
        free(svg);
        remove(path);
    }

    /* Whole-number x values (thread counts 1 and 2): no tick between them. */
    const double w2[] = {1, 2}, sp[] = {1, 1.97};
    const plot_series s2 = {.name = "sum", .x = w2, .y = sp, .n = 2};
    REQUIRE(plot_line_svg(path, &(plot_line_desc){.series = &s2, .nseries = 1, .ideal = 1}) == 0);
    char *svg2 = slurp(path);
    REQUIRE(svg2 != NULL);
    check_svg_shape(svg2);
    /* (x tick labels are centred under their tick; y ones end at the axis) */
    CHECK(strstr(svg2, "\"middle\">1.5</text>") == NULL);
    CHECK(strstr(svg2, "\"middle\">1.2</text>") == NULL);
    CHECK(strstr(svg2, "\"middle\">1</text>") != NULL);
    CHECK(strstr(svg2, "\"middle\">2</text>") != NULL);
    CHECK(strstr(svg2, "\"end\">1.5</text>") != NULL); /* y: 0 to 2 by 0.5 */
    free(svg2);
    remove(path);

    /* Points that cannot be drawn (NaN, or <= 0 on a log axis) are left out,
       and a chart without a single drawable point is still a valid file. */
    const double bad[] = {NAN, -1.0, 0.0};
    const double xs[] = {1, 2, 3};
    const plot_series sb = {.name = "nothing", .x = xs, .y = bad, .n = 3};
    REQUIRE(plot_line_svg(path, &(plot_line_desc){.series = &sb, .nseries = 1, .log_y = 10}) == 0);
    char *svg = slurp(path);
    REQUIRE(svg != NULL);
    check_svg_shape(svg);
    CHECK_EQ(count(svg, "<circle"), 0);
    CHECK(strstr(svg, "points=\"\"") != NULL);
    free(svg);
    remove(path);
}

static void test_bar_chart(void)
{
    /* Overheads from ns to tens of ms: a log axis. */
    const char *labels[] = {"thread task", "fork start <pool>", "job round trip & back", "NaN"};
    const double ns[] = {85.0, 1.2e6, 9500.0, NAN};
    char path[4200];
    for (int vertical = 0; vertical <= 1; vertical++) {
        for (int log_scale = 0; log_scale <= 1; log_scale++) {
            REQUIRE(plot_bar_svg(path_in("bar.svg", path, sizeof path),
                                 &(plot_bar_desc){.title = "Overhead per backend",
                                                  .value_label = "ns",
                                                  .labels = labels,
                                                  .values = ns,
                                                  .nbars = 4,
                                                  .unit = " ns",
                                                  .vertical = vertical,
                                                  .log_scale = log_scale}) == 0);
            char *svg = slurp(path);
            REQUIRE(svg != NULL);
            check_svg_shape(svg);
            CHECK(strstr(svg, ">Overhead per backend</text>") != NULL);
            CHECK(strstr(svg, ">thread task</text>") != NULL);
            CHECK(strstr(svg, ">fork start &lt;pool&gt;</text>") != NULL);
            CHECK(strstr(svg, ">job round trip &amp; back</text>") != NULL);
            /* One bar per drawable value (not the NaN), plus the background. */
            CHECK_EQ(count(svg, "class=\"bar\""), 3);
            CHECK_EQ(count(svg, "<rect"), 4);
            /* Each value printed on its bar, 3 significant digits. */
            CHECK(strstr(svg, ">85 ns</text>") != NULL);
            CHECK(strstr(svg, ">1.2e6 ns</text>") != NULL);
            CHECK(strstr(svg, ">9500 ns</text>") != NULL);
            CHECK(strstr(svg, ">n/a</text>") != NULL);
            if (log_scale) /* a tick at every power of ten from 10 to 1e7 */
                CHECK(strstr(svg, ">10</text>") != NULL && strstr(svg, ">1000</text>") != NULL &&
                      strstr(svg, ">1e7</text>") != NULL);
            free(svg);
            remove(path);
        }
    }
}

/* Texts given per bar replace the formatted values, escaped like the rest. */
static void test_bar_texts(void)
{
    const char *labels[] = {"a", "b"};
    const double v[] = {59.0, 1.2e6};
    const char *texts[] = {"59 ns", "1.2 ms <slow>"};
    char path[4200];
    REQUIRE(plot_bar_svg(path_in("texts.svg", path, sizeof path),
                         &(plot_bar_desc){.labels = labels, .values = v, .nbars = 2,
                                          .texts = texts, .unit = " ns", .log_scale = 1}) == 0);
    char *svg = slurp(path);
    REQUIRE(svg != NULL);
    check_svg_shape(svg);
    CHECK(strstr(svg, ">59 ns</text>") != NULL);
    CHECK(strstr(svg, ">1.2 ms &lt;slow&gt;</text>") != NULL);
    CHECK(strstr(svg, "1.2e6") == NULL);
    CHECK_EQ(count(svg, "class=\"bar\""), 2);
    free(svg);
    remove(path);
}

/* Ranges no round step describes -- one that overflows, one of subnormal
   numbers -- end (no endless search for a step) with finite coordinates. */
static void test_extreme_ranges(void)
{
    const double x[] = {0, 1};
    const double huge[] = {-1e308, 1e308}, tiny[] = {5e-324, 1e-323};
    const double *ys[] = {huge, tiny};
    char path[4200];
    for (int k = 0; k < 2; k++) {
        const plot_series s = {.name = "y", .x = x, .y = ys[k], .n = 2};
        REQUIRE(plot_line_svg(path_in("extreme.svg", path, sizeof path),
                              &(plot_line_desc){.series = &s, .nseries = 1}) == 0);
        char *svg = slurp(path);
        REQUIRE(svg != NULL);
        check_svg_shape(svg);
        CHECK_MSG(strstr(svg, "inf") == NULL && strstr(svg, "nan") == NULL,
                  "a coordinate that is not finite (range %d)", k);
        free(svg);
        remove(path);
    }
}

static void test_errors(void)
{
    const double v[] = {1.0};
    const char *l[] = {"a"};
    const double *cols[] = {v};
    char path[4200];
    path_in("e.svg", path, sizeof path);
    CHECK_EQ(plot_csv_write(NULL, 1, l, cols, 1), -EINVAL);
    CHECK_EQ(plot_csv_write(path, 0, l, cols, 1), -EINVAL);
    CHECK_EQ(plot_line_svg(path, NULL), -EINVAL);
    CHECK_EQ(plot_line_svg(path, &(plot_line_desc){0}), -EINVAL);
    CHECK_EQ(plot_bar_svg(path, &(plot_bar_desc){.labels = l, .values = v}), -EINVAL);
    CHECK(access(path, F_OK) != 0); /* nothing written for a bad call */
    /* A directory that does not exist: fopen's ENOENT comes back. */
    path_in("no/such/dir.svg", path, sizeof path);
    CHECK_EQ(plot_bar_svg(path, &(plot_bar_desc){.labels = l, .values = v, .nbars = 1}), -ENOENT);
    CHECK_EQ(plot_csv_write(path, 1, l, cols, 1), -ENOENT);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/parx-plot-XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        pt_skip_all("cannot create a temporary directory");
    pt_plan(7);
    pt_run("CSV: header quoting, values read back exactly, a text column", test_csv_roundtrip);
    pt_run("line chart: shape, escaped labels, one polyline per series + ideal", test_line_chart);
    pt_run("bar chart: one rect per bar, values printed, log and linear", test_bar_chart);
    pt_run("bar chart: texts given per bar", test_bar_texts);
    pt_run("ranges that overflow or are subnormal: finite coordinates, no hang",
           test_extreme_ranges);
    pt_run("bad arguments and unwritable paths", test_errors);
    /* rmdir succeeds only on an empty directory: every test removed its files. */
    pt_ok(rmdir(dir) == 0, "no file left behind");
    return pt_done_testing();
}
