/*
 * src/core/transform.c
 *	  The input transform of a model: its section of the model format,
 *	  validation, loading, and encoding a row's typed columns as inputs.
 *
 * The section (format version 2 of a model, flag 0x4), every integer and
 * float little-endian, no padding, so it may sit at any address:
 *
 *	offset	bytes	field
 *	0		4		n, the number of columns (1..1600)
 *	4		4		inputs of all columns together: the model's input dim
 *	then n columns, in input order, each:
 *	0		1		kind: 1 numeric, 2 boolean, 3 categorical, 4 multi-hot,
 *					5 dense, 6 time
 *	1		1		flags: 0x1 missing, 0x2 log, 0x4 day time, 0x8 from
 *					integer, 0x10 embedded; only those its kind takes
 *	2		2		N, bytes of the name (1..63, no NUL, unique)
 *	4		2		T, bytes of the type name (1..63, no NUL)
 *	6		2		reserved, zero
 *	8		4		position: its first input, the sum of the widths before
 *	12		4		width: inputs it fills, TransformWidth() of its shape
 *	16		4		L, elements of a dense value (1..65536), dimensions of
 *					an embedded categorical column (1..1024), else 1
 *	20		4		V, vocabulary entries of a categorical or multi-hot
 *					column (0..65534; embedded 0..2^24-2), else 0
 *	24		8		rows counted in training
 *	32		8		NULLs among them (at most rows)
 *	40		8		mean (float64)
 *	48		8		standard deviation (float64, >= 0)
 *	56		N		name
 *	..		T		type name
 *	if dense:
 *	..		8L		element means (float64)
 *	..		8L		element standard deviations (float64, >= 0)
 *	if categorical or multi-hot, and V > 0:
 *	..		4V		where each entry ends in the text bytes: non-decreasing,
 *					each entry 0..1024 bytes
 *	..		4V		the entries' indexes in strictly increasing byte order
 *	..		8V		counts
 *	..		E		text bytes of the entries, E where the last one ends
 *
 * Every float64 is finite and within the range of float32, as the inputs
 * and the standardisation it turns into are float32.  Entries are in
 * vocabulary order (most frequent first), which is input order.
 *
 * Why the byte order is stored: entries must be pairwise distinct, or two
 * inputs would stand for one value; a reader proves that without memory
 * and in one pass by checking that the listed order is a strict increase
 * (which also proves it a permutation).  TransformBuild writes it with a
 * heap sort inside the output, and finds duplicates as equal neighbours.
 *
 * TransformBuild writes a section, then validates what it wrote with the
 * same checks that TransformCheck applies to a section from elsewhere; so
 * the rules live in one place and a built section always reads back.
 * TransformCheck validates every byte before anything is used, then
 * TransformLoad copies what encoding needs into the caller's memory: names
 * with a NUL, element statistics as doubles, the vocabulary as arrays, and
 * per vocabulary of more than SMALL_VOCABULARY entries an open-addressing
 * hash index.  A smaller vocabulary, or one whose entries collide so much
 * that some entry would need more than MAX_PROBE probes (as a hostile
 * model's could), is searched by bisection over the byte order instead,
 * so no section can make loading or lookups slow.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mixrec/bytes.h"
#include "mixrec/mlp.h"
#include "mixrec/sort.h"
#include "mixrec/transform.h"

#define SECTION_HEADER_BYTES	8
#define COLUMN_HEADER_BYTES		56
#define MAX_SECTION_BYTES		((size_t) INT32_MAX)	/* fits a model's length */
#define SMALL_VOCABULARY		8
#define MAX_PROBE				64
#define TWO_PI					6.283185307179586476925286766559
#define SECONDS_PER_DAY			86400.0

/* A loaded column's own data, behind TransformColumn.internal */
typedef struct ColumnInternal
{
	const double *element_mean; /* DENSE: [length] each */
	const double *element_std;
	const uint32_t *end;		/* vocabulary: where each entry ends in text */
	const uint32_t *sorted;		/* entry indexes in byte order */
	const uint64_t *count;
	const char *text;
	const uint32_t *slots;		/* hash index (entry + 1, 0 empty), or NULL */
	uint32_t	mask;			/* slots - 1 */
	uint32_t	max_probe;		/* the longest probe an entry needed */
} ColumnInternal;

/* One column of a section, parsed but not yet validated */
typedef struct ColumnView
{
	uint32_t	kind;
	uint32_t	flags;
	const char *name;
	size_t		name_len;
	const char *type_name;
	size_t		type_len;
	uint32_t	reserved;
	uint32_t	position;
	uint32_t	width;
	uint32_t	length;
	uint32_t	vocab_size;
	uint64_t	rows;
	uint64_t	nulls;
	double		mean;
	double		std;
	const uint8_t *element_mean;	/* DENSE: [length] float64 each */
	const uint8_t *element_std;
	const uint8_t *end;			/* vocabulary: [V] uint32 each */
	const uint8_t *sorted;
	const uint8_t *count;		/* [V] uint64 */
	const char *text;
	size_t		text_len;
	size_t		size;			/* bytes of the column in the section */
} ColumnView;

/* How messages name a column: by name when it is readable, else by number */
typedef struct Label
{
	char		text[TRANSFORM_MAX_NAME + 16];
} Label;

/* Bump allocation inside the caller's memory */
typedef struct Arena
{
	uint8_t    *next;
	size_t		left;
} Arena;

/* The vocabulary of a spec, as HeapSort sorts it inside the output */
typedef struct SpecOrder
{
	uint8_t    *sorted;			/* [V] uint32, little-endian */
	const TransformText *vocab;
} SpecOrder;

static const char *ColumnLabel(Label *label, const char *name, size_t len, uint32_t index);
static uint32_t AllowedFlags(uint32_t kind);
static int	HasVocabulary(uint32_t kind);
static uint32_t Width(uint32_t kind, uint32_t flags, uint32_t length, uint32_t vocab_size);
static size_t Align8(size_t n);
static int	AddSize(size_t *total, size_t more);
static int	InFloatRange(double value);
static int	CompareText(const char *a, size_t a_len, const char *b, size_t b_len);
static uint64_t HashText(const char *data, size_t len);
static uint32_t IndexSlots(uint32_t vocab_size);
static MixrecStatus CheckShape(uint32_t kind, uint32_t flags, uint32_t length,
							   uint32_t vocab_size, const char *label, MixrecError *err);
static MixrecStatus CheckName(const char *data, size_t len, const char *what,
							  const char *label, MixrecError *err);
static MixrecStatus CheckStatistics(const ColumnView *view, const char *label,
									MixrecError *err);
static MixrecStatus CheckElementStats(const ColumnView *view, const char *label,
									  MixrecError *err);
static void ViewEntry(const ColumnView *view, uint32_t index, const char **data,
					  size_t *len);
static MixrecStatus CheckVocabulary(const ColumnView *view, const char *label,
									MixrecError *err);
static MixrecStatus ReadColumn(const uint8_t *p, size_t avail, uint32_t index,
							   ColumnView *view, Label *label, MixrecError *err);
static MixrecStatus ValidateColumn(const ColumnView *view, uint64_t position,
								   const char *label, MixrecError *err);
static size_t ColumnBytes(const uint8_t *p);
static size_t ColumnBytesWithin(const uint8_t *p, size_t avail);
static size_t ColumnMemory(const ColumnView *view);
static size_t FixedMemory(uint32_t n_columns);
static MixrecStatus CheckUniqueNames(const uint8_t *section, uint32_t n_columns,
									 MixrecError *err);
static MixrecStatus CountEmbedding(uint32_t kind, uint32_t flags, uint32_t length,
								   uint32_t vocab_size, const char *label, uint32_t *embedded,
								   uint64_t *floats, MixrecError *err);
static MixrecStatus CheckSection(const uint8_t *section, size_t len, uint32_t input_dim,
								 size_t *memory_size, MixrecError *err);
static MixrecStatus SpecSize(const TransformColumnSpec *spec, uint32_t index, size_t *size,
							 MixrecError *err);
static MixrecStatus SectionSize(const TransformColumnSpec *columns, uint32_t n_columns,
								size_t *size, MixrecError *err);
static int	SpecEntryBefore(const void *items, size_t i, size_t j);
static void SpecEntrySwap(void *items, size_t i, size_t j);
static uint8_t *WriteColumn(const TransformColumnSpec *spec, uint32_t position, uint8_t *p);
static void *Take(Arena *arena, size_t bytes);
static void BuildIndex(ColumnInternal *internal, uint32_t vocab_size, uint32_t *slots);
static int	LoadColumn(const ColumnView *view, TransformColumn *column,
					   ColumnInternal *internal, Arena *arena);
