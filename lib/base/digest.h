/*
 * SHA-256 of files, with a cache of verified files so that a snapshot
 * restored many times is read in full only once: an entry is keyed by
 * the file's identity (device, inode, size, modification and change
 * times) and is void as soon as any of them changes.
 */
#ifndef SNAPVM_DIGEST_H
#define SNAPVM_DIGEST_H

#define DIGEST_HEX	65	/* 64 hex digits and a NUL */

int digest_file(const char *path, char hex[DIGEST_HEX]);
/* Of what fd reads from its file offset to its end (path is for
 * messages); the offset is left at the end. */
int digest_fd(int fd, const char *path, char hex[DIGEST_HEX]);
/* As digest_file, through the cache in $XDG_CACHE_HOME/snapvm/digest. */
int digest_file_cached(const char *path, char hex[DIGEST_HEX]);
/* As digest_file_cached, for a file open for reading: the digest is of
 * what fd reads, from offset 0 (path is for messages). */
int digest_fd_cached(int fd, const char *path, char hex[DIGEST_HEX]);
/* Records a digest computed while writing the file. */
void digest_cache_put(const char *path, const char hex[DIGEST_HEX]);
/* The cache's directory ($XDG_CACHE_HOME/snapvm/digest, else under
 * $HOME/.cache), which need not exist; -1 with neither variable set.  A
 * process that may read but not write it (a jailed runner) still gains:
 * an entry it cannot store is simply not stored. */
int digest_cache_dir(char *out, size_t n);
void digest_hex(const unsigned char *md, char hex[DIGEST_HEX]);

#endif
