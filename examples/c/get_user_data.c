/*
 * get_user_data: one unary gRPC call to Courier, courier.asgardian.v1.IdentityService/GetUserData,
 * written with nothing but libnghttp2 (HTTP/2 framing, HPACK, flow control), libprotobuf-c (the
 * messages that protoc-c generated from proto/) and a plain TCP socket.
 *
 *   get_user_data [-t TIMEOUT_MS] [-a ACCESS_TOKEN] HOST:PORT USER_ID
 *
 * HOST:PORT is nginx's gRPC listener (127.0.0.1:8090 in the local stack) or Asgardian's own gRPC
 * port. The connection is cleartext HTTP/2 with prior knowledge (h2c, no upgrade, no TLS), which is
 * what both of them speak. GetUserData needs no access token; one given with -a (or COURIER_TOKEN)
 * is sent as `authorization: Bearer ...` and checked.
 *
 * On the wire, a unary gRPC call is one HTTP/2 stream:
 *   request   HEADERS  :method POST, :scheme http, :path /package.Service/Method, :authority,
 *                      content-type application/grpc, te trailers, grpc-timeout
 *             DATA     one length-prefixed message: 1 byte "compressed" flag (0 here), 4 bytes
 *                      big-endian length, then the protobuf bytes; END_STREAM
 *   response  HEADERS  :status 200, content-type application/grpc...
 *             DATA     the length-prefixed answer
 *             HEADERS  (trailers) grpc-status, grpc-message (percent-encoded); END_STREAM
 * A failure may come as "Trailers-Only": a single HEADERS frame that carries :status, grpc-status and
 * grpc-message and ends the stream.
 *
 * Exit status: 0 when the call succeeded; the gRPC status code (1 to 16) when it failed, also for
 * failures the client sees itself (4 DEADLINE_EXCEEDED when -t ran out, and the codes that the gRPC
 * HTTP/2 protocol assigns to stream resets and non-gRPC HTTP answers); 64 for a bad command line;
 * 69 when no connection could be made; 76 when the server's answer breaks the protocol.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "courier/asgardian/v1/asgardian.pb-c.h"

enum {
    EXIT_USAGE = 64,       /* sysexits.h EX_USAGE */
    EXIT_NO_CONNECTION = 69, /* EX_UNAVAILABLE */
    EXIT_PROTOCOL = 76,    /* EX_PROTOCOL */
};

enum {
    GRPC_OK = 0,
    GRPC_CANCELLED = 1,
    GRPC_UNKNOWN = 2,
    GRPC_DEADLINE_EXCEEDED = 4,
    GRPC_PERMISSION_DENIED = 7,
    GRPC_UNIMPLEMENTED = 12,
    GRPC_INTERNAL = 13,
    GRPC_UNAVAILABLE = 14,
    GRPC_UNAUTHENTICATED = 16,
};

static const char *const grpc_code_names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
    "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
};

#define METHOD_PATH "/courier.asgardian.v1.IdentityService/GetUserData"
#define MAX_RESPONSE_BYTES (4u * 1024u * 1024u) /* gRPC's usual default message limit */
#define DEFAULT_TIMEOUT_MS 10000L
#define MAX_TIMEOUT_MS 99999999L /* grpc-timeout allows at most 8 digits */

/* Everything one call needs; the nghttp2 callbacks get it as their user_data. */
struct call {
    int fd;
    int32_t stream_id;

    const uint8_t *request; /* the length-prefixed request message */
    size_t request_length;
    size_t request_sent;

    int http_status; /* :status, 0 until seen */
    char content_type[128];
    bool has_grpc_status;
    int grpc_status;
    char grpc_message[2048]; /* still percent-encoded, NUL-terminated, possibly cut short */

    uint8_t *body; /* the response DATA of our stream */
    size_t body_length;
    bool body_too_large;

    bool heard_http2; /* a valid frame came from the server */
    bool stream_closed;
    uint32_t reset_code; /* the HTTP/2 error code the stream closed with */
    int send_errno;      /* why writing to the socket failed */
};

