// Diameter Gy load generator in C: the same PGW-in-a-box as scripts/load-diameter.ts (data sessions
// CCR-I → CCR-U × n → CCR-T from many concurrent sessions over one peer connection, the same options,
// messages and --json summary), for `npm run bench`. The generator shares the two cores with the OCS
// and Redis it measures: the Node generator's own CPU, and its garbage collector's pauses (which it
// times as the server's latency), are taken from the figures it reports. This one allocates nothing
// per request. A real PGW is not on the OCS's box.
//
//   cc -O2 -o /tmp/load-diameter scripts/load-diameter.c -lm
//   /tmp/load-diameter --port 3868 --msisdn-prefix 4670 --subscribers 64 --concurrency 64 --duration 10
//       [--rate 5000] [--updates 5] [--rgs 1] [--units octets|time] [--context 32251@3gpp.org] [--json]
//   /tmp/load-diameter --dump SESSION-ID ...   prints the CER and the session's CCRs in hex, sends nothing
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"

// ---------- options ----------

static const char *host = "127.0.0.1", *msisdn_prefix = "4670", *context = "32251@3gpp.org", *dump_session;
static char origin[128];
static int port = 3868, msisdn_width = 8, subscribers = 64, concurrency = 64, updates = 5, rgs = 1, units_time = 0, json = 0, quiet = 0;
static double rate = 0, duration = 10, warmup = 1;

static void usage(const char *why) {
  fprintf(stderr, "load-diameter: %s\n", why);
  exit(2);
}

static void parse_args(int argc, char **argv) {
  snprintf(origin, sizeof origin, "loadgen-%d.test", (int)getpid());
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i];
    if (strcmp(k, "--json") == 0) { json = 1; continue; }
    if (strcmp(k, "--quiet") == 0) { quiet = 1; continue; }
    if (strcmp(k, "--help") == 0 || strcmp(k, "-h") == 0) {
      printf("usage: load-diameter [--host 127.0.0.1] [--port 3868] [--msisdn-prefix 4670] [--msisdn-width 8]\n"
             "         [--subscribers 64] [--concurrency 64] [--rate 0] [--duration 10] [--warmup 1] [--updates 5]\n"
             "         [--rgs 1] [--units octets|time] [--context 32251@3gpp.org] [--origin-host loadgen-PID.test]\n"
             "         [--json] [--quiet] [--dump SESSION-ID]\n"
             "Per session: CCR-I, n CCR-U (each reporting 1 MB or 30 s per rating group), CCR-T; --rate 0 = as fast\n"
             "as the server answers. --dump prints the CER and the session's CCRs (ids zero) in hex and exits.\n");
      exit(0);
    }
    if (i + 1 >= argc) usage("an option without its value");
    const char *v = argv[++i];
    if (strcmp(k, "--host") == 0) host = v;
    else if (strcmp(k, "--port") == 0) port = atoi(v);
    else if (strcmp(k, "--msisdn-prefix") == 0) msisdn_prefix = v;
    else if (strcmp(k, "--msisdn-width") == 0) msisdn_width = atoi(v);
    else if (strcmp(k, "--subscribers") == 0) subscribers = atoi(v);
    else if (strcmp(k, "--concurrency") == 0) concurrency = atoi(v);
    else if (strcmp(k, "--rate") == 0) rate = atof(v);
    else if (strcmp(k, "--duration") == 0) duration = atof(v);
    else if (strcmp(k, "--warmup") == 0) warmup = atof(v);
    else if (strcmp(k, "--updates") == 0) updates = atoi(v);
    else if (strcmp(k, "--rgs") == 0) rgs = atoi(v);
    else if (strcmp(k, "--context") == 0) context = v;
    else if (strcmp(k, "--origin-host") == 0) snprintf(origin, sizeof origin, "%s", v);
    else if (strcmp(k, "--dump") == 0) dump_session = v;
    else if (strcmp(k, "--units") == 0) {
      if (strcmp(v, "time") == 0) units_time = 1;
      else if (strcmp(v, "octets") == 0) units_time = 0;
      else usage("--units must be octets or time");
    } else { fprintf(stderr, "load-diameter: unknown option %s\n", k); exit(2); }
  }
  if (concurrency < 1 || concurrency > 4096) usage("--concurrency must be 1..4096");
  if (subscribers < 1) usage("--subscribers must be at least 1");
  if (rgs < 1 || rgs > 16) usage("--rgs must be 1..16");
  if (updates < 0) usage("--updates must be 0 or more");
  if (msisdn_width < 1 || msisdn_width > 15 || strlen(msisdn_prefix) > 15) usage("--msisdn-prefix/--msisdn-width: at most 15 digits each");
  if (strlen(context) > 200) usage("--context: at most 200 octets");
  if (rate < 0) usage("--rate must be 0 or more");
}