static void EntryText(const ColumnInternal *internal, uint32_t index, const char **data,
					  size_t *len);
static MixrecStatus CheckNumber(const TransformColumn *column, double value, size_t element,
								MixrecError *err);
static MixrecStatus CheckInRange(const TransformColumn *column, double value, size_t element,
								 MixrecError *err);
static int32_t VocabIndex(const TransformColumn *column, const char *data, size_t len);
static MixrecStatus SetEmbeddingRow(const TransformColumn *column, const TransformValue *value,
								   float *out, MixrecError *err);
static MixrecStatus SetText(const TransformColumn *column, const TransformText *text,
							float *out, MixrecError *err);
static MixrecStatus EncodeNumeric(const TransformColumn *column, const TransformValue *value,
								  float *out, MixrecError *err);
static MixrecStatus EncodeBoolean(const TransformColumn *column, const TransformValue *value,
								  float *out, MixrecError *err);
static MixrecStatus EncodeCategorical(const TransformColumn *column,
									  const TransformValue *value, float *out,
									  MixrecError *err);
static MixrecStatus EncodeMultiHot(const TransformColumn *column, const TransformValue *value,
								   float *out, MixrecError *err);
static MixrecStatus EncodeDense(const TransformColumn *column, const TransformValue *value,
								float *out, MixrecError *err);
static MixrecStatus EncodeTime(const TransformColumn *column, const TransformValue *value,
							   float *out, MixrecError *err);
static float Scale(double std);


/*
 * Name a column for a message: 'column "name"' when the name is readable
 * (control characters shown as '?'), else 'column N', counted from 1
 */
static const char *
ColumnLabel(Label *label, const char *name, size_t len, uint32_t index)
{
	char		shown[TRANSFORM_MAX_NAME];

	if (name == NULL || len < 1 || len > TRANSFORM_MAX_NAME || memchr(name, 0, len) != NULL)
	{
		snprintf(label->text, sizeof(label->text), "column %u", (unsigned) index + 1);
		return label->text;
	}
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) name[i];

		shown[i] = (c < 0x20 || c == 0x7f) ? '?' : (char) c;
	}
	snprintf(label->text, sizeof(label->text), "column \"%.*s\"", (int) len, shown);
	return label->text;
}

/*
 * Name a kind as SQL spells it (mixrec_feature_info, the transform option)
 */
const char *
TransformKindName(uint32_t kind)
{
	switch (kind)
	{
		case TRANSFORM_NUMERIC:
			return "numeric";
		case TRANSFORM_BOOLEAN:
			return "boolean";
		case TRANSFORM_CATEGORICAL:
			return "categorical";
		case TRANSFORM_MULTI_HOT:
			return "multi_hot";
		case TRANSFORM_DENSE:
			return "dense";
		case TRANSFORM_TIME:
			return "time";
	}
	return "unknown";
}

/*
 * Give the flags a kind takes
 */
static uint32_t
AllowedFlags(uint32_t kind)
{
	switch (kind)
	{
		case TRANSFORM_NUMERIC:
			return TRANSFORM_MISSING | TRANSFORM_LOG;
		case TRANSFORM_BOOLEAN:
		case TRANSFORM_DENSE:
			return TRANSFORM_MISSING;
		case TRANSFORM_TIME:
			return TRANSFORM_MISSING | TRANSFORM_DAY_TIME;
		case TRANSFORM_CATEGORICAL:
			return TRANSFORM_FROM_INTEGER | TRANSFORM_EMBED;
	}
	return 0;
}

/*
 * Say whether a kind has a vocabulary
 */
static int
HasVocabulary(uint32_t kind)
{
	return kind == TRANSFORM_CATEGORICAL || kind == TRANSFORM_MULTI_HOT;
}

/*
 * Count the inputs of a valid shape (see the header for their order)
 */
static uint32_t
Width(uint32_t kind, uint32_t flags, uint32_t length, uint32_t vocab_size)
{
	uint32_t	missing = (flags & TRANSFORM_MISSING) ? 1 : 0;

	switch (kind)
	{
		case TRANSFORM_NUMERIC:
		case TRANSFORM_BOOLEAN:
			return 1 + missing;
		case TRANSFORM_CATEGORICAL:
			if (flags & TRANSFORM_EMBED)
				return length;	/* the embedding's dimensions */
			return vocab_size + 2;	/* the out-of-vocabulary and NULL buckets */
		case TRANSFORM_MULTI_HOT:
			return vocab_size + 2;
		case TRANSFORM_DENSE:
			return length + missing;
		case TRANSFORM_TIME:
			return 3 + ((flags & TRANSFORM_DAY_TIME) ? 2 : 0) + missing;
	}
	return 0;
}

/*
 * Count the inputs of a column's shape; 0 for a shape TransformBuild rejects
 */
uint32_t
TransformWidth(TransformKind kind, uint32_t flags, uint32_t length, uint32_t vocab_size)
{
	if (CheckShape((uint32_t) kind, flags, length, vocab_size, "", NULL) != MIXREC_OK)
		return 0;
	return Width((uint32_t) kind, flags, length, vocab_size);
}

/*
 * Round up to a multiple of 8 (n is far below SIZE_MAX here)
 */
static size_t
Align8(size_t n)
{
	return (n + 7) & ~(size_t) 7;
}

/*
 * Add to a size; false (total unchanged) on overflow
 */
static int
AddSize(size_t *total, size_t more)
{
	if (more > SIZE_MAX - *total)
		return 0;
	*total += more;
	return 1;
}

/*
 * Say whether a double is finite and fits a float
 */
static int
InFloatRange(double value)
{
	return isfinite(value) && fabs(value) <= FLT_MAX;
}

/*
 * Order two byte strings: by memcmp, a prefix first
 */
static int
CompareText(const char *a, size_t a_len, const char *b, size_t b_len)
{
	size_t		common = a_len < b_len ? a_len : b_len;
	int			c = common > 0 ? memcmp(a, b, common) : 0;

	if (c != 0)
		return c;
	return (a_len > b_len) - (a_len < b_len);
}

/*
 * Hash bytes: FNV-1a over 64 bits, then MurmurHash3's finaliser, whose low
 * bits (the slot) depend on every input bit
 */
static uint64_t
HashText(const char *data, size_t len)
{
	uint64_t	h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < len; i++)
	{
		h ^= (unsigned char) data[i];
		h *= UINT64_C(0x100000001b3);
	}
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

/*
 * Count the slots of a vocabulary's hash index: a power of two at least
 * twice the entries, or 0 for a vocabulary searched by bisection
 */
static uint32_t
IndexSlots(uint32_t vocab_size)
{
	uint32_t	slots = 2 * SMALL_VOCABULARY;

	if (vocab_size <= SMALL_VOCABULARY)
		return 0;
	while (slots < 2 * vocab_size)
		slots *= 2;
	return slots;
}

/*
 * Validate a column's shape: kind, flags, length, vocabulary size
 */
static MixrecStatus
CheckShape(uint32_t kind, uint32_t flags, uint32_t length, uint32_t vocab_size,
		   const char *label, MixrecError *err)
{
	int			embedded = kind == TRANSFORM_CATEGORICAL && (flags & TRANSFORM_EMBED);
	uint32_t	max_vocabulary = embedded ? TRANSFORM_MAX_EMBED_VOCABULARY : TRANSFORM_MAX_VOCABULARY;

	if (kind < TRANSFORM_NUMERIC || kind > TRANSFORM_TIME)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT, "%s has unknown kind %u",
						  label, (unsigned) kind);
	if (flags & ~AllowedFlags(kind))
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "%s has flags 0x%x, but a %s column takes only 0x%x",
						  label, (unsigned) flags, TransformKindName(kind), (unsigned) AllowedFlags(kind));
	if (kind == TRANSFORM_DENSE && length < 1)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "%s is dense with 0 elements; it needs at least 1", label);
	if (kind == TRANSFORM_DENSE && length > TRANSFORM_MAX_LENGTH)
		return MixrecFail(err, MIXREC_ERR_LIMIT,
						  "%s has %u elements, more than the %d a dense column may have",
						  label, (unsigned) length, TRANSFORM_MAX_LENGTH);
	if (embedded && (length < 1 || length > TRANSFORM_MAX_EMBED_DIM))
		return MixrecFail(err, MIXREC_ERR_LIMIT,
						  "%s is embedded in %u dimensions; an embedding has 1 to %d",
						  label, (unsigned) length, TRANSFORM_MAX_EMBED_DIM);
	if (kind != TRANSFORM_DENSE && !embedded && length != 1)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "%s has length %u, but a %s column has length 1",
						  label, (unsigned) length, TransformKindName(kind));
	if (HasVocabulary(kind) && vocab_size > max_vocabulary)
		return MixrecFail(err, MIXREC_ERR_LIMIT,
						  "%s has %u vocabulary entries, more than the %u allowed",
						  label, (unsigned) vocab_size, (unsigned) max_vocabulary);
	if (!HasVocabulary(kind) && vocab_size != 0)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "%s has %u vocabulary entries, but a %s column has none",
						  label, (unsigned) vocab_size, TransformKindName(kind));
	return MIXREC_OK;
}

