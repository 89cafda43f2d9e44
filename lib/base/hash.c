#include "hash.h"

void
hash_init(struct hash_ctx *h)
{
	sha256_init(&h->sha);
}

void
hash_update(struct hash_ctx *h, const void *p, size_t n)
{
	/* nettle would memcpy from p even for no bytes. */
	if (n > 0)
		sha256_update(&h->sha, n, p);
}

void
hash_final(struct hash_ctx *h, unsigned char md[HASH_LEN])
{
	sha256_digest(&h->sha, HASH_LEN, md);
}

void
hash_buf(const void *p, size_t n, unsigned char md[HASH_LEN])
{
	struct hash_ctx h;

	hash_init(&h);
	hash_update(&h, p, n);
	hash_final(&h, md);
}
