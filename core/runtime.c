/*
 * core/runtime.c: configuration (GR_MAXPROCS default, GRDEBUG), process
 * set-up (RLIMIT_NOFILE), statistics and version.
 *
 * Invariants: last_stats under stats_lock; lock order (core/lockrank.h):
 * stats_lock, then sched.lock (stats_fill counts the Ms).
 */
#include "core/sched.h"
#include "core/netpoll.h"
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

struct gr__debug gr__debug;
static struct gr_stats last_stats;
static gr__mutex stats_lock = GR__MUTEX_RANKED(GR__RANK_STATS);

static void debug_defaults(void)
{
    memset(&gr__debug, 0, sizeof gr__debug);
    gr__debug.handoff = 1;
    gr__debug.retake_ns = 20 * 1000;
    gr__debug.sysmon_ns = 20 * 1000;
    gr__debug.preempt_ns = 10 * 1000 * 1000;
    gr__debug.deadlock = 1;
    strcpy(gr__debug.poller, "uring");
}

/* One GRDEBUG setting: a number in min..max (in the unit the name says),
 * stored times scale in *i64 or *i32; min 0 and max 1 is a switch. */
struct debug_key {
    const char *name;
    long long min, max, scale;
    int64_t *i64;
    int *i32;
};

static void debug_set(const struct debug_key *d, const char *v)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    long long cur = d->i64 ? *d->i64 / d->scale : *d->i32 / d->scale;
    if (!*v || *end || errno || n < d->min || n > d->max) {
        if (d->min == 0 && d->max == 1)
            fprintf(stderr, "goring: GRDEBUG: %s=%s is not 0 or 1, using %lld\n", d->name, v, cur);
        else
            fprintf(stderr, "goring: GRDEBUG: %s=%s is not a number in %lld..%lld, using %lld\n", d->name,
                    v, d->min, d->max, cur);
        return;
    }
    if (d->i64)
        *d->i64 = n * d->scale;
    else
        *d->i32 = (int)(n * d->scale);
}

/* GRDEBUG=name=value,name=value (like GODEBUG). Every value is checked: a
 * bad one, or an unknown name, is reported in one line on stderr saying
 * what is used instead, and the rest of GRDEBUG still applies. */
void gr__debug_parse(void)
{
    debug_defaults();
    const struct debug_key keys[] = {
        { "schedtrace", 0, 3600 * 1000, 1, &gr__debug.schedtrace_ms, NULL },
        { "handoff", 0, 1, 1, NULL, &gr__debug.handoff },
        { "retake_us", 0, 1000 * 1000 * 1000, 1000, &gr__debug.retake_ns, NULL },
        { "sysmon_us", 1, 1000 * 1000 * 1000, 1000, &gr__debug.sysmon_ns, NULL },
        { "preempt_ms", 1, 3600 * 1000, 1000 * 1000, &gr__debug.preempt_ns, NULL },
        { "deadlock", 0, 1, 1, NULL, &gr__debug.deadlock },
        { "crash", 0, 1, 1, NULL, &gr__debug.crash },
        { "cq_entries", 0, 1 << 20, 1, NULL, &gr__debug.cq_entries },
        { "sq_entries", 0, 1 << 15, 1, NULL, &gr__debug.sq_entries },
        { "io_direct", 0, 1, 1, NULL, &gr__debug.io_direct },
    };
    const char *e = getenv("GRDEBUG");
    if (!e)
        e = "";
    char buf[512];
    snprintf(buf, sizeof buf, "%s", e);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            fprintf(stderr, "goring: GRDEBUG: %s is not name=value, ignored\n", tok);
            continue;
        }
        *eq = 0;
        const char *k = tok, *v = eq + 1;
        size_t ki = 0, nkeys = sizeof keys / sizeof keys[0];
        while (ki < nkeys && strcmp(k, keys[ki].name) != 0)
            ki++;
        if (ki < nkeys)
            debug_set(&keys[ki], v);
        else if (!strcmp(k, "poller"))
            snprintf(gr__debug.poller, sizeof gr__debug.poller, "%s", v);
        else if (!strcmp(k, "taskrun")) {
            /* read by io/netpoll_uring.c */
            if (strcmp(v, "coop") != 0 && strcmp(v, "plain") != 0)
                fprintf(stderr, "goring: GRDEBUG: taskrun=%s is not coop or plain, using coop\n", v);
        }
        else
            fprintf(stderr, "goring: GRDEBUG: unknown setting %s, ignored\n", k);
    }
    if (strcmp(gr__debug.poller, "uring") != 0) {
        fprintf(stderr, "goring: GRDEBUG: poller=%s is not available (only uring), using uring\n",
                gr__debug.poller);
        strcpy(gr__debug.poller, "uring");
    }
    const char *tb = getenv("GOTRACEBACK");
    if (tb && !strcmp(tb, "crash"))
        gr__debug.crash = 1;
    /* Go raises the soft RLIMIT_NOFILE to the hard limit at start. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* CPUs in the affinity mask, lowered by a cgroup v2 cpu.max quota
 * (rounded up, at least 2 unless fewer CPUs), as Go 1.25 does. */
