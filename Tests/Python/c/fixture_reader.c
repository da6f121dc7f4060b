/*
 * fixture_reader: the C reader of Courier's contract fixtures (Tests/Contract/Fixtures).
 *
 * It proves that a protobuf-c client decodes what the Swift services encode:
 *
 *   fixture_reader FIXTURE.binpb EXPECTATIONS.tsv
 *       Looks up the message named by the file (`courier.events.v1.UserCreated.binpb`), unpacks the
 *       fixture, packs it back and requires the same bytes, then checks every expectations line of
 *       that message (`name<TAB>field<TAB>kind<TAB>value`, kinds string, int, bool, double, enum,
 *       bytes) against the decoded field. The field is a top-level field name or a path through
 *       message fields, with `[i]` after a repeated field (`user.email`, `users[0].email`). Absent
 *       fields read as their proto3 defaults. Prints one `ok:` line on success.
 *   fixture_reader --list
 *       Prints the full name of every message descriptor the program was linked with.
 *
 * Exit status: 0 when everything matches, 1 on any mismatch or decoding failure, 2 on bad usage or
 * unreadable files. Every failure is explained on stderr.
 *
 * The table of descriptors comes from `descriptors.c`, which the pytest suite
 * (Tests/Python/test_fixture_readers.py) generates from the protoc-c headers; it defines the two
 * symbols declared below. This file knows no message type.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

extern const ProtobufCMessageDescriptor *const courier_fixture_descriptors[];
extern const size_t courier_fixture_descriptor_count;

#define DOUBLE_TOLERANCE 1e-9

static const char *program = "fixture_reader";

/* The decoded value of one scalar field, with proto3 defaults filled in. */
typedef struct {
    ProtobufCType type;
    union {
        int64_t i;
        uint64_t u;
        double d;
        bool b;
        int e;
        const char *s;
        ProtobufCBinaryData bytes;
    } as;
} FieldValue;

static void fail(const char *message_name, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void fail(const char *message_name, const char *format, ...) {
    va_list arguments;
    fprintf(stderr, "%s: %s: ", program, message_name);
    va_start(arguments, format);
    vfprintf(stderr, format, arguments);
    va_end(arguments);
    fputc('\n', stderr);
}

static const ProtobufCMessageDescriptor *find_descriptor(const char *full_name) {
    for (size_t i = 0; i < courier_fixture_descriptor_count; i++) {
        const ProtobufCMessageDescriptor *descriptor = courier_fixture_descriptors[i];
        if (descriptor->magic == PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC &&
            strcmp(descriptor->name, full_name) == 0) {
            return descriptor;
        }
    }
    return NULL;
}

/* Reads a whole file; returns NULL (and says why) when it cannot. */
static uint8_t *read_file(const char *path, size_t *length) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        fprintf(stderr, "%s: cannot open %s: %s\n", program, path, strerror(errno));
        return NULL;
    }
    size_t capacity = 4096, used = 0;
    uint8_t *buffer = malloc(capacity);
    while (buffer != NULL) {
        used += fread(buffer + used, 1, capacity - used, file);
        if (used < capacity) {
            break;
        }
        capacity *= 2;
        uint8_t *grown = realloc(buffer, capacity);
        if (grown == NULL) {
            free(buffer);
        }
        buffer = grown;
    }
    bool failed = buffer == NULL || ferror(file);
    fclose(file);
    if (failed) {
        fprintf(stderr, "%s: cannot read %s\n", program, path);
        free(buffer);
        return NULL;
    }
    *length = used;
    return buffer;
}

/* Derives `full.message.Name` from `.../full.message.Name.binpb`. */
static char *message_name_of(const char *path) {
    const char *base = strrchr(path, '/');
    base = base == NULL ? path : base + 1;
    const char *suffix = ".binpb";
    size_t length = strlen(base), suffix_length = strlen(suffix);
    if (length <= suffix_length || strcmp(base + length - suffix_length, suffix) != 0) {
        return NULL;
    }
    char *name = malloc(length - suffix_length + 1);
    if (name != NULL) {
        memcpy(name, base, length - suffix_length);
        name[length - suffix_length] = '\0';
    }
    return name;
}

static void print_hex_window(const char *label, const uint8_t *bytes, size_t length, size_t at) {
    size_t start = at > 8 ? at - 8 : 0;
    size_t end = at + 8 < length ? at + 8 : length;
    fprintf(stderr, "    %s bytes %zu..%zu:", label, start, end);
    for (size_t i = start; i < end; i++) {
        fprintf(stderr, i == at ? " [%02x]" : " %02x", bytes[i]);
    }
    fputc('\n', stderr);
}

