/* table1.tex and significance.tex: the report's two tables as LaTeX
 * tabulars for a paper (\input them inside a table environment; they need
 * \usepackage{booktabs}). Table 1 cells are mean $\pm$ sample sd over
 * finished seeds with the best mean of each column in bold; the
 * differences carry their 95% interval, in bold where the verdict is real.
 * Labels are escaped, so a label with _ % & # ~ or braces stays one cell. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "run/metrics.h"
#include "report_data.h"

/* Text in a LaTeX cell: the ten special characters escaped. */
static void tex_text(FILE *fp, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '\\': fputs("\\textbackslash{}", fp); break;
        case '~': fputs("\\textasciitilde{}", fp); break;
        case '^': fputs("\\textasciicircum{}", fp); break;
        case '&': case '%': case '$': case '#': case '_': case '{': case '}':
            fputc('\\', fp);
            fputc(*s, fp);
            break;
        case '\n': fputc(' ', fp); break;
        default: fputc(*s, fp);
        }
    }
}

/* A LaTeX comment line: text after '%' needs no escaping, only no newline. */
static void tex_comment(FILE *fp, const char *s)
{
    fputs("% ", fp);
    for (; *s; s++)
        fputc(*s == '\n' ? ' ' : *s, fp);
    fputc('\n', fp);
}

static void class_header(FILE *fp)
{
    for (int k = 0; k < RP_K; k++) {
        fputs(" & ", fp);
        tex_text(fp, metrics_class_name(k));
    }
}

static int write_table1_tex(const rp_report *r, const char *out, rerr *e)
{
    char p[4200], line[9000];
    afile af;
    snprintf(p, sizeof p, "%s/table1.tex", out);
    if (afile_open(&af, p, e))
        return -1;
    FILE *fp = af.fp;
    snprintf(line, sizeof line, "Table 1 of %s (resecg report). %s. F1 per class, mean $\\pm$ "
                                "sample standard deviation over finished seeds; Total is %s. Bold: "
                                "the best mean of each column among this report's rows. Needs "
                                "\\usepackage{booktabs}.",
             r->title, r->summary, rp_total_title(r->o.total));
    tex_comment(fp, line);
    fputs("\\begin{tabular}{lrrrrrr}\n\\toprule\nVariant", fp);
    class_header(fp);
    fputs(" & Total & Seeds \\\\\n\\midrule\n", fp);
    /* the best mean per column, compared as printed (three decimals) */
    double best[RP_K + 1];
    for (int s = 0; s <= RP_K; s++) {
        best[s] = -INFINITY;
        for (int c = 0; c < r->ncfgs; c++)
            if (isfinite(r->cfgs[c].mean[s]))
                best[s] = fmax(best[s], round(r->cfgs[c].mean[s] * 1000));
    }
    for (int c = 0; c < r->ncfgs; c++) {
        const rp_config *g = &r->cfgs[c];
        tex_text(fp, g->label);
        for (int s = 0; s <= RP_K; s++) {
            if (!isfinite(g->mean[s])) {
                fputs(" & --", fp);
                continue;
            }
            int bold = round(g->mean[s] * 1000) == best[s];
            fprintf(fp, bold ? " & $\\mathbf{%.3f}" : " & $%.3f", g->mean[s]);
            if (isfinite(g->sd[s]))
                fprintf(fp, " \\pm %.3f", g->sd[s]);
            fputc('$', fp);
        }
        fprintf(fp, " & %d \\\\\n", g->ndone);
    }
    const char *name;
    const double *v;
    for (int i = 0; r->o.published && rp_published(i, &name, &v); i++) {
        if (i == 0)
            fputs("\\midrule\n", fp);
        tex_text(fp, name);
        fprintf(fp, " & $%.3f$ & $%.3f$ & $%.3f$ & $%.3f$ & $%.3f$ & \\\\\n", v[0], v[1], v[2], v[3],
                v[4]);
    }
    fputs("\\bottomrule\n\\end{tabular}\n", fp);
    if (r->o.published) {
        snprintf(line, sizeof line, "Published rows: %s.", rp_published_note());
        tex_comment(fp, line);
    }
    return afile_commit(&af, e);
}

/* One difference: "$+0.041$ [$+0.018$, $+0.066$]", bold where real. */
static void diff_cell(FILE *fp, const rp_compare *m, int s)
{
    fputs(" & ", fp);
    switch (m->verdict[s]) {
    case RP_V_NONE: fputs("--", fp); return;
    case RP_V_FEW: fprintf(fp, "$%+.3f$ (too few seeds)", m->diff[s]); return;
    default:
        fprintf(fp, m->verdict[s] == RP_V_REAL ? "$\\mathbf{%+.3f}$" : "$%+.3f$", m->diff[s]);
        fprintf(fp, " [$%+.3f$, $%+.3f$]", m->lo[s], m->hi[s]);
    }
}

static int write_significance_tex(const rp_report *r, const char *out, rerr *e)
{
    char p[4200], line[12000], method[2000];
    afile af;
    snprintf(p, sizeof p, "%s/significance.tex", out);
    if (afile_open(&af, p, e))
        return -1;
    FILE *fp = af.fp;
    rp_method(r, method, sizeof method);
    snprintf(line, sizeof line, "Differences of %s (resecg report): variant - baseline, mean over "
                                "seeds, 95%% interval; bold: real. %s Needs \\usepackage{booktabs}.",
             r->title, method);
    tex_comment(fp, line);
    fputs("\\begin{tabular}{lll", fp);
    for (int s = 0; s < r->nstat; s++)
        fputc('r', fp);
    fputs("}\n\\toprule\nVariant & Baseline & Seeds", fp);
    for (int s = 0; s < r->nstat; s++) {
        fputs(" & ", fp);
        tex_text(fp, rp_stat_title(r, s));
    }
    fputs(" \\\\\n\\midrule\n", fp);
    for (int i = 0; i < r->ncmp; i++) {
        const rp_compare *m = &r->cmp[i];
        tex_text(fp, r->cfgs[m->cfg].label);
        fputs(" & ", fp);
        tex_text(fp, r->cfgs[m->base].label);
        rp_seeds(m, line, sizeof line);
        fprintf(fp, " & %s", line);
        for (int s = 0; s < r->nstat; s++)
            diff_cell(fp, m, s);
        fputs(" \\\\\n", fp);
    }
    fputs("\\bottomrule\n\\end{tabular}\n", fp);
    return afile_commit(&af, e);
}

int rp_write_latex(const rp_report *r, const char *out, rerr *e)
{
    return write_table1_tex(r, out, e) || write_significance_tex(r, out, e) ? -1 : 0;
}
