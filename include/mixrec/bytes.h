/*
 * include/mixrec/bytes.h
 *	  Little-endian reads and writes of integers and doubles at any address,
 *	  for the model format and training states.
 */
#ifndef MIXREC_BYTES_H
#define MIXREC_BYTES_H

#include <stdint.h>
#include <string.h>

static inline void
PutU16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
}

static inline void
PutU32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static inline void
PutU64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static inline void
PutF64(uint8_t *p, double v)
{
	uint64_t	bits;

	memcpy(&bits, &v, sizeof(bits));
	PutU64(p, bits);
}

static inline uint16_t
GetU16(const uint8_t *p)
{
	return (uint16_t) (p[0] | (p[1] << 8));
}

static inline uint32_t
GetU32(const uint8_t *p)
{
	uint32_t	v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t) p[i] << (8 * i);
	return v;
}

static inline uint64_t
GetU64(const uint8_t *p)
{
	uint64_t	v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t) p[i] << (8 * i);
	return v;
}

static inline double
GetF64(const uint8_t *p)
{
	uint64_t	bits = GetU64(p);
	double		v;

	memcpy(&v, &bits, sizeof(v));
	return v;
}

#endif							/* MIXREC_BYTES_H */