/*
 * Validate a name or type name: 1..TRANSFORM_MAX_NAME bytes, no NUL
 */
static MixrecStatus
CheckName(const char *data, size_t len, const char *what, const char *label,
		  MixrecError *err)
{
	if (len < 1)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT, "%s has an empty %s", label, what);
	if (len > TRANSFORM_MAX_NAME)
		return MixrecFail(err, MIXREC_ERR_LIMIT,
						  "%s has a %s of %zu bytes, more than the %d allowed",
						  label, what, len, TRANSFORM_MAX_NAME);
	if (memchr(data, 0, len) != NULL)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT, "%s has a NUL byte in its %s",
						  label, what);
	return MIXREC_OK;
}

/*
 * Validate a column's statistics: NULLs among the rows, mean and std
 */
static MixrecStatus
CheckStatistics(const ColumnView *view, const char *label, MixrecError *err)
{
	if (view->nulls > view->rows)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT, "%s counts %llu NULLs among %llu rows",
						  label, (unsigned long long) view->nulls,
						  (unsigned long long) view->rows);
	if (!InFloatRange(view->mean))
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "%s has mean %g, which is not a finite real", label, view->mean);
	if (!InFloatRange(view->std) || view->std < 0.0)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "%s has standard deviation %g, which is not a finite, non-negative real",
						  label, view->std);
	return MIXREC_OK;
}

/*
 * Validate a dense column's element statistics, as CheckStatistics does
 */
static MixrecStatus
CheckElementStats(const ColumnView *view, const char *label, MixrecError *err)
{
	for (uint32_t e = 0; e < view->length; e++)
	{
		double		mean = GetF64(view->element_mean + 8 * (size_t) e);
		double		std = GetF64(view->element_std + 8 * (size_t) e);

		if (!InFloatRange(mean))
			return MixrecFail(err, MIXREC_ERR_ARGUMENT,
							  "%s has mean %g for element %u, which is not a finite real",
							  label, mean, (unsigned) e + 1);
		if (!InFloatRange(std) || std < 0.0)
			return MixrecFail(err, MIXREC_ERR_ARGUMENT,
							  "%s has standard deviation %g for element %u, which is not a finite, non-negative real",
							  label, std, (unsigned) e + 1);
	}
	return MIXREC_OK;
}

/*
 * Point at the bytes of a parsed vocabulary's entry (its ends are valid)
 */
static void
ViewEntry(const ColumnView *view, uint32_t index, const char **data, size_t *len)
{
	uint32_t	start = index == 0 ? 0 : GetU32(view->end + 4 * (size_t) (index - 1));

	*data = view->text + start;
	*len = GetU32(view->end + 4 * (size_t) index) - start;
}

/*
 * Validate a vocabulary: entry ends, entry sizes, and the byte order, whose
 * strict increase proves the entries distinct
 */
static MixrecStatus
CheckVocabulary(const ColumnView *view, const char *label, MixrecError *err)
{
	uint32_t	previous_end = 0;
	uint32_t	previous = 0;

	for (uint32_t i = 0; i < view->vocab_size; i++)
	{
		uint32_t	end = GetU32(view->end + 4 * (size_t) i);

		if (end < previous_end)
			return MixrecFail(err, MIXREC_ERR_CORRUPT,
							  "vocabulary entry %u of %s ends at byte %u, before the entry ahead of it (%u)",
							  (unsigned) i + 1, label, (unsigned) end, (unsigned) previous_end);
		if (end - previous_end > TRANSFORM_MAX_VALUE)
			return MixrecFail(err, MIXREC_ERR_LIMIT,
							  "vocabulary entry %u of %s has %u bytes, more than the %d allowed",
							  (unsigned) i + 1, label, (unsigned) (end - previous_end),
							  TRANSFORM_MAX_VALUE);
		previous_end = end;
	}

	for (uint32_t k = 0; k < view->vocab_size; k++)
	{
		uint32_t	index = GetU32(view->sorted + 4 * (size_t) k);
		const char *a;
		const char *b;
		size_t		a_len;
		size_t		b_len;
		int			order;

		if (index >= view->vocab_size)
			return MixrecFail(err, MIXREC_ERR_CORRUPT,
							  "the byte order of %s lists entry %u, but it has %u entries",
							  label, (unsigned) index + 1, (unsigned) view->vocab_size);
		if (k == 0)
		{
			previous = index;
			continue;
		}
		if (index == previous)
			return MixrecFail(err, MIXREC_ERR_CORRUPT,
							  "the byte order of %s lists entry %u twice",
							  label, (unsigned) index + 1);
		ViewEntry(view, previous, &a, &a_len);
		ViewEntry(view, index, &b, &b_len);
		order = CompareText(a, a_len, b, b_len);
		if (order == 0)
			return MixrecFail(err, MIXREC_ERR_ARGUMENT,
							  "%s has equal vocabulary entries %u and %u",
							  label, (unsigned) (previous < index ? previous : index) + 1,
							  (unsigned) (previous < index ? index : previous) + 1);
		if (order > 0)
			return MixrecFail(err, MIXREC_ERR_CORRUPT,
							  "the byte order of %s is not increasing at its entry %u",
							  label, (unsigned) k + 1);
		previous = index;
	}
	return MIXREC_OK;
}

/*
 * Parse the column at p, with avail bytes left in the section: its fixed
 * fields and shape, and where its parts lie, every one inside avail
 */
static MixrecStatus
ReadColumn(const uint8_t *p, size_t avail, uint32_t index, ColumnView *view, Label *label,
		   MixrecError *err)
{
	size_t		size;
	size_t		part;
	MixrecStatus status;

	memset(view, 0, sizeof(*view));
	if (avail < COLUMN_HEADER_BYTES)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "the transform is truncated: column %u needs at least %d bytes, %zu remain",
						  (unsigned) index + 1, COLUMN_HEADER_BYTES, avail);
	view->kind = p[0];
	view->flags = p[1];
	view->name_len = GetU16(p + 2);
	view->type_len = GetU16(p + 4);
	view->reserved = GetU16(p + 6);
	view->position = GetU32(p + 8);
	view->width = GetU32(p + 12);
	view->length = GetU32(p + 16);
	view->vocab_size = GetU32(p + 20);
	view->rows = GetU64(p + 24);
	view->nulls = GetU64(p + 32);
	view->mean = GetF64(p + 40);
	view->std = GetF64(p + 48);
	view->name = (const char *) p + COLUMN_HEADER_BYTES;
	view->type_name = view->name + view->name_len;

	size = COLUMN_HEADER_BYTES + view->name_len + view->type_len;
	ColumnLabel(label, COLUMN_HEADER_BYTES + view->name_len <= avail ? view->name : NULL,
				view->name_len, index);
	if (size > avail)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "the transform is truncated: %s needs %zu bytes for its names, %zu remain",
						  label->text, size, avail);
	if ((status = CheckShape(view->kind, view->flags, view->length, view->vocab_size,
							 label->text, err)) != MIXREC_OK)
		return status;

	/* The shape is within its limits, so no product below can overflow */
	if (view->kind == TRANSFORM_DENSE)
	{
		part = 16 * (size_t) view->length;
		if (part > avail - size)
			return MixrecFail(err, MIXREC_ERR_CORRUPT,
							  "the transform is truncated: %s needs %zu bytes for %u element statistics, %zu remain",
							  label->text, part, (unsigned) view->length, avail - size);
		view->element_mean = p + size;
		view->element_std = p + size + 8 * (size_t) view->length;
		size += part;
	}
	else if (view->vocab_size > 0)
	{
		part = 16 * (size_t) view->vocab_size;
		if (part > avail - size)
			return MixrecFail(err, MIXREC_ERR_CORRUPT,
							  "the transform is truncated: %s needs %zu bytes for %u vocabulary entries, %zu remain",
							  label->text, part, (unsigned) view->vocab_size, avail - size);
		view->end = p + size;
		view->sorted = view->end + 4 * (size_t) view->vocab_size;
		view->count = view->sorted + 4 * (size_t) view->vocab_size;
		size += part;
		view->text_len = GetU32(view->end + 4 * (size_t) (view->vocab_size - 1));
		if (view->text_len > avail - size)
			return MixrecFail(err, MIXREC_ERR_CORRUPT,
							  "the transform is truncated: %s needs %zu bytes of vocabulary text, %zu remain",
							  label->text, view->text_len, avail - size);
		view->text = (const char *) p + size;
		size += view->text_len;
	}
	view->size = size;
	return MIXREC_OK;
}

