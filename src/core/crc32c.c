/*
 * src/core/crc32c.c
 *	  CRC-32C (Castagnoli polynomial, reflected 0x82F63B78), table driven.
 *
 * A model is checksummed once when it is written and once when a query
 * first reads it, so a portable byte-at-a-time table is fast enough and
 * keeps the core free of CPU-specific code.
 */
#include "mixrec/crc32c.h"

static uint32_t crc_table[256];
static int	crc_table_ready = 0;

static void CrcBuildTable(void);

/*
 * Build the lookup table on first use
 */
static void
CrcBuildTable(void)
{
	for (uint32_t i = 0; i < 256; i++)
	{
		uint32_t	crc = i;

		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ UINT32_C(0x82F63B78) : crc >> 1;
		crc_table[i] = crc;
	}
	crc_table_ready = 1;
}

/*
 * Compute the CRC-32C of a byte range
 */
uint32_t
Crc32c(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t	crc = UINT32_C(0xFFFFFFFF);

	/* Idempotent: a race between two threads writes the same values */
	if (!crc_table_ready)
		CrcBuildTable();

	for (size_t i = 0; i < len; i++)
		crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
	return crc ^ UINT32_C(0xFFFFFFFF);
}
