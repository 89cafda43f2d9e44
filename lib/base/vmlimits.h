/*
 * The largest machine snapvm makes: what a snapshot layer may describe is
 * checked against these before anything is made of it, so the snapshot
 * formats and the VMM share them from below both.
 */
#ifndef SNAPVM_VMLIMITS_H
#define SNAPVM_VMLIMITS_H

#define VM_MAX_VCPUS	8
#define VM_MAX_DRIVES	8

#define MEM_MIN_MIB	16		/* guest memory */
#define MEM_MAX_MIB	(64 * 1024)
#define MEM_PAGE	4096ULL		/* what dirty bitmaps count */

#endif
