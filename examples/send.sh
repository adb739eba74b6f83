#!/bin/sh
# Send one DM through blemees-peerd with nothing but a shell and socat (or
# OpenBSD netcat): say hello, then peer.send, and print the daemon's answers.
#
#   examples/send.sh home:~/project '"build is green"'
#   examples/send.sh 'home:~/project#tester' '{"run": 42, "failed": ["dm.rs"]}'
#
# BODY is JSON text (quote a string as '"..."'). TO must not contain '"' or '\'.
# The connection says presence:false: it is not listed and announces nothing,
# like the blemees-peerd client sub-commands.
set -eu

to=${1:?usage: send.sh TO BODY_JSON}
body=${2:?usage: send.sh TO BODY_JSON}

# The socket, resolved as the daemon resolves it.
if [ -n "${BLEMEES_PEER_SOCKET:-}" ]; then
    sock=$BLEMEES_PEER_SOCKET
elif [ -n "${XDG_RUNTIME_DIR:-}" ] && [ -d "$XDG_RUNTIME_DIR" ]; then
    sock=$XDG_RUNTIME_DIR/blemees/peerd.sock
else
    sock=/tmp/blemees-peerd-$(id -u).sock
fi

# A fresh sid: "sess_" and 16 characters of [A-Za-z0-9_-].
sid=sess_$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 16)
home=${BLEMEES_AGENT_HOME:-"~"}

# Both tools close their sending side at the end of input, then print what the
# daemon answers until it closes the connection (which it does once a client
# has nothing more to send and every answer is written).
if command -v socat >/dev/null 2>&1; then
    connect() { socat -t 5 - "UNIX-CONNECT:$sock"; }
else
    connect() { nc -U -N "$sock"; }
fi

printf '%s\n' \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"peer.hello\",\"params\":{\"sid\":\"$sid\",\"home\":\"$home\",\"presence\":false}}" \
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"peer.send\",\"params\":{\"to\":\"$to\",\"body\":$body}}" |
    connect
