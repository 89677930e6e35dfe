/* rng: deterministic random numbers (same seed, same stream). */
#ifndef CNN_RNG_H
#define CNN_RNG_H

#include <stdint.h>

/* Deterministic random numbers: xoshiro256** seeded by splitmix64. */
typedef struct { uint64_t s[4]; } rng;
void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
double rng_uniform(rng *r);          /* [0, 1) */
double rng_normal(rng *r);           /* N(0, 1) */
uint64_t rng_below(rng *r, uint64_t n);  /* [0, n) */

#endif
