/* tests/io_file.c: file and pipe I/O through the ring (read, write, fsync,
 * pread, pwrite, readv, writev, openat), and -EPERM outside goroutines. */
#include "harness.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

static char tmpdir[] = "/tmp/goring-io-file-XXXXXX";

static void make_tmpdir(void)
{
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        cr_log_warn("could not remove %s", tmpdir);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 7 + seed) % 253);
}

static void file_rw(void *arg)
{
    char path[128];
    snprintf(path, sizeof path, "%s/data", tmpdir);
    int fd = gr_openat(AT_FDCWD, path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    CHECKF(fd >= 0, "openat: %d", fd);
    if (fd < 0)
        return;
    CHECKF(fcntl(fd, F_GETFD) & FD_CLOEXEC, "O_CLOEXEC not set");

    size_t n = 1 << 20;
    unsigned char *a = malloc(n), *b = malloc(n);
    fill(a, n, 1);
    CHECK_EQ(gr_write_all(fd, a, n), n);
    CHECK_EQ(gr_fsync(fd), 0);
    /* the file position is at the end: a read says EOF */
    CHECK_EQ(gr_read(fd, b, 16), 0);
    memset(b, 0, n);
    CHECK_EQ(gr_pread(fd, b, n, 0), n);
    CHECKF(memcmp(a, b, n) == 0, "pread data differs");

    /* pwrite in the middle, read it back with the position moved by lseek */
    unsigned char patch[4096];
    fill(patch, sizeof patch, 9);
    CHECK_EQ(gr_pwrite(fd, patch, sizeof patch, 4096), sizeof patch);
    CHECK_EQ(lseek(fd, 4096, SEEK_SET), 4096);
    unsigned char back[4096];
    CHECK_EQ(gr_read(fd, back, sizeof back), sizeof back);
    CHECKF(memcmp(back, patch, sizeof back) == 0, "read after pwrite differs");
    /* read advanced the position */
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 8192);

    /* readv / writev */
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    char x[3] = "abc", y[5] = "defgh";
    struct iovec wv[2] = { { x, 3 }, { y, 5 } };
    CHECK_EQ(gr_writev(fd, wv, 2), 8);
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    char p[4] = { 0 }, q[4] = { 0 };
    struct iovec rv[2] = { { p, 4 }, { q, 4 } };
    CHECK_EQ(gr_readv(fd, rv, 2), 8);
    CHECKF(memcmp(p, "abcd", 4) == 0 && memcmp(q, "efgh", 4) == 0, "readv data");

    CHECK_EQ(gr_pread(fd, b, 10, -1), -EINVAL);
    CHECK_EQ(gr_readv(fd, rv, -1), -EINVAL);
    CHECK_EQ(gr_close(fd), 0);
    CHECK_EQ(gr_close(fd), -EBADF);
    CHECK_EQ(gr_read(fd, b, 1), -EBADF);

    CHECK_EQ(gr_openat(AT_FDCWD, "/nonexistent/goring", O_RDONLY, 0), -ENOENT);
    CHECK_EQ(gr_openat(AT_FDCWD, NULL, O_RDONLY, 0), -EFAULT);
    /* dfd-relative */
    int dfd = gr_openat(AT_FDCWD, tmpdir, O_RDONLY | O_DIRECTORY, 0);
    CHECKF(dfd >= 0, "open dir: %d", dfd);
    int f2 = gr_openat(dfd, "data", O_RDONLY, 0);
    CHECKF(f2 >= 0, "openat rel: %d", f2);
    CHECK_EQ(gr_pread(f2, b, 3, 0), 3);
    CHECKF(memcmp(b, "abc", 3) == 0, "relative open reads the same file");
    gr_close(f2);
    gr_close(dfd);
    free(a);
    free(b);
}

Test(io_file, read_write_fsync_pread_pwrite, .init = make_tmpdir, .fini = rm_tmpdir, .timeout = 30)
{
    RUN(2, file_rw, NULL);
}

/* 64 goroutines writing and reading their own regions of one file. */
static int shared_fd;
static gr_waitgroup wg = GR_WAITGROUP_INIT;

