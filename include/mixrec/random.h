/*
 * include/mixrec/random.h
 *	  A seeded, portable pseudo-random generator (xoshiro256**).
 *
 * The same seed gives the same sequence on every platform, so a model
 * initialised or a data set shuffled from a seed is reproducible anywhere.
 */
#ifndef MIXREC_RANDOM_H
#define MIXREC_RANDOM_H

#include <stdint.h>

typedef struct MixrecRandom
{
	uint64_t	s[4];
} MixrecRandom;

extern void RandomSeed(MixrecRandom *rng, uint64_t seed);
extern uint64_t RandomNext(MixrecRandom *rng);
/* Uniform double in [0, 1) with 53 random bits */
extern double RandomDouble(MixrecRandom *rng);
/* Uniform integer in [0, bound), bound > 0, without modulo bias */
extern uint64_t RandomBelow(MixrecRandom *rng, uint64_t bound);

#endif							/* MIXREC_RANDOM_H */