static const char *program = "get_user_data";

static void complain(const char *format, ...) {
    va_list arguments;
    va_start(arguments, format);
    fprintf(stderr, "%s: ", program);
    vfprintf(stderr, format, arguments);
    fputc('\n', stderr);
    va_end(arguments);
}

static void usage(void) {
    fprintf(stderr,
            "usage: %s [-t TIMEOUT_MS] [-a ACCESS_TOKEN] HOST:PORT USER_ID\n"
            "  Calls courier.asgardian.v1.IdentityService/GetUserData over cleartext HTTP/2 (h2c)\n"
            "  at HOST:PORT (nginx's gRPC listener or Asgardian's own port; [::1]:PORT for IPv6)\n"
            "  and prints the user.\n"
            "  -t TIMEOUT_MS   the whole call's deadline in milliseconds, 1 to %ld (default %ld)\n"
            "  -a ACCESS_TOKEN sent as `authorization: Bearer ...` (default: $COURIER_TOKEN, if set)\n",
            program, MAX_TIMEOUT_MS, DEFAULT_TIMEOUT_MS);
}

static long long now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int remaining_ms(long long deadline) {
    long long left = deadline - now_ms();
    if (left <= 0) {
        return 0;
    }
    return left > INT_MAX ? INT_MAX : (int)left;
}

/* ------------------------------------------------------------------------- the command line */

/* Splits "host:port" or "[v6]:port". Returns false (and says why) when it is not one. */
static bool parse_address(const char *text, char *host, size_t host_size, char *port, size_t port_size) {
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text || colon[1] == '\0') {
        complain("'%s' is not HOST:PORT (for example 127.0.0.1:8090)", text);
        return false;
    }
    const char *host_start = text;
    size_t host_length = (size_t)(colon - text);
    if (text[0] == '[') {
        if (host_length < 3 || colon[-1] != ']') {
            complain("'%s' is not [IPv6]:PORT", text);
            return false;
        }
        host_start++;
        host_length -= 2;
    } else if (memchr(text, ':', host_length) != NULL) {
        complain("'%s': write an IPv6 address in brackets, [::1]:8090", text);
        return false;
    }
    char *end = NULL;
    errno = 0;
    long number = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || number < 1 || number > 65535) {
        complain("'%s': the port must be a number from 1 to 65535", text);
        return false;
    }
    if (host_length + 1 > host_size || strlen(colon + 1) + 1 > port_size) {
        complain("'%s': the address is too long", text);
        return false;
    }
    memcpy(host, host_start, host_length);
    host[host_length] = '\0';
    snprintf(port, port_size, "%ld", number);
    return true;
}

/* ------------------------------------------------------------------------- the connection */

/* Connects to host:port before the deadline, trying each address the name resolves to. Returns a
 * non-blocking socket, or -1 after saying why. */
static int connect_to(const char *host, const char *port, const char *shown, long long deadline) {
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *addresses = NULL;
    int resolved = getaddrinfo(host, port, &hints, &addresses);
    if (resolved != 0) {
        complain("cannot connect to %s: cannot resolve '%s': %s", shown, host, gai_strerror(resolved));
        return -1;
    }
    int last_error = 0;
    bool timed_out = false;
    int fd = -1;
    for (struct addrinfo *address = addresses; address != NULL && fd < 0; address = address->ai_next) {
        int candidate = socket(address->ai_family, address->ai_socktype, address->ai_protocol);
        if (candidate < 0) {
            last_error = errno;
            continue;
        }
        int flags = fcntl(candidate, F_GETFL, 0);
        if (flags < 0 || fcntl(candidate, F_SETFL, flags | O_NONBLOCK) < 0) {
            last_error = errno;
            close(candidate);
            continue;
        }
        if (connect(candidate, address->ai_addr, address->ai_addrlen) < 0) {
            if (errno != EINPROGRESS) {
                last_error = errno;
                close(candidate);
                continue;
            }
            struct pollfd waiting = {.fd = candidate, .events = POLLOUT};
            int ready;
            do {
                ready = poll(&waiting, 1, remaining_ms(deadline));
            } while (ready < 0 && errno == EINTR);
            if (ready == 0) {
                timed_out = true;
                close(candidate);
                break;
            }
            int error = 0;
            socklen_t length = sizeof error;
            if (ready < 0 || getsockopt(candidate, SOL_SOCKET, SO_ERROR, &error, &length) < 0 || error != 0) {
                last_error = ready < 0 ? errno : error;
                close(candidate);
                continue;
            }
        }
        int on = 1;
        setsockopt(candidate, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on); /* small frames, no delay */
        fd = candidate;
    }
    freeaddrinfo(addresses);
    if (fd < 0) {
        if (timed_out) {
            complain("cannot connect to %s: no answer within the deadline", shown);
        } else {
            complain("cannot connect to %s: %s", shown, strerror(last_error ? last_error : ECONNREFUSED));
        }
    }
    return fd;
}