static bool compare_round_trip(const char *name, const uint8_t *original, size_t original_length,
                               const uint8_t *packed, size_t packed_length) {
    if (original_length == packed_length && memcmp(original, packed, packed_length) == 0) {
        return true;
    }
    size_t shorter = original_length < packed_length ? original_length : packed_length;
    size_t at = 0;
    while (at < shorter && original[at] == packed[at]) {
        at++;
    }
    fail(name,
         "re-encoded bytes differ from the fixture (fixture %zu bytes, re-encoded %zu bytes, first "
         "difference at offset %zu); the fixture is not the canonical encoding of its message",
         original_length, packed_length, at);
    print_hex_window("fixture   ", original, original_length, at);
    print_hex_window("re-encoded", packed, packed_length, at);
    return false;
}

/* Where one element of a field lives in a decoded message, or that it is absent (proto3 default). */
typedef struct {
    const ProtobufCFieldDescriptor *field;
    const void *storage; /* NULL when absent */
} Located;

static size_t element_size(ProtobufCType type) {
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return sizeof(uint32_t);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return sizeof(uint64_t);
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    }
    return 0;
}

/* protoc-c turns `map<K, V>` into a repeated nested `...Entry` message with fields key and value. */
static bool is_map(const ProtobufCFieldDescriptor *field) {
    if (field->label != PROTOBUF_C_LABEL_REPEATED || field->type != PROTOBUF_C_TYPE_MESSAGE) {
        return false;
    }
    const ProtobufCMessageDescriptor *entry = field->descriptor;
    size_t length = strlen(entry->short_name);
    return length > 5 && strcmp(entry->short_name + length - 5, "Entry") == 0 &&
           entry->n_fields == 2 && strcmp(entry->fields[0].name, "key") == 0 &&
           strcmp(entry->fields[1].name, "value") == 0;
}

/* Locates a singular field of `message` (which may be NULL: an absent sub-message). */
static const void *locate_singular(const ProtobufCMessage *message,
                                   const ProtobufCFieldDescriptor *field) {
    if (message == NULL) return NULL;
    const char *base = (const char *)message;
    if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t which;
        memcpy(&which, base + field->quantifier_offset, sizeof which);
        if (which != field->id) return NULL;
    } else if (field->label == PROTOBUF_C_LABEL_OPTIONAL && field->type != PROTOBUF_C_TYPE_STRING &&
               field->type != PROTOBUF_C_TYPE_MESSAGE) {
        protobuf_c_boolean has;
        memcpy(&has, base + field->quantifier_offset, sizeof has);
        if (!has) return NULL;
    }
    return base + field->offset;
}

/*
 * Resolves an expectations path: field names joined by `.` through message fields, with `[i]` after
 * a repeated field (`user.email`, `users[0].email`, `deliverer_ids[0]`). The last field is a scalar.
 */
static bool resolve_path(const char *name, const ProtobufCMessage *root, const char *location,
                         const char *path, Located *out) {
    char buffer[512];
    if (strlen(path) >= sizeof buffer) {
        fail(name, "%s: field path too long", location);
        return false;
    }
    strcpy(buffer, path);
    const ProtobufCMessageDescriptor *descriptor = root->descriptor;
    const ProtobufCMessage *message = root;
    char *segment = buffer;
    for (;;) {
        char *dot = strchr(segment, '.');
        bool last = dot == NULL;
        if (!last) *dot = '\0';

        long index = -1;
        char *bracket = strchr(segment, '[');
        if (bracket != NULL) {
            char *end;
            errno = 0;
            index = strtol(bracket + 1, &end, 10);
            if (bracket[1] < '0' || bracket[1] > '9' || errno != 0 || strcmp(end, "]") != 0) {
                fail(name, "%s: '%s' is not a field path (field.field, field[0].field)", location,
                     path);
                return false;
            }
            *bracket = '\0';
        }

        const ProtobufCFieldDescriptor *field =
            protobuf_c_message_descriptor_get_field_by_name(descriptor, segment);
        if (field == NULL) {
            fail(name, "%s: the message %s has no field named '%s'", location, descriptor->name,
                 segment);
            return false;
        }
        const void *storage;
        if (is_map(field)) {
            fail(name, "%s: field '%s' is a map; expectations cannot name map entries", location,
                 segment);
            return false;
        } else if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            if (index < 0) {
                fail(name, "%s: field '%s' is repeated; name one element, as in '%s[0]'", location,
                     segment, segment);
                return false;
            }
            size_t count = 0;
            const char *elements = NULL;
            if (message != NULL) {
                memcpy(&count, (const char *)message + field->quantifier_offset, sizeof count);
                memcpy(&elements, (const char *)message + field->offset, sizeof elements);
            }
            if ((size_t)index >= count) {
                fail(name, "%s: field '%s' has %zu element(s), so there is no [%ld]", location,
                     segment, count, index);
                return false;
            }
            storage = elements + (size_t)index * element_size(field->type);
        } else {
            if (index >= 0) {
                fail(name, "%s: field '%s' is not repeated; drop the [%ld]", location, segment,
                     index);
                return false;
            }
            storage = locate_singular(message, field);
        }

        if (field->type == PROTOBUF_C_TYPE_MESSAGE) {
            if (last) {
                fail(name, "%s: field '%s' is a message; name one of its scalar fields (%s.x)",
                     location, segment, path);
                return false;
            }
            message = storage == NULL ? NULL : *(const ProtobufCMessage *const *)storage;
            descriptor = field->descriptor;
        } else if (!last) {
            fail(name, "%s: field '%s' is not a message, so '%s' goes nowhere", location, segment,
                 path);
            return false;
        }
        if (last) {
            out->field = field;
            out->storage = storage;
            return true;
        }
        segment = dot + 1;
    }
}

