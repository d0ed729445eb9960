#!/bin/bash
# SPDX-License-Identifier: MIT
# A server with OBJECTID (RFC 8474) and without X-GUID or CONDSTORE, played
# by a script: message GUIDs come from EMAILID, the mailbox GUID is derived
# from MAILBOXID (stable, the same for the same id), the storage reports
# message GUIDs but no modseqs, and bodies come through unchanged (CRLF to
# LF). Dovecot 2.3 has no OBJECTID, hence the script.
set -u
: "${MF_TOP_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${MF_TOP_BUILDDIR:=$MF_TOP_SRCDIR}"
MF=$MF_TOP_BUILDDIR/core/cli/mailferry
TOOL=$MF_TOP_BUILDDIR/tests/imapc/imapc-tool
: "${MAILFERRY_DRIVER_PATH:=$MF_TOP_BUILDDIR/plugins/imapc/.libs}"
export MAILFERRY_DRIVER_PATH MAILFERRY_SKIP_DEFAULT_DIR=1
WORK=$(mktemp -d /tmp/mf-imapc-oid.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
FAILED=0
check() {
	local name=$1
	shift
	if "$@" >/dev/null; then echo "ok: $name"; else echo "FAIL: $name"; FAILED=1; fi
}

cat > "$WORK/server.sh" <<'EOS'
#!/bin/bash
box=${1:-F2212ea87-6097}
printf '* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS OBJECTID ENABLE] fake\r\n'
while IFS= read -r line; do
	line=${line%$'\r'}
	tag=${line%% *}
	rest=${line#* }
	case "$rest" in
	'LIST "" ""') printf '* LIST (\\Noselect) "/" ""\r\n' ;;
	LIST*) printf '* LIST () "/" INBOX\r\n' ;;
	EXAMINE*|SELECT*)
		printf '* 2 EXISTS\r\n* OK [UIDVALIDITY 42] x\r\n* OK [UIDNEXT 8] x\r\n'
		printf '* OK [MAILBOXID (%s)] x\r\n' "$box" ;;
	STATUS*)
		printf '* STATUS INBOX (MESSAGES 2 UIDNEXT 8 UIDVALIDITY 42 MAILBOXID (%s))\r\n' "$box" ;;
	'UID FETCH 1:* '*)
		printf '* 1 FETCH (UID 5 FLAGS (\\Seen) RFC822.SIZE 19 EMAILID (Mabc123) INTERNALDATE "01-Jan-2024 10:00:00 +0100")\r\n'
		printf '* 2 FETCH (UID 7 FLAGS () RFC822.SIZE 19 EMAILID (Mdef456) INTERNALDATE "02-Jan-2024 10:00:00 +0000")\r\n' ;;
	'UID FETCH 5 '*) printf '* 1 FETCH (UID 5 BODY[]<0> {19}\r\nSubject: a\r\n\r\none\r\n)\r\n' ;;
	'UID FETCH 7 '*) printf '* 2 FETCH (UID 7 BODY[]<0> {19}\r\nSubject: b\r\n\r\ntwo\r\n)\r\n' ;;
	LOGOUT) printf '* BYE bye\r\n%s OK bye\r\n' "$tag"; exit 0 ;;
	esac
	printf '%s OK done\r\n' "$tag"
done
EOS
chmod +x "$WORK/server.sh"
S="-o imapc_command=$WORK/server.sh"

"$TOOL" $S info imapc: > "$WORK/info"
check "OBJECTID: message GUIDs, no modseqs" \
	bash -c "grep -q msg-guids '$WORK/info' && ! grep -q modseq '$WORK/info'"
"$MF" $S -f tab fetch imapc: "uid guid flags date.received.unixtime body.sha256" \
	> "$WORK/fetch"
want=$(printf 'uid\tguid\tflags\tdate.received.unixtime\tbody.sha256\n5\tMabc123\t\\Seen\t1704099600\t%s\n7\tMdef456\t\t1704189600\t%s' \
	"$(printf 'Subject: a\n\none\n' | sha256sum | cut -d' ' -f1)" \
	"$(printf 'Subject: b\n\ntwo\n' | sha256sum | cut -d' ' -f1)")
check "GUIDs from EMAILID, dates with zones, bodies in LF" [ "$(cat "$WORK/fetch")" = "$want" ]
[ "$FAILED" = 0 ] || diff <(echo "$want") "$WORK/fetch"
g1=$("$MF" $S -f tab mailbox status imapc: guid | tail -1)
g2=$("$MF" $S -f tab mailbox status imapc: guid | tail -1)
g3=$("$MF" -o "imapc_command=$WORK/server.sh Fother" -f tab mailbox status imapc: guid | tail -1)
check "mailbox GUID from MAILBOXID: set ($g1)" bash -c "[[ '$g1' =~ [0-9a-f]{32} ]] && [ '$g1' != 'INBOX	00000000000000000000000000000000' ]"
check "... stable across runs" [ "$g1" = "$g2" ]
check "... different for another MAILBOXID" [ "$g1" != "$g3" ]
exit $FAILED
