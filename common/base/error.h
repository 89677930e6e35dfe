/* error: the program name, messages on stderr, exit codes, and temporary
 * files removed when a tool dies or is killed by a signal. */
#ifndef CNN_ERROR_H
#define CNN_ERROR_H

#include <stddef.h>
#include <stdint.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Set the program name from argv[0]'s basename; install the exit and
 * signal handlers that remove registered temporary files (cli_init calls
 * it). */
void error_init(const char *argv0);
const char *cli_progname(void);

/* Print "prog: message" (and ": strerror(errno)" when the format ends with
 * ':') to stderr, control bytes escaped as \xNN, and exit 1; die_usage
 * exits 2 and suggests --help. The one exit path: registered temporary
 * files are removed, then _exit() (no atexit handler runs: HDF5 does not
 * close the outputs). Under threads the first caller wins; another thread
 * calling die() waits for the process to end. */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Informational line on stderr unless --quiet. */
void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern int cli_quiet;
/* For functions that report instead of dying: the message into err (len
 * bytes); returns -1, so a function can "return errmsg(err, len, ...);". */
int errmsg(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A helper thread whose failure the main thread reports (cnn-pca's
 * read-ahead): after error_trap_thread(t) on that thread, die() there
 * records its message in t and ends only that thread (pthread_exit), so
 * two threads never exit the process at once; the main thread, once it
 * has joined the thread, calls error_trap_check(t), which dies with the
 * recorded message when there is one. */
typedef struct error_trap {
    int failed;
    char msg[1024];
} error_trap;
void error_trap_thread(error_trap *t);
void error_trap_check(const error_trap *t);

/* The one list of temporary files (io/outfile registers each output's):
 * one registered and not yet forgotten (cli_forget_tmp, once renamed into
 * place) is removed when the tool dies, is ended by SIGINT, SIGTERM, SIGHUP
 * or SIGPIPE, or exits. SIGKILL leaves it: the next run that opens the same
 * output removes the temporaries of processes that no longer exist. */
void cli_register_tmp(const char *path);
void cli_forget_tmp(const char *path);

#endif