/*
 * Validate everything in a parsed column that does not depend on the
 * other columns, except its position (the inputs filled before it)
 */
static MixrecStatus
ValidateColumn(const ColumnView *view, uint64_t position, const char *label,
			   MixrecError *err)
{
	MixrecStatus status;
	uint32_t	width = Width(view->kind, view->flags, view->length, view->vocab_size);

	if ((status = CheckName(view->name, view->name_len, "name", label, err)) != MIXREC_OK ||
		(status = CheckName(view->type_name, view->type_len, "type name", label, err)) != MIXREC_OK)
		return status;
	if (view->reserved != 0)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "%s has a reserved field that is not zero", label);
	if (view->position != position)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "%s starts at input %u, but the columns before it fill %llu inputs",
						  label, (unsigned) view->position, (unsigned long long) position);
	if (view->width != width)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "%s says it fills %u inputs, but a %s column of its shape fills %u",
						  label, (unsigned) view->width, TransformKindName(view->kind), (unsigned) width);
	if ((status = CheckStatistics(view, label, err)) != MIXREC_OK)
		return status;
	if (view->kind == TRANSFORM_DENSE)
		return CheckElementStats(view, label, err);
	return CheckVocabulary(view, label, err);
}

/*
 * Measure a validated column in the section
 */
static size_t
ColumnBytes(const uint8_t *p)
{
	size_t		size = COLUMN_HEADER_BYTES + GetU16(p + 2) + GetU16(p + 4);
	uint32_t	length = GetU32(p + 16);
	uint32_t	vocab_size = GetU32(p + 20);

	if (p[0] == TRANSFORM_DENSE)
		return size + 16 * (size_t) length;
	if (vocab_size > 0)
		size += 16 * (size_t) vocab_size + GetU32(p + size + 4 * (size_t) (vocab_size - 1));
	return size;
}

/*
 * Measure what TransformLoad takes for a column beyond its fixed structs
 */
static size_t
ColumnMemory(const ColumnView *view)
{
	size_t		size = Align8(view->name_len + 1) + Align8(view->type_len + 1);
	size_t		v = view->vocab_size;

	if (view->kind == TRANSFORM_DENSE)
		size += 2 * sizeof(double) * (size_t) view->length;
	else if (v > 0)
		size += 2 * Align8(sizeof(uint32_t) * v) + sizeof(uint64_t) * v +
			Align8(view->text_len) + Align8(sizeof(uint32_t) * (size_t) IndexSlots(view->vocab_size));
	return size;
}

/*
 * Measure what TransformLoad takes before the columns' own data
 */
static size_t
FixedMemory(uint32_t n_columns)
{
	return Align8(sizeof(Transform)) + Align8(sizeof(TransformColumn) * (size_t) n_columns) +
		Align8(sizeof(ColumnInternal) * (size_t) n_columns);
}

/*
 * Check that no two columns share a name (the columns are valid).  Each
 * column is compared with those before it, skipping from header to header:
 * quadratic in the columns, at most 1600, but needing no memory.
 */
static MixrecStatus
CheckUniqueNames(const uint8_t *section, uint32_t n_columns, MixrecError *err)
{
	const uint8_t *p = section + SECTION_HEADER_BYTES;

	for (uint32_t i = 0; i < n_columns; p += ColumnBytes(p), i++)
	{
		const uint8_t *q = section + SECTION_HEADER_BYTES;
		size_t		len = GetU16(p + 2);

		for (uint32_t j = 0; j < i; q += ColumnBytes(q), j++)
			if (GetU16(q + 2) == len &&
				memcmp(p + COLUMN_HEADER_BYTES, q + COLUMN_HEADER_BYTES, len) == 0)
			{
				Label		label;

				return MixrecFail(err, MIXREC_ERR_ARGUMENT,
								  "columns %u and %u have the same name: %s",
								  (unsigned) j + 1, (unsigned) i + 1,
								  ColumnLabel(&label, (const char *) p + COLUMN_HEADER_BYTES,
											  len, i));
			}
	}
	return MIXREC_OK;
}

/*
 * Count a column of a valid shape towards the limits of embedded columns:
 * their number, and the numbers of their tables (each factor is bounded by
 * CheckShape, so the sum is exact).  TransformBuild's sizing and
 * CheckSection both count, so TransformSectionSize refuses what
 * TransformBuild would.
 */
static MixrecStatus
CountEmbedding(uint32_t kind, uint32_t flags, uint32_t length, uint32_t vocab_size,
			   const char *label, uint32_t *embedded, uint64_t *floats, MixrecError *err)
{
	if (kind != TRANSFORM_CATEGORICAL || !(flags & TRANSFORM_EMBED))
		return MIXREC_OK;
	*floats += (uint64_t) (vocab_size + 2) * length;
	if (++*embedded > TRANSFORM_MAX_EMBEDDINGS)
		return MixrecFail(err, MIXREC_ERR_LIMIT,
						  "a transform embeds at most %d columns; %s is one more",
						  TRANSFORM_MAX_EMBEDDINGS, label);
	if (*floats > TRANSFORM_MAX_EMBED_FLOATS)
		return MixrecFail(err, MIXREC_ERR_LIMIT,
						  "the embedding tables up to %s hold %llu numbers per model, more than the %d allowed",
						  label, (unsigned long long) *floats, TRANSFORM_MAX_EMBED_FLOATS);
	return MIXREC_OK;
}

/*
 * Validate a section for input_dim inputs and measure its loaded form.
 * The status says which rule failed (TransformBuild reports it as is,
 * TransformCheck as corruption).
 */
static MixrecStatus
CheckSection(const uint8_t *section, size_t len, uint32_t input_dim, size_t *memory_size,
			 MixrecError *err)
{
	uint32_t	n_columns;
	uint32_t	declared;
	uint64_t	position = 0;
	uint64_t	embed_floats = 0;
	uint32_t	embedded = 0;
	size_t		offset = SECTION_HEADER_BYTES;
	size_t		memory;
	MixrecStatus status;

	if (len < SECTION_HEADER_BYTES)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "the transform is truncated: %zu bytes cannot hold its header", len);
	n_columns = GetU32(section);
	declared = GetU32(section + 4);
	if (n_columns < 1)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT, "a transform needs at least one column");
	if (n_columns > TRANSFORM_MAX_COLUMNS)
		return MixrecFail(err, MIXREC_ERR_LIMIT,
						  "a transform has at most %d columns, got %u",
						  TRANSFORM_MAX_COLUMNS, (unsigned) n_columns);
	if (declared != input_dim)
		return MixrecFail(err, MIXREC_ERR_DIMENSION,
						  "the transform fills %u inputs, but the model has %u",
						  (unsigned) declared, (unsigned) input_dim);

	memory = FixedMemory(n_columns);
	for (uint32_t i = 0; i < n_columns; i++)
	{
		ColumnView	view;
		Label		label;

		if ((status = ReadColumn(section + offset, len - offset, i, &view, &label, err)) != MIXREC_OK ||
			(status = ValidateColumn(&view, position, label.text, err)) != MIXREC_OK)
			return status;
		if ((status = CountEmbedding(view.kind, view.flags, view.length, view.vocab_size,
									 label.text, &embedded, &embed_floats, err)) != MIXREC_OK)
			return status;
		if (!AddSize(&memory, ColumnMemory(&view)))
			return MixrecFail(err, MIXREC_ERR_LIMIT,
							  "the transform needs more memory than this host can address");
		position += view.width;
		offset += view.size;
	}
	if (offset != len)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "the transform has %zu bytes after its last column", len - offset);
	if (position != declared)
		return MixrecFail(err, MIXREC_ERR_CORRUPT,
						  "the transform's columns fill %llu inputs, but it says %u",
						  (unsigned long long) position, (unsigned) declared);
	if ((status = CheckUniqueNames(section, n_columns, err)) != MIXREC_OK)
		return status;
	*memory_size = memory;
	return MIXREC_OK;
}

