/*
 * core/list.h: the intrusive lists of io/ and sync/, written once.
 *
 * Nodes are any struct with `next` (and for doubly linked lists `prev`)
 * pointer fields; a list is a head pointer, a queue a head and a tail
 * pointer; both are NULL-terminated (no sentinel), so a node that is on no
 * list has next == prev == NULL after a remove. Macros rather than
 * functions because the node types differ and the fields are plain
 * members (no container_of). No locking: the caller holds whatever lock
 * guards the list (each use names it). Each argument is evaluated more
 * than once: pass lvalues without side effects.
 */
#ifndef GR_CORE_LIST_H
#define GR_CORE_LIST_H

/* Doubly linked list by head: push n at the front. */
#define GR__LIST_PUSH_FRONT(head, n) do {                                    \
        (n)->prev = NULL;                                                    \
        (n)->next = (head);                                                  \
        if (head)                                                            \
            (head)->prev = (n);                                              \
        (head) = (n);                                                        \
    } while (0)

/* Doubly linked list by head: unlink n (on the list). */
#define GR__LIST_REMOVE(head, n) do {                                        \
        if ((n)->prev)                                                       \
            (n)->prev->next = (n)->next;                                     \
        else                                                                 \
            (head) = (n)->next;                                              \
        if ((n)->next)                                                       \
            (n)->next->prev = (n)->prev;                                     \
        (n)->next = (n)->prev = NULL;                                        \
    } while (0)

/* Doubly linked queue by head and tail: append n. */
#define GR__QUEUE_PUSH_BACK(head, tail, n) do {                              \
        (n)->next = NULL;                                                    \
        (n)->prev = (tail);                                                  \
        if (tail)                                                            \
            (tail)->next = (n);                                              \
        else                                                                 \
            (head) = (n);                                                    \
        (tail) = (n);                                                        \
    } while (0)

/* Doubly linked queue by head and tail: unlink n (on the queue). */
#define GR__QUEUE_REMOVE(head, tail, n) do {                                 \
        if ((n)->prev)                                                       \
            (n)->prev->next = (n)->next;                                     \
        else                                                                 \
            (head) = (n)->next;                                              \
        if ((n)->next)                                                       \
            (n)->next->prev = (n)->prev;                                     \
        else                                                                 \
            (tail) = (n)->prev;                                              \
        (n)->next = (n)->prev = NULL;                                        \
    } while (0)

/* Singly linked queue by head and tail (nodes without prev): append n. */
#define GR__SQUEUE_PUSH_BACK(head, tail, n) do {                             \
        (n)->next = NULL;                                                    \
        if (tail)                                                            \
            (tail)->next = (n);                                              \
        else                                                                 \
            (head) = (n);                                                    \
        (tail) = (n);                                                        \
    } while (0)

#endif
