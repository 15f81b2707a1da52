/*
 * sync/sema.c: goroutine semaphores keyed by address, and the notify list
 * behind gr_cond. Go's runtime/sema.go, in C.
 *
 * A semaphore here is a sleep/wake-up primitive more than a counter: every
 * acquire that parks is paired with one release, even when the release comes
 * first (the count remembers it). Mutex, RWMutex, WaitGroup and Once are
 * built on it; their fast paths never come here.
 *
 * Layout. A fixed table of GR__SEMTAB roots (prime, so user address patterns
 * do not line up with it), each on its own cache line, holds a runtime lock,
 * the count of goroutines parked under it, and a singly linked list of
 * per-address queues. The first waiter of each address is the queue's head
 * (it carries the tail pointer and the link to the next address); the
 * others hang off it in FIFO order. Waiter records live on the parked
 * goroutine's stack: a goroutine's stack outlives its park.
 *
 * Rejected: Go's treap of distinct addresses per root. It bounds lookups at
 * O(log n) when thousands of distinct addresses collide in one root (Go
 * issue 17953); a list is O(n) there but simpler, and with 251 roots and
 * wait queues that are usually one address deep it is a single compare.
 * Revisit with a benchmark of many colliding addresses if that shows up.
 *
 * Invariants:
 * - Lock order (core/lockrank.h): root->lock is a leaf among sync's locks; while holding it we
 *   call nothing that takes another lock except gr__park_unlock, which
 *   releases it. gr__ready is called after it is dropped. notifylist->lock
 *   is likewise a leaf.
 * - A waiter is in at most one root queue. It is published (queued) under
 *   root->lock and the lock is released only after the goroutine has
 *   switched out (gr__park_unlock), so whoever dequeues it may gr__ready it
 *   at once. Only the goroutine that dequeued a waiter readies it; after the
 *   ready the waiter record may vanish, so every field it needs (g, ticket,
 *   next) is read first.
 * - root->nwait counts waiters queued or about to queue under the root. It is
 *   incremented under the lock before the last count check (acquire) and is
 *   read without the lock after the count increment (release). Both sides
 *   are seq_cst read-modify-writes/loads: it is a store-load (Dekker) pair,
 *   and a weaker order could let each side miss the other's write and lose a
 *   wake-up.
 * - The count word: cansemacquire's CAS is acquire (it takes what the
 *   releaser published), release's add is seq_cst (release + the Dekker pair
 *   above).
 * - waiter->ticket is written by the releaser before gr__ready and read by
 *   the waiter after it resumes; the ready/resume handoff in core orders it.
 */
#include "sync/sema.h"
#include "core/list.h"

#include <stddef.h>

#define GR__SEMTAB 251

__thread uint32_t gr__sync_tick __attribute__((tls_model("initial-exec")));

/* The out-of-line half of the header's inline unlock (goring/sync.h). */
void gr__sync_preempt_check(void)
{
    gr__checkpreempt();
}

struct semwaiter {
    G *g;
    _Atomic uint32_t *addr;
    struct semwaiter *next;      /* next waiter on the same address */
    struct semwaiter *tail;      /* (head only) last waiter on the address */
    struct semwaiter *nextaddr;  /* (head only) next address's queue */
    uint32_t ticket;             /* 1: the releaser handed us the count */
};

struct semroot {
    gr__mutex lock;
    _Atomic uint32_t nwait;      /* waiters under this root; see Invariants */
    struct semwaiter *heads;     /* (lock) one queue per address */
};

static struct {
    struct semroot root;
    char pad[64 - sizeof(struct semroot)];
} semtable[GR__SEMTAB] __attribute__((aligned(64)));

_Static_assert(sizeof(struct semroot) <= 64, "semroot fits a cache line");
_Static_assert(sizeof(gr__mutex) == sizeof(uint32_t), "gr__mutex is one word");

static struct semroot *root_for(_Atomic uint32_t *addr)
{
    return &semtable[((uintptr_t)addr >> 3) % GR__SEMTAB].root;
}

static bool cansemacquire(_Atomic uint32_t *addr)
{
    uint32_t v = atomic_load_explicit(addr, memory_order_relaxed);
    for (;;) {
        if (v == 0)
            return false;
        /* acquire: pairs with the releaser's add, so its writes are ours */
        if (atomic_compare_exchange_weak_explicit(addr, &v, v - 1,
                memory_order_acquire, memory_order_relaxed))
            return true;
    }
}

/* Queue w on addr. Root lock held. */
static void queue(struct semroot *root, _Atomic uint32_t *addr,
                  struct semwaiter *w, bool lifo)
{
    w->addr = addr;
    w->next = NULL;
    w->ticket = 0;
    struct semwaiter **pp = &root->heads;
    for (struct semwaiter *h = *pp; h; pp = &h->nextaddr, h = *pp) {
        if (h->addr != addr)
            continue;
        if (lifo) {
            /* w becomes the head, h its first follower */
            w->next = h;
            w->tail = h->tail;
            w->nextaddr = h->nextaddr;
            *pp = w;
        } else {
            h->tail->next = w;
            h->tail = w;
        }
        return;
    }
    /* a new address: its own queue, at the front of the root's list */
    w->tail = w;
    w->nextaddr = root->heads;
    root->heads = w;
}

