/*
 * berth_native: the few system calls berthd needs on its hot paths that Node
 * has no API for.
 *
 * mount/umount replace a util-linux process each (a fork of the whole daemon
 * plus an exec), which on the container start path costs milliseconds per
 * call; the calls take microseconds and run on libuv's thread pool so the
 * event loop never waits on the kernel.
 *
 * spawn starts a process with posix_spawn, which glibc implements with
 * clone(CLONE_VM | CLONE_VFORK): unlike libuv's fork() it does not copy the
 * daemon's page tables, a cost that grows with the daemon's memory (about
 * 2.5 ms at 75 MiB) and is paid on the event loop. spawnAsync does the same
 * on a thread-pool thread, so the event loop does not wait for the child's
 * exec either. The child's exit is watched through a pidfd polled by the
 * event loop, and reaped here.
 *
 * readFiles reads a batch of small kernel pseudo-files (cgroup and /proc
 * files, generated on read) in one thread-pool job, by path or through a
 * descriptor kept open: a stats call for a node's pods reads over a thousand
 * of them, which synchronously held the event loop for tens of milliseconds
 * and through fs/promises cost four thread-pool round trips each.
 *
 * usage walks writable layers for their size, as du does, in one thread-pool
 * job: kubelet's stats calls every 10 s want all of a node's layers, and
 * walked on the event loop they held it for 10-15 ms at 130 containers,
 * delaying every call that arrived meanwhile.
 *
 * pinNamespaces makes a pod's network, IPC and UTS namespaces and pins them
 * on files, with loopback up, where `unshare` exec'ing `ip` took two
 * processes per pod. openNetDevs opens each pod's net/dev from inside its
 * network namespace once, where a pod with no process left to read it
 * through took an `nsenter` per stats call. sealedCopy makes the sealed
 * in-memory copy of runc that spares runc cloning itself before every
 * container process.
 *
 * seccomp_notify.c (linked in) receives seccomp notification fds from the
 * OCI runtime and answers the notifications.
 *
 * Built by scripts/build-native.sh with the system C compiler against the
 * Node-API headers of the running Node.js; loaded by src/util/native.ts.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <uv.h>

/* native/seccomp_notify.c: the seccomp notifier's listener and notification fds. */
napi_status seccomp_notify_exports(napi_env env, napi_value exports);

enum op { OP_MOUNT, OP_UMOUNT };

struct request {
  enum op op;
  char *source;
  char *target;
  char *fstype;
  char *data;
  unsigned long flags;
  int err;
  napi_deferred deferred;
  napi_async_work work;
};

static void request_free(struct request *r) {
  free(r->source);
  free(r->target);
  free(r->fstype);
  free(r->data);
  free(r);
}

/* A JS string argument as a heap copy; NULL for null or undefined. */
static napi_status string_arg(napi_env env, napi_value v, char **out) {
  napi_valuetype t;
  size_t len;
  napi_status s = napi_typeof(env, v, &t);
  *out = NULL;
  if (s != napi_ok) return s;
  if (t == napi_null || t == napi_undefined) return napi_ok;
  s = napi_get_value_string_utf8(env, v, NULL, 0, &len);
  if (s != napi_ok) return s;
  *out = malloc(len + 1);
  if (*out == NULL) return napi_generic_failure;
  return napi_get_value_string_utf8(env, v, *out, len + 1, &len);
}

/* Runs on a thread-pool thread: the mount table is per process, not per thread. */
static void execute(napi_env env, void *data) {
  struct request *r = data;
  int rc;
  (void)env;
  if (r->op == OP_MOUNT)
    rc = mount(r->source, r->target, r->fstype, r->flags, r->data);
  else
    rc = umount2(r->target, (int)r->flags);
  r->err = rc == 0 ? 0 : errno;
}

/* Back on the event loop: settles the promise with 0 or the errno. */
static void complete(napi_env env, napi_status status, void *data) {
  struct request *r = data;
  napi_value v;
  if (status != napi_ok) r->err = ECANCELED;
  if (napi_create_int32(env, r->err, &v) == napi_ok) napi_resolve_deferred(env, r->deferred, v);
  napi_delete_async_work(env, r->work);
  request_free(r);
}

/*
 * A promise that `done` settles (through *deferred) after `exec` has run on a
 * thread-pool thread with `data`; NULL, with nothing queued and no exception
 * set, when that cannot be arranged (the caller frees `data` and throws).
 */
static napi_value queue_work(napi_env env, const char *name, napi_async_execute_callback exec, napi_async_complete_callback done,
                             void *data, napi_deferred *deferred, napi_async_work *work) {
  napi_value promise, resource_name;
  *work = NULL;
  if (napi_create_promise(env, deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_create_async_work(env, NULL, resource_name, exec, done, data, work) != napi_ok ||
      napi_queue_async_work(env, *work) != napi_ok) {
    if (*work != NULL) napi_delete_async_work(env, *work);
    return NULL;
  }
  return promise;
}

/* Rejects the promise behind `deferred` with an Error saying `message`. */
static void reject_with(napi_env env, napi_deferred deferred, const char *message) {
  napi_value msg, err;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &err);
  napi_reject_deferred(env, deferred, err);
}

static napi_value queue(napi_env env, struct request *r, const char *name) {
  napi_value promise = queue_work(env, name, execute, complete, r, &r->deferred, &r->work);
  if (promise == NULL) {
    request_free(r);
    napi_throw_error(env, NULL, "berth_native: could not queue the call");
  }
  return promise;
}

static int flags_arg(napi_env env, napi_value v, unsigned long *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d < 0) return 0;
  *out = (unsigned long)d;
  return 1;
}

