/*
 * src/vocabulary.c
 *	  Counting a column's distinct values in bounded memory: the
 *	  space-saving algorithm (Metwally, Agrawal and El Abbadi, 2005).
 *
 * Design: a vocabulary has at most capacity entries, each a value and its
 * count.  A value already held has its count raised by one; a new value
 * takes a free entry while there is one, and otherwise replaces the entry of
 * the smallest count m, with count m + 1.  A count is therefore never below
 * the value's true count and exceeds it by at most the m at which the value
 * last entered, which is at most rows / capacity; every value seen more than
 * rows / capacity times is held.  Until the first replacement every count
 * is exact (VocabularyExact).
 *
 * Entries are found by value through a simplehash table whose keys are the
 * values' bytes, and the entry of the smallest count through a binary
 * min-heap of entry indexes ordered by count, then by when the entry took
 * its value: of equal counts the oldest is replaced first, so what is kept
 * depends only on the values added and their order.
 *
 * Memory: everything is in the vocabulary's own context, a child of the
 * caller's: the entries, the heap, the hash table and one copy of each
 * value held.  A replaced value's buffer is reused for the value replacing
 * it when large enough.  Checking for interrupts is the caller's, which
 * knows how often it adds.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "mixrec.h"
#include "typed.h"
#include "utils/memutils.h"

/* A value held, with its count */
typedef struct VocabEntry
{
	char	   *data;			/* in the vocabulary's context */
	uint32		len;
	uint32		size;			/* bytes allocated at data */
	uint64		count;
	uint64		stamp;			/* when the entry took its value */
	int			heap;			/* the entry's position in the heap */
} VocabEntry;

/* The hash table: a value's bytes to its entry */
typedef struct VocabKey
{
	const char *data;
	uint32		len;
} VocabKey;

typedef struct VocabSlot
{
	VocabKey	key;			/* points to the entry's copy */
	int			entry;
	uint32		hash;
	char		status;
} VocabSlot;

#define SH_PREFIX vocab
#define SH_ELEMENT_TYPE VocabSlot
#define SH_KEY_TYPE VocabKey
#define SH_KEY key
#define VocabHash(k) hash_bytes((const unsigned char *) (k).data, (int) (k).len)
#define SH_HASH_KEY(tb, k) VocabHash(k)
#define SH_EQUAL(tb, a, b) ((a).len == (b).len && memcmp((a).data, (b).data, (a).len) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) ((a)->hash)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

struct Vocabulary
{
	MemoryContext context;
	int			capacity;
	int			n;				/* entries in use */
	bool		exact;			/* no entry was ever replaced */
	uint64		stamp;			/* the next value's stamp */
	VocabEntry *entries;		/* [capacity] */
	int		   *heap;			/* [n] entry indexes; the smallest first */
	vocab_hash *table;
};

static bool EntryBefore(const Vocabulary *vocabulary, int a, int b);
static void HeapSwap(Vocabulary *vocabulary, int i, int j);
static void HeapUp(Vocabulary *vocabulary, int i);
static void HeapDown(Vocabulary *vocabulary, int i);
static void EntrySet(Vocabulary *vocabulary, int e, const char *data, uint32 len,
					 uint64 count);
static int	EntryCompare(const void *a, const void *b, void *arg);

/*
 * Does entry a come before entry b in the heap: a smaller count, or the
 * same count taken earlier?
 */
static bool
EntryBefore(const Vocabulary *vocabulary, int a, int b)
{
	const VocabEntry *ea = &vocabulary->entries[a];
	const VocabEntry *eb = &vocabulary->entries[b];

	return ea->count < eb->count || (ea->count == eb->count && ea->stamp < eb->stamp);
}

/*
 * Swap two positions of the heap
 */
static void
HeapSwap(Vocabulary *vocabulary, int i, int j)
{
	int			e = vocabulary->heap[i];

	vocabulary->heap[i] = vocabulary->heap[j];
	vocabulary->heap[j] = e;
	vocabulary->entries[vocabulary->heap[i]].heap = i;
	vocabulary->entries[vocabulary->heap[j]].heap = j;
}

/*
 * Move the entry at position i up to its place
 */
static void
HeapUp(Vocabulary *vocabulary, int i)
{
	while (i > 0)
	{
		int			parent = (i - 1) / 2;

		if (!EntryBefore(vocabulary, vocabulary->heap[i], vocabulary->heap[parent]))
			break;
		HeapSwap(vocabulary, i, parent);
		i = parent;
	}
}

/*
 * Move the entry at position i down to its place (its count has grown)
 */
static void
HeapDown(Vocabulary *vocabulary, int i)
{
	for (;;)
	{
		int			left = 2 * i + 1;
		int			right = left + 1;
		int			least = i;

		if (left < vocabulary->n &&
			EntryBefore(vocabulary, vocabulary->heap[left], vocabulary->heap[least]))
			least = left;
		if (right < vocabulary->n &&
			EntryBefore(vocabulary, vocabulary->heap[right], vocabulary->heap[least]))
			least = right;
		if (least == i)
			break;
		HeapSwap(vocabulary, i, least);
		i = least;
	}
}

/*
 * Give entry e a copy of a value, a count and the next stamp
 */
static void
EntrySet(Vocabulary *vocabulary, int e, const char *data, uint32 len, uint64 count)
{
	VocabEntry *entry = &vocabulary->entries[e];

	if (entry->data == NULL || entry->size < len)
	{
		if (entry->data)
			pfree(entry->data);
		entry->size = Max(len, 1);
		entry->data = MemoryContextAlloc(vocabulary->context, entry->size);
	}
	memcpy(entry->data, data, len);
	entry->len = len;
	entry->count = count;
	entry->stamp = vocabulary->stamp++;
}

/*
 * Create an empty vocabulary of capacity entries, in a context under parent
 */
Vocabulary *
VocabularyCreate(int capacity, MemoryContext parent)
{
	MemoryContext context;
	Vocabulary *vocabulary;

	/* The caller's bounds (top_k and its margin) keep this far within */
	if (capacity < 1 || (Size) capacity > MaxAllocSize / sizeof(VocabEntry))
		elog(ERROR, "vocabulary capacity %d is out of range", capacity);

	context = AllocSetContextCreate(parent, "mixrec vocabulary", ALLOCSET_DEFAULT_SIZES);
	vocabulary = MemoryContextAllocZero(context, sizeof(Vocabulary));
	vocabulary->context = context;
	vocabulary->capacity = capacity;
	vocabulary->exact = true;
	vocabulary->entries = MemoryContextAllocZero(context, mul_size(capacity, sizeof(VocabEntry)));
	vocabulary->heap = MemoryContextAlloc(context, mul_size(capacity, sizeof(int)));
	vocabulary->table = vocab_create(context, capacity, NULL);
	return vocabulary;
}

/*
 * Count one value; one longer than TRANSFORM_MAX_VALUE bytes is not counted
 */
void
VocabularyAdd(Vocabulary *vocabulary, const char *data, size_t len)
{
	VocabKey	key;
	uint32		hash;
	VocabSlot  *slot;
	bool		found;
	int			e;

	if (len > TRANSFORM_MAX_VALUE)
		return;
	key.data = len > 0 ? data : "";
	key.len = (uint32) len;
	hash = VocabHash(key);

	slot = vocab_lookup_hash(vocabulary->table, key, hash);
	if (slot != NULL)
	{
		e = slot->entry;
		vocabulary->entries[e].count++;
		HeapDown(vocabulary, vocabulary->entries[e].heap);
		return;
	}

	if (vocabulary->n < vocabulary->capacity)
	{
		/* A free entry, at the end of the heap */
		e = vocabulary->n++;
		EntrySet(vocabulary, e, key.data, key.len, 1);
		vocabulary->heap[e] = e;
		vocabulary->entries[e].heap = e;
		HeapUp(vocabulary, e);
	}
	else
	{
		/* Full: the new value replaces the entry of the smallest count */
		VocabKey	old;

		e = vocabulary->heap[0];
		old.data = vocabulary->entries[e].data;
		old.len = vocabulary->entries[e].len;
		if (!vocab_delete(vocabulary->table, old))
			elog(ERROR, "vocabulary entry %d is missing from its hash table", e);
		EntrySet(vocabulary, e, key.data, key.len, vocabulary->entries[e].count + 1);
		HeapDown(vocabulary, 0);
		vocabulary->exact = false;
	}

	key.data = vocabulary->entries[e].data;
	slot = vocab_insert_hash(vocabulary->table, key, hash, &found);
	Assert(!found);
	slot->entry = e;
}

/*
 * Are the counts exact (no value was ever replaced)?
 */
bool
VocabularyExact(const Vocabulary *vocabulary)
{
	return vocabulary->exact;
}

/*
 * Order entries by count, most first, then by their bytes, then shorter
 * first
 */
static int
EntryCompare(const void *a, const void *b, void *arg)
{
	const VocabEntry *entries = (const VocabEntry *) arg;
	const VocabEntry *ea = &entries[*(const int *) a];
	const VocabEntry *eb = &entries[*(const int *) b];
	int			cmp;

	if (ea->count != eb->count)
		return ea->count > eb->count ? -1 : 1;
	cmp = memcmp(ea->data, eb->data, Min(ea->len, eb->len));
	if (cmp != 0)
		return cmp;
	return ea->len < eb->len ? -1 : ea->len > eb->len ? 1 : 0;
}

/*
 * The at most top_k values counted at least min_frequency times, most
 * frequent first, ties in byte order
 *
 * The values are copied into the current context, NUL-terminated (not
 * counted in len), so they outlive the vocabulary.
 */
int
VocabularyTop(const Vocabulary *vocabulary, int top_k, int64 min_frequency,
			  TransformText **values, uint64 **counts)
{
	int		   *order = palloc_array(int, Max(vocabulary->n, 1));
	int			n = 0;

	Assert(top_k >= 0);
	for (int e = 0; e < vocabulary->n; e++)
		if (min_frequency <= 0 || vocabulary->entries[e].count >= (uint64) min_frequency)
			order[n++] = e;
	qsort_arg(order, n, sizeof(int), EntryCompare, vocabulary->entries);
	n = Min(n, top_k);

	*values = palloc0_array(TransformText, Max(n, 1));
	*counts = palloc_array(uint64, Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		const VocabEntry *entry = &vocabulary->entries[order[i]];
		char	   *copy = palloc(entry->len + 1);

		memcpy(copy, entry->data, entry->len);
		copy[entry->len] = '\0';
		(*values)[i].data = copy;
		(*values)[i].len = entry->len;
		(*values)[i].isnull = 0;
		(*counts)[i] = entry->count;
	}
	pfree(order);
	return n;
}

/*
 * Free a vocabulary and everything it holds
 */
void
VocabularyFree(Vocabulary *vocabulary)
{
	MemoryContextDelete(vocabulary->context);
}
