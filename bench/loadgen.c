/*
 * The benchmark's load generator: one thread, epoll, raw non-blocking
 * sockets, no library. It is C so that its own cost per message is a
 * fraction of any server's: a JavaScript load generator shares the machine's
 * two cores with the server and pays a garbage collector of its own.
 * Built by the runner with the system's C compiler (bench/lib/loadgen.ts).
 *
 * It speaks the runner's control channel (bench/lib/control.ts): one JSON
 * command per line on stdin, one JSON reply per line on stdout, and exits
 * when stdin closes. The runner builds every frame (bench/lib/frames.ts)
 * and hands them over in a file: `window` masked client frames back to
 * back, which this program sends cyclically (sending k messages writes the
 * next k frames of the batch). It never builds, compresses or inflates a
 * message itself.
 *
 * Echoes are counted from frame headers only; payload bytes are skipped
 * without being copied, except for each connection's first message, which
 * is compared with the first frame's payload (uncompressed) or kept for the
 * runner to inflate and compare (compressed: `firsts`).
 *
 * Commands:
 *   echo {port,path,connections,frames}  open, then keep `window` messages in
 *        flight per connection: every read that completes k echoes sends the
 *        next k messages at once (one write)
 *   broadcast {port,subscribers,frames}  subscribers on /sub, then a publisher
 *        on /pub that tops its window up whenever the first subscriber
 *        receives messages (what has not reached it yet is in flight)
 *   open {port|socketPath,path,count,concurrency,deflate,pause}  idle connections
 *   echo-once {frames,deflatedFrames,timeoutMs}  one message per idle connection
 *        (the deflated one where permessage-deflate was agreed), wait for every echo
 *   mark  counters, own CPU time, clock;  firsts {file}  kept compressed first
 *        messages, written as [u32 length][bytes]...;  close  drop every connection
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { CONNECTING = 1, HANDSHAKE, OPEN, DEAD };
/* Connection roles; also the kind of job running (OPENING: `open`). */
enum { IDLE = 0, ECHO, SUBSCRIBER, PUBLISHER, ONCE, OPENING };
/* First-message check: waiting for it, comparing it, keeping it (compressed), done. */
enum { CHECK_WAIT = 0, CHECK_COMPARE, CHECK_KEEP, CHECK_DONE };

#define READ_SIZE (256 * 1024)
#define HEAD_MAX 4096
#define HANDSHAKE_TIMEOUT_S 15.0
#define STDIN_INDEX UINT32_MAX
/* Compressed first messages kept for the runner, at most this many bytes in all. */
#define KEEP_LIMIT (64u * 1024 * 1024)

/* A batch of frames sent cyclically; `data` holds it twice so any run of up to `length` bytes is contiguous. */
typedef struct {
    uint8_t *data;
    size_t length;
    uint32_t count;
    size_t *ends; /* ends[i]: offset just past frame i */
    int opcode;
    int compressed;         /* frames carry RSV1: the first echo is kept, not compared */
    uint8_t *expected; /* the message of frame 0: its unmasked payload, or the runner's `expected` file */
    size_t expected_length;
} traffic_t;

typedef struct {
    int fd;
    uint8_t state, role, deflate, paused, want_out, check;
    uint8_t hdr_have, op, fin, rsv1;
    uint8_t hdr[14];
    uint16_t head_length;
    char *head;
    double started;
    uint64_t left;    /* payload bytes of the current frame still to read */
    uint64_t checked; /* bytes of the first message compared or kept so far */
    uint8_t *kept;
    uint64_t owe;  /* bytes still to write */
    size_t pos;    /* where the next byte to write is in traffic->data */
    uint32_t next; /* frame the next message starts with */
    traffic_t *traffic;
} conn_t;

static conn_t *conns;
static uint32_t nconns, capacity;
static int ep;
static uint8_t *readbuf;
static char request[1024];
static int request_length;

/* Counters reported by `mark`. */
static uint64_t messages, published, failures, mismatches;
static uint32_t open_count;

/* Kept compressed first messages. */
typedef struct {
    uint8_t *bytes;
    uint32_t length;
} kept_t;
static kept_t *keeps;
static uint32_t keep_count, keep_capacity;
static uint64_t keep_bytes;

static traffic_t echo_traffic, plain_once, deflated_once;

