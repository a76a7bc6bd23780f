/*
 * include/mixrec/fit.h
 *	  Training states: one epoch of mini-batch Adam over streamed rows, as
 *	  one flat, self-describing, checksummed buffer.
 *
 * A state is what the mixrec_fit aggregate carries from row to row, and
 * what parallel workers or the shards of a distributed database send to be
 * combined, so it must be a plain byte string (a bytea), valid after every
 * row, and checkable when it arrives from elsewhere.  Layout, all
 * little-endian:
 *
 *	offset	bytes	field
 *	0		4		magic "MXRS"
 *	4		2		state format version (1)
 *	6		2		reserved, zero
 *	8		4		total length in bytes
 *	12		4		CRC-32C of bytes 16..127 (the rest of this header)
 *	16		4		length of the embedded model
 *	20		4		batch size
 *	24		4		pool capacity, in rows (a multiple of the batch size)
 *	28		4		rows in the pool
 *	32		4		bytes per pooled row
 *	36		4		CRC-32C of the pooled rows
 *	40		8		rows seen (trained, or in the pool)
 *	48		8		Adam steps taken in this state
 *	56		24		sums of batch loss x batch rows: total, open, commercial
 *	80		32		shuffling generator state
 *	112		4		flags: 0x1 shuffle the pool, 0x2 skip invalid rows
 *	116		2		partitions K the epoch is split over (1..4096): the
 *					learning rate is scaled by sqrt(K) when training
 *	118		2		partial states averaged into this one (1..65535,
 *					saturating)
 *	120		8		rows skipped as invalid (counted by the caller)
 *	128		..		the model, in the model format (with optimiser state),
 *					padded to a multiple of 8 bytes
 *	..		..		the pool: rows of x[input] y[output] w (float32), o c (bytes),
 *					2 bytes of padding
 *
 * Rows are appended to the pool with the pool checksum extended as they
 * come; when the pool is full, its rows are shuffled (if asked) and trained
 * in batches, the pool empties, and the model is sealed with a fresh
 * checksum.  Unused bytes are zero.  So every byte of a state is covered by
 * a checksum or must be zero after every row, at the cost of checksumming
 * each row's bytes once.
 */
#ifndef MIXREC_FIT_H
#define MIXREC_FIT_H

#include <stddef.h>
#include <stdint.h>

#include "mixrec/model.h"
#include "mixrec/train.h"

#define MIXREC_FIT_STATE_VERSION	1
#define MIXREC_FIT_HEADER_BYTES		128
#define MIXREC_FIT_SHUFFLE			0x0001	/* shuffle the pool before training it */
#define MIXREC_FIT_SKIP_INVALID		0x0002	/* the caller skips invalid rows */
#define MIXREC_FIT_FLAGS			0x0003
#define MIXREC_MAX_POOL_ROWS		(1 << 24)	/* batch_size times pool_batches */
#define MIXREC_MAX_PARTITIONS		4096

typedef struct FitHeader
{
	uint32_t	total_len;
	uint32_t	model_len;
	uint32_t	batch_size;
	uint32_t	pool_capacity;
	uint32_t	pool_rows;
	uint32_t	row_bytes;
	uint32_t	pool_crc;		/* running, not yet finished */
	uint64_t	rows_seen;
	uint64_t	steps;
	double		loss_total;
	double		loss_open;
	double		loss_commercial;
	uint64_t	rng[4];
	uint32_t	flags;
	uint16_t	partitions;
	uint16_t	states;
	uint64_t	rows_skipped;
} FitHeader;

/* A state opened for work: the header decoded, the model bound in place */
typedef struct FitState
{
	uint8_t    *bytes;
	FitHeader	header;
	MixrecModel model;
	uint8_t    *model_blob;
	uint8_t    *pool;
} FitState;

/*
 * Scratch space for training a pool.  train.cancel, when set, is called
 * before each Adam step (see MixrecCancelHook); a state left by it is
 * half-trained and must be discarded.
 */
typedef struct FitWork
{
	TrainWork	train;
	float	   *x;
	float	   *y;
	float	   *w;
	unsigned char *o;
	unsigned char *c;
	uint32_t   *order;
} FitWork;

/* Bytes of a state for a model (with optimiser state) and these sizes */
extern size_t FitStateBytes(const MixrecModel *model, int batch_size, int pool_batches);

/*
 * Write a new state into bytes (FitStateBytes long, 8-byte aligned) from
 * a model that carries optimiser state.  partitions is the number of
 * partial states the epoch is split over (1 for a serial epoch): each
 * trains with the model's learning rate times sqrt(partitions), the
 * caller having divided the batch size by it (see TrainPool).
 */
extern MixrecStatus FitStateCreate(uint8_t *bytes, size_t len, const MixrecModel *model,
								   int batch_size, int pool_batches, int partitions,
								   uint32_t flags, uint64_t seed, MixrecError *err);

/*
 * Open a state in place.  With verify (a state from elsewhere), every
 * length, checksum and value is validated; without (a state this process
 * wrote), only the header is read.
 */
extern MixrecStatus FitStateOpen(uint8_t *bytes, size_t len, FitState *state,
								 int verify, MixrecError *err);

/* Scratch space for a state's pool */
extern size_t FitWorkFloats(const FitState *state);
extern size_t FitWorkBytes(const FitState *state);
extern void FitWorkBind(FitWork *work, const FitState *state, float *floats,
						unsigned char *bytes);

/* Append one row (x already standardised as the model wants); may train */
extern void FitStateAdd(FitState *state, const float *x, const float *y, float w,
						unsigned char o, unsigned char c, FitWork *work);

/* Train whatever rows the pool holds (the last, partial batches) */
extern void FitStateFlush(FitState *state, FitWork *work);

/* Check that two states can be combined (same shape and settings) */
extern MixrecStatus FitStateCompatible(const FitState *a, const FitState *b,
									   MixrecError *err);

/*
 * Average two flushed states into a, weighted by the rows each has seen:
 * parameters and Adam moments; the step count is the larger one.  The
 * result does not depend on the order of a and b.
 */
extern void FitStateAverage(FitState *a, const FitState *b);

/* Write the header back (after changing counters) with a fresh checksum */
extern void FitStateWriteHeader(FitState *state);

#endif							/* MIXREC_FIT_H */
