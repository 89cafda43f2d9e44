/* Entry of every test guest: own stack, keep the zero page, call main,
 * report main's return value on the debug-exit port. */
	.section .text.start, "ax"
	.globl _start
_start:
	movq	%rsi, boot_params(%rip)
	leaq	stack_top(%rip), %rsp
	call	main
	movw	$0x505, %dx
	outb	%al, %dx
1:	cli
	hlt
	jmp	1b

	.bss
	.globl boot_params
	.balign 8
boot_params:
	.quad	0
	.balign 16
	.space	16384
stack_top:
