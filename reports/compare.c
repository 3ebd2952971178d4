/* The report's comparisons (report_data.h): which configurations are
 * compared with which, the seeds each comparison rests on, stats_compare's
 * numbers (stats.h), Holm's correction over every test in the report, the
 * verdicts, and significance.csv/.md with their plain-words sentences. The
 * method is in reports/README.md. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "run/metrics.h"
#include "report_data.h"

const char *rp_stat_key(const rp_report *r, int s)
{
    return s < RP_K ? metrics_class_name(s) : s == RP_K ? "cinc_f1" : rp_total_name(r->o.total);
}

const char *rp_stat_title(const rp_report *r, int s)
{
    if (s < RP_K)
        return metrics_class_name(s);
    if (s == RP_K)
        return "CinC F1";
    return r->o.total == REPORT_TOTAL_WEIGHTED ? "weighted F1" : "macro F1";
}

const char *rp_verdict_word(const rp_compare *m, int s)
{
    switch (m->verdict[s]) {
    case RP_V_NONE: return m->paired ? "no pairs" : "no seeds";
    case RP_V_FEW: return "too few seeds";
    case RP_V_REAL: return "real";
    default: return "noise";
    }
}

/* The seeds of m: finished pairs (same train.seed) or every finished seed a
 * side; indices into r->jobs go to ja and jb, their count to na, nb. */
static void pick_seeds(const rp_report *r, rp_compare *m, int *ja, int *jb)
{
    const rp_config *g = &r->cfgs[m->cfg], *b = &r->cfgs[m->base];
    m->na = m->nb = 0;
    for (int q = 0; q < g->njobs; q++) {
        const rp_job *j = &r->jobs[g->jobs[q]];
        if (j->status != RP_DONE)
            continue;
        if (!m->paired) {
            ja[m->na++] = g->jobs[q];
            continue;
        }
        for (int s = 0; s < b->njobs; s++) {
            const rp_job *k = &r->jobs[b->jobs[s]];
            if (k->status == RP_DONE && k->seed == j->seed) {
                ja[m->na++] = g->jobs[q];
                jb[m->nb++] = b->jobs[s];
                break;
            }
        }
    }
    for (int q = 0; !m->paired && q < b->njobs; q++)
        if (r->jobs[b->jobs[q]].status == RP_DONE)
            jb[m->nb++] = b->jobs[q];
}

/* Fills m (cfg, base and paired set) from stats_compare; the verdicts wait
 * for Holm. Every comparison restarts the generator at --seed, so a report
 * is reproducible to the byte. */
static int compare_one(const rp_report *r, rp_compare *m, rerr *e)
{
    const rp_config *g = &r->cfgs[m->cfg], *b = &r->cfgs[m->base];
    int *ja = calloc((size_t)g->njobs + 1, sizeof *ja), *jb = calloc((size_t)b->njobs + 1, sizeof *jb);
    const int **pa = calloc((size_t)g->njobs + 1, sizeof *pa), **pb = calloc((size_t)b->njobs + 1, sizeof *pb);
    int rc = 0;
    if (!ja || !jb || !pa || !pb) {
        rc = rerr_set(e, "out of memory");
        goto done;
    }
    pick_seeds(r, m, ja, jb);
    for (int s = 0; s < RP_NSTAT; s++) {
        m->diff[s] = m->lo[s] = m->hi[s] = m->se[s] = m->df[s] = NAN;
        m->p[s] = m->p_gt[s] = m->rec_lo[s] = m->rec_hi[s] = m->p_holm[s] = NAN;
        m->verdict[s] = RP_V_NONE;
    }
    if (m->na == 0 || m->nb == 0)
        goto done;
    for (int q = 0; q < m->na; q++)
        pa[q] = r->jobs[ja[q]].pred;
    for (int q = 0; q < m->nb; q++)
        pb[q] = r->jobs[jb[q]].pred;
    stats_opts so = {.bootstrap = r->o.bootstrap, .seed = r->o.seed, .paired = m->paired};
    stats_result st;
    if ((rc = stats_compare(r->labels, r->nrec, pa, m->na, pb, m->nb, &so, &st, e)) != 0)
        goto done;
    for (int s = 0; s < r->nstat; s++) {
        int k = r->stat[s];
        m->diff[s] = st.diff[k], m->lo[s] = st.lo[k], m->hi[s] = st.hi[k];
        m->se[s] = st.se[k], m->df[s] = st.df[k], m->p[s] = st.p[k], m->p_gt[s] = st.p_gt[k];
        m->rec_lo[s] = st.rec_lo[k], m->rec_hi[s] = st.rec_hi[k];
        m->verdict[s] = stats_testable(m->na, m->nb) ? RP_V_NOISE : RP_V_FEW;
        if (m->verdict[s] == RP_V_FEW) /* not tested: no p to be read as one */
            m->p[s] = NAN;
    }
done:
    free(ja), free(jb), free(pa), free(pb);
    return rc;
}

