/* Seeded pseudo-random numbers (xoshiro256**, seeded through splitmix64).
 * Every random draw in training (init, shuffling, dropout, synthetic data)
 * comes from an explicit rng so the same seed gives the same run. */
#ifndef RESECG_RNG_H
#define RESECG_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t s[4];
} rng;

void rng_seed(rng *r, uint64_t seed);
uint64_t rng_u64(rng *r);
/* Uniform in [0, 1) with 24 random bits. */
float rng_uniform(rng *r);
/* Uniform integer in [0, n). */
uint32_t rng_below(rng *r, uint32_t n);
/* Standard normal (Box-Muller, no cached second value, so the stream
 * position depends only on the number of calls). */
float rng_normal(rng *r);
/* Normal truncated to [-2, 2] by redrawing, as Keras' truncated_normal. */
float rng_truncated_normal(rng *r);
/* Fisher-Yates shuffle of an int array. */
void rng_shuffle(rng *r, int *a, int n);
/* Stateless hash of (seed, a, b) to a 64-bit value: used where a draw must not
 * depend on thread scheduling (dropout masks per element). Inline because
 * dropout calls it once per activation. */
static inline uint64_t rng_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline uint64_t rng_hash3(uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t x = seed ^ (a * 0xD6E8FEB86659FD93ull) ^ (b * 0xA0761D6478BD642Full);
    return rng_mix64(x + 2 * 0x9E3779B97F4A7C15ull);
}

#endif