/*
 * The arguments of a call that must be exactly `want` long, and a zeroed
 * request for it; NULL (with a JS exception pending) otherwise.
 */
static struct request *request_new(napi_env env, napi_callback_info info, size_t want, napi_value *argv, const char *usage) {
  size_t argc = want;
  struct request *r;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != want) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  r = calloc(1, sizeof(*r));
  if (r == NULL) napi_throw_error(env, NULL, "berth_native: out of memory");
  return r;
}

/* mount(source, target, fstype, flags, data) -> Promise<errno> */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  struct request *r = request_new(env, info, 5, argv, "mount(source, target, fstype, flags, data)");
  if (r == NULL) return NULL;
  r->op = OP_MOUNT;
  if (string_arg(env, argv[0], &r->source) != napi_ok || string_arg(env, argv[1], &r->target) != napi_ok ||
      string_arg(env, argv[2], &r->fstype) != napi_ok || string_arg(env, argv[4], &r->data) != napi_ok ||
      r->target == NULL || !flags_arg(env, argv[3], &r->flags)) {
    request_free(r);
    napi_throw_type_error(env, NULL, "mount: target must be a string, flags a non-negative number");
    return NULL;
  }
  return queue(env, r, "berth.mount");
}

/* umount(target, flags) -> Promise<errno> */
static napi_value js_umount(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct request *r = request_new(env, info, 2, argv, "umount(target, flags)");
  if (r == NULL) return NULL;
  r->op = OP_UMOUNT;
  if (string_arg(env, argv[0], &r->target) != napi_ok || r->target == NULL || !flags_arg(env, argv[1], &r->flags)) {
    request_free(r);
    napi_throw_type_error(env, NULL, "umount: target must be a string, flags a non-negative number");
    return NULL;
  }
  return queue(env, r, "berth.umount");
}

/* The one argument of a call taking an array, and its length; false (a TypeError thrown, saying `usage`) otherwise. */
static bool array_arg(napi_env env, napi_callback_info info, napi_value *arg, uint32_t *count, const char *usage) {
  size_t argc = 1;
  bool is_array = false;
  if (napi_get_cb_info(env, info, &argc, arg, NULL, NULL) == napi_ok && argc == 1 &&
      napi_is_array(env, arg[0], &is_array) == napi_ok && is_array && napi_get_array_length(env, arg[0], count) == napi_ok)
    return true;
  napi_throw_type_error(env, NULL, usage);
  return false;
}

/* Copies the `count` strings of array `arr` into `out` (allocated by the caller); throws `usage` as a TypeError and returns false on an item that is not a string. */
static bool string_items(napi_env env, napi_value arr, uint32_t count, char **out, const char *usage) {
  for (uint32_t i = 0; i < count; i++) {
    napi_value p;
    if (napi_get_element(env, arr, i, &p) != napi_ok || string_arg(env, p, &out[i]) != napi_ok || out[i] == NULL) {
      napi_throw_type_error(env, NULL, usage);
      return false;
    }
  }
  return true;
}

/* ---- readFiles -------------------------------------------------------------- */

/* Largest file read whole; longer ones are cut here (cgroup and /proc files are a few KiB). */
#define READ_FILES_CAP (256 * 1024)

struct read_files {
  size_t count;
  char **paths; /* NULL where fds[i] is read instead */
  int *fds;
  char **texts; /* NULL where the file could not be read */
  size_t *lengths;
  napi_deferred deferred;
  napi_async_work work;
};

static void read_files_free(struct read_files *r) {
  for (size_t i = 0; i < r->count; i++) {
    if (r->paths != NULL) free(r->paths[i]);
    if (r->texts != NULL) free(r->texts[i]);
  }
  free(r->paths);
  free(r->fds);
  free(r->texts);
  free(r->lengths);
  free(r);
}

static void read_files_execute(napi_env env, void *data) {
  struct read_files *r = data;
  char *buf = malloc(READ_FILES_CAP);
  (void)env;
  if (buf == NULL) return;
  for (size_t i = 0; i < r->count; i++) {
    int kept = r->paths[i] == NULL;
    int fd = kept ? r->fds[i] : open(r->paths[i], O_RDONLY | O_CLOEXEC);
    size_t n = 0;
    int failed = 0;
    if (fd < 0) continue;
    /* pread from 0: a kept descriptor is read again from the start (seq files regenerate). */
    while (n < READ_FILES_CAP) {
      ssize_t k = pread(fd, buf + n, READ_FILES_CAP - n, (off_t)n);
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) failed = 1;
      if (k <= 0) break;
      n += (size_t)k;
    }
    if (!kept) close(fd);
    if (failed) continue;
    r->texts[i] = malloc(n > 0 ? n : 1);
    if (r->texts[i] == NULL) continue;
    memcpy(r->texts[i], buf, n);
    r->lengths[i] = n;
  }
  free(buf);
}

static void read_files_complete(napi_env env, napi_status status, void *data) {
  struct read_files *r = data;
  napi_value out, v;
  if (status != napi_ok || napi_create_array_with_length(env, r->count, &out) != napi_ok) {
    reject_with(env, r->deferred, "readFiles: cancelled");
  } else {
    for (size_t i = 0; i < r->count; i++) {
      if (r->texts[i] == NULL) napi_get_null(env, &v);
      else napi_create_string_latin1(env, r->texts[i], r->lengths[i], &v);
      napi_set_element(env, out, (uint32_t)i, v);
    }
    napi_resolve_deferred(env, r->deferred, out);
  }
  napi_delete_async_work(env, r->work);
  read_files_free(r);
}