// ---------- encoding (RFC 6733 §3, §4; the AVP flags of dictionaries/diameter) ----------

enum { FLAG_M = 0x40 };
enum { CMD_CER = 257, CMD_RAR = 258, CMD_CCR = 272, CMD_DWR = 280, CMD_DPR = 282 };
enum {
  AVP_HOST_IP = 257, AVP_AUTH_APP = 258, AVP_VSAI = 260, AVP_SESSION_ID = 263, AVP_ORIGIN_HOST = 264, AVP_VENDOR_ID = 266,
  AVP_RESULT_CODE = 268, AVP_PRODUCT_NAME = 269, AVP_DEST_REALM = 283, AVP_ORIGIN_REALM = 296, AVP_CC_INPUT = 412,
  AVP_CC_OUTPUT = 414, AVP_CC_REQ_NUMBER = 415, AVP_CC_REQ_TYPE = 416, AVP_CC_TIME = 420, AVP_RATING_GROUP = 432,
  AVP_RSU = 437, AVP_SUB_ID = 443, AVP_SUB_ID_DATA = 444, AVP_USU = 446, AVP_SUB_ID_TYPE = 450, AVP_MSI = 455,
  AVP_MSCC = 456, AVP_SERVICE_CONTEXT = 461,
};

typedef struct {
  uint8_t b[4096];
  size_t n;
} msg;

static void put24(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 16), p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24), put24(p + 1, v); }
static uint32_t get24(const uint8_t *p) { return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]; }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | get24(p + 1); }

static void header(msg *m, uint8_t flags, uint32_t code, uint32_t app, uint32_t hbh, uint32_t e2e) {
  m->b[0] = 1;
  m->b[4] = flags;
  put24(m->b + 5, code);
  put32(m->b + 8, app);
  put32(m->b + 12, hbh);
  put32(m->b + 16, e2e);
  m->n = 20;
}

static void finish(msg *m) { put24(m->b + 1, (uint32_t)m->n); }

// Starts an AVP (no vendor: none of ours has one); returns where it starts, for avp_end.
static size_t avp_begin(msg *m, uint32_t code, uint8_t flags) {
  size_t at = m->n;
  put32(m->b + at, code);
  m->b[at + 4] = flags;
  m->n += 8;
  return at;
}

// The AVP's length excludes its padding; a Grouped AVP's includes its members' (RFC 6733 §4.1, §4.4).
static void avp_end(msg *m, size_t at) {
  put24(m->b + at + 5, (uint32_t)(m->n - at));
  while (m->n % 4) m->b[m->n++] = 0;
}

static void avp_bytes(msg *m, uint32_t code, uint8_t flags, const void *v, size_t len) {
  size_t at = avp_begin(m, code, flags);
  memcpy(m->b + m->n, v, len);
  m->n += len;
  avp_end(m, at);
}

static void avp_str(msg *m, uint32_t code, uint8_t flags, const char *s) { avp_bytes(m, code, flags, s, strlen(s)); }

static void avp_u32(msg *m, uint32_t code, uint32_t v) {
  uint8_t b[4];
  put32(b, v);
  avp_bytes(m, code, FLAG_M, b, 4);
}

static void avp_u64(msg *m, uint32_t code, uint64_t v) {
  uint8_t b[8];
  put32(b, (uint32_t)(v >> 32));
  put32(b + 4, (uint32_t)v);
  avp_bytes(m, code, FLAG_M, b, 8);
}

