/* Spike for issue 11 (bench/bench_preempt.py): a C count hook that yields the running
** coroutine every N VM instructions (lua_yield from a hook is allowed for count events;
** coroutine.yield in a debug.sethook hook is not). */
#include "lua.h"
#include "lauxlib.h"
static void hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  if (lua_isyieldable(L)) lua_yield(L, 0);
}
static int l_arm(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argcheck(L, co != NULL, 1, "coroutine expected");
  lua_sethook(co, hook, LUA_MASKCOUNT, (int)luaL_optinteger(L, 2, 4000));
  return 0;
}
int luaopen_count_hook(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, l_arm); lua_setfield(L, -2, "arm");
  return 1;
}
