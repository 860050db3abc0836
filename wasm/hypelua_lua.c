/*
** hypelua_lua.c -- C helper layer over Lua 5.4 used by the ctypes back-end.
** See hypelua_lua.h for the value encoding and the status codes.
**
** Rules kept here:
**  - every entry point does its Lua work inside one lua_pcall (with a message
**    handler recording luaL_traceback), so errors never longjmp past C;
**  - Python callbacks return a status; a Python error is raised as a Lua error
**    on the C side, after the Python frame has returned;
**  - output is encoded into a per-call writer (stack buffer, growing as a Lua
**    userdata anchored on the stack), then copied to the caller's I/O buffer or
**    to a state-owned overflow buffer.  Re-entrant: a __gc metamethod calling
**    Python in the middle of an encoding cannot clobber it.
*/
#include <stdlib.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"
#include "hypelua_lua.h"

struct hl_State {
  lua_State *L;
  size_t used;           /* bytes allocated by Lua */
  size_t limit;          /* 0 = unlimited */
  char *io;              /* caller's I/O buffer */
  int iocap;
  hl_callback cb;
  char *own;             /* overflow output buffer */
  size_t ownlen, owncap;
  char *ret;             /* buffer handed over by hl_set_return */
  int retlen;
  int *freed;            /* callback ids whose Lua closure was collected */
  int nfreed, capfreed;
  int has_tb;            /* traceback recorded in registry by msgh */
  int keep_tb;           /* set before re-raising a coroutine error */
  int load_status;       /* status of a failed luaL_loadbufferx inside an op */
  int conv_error;        /* a conversion error was raised */
};

#define TBKEY "hypelua.traceback"
#define PYFN_MT "hypelua.pyfn"

static hl_State *getS(lua_State *L) { return *(hl_State **)lua_getextraspace(L); }

/* ---------------------------------------------------------------- allocator */

static void *hl_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  hl_State *S = (hl_State *)ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    if (ptr) { free(ptr); S->used -= old; }
    return NULL;
  }
  if (S->limit && nsize > old && S->used + (nsize - old) > S->limit) return NULL;
  void *np = realloc(ptr, nsize);
  if (np == NULL) return NULL;
  S->used = S->used - old + nsize;
  return np;
}

/* ---------------------------------------------------------------- writer */

#define WR_INLINE 512

typedef struct {
  lua_State *L;
  char *p;
  size_t len, cap;
  int slot;                          /* stack slot anchoring a grown buffer */
  int depth;
  const void *path[HL_MAX_DEPTH + 2];
  char inl[WR_INLINE];
} Wr;

static void wr_init(Wr *w, lua_State *L) {
  w->L = L; w->p = w->inl; w->len = 0; w->cap = WR_INLINE; w->depth = 0;
  lua_pushnil(L);
  w->slot = lua_gettop(L);
}

static void wr_need(Wr *w, size_t n) {
  if (w->len + n <= w->cap) return;
  size_t nc = w->cap * 2;
  while (nc < w->len + n) nc *= 2;
  char *nb = (char *)lua_newuserdatauv(w->L, nc, 0);
  memcpy(nb, w->p, w->len);
  lua_replace(w->L, w->slot);
  w->p = nb; w->cap = nc;
}

static void wr_bytes(Wr *w, const void *b, size_t n) { wr_need(w, n); memcpy(w->p + w->len, b, n); w->len += n; }
static void wr_u8(Wr *w, unsigned v) { wr_need(w, 1); w->p[w->len++] = (char)v; }
static void wr_u32(Wr *w, uint32_t v) { wr_bytes(w, &v, 4); }
static void wr_i32(Wr *w, int32_t v) { wr_bytes(w, &v, 4); }

static void conv_error(lua_State *L, const char *msg) {
  getS(L)->conv_error = 1;
  luaL_error(L, "%s", msg);
  abort(); /* not reached */
}

static void enc_value(Wr *w, int idx);