static void add_origin(msg *m) {
  avp_str(m, AVP_ORIGIN_HOST, FLAG_M, origin);
  avp_str(m, AVP_ORIGIN_REALM, FLAG_M, "test");
}

static void build_cer(msg *m) {
  header(m, 0x80, CMD_CER, 0, 0, 0);
  add_origin(m);
  static const uint8_t loopback[6] = {0, 1, 127, 0, 0, 1};  // Address: family 1 (IPv4), then the address
  avp_bytes(m, AVP_HOST_IP, FLAG_M, loopback, sizeof loopback);
  avp_u32(m, AVP_VENDOR_ID, 0);
  avp_str(m, AVP_PRODUCT_NAME, 0, "ocs-loadgen-c");
  avp_u32(m, AVP_AUTH_APP, 4);
  size_t vsai = avp_begin(m, AVP_VSAI, FLAG_M);
  avp_u32(m, AVP_VENDOR_ID, 10415);
  avp_u32(m, AVP_AUTH_APP, 4);
  avp_end(m, vsai);
  finish(m);
}

// type 1 INITIAL, 2 UPDATE, 3 TERMINATION (RFC 4006 §8.3). Every MSCC requests quota except the
// CCR-T's, and reports usage except the CCR-I's: the Node generator's message, AVP for AVP.
static void build_ccr(msg *m, const char *sid, const char *msisdn, int type, uint32_t number) {
  header(m, 0xc0, CMD_CCR, 4, 0, 0);  // R and P
  avp_str(m, AVP_SESSION_ID, FLAG_M, sid);
  add_origin(m);
  avp_str(m, AVP_DEST_REALM, FLAG_M, "localdomain");
  avp_u32(m, AVP_AUTH_APP, 4);
  avp_str(m, AVP_SERVICE_CONTEXT, FLAG_M, context);
  avp_u32(m, AVP_CC_REQ_TYPE, (uint32_t)type);
  avp_u32(m, AVP_CC_REQ_NUMBER, number);
  size_t sub = avp_begin(m, AVP_SUB_ID, FLAG_M);
  avp_u32(m, AVP_SUB_ID_TYPE, 0);  // END_USER_E164
  avp_str(m, AVP_SUB_ID_DATA, FLAG_M, msisdn);
  avp_end(m, sub);
  avp_u32(m, AVP_MSI, 1);
  for (int rg = 1; rg <= rgs; rg++) {
    size_t mscc = avp_begin(m, AVP_MSCC, FLAG_M);
    avp_u32(m, AVP_RATING_GROUP, (uint32_t)rg);
    if (type != 3) avp_end(m, avp_begin(m, AVP_RSU, FLAG_M));
    if (type != 1) {
      size_t usu = avp_begin(m, AVP_USU, FLAG_M);
      if (units_time) avp_u32(m, AVP_CC_TIME, 30);
      else avp_u64(m, AVP_CC_INPUT, 400000), avp_u64(m, AVP_CC_OUTPUT, 600000);
      avp_end(m, usu);
    }
    avp_end(m, mscc);
  }
  finish(m);
}

static void print_hex(const char *label, const msg *m) {
  printf("%s ", label);
  for (size_t i = 0; i < m->n; i++) printf("%02x", m->b[i]);
  printf("\n");
}

static void msisdn_of(char *out, size_t cap, long sub) { snprintf(out, cap, "%s%0*ld", msisdn_prefix, msisdn_width, sub); }

// ---------- results ----------

// Results by request type and Result-Code, as the Node generator's "I:2001" keys; 0 = no Result-Code.
typedef struct {
  char type;
  uint32_t code;
  long count;
} result_count;
static result_count results[64];
static int n_results;
static long timed_out;

static void count_result(char type, uint32_t code) {
  for (int i = 0; i < n_results; i++)
    if (results[i].type == type && results[i].code == code) { results[i].count++; return; }
  if (n_results < 64) results[n_results++] = (result_count){type, code, 1};
}

static series latencies;
static long done_count;
static int measuring;

// ---------- the connection ----------