int gr__default_procs(void)
{
    cpu_set_t set;
    int n = 1;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
    if (n < 1)
        n = 1;
    FILE *f = fopen("/proc/self/cgroup", "re");
    char path[600] = "";
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (!strncmp(line, "0::", 3)) {
                line[strcspn(line, "\n")] = 0;
                snprintf(path, sizeof path, "/sys/fs/cgroup%s/cpu.max", line + 3);
                break;
            }
        }
        fclose(f);
    }
    if (path[0]) {
        f = fopen(path, "re");
        if (f) {
            char quota[64];
            long long period = 0;
            if (fscanf(f, "%63s %lld", quota, &period) == 2 && strcmp(quota, "max") != 0 && period > 0) {
                long long q = strtoll(quota, NULL, 10);
                long long lim = (q + period - 1) / period;
                if (lim < 2)
                    lim = 2;
                if (lim < n)
                    n = (int)lim;
            }
            fclose(f);
        }
    }
    return n > GR__MAX_PROCS ? GR__MAX_PROCS : n;
}

/* GR_MAXPROCS if set and valid (1..256; larger is capped), else the
 * default. warn: say so on stderr when the value is not usable. */
int gr__env_procs(bool warn)
{
    int n = gr__default_procs();
    const char *e = getenv("GR_MAXPROCS");
    if (e && *e) {
        char *end;
        long v = strtol(e, &end, 10);
        if (*end || v <= 0) {
            if (warn)
                fprintf(stderr, "goring: GR_MAXPROCS=%s is not a number of Ps in 1..%d, using %d\n", e,
                        GR__MAX_PROCS, n);
        } else if (v > GR__MAX_PROCS) {
            if (warn)
                fprintf(stderr, "goring: GR_MAXPROCS=%s is more than %d Ps, using %d\n", e, GR__MAX_PROCS,
                        GR__MAX_PROCS);
            n = GR__MAX_PROCS;
        } else {
            n = (int)v;
        }
    }
    return n;
}

int gr_maxprocs(void)
{
    if (gr__running())
        return gr__sched.nprocs;
    return gr__env_procs(false);
}

static void stats_fill(struct gr_stats *st)
{
    memset(st, 0, sizeof *st);
    int64_t ng = atomic_load(&gr__sched.ngoroutines);
    st->goroutines = ng > 0 ? (uint64_t)ng : 0;
    st->goroutines_created = atomic_load(&gr__sched.ngcreated);
    st->ps = (uint32_t)gr__sched.nprocs;
    st->idle_ps = (uint32_t)atomic_load(&gr__sched.npidle);
    gr__lock(&gr__sched.lock);
    uint32_t ms = 0;
    for (M *mp = gr__sched.allm; mp; mp = mp->alllink)
        ms++;
    st->ms = ms;
    st->idle_ms = (uint32_t)gr__sched.nmidle;
    gr__unlock(&gr__sched.lock);
    st->spinning_ms = (uint32_t)atomic_load(&gr__sched.nmspinning);
    st->ms_created = atomic_load(&gr__sched.nmcreated);
    uint64_t steals = 0;
    for (int i = 0; gr__sched.allp && i < gr__sched.nprocs; i++)
        steals += atomic_load(&gr__sched.allp[i]->steals);
    st->steals = steals;
    st->handoffs = atomic_load(&gr__sched.nhandoffs);
    st->retakes = atomic_load(&gr__sched.nretakes);
    st->syscalls = atomic_load(&gr__sched.nsyscalls);
    st->sqes_submitted = atomic_load(&gr__sched.nsqes);
    st->cqes_reaped = atomic_load(&gr__sched.ncqes);
    st->enter_calls = atomic_load(&gr__sched.nenters);
    st->timers_fired = atomic_load(&gr__sched.ntimers_fired);
    st->preempt_requests = atomic_load(&gr__sched.npreempt);
    st->stacks_unguarded = atomic_load(&gr__sched.nstacks_unguarded);
}

void gr__stats_snapshot(void)
{
    gr__lock(&stats_lock);
    stats_fill(&last_stats);
    gr__unlock(&stats_lock);
}

void gr_stats(struct gr_stats *out)
{
    if (!out)
        return;
    if (gr__running()) {
        stats_fill(out);
        return;
    }
    gr__lock(&stats_lock);
    *out = last_stats;
    gr__unlock(&stats_lock);
}

void gr__stat_add_io(uint64_t sqes, uint64_t cqes, uint64_t enters)
{
    if (sqes)
        atomic_fetch_add_explicit(&gr__sched.nsqes, sqes, memory_order_relaxed);
    if (cqes)
        atomic_fetch_add_explicit(&gr__sched.ncqes, cqes, memory_order_relaxed);
    if (enters)
        atomic_fetch_add_explicit(&gr__sched.nenters, enters, memory_order_relaxed);
}

const char *gr_version(void)
{
    return GR_VERSION;
}

int64_t gr__runtime_epoch(void)
{
    return gr__running() ? gr__sched.start_time : 0;
}
