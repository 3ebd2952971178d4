/* report.html: one self-contained page (inline CSS and SVG, no scripts, no
 * network) with Table 1, per-class F1 bars with ±1 sd error bars, the
 * differences and their verdicts, confusion matrices summed over seeds, and
 * training curves (dev loss on a log axis and CinC F1 per epoch, one line
 * per seed). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "run/metrics.h"
#include "report_data.h"

static void esc(FILE *fp, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '&': fputs("&amp;", fp); break;
        case '"': fputs("&quot;", fp); break;
        default: fputc(*s, fp);
        }
    }
}

/* A fixed palette: configuration c gets colour c mod 8. */
static const char *colour(int c)
{
    static const char *const pal[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759",
                                      "#b07aa1", "#76b7b2", "#edc948", "#9c755f"};
    return pal[c % 8];
}

static void table1(FILE *fp, const rp_report *r)
{
    fprintf(fp, "<h2>Table 1</h2>\n<p>%s. F1 per class, mean &plusmn; sample standard deviation "
                "over finished seeds; Total is ",
            r->summary);
    esc(fp, rp_total_title(r->o.total));
    fputs(".</p>\n<table>\n<tr><th>variant</th><th>N</th><th>A</th><th>O</th><th>~</th>"
          "<th>Total</th><th>seeds</th><th>missing</th></tr>\n",
          fp);
    for (int c = 0; c < r->ncfgs; c++) {
        const rp_config *g = &r->cfgs[c];
        fputs("<tr><td>", fp);
        esc(fp, g->label);
        fputs("</td>", fp);
        for (int s = 0; s <= RP_K; s++) {
            if (!isfinite(g->mean[s]))
                fputs("<td class=\"missing\">missing</td>", fp);
            else if (isfinite(g->sd[s]))
                fprintf(fp, "<td>%.3f &plusmn; %.3f</td>", g->mean[s], g->sd[s]);
            else
                fprintf(fp, "<td>%.3f</td>", g->mean[s]);
        }
        fprintf(fp, "<td>%d</td><td>%d</td></tr>\n", g->ndone, g->njobs - g->ndone);
    }
    const char *name;
    const double *v;
    for (int i = 0; r->o.published && rp_published(i, &name, &v); i++) {
        fputs("<tr class=\"published\"><td>", fp);
        esc(fp, name);
        fprintf(fp, "</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%.3f</td>"
                    "<td></td><td></td></tr>\n",
                v[0], v[1], v[2], v[3], v[4]);
    }
    fputs("</table>\n", fp);
    if (r->o.published) {
        fputs("<p>Published rows: ", fp);
        esc(fp, rp_published_note());
        fputs(".</p>\n", fp);
    }
}

/* Grouped bars: one group per class, one bar per configuration. */
static void bars(FILE *fp, const rp_report *r)
{
    int W = 640, H = 260, L = 40, B = 30, T = 10;
    double gw = (double)(W - L - 10) / RP_K, bw = gw * 0.8 / (r->ncfgs ? r->ncfgs : 1);
    fprintf(fp, "<h2>Per-class F1</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                "height=\"%d\" viewBox=\"0 0 %d %d\">\n",
            W, H, W, H);
    for (int t = 0; t <= 4; t++) {
        double y = H - B - (H - B - T) * t / 4.0;
        fprintf(fp, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                    "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%.2f</text>\n",
                L, y, W - 10, y, L - 4, y + 3, t / 4.0);
    }
    for (int k = 0; k < RP_K; k++) {
        double x0 = L + gw * k + gw * 0.1;
        fprintf(fp, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">%s</text>\n",
                L + gw * k + gw / 2, H - 10, metrics_class_name(k));
        for (int c = 0; c < r->ncfgs; c++) {
            const rp_config *g = &r->cfgs[c];
            if (!isfinite(g->mean[k]))
                continue;
            double h = (H - B - T) * g->mean[k], x = x0 + bw * c;
            fprintf(fp, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                        "<title>",
                    x, H - B - h, bw * 0.9, h, colour(c));
            esc(fp, g->label);
            fprintf(fp, ": %.3f</title></rect>\n", g->mean[k]);
            if (isfinite(g->sd[k])) {
                double lo = fmax(0, g->mean[k] - g->sd[k]), hi = fmin(1, g->mean[k] + g->sd[k]);
                double cx = x + bw * 0.45;
                fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>\n",
                        cx, H - B - (H - B - T) * lo, cx, H - B - (H - B - T) * hi);
            }
        }
    }
    fputs("</svg>\n<p>", fp);
    for (int c = 0; c < r->ncfgs; c++) {
        fprintf(fp, "<span style=\"color:%s\">&#9632;</span> ", colour(c));
        esc(fp, r->cfgs[c].label);
        fputs(" &nbsp; ", fp);
    }
    fputs("(error bars: &plusmn;1 sd over seeds)</p>\n", fp);
}

