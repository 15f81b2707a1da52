/* tests/io_futex.c: gr_futex_wait parks a goroutine on an io_uring
 * FUTEX_WAIT; plain threads and goroutines wake it. Skips where the kernel
 * has no io_uring futex ops (before 6.7). */
#include "io_util.h"

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
        IO_CHECK(r == 0 || r == -EAGAIN, "futex_wait: %d", r);
    }
    if (!atomic_load(&enosys)) {
        IO_CHECK_EQ(__atomic_load_n(&word, __ATOMIC_SEQ_CST), 1);
        if (atomic_load(&woken_by_thread) == 0)
            atomic_store(&woken_by_thread, -1);   /* saw the value before a wake: fine */
    }
    gr_syscall_enter();
    pthread_join(th, NULL);
    gr_syscall_exit();
}

Test(io_futex, wait_woken_by_plain_thread, .timeout = 30)
{
    io_run(2, wait_for_thread, NULL);
    skip_if_enosys();
}

static void errors(void *arg)
{
    uint32_t w = 5;
    int r = gr_futex_wait(&w, 5, io_ms(30));
    if (r == -ENOSYS) {
        atomic_store(&enosys, 1);
        return;
    }
    IO_CHECK_EQ(r, -ETIMEDOUT);
    IO_CHECK_EQ(gr_futex_wait(&w, 4, -1), -EAGAIN);          /* value differs: at once */
    IO_CHECK_EQ(gr_futex_wait(&w, 5, 0), -ETIMEDOUT);        /* 0: do not block */
    IO_CHECK_EQ(gr_futex_wait(&w, 4, 0), -EAGAIN);
    IO_CHECK_EQ(gr_futex_wait(NULL, 0, 0), -EINVAL);
    IO_CHECK_EQ(gr_futex_wait((uint32_t *)((char *)&w + 1), 0, 0), -EINVAL);
    IO_CHECK_EQ(gr_futex_wake(&w, 1), 0);                    /* nobody waits */
    IO_CHECK_EQ(gr_futex_wake(&w, 0), 0);
}

Test(io_futex, timeout_mismatch_and_bad_args, .timeout = 20)
{
    io_run(2, errors, NULL);
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
        gr_sleep(io_ms(1));
    }
}

static void one_p(void *arg)
{
    word2 = 0;
    gr_go(other, NULL);
    int r = gr_futex_wait(&word2, 0, 10LL * 1000000000);
    if (r == -ENOSYS) {
        atomic_store(&enosys, 1);
        gr_sleep(io_ms(10));
        return;
    }
    IO_CHECK(r == 0 || r == -EAGAIN, "futex_wait: %d", r);
    IO_CHECK_EQ(atomic_load(&ran), 1);
}

Test(io_futex, parks_goroutine_not_thread, .timeout = 30)
{
    io_run(1, one_p, NULL);
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
        IO_CHECK(r == 0 || r == -EAGAIN, "futex_wait: %d", r);
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
    gr_sleep(io_ms(50));
    __atomic_store_n(&word3, 1, __ATOMIC_SEQ_CST);
    int total = 0;
    for (int i = 0; i < 200 && atomic_load(&waiters_done) < NWAIT; i++) {
        int n = gr_futex_wake(&word3, INT_MAX);
        IO_CHECK(n >= 0, "wake: %d", n);
        total += n > 0 ? n : 0;
        gr_sleep(io_ms(2));
    }
    gr_waitgroup_wait(&wg);
    if (!atomic_load(&enosys))
        IO_CHECK(total <= NWAIT, "woke %d of %d waiters", total, NWAIT);
}

Test(io_futex, wake_many_goroutines, .timeout = 30)
{
    io_run(2, many, NULL);
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
        IO_CHECK(r == 0 || r == -EAGAIN, "futex_wait_shared: %d", r);
    }
    if (!atomic_load(&enosys))
        IO_CHECK_EQ(__atomic_load_n(shared, __ATOMIC_SEQ_CST), 1);
    gr_syscall_enter();
    waitpid(pid, NULL, 0);
    gr_syscall_exit();
}

Test(io_futex, shared_word_woken_by_other_process, .timeout = 30)
{
    shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(shared != MAP_FAILED);
    *shared = 0;
    io_run(2, shared_wait, NULL);
    skip_if_enosys();
}