/* Which configurations are compared: one sweep, each with the baseline;
 * two sets, each of B's with A's baseline or with A's same configuration
 * (variant and overrides), where A has it. */
static int plan_comparisons(rp_report *r, rerr *e)
{
    r->cmp = calloc((size_t)r->ncfgs + 1, sizeof *r->cmp);
    if (!r->cmp)
        return rerr_set(e, "out of memory");
    for (int c = 0; c < r->ncfgs; c++) {
        const rp_config *g = &r->cfgs[c];
        int base = -1;
        if (!r->dir_b)
            base = c != r->baseline ? r->baseline : -1;
        else if (g->side == 1 && r->baseline >= 0)
            base = r->baseline;
        else if (g->side == 1)
            for (int a = 0; a < r->ncfgs && base < 0; a++)
                if (r->cfgs[a].side == 0 && strcmp(r->cfgs[a].variant, g->variant) == 0 &&
                    strcmp(r->jobs[r->cfgs[a].jobs[0]].overrides, r->jobs[g->jobs[0]].overrides) == 0)
                    base = a;
        if (base < 0)
            continue;
        rp_compare *m = &r->cmp[r->ncmp++];
        m->cfg = c;
        m->base = base;
        m->paired = r->dir_b == NULL;
    }
    if (r->dir_b && r->ncmp == 0)
        return rerr_set(e, "%s and %s have no configuration in common (name one of A's with --baseline)",
                        r->dir, r->dir_b);
    return 0;
}

int rp_compare_all(rp_report *r, rerr *e)
{
    static const int extra[] = {[REPORT_TOTAL_WEIGHTED] = STATS_WEIGHTED, [REPORT_TOTAL_MACRO] = STATS_MACRO};
    r->nstat = 0;
    for (int k = 0; k < RP_K; k++)
        r->stat[r->nstat++] = STATS_F1_N + k;
    r->stat[r->nstat++] = STATS_CINC;
    if (r->o.total != REPORT_TOTAL_CINC)
        r->stat[r->nstat++] = extra[r->o.total];
    if (plan_comparisons(r, e))
        return -1;
    for (int i = 0; i < r->ncmp; i++)
        if (compare_one(r, &r->cmp[i], e))
            return -1;
    /* Holm over every tested score of every comparison in the report */
    size_t n = (size_t)r->ncmp * RP_NSTAT;
    double *p = malloc(sizeof *p * (n ? n : 1));
    if (!p)
        return rerr_set(e, "out of memory");
    r->ntests = 0;
    for (int i = 0; i < r->ncmp; i++)
        for (int s = 0; s < RP_NSTAT; s++) {
            int tested = s < r->nstat && r->cmp[i].verdict[s] == RP_V_NOISE && !isnan(r->cmp[i].p[s]);
            p[(size_t)i * RP_NSTAT + s] = tested ? r->cmp[i].p[s] : NAN;
            r->ntests += tested;
        }
    if (stats_holm(p, (int)n, p, e)) {
        free(p);
        return -1;
    }
    for (int i = 0; i < r->ncmp; i++)
        for (int s = 0; s < r->nstat; s++) {
            rp_compare *m = &r->cmp[i];
            m->p_holm[s] = p[(size_t)i * RP_NSTAT + s];
            if (m->verdict[s] == RP_V_NOISE && m->p_holm[s] < STATS_ALPHA)
                m->verdict[s] = RP_V_REAL;
        }
    free(p);
    return 0;
}

/* ---- wording ---- */

void rp_seeds(const rp_compare *m, char *buf, size_t n)
{
    if (m->paired)
        snprintf(buf, n, "%d paired", m->na);
    else
        snprintf(buf, n, "%d vs %d", m->na, m->nb);
}

