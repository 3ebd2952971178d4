/* bench_load: wall time of cinc17_load on a CinC 2017 directory (files read,
 * parsed in parallel, added in label order), to check the "whole training
 * set in under 2 s" budget. Run it twice to see a cold and a warm page cache.
 *   bench_load DIR [--threads N] [--labels FILE] [--repeat N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/cinc17.h"
#include "data/data.h"
#include "base/util.h"

static int usage(void)
{
    fprintf(stderr, "usage: bench_load DIR [--threads N] [--labels FILE] [--repeat N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    cinc17_opts o = {0};
    int repeat = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            o.threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--labels") == 0 && i + 1 < argc)
            o.labels = argv[++i];
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else
            return usage();
    }
    if (!dir || repeat < 1)
        return usage();
    printf("%-6s %8s %11s %9s %8s %10s\n", "run", "records", "samples", "MB", "seconds",
           "records/s");
    for (int r = 0; r < repeat; r++) {
        dataset ds;
        dataset_init(&ds, 4);
        cinc17_report rep;
        rerr e = {{0}};
        if (cinc17_load(&ds, dir, &o, &rep, &e) != 0) {
            fprintf(stderr, "bench_load: %s\n", e.msg);
            dataset_free(&ds);
            return 1;
        }
        long long samples = 0;
        for (int i = 0; i < ds.n; i++)
            samples += ds.recs[i].len;
        /* MB of sample data read from the .mat files (int16). */
        double mb = (double)samples * 2.0 / 1e6;
        printf("%-6d %8d %11lld %9.1f %8.3f %10.0f\n", r + 1, ds.n, samples, mb, rep.seconds,
               ds.n / rep.seconds);
        dataset_free(&ds);
    }
    return 0;
}
