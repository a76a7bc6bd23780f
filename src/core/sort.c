/*
 * src/core/sort.c
 *	  The core's heap sort (see include/mixrec/sort.h).
 */
#include "mixrec/sort.h"

/*
 * Heap-sort n items into the order before gives (before(i, j): item i
 * comes ahead of item j); swap exchanges two items
 */
void
HeapSort(void *items, size_t n, ComesBefore before, SwapItems swap)
{
	/* A heap whose root comes last in the order; then move roots to the end */
	for (size_t end = n, start = n / 2; end > 1;)
	{
		size_t		parent;

		if (start > 0)
			parent = --start;
		else
		{
			swap(items, 0, --end);
			parent = 0;
		}
		for (;;)
		{
			size_t		child = 2 * parent + 1;

			if (child >= end)
				break;
			if (child + 1 < end && before(items, child, child + 1))
				child++;
			if (!before(items, parent, child))
				break;
			swap(items, parent, child);
			parent = child;
		}
	}
}
