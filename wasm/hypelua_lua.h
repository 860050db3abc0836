/*
** hypelua_lua.h -- a small C helper layer over Lua 5.4 for the ctypes back-end
** (py/hypelua/lua/_ctypes.py).  Each operation is ONE foreign call; every
** entry point runs its Lua work inside lua_pcall, so no longjmp ever crosses
** a Python frame.  Values cross as a compact tagged little-endian encoding:
**
**   HL_NIL 0 | HL_FALSE 1 | HL_TRUE 2
**   HL_INT 3    int64
**   HL_FLOAT 4  double
**   HL_STR 5    u32 len, bytes
**   HL_LIST 6   u32 n, n values                (Lua keys 1..n)
**   HL_DICT 7   u32 n, n (key, value) pairs
**   HL_HANDLE 8 u8 kind ('f','t','u','T'), i32 registry ref
**   HL_PYFN 9   i32 callback id                 (Python -> Lua only)
**
** A value list ("values") is u32 count followed by count values.
**
** Status codes returned by operations (low byte); HL_OVERFLOW (0x100) is or-ed
** in when the output did not fit the caller's I/O buffer and must be fetched
** with hl_outptr()/hl_outlen().  On success the output holds the result
** values; on error it holds three values: error value, message, traceback.
*/
#ifndef HYPELUA_LUA_H
#define HYPELUA_LUA_H

#include <stdint.h>
#include <stddef.h>

#define HL_OK 0
#define HL_ERRRUN 1
#define HL_ERRSYNTAX 2
#define HL_ERRMEM 3
#define HL_ERRCONV 4
#define HL_ERRERR 5
#define HL_OVERFLOW 0x100

#define HL_NIL 0
#define HL_FALSE 1
#define HL_TRUE 2
#define HL_INT 3
#define HL_FLOAT 4
#define HL_STR 5
#define HL_LIST 6
#define HL_DICT 7
#define HL_HANDLE 8
#define HL_PYFN 9

#define HL_MAX_DEPTH 200

/* Python trampoline: args (a value list) at `args` (usually the I/O buffer).
** Returns n >= 0: n bytes of result values written to the I/O buffer;
** -1: results handed over with hl_set_return(); -2: error, message (raw
** bytes) handed over with hl_set_return(). */
typedef int (*hl_callback)(int callback_id, const char *args, int args_len);

typedef struct hl_State hl_State;

hl_State *hl_new(int64_t max_memory, int open_libs, char *iobuf, int iocap, hl_callback cb);
void hl_close(hl_State *S);
const char *hl_version(void);

int hl_execute(hl_State *S, const char *src, int srclen, const char *chunkname,
               const char *args, int argslen);
int hl_load(hl_State *S, const char *buf, int len, const char *chunkname, const char *mode,
            int env_ref);
int hl_call(hl_State *S, int fn_ref, const char *args, int argslen);
int hl_get_global(hl_State *S, const char *name);
int hl_set_global(hl_State *S, const char *name, const char *val, int vallen);
int hl_globals(hl_State *S);
int hl_register(hl_State *S, const char *name, int callback_id);
int hl_dump(hl_State *S, int fn_ref, int strip);
int hl_coroutine(hl_State *S, int fn_ref);
int hl_resume(hl_State *S, int co_ref, const char *args, int argslen);
int hl_unref(hl_State *S, const int *refs, int n);
int hl_drain_freed(hl_State *S, int *out, int cap);
int hl_set_return(hl_State *S, const char *buf, int len);
const char *hl_outptr(hl_State *S);
int hl_outlen(hl_State *S);
int64_t hl_memory_used(hl_State *S);
int64_t hl_memory_limit(hl_State *S, int64_t new_limit);

#endif