/* ------------------------------------------------------------------------- nghttp2 callbacks */

static ssize_t on_send(nghttp2_session *session, const uint8_t *data, size_t length, int flags, void *user_data) {
    (void)session;
    (void)flags;
    struct call *call = user_data;
    ssize_t written;
    do {
        written = send(call->fd, data, length, MSG_NOSIGNAL);
    } while (written < 0 && errno == EINTR);
    if (written < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return NGHTTP2_ERR_WOULDBLOCK;
        }
        call->send_errno = errno;
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return written;
}

static void copy_value(char *target, size_t size, const uint8_t *value, size_t length) {
    size_t kept = length < size - 1 ? length : size - 1;
    memcpy(target, value, kept);
    target[kept] = '\0';
}

static bool header_is(const uint8_t *name, size_t length, const char *expected) {
    return length == strlen(expected) && memcmp(name, expected, length) == 0;
}

/* Called for each header of the response and of the trailers (nghttp2 has lowercased nothing: HTTP/2
 * requires lowercase names, and nghttp2 rejects frames that break that rule). */
static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t name_length,
                     const uint8_t *value, size_t value_length, uint8_t flags, void *user_data) {
    (void)session;
    (void)flags;
    struct call *call = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id != call->stream_id) {
        return 0;
    }
    if (header_is(name, name_length, ":status")) {
        call->http_status = 0;
        for (size_t i = 0; i < value_length && i < 3 && value[i] >= '0' && value[i] <= '9'; i++) {
            call->http_status = call->http_status * 10 + (value[i] - '0');
        }
    } else if (header_is(name, name_length, "content-type")) {
        copy_value(call->content_type, sizeof call->content_type, value, value_length);
    } else if (header_is(name, name_length, "grpc-status")) {
        int status = 0;
        bool valid = value_length > 0 && value_length <= 2;
        for (size_t i = 0; valid && i < value_length; i++) {
            valid = value[i] >= '0' && value[i] <= '9';
            status = status * 10 + (value[i] - '0');
        }
        call->has_grpc_status = true;
        /* A status outside 0..16 is still a failure; gRPC treats unknown codes as UNKNOWN. */
        call->grpc_status = valid && status <= 16 ? status : GRPC_UNKNOWN;
    } else if (header_is(name, name_length, "grpc-message")) {
        copy_value(call->grpc_message, sizeof call->grpc_message, value, value_length);
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
                         size_t length, void *user_data) {
    (void)flags;
    struct call *call = user_data;
    if (stream_id != call->stream_id || call->body_too_large) {
        return 0;
    }
    if (call->body_length + length > MAX_RESPONSE_BYTES + 5) {
        call->body_too_large = true;
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
        return 0;
    }
    uint8_t *grown = realloc(call->body, call->body_length + length);
    if (grown == NULL) {
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    call->body = grown;
    memcpy(call->body + call->body_length, data, length);
    call->body_length += length;
    return 0;
}

static int on_frame(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
    (void)session;
    (void)frame;
    ((struct call *)user_data)->heard_http2 = true;
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data) {
    (void)session;
    struct call *call = user_data;
    if (stream_id == call->stream_id) {
        call->stream_closed = true;
        call->reset_code = error_code;
    }
    return 0;
}

/* Hands nghttp2 the request message for DATA frames, and ends the stream after it. */
static ssize_t read_request(nghttp2_session *session, int32_t stream_id, uint8_t *buffer, size_t length,
                            uint32_t *data_flags, nghttp2_data_source *source, void *user_data) {
    (void)session;
    (void)stream_id;
    (void)user_data;
    struct call *call = source->ptr;
    size_t left = call->request_length - call->request_sent;
    size_t chunk = left < length ? left : length;
    memcpy(buffer, call->request + call->request_sent, chunk);
    call->request_sent += chunk;
    if (call->request_sent == call->request_length) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return (ssize_t)chunk;
}

/* ------------------------------------------------------------------------- gRPC details */

/* grpc-message is percent-encoded (the gRPC HTTP/2 protocol): %XX is one byte. A malformed escape is
 * kept as it is, since the message must never be thrown away. Decodes in place. */
static void percent_decode(char *text) {
    char *out = text;
    for (const char *in = text; *in != '\0'; in++) {
        unsigned int byte;
        if (in[0] == '%' && in[1] != '\0' && in[2] != '\0' && strchr("0123456789abcdefABCDEF", in[1]) &&
            strchr("0123456789abcdefABCDEF", in[2]) && sscanf(in + 1, "%2x", &byte) == 1) {
            *out++ = (char)byte;
            in += 2;
        } else {
            *out++ = *in;
        }
    }
    *out = '\0';
}

/* The gRPC status that an HTTP status without grpc-status stands for (gRPC's HTTP-to-gRPC table). */
static int status_for_http(int http_status) {
    switch (http_status) {
    case 400: return GRPC_INTERNAL;
    case 401: return GRPC_UNAUTHENTICATED;
    case 403: return GRPC_PERMISSION_DENIED;
    case 404: return GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504: return GRPC_UNAVAILABLE;
    default: return GRPC_UNKNOWN;
    }
}

/* The gRPC status that a stream reset without grpc-status stands for. */
static int status_for_reset(uint32_t code) {
    switch (code) {
    case NGHTTP2_REFUSED_STREAM: return GRPC_UNAVAILABLE;
    case NGHTTP2_CANCEL: return GRPC_CANCELLED;
    case NGHTTP2_ENHANCE_YOUR_CALM: return 8; /* RESOURCE_EXHAUSTED */
    case NGHTTP2_INADEQUATE_SECURITY: return GRPC_PERMISSION_DENIED;
    default: return GRPC_INTERNAL;
    }
}

static const char *grpc_code_name(int code) {
    return code >= 0 && code <= 16 ? grpc_code_names[code] : "UNKNOWN";
}

/* ------------------------------------------------------------------------- printing the user */

static void print_time(const char *label, const Google__Protobuf__Timestamp *moment, const char *unset) {
    if (moment == NULL) {
        printf("%s: %s\n", label, unset);
        return;
    }
    time_t seconds = (time_t)moment->seconds;
    struct tm utc;
    char day[32];
    if (gmtime_r(&seconds, &utc) == NULL || strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &utc) == 0) {
        printf("%s: %" PRId64 " s since 1970\n", label, moment->seconds);
        return;
    }
    int32_t nanos = moment->nanos;
    if (nanos == 0) {
        printf("%s: %sZ\n", label, day);
    } else if (nanos % 1000000 == 0) {
        printf("%s: %s.%03" PRId32 "Z\n", label, day, nanos / 1000000);
    } else if (nanos % 1000 == 0) {
        printf("%s: %s.%06" PRId32 "Z\n", label, day, nanos / 1000);
    } else {
        printf("%s: %s.%09" PRId32 "Z\n", label, day, nanos);
    }
}