/* The command being carried out (replied to when done), if any. */
static struct {
    long id;
    int kind; /* 0 none, or the command's role while opening / waiting */
    uint32_t target, opened, failed, compressed, concurrency, started, pending;
    double began, deadline;
    char error[200];
    int deflate, pause;
    /* endpoint */
    int port;
    char socket_path[108];
    char path[256];
    /* broadcast */
    uint32_t subscribers;
    int publisher;
    /* echo-once */
    uint32_t sent, echoed;
    uint64_t mismatches_before;
} job;

/* Broadcast state: the publisher, and the messages the first subscriber has received. */
static uint64_t first_received;
static int bc_publisher = -1, bc_first = -1;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_micros(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/* ---------------------------------------------------------------- replies */

static void json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', out);
        if ((unsigned char)*s < 0x20) continue;
        fputc(*s, out);
    }
    fputc('"', out);
}

static void reply_raw(long id, const char *result) {
    printf("{\"id\":%ld,\"ok\":true,\"result\":%s}\n", id, result);
    fflush(stdout);
}

static void reply_error(long id, const char *error) {
    printf("{\"id\":%ld,\"ok\":false,\"error\":", id);
    json_string(stdout, error);
    printf("}\n");
    fflush(stdout);
}

/* ---------------------------------------------------------------- commands (flat JSON objects) */

/* Where the value of "key" starts in `line`, or NULL. */
static const char *field(const char *line, const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(line, pattern);
    return at == NULL ? NULL : at + strlen(pattern);
}

static double number(const char *line, const char *key, double otherwise) {
    const char *at = field(line, key);
    return at == NULL ? otherwise : strtod(at, NULL);
}

static int boolean(const char *line, const char *key) {
    const char *at = field(line, key);
    return at != NULL && strncmp(at, "true", 4) == 0;
}

/* Copies the string value of "key" (no escapes expected: paths) into out; returns 0 when absent. */
static int string(const char *line, const char *key, char *out, size_t size) {
    const char *at = field(line, key);
    if (at == NULL || *at != '"') return 0;
    at++;
    size_t n = 0;
    while (*at && *at != '"' && n + 1 < size) {
        if (*at == '\\' && at[1]) at++;
        out[n++] = *at++;
    }
    out[n] = 0;
    return 1;
}

/* ---------------------------------------------------------------- traffic */

static size_t header_length(uint8_t b1) {
    uint8_t l = b1 & 0x7f;
    return 2 + (l == 126 ? 2 : l == 127 ? 8 : 0) + ((b1 & 0x80) ? 4 : 0);
}

static uint64_t payload_length(const uint8_t *h) {
    uint64_t l = h[1] & 0x7f;
    if (l == 126) return ((uint64_t)h[2] << 8) | h[3];
    if (l == 127) {
        l = 0;
        for (int i = 0; i < 8; i++) l = (l << 8) | h[2 + i];
    }
    return l;
}

static void free_traffic(traffic_t *t) {
    free(t->data);
    free(t->ends);
    free(t->expected);
    memset(t, 0, sizeof *t);
}

/* Reads a batch of masked client frames from `file`; returns an error message or NULL. */
static const char *load_traffic(traffic_t *t, const char *file) {
    free_traffic(t);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "cannot open the frames file";
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size < 6) {
        close(fd);
        return "empty frames file";
    }
    size_t length = (size_t)st.st_size;
    t->data = malloc(2 * length);
    size_t have = 0;
    while (have < length) {
        ssize_t n = read(fd, t->data + have, length - have);
        if (n <= 0) break;
        have += (size_t)n;
    }
    close(fd);
    if (have != length) return "short read of the frames file";
    memcpy(t->data + length, t->data, length);
    t->length = length;
    size_t at = 0, slots = 16;
    t->ends = malloc(slots * sizeof *t->ends);
    while (at < length) {
        if (length - at < 2 || length - at < header_length(t->data[at + 1])) return "truncated frame header";
        const uint8_t *h = t->data + at;
        if (!(h[1] & 0x80)) return "client frames must be masked";
        size_t hl = header_length(h[1]);
        uint64_t pl = payload_length(h);
        if (pl > length - at - hl) return "truncated frame payload";
        if (t->count == 0) {
            t->opcode = h[0] & 0x0f;
            t->compressed = (h[0] & 0x40) != 0;
            t->expected = malloc(pl + 1);
            const uint8_t *key = h + hl - 4;
            for (uint64_t i = 0; i < pl; i++) t->expected[i] = h[hl + i] ^ key[i & 3];
            t->expected_length = pl;
        }
        if (t->count == slots) t->ends = realloc(t->ends, (slots *= 2) * sizeof *t->ends);
        at += hl + pl;
        t->ends[t->count++] = at;
    }
    return NULL;
}

