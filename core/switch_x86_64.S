/*
 * core/switch_x86_64.S: goroutine context switch for x86-64 (SysV ABI).
 *
 * void gr__swtch(void **save, void *new_sp)
 *   Pushes the callee-saved registers (rbp rbx r12-r15) and the MXCSR and
 *   x87 control words on the current stack, stores rsp in *save, loads
 *   new_sp and pops the same frame from it. No system call: the signal
 *   mask is per thread and goroutines do not own one (swapcontext would
 *   make a rt_sigprocmask call on every switch).
 *
 * Frame at the saved sp (low to high):
 *   [0] mxcsr (4) + x87 cw (2) + pad   [8] r15  [16] r14  [24] r13
 *   [32] r12  [40] rbx  [48] rbp  [56] return address
 */
    .text
    .globl gr__swtch
    .hidden gr__swtch
    .type gr__swtch, @function
    .p2align 4
gr__swtch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movw $0, 6(%rsp)
    movq %rsp, (%rdi)
    movq (%rsp), %rax           /* our MXCSR and x87 control word */
    movq %rsi, %rsp
    /* Loading MXCSR and the x87 control word is slow; almost every
     * goroutine runs with the defaults, so load them only if they differ
     * from what is in force now. */
    cmpq (%rsp), %rax
    je 1f
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
1:  addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size gr__swtch, .-gr__swtch

/*
 * void *gr__ctx_init(uintptr_t hi, void (*entry)(void))
 *   Builds a frame at the top of a new stack so that the first gr__swtch to
 *   it "returns" into entry with rsp = 8 mod 16 (as after a call), rbp = 0
 *   (ends frame-pointer walks) and a zero return address above it.
 */
    .globl gr__ctx_init
    .hidden gr__ctx_init
    .type gr__ctx_init, @function
    .p2align 4
gr__ctx_init:
    .cfi_startproc
    andq $-16, %rdi
    movq $0, -8(%rdi)          /* fake return address of entry */
    movq %rsi, -16(%rdi)       /* gr__swtch's ret goes here */
    movq $0, -24(%rdi)         /* rbp */
    movq $0, -32(%rdi)         /* rbx */
    movq $0, -40(%rdi)         /* r12 */
    movq $0, -48(%rdi)         /* r13 */
    movq $0, -56(%rdi)         /* r14 */
    movq $0, -64(%rdi)         /* r15 */
    movl $0x1f80, -72(%rdi)    /* MXCSR default */
    movw $0x037f, -68(%rdi)    /* x87 control word default */
    movw $0, -66(%rdi)
    leaq -72(%rdi), %rax
    ret
    .cfi_endproc
    .size gr__ctx_init, .-gr__ctx_init

    .section .note.GNU-stack,"",@progbits
