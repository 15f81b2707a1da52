/*
 * core/switch_aarch64.S: goroutine context switch for aarch64 (AAPCS64).
 *
 * void gr__swtch(void **save, void *new_sp)
 *   Saves x19-x30, d8-d15 and FPCR in a 176-byte frame on the current
 *   stack, stores sp in *save, switches to new_sp and restores the same
 *   frame from it; returns through the restored x30. No system call.
 *
 * Frame (offsets from the saved sp):
 *   0 x19 x20 | 16 x21 x22 | 32 x23 x24 | 48 x25 x26 | 64 x27 x28
 *   80 x29 x30 | 96 d8 d9 | 112 d10 d11 | 128 d12 d13 | 144 d14 d15 | 160 fpcr
 */
    .text
    .globl gr__swtch
    .hidden gr__swtch
    .type gr__swtch, %function
    .p2align 4
gr__swtch:
    sub sp, sp, #176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mrs x9, fpcr
    str x9, [sp, #160]
    mov x9, sp
    str x9, [x0]
    mov sp, x1
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    ldr x9, [sp, #160]
    msr fpcr, x9
    add sp, sp, #176
    ret
    .size gr__swtch, .-gr__swtch

/* void *gr__ctx_init(uintptr_t hi, void (*entry)(void)): a zeroed frame
 * whose x30 is entry and x29 is 0 (ends frame-pointer walks). */
    .globl gr__ctx_init
    .hidden gr__ctx_init
    .type gr__ctx_init, %function
    .p2align 4
gr__ctx_init:
    and x0, x0, #~15
    sub x0, x0, #176
    mov x9, #0
    mov x10, #0
1:  str x9, [x0, x10]
    add x10, x10, #8
    cmp x10, #176
    b.lt 1b
    str x1, [x0, #88]
    ret
    .size gr__ctx_init, .-gr__ctx_init

    .section .note.GNU-stack,"",@progbits
