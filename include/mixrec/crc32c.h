/*
 * include/mixrec/crc32c.h
 *	  CRC-32C (Castagnoli), the checksum that closes every model blob.
 */
#ifndef MIXREC_CRC32C_H
#define MIXREC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

extern uint32_t Crc32c(const void *data, size_t len);

#endif							/* MIXREC_CRC32C_H */
