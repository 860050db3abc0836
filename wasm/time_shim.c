/*
** time_shim.c -- 64-bit time functions for the wasm side module.
**
** The emscripten 3.1.6 headers used to compile Lua declare a 32-bit time_t,
** while Pyodide 314's libc (emscripten 5.0.3) uses a 64-bit time_t.  Calling
** libc's time()/mktime()/gmtime()/localtime()/difftime() with the old ABI
** would corrupt arguments, so Lua is compiled with these names renamed
** (-Dtime=hl_time ...) and these shims call the real 64-bit libc functions,
** declared here by hand with an explicit int64 time type.  The 32-bit
** time_t visible to Lua is widened/narrowed with clamping only at the edges;
** Lua's own os.time/os.date use lua's l_timet (long long, see LUA_USE_C89 off)
** via these functions, so dates after 2038 work where Lua keeps a 64-bit value.
*/
#include <stdint.h>
#include <stddef.h>

typedef int64_t time64_t;

/* the libc struct tm is the same layout in both header versions (ints + a
   long + a pointer), so it is passed through untouched */
struct tm;

extern time64_t time(time64_t *t);
extern double difftime(time64_t a, time64_t b);
extern time64_t mktime(struct tm *tm);
extern struct tm *gmtime(const time64_t *t);
extern struct tm *localtime(const time64_t *t);

time64_t hl_time(time64_t *t) { return time(t); }
double hl_difftime(time64_t a, time64_t b) { return difftime(a, b); }
time64_t hl_mktime(struct tm *tm) { return mktime(tm); }
struct tm *hl_gmtime(const time64_t *t) { return gmtime(t); }
struct tm *hl_localtime(const time64_t *t) { return localtime(t); }
