#!/bin/bash
# SPDX-License-Identifier: MIT
# Body prefetch of a mailbox bigger than the engine's read window: the
# engine lists a big mailbox in UID windows of 10,000 messages
# (core/engine/mf-sync-stream.c), never "1:*"; the driver must still fetch
# the bodies it will be asked for ahead, many per command, pipelined.
#
# A real Dovecot imapd serves one folder of 10,600 small messages; one
# `mailferry backup` copies it into a Maildir with a raw log of the IMAP
# session. The proof is read off the log, not off a timing:
#   - every message's body was asked for exactly once;
#   - in batches: at most one body UID FETCH per 32 messages;
#   - pipelined: a body UID FETCH sent while no command at all was waiting
#     for its answer (the client idle until the server answers: one round
#     trip) happens at most a few times per read window, not per message;
# and the Maildir holds the same messages (bytes) as the server.
. "$(dirname "$0")/common.sh"

N=10600
imapd_start || exit 1
LOC=imap://test@127.0.0.1:$IMAPD_PORT/

# The folder is written straight into the server's Maildir (10,600
# `doveadm save` runs would take minutes); Dovecot indexes it on SELECT.
BIG=$IMAPD_ROOT/mail/test/.Big
python3 - "$BIG" "$N" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for sub in ("cur", "new", "tmp"):
    os.makedirs(os.path.join(d, sub), exist_ok=True)
open(os.path.join(d, "maildirfolder"), "w").close()
for i in range(1, n + 1):
    body = ("From: sender%d@example.org\nTo: test@example.org\n"
            "Subject: message %d\nMessage-ID: <big-%d@example.org>\n"
            "Date: Mon, 23 Nov 2026 12:00:00 +0000\n\nbody %d\n%s\n"
            % (i % 17, i, i, i, "x" * (i % 300)))
    name = "%d.M%dP1.bench,S=%d:2,%s" % (1700000000 + i, i, len(body),
                                        "S" if i % 3 else "")
    with open(os.path.join(d, "cur", name), "w") as f:
        f.write(body)
EOF
chown -R nobody:nogroup "$IMAPD_ROOT/mail"
n=$(imapd_doveadm mailbox status -u test messages Big | sed 's/.*=//')
check "the server holds the big folder ($n messages)" [ "$n" = "$N" ]

start=$(date +%s)
if ! "$MF" -o imapc_rawlog="$WORK/big.raw" -o mail_fsync=never \
	backup "$LOC" "maildir:$WORK/md" > "$WORK/backup.out" 2> "$WORK/backup.err"; then
	fail "backup of the big folder: $(tail -3 "$WORK/backup.err")"
	finish
fi
echo "backup of $N messages: $(( $(date +%s) - start )) s"

# The raw log: records "<time> C: <lines>" (what the client sent) and
# "<time> S: <one response>" (what it parsed), in the order they happened.
python3 - "$WORK/big.raw" "$N" > "$WORK/pipeline.out" <<'EOF'
import re, sys
path, n = sys.argv[1], int(sys.argv[2])
rec = re.compile(rb"^\d+\.\d{6} (C:|S:|\*) ")
records = []
with open(path, "rb") as f:
    for line in f:
        m = rec.match(line)
        if m:
            records.append([m.group(1), line[m.end():]])
        elif records:
            records[-1][1] += line

def expand(s):
    out = []
    for part in s.split(","):
        a, _, b = part.partition(":")
        out.extend(range(int(a), int(b or a) + 1))
    return out

# UIDs whose body was asked for and has not come back yet: a body
# UID FETCH sent while this is empty found the pipeline drained, so the
# client waited a whole round trip for it
outstanding = set()
body_cmds = stalls = max_ahead = 0
uids = []
selected = None
for kind, data in records:
    if kind == b"C:":
        for cl in data.split(b"\r\n"):
            m = re.match(rb"(m\d+) (.*)", cl)
            if not m:
                continue
            cmd = m.group(2).decode("latin-1")
            sel = re.match(r"(SELECT|EXAMINE) \"?([^\"]*)\"?", cmd)
            if sel:
                selected = sel.group(2)
            b = re.match(r"UID FETCH ([0-9:,]+) \(UID BODY\.PEEK\[\]", cmd)
            if b and selected == "Big":
                body_cmds += 1
                asked = expand(b.group(1))
                uids.extend(asked)
                if not outstanding:
                    stalls += 1
                outstanding.update(asked)
                max_ahead = max(max_ahead, len(outstanding))
    elif kind == b"S:":
        head = data.split(b"\r\n", 1)[0]
        m = re.match(rb"\* \d+ FETCH \(.*\bUID (\d+)", head)
        if m and b"BODY[" in head:
            outstanding.discard(int(m.group(1)))
print("body_cmds %d" % body_cmds)
print("uids %d" % len(uids))
print("distinct %d" % len(set(uids)))
print("all %d" % (set(uids) == set(range(1, n + 1))))
print("stalls %d" % stalls)
print("max_ahead %d" % max_ahead)
EOF
cat "$WORK/pipeline.out"
val() { sed -n "s/^$1 //p" "$WORK/pipeline.out"; }
check "every body asked for exactly once ($(val uids) asked, $(val distinct) distinct)" \
	[ "$(val uids):$(val distinct):$(val all)" = "$N:$N:1" ]
check "bodies in batches: $(val body_cmds) UID FETCH for $N messages (at most $((N / 32)))" \
	[ "$(val body_cmds)" -le $((N / 32)) ]
# two read windows (10,000 + 600): the first body of each may wait
check "pipelined: $(val stalls) body fetches sent with nothing in flight (at most 4)" \
	[ "$(val stalls)" -le 4 ]

# the same messages on both sides (bytes and flags)
"$MF" -f tab fetch "$LOC" "mailbox flags body.sha256" mailbox Big |
	tail -n +2 | norm_flags | sort > "$WORK/server.v"
"$MF" -f tab fetch "maildir:$WORK/md" "mailbox flags body.sha256" mailbox Big |
	tail -n +2 | norm_flags | sort > "$WORK/dest.v"
check "the Maildir holds the server's $(wc -l < "$WORK/server.v") messages" \
	cmp -s "$WORK/server.v" "$WORK/dest.v"
[ -n "${KEEP_RAW:-}" ] && cp "$WORK/big.raw" "$KEEP_RAW"
finish
