/*
 * src/core/crc32c.c
 *	  CRC-32C (Castagnoli polynomial, reflected 0x82F63B78).
 *
 * Models are checksummed when written and read, and training states
 * (src/core/fit.c) extend a running checksum with every row they take in,
 * so the checksum is on the hot path of training.  On x86-64 CPUs with
 * SSE 4.2 the crc32 instruction does 8 bytes at a time; elsewhere a
 * portable table does a byte at a time.  The choice is made once, on the
 * first call.
 */
#include <string.h>

#include "mixrec/crc32c.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <nmmintrin.h>
#define HAVE_SSE42_CANDIDATE 1
#endif

static uint32_t crc_table[256];
static int	crc_ready = 0;		/* 0 until the first call picks a method */
static int	crc_use_sse42 = 0;

static void CrcInit(void);
static uint32_t CrcUpdateTable(uint32_t crc, const unsigned char *p, size_t len);

/*
 * Build the table and detect the instruction
 */
static void
CrcInit(void)
{
	for (uint32_t i = 0; i < 256; i++)
	{
		uint32_t	crc = i;

		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ UINT32_C(0x82F63B78) : crc >> 1;
		crc_table[i] = crc;
	}
#ifdef HAVE_SSE42_CANDIDATE
	__builtin_cpu_init();
	crc_use_sse42 = __builtin_cpu_supports("sse4.2");
#endif
	/* Idempotent: a race between two threads writes the same values */
	crc_ready = 1;
}

/*
 * Extend a running (non-inverted) CRC with a byte at a time
 */
static uint32_t
CrcUpdateTable(uint32_t crc, const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
	return crc;
}

#ifdef HAVE_SSE42_CANDIDATE
/*
 * Extend a running CRC with the crc32 instruction, 8 bytes at a time
 */
__attribute__((target("sse4.2")))
static uint32_t
CrcUpdateSse42(uint32_t crc, const unsigned char *p, size_t len)
{
	uint64_t	c = crc;

	while (len >= 8)
	{
		uint64_t	word;

		memcpy(&word, p, 8);
		c = _mm_crc32_u64(c, word);
		p += 8;
		len -= 8;
	}
	crc = (uint32_t) c;
	while (len-- > 0)
		crc = _mm_crc32_u8(crc, *p++);
	return crc;
}
#endif

/*
 * Extend a running CRC-32C: start from Crc32cStart(), finish with
 * Crc32cFinish(); Crc32c() does all three for one range
 */
uint32_t
Crc32cUpdate(uint32_t crc, const void *data, size_t len)
{
	if (!crc_ready)
		CrcInit();
#ifdef HAVE_SSE42_CANDIDATE
	if (crc_use_sse42)
		return CrcUpdateSse42(crc, data, len);
#endif
	return CrcUpdateTable(crc, data, len);
}

/*
 * Compute the CRC-32C of a byte range
 */
uint32_t
Crc32c(const void *data, size_t len)
{
	return Crc32cFinish(Crc32cUpdate(Crc32cStart(), data, len));
}
