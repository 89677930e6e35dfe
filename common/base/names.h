/* names: finding a layer the user named among a list of names (a model's
 * nodes, an activations file's /act datasets), by one rule for every tool,
 * and the one-line error when nothing matches. */
#ifndef CNN_NAMES_H
#define CNN_NAMES_H

/* Index in names[0..n) of name:
 *   1. the entry equal to name;
 *   2. else the only entry equal ignoring case ("Conv1" finds conv1; none
 *      when several are: *ambiguous is set);
 *   3. else a module: the LAST entry that starts with name followed by '.'
 *      or '/' (case ignored), i.e. the module's output ("layer4" finds
 *      "layer4.1.relu_2" in a ResNet named by PyTorch module paths).
 * -1 when none. ambiguous may be NULL. */
int names_lookup(char *const *names, int n, const char *name, int *ambiguous);

/* Die with one line for a name names_lookup did not find:
 *   "FILE: no layer 'x' (layers: a b c)"        every name, when they fit;
 *   "FILE: no layer 'x' (layers starting 'co': conv1 conv2 ...)"
 *                       the names sharing the longest prefix with x, each
 *                       cut after the module that follows the prefix;
 *   "FILE: no layer 'x' (did you mean 'y'? modules: ...)"
 *                       y the closest name by edit distance, when no name
 *                       shares even a first letter;
 *   "FILE: layer 'x' is ambiguous (layers: Conv1 conv1)". */
void names_missing(const char *file, char *const *names, int n, const char *name)
    __attribute__((noreturn));

#endif
