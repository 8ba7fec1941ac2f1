/* SPDX-License-Identifier: Apache-2.0 */
/* The PB1 line printer. Each line carries a CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of the text
 * before " *", so the host can tell a garbled line from a good one; the output bytes also get a CRC32. */
#include "pb_protocol.h"

#include "pb_board.h"

static uint16_t line_crc;
static uint32_t lines_printed;

static void emit(char c) {
    line_crc ^= (uint16_t)((uint8_t)c << 8);
    for (int bit = 0; bit < 8; bit++) {
        line_crc = (line_crc & 0x8000u) ? (uint16_t)((line_crc << 1) ^ 0x1021u) : (uint16_t)(line_crc << 1);
    }
    pb_console_putc(c);
}

static void emit_str(const char *text) {
    for (; *text; text++) {
        char c = *text;
        emit((c < 0x20 || c > 0x7E) ? '?' : c);
    }
}

static const char hex_digits[] = "0123456789abcdef";

static void emit_hex(uint32_t value, int digits) {
    for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) {
        emit(hex_digits[(value >> shift) & 0xF]);
    }
}

static void emit_u64(uint64_t value) {
    char digits[21];
    int n = 0;
    do {
        digits[n++] = (char)('0' + (int)(value % 10u));
        value /= 10u;
    } while (value);
    while (n) {
        emit(digits[--n]);
    }
}

void pb_line_begin(const char *type) {
    line_crc = 0xFFFF;
    emit_str(PB_PROTOCOL_VERSION " ");
    emit_str(type);
}

void pb_line_text(const char *text) {
    emit(' ');
    emit_str(text);
}

void pb_line_u64(uint64_t value) {
    emit(' ');
    emit_u64(value);
}

void pb_line_kv_text(const char *key, const char *value) {
    pb_line_text(key);
    emit('=');
    emit_str(value);
}

void pb_line_kv_u64(const char *key, uint64_t value) {
    pb_line_text(key);
    emit('=');
    emit_u64(value);
}

void pb_line_kv_hex32(const char *key, uint32_t value) {
    pb_line_text(key);
    emit_str("=0x");
    emit_hex(value, 8);
}

void pb_line_hex_bytes(const uint8_t *bytes, uint32_t n) {
    emit(' ');
    for (uint32_t i = 0; i < n; i++) {
        emit_hex(bytes[i], 2);
    }
}

void pb_line_end(void) {
    uint16_t crc = line_crc;
    pb_console_write(" *");
    for (int shift = 12; shift >= 0; shift -= 4) {
        pb_console_putc(hex_digits[(crc >> shift) & 0xF]);
    }
    pb_console_putc('\n');
    lines_printed++;
}

uint32_t pb_lines_printed(void) { return lines_printed; }

uint32_t pb_crc32(const uint8_t *bytes, uint32_t n) {
    uint32_t crc = 0xFFFFFFFFu;
    for (uint32_t i = 0; i < n; i++) {
        crc ^= bytes[i];
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}