/* The first message of compressed traffic, uncompressed (what an uncompressed echo must equal). */
static const char *load_expected(traffic_t *t, const char *file) {
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "cannot open the expected-message file";
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return "cannot read the expected-message file";
    }
    free(t->expected);
    t->expected = malloc((size_t)st.st_size + 1);
    size_t have = 0;
    while (have < (size_t)st.st_size) {
        ssize_t n = read(fd, t->expected + have, (size_t)st.st_size - have);
        if (n <= 0) break;
        have += (size_t)n;
    }
    close(fd);
    t->expected_length = have;
    return have == (size_t)st.st_size ? NULL : "short read of the expected-message file";
}

/* Loads `frames` (and, for compressed traffic, `expected`) named in a command. */
static const char *command_traffic(traffic_t *t, const char *line, const char *key) {
    char file[512];
    if (!string(line, key, file, sizeof file)) return "no frames file";
    const char *problem = load_traffic(t, file);
    if (problem == NULL && t->compressed) {
        if (!string(line, "expected", file, sizeof file)) return "compressed frames need the expected message";
        problem = load_expected(t, file);
    }
    return problem;
}

/* Bytes of the k frames starting at frame `from`, wrapping around the batch (k <= count). */
static size_t span(const traffic_t *t, uint32_t from, uint32_t k) {
    size_t start = from == 0 ? 0 : t->ends[from - 1];
    uint32_t last = from + k - 1;
    if (last < t->count) return t->ends[last] - start;
    return t->length - start + t->ends[last - t->count];
}

/* ---------------------------------------------------------------- connections */

static void watch(uint32_t index, uint32_t events, int op) {
    struct epoll_event e = {.events = events, .data.u32 = index};
    epoll_ctl(ep, op, conns[index].fd, &e);
}

static void drop(uint32_t index) {
    conn_t *c = &conns[index];
    if (c->state == DEAD || c->state == 0) return;
    if (c->state == OPEN) open_count--;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->state = DEAD;
    free(c->head);
    c->head = NULL;
    free(c->kept);
    c->kept = NULL;
}

static void flush(uint32_t index) {
    conn_t *c = &conns[index];
    while (c->owe > 0) {
        size_t n = c->owe;
        ssize_t w = send(c->fd, c->traffic->data + c->pos, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                if (!c->want_out) {
                    c->want_out = 1;
                    watch(index, (c->paused ? 0 : EPOLLIN) | EPOLLOUT, EPOLL_CTL_MOD);
                }
                return;
            }
            drop(index);
            return;
        }
        c->owe -= (uint64_t)w;
        c->pos = (c->pos + (size_t)w) % c->traffic->length;
    }
    if (c->want_out) {
        c->want_out = 0;
        watch(index, c->paused ? 0 : EPOLLIN, EPOLL_CTL_MOD);
    }
}

/* Queue the next k messages of the connection's traffic and write what the socket takes. */
static void send_messages(uint32_t index, uint32_t k) {
    conn_t *c = &conns[index];
    traffic_t *t = c->traffic;
    while (k > 0) {
        uint32_t n = k < t->count ? k : t->count;
        if (c->owe == 0) c->pos = c->next == 0 ? 0 : t->ends[c->next - 1];
        c->owe += span(t, c->next, n);
        c->next = (c->next + n) % t->count;
        k -= n;
    }
    flush(index);
}

static uint32_t new_conn(void) {
    if (nconns == capacity) {
        capacity = capacity == 0 ? 1024 : capacity * 2;
        conns = realloc(conns, capacity * sizeof *conns);
    }
    memset(&conns[nconns], 0, sizeof *conns);
    conns[nconns].fd = -1;
    return nconns++;
}

