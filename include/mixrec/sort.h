/*
 * include/mixrec/sort.h
 *	  One heap sort for the core: no allocation, no state outside its
 *	  arguments.
 *
 * glibc's qsort may allocate, and it has no context argument (a file-level
 * one would not be reentrant); so the core sorts items it reaches through
 * two callbacks given the items and two indexes.
 */
#ifndef MIXREC_SORT_H
#define MIXREC_SORT_H

#include <stddef.h>

/* Does item i come ahead of item j? */
typedef int (*ComesBefore) (const void *items, size_t i, size_t j);
/* Exchange items i and j */
typedef void (*SwapItems) (void *items, size_t i, size_t j);

/* Sort n items into the order before gives (not stable), in O(n log n) */
extern void HeapSort(void *items, size_t n, ComesBefore before, SwapItems swap);

#endif							/* MIXREC_SORT_H */
