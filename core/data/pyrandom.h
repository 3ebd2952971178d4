/* Python's `random` module, as far as dataset splits need it: the MT19937
 * generator seeded exactly as CPython's random.seed(int) seeds it, and
 * random.shuffle(). The reference implementations split CinC 2017 with
 * `random.seed(2018); random.shuffle(dataset)`; this reproduces their
 * permutation bit for bit (CPython 3.2 and later; Python 2's shuffle drew
 * int(random() * (i + 1)) instead and gives another one). */
#ifndef RESECG_PYRANDOM_H
#define RESECG_PYRANDOM_H

#include <stdint.h>

#define PYRANDOM_N 624

typedef struct pyrandom {
    uint32_t mt[PYRANDOM_N];
    int mti;
} pyrandom;

/* random.seed(seed) for a non-negative int: init_by_array() with the
 * integer's 32-bit words, least significant first (one word for seed 0). */
void pyrandom_seed(pyrandom *r, uint64_t seed);
/* genrand_uint32(): the next 32-bit output of MT19937. */
uint32_t pyrandom_u32(pyrandom *r);
/* random.getrandbits(k) for 1 <= k <= 32: the top k bits of one output. */
uint32_t pyrandom_getrandbits(pyrandom *r, int k);
/* random._randbelow(n) for 1 <= n < 2^32: getrandbits(n.bit_length())
 * redrawn until below n (so the stream advances a data-dependent amount). */
uint32_t pyrandom_below(pyrandom *r, uint32_t n);
/* random.shuffle(a): for i = n-1 down to 1, swap a[i] with a[_randbelow(i+1)]. */
void pyrandom_shuffle(pyrandom *r, int *a, int n);

#endif