static int start_connect(uint32_t index) {
    conn_t *c = &conns[index];
    int unix_socket = job.socket_path[0] != 0;
    int fd = socket(unix_socket ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int r;
    if (unix_socket) {
        struct sockaddr_un to = {.sun_family = AF_UNIX};
        memcpy(to.sun_path, job.socket_path, sizeof to.sun_path);
        r = connect(fd, (struct sockaddr *)&to, sizeof to);
    } else {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)job.port)};
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        r = connect(fd, (struct sockaddr *)&to, sizeof to);
    }
    if (r < 0 && errno != EINPROGRESS && errno != EAGAIN) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->state = CONNECTING;
    c->started = now();
    watch(index, EPOLLOUT | EPOLLIN, EPOLL_CTL_ADD);
    return 0;
}

static void note_error(const char *what) {
    if (job.error[0] == 0) snprintf(job.error, sizeof job.error, "%s", what);
}

static void opening_failed(uint32_t index, const char *why) {
    note_error(why);
    job.failed++;
    job.pending--;
    drop(index);
}

/* ---------------------------------------------------------------- frames received */

static void keep_first(conn_t *c) {
    if (keep_count == keep_capacity) {
        keep_capacity = keep_capacity == 0 ? 64 : keep_capacity * 2;
        keeps = realloc(keeps, keep_capacity * sizeof *keeps);
    }
    keeps[keep_count].bytes = c->kept;
    keeps[keep_count].length = (uint32_t)c->checked;
    keep_count++;
    keep_bytes += c->checked;
    c->kept = NULL;
}

/* The first data frame's header: decide how its message is checked. */
static void begin_check(conn_t *c, uint64_t length) {
    traffic_t *t = c->traffic;
    c->checked = 0;
    if (t == NULL || !c->fin) {
        c->check = CHECK_DONE; /* nothing sent to compare with, or a fragmented message: not compared */
        return;
    }
    if (c->rsv1) {
        if (keep_bytes + length > KEEP_LIMIT) {
            c->check = CHECK_DONE;
            return;
        }
        c->kept = malloc(length + 1);
        c->check = CHECK_KEEP;
        if (length == 0) {
            keep_first(c);
            c->check = CHECK_DONE;
        }
        return;
    }
    if (c->op != t->opcode || length != t->expected_length) {
        mismatches++;
        c->check = CHECK_DONE;
        return;
    }
    c->check = length == 0 ? CHECK_DONE : CHECK_COMPARE;
}

static void check_bytes(conn_t *c, const uint8_t *p, uint64_t n) {
    if (c->check == CHECK_COMPARE) {
        if (memcmp(p, c->traffic->expected + c->checked, n) != 0) {
            mismatches++;
            c->check = CHECK_DONE;
            return;
        }
        c->checked += n;
        if (c->left == 0) c->check = CHECK_DONE;
    } else {
        memcpy(c->kept + c->checked, p, n);
        c->checked += n;
        if (c->left == 0) {
            keep_first(c);
            c->check = CHECK_DONE;
        }
    }
}

/* A frame header was read: returns 1 when the frame completes a data message right away. */
static int frame_start(conn_t *c, const uint8_t *h) {
    c->op = h[0] & 0x0f;
    c->fin = h[0] >> 7;
    c->rsv1 = (h[0] & 0x40) != 0;
    c->left = payload_length(h);
    if (c->op >= 8) {
        if (c->op == 8) failures++;
        return 0;
    }
    if (c->check == CHECK_WAIT) begin_check(c, c->left);
    return c->left == 0 && c->fin;
}

/* Parses what a read brought; returns the number of data messages completed. */
static uint64_t parse(conn_t *c, const uint8_t *p, size_t n) {
    uint64_t done = 0;
    while (n > 0) {
        if (c->left > 0) {
            uint64_t take = c->left < n ? c->left : n;
            c->left -= take;
            if (c->op < 8 && (c->check == CHECK_COMPARE || c->check == CHECK_KEEP)) check_bytes(c, p, take);
            p += take;
            n -= take;
            if (c->left == 0 && c->op < 8 && c->fin) done++;
            continue;
        }
        if (c->hdr_have == 0 && n >= 2 && n >= header_length(p[1])) {
            size_t hl = header_length(p[1]);
            done += (uint64_t)frame_start(c, p);
            p += hl;
            n -= hl;
            continue;
        }
        c->hdr[c->hdr_have++] = *p++;
        n--;
        if (c->hdr_have >= 2 && c->hdr_have == header_length(c->hdr[1])) {
            c->hdr_have = 0;
            done += (uint64_t)frame_start(c, c->hdr);
        }
    }
    return done;
}