static void enc_handle(Wr *w, int idx, char kind) {
  lua_State *L = w->L;
  lua_pushvalue(L, idx);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  wr_u8(w, HL_HANDLE); wr_u8(w, (unsigned char)kind); wr_i32(w, ref);
}

static void enc_table(Wr *w, int idx) {
  lua_State *L = w->L;
  const void *ptr = lua_topointer(L, idx);
  for (int i = 0; i < w->depth; i++)
    if (w->path[i] == ptr) conv_error(L, "cannot convert a cyclic table");
  if (w->depth >= HL_MAX_DEPTH) conv_error(L, "table nesting too deep to convert");
  luaL_checkstack(L, 6, "table too deep");
  w->path[w->depth++] = ptr;
  /* pass 1: count keys, check whether they are exactly 1..n */
  lua_Integer n = 0, maxk = 0;
  int seq = 1;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    n++;
    if (seq) {
      int isint;
      lua_Integer k = lua_tointegerx(L, -2, &isint);
      if (!isint || lua_type(L, -2) != LUA_TNUMBER || k < 1) seq = 0;
      else if (k > maxk) maxk = k;
    }
    lua_pop(L, 1);
  }
  if (n > 0xFFFFFFFFu) conv_error(L, "table too large to convert");
  if (seq && n >= 1 && maxk == n) {
    wr_u8(w, HL_LIST); wr_u32(w, (uint32_t)n);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, idx, i);
      enc_value(w, lua_gettop(L));
      lua_pop(L, 1);
    }
  } else {
    wr_u8(w, HL_DICT); wr_u32(w, (uint32_t)n);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      int top = lua_gettop(L);
      enc_value(w, top - 1);
      enc_value(w, top);
      lua_pop(L, 1);
    }
  }
  w->depth--;
}

static void enc_value(Wr *w, int idx) {
  lua_State *L = w->L;
  switch (lua_type(L, idx)) {
    case LUA_TNIL: case LUA_TNONE: wr_u8(w, HL_NIL); break;
    case LUA_TBOOLEAN: wr_u8(w, lua_toboolean(L, idx) ? HL_TRUE : HL_FALSE); break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        int64_t v = (int64_t)lua_tointeger(L, idx);
        wr_u8(w, HL_INT); wr_bytes(w, &v, 8);
      } else {
        double d = (double)lua_tonumber(L, idx);
        wr_u8(w, HL_FLOAT); wr_bytes(w, &d, 8);
      }
      break;
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      if (len > 0xFFFFFFFFu) conv_error(L, "string too large to convert");
      wr_u8(w, HL_STR); wr_u32(w, (uint32_t)len); wr_bytes(w, s, len);
      break;
    }
    case LUA_TTABLE: enc_table(w, idx); break;
    case LUA_TFUNCTION: enc_handle(w, idx, 'f'); break;
    case LUA_TTHREAD: enc_handle(w, idx, 't'); break;
    default: enc_handle(w, idx, 'u'); break; /* userdata, light userdata */
  }
}

/* encode the values at stack positions first..last as a value list */
static void enc_values(Wr *w, int first, int last) {
  uint32_t n = last >= first ? (uint32_t)(last - first + 1) : 0;
  wr_u32(w, n);
  for (int i = first; i <= last; i++) enc_value(w, i);
}

/* copy the writer's content to the I/O buffer or the overflow buffer */
static void wr_finish(hl_State *S, Wr *w) {
  if (w->len <= (size_t)S->iocap) {
    memcpy(S->io, w->p, w->len);
    S->ownlen = 0;
    return;
  }
  if (w->len > S->owncap) {
    char *nb = (char *)realloc(S->own, w->len);
    if (nb == NULL) luaL_error(w->L, "not enough memory");
    S->own = nb; S->owncap = w->len;
  }
  memcpy(S->own, w->p, w->len);
  S->ownlen = w->len;
}

/* ---------------------------------------------------------------- decoder */

typedef struct { const char *p, *end; } Rd;

static void rd_fail(lua_State *L) { luaL_error(L, "hypelua: malformed value encoding"); abort(); }

static void rd_take(lua_State *L, Rd *r, void *dst, size_t n) {
  if ((size_t)(r->end - r->p) < n) rd_fail(L);
  memcpy(dst, r->p, n); r->p += n;
}

static int pyfn_call(lua_State *L);

static void push_pyfn(lua_State *L, int id) {
  int *ud = (int *)lua_newuserdatauv(L, sizeof(int), 0);
  *ud = id;
  luaL_setmetatable(L, PYFN_MT);
  lua_pushcclosure(L, pyfn_call, 1);
}

static void dec_value(lua_State *L, Rd *r, int depth) {
  unsigned char tag;
  if (depth > HL_MAX_DEPTH + 1) rd_fail(L);
  luaL_checkstack(L, 4, "value nesting too deep");
  rd_take(L, r, &tag, 1);
  switch (tag) {
    case HL_NIL: lua_pushnil(L); break;
    case HL_FALSE: lua_pushboolean(L, 0); break;
    case HL_TRUE: lua_pushboolean(L, 1); break;
    case HL_INT: { int64_t v; rd_take(L, r, &v, 8); lua_pushinteger(L, (lua_Integer)v); break; }
    case HL_FLOAT: { double d; rd_take(L, r, &d, 8); lua_pushnumber(L, (lua_Number)d); break; }
    case HL_STR: {
      uint32_t n; rd_take(L, r, &n, 4);
      if ((size_t)(r->end - r->p) < n) rd_fail(L);
      lua_pushlstring(L, r->p, n); r->p += n;
      break;
    }
    case HL_LIST: {
      uint32_t n; rd_take(L, r, &n, 4);
      lua_createtable(L, (int)n, 0);
      for (uint32_t i = 1; i <= n; i++) { dec_value(L, r, depth + 1); lua_rawseti(L, -2, (lua_Integer)i); }
      break;
    }
    case HL_DICT: {
      uint32_t n; rd_take(L, r, &n, 4);
      lua_createtable(L, 0, (int)n);
      for (uint32_t i = 0; i < n; i++) { dec_value(L, r, depth + 1); dec_value(L, r, depth + 1); lua_rawset(L, -3); }
      break;
    }
    case HL_HANDLE: {
      unsigned char kind; int32_t ref;
      rd_take(L, r, &kind, 1); rd_take(L, r, &ref, 4);
      lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
      break;
    }
    case HL_PYFN: { int32_t id; rd_take(L, r, &id, 4); push_pyfn(L, id); break; }
    default: rd_fail(L);
  }
}

/* decode a value list, pushing its values; returns the count */
static int dec_values(lua_State *L, const char *buf, int len) {
  if (buf == NULL || len <= 0) return 0;
  Rd r = { buf, buf + len };
  uint32_t n;
  rd_take(L, &r, &n, 4);
  luaL_checkstack(L, (int)n + 4, "too many arguments");
  for (uint32_t i = 0; i < n; i++) dec_value(L, &r, 1);
  return (int)n;
}

/* ---------------------------------------------------------------- Python functions */

static int pyfn_gc(lua_State *L) {
  hl_State *S = getS(L);
  int *ud = (int *)luaL_checkudata(L, 1, PYFN_MT);
  if (S->nfreed == S->capfreed) {
    int nc = S->capfreed ? S->capfreed * 2 : 64;
    int *nf = (int *)realloc(S->freed, sizeof(int) * (size_t)nc);
    if (nf == NULL) return 0; /* leak the id rather than fail in a finalizer */
    S->freed = nf; S->capfreed = nc;
  }
  S->freed[S->nfreed++] = *ud;
  return 0;
}

/* take the buffer handed over by hl_set_return, copied into a Lua userdata
   (so nothing leaks if pushing values raises a memory error) */
static const char *take_ret(lua_State *L, hl_State *S, int *len) {
  char *buf = S->ret;
  int n = S->retlen;
  S->ret = NULL; S->retlen = 0;
  if (buf == NULL) { *len = 0; return NULL; }
  char *copy = (char *)lua_newuserdatauv(L, n > 0 ? (size_t)n : 1, 0);
  memcpy(copy, buf, (size_t)n);
  free(buf);
  *len = n;
  return copy;
}

