/* SPDX-License-Identifier: MIT */
/*
 * imapc-parser.h - IMAP4rev1 server response parser.
 *
 * The parser works on bytes already received: imapc_parse_response() looks
 * at the start of a buffer, and either finds one complete response (the
 * line plus every literal it announces), says it needs more bytes, or
 * rejects the input with a message that quotes the offending line
 * (truncated, control characters escaped). It never reads past len, so it
 * is safe to feed it arbitrary bytes (see tests/imapc/fuzz-imap-parser.c).
 *
 * Structure is checked strictly (balanced parentheses, well-formed quoted
 * strings and literals, no NUL or bare CR outside literals); content is
 * tolerated (atoms may hold any printable byte but the delimiters, 8-bit
 * bytes are accepted for UTF8=ACCEPT servers).
 *
 * Parsed values live in the response (struct imapc_response) and stay valid
 * until imapc_response_free().
 */
#ifndef IMAPC_PARSER_H
#define IMAPC_PARSER_H

#include "mf-common.h"

enum imapc_arg_type {
	IMAPC_ARG_ATOM = 0, /* includes numbers, flags, BODY[...]<n> */
	IMAPC_ARG_STRING,   /* a quoted string, unescaped */
	IMAPC_ARG_LITERAL,  /* {n} or ~{n} literal (may hold NUL bytes) */
	IMAPC_ARG_NIL,
	IMAPC_ARG_LIST,
};

struct imapc_arg {
	enum imapc_arg_type type;
	/* ATOM/STRING/LITERAL: the bytes, NUL-terminated, len without the
	 * NUL. NIL: "" and 0. LIST: NULL. */
	const char *str;
	size_t len;
	/* LIST only: the elements. */
	struct imapc_arg *list;
	size_t count;
	/* LITERAL only: sent as literal8 (~{n}). */
	bool literal8;
};

enum imapc_resp_kind {
	IMAPC_RESP_UNTAGGED = 0, /* "* ..." */
	IMAPC_RESP_TAGGED,       /* "<tag> OK|NO|BAD ..." */
	IMAPC_RESP_CONTINUE,     /* "+ ..." */
};

enum imapc_status {
	IMAPC_STATUS_NONE = 0, /* untagged data (FETCH, LIST, EXISTS...) */
	IMAPC_STATUS_OK,
	IMAPC_STATUS_NO,
	IMAPC_STATUS_BAD,
	IMAPC_STATUS_BYE,
	IMAPC_STATUS_PREAUTH,
};

struct imapc_response {
	enum imapc_resp_kind kind;
	char *tag;                /* "*", "+" or the command's tag */
	enum imapc_status status; /* for status responses */
	/* Response code "[CODE args]" of a status response, or NULL. The
	 * code word is upper-cased. */
	char *code;
	struct imapc_arg *code_args;
	size_t code_count;
	/* Human-readable text of a status or continuation response. */
	char *text;
	/* Untagged data: all tokens after "*", e.g. {"12", "FETCH", (...)}
	 * or {"LIST", (...), "/", "INBOX"}. For status responses empty. */
	struct imapc_arg *args;
	size_t count;
	/* Raw bytes of the whole response (for the raw log). */
	size_t raw_len;

	/* internal: the response's memory: small items are carved from
	 * arena blocks, big ones (literals) allocated on their own so they
	 * can be taken over (imapc_response_steal) */
	void **allocs_;
	size_t allocs_count_, allocs_cap_;
	void **blocks_;
	size_t blocks_count_, blocks_cap_;
	char *arena_;
	size_t arena_left_;
};

/* Default cap on one literal: bigger announcements are refused as
 * malformed (the driver fetches bodies in chunks well below this). */
#define IMAPC_PARSER_MAX_LITERAL (256u * 1024u * 1024u)

/* Parse one response from data[0..len). Returns 1 with *resp_r filled and
 * *consumed_r set to its byte count; 0 when the response is incomplete
 * (read more and call again with the whole buffer); -1 with *error_r
 * (allocated) on malformed input. max_literal limits literal sizes (0 =
 * IMAPC_PARSER_MAX_LITERAL). */
int imapc_parse_response(const char *data, size_t len, size_t max_literal,
                         struct imapc_response **resp_r, size_t *consumed_r,
                         char **error_r);
/* The same, and when it returns 0, *need_r is the smallest buffer length
 * worth trying again with (a literal being received). */
int imapc_parse_response_need(const char *data, size_t len, size_t max_literal,
                              struct imapc_response **resp_r,
                              size_t *consumed_r, size_t *need_r,
                              char **error_r);
void imapc_response_free(struct imapc_response **resp);
/* Take the bytes of a string or literal arg of resp: the caller owns them
 * (free(); arg->len bytes and a NUL) and the response no longer frees
 * them, so a message body changes hands without being copied. NULL for
 * NIL or a list. The arg must not be used afterwards. */
char *imapc_response_steal(struct imapc_response *resp,
                           const struct imapc_arg *arg);

/* Helpers for consumers. */
/* True for an ATOM/STRING/LITERAL arg (astring or nstring content). */
bool imapc_arg_is_string(const struct imapc_arg *arg);
/* The string of an atom/string/literal arg, NULL for NIL or a list. */
const char *imapc_arg_str(const struct imapc_arg *arg);
/* Case-insensitive comparison of an atom with word. */
bool imapc_arg_atom_eq(const struct imapc_arg *arg, const char *word);
/* Parse an atom as a number (up to 64 bits). Returns 0 or -1. */
int imapc_arg_uint64(const struct imapc_arg *arg, uint64_t *num_r);
int imapc_arg_uint32(const struct imapc_arg *arg, uint32_t *num_r);

/* Append a printable excerpt of data (at most max bytes, control bytes
 * escaped, "..." when cut) to out, for error messages. */
struct mf_buf;
void imapc_quote_excerpt(struct mf_buf *out, const char *data, size_t len,
                         size_t max);

/* Copy src[*pos_r..end) to out (room for size bytes) turning CRLF into LF;
 * a lone CR is kept. A CR that is the last byte of src is copied only when
 * eof (else it waits for the next byte: *pos_r stops at it). Advances
 * *pos_r over what was consumed and returns the bytes written to out. */
size_t imapc_crlf_to_lf(const char *src, size_t *pos_r, size_t end, char *out,
                        size_t size, bool eof);

#endif
