#!/bin/bash
# SPDX-License-Identifier: MIT
# imapc under faults: APPEND replies lost with the connection (the messages
# the server stored are found and not appended twice, the others are
# appended again), the server stopped in the middle of a run (a clean
# failure, no partial duplicate; after a restart a re-run completes and
# every message is there once), a server sending garbage (a clear error
# quoting the line, no crash), bad settings (named), TLS refusals.
. "$(dirname "$0")/common.sh"

imapd_start || exit 1
H=127.0.0.1:$IMAPD_PORT
FAST="-o imapc_connection_retry_interval=100"

for i in $(seq 1 30); do
	printf 'Subject: msg %s\nMessage-ID: <m%s@fault.test>\n\nbody %s\n' $i $i $i \
		> "$WORK/m$i.eml"
done
msgids() {
	imapd_doveadm -f tab fetch -u test hdr.message-id mailbox "$1" all | tail -n +2
}

# --- replies of APPENDs lost: the proxy cuts the connection after the
# Nth APPEND command, swallowing the server's replies
resume_test() {
	local what=$1 box=$2 n=$3
	shift 3
	imapd_doveadm mailbox create -u test "$box"
	proxy_start append "$n"
	"$TOOL" $FAST "$@" append "imap://test@127.0.0.1:$PROXY_PORT/" "$box" \
		$(for i in $(seq 1 30); do echo "$WORK/m$i.eml"; done) \
		> "$WORK/resume.out" 2> "$WORK/resume.err"
	rc=$?
	proxy_stop
	check "$what: append across a dropped connection succeeds" [ $rc = 0 ]
	check "$what: the drop was seen" grep -q "reconnecting" "$WORK/resume.err"
	check "$what: stored-but-unconfirmed messages were recognised" \
		grep -q "was stored (UID [0-9]*) before the connection dropped" "$WORK/resume.err"
	msgids "$box" | sort > "$WORK/resume.ids"
	check "$what: 30 messages, each exactly once" \
		bash -c "[ \$(wc -l < '$WORK/resume.ids') = 30 ] && [ -z \"\$(uniq -d '$WORK/resume.ids')\" ]"
	check "$what: commit reported 30 distinct non-zero UIDs" \
		bash -c "[ \$(grep -v '^0\$' '$WORK/resume.out' | sort -u | wc -l) = 30 ]"
}
resume_test "MULTIAPPEND" Resume 1
resume_test "single APPENDs" Resume2 5 -o imapc_features=no-multiappend

# --- the server goes away in the middle of a run
imapd_doveadm mailbox create -u test Stopped
(sleep 1; imapd_kill) &
killer=$!
IMAPC_TOOL_SAVE_DELAY_MS=100 "$TOOL" -o imapc_connection_retry_count=2 $FAST \
	append "imap://test@$H/" Stopped \
	$(for i in $(seq 1 30); do echo "$WORK/m$i.eml"; done) \
	> /dev/null 2> "$WORK/stopped.err"
rc=$?
wait $killer
check "a run against a stopped server fails cleanly (exit 1, no crash)" [ $rc = 1 ]
check "with an error naming the server" grep -q "127.0.0.1:$IMAPD_PORT" "$WORK/stopped.err"
imapd_start || exit 1
H=127.0.0.1:$IMAPD_PORT
msgids Stopped | sort > "$WORK/stopped.ids"
check "what got stored before the stop is there once" \
	bash -c "[ -z \"\$(uniq -d '$WORK/stopped.ids')\" ]"
# re-run: append only what is missing (the engine's job; done here by
# Message-ID) and check the whole set is there exactly once
missing=$(for i in $(seq 1 30); do
	grep -qx "<m$i@fault.test>" "$WORK/stopped.ids" || echo "$WORK/m$i.eml"
done)
if [ -n "$missing" ]; then
	"$TOOL" append "imap://test@$H/" Stopped $missing > /dev/null ||
		fail "re-run append"
fi
msgids Stopped | sort > "$WORK/stopped2.ids"
check "after the re-run: 30 messages, each once" \
	bash -c "[ \$(wc -l < '$WORK/stopped2.ids') = 30 ] && [ -z \"\$(uniq -d '$WORK/stopped2.ids')\" ]"

# --- a message that is not there (expunged meanwhile): EXPUNGED, named
"$TOOL" stream "imap://test@$H/" Stopped 9999 > /dev/null 2> "$WORK/gone.err"
check "reading an expunged message fails with EXPUNGED naming its UID" \
	grep -q "(expunged): .*message UID 9999 was expunged" "$WORK/gone.err"
[ "$FAILED" = 0 ] || cat "$WORK/gone.err"

# --- a server that sends garbage
cat > "$WORK/garbage.sh" <<'EOS'
#!/bin/sh
printf '* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+] fake server ready\r\n'
read -r line
tag=${line%% *}
printf '* LIST (\\Noselect) "/" ""\r\n%s OK done\r\n' "$tag"
read -r line
tag=${line%% *}
printf '* LIST (\\HasNoChildren "/" INBOX\r\n%s OK done\r\n' "$tag"
sleep 1
EOS
chmod +x "$WORK/garbage.sh"
"$MF" -o imapc_command="$WORK/garbage.sh" mailbox list imapc: > /dev/null 2> "$WORK/garbage.err"
rc=$?
check "garbage from the server: a failure, not a crash (rc $rc)" [ $rc -ne 0 ] && [ $rc -lt 128 ]
check "the error says malformed and quotes the line" \
	grep -q "malformed IMAP response: .*'\\* LIST (\\\\HasNoChildren \"/\" INBOX'" "$WORK/garbage.err"
[ "$FAILED" = 0 ] || cat "$WORK/garbage.err"

printf '#!/bin/sh\nprintf "HTTP/1.1 400 Bad Request\\r\\n\\r\\n"\n' > "$WORK/http.sh"
chmod +x "$WORK/http.sh"
"$MF" -o imapc_command="$WORK/http.sh" mailbox list imapc: > /dev/null 2> "$WORK/http.err"
check "a non-IMAP greeting is refused clearly" grep -q "HTTP/1.1 400" "$WORK/http.err"

# --- bad settings are named
"$MF" -o imapc_host=127.0.0.1 -o imapc_ssl=maybe mailbox list imapc: 2> "$WORK/set.err" > /dev/null
check "bad imapc_ssl is named" grep -q "imapc_ssl: 'maybe'" "$WORK/set.err"
"$MF" -o imapc_cmd_timeout=soon mailbox list "imap://test@$H/" 2> "$WORK/set.err" > /dev/null
check "bad imapc_cmd_timeout is named" grep -q "imapc_cmd_timeout: 'soon'" "$WORK/set.err"

# --- a server that stops answering: the command timeout fires
printf '#!/bin/sh\nprintf "* PREAUTH [CAPABILITY IMAP4rev1] ok\\r\\n"\nsleep 30\n' > "$WORK/mute.sh"
chmod +x "$WORK/mute.sh"
start=$(date +%s)
"$MF" -o imapc_command="$WORK/mute.sh" -o imapc_cmd_timeout=2 mailbox list imapc: \
	> /dev/null 2> "$WORK/mute.err"
took=$(( $(date +%s) - start ))
check "a mute server times out after imapc_cmd_timeout ($took s)" \
	bash -c "[ $took -le 6 ] && grep -q 'did not answer for 2 seconds' '$WORK/mute.err'"

finish
