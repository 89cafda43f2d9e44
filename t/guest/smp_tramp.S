/*
 * The first code of the application processors.  smp.c copies the bytes
 * from tramp_start to tramp_end to TRAMP_BASE, fills in tramp_data, and
 * starts the APs with SIPI vector TRAMP_BASE >> 12: each AP enters at
 * CS:IP = (TRAMP_BASE >> 4):0 in real mode.
 *
 * Straight from real mode to 64-bit mode: load the BSP's GDT, enable PAE,
 * take the BSP's page tables, set EFER.LME, turn on protection and
 * paging together and far-jump to the 64-bit code segment.  There, take
 * stack number tramp_data.next++ (lock xadd) and call tramp_data.entry.
 * The code after the jump addresses the data RIP-relative, so it runs
 * wherever the block is copied; only the jump target needs TRAMP_BASE.
 */
	.set	TRAMP_BASE, 0x8000
	.set	SEL_CODE64, 0x10
	.set	SEL_DATA, 0x18
	.set	AP_STACK_SHIFT, 10		/* 1 KiB per AP, as in smp.c */
	.set	MSR_EFER, 0xc0000080
	.set	EFER_LME, 0x100
	.set	CR4_PAE, 0x20
	.set	CR0_PE_PG, 0x80000001
	.set	CR0_CD_NW, 0x60000000

	.section .rodata.tramp, "a"
	.globl	tramp_start, tramp_end, tramp_data

	.code16
tramp_start:
	cli
	movw	%cs, %ax
	movw	%ax, %ds			/* DS:0 = tramp_start */
	lgdtl	td_gdt_limit - tramp_start
	movl	%cr4, %eax
	orl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	td_cr3 - tramp_start, %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
	movl	%cr0, %eax
	andl	$~CR0_CD_NW, %eax
	orl	$CR0_PE_PG, %eax
	movl	%eax, %cr0
	ljmpl	$SEL_CODE64, $(TRAMP_BASE + tramp_long - tramp_start)

	.code64
tramp_long:
	movl	$SEL_DATA, %eax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movl	$1, %eax
	lock xaddl %eax, td_next(%rip)		/* EAX = this AP's number */
	cmpl	td_nstacks(%rip), %eax
	jae	1f				/* no stack left for it */
	incl	%eax
	shlq	$AP_STACK_SHIFT, %rax
	addq	td_stacks(%rip), %rax
	movq	%rax, %rsp			/* top of stack EAX */
	xorl	%ebp, %ebp
	call	*td_entry(%rip)
1:	cli
	hlt
	jmp	1b

	/* struct tramp_data in smp.c */
	.balign	8
tramp_data:
	.word	0, 0, 0				/* pad: the base below is aligned */
td_gdt_limit:
	.word	0				/* lgdtl: limit, then 32-bit base */
	.quad	0
td_cr3:
	.quad	0
td_entry:
	.quad	0
td_stacks:
	.quad	0				/* AP n: stack top stacks + (n+1) KiB */
td_next:
	.long	0
td_nstacks:
	.long	0
tramp_end:

	.section .note.GNU-stack, "", @progbits