/* p for a table: three decimals, or "< 0.001". */
static void fmt_p(double p, char *buf, size_t n)
{
    if (p < 0.001)
        snprintf(buf, n, "< 0.001");
    else
        snprintf(buf, n, "%.3f", p);
}

void rp_cell(const rp_compare *m, int s, char *buf, size_t n)
{
    switch (m->verdict[s]) {
    case RP_V_NONE: snprintf(buf, n, "%s", rp_verdict_word(m, s)); break;
    case RP_V_FEW: snprintf(buf, n, "%+.3f", m->diff[s]); break;
    default: snprintf(buf, n, "%+.3f [%+.3f, %+.3f]", m->diff[s], m->lo[s], m->hi[s]);
    }
}

void rp_cell_note(const rp_compare *m, int s, char *buf, size_t n)
{
    char p[16];
    if (m->verdict[s] == RP_V_NONE) {
        buf[0] = '\0';
    } else if (m->verdict[s] == RP_V_FEW) {
        snprintf(buf, n, "%s", rp_verdict_word(m, s));
    } else {
        fmt_p(m->p_holm[s], p, sizeof p);
        snprintf(buf, n, "p %s, P>0 %.2f", p, m->p_gt[s]);
    }
}

void rp_method(const rp_report *r, char *buf, size_t n)
{
    snprintf(buf, n,
             "Two-level bootstrap (%d resamples, seed %" PRIu64 "): each resample draws the seeds "
             "(%s) and the dev records (with replacement within each true class, the same records "
             "for both sides). Interval: 95%%, difference (variant - baseline, mean over seeds) "
             "± t(seeds - 1) × se, se² = the seeds' spread of the difference + the record-level "
             "variance the models share. real: Holm-adjusted p < 0.05 over the %d tests in this "
             "report (the p shown is Holm-adjusted); noise otherwise; too few seeds: fewer than "
             "%d finished seeds a side, not tested. P>0: share of resamples in which the variant's "
             "mean beats the baseline's (descriptive, not a test).",
             r->o.bootstrap, r->o.seed,
             r->dir_b ? "independently per side, with replacement: the two sets share dev records, "
                        "not seeds"
                      : "as pairs with the same train.seed, with replacement",
             r->ntests, STATS_MIN_SEEDS);
}

/* One sentence per comparison: which differences are real. */
void rp_verdict(const rp_report *r, const rp_compare *m, char *buf, size_t n)
{
    const char *a = r->cfgs[m->cfg].label, *b = r->cfgs[m->base].label;
    char seeds[48];
    rp_seeds(m, seeds, sizeof seeds);
    if (m->na == 0 || m->nb == 0) {
        snprintf(buf, n, "%s vs %s: %s; nothing to compare yet.", a, b,
                 m->paired ? "no seed finished on both sides" : "no finished seed on one side");
        return;
    }
    size_t o = (size_t)snprintf(buf, n, "%s vs %s (%s seeds): ", a, b, seeds);
    if (!stats_testable(m->na, m->nb)) {
        snprintf(buf + o, n - o, "too few seeds for a verdict (%d finished a side needed); the "
                                 "differences are shown, not tested.",
                 STATS_MIN_SEEDS);
        return;
    }
    int real = 0;
    for (int s = 0; s < r->nstat && o < n; s++)
        if (m->verdict[s] == RP_V_REAL) {
            char p[16];
            fmt_p(m->p_holm[s], p, sizeof p);
            o += (size_t)snprintf(buf + o, n - o, "%s%s%s %s by %.3f (Holm p %s, P(%s) %.2f)",
                                  real ? "; " : "", rp_stat_title(r, s), s < RP_K ? " F1" : "",
                                  m->diff[s] > 0 ? "higher" : "lower", fabs(m->diff[s]), p,
                                  m->diff[s] > 0 ? "higher" : "lower",
                                  m->diff[s] > 0 ? m->p_gt[s] : 1 - m->p_gt[s]);
            real++;
        }
    if (o < n)
        snprintf(buf + o, n - o, "%s",
                 real == r->nstat ? "."
                 : real           ? "; the rest is noise."
                                  : "every difference is within noise (Holm-adjusted p >= 0.05).");
}

/* ---- significance.csv and .md ---- */

