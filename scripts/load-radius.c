// RADIUS load generator in C: the same BNAS-in-a-box as scripts/load-radius.ts (per session
// Access-Request with PAP → Accounting Start → Interim-Update × n → Stop, many sessions at once, the
// same options and the same --json summary), for `npm run bench`. The generator shares the two
// cores with the OCS and Redis it measures, so its own CPU per request is taken from them: the Node
// generator costs ~13–18 µs of CPU per request (BENCHMARKS.md), this one a few. A real BNAS is not on
// the OCS's box. No rate control: the bench measures saturation (use the Node generator for --rate).
//
//   cc -O2 -o /tmp/load-radius scripts/load-radius.c -lm
//   /tmp/load-radius --auth-port 1812 --acct-port 1813 --secret testing123 --user-prefix user
//       --subscribers 64 --password pw --concurrency 128 --duration 10 --interims 50 [--json] [--quiet]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"

// ---------- MD5 (RFC 1321), for the Request Authenticator and PAP hiding ----------

typedef struct {
  uint32_t h[4];
  uint64_t len;
  uint8_t buf[64];
  size_t n;
} md5_ctx;

static uint32_t md5_k[64];
static const uint8_t md5_s[4][4] = {{7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};

// K[i] = floor(|sin(i + 1)| · 2^32), as RFC 1321 §3.4 defines the table; checked against the RFC's
// test vectors at start.
static void md5_init_table(void) {
  for (int i = 0; i < 64; i++) md5_k[i] = (uint32_t)floor(fabs(sin((double)(i + 1))) * 4294967296.0);
}

static uint32_t rotl(uint32_t x, int c) { return (x << c) | (x >> (32 - c)); }

static void md5_block(uint32_t h[4], const uint8_t *p) {
  uint32_t m[16];
  for (int i = 0; i < 16; i++) m[i] = (uint32_t)p[i * 4] | (uint32_t)p[i * 4 + 1] << 8 | (uint32_t)p[i * 4 + 2] << 16 | (uint32_t)p[i * 4 + 3] << 24;
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
  for (int i = 0; i < 64; i++) {
    uint32_t f;
    int g;
    if (i < 16) f = (b & c) | (~b & d), g = i;
    else if (i < 32) f = (d & b) | (~d & c), g = (5 * i + 1) % 16;
    else if (i < 48) f = b ^ c ^ d, g = (3 * i + 5) % 16;
    else f = c ^ (b | ~d), g = (7 * i) % 16;
    uint32_t t = d;
    d = c;
    c = b;
    b = b + rotl(a + f + md5_k[i] + m[g], md5_s[i / 16][i % 4]);
    a = t;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d;
}

static void md5_start(md5_ctx *c) {
  c->h[0] = 0x67452301, c->h[1] = 0xefcdab89, c->h[2] = 0x98badcfe, c->h[3] = 0x10325476;
  c->len = 0, c->n = 0;
}

static void md5_add(md5_ctx *c, const void *data, size_t len) {
  const uint8_t *p = data;
  c->len += len;
  while (len > 0) {
    size_t take = 64 - c->n < len ? 64 - c->n : len;
    memcpy(c->buf + c->n, p, take);
    c->n += take, p += take, len -= take;
    if (c->n == 64) md5_block(c->h, c->buf), c->n = 0;
  }
}

static void md5_end(md5_ctx *c, uint8_t out[16]) {
  uint64_t bits = c->len * 8;
  uint8_t pad = 0x80, zero = 0, lenle[8];
  md5_add(c, &pad, 1);
  while (c->n != 56) md5_add(c, &zero, 1);
  for (int i = 0; i < 8; i++) lenle[i] = (uint8_t)(bits >> (8 * i));
  md5_add(c, lenle, 8);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) out[i * 4 + j] = (uint8_t)(c->h[i] >> (8 * j));
}

static int md5_selftest(void) {
  static const struct { const char *in, *hex; } v[] = {
    {"", "d41d8cd98f00b204e9800998ecf8427e"},
    {"abc", "900150983cd24fb0d6963f7d28e17f72"},
    {"12345678901234567890123456789012345678901234567890123456789012345678901234567890", "57edf4a22be3c955ac49da2e2107b67a"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    md5_ctx c;
    uint8_t d[16];
    char hex[33];
    md5_start(&c);
    md5_add(&c, v[i].in, strlen(v[i].in));
    md5_end(&c, d);
    for (int j = 0; j < 16; j++) sprintf(hex + 2 * j, "%02x", d[j]);
    if (strcmp(hex, v[i].hex) != 0) return 0;
  }
  return 1;
}

// ---------- options ----------

static const char *host = "127.0.0.1", *secret = "testing123", *user_prefix = "user", *password = "pw";
static size_t secret_len;
static int auth_port = 1812, acct_port = 1813, subscribers = 64, concurrency = 64, interims = 5, json = 0, quiet = 0;
static double duration = 10, warmup = 1;

static void usage(const char *why) {
  fprintf(stderr, "load-radius: %s\n", why);
  exit(2);
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i];
    if (strcmp(k, "--json") == 0) { json = 1; continue; }
    if (strcmp(k, "--quiet") == 0) { quiet = 1; continue; }
    if (strcmp(k, "--help") == 0 || strcmp(k, "-h") == 0) {
      printf("usage: load-radius [--host 127.0.0.1] [--auth-port 1812] [--acct-port 1813] [--secret testing123]\n"
             "         [--user-prefix user] [--password pw] [--subscribers 64] [--concurrency 64] [--duration 10]\n"
             "         [--warmup 1] [--interims 5] [--json] [--quiet]\n"
             "Per session: Access-Request (PAP, user <prefix><n>), Start, n Interim-Updates, Stop; no --rate here\n"
             "(scripts/load-radius.ts has it).\n");
      exit(0);
    }
    if (i + 1 >= argc) usage("an option without its value");
    const char *v = argv[++i];
    if (strcmp(k, "--host") == 0) host = v;
    else if (strcmp(k, "--auth-port") == 0) auth_port = atoi(v);
    else if (strcmp(k, "--acct-port") == 0) acct_port = atoi(v);
    else if (strcmp(k, "--secret") == 0) secret = v;
    else if (strcmp(k, "--user-prefix") == 0) user_prefix = v;
    else if (strcmp(k, "--password") == 0) password = v;
    else if (strcmp(k, "--subscribers") == 0) subscribers = atoi(v);
    else if (strcmp(k, "--concurrency") == 0) concurrency = atoi(v);
    else if (strcmp(k, "--duration") == 0) duration = atof(v);
    else if (strcmp(k, "--warmup") == 0) warmup = atof(v);
    else if (strcmp(k, "--interims") == 0) interims = atoi(v);
    else if (strcmp(k, "--rate") == 0) { if (atof(v) != 0) usage("--rate: not supported here (scripts/load-radius.ts has it)"); }
    else { fprintf(stderr, "load-radius: unknown option %s\n", k); exit(2); }
  }
  if (concurrency < 1 || concurrency > 4096) usage("--concurrency must be 1..4096");
  if (subscribers < 1) usage("--subscribers must be at least 1");
  if (strlen(password) > 128) usage("--password: at most 128 octets");
  if (strlen(user_prefix) > 200 || strlen(secret) > 200) usage("--user-prefix and --secret: at most 200 octets");
  secret_len = strlen(secret);
}