static void print_user(const Courier__Asgardian__V1__User *user) {
    printf("user_id: %s\n", user->user_id);
    printf("email: %s\n", user->email);
    printf("display_name: %s\n", user->display_name);
    printf("phone_number: %s\n", user->phone_number[0] ? user->phone_number : "(none)");
    printf("roles:");
    for (size_t i = 0; i < user->n_roles; i++) {
        const ProtobufCEnumValue *role =
            protobuf_c_enum_descriptor_get_value(&courier__asgardian__v1__role__descriptor, user->roles[i]);
        if (role != NULL) {
            printf(" %s", role->name);
        } else {
            printf(" %d", (int)user->roles[i]); /* a role newer than this program */
        }
    }
    printf("\n");
    const Courier__Asgardian__V1__NotificationPreferences *preferences = user->notification_preferences;
    printf("tracking_mail_enabled: %s\n", preferences && preferences->tracking_mail_enabled ? "true" : "false");
    printf("tracking_push_enabled: %s\n", preferences && preferences->tracking_push_enabled ? "true" : "false");
    printf("disabled: %s\n", user->disabled ? "true" : "false");
    printf("deleted: %s\n", user->deleted ? "true" : "false");
    print_time("created_at", user->created_at, "(unset)");
    print_time("updated_at", user->updated_at, "(unset)");
    print_time("last_login_at", user->last_login_at, "(never)");
}

