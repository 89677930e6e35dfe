/* dynlib: shared libraries loaded on first use (see dynlib.h). */
#include <dlfcn.h>
#include <pthread.h>

#include "base/dynlib.h"
#include "base/error.h"

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

static void *handle(dynlib *lib)
{
    void *h = __atomic_load_n(&lib->handle, __ATOMIC_ACQUIRE);
    if (h)
        return h;
    pthread_mutex_lock(&load_lock);
    h = lib->handle;
    if (!h) {
        h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *e = dlerror();
            die("cannot load %s (needed for %s): %s", lib->soname, lib->why, e ? e : "not found");
        }
        __atomic_store_n(&lib->handle, h, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&load_lock);
    return h;
}

void *dynlib_sym(dynlib *lib, const char *name)
{
    void *h = handle(lib);
    dlerror();
    void *p = dlsym(h, name);
    if (!p)
        die("%s has no %s (needed for %s)", lib->soname, name, lib->why);
    return p;
}

int dynlib_loaded(const dynlib *lib)
{
    return __atomic_load_n(&lib->handle, __ATOMIC_ACQUIRE) != 0;
}