static int fd;
static uint8_t *out_buf, in_buf[1 << 20];
static size_t out_len, out_cap, in_len;

static void flush_out(void) {
  size_t sent = 0;
  while (sent < out_len) {
    ssize_t w = send(fd, out_buf + sent, out_len - sent, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      struct pollfd p = {.fd = fd, .events = POLLOUT};
      poll(&p, 1, 1000);
      continue;
    }
    if (w <= 0) { fprintf(stderr, "load-diameter: connection lost while sending: %s\n", strerror(errno)); exit(1); }
    sent += (size_t)w;
  }
  out_len = 0;
}

// Queued, sent at the end of the event loop's turn: everything a batch of answers triggers goes in one write.
static void queue(const msg *m) {
  if (out_len + m->n > out_cap) {
    out_cap = (out_len + m->n) * 2;
    out_buf = realloc(out_buf, out_cap);
    if (!out_buf) { perror("load-diameter: realloc"); exit(1); }
  }
  memcpy(out_buf + out_len, m->b, m->n);
  out_len += m->n;
}

// Offset of the value of the first top-level AVP `code` (-1: none, or malformed).
static long avp_value_at(const uint8_t *b, size_t n, uint32_t code) {
  for (size_t at = 20; at + 8 <= n;) {
    uint32_t len = get24(b + at + 5);
    if (len < 8 || at + len > n) return -1;
    if (get32(b + at) == code) return (long)(at + ((b[at + 4] & 0x80) ? 12 : 8));
    at += (len + 3) & ~3u;
  }
  return -1;
}

// A request from the server (DWR, RAR, ASR, DPR): answered 2001 so it keeps the connection open.
static void answer_request(const uint8_t *r, size_t n) {
  msg a;
  uint32_t code = get24(r + 5);
  header(&a, r[4] & 0x40, code, get32(r + 8), get32(r + 12), get32(r + 16));
  long sid = avp_value_at(r, n, AVP_SESSION_ID);
  if (sid >= 0) {
    uint32_t len = get24(r + sid - 3) - 8;
    if (len < 1024) avp_bytes(&a, AVP_SESSION_ID, FLAG_M, r + sid, len);
  }
  avp_u32(&a, AVP_RESULT_CODE, 2001);
  add_origin(&a);
  finish(&a);
  queue(&a);
  if (code == CMD_DPR) { flush_out(); fprintf(stderr, "load-diameter: the server sent DPR\n"); exit(1); }
}

// ---------- sessions ----------

typedef struct {
  int type;  // of the request in flight or waiting to go: 1, 2, 3
  uint32_t number, hbh;
  int update;  // updates sent in this session
  int waiting;  // an answer is due
  double t0;
  char sid[160], msisdn[40];
} worker;

static worker *workers;
static int *ready_q, q_head, q_len;  // workers whose request waits for the pacer
static long seq;
static uint32_t generation;
static double stop_at, tokens, last_refill;
static int active_workers;

static void send_now(int w, double t) {
  worker *k = &workers[w];
  msg m;
  build_ccr(&m, k->sid, k->msisdn, k->type, k->number);
  // Hop-by-hop and end-to-end: a generation in the high bits, the worker in the low 12.
  k->hbh = (++generation << 12) | (uint32_t)w;
  put32(m.b + 12, k->hbh);
  put32(m.b + 16, k->hbh);
  k->waiting = 1;
  k->t0 = t;
  queue(&m);
}

static void refill(double t) {
  tokens += (t - last_refill) * rate / 1000;
  double burst = rate / 200 > 1 ? rate / 200 : 1;  // at most ~5 ms worth at once, as the Node pacer
  if (tokens > burst) tokens = burst;
  last_refill = t;
}

// `t`: now, as the caller read the clock (one read per answer handled).
static void issue(int w, double t) {
  if (rate <= 0) { send_now(w, t); return; }
  refill(t);
  if (q_len == 0 && tokens >= 1) { tokens -= 1; send_now(w, t); return; }
  ready_q[(q_head + q_len++) % concurrency] = w;
}