/* Take the first waiter on addr, or NULL. Root lock held. */
static struct semwaiter *dequeue(struct semroot *root, _Atomic uint32_t *addr)
{
    struct semwaiter **pp = &root->heads;
    for (struct semwaiter *h = *pp; h; pp = &h->nextaddr, h = *pp) {
        if (h->addr != addr)
            continue;
        struct semwaiter *n = h->next;
        if (n) {
            n->tail = h->tail;
            n->nextaddr = h->nextaddr;
            *pp = n;
        } else {
            *pp = h->nextaddr;
        }
        h->next = h->nextaddr = h->tail = NULL;
        return h;
    }
    return NULL;
}

void gr__semacquire(uint32_t *word, int flags, int reason, const char *what)
{
    _Atomic uint32_t *addr = GR__SEMWORD(word);
    if (cansemacquire(addr))
        return;
    G *gp = gr__getg();
    if (gr__unlikely(gp == NULL))
        gr__throwf("sync: %s called outside a goroutine", what);

    struct semwaiter w = { .g = gp };
    struct semroot *root = root_for(addr);
    bool lifo = (flags & GR__SEMA_LIFO) != 0;
    for (;;) {
        gr__lock(&root->lock);
        /* announce ourselves before the last look at the count: a release
         * after this point sees nwait != 0 and comes to the queue */
        atomic_fetch_add_explicit(&root->nwait, 1, memory_order_seq_cst);
        if (cansemacquire(addr)) {
            atomic_fetch_sub_explicit(&root->nwait, 1, memory_order_relaxed);
            gr__unlock(&root->lock);
            return;
        }
        queue(root, addr, &w, lifo);
        gr__park_unlock(&root->lock, reason);
        if (w.ticket != 0 || cansemacquire(addr))
            return;
        /* a barging acquirer took the count: wait again, at the front */
        lifo = true;
    }
}

void gr__semrelease(uint32_t *word, bool handoff)
{
    _Atomic uint32_t *addr = GR__SEMWORD(word);
    struct semroot *root = root_for(addr);
    atomic_fetch_add_explicit(addr, 1, memory_order_seq_cst);
    /* after the add, or a waiter between its nwait++ and its queueing
     * would be missed (see Invariants) */
    if (atomic_load_explicit(&root->nwait, memory_order_seq_cst) == 0)
        return;

    gr__lock(&root->lock);
    if (atomic_load_explicit(&root->nwait, memory_order_relaxed) == 0) {
        /* the count was consumed by a goroutine that then did not park */
        gr__unlock(&root->lock);
        return;
    }
    struct semwaiter *w = dequeue(root, addr);
    if (w)
        atomic_fetch_sub_explicit(&root->nwait, 1, memory_order_relaxed);
    gr__unlock(&root->lock);
    if (!w)
        return;

    bool ticket = handoff && cansemacquire(addr);
    G *gp = w->g;
    w->ticket = ticket;
    gr__ready(gp);              /* w may be gone after this */
    if (ticket && gr__getg() != NULL) {
        /* Direct hand-off: the waiter sits in this P's runnext; yielding lets
         * it run now, inheriting our time slice, instead of the releaser
         * re-taking the lock it just gave away. */
        gr_yield();
    }
}

void gr__semrelease_n(uint32_t *word, uint32_t n)
{
    if (n == 0)
        return;
    _Atomic uint32_t *addr = GR__SEMWORD(word);
    struct semroot *root = root_for(addr);
    atomic_fetch_add_explicit(addr, n, memory_order_seq_cst);
    if (atomic_load_explicit(&root->nwait, memory_order_seq_cst) == 0)
        return;

    struct semwaiter *list = NULL, **tailp = &list;
    gr__lock(&root->lock);
    for (uint32_t i = 0; i < n; i++) {
        if (atomic_load_explicit(&root->nwait, memory_order_relaxed) == 0)
            break;
        struct semwaiter *w = dequeue(root, addr);
        if (!w)
            break;
        atomic_fetch_sub_explicit(&root->nwait, 1, memory_order_relaxed);
        *tailp = w;
        tailp = &w->next;
    }
    gr__unlock(&root->lock);
    while (list) {
        struct semwaiter *next = list->next;   /* before the ready */
        gr__ready(list->g);
        list = next;
    }
}

void gr__sema_reset(void)
{
    for (int i = 0; i < GR__SEMTAB; i++) {
        struct semroot *root = &semtable[i].root;
        gr__lock(&root->lock);
        root->heads = NULL;
        atomic_store_explicit(&root->nwait, 0, memory_order_relaxed);
        gr__unlock(&root->lock);
    }
}

/* ---------- notify list ---------- */

struct gr__notifywaiter {
    G *g;
    uint32_t ticket;
    struct gr__notifywaiter *next;
    struct gr__notifylist *list;    /* for the teardown hook */
};

/* Tickets wrap; their live difference stays below 2^31. */
static bool ticket_less(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

uint32_t gr__notifylist_add(struct gr__notifylist *l)
{
    /* relaxed: the ticket only orders waiters; the caller's mutex (held
     * across add) orders it against signal/broadcast decisions */
    return atomic_fetch_add_explicit(&l->wait, 1, memory_order_relaxed);
}

void gr__notifylist_wait(struct gr__notifylist *l, uint32_t t)
{
    G *gp = gr__getg();
    if (gr__unlikely(gp == NULL))
        gr__throw("sync: gr_cond_wait called outside a goroutine");
    gr__lock(&l->lock);
    if (ticket_less(t, atomic_load_explicit(&l->notify, memory_order_relaxed))) {
        /* notified between add and here */
        gr__unlock(&l->lock);
        return;
    }
    struct gr__notifywaiter w = { .g = gp, .ticket = t, .next = NULL, .list = l };
    struct gr__notifywaiter *wp = &w;
    GR__SQUEUE_PUSH_BACK(l->head, l->tail, wp);
    gp->param = &w;             /* the teardown hook finds it here */
    gr__park_unlock(&l->lock, GR_WAIT_COND);
    gp->param = NULL;
}

void gr__notifylist_notify_one(struct gr__notifylist *l)
{
    /* Fast path: nobody took a ticket since the last notify. Relaxed is
     * enough: a waiter whose add we miss is one the caller's mutex (if held)
     * orders after us; without the mutex Go gives no promise either. */
    if (atomic_load_explicit(&l->wait, memory_order_relaxed) ==
        atomic_load_explicit(&l->notify, memory_order_relaxed))
        return;

    gr__lock(&l->lock);
    uint32_t t = atomic_load_explicit(&l->notify, memory_order_relaxed);
    if (t == atomic_load_explicit(&l->wait, memory_order_relaxed)) {
        gr__unlock(&l->lock);
        return;
    }
    atomic_store_explicit(&l->notify, t + 1, memory_order_relaxed);
    /* Ticket t's owner may not have queued yet; then it finds notify > t
     * when it takes the lock and does not park. */
    struct gr__notifywaiter *p = NULL;
    for (struct gr__notifywaiter *s = l->head; s; p = s, s = s->next) {
        if (s->ticket != t)
            continue;
        struct gr__notifywaiter *n = s->next;
        if (p)
            p->next = n;
        else
            l->head = n;
        if (!n)
            l->tail = p;
        G *gp = s->g;
        gr__unlock(&l->lock);
        gr__ready(gp);
        return;
    }
    gr__unlock(&l->lock);
}

void gr__notifylist_notify_all(struct gr__notifylist *l)
{
    if (atomic_load_explicit(&l->wait, memory_order_relaxed) ==
        atomic_load_explicit(&l->notify, memory_order_relaxed))
        return;

    gr__lock(&l->lock);
    struct gr__notifywaiter *s = l->head;
    l->head = l->tail = NULL;
    atomic_store_explicit(&l->notify,
        atomic_load_explicit(&l->wait, memory_order_relaxed), memory_order_relaxed);
    gr__unlock(&l->lock);
    while (s) {
        struct gr__notifywaiter *next = s->next;   /* before the ready */
        gr__ready(s->g);
        s = next;
    }
}

/* ---------- teardown ---------- */

/*
 * Teardown (core's hooks, run once every M stopped, before stacks are
 * freed): goroutines abandoned at gr_main's return may sit in the global
 * semaphore table, which is simply forgotten (fini), or in the notify list
 * of a user's gr_cond, from which each is unlinked (abandon): the cond may
 * be used again by a later runtime, so its unnotified tickets are spent
 * too. A cond waiter is recognised by its wait
 * reason and found through gp->param, set only while it is parked there;
 * one already readied (runnable, not run) is no longer in the list.
 */
static void sync_abandon(G *gp)
{
    if (atomic_load_explicit(&gp->waitreason, memory_order_relaxed) != GR_WAIT_COND ||
        gp->param == NULL)
        return;
    struct gr__notifywaiter *w = gp->param;
    struct gr__notifylist *l = w->list;
    gr__lock(&l->lock);
    struct gr__notifywaiter *p = NULL;
    for (struct gr__notifywaiter *s = l->head; s; p = s, s = s->next) {
        if (s != w)
            continue;
        if (p)
            p->next = s->next;
        else
            l->head = s->next;
        if (!s->next)
            l->tail = p;
        break;
    }
    /* Every ticket still unnotified belongs to a goroutine abandoned now
     * (only goroutines wait): spend them all, or a later runtime's signal
     * would go to one of them and its new waiter would sleep on. */
    atomic_store_explicit(&l->notify, atomic_load_explicit(&l->wait, memory_order_relaxed),
                          memory_order_relaxed);
    gr__unlock(&l->lock);
    gp->param = NULL;
}

static const struct gr__hooks sync_hooks = { .abandon = sync_abandon, .fini = gr__sema_reset };

__attribute__((constructor)) static void sync_register_hooks(void)
{
    for (int i = 0; i < GR__SEMTAB; i++)
        gr__lock_init(&semtable[i].root.lock, GR__RANK_SEMROOT);
    gr__register_hooks(&sync_hooks);
}
