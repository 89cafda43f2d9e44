/*
 * Exception entry points of trap.elf.
 *
 * bp_entry (#BP, vector 3) counts the breakpoint, records the saved RIP
 * and CS for trap.c to check, and returns with iretq.  Should the saved
 * RIP still point at the int3 (its completion forgot to step over it),
 * it steps over it itself, so that the check fails instead of looping.
 *
 * vec_stubs: one 16-byte stub per vector 0..31, at vec_stubs + 16 * N;
 * each reports its vector through trap_unexpected(), which exits 99.
 */
	.text
	.globl	bp_entry
	.type	bp_entry, @function
bp_entry:
	lock incl bp_count(%rip)
	pushq	%rax
	movq	8(%rsp), %rax			/* saved RIP */
	movq	%rax, bp_rip(%rip)
	cmpb	$0xcc, (%rax)
	jne	1f
	incq	8(%rsp)
1:	movq	16(%rsp), %rax			/* saved CS */
	movq	%rax, bp_cs(%rip)
	popq	%rax
	iretq
	.size	bp_entry, . - bp_entry

	.macro	vec_stub n
	.balign	16
	pushq	$\n
	jmp	unexpected_vector
	.endm

	.balign	16
	.globl	vec_stubs
vec_stubs:
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	vec_stub \n
	.endr

unexpected_vector:
	movq	(%rsp), %rdi			/* the vector the stub pushed */
	andq	$-16, %rsp
	call	trap_unexpected
2:	cli
	hlt
	jmp	2b

	.section .note.GNU-stack, "", @progbits
