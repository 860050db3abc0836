/*
** time64_prelude.h -- force-included (-include) when compiling Lua for the
** wasm side module.  The emscripten 3.1.6 headers declare `typedef long
** time_t` (32 bits on wasm32) but Pyodide 314's libc uses a 64-bit time_t.
** Pre-defining time_t as 64 bits makes Lua's locals and the header prototypes
** agree with the real libc (no year-2038 bug), and the calls are routed to
** the explicit 64-bit shims in time_shim.c.
*/
#ifndef HL_TIME64_PRELUDE_H
#define HL_TIME64_PRELUDE_H
typedef long long time_t;
#define __DEFINED_time_t
#define time(t) hl_time(t)
#define difftime(a, b) hl_difftime(a, b)
#define mktime(tm) hl_mktime(tm)
#define gmtime(t) hl_gmtime(t)
#define localtime(t) hl_localtime(t)
#endif
