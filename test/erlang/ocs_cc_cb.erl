%% Callbacks of the interop client's diameter service (see cc_client.escript). Written without the
%% diameter include files (Debian's erlang-diameter does not ship them): #diameter_packet{} fields
%% are read by position, messages are built in list form and decoded as maps.
-module(ocs_cc_cb).

-export([tw/0, peer_up/3, peer_down/3, pick_peer/4, prepare_request/3, prepare_retransmit/3,
         handle_answer/4, handle_error/4, handle_request/3]).

%% #diameter_packet{header, avps, msg, bin, errors, transport_data}
-define(MSG(P), element(4, P)).
-define(ERRORS(P), element(6, P)).

notify(Event) ->
    case whereis(cc_client_main) of
        undefined -> ok;
        Pid -> Pid ! Event
    end.

%% Watchdog Tw in ms (RFC 3539), set by the main process.
tw() ->
    persistent_term:get(ocs_cc_tw, 30000).

peer_up(_Svc, Peer, State) ->
    notify({peer_up, Peer}),
    State.

peer_down(_Svc, Peer, State) ->
    notify({peer_down, Peer}),
    State.

pick_peer([Peer | _], _Remote, _Svc, _State) ->
    {ok, Peer};
pick_peer([], _Remote, _Svc, _State) ->
    false.

prepare_request(Pkt, _Svc, _Peer) ->
    {send, Pkt}.

prepare_retransmit(Pkt, _Svc, _Peer) ->
    {send, Pkt}.

handle_answer(Pkt, _Req, _Svc, _Peer) ->
    {ok, ?MSG(Pkt), ?ERRORS(Pkt)}.

handle_error(Reason, _Req, _Svc, _Peer) ->
    {error, Reason}.

%% Re-Auth-Request from the OCS: answer 2001 (as Open5GS does), then tell the main process.
handle_request(Pkt, _Svc, {_PeerRef, Caps}) ->
    Msg = ?MSG(Pkt),
    notify({request, Msg}),
    [_Name | Avps] = Msg,
    Sid = maps:get('Session-Id', Avps),
    %% #diameter_caps{origin_host = {Local, Remote}, origin_realm = {Local, Remote}, ...}
    {OH, _} = element(2, Caps),
    {OR, _} = element(3, Caps),
    {reply, ['RAA', {'Session-Id', Sid}, {'Result-Code', 2001}, {'Origin-Host', OH}, {'Origin-Realm', OR}]}.
