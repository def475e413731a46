/*
 * builtin: the table over the lists filters/builtin.S embeds.  See builtin.h.
 */
#include "filters/builtin.h"

#include <pthread.h>
#include <string.h>

#include "proxy/config.h"

/* Defined in filters/builtin_data.S: first byte and one past the last byte of
 * each embedded file (a NUL follows). */
extern const char builtin_ad_labels_start[], builtin_ad_labels_end[];
extern const char builtin_donation_start[], builtin_donation_end[];
extern const char builtin_newsletter_start[], builtin_newsletter_end[];
extern const char builtin_consent_start[], builtin_consent_end[];

static struct builtin_list table[BUILTIN_MAX];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

/* The table is filled once, on first use, because the lengths are link-time
 * differences of two symbols, which C cannot use in a static initializer. */
static void table_init(void)
{
	table[0] = (struct builtin_list){ "builtin:ad-labels", builtin_ad_labels_start,
		(size_t)(builtin_ad_labels_end - builtin_ad_labels_start), ANNOY_AD_LABELS };
	table[1] = (struct builtin_list){ "builtin:donation", builtin_donation_start,
		(size_t)(builtin_donation_end - builtin_donation_start), ANNOY_DONATION };
	table[2] = (struct builtin_list){ "builtin:newsletter", builtin_newsletter_start,
		(size_t)(builtin_newsletter_end - builtin_newsletter_start), ANNOY_NEWSLETTER };
	table[3] = (struct builtin_list){ "builtin:consent", builtin_consent_start,
		(size_t)(builtin_consent_end - builtin_consent_start), ANNOY_CONSENT };
}

static void table_fill(void)
{
	pthread_once(&table_once, table_init);
}

const struct builtin_list *builtin_lists(size_t *n)
{
	table_fill();
	if (n)
		*n = BUILTIN_MAX;
	return table;
}

size_t builtin_enabled(unsigned annoyances, const struct builtin_list **out, size_t max)
{
	size_t k = 0;

	table_fill();
	for (size_t i = 0; i < BUILTIN_MAX && k < max; i++)
		if (annoyances & table[i].annoy_bit)
			out[k++] = &table[i];
	return k;
}

size_t builtin_for_config(const struct config *cfg, const struct builtin_list **out, size_t max)
{
	if (!cfg || !cfg->builtin)
		return 0;
	return builtin_enabled(cfg->annoyances, out, max);
}

const struct builtin_list *builtin_find(const char *name)
{
	table_fill();
	for (size_t i = 0; i < BUILTIN_MAX; i++)
		if (name && !strcmp(name, table[i].name))
			return &table[i];
	return NULL;
}
