/* CPython-compatible MT19937 and random.shuffle (see pyrandom.h). The
 * generator is Matsumoto and Nishimura's mt19937ar.c, which CPython's
 * Modules/_randommodule.c embeds; seeding and _randbelow follow CPython 3.11
 * (random_seed() and Lib/random.py). */
#include "data/pyrandom.h"

#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu

/* mt19937ar's init_genrand(s). */
static void mt_init(pyrandom *r, uint32_t s)
{
    r->mt[0] = s;
    for (int i = 1; i < PYRANDOM_N; i++)
        r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
    r->mti = PYRANDOM_N;
}

/* mt19937ar's init_by_array(key, len), which CPython calls for every seed. */
static void mt_init_by_array(pyrandom *r, const uint32_t *key, int len)
{
    mt_init(r, 19650218u);
    int i = 1, j = 0;
    for (int k = PYRANDOM_N > len ? PYRANDOM_N : len; k; k--) {
        r->mt[i] = (r->mt[i] ^ ((r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) * 1664525u)) + key[j] +
                   (uint32_t)j;
        i++;
        j++;
        if (i >= PYRANDOM_N) {
            r->mt[0] = r->mt[PYRANDOM_N - 1];
            i = 1;
        }
        if (j >= len)
            j = 0;
    }
    for (int k = PYRANDOM_N - 1; k; k--) {
        r->mt[i] = (r->mt[i] ^ ((r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= PYRANDOM_N) {
            r->mt[0] = r->mt[PYRANDOM_N - 1];
            i = 1;
        }
    }
    r->mt[0] = 0x80000000u; /* MSB is 1, assuring a non-zero initial array */
}

void pyrandom_seed(pyrandom *r, uint64_t seed)
{
    /* CPython: key = abs(n) as 32-bit words, little-endian, at least one. */
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    mt_init_by_array(r, key, key[1] ? 2 : 1);
}

uint32_t pyrandom_u32(pyrandom *r)
{
    static const uint32_t mag01[2] = {0u, MT_MATRIX_A};
    uint32_t y;
    if (r->mti >= PYRANDOM_N) {
        int kk;
        for (kk = 0; kk < PYRANDOM_N - MT_M; kk++) {
            y = (r->mt[kk] & MT_UPPER) | (r->mt[kk + 1] & MT_LOWER);
            r->mt[kk] = r->mt[kk + MT_M] ^ (y >> 1) ^ mag01[y & 1u];
        }
        for (; kk < PYRANDOM_N - 1; kk++) {
            y = (r->mt[kk] & MT_UPPER) | (r->mt[kk + 1] & MT_LOWER);
            r->mt[kk] = r->mt[kk + (MT_M - PYRANDOM_N)] ^ (y >> 1) ^ mag01[y & 1u];
        }
        y = (r->mt[PYRANDOM_N - 1] & MT_UPPER) | (r->mt[0] & MT_LOWER);
        r->mt[PYRANDOM_N - 1] = r->mt[MT_M - 1] ^ (y >> 1) ^ mag01[y & 1u];
        r->mti = 0;
    }
    y = r->mt[r->mti++];
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= (y >> 18);
    return y;
}

/* CPython's getrandbits(k) for k <= 32: genrand_uint32() >> (32 - k). */
uint32_t pyrandom_getrandbits(pyrandom *r, int k)
{
    if (k <= 0)
        return 0;
    if (k > 32)
        k = 32;
    return pyrandom_u32(r) >> (32 - k);
}

/* Lib/random.py _randbelow_with_getrandbits: k = n.bit_length(), not
 * (n-1).bit_length(), so a power of two wastes half its draws, as in CPython. */
uint32_t pyrandom_below(pyrandom *r, uint32_t n)
{
    if (n <= 1)
        return 0;
    int k = 0;
    for (uint32_t v = n; v; v >>= 1)
        k++;
    uint32_t x = pyrandom_getrandbits(r, k);
    while (x >= n)
        x = pyrandom_getrandbits(r, k);
    return x;
}

void pyrandom_shuffle(pyrandom *r, int *a, int n)
{
    for (int i = n - 1; i >= 1; i--) {
        int j = (int)pyrandom_below(r, (uint32_t)i + 1u);
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