// ---------- results ----------

enum kind { K_ACCESS, K_START, K_INTERIM, K_STOP, K_COUNT };
static const char *kind_name[K_COUNT] = {"Access-Request", "Start", "Interim-Update", "Stop"};
enum outcome { O_ACCEPT, O_REJECT, O_ACCT_RESPONSE, O_OTHER, O_TIMEOUT, O_COUNT };
static const char *outcome_name[O_COUNT] = {"Access-Accept", "Access-Reject", "Accounting-Response", "other", "timeout"};
static long results[K_COUNT][O_COUNT];
static long bad_authenticator;

static series latencies, interim_lat;
static long done_count;
static int measuring;

// ---------- packets ----------

enum { CODE_ACCESS_REQUEST = 1, CODE_ACCESS_ACCEPT = 2, CODE_ACCESS_REJECT = 3, CODE_ACCT_REQUEST = 4, CODE_ACCT_RESPONSE = 5 };

typedef struct {
  uint8_t b[4096];
  size_t n;
} packet;

static void attr(packet *p, int type, const void *v, size_t len) {
  p->b[p->n] = (uint8_t)type;
  p->b[p->n + 1] = (uint8_t)(len + 2);
  memcpy(p->b + p->n + 2, v, len);
  p->n += len + 2;
}

static void attr_str(packet *p, int type, const char *s) { attr(p, type, s, strlen(s)); }

static void attr_int(packet *p, int type, uint32_t v) {
  uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  attr(p, type, b, 4);
}