static void significance(FILE *fp, const rp_report *r)
{
    char line[2000];
    fputs("<h2>Differences</h2>\n<p>", fp);
    if (r->baseline >= 0) {
        fputs("Baseline ", fp);
        esc(fp, r->cfgs[r->baseline].label);
        fputs(". ", fp);
    } else {
        fputs("Each configuration of B against the same one of A. ", fp);
    }
    rp_method(r, line, sizeof line);
    esc(fp, line);
    /* one baseline is named above; two sets need a column for it */
    int basecol = r->baseline < 0;
    fprintf(fp, "</p>\n<table>\n<tr><th>variant</th>%s<th>seeds</th>", basecol ? "<th>baseline</th>" : "");
    for (int s = 0; s < r->nstat; s++) {
        fputs("<th>", fp);
        esc(fp, rp_stat_title(r, s));
        fputs("</th>", fp);
    }
    fputs("</tr>\n", fp);
    for (int i = 0; i < r->ncmp; i++) {
        const rp_compare *m = &r->cmp[i];
        fputs("<tr><td>", fp);
        esc(fp, r->cfgs[m->cfg].label);
        if (basecol) {
            fputs("</td><td>", fp);
            esc(fp, r->cfgs[m->base].label);
        }
        rp_seeds(m, line, sizeof line);
        fprintf(fp, "</td><td class=\"nw\">%s</td>", line);
        for (int s = 0; s < r->nstat; s++) {
            static const char *const cls[] = {"missing", "few", "", "real"};
            char note[64];
            rp_cell(m, s, line, sizeof line);
            rp_cell_note(m, s, note, sizeof note);
            fprintf(fp, "<td%s%s%s>", *cls[m->verdict[s]] ? " class=\"" : "", cls[m->verdict[s]],
                    *cls[m->verdict[s]] ? "\"" : "");
            /* the difference and its interval each unbroken; a line may break between them */
            char *iv = strstr(line, " [");
            if (iv)
                *iv = '\0';
            fputs("<span class=\"nw\">", fp);
            esc(fp, line);
            if (iv) {
                fputs("</span> <span class=\"nw\">[", fp);
                esc(fp, iv + 2);
            }
            fputs("</span>", fp);
            if (m->verdict[s] == RP_V_REAL || m->verdict[s] == RP_V_NOISE)
                fprintf(fp, "<br><small class=\"nw\">%s &middot; ",
                        m->verdict[s] == RP_V_REAL ? "real" : "noise");
            else if (*note)
                fputs("<br><small class=\"nw\">", fp);
            esc(fp, note);
            fputs(*note ? "</small></td>" : "</td>", fp);
        }
        fputs("</tr>\n", fp);
    }
    fputs("</table>\n<ul>\n", fp);
    for (int i = 0; i < r->ncmp; i++) {
        rp_verdict(r, &r->cmp[i], line, sizeof line);
        fputs("<li>", fp);
        esc(fp, line);
        fputs("</li>\n", fp);
    }
    fputs("</ul>\n", fp);
}