// The pacer's tick: as the Node generator's, released once a millisecond.
static void release(double t) {
  if (rate <= 0 || q_len == 0) return;
  refill(t);
  while (tokens >= 1 && q_len > 0) {
    tokens -= 1;
    send_now(ready_q[q_head], t);
    q_head = (q_head + 1) % concurrency, q_len--;
  }
}

static void next_session(int w, double t) {
  worker *k = &workers[w];
  if (t >= stop_at) { active_workers--; return; }
  msisdn_of(k->msisdn, sizeof k->msisdn, ((long)w + seq * 7) % subscribers);
  snprintf(k->sid, sizeof k->sid, "%s;%ld;%ld", origin, (long)time(NULL), seq++);
  k->type = 1, k->number = 0, k->update = 0;
  issue(w, t);
}

static void complete(int w, uint32_t code) {
  worker *k = &workers[w];
  double t = now_ms();
  k->waiting = 0;
  if (measuring) {
    push(&latencies, t - k->t0);
    count_result("?IUT"[k->type], code);
    done_count++;
  }
  if (k->type == 3) { next_session(w, t); return; }
  if (k->update < updates && t < stop_at) {
    k->type = 2, k->number = (uint32_t)++k->update;
  } else {
    k->type = 3, k->number = (uint32_t)updates + 1;  // after fewer updates too, as the Node generator
  }
  issue(w, t);
}

static void on_message(const uint8_t *b, size_t n) {
  if (b[4] & 0x80) { answer_request(b, n); return; }
  uint32_t hbh = get32(b + 12);
  int w = (int)(hbh & 0xfff);
  if (w >= concurrency || !workers[w].waiting || workers[w].hbh != hbh) return;  // not ours (e.g. the CEA, handled before)
  long rc = avp_value_at(b, n, AVP_RESULT_CODE);
  complete(w, rc < 0 ? 0 : get32(b + rc));
}

// Reads what the socket has; 0 when the server closed the connection.
static int read_some(void (*each)(const uint8_t *, size_t)) {
  ssize_t r = recv(fd, in_buf + in_len, sizeof in_buf - in_len, MSG_DONTWAIT);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return 1;
  if (r < 0) { fprintf(stderr, "load-diameter: connection error: %s\n", strerror(errno)); exit(1); }
  if (r == 0) return 0;
  in_len += (size_t)r;
  size_t at = 0;
  while (in_len - at >= 20) {
    uint32_t len = get24(in_buf + at + 1);
    if (in_buf[at] != 1 || len < 20 || len > sizeof in_buf) { fprintf(stderr, "load-diameter: malformed message from the server\n"); exit(1); }
    if (in_len - at < len) break;
    each(in_buf + at, len);
    at += len;
  }
  memmove(in_buf, in_buf + at, in_len - at);
  in_len -= at;
  return 1;
}

static uint32_t cea_code;
static int cea_seen;
static void on_cea(const uint8_t *b, size_t n) {
  if (b[4] & 0x80) { answer_request(b, n); return; }
  if (get24(b + 5) != CMD_CER) return;
  long rc = avp_value_at(b, n, AVP_RESULT_CODE);
  cea_code = rc < 0 ? 0 : get32(b + rc), cea_seen = 1;
}

static void connect_and_exchange_capabilities(void) {
  fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) { perror("load-diameter: socket"); exit(1); }
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) usage("--host must be an IPv4 address");
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { fprintf(stderr, "load-diameter: connect %s:%d: %s\n", host, port, strerror(errno)); exit(1); }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  msg cer;
  build_cer(&cer);
  put32(cer.b + 12, 1), put32(cer.b + 16, 1);
  queue(&cer);
  flush_out();
  double give_up = now_ms() + 10000;
  while (!cea_seen) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (now_ms() > give_up) { fprintf(stderr, "load-diameter: no CEA within 10 s\n"); exit(1); }
    if (poll(&p, 1, 100) > 0 && !read_some(on_cea)) { fprintf(stderr, "load-diameter: the server closed the connection before its CEA\n"); exit(1); }
    flush_out();
  }
  if (cea_code != 2001) { fprintf(stderr, "CER refused: %u\n", cea_code); exit(1); }
}

