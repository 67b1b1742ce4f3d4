/* pemfile.h: PEM files of several blocks (a CA file holding the CAs of a rollover, a CRL file
 * holding one CRL per CA), read block by block so that an error names the line of the block
 * at fault. mbedTLS's own *_parse_file() reads a whole file and says neither which block nor
 * where ("X509 - The CRT/CRL/CSR format is invalid"), and a CA file in which one of two
 * certificates fails only returns a count. */
#ifndef REXEC_PEMFILE_H
#define REXEC_PEMFILE_H

#include <stddef.h>

#define PEMFILE_MAX (16u << 20) /* bytes: a CRL of a large fleet is a few MiB at most */

/* Called with the DER of one block; returns 0 or a (negative) mbedTLS error code. */
typedef int (*pemfile_parse_fn)(void *arg, const unsigned char *der, size_t len);

/* Reads PATH and hands PARSE (with ARG) the DER of each PEM block labelled LABEL ("X509 CRL",
 * "CERTIFICATE"), in order, passing over private keys (a certificate and its key in one file);
 * a file without any PEM block is handed over whole, as DER. Returns
 * the number of blocks (> 0), or a negative code with a message in ERR (ERRLEN bytes):
 * -errno when the file cannot be read ("PATH: why"), -EFBIG over PEMFILE_MAX, REXEC_EPKI for a
 * block of another label, one that is not valid PEM or that PARSE refuses ("PATH:LINE: ...",
 * LINE the block's BEGIN line), or for a file with no LABEL block in it. */
int pemfile_each(const char *path, const char *label, pemfile_parse_fn parse, void *arg, char *err,
		 size_t errlen);

#endif
