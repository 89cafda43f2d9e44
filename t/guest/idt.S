/* Exception stubs for trap.elf: #BP counts and returns, anything else is
 * reported through trap_unexpected(vector). */
	.text
	.globl bp_handler
bp_handler:
	lock incl bp_count(%rip)
	iretq

	.macro	stub n
	.globl	vec_stub\n
vec_stub\n:
	movl	$\n, %edi
	jmp	unexpected
	.endm
	.irp n, 0,1,2,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19
	stub	\n
	.endr

unexpected:
	leaq	fault_stack(%rip), %rsp
	call	trap_unexpected
1:	cli
	hlt
	jmp	1b

	.bss
	.balign	16
	.space	4096
fault_stack:
