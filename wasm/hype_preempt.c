/*
** hype_preempt.c -- the Lua module `hype.preempt`: time-slice preemption of a
** coroutine that never yields (docs/actors-design.md, "Design" 2 and 3).
**
**   preempt.mode            "thread" (native) or "count" (wasm; HYPE_PREEMPT_MODE=count natively)
**   preempt.PREEMPTED       a light userdata sentinel
**   preempt.set_slice(us)   the time slice of this Lua state, in microseconds (default 1000)
**   preempt.set_internal(t) chunk names (t[name] = true) where the hook never yields: the
**                           runtime's own Lua (the actor scheduler), left whole
**   preempt.resume(co, ...) coroutine.resume(co, ...), except that a coroutine running longer
**                           than one slice without yielding is yielded from a C count hook
**                           (lua_yield(L, 0)) and preempt.resume returns true, PREEMPTED
**
** "thread" mode: no hook while a coroutine runs; one detached ticker thread per
** process looks at the coroutine each OS thread runs under preempt.resume (a stack
** of Frames per OS thread, the Slots) and, once it has run one slice, arms a count=1
** hook on it (lua_sethook is safe to call asynchronously: lua.c does it from a signal
** handler).  The hook puts the coroutine's own hook back and yields.  Where it cannot
** yield (inside a non-yieldable C call such as a table.sort comparator) it stays armed
** and tries again at the next instruction.  "count" mode (no threads): while it runs
** under preempt.resume the coroutine carries a count hook that reads a clock every
** COUNT_STEP instructions.
**
** The coroutine's own hook (the runtime's deadline watch, a coverage tool) keeps
** working: ours chains to it (its line/call/return events, and its count events at
** the cadence it asked for), and it is called once more at each preemption because
** lua_sethook restarts its countdown: a coroutine preempted every slice still reaches
** the watch's check.
**
** Built into libhypelua_lua54.so (ctypes back-end, native and wasm; preloaded by
** hl_new) and, for the lupa back-end, alone as hype_preempt_lupa.so with lupa's Lua
** symbols left undefined (wasm/build.sh native).
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lua.h"
#include "lauxlib.h"

#if defined(__EMSCRIPTEN__)
#define HP_THREADS 0
#define HP_TLS
#else
#define HP_THREADS 1
#define HP_TLS __thread
#include <pthread.h>
#endif

#define DEFAULT_SLICE_US 1000
#define COUNT_STEP 1000   /* count mode: VM instructions between two clock reads */
#define IDLE_TICKS 100    /* thread mode: empty ticks before the ticker sleeps until woken */

enum { MODE_THREAD, MODE_COUNT };

/* one preempt.resume in progress (on the C stack of l_resume) */
typedef struct Frame {
  lua_State *co;
  struct Frame *up;        /* the preempt.resume this one runs inside, if any */
  int64_t start, slice;    /* microseconds */
  lua_Hook hook;           /* co's own hook, saved while ours is on */
  int mask, count;
  int armed;               /* thread mode: our hook is on co */
  int preempted;           /* our hook yielded co */
  int countdown;           /* instructions (count mode) / events (thread mode) until co's own count hook */
} Frame;

/* the preempt.resume stack of one OS thread */
typedef struct Slot {
  Frame *top;
  struct Slot *next;
} Slot;

static char PREEMPTED;     /* its address is the sentinel */
static char INTERNAL;      /* registry key: the set of the runtime's own chunk names */

/* true when the running function belongs to the runtime's own Lua (a chunk named in the
** table given to preempt.set_internal): a yield there could leave the scheduler's state
** half-updated (a message queued but the receiver not woken), so the hook waits for the
** next instruction in user code */
static int in_internal(lua_State *L, lua_Debug *ar) {
  int r;
  if (!lua_getinfo(L, "S", ar) || ar->source == NULL) return 0;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &INTERNAL) != LUA_TTABLE) { lua_pop(L, 1); return 0; }
  lua_getfield(L, -1, ar->source);
  r = lua_toboolean(L, -1);
  lua_pop(L, 2);
  return r;
}
static int g_mode = -1;
static HP_TLS Slot *tls_slot;

