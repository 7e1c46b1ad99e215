#!/usr/bin/env escript
%% -*- erlang -*-
%%! -noshell
%%
%% A Diameter credit-control client built on Erlang/OTP's diameter application (a stack nobody here
%% wrote), for test/e2e/diameter-erlang.test.ts. It compiles ocs_cc.dia and ocs_cc_cb.erl into a temp
%% dir, connects to the OCS (CER/CEA), lets the watchdogs exchange DWR/DWA, then runs a data session
%% (CCR-I/U/T) and two events (SMS direct debit, price enquiry), printing one line per answer:
%%   CCA-I rc=2001 mscc_rc=2001 gsu_total=1048576 validity=900 ...
%% With the flag "rar" it prints "SESSION <Session-Id>" after CCA-I and waits (10 s at most) for the
%% OCS's Re-Auth-Request on that session, printing "RAR dest_host=... dest_realm=...", before going on
%% (test/e2e/diameter-freediameter.test.ts: the RAR has to find its way back through a relay).
%%
%% Load mode (scripts/bench-diameter.ts): the same message mix as scripts/load-diameter.ts (data
%% sessions CCR-I, Updates x CCR-U with 1 MB used, CCR-T; one MSCC, rating group 1) from Concurrency
%% Erlang processes over one connection for Seconds, then one JSON line:
%%   {"ccrs":N,"seconds":S,"perSec":R,"p50":ms,"p90":ms,"p99":ms,"max":ms,"results":{"I:2001":N,...}}
%%
%% Usage: cc_client.escript Host Port Msisdn TmpDir [rar]
%%        cc_client.escript load Host Port MsisdnPrefix MsisdnWidth Subscribers Concurrency Seconds Updates TmpDir
-mode(compile).

main(["load", Host, PortS, Prefix, WidthS, SubsS, ConcS, SecsS, UpdS, Tmp]) ->
    guard(fun() ->
        load(Host, list_to_integer(PortS), Prefix, list_to_integer(WidthS), list_to_integer(SubsS),
             list_to_integer(ConcS), list_to_integer(SecsS), list_to_integer(UpdS), Tmp)
    end);
main([Host, PortS, Msisdn, Tmp | Flags]) when Flags =:= []; Flags =:= ["rar"] ->
    guard(fun() -> run(Host, list_to_integer(PortS), Msisdn, Tmp, Flags =:= ["rar"]) end);
main(_) ->
    io:format("usage: cc_client.escript Host Port Msisdn TmpDir [rar]~n"
              "       cc_client.escript load Host Port MsisdnPrefix MsisdnWidth Subscribers Concurrency Seconds Updates TmpDir~n"),
    halt(2).

guard(F) ->
    try F() of
        ok -> halt(0)
    catch
        C:E:St ->
            io:format("ERROR ~p:~p ~p~n", [C, E, St]),
            halt(1)
    end.

-define(OH, "erlang.client.test").
-define(OR, "client.test").

%% Compile the dictionary and the callbacks, start the diameter service and connect: returns once
%% the peer is up (CER/CEA done).
connect(Host, Port, Tmp, ProductName) ->
    Here = filename:dirname(escript:script_name()),
    ok = compile_dict(filename:join(Here, "ocs_cc.dia"), Tmp),
    ok = compile_module(filename:join(Here, "ocs_cc_cb.erl"), Tmp),
    true = code:add_patha(Tmp),
    register(cc_client_main, self()),
    ok = diameter:start(),
    ok = diameter:start_service(cc_client, [
        {'Origin-Host', ?OH},
        {'Origin-Realm', ?OR},
        {'Vendor-Id', 0},
        {'Product-Name', ProductName},
        {'Auth-Application-Id', [4]},
        {'Supported-Vendor-Id', [10415]},
        {decode_format, map},
        {string_decode, false},
        {application, [{alias, cc}, {dictionary, ocs_cc}, {module, ocs_cc_cb}]}]),
    {ok, Addr} = inet:parse_address(Host),
    {ok, _} = diameter:add_transport(cc_client, {connect, [
        {transport_module, diameter_tcp},
        {transport_config, [{raddr, Addr}, {rport, Port}, {reuseaddr, true}]},
        %% Tw through {M,F,A}, evaluated when the watchdog timer is armed.
        {watchdog_timer, {ocs_cc_cb, tw, []}}]}),
    receive {peer_up, _} -> ok after 5000 -> erlang:error(no_peer_up) end.

run(Host, Port, Msisdn, Tmp, WaitRar) ->
    %% Tw first shorter than the OCS's (so this client sends DWR), then longer (so the OCS does).
    persistent_term:put(ocs_cc_tw, 400),
    ok = connect(Host, Port, Tmp, "OTP diameter interop client"),
    io:format("PEER-UP~n"),
    timer:sleep(1500),
    persistent_term:put(ocs_cc_tw, 10000),
    timer:sleep(3000),
    {DwaRecv, DwrRecv, DwaSent} = watchdog_stats(),
    io:format("WATCHDOG dwa_recv=~w dwr_recv=~w dwa_sent=~w~n", [DwaRecv, DwrRecv, DwaSent]),

    Sid = binary_to_list(iolist_to_binary(diameter:session_id(?OH))),
    Sub = [{'Subscription-Id-Type', 0}, {'Subscription-Id-Data', Msisdn}],
    Base = fun(Type, Num, Ctx, SessionId) ->
        [{'Session-Id', SessionId}, {'Origin-Host', ?OH}, {'Origin-Realm', ?OR}, {'Destination-Realm', "localdomain"},
         {'Auth-Application-Id', 4}, {'Service-Context-Id', Ctx}, {'CC-Request-Type', Type}, {'CC-Request-Number', Num},
         {'Subscription-Id', [Sub]}]
    end,
    Data = "32251@3gpp.org",

    I = call(['CCR' | Base(1, 0, Data, Sid) ++ [
        {'Multiple-Services-Indicator', 1},
        {'Multiple-Services-Credit-Control', [[{'Requested-Service-Unit', [[{'CC-Total-Octets', 1048576}]]}, {'Rating-Group', [10]}]]}]]),
    report("CCA-I", I),
    case WaitRar of true -> wait_rar(Sid); false -> ok end,
    U = call(['CCR' | Base(2, 1, Data, Sid) ++ [
        {'Multiple-Services-Indicator', 1},
        {'Multiple-Services-Credit-Control', [[{'Requested-Service-Unit', [[{'CC-Total-Octets', 1048576}]]},
                                               {'Used-Service-Unit', [[{'CC-Input-Octets', 400000}, {'CC-Output-Octets', 124288}]]},
                                               {'Rating-Group', [10]}]]}]]),
    report("CCA-U", U),
    T = call(['CCR' | Base(3, 2, Data, Sid) ++ [
        {'Termination-Cause', [1]},
        {'Multiple-Services-Credit-Control', [[{'Used-Service-Unit', [[{'CC-Total-Octets', 100000}, {'Reporting-Reason', [2]}]]},
                                               {'Rating-Group', [10]}]]}]]),
    report("CCA-T", T),
    Sms = "32274@3gpp.org",
    E = call(['CCR' | Base(4, 0, Sms, binary_to_list(iolist_to_binary(diameter:session_id(?OH)))) ++ [
        {'Requested-Action', [0]},
        {'Requested-Service-Unit', [[{'CC-Service-Specific-Units', 1}]]}]]),
    report("CCA-E", E),
    P = call(['CCR' | Base(4, 0, Sms, binary_to_list(iolist_to_binary(diameter:session_id(?OH)))) ++ [
        {'Requested-Action', [3]},
        {'Requested-Service-Unit', [[{'CC-Service-Specific-Units', 3}]]}]]),
    report("CCA-P", P),
    ok = diameter:stop_service(cc_client),
    io:format("DONE~n"),
    ok.