static void print_results(FILE *f) {
  fputc('{', f);
  for (int i = 0; i < n_results; i++) fprintf(f, "%s\"%c:%u\":%ld", i ? "," : "", results[i].type, results[i].code, results[i].count);
  if (timed_out) fprintf(f, "%s\"timeout\":%ld", n_results ? "," : "", timed_out);
  fputc('}', f);
}

static void dump(void) {
  char msisdn[40];
  msisdn_of(msisdn, sizeof msisdn, 0);
  msg m;
  build_cer(&m);
  print_hex("CER", &m);
  build_ccr(&m, dump_session, msisdn, 1, 0);
  print_hex("I", &m);
  for (int u = 1; u <= updates; u++) {
    char label[16];
    snprintf(label, sizeof label, "U%d", u);
    build_ccr(&m, dump_session, msisdn, 2, (uint32_t)u);
    print_hex(label, &m);
  }
  build_ccr(&m, dump_session, msisdn, 3, (uint32_t)updates + 1);
  print_hex("T", &m);
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  if (dump_session) { dump(); return 0; }
  signal(SIGPIPE, SIG_IGN);
  connect_and_exchange_capabilities();
  workers = calloc((size_t)concurrency, sizeof *workers);
  ready_q = calloc((size_t)concurrency, sizeof *ready_q);
  double begin = now_ms(), started = begin, last_progress = begin, last_tick = begin;
  long last_done = 0;
  stop_at = begin + (warmup + duration) * 1000;
  last_refill = begin;
  measuring = warmup <= 0;
  active_workers = concurrency;
  for (int w = 0; w < concurrency; w++) next_session(w, begin);
  flush_out();
  // Requests still unanswered this long after the run's end are counted as timeouts.
  const double grace_ms = 5000;
  while (active_workers > 0) {
    double t = now_ms();
    int timeout = 100;
    if (rate > 0 && q_len > 0) timeout = (int)ceil(last_tick + 1 - t) > 0 ? (int)ceil(last_tick + 1 - t) : 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int ready = poll(&p, 1, timeout);
    if (ready < 0 && errno != EINTR) { perror("load-diameter: poll"); return 1; }
    if (ready > 0 && !read_some(on_message)) { fprintf(stderr, "load-diameter: the server closed the connection\n"); return 1; }
    t = now_ms();
    if (t - last_tick >= 1) release(t), last_tick = t;
    flush_out();
    if (!measuring && t - begin >= warmup * 1000) measuring = 1, started = t;
    if (!quiet && t - last_progress >= 1000) {
      int in_flight = 0;
      for (int w = 0; w < concurrency; w++) in_flight += workers[w].waiting;
      fprintf(stderr, "\r%.0f s  %ld CCRs  %ld/s  in flight %d   ", (t - started) / 1000, done_count, done_count - last_done, in_flight);
      last_done = done_count, last_progress = t;
    }
    if (t > stop_at + grace_ms) {
      for (int w = 0; w < concurrency; w++)
        if (workers[w].waiting && measuring) timed_out++, done_count++;
      break;
    }
  }
  double elapsed = (now_ms() - started) / 1000;
  double p50 = pct(&latencies, 50), p90 = pct(&latencies, 90), p99 = pct(&latencies, 99);
  double max = latencies.n ? latencies.v[latencies.n - 1] : 0;  // sorted by pct
  if (!quiet) fputc('\n', stderr);
  if (json) {
    printf("{\"ccrs\":%ld,\"seconds\":%.3f,\"perSec\":%ld,\"p50\":%.6f,\"p90\":%.6f,\"p99\":%.6f,\"max\":%.6f,\"results\":", done_count, elapsed, lround(done_count / elapsed), p50, p90, p99, max);
    print_results(stdout);
    printf("}\n");
  } else {
    printf("%ld CCRs in %.1f s = %ld/s; p50 %.2f ms, p90 %.2f ms, p99 %.2f ms; results ", done_count, elapsed, lround(done_count / elapsed), p50, p90, p99);
    print_results(stdout);
    printf("\n");
  }
  close(fd);
  return 0;
}
