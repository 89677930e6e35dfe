/* actfile: the layers of an activations file (DESIGN.md "Activations
 * file"): /act/LAYER datasets, and /logits and /probs. */
#ifndef CNN_ACTFILE_H
#define CNN_ACTFILE_H

#include "io/h5io.h"

/* The dataset of the layer the user named, by the rule of base/names.h over
 * the /act names (and "logits", "probs" when outputs is set and the file
 * has them): "/act/NAME" or "/logits" (malloc'd). Dies with names_missing's
 * line when none matches. */
char *actfile_layer(h5in *in, const char *layer, int outputs);

#endif
