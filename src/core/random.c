/*
 * src/core/random.c
 *	  xoshiro256** seeded through splitmix64: small, fast and portable.
 *
 * Only integer arithmetic on uint64_t, so a seed gives the same numbers on
 * every platform and compiler.
 */
#include "mixrec/random.h"

static uint64_t SplitMix64(uint64_t *state);
static uint64_t RotateLeft(uint64_t x, int k);

/*
 * Advance a splitmix64 state and return its next output
 */
static uint64_t
SplitMix64(uint64_t *state)
{
	uint64_t	z = (*state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/*
 * Rotate a 64-bit word left
 */
static uint64_t
RotateLeft(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/*
 * Seed the generator; every seed, 0 included, gives a valid state
 */
void
RandomSeed(MixrecRandom *rng, uint64_t seed)
{
	uint64_t	state = seed;

	for (int i = 0; i < 4; i++)
		rng->s[i] = SplitMix64(&state);
}

/*
 * Return the next 64 random bits
 */
uint64_t
RandomNext(MixrecRandom *rng)
{
	uint64_t   *s = rng->s;
	uint64_t	result = RotateLeft(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = RotateLeft(s[3], 45);
	return result;
}

/*
 * Return a uniform double in [0, 1)
 */
double
RandomDouble(MixrecRandom *rng)
{
	return (double) (RandomNext(rng) >> 11) * 0x1.0p-53;
}

/*
 * Return a uniform integer in [0, bound) by rejection
 */
uint64_t
RandomBelow(MixrecRandom *rng, uint64_t bound)
{
	uint64_t	limit = UINT64_MAX - UINT64_MAX % bound;
	uint64_t	x;

	do
		x = RandomNext(rng);
	while (x >= limit);
	return x % bound;
}