static int write_significance_csv(const rp_report *r, const char *out, rerr *e)
{
    char p[4200], b[48];
    afile af;
    snprintf(p, sizeof p, "%s/significance.csv", out);
    if (afile_open(&af, p, e))
        return -1;
    FILE *fp = af.fp;
    static const char *const cols[] = {"variant", "baseline", "metric", "seed_pairing", "n_variant",
                                       "n_baseline", "diff", "ci_low", "ci_high", "se", "df", "p",
                                       "p_holm", "p_improvement", "verdict", "records_only_ci_low",
                                       "records_only_ci_high"};
    for (size_t c = 0; c < sizeof cols / sizeof *cols; c++)
        util_csv_field(fp, cols[c], c == 0);
    fputc('\n', fp);
    for (int i = 0; i < r->ncmp; i++) {
        const rp_compare *m = &r->cmp[i];
        for (int s = 0; s < r->nstat; s++) {
            util_csv_field(fp, r->cfgs[m->cfg].label, 1);
            util_csv_field(fp, r->cfgs[m->base].label, 0);
            util_csv_field(fp, rp_stat_key(r, s), 0);
            util_csv_field(fp, m->paired ? "paired" : "unpaired", 0);
            snprintf(b, sizeof b, "%d", m->na);
            util_csv_field(fp, b, 0);
            snprintf(b, sizeof b, "%d", m->nb);
            util_csv_field(fp, b, 0);
            const double v[] = {m->diff[s], m->lo[s], m->hi[s], m->se[s], m->df[s], m->p[s],
                                m->p_holm[s], m->p_gt[s]};
            for (size_t k = 0; k < sizeof v / sizeof *v; k++)
                rp_csv_num(fp, v[k]);
            util_csv_field(fp, rp_verdict_word(m, s), 0);
            rp_csv_num(fp, m->rec_lo[s]);
            rp_csv_num(fp, m->rec_hi[s]);
            fputc('\n', fp);
        }
    }
    return afile_commit(&af, e);
}

int rp_write_significance(const rp_report *r, const char *out, FILE *msg, rerr *e)
{
    char p[4200], line[2000];
    afile af;
    if (write_significance_csv(r, out, e))
        return -1;
    snprintf(p, sizeof p, "%s/significance.md", out);
    if (afile_open(&af, p, e))
        return -1;
    FILE *fp = af.fp;
    fprintf(fp, "# Differences: %s\n\n%s. ", r->title, r->summary);
    if (r->baseline >= 0)
        fprintf(fp, "Baseline %s. ", r->cfgs[r->baseline].label);
    else
        fputs("Each configuration of B against the same one of A. ", fp);
    rp_method(r, line, sizeof line);
    fprintf(fp, "%s\n\n| variant | baseline | seeds |", line);
    for (int s = 0; s < r->nstat; s++)
        fprintf(fp, " %s |", rp_stat_title(r, s));
    fputs("\n|---|---|---|", fp);
    for (int s = 0; s < r->nstat; s++)
        fputs("---|", fp);
    fputc('\n', fp);
    for (int i = 0; i < r->ncmp; i++) {
        const rp_compare *m = &r->cmp[i];
        fputs("| ", fp);
        rp_md_text(fp, r->cfgs[m->cfg].label);
        fputs(" | ", fp);
        rp_md_text(fp, r->cfgs[m->base].label);
        rp_seeds(m, line, sizeof line);
        fprintf(fp, " | %s |", line);
        for (int s = 0; s < r->nstat; s++) {
            char note[64];
            rp_cell(m, s, line, sizeof line);
            rp_cell_note(m, s, note, sizeof note);
            if (m->verdict[s] == RP_V_REAL || m->verdict[s] == RP_V_NOISE)
                fprintf(fp, " %s %s (%s) |", line, m->verdict[s] == RP_V_REAL ? "**real**" : "noise",
                        note);
            else if (*note)
                fprintf(fp, " %s, %s |", line, note);
            else
                fprintf(fp, " %s |", line);
        }
        fputc('\n', fp);
    }
    fputc('\n', fp);
    for (int i = 0; i < r->ncmp; i++) {
        rp_verdict(r, &r->cmp[i], line, sizeof line);
        fprintf(fp, "- %s\n", line);
        if (msg)
            fprintf(msg, "%s\n", line);
    }
    return afile_commit(&af, e);
}
