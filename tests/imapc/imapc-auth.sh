#!/bin/bash
# SPDX-License-Identifier: MIT
# Connections and logins against a real Dovecot: plain, STARTTLS and imaps
# verified against the test CA; a wrong host name and an untrusted CA are
# refused; verification switched off works with a loud warning; LOGIN,
# AUTHENTICATE PLAIN, master user, password from a file or the environment;
# OAUTHBEARER and XOAUTH2 (token from a file or a command) against a
# scripted server that checks the SASL message. Credentials never reach
# the raw log.
. "$(dirname "$0")/common.sh"

imapd_start || exit 1
P=$IMAPD_PORT
S=$IMAPD_SSL_PORT
RAW=$WORK/raw.log
CA="-o imapc_ssl_ca_file=$IMAPD_CA"

# list [-o K=V]... LOCATION
list() {
	local loc=${*: -1}
	"$MF" -o imapc_rawlog="$RAW" "${@:1:$#-1}" mailbox list "$loc" \
		2> "$WORK/err"
}
ok_list() {
	local what=$1
	shift
	if list "$@" | grep -qx INBOX; then pass "$what"; else
		fail "$what: $(cat "$WORK/err")"
	fi
}

ok_list "plain, AUTHENTICATE PLAIN" "imap://test@127.0.0.1:$P/"
check "PLAIN was used" grep -q "AUTHENTICATE PLAIN <hidden>" "$RAW"
ok_list "plain, LOGIN" -o imapc_sasl_mechanisms=login "imap://test@127.0.0.1:$P/"
check "LOGIN was used" grep -q 'LOGIN "test" <hidden>' "$RAW"
MAILFERRY_IMAPC_PASSWORD=mpass ok_list "master user login" \
	-o imapc_master_user=master "imap://test@127.0.0.1:$P/"
printf 'secret\n' > "$WORK/pw"
MAILFERRY_IMAPC_PASSWORD= ok_list "password from imapc_password_file" \
	-o imapc_password_file="$WORK/pw" "imap://test@127.0.0.1:$P/"
MAILFERRY_IMAPC_PASSWORD=wrong list "imap://test@127.0.0.1:$P/" > /dev/null
check "a wrong password is refused with the server's reason" \
	grep -q "login to 127.0.0.1 as 'test' with PLAIN failed: \[AUTHENTICATIONFAILED\]" "$WORK/err"
(unset MAILFERRY_IMAPC_PASSWORD; list "imap://test@127.0.0.1:$P/" > /dev/null)
check "no password: a clear error naming where to put it" \
	grep -q "no password or token.*imapc_password_file, MAILFERRY_IMAPC_PASSWORD" "$WORK/err"

: > "$RAW"
ok_list "STARTTLS verified against the CA" $CA -o imapc_ssl=starttls \
	"imap://test@localhost:$P/"
check "STARTTLS was used" bash -c "grep -q 'C: m[0-9]* STARTTLS' '$RAW' && grep -q 'TLS started' '$RAW'"
ok_list "imaps verified against the CA" $CA "imaps://test@localhost:$S/"
list $CA "imaps://test@127.0.0.1:$S/" > /dev/null
check "imaps: a host name not in the certificate is refused" \
	grep -q "certificate verification: IP address mismatch" "$WORK/err"
list $CA -o imapc_ssl=starttls "imap://test@127.0.0.1:$P/" > /dev/null
check "STARTTLS: a host name not in the certificate is refused" \
	grep -q "certificate verification: IP address mismatch" "$WORK/err"
list -o imapc_ssl_ca_file="$IMAPD_BAD_CA" "imaps://test@localhost:$S/" > /dev/null
check "imaps: a certificate from an untrusted CA is refused" \
	grep -q "certificate verification: unable to get local issuer certificate" "$WORK/err"
list "imaps://test@localhost:$S/" > /dev/null
check "imaps: the system CAs do not trust the test CA" \
	grep -q "certificate verification" "$WORK/err"
ok_list "imaps with imapc_ssl_verify = no still works" \
	-o imapc_ssl_verify=no "imaps://test@127.0.0.1:$S/"
check "... with a loud warning" grep -q "warning: .*NOT checked" "$WORK/err"

check "the raw log has no password" bash -c "! grep -a -q -e secret -e mpass -e 'c2VjcmV0' -e 'bXBhc3' '$RAW'"
check "the raw log recorded the traffic" grep -q "S: \* LIST" "$RAW"

# --- OAuth2 against a scripted server that checks the SASL message
cat > "$WORK/oauth.sh" <<'EOS'
#!/bin/bash
# expects: tag AUTHENTICATE MECH <base64 of the right message>
printf '* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER AUTH=XOAUTH2] fake\r\n'
read -r tag cmd mech b64
b64=${b64%$'\r'}
msg=$(printf '%s' "$b64" | base64 -d | tr '\001' '|')
case "$mech:$msg" in
"OAUTHBEARER:n,a=test,|host=fake.example|port=143|auth=Bearer TOKEN123||" | \
"XOAUTH2:user=test|auth=Bearer TOKEN123||")
	printf '%s OK [CAPABILITY IMAP4rev1] logged in\r\n' "$tag" ;;
*)
	printf '%s NO [AUTHENTICATIONFAILED] bad sasl %s\r\n' "$tag" "$mech" ;;
esac
while read -r tag rest; do
	case "$rest" in
	LIST*'"*"'*) printf '* LIST () "/" INBOX\r\n' ;;
	LIST*) printf '* LIST (\\Noselect) "/" ""\r\n' ;;
	esac
	printf '%s OK done\r\n' "$tag"
	case "$rest" in LOGOUT*) exit 0 ;; esac
done
EOS
chmod +x "$WORK/oauth.sh"
printf 'TOKEN123\n' > "$WORK/token"
OA="-o imapc_command=$WORK/oauth.sh -o imapc_host=fake.example -o imapc_user=test"
(unset MAILFERRY_IMAPC_PASSWORD
 ok_list "OAUTHBEARER with a token file" $OA -o imapc_oauth2_token_file="$WORK/token" imapc:
 ok_list "XOAUTH2 with a token command" $OA -o imapc_sasl_mechanisms=xoauth2 \
	-o "imapc_oauth2_token_command=cat $WORK/token" imapc:
 list $OA -o imapc_oauth2_token_command=false imapc: > /dev/null
 check "a failing token command is named" grep -q "imapc_oauth2_token_command 'false' failed" "$WORK/err"
 exit $FAILED) || FAILED=1
check "the raw log has no token" bash -c "! grep -a -q -e TOKEN123 -e VE9LRU4xMjM '$RAW'"

finish
