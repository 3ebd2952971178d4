/* Reader of the PhysioNet/CinC 2017 training set (see cinc17.h): the MATLAB v4
 * .mat and WFDB .hea parsers, the REFERENCE*.csv reader (libcsv), and the
 * loader, which reads and checks records in parallel (OpenMP) but adds them to
 * the dataset serially in label-file order, so the dataset and the first
 * reported problem never depend on the thread count or on timing. */
#include "data/cinc17.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define CINC17_DEFAULT_LABELS "REFERENCE-v3.csv"
/* WFDB's defaults (wfdb/lib/wfdb.h DEFFREQ, DEFGAIN) for fields a header
 * leaves out. */
#define CINC17_DEFFREQ 250.0
#define CINC17_DEFGAIN 200.0
#define CINC17_HEA_MAX_LINE 1024
#define CINC17_IO_THREADS_PER_CORE 4

/* Copies s (n bytes) into out as a quotable snippet: non-printable bytes
 * become '?', and long text is cut with "...", so messages stay one short
 * line whatever the input holds. */
static void cinc17_snippet(char *out, size_t outsz, const char *s, size_t n)
{
    size_t max = outsz - 1, k = 0;
    int cut = 0;
    if (n > max) {
        n = max > 3 ? max - 3 : max;
        cut = max > 3;
    }
    for (size_t i = 0; i < n; i++)
        out[k++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (cut)
        for (int i = 0; i < 3; i++)
            out[k++] = '.';
    out[k] = '\0';
}

/* ------------------------------------------------------------ MATLAB v4 */

/* A level-1 (v4) .mat is a sequence of matrices, each a header of five int32
 * in the writer's byte order -- type, mrows, ncols, imagf, namlen -- then
 * namlen bytes of NUL-terminated name, then mrows*ncols elements, column
 * major (and as many again for the imaginary part when imagf is set). The
 * type is the decimal number MOPT: M the machine (0 IEEE little-endian,
 * 1 IEEE big-endian, 2 VAX D, 3 VAX G, 4 Cray), O always 0, P the element
 * type (0 double, 1 float, 2 int32, 3 int16, 4 uint16, 5 uint8), T the
 * matrix kind (0 numeric, 1 text, 2 sparse). CinC 2017 files are type 30:
 * little-endian int16, one 1 x N matrix named "val". */
#define MAT_HDR 20
#define MAT_MAX_NAMLEN 64 /* MATLAB names are at most 63 characters */

static uint32_t mat_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t mat_be32(const uint8_t *p)
{
    return (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}

static int32_t mat_i32(uint32_t u)
{
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Whether t is a MOPT code some MATLAB v4 writer could produce. */
static int mat_type_valid(uint32_t t)
{
    return t <= 4052 && (t / 100) % 10 == 0 && (t / 10) % 10 <= 5 && t % 10 <= 2;
}

static const char *mat_type_name(int p)
{
    static const char *const names[] = {"double", "float", "int32", "int16", "uint16", "uint8"};
    return p >= 0 && p <= 5 ? names[p] : "?";
}

/* Checks the header and the exact file size, then decodes the samples. A
 * double matrix is accepted when every element is an integer in int16 range
 * (what the WFDB tools write for ADC values); anything else is refused
 * rather than silently rounded. Up to 7 zero bytes of trailing padding are
 * tolerated (8-byte alignment); anything more is a second matrix or garbage. */
int cinc17_parse_mat(const uint8_t *buf, size_t n, const char *name, int16_t **samples, int *len,
                     rerr *e)
{
    *samples = NULL;
    *len = 0;
    if (n < MAT_HDR)
        return rerr_set(e, "%s: truncated MATLAB v4 header (%zu bytes, need %d)", name, n,
                        MAT_HDR);
    uint32_t type = mat_le32(buf);
    if (!mat_type_valid(type)) {
        if (mat_type_valid(mat_be32(buf)))
            return rerr_set(e,
                            "%s: big-endian MATLAB v4 file (type code %u) is not supported: only "
                            "little-endian files (type 30 for int16) are read",
                            name, mat_be32(buf));
        return rerr_set(e, "%s: not a MATLAB v4 file (type code %u is not a valid MOPT code)",
                        name, type);
    }
    int m = (int)(type / 1000), p = (int)(type / 10 % 10), t = (int)(type % 10);
    if (m != 0)
        return rerr_set(e,
                        "%s: MATLAB v4 machine format %d (type code %u) is not supported: only "
                        "little-endian IEEE (0) is read",
                        name, m, type);
    if (t != 0)
        return rerr_set(e, "%s: type code %u holds a %s matrix, expected a numeric one", name,
                        type, t == 1 ? "text" : "sparse");
    if (p != 3 && p != 0)
        return rerr_set(e,
                        "%s: element type %s (type code %u) is not supported: expected int16 "
                        "(type code 30) or double (0)",
                        name, mat_type_name(p), type);
    int32_t mrows = mat_i32(mat_le32(buf + 4)), ncols = mat_i32(mat_le32(buf + 8));
    int32_t imagf = mat_i32(mat_le32(buf + 12)), namlen = mat_i32(mat_le32(buf + 16));
    if (mrows < 0 || ncols < 0)
        return rerr_set(e, "%s: negative matrix size %d x %d", name, (int)mrows, (int)ncols);
    if (imagf != 0)
        return rerr_set(e, "%s: complex matrix (imagf %d), expected real samples", name,
                        (int)imagf);
    if (namlen < 1 || namlen > MAT_MAX_NAMLEN)
        return rerr_set(e, "%s: variable name length %d outside 1..%d", name, (int)namlen,
                        MAT_MAX_NAMLEN);
    if (n < MAT_HDR + (size_t)namlen)
        return rerr_set(e, "%s: truncated in the variable name (%zu bytes, need %d)", name, n,
                        MAT_HDR + (int)namlen);
    const char *var = (const char *)buf + MAT_HDR;
    if (namlen != 4 || memcmp(var, "val", 4) != 0) {
        char q[80];
        size_t vl = 0;
        while (vl < (size_t)namlen && var[vl])
            vl++;
        cinc17_snippet(q, sizeof q, var, vl);
        return rerr_set(e, "%s: variable is named '%s', expected 'val'", name, q);
    }
    if (mrows == 0 || ncols == 0)
        return rerr_set(e, "%s: val is empty (%d x %d)", name, (int)mrows, (int)ncols);
    if (mrows != 1 && ncols != 1)
        return rerr_set(e, "%s: val is %d x %d, expected a single row (1 x N) or column", name,
                        (int)mrows, (int)ncols);
    /* Both factors fit in 31 bits, so the product fits in 64. */
    int64_t count = (int64_t)mrows * ncols;
    size_t esize = p == 3 ? 2 : 8;
    size_t avail = n - MAT_HDR - (size_t)namlen;
    if ((uint64_t)count > avail / esize)
        return rerr_set(e,
                        "%s: truncated: val holds %lld %s samples (%.0f bytes) but %zu bytes "
                        "follow the header",
                        name, (long long)count, mat_type_name(p), (double)count * (double)esize,
                        avail);
    if (count > INT_MAX)
        return rerr_set(e, "%s: val has %lld samples, more than this reader handles", name,
                        (long long)count);
    const uint8_t *d = buf + MAT_HDR + namlen;
    size_t used = (size_t)count * esize, extra = avail - used;
    int pad = extra < 8;
    for (size_t i = 0; pad && i < extra; i++)
        pad = d[used + i] == 0;
    if (!pad)
        return rerr_set(e, "%s: %zu bytes follow val (a second matrix or garbage)", name, extra);

    int16_t *x = malloc(sizeof *x * (size_t)count);
    if (!x)
        return rerr_set(e, "%s: out of memory for %lld samples", name, (long long)count);
    if (p == 3) {
        for (int64_t i = 0; i < count; i++)
            x[i] = (int16_t)(uint16_t)(d[2 * i] | d[2 * i + 1] << 8);
    } else {
        for (int64_t i = 0; i < count; i++) {
            uint64_t u = 0;
            for (int b = 7; b >= 0; b--)
                u = u << 8 | d[8 * i + b];
            double v;
            memcpy(&v, &u, sizeof v);
            if (!(v >= -32768.0 && v <= 32767.0) || v != floor(v)) {
                free(x);
                return rerr_set(e, "%s: sample %lld of val is %g, not an int16 ADC value", name,
                                (long long)i, v);
            }
            x[i] = (int16_t)v;
        }
    }
    *samples = x;
    *len = (int)count;
    return 0;
}

/* ----------------------------------------------------------- WFDB header */

/* Strict decimal integer: the whole token, no sign, no overflow. */
static int hea_parse_count(const char *s, long *v)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    long x = strtol(s, &end, 10);
    if (*end || errno)
        return -1;
    *v = x;
    return 0;
}

/* A finite number covering s[0..n) exactly. */
static int hea_parse_number(const char *s, size_t n, double *v)
{
    char tmp[64];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    double x = strtod(tmp, &end);
    if (*end || !isfinite(x))
        return -1;
    *v = x;
    return 0;
}

/* Splits line (modified in place) on blanks into at most max tokens; the
 * rest of a longer line (a signal description may hold spaces) is ignored. */
static int hea_tokens(char *line, char **tok, int max)
{
    int k = 0;
    char *save = NULL;
    for (char *s = strtok_r(line, " \t", &save); s && k < max; s = strtok_r(NULL, " \t", &save))
        tok[k++] = s;
    return k;
}

/* Record line: "name[/segments] nsig [fs[/counterfreq[(base)]] [nsamples [time [date]]]]". */
static int hea_record_line(char **tok, int k, const char *name, int ln, cinc17_header *h,
                           rerr *e)
{
    if (strchr(tok[0], '/'))
        return rerr_set(e, "%s:%d: multi-segment record '%s' is not supported", name, ln, tok[0]);
    if (strlen(tok[0]) >= sizeof h->record)
        return rerr_set(e, "%s:%d: record name longer than %zu characters", name, ln,
                        sizeof h->record - 1);
    strcpy(h->record, tok[0]);
    long v;
    if (k < 2)
        return rerr_set(e, "%s:%d: record line gives no signal count", name, ln);
    if (hea_parse_count(tok[1], &v) != 0 || v < 1 || v > 4096)
        return rerr_set(e, "%s:%d: signal count '%s' is not a number in 1..4096", name, ln, tok[1]);
    h->nsignals = (int)v;
    h->fs = CINC17_DEFFREQ;
    if (k >= 3 && (hea_parse_number(tok[2], strcspn(tok[2], "/("), &h->fs) != 0 || h->fs <= 0))
        return rerr_set(e, "%s:%d: sampling frequency '%s' is not a positive number", name, ln,
                        tok[2]);
    h->nsamples = 0;
    if (k >= 4 && hea_parse_count(tok[3], &h->nsamples) != 0)
        return rerr_set(e, "%s:%d: sample count '%s' is not a non-negative integer", name, ln,
                        tok[3]);
    return 0;
}

/* Signal line: "file format[xsamp][:skew][+offset] [gain[(baseline)][/units]
 * [adcres [adczero ...]]]". Only the first signal's file, gain and units are
 * kept (the loader wants a single lead); every signal line must still name a
 * file and a format. WFDB's physical value is (adc - baseline) / gain, the
 * baseline defaulting to adczero; the header has no baseline field and CinC
 * records all have 0, so a non-zero one is refused rather than ignored. */
static int hea_signal_line(char **tok, int k, const char *name, int ln, int first,
                           cinc17_header *h, rerr *e)
{
    if (k < 2)
        return rerr_set(e, "%s:%d: signal line needs a file name and a format", name, ln);
    if (tok[1][0] < '0' || tok[1][0] > '9')
        return rerr_set(e, "%s:%d: signal format '%s' is not a WFDB format number", name, ln,
                        tok[1]);
    if (!first)
        return 0;
    if (strlen(tok[0]) >= sizeof h->file)
        return rerr_set(e, "%s:%d: signal file name longer than %zu characters", name, ln,
                        sizeof h->file - 1);
    strcpy(h->file, tok[0]);
    h->gain = CINC17_DEFGAIN;
    if (k < 3)
        return 0;
    const char *g = tok[2];
    size_t gl = strcspn(g, "(/");
    if (hea_parse_number(g, gl, &h->gain) != 0 || !(h->gain > 0))
        return rerr_set(e, "%s:%d: ADC gain '%s' is not a positive number", name, ln, g);
    const char *rest = g + gl;
    double baseline = 0;
    if (*rest == '(') {
        const char *close = strchr(rest, ')');
        if (!close || hea_parse_number(rest + 1, (size_t)(close - rest - 1), &baseline) != 0)
            return rerr_set(e, "%s:%d: cannot parse the baseline in '%s'", name, ln, g);
        rest = close + 1;
    } else if (k >= 5 && hea_parse_number(tok[4], strlen(tok[4]), &baseline) != 0) {
        return rerr_set(e, "%s:%d: ADC zero '%s' is not a number", name, ln, tok[4]);
    }
    if (baseline != 0)
        return rerr_set(e, "%s:%d: baseline %g is not supported (samples are read as val / gain)",
                        name, ln, baseline);
    /* Samples become mV as val / gain; other units would silently rescale
     * the record, so they are refused. */
    if (*rest == '/' && strcmp(rest + 1, "mV") != 0)
        return rerr_set(e, "%s:%d: units '%s' are not supported, expected mV", name, ln, rest + 1);
    if (*rest && *rest != '/')
        return rerr_set(e, "%s:%d: cannot parse gain field '%s'", name, ln, g);
    return 0;
}

/* Lines are split on LF with a trailing CR dropped; blank lines and '#'
 * comments are skipped. The text need not be NUL-terminated. */
int cinc17_parse_hea(const char *text, size_t n, const char *name, cinc17_header *h, rerr *e)
{
    memset(h, 0, sizeof *h);
    int ln = 0, have_record = 0, nsig_lines = 0;
    size_t pos = 0;
    char line[CINC17_HEA_MAX_LINE];
    while (pos < n) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', n - pos);
        size_t l = nl ? (size_t)(nl - s) : n - pos;
        pos += l + (nl != NULL);
        ln++;
        if (l && s[l - 1] == '\r')
            l--;
        if (memchr(s, '\0', l))
            return rerr_set(e, "%s:%d: NUL byte in a text header", name, ln);
        if (l >= sizeof line)
            return rerr_set(e, "%s:%d: line longer than %zu characters", name, ln,
                            sizeof line - 1);
        memcpy(line, s, l);
        line[l] = '\0';
        char *tok[5];
        size_t lead = strspn(line, " \t");
        if (line[lead] == '\0' || line[lead] == '#')
            continue;
        if (!have_record) {
            int k = hea_tokens(line, tok, 4);
            if (hea_record_line(tok, k, name, ln, h, e) != 0)
                return -1;
            have_record = 1;
            continue;
        }
        if (nsig_lines == h->nsignals)
            return rerr_set(e, "%s:%d: more signal lines than the %d the record line announces",
                            name, ln, h->nsignals);
        int k = hea_tokens(line, tok, 5);
        if (hea_signal_line(tok, k, name, ln, nsig_lines == 0, h, e) != 0)
            return -1;
        nsig_lines++;
    }
    if (!have_record)
        return rerr_set(e, "%s: no record line (empty header)", name);
    if (nsig_lines != h->nsignals)
        return rerr_set(e, "%s: the record line announces %d signals but %d signal lines follow",
                        name, h->nsignals, nsig_lines);
    return 0;
}

/* ---------------------------------------------------------------- labels */

/* What libcsv hands back for one line: the first three fields (a third means
 * the line is malformed), cut to the buffer. */
typedef struct lab_row {
    char f[3][48];
    size_t flen[3];
    int nfields;
    int rows;
} lab_row;

static void lab_field(void *s, size_t len, void *data)
{
    lab_row *r = data;
    if (r->nfields < 3) {
        size_t k = len < sizeof r->f[0] - 1 ? len : sizeof r->f[0] - 1;
        if (k)
            memcpy(r->f[r->nfields], s, k);
        r->f[r->nfields][k] = '\0';
        r->flen[r->nfields] = len;
    }
    r->nfields++;
}

static void lab_row_end(int c, void *data)
{
    (void)c;
    ((lab_row *)data)->rows++;
}

static void report_add(cinc17_report *rep, cinc17_problem p, const char *msg)
{
    rep->by_problem[p]++;
    rep->skipped++;
    if (rep->nexamples < (int)(sizeof rep->examples / sizeof rep->examples[0])) {
        /* Cut, not overflowed: a long path can make a message exceed a line. */
        char *ex = rep->examples[rep->nexamples++];
        size_t k = strlen(msg), max = sizeof rep->examples[0] - 1;
        memcpy(ex, msg, k < max ? k : max);
        ex[k < max ? k : max] = '\0';
    }
}

static uint32_t lab_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* A record name is joined into file paths, so it must be a plain file-name
 * stem: printable, no '/', not "." or "..". */
static int lab_name_ok(const char *s, size_t len)
{
    if (len == 0 || len >= sizeof(((cinc17_label *)0)->record) || strcmp(s, ".") == 0 ||
        strcmp(s, "..") == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '/')
            return 0;
    return 1;
}

static int lab_class(const char *s, size_t len)
{
    static const char classes[] = "NAO~"; /* CinC order: label 0..3 */
    if (len != 1)
        return -1;
    const char *c = strchr(classes, s[0]);
    return c && *c ? (int)(c - classes) : -1;
}

/* Each line goes through libcsv on its own (csv_fini ends the row), which
 * gives exact line numbers for messages; a quoted field spanning lines, never
 * seen in a label file, is then reported as malformed. Duplicates are found
 * with an open-addressing table sized from the line count. With rep (skip
 * mode) a bad or duplicate line is counted and dropped, the first listing of
 * a record winning. */
int cinc17_parse_labels(const char *text, size_t n, const char *name, cinc17_label **out,
                        int *nout, cinc17_report *rep, rerr *e)
{
    *out = NULL;
    *nout = 0;
    size_t maxlines = 1;
    for (const char *q = text; (q = memchr(q, '\n', n - (size_t)(q - text))); q++)
        maxlines++;
    if (maxlines > INT_MAX / 4)
        return rerr_set(e, "%s: too many lines", name);
    size_t tsize = 16;
    while (tsize < 2 * maxlines)
        tsize *= 2;
    cinc17_label *lab = malloc(sizeof *lab * maxlines);
    int *table = calloc(tsize, sizeof *table); /* index + 1 into lab, 0 = empty */
    struct csv_parser cp;
    int cp_ok = csv_init(&cp, CSV_STRICT | CSV_STRICT_FINI) == 0;
    if (!lab || !table || !cp_ok) {
        free(lab);
        free(table);
        if (cp_ok)
            csv_free(&cp);
        return rerr_set(e, "%s: out of memory", name);
    }
    int nl = 0, ln = 0, rc = 0;
    size_t pos = 0;
    if (n >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        pos = 3; /* UTF-8 byte-order mark, as spreadsheet programs write */
    while (pos < n && rc == 0) {
        const char *s = text + pos;
        const char *eol = memchr(s, '\n', n - pos);
        size_t l = eol ? (size_t)(eol - s) : n - pos;
        pos += l + (eol != NULL);
        ln++;
        if (l && s[l - 1] == '\r')
            l--;
        size_t lead = 0;
        while (lead < l && (s[lead] == ' ' || s[lead] == '\t'))
            lead++;
        if (lead == l)
            continue; /* blank line */

        lab_row row;
        memset(&row, 0, sizeof row);
        rerr le;
        int problem = -1;
        int ok = csv_parse(&cp, s, l, lab_field, lab_row_end, &row) == l;
        ok = csv_fini(&cp, lab_field, lab_row_end, &row) == 0 && ok && csv_error(&cp) == 0;
        if (!ok) {
            /* libcsv keeps its error status through csv_fini: start over. */
            csv_free(&cp);
            if (csv_init(&cp, CSV_STRICT | CSV_STRICT_FINI) != 0) {
                free(lab);
                free(table);
                return rerr_set(e, "%s: out of memory", name);
            }
        }
        char snip[64];
        cinc17_snippet(snip, sizeof snip, s, l);
        if (!ok || row.rows != 1 || row.nfields != 2) {
            problem = CINC17_BAD_LABEL;
            rerr_set(&le, "%s:%d: expected 'record,class', got '%s'", name, ln, snip);
        } else if (!lab_name_ok(row.f[0], row.flen[0])) {
            problem = CINC17_BAD_LABEL;
            cinc17_snippet(snip, sizeof snip, row.f[0], strlen(row.f[0]));
            rerr_set(&le, "%s:%d: '%s' is not a record name", name, ln, snip);
        } else if (lab_class(row.f[1], row.flen[1]) < 0) {
            problem = CINC17_BAD_LABEL;
            cinc17_snippet(snip, sizeof snip, row.f[1], strlen(row.f[1]));
            rerr_set(&le, "%s:%d: class '%s' is not one of N, A, O, ~", name, ln, snip);
        } else {
            uint32_t slot = lab_hash(row.f[0]) & (uint32_t)(tsize - 1);
            while (table[slot] && strcmp(lab[table[slot] - 1].record, row.f[0]) != 0)
                slot = (slot + 1) & (uint32_t)(tsize - 1);
            if (table[slot]) {
                problem = CINC17_DUPLICATE;
                rerr_set(&le, "%s:%d: record %s is listed again (first on line %d)", name, ln,
                         row.f[0], lab[table[slot] - 1].line);
            } else {
                cinc17_label *L = &lab[nl];
                strcpy(L->record, row.f[0]);
                L->label = lab_class(row.f[1], row.flen[1]);
                L->line = ln;
                table[slot] = ++nl;
            }
        }
        if (problem >= 0) {
            if (rep)
                report_add(rep, (cinc17_problem)problem, le.msg);
            else
                rc = rerr_set(e, "%s", le.msg);
        }
    }
    csv_free(&cp);
    free(table);
    if (rc != 0) {
        free(lab);
        return -1;
    }
    *out = lab;
    *nout = nl;
    return 0;
}

/* ---------------------------------------------------------------- loader */

/* Reads a whole file with one open/fstat/read (plus a retry loop for short
 * reads) into a malloc'd, NUL-terminated buffer. *missing tells a file that
 * is absent or unreadable (a data problem) from running out of memory. */
static int cinc17_slurp(const char *path, char **data, size_t *n, int *missing, rerr *e)
{
    *data = NULL;
    if (util_read_file_kind(path, UTIL_RECORD, 0, data, n, e) != 0) {
        *missing = !strstr(e->msg, "out of memory");
        return -1;
    }
    *missing = 0;
    return 0;
}

/* One record's outcome from the parallel phase. */
typedef struct cinc17_slot {
    int16_t *x; /* (len) ADC samples */
    int len;
    double gain;
    int problem; /* -1 good, a cinc17_problem, or CINC17_NPROBLEMS for a fatal error */
    char *msg;   /* malloc'd message when problem >= 0 */
} cinc17_slot;

static void slot_fail(cinc17_slot *s, int problem, const rerr *e)
{
    s->problem = problem;
    s->msg = strdup(e->msg);
    free(s->x);
    s->x = NULL;
}

/* Reads, parses and cross-checks one record: its .hea must describe exactly
 * the .mat beside it (single signal, same record and file name, same sample
 * count). */
static void cinc17_load_one(const char *dir, const char *labels_path, const cinc17_label *lb,
                            cinc17_slot *s)
{
    char hea_path[4200], mat_path[4200], hea_base[48], mat_base[48];
    rerr e;
    snprintf(hea_base, sizeof hea_base, "%s.hea", lb->record);
    snprintf(mat_base, sizeof mat_base, "%s.mat", lb->record);
    /* dir was checked to fit, and record names are under 32 characters. */
    util_path_join(hea_path, sizeof hea_path, dir, hea_base);
    util_path_join(mat_path, sizeof mat_path, dir, mat_base);
    s->problem = -1;

    char *hea = NULL, *mat = NULL;
    size_t hn = 0, mn = 0;
    int missing;
    int rc = cinc17_slurp(hea_path, &hea, &hn, &missing, &e);
    if (rc == 0)
        rc = cinc17_slurp(mat_path, &mat, &mn, &missing, &e);
    if (rc != 0) {
        if (missing) {
            size_t k = strlen(e.msg);
            snprintf(e.msg + k, sizeof e.msg - k, " (record %s, listed on %s:%d)", lb->record,
                     labels_path, lb->line);
        }
        slot_fail(s, missing ? CINC17_MISSING : CINC17_NPROBLEMS, &e);
        goto done;
    }
    cinc17_header h;
    if (cinc17_parse_hea(hea, hn, hea_path, &h, &e) != 0) {
        slot_fail(s, CINC17_BAD_HEADER, &e);
        goto done;
    }
    if (cinc17_parse_mat((const uint8_t *)mat, mn, mat_path, &s->x, &s->len, &e) != 0) {
        slot_fail(s, strstr(e.msg, "out of memory") ? CINC17_NPROBLEMS : CINC17_BAD_MAT, &e);
        goto done;
    }
    if (h.nsignals != 1)
        rerr_set(&e, "%s: %d signals, expected a single lead", hea_path, h.nsignals);
    else if (strcmp(h.record, lb->record) != 0)
        rerr_set(&e, "%s: record line names '%s', expected '%s'", hea_path, h.record, lb->record);
    else if (strcmp(h.file, mat_base) != 0)
        rerr_set(&e, "%s: signal file is '%s', expected '%s'", hea_path, h.file, mat_base);
    else if (h.nsamples != s->len)
        rerr_set(&e, "%s: header gives %ld samples but %s holds %d", hea_path, h.nsamples,
                 mat_path, s->len);
    else
        e.msg[0] = '\0';
    if (e.msg[0]) {
        slot_fail(s, CINC17_BAD_HEADER, &e);
        goto done;
    }
    s->gain = h.gain;
done:
    free(hea);
    free(mat);
}

/* Removes the records appended since n0, so a failed load leaves ds as it
 * was given. */
static void cinc17_rollback(dataset *ds, int n0)
{
    for (int i = n0; i < ds->n; i++)
        free(ds->recs[i].x);
    ds->n = n0;
}

/* The labels file is the list of records: RECORDS is not read, since the
 * label files and RECORDS may legitimately differ (a subset shipped with the
 * full RECORDS, or the other way round) and a record with labels but no
 * files is reported as missing anyway. Problems in the labels file come first
 * (in line order), then record problems in label order; so without skip_bad
 * the error is always the same one. On failure ds is left as it was given. */
int cinc17_load(dataset *ds, const char *dir, const cinc17_opts *o, cinc17_report *rep, rerr *e)
{
    double t0 = util_now();
    cinc17_opts def = {0};
    cinc17_report local;
    if (!o)
        o = &def;
    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof *rep);
    if (ds->num_classes != 4)
        return rerr_set(e, "%s: the dataset has %d classes, CinC 2017 has 4 (N, A, O, ~)", dir,
                        ds->num_classes);
    char labels_path[4200];
    const char *labels = o->labels && *o->labels ? o->labels : CINC17_DEFAULT_LABELS;
    if (strlen(dir) > 4000 || util_path_join(labels_path, sizeof labels_path, dir, labels) != 0)
        return rerr_set(e, "%s: directory path too long", dir);

    char *text;
    size_t tn;
    if (util_read_file_kind(labels_path, UTIL_TEXT, 0, &text, &tn, e) != 0)
        return -1;
    cinc17_label *lab;
    int nlab;
    int rc = cinc17_parse_labels(text, tn, labels_path, &lab, &nlab, o->skip_bad ? rep : NULL, e);
    free(text);
    if (rc != 0)
        return -1;
    if (nlab == 0 && rep->skipped == 0) {
        free(lab);
        return rerr_set(e, "%s: no records listed", labels_path);
    }

    cinc17_slot *slots = calloc((size_t)(nlab ? nlab : 1), sizeof *slots);
    if (!slots) {
        free(lab);
        return rerr_set(e, "%s: out of memory for %d records", labels_path, nlab);
    }
    /* Without skip_bad only the first problem in file order matters: once
     * one is found, records after it are not read (those before it still
     * are, since one of them may hold an earlier problem). */
    atomic_int first_bad = INT_MAX;
    int skip = o->skip_bad;
    int nthreads = 1;
#ifdef _OPENMP
    nthreads = o->threads > 0 ? o->threads : omp_get_max_threads();
    /* The phase waits on the disk more than it computes: with a cold page
     * cache, 4 threads per core (several opens and reads in flight) load
     * the set about twice as fast (1.2 s -> 0.6 s on 2 cores), and cost
     * ~5% when the files are cached. */
    nthreads *= CINC17_IO_THREADS_PER_CORE;
#endif
#pragma omp parallel for schedule(dynamic, 8) num_threads(nthreads)
    for (int i = 0; i < nlab; i++) {
        if (!skip && i > atomic_load_explicit(&first_bad, memory_order_relaxed)) {
            slots[i].problem = -1;
            continue;
        }
        cinc17_load_one(dir, labels_path, &lab[i], &slots[i]);
        if (slots[i].problem >= 0 && (!skip || slots[i].problem == CINC17_NPROBLEMS)) {
            int cur = atomic_load(&first_bad);
            while (i < cur && !atomic_compare_exchange_weak(&first_bad, &cur, i))
                ;
        }
    }

    int n0 = ds->n;
    int fb = atomic_load(&first_bad);
    float *buf = NULL;
    int bufcap = 0;
    rc = 0;
    if (fb != INT_MAX) {
        /* A fatal error (out of memory, read error) or, without skip_bad,
         * the first bad record. */
        rc = rerr_set(e, "%s", slots[fb].msg ? slots[fb].msg : "out of memory");
    }
    for (int i = 0; i < nlab && rc == 0; i++) {
        cinc17_slot *s = &slots[i];
        if (s->problem >= 0) {
            report_add(rep, (cinc17_problem)s->problem, s->msg ? s->msg : "out of memory");
            continue;
        }
        if (s->len > bufcap) {
            free(buf);
            bufcap = s->len;
            buf = malloc(sizeof *buf * (size_t)bufcap);
            if (!buf) {
                rc = rerr_set(e, "%s: out of memory", lab[i].record);
                break;
            }
        }
        /* WFDB: physical value = (adc - baseline) / gain; CinC records have
         * baseline 0 and the .mat holds the raw ADC values. */
        for (int j = 0; j < s->len; j++)
            buf[j] = (float)((double)s->x[j] / s->gain);
        free(s->x);
        s->x = NULL;
        if (dataset_add(ds, lab[i].record, buf, s->len, lab[i].label, e) != 0)
            rc = -1;
        else
            rep->loaded++;
    }
    if (rc == 0 && rep->loaded == 0)
        rc = rerr_set(e, "%s: no record could be loaded (%d skipped; first: %s)", labels_path,
                      rep->skipped, rep->nexamples ? rep->examples[0] : "none");
    if (rc != 0)
        cinc17_rollback(ds, n0);
    free(buf);
    for (int i = 0; i < nlab; i++) {
        free(slots[i].x);
        free(slots[i].msg);
    }
    free(slots);
    free(lab);
    rep->seconds = util_now() - t0;
    return rc;
}
