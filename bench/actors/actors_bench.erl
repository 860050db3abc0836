%% Erlang side of bench/bench_actors.py (issue 11): the same six cases as the Lua side.
%%
%%   erlc -o DIR bench/actors/actors_bench.erl
%%   erl +S 1 -noshell -pa DIR -run actors_bench main CASE REPEATS ARG...
%%
%% Prints one line per repeat: "CASE key=value key=value ..." (times in ms or us).
-module(actors_bench).
-export([main/1]).

main([Case, Reps | Args]) ->
    Ints = [list_to_integer(A) || A <- Args],
    [run(list_to_atom(Case), Ints) || _ <- lists:seq(1, list_to_integer(Reps))],
    halt(0).

now_ns() -> erlang:monotonic_time(nanosecond).

out(Case, KVs) ->
    io:format("~s~s~n", [Case, [io_lib:format(" ~s=~p", [K, V]) || {K, V} <- KVs]]).

%% 1. spawn N processes that each wait in receive; time until all are parked
run(spawn, [N]) ->
    Before = erlang:processes(),
    C = counters:new(1, []),
    erlang:garbage_collect(),
    M0 = erlang:memory(processes),
    T0 = now_ns(),
    spawn_n(N, C),
    wait_parked(C, N),
    T1 = now_ns(),
    M1 = erlang:memory(processes),
    Kids = erlang:processes() -- [self() | Before],
    {memory, One} = erlang:process_info(hd(Kids), memory),
    [exit(P, kill) || P <- Kids],
    out(spawn, [{n, N}, {time_ms, (T1 - T0) / 1.0e6}, {bytes_per_proc, (M1 - M0) / N},
                {process_info_bytes, One}]);

%% 2. ping-pong: N messages (each send counts), N div 2 round trips
run(pingpong, [N]) ->
    Parent = self(),
    spawn(fun() ->
        Me = self(),
        Pong = spawn(fun() -> pong(Me) end),
        T0 = now_ns(),
        ping(Pong, N div 2),
        T1 = now_ns(),
        Pong ! stop,
        Parent ! {done, T1 - T0}
    end),
    receive {done, Ns} -> out(pingpong, [{n, N}, {time_ms, Ns / 1.0e6}, {msg_per_s, N / (Ns / 1.0e9)}]) end;

%% 3. ring of N processes, a token passed Laps times round
run(ring, [N, Laps]) ->
    Parent = self(),
    Procs = [spawn(fun() -> receive {next, Next} -> ring(Next, Parent) end end) || _ <- lists:seq(1, N)],
    [P ! {next, Nx} || {P, Nx} <- lists:zip(Procs, tl(Procs) ++ [hd(Procs)])],
    Hops = N * Laps,
    T0 = now_ns(),
    hd(Procs) ! Hops,
    receive ring_done -> ok end,
    T1 = now_ns(),
    [P ! stop || P <- Procs],
    Ns = T1 - T0,
    out(ring, [{n, N}, {laps, Laps}, {time_ms, Ns / 1.0e6}, {hops_per_s, Hops / (Ns / 1.0e9)}]);

%% 4. a busy process next to a pinger timing round trips through an echo process
run(latency, [K]) ->
    Busy = spawn(fun busy/0),
    Echo = spawn(fun echo/0),
    Samples = [rtt(Echo) || _ <- lists:seq(1, K)],
    exit(Busy, kill),
    Echo ! stop,
    {P50, P99} = pcts(Samples),
    out(latency, [{n, K}, {p50_us, P50 / 1000}, {p99_us, P99 / 1000}]);

%% 5. a busy process next to 1 ms sleeps (receive after 1): lateness
run(timer, [K]) ->
    Busy = spawn(fun busy/0),
    Samples = [late() || _ <- lists:seq(1, K)],
    exit(Busy, kill),
    {P50, P99} = pcts(Samples),
    out(timer, [{n, K}, {p50_ms, P50 / 1.0e6}, {p99_ms, P99 / 1.0e6}]);

%% 6. the compute-bound loop in a process (orientation only: BEAM has no unpreempted mode)
run(preempt, [N]) ->
    Parent = self(),
    spawn(fun() -> T0 = now_ns(), _ = work(N, 0), Parent ! {done, now_ns() - T0} end),
    receive {done, Ns} -> out(preempt, [{n, N}, {time_ms, Ns / 1.0e6}]) end.

spawn_n(0, _) -> ok;
spawn_n(K, C) ->
    spawn(fun() -> counters:add(C, 1, 1), receive stop -> ok end end),
    spawn_n(K - 1, C).

wait_parked(C, N) ->
    case counters:get(C, 1) of
        N -> ok;
        _ -> erlang:yield(), wait_parked(C, N)
    end.

pong(Pinger) ->
    receive
        stop -> ok;
        I -> Pinger ! I, pong(Pinger)
    end.

ping(_, 0) -> ok;
ping(Pong, K) ->
    Pong ! K,
    receive K -> ok end,
    ping(Pong, K - 1).

ring(Next, Parent) ->
    receive
        stop -> ok;
        0 -> Parent ! ring_done, ring(Next, Parent);
        T -> Next ! T - 1, ring(Next, Parent)
    end.

busy() -> busy().

echo() ->
    receive
        stop -> ok;
        {From, ping} -> From ! pong, echo()
    end.

rtt(Echo) ->
    T0 = now_ns(),
    Echo ! {self(), ping},
    receive pong -> ok end,
    now_ns() - T0.

late() ->
    T0 = now_ns(),
    receive after 1 -> ok end,
    now_ns() - T0 - 1000000.

work(0, S) -> S;
work(I, S) -> work(I - 1, S + I).

pcts(Samples) ->
    S = lists:sort(Samples),
    L = length(S),
    {lists:nth(max(1, round(L * 0.50)), S), lists:nth(max(1, round(L * 0.99)), S)}.