%% The OCS's Re-Auth-Request for Sid (answered 2001 by ocs_cc_cb:handle_request/3).
wait_rar(Sid) ->
    io:format("SESSION ~s~n", [Sid]),
    SidB = list_to_binary(Sid),
    receive
        {request, ['RAR' | #{'Session-Id' := SidB} = R]} ->
            io:format("RAR dest_host=~s dest_realm=~s origin_host=~s~n",
                      [maps:get('Destination-Host', R), maps:get('Destination-Realm', R), maps:get('Origin-Host', R)])
    after 10000 -> erlang:error(no_rar)
    end.

call(Msg) ->
    case diameter:call(cc_client, cc, Msg, [{timeout, 5000}]) of
        {ok, Answer, []} -> Answer;
        {ok, _Answer, Errors} -> erlang:error({decode_errors, Errors});
        Other -> erlang:error({call_failed, Other})
    end.

%% One line per answer: Result-Codes, grants and costs as the Erlang decoder read them.
report(Label, ['CCA' | A]) ->
    Mscc = case maps:get('Multiple-Services-Credit-Control', A, []) of [M | _] -> M; [] -> #{} end,
    Gsu = one(maps:get('Granted-Service-Unit', Mscc, one(maps:get('Granted-Service-Unit', A, [])))),
    Cost = one(maps:get('Cost-Information', A, [])),
    Fields = [
        {rc, maps:get('Result-Code', A)},
        {type, maps:get('CC-Request-Type', A)},
        {number, maps:get('CC-Request-Number', A)},
        {mscc_rc, one(maps:get('Result-Code', Mscc, []))},
        {gsu_total, one(maps:get('CC-Total-Octets', gmap(Gsu), []))},
        {gsu_ssu, one(maps:get('CC-Service-Specific-Units', gmap(Gsu), []))},
        {validity, one(maps:get('Validity-Time', Mscc, []))},
        {threshold, one(maps:get('Volume-Quota-Threshold', Mscc, []))},
        {cost_digits, case Cost of undefined -> undefined; C -> maps:get('Value-Digits', maps:get('Unit-Value', C)) end},
        {cost_exponent, case Cost of undefined -> undefined; C2 -> one(maps:get('Exponent', maps:get('Unit-Value', C2), [])) end},
        {currency, case Cost of undefined -> undefined; C3 -> maps:get('Currency-Code', C3) end}],
    io:format("~s~s~n", [Label, [io_lib:format(" ~s=~w", [K, V]) || {K, V} <- Fields]]).

one([X]) -> X;
one([]) -> undefined;
one(X) -> X.

gmap(undefined) -> #{};
gmap(M) when is_map(M) -> M.

%% Watchdog counters of the (only) connection, from diameter's statistics ({{App, Code, R}, Dir}):
%% DWAs received (answers to our DWRs, which diameter does not count), DWRs received, DWAs sent.
watchdog_stats() ->
    Stats = lists:append([proplists:get_value(statistics, C, []) || C <- diameter:service_info(cc_client, connections)]),
    Get = fun(Key) -> lists:sum([N || {K, N} <- Stats, K =:= Key]) end,
    {Get({{0, 280, 0}, recv}), Get({{0, 280, 1}, recv}), Get({{0, 280, 0}, send})}.

compile_dict(Dia, Tmp) ->
    {ok, [Forms | _]} = diameter_make:codec(Dia, [forms, return]),
    write_beam(compile:forms(Forms, [return_errors]), Tmp).

compile_module(Erl, Tmp) ->
    write_beam(compile:file(Erl, [binary, return_errors]), Tmp).

write_beam({ok, Mod, Bin}, Tmp) ->
    ok = file:write_file(filename:join(Tmp, atom_to_list(Mod) ++ ".beam"), Bin);
write_beam({ok, Mod, Bin, _Warnings}, Tmp) ->
    write_beam({ok, Mod, Bin}, Tmp);
write_beam(Error, _Tmp) ->
    erlang:error({compile_failed, Error}).

%% ---------------------------------------------------------------------------------------------
%% Load mode

load(Host, Port, Prefix, Width, Subs, Conc, Secs, Updates, Tmp) ->
    persistent_term:put(ocs_cc_tw, 30000),
    ok = connect(Host, Port, Tmp, "OTP diameter load client"),
    Main = self(),
    Start = erlang:monotonic_time(millisecond),
    StopAt = Start + Secs * 1000,
    Workers = [spawn_link(fun() -> Main ! {done, self(), worker(W, Prefix, Width, Subs, Updates, StopAt)} end)
               || W <- lists:seq(0, Conc - 1)],
    Collected = [receive {done, P, R} -> R end || P <- Workers],
    Elapsed = (erlang:monotonic_time(millisecond) - Start) / 1000,
    Lat = lists:sort(lists:append([L || {L, _} <- Collected])),
    Results = lists:foldl(fun({_, M}, Acc) -> maps:fold(fun(K, V, A) -> maps:update_with(K, fun(X) -> X + V end, V, A) end, Acc, M) end,
                          #{}, Collected),
    N = length(Lat),
    T = list_to_tuple(Lat),
    Pct = fun(_) when N =:= 0 -> 0.0; (P) -> element(min(N, (N * P) div 100 + 1), T) / 1000 end,
    Json = io_lib:format("{\"ccrs\":~w,\"seconds\":~.3f,\"perSec\":~w,\"p50\":~.3f,\"p90\":~.3f,\"p99\":~.3f,\"max\":~.3f,\"results\":{~s}}",
                         [N, Elapsed, round(N / Elapsed), Pct(50), Pct(90), Pct(99), case N of 0 -> 0.0; _ -> element(N, T) / 1000 end,
                          lists:join(",", [io_lib:format("\"~s\":~w", [K, V]) || {K, V} <- lists:sort(maps:to_list(Results))])]),
    io:format("~s~n", [Json]),
    ok = diameter:stop_service(cc_client),
    ok.

%% One worker: data sessions back to back until StopAt; returns {LatenciesMicroseconds, #{"U:2001" => Count}}.
worker(W, Prefix, Width, Subs, Updates, StopAt) ->
    worker(W, Prefix, Width, Subs, Updates, StopAt, 0, {[], #{}}).

worker(W, Prefix, Width, Subs, Updates, StopAt, Seq, Acc) ->
    case erlang:monotonic_time(millisecond) < StopAt of
        false -> Acc;
        true ->
            Msisdn = Prefix ++ string:right(integer_to_list((W + Seq * 7) rem Subs), Width, $0),
            Sid = lists:flatten(io_lib:format("~s;~w;~w;~w", [?OH, erlang:system_time(millisecond), W, Seq])),
            A1 = ccr(Sid, Msisdn, 1, 0, false, true, Acc),
            A2 = updates(Sid, Msisdn, 1, Updates, StopAt, A1),
            A3 = ccr(Sid, Msisdn, 3, Updates + 1, true, false, A2),
            worker(W, Prefix, Width, Subs, Updates, StopAt, Seq + 1, A3)
    end.

updates(Sid, Msisdn, U, Updates, StopAt, Acc) ->
    case U =< Updates andalso erlang:monotonic_time(millisecond) < StopAt of
        false -> Acc;
        true -> updates(Sid, Msisdn, U + 1, Updates, StopAt, ccr(Sid, Msisdn, 2, U, true, true, Acc))
    end.

ccr(Sid, Msisdn, Type, Num, Used, Request, {Lat, Res}) ->
    Mscc = [{'Rating-Group', [1]}]
        ++ [{'Requested-Service-Unit', [[]]} || Request]
        ++ [{'Used-Service-Unit', [[{'CC-Input-Octets', 400000}, {'CC-Output-Octets', 600000}]]} || Used],
    Msg = ['CCR', {'Session-Id', Sid}, {'Origin-Host', ?OH}, {'Origin-Realm', ?OR}, {'Destination-Realm', "localdomain"},
           {'Auth-Application-Id', 4}, {'Service-Context-Id', "32251@3gpp.org"}, {'CC-Request-Type', Type},
           {'CC-Request-Number', Num}, {'Subscription-Id', [[{'Subscription-Id-Type', 0}, {'Subscription-Id-Data', Msisdn}]]},
           {'Multiple-Services-Indicator', [1]}, {'Multiple-Services-Credit-Control', [Mscc]}],
    T0 = erlang:monotonic_time(microsecond),
    Rc = case diameter:call(cc_client, cc, Msg, [{timeout, 5000}]) of
             {ok, ['CCA' | A], _} -> integer_to_list(maps:get('Result-Code', A));
             {error, Reason} -> lists:flatten(io_lib:format("~p", [Reason]));
             _ -> "error"
         end,
    Us = erlang:monotonic_time(microsecond) - T0,
    Key = [lists:nth(Type, "IUTE"), $: | Rc],
    {[Us | Lat], maps:update_with(Key, fun(X) -> X + 1 end, 1, Res)}.