static void finish_job(void);

static void on_messages(uint32_t index, uint64_t k) {
    conn_t *c = &conns[index];
    messages += k;
    switch (c->role) {
    case ECHO:
        send_messages(index, (uint32_t)k);
        break;
    case SUBSCRIBER:
        /* Top the publisher's window up whenever the first subscriber (the first the servers serve) gets messages. */
        if ((int)index != bc_first) break;
        first_received += k;
        if (bc_publisher >= 0 && conns[bc_publisher].state == OPEN) {
            traffic_t *t = conns[bc_publisher].traffic;
            uint64_t in_flight = published > first_received ? published - first_received : 0;
            if (in_flight < t->count) {
                uint32_t refill = t->count - (uint32_t)in_flight;
                published += refill;
                send_messages((uint32_t)bc_publisher, refill);
            }
        }
        break;
    case ONCE:
        job.echoed += (uint32_t)k;
        if (job.echoed >= job.sent) finish_job();
        break;
    default:
        break;
    }
}

/* ---------------------------------------------------------------- handshakes */

static int accepts_deflate(const char *head) {
    const char *name = "sec-websocket-extensions:";
    for (const char *line = head; line != NULL; line = strstr(line, "\r\n")) {
        if (line[0] == '\r') line += 2;
        if (strncasecmp(line, name, strlen(name)) == 0) {
            const char *v = line + strlen(name);
            while (*v == ' ' || *v == '\t') v++;
            if (strncasecmp(v, "permessage-deflate", 18) == 0) return 1;
        }
        if (line[0] == '\r' || line[0] == 0) break;
    }
    return 0;
}

static void on_open(uint32_t index);

static void read_head(uint32_t index) {
    conn_t *c = &conns[index];
    if (c->head == NULL) c->head = malloc(HEAD_MAX);
    ssize_t n = read(c->fd, c->head + c->head_length, HEAD_MAX - 1 - c->head_length);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        opening_failed(index, "closed during the handshake");
        return;
    }
    c->head_length += (uint16_t)n;
    c->head[c->head_length] = 0;
    char *end = strstr(c->head, "\r\n\r\n");
    if (end == NULL) {
        if (c->head_length >= HEAD_MAX - 1) opening_failed(index, "response head too long");
        return;
    }
    if (strncmp(c->head, "HTTP/1.1 101", 12) != 0) {
        char why[160];
        char *eol = strstr(c->head, "\r\n");
        snprintf(why, sizeof why, "handshake refused: %.*s", (int)(eol - c->head), c->head);
        opening_failed(index, why);
        return;
    }
    *end = 0;
    c->deflate = accepts_deflate(c->head);
    size_t used = (size_t)(end + 4 - c->head);
    size_t extra = c->head_length - used;
    uint8_t rest[HEAD_MAX];
    memcpy(rest, c->head + used, extra);
    free(c->head);
    c->head = NULL;
    on_open(index);
    if (extra > 0 && conns[index].state == OPEN) {
        uint64_t k = parse(&conns[index], rest, extra);
        if (k > 0) on_messages(index, k);
    }
}

static void on_event(struct epoll_event *e) {
    uint32_t index = e->data.u32;
    conn_t *c = &conns[index];
    if (c->state == CONNECTING) {
        int error = 0;
        socklen_t l = sizeof error;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &l);
        if (error != 0 || (e->events & (EPOLLERR | EPOLLHUP))) {
            opening_failed(index, error != 0 ? strerror(error) : "connection failed");
            return;
        }
        if (!(e->events & EPOLLOUT)) return;
        if (send(c->fd, request, (size_t)request_length, MSG_NOSIGNAL) != request_length) {
            opening_failed(index, "could not send the upgrade request");
            return;
        }
        c->state = HANDSHAKE;
        watch(index, EPOLLIN, EPOLL_CTL_MOD);
        return;
    }
    if (c->state == HANDSHAKE) {
        read_head(index);
        return;
    }
    if (c->state != OPEN) return;
    if (e->events & EPOLLIN) {
        ssize_t n = read(c->fd, readbuf, READ_SIZE);
        if (n > 0) {
            uint64_t k = parse(c, readbuf, (size_t)n);
            if (k > 0) on_messages(index, k);
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            drop(index);
            return;
        }
    } else if (e->events & (EPOLLERR | EPOLLHUP)) {
        drop(index);
        return;
    }
    if (conns[index].state == OPEN && (e->events & EPOLLOUT)) flush(index);
}