/*
 * readFiles(items) -> Promise<(string | null)[]>: the latin1 text of each
 * file, null where it could not be read. An item is a path (opened, read,
 * closed) or the descriptor of a file kept open (read from offset 0, left
 * open; the caller must not close it before the promise settles).
 */
static napi_value js_read_files(napi_env env, napi_callback_info info) {
  napi_value argv[1], promise;
  uint32_t count;
  struct read_files *r;
  if (!array_arg(env, info, argv, &count, "readFiles(items: (string | number)[])")) return NULL;
  r = calloc(1, sizeof(*r));
  if (r == NULL || (count > 0 && ((r->paths = calloc(count, sizeof(char *))) == NULL ||
                                  (r->fds = calloc(count, sizeof(int))) == NULL ||
                                  (r->texts = calloc(count, sizeof(char *))) == NULL ||
                                  (r->lengths = calloc(count, sizeof(size_t))) == NULL))) {
    if (r != NULL) read_files_free(r);
    napi_throw_error(env, NULL, "berth_native: out of memory");
    return NULL;
  }
  r->count = count;
  for (uint32_t i = 0; i < count; i++) {
    napi_value p;
    napi_valuetype t;
    int32_t fd = -1;
    int ok = napi_get_element(env, argv[0], i, &p) == napi_ok && napi_typeof(env, p, &t) == napi_ok;
    if (ok && t == napi_number)
      ok = napi_get_value_int32(env, p, &fd) == napi_ok && fd >= 0;
    else
      ok = ok && t == napi_string && string_arg(env, p, &r->paths[i]) == napi_ok && r->paths[i] != NULL;
    if (!ok) {
      read_files_free(r);
      napi_throw_type_error(env, NULL, "readFiles: every item must be a path or a descriptor");
      return NULL;
    }
    r->fds[i] = fd;
  }
  if ((promise = queue_work(env, "berth.readFiles", read_files_execute, read_files_complete, r, &r->deferred, &r->work)) == NULL) {
    read_files_free(r);
    napi_throw_error(env, NULL, "readFiles: could not queue the reads");
    return NULL;
  }
  return promise;
}

/* ---- usage ----------------------------------------------------------------- */

/* (dev, inode) of files with more than one link already counted in a walk: du counts each once. */
struct inode_set {
  uint64_t *keys; /* pairs; a zero pair is an empty slot (no file has inode 0) */
  size_t cap, used;
};

static uint64_t inode_hash(uint64_t dev, uint64_t ino) {
  uint64_t h = (ino ^ (dev << 32 | dev >> 32)) * 0x9E3779B97F4A7C15ULL;
  return h ^ (h >> 29);
}

/* 1 when (dev, ino) was added now, 0 when it was there; -1 out of memory. */
static int inode_set_add(struct inode_set *s, uint64_t dev, uint64_t ino) {
  size_t i;
  if (2 * (s->used + 1) > s->cap) {
    struct inode_set grown = { NULL, s->cap ? 2 * s->cap : 64, 0 };
    if ((grown.keys = calloc(grown.cap * 2, sizeof(uint64_t))) == NULL) return -1;
    for (i = 0; i < s->cap; i++)
      if (s->keys[2 * i + 1] != 0) inode_set_add(&grown, s->keys[2 * i], s->keys[2 * i + 1]);
    free(s->keys);
    *s = grown;
  }
  for (i = inode_hash(dev, ino) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
    if (s->keys[2 * i + 1] == 0) {
      s->keys[2 * i] = dev;
      s->keys[2 * i + 1] = ino;
      s->used++;
      return 1;
    }
    if (s->keys[2 * i] == dev && s->keys[2 * i + 1] == ino) return 0;
  }
}

struct usage_walk {
  uint64_t bytes, inodes;
  struct inode_set seen;
  int failed;
};

/* Deeper trees are counted down to here only: each level holds a descriptor. */
#define USAGE_MAX_DEPTH 128

/* Counts `st` (the entry itself); 0 when it was counted before through another link. */
static int usage_count(struct usage_walk *w, const struct stat *st) {
  if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
    int added = inode_set_add(&w->seen, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
    if (added < 0) w->failed = 1;
    if (added <= 0) return 0;
  }
  w->inodes++;
  w->bytes += (uint64_t)st->st_blocks * 512;
  return 1;
}

/* Counts what is under the directory open as `fd` (taken and closed). Entries removed meanwhile are skipped. */
static void usage_dir(struct usage_walk *w, int fd, int depth) {
  DIR *d = fdopendir(fd);
  struct dirent *e;
  if (d == NULL) {
    close(fd);
    return;
  }
  while ((e = readdir(d)) != NULL) {
    struct stat st;
    if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0))) continue;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!usage_count(w, &st) || !S_ISDIR(st.st_mode) || depth >= USAGE_MAX_DEPTH) continue;
    int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub >= 0) usage_dir(w, sub, depth + 1);
  }
  closedir(d);
}

struct usage_req {
  size_t count;
  char **roots;
  uint64_t *bytes, *inodes;
  char *found; /* 0 where the root could not be read */
  napi_deferred deferred;
  napi_async_work work;
};

static void usage_req_free(struct usage_req *r) {
  for (size_t i = 0; r->roots != NULL && i < r->count; i++) free(r->roots[i]);
  free(r->roots);
  free(r->bytes);
  free(r->inodes);
  free(r->found);
  free(r);
}