static void start_packet(packet *p, int code, int id) {
  p->b[0] = (uint8_t)code, p->b[1] = (uint8_t)id;
  memset(p->b + 4, 0, 16);
  p->n = 20;
}

static void finish_length(packet *p) {
  p->b[2] = (uint8_t)(p->n >> 8), p->b[3] = (uint8_t)p->n;
}

// Accounting-Request (RFC 2866 §3): MD5(Code + Identifier + Length + 16 zero octets + Attributes + secret).
static void sign_accounting(packet *p) {
  finish_length(p);
  md5_ctx c;
  md5_start(&c);
  md5_add(&c, p->b, p->n);
  md5_add(&c, secret, secret_len);
  md5_end(&c, p->b + 4);
}

// Replies (RFC 2865 §3): MD5(Code + Identifier + Length + Request Authenticator + Attributes + secret).
static int reply_authentic(const uint8_t *r, size_t n, const uint8_t request_auth[16]) {
  uint8_t got[16];
  md5_ctx c;
  md5_start(&c);
  md5_add(&c, r, 4);
  md5_add(&c, request_auth, 16);
  md5_add(&c, r + 20, n - 20);
  md5_add(&c, secret, secret_len);
  md5_end(&c, got);
  return memcmp(got, r + 4, 16) == 0;
}

static uint64_t rng_state;
static uint64_t rng(void) {  // xorshift64*: request authenticators need only be unpredictable enough for a test
  rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ULL;
}

// ---------- sessions and requests ----------

typedef struct {
  int state;  // enum kind of the request in flight (or to send)
  int interim;  // interims sent in this session
  long long octets;
  char user[256], sid[64];
  uint8_t cls[253];
  int cls_len;
} worker;

typedef struct {
  int worker;  // -1: free
  int fd;
  double t0, due;
  int sends;
  packet pkt;
} pending_t;

static worker *workers;
static pending_t pending[256];
static int free_ids[256], n_free;
static double id_rest_until[256];
static int *id_queue, q_head, q_tail, q_len;  // workers waiting for an Identifier
static int auth_fd, acct_fd;
static long seq;
static double stop_at;
static int active_workers;

#define RETRANSMIT_MS 2000.0
#define ID_REST_MS 10000.0

static void send_packet(int fd, const packet *p) {
  // A full socket buffer or a refused port loses the datagram: it is retransmitted like any loss.
  (void)send(fd, p->b, p->n, MSG_DONTWAIT);
}

static void build(int w, int id, packet *p, int *fd) {
  worker *k = &workers[w];
  char nas_id[] = "loadgen-nas";
  if (k->state == K_ACCESS) {
    start_packet(p, CODE_ACCESS_REQUEST, id);
    for (int i = 0; i < 16; i += 8) { uint64_t r = rng(); memcpy(p->b + 4 + i, &r, 8); }
    attr_str(p, 1, k->user);
    // User-Password (RFC 2865 §5.2): the password padded to 16 octets, XORed with MD5(secret + RA).
    uint8_t pw[128] = {0};
    size_t len = strlen(password), padded = len == 0 ? 16 : (len + 15) / 16 * 16;
    memcpy(pw, password, len);
    const uint8_t *prev = p->b + 4;
    for (size_t i = 0; i < padded; i += 16) {
      uint8_t h[16];
      md5_ctx c;
      md5_start(&c);
      md5_add(&c, secret, secret_len);
      md5_add(&c, prev, 16);
      md5_end(&c, h);
      for (int j = 0; j < 16; j++) pw[i + j] ^= h[j];
      prev = pw + i;
    }
    attr(p, 2, pw, padded);
    attr_str(p, 32, nas_id);
    attr_int(p, 5, (uint32_t)w);
    finish_length(p);
    *fd = auth_fd;
    return;
  }
  start_packet(p, CODE_ACCT_REQUEST, id);
  attr_str(p, 1, k->user);
  attr_str(p, 44, k->sid);
  attr_str(p, 32, nas_id);
  attr_int(p, 5, (uint32_t)w);
  if (k->cls_len > 0) attr(p, 25, k->cls, (size_t)k->cls_len);
  attr_int(p, 40, k->state == K_START ? 1 : k->state == K_INTERIM ? 3 : 2);  // Acct-Status-Type: Start, Interim-Update, Stop
  if (k->state != K_START) {
    // Half the octets each way; 32-bit counters wrap past 4 GiB, as on a NAS without Gigawords.
    uint32_t half = (uint32_t)((k->octets / 2) % 4294967296LL);
    attr_int(p, 42, half);
    attr_int(p, 43, half);
    attr_int(p, 46, k->state == K_INTERIM ? (uint32_t)(k->interim * 60) : 400);
  }
  sign_accounting(p);
  *fd = acct_fd;
}

