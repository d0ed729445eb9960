#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Canonical, sortable views of a mail store for the interop QA tests.

  qa-norm.py dc-fetch   < doveadm -f json fetch 'mailbox uid guid flags
                          size.virtual date.received text' output
  qa-norm.py mf-fetch   < mailferry -f json fetch 'mailbox uid guid
                          flags body.sha256 size.virtual' output
  qa-norm.py status     < doveadm/mailferry mailbox status output

One line per message (or mailbox), fields tab-separated, lines sorted:
  dc-fetch: mailbox uid guid flags vsize received sha256(text as Dovecot
            returns it; invalid UTF-8 was already replaced by doveadm, so
            this is "what Dovecot reads", not the stored bytes)
  mf-fetch: mailbox uid guid flags vsize sha256(stored bytes)
Flags are sorted and \\Recent (a session flag) is dropped.
"""
import hashlib
import json
import sys


def flags(s):
    return " ".join(sorted(f for f in s.split() if f != "\\Recent"))


def load():
    data = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
    if not data.strip():
        return []
    return json.loads(data)


def main():
    mode = sys.argv[1]
    out = []
    if mode == "dc-fetch":
        for m in load():
            text = m.get("text", "").encode("utf-8", "surrogateescape")
            out.append("\t".join([m["mailbox"], m["uid"], m["guid"],
                                  flags(m["flags"]), m["size.virtual"],
                                  m["date.received"],
                                  hashlib.sha256(text).hexdigest()]))
    elif mode == "mf-fetch":
        for m in load():
            out.append("\t".join([m["mailbox"], m["uid"], m["guid"],
                                  flags(m["flags"]), m["size.virtual"],
                                  m["body.sha256"]]))
    elif mode == "status":
        for line in sys.stdin.buffer.read().decode("utf-8", "replace").splitlines():
            words = line.split(" ")
            # the name may contain spaces: fields are the trailing k=v words
            i = len(words)
            while i > 1 and "=" in words[i - 1]:
                i -= 1
            out.append(" ".join(words[:i]) + "\t" + " ".join(sorted(words[i:])))
    else:
        sys.exit("qa-norm.py: unknown mode " + mode)
    out.sort()
    sys.stdout.write("".join(line + "\n" for line in out))


if __name__ == "__main__":
    main()