static int pyfn_call(lua_State *L) {
  hl_State *S = getS(L);
  int id = *(int *)lua_touserdata(L, lua_upvalueindex(1));
  int nargs = lua_gettop(L);
  Wr w;
  const char *args;
  int rc;
  wr_init(&w, L);
  enc_values(&w, 1, nargs);
  if (w.len <= (size_t)S->iocap) { memcpy(S->io, w.p, w.len); args = S->io; }
  else args = w.p; /* stays anchored on the stack during the call */
  rc = S->cb(id, args, (int)w.len);
  /* the Python frame has returned: it is now safe to raise Lua errors */
  lua_settop(L, nargs);
  if (rc >= 0) {
    char stackbuf[256];
    const char *res = stackbuf;
    if (rc > (int)sizeof(stackbuf)) res = (const char *)lua_newuserdatauv(L, (size_t)rc, 0);
    memcpy((char *)res, S->io, (size_t)rc);
    int base = lua_gettop(L);
    int n = dec_values(L, res, rc);
    if (rc > (int)sizeof(stackbuf)) { lua_remove(L, base); }
    return n;
  }
  int len;
  const char *buf = take_ret(L, S, &len);
  if (rc == -1) {
    if (buf == NULL) return 0;
    int base = lua_gettop(L);
    int n = dec_values(L, buf, len);
    lua_remove(L, base); /* the userdata copy */
    return n;
  }
  if (buf == NULL) return luaL_error(L, "Python callback failed");
  lua_pushlstring(L, buf, (size_t)len);
  return lua_error(L);
}

/* ---------------------------------------------------------------- protected ops */

static int msgh(lua_State *L) {
  hl_State *S = getS(L);
  if (S->keep_tb) { S->keep_tb = 0; return 1; }
  luaL_traceback(L, L, NULL, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, TBKEY);
  S->has_tb = 1;
  return 1;
}

/* encode (error value, message, traceback) of the error object at stack top */
static int op_encode_error(lua_State *L) {
  hl_State *S = getS(L);
  Wr w;
  int e = 1;
  wr_init(&w, L);
  wr_u32(&w, 3);
  /* value: plain data when convertible, else the message below */
  int t = lua_type(L, e);
  int simple = (t == LUA_TNIL || t == LUA_TBOOLEAN || t == LUA_TNUMBER || t == LUA_TSTRING);
  if (simple) enc_value(&w, e);
  else wr_u8(&w, HL_NIL);
  /* message */
  if (t == LUA_TSTRING || t == LUA_TNUMBER) {
    lua_pushvalue(L, e);
    lua_tostring(L, -1);
  } else if (luaL_callmeta(L, e, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
    /* keep it */
  } else {
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, e));
  }
  enc_value(&w, lua_gettop(L));
  lua_pop(L, 1);
  if (S->has_tb) {
    lua_getfield(L, LUA_REGISTRYINDEX, TBKEY);
    enc_value(&w, lua_gettop(L));
    lua_pop(L, 1);
  } else {
    wr_u8(&w, HL_STR); wr_u32(&w, 0);
  }
  wr_finish(S, &w);
  return 0;
}

static void write_fallback_error(hl_State *S) {
  static const char msg[] = "not enough memory";
  uint32_t n = 3, len = (uint32_t)(sizeof(msg) - 1);
  size_t need = 4 + 1 + 4 + len + 1 + 4 + len + 1 + 4;
  S->ownlen = 0;
  if ((size_t)S->iocap < need) return;
  char *p = S->io;
  memcpy(p, &n, 4); p += 4;
  for (int k = 0; k < 2; k++) { *p++ = HL_STR; memcpy(p, &len, 4); p += 4; memcpy(p, msg, len); p += len; }
  *p++ = HL_STR; n = 0; memcpy(p, &n, 4);
}

