/*
 * include/mixrec/crc32c.h
 *	  CRC-32C (Castagnoli), the checksum of models and training states.
 */
#ifndef MIXREC_CRC32C_H
#define MIXREC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#define Crc32cStart()		UINT32_C(0xFFFFFFFF)
#define Crc32cFinish(crc)	((crc) ^ UINT32_C(0xFFFFFFFF))

extern uint32_t Crc32cUpdate(uint32_t crc, const void *data, size_t len);
extern uint32_t Crc32c(const void *data, size_t len);

/* Use the CPU's crc32 instruction or not: for KernelsInit (kernels.h) */
extern void Crc32cUseInstruction(int use);

#endif							/* MIXREC_CRC32C_H */