/* Reads a located scalar, giving the proto3 default when it is absent. */
static void read_value(const Located *located, FieldValue *value) {
    const void *member = located->storage;
    bool present = member != NULL;
    memset(value, 0, sizeof *value);
    value->type = located->field->type;
    switch (located->field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (present) value->as.i = *(const int32_t *)member;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (present) value->as.i = *(const int64_t *)member;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (present) value->as.u = *(const uint32_t *)member;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (present) value->as.u = *(const uint64_t *)member;
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        if (present) value->as.d = *(const float *)member;
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        if (present) value->as.d = *(const double *)member;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        if (present) value->as.b = *(const protobuf_c_boolean *)member != 0;
        break;
    case PROTOBUF_C_TYPE_ENUM:
        if (present) value->as.e = *(const int *)member;
        break;
    case PROTOBUF_C_TYPE_STRING: {
        const char *text = present ? *(const char *const *)member : NULL;
        value->as.s = text == NULL ? "" : text;
        break;
    }
    case PROTOBUF_C_TYPE_BYTES:
        if (present) value->as.bytes = *(const ProtobufCBinaryData *)member;
        break;
    case PROTOBUF_C_TYPE_MESSAGE:
        break;
    }
}

static bool is_signed_integer(ProtobufCType type) {
    return type == PROTOBUF_C_TYPE_INT32 || type == PROTOBUF_C_TYPE_SINT32 ||
           type == PROTOBUF_C_TYPE_SFIXED32 || type == PROTOBUF_C_TYPE_INT64 ||
           type == PROTOBUF_C_TYPE_SINT64 || type == PROTOBUF_C_TYPE_SFIXED64;
}

static bool is_unsigned_integer(ProtobufCType type) {
    return type == PROTOBUF_C_TYPE_UINT32 || type == PROTOBUF_C_TYPE_FIXED32 ||
           type == PROTOBUF_C_TYPE_UINT64 || type == PROTOBUF_C_TYPE_FIXED64;
}

/* Which expectations kind a field type is written as. */
static const char *kind_of(ProtobufCType type) {
    if (is_signed_integer(type) || is_unsigned_integer(type)) return "int";
    switch (type) {
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: return "double";
    case PROTOBUF_C_TYPE_BOOL: return "bool";
    case PROTOBUF_C_TYPE_ENUM: return "enum";
    case PROTOBUF_C_TYPE_STRING: return "string";
    case PROTOBUF_C_TYPE_BYTES: return "bytes";
    default: return "message";
    }
}

static bool parse_signed(const char *text, int64_t *result) {
    if (*text == '\0' || *text == ' ' || *text == '+') return false;
    char *end;
    errno = 0;
    long long parsed = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0') return false;
    *result = parsed;
    return true;
}

