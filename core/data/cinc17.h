/* Reader of the PhysioNet/CinC Challenge 2017 training set as PhysioNet
 * ships it (training2017/): MATLAB v4 .mat files holding one int16 row vector
 * `val`, WFDB .hea headers (sampling rate, gain, sample count, cross-checked
 * against the .mat), the RECORDS list and the REFERENCE*.csv label files
 * (read through libcsv). Records become dataset records in mV (val / gain),
 * labelled in the CinC order N, A, O, ~.
 *
 * Bad input is expected in the wild: every problem is reported with the file
 * (and line, for CSV) that caused it. Without skip_bad the first bad record
 * fails the load; with it, the rest load and the report says how many were
 * skipped and why. */
#ifndef RESECG_CINC17_H
#define RESECG_CINC17_H

#include <stddef.h>
#include <stdint.h>

#include "data/data.h"
#include "base/util.h"

typedef enum cinc17_problem {
    CINC17_MISSING = 0,   /* listed in the labels but no .mat / .hea */
    CINC17_BAD_MAT,       /* truncated, corrupt, wrong variable name / type / shape */
    CINC17_BAD_HEADER,    /* unparsable .hea, or it disagrees with the .mat */
    CINC17_BAD_LABEL,     /* a class that is not N, A, O or ~ */
    CINC17_DUPLICATE,     /* a record listed twice in the labels file */
    CINC17_NPROBLEMS
} cinc17_problem;

typedef struct cinc17_opts {
    const char *labels; /* label file inside dir; NULL = "REFERENCE-v3.csv" */
    int skip_bad;       /* load what is good, count the rest */
    int threads;        /* 0 = all cores */
} cinc17_opts;

typedef struct cinc17_report {
    int loaded;
    int skipped;
    int by_problem[CINC17_NPROBLEMS];
    char examples[8][512]; /* the first few problems, one line each, "FILE[:LINE]: what" */
    int nexamples;
    double seconds;        /* wall time of the load */
} cinc17_report;

/* Loads every record named in the labels file of dir into ds (initialised by
 * the caller with 4 classes), in the order of that file. Returns 0, or -1
 * with e naming the file (and line) of the first problem when skip_bad is 0,
 * or when nothing could be loaded. */
int cinc17_load(dataset *ds, const char *dir, const cinc17_opts *o, cinc17_report *rep, rerr *e);

/* The parsers, separately usable (and fuzzed): each takes a whole file's
 * bytes and the name to put in messages. */

/* MATLAB v4 level-1 .mat holding a single int16 (or double) row vector named
 * "val": *samples is malloc'd (caller frees). */
int cinc17_parse_mat(const uint8_t *buf, size_t n, const char *name, int16_t **samples, int *len,
                     rerr *e);

typedef struct cinc17_header {
    char record[32];
    int nsignals;
    double fs;       /* Hz */
    long nsamples;
    double gain;     /* ADC units per mV */
    char file[64];   /* the signal file named on the signal line */
} cinc17_header;

/* WFDB header (record line + signal line; CRLF or LF line ends). */
int cinc17_parse_hea(const char *text, size_t n, const char *name, cinc17_header *h, rerr *e);

typedef struct cinc17_label {
    char record[32];
    int label; /* 0..3, N A O ~ */
    int line;  /* 1-based line in the file */
} cinc17_label;

/* REFERENCE csv: "record,class" per line, no header. *out is malloc'd. A
 * class outside N/A/O/~ or a malformed line is an error naming file:line;
 * with skip_bad (non-NULL rep) such lines are counted and skipped. */
int cinc17_parse_labels(const char *text, size_t n, const char *name, cinc17_label **out,
                        int *nout, cinc17_report *rep, rerr *e);

#endif
