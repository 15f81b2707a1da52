/* tests/sync_fatal.c: misuse that Go answers with a fatal error or a panic
 * that goroutine has no way to recover from. Each case runs in a child
 * process; its stderr must start with "goring: fatal error: <cause>" and it
 * must exit with status 2. */
#include "harness.h"

static void unlock_unlocked(void *arg)
{
    (void)arg;
    gr_mutex m = GR_MUTEX_INIT;
    gr_mutex_unlock(&m);
}

static void double_unlock(void *arg)
{
    (void)arg;
    gr_mutex m = GR_MUTEX_INIT;
    gr_mutex_lock(&m);
    gr_mutex_unlock(&m);
    gr_mutex_unlock(&m);
}

static void negative_wg(void *arg)
{
    (void)arg;
    gr_waitgroup wg = GR_WAITGROUP_INIT;
    gr_waitgroup_add(&wg, 1);
    gr_waitgroup_done(&wg);
    gr_waitgroup_done(&wg);
}

static void runlock_unlocked(void *arg)
{
    (void)arg;
    gr_rwmutex rw = GR_RWMUTEX_INIT;
    gr_rwmutex_runlock(&rw);
}

static void unlock_unlocked_rw(void *arg)
{
    (void)arg;
    gr_rwmutex rw = GR_RWMUTEX_INIT;
    gr_rwmutex_unlock(&rw);
}

static void sem_over_release(void *arg)
{
    (void)arg;
    gr_sem *s = gr_sem_new(2);
    gr_sem_acquire(s, 1, NULL);
    gr_sem_release(s, 2);
}

static int sleeper(void *arg, gr_ctx *ctx)
{
    (void)arg;
    (void)ctx;
    gr_sleep(1000 * MS);
    return 0;
}

static void limit_while_active(void *arg)
{
    (void)arg;
    gr_group *g = gr_group_new(NULL);
    gr_group_go(g, sleeper, NULL);
    gr_group_set_limit(g, 2);
}

Test(sync_fatal, unlock_of_unlocked_mutex, .timeout = 20)
{
    ASSERT_FATAL(1, unlock_unlocked, NULL, "sync: unlock of unlocked mutex");
    ASSERT_FATAL(2, double_unlock, NULL, "sync: unlock of unlocked mutex");
}

Test(sync_fatal, unlock_of_unlocked_mutex_outside_runtime, .timeout = 20)
{
    ASSERT_FATAL(0, unlock_unlocked, NULL, "sync: unlock of unlocked mutex");
}

Test(sync_fatal, negative_waitgroup_counter, .timeout = 20)
{
    ASSERT_FATAL(2, negative_wg, NULL, "sync: negative WaitGroup counter");
}

Test(sync_fatal, rwmutex_misuse, .timeout = 20)
{
    ASSERT_FATAL(1, runlock_unlocked, NULL, "sync: RUnlock of unlocked RWMutex");
    ASSERT_FATAL(1, unlock_unlocked_rw, NULL, "sync: Unlock of unlocked RWMutex");
}

Test(sync_fatal, semaphore_released_more_than_held, .timeout = 20)
{
    ASSERT_FATAL(1, sem_over_release, NULL, "semaphore: released more than held");
}

Test(sync_fatal, errgroup_limit_while_active, .timeout = 20)
{
    ASSERT_FATAL(2, limit_while_active, NULL,
                 "errgroup: modify limit while 1 goroutines in the group are still active");
}

static gr_sem *busy_sem;

static void sem_waiter(void *arg)
{
    (void)arg;
    gr_sem_acquire(busy_sem, 1, NULL);
}

static void sem_free_with_waiters(void *arg)
{
    (void)arg;
    busy_sem = gr_sem_new(1);
    gr_sem_acquire(busy_sem, 1, NULL);
    gr_go(sem_waiter, NULL);
    gr_sleep(5 * MS);
    gr_sem_free(busy_sem);
}

static void group_free_while_active(void *arg)
{
    (void)arg;
    gr_group *g = gr_group_new(NULL);
    gr_group_go(g, sleeper, NULL);
    gr_group_free(g);
}

Test(sync_fatal, free_while_in_use, .timeout = 20)
{
    ASSERT_FATAL(2, sem_free_with_waiters, NULL, "semaphore: gr_sem_free while goroutines wait on it");
    ASSERT_FATAL(2, group_free_while_active, NULL, "errgroup: free of a group with active members");
}

/* ---- blocking outside a goroutine ---- */

static void lock_held_on_plain_thread(void *arg)
{
    (void)arg;
    gr_mutex m = GR_MUTEX_INIT;
    gr_mutex_lock(&m);     /* free: fine anywhere */
    gr_mutex_lock(&m);     /* must wait: fatal, not a hang */
}

static void wg_wait_on_plain_thread(void *arg)
{
    (void)arg;
    gr_waitgroup wg = GR_WAITGROUP_INIT;
    gr_waitgroup_add(&wg, 1);
    gr_waitgroup_wait(&wg);
}

static void cond_wait_on_plain_thread(void *arg)
{
    (void)arg;
    gr_mutex m = GR_MUTEX_INIT;
    gr_cond c = GR_COND_INIT;
    gr_mutex_lock(&m);
    gr_cond_wait(&c, &m);
}

Test(sync_fatal, blocking_outside_a_goroutine, .timeout = 20)
{
    ASSERT_FATAL(0, lock_held_on_plain_thread, NULL, "sync: gr_mutex_lock called outside a goroutine");
    ASSERT_FATAL(0, wg_wait_on_plain_thread, NULL, "sync: gr_waitgroup_wait called outside a goroutine");
    ASSERT_FATAL(0, cond_wait_on_plain_thread, NULL, "sync: gr_cond_wait called outside a goroutine");
}

/* The dump that follows the cause names the goroutines, as Go's does. */
static void unlock_in_child_goroutine(void *arg)
{
    (void)arg;
    gr_waitgroup wg = GR_WAITGROUP_INIT;
    gr_waitgroup_add(&wg, 1);
    gr_go(unlock_unlocked, NULL);
    gr_waitgroup_wait(&wg);   /* never returns: the child is fatal first */
}

Test(sync_fatal, dump_follows, .timeout = 20)
{
    char buf[16384];
    int st = run_child(2, unlock_in_child_goroutine, NULL, buf, sizeof buf);
    cr_assert(strncmp(buf, "goring: fatal error: sync: unlock of unlocked mutex", 51) == 0, "%s", buf);
    cr_assert(strstr(buf, "goroutine 1 [") != NULL, "dump lists goroutine 1:\n%s", buf);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
}
