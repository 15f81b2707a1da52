/* tests/core_teardown.c: gr_main's end and a later start, with plain
 * threads calling in and goroutines left behind (issue 12, items 1-5).
 *
 * Each scenario runs in a forked child with an alarm, since the defects
 * these guard against hang or crash the process; the child's exit status
 * says which check failed (0: all held). */
#include "harness.h"

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <time.h>

/* Run fn in a child killed by SIGALRM after secs; its exit status. */
static int in_child(int (*fn)(void), unsigned secs)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        alarm(secs);
        _exit(fn());
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return st;
}

#define ASSERT_CHILD_OK(fn, secs) do { \
    int st_ = in_child((fn), (secs)); \
    cr_assert(WIFEXITED(st_) && WEXITSTATUS(st_) == 0, \
              "child: %s %d (signal 14 is the alarm: it hung)", \
              WIFEXITED(st_) ? "exit" : "signal", WIFEXITED(st_) ? WEXITSTATUS(st_) : WTERMSIG(st_)); \
} while (0)

/* ---------- 1: a plain thread's gr_close while gr_main returns ---------- */

static int sv[2];
static _Atomic int go_close;
static _Atomic int close_rc = 1;
static int64_t close_delay_ns;

static void blocked_reader(void *arg)
{
    (void)arg;
    char b[16];
    gr_recv(sv[0], b, sizeof b, 0);   /* cancelled by the close */
}

/* The "stop on a signal" thread: close the descriptor a goroutine waits
 * on, at some point around goroutine 1's return. */
static void *closer(void *arg)
{
    (void)arg;
    while (!atomic_load(&go_close))
        ;
    int64_t end = gr_nanotime() + close_delay_ns;
    while (gr_nanotime() < end)
        ;
    atomic_store(&close_rc, gr_close(sv[0]));
    return NULL;
}

static void close_main(void *arg)
{
    (void)arg;
    gr_go(blocked_reader, NULL);
    gr_sleep(2 * MS);   /* the reader is parked in its recv */
    atomic_store(&go_close, 1);
}

static int close_scenario(void)
{
    plain_threads_wake();
    for (int i = 0; i < 150; i++) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
            return 10;
        atomic_store(&go_close, 0);
        atomic_store(&close_rc, 1);
        close_delay_ns = (i % 50) * 20 * 1000;   /* 0 .. 1 ms after the return */
        pthread_t th;
        pthread_create(&th, NULL, closer, NULL);
        if (gr_test_run(2, close_main, NULL) != 0)
            return 11;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 3;
        if (pthread_timedjoin_np(th, NULL, &ts) != 0)
            return 12;   /* gr_close never returned */
        if (atomic_load(&close_rc) != 0)
            return 13;
        if (fcntl(sv[0], F_GETFD) != -1 || errno != EBADF)
            return 14;   /* the number was not closed */
        close(sv[1]);
    }
    return 0;
}

Test(core_teardown, plain_thread_close_while_main_returns, .timeout = 30)
{
    ASSERT_CHILD_OK(close_scenario, 20);
}

/* ---------- 2: plain threads calling in across gr_main's end and start ---------- */

static _Atomic int stop_plain;
static _Atomic int bad_rc;
static _Atomic long plain_ok, plain_eperm;

static void noop(void *arg)
{
    (void)arg;
}

static void *go_loop(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_plain)) {
        int r = gr_go(noop, NULL);
        if (r == 0)
            atomic_fetch_add(&plain_ok, 1);
        else if (r == -EPERM)
            atomic_fetch_add(&plain_eperm, 1);
        else
            atomic_store(&bad_rc, r);
    }
    return NULL;
}

static void short_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 4; i++)
        gr_go(noop, NULL);
    gr_sleep(300 * 1000);
}