/*
 * Validate a section from elsewhere and measure its loaded form
 */
MixrecStatus
TransformCheck(const uint8_t *section, size_t len, uint32_t input_dim, size_t *memory_size,
			   MixrecError *err)
{
	if (CheckSection(section, len, input_dim, memory_size, err) != MIXREC_OK)
	{
		if (err != NULL)
			err->status = MIXREC_ERR_CORRUPT;
		return MIXREC_ERR_CORRUPT;
	}
	return MIXREC_OK;
}

/*
 * Measure a column that need not be valid, reading only its avail bytes:
 * 0 if it does not fit in them
 */
static size_t
ColumnBytesWithin(const uint8_t *p, size_t avail)
{
	size_t		size;
	uint32_t	length;
	uint32_t	vocab_size;

	if (avail < COLUMN_HEADER_BYTES)
		return 0;
	size = COLUMN_HEADER_BYTES + GetU16(p + 2) + GetU16(p + 4);
	length = GetU32(p + 16);
	vocab_size = GetU32(p + 20);
	if (size > avail)
		return 0;
	if (p[0] == TRANSFORM_DENSE)
	{
		if (length > (avail - size) / 16)
			return 0;
		size += 16 * (size_t) length;
	}
	else if (vocab_size > 0)
	{
		uint32_t	text;

		if (vocab_size > (avail - size) / 16)
			return 0;
		/* Where the text ends is the last entry of the first array */
		text = GetU32(p + size + 4 * (size_t) (vocab_size - 1));
		size += 16 * (size_t) vocab_size;
		if (text > avail - size)
			return 0;
		size += text;
	}
	return size;
}

/*
 * List the embedded columns of a checked section.  Also called on a section
 * that was not checked (a model this code wrote, bound in place without its
 * scan: ModelBindInPlace), so it reads nothing beyond len, whatever the
 * bytes.
 */
uint32_t
TransformEmbeddings(const uint8_t *section, size_t len, TransformEmbedding *out,
					size_t *floats)
{
	uint32_t	n_columns;
	size_t		offset = SECTION_HEADER_BYTES;
	uint32_t	n = 0;

	*floats = 0;
	if (len < SECTION_HEADER_BYTES)
		return 0;
	n_columns = GetU32(section);
	for (uint32_t i = 0; i < n_columns && offset < len; i++)
	{
		const uint8_t *p = section + offset;
		size_t		bytes = ColumnBytesWithin(p, len - offset);

		if (bytes == 0)
			break;

		if (p[0] == TRANSFORM_CATEGORICAL && (p[1] & TRANSFORM_EMBED) &&
			n < TRANSFORM_MAX_EMBEDDINGS)
		{
			out[n].column = i;
			out[n].position = GetU32(p + 8);
			out[n].dim = GetU32(p + 16);
			out[n].rows = GetU32(p + 20) + 2;
			*floats += (size_t) out[n].rows * out[n].dim;
			n++;
		}
		offset += bytes;
	}
	return n;
}

/*
 * Validate what sizing a spec needs (its name, shape, arrays, entries) and
 * measure its bytes in the section; the rest is checked on what is written
 */
static MixrecStatus
SpecSize(const TransformColumnSpec *spec, uint32_t index, size_t *size, MixrecError *err)
{
	Label		label;
	size_t		name_len = 0;
	size_t		type_len = 0;
	MixrecStatus status;

	/* Bounded lengths: a name without its NUL must not be read past */
	while (spec->name != NULL && name_len <= TRANSFORM_MAX_NAME && spec->name[name_len] != '\0')
		name_len++;
	while (spec->type_name != NULL && type_len <= TRANSFORM_MAX_NAME &&
		   spec->type_name[type_len] != '\0')
		type_len++;
	ColumnLabel(&label, spec->name, name_len, index);
	if (spec->name == NULL || spec->type_name == NULL)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT, "%s has no %s", label.text,
						  spec->name == NULL ? "name" : "type name");
	if ((status = CheckName(spec->name, name_len, "name", label.text, err)) != MIXREC_OK ||
		(status = CheckName(spec->type_name, type_len, "type name", label.text, err)) != MIXREC_OK ||
		(status = CheckShape((uint32_t) spec->kind, spec->flags, spec->length, spec->vocab_size,
							 label.text, err)) != MIXREC_OK)
		return status;

	*size = COLUMN_HEADER_BYTES + name_len + type_len;
	if (spec->kind == TRANSFORM_DENSE)
	{
		if (spec->element_mean == NULL || spec->element_std == NULL)
			return MixrecFail(err, MIXREC_ERR_ARGUMENT,
							  "%s is dense but has no element statistics", label.text);
		*size += 16 * (size_t) spec->length;
	}
	if (spec->vocab_size > 0)
	{
		if (spec->vocab == NULL || spec->vocab_count == NULL)
			return MixrecFail(err, MIXREC_ERR_ARGUMENT,
							  "%s has %u vocabulary entries but no array of them",
							  label.text, (unsigned) spec->vocab_size);
		*size += 16 * (size_t) spec->vocab_size;
		for (uint32_t i = 0; i < spec->vocab_size; i++)
		{
			const TransformText *entry = &spec->vocab[i];

			if (entry->isnull)
				return MixrecFail(err, MIXREC_ERR_ARGUMENT,
								  "vocabulary entry %u of %s is NULL", (unsigned) i + 1, label.text);
			if (entry->len > TRANSFORM_MAX_VALUE)
				return MixrecFail(err, MIXREC_ERR_LIMIT,
								  "vocabulary entry %u of %s has %zu bytes, more than the %d allowed",
								  (unsigned) i + 1, label.text, entry->len, TRANSFORM_MAX_VALUE);
			if (entry->data == NULL && entry->len > 0)
				return MixrecFail(err, MIXREC_ERR_ARGUMENT,
								  "vocabulary entry %u of %s has no bytes", (unsigned) i + 1,
								  label.text);
			*size += entry->len;
		}
	}
	return MIXREC_OK;
}

/*
 * Validate the specs as far as sizing needs and measure the section
 */
static MixrecStatus
SectionSize(const TransformColumnSpec *columns, uint32_t n_columns, size_t *size,
			MixrecError *err)
{
	uint64_t	inputs = 0;
	uint64_t	embed_floats = 0;
	uint32_t	embedded = 0;
	MixrecStatus status;

	if (columns == NULL || n_columns < 1)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT, "a transform needs at least one column");
	if (n_columns > TRANSFORM_MAX_COLUMNS)
		return MixrecFail(err, MIXREC_ERR_LIMIT, "a transform has at most %d columns, got %u",
						  TRANSFORM_MAX_COLUMNS, (unsigned) n_columns);
	*size = SECTION_HEADER_BYTES;
	for (uint32_t i = 0; i < n_columns; i++)
	{
		const TransformColumnSpec *spec = &columns[i];
		size_t		column_size = 0;
		Label		label;

		if ((status = SpecSize(spec, i, &column_size, err)) != MIXREC_OK)
			return status;
		/* SpecSize proved the name a NUL-terminated string */
		ColumnLabel(&label, spec->name, strlen(spec->name), i);
		if ((status = CountEmbedding((uint32_t) spec->kind, spec->flags, spec->length,
									 spec->vocab_size, label.text, &embedded, &embed_floats,
									 err)) != MIXREC_OK)
			return status;
		inputs += Width((uint32_t) spec->kind, spec->flags, spec->length, spec->vocab_size);
		/* Each column is at most about 70 MB, so this sum cannot wrap first */
		if (!AddSize(size, column_size) || *size > MAX_SECTION_BYTES)
			return MixrecFail(err, MIXREC_ERR_LIMIT,
							  "a transform is at most %zu bytes; its first %u columns take more",
							  MAX_SECTION_BYTES, (unsigned) i + 1);
	}
	if (inputs > MIXREC_MAX_UNITS)
		return MixrecFail(err, MIXREC_ERR_LIMIT,
						  "the transform's columns fill %llu inputs, more than the %d a model takes",
						  (unsigned long long) inputs, MIXREC_MAX_UNITS);
	return MIXREC_OK;
}

/*
 * Measure the section of these columns; 0 if they break a limit
 */
size_t
TransformSectionSize(const TransformColumnSpec *columns, uint32_t n_columns)
{
	size_t		size;

	if (SectionSize(columns, n_columns, &size, NULL) != MIXREC_OK)
		return 0;
	return size;
}

