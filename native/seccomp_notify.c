/*
 * The seccomp notifier's kernel side, for berthd's count of denied system
 * calls (src/container/seccomp-notifier.ts). A container that opts in runs
 * a profile whose denials are SCMP_ACT_NOTIFY instead of SCMP_ACT_ERRNO; the
 * OCI runtime connects to berthd's listener socket (linux.seccomp.listenerPath)
 * and hands over the filter's notification fd with SCM_RIGHTS, beside the
 * container's state as JSON. berthd then answers each notification with the
 * errno the profile would have returned, after counting it.
 *
 * Node cannot receive a descriptor over a unix socket nor issue the seccomp
 * ioctls, hence this code. Everything runs on the event loop: sockets and
 * notification fds are polled by libuv and every call here is non-blocking.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

/* libseccomp (a dependency of the OCI runtimes, always installed beside
   them): the name of a system call number on an architecture. Declared here
   so building needs only the library, not its development headers. */
extern char *seccomp_syscall_resolve_num_arch(uint32_t arch_token, int num);
/* The native architecture is token 0 for libseccomp's lookups. */
#define NATIVE_ARCH 0
/* Above every system call number Linux has on any architecture today. */
#define MAX_SYSCALL 1024

#define MAX_STATE (1 << 20)

struct listener {
  uv_poll_t poll;
  int fd;
  napi_env env;
  napi_ref on_connection;
};

struct connection {
  uv_poll_t poll;
  int fd;
  int received_fd;
  char *buf;
  size_t len;
  struct listener *listener;
};

struct watch {
  uv_poll_t poll;
  int fd;
  napi_env env;
  napi_ref on_notify;
  napi_ref on_close;
  napi_async_context context;
  struct seccomp_notif_sizes sizes;
};

static void throw_errno(napi_env env, const char *what) {
  char msg[256];
  snprintf(msg, sizeof(msg), "%s: %s", what, strerror(errno));
  napi_throw_error(env, NULL, msg);
}

static napi_status path_arg(napi_env env, napi_value v, char *out, size_t size) {
  size_t len;
  napi_status s = napi_get_value_string_utf8(env, v, out, size, &len);
  if (s == napi_ok && len >= size - 1) return napi_invalid_arg;
  return s;
}

/* ---- the listener: one message per connection, an fd and the state JSON ---- */

/* True when buf holds one whole JSON object (braces inside strings skipped). */
static int json_object_complete(const char *buf, size_t len) {
  int depth = 0, in_string = 0, escaped = 0, started = 0;
  for (size_t i = 0; i < len; i++) {
    char ch = buf[i];
    if (in_string) {
      if (escaped) escaped = 0;
      else if (ch == '\\') escaped = 1;
      else if (ch == '"') in_string = 0;
      continue;
    }
    if (ch == '"') in_string = 1;
    else if (ch == '{') {
      depth++;
      started = 1;
    } else if (ch == '}' && --depth == 0 && started) return 1;
  }
  return 0;
}

static void connection_closed(uv_handle_t *h) {
  struct connection *c = h->data;
  close(c->fd);
  if (c->received_fd >= 0) close(c->received_fd);
  free(c->buf);
  free(c);
}

/* The whole message is in (the runtime closed its end): hand the fd over. */
static void connection_done(struct connection *c) {
  struct listener *l = c->listener;
  napi_handle_scope scope;
  napi_value cb, recv, argv[2], result;
  uv_poll_stop(&c->poll);
  if (c->received_fd >= 0 && napi_open_handle_scope(l->env, &scope) == napi_ok) {
    if (napi_get_reference_value(l->env, l->on_connection, &cb) == napi_ok && cb != NULL) {
      napi_get_global(l->env, &recv);
      napi_create_int32(l->env, c->received_fd, &argv[0]);
      napi_create_string_utf8(l->env, c->buf ? c->buf : "", c->len, &argv[1]);
      /* From here the fd is JS's (seccompWatch takes it, or it is closed with seccompClose). */
      c->received_fd = -1;
      napi_call_function(l->env, recv, cb, 2, argv, &result);
    }
    napi_close_handle_scope(l->env, scope);
  }
  uv_close((uv_handle_t *)&c->poll, connection_closed);
}