static int go_restart_scenario(void)
{
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, go_loop, NULL);
    for (int i = 0; i < 200; i++)
        if (gr_test_run(2, short_main, NULL) != 0)
            return 20;
    atomic_store(&stop_plain, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    if (atomic_load(&bad_rc) != 0)
        return 21;
    if (atomic_load(&plain_ok) == 0 || atomic_load(&plain_eperm) == 0)
        return 22;   /* both sides of the race were seen */
    return 0;
}

Test(core_teardown, plain_thread_go_across_restarts, .timeout = 60)
{
    for (int rep = 0; rep < 3; rep++)
        ASSERT_CHILD_OK(go_restart_scenario, 40);
}

static gr_timer *shared_timer;

static void *reset_loop(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_plain)) {
        int r = gr_timer_reset(shared_timer, 300 * 1000);
        if (r == 0 || r == 1)
            atomic_fetch_add(&plain_ok, 1);
        else if (r == -EPERM)
            atomic_fetch_add(&plain_eperm, 1);
        else
            atomic_store(&bad_rc, r);
    }
    return NULL;
}

static void make_timer(void *arg)
{
    (void)arg;
    shared_timer = gr_timer_new(INT64_MAX, 0);
}

static int timer_restart_scenario(void)
{
    if (gr_test_run(2, make_timer, NULL) != 0 || !shared_timer)
        return 30;
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, reset_loop, NULL);
    /* Deadlock detection stays on: a pending 300 us sleep is not one. */
    for (int i = 0; i < 200; i++)
        if (gr_test_run(2, short_main, NULL) != 0)
            return 31;
    atomic_store(&stop_plain, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    if (atomic_load(&bad_rc) != 0)
        return 32;
    if (atomic_load(&plain_ok) == 0 || atomic_load(&plain_eperm) == 0)
        return 33;
    return 0;
}

Test(core_teardown, plain_thread_timer_reset_across_restarts, .timeout = 60)
{
    for (int rep = 0; rep < 3; rep++)
        ASSERT_CHILD_OK(timer_restart_scenario, 40);
}

/* ---------- 3: goroutines that never come back into goring ---------- */

static int pipefd[2];
static _Atomic int stuck_running;

static void stuck_in_read(void *arg)
{
    (void)arg;
    atomic_fetch_add(&stuck_running, 1);
    char b;
    ssize_t n = read(pipefd[0], &b, 1);   /* a plain blocking call, never bracketed */
    (void)n;
    /* Back after gr_main returned: this thread is detached from the
     * runtime, so goring calls act as from a plain thread. */
    if (gr_id() != 0 || gr_sleep(1) != -EPERM)
        _exit(41);
    atomic_fetch_add(&stuck_running, 10);
}

static _Atomic int stop_spin;

static void spinner(void *arg)
{
    (void)arg;
    atomic_fetch_add(&stuck_running, 1);
    while (!atomic_load(&stop_spin))
        ;
    if (gr_id() != 0 || gr_sleep(1) != -EPERM)
        _exit(42);
    atomic_fetch_add(&stuck_running, 10);
}

static void stuck_main(void *arg)
{
    (void)arg;
    gr_go(stuck_in_read, NULL);
    gr_go(spinner, NULL);
    while (atomic_load(&stuck_running) < 2)
        gr_sleep(1 * MS);
}

static int stuck_scenario(void)
{
    if (pipe(pipefd) != 0)
        return 40;
    int64_t t0 = gr_nanotime();
    if (gr_test_run(4, stuck_main, NULL) != 0)
        return 43;
    if (gr_nanotime() - t0 > 2000 * MS)
        return 44;   /* bounded: returned without waiting for them */
    /* A later runtime starts afresh beside the detached threads. */
    if (gr_test_run(4, short_main, NULL) != 0)
        return 45;
    /* The detached threads come back and find no runtime. */
    atomic_store(&stop_spin, 1);
    if (write(pipefd[1], "x", 1) != 1)
        return 46;
    for (int i = 0; i < 2000 && atomic_load(&stuck_running) < 22; i++)
        usleep(1000);
    if (atomic_load(&stuck_running) != 22)
        return 47;
    return 0;
}

