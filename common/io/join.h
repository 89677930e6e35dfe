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
 * an error. The history holds every shard's commands (each line once, in
 * the order first seen), then the join's command line (h5out_create).
 * Memory is bounded: rows are copied in blocks of at most 64 MiB. */
#ifndef CNN_JOIN_H
#define CNN_JOIN_H

/* --stack: files of different runs of one kind over the same images (maps
 * of several methods, one ascent per class), for one picture and for
 * comparing them: the datasets every file has as rows with one shape past
 * the rows (/maps, /ids, /labels, /target) are stacked file after file; the
 * datasets every file has unchanged (/classes) and the root attributes
 * every file has the same are kept once; each file's own datasets (Grad-
 * CAM's /cam, integrated gradients' /baseline_scores, occlusion's
 * /baseline) and all its root attributes go under /NAME, NAME its 'method'
 * ("occlusion" for cnn-occlude's maps), else its file name without folder
 * and extension, made unique with -2, -3...; /methods (strings) lists the
 * names in order and /method (int32, a row each) gives each row's file.
 * Maps files must have /maps of one size (else an error). */
void join_set_stack(int on);

/* Join nfiles shard files into output (NULL or "-" = standard output). */
void join_files(const char *output, char *const *files, int nfiles);

#endif
