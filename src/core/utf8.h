/*
 * utf8.h — file names as UTF-8 text: the HDF5 file's strings are UTF-8 (DESIGN.md),
 * and a name need not be (Latin-1 bytes from an old archive, say). A byte that is not
 * part of a valid UTF-8 sequence is written as the four characters \xNN, as Python's
 * errors="backslashreplace" writes it, so the text names the bytes and h5py's
 * asstr(), xarray and every other UTF-8 reader read the file.
 */
#ifndef R50_UTF8_H
#define R50_UTF8_H

#include <stddef.h>

/* Bytes of s escaped (without the NUL): strlen(s) exactly when s is valid UTF-8 (no
 * overlong forms, surrogates or code points past U+10FFFF). */
size_t r50_utf8_escaped_len(const char *s);

/* s escaped into dst, which holds r50_utf8_escaped_len(s) + 1 bytes. */
void r50_utf8_escape(const char *s, char *dst);

/* Whether s is valid UTF-8 (needs no escape). */
int r50_utf8_valid(const char *s);

/* A malloc'd escaped copy of s (NULL: out of memory). */
char *r50_utf8_escaped_dup(const char *s);

/* s as one field of a line of tab-separated text, cut to fit cap bytes with its NUL:
 * backslash, tab, newline and carriage return written \\, \t, \n and \r, so a
 * file name cannot break a line or a field (predict's output, the log). */
void r50_escape_field(const char *s, char *out, size_t cap);

#endif