static void region_worker(void *arg)
{
    long i = (long)(intptr_t)arg;
    size_t sz = 64 * 1024;
    unsigned char *a = malloc(sz), *b = malloc(sz);
    fill(a, sz, (unsigned)i);
    for (int round = 0; round < 4; round++) {
        CHECK_EQ(gr_pwrite(shared_fd, a, sz, (off_t)(i * (long)sz)), sz);
        memset(b, 0, sz);
        CHECK_EQ(gr_pread(shared_fd, b, sz, (off_t)(i * (long)sz)), sz);
        CHECKF(memcmp(a, b, sz) == 0, "region %ld differs", i);
    }
    if (i % 8 == 0)
        CHECK_EQ(gr_fsync(shared_fd), 0);
    free(a);
    free(b);
    gr_waitgroup_done(&wg);
}

static void file_concurrent(void *arg)
{
    char path[128];
    snprintf(path, sizeof path, "%s/shared", tmpdir);
    shared_fd = gr_openat(AT_FDCWD, path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    CHECKF(shared_fd >= 0, "open: %d", shared_fd);
    if (shared_fd < 0)
        return;
    gr_waitgroup_add(&wg, 64);
    for (long i = 0; i < 64; i++)
        gr_go(region_worker, (void *)(intptr_t)i);
    gr_waitgroup_wait(&wg);
    struct stat st;
    fstat(shared_fd, &st);
    CHECK_EQ(st.st_size, 64 * 64 * 1024);
    gr_close(shared_fd);
}

Test(io_file, concurrent_regions, .init = make_tmpdir, .fini = rm_tmpdir, .timeout = 60)
{
    RUN(2, file_concurrent, NULL);
}

/* Pipes: a reader blocks in the ring until a writer writes; also O_NONBLOCK. */
static int pfd[2];

static void pipe_writer(void *arg)
{
    gr_sleep(((20) * MS));
    CHECK_EQ(gr_write(pfd[1], "hello", 5), 5);
    gr_sleep(((20) * MS));
    CHECK_EQ(gr_close(pfd[1]), 0);
}

static void pipes(void *arg)
{
    int flags = (int)(intptr_t)arg;
    CHECK_EQ(pipe2(pfd, O_CLOEXEC | flags), 0);
    gr_go(pipe_writer, NULL);
    char buf[16] = { 0 };
    CHECK_EQ(gr_read(pfd[0], buf, sizeof buf), 5);
    CHECKF(memcmp(buf, "hello", 5) == 0, "pipe data");
    CHECK_EQ(gr_read(pfd[0], buf, sizeof buf), 0);   /* EOF after the writer closed */
    CHECK_EQ(gr_close(pfd[0]), 0);
}

Test(io_file, pipe_blocking, .timeout = 20)
{
    RUN(2, pipes, (void *)0);
}

Test(io_file, pipe_nonblocking_fd_still_blocks_goroutine, .timeout = 20)
{
    RUN(2, pipes, (void *)(intptr_t)O_NONBLOCK);
}

/* Blocking calls outside a goroutine: -EPERM, never undefined behaviour. */
static void *plain_thread(void *arg)
{
    int *out = arg;
    char b[4];
    uint32_t w = 0;
    out[0] = (int)gr_read(0, b, 1);
    out[1] = gr_accept(0, NULL, NULL, 0);
    out[2] = gr_dial_tcp("127.0.0.1:1", -1);
    out[3] = gr_futex_wait(&w, 0, -1);
    out[4] = gr_openat(AT_FDCWD, "/", O_RDONLY, 0);
    out[5] = gr_poll(0, POLLIN, -1);
    out[6] = (int)gr_write_all(1, b, 1);
    return NULL;
}

static void eperm_during_runtime(void *arg)
{
    int *out = arg;
    pthread_t th;
    pthread_create(&th, NULL, plain_thread, out);
    gr_syscall_enter();
    pthread_join(th, NULL);
    gr_syscall_exit();
}

Test(io_file, eperm_outside_goroutine, .timeout = 20)
{
    int out[7];
    plain_thread(out);    /* no runtime at all */
    for (int i = 0; i < 7; i++)
        cr_expect_eq(out[i], -EPERM, "call %d (no runtime): %d", i, out[i]);
    memset(out, 0, sizeof out);
    RUN(2, eperm_during_runtime, out);   /* a plain thread while a runtime runs */
    for (int i = 0; i < 7; i++)
        cr_expect_eq(out[i], -EPERM, "call %d (plain thread): %d", i, out[i]);
}
