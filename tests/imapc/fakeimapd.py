#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""fakeimapd.py - a small scripted IMAP server on stdin/stdout, for the
imapc tests of what the real Dovecot 2.3 does not offer (UTF8=ACCEPT,
CREATE-SPECIAL-USE) and of how the client falls back without them.

    fakeimapd.py STATE.json LOG

It is run by the driver through imapc_command (a PREAUTH session). The
store lives in STATE.json (read at start, written after every change):

    {"caps": "IMAP4rev1 ENABLE UTF8=ACCEPT ...",
     "namespace": ["", "/"],
     "uidvalidity": 1234,
     "mailboxes": {"INBOX": {"uidnext": 1, "special": [], "msgs": [],
                             "subscribed": true}, ...}}

A message is {"uid": 1, "flags": ["\\\\Seen"], "date": "01-Jan-2020
00:00:00 +0000", "body": "...CRLF text..."}. Mailbox names in the state
are UTF-8; on the wire they are modified UTF-7 unless the client enabled
UTF8=ACCEPT, and a name that is not in the form the session uses is
taken literally (so a client sending the wrong form is seen in the
state). Every command line received is appended to LOG. Only what the
imapc driver sends is implemented.
"""
import base64
import json
import re
import sys

STATE_PATH, LOG_PATH = sys.argv[1], sys.argv[2]
state = json.load(open(STATE_PATH, encoding="utf-8"))
caps = state.get("caps", "IMAP4rev1").split()
utf8 = False
selected = None
inp = sys.stdin.buffer
out = sys.stdout.buffer
log = open(LOG_PATH, "ab")


def save_state():
    with open(STATE_PATH, "w", encoding="utf-8") as f:
        json.dump(state, f, ensure_ascii=False, indent=1)


def send(line):
    if isinstance(line, str):
        line = line.encode("utf-8")
    out.write(line + b"\r\n")
    out.flush()


# ---- modified UTF-7 (RFC 3501 5.1.3)

def mutf7_encode(s):
    res, buf = [], []

    def flush():
        if buf:
            b = "".join(buf).encode("utf-16-be")
            res.append("&" + base64.b64encode(b).decode().rstrip("=")
                       .replace("/", ",") + "-")
            buf.clear()
    for ch in s:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            res.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(res)


def mutf7_decode(s):
    def dec(m):
        if m.group(1) == "":
            return "&"
        b = m.group(1).replace(",", "/")
        b += "=" * (-len(b) % 4)
        return base64.b64decode(b).decode("utf-16-be")
    return re.sub(r"&([A-Za-z0-9+,]*)-", dec, s)


def wire_name(name):
    return name if utf8 else mutf7_encode(name)


def local_name(wire):
    if isinstance(wire, bytes):
        wire = wire.decode("utf-8", "surrogateescape")
    if utf8:
        return wire
    try:
        return mutf7_decode(wire)
    except Exception:
        return wire


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---- reading commands: a line, with literals spliced in

def read_command():
    """Returns (tokens, raw) or None at EOF. Literals become bytes."""
    raw = b""
    while True:
        line = inp.readline()
        if not line:
            return None
        raw += line
        m = re.search(rb"~?\{(\d+)(\+?)\}\r?\n$", line)
        if not m:
            break
        if m.group(2) != b"+":
            send("+ go ahead")
        raw += inp.read(int(m.group(1)))
    log.write(raw.split(b"\n")[0] + b"\n")
    log.flush()
    return tokenize(raw), raw


def tokenize(raw):
    toks, i, stack = [], 0, []
    cur = toks
    while i < len(raw):
        c = raw[i:i + 1]
        if c in (b" ", b"\r", b"\n"):
            i += 1
        elif c == b"(":
            new = []
            cur.append(new)
            stack.append(cur)
            cur = new
            i += 1
        elif c == b")":
            cur = stack.pop()
            i += 1
        elif c == b'"':
            j, s = i + 1, b""
            while raw[j:j + 1] != b'"':
                if raw[j:j + 1] == b"\\":
                    j += 1
                s += raw[j:j + 1]
                j += 1
            cur.append(s.decode("utf-8", "surrogateescape"))
            i = j + 1
        elif c in (b"{", b"~"):
            m = re.match(rb"~?\{(\d+)\+?\}\r?\n", raw[i:])
            n = int(m.group(1))
            start = i + m.end()
            cur.append(raw[start:start + n])
            i = start + n
        else:
            m = re.match(rb"[^ ()\r\n]+(\[[^\]]*\][^ ()\r\n]*)?", raw[i:])
            cur.append(m.group(0).decode("utf-8", "surrogateescape"))
            i += m.end()
    return toks


def uid_set(spec, uids):
    """UIDs of uids (sorted) in the set spec (with '*')."""
    top = uids[-1] if uids else 0
    want = set()
    for part in spec.split(","):
        a, _, b = part.partition(":")
        a = top if a == "*" else int(a)
        b = a if b == "" else (top if b == "*" else int(b))
        lo, hi = min(a, b), max(a, b)
        want.update(u for u in uids if lo <= u <= hi)
    return sorted(want)


def box_or_none(name):
    if name.upper() == "INBOX":
        name = "INBOX"
    return state["mailboxes"].get(name)


# ---- commands

def cmd_list(tag, args, lsub):
    pattern = local_name(args[1])
    rx = "^" + re.escape(pattern).replace(r"\*", ".*").replace(
        "%", "[^/]*") + "$"
    sep = state.get("namespace", ["", "/"])[1]
    if pattern == "" and not lsub:
        send('* LIST (\\Noselect) %s ""' % quote(sep))
        send(tag + " OK done")
        return
    names = sorted(state["mailboxes"])
    for name in names:
        mb = state["mailboxes"][name]
        if not re.match(rx, name, re.I if name == "INBOX" else 0):
            continue
        if lsub and not mb.get("subscribed"):
            continue
        attrs = []
        kids = any(n.startswith(name + sep) for n in names)
        attrs.append("\\HasChildren" if kids else "\\HasNoChildren")
        if "SPECIAL-USE" in caps:
            attrs += mb.get("special", [])
        send("* %s (%s) %s %s" % ("LSUB" if lsub else "LIST",
                                  " ".join(attrs), quote(sep),
                                  quote(wire_name(name))))
    send(tag + " OK done")


def fetch_items(mb, seq, msg, items):
    parts = ["UID %d" % msg["uid"]]
    body = msg["body"].encode("utf-8", "surrogateescape")
    for it in items:
        u = it.upper()
        if u == "FLAGS":
            parts.append("FLAGS (%s)" % " ".join(msg["flags"]))
        elif u == "RFC822.SIZE":
            parts.append("RFC822.SIZE %d" % len(body))
        elif u == "INTERNALDATE":
            parts.append('INTERNALDATE "%s"' % msg["date"])
        elif u.startswith("BODY.PEEK[") or u.startswith("BODY["):
            sect = u[u.index("[") + 1:u.index("]")]
            data = body
            if sect == "HEADER":
                k = data.find(b"\r\n\r\n")
                data = data if k < 0 else data[:k + 4]
            m = re.search(r"<(\d+)\.(\d+)>$", u)
            origin = ""
            if m:
                off, ln = int(m.group(1)), int(m.group(2))
                data = data[off:off + ln]
                origin = "<%d>" % off
            parts.append(b"BODY[%s]%s {%d}\r\n" % (
                sect.encode(), origin.encode(), len(data)) + data)
    head = ("* %d FETCH (" % seq).encode()
    enc = [p if isinstance(p, bytes) else p.encode() for p in parts]
    out.write(head + b" ".join(enc) + b")\r\n")


def handle(toks):
    global utf8, selected, caps
    tag = toks[0]
    cmd = toks[1].upper() if len(toks) > 1 else ""
    args = toks[2:]
    if cmd == "UID":
        cmd = "UID " + args[0].upper()
        args = args[1:]
    if cmd == "CAPABILITY":
        send("* CAPABILITY " + " ".join(caps))
        send(tag + " OK done")
    elif cmd in ("NOOP", "CHECK"):
        send(tag + " OK done")
    elif cmd == "LOGOUT":
        send("* BYE bye")
        send(tag + " OK done")
        sys.exit(0)
    elif cmd == "ID":
        send('* ID ("name" "fakeimapd")')
        send(tag + " OK done")
    elif cmd == "ENABLE":
        got = [a for a in args if a.upper() in
               (c.upper() for c in caps) and a.upper() == "UTF8=ACCEPT"]
        if got:
            utf8 = True
        send("* ENABLED" + "".join(" " + g for g in got))
        send(tag + " OK done")
    elif cmd == "NAMESPACE":
        p, s = state.get("namespace", ["", "/"])
        send("* NAMESPACE ((%s %s)) NIL NIL" % (quote(wire_name(p)),
                                                quote(s)))
        send(tag + " OK done")
    elif cmd in ("LIST", "LSUB"):
        cmd_list(tag, args, cmd == "LSUB")
    elif cmd == "STATUS":
        name = local_name(args[0])
        mb = box_or_none(name)
        if mb is None:
            send(tag + " NO [NONEXISTENT] no such mailbox")
            return
        send("* STATUS %s (MESSAGES %d UIDNEXT %d UIDVALIDITY %d)" % (
            quote(wire_name(name)), len(mb["msgs"]), mb["uidnext"],
            state["uidvalidity"]))
        send(tag + " OK done")
    elif cmd in ("SELECT", "EXAMINE"):
        name = local_name(args[0])
        mb = box_or_none(name)
        if mb is None:
            send(tag + " NO [NONEXISTENT] no such mailbox")
            return
        selected = "INBOX" if name.upper() == "INBOX" else name
        send("* %d EXISTS" % len(mb["msgs"]))
        send("* OK [UIDVALIDITY %d] ok" % state["uidvalidity"])
        send("* OK [UIDNEXT %d] ok" % mb["uidnext"])
        send("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)")
        send(tag + " OK [READ-WRITE] done")
    elif cmd == "UID FETCH":
        mb = state["mailboxes"][selected]
        uids = [m["uid"] for m in mb["msgs"]]
        items = args[1] if isinstance(args[1], list) else [args[1]]
        for u in uid_set(args[0], uids):
            seq = uids.index(u) + 1
            fetch_items(mb, seq, mb["msgs"][seq - 1], items)
        out.flush()
        send(tag + " OK done")
    elif cmd == "UID STORE":
        mb = state["mailboxes"][selected]
        uids = [m["uid"] for m in mb["msgs"]]
        mode, flags = args[1].upper(), args[2]
        for u in uid_set(args[0], uids):
            m = mb["msgs"][uids.index(u)]
            if mode.startswith("+"):
                m["flags"] = sorted(set(m["flags"]) | set(flags))
            elif mode.startswith("-"):
                m["flags"] = sorted(set(m["flags"]) - set(flags))
            else:
                m["flags"] = sorted(set(flags))
        save_state()
        send(tag + " OK done")
    elif cmd in ("UID EXPUNGE", "EXPUNGE"):
        mb = state["mailboxes"][selected]
        keep = []
        uids = [m["uid"] for m in mb["msgs"]]
        chosen = set(uid_set(args[0], uids)) if args else set(uids)
        for m in mb["msgs"]:
            if m["uid"] in chosen and "\\Deleted" in m["flags"]:
                send("* %d EXPUNGE" % (len(keep) + 1))
            else:
                keep.append(m)
        mb["msgs"] = keep
        save_state()
        send(tag + " OK done")
    elif cmd == "CREATE":
        name = local_name(args[0])
        if box_or_none(name) is not None:
            send(tag + " NO [ALREADYEXISTS] exists")
            return
        special = []
        if len(args) > 1 and isinstance(args[1], list):
            if "CREATE-SPECIAL-USE" not in caps:
                send(tag + " BAD no parameters here")
                return
            special = args[1][1]
            used = [s for mb in state["mailboxes"].values()
                    for s in mb.get("special", [])]
            if any(s in used for s in special):
                send(tag + " NO [USEATTR] already used")
                return
        state["mailboxes"][name] = {"uidnext": 1, "msgs": [],
                                    "special": special,
                                    "subscribed": False}
        save_state()
        send(tag + " OK done")
    elif cmd == "DELETE":
        name = local_name(args[0])
        if state["mailboxes"].pop(name, None) is None:
            send(tag + " NO [NONEXISTENT] no such mailbox")
            return
        save_state()
        send(tag + " OK done")
    elif cmd in ("SUBSCRIBE", "UNSUBSCRIBE"):
        mb = box_or_none(local_name(args[0]))
        if mb is not None:
            mb["subscribed"] = cmd == "SUBSCRIBE"
            save_state()
        send(tag + " OK done")
    elif cmd == "APPEND":
        name = local_name(args[0])
        mb = box_or_none(name)
        if mb is None:
            send(tag + " NO [TRYCREATE] no such mailbox")
            return
        rest, first = args[1:], None
        while rest:
            flags, date = [], "01-Jan-2020 00:00:00 +0000"
            if isinstance(rest[0], list):
                flags = rest.pop(0)
            if isinstance(rest[0], str):
                date = rest.pop(0)
            body = rest.pop(0)
            uid = mb["uidnext"]
            mb["uidnext"] += 1
            first = first or uid
            mb["msgs"].append({"uid": uid, "flags": flags, "date": date,
                               "body": body.decode("utf-8",
                                                   "surrogateescape")})
        save_state()
        code = ("[APPENDUID %d %d:%d] " % (state["uidvalidity"], first,
                                          mb["uidnext"] - 1)
                if "UIDPLUS" in caps else "")
        send(tag + " OK " + code + "done")
    else:
        send(tag + " BAD unknown command " + cmd)


def main():
    send("* PREAUTH [CAPABILITY %s] fakeimapd ready" % " ".join(caps))
    while True:
        got = read_command()
        if got is None:
            return
        toks, raw = got
        if len(toks) < 2:
            send("* BAD empty command")
            continue
        handle(toks)


main()
