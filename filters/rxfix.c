/* rxfix: see rxfix.h.  A scanner over the pattern's syntax, just enough of
 * it to tell an escape that stands alone from one inside a class; PCRE2
 * offers no API to edit a pattern, and fixing the library is not ours to
 * ship (Debian's 10.42 is what users run). */
#include "filters/rxfix.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <string.h>

int rxfix_needed(uint32_t o)
{
	return (o & PCRE2_UTF) && (o & PCRE2_MATCH_INVALID_UTF) && !(o & PCRE2_UCP);
}

size_t rxfix_rewrite(const char *p, size_t n, char *out)
{
	size_t i = 0, o = 0;
	int in_class = 0;
	while (i < n) {
		char ch = p[i];
		if (ch == '\\' && i + 1 < n) {
			char e = p[i + 1];
			if (e == 'Q') {
				/* quoted to \E (or the end): copied whole */
				const char *q = NULL;
				for (size_t k = i + 2; k + 1 < n; k++)
					if (p[k] == '\\' && p[k + 1] == 'E') {
						q = p + k + 2;
						break;
					}
				size_t end = q ? (size_t)(q - p) : n;
				memcpy(out + o, p + i, end - i);
				o += end - i;
				i = end;
				continue;
			}
			if (!in_class && (e == 'D' || e == 'S' || e == 'W')) {
				out[o++] = '[';
				out[o++] = '\\';
				out[o++] = e;
				out[o++] = ']';
			} else {
				out[o++] = ch;
				out[o++] = e;
			}
			i += 2;
			continue;
		}
		if (in_class) {
			if (ch == '[' && i + 1 < n && (p[i + 1] == ':' || p[i + 1] == '.' || p[i + 1] == '=')) {
				/* [:alpha:] and its kin: copied to the closing ":]" */
				char d = p[i + 1];
				size_t k = i + 2;
				while (k + 1 < n && !(p[k] == d && p[k + 1] == ']'))
					k++;
				size_t end = k + 1 < n ? k + 2 : n;
				memcpy(out + o, p + i, end - i);
				o += end - i;
				i = end;
				continue;
			}
			if (ch == ']')
				in_class = 0;
			out[o++] = ch;
			i++;
			continue;
		}
		if (ch == '[') {
			/* a ] right after [ or [^ is a literal member */
			out[o++] = p[i++];
			if (i < n && p[i] == '^')
				out[o++] = p[i++];
			if (i < n && p[i] == ']')
				out[o++] = p[i++];
			in_class = 1;
			continue;
		}
		if (ch == '(' && i + 2 < n && p[i + 1] == '?' && p[i + 2] == '#') {
			const char *q = memchr(p + i, ')', n - i);
			size_t end = q ? (size_t)(q - p) + 1 : n;
			memcpy(out + o, p + i, end - i);
			o += end - i;
			i = end;
			continue;
		}
		out[o++] = ch;
		i++;
	}
	out[o] = 0;
	return o;
}