static void send_with(int w, int id) {
  pending_t *p = &pending[id];
  p->worker = w;
  build(w, id, &p->pkt, &p->fd);
  p->t0 = now_ms();
  p->due = p->t0 + RETRANSMIT_MS;
  p->sends = 1;
  send_packet(p->fd, &p->pkt);
}

static void give_id(int id) {
  if (q_len > 0) {
    int w = id_queue[q_head];
    q_head = (q_head + 1) % concurrency, q_len--;
    send_with(w, id);
    return;
  }
  free_ids[n_free++] = id;
}

// Sends worker w's current request with a free Identifier, or queues w for one.
static void issue(int w) {
  if (n_free == 0) {
    id_queue[q_tail] = w;
    q_tail = (q_tail + 1) % concurrency, q_len++;
    return;
  }
  send_with(w, free_ids[--n_free]);
}

// A new session for worker w, or none once the run is over.
static void next_session(int w) {
  worker *k = &workers[w];
  if (now_ms() >= stop_at) { active_workers--; return; }
  snprintf(k->user, sizeof k->user, "%s%ld", user_prefix, ((long)w + seq * 7) % subscribers);
  snprintf(k->sid, sizeof k->sid, "lg%d-%ld", (int)getpid(), seq++);
  k->state = K_ACCESS, k->interim = 0, k->octets = 0, k->cls_len = 0;
  issue(w);
}

static void advance(int w, const uint8_t *reply, size_t n) {
  worker *k = &workers[w];
  switch (k->state) {
    case K_ACCESS:
      if (reply == NULL || reply[0] != CODE_ACCESS_ACCEPT) { next_session(w); return; }
      for (size_t o = 20; o + 2 <= n && reply[o + 1] >= 2 && o + reply[o + 1] <= n; o += reply[o + 1])
        if (reply[o] == 25) { k->cls_len = reply[o + 1] - 2; memcpy(k->cls, reply + o + 2, (size_t)k->cls_len); break; }
      k->state = K_START;
      break;
    case K_START:
    case K_INTERIM:
      if (k->interim < interims && now_ms() < stop_at) {
        k->state = K_INTERIM, k->interim++, k->octets += 1000000;
      } else {
        k->state = K_STOP;
      }
      break;
    default:
      next_session(w);
      return;
  }
  issue(w);
}

static void complete(int id, const uint8_t *reply, size_t n) {
  pending_t *p = &pending[id];
  int w = p->worker, kind = workers[w].state;
  double ms = now_ms() - p->t0;
  int resent = p->sends > 1;
  p->worker = -1, p->sends = 0;
  // A request sent more than once may still get a late second answer: its Identifier rests first.
  if (reply != NULL && !resent) give_id(id);
  else id_rest_until[id] = now_ms() + ID_REST_MS;
  if (measuring) {
    push(&latencies, ms);
    if (kind == K_INTERIM) push(&interim_lat, ms);
    int o = reply == NULL ? O_TIMEOUT : reply[0] == CODE_ACCESS_ACCEPT ? O_ACCEPT : reply[0] == CODE_ACCESS_REJECT ? O_REJECT : reply[0] == CODE_ACCT_RESPONSE ? O_ACCT_RESPONSE : O_OTHER;
    results[kind][o]++;
    done_count++;
  }
  advance(w, reply, n);
}

static void on_datagram(int fd, const uint8_t *r, size_t n) {
  if (n < 20 || (size_t)(r[2] << 8 | r[3]) > n || (r[2] << 8 | r[3]) < 20) return;
  n = (size_t)(r[2] << 8 | r[3]);
  pending_t *p = &pending[r[1]];
  if (p->worker < 0 || p->sends == 0 || p->fd != fd) return;  // late, or for a request no longer waiting
  if (!reply_authentic(r, n, p->pkt.b + 4)) { bad_authenticator++; return; }
  complete(r[1], r, n);
}