/* Entries of a spec in byte order; equal ones end up next to each other */
static int
SpecEntryBefore(const void *items, size_t i, size_t j)
{
	const SpecOrder *order = items;
	const TransformText *a = &order->vocab[GetU32(order->sorted + 4 * i)];
	const TransformText *b = &order->vocab[GetU32(order->sorted + 4 * j)];

	return CompareText(a->data, a->len, b->data, b->len) < 0;
}

static void
SpecEntrySwap(void *items, size_t i, size_t j)
{
	const SpecOrder *order = items;
	uint32_t	swap = GetU32(order->sorted + 4 * i);

	PutU32(order->sorted + 4 * i, GetU32(order->sorted + 4 * j));
	PutU32(order->sorted + 4 * j, swap);
}

/*
 * Write a sized spec's column at p; return the end of what it wrote
 */
static uint8_t *
WriteColumn(const TransformColumnSpec *spec, uint32_t position, uint8_t *p)
{
	size_t		name_len = strlen(spec->name);
	size_t		type_len = strlen(spec->type_name);
	uint32_t	v = spec->vocab_size;

	p[0] = (uint8_t) spec->kind;
	p[1] = (uint8_t) spec->flags;
	PutU16(p + 2, (uint16_t) name_len);
	PutU16(p + 4, (uint16_t) type_len);
	PutU16(p + 6, 0);
	PutU32(p + 8, position);
	PutU32(p + 12, Width((uint32_t) spec->kind, spec->flags, spec->length, v));
	PutU32(p + 16, spec->length);
	PutU32(p + 20, v);
	PutU64(p + 24, spec->rows);
	PutU64(p + 32, spec->nulls);
	PutF64(p + 40, spec->mean);
	PutF64(p + 48, spec->std);
	p += COLUMN_HEADER_BYTES;
	memcpy(p, spec->name, name_len);
	p += name_len;
	memcpy(p, spec->type_name, type_len);
	p += type_len;

	if (spec->kind == TRANSFORM_DENSE)
	{
		for (uint32_t e = 0; e < spec->length; e++)
		{
			PutF64(p + 8 * (size_t) e, spec->element_mean[e]);
			PutF64(p + 8 * ((size_t) spec->length + e), spec->element_std[e]);
		}
		return p + 16 * (size_t) spec->length;
	}
	if (v > 0)
	{
		uint32_t	end = 0;
		SpecOrder	order = {p + 4 * (size_t) v, spec->vocab};
		uint8_t    *text = p + 16 * (size_t) v;

		for (uint32_t i = 0; i < v; i++)
		{
			end += (uint32_t) spec->vocab[i].len;
			PutU32(p + 4 * (size_t) i, end);
			PutU32(order.sorted + 4 * (size_t) i, i);
			PutU64(p + 8 * ((size_t) v + i), spec->vocab_count[i]);
			if (spec->vocab[i].len > 0)
				memcpy(text, spec->vocab[i].data, spec->vocab[i].len);
			text += spec->vocab[i].len;
		}
		HeapSort(&order, v, SpecEntryBefore, SpecEntrySwap);
		return text;
	}
	return p;
}

/*
 * Write the section of these columns and give the inputs they fill
 */
MixrecStatus
TransformBuild(const TransformColumnSpec *columns, uint32_t n_columns, uint8_t *out,
			   size_t out_size, uint32_t *input_dim, MixrecError *err)
{
	size_t		size;
	size_t		memory_size;
	uint32_t	position = 0;
	uint8_t    *p;
	MixrecStatus status;

	if ((status = SectionSize(columns, n_columns, &size, err)) != MIXREC_OK)
		return status;
	if (out == NULL || out_size < size)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "a transform of these columns takes %zu bytes, the buffer has %zu",
						  size, out == NULL ? (size_t) 0 : out_size);

	p = out + SECTION_HEADER_BYTES;
	for (uint32_t i = 0; i < n_columns; i++)
	{
		p = WriteColumn(&columns[i], position, p);
		position += Width((uint32_t) columns[i].kind, columns[i].flags, columns[i].length,
						  columns[i].vocab_size);
	}
	PutU32(out, n_columns);
	PutU32(out + 4, position);

	/* Statistics, name clashes, duplicate entries: the reader's own rules */
	if ((status = CheckSection(out, size, position, &memory_size, err)) != MIXREC_OK)
		return status;
	*input_dim = position;
	return MIXREC_OK;
}

/*
 * Take 8-byte aligned bytes from an arena, or NULL when it is too small
 */
static void *
Take(Arena *arena, size_t bytes)
{
	size_t		rounded = Align8(bytes);
	void	   *p = arena->next;

	if (rounded > arena->left)
		return NULL;
	arena->next += rounded;
	arena->left -= rounded;
	return p;
}

/*
 * Index a vocabulary by hash in slots (IndexSlots of them), or leave it to
 * bisection when some entry needs more than MAX_PROBE probes
 */
static void
BuildIndex(ColumnInternal *internal, uint32_t vocab_size, uint32_t *slots)
{
	uint32_t	n_slots = IndexSlots(vocab_size);

	memset(slots, 0, sizeof(uint32_t) * (size_t) n_slots);
	internal->slots = NULL;
	internal->mask = n_slots - 1;
	internal->max_probe = 0;
	for (uint32_t i = 0; i < vocab_size; i++)
	{
		const char *data;
		size_t		len;
		uint32_t	home;
		uint32_t	probe = 0;

		EntryText(internal, i, &data, &len);
		home = (uint32_t) HashText(data, len) & internal->mask;
		while (slots[(home + probe) & internal->mask] != 0)
			if (++probe > MAX_PROBE)
				return;
		slots[(home + probe) & internal->mask] = i + 1;
		if (probe > internal->max_probe)
			internal->max_probe = probe;
	}
	internal->slots = slots;
}

/*
 * Copy a validated column into loaded form; false if memory runs out
 */
static int
LoadColumn(const ColumnView *view, TransformColumn *column, ColumnInternal *internal,
		   Arena *arena)
{
	char	   *name = Take(arena, view->name_len + 1);
	char	   *type_name = Take(arena, view->type_len + 1);
	uint32_t	v = view->vocab_size;

	if (name == NULL || type_name == NULL)
		return 0;
	memcpy(name, view->name, view->name_len);
	name[view->name_len] = '\0';
	memcpy(type_name, view->type_name, view->type_len);
	type_name[view->type_len] = '\0';
	memset(internal, 0, sizeof(*internal));
	column->name = name;
	column->type_name = type_name;
	column->kind = (TransformKind) view->kind;
	column->flags = view->flags;
	column->position = view->position;
	column->width = view->width;
	column->length = view->length;
	column->rows = view->rows;
	column->nulls = view->nulls;
	column->mean = view->mean;
	column->std = view->std;
	column->vocab_size = v;
	column->internal = internal;

	if (view->kind == TRANSFORM_DENSE)
	{
		double	   *mean = Take(arena, sizeof(double) * (size_t) view->length);
		double	   *std = Take(arena, sizeof(double) * (size_t) view->length);

		if (mean == NULL || std == NULL)
			return 0;
		for (uint32_t e = 0; e < view->length; e++)
		{
			mean[e] = GetF64(view->element_mean + 8 * (size_t) e);
			std[e] = GetF64(view->element_std + 8 * (size_t) e);
		}
		internal->element_mean = mean;
		internal->element_std = std;
	}
	else if (v > 0)
	{
		uint32_t   *end = Take(arena, sizeof(uint32_t) * (size_t) v);
		uint32_t   *sorted = Take(arena, sizeof(uint32_t) * (size_t) v);
		uint64_t   *count = Take(arena, sizeof(uint64_t) * (size_t) v);
		char	   *text = Take(arena, view->text_len);
		uint32_t   *slots = Take(arena, sizeof(uint32_t) * (size_t) IndexSlots(v));

		if (end == NULL || sorted == NULL || count == NULL || text == NULL || slots == NULL)
			return 0;
		for (uint32_t i = 0; i < v; i++)
		{
			end[i] = GetU32(view->end + 4 * (size_t) i);
			sorted[i] = GetU32(view->sorted + 4 * (size_t) i);
			count[i] = GetU64(view->count + 8 * (size_t) i);
		}
		if (view->text_len > 0)
			memcpy(text, view->text, view->text_len);
		internal->end = end;
		internal->sorted = sorted;
		internal->count = count;
		internal->text = text;
		if (IndexSlots(v) > 0)
			BuildIndex(internal, v, slots);
	}
	return 1;
}