static void usage_execute(napi_env env, void *data) {
  struct usage_req *r = data;
  (void)env;
  for (size_t i = 0; i < r->count; i++) {
    struct usage_walk w;
    struct stat st;
    memset(&w, 0, sizeof(w));
    if (lstat(r->roots[i], &st) != 0) continue;
    usage_count(&w, &st);
    if (S_ISDIR(st.st_mode)) {
      int fd = open(r->roots[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0) usage_dir(&w, fd, 1);
    }
    free(w.seen.keys);
    if (w.failed) continue;
    r->bytes[i] = w.bytes;
    r->inodes[i] = w.inodes;
    r->found[i] = 1;
  }
}

static void usage_complete(napi_env env, napi_status status, void *data) {
  struct usage_req *r = data;
  napi_value out, v, n;
  if (status != napi_ok || napi_create_array_with_length(env, r->count, &out) != napi_ok) {
    reject_with(env, r->deferred, "usage: cancelled");
  } else {
    for (size_t i = 0; i < r->count; i++) {
      if (!r->found[i]) {
        napi_get_null(env, &v);
      } else {
        napi_create_array_with_length(env, 2, &v);
        napi_create_double(env, (double)r->bytes[i], &n);
        napi_set_element(env, v, 0, n);
        napi_create_double(env, (double)r->inodes[i], &n);
        napi_set_element(env, v, 1, n);
      }
      napi_set_element(env, out, (uint32_t)i, v);
    }
    napi_resolve_deferred(env, r->deferred, out);
  }
  napi_delete_async_work(env, r->work);
  usage_req_free(r);
}

/*
 * usage(roots) -> Promise<([bytes, inodes] | null)[]>: allocated bytes and
 * inodes under each root, the root included, as du counts them (files with
 * several links once per root, symlinks not followed), walked in one
 * thread-pool job; null where a root could not be read.
 */
static napi_value js_usage(napi_env env, napi_callback_info info) {
  napi_value argv[1], promise;
  uint32_t count;
  struct usage_req *r;
  if (!array_arg(env, info, argv, &count, "usage(roots: string[])")) return NULL;
  r = calloc(1, sizeof(*r));
  if (r == NULL || (count > 0 && ((r->roots = calloc(count, sizeof(char *))) == NULL ||
                                  (r->bytes = calloc(count, sizeof(uint64_t))) == NULL ||
                                  (r->inodes = calloc(count, sizeof(uint64_t))) == NULL ||
                                  (r->found = calloc(count, 1)) == NULL))) {
    if (r != NULL) usage_req_free(r);
    napi_throw_error(env, NULL, "berth_native: out of memory");
    return NULL;
  }
  r->count = count;
  if (!string_items(env, argv[0], count, r->roots, "usage: every root must be a path")) {
    usage_req_free(r);
    return NULL;
  }
  if ((promise = queue_work(env, "berth.usage", usage_execute, usage_complete, r, &r->deferred, &r->work)) == NULL) {
    usage_req_free(r);
    napi_throw_error(env, NULL, "usage: could not queue the walk");
    return NULL;
  }
  return promise;
}

/* ---- openNetDevs ----------------------------------------------------------- */

struct netdev_req {
  size_t count;
  char **netns; /* pinned network namespace files */
  int *fds;     /* -1 where the namespace could not be entered or its net/dev opened */
  napi_deferred deferred;
  napi_async_work work;
};

static void netdev_req_free(struct netdev_req *r) {
  for (size_t i = 0; r->netns != NULL && i < r->count; i++) free(r->netns[i]);
  free(r->netns);
  free(r->fds);
  free(r);
}

/*
 * A thread of its own, as pin_thread: setns() moves only the calling thread,
 * and this one ends with the job, so no thread the daemon keeps is left in
 * a pod's namespace. /proc/thread-self/net/dev shows the namespace of the
 * thread that opens it, and the open file keeps showing that namespace.
 */
static void *netdev_thread(void *data) {
  struct netdev_req *r = data;
  for (size_t i = 0; i < r->count; i++) {
    int ns = open(r->netns[i], O_RDONLY | O_CLOEXEC);
    if (ns < 0) continue;
    if (setns(ns, CLONE_NEWNET) == 0) r->fds[i] = open("/proc/thread-self/net/dev", O_RDONLY | O_CLOEXEC);
    close(ns);
  }
  return NULL;
}

static void netdev_execute(napi_env env, void *data) {
  pthread_t t;
  (void)env;
  if (pthread_create(&t, NULL, netdev_thread, data) == 0) pthread_join(t, NULL);
}

static void netdev_complete(napi_env env, napi_status status, void *data) {
  struct netdev_req *r = data;
  napi_value out, v;
  if (status != napi_ok || napi_create_array_with_length(env, r->count, &out) != napi_ok) {
    for (size_t i = 0; i < r->count; i++)
      if (r->fds[i] >= 0) close(r->fds[i]);
    reject_with(env, r->deferred, "openNetDevs: cancelled");
  } else {
    for (size_t i = 0; i < r->count; i++) {
      if (r->fds[i] < 0) napi_get_null(env, &v);
      else napi_create_int32(env, r->fds[i], &v);
      napi_set_element(env, out, (uint32_t)i, v);
    }
    napi_resolve_deferred(env, r->deferred, out);
  }
  napi_delete_async_work(env, r->work);
  netdev_req_free(r);
}

/*
 * openNetDevs(netns) -> Promise<(number | null)[]>: for each pinned network
 * namespace file, a close-on-exec descriptor of that namespace's net/dev
 * (read it from offset 0 for the current counters; it keeps the namespace
 * alive until closed), or null where it could not be opened. Opened by a
 * short-lived thread that enters each namespace in turn.
 */
static napi_value js_open_net_devs(napi_env env, napi_callback_info info) {
  napi_value argv[1], promise;
  uint32_t count;
  struct netdev_req *r;
  if (!array_arg(env, info, argv, &count, "openNetDevs(netns: string[])")) return NULL;
  r = calloc(1, sizeof(*r));
  if (r == NULL || (count > 0 && ((r->netns = calloc(count, sizeof(char *))) == NULL || (r->fds = malloc(count * sizeof(int))) == NULL))) {
    if (r != NULL) netdev_req_free(r);
    napi_throw_error(env, NULL, "berth_native: out of memory");
    return NULL;
  }
  r->count = count;
  for (uint32_t i = 0; i < count; i++) r->fds[i] = -1;
  if (!string_items(env, argv[0], count, r->netns, "openNetDevs: every item must be a path")) {
    netdev_req_free(r);
    return NULL;
  }
  if ((promise = queue_work(env, "berth.openNetDevs", netdev_execute, netdev_complete, r, &r->deferred, &r->work)) == NULL) {
    netdev_req_free(r);
    napi_throw_error(env, NULL, "openNetDevs: could not queue the call");
    return NULL;
  }
  return promise;
}

/* ---- pipe ------------------------------------------------------------------ */

/* pipe() -> [readFd, writeFd], both close-on-exec (children get only what spawn maps). */
static napi_value js_pipe(napi_env env, napi_callback_info info) {
  int fds[2];
  napi_value out, v;
  (void)info;
  if (pipe2(fds, O_CLOEXEC) != 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  napi_create_array_with_length(env, 2, &out);
  napi_create_int32(env, fds[0], &v);
  napi_set_element(env, out, 0, v);
  napi_create_int32(env, fds[1], &v);
  napi_set_element(env, out, 1, v);
  return out;
}

/* ---- spawn ----------------------------------------------------------------- */

struct child {
  uv_poll_t poll;
  int pidfd;
  pid_t pid;
  napi_env env;
  napi_ref on_exit;
  napi_async_context context;
};

static void child_closed(uv_handle_t *h) {
  struct child *c = h->data;
  close(c->pidfd);
  free(c);
}

/* The pidfd turned readable: the child exited. Reap it and report. */
static void child_exited(uv_poll_t *poll, int status, int events) {
  struct child *c = poll->data;
  siginfo_t si;
  napi_handle_scope scope;
  napi_value cb, recv, argv[2], result;
  int reaped;
  (void)status;
  (void)events;
  memset(&si, 0, sizeof(si));
  reaped = waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG) == 0;
  if (reaped && si.si_pid == 0) return; /* woken early: not exited yet */
  uv_poll_stop(poll);
  if (napi_open_handle_scope(c->env, &scope) == napi_ok) {
    if (napi_get_reference_value(c->env, c->on_exit, &cb) == napi_ok && cb != NULL) {
      napi_get_global(c->env, &recv);
      if (!reaped) {
        /* Reaped by somebody else: the status is unknown. */
        napi_get_null(c->env, &argv[0]);
        napi_get_null(c->env, &argv[1]);
      } else if (si.si_code == CLD_EXITED) {
        napi_create_int32(c->env, si.si_status, &argv[0]);
        napi_get_null(c->env, &argv[1]);
      } else {
        napi_get_null(c->env, &argv[0]);
        napi_create_int32(c->env, si.si_status, &argv[1]);
      }
      /* make_callback, not call_function: promise jobs the callback queues run right after it. */
      napi_make_callback(c->env, c->context, recv, cb, 2, argv, &result);
    }
    napi_close_handle_scope(c->env, scope);
  }
  napi_delete_reference(c->env, c->on_exit);
  napi_async_destroy(c->env, c->context);
  uv_close((uv_handle_t *)poll, child_closed);
}

static char **string_array(napi_env env, napi_value arr) {
  uint32_t n, i;
  char **out;
  if (napi_get_array_length(env, arr, &n) != napi_ok) return NULL;
  out = calloc(n + 1, sizeof(char *));
  if (out == NULL) return NULL;
  for (i = 0; i < n; i++) {
    napi_value v;
    if (napi_get_element(env, arr, i, &v) != napi_ok || string_arg(env, v, &out[i]) != napi_ok || out[i] == NULL) {
      for (uint32_t j = 0; j <= i; j++) free(out[j]);
      free(out);
      return NULL;
    }
  }
  return out;
}

static void free_strings(char **a) {
  if (a == NULL) return;
  for (char **p = a; *p; p++) free(*p);
  free(a);
}

/* One spawn: what the child gets, and how posix_spawn went. */
struct spawn_req {
  char *file, *cwd, **args, **envp;
  /* Duplicates of the daemon's descriptors, numbered at or above nfds, close-on-exec. */
  int *tmp;
  uint32_t nfds;
  int session;
  bool keep_alive;
  int rc;
  pid_t pid;
  /* spawnAsync: onExit, held from the call until the child is watched. */
  napi_ref on_exit;
  napi_deferred deferred;
  napi_async_work work;
};

static void spawn_req_free(struct spawn_req *s) {
  if (s->tmp != NULL)
    for (uint32_t i = 0; i < s->nfds; i++)
      if (s->tmp[i] >= 0) close(s->tmp[i]);
  free(s->tmp);
  free(s->file);
  free(s->cwd);
  free_strings(s->args);
  free_strings(s->envp);
  free(s);
}

/*
 * Reads spawn's first seven arguments. Each descriptor is duplicated here to
 * a number at or above nfds, so no source is a target the child overwrites
 * before reading it (dup2 in the child clears close-on-exec on the target),
 * and so the spawn does not depend on the caller's descriptors staying open.
 * NULL with `problem` set when an argument is bad.
 */
static struct spawn_req *spawn_req_new(napi_env env, napi_value *argv, const char **problem) {
  struct spawn_req *s = calloc(1, sizeof(*s));
  bool b;
  if (s == NULL) {
    *problem = "spawn: out of memory";
    return NULL;
  }
  if (string_arg(env, argv[0], &s->file) != napi_ok || s->file == NULL || (s->args = string_array(env, argv[1])) == NULL ||
      (s->envp = string_array(env, argv[2])) == NULL || string_arg(env, argv[3], &s->cwd) != napi_ok ||
      napi_get_array_length(env, argv[4], &s->nfds) != napi_ok || napi_get_value_bool(env, argv[5], &b) != napi_ok ||
      napi_get_value_bool(env, argv[6], &s->keep_alive) != napi_ok) {
    *problem = "spawn: bad arguments";
    spawn_req_free(s);
    return NULL;
  }
  s->session = b;
  s->tmp = malloc((s->nfds ? s->nfds : 1) * sizeof(int));
  if (s->tmp == NULL) {
    *problem = "spawn: out of memory";
    s->nfds = 0;
    spawn_req_free(s);
    return NULL;
  }
  for (uint32_t i = 0; i < s->nfds; i++) s->tmp[i] = -1;
  for (uint32_t i = 0; i < s->nfds; i++) {
    napi_value v;
    int fd;
    if (napi_get_element(env, argv[4], i, &v) != napi_ok || napi_get_value_int32(env, v, &fd) != napi_ok || fd < 0) {
      *problem = "spawn: fds must be open descriptors";
      spawn_req_free(s);
      return NULL;
    }
    s->tmp[i] = fcntl(fd, F_DUPFD_CLOEXEC, (int)s->nfds);
    if (s->tmp[i] < 0) {
      *problem = "spawn: cannot duplicate a descriptor";
      spawn_req_free(s);
      return NULL;
    }
  }
  return s;
}

/* posix_spawn of the request: touches nothing but the request, so it may run on any thread. */
static void spawn_run(struct spawn_req *s) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t all, none;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  for (uint32_t i = 0; i < s->nfds; i++) posix_spawn_file_actions_adddup2(&fa, s->tmp[i], (int)i);
  if (s->cwd != NULL) posix_spawn_file_actions_addchdir_np(&fa, s->cwd);
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | (s->session ? POSIX_SPAWN_SETSID : 0));
  if (strchr(s->file, '/') != NULL)
    s->rc = posix_spawn(&s->pid, s->file, &fa, &attr, s->args, s->envp);
  else
    s->rc = posix_spawnp(&s->pid, s->file, &fa, &attr, s->args, s->envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
}

