/*
 * tests/arch/switch_test.c: the context switch alone, for an architecture
 * this machine cannot run natively. `./dev.sh check-aarch64` builds it
 * with aarch64-linux-gnu-gcc against core/switch_aarch64.S and runs it
 * under qemu-aarch64: 1000 switches each way, a callee-saved FP register
 * and a counter must survive. (x86-64's switch is exercised by the suite.)
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
void gr__swtch(void **save, void *new_sp);
void *gr__ctx_init(uintptr_t hi, void (*entry)(void));
static void *main_sp, *co_sp;
static volatile int counter;
static void co(void) {
    double d = 1.5;
    for (;;) { counter++; d *= 1.0001; gr__swtch(&co_sp, main_sp); if (d < 0) break; }
}
int main(void) {
    char *stk = malloc(65536);
    co_sp = gr__ctx_init((uintptr_t)(stk + 65536), co);
    register double keep = 3.25;
    for (int i = 0; i < 1000; i++) gr__swtch(&main_sp, co_sp);
    printf("counter=%d keep=%.2f\n", counter, keep);
    return counter == 1000 && keep == 3.25 ? 0 : 1;
}
