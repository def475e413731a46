/* rxfix: rewrites a regular expression around a PCRE2 JIT bug before it is
 * compiled.
 *
 * PCRE2 10.42 (Debian 12) JIT-compiles the negated ASCII escapes \D, \S and
 * \W wrongly when a pattern is compiled with PCRE2_UTF and
 * PCRE2_MATCH_INVALID_UTF but without PCRE2_UCP: outside a character class
 * they fail on any multi-byte character, where the interpreter (and every
 * browser's RegExp) matches it.  So /^advertisement\W*scroll to continue$/iu
 * missed "Advertisement · Scroll to continue".  The same escapes inside a
 * class ([\W]) are compiled right, and mean exactly the same, so the
 * rewrite wraps each one that stands alone in brackets.  Nothing else in the
 * pattern changes: character classes (with POSIX [:name:] and a leading ]),
 * \Q...\E quoting and (?#...) comments are copied as they are.
 */
#ifndef QUELL_RXFIX_H
#define QUELL_RXFIX_H

#include <stddef.h>
#include <stdint.h>

/* 1 when patterns compiled with these PCRE2 options need rxfix_rewrite. */
int rxfix_needed(uint32_t pcre2_options);

/* Writes the rewritten pat[0..n) to out, which must hold 3 * n + 1 bytes
 * (each escape grows by two), NUL-terminated.  Returns its length. */
size_t rxfix_rewrite(const char *pat, size_t n, char *out);

#endif
