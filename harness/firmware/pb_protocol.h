/* SPDX-License-Identifier: Apache-2.0 */
/* The PB1 line printer: every line is "PB1 <TYPE> <fields> *<crc16>" (see harness/boards/protocol.py). */
#ifndef PB_PROTOCOL_H
#define PB_PROTOCOL_H

#include <stdint.h>

#define PB_PROTOCOL_VERSION "PB1"

void pb_line_begin(const char *type);                    /* "PB1 <type>" */
void pb_line_text(const char *text);                     /* " <text>" (control chars become '?') */
void pb_line_u64(uint64_t value);                        /* " <decimal>" */
void pb_line_kv_text(const char *key, const char *value); /* " key=value" */
void pb_line_kv_u64(const char *key, uint64_t value);     /* " key=<decimal>" */
void pb_line_kv_hex32(const char *key, uint32_t value);   /* " key=0x<8 hex>" */
void pb_line_hex_bytes(const uint8_t *bytes, uint32_t n); /* " <2n lowercase hex digits>" */
void pb_line_end(void);                                  /* " *<crc16 4 hex>\n" */

/* Lines printed since boot (END reports it so a lost line is noticed). */
uint32_t pb_lines_printed(void);

/* zlib-compatible CRC32 (reflected, polynomial 0xEDB88320). */
uint32_t pb_crc32(const uint8_t *bytes, uint32_t n);

#endif