static bool parse_unsigned(const char *text, uint64_t *result) {
    if (*text < '0' || *text > '9') return false;
    char *end;
    errno = 0;
    unsigned long long parsed = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0') return false;
    *result = parsed;
    return true;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void print_bytes_hex(FILE *stream, const uint8_t *bytes, size_t length) {
    for (size_t i = 0; i < length; i++) fprintf(stream, "%02x", bytes[i]);
}

/* Checks one expectations line against the decoded message; explains any mismatch on stderr. */
static bool check_expectation(const char *name, const ProtobufCMessage *message,
                              const char *location, const char *field_name, const char *kind,
                              const char *expected) {
    Located located;
    if (!resolve_path(name, message, location, field_name, &located)) {
        return false;
    }
    const ProtobufCFieldDescriptor *field = located.field;
    if (strcmp(kind, kind_of(field->type)) != 0) {
        fail(name, "%s: field '%s' has kind '%s' in the expectations, but its type is read as '%s'",
             location, field_name, kind, kind_of(field->type));
        return false;
    }

    FieldValue actual;
    read_value(&located, &actual);

    if (strcmp(kind, "string") == 0) {
        if (strcmp(actual.as.s, expected) != 0) {
            fail(name, "field '%s': expected string \"%s\", got \"%s\" (%s)", field_name, expected,
                 actual.as.s, location);
            return false;
        }
    } else if (strcmp(kind, "int") == 0) {
        if (is_signed_integer(field->type)) {
            int64_t wanted;
            if (!parse_signed(expected, &wanted)) {
                fail(name, "%s: '%s' is not a decimal signed 64-bit integer", location, expected);
                return false;
            }
            if (actual.as.i != wanted) {
                fail(name, "field '%s': expected int %" PRId64 ", got %" PRId64 " (%s)", field_name,
                     wanted, actual.as.i, location);
                return false;
            }
        } else {
            uint64_t wanted;
            if (!parse_unsigned(expected, &wanted)) {
                fail(name, "%s: '%s' is not a decimal unsigned 64-bit integer", location, expected);
                return false;
            }
            if (actual.as.u != wanted) {
                fail(name, "field '%s': expected int %" PRIu64 ", got %" PRIu64 " (%s)", field_name,
                     wanted, actual.as.u, location);
                return false;
            }
        }
    } else if (strcmp(kind, "bool") == 0) {
        bool wanted;
        if (strcmp(expected, "true") == 0) {
            wanted = true;
        } else if (strcmp(expected, "false") == 0) {
            wanted = false;
        } else {
            fail(name, "%s: bool value must be 'true' or 'false', not '%s'", location, expected);
            return false;
        }
        if (actual.as.b != wanted) {
            fail(name, "field '%s': expected bool %s, got %s (%s)", field_name, expected,
                 actual.as.b ? "true" : "false", location);
            return false;
        }
    } else if (strcmp(kind, "double") == 0) {
        char *end;
        errno = 0;
        double wanted = strtod(expected, &end);
        if (*expected == '\0' || *end != '\0' || errno == ERANGE) {
            fail(name, "%s: '%s' is not a decimal floating-point number", location, expected);
            return false;
        }
        if (field->type == PROTOBUF_C_TYPE_FLOAT) {
            wanted = (float)wanted; /* the field can only hold the nearest float */
        }
        bool equal = isnan(wanted) ? isnan(actual.as.d)
                                   : (actual.as.d == wanted ||
                                      fabs(actual.as.d - wanted) <= DOUBLE_TOLERANCE);
        if (!equal) {
            fail(name, "field '%s': expected double %.17g, got %.17g (tolerance %g) (%s)",
                 field_name, wanted, actual.as.d, DOUBLE_TOLERANCE, location);
            return false;
        }
    } else if (strcmp(kind, "enum") == 0) {
        int64_t wanted;
        if (!parse_signed(expected, &wanted) || wanted < INT32_MIN || wanted > INT32_MAX) {
            fail(name, "%s: enum value must be the value's number, not '%s'", location, expected);
            return false;
        }
        if (actual.as.e != wanted) {
            const ProtobufCEnumValue *known =
                protobuf_c_enum_descriptor_get_value(field->descriptor, actual.as.e);
            fail(name, "field '%s': expected enum %" PRId64 ", got %d (%s) (%s)", field_name, wanted,
                 actual.as.e, known != NULL ? known->name : "not a known value", location);
            return false;
        }
    } else if (strcmp(kind, "bytes") == 0) {
        size_t digits = strlen(expected);
        bool valid = digits % 2 == 0;
        for (size_t i = 0; valid && i < digits; i++) valid = hex_digit(expected[i]) >= 0;
        if (!valid) {
            fail(name, "%s: bytes value must be an even number of hex digits, not '%s'", location,
                 expected);
            return false;
        }
        bool equal = actual.as.bytes.len == digits / 2;
        for (size_t i = 0; equal && i < digits / 2; i++) {
            uint8_t byte = (uint8_t)(hex_digit(expected[2 * i]) * 16 + hex_digit(expected[2 * i + 1]));
            equal = actual.as.bytes.data[i] == byte;
        }
        if (!equal) {
            fprintf(stderr, "%s: %s: field '%s': expected bytes %s, got ", program, name,
                    field_name, expected);
            print_bytes_hex(stderr, actual.as.bytes.data, actual.as.bytes.len);
            fprintf(stderr, " (%s)\n", location);
            return false;
        }
    } else {
        fail(name, "%s: unknown kind '%s' (string, int, bool, double, enum, bytes)", location, kind);
        return false;
    }
    return true;
}

/*
 * Checks every expectations line of `name`. Returns the number of failures (or -1 when the file
 * cannot be read); `checked` counts the lines of this message.
 */
static int check_expectations(const char *name, const ProtobufCMessage *message, const char *path,
                              int *checked) {
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        fprintf(stderr, "%s: cannot open %s: %s\n", program, path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t capacity = 0;
    ssize_t length;
    int failures = 0, number = 0;
    *checked = 0;
    while ((length = getline(&line, &capacity, file)) != -1) {
        number++;
        while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r')) {
            line[--length] = '\0';
        }
        if (length == 0 || line[0] == '#') continue;

        char location[64];
        snprintf(location, sizeof location, "expectations.tsv line %d", number);
        char *columns[4] = {line, NULL, NULL, NULL};
        for (int i = 1; i < 4; i++) {
            char *tab = strchr(columns[i - 1], '\t');
            if (tab == NULL) break;
            *tab = '\0';
            columns[i] = tab + 1; /* the value (column 4) keeps any further tabs */
        }
        if (columns[3] == NULL) {
            fail(name, "%s: expected 4 tab-separated columns (message, field, kind, value)",
                 location);
            failures++;
            continue;
        }
        if (strcmp(columns[0], name) != 0) continue;
        (*checked)++;
        if (!check_expectation(name, message, location, columns[1], columns[2], columns[3])) {
            failures++;
        }
    }
    free(line);
    fclose(file);
    return failures;
}

static int list_descriptors(void) {
    for (size_t i = 0; i < courier_fixture_descriptor_count; i++) {
        printf("%s\n", courier_fixture_descriptors[i]->name);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        return list_descriptors();
    }
    if (argc != 3) {
        fprintf(stderr, "usage: %s FIXTURE.binpb EXPECTATIONS.tsv\n       %s --list\n", program,
                program);
        return 2;
    }
    const char *fixture_path = argv[1], *expectations_path = argv[2];

    char *name = message_name_of(fixture_path);
    if (name == NULL) {
        fprintf(stderr, "%s: %s: a fixture file is named <full.message.Name>.binpb\n", program,
                fixture_path);
        return 2;
    }
    const ProtobufCMessageDescriptor *descriptor = find_descriptor(name);
    if (descriptor == NULL) {
        fail(name, "no such message among the %zu generated descriptors (is its .proto in proto/?)",
             courier_fixture_descriptor_count);
        free(name);
        return 1;
    }

    size_t length = 0;
    uint8_t *bytes = read_file(fixture_path, &length);
    if (bytes == NULL) {
        free(name);
        return 2;
    }

    ProtobufCMessage *message = protobuf_c_message_unpack(descriptor, NULL, length, bytes);
    if (message == NULL) {
        fail(name, "cannot decode %s (%zu bytes): protobuf_c_message_unpack failed; the fixture is "
                   "malformed or truncated",
             fixture_path, length);
        free(bytes);
        free(name);
        return 1;
    }

    int status = 0;
    size_t packed_length = protobuf_c_message_get_packed_size(message);
    uint8_t *packed = malloc(packed_length > 0 ? packed_length : 1);
    if (packed == NULL) {
        fail(name, "out of memory");
        status = 2;
    } else {
        size_t written = protobuf_c_message_pack(message, packed);
        if (written != packed_length) {
            fail(name, "protobuf_c_message_pack wrote %zu bytes, get_packed_size said %zu", written,
                 packed_length);
            status = 1;
        } else if (!compare_round_trip(name, bytes, length, packed, packed_length)) {
            status = 1;
        }
    }

    int checked = 0;
    if (status != 2) {
        int failures = check_expectations(name, message, expectations_path, &checked);
        if (failures < 0) {
            status = 2;
        } else if (failures > 0) {
            fail(name, "%d of the expectations failed", failures);
            status = 1;
        }
    }

    if (status == 0) {
        printf("ok: %s: %zu bytes re-encode identically; %d expectation(s) checked\n", name,
               length, checked);
    }
    free(packed);
    protobuf_c_message_free_unpacked(message, NULL);
    free(bytes);
    free(name);
    return status;
}