static int64_t now_us(void) {
#if defined(__EMSCRIPTEN__)
  /* clock() only: the timespec of the old headers Lua is compiled with does not match
  ** Pyodide's libc (see time_shim.c); its clock_t is 32 bits wide and wraps */
  static uint32_t last;
  static int64_t high;
  uint32_t c = (uint32_t)((double)clock() * (1000000.0 / CLOCKS_PER_SEC));
  if (c < last) high += (int64_t)1 << 32;
  last = c;
  return high + c;
#else
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
#endif
}

static void restore_hook(lua_State *co, const Frame *f) {
  lua_sethook(co, f->hook, f->mask, f->count);
}

/* ------------------------------------------------------------------ thread mode */
#if HP_THREADS
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static Slot *slots;                 /* every OS thread that ran preempt.resume (under mu) */
static int ticker_started, ticker_waiting;
static pthread_key_t slot_key;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void thook(lua_State *L, lua_Debug *ar);

static void slot_gone(void *p) {    /* an OS thread ends: unlink its slot */
  Slot **pp;
  pthread_mutex_lock(&mu);
  for (pp = &slots; *pp; pp = &(*pp)->next)
    if (*pp == p) { *pp = ((Slot *)p)->next; break; }
  pthread_mutex_unlock(&mu);
  free(p);
}

static void fork_prepare(void) { pthread_mutex_lock(&mu); }
static void fork_parent(void) { pthread_mutex_unlock(&mu); }
static void fork_child(void) {      /* only this thread (and no ticker) lives on */
  slots = tls_slot;
  if (tls_slot) tls_slot->next = NULL;
  ticker_started = ticker_waiting = 0;
  pthread_mutex_unlock(&mu);
}

static void init_once(void) {
  pthread_key_create(&slot_key, slot_gone);
  pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* under mu: put our hook on f->co, saving its own */
static void arm(Frame *f) {
  lua_State *co = f->co;
  if (lua_gethook(co) == thook) return;
  f->hook = lua_gethook(co);
  f->mask = lua_gethookmask(co);
  f->count = lua_gethookcount(co);
  f->countdown = f->count;
  f->armed = 1;
  lua_sethook(co, thook, f->mask | LUA_MASKCOUNT, 1);
}

static void sleep_us(int64_t us) {
  struct timespec ts;
  ts.tv_sec = (time_t)(us / 1000000);
  ts.tv_nsec = (long)(us % 1000000) * 1000;
  nanosleep(&ts, NULL);
}

static void *ticker(void *arg) {
  int idle = 0;
  (void)arg;
  pthread_mutex_lock(&mu);
  for (;;) {
    int64_t now = now_us(), wait = 0;
    Slot *s;
    for (s = slots; s; s = s->next) {
      Frame *f = s->top;
      int64_t left;
      if (f == NULL) continue;
      left = f->start + f->slice - now;
      if (left <= 0) {
        if (!f->armed) arm(f);
        left = f->slice;
      }
      if (wait == 0 || left < wait) wait = left;
    }
    if (wait == 0) {                 /* nothing runs under preempt.resume */
      if (++idle >= IDLE_TICKS) {
        ticker_waiting = 1;
        pthread_cond_wait(&wake, &mu);
        ticker_waiting = 0;
        idle = 0;
        continue;
      }
      wait = DEFAULT_SLICE_US;
    } else idle = 0;
    pthread_mutex_unlock(&mu);       /* never sleep holding the lock */
    sleep_us(wait < 50 ? 50 : wait);
    pthread_mutex_lock(&mu);
  }
  return NULL;
}

/* under mu */
static void start_ticker(void) {
  pthread_t t;
  pthread_attr_t attr;
  if (ticker_started) {
    if (ticker_waiting) pthread_cond_signal(&wake);
    return;
  }
  ticker_started = 1;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &attr, ticker, NULL) != 0) ticker_started = 0;  /* no preemption, no crash */
  pthread_attr_destroy(&attr);
}

