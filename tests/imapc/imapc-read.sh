#!/bin/bash
# SPDX-License-Identifier: MIT
# imapc as a source, against a real Dovecot imapd: mailbox list, status and
# every message (flags, keywords, GUID, bytes) read through the mailferry
# CLI must equal what Dovecot itself reports and stores; a 100 MB message
# streams in bounded memory; a connection cut in the middle of a body is
# resumed with the same bytes.
. "$(dirname "$0")/common.sh"

imapd_start || exit 1
LOC=imap://test@127.0.0.1:$IMAPD_PORT/

# --- populate with real mail (Dovecot writes its own store)
save_dir() {
	local box=$1 dir=$2 max=$3 n=0
	imapd_doveadm mailbox create -u test "$box" 2>/dev/null
	for f in $(find "$dir" -type f | sort); do
		imapd_doveadm save -u test -m "$box" < "$f" || return 1
		n=$((n + 1))
		[ $n -lt $max ] || break
	done
	return 0
}
save_dir INBOX "$CORPUS/default/cur" 20 || fail "doveadm save"
save_dir "Lists/dev" "$CORPUS/lkml" 12 || fail "doveadm save"
save_dir "Entwürfe" "$CORPUS/html" 5 || fail "doveadm save"
save_dir "Sent" "$CORPUS/attachment" 3 || fail "doveadm save"
imapd_doveadm mailbox create -u test "Empty" "A & B/C"
imapd_doveadm flags add -u test '\Seen $Label1 NonJunk' mailbox INBOX uid 1:5
imapd_doveadm flags add -u test '\Flagged \Answered' mailbox INBOX uid 3:7
imapd_doveadm flags add -u test '\Draft' mailbox 'Entwürfe' uid 1

# --- mailbox list
"$MF" mailbox list "$LOC" | sort > "$WORK/list.mf" || fail "mailferry mailbox list"
imapd_doveadm mailbox list -u test | sort > "$WORK/list.dc"
check "mailbox list equals doveadm's" cmp -s "$WORK/list.mf" "$WORK/list.dc"

# --- special-use attributes reach the ABI (the server marks Sent \Sent)
"$TOOL" list "$LOC" > "$WORK/list.tool"
check "Sent carries MAILFERRY_SPECIAL_SENT" grep -qx "Sent flags=0 special=32" "$WORK/list.tool"
check "Lists is a directory with children" grep -qx "Lists flags=5 special=0" "$WORK/list.tool"

# --- mailbox status (GUIDs come from Dovecot's STATUS X-GUID)
FIELDS="messages uidnext uidvalidity guid"
"$MF" -f tab mailbox status "$LOC" "$FIELDS" | sort > "$WORK/status.mf"
imapd_doveadm -f tab mailbox status -u test "$FIELDS" '*' | sort > "$WORK/status.dc"
check "mailbox status equals doveadm's" cmp -s "$WORK/status.mf" "$WORK/status.dc"

# --- every message: uid, GUID, flags, keywords and the exact bytes. The
# bytes are compared with the file Dovecot stored (its maildir file name
# is the GUID); \Recent depends on the session and is left out.
"$MF" -f tab fetch "$LOC" "mailbox uid guid flags body.sha256" |
	tail -n +2 | norm_flags | sort > "$WORK/fetch.mf"
imapd_doveadm -f tab fetch -u test "mailbox uid guid flags" all | tail -n +2 |
	norm_flags | sort |
	while IFS=$'\t' read -r box uid guid flags; do
		f=$(find "$IMAPD_ROOT/mail/test" -name "$guid*" -type f | head -1)
		sum=$(sha256sum < "$f" | cut -d' ' -f1)
		printf '%s\t%s\t%s\t%s\t%s\n' "$box" "$uid" "$guid" "$flags" "$sum"
	done | sort > "$WORK/fetch.dc"
n=$(wc -l < "$WORK/fetch.dc")
[ "$n" -ge 30 ] || fail "only $n messages stored"
check "all $n messages (uid, guid, flags, keywords, bytes) equal Dovecot's" \
	cmp -s "$WORK/fetch.mf" "$WORK/fetch.dc"
