#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install what building and testing mailferry needs on Debian 12, as root.
# Idempotent: packages already installed are not fetched again.
set -eu

pkgs=(autoconf automake libtool libltdl-dev libssl-dev libzstd-dev zlib1g-dev
      check pkg-config make gcc clang openssl util-linux procps zstd time python3
      dovecot-core dovecot-imapd)

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root, or: apt-get install ${missing[*]}" >&2
	exit 1
fi

# Installing dovecot-core would start a system-wide Dovecot listening on the
# IMAP ports; the tests start their own on loopback, so keep the packaged
# service from starting while we install.
policy=/usr/sbin/policy-rc.d
made_policy=no
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy"
	chmod 755 "$policy"
	made_policy=yes
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
[ "$made_policy" = yes ] && rm -f "$policy"
exit 0