static void thook(lua_State *L, lua_Debug *ar) {
  Slot *s = tls_slot;
  Frame *f;
  lua_Hook prev = NULL;
  int call_prev = 0, yield = 0;
  int internal = ar->event == LUA_HOOKCOUNT && in_internal(L, ar);
  pthread_mutex_lock(&mu);
  f = s ? s->top : NULL;
  if (f && f->co == L && f->armed) {
    prev = f->hook;
    if (ar->event != LUA_HOOKCOUNT) {
      call_prev = 1;                 /* an event of co's own hook (we armed with its mask) */
    } else if (!internal && lua_isyieldable(L)) {
      restore_hook(L, f);
      f->armed = 0;
      f->preempted = yield = 1;
      call_prev = (f->mask & LUA_MASKCOUNT) != 0;
    } else if ((f->mask & LUA_MASKCOUNT) && --f->countdown <= 0) {
      f->countdown = f->count;       /* stays armed; co's own count hook keeps its cadence */
      call_prev = 1;
    }
  } else if (f && f->armed) {
    /* a coroutine created while the hook was on inherited it: give it the hook it
    ** would have inherited otherwise */
    lua_sethook(L, f->hook, f->mask, f->count);
    prev = f->hook;
    call_prev = ar->event != LUA_HOOKCOUNT || (f->mask & LUA_MASKCOUNT);
  } else {
    lua_sethook(L, NULL, 0, 0);
  }
  pthread_mutex_unlock(&mu);
  if (call_prev && prev) prev(L, ar);   /* may raise (the deadline watch): nothing is held */
  if (yield) lua_yield(L, 0);           /* in a hook it returns; Lua yields when the hook ends */
}
#endif

/* ------------------------------------------------------------------ count mode */
static void chook(lua_State *L, lua_Debug *ar) {
  Slot *s = tls_slot;
  Frame *f = s ? s->top : NULL;
  int call_prev = 0, yield = 0;
  if (f == NULL || f->co != L) {
    /* inherited by a coroutine created inside (lua_newthread copies the hook) */
    if (f) lua_sethook(L, f->hook, f->mask, f->count);
    else lua_sethook(L, NULL, 0, 0);
    if (f && f->hook && (ar->event != LUA_HOOKCOUNT || (f->mask & LUA_MASKCOUNT))) f->hook(L, ar);
    return;
  }
  if (ar->event != LUA_HOOKCOUNT) {
    if (f->hook) f->hook(L, ar);
    return;
  }
  if (f->mask & LUA_MASKCOUNT) {
    f->countdown -= f->count < COUNT_STEP ? f->count : COUNT_STEP;
    if (f->countdown <= 0) { f->countdown += f->count; call_prev = 1; }
  }
  if (now_us() - f->start >= f->slice && lua_isyieldable(L) && !in_internal(L, ar)) {
    f->preempted = yield = 1;
    call_prev = (f->mask & LUA_MASKCOUNT) != 0;
  }
  if (call_prev && f->hook) f->hook(L, ar);
  if (yield) lua_yield(L, 0);
}

/* ------------------------------------------------------------------ the module */
static Slot *get_slot(void) {
  Slot *s = tls_slot;
  if (s) return s;
  s = (Slot *)calloc(1, sizeof(Slot));
  if (s == NULL) return NULL;
#if HP_THREADS
  pthread_once(&once, init_once);
  pthread_setspecific(slot_key, s);
  pthread_mutex_lock(&mu);
  s->next = slots;
  slots = s;
  pthread_mutex_unlock(&mu);
#endif
  tls_slot = s;
  return s;
}