static void sweep(void) {
  double t = now_ms();
  for (int id = 0; id < 256; id++) {
    pending_t *p = &pending[id];
    if (p->worker < 0 && id_rest_until[id] > 0 && id_rest_until[id] <= t) {
      id_rest_until[id] = 0;
      give_id(id);
      continue;
    }
    if (p->worker < 0 || p->sends == 0 || p->due > t) continue;
    if (p->sends >= 3) {
      complete(id, NULL, 0);
    } else {
      p->sends++;
      p->due = t + RETRANSMIT_MS;
      send_packet(p->fd, &p->pkt);
    }
  }
}

static int udp_connected(int port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) { perror("load-radius: socket"); exit(1); }
  int size = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) usage("--host must be an IPv4 address");
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("load-radius: connect"); exit(1); }
  return fd;
}

static void drain(int fd) {
  enum { BATCH = 64 };
  static uint8_t bufs[BATCH][4096];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = bufs[i], iov[i].iov_len = sizeof bufs[i];
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iov[i], msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int got = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (got <= 0) return;  // EAGAIN, or an ICMP error (the request is retransmitted)
    for (int i = 0; i < got; i++) on_datagram(fd, bufs[i], msgs[i].msg_len);
    if (got < BATCH) return;
  }
}

static void print_results(FILE *f) {
  int first = 1;
  fputc('{', f);
  for (int k = 0; k < K_COUNT; k++)
    for (int o = 0; o < O_COUNT; o++)
      if (results[k][o]) fprintf(f, "%s\"%s:%s\":%ld", first ? "" : ",", kind_name[k], outcome_name[o], results[k][o]), first = 0;
  if (bad_authenticator) fprintf(f, "%s\"bad Response Authenticator\":%ld", first ? "" : ",", bad_authenticator);
  fputc('}', f);
}

int main(int argc, char **argv) {
  md5_init_table();
  if (!md5_selftest()) { fprintf(stderr, "load-radius: MD5 self-test failed\n"); return 1; }
  parse_args(argc, argv);
  rng_state = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^ 0x9e3779b97f4a7c15ULL;
  auth_fd = udp_connected(auth_port);
  acct_fd = udp_connected(acct_port);
  workers = calloc((size_t)concurrency, sizeof *workers);
  id_queue = calloc((size_t)concurrency, sizeof *id_queue);
  for (int i = 0; i < 256; i++) pending[i].worker = -1, free_ids[n_free++] = 255 - i;
  double begin = now_ms(), started = begin, last_sweep = begin, last_progress = begin;
  long last_done = 0;
  stop_at = begin + (warmup + duration) * 1000;
  measuring = warmup <= 0;
  active_workers = concurrency;
  for (int w = 0; w < concurrency; w++) next_session(w);
  struct pollfd fds[2] = {{.fd = auth_fd, .events = POLLIN}, {.fd = acct_fd, .events = POLLIN}};
  while (active_workers > 0) {
    int ready = poll(fds, 2, 100);
    if (ready < 0 && errno != EINTR) { perror("load-radius: poll"); return 1; }
    if (ready > 0) {
      if (fds[0].revents) drain(auth_fd);
      if (fds[1].revents) drain(acct_fd);
    }
    double t = now_ms();
    if (!measuring && t - begin >= warmup * 1000) measuring = 1, started = t;
    if (t - last_sweep >= 100) sweep(), last_sweep = t;
    if (!quiet && t - last_progress >= 1000) {
      fprintf(stderr, "\r%.0f s  %ld requests  %ld/s   ", (t - started) / 1000, done_count, done_count - last_done);
      last_done = done_count, last_progress = t;
    }
  }
  double elapsed = (now_ms() - started) / 1000;
  long n_interim = (long)interim_lat.n;
  double p99i = pct(&interim_lat, 99);
  double p50 = pct(&latencies, 50), p99 = pct(&latencies, 99);
  if (!quiet) fputc('\n', stderr);
  if (json) {
    printf("{\"requests\":%ld,\"seconds\":%.3f,\"perSec\":%ld,\"interimsPerSec\":%ld,\"p50\":%.6f,\"p99\":%.6f,\"interimP99\":%.6f,\"results\":", done_count, elapsed,
           lround(done_count / elapsed), lround(n_interim / elapsed), p50, p99, p99i);
    print_results(stdout);
    printf("}\n");
  } else {
    printf("%ld requests in %.1f s = %ld/s (%ld interims/s); p50 %.2f ms, p99 %.2f ms; ", done_count, elapsed, lround(done_count / elapsed), lround(n_interim / elapsed), p50, p99);
    print_results(stdout);
    printf("\n");
  }
  return 0;
}