/* ------------------------------------------------------------------------- the call */

#define HEADER(name, value)                                                                        \
    {(uint8_t *)(name), (uint8_t *)(value), strlen(name), strlen(value), NGHTTP2_NV_FLAG_NONE}

/* Runs the exchange until our stream closes. Returns 0, or an exit status after saying why not. */
static int exchange(nghttp2_session *session, struct call *call, const char *shown, long long deadline) {
    uint8_t buffer[16384];
    while (!call->stream_closed) {
        int sent = nghttp2_session_send(session);
        if (sent != 0) {
            if (call->send_errno != 0) {
                complain("connection to %s failed while sending: %s", shown, strerror(call->send_errno));
                return GRPC_UNAVAILABLE;
            }
            complain("HTTP/2 error while sending to %s: %s", shown, nghttp2_strerror(sent));
            return EXIT_PROTOCOL;
        }
        if (!nghttp2_session_want_read(session) && !nghttp2_session_want_write(session)) {
            break; /* the session is over (GOAWAY and nothing left): checked below */
        }
        int wait = remaining_ms(deadline);
        if (wait == 0) {
            complain("DEADLINE_EXCEEDED: no complete answer from %s within the deadline", shown);
            return GRPC_DEADLINE_EXCEEDED;
        }
        struct pollfd ready = {.fd = call->fd, .events = POLLIN};
        if (nghttp2_session_want_write(session)) {
            ready.events |= POLLOUT;
        }
        int count = poll(&ready, 1, wait);
        if (count < 0) {
            if (errno == EINTR) {
                continue;
            }
            complain("poll: %s", strerror(errno));
            return GRPC_UNAVAILABLE;
        }
        if (count == 0 || !(ready.revents & (POLLIN | POLLHUP | POLLERR))) {
            continue;
        }
        ssize_t received = recv(call->fd, buffer, sizeof buffer, 0);
        if (received < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                continue;
            }
            complain("connection to %s failed while reading: %s", shown, strerror(errno));
            return GRPC_UNAVAILABLE;
        }
        if (received == 0) {
            break; /* the server closed the connection: checked below */
        }
        ssize_t used = nghttp2_session_mem_recv(session, buffer, (size_t)received);
        if (used < 0) {
            complain("%s does not speak HTTP/2 as expected (is it a gRPC port?): %s", shown,
                     nghttp2_strerror((int)used));
            return EXIT_PROTOCOL;
        }
    }
    if (!call->stream_closed) {
        if (!call->heard_http2) {
            /* nghttp2 ends the session on bytes that are no HTTP/2 frame (an HTTP/1.1 answer, say). */
            complain("%s did not answer in HTTP/2: is it a cleartext (h2c) gRPC port, not HTTP/1.1 or TLS?", shown);
            return EXIT_PROTOCOL;
        }
        complain("UNAVAILABLE: %s closed the connection before the answer was complete", shown);
        return GRPC_UNAVAILABLE;
    }
    return 0;
}