static void push_frame(Slot *s, Frame *f) {
#if HP_THREADS
  if (g_mode == MODE_THREAD) {
    pthread_mutex_lock(&mu);
    f->up = s->top;
    s->top = f;
    start_ticker();
    pthread_mutex_unlock(&mu);
    return;
  }
#endif
  f->hook = lua_gethook(f->co);
  f->mask = lua_gethookmask(f->co);
  f->count = lua_gethookcount(f->co);
  if (f->hook == chook) {   /* inherited from the coroutine that created it: not its own */
    Frame *up = s->top;
    f->hook = up ? up->hook : NULL;
    f->mask = up ? up->mask : 0;
    f->count = up ? up->count : 0;
  }
  f->countdown = f->count;
  f->up = s->top;
  s->top = f;
  lua_sethook(f->co, chook, f->mask | LUA_MASKCOUNT,
              (f->mask & LUA_MASKCOUNT) && f->count < COUNT_STEP ? f->count : COUNT_STEP);
}

static void pop_frame(Slot *s, Frame *f) {
#if HP_THREADS
  if (g_mode == MODE_THREAD) {
    pthread_mutex_lock(&mu);
    s->top = f->up;
    if (f->armed && lua_gethook(f->co) == thook) restore_hook(f->co, f);  /* armed, never fired */
    pthread_mutex_unlock(&mu);
    return;
  }
#endif
  s->top = f->up;
  if (lua_gethook(f->co) == chook) restore_hook(f->co, f);
}

static int l_resume(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  const int64_t *slice = (const int64_t *)lua_touserdata(L, lua_upvalueindex(1));
  int narg, status, nres;
  Slot *s;
  Frame f;
  luaL_argexpected(L, co, 1, "coroutine");
  narg = lua_gettop(L) - 1;
  if (!lua_checkstack(co, narg)) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "too many arguments to resume");
    return 2;
  }
  s = get_slot();
  lua_xmove(L, co, narg);
  memset(&f, 0, sizeof f);
  f.co = co;
  f.slice = *slice;
  f.start = now_us();
  if (s) push_frame(s, &f);
  status = lua_resume(co, L, narg, &nres);
  if (s) pop_frame(s, &f);
  if (status == LUA_OK || status == LUA_YIELD) {
    if (status == LUA_YIELD && f.preempted && nres == 0) {
      lua_pushboolean(L, 1);
      lua_pushlightuserdata(L, &PREEMPTED);
      return 2;
    }
    if (!lua_checkstack(L, nres + 1)) {
      lua_pop(co, nres);
      lua_pushboolean(L, 0);
      lua_pushliteral(L, "too many results to resume");
      return 2;
    }
    lua_pushboolean(L, 1);
    lua_xmove(co, L, nres);
    return nres + 1;
  }
  lua_pushboolean(L, 0);
  lua_xmove(co, L, 1);  /* the error object */
  return 2;
}

/* preempt.set_internal(t): t[chunkname] = true for the runtime's own chunks (see in_internal) */
static int l_set_internal(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &INTERNAL);
  return 0;
}

static int l_set_slice(lua_State *L) {
  int64_t *slice = (int64_t *)lua_touserdata(L, lua_upvalueindex(1));
  lua_Integer us = luaL_checkinteger(L, 1);
  luaL_argcheck(L, us >= 1, 1, "a time slice is at least 1 microsecond");
  *slice = (int64_t)us;
  return 0;
}

int luaopen_hype_preempt(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"resume", l_resume},
    {"set_slice", l_set_slice},
    {"set_internal", l_set_internal},
    {NULL, NULL},
  };
  int64_t *slice;
  if (g_mode < 0) {
#if HP_THREADS
    const char *m = getenv("HYPE_PREEMPT_MODE");
    g_mode = (m && strcmp(m, "count") == 0) ? MODE_COUNT : MODE_THREAD;
#else
    g_mode = MODE_COUNT;
#endif
  }
  lua_createtable(L, 0, 4);
  slice = (int64_t *)lua_newuserdatauv(L, sizeof(int64_t), 0);
  *slice = DEFAULT_SLICE_US;
  luaL_setfuncs(L, fns, 1);
  lua_pushstring(L, g_mode == MODE_THREAD ? "thread" : "count");
  lua_setfield(L, -2, "mode");
  lua_pushlightuserdata(L, &PREEMPTED);
  lua_setfield(L, -2, "PREEMPTED");
  return 1;
}