static void confusions(FILE *fp, const rp_report *r)
{
    fputs("<h2>Confusion matrices (summed over finished seeds; rows true, columns predicted)</h2>\n"
          "<div class=\"row\">\n",
          fp);
    for (int c = 0; c < r->ncfgs; c++) {
        const rp_config *g = &r->cfgs[c];
        fputs("<div><h3>", fp);
        esc(fp, g->label);
        fputs("</h3>\n", fp);
        if (g->ndone == 0) {
            fputs("<p class=\"missing\">no finished job</p></div>\n", fp);
            continue;
        }
        fputs("<table class=\"conf\"><tr><th></th>", fp);
        for (int k = 0; k < RP_K; k++)
            fprintf(fp, "<th>%s</th>", metrics_class_name(k));
        fputs("</tr>\n", fp);
        for (int a = 0; a < RP_K; a++) {
            long rowsum = 0;
            for (int b = 0; b < RP_K; b++)
                rowsum += g->conf[a][b];
            fprintf(fp, "<tr><th>%s</th>", metrics_class_name(a));
            for (int b = 0; b < RP_K; b++) {
                /* shade by the share of the true class's records */
                double f = rowsum ? (double)g->conf[a][b] / (double)rowsum : 0;
                fprintf(fp, "<td style=\"background:rgba(78,121,167,%.2f)\">%ld</td>", f,
                        g->conf[a][b]);
            }
            fputs("</tr>\n", fp);
        }
        fputs("</table></div>\n", fp);
    }
    fputs("</div>\n", fp);
}

/* A chart's value axis: linear, or log10 for the dev loss, whose first
 * epoch (156 in the demo, against 0.8 at the end) would flatten the rest. */
typedef struct axis {
    double lo, hi;
    int log;
    int top, bottom; /* pixel rows of hi and lo */
} axis;

static double axis_y(const axis *a, double v)
{
    double f = a->log ? (log10(a->hi) - log10(fmax(v, a->lo))) / (log10(a->hi) - log10(a->lo))
                      : (a->hi - v) / (a->hi - a->lo);
    return a->top + (a->bottom - a->top) * f;
}

static void axis_label(FILE *fp, int left, int right, double y, double v, int grid)
{
    if (grid)
        fprintf(fp, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>", left, y,
                right, y);
    fprintf(fp, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%.3g</text>\n",
            left - 3, y + 3, v);
}

/* A linear axis labels hi and lo. A log axis labels the 1-2-5 values inside
 * the range (only powers of ten when those span more than three decades),
 * each with a grid line, and hi and lo where no such label is within 12
 * pixels. */
static void axis_ticks(FILE *fp, const axis *a, int left, int right)
{
    double ys[64];
    int n = 0;
    if (a->log) {
        int d0 = (int)floor(log10(a->lo)), d1 = (int)ceil(log10(a->hi));
        int only_decades = d1 - d0 > 3;
        for (int d = d0; d <= d1 && n < 60; d++)
            for (int k = 0; k < 3; k++) {
                static const double m[3] = {1, 2, 5};
                double v = m[k] * pow(10, d);
                if ((only_decades && k) || v < a->lo || v > a->hi)
                    continue;
                ys[n++] = axis_y(a, v);
                axis_label(fp, left, right, ys[n - 1], v, 1);
            }
    }
    const double ends[2] = {a->hi, a->lo};
    for (int i = 0; i < 2; i++) {
        double y = axis_y(a, ends[i]);
        int clear = 1;
        for (int k = 0; k < n; k++)
            clear &= fabs(ys[k] - y) >= 12;
        if (clear) /* hi's label sits below its line, inside the chart */
            axis_label(fp, left, right, i == 0 ? y + 5 : y, ends[i], 0);
    }
}

