/* tests/io_futex.c: gr_futex_wait parks a goroutine on an io_uring
 * FUTEX_WAIT; plain threads and goroutines wake it. Skips where the kernel
 * has no io_uring futex ops (before 6.7). */
#include "harness.h"

#include <limits.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <linux/futex.h>

static _Atomic int enosys;

static void skip_if_enosys(void)
{
    if (atomic_load(&enosys))
        cr_skip_test("kernel has no io_uring FUTEX_WAIT (Linux 6.7+)");
}

static uint32_t word;
static _Atomic int woken_by_thread;

static void *waker_thread(void *arg)
{
    usleep(50 * 1000);
    __atomic_store_n(&word, 1, __ATOMIC_SEQ_CST);
    /* The waiter may not have queued yet: wake until someone was woken or
     * the waiter saw the new value (bounded). */
    for (int i = 0; i < 500; i++) {
        int n = gr_futex_wake(&word, 1);
        if (n > 0) {
            atomic_store(&woken_by_thread, n);
            break;
        }
        if (atomic_load(&woken_by_thread) < 0)
            break;
        usleep(2000);
    }
    return NULL;
}

static void wait_for_thread(void *arg)
{
    word = 0;
    pthread_t th;
    pthread_create(&th, NULL, waker_thread, NULL);
    int r = -1;
    for (int i = 0; i < 100 && __atomic_load_n(&word, __ATOMIC_SEQ_CST) == 0; i++) {
        r = gr_futex_wait(&word, 0, 5LL * 1000000000);
        if (r == -ENOSYS) {
            atomic_store(&enosys, 1);
            atomic_store(&woken_by_thread, -1);
            break;
        }
        CHECKF(r == 0 || r == -EAGAIN, "futex_wait: %d", r);
    }
    if (!atomic_load(&enosys)) {
        CHECK_EQ(__atomic_load_n(&word, __ATOMIC_SEQ_CST), 1);
        if (atomic_load(&woken_by_thread) == 0)
            atomic_store(&woken_by_thread, -1);   /* saw the value before a wake: fine */
    }
    gr_syscall_enter();
    pthread_join(th, NULL);
    gr_syscall_exit();
}

Test(io_futex, wait_woken_by_plain_thread, .timeout = 30)
{
    RUN(2, wait_for_thread, NULL);
    skip_if_enosys();
}

static void errors(void *arg)
{
    uint32_t w = 5;
    int r = gr_futex_wait(&w, 5, ((30) * MS));
    if (r == -ENOSYS) {
        atomic_store(&enosys, 1);
        return;
    }
    CHECK_EQ(r, -ETIMEDOUT);
    CHECK_EQ(gr_futex_wait(&w, 4, -1), -EAGAIN);          /* value differs: at once */
    CHECK_EQ(gr_futex_wait(&w, 5, 0), -ETIMEDOUT);        /* 0: do not block */
    CHECK_EQ(gr_futex_wait(&w, 4, 0), -EAGAIN);
    CHECK_EQ(gr_futex_wait(NULL, 0, 0), -EINVAL);
    CHECK_EQ(gr_futex_wait((uint32_t *)((char *)&w + 1), 0, 0), -EINVAL);
    CHECK_EQ(gr_futex_wake(&w, 1), 0);                    /* nobody waits */
    CHECK_EQ(gr_futex_wake(&w, 0), 0);
}

Test(io_futex, timeout_mismatch_and_bad_args, .timeout = 20)
{
    RUN(2, errors, NULL);
    skip_if_enosys();
}

/* The M is not blocked: with one P, a goroutine in futex_wait lets another
 * goroutine run, which then wakes it. */
static uint32_t word2;
static _Atomic int ran;

static void other(void *arg)
{
    atomic_store(&ran, 1);
    __atomic_store_n(&word2, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 1000; i++) {
        if (gr_futex_wake(&word2, 1) > 0)
            break;
        gr_sleep(((1) * MS));
    }
}