/* The error a failed posix_spawn throws or rejects with: the errno's text, and the errno. */
static napi_value spawn_error(napi_env env, struct spawn_req *s) {
  napi_value code, msg, err;
  char text[512];
  snprintf(text, sizeof(text), "spawn %s: %s", s->file, strerror(s->rc));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_int32(env, s->rc, &code);
  napi_create_error(env, NULL, msg, &err);
  napi_set_named_property(env, err, "errno", code);
  return err;
}

/*
 * Watches a started child through a pidfd polled by the event loop; onExit
 * (whose reference this takes, whatever happens) is called once it exits.
 * Returns a problem, the child killed and reaped, when it cannot be watched.
 */
static const char *watch_child(napi_env env, struct spawn_req *s, napi_ref on_exit) {
  struct child *c = NULL;
  uv_loop_t *loop;
  napi_value name;
  int pidfd = (int)syscall(SYS_pidfd_open, s->pid, 0);
  c = calloc(1, sizeof(*c));
  if (pidfd < 0 || c == NULL || napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &c->poll, pidfd) != 0) {
    /* Cannot watch it: do not leave a process nobody reaps. */
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    if (pidfd >= 0) close(pidfd);
    free(c);
    napi_delete_reference(env, on_exit);
    return "spawn: cannot watch the child through a pidfd";
  }
  c->pidfd = pidfd;
  c->pid = s->pid;
  c->env = env;
  c->poll.data = c;
  if (uv_poll_start(&c->poll, UV_READABLE, child_exited) != 0) {
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    uv_close((uv_handle_t *)&c->poll, child_closed); /* closes the pidfd, frees c */
    napi_delete_reference(env, on_exit);
    return "spawn: cannot watch the child (poll on its pidfd failed)";
  }
  c->on_exit = on_exit;
  napi_create_string_utf8(env, "berth.child", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &c->context);
  if (!s->keep_alive) uv_unref((uv_handle_t *)&c->poll);
  return NULL;
}

