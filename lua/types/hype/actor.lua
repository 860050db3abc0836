---@meta hype.actor
-- require("hype.actor"): Erlang-style processes (spawn/send/receive, links, monitors,
-- registered names, typed protocols), OTP's gen_server (actor.server), supervisor
-- (actor.supervisor) and code server (actor.load/upgrade): those load on first use
-- from hype.actor.server / .supervisor / .code and are annotated here too.

---A process id (prints as `<node.id.0>`; compare with ==).
---@class hype.actor.Pid
---@field id integer|string
---@field node? integer

---A monitor reference (from `monitor` / `spawn_monitor`).
---@alias hype.actor.Ref table

---A destination: a pid or a registered name.
---@alias hype.actor.Dest hype.actor.Pid|string

---A message protocol (`actor.protocol{...}`).
---@class hype.actor.Protocol
---@field check fun(msg: any): boolean, string?

---@class hype.actor.SpawnSpec
---@field fn fun(...)
---@field args? table Arguments for fn (a list; `table.pack` style `n` honoured).
---@field link? boolean Link to the caller.
---@field monitor? boolean Monitor it (spawn then also returns the ref).
---@field protocol? hype.actor.Protocol Refuse messages that do not fit (ACTOR_PROTOCOL at the sender).
---@field max_heap? integer Bytes of net heap growth before the process is killed.
---@field deps? table<string, string|integer> Pinned module versions (hype.actor.code).

---@class hype.actor.ProcessInfo
---@field pid hype.actor.Pid
---@field status string
---@field mailbox integer
---@field reductions integer
---@field memory? integer
---@field links hype.actor.Pid[]
---@field monitors integer
---@field name? string
---@field kind? string

---@class hype.actor
---@field NODE integer This scheduler's node number.
---@field REDUCTIONS integer Reductions per turn (4000, like OTP).
---@field crash_reports boolean false: no crash report on stderr when a process fails.
local actor = {}

---Start a process running fn(...): `spawn(fn, ...)` or `spawn{ fn =, args =, link =,
---monitor =, protocol =, max_heap =, deps = }`.
---@param spec fun(...)|hype.actor.SpawnSpec
---@param ... any
---@return hype.actor.Pid pid
---@return hype.actor.Ref? ref With `monitor = true`.
function actor.spawn(spec, ...) end

---Spawn and link atomically.
---@param fn fun(...)
---@return hype.actor.Pid
function actor.spawn_link(fn, ...) end

---Spawn and monitor atomically.
---@param fn fun(...)
---@return hype.actor.Pid pid
---@return hype.actor.Ref ref
function actor.spawn_monitor(fn, ...) end

---The calling process's pid (the main chunk and handlers are processes too).
---@return hype.actor.Pid
function actor.self() end

---Append a deep copy of `msg` to the receiver's mailbox (never blocks); returns msg.
---Raises ACTOR_BAD_MESSAGE, ACTOR_PROTOCOL, ACTOR_NO_PROCESS (unknown name).
---@param dest hype.actor.Dest
---@param msg any
---@return any
function actor.send(dest, msg) end

---The first message `matcher` accepts (any without one), removed from the mailbox;
---nil, "timeout" after `timeout` ms (0 polls).
---@param matcher? fun(msg: any): boolean
---@param timeout? number
---@return any msg
---@return "timeout"? err
function actor.receive(matcher, timeout) end

---Link the caller with `dest` (exit signals both ways).
---@param dest hype.actor.Dest
---@return true
function actor.link(dest) end

---@param dest hype.actor.Dest
---@return true
function actor.unlink(dest) end

---Monitor `dest`: the caller gets `{ "DOWN", ref, pid, reason }` once it ends.
---@param dest hype.actor.Dest
---@return hype.actor.Ref
function actor.monitor(dest) end

---@param ref hype.actor.Ref
---@return true
function actor.demonitor(ref) end

---`exit(reason)` ends the calling process; `exit(pid, reason)` sends it an exit signal
---("kill" cannot be trapped).
---@param dest any
---@param reason? any
function actor.exit(dest, reason) end

---Trap exit signals as `{ "EXIT", pid, reason }` messages; returns the previous flag.
---@param flag boolean
---@return boolean
function actor.trap_exit(flag) end

---Register `dest` (default: the caller) under `name`.
---@param name string
---@param dest? hype.actor.Pid
---@return true
function actor.register(name, dest) end

---@param name string
---@return boolean
function actor.unregister(name) end

---@param name string
---@return hype.actor.Pid|nil
function actor.whereis(name) end

---Send `msg` after `ms` milliseconds; `clearTimeout(timer)` cancels it.
---@param dest hype.actor.Dest
---@param msg any
---@param ms number
---@return hype.Timer
function actor.send_after(dest, msg, ms) end

---Park the calling process for `ms` milliseconds (messages stay queued).
---@param ms number
function actor.sleep(ms) end

---Let the other runnable processes run first.
function actor.yield() end

---The live processes.
---@return hype.actor.ProcessInfo[]
function actor.processes() end

---@param v any
---@return boolean
function actor.is_pid(v) end

---The pid with that number (e.g. from `<0.42.0>`).
---@param id integer|string
---@param node? integer
---@return hype.actor.Pid
function actor.pid(id, node) end

---A protocol: `protocol{ tag = { field = "type", ... }, ... }` (types: pid integer number
---string boolean table any, "?" suffix for optional, nested tables, `{ "T" }` lists) or
---`protocol(json_schema)`.
---@param def table
---@return hype.actor.Protocol
function actor.protocol(def) end

---@param v any
---@return boolean
function actor.is_protocol(v) end

--------------------------------------------------------------------------- server

---A server module made by `actor.server{...}`.
---@class hype.actor.Server
---@field name? string
---@field vsn? any
local Server = {}

---Start the server (init runs in the new process); nil, reason when init fails.
---@return hype.actor.Pid|nil pid
---@return any reason
function Server:start(...) end

---Like start, linked to the caller.
---@return hype.actor.Pid|nil pid
---@return any reason
function Server:start_link(...) end

---Callbacks answer with multiple return values led by a tag:
---init(...) -> state | "stop", reason;
---handle_call(req, from, s) -> "reply", reply, s2 | "noreply", s2 | "stop", reason[, reply], s2;
---handle_cast(msg, s) / handle_info(msg, s) -> "noreply", s2 | "stop", reason, s2;
---terminate(reason, s); code_change(old_vsn, s, extra) -> s2.
---@class hype.actor.ServerSpec
---@field init? fun(...): ...
---@field handle_call? fun(request: any, from: table, state: any): ...
---@field handle_cast? fun(msg: any, state: any): ...
---@field handle_info? fun(msg: any, state: any): ...
---@field terminate? fun(reason: any, state: any)
---@field code_change? fun(old_vsn: any, state: any, extra: any): any
---@field name? string Register the server under this name.
---@field vsn? any

---OTP's gen_server: a server module (start / start_link methods).
---@param spec hype.actor.ServerSpec
---@return hype.actor.Server
function actor.server(spec) end

---Call a server and wait for its reply (timeout default 5000 ms, or "infinity").
---Raises ACTOR_CALL_TIMEOUT / ACTOR_CALL_FAILED / ACTOR_NO_PROCESS.
---@param dest hype.actor.Dest
---@param request any
---@param timeout? number|"infinity"
---@return any
function actor.call(dest, request, timeout) end

---Fire and forget (a dead target or unknown name drops it).
---@param dest hype.actor.Dest
---@param msg any
function actor.cast(dest, msg) end

---Answer a call that handle_call left with "noreply".
---@param from table handle_call's `from`.
---@param value any
function actor.reply(from, value) end

---Swap a running server's callbacks for `new_module`'s through its code_change.
---@param dest hype.actor.Dest
---@param new_module hype.actor.Server
---@param extra? any
---@param timeout? number
---@return boolean ok
---@return any err
function actor.upgrade_server(dest, new_module, extra, timeout) end

--------------------------------------------------------------------------- supervisor

---@class hype.actor.ChildSpec
---@field id any
---@field start function|table A function returning a pid, `{ module, "fn", args... }` or `{ fn = f, args = {...} }`.
---@field restart? "permanent"|"transient"|"temporary"
---@field shutdown? number|"brutal_kill"|"infinity"

---@class hype.actor.SupervisorSpec
---@field strategy? "one_for_one"|"one_for_all"|"rest_for_one"
---@field intensity? integer Restarts allowed in `period` seconds (then it gives up).
---@field period? number
---@field children hype.actor.ChildSpec[]
---@field name? string

---OTP's supervisor: a module with start / start_link (a server that traps exits).
---@param spec hype.actor.SupervisorSpec
---@return hype.actor.Server
function actor.supervisor(spec) end

---The children in start order: `{ { id =, pid = pid|nil, restart = }, ... }`.
---@param sup hype.actor.Dest
---@return { id: any, pid: hype.actor.Pid|nil, restart: string }[]
function actor.which_children(sup) end

---Stop a child (it stays in the spec list).
---@param sup hype.actor.Dest
---@param id any
---@return true|nil ok
---@return "not_found"? err
function actor.terminate_child(sup, id) end

---Restart a stopped child: its pid, or nil, "running" | "not_found" | a start failure.
---@param sup hype.actor.Dest
---@param id any
---@return hype.actor.Pid|nil pid
---@return any err
function actor.restart_child(sup, id) end

--------------------------------------------------------------------------- code

---Compile a new version of module `name` from Lua source or a .lua path; returns its
---version number (ACTOR_BAD_MODULE on a syntax error; older versions stay).
---@param name string
---@param source string
---@return integer
function actor.load(name, source) end

---The versions of `name`, oldest first: `{ { version =, processes =, current = }, ... }`.
---@param name string
---@return { version: integer, processes: integer, current: boolean }[]
function actor.versions(name) end

---The module as this process is bound to it (the newest outside processes).
---@param name string
---@return any
function actor.require(name) end

---Move a server started from a loaded module to the newest version (code_change).
---@param dest hype.actor.Dest
---@param extra? any
---@param timeout? number
---@return boolean ok
---@return any err ACTOR_NO_PROCESS, ACTOR_NOT_UPGRADABLE, ACTOR_UPGRADE_FAILED
function actor.upgrade(dest, extra, timeout) end

return actor
