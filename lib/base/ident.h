/*
 * Names that travel in files and on command lines (a CPU template's, in
 * a template file and in a snapshot's manifest): one rule, so that what
 * one program writes the other reads.
 */
#ifndef SNAPVM_IDENT_H
#define SNAPVM_IDENT_H

#include <stdbool.h>
#include <stddef.h>

/* 1 to max - 1 letters, digits, '.', '_' and '-', beginning with a
 * letter or digit (never an option or a hidden file's name). */
bool ident_ok(const char *s, size_t max);

#endif