/*
 * Build the loaded form of a section that passed TransformCheck in the
 * caller's memory (memory_size from TransformCheck, 8-byte aligned).  Only
 * a checked section is supported: the vocabulary is not validated again.
 * Gives NULL if the section cannot be parsed or the memory is too small,
 * neither of which happens to a checked section.
 */
const Transform *
TransformLoad(const uint8_t *section, size_t len, void *memory, size_t memory_size)
{
	Arena		arena = {memory, memory_size};
	Transform  *transform;
	TransformColumn *columns;
	ColumnInternal *internals;
	uint32_t	n_columns;
	size_t		offset = SECTION_HEADER_BYTES;

	if (section == NULL || memory == NULL || len < SECTION_HEADER_BYTES)
		return NULL;
	n_columns = GetU32(section);
	if (n_columns < 1 || n_columns > TRANSFORM_MAX_COLUMNS)
		return NULL;
	transform = Take(&arena, sizeof(Transform));
	columns = Take(&arena, sizeof(TransformColumn) * (size_t) n_columns);
	internals = Take(&arena, sizeof(ColumnInternal) * (size_t) n_columns);
	if (transform == NULL || columns == NULL || internals == NULL)
		return NULL;
	transform->n_columns = n_columns;
	transform->input_dim = GetU32(section + 4);
	transform->columns = columns;

	/* Parsing again is cheap, and keeps a wrong call inside the section */
	for (uint32_t i = 0; i < n_columns; i++)
	{
		ColumnView	view;
		Label		label;

		if (ReadColumn(section + offset, len - offset, i, &view, &label, NULL) != MIXREC_OK ||
			!LoadColumn(&view, &columns[i], &internals[i], &arena))
			return NULL;
		offset += view.size;
	}
	return transform;
}

/*
 * Find a column by name
 */
int
TransformFindColumn(const Transform *transform, const char *name)
{
	if (name == NULL)
		return -1;
	for (uint32_t i = 0; i < transform->n_columns; i++)
		if (strcmp(transform->columns[i].name, name) == 0)
			return (int) i;
	return -1;
}

/*
 * Point at the bytes of a loaded vocabulary's entry
 */
static void
EntryText(const ColumnInternal *internal, uint32_t index, const char **data, size_t *len)
{
	uint32_t	start = index == 0 ? 0 : internal->end[index - 1];

	*data = internal->text + start;
	*len = internal->end[index] - start;
}

/*
 * Give a vocabulary entry and its count
 */
void
TransformVocabEntry(const Transform *transform, uint32_t column, uint32_t index,
					TransformText *entry, uint64_t *count)
{
	const TransformColumn *c;
	const ColumnInternal *internal;

	entry->data = NULL;
	entry->len = 0;
	entry->isnull = 1;
	*count = 0;
	if (column >= transform->n_columns)
		return;
	c = &transform->columns[column];
	if (index >= c->vocab_size)
		return;
	internal = c->internal;
	EntryText(internal, index, &entry->data, &entry->len);
	entry->isnull = 0;
	*count = internal->count[index];
}

/*
 * Find a text in a column's vocabulary: by its hash index, or by bisection
 * over the byte order
 */
static int32_t
VocabIndex(const TransformColumn *column, const char *data, size_t len)
{
	const ColumnInternal *internal = column->internal;
	uint32_t	low = 0;
	uint32_t	high = column->vocab_size;

	if (!HasVocabulary(column->kind) || column->vocab_size == 0 || len > TRANSFORM_MAX_VALUE ||
		(data == NULL && len > 0))
		return -1;

	if (internal->slots != NULL)
	{
		uint32_t	home = (uint32_t) HashText(data, len) & internal->mask;

		/* Every entry sits within max_probe slots of its home */
		for (uint32_t probe = 0; probe <= internal->max_probe; probe++)
		{
			uint32_t	slot = internal->slots[(home + probe) & internal->mask];
			const char *entry;
			size_t		entry_len;

			if (slot == 0)
				return -1;
			EntryText(internal, slot - 1, &entry, &entry_len);
			if (CompareText(entry, entry_len, data, len) == 0)
				return (int32_t) (slot - 1);
		}
		return -1;
	}

	while (low < high)
	{
		uint32_t	middle = low + (high - low) / 2;
		uint32_t	index = internal->sorted[middle];
		const char *entry;
		size_t		entry_len;
		int			order;

		EntryText(internal, index, &entry, &entry_len);
		order = CompareText(entry, entry_len, data, len);
		if (order == 0)
			return (int32_t) index;
		if (order < 0)
			low = middle + 1;
		else
			high = middle;
	}
	return -1;
}

/*
 * Find a text in a column's vocabulary
 */
int32_t
TransformVocabLookup(const Transform *transform, uint32_t column, const char *data,
					 size_t len)
{
	if (column >= transform->n_columns)
		return -1;
	return VocabIndex(&transform->columns[column], data, len);
}

/*
 * Set the input of one non-NULL text: its entry's, or the out-of-vocabulary
 * bucket's
 */
static MixrecStatus
SetText(const TransformColumn *column, const TransformText *text, float *out,
		MixrecError *err)
{
	int32_t		index;

	if (text->data == NULL && text->len > 0)
	{
		Label		label;

		return MixrecFail(err, MIXREC_ERR_ARGUMENT, "%s has a text of %zu bytes but no bytes",
						  ColumnLabel(&label, column->name, strlen(column->name), 0), text->len);
	}
	index = VocabIndex(column, text->data, text->len);
	out[index >= 0 ? (uint32_t) index : column->vocab_size] = 1.0f;
	return MIXREC_OK;
}

/*
 * An embedded CATEGORICAL column: the row of its table in the first input
 * (a float holds every row number below 2^24 exactly)
 */
static MixrecStatus
SetEmbeddingRow(const TransformColumn *column, const TransformValue *value, float *out,
				MixrecError *err)
{
	int32_t		index;

	if (value->isnull || value->text.isnull)
	{
		out[0] = (float) (column->vocab_size + 1);
		return MIXREC_OK;
	}
	if (value->text.data == NULL && value->text.len > 0)
	{
		Label		label;

		return MixrecFail(err, MIXREC_ERR_ARGUMENT, "%s has a text of %zu bytes but no bytes",
						  ColumnLabel(&label, column->name, strlen(column->name), 0),
						  value->text.len);
	}
	index = VocabIndex(column, value->text.data, value->text.len);
	out[0] = (float) (index >= 0 ? (uint32_t) index : column->vocab_size);
	return MIXREC_OK;
}

/*
 * Give a dense column's statistics of one element ((0, 0) for a column or
 * element that does not exist)
 */
void
TransformElementStats(const Transform *transform, uint32_t column, uint32_t element,
					  double *mean, double *std)
{
	const TransformColumn *c;
	const ColumnInternal *internal;

	*mean = 0.0;
	*std = 0.0;
	if (column >= transform->n_columns)
		return;
	c = &transform->columns[column];
	if (c->kind != TRANSFORM_DENSE || element >= c->length)
		return;
	internal = c->internal;
	*mean = internal->element_mean[element];
	*std = internal->element_std[element];
}

/*
 * Check a number the host gave (element 0: the value, else the 1-based
 * element of a dense value)
 */
static MixrecStatus
CheckNumber(const TransformColumn *column, double value, size_t element, MixrecError *err)
{
	Label		label;
	char		what[48] = "";

	if (isfinite(value))
		return MIXREC_OK;
	if (element > 0)
		snprintf(what, sizeof(what), "element %zu of ", element);
	return MixrecFail(err, MIXREC_ERR_NONFINITE, "%s%s is %s", what,
					  ColumnLabel(&label, column->name, strlen(column->name), 0),
					  isnan(value) ? "NaN" : "infinite");
}

/*
 * Check that an input fits a float, as CheckNumber names it
 */
static MixrecStatus
CheckInRange(const TransformColumn *column, double value, size_t element, MixrecError *err)
{
	Label		label;
	char		what[48] = "";

	if (fabs(value) <= FLT_MAX)
		return MIXREC_OK;
	if (element > 0)
		snprintf(what, sizeof(what), "element %zu of ", element);
	return MixrecFail(err, MIXREC_ERR_NONFINITE, "%s%s (%g) is out of range for real", what,
					  ColumnLabel(&label, column->name, strlen(column->name), 0), value);
}

/*
 * NUMERIC: the value (log-scaled with TRANSFORM_LOG), [missing]
 */
