/*
 * _start: the entry point of every test guest.  vmrun enters it in long
 * mode at CPL0 with RSI = the zero page and a tiny boot stack.  Take our
 * own stack, keep RSI for cmdline(), run main(), and hand main's return
 * value to the debug-exit port.  Should the VM go on running, halt for
 * good.
 */
	.section .text.start, "ax"
	.globl	_start
	.type	_start, @function
_start:
	cli
	movq	%rsi, zero_page(%rip)
	leaq	boot_stack_top(%rip), %rsp
	xorl	%ebp, %ebp
	call	main
	movw	$0x505, %dx
	outb	%al, %dx
1:	cli
	hlt
	jmp	1b
	.size	_start, . - _start

	.bss
	.balign	16
boot_stack:
	.skip	16384
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