/* The eight arguments of spawn and spawnAsync; false (a JS exception pending) otherwise. */
static bool spawn_args(napi_env env, napi_callback_info info, napi_value *argv, const char *usage) {
  size_t argc = 8;
  napi_valuetype t;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 8 || napi_typeof(env, argv[7], &t) != napi_ok ||
      t != napi_function) {
    napi_throw_type_error(env, NULL, usage);
    return false;
  }
  return true;
}

/*
 * spawn(file, argv, env, cwd, fds, newSession, keepAlive, onExit) -> pid
 * A file without a slash is looked up on the daemon's PATH. fds[i] is the daemon's descriptor that becomes the child's descriptor i;
 * the child gets no other. Signal dispositions and mask are reset (Node
 * ignores SIGPIPE, which exec would otherwise pass on). onExit(code, signal)
 * is called once from the event loop; the pending exit keeps the loop alive
 * only when keepAlive is true (a daemon's long-lived children must not hold
 * its shutdown). Throws with the errno text when the program cannot start.
 * The calling thread waits until the child has exec'd (vfork semantics):
 * spawnAsync does not make the event loop wait.
 */
static napi_value js_spawn(napi_env env, napi_callback_info info) {
  napi_value argv[8], result = NULL;
  const char *problem = NULL;
  struct spawn_req *s;
  napi_ref on_exit;
  if (!spawn_args(env, info, argv, "spawn(file, argv, env, cwd, fds, newSession, keepAlive, onExit)")) return NULL;
  if ((s = spawn_req_new(env, argv, &problem)) == NULL) {
    napi_throw_error(env, NULL, problem);
    return NULL;
  }
  spawn_run(s);
  if (s->rc != 0)
    napi_throw(env, spawn_error(env, s));
  else if (napi_create_reference(env, argv[7], 1, &on_exit) != napi_ok)
    napi_throw_error(env, NULL, "spawn: out of memory");
  else if ((problem = watch_child(env, s, on_exit)) != NULL)
    napi_throw_error(env, NULL, problem);
  else
    napi_create_int32(env, s->pid, &result);
  spawn_req_free(s);
  return result;
}

