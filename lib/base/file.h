/* Input files named on the command line: kernels, initrds, images. */
#ifndef SNAPVM_FILE_H
#define SNAPVM_FILE_H

#include <stddef.h>
#include <stdint.h>

/* Opens a regular file for reading; logs "PATH: problem" on failure. */
int file_open_regular(const char *path, uint64_t *size);
/* Reads exactly len bytes from fd at offset 0 into buf. */
int file_read_all(int fd, const char *path, void *buf, size_t len);

/*
 * Renames from to to, failing with EEXIST if to exists.  Where the file
 * system has no RENAME_NOREPLACE (9p, some network file systems), a check
 * and a plain rename stand in for it, which two writers racing for one
 * name can defeat; snapvm's writers of one name are one process.
 */
int file_rename_noreplace(const char *from, const char *to);
/* Swaps two names; where RENAME_EXCHANGE is missing, b goes to b.old.PID,
 * a to b, and the old b comes back as a: b is briefly absent. */
int file_rename_exchange(const char *a, const char *b);

/*
 * A new hidden directory beside dir, ".BASE.TAG.XXXXXX" (BASE dir's last
 * component), so that renaming it to dir stays in one file system;
 * its mode is what mkdir(2) would give under the umask.  0, or -1
 * logged (out made "").
 */
int file_mkdtemp_beside(const char *dir, const char *tag, char *out,
    size_t size);

/*
 * The address of the Unix socket at path, zeroed beyond it: 0, or -1,
 * logged as what's path (what: the flag or use, as "--socket"), with
 * errno EINVAL for an empty path (which Linux would take as an abstract
 * socket's) and ENAMETOOLONG for one with no room in sun_path with its
 * NUL (107 bytes on Linux).
 */
struct sockaddr_un;
int file_sockaddr(const char *path, struct sockaddr_un *sa,
    const char *what);

/*
 * Makes path free for a Unix socket of type (SOCK_STREAM, ...) to be
 * bound there: a socket nobody listens on any more (left by a process
 * that died) is removed; a live one, named in the message by who (what
 * listens there), or anything that is not a socket, stays.  0, or -1
 * logged (errno EADDRINUSE for a live socket, EEXIST for another file).
 */
int file_claim_socket(const char *path, int type, const char *who);

/* fsync(2) of a directory, so that the names made in it last. */
int file_sync_dir(const char *path);

/* snapvm's cache directory, $XDG_CACHE_HOME/snapvm (else
 * $HOME/.cache/snapvm), with "/name" if name is not NULL; -1 with neither
 * variable set or no room.  The directory need not exist. */
int file_cache_path(const char *name, char *out, size_t n);
/* As file_cache_path, and the directory made: the cache's base
 * ($XDG_CACHE_HOME, else $HOME/.cache), then snapvm, then name (one
 * component, or NULL), each with mode 0700 where it is missing; nothing
 * above the base is made.  -1 as file_cache_path, or if one cannot be
 * made. */
int file_cache_mkdir(const char *name, char *out, size_t n);

/* A private directory for a VM's sockets: $TMPDIR/snapvm.XXXXXX. */
int file_tmpdir(char *buf, size_t size);
/* Removes the directory and the sockets in it (not recursive beyond). */
void file_tmpdir_remove(const char *dir);
/*
 * An absolute path with its "." and ".." components and repeated slashes
 * taken out, in place, by name alone (no symbolic link is followed; ".."
 * of the root is the root): "/a/b/../c/./d" is "/a/c/d".  -1, path
 * unchanged, if it is not absolute.
 */
int file_path_clean(char *path);

#endif
