#!/usr/bin/env escript
%% -*- erlang -*-
%%! -noshell
%%
%% A Diameter credit-control client built on Erlang/OTP's diameter application (a stack nobody here
%% wrote), for test/e2e/diameter-erlang.test.ts. It compiles ocs_cc.dia and ocs_cc_cb.erl into a temp
%% dir, connects to the OCS (CER/CEA), lets the watchdogs exchange DWR/DWA, then runs a data session
%% (CCR-I/U/T) and two events (SMS direct debit, price enquiry), printing one line per answer:
%%   CCA-I rc=2001 mscc_rc=2001 gsu_total=1048576 validity=900 ...
%% Usage: cc_client.escript Host Port Msisdn TmpDir
-mode(compile).

main([Host, PortS, Msisdn, Tmp]) ->
    try run(Host, list_to_integer(PortS), Msisdn, Tmp) of
        ok -> halt(0)
    catch
        C:E:St ->
            io:format("ERROR ~p:~p ~p~n", [C, E, St]),
            halt(1)
    end;
main(_) ->
    io:format("usage: cc_client.escript Host Port Msisdn TmpDir~n"),
    halt(2).

-define(OH, "erlang.client.test").
-define(OR, "client.test").

run(Host, Port, Msisdn, Tmp) ->
    Here = filename:dirname(escript:script_name()),
    ok = compile_dict(filename:join(Here, "ocs_cc.dia"), Tmp),
    ok = compile_module(filename:join(Here, "ocs_cc_cb.erl"), Tmp),
    true = code:add_patha(Tmp),
    register(cc_client_main, self()),
    persistent_term:put(ocs_cc_tw, 400),
    ok = diameter:start(),
    ok = diameter:start_service(cc_client, [
        {'Origin-Host', ?OH},
        {'Origin-Realm', ?OR},
        {'Vendor-Id', 0},
        {'Product-Name', "OTP diameter interop client"},
        {'Auth-Application-Id', [4]},
        {'Supported-Vendor-Id', [10415]},
        {decode_format, map},
        {string_decode, false},
        {application, [{alias, cc}, {dictionary, ocs_cc}, {module, ocs_cc_cb}]}]),
    {ok, Addr} = inet:parse_address(Host),
    {ok, _} = diameter:add_transport(cc_client, {connect, [
        {transport_module, diameter_tcp},
        {transport_config, [{raddr, Addr}, {rport, Port}, {reuseaddr, true}]},
        %% Tw through {M,F,A}, evaluated when the watchdog timer is armed: first shorter than the
        %% OCS's (so this client sends DWR), then longer (so the OCS does).
        {watchdog_timer, {ocs_cc_cb, tw, []}}]}),
    receive {peer_up, _} -> io:format("PEER-UP~n") after 5000 -> erlang:error(no_peer_up) end,
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