static void connection_readable(uv_poll_t *poll, int status, int events) {
  struct connection *c = poll->data;
  (void)events;
  if (status < 0) {
    connection_done(c);
    return;
  }
  for (;;) {
    char chunk[4096];
    char control[CMSG_SPACE(sizeof(int) * 4)];
    struct iovec iov = { chunk, sizeof(chunk) };
    struct msghdr msg;
    ssize_t n;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); n >= 0 && cm; cm = CMSG_NXTHDR(&msg, cm)) {
      if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      int *fds = (int *)CMSG_DATA(cm);
      for (size_t i = 0; i < count; i++) {
        /* One notification fd is expected; any other is closed at once. */
        if (c->received_fd < 0) c->received_fd = fds[i];
        else close(fds[i]);
      }
    }
    if (n <= 0 || c->len + (size_t)n > MAX_STATE) {
      connection_done(c);
      return;
    }
    char *grown = realloc(c->buf, c->len + (size_t)n + 1);
    if (grown == NULL) {
      connection_done(c);
      return;
    }
    c->buf = grown;
    memcpy(c->buf + c->len, chunk, (size_t)n);
    c->len += (size_t)n;
    c->buf[c->len] = 0;
    /* runc exec keeps its end open while the process runs: the message is
       whole when the state object closes, not at end of file. */
    if (c->received_fd >= 0 && json_object_complete(c->buf, c->len)) {
      connection_done(c);
      return;
    }
  }
}

static void listener_readable(uv_poll_t *poll, int status, int events) {
  struct listener *l = poll->data;
  (void)events;
  if (status < 0) return;
  for (;;) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    struct connection *c = calloc(1, sizeof(*c));
    uv_loop_t *loop;
    if (c == NULL || napi_get_uv_event_loop(l->env, &loop) != napi_ok || uv_poll_init(loop, &c->poll, fd) != 0) {
      free(c);
      close(fd);
      continue;
    }
    c->fd = fd;
    c->received_fd = -1;
    c->listener = l;
    c->poll.data = c;
    /* A connection holds nothing that should keep berthd running. */
    uv_unref((uv_handle_t *)&c->poll);
    uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT, connection_readable);
  }
}

/* seccompListen(path, onConnection(fd, stateJson)) -> listener fd. Replaces a stale socket file. */
static napi_value js_seccomp_listen(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  struct sockaddr_un addr;
  struct listener *l;
  uv_loop_t *loop;
  int fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "seccompListen(path, onConnection)");
    return NULL;
  }
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (path_arg(env, argv[0], addr.sun_path, sizeof(addr.sun_path)) != napi_ok) {
    napi_throw_type_error(env, NULL, "seccompListen: path must be a string shorter than 108 bytes");
    return NULL;
  }
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, "socket");
    return NULL;
  }
  unlink(addr.sun_path);
  if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || chmod(addr.sun_path, 0600) != 0 || listen(fd, 64) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    throw_errno(env, addr.sun_path);
    return NULL;
  }
  l = calloc(1, sizeof(*l));
  if (l == NULL || napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &l->poll, fd) != 0) {
    free(l);
    close(fd);
    napi_throw_error(env, NULL, "seccompListen: cannot poll the socket");
    return NULL;
  }
  l->fd = fd;
  l->env = env;
  l->poll.data = l;
  napi_create_reference(env, argv[1], 1, &l->on_connection);
  uv_unref((uv_handle_t *)&l->poll);
  uv_poll_start(&l->poll, UV_READABLE, listener_readable);
  napi_create_int32(env, fd, &result);
  /* The listener lives as long as the daemon; its struct is not freed. */
  return result;
}

/* ---- a notification fd: every denial answered with the profile's errno ---- */

static void watch_closed(uv_handle_t *h) {
  struct watch *w = h->data;
  close(w->fd);
  free(w);
}

static void watch_end(struct watch *w) {
  napi_handle_scope scope;
  napi_value cb, recv, result;
  uv_poll_stop(&w->poll);
  if (napi_open_handle_scope(w->env, &scope) == napi_ok) {
    if (napi_get_reference_value(w->env, w->on_close, &cb) == napi_ok && cb != NULL) {
      napi_get_global(w->env, &recv);
      napi_make_callback(w->env, w->context, recv, cb, 0, NULL, &result);
    }
    napi_close_handle_scope(w->env, scope);
  }
  napi_delete_reference(w->env, w->on_notify);
  napi_delete_reference(w->env, w->on_close);
  napi_async_destroy(w->env, w->context);
  uv_close((uv_handle_t *)&w->poll, watch_closed);
}

/* True once the filter has no task left (the fd hangs up). */
static int poll_fd_hup(struct pollfd *p) {
  p->revents = 0;
  if (poll(p, 1, 0) < 0) return 0;
  return (p->revents & (POLLHUP | POLLERR | POLLNVAL)) != 0 && (p->revents & POLLIN) == 0;
}