static int run_op(hl_State *S, lua_CFunction f, void *ud) {
  lua_State *L = S->L;
  int base = lua_gettop(L);
  int st;
  S->has_tb = 0; S->keep_tb = 0; S->load_status = 0; S->conv_error = 0; S->ownlen = 0;
  if (!lua_checkstack(L, 8)) { write_fallback_error(S); return HL_ERRMEM; }
  lua_pushcfunction(L, msgh);
  lua_pushcfunction(L, f);
  lua_pushlightuserdata(L, ud);
  st = lua_pcall(L, 1, 0, base + 1);
  if (st == LUA_OK) {
    lua_settop(L, base);
    return HL_OK | (S->ownlen ? HL_OVERFLOW : 0);
  }
  if (S->conv_error) st = HL_ERRCONV;
  else if (S->load_status) st = S->load_status == LUA_ERRSYNTAX ? HL_ERRSYNTAX
                              : S->load_status == LUA_ERRMEM ? HL_ERRMEM : HL_ERRRUN;
  else if (st == LUA_ERRMEM) st = HL_ERRMEM;
  else if (st == LUA_ERRERR) st = HL_ERRERR;
  else st = HL_ERRRUN;
  /* encode the error object (now at the top) in a second protected call */
  int errpos = lua_gettop(L);
  lua_pushcfunction(L, op_encode_error);
  lua_pushvalue(L, errpos);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) write_fallback_error(S);
  lua_settop(L, base);
  return st | (S->ownlen ? HL_OVERFLOW : 0);
}

typedef struct {
  const char *buf; int len;
  const char *chunkname, *mode;
  int ref, ref2, flag;
  const char *args; int argslen;
  const char *name;
} OpArgs;

static void finish_values(lua_State *L, int first) {
  Wr w;
  int last = lua_gettop(L);
  wr_init(&w, L);
  enc_values(&w, first, last);
  wr_finish(getS(L), &w);
}

static void do_load(lua_State *L, OpArgs *a, const char *mode) {
  hl_State *S = getS(L);
  int st = luaL_loadbufferx(L, a->buf, (size_t)a->len, a->chunkname, mode);
  if (st != LUA_OK) { S->load_status = st; lua_error(L); }
  if (a->ref != LUA_NOREF && a->ref != LUA_REFNIL) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref);
    if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
  }
}

static int op_execute(lua_State *L) {
  OpArgs *a = (OpArgs *)lua_touserdata(L, 1);
  lua_settop(L, 0);
  do_load(L, a, "t");
  int n = dec_values(L, a->args, a->argslen);
  lua_call(L, n, LUA_MULTRET);
  finish_values(L, 1);
  return 0;
}

static int op_load(lua_State *L) {
  OpArgs *a = (OpArgs *)lua_touserdata(L, 1);
  lua_settop(L, 0);
  do_load(L, a, a->mode);
  finish_values(L, 1);
  return 0;
}

static int op_call(lua_State *L) {
  OpArgs *a = (OpArgs *)lua_touserdata(L, 1);
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref);
  int n = dec_values(L, a->args, a->argslen);
  lua_call(L, n, LUA_MULTRET);
  finish_values(L, 1);
  return 0;
}

static int op_get_global(lua_State *L) {
  OpArgs *a = (OpArgs *)lua_touserdata(L, 1);
  lua_settop(L, 0);
  lua_getglobal(L, a->name);
  finish_values(L, 1);
  return 0;
}

static int op_set_global(lua_State *L) {
  OpArgs *a = (OpArgs *)lua_touserdata(L, 1);
  lua_settop(L, 0);
  int n = dec_values(L, a->args, a->argslen);
  if (n < 1) lua_pushnil(L);
  lua_settop(L, 1);
  lua_setglobal(L, a->name);
  return 0;
}