Test(core_teardown, main_returns_with_goroutines_stuck_outside_goring, .timeout = 30, .disabled = true)
{
    ASSERT_CHILD_OK(stuck_scenario, 20);
}

/* ---------- 4: a sync object used again by a later runtime ---------- */

static gr_cond cond = GR_COND_INIT;
static gr_mutex mu = GR_MUTEX_INIT;
static _Atomic int waiting, woke;

static void cond_waiter(void *arg)
{
    (void)arg;
    gr_mutex_lock(&mu);
    atomic_fetch_add(&waiting, 1);
    gr_cond_wait(&cond, &mu);
    atomic_fetch_add(&woke, 1);
    gr_mutex_unlock(&mu);
}

static void abandon_waiters(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++)
        gr_go(cond_waiter, NULL);
    while (atomic_load(&waiting) < 3)
        gr_sleep(1 * MS);
}

static void signal_one(void *arg)
{
    (void)arg;
    gr_go(cond_waiter, NULL);
    for (;;) {
        gr_mutex_lock(&mu);   /* the waiter holds mu until it waits */
        if (atomic_load(&waiting) == 4)
            break;
        gr_mutex_unlock(&mu);
        gr_sleep(1 * MS);
    }
    gr_cond_signal(&cond);
    gr_mutex_unlock(&mu);
    for (int i = 0; i < 1000 && atomic_load(&woke) == 0; i++)
        gr_sleep(1 * MS);
}

static int cond_scenario(void)
{
    if (gr_test_run(2, abandon_waiters, NULL) != 0)
        return 50;
    atomic_store(&woke, 0);
    if (gr_test_run(2, signal_one, NULL) != 0)
        return 51;
    return atomic_load(&woke) == 1 ? 0 : 52;
}

Test(core_teardown, cond_signal_after_abandoned_waiters, .timeout = 30)
{
    ASSERT_CHILD_OK(cond_scenario, 20);
}

/* ---------- 5: stacks of abandoned goroutines, reused (ASan) ---------- */

static gr_chan *never;

__attribute__((noinline)) static void deep_wait(int depth)
{
    volatile char buf[512];   /* redzones around it under ASan */
    buf[0] = (char)depth;
    if (depth > 0) {
        deep_wait(depth - 1);
    } else {
        int v;
        gr_chan_recv(never, &v);
    }
    buf[1] = buf[0];
}

static void parked_deep(void *arg)
{
    (void)arg;
    deep_wait(16);
}

static void abandon_deep(void *arg)
{
    (void)arg;
    never = gr_chan_make(sizeof(int), 0);
    for (int i = 0; i < 64; i++)
        gr_go(parked_deep, NULL);
    gr_sleep(20 * MS);
}

__attribute__((noinline)) static void use_stack(int depth)
{
    volatile char big[4096];
    for (size_t i = 0; i < sizeof big; i += 64)
        big[i] = (char)i;
    if (depth > 0)
        use_stack(depth - 1);
}

static void stack_user(void *arg)
{
    gr_waitgroup *wg = arg;
    use_stack(8);
    gr_waitgroup_done(wg);
}

static void reuse_stacks(void *arg)
{
    (void)arg;
    gr_waitgroup wg = GR_WAITGROUP_INIT;
    for (int i = 0; i < 64; i++) {
        gr_waitgroup_add(&wg, 1);
        gr_go(stack_user, &wg);
    }
    gr_waitgroup_wait(&wg);
}

static int stacks_scenario(void)
{
    for (int i = 0; i < 3; i++) {
        if (gr_test_run(2, abandon_deep, NULL) != 0)
            return 60;
        if (gr_test_run(2, reuse_stacks, NULL) != 0)
            return 61;
    }
    return 0;
}

Test(core_teardown, abandoned_stacks_reused_clean, .timeout = 30)
{
    ASSERT_CHILD_OK(stacks_scenario, 20);
}
