/*
 * The application processors' first code, copied to TRAMP by smp.c and
 * entered in real mode through SIPI vector TRAMP >> 12.  It switches to
 * long mode on the BSP's page tables and GDT, takes a stack, and calls
 * the C entry the BSP left in tr_entry.
 */
	.set	TRAMP, 0x8000
	.set	AP_STACKS, 0xb000
	.set	OFF_GDTR, tr_gdtr - tramp_start
	.set	OFF_CR3, tr_cr3 - tramp_start
	.set	OFF_ENTRY, tr_entry - tramp_start
	.set	OFF_NEXT, tr_next - tramp_start
	.set	OFF_LONG, tr_long - tramp_start

	.section .rodata
	.globl	tramp_start, tramp_end, tramp_gdtr, tramp_cr3, tramp_entry
	.code16
tramp_start:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	lgdtl	TRAMP + OFF_GDTR
	movl	%cr4, %eax
	orl	$0x20, %eax			/* PAE */
	movl	%eax, %cr4
	movl	TRAMP + OFF_CR3, %eax
	movl	%eax, %cr3
	movl	$0xc0000080, %ecx		/* EFER.LME */
	rdmsr
	orl	$0x100, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$0x80000001, %eax		/* PG | PE */
	movl	%eax, %cr0
	ljmpl	$0x10, $(TRAMP + OFF_LONG)

	.code64
tr_long:
	movw	$0x18, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movl	$1, %eax
	lock xaddl %eax, TRAMP + OFF_NEXT	/* this AP's stack number */
	shlq	$12, %rax
	leaq	AP_STACKS + 0x1000(%rax), %rsp
	movq	TRAMP + OFF_ENTRY, %rbx
	call	*%rbx
1:	cli
	hlt
	jmp	1b

	.balign	8
tramp_gdtr:
tr_gdtr:
	.word	0
	.quad	0
tramp_cr3:
tr_cr3:
	.long	0
	.balign	8
tramp_entry:
tr_entry:
	.quad	0
tr_next:
	.long	0
tramp_end:
