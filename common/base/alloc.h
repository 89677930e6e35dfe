/* alloc: allocation helpers that die on failure (never return NULL). */
#ifndef CNN_ALLOC_H
#define CNN_ALLOC_H

#include <stddef.h>

/* CNN_ASAN: built with AddressSanitizer (GCC says so with
 * __SANITIZE_ADDRESS__, clang before 15 only with __has_feature). */
#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define CNN_ASAN 1
#endif

/* Aligned allocation helpers that die on failure (never return NULL). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
float *falloc(size_t n);        /* 64-byte aligned, zeroed, free() it */
/* As falloc, contents undefined: for buffers written whole before they
 * are read. A large allocation's pages then cost nothing until first
 * written (zeroing touches, and page-faults, every one of them). */
float *falloc_raw(size_t n);
/* As falloc_raw, on ordinary pages only, never huge ones: for a buffer
 * sized for the worst case and touched in part (a workspace), where a
 * huge page would be faulted in, and counted, whole for its first byte. */
float *falloc_part(size_t n);
/* Return the heap's free pages to the system (malloc_trim): freed memory
 * glibc keeps would otherwise still count in the process's RSS. */
void alloc_trim(void);

#endif
