/*
 * builtin_data.S: the built-in rule lists (filters/builtin/*.txt) embedded in
 * the binary with .incbin; filters/builtin.c wraps them as struct
 * builtin_list.  (Not called builtin.S: its object would be
 * build/filters/builtin.o, the same as builtin.c's.)
 *
 * Paths are relative to the repository root, the compiler's working
 * directory; the Makefile rebuilds this object when a list changes.  NAME_end
 * is one past the last byte of the file, where a NUL byte is added so each
 * list is also a C string.
 */
	.section .rodata.quell_builtin,"a",@progbits

	.globl builtin_ad_labels_start, builtin_ad_labels_end
	.type builtin_ad_labels_start, @object
builtin_ad_labels_start:
	.incbin "filters/builtin/ad-labels.txt"
builtin_ad_labels_end:
	.byte 0
	.size builtin_ad_labels_start, . - builtin_ad_labels_start

	.globl builtin_donation_start, builtin_donation_end
	.type builtin_donation_start, @object
builtin_donation_start:
	.incbin "filters/builtin/donation.txt"
builtin_donation_end:
	.byte 0
	.size builtin_donation_start, . - builtin_donation_start

	.globl builtin_newsletter_start, builtin_newsletter_end
	.type builtin_newsletter_start, @object
builtin_newsletter_start:
	.incbin "filters/builtin/newsletter.txt"
builtin_newsletter_end:
	.byte 0
	.size builtin_newsletter_start, . - builtin_newsletter_start

	.globl builtin_consent_start, builtin_consent_end
	.type builtin_consent_start, @object
builtin_consent_start:
	.incbin "filters/builtin/consent.txt"
builtin_consent_end:
	.byte 0
	.size builtin_consent_start, . - builtin_consent_start

	.section .note.GNU-stack,"",@progbits
