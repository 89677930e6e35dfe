/* h5io: the file schema every tool exchanges (DESIGN.md "File schema").
 * Reading a path or standard input ("-" or NULL, through an in-memory file
 * image); writing to a temporary name renamed on commit, or to standard
 * output through the core driver. Every failure dies with one line naming
 * the file. Datasets are written without timestamps, so the same run gives
 * byte-identical files. */
#ifndef CNN_H5IO_H
#define CNN_H5IO_H

#include <hdf5.h>
#include <stdint.h>

#include "base/tensor.h"

typedef struct h5in {
    hid_t f;
    char *name;          /* for messages: the path or "<stdin>" */
    void *image;         /* stdin bytes, kept until close */
    int noted_u8;        /* the uint8 /images note was given */
    char *present;       /* the object whose attributes were read last */
} h5in;

/* Open for reading; NULL or "-" is standard input. Dies on a missing,
 * empty or non-HDF5 file. */
h5in *h5in_open(const char *path);
/* As h5in_open, for a file read once object by object (a model): HDF5
 * keeps a small metadata cache for it, so its metadata leaves little heap
 * behind. */
h5in *h5in_open_once(const char *path);
/* Give back what HDF5 and the C heap hold freed (HDF5's free lists, the
 * heap's free pages): before a long computation whose peak memory counts
 * (one photo's forward). */
void h5io_release(void);
/* Open an HDF5 file image of len bytes at buf (malloc'd; it is freed when
 * the h5in closes), e.g. a member of an archive, without writing it to
 * disk; name is for messages. Dies when the bytes are not an HDF5 file. */
h5in *h5in_open_image(void *buf, size_t len, const char *name);
void h5in_close(h5in *in);
/* The history lines of every file this process opened for reading, each
 * line once in the order first seen, newline-terminated ("" when none):
 * what made a picture's inputs (cnn-render stores it in its PNGs). */
const char *h5io_inputs_history(void);
/* Add the lines of a history read from elsewhere (the tEXt "history" of a
 * PNG read as a photo, at path) to those above. A file whose last command
 * did not write it at the path it is read from (made in another folder,
 * copied) is given: its lines are kept as "#LINE", not to be run again. */
void h5io_note_history(const char *hist, const char *path);
/* The history of an output written to path (NULL or "-": standard
 * output): every input's lines as above, then this command's line (with
 * " |", "< PATH" or "> PATH" where standard input or output is a pipe or a
 * file; see h5io.c). What every HDF5 file and PNG stores (malloc'd). */
char *h5io_output_history(const char *path);
/* Forget those lines (a process that opens files again and again, as the
 * fuzzing harness does). */
void h5io_forget_inputs_history(void);
/* The root attribute "kind" (malloc'd; NULL when absent). */
char *h5in_kind(h5in *in);
/* Die unless the file's kind is one of the comma-separated kinds. */
void h5in_require_kind(h5in *in, const char *kinds);
int h5in_has(h5in *in, const char *dset);
/* Dataset rank and dims (dims must hold TENSOR_MAXDIM); dies if missing. */
int h5in_dims(h5in *in, const char *dset, int64_t *dims);
/* Rows dims[0] of a dataset. */
int64_t h5in_nrows(h5in *in, const char *dset);
/* Whole dataset / rows [start, start+count) as float32 (any numeric type
 * converts; /images stored as uint8 is read as value/255, with a note).
 * Caller frees. */
tensor *h5in_read(h5in *in, const char *dset);
tensor *h5in_read_rows(h5in *in, const char *dset, int64_t start, int64_t count);
/* Rows [start, start+count) as float32 into the caller's buf (count x row
 * size floats): reading batch after batch without an allocation each. */
void h5in_read_rows_into(h5in *in, const char *dset, int64_t start, int64_t count, float *buf);
/* Rows [start, start+*count) of a float dataset where they lie in the
 * file, mapped read-only without a copy (the pages come from the page
 * cache): possible when they are stored as little-endian float32 without
 * filters, contiguous or in chunks of whole rows. *count shrinks to the
 * rows before the first chunk that does not follow the one before it in
 * the file (HDF5 writes its index between chunks now and then). Returns
 * NULL when the rows cannot be mapped, or on any doubt (then read them).
 * h5map_release() unmaps. The rows need no HDF5 call after it returns. */
typedef struct h5map {
    void *base;
    size_t len;
} h5map;
const float *h5in_map_rows(h5in *in, const char *dset, int64_t start, int64_t *count,
                           h5map *m);
void h5map_release(h5map *m);
/* A whole float dataset (little-endian float32 without filters, in one
 * piece at a 64-byte aligned offset, as h5out writes it) as a tensor that
 * borrows it where it lies in a private mapping of the whole file, made on
 * the first call into *whole (zeroed by the caller) and shared by the later
 * calls: pages come from the page cache without a copy, and a write copies
 * the page for this process alone, never into the file. NULL when the
 * dataset cannot be mapped: read it. h5map_release(whole) after the last
 * use of any such tensor's data. */
tensor *h5in_map_tensor(h5in *in, const char *dset, h5map *whole);
/* Rows [start, start+count) of a numeric dataset of any rank into buf, in
 * memory type mt. */