/* ---------------------------------------------------------------- jobs */

static void start_more(void) {
    while (job.started < job.target && job.pending < job.concurrency) {
        uint32_t index = new_conn();
        job.started++;
        if (start_connect(index) == 0) {
            job.pending++;
        } else {
            note_error(strerror(errno));
            job.failed++;
            conns[index].state = DEAD;
        }
    }
}

/* Prepares the upgrade request for the job's endpoint and path. */
static void prepare_request(void) {
    char host[64];
    if (job.socket_path[0] != 0) snprintf(host, sizeof host, "localhost");
    else snprintf(host, sizeof host, "127.0.0.1:%d", job.port);
    request_length = snprintf(request, sizeof request,
                              "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                              job.path, host,
                              job.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n" : "");
}

/* Begins opening `count` connections for the current job. */
static void open_connections(uint32_t count, uint32_t concurrency) {
    job.target = count;
    job.concurrency = concurrency == 0 ? 100 : concurrency;
    job.started = job.opened = job.failed = job.compressed = job.pending = 0;
    job.began = now();
    prepare_request();
    start_more();
}

static void on_open(uint32_t index) {
    conn_t *c = &conns[index];
    if (job.kind == ECHO && echo_traffic.compressed && !c->deflate) {
        opening_failed(index, "the server did not accept permessage-deflate");
        start_more();
        return;
    }
    c->state = OPEN;
    open_count++;
    job.pending--;
    job.opened++;
    if (c->deflate) job.compressed++;
    switch (job.kind) {
    case ECHO:
        c->role = ECHO;
        c->traffic = &echo_traffic;
        break;
    case SUBSCRIBER:
        c->role = SUBSCRIBER;
        c->traffic = &echo_traffic;
        /* The first to subscribe: the first a server's fan-out reaches. */
        if (bc_first < 0) bc_first = (int)index;
        break;
    case PUBLISHER:
        c->role = PUBLISHER;
        c->traffic = &echo_traffic;
        c->check = CHECK_DONE;
        break;
    default:
        c->role = IDLE;
        if (job.pause) {
            c->paused = 1;
            watch(index, 0, EPOLL_CTL_MOD);
        }
        break;
    }
    start_more();
}

static void reply_opening(void) {
    char result[512];
    double ms = (now() - job.began) * 1000;
    char error[240] = "";
    if (job.error[0] != 0) {
        char escaped[220];
        size_t n = 0;
        for (const char *s = job.error; *s && n + 2 < sizeof escaped; s++) {
            if (*s == '"' || *s == '\\') escaped[n++] = '\\';
            escaped[n++] = *s;
        }
        escaped[n] = 0;
        snprintf(error, sizeof error, ",\"error\":\"%s\"", escaped);
    }
    if (job.kind == ECHO) {
        snprintf(result, sizeof result, "{\"connected\":%u,\"failed\":%u,\"wireBytes\":%.1f%s}", job.opened, job.failed,
                 (double)echo_traffic.length / echo_traffic.count, error);
    } else if (job.kind == SUBSCRIBER || job.kind == PUBLISHER) {
        snprintf(result, sizeof result, "{\"subscribed\":%u,\"failed\":%u%s}", job.subscribers, job.failed, error);
    } else {
        snprintf(result, sizeof result, "{\"opened\":%u,\"failed\":%u,\"compressed\":%u,\"ms\":%.1f%s}", job.opened,
                 job.failed, job.compressed, ms, error);
    }
    reply_raw(job.id, result);
}

static void finish_job(void) {
    if (job.kind == ONCE) {
        char result[256];
        snprintf(result, sizeof result, "{\"sent\":%u,\"echoed\":%u,\"mismatches\":%lu,\"ms\":%.1f}", job.sent, job.echoed,
                 (unsigned long)(mismatches - job.mismatches_before), (now() - job.began) * 1000);
        reply_raw(job.id, result);
        for (uint32_t i = 0; i < nconns; i++)
            if (conns[i].role == ONCE) conns[i].role = IDLE;
    }
    job.kind = 0;
    job.id = -1;
}

/* Called after every loop turn while a job runs: moves it on or replies. */
static void progress_job(void) {
    if (job.kind == 0 || job.kind == ONCE) {
        if (job.kind == ONCE && now() > job.deadline) finish_job();
        return;
    }
    /* Handshakes that take too long fail (looked for every 100 ms: the scan is over every connection). */
    static double scanned;
    double t = now();
    for (uint32_t i = 0; t - scanned > 0.1 && i < nconns && job.pending > 0; i++) {
        conn_t *c = &conns[i];
        if ((c->state == CONNECTING || c->state == HANDSHAKE) && t - c->started > HANDSHAKE_TIMEOUT_S)
            opening_failed(i, "handshake timeout");
    }
    if (t - scanned > 0.1) scanned = t;
    start_more();
    if (job.opened + job.failed < job.target) return;
    if (job.kind == ECHO) {
        for (uint32_t i = 0; i < nconns; i++)
            if (conns[i].state == OPEN && conns[i].role == ECHO && conns[i].owe == 0 && conns[i].next == 0)
                send_messages(i, echo_traffic.count);
        reply_opening();
        finish_job();
    } else if (job.kind == SUBSCRIBER) {
        /* Subscribers are open: now the publisher, once they all are (their subscriptions are in place). */
        job.subscribers = job.opened;
        if (job.opened == 0) {
            reply_opening();
            finish_job();
            return;
        }
        job.kind = PUBLISHER;
        snprintf(job.path, sizeof job.path, "/pub");
        open_connections(1, 1);
    } else if (job.kind == PUBLISHER) {
        if (job.opened == 1) {
            bc_publisher = (int)nconns - 1;
            for (uint32_t i = 0; i < nconns; i++)
                if (conns[i].role == PUBLISHER && conns[i].state == OPEN) bc_publisher = (int)i;
            published += echo_traffic.count;
            send_messages((uint32_t)bc_publisher, echo_traffic.count);
        }
        reply_opening();
        finish_job();
    } else {
        reply_opening();
        finish_job();
    }
}

static void endpoint(const char *line) {
    job.port = (int)number(line, "port", 0);
    job.socket_path[0] = 0;
    string(line, "socketPath", job.socket_path, sizeof job.socket_path);
    if (!string(line, "path", job.path, sizeof job.path)) snprintf(job.path, sizeof job.path, "/");
}

static void close_all(void) {
    for (uint32_t i = 0; i < nconns; i++) drop(i);
    nconns = 0;
    open_count = 0;
    bc_publisher = -1;
    bc_first = -1;
}

static void command(char *line) {
    long id = (long)number(line, "id", -1);
    char cmd[32] = "";
    string(line, "cmd", cmd, sizeof cmd);
    if (job.kind != 0 && strcmp(cmd, "mark") != 0 && strcmp(cmd, "ping") != 0) {
        reply_error(id, "busy with another command");
        return;
    }
    if (strcmp(cmd, "ping") == 0) {
        reply_raw(id, "\"pong\"");
    } else if (strcmp(cmd, "mark") == 0) {
        char result[400];
        snprintf(result, sizeof result,
                 "{\"messages\":%lu,\"published\":%lu,\"failures\":%lu,\"mismatches\":%lu,\"kept\":%u,\"open\":%u,"
                 "\"cpuMicros\":%.0f,\"time\":%.3f}",
                 (unsigned long)messages, (unsigned long)published, (unsigned long)failures, (unsigned long)mismatches,
                 keep_count, open_count, cpu_micros(), now() * 1000);
        reply_raw(id, result);
    } else if (strcmp(cmd, "close") == 0) {
        close_all();
        reply_raw(id, "null");
    } else if (strcmp(cmd, "firsts") == 0) {
        char file[512];
        if (!string(line, "file", file, sizeof file)) return reply_error(id, "firsts: no file");
        FILE *out = fopen(file, "wb");
        if (out == NULL) return reply_error(id, "firsts: cannot write the file");
        for (uint32_t i = 0; i < keep_count; i++) {
            uint32_t l = keeps[i].length;
            fwrite(&l, 4, 1, out);
            fwrite(keeps[i].bytes, 1, l, out);
            free(keeps[i].bytes);
        }
        fclose(out);
        char result[64];
        snprintf(result, sizeof result, "{\"count\":%u}", keep_count);
        keep_count = 0;
        keep_bytes = 0;
        reply_raw(id, result);
    } else if (strcmp(cmd, "echo") == 0 || strcmp(cmd, "broadcast") == 0) {
        const char *problem = command_traffic(&echo_traffic, line, "frames");
        if (problem != NULL) return reply_error(id, problem);
        memset(job.error, 0, sizeof job.error);
        endpoint(line);
        job.id = id;
        job.deflate = echo_traffic.compressed;
        job.pause = 0;
        if (cmd[0] == 'e') {
            job.kind = ECHO;
            open_connections((uint32_t)number(line, "connections", 1), 100);
        } else {
            job.kind = SUBSCRIBER;
            first_received = 0;
            bc_first = -1;
            snprintf(job.path, sizeof job.path, "/sub");
            open_connections((uint32_t)number(line, "subscribers", 1), 100);
        }
    } else if (strcmp(cmd, "open") == 0) {
        memset(job.error, 0, sizeof job.error);
        endpoint(line);
        job.id = id;
        job.kind = OPENING;
        job.deflate = boolean(line, "deflate");
        job.pause = boolean(line, "pause");
        open_connections((uint32_t)number(line, "count", 1), (uint32_t)number(line, "concurrency", 100));
    } else if (strcmp(cmd, "echo-once") == 0) {
        const char *problem = command_traffic(&plain_once, line, "frames");
        if (problem == NULL) problem = command_traffic(&deflated_once, line, "deflatedFrames");
        if (problem != NULL) return reply_error(id, problem);
        job.id = id;
        job.kind = ONCE;
        job.sent = job.echoed = 0;
        job.began = now();
        job.deadline = job.began + number(line, "timeoutMs", 60000) / 1000;
        job.mismatches_before = mismatches;
        for (uint32_t i = 0; i < nconns; i++) {
            conn_t *c = &conns[i];
            if (c->state != OPEN || c->role != IDLE || c->paused) continue;
            c->role = ONCE;
            c->traffic = c->deflate ? &deflated_once : &plain_once;
            c->check = CHECK_WAIT;
            c->next = 0;
            job.sent++;
            send_messages(i, 1);
        }
        if (job.sent == 0) finish_job();
    } else {
        reply_error(id, "unknown command");
    }
}

/* ---------------------------------------------------------------- main loop */

static char *input;
static size_t input_length, input_capacity;

/* Reads stdin; runs every complete line. Returns 0 once stdin has closed. */
static int read_commands(void) {
    for (;;) {
        if (input_capacity - input_length < 4096) {
            input_capacity = input_capacity == 0 ? 16384 : input_capacity * 2;
            input = realloc(input, input_capacity);
        }
        ssize_t n = read(0, input + input_length, input_capacity - input_length - 1);
        if (n == 0) return 0;
        if (n < 0) return errno == EAGAIN || errno == EINTR ? 1 : 0;
        input_length += (size_t)n;
        input[input_length] = 0;
        char *start = input, *end;
        while ((end = memchr(start, '\n', input_length - (size_t)(start - input))) != NULL) {
            *end = 0;
            command(start);
            start = end + 1;
        }
        input_length -= (size_t)(start - input);
        memmove(input, start, input_length);
    }
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    readbuf = malloc(READ_SIZE);
    ep = epoll_create1(EPOLL_CLOEXEC);
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    struct epoll_event in = {.events = EPOLLIN, .data.u32 = STDIN_INDEX};
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in);
    job.id = -1;
    static struct epoll_event events[1024];
    for (;;) {
        int n = epoll_wait(ep, events, 1024, job.kind != 0 ? 10 : 200);
        for (int i = 0; i < n; i++) {
            if (events[i].data.u32 == STDIN_INDEX) {
                if (!read_commands()) return 0;
            } else {
                on_event(&events[i]);
            }
        }
        if (job.kind != 0) progress_job();
    }
}