static int op_globals(lua_State *L) {
  lua_settop(L, 0);
  Wr w;
  wr_init(&w, L);
  wr_u32(&w, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  enc_handle(&w, lua_gettop(L), 'T');
  wr_finish(getS(L), &w);
  return 0;
}

static int op_register(lua_State *L) {
  OpArgs *a = (OpArgs *)lua_touserdata(L, 1);
  lua_settop(L, 0);
  push_pyfn(L, a->ref);
  if (a->name != NULL) { lua_pushvalue(L, 1); lua_setglobal(L, a->name); }
  finish_values(L, 1);
  return 0;
}

static int dump_writer(lua_State *L, const void *b, size_t size, void *ud) {
  luaL_Buffer *buf = (luaL_Buffer *)ud;
  (void)L;
  luaL_addlstring(buf, (const char *)b, size);
  return 0;
}

static int op_dump(lua_State *L) {
  OpArgs *a = (OpArgs *)lua_touserdata(L, 1);
  luaL_Buffer b;
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref);
  if (lua_type(L, 1) != LUA_TFUNCTION || lua_iscfunction(L, 1))
    return luaL_error(L, "unable to dump given function");
  luaL_buffinit(L, &b);
  lua_pushvalue(L, 1); /* lua_dump needs the function on top */
  if (lua_dump(L, dump_writer, &b, a->flag) != 0) return luaL_error(L, "unable to dump given function");
  lua_pop(L, 1);
  luaL_pushresult(&b);
  finish_values(L, 2);
  return 0;
}

static int op_coroutine(lua_State *L) {
  OpArgs *a = (OpArgs *)lua_touserdata(L, 1);
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref);
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_State *co = lua_newthread(L);
  lua_pushvalue(L, 1);
  lua_xmove(L, co, 1);
  finish_values(L, 2);
  return 0;
}

static int op_resume(lua_State *L) {
  OpArgs *a = (OpArgs *)lua_touserdata(L, 1);
  hl_State *S = getS(L);
  int nres, st;
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref);
  lua_State *co = lua_tothread(L, 1);
  if (co == NULL) return luaL_error(L, "not a coroutine");
  int n = dec_values(L, a->args, a->argslen);
  if (!lua_checkstack(co, n + 4)) return luaL_error(L, "too many arguments to resume");
  lua_xmove(L, co, n);
  st = lua_resume(co, L, n, &nres);
  if (st == LUA_OK || st == LUA_YIELD) {
    luaL_checkstack(L, nres + 4, "too many results to resume");
    lua_pushboolean(L, st == LUA_OK); /* true = dead */
    lua_xmove(co, L, nres);
    finish_values(L, 2);
    return 0;
  }
  /* error inside the coroutine: record its traceback, re-raise here */
  luaL_traceback(L, co, NULL, 0);
  lua_setfield(L, LUA_REGISTRYINDEX, TBKEY);
  S->has_tb = 1;
  lua_xmove(co, L, 1);
  S->keep_tb = 1;
  if (st == LUA_ERRMEM) S->load_status = LUA_ERRMEM;
  return lua_error(L);
}

/* ---------------------------------------------------------------- entry points */

const char *hl_version(void) { return LUA_RELEASE; }

int luaopen_hype_preempt(lua_State *L);  /* hype_preempt.c */

static int op_open(lua_State *L) {
  int libs = (int)(intptr_t)lua_touserdata(L, 1);
  if (libs) {
    luaL_openlibs(L);
    /* hype.preempt: preloaded; the runtime puts it in package.loaded */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_hype_preempt);
    lua_setfield(L, -2, "hype.preempt");
    lua_pop(L, 1);
  }
  luaL_newmetatable(L, PYFN_MT);
  lua_pushcfunction(L, pyfn_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushliteral(L, "hypelua python function");
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
  return 0;
}

hl_State *hl_new(int64_t max_memory, int open_libs, char *iobuf, int iocap, hl_callback cb) {
  hl_State *S = (hl_State *)calloc(1, sizeof(hl_State));
  if (S == NULL) return NULL;
  S->limit = max_memory > 0 ? (size_t)max_memory : 0;
  S->io = iobuf; S->iocap = iocap; S->cb = cb;
  lua_State *L = lua_newstate(hl_alloc, S);
  if (L == NULL) { free(S); return NULL; }
  S->L = L;
  *(hl_State **)lua_getextraspace(L) = S;
  lua_pushcfunction(L, op_open);
  lua_pushlightuserdata(L, (void *)(intptr_t)open_libs);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) { lua_close(L); free(S); return NULL; }
  return S;
}