/* One chart: field 0 dev loss (log axis), 1 CinC F1; one polyline per job of c. */
static void curve(FILE *fp, const rp_report *r, int c, int field)
{
    const rp_config *g = &r->cfgs[c];
    int W = 300, H = 160, L = 40, B = 20, T = 10, maxep = 1;
    axis a = {INFINITY, -INFINITY, field == 0, T, H - B};
    for (int q = 0; q < g->njobs; q++) {
        const rp_job *j = &r->jobs[g->jobs[q]];
        const double *v = field ? j->ep_cinc : j->ep_dev_loss;
        if (j->epochs > maxep)
            maxep = j->epochs;
        for (int i = 0; i < j->epochs; i++) {
            if (a.log && !(v[i] > 0))
                continue; /* a loss is positive; nothing to draw on a log axis otherwise */
            a.lo = fmin(a.lo, v[i]);
            a.hi = fmax(a.hi, v[i]);
        }
    }
    if (!isfinite(a.lo)) {
        a.lo = a.log ? 0.1 : 0;
        a.hi = 1;
    }
    if (a.log && a.hi / a.lo < 1 + 1e-9)
        a.hi = a.lo * 10;
    else if (!a.log && a.hi - a.lo < 1e-9)
        a.hi = a.lo + 1;
    fprintf(fp, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                "viewBox=\"0 0 %d %d\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                "fill=\"none\" stroke=\"#ccc\"/>"
                "<text x=\"%d\" y=\"%d\" font-size=\"10\">%s by epoch (1..%d)</text>\n",
            W, H, W, H, L, T, W - L - 10, H - B - T, L, H - 5,
            field ? "CinC F1" : "dev loss, log scale,", maxep);
    axis_ticks(fp, &a, L, W - 10);
    for (int q = 0; q < g->njobs; q++) {
        const rp_job *j = &r->jobs[g->jobs[q]];
        const double *v = field ? j->ep_cinc : j->ep_dev_loss;
        if (j->epochs == 0)
            continue;
        fprintf(fp, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"",
                colour(q));
        for (int i = 0; i < j->epochs; i++) {
            double x = L + (W - L - 10) * (maxep > 1 ? (double)i / (maxep - 1) : 0.5);
            fprintf(fp, "%.1f,%.1f ", x, axis_y(&a, v[i]));
        }
        fprintf(fp, "\"><title>seed %llu</title></polyline>\n", (unsigned long long)j->seed);
    }
    fputs("</svg>\n", fp);
}

static void curves(FILE *fp, const rp_report *r)
{
    fputs("<h2>Training curves (one line per seed)</h2>\n", fp);
    for (int c = 0; c < r->ncfgs; c++) {
        fputs("<h3>", fp);
        esc(fp, r->cfgs[c].label);
        fputs("</h3>\n<div class=\"row\">", fp);
        curve(fp, r, c, 0);
        curve(fp, r, c, 1);
        fputs("</div>\n<p>", fp);
        for (int q = 0; q < r->cfgs[c].njobs; q++) {
            const rp_job *j = &r->jobs[r->cfgs[c].jobs[q]];
            fprintf(fp, "<span style=\"color:%s\">&#9632;</span> seed %llu (%s) &nbsp; ", colour(q),
                    (unsigned long long)j->seed,
                    j->status == RP_DONE ? "done" : j->status == RP_FAILED ? "failed" : "missing");
        }
        fputs("</p>\n", fp);
    }
}

int rp_write_html(const rp_report *r, const char *path, rerr *e)
{
    afile af;
    if (afile_open(&af, path, e))
        return -1;
    FILE *fp = af.fp;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>resecg report: ",
          fp);
    esc(fp, r->title);
    fputs("</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:1300px}"
          "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
          "text-align:right}.nw{white-space:nowrap}td:first-child{text-align:left}.missing{color:#b00}.few{color:#777}.real{font-weight:bold}"
          ".row{display:flex;flex-wrap:wrap;gap:1em}.conf td{min-width:3em}.published td{color:#555;font-style:italic}</style></head>\n<body>\n"
          "<h1>resecg report: ",
          fp);
    esc(fp, r->title);
    fprintf(fp, "</h1>\n<p><strong>%s.</strong></p>\n", r->summary);
    table1(fp, r);
    bars(fp, r);
    if (r->ncmp)
        significance(fp, r);
    confusions(fp, r);
    curves(fp, r);
    fputs("</body></html>\n", fp);
    return afile_commit(&af, e);
}