static void spawn_execute(napi_env env, void *data) {
  (void)env;
  spawn_run(data);
}

/* Back on the event loop: the child is watched and the promise settled with its PID, or rejected. */
static void spawn_complete(napi_env env, napi_status status, void *data) {
  struct spawn_req *s = data;
  const char *problem = NULL;
  napi_value v;
  if (status != napi_ok) {
    problem = "spawn: cancelled";
  } else if (s->rc != 0) {
    napi_reject_deferred(env, s->deferred, spawn_error(env, s));
  } else {
    problem = watch_child(env, s, s->on_exit);
    s->on_exit = NULL;
    if (problem == NULL && napi_create_int32(env, s->pid, &v) == napi_ok) napi_resolve_deferred(env, s->deferred, v);
  }
  if (problem != NULL) reject_with(env, s->deferred, problem);
  if (s->on_exit != NULL) napi_delete_reference(env, s->on_exit);
  napi_delete_async_work(env, s->work);
  spawn_req_free(s);
}

/*
 * spawnAsync(file, argv, env, cwd, fds, newSession, keepAlive, onExit) -> Promise<pid>
 * spawn, with posix_spawn on a thread-pool thread: the thread that waits for
 * the child's exec is not the event loop's. Under CPU contention that wait
 * (the new task scheduled, the exec done) took 1-10 ms and up to hundreds at
 * the tail, every other call waiting behind it. The descriptors are
 * duplicated before this returns, so the caller may close its own at once.
 */
static napi_value js_spawn_async(napi_env env, napi_callback_info info) {
  napi_value argv[8], promise;
  const char *problem = NULL;
  struct spawn_req *s;
  if (!spawn_args(env, info, argv, "spawnAsync(file, argv, env, cwd, fds, newSession, keepAlive, onExit)")) return NULL;
  if ((s = spawn_req_new(env, argv, &problem)) == NULL) {
    napi_throw_error(env, NULL, problem);
    return NULL;
  }
  if (napi_create_reference(env, argv[7], 1, &s->on_exit) != napi_ok ||
      (promise = queue_work(env, "berth.spawn", spawn_execute, spawn_complete, s, &s->deferred, &s->work)) == NULL) {
    if (s->on_exit != NULL) napi_delete_reference(env, s->on_exit);
    spawn_req_free(s);
    napi_throw_error(env, NULL, "spawnAsync: could not queue the spawn");
    return NULL;
  }
  return promise;
}

/* ---- pinNamespaces ---------------------------------------------------------- */

static const char *const NS_NAMES[3] = { "net", "ipc", "uts" };
static const int NS_FLAGS[3] = { CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS };

struct pin_req {
  char *files[3]; /* where to pin each namespace (net, ipc, uts); NULL where not wanted */
  char message[512]; /* empty on success */
  napi_deferred deferred;
  napi_async_work work;
};

static void pin_req_free(struct pin_req *r) {
  for (int i = 0; i < 3; i++) free(r->files[i]);
  free(r);
}

/* Brings loopback up in the calling thread's network namespace. */
static int loopback_up(void) {
  struct ifreq ifr;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = -1;
  if (s < 0) return -1;
  memset(&ifr, 0, sizeof(ifr));
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags |= IFF_UP;
    rc = ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  int saved = errno;
  close(s);
  errno = saved;
  return rc;
}

/*
 * A thread of its own: unshare() moves only the calling thread into the new
 * namespaces, and this one ends with the job, so no thread the daemon keeps
 * (a thread-pool thread runs DNS lookups and file I/O afterwards) is ever
 * left inside a pod's namespaces. The bind mounts keep them alive.
 */
static void *pin_thread(void *data) {
  struct pin_req *r = data;
  int flags = 0;
  char src[64];
  for (int i = 0; i < 3; i++)
    if (r->files[i] != NULL) flags |= NS_FLAGS[i];
  if (unshare(flags) != 0) {
    snprintf(r->message, sizeof(r->message), "unshare: %s", strerror(errno));
    return NULL;
  }
  for (int i = 0; i < 3; i++) {
    if (r->files[i] == NULL) continue;
    snprintf(src, sizeof(src), "/proc/thread-self/ns/%s", NS_NAMES[i]);
    if (mount(src, r->files[i], NULL, MS_BIND, NULL) != 0) {
      snprintf(r->message, sizeof(r->message), "pinning the %s namespace on %s: %s", NS_NAMES[i], r->files[i], strerror(errno));
      return NULL;
    }
  }
  if (r->files[0] != NULL && loopback_up() != 0)
    snprintf(r->message, sizeof(r->message), "bringing loopback up: %s", strerror(errno));
  return NULL;
}

static void pin_execute(napi_env env, void *data) {
  struct pin_req *r = data;
  pthread_t t;
  int rc;
  (void)env;
  if ((rc = pthread_create(&t, NULL, pin_thread, r)) != 0) {
    snprintf(r->message, sizeof(r->message), "starting the thread that makes the namespaces: %s", strerror(rc));
    return;
  }
  pthread_join(t, NULL);
}