void hl_close(hl_State *S) {
  if (S == NULL) return;
  lua_close(S->L);
  free(S->own); free(S->ret); free(S->freed);
  free(S);
}

int hl_execute(hl_State *S, const char *src, int srclen, const char *chunkname,
               const char *args, int argslen) {
  OpArgs a = {0};
  a.buf = src; a.len = srclen; a.chunkname = chunkname; a.ref = LUA_NOREF;
  a.args = args; a.argslen = argslen;
  return run_op(S, op_execute, &a);
}

int hl_load(hl_State *S, const char *buf, int len, const char *chunkname, const char *mode, int env_ref) {
  OpArgs a = {0};
  a.buf = buf; a.len = len; a.chunkname = chunkname; a.mode = mode; a.ref = env_ref;
  return run_op(S, op_load, &a);
}

int hl_call(hl_State *S, int fn_ref, const char *args, int argslen) {
  OpArgs a = {0};
  a.ref = fn_ref; a.args = args; a.argslen = argslen;
  return run_op(S, op_call, &a);
}

int hl_get_global(hl_State *S, const char *name) {
  OpArgs a = {0};
  a.name = name;
  return run_op(S, op_get_global, &a);
}

int hl_set_global(hl_State *S, const char *name, const char *val, int vallen) {
  OpArgs a = {0};
  a.name = name; a.args = val; a.argslen = vallen;
  int st = run_op(S, op_set_global, &a);
  return st;
}

int hl_globals(hl_State *S) { return run_op(S, op_globals, NULL); }

int hl_register(hl_State *S, const char *name, int callback_id) {
  OpArgs a = {0};
  a.name = name; a.ref = callback_id;
  return run_op(S, op_register, &a);
}

int hl_dump(hl_State *S, int fn_ref, int strip) {
  OpArgs a = {0};
  a.ref = fn_ref; a.flag = strip;
  return run_op(S, op_dump, &a);
}

int hl_coroutine(hl_State *S, int fn_ref) {
  OpArgs a = {0};
  a.ref = fn_ref;
  return run_op(S, op_coroutine, &a);
}

int hl_resume(hl_State *S, int co_ref, const char *args, int argslen) {
  OpArgs a = {0};
  a.ref = co_ref; a.args = args; a.argslen = argslen;
  return run_op(S, op_resume, &a);
}

static int op_unref(lua_State *L) {
  OpArgs *a = (OpArgs *)lua_touserdata(L, 1);
  const int *refs = (const int *)(const void *)a->buf;
  for (int i = 0; i < a->len; i++) luaL_unref(L, LUA_REGISTRYINDEX, refs[i]);
  return 0;
}

int hl_unref(hl_State *S, const int *refs, int n) {
  OpArgs a = {0};
  a.buf = (const char *)(const void *)refs; a.len = n;
  return run_op(S, op_unref, &a);
}

int hl_drain_freed(hl_State *S, int *out, int cap) {
  int n = S->nfreed < cap ? S->nfreed : cap;
  memcpy(out, S->freed + (S->nfreed - n), sizeof(int) * (size_t)n);
  S->nfreed -= n;
  return n;
}

int hl_set_return(hl_State *S, const char *buf, int len) {
  free(S->ret);
  S->ret = (char *)malloc(len > 0 ? (size_t)len : 1);
  if (S->ret == NULL) { S->retlen = 0; return -1; }
  memcpy(S->ret, buf, (size_t)len);
  S->retlen = len;
  return 0;
}

const char *hl_outptr(hl_State *S) { return S->own; }
int hl_outlen(hl_State *S) { return (int)S->ownlen; }
int64_t hl_memory_used(hl_State *S) { return (int64_t)S->used; }

int64_t hl_memory_limit(hl_State *S, int64_t new_limit) {
  int64_t old = (int64_t)S->limit;
  if (new_limit >= 0) S->limit = (size_t)new_limit;
  return old;
}