[ "$FAILED" = 0 ] || diff "$WORK/fetch.mf" "$WORK/fetch.dc" | head -10

# --- the same through STARTTLS with the test CA
"$MF" -o imapc_ssl=starttls -o imapc_ssl_ca_file="$IMAPD_CA" -f tab fetch \
	"imap://test@localhost:$IMAPD_PORT/" "mailbox uid guid flags body.sha256" |
	tail -n +2 | norm_flags | sort > "$WORK/fetch.tls"
check "fetch over STARTTLS gives the same" cmp -s "$WORK/fetch.tls" "$WORK/fetch.dc"

# --- imapc_list_prefix: only the mailboxes below it, names relative to it
"$MF" -o imapc_list_prefix=Lists/ mailbox list "$LOC" > "$WORK/prefix.mf" 2>&1
check "imapc_list_prefix=Lists/ lists only 'dev'" \
	bash -c "[ \"\$(sort '$WORK/prefix.mf' | tr '\n' ' ')\" = 'dev ' ]"
n=$("$MF" -o imapc_list_prefix=Lists/ -f tab fetch "$LOC" "uid" mailbox dev | tail -n +2 | wc -l)
check "and reads Lists/dev as 'dev' ($n messages)" [ "$n" = 12 ]

# --- imapc_rate_limit: 600 kB at 400 kB/s take over a second
imapd_doveadm mailbox create -u test Rate
(printf 'Subject: rate\n\n'; head -c 450000 /dev/zero | tr '\0' 'r' | fold -w 76) |
	imapd_doveadm save -u test -m Rate
start=$(date +%s%N)
"$TOOL" -o imapc_rate_limit=400k stream "$LOC" Rate 1 > /dev/null || fail "rate-limited read"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "imapc_rate_limit=400k: 460 kB took $ms ms (>= 1000)" [ "$ms" -ge 1000 ]

# --- header only: the bytes up to and including the blank line
guid=$(imapd_doveadm -f tab fetch -u test guid mailbox INBOX uid 2 | tail -1)
f=$(find "$IMAPD_ROOT/mail/test" -name "$guid*" -type f | head -1)
want=$(sed '/^$/q' "$f" | sha256sum | cut -d' ' -f1)
read -r size sum rss < <("$TOOL" stream "$LOC" INBOX 2 header)
check "header-only read gives exactly the header" [ "$sum" = "$want" ]

# --- a 100 MB message streams through 4 KB reads in bounded memory
imapd_doveadm mailbox create -u test Big
(printf 'Subject: big\nMessage-ID: <big@mailferry.test>\n\n'
 head -c 75000000 /dev/zero | tr '\0' 'x' | fold -w 76) > "$WORK/big.eml"
imapd_doveadm save -u test -m Big < "$WORK/big.eml" || fail "doveadm save big"
want="$(stat -c %s "$WORK/big.eml") $(sha256sum < "$WORK/big.eml" | cut -d' ' -f1)"
# (a small ASan quarantine, or freed chunks would count in an ASan build)
read -r size sum rss < <(ASAN_OPTIONS=${ASAN_OPTIONS:-}:quarantine_size_mb=4 \
	"$TOOL" stream "$LOC" Big 1)
check "100 MB message read back identical" [ "$size $sum" = "$want" ]
check "100 MB message read with peak RSS ${rss} KB < 64 MB" [ "${rss:-999999}" -lt 65536 ]

# --- the connection is cut 3 MB into the body: resumed, same bytes
proxy_start bytes 3000000
read -r size sum rss < <("$TOOL" -o imapc_connection_retry_interval=100 \
	stream "imap://test@127.0.0.1:$PROXY_PORT/" Big 1 2>"$WORK/cut.err")
proxy_stop
check "body resumed after a cut connection" [ "$size $sum" = "$want" ]
check "the cut was noticed and logged" grep -q "reconnecting" "$WORK/cut.err"

finish
