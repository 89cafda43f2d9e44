/*
 * The monotonic clock in the units timeouts and measurements use.
 */
#ifndef SNAPVM_MONOTIME_H
#define SNAPVM_MONOTIME_H

#include <stdint.h>

uint64_t mono_us(void);
uint64_t mono_ms(void);

#endif