/* Checks the finished response and prints the user. Returns the exit status. */
static int finish(struct call *call, const char *user_id) {
    if (call->body_too_large) {
        complain("RESOURCE_EXHAUSTED: the answer is larger than %u bytes", MAX_RESPONSE_BYTES);
        return 8;
    }
    if (!call->has_grpc_status) {
        if (call->http_status != 0 && call->http_status != 200) {
            int status = status_for_http(call->http_status);
            complain("%s: the server answered HTTP %d without a gRPC status", grpc_code_name(status),
                     call->http_status);
            return status;
        }
        if (call->reset_code != NGHTTP2_NO_ERROR) {
            int status = status_for_reset(call->reset_code);
            complain("%s: the server reset the stream (HTTP/2 %s)", grpc_code_name(status),
                     nghttp2_http2_strerror(call->reset_code));
            return status;
        }
        complain("INTERNAL: the answer ended without a grpc-status trailer");
        return GRPC_INTERNAL;
    }
    if (call->grpc_status != GRPC_OK) {
        percent_decode(call->grpc_message);
        complain("gRPC status %d %s: %s", call->grpc_status, grpc_code_name(call->grpc_status),
                 call->grpc_message[0] ? call->grpc_message : "(no message)");
        return call->grpc_status;
    }
    if (strncmp(call->content_type, "application/grpc", 16) != 0 ||
        (call->content_type[16] != '\0' && call->content_type[16] != '+' && call->content_type[16] != ';')) {
        complain("the answer's content-type is '%s', not application/grpc", call->content_type);
        return EXIT_PROTOCOL;
    }
    /* Exactly one length-prefixed message. */
    if (call->body_length < 5) {
        complain("the answer holds no message (%zu bytes)", call->body_length);
        return EXIT_PROTOCOL;
    }
    if (call->body[0] != 0) {
        complain("the answer is compressed (flag %u), but this client asked for no compression", call->body[0]);
        return EXIT_PROTOCOL;
    }
    uint32_t length = (uint32_t)call->body[1] << 24 | (uint32_t)call->body[2] << 16 | (uint32_t)call->body[3] << 8 |
                      (uint32_t)call->body[4];
    if ((size_t)length != call->body_length - 5) {
        complain("the answer's message says %" PRIu32 " bytes but %zu follow", length, call->body_length - 5);
        return EXIT_PROTOCOL;
    }
    Courier__Asgardian__V1__GetUserDataResponse *response =
        courier__asgardian__v1__get_user_data_response__unpack(NULL, length, call->body + 5);
    if (response == NULL) {
        complain("the answer is not a valid GetUserDataResponse");
        return EXIT_PROTOCOL;
    }
    int status = 0;
    if (response->user == NULL) {
        complain("the answer holds no user for %s", user_id);
        status = EXIT_PROTOCOL;
    } else {
        print_user(response->user);
    }
    courier__asgardian__v1__get_user_data_response__free_unpacked(response, NULL);
    return status;
}