static MixrecStatus
EncodeNumeric(const TransformColumn *column, const TransformValue *value, float *out,
			  MixrecError *err)
{
	double		v = value->number;
	MixrecStatus status;

	if (value->isnull)
		v = column->mean;
	else
	{
		if ((status = CheckNumber(column, v, 0, err)) != MIXREC_OK)
			return status;
		if (column->flags & TRANSFORM_LOG)
			v = v < 0.0 ? -log1p(-v) : log1p(v);
		if ((status = CheckInRange(column, v, 0, err)) != MIXREC_OK)
			return status;
	}
	out[0] = (float) v;
	if (column->flags & TRANSFORM_MISSING)
		out[1] = value->isnull ? 1.0f : 0.0f;
	return MIXREC_OK;
}

/*
 * BOOLEAN: 1 for true (any non-zero number), 0 for false or NULL, [missing]
 */
static MixrecStatus
EncodeBoolean(const TransformColumn *column, const TransformValue *value, float *out,
			  MixrecError *err)
{
	MixrecStatus status;

	if (!value->isnull && (status = CheckNumber(column, value->number, 0, err)) != MIXREC_OK)
		return status;
	out[0] = (!value->isnull && value->number != 0.0) ? 1.0f : 0.0f;
	if (column->flags & TRANSFORM_MISSING)
		out[1] = value->isnull ? 1.0f : 0.0f;
	return MIXREC_OK;
}

/*
 * CATEGORICAL: one-hot over the vocabulary and the two buckets
 */
static MixrecStatus
EncodeCategorical(const TransformColumn *column, const TransformValue *value, float *out,
				  MixrecError *err)
{
	uint32_t	v = column->vocab_size;

	for (uint32_t i = 0; i < column->width; i++)
		out[i] = 0.0f;
	if (column->flags & TRANSFORM_EMBED)
		return SetEmbeddingRow(column, value, out, err);
	if (value->isnull || value->text.isnull)
	{
		out[v + 1] = 1.0f;
		return MIXREC_OK;
	}
	return SetText(column, &value->text, out, err);
}

/*
 * MULTI_HOT: the inputs of CATEGORICAL, one set for each element
 */
static MixrecStatus
EncodeMultiHot(const TransformColumn *column, const TransformValue *value, float *out,
			   MixrecError *err)
{
	uint32_t	v = column->vocab_size;

	for (uint32_t i = 0; i < column->width; i++)
		out[i] = 0.0f;
	if (value->isnull)
	{
		out[v + 1] = 1.0f;
		return MIXREC_OK;
	}
	if (value->items == NULL && value->n_items > 0)
	{
		Label		label;

		return MixrecFail(err, MIXREC_ERR_ARGUMENT, "%s has a list of %zu elements but no elements",
						  ColumnLabel(&label, column->name, strlen(column->name), 0),
						  value->n_items);
	}
	for (size_t i = 0; i < value->n_items; i++)
	{
		MixrecStatus status;

		if (value->items[i].isnull)
			out[v + 1] = 1.0f;
		else if ((status = SetText(column, &value->items[i], out, err)) != MIXREC_OK)
			return status;
	}
	return MIXREC_OK;
}

/*
 * DENSE: each element (its mean when NULL), [missing]
 */
static MixrecStatus
EncodeDense(const TransformColumn *column, const TransformValue *value, float *out,
			MixrecError *err)
{
	const ColumnInternal *internal = column->internal;
	uint32_t	length = column->length;
	Label		label;
	MixrecStatus status;

	if (!value->isnull && value->n_elements != length)
		return MixrecFail(err, MIXREC_ERR_DIMENSION, "%s has %zu elements, expected %u",
						  ColumnLabel(&label, column->name, strlen(column->name), 0),
						  value->n_elements, (unsigned) length);
	if (!value->isnull && value->elements == NULL)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT, "%s has %zu elements but no array of them",
						  ColumnLabel(&label, column->name, strlen(column->name), 0),
						  value->n_elements);
	for (uint32_t e = 0; e < length; e++)
	{
		double		x;

		if (value->isnull || (value->element_null != NULL && value->element_null[e]))
			x = internal->element_mean[e];
		else
		{
			x = value->elements[e];
			if ((status = CheckNumber(column, x, (size_t) e + 1, err)) != MIXREC_OK ||
				(status = CheckInRange(column, x, (size_t) e + 1, err)) != MIXREC_OK)
				return status;
		}
		out[e] = (float) x;
	}
	if (column->flags & TRANSFORM_MISSING)
		out[length] = value->isnull ? 1.0f : 0.0f;
	return MIXREC_OK;
}

/*
 * TIME: the seconds, [the time-of-day pair], the weekday pair, [missing]
 */
static MixrecStatus
EncodeTime(const TransformColumn *column, const TransformValue *value, float *out,
		   MixrecError *err)
{
	double		seconds = value->number;
	int			day_time = (column->flags & TRANSFORM_DAY_TIME) != 0;
	float	   *weekday_pair = out + 1 + (day_time ? 2 : 0);
	MixrecStatus status;

	if (value->isnull)
	{
		out[0] = (float) column->mean;
		for (int i = 1; i < 3 + (day_time ? 2 : 0); i++)
			out[i] = 0.0f;
	}
	else
	{
		double		day;
		double		weekday;

		if ((status = CheckNumber(column, seconds, 0, err)) != MIXREC_OK ||
			(status = CheckInRange(column, seconds, 0, err)) != MIXREC_OK)
			return status;
		day = floor(seconds / SECONDS_PER_DAY);
		/* 1970-01-01 was a Thursday (4), and weekday 0 is Sunday */
		weekday = fmod(day + 4.0, 7.0);
		if (weekday < 0.0)
			weekday += 7.0;
		out[0] = (float) seconds;
		if (day_time)
		{
			double		angle = TWO_PI * (seconds - SECONDS_PER_DAY * day) / SECONDS_PER_DAY;

			out[1] = (float) sin(angle);
			out[2] = (float) cos(angle);
		}
		weekday_pair[0] = (float) sin(TWO_PI * weekday / 7.0);
		weekday_pair[1] = (float) cos(TWO_PI * weekday / 7.0);
	}
	if (column->flags & TRANSFORM_MISSING)
		weekday_pair[2] = value->isnull ? 1.0f : 0.0f;
	return MIXREC_OK;
}

/*
 * Write one column's inputs for one row
 */
MixrecStatus
TransformEncodeColumn(const Transform *transform, uint32_t column, const TransformValue *value,
					  float *x, MixrecError *err)
{
	const TransformColumn *c;

	if (column >= transform->n_columns)
		return MixrecFail(err, MIXREC_ERR_ARGUMENT,
						  "the transform has %u columns, there is no column %u",
						  (unsigned) transform->n_columns, (unsigned) column + 1);
	c = &transform->columns[column];
	x += c->position;
	switch (c->kind)
	{
		case TRANSFORM_NUMERIC:
			return EncodeNumeric(c, value, x, err);
		case TRANSFORM_BOOLEAN:
			return EncodeBoolean(c, value, x, err);
		case TRANSFORM_CATEGORICAL:
			return EncodeCategorical(c, value, x, err);
		case TRANSFORM_MULTI_HOT:
			return EncodeMultiHot(c, value, x, err);
		case TRANSFORM_DENSE:
			return EncodeDense(c, value, x, err);
		case TRANSFORM_TIME:
			return EncodeTime(c, value, x, err);
	}
	return MixrecFail(err, MIXREC_ERR_ARGUMENT, "column %u has unknown kind %u",
					  (unsigned) column + 1, (unsigned) c->kind);
}

/*
 * Give the divisor of a fitted std: a constant input stays unscaled, as
 * StandardizeStatsFinish leaves it
 */
static float
Scale(double std)
{
	float		scale = (float) std;

	return (std > 0.0 && scale > 0.0f) ? scale : 1.0f;
}

/*
 * Write the standardisation a transform implies
 */
void
TransformStandardization(const Transform *transform, float *mean, float *std)
{
	for (uint32_t j = 0; j < transform->input_dim; j++)
	{
		mean[j] = 0.0f;
		std[j] = 1.0f;
	}
	for (uint32_t i = 0; i < transform->n_columns; i++)
	{
		const TransformColumn *c = &transform->columns[i];
		const ColumnInternal *internal = c->internal;

		if (c->kind == TRANSFORM_NUMERIC || c->kind == TRANSFORM_TIME)
		{
			mean[c->position] = (float) c->mean;
			std[c->position] = Scale(c->std);
		}
		else if (c->kind == TRANSFORM_DENSE)
			for (uint32_t e = 0; e < c->length; e++)
			{
				mean[c->position + e] = (float) internal->element_mean[e];
				std[c->position + e] = Scale(internal->element_std[e]);
			}
	}
}