static void one_p(void *arg)
{
    word2 = 0;
    gr_go(other, NULL);
    int r = gr_futex_wait(&word2, 0, 10LL * 1000000000);
    if (r == -ENOSYS) {
        atomic_store(&enosys, 1);
        gr_sleep(((10) * MS));
        return;
    }
    CHECKF(r == 0 || r == -EAGAIN, "futex_wait: %d", r);
    CHECK_EQ(atomic_load(&ran), 1);
}

Test(io_futex, parks_goroutine_not_thread, .timeout = 30)
{
    RUN(1, one_p, NULL);
    skip_if_enosys();
}

/* Many goroutine waiters; wake counts add up to the number that waited. */
#define NWAIT 16
static uint32_t word3;
static gr_waitgroup wg = GR_WAITGROUP_INIT;
static _Atomic int waiters_done;

static void waiter(void *arg)
{
    while (__atomic_load_n(&word3, __ATOMIC_SEQ_CST) == 0) {
        int r = gr_futex_wait(&word3, 0, 10LL * 1000000000);
        if (r == -ENOSYS) {
            atomic_store(&enosys, 1);
            break;
        }
        CHECKF(r == 0 || r == -EAGAIN, "futex_wait: %d", r);
    }
    atomic_fetch_add(&waiters_done, 1);
    gr_waitgroup_done(&wg);
}

static void many(void *arg)
{
    word3 = 0;
    gr_waitgroup_add(&wg, NWAIT);
    for (int i = 0; i < NWAIT; i++)
        gr_go(waiter, NULL);
    gr_sleep(((50) * MS));
    __atomic_store_n(&word3, 1, __ATOMIC_SEQ_CST);
    int total = 0;
    for (int i = 0; i < 200 && atomic_load(&waiters_done) < NWAIT; i++) {
        int n = gr_futex_wake(&word3, INT_MAX);
        CHECKF(n >= 0, "wake: %d", n);
        total += n > 0 ? n : 0;
        gr_sleep(((2) * MS));
    }
    gr_waitgroup_wait(&wg);
    if (!atomic_load(&enosys))
        CHECKF(total <= NWAIT, "woke %d of %d waiters", total, NWAIT);
}

Test(io_futex, wake_many_goroutines, .timeout = 30)
{
    RUN(2, many, NULL);
    skip_if_enosys();
}

/* Shared futex: a child process wakes a goroutine through MAP_SHARED memory. */
static uint32_t *shared;

static void shared_wait(void *arg)
{
    pid_t pid = fork();
    if (pid == 0) {
        usleep(50 * 1000);
        __atomic_store_n(shared, 1, __ATOMIC_SEQ_CST);
        for (int i = 0; i < 500; i++) {
            if (syscall(SYS_futex, shared, FUTEX_WAKE, 1, NULL, NULL, 0) > 0)
                break;
            usleep(2000);
        }
        _exit(0);
    }
    int r = 0;
    for (int i = 0; i < 100 && __atomic_load_n(shared, __ATOMIC_SEQ_CST) == 0; i++) {
        r = gr_futex_wait_shared(shared, 0, 5LL * 1000000000);
        if (r == -ENOSYS) {
            atomic_store(&enosys, 1);
            break;
        }
        CHECKF(r == 0 || r == -EAGAIN, "futex_wait_shared: %d", r);
    }
    if (!atomic_load(&enosys))
        CHECK_EQ(__atomic_load_n(shared, __ATOMIC_SEQ_CST), 1);
    gr_syscall_enter();
    waitpid(pid, NULL, 0);
    gr_syscall_exit();
}

Test(io_futex, shared_word_woken_by_other_process, .timeout = 30)
{
    shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(shared != MAP_FAILED);
    *shared = 0;
    RUN(2, shared_wait, NULL);
    skip_if_enosys();
}