static void pin_complete(napi_env env, napi_status status, void *data) {
  struct pin_req *r = data;
  napi_value undef;
  if (status != napi_ok) reject_with(env, r->deferred, "pinNamespaces: cancelled");
  else if (r->message[0] != '\0') reject_with(env, r->deferred, r->message);
  else if (napi_get_undefined(env, &undef) == napi_ok) napi_resolve_deferred(env, r->deferred, undef);
  napi_delete_async_work(env, r->work);
  pin_req_free(r);
}

/*
 * pinNamespaces(net, ipc, uts) -> Promise<void>: new network, IPC and UTS
 * namespaces (those given a path), each bind-mounted onto its (existing)
 * file, and loopback up in the network one. A failure rejects with what
 * failed; what was pinned before it stays mounted for the caller to undo.
 */
static napi_value js_pin_namespaces(napi_env env, napi_callback_info info) {
  napi_value argv[3], promise;
  size_t argc = 3;
  struct pin_req *r;
  bool any = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3) {
    napi_throw_type_error(env, NULL, "pinNamespaces(net, ipc, uts)");
    return NULL;
  }
  if ((r = calloc(1, sizeof(*r))) == NULL) {
    napi_throw_error(env, NULL, "berth_native: out of memory");
    return NULL;
  }
  for (int i = 0; i < 3; i++) {
    if (string_arg(env, argv[i], &r->files[i]) != napi_ok) {
      pin_req_free(r);
      napi_throw_type_error(env, NULL, "pinNamespaces: each file must be a path, null or undefined");
      return NULL;
    }
    any = any || r->files[i] != NULL;
  }
  if (!any) {
    pin_req_free(r);
    napi_throw_type_error(env, NULL, "pinNamespaces: no namespace asked for");
    return NULL;
  }
  if ((promise = queue_work(env, "berth.pinNamespaces", pin_execute, pin_complete, r, &r->deferred, &r->work)) == NULL) {
    pin_req_free(r);
    napi_throw_error(env, NULL, "pinNamespaces: could not queue the call");
    return NULL;
  }
  return promise;
}

/* ---- sealedCopy ------------------------------------------------------------- */

/* The seals runc looks for on its own executable: with all four it skips copying itself. */
#define SEALED_COPY_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

/*
 * sealedCopy(path) -> fd: a memfd holding a copy of the file at `path`,
 * sealed against any change (runc's memfd-bind). runc executed from it
 * finds itself sealed and does not clone its binary before every container
 * process (a read-only bind mount of itself, mounted and unmounted, and a
 * second exec of the 8 MiB binary, per create and exec). Close-on-exec:
 * processes exec it through /proc/<daemon>/fd/<fd>. Synchronous: made once
 * at start and again only when the binary is replaced.
 */
static napi_value js_sealed_copy(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  size_t argc = 1;
  char *path = NULL, message[512];
  struct stat st;
  int src = -1, fd = -1;
  off_t sent = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      string_arg(env, argv[0], &path) != napi_ok || path == NULL) {
    free(path);
    napi_throw_type_error(env, NULL, "sealedCopy(path: string)");
    return NULL;
  }
  message[0] = '\0';
  if ((src = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(src, &st) != 0)
    snprintf(message, sizeof(message), "sealedCopy: reading %s: %s", path, strerror(errno));
  else if ((fd = memfd_create(path, MFD_CLOEXEC | MFD_ALLOW_SEALING)) < 0)
    snprintf(message, sizeof(message), "sealedCopy: memfd_create: %s", strerror(errno));
  else {
    while (sent < st.st_size) {
      ssize_t n = sendfile(fd, src, NULL, (size_t)(st.st_size - sent));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        snprintf(message, sizeof(message), "sealedCopy: copying %s: %s", path, n < 0 ? strerror(errno) : "the file shrank while copied");
        break;
      }
      sent += n;
    }
    if (message[0] == '\0' && (fchmod(fd, 0755) != 0 || fcntl(fd, F_ADD_SEALS, SEALED_COPY_SEALS) != 0))
      snprintf(message, sizeof(message), "sealedCopy: sealing the copy of %s: %s", path, strerror(errno));
  }
  if (src >= 0) close(src);
  free(path);
  if (message[0] != '\0') {
    if (fd >= 0) close(fd);
    napi_throw_error(env, NULL, message);
    return NULL;
  }
  if (napi_create_int32(env, fd, &out) != napi_ok) {
    close(fd);
    return NULL;
  }
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "mount", NULL, js_mount, NULL, NULL, NULL, napi_enumerable, NULL },
    { "umount", NULL, js_umount, NULL, NULL, NULL, napi_enumerable, NULL },
    { "pipe", NULL, js_pipe, NULL, NULL, NULL, napi_enumerable, NULL },
    { "spawn", NULL, js_spawn, NULL, NULL, NULL, napi_enumerable, NULL },
    { "spawnAsync", NULL, js_spawn_async, NULL, NULL, NULL, napi_enumerable, NULL },
    { "readFiles", NULL, js_read_files, NULL, NULL, NULL, napi_enumerable, NULL },
    { "usage", NULL, js_usage, NULL, NULL, NULL, napi_enumerable, NULL },
    { "pinNamespaces", NULL, js_pin_namespaces, NULL, NULL, NULL, napi_enumerable, NULL },
    { "openNetDevs", NULL, js_open_net_devs, NULL, NULL, NULL, napi_enumerable, NULL },
    { "sealedCopy", NULL, js_sealed_copy, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return NULL;
  if (seccomp_notify_exports(env, exports) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(berth_native, init)