int main(int argc, char **argv) {
    long timeout_ms = DEFAULT_TIMEOUT_MS;
    const char *token = getenv("COURIER_TOKEN");
    int option;
    while ((option = getopt(argc, argv, "t:a:h")) != -1) {
        switch (option) {
        case 't': {
            char *end = NULL;
            errno = 0;
            timeout_ms = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || timeout_ms < 1 || timeout_ms > MAX_TIMEOUT_MS) {
                complain("-t wants milliseconds from 1 to %ld, not '%s'", MAX_TIMEOUT_MS, optarg);
                return EXIT_USAGE;
            }
            break;
        }
        case 'a':
            token = optarg;
            break;
        case 'h':
            usage();
            return 0;
        default:
            usage();
            return EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        complain("expected HOST:PORT and USER_ID, got %d argument%s", argc - optind, argc - optind == 1 ? "" : "s");
        usage();
        return EXIT_USAGE;
    }
    const char *address = argv[optind];
    const char *user_id = argv[optind + 1];
    char host[256], port[8];
    if (!parse_address(address, host, sizeof host, port, sizeof port)) {
        return EXIT_USAGE;
    }
    if (token != NULL && (token[0] == '\0' || strpbrk(token, "\r\n") != NULL)) {
        complain("the access token is empty or holds a line break");
        return EXIT_USAGE;
    }
    long long deadline = now_ms() + timeout_ms;

    /* The request message, behind gRPC's 5-byte prefix. The server checks the id (a UUID); we send
     * what we were given, so its INVALID_ARGUMENT reaches the person as it is. */
    Courier__Asgardian__V1__GetUserDataRequest request = COURIER__ASGARDIAN__V1__GET_USER_DATA_REQUEST__INIT;
    request.user_id = (char *)user_id;
    size_t message_length = courier__asgardian__v1__get_user_data_request__get_packed_size(&request);
    uint8_t *framed = malloc(5 + message_length);
    if (framed == NULL) {
        complain("out of memory");
        return GRPC_INTERNAL;
    }
    framed[0] = 0; /* not compressed */
    framed[1] = (uint8_t)(message_length >> 24);
    framed[2] = (uint8_t)(message_length >> 16);
    framed[3] = (uint8_t)(message_length >> 8);
    framed[4] = (uint8_t)message_length;
    courier__asgardian__v1__get_user_data_request__pack(&request, framed + 5);

    int fd = connect_to(host, port, address, deadline);
    if (fd < 0) {
        free(framed);
        return EXIT_NO_CONNECTION;
    }

    struct call call = {.fd = fd, .request = framed, .request_length = 5 + message_length};
    nghttp2_session_callbacks *callbacks = NULL;
    nghttp2_session *session = NULL;
    int status = GRPC_INTERNAL;
    if (nghttp2_session_callbacks_new(&callbacks) != 0) {
        complain("out of memory");
        goto done;
    }
    nghttp2_session_callbacks_set_send_callback(callbacks, on_send);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame);
    if (nghttp2_session_client_new(&session, callbacks, &call) != 0) {
        complain("out of memory");
        goto done;
    }

    /* The client preface (which nghttp2 writes first) and our SETTINGS: no server push. */
    nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, sizeof settings / sizeof settings[0]);

    char timeout_text[16], authorization[4096], user_agent[64];
    snprintf(timeout_text, sizeof timeout_text, "%ldm", timeout_ms);
    snprintf(user_agent, sizeof user_agent, "courier-c-example nghttp2/%s", nghttp2_version(0)->version_str);
    nghttp2_nv headers[9] = {
        HEADER(":method", "POST"),
        HEADER(":scheme", "http"),
        HEADER(":path", METHOD_PATH),
        HEADER(":authority", address),
        HEADER("content-type", "application/grpc"),
        HEADER("te", "trailers"),
        HEADER("grpc-timeout", timeout_text),
        HEADER("user-agent", user_agent),
    };
    size_t header_count = 8;
    if (token != NULL) {
        if (strlen(token) + 8 > sizeof authorization) {
            complain("the access token is too long");
            status = EXIT_USAGE;
            goto done;
        }
        snprintf(authorization, sizeof authorization, "Bearer %s", token);
        headers[header_count] = (nghttp2_nv)HEADER("authorization", authorization);
        headers[header_count].flags = NGHTTP2_NV_FLAG_NO_INDEX; /* a secret: keep it out of HPACK tables */
        header_count++;
    }
    nghttp2_data_provider body = {.source = {.ptr = &call}, .read_callback = read_request};
    call.stream_id = nghttp2_submit_request(session, NULL, headers, header_count, &body, NULL);
    if (call.stream_id < 0) {
        complain("cannot start the request: %s", nghttp2_strerror(call.stream_id));
        goto done;
    }

    status = exchange(session, &call, address, deadline);
    if (status == 0) {
        status = finish(&call, user_id);
    }

done:
    nghttp2_session_del(session);
    nghttp2_session_callbacks_del(callbacks);
    close(fd);
    free(call.body);
    free(framed);
    return status;
}
