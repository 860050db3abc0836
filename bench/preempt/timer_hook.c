/* Spike for issue 11 (bench/bench_preempt.py): time-slice preemption. No hook while a
** process runs; a C thread arms a count=1 hook on it every period (lua_sethook is
** async-safe: lua.c does the same from its SIGINT handler); the hook disarms itself and
** yields. */
#include <pthread.h>
#include <time.h>
#include <stdatomic.h>
#include "lua.h"
#include "lauxlib.h"
static lua_State *volatile current = NULL;
static atomic_int running = 0;
static long period_us = 1000;
static pthread_t thread;
static void hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  if (lua_isyieldable(L)) lua_yield(L, 0);
}
static void *ticker(void *arg) {
  (void)arg;
  struct timespec ts = { 0, period_us * 1000 };
  while (atomic_load(&running)) {
    nanosleep(&ts, NULL);
    lua_State *co = current;
    if (co) lua_sethook(co, hook, LUA_MASKCOUNT, 1);   /* async-safe (Lua manual, lua_sethook) */
  }
  return NULL;
}
static int l_enter(lua_State *L) { current = lua_tothread(L, 1); return 0; }
static int l_leave(lua_State *L) { (void)L; current = NULL; return 0; }
static int l_start(lua_State *L) {
  period_us = (long)luaL_optinteger(L, 1, 1000);
  if (!atomic_exchange(&running, 1)) pthread_create(&thread, NULL, ticker, NULL);
  return 0;
}
static int l_stop(lua_State *L) {
  (void)L;
  current = NULL;
  if (atomic_exchange(&running, 0)) pthread_join(thread, NULL);  /* never outlive the module */
  return 0;
}
int luaopen_timer_hook(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, l_enter); lua_setfield(L, -2, "enter");
  lua_pushcfunction(L, l_leave); lua_setfield(L, -2, "leave");
  lua_pushcfunction(L, l_start); lua_setfield(L, -2, "start");
  lua_pushcfunction(L, l_stop); lua_setfield(L, -2, "stop");
  return 1;
}