static void watch_readable(uv_poll_t *poll, int status, int events) {
  struct watch *w = poll->data;
  struct pollfd p = { w->fd, POLLIN, 0 };
  (void)events;
  if (status < 0) {
    watch_end(w);
    return;
  }
  /* No task uses the filter any more: nothing will ever come. */
  if (poll_fd_hup(&p)) {
    watch_end(w);
    return;
  }
  struct seccomp_notif *req = calloc(1, w->sizes.seccomp_notif);
  struct seccomp_notif_resp *resp = calloc(1, w->sizes.seccomp_notif_resp);
  if (req == NULL || resp == NULL) {
    free(req);
    free(resp);
    return;
  }
  if (ioctl(w->fd, SECCOMP_IOCTL_NOTIF_RECV, req) == 0) {
    napi_handle_scope scope;
    int answer = EPERM;
    if (napi_open_handle_scope(w->env, &scope) == napi_ok) {
      napi_value cb, recv, argv[4], result;
      char *name = seccomp_syscall_resolve_num_arch(req->data.arch, req->data.nr);
      if (napi_get_reference_value(w->env, w->on_notify, &cb) == napi_ok && cb != NULL) {
        napi_get_global(w->env, &recv);
        napi_create_uint32(w->env, req->pid, &argv[0]);
        napi_create_uint32(w->env, req->data.arch, &argv[1]);
        napi_create_int32(w->env, req->data.nr, &argv[2]);
        napi_create_string_utf8(w->env, name ? name : "", NAPI_AUTO_LENGTH, &argv[3]);
        if (napi_make_callback(w->env, w->context, recv, cb, 4, argv, &result) == napi_ok) {
          int32_t e;
          if (napi_get_value_int32(w->env, result, &e) == napi_ok && e > 0) answer = e;
        }
      }
      free(name);
      napi_close_handle_scope(w->env, scope);
    }
    resp->id = req->id;
    resp->error = -answer;
    resp->val = 0;
    resp->flags = 0;
    /* ENOENT: the task is gone (killed meanwhile); nothing to answer. */
    ioctl(w->fd, SECCOMP_IOCTL_NOTIF_SEND, resp);
  }
  free(req);
  free(resp);
}

/*
 * seccompWatch(fd, onNotify(pid, arch, nr, name) -> errno, onClose()).
 * Takes ownership of fd (closed when the filter has no task left).
 */
static napi_value js_seccomp_watch(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], name;
  struct watch *w;
  uv_loop_t *loop;
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "seccompWatch(fd, onNotify, onClose)");
    return NULL;
  }
  w = calloc(1, sizeof(*w));
  if (w == NULL) {
    napi_throw_error(env, NULL, "seccompWatch: out of memory");
    return NULL;
  }
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &w->sizes) != 0) {
    free(w);
    throw_errno(env, "seccomp(SECCOMP_GET_NOTIF_SIZES)");
    return NULL;
  }
  /* The kernel's structs may have grown; never allocate less than ours. */
  if (w->sizes.seccomp_notif < sizeof(struct seccomp_notif)) w->sizes.seccomp_notif = sizeof(struct seccomp_notif);
  if (w->sizes.seccomp_notif_resp < sizeof(struct seccomp_notif_resp)) w->sizes.seccomp_notif_resp = sizeof(struct seccomp_notif_resp);
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &w->poll, fd) != 0) {
    free(w);
    napi_throw_error(env, NULL, "seccompWatch: cannot poll the fd");
    return NULL;
  }
  w->fd = fd;
  w->env = env;
  w->poll.data = w;
  napi_create_reference(env, argv[1], 1, &w->on_notify);
  napi_create_reference(env, argv[2], 1, &w->on_close);
  napi_create_string_utf8(env, "berth:seccomp-notify", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &w->context);
  uv_unref((uv_handle_t *)&w->poll);
  uv_poll_start(&w->poll, UV_READABLE | UV_DISCONNECT, watch_readable);
  return NULL;
}

/* seccompClose(fd): a received fd JS does not watch. */
static napi_value js_seccomp_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "seccompClose(fd)");
    return NULL;
  }
  close(fd);
  return NULL;
}

/* syscallNames() -> the native architecture's system call names. */
static napi_value js_syscall_names(napi_env env, napi_callback_info info) {
  napi_value out, v;
  uint32_t n = 0;
  (void)info;
  napi_create_array(env, &out);
  for (int nr = 0; nr < MAX_SYSCALL; nr++) {
    char *name = seccomp_syscall_resolve_num_arch(NATIVE_ARCH, nr);
    if (name == NULL) continue;
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v);
    napi_set_element(env, out, n++, v);
    free(name);
  }
  return out;
}

napi_status seccomp_notify_exports(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "seccompListen", NULL, js_seccomp_listen, NULL, NULL, NULL, napi_enumerable, NULL },
    { "seccompWatch", NULL, js_seccomp_watch, NULL, NULL, NULL, napi_enumerable, NULL },
    { "seccompClose", NULL, js_seccomp_close, NULL, NULL, NULL, napi_enumerable, NULL },
    { "syscallNames", NULL, js_syscall_names, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  return napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
