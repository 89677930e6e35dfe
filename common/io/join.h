/* join: concatenate the row shards of one run (GNU Parallel with --range)
 * into the file the unsharded run would have written.
 *
 * Any file kind with /ids (images, activations, features, maps, ...): a
 * dataset is a row dataset when it is numeric and its first dimension is the
 * shard's row count (the length of /ids) in every shard; row datasets are
 * concatenated in the order the shards are given, keeping their stored
 * type. Every other dataset (class names, PCA components, ...) and every
 * root attribute except the history must be identical in all shards, and is
 * copied once; a difference means the shards come from different runs and is
 * an error. The history is the first shard's plus the join's command line.
 * Memory is bounded: rows are copied in blocks of at most 64 MiB. */
#ifndef CNN_JOIN_H
#define CNN_JOIN_H

/* --stack: join rows of files of different runs of the same kind and
 * datasets (saliency maps of several methods, one ascent per class) for one
 * picture: root and dataset attributes and non-row datasets that differ
 * between the files are dropped instead of being an error. */
void join_set_stack(int on);

/* Join nfiles shard files into output (NULL or "-" = standard output). */
void join_files(const char *output, char *const *files, int nfiles);

#endif