void h5in_read_rows_raw(h5in *in, const char *dset, hid_t mt, int64_t start, int64_t count,
                        void *buf);
/* Integer datasets (1-D), rows [start, start+count); count < 0 = to end. */
int64_t *h5in_read_i64(h5in *in, const char *dset, int64_t start, int64_t count);
int32_t *h5in_read_i32(h5in *in, const char *dset, int64_t start, int64_t count);
/* A 1-D dataset of strings (fixed or variable length); *n gets the count.
 * Free with cli_free_list. */
char **h5in_read_strings(h5in *in, const char *dset, int *n);
/* Attributes on obj ("/" for the root, or a group/dataset path).
 * h5in_attr_str: malloc'd string or NULL when absent.
 * h5in_attr_f64 / h5in_attr_i64: number of values read (<= max), -1 when
 * absent. */
char *h5in_attr_str(h5in *in, const char *obj, const char *name);
int h5in_attr_f64(h5in *in, const char *obj, const char *name, double *v, int max);
int h5in_attr_i64(h5in *in, const char *obj, const char *name, int64_t *v, int max);
/* Names of a group's members in creation order... or name order when the
 * file keeps no creation order. Free with cli_free_list. */
int h5in_list(h5in *in, const char *group, char ***names);
/* Every group and dataset of the file, depth first in the file's order, as
 * absolute paths; groups end in '/'. Free with cli_free_list. */
int h5in_walk(h5in *in, char ***paths);

struct outfile;
typedef struct h5out {
    hid_t f;
    struct outfile *of;  /* io/outfile.h: the temporary, or where it goes in place */
    char *name;          /* for messages */
    int keep_nonfinite;  /* 1: NaN and infinities written as they are (test
                            drivers that record them); 0: refused */
} h5out;

/* Create an output file of the given kind through outfile_open (a regular
 * file: a temporary renamed on commit; "-", NULL, a FIFO or a device: built
 * in memory and written there on commit; a terminal is refused; an input
 * is refused). Its history is h5io_output_history(path): the lines of
 * every file opened for reading, then this command's (src is not used). */
h5out *h5out_create(const char *path, const char *kind, h5in *src);
/* Write the file: fsync and rename the temporary, or write the image in
 * place. */
void h5out_commit(h5out *out);
/* Whole datasets; intermediate groups are created. Floats (here, in
 * h5out_write_rows and in h5out_write_rows_raw with a float or double
 * memory type) must be finite: a NaN or an infinity dies with one line
 * naming the output and the dataset, so no tool writes one. */
void h5out_write(h5out *out, const char *dset, const tensor *t);
void h5out_write_i64(h5out *out, const char *dset, int64_t n, const int64_t *v);
void h5out_write_i32(h5out *out, const char *dset, int64_t n, const int32_t *v);
/* Integer arrays of any shape (a ranking's U x K ids, for one). */
void h5out_write_i64n(h5out *out, const char *dset, int ndim, const int64_t *dims,
                      const int64_t *v);
void h5out_write_i32n(h5out *out, const char *dset, int ndim, const int64_t *dims,
                      const int32_t *v);
void h5out_write_strings(h5out *out, const char *dset, int n, char *const *v);
/* A chunked float32 dataset of the full shape, filled by h5out_write_rows
 * batch by batch (memory bounded by the batch). */
void h5out_create_rows(h5out *out, const char *dset, int ndim, const int64_t *dims);
void h5out_write_rows(h5out *out, const char *dset, int64_t start, const tensor *rows);
/* Same for 1-D int64/int32 datasets. */
void h5out_create_ints(h5out *out, const char *dset, int64_t n, int bits);
void h5out_write_i64_rows(h5out *out, const char *dset, int64_t start, int64_t n, const int64_t *v);
void h5out_write_i32_rows(h5out *out, const char *dset, int64_t start, int64_t n, const int32_t *v);
/* Any numeric type, rows as stored (for tools that copy data whatever its
 * type, as cnn-join does): ft the file type, mt the memory type. */
void h5out_create_rows_typed(h5out *out, const char *dset, hid_t ft, int ndim,
                             const int64_t *dims);
void h5out_write_rows_raw(h5out *out, const char *dset, hid_t mt, int64_t start, int ndim,
                          const int64_t *dims, const void *data);
void h5out_group(h5out *out, const char *group);
void h5out_attr_str(h5out *out, const char *obj, const char *name, const char *v);
void h5out_attr_f64(h5out *out, const char *obj, const char *name, int n, const double *v);
void h5out_attr_i64(h5out *out, const char *obj, const char *name, int n, const int64_t *v);
/* Copy /ids, /labels, /paths (rows [a, b)) and /classes from in when
 * present; when in has no /ids, write ids a..b-1. */
void h5out_carry(h5out *out, h5in *in, int64_t a, int64_t b);
/* Copy /paths (rows [a, b): each row's source file) alone when present. */
void h5out_carry_paths(h5out *out, h5in *in, int64_t a, int64_t b);
/* Copy /classes alone from in when present. */
void h5out_carry_classes(h5out *out, h5in *in);

#endif
