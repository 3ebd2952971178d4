/* Helpers shared by the test programs: a scratch directory per test program
 * (made in the parent process by an unchecked fixture, removed at the end)
 * and the repository root for fixtures. Header-only: each test is one file. */
#ifndef RESECG_TESTUTIL_H
#define RESECG_TESTUTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Makes $TMPDIR/resecg-<tag>-XXXXXX (or under /tmp) into dir; aborts on
 * failure, since no test could run without it. */
static inline void testutil_mkdtemp(char *dir, size_t size, const char *tag)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, size, "%s/resecg-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "mkdtemp %s: %s\n", dir, strerror(errno));
        abort();
    }
}

/* Removes dir and everything below it. */
static inline void testutil_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        char p[4096];
        while ((de = readdir(d))) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, de->d_name) >= sizeof p)
                continue;
            if (de->d_type == DT_DIR)
                testutil_rmtree(p);
            else
                unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* The repository root: $RESECG_SOURCE_DIR (set by CTest), else "..". */
static inline const char *testutil_source_dir(void)
{
    const char *s = getenv("RESECG_SOURCE_DIR");
    return s && *s ? s : "..";
}

#endif
