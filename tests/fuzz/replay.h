/*
 * replay.h: what a fuzz harness gives the corpus replay program
 * (replay.c), which is linked into every tests/fuzz/fuzz_*_replay.
 */
#ifndef FUZZ_REPLAY_H
#define FUZZ_REPLAY_H

#include <stddef.h>
#include <stdint.h>

/* The harness itself, as libFuzzer calls it. */
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * The harness's short name: its corpus is tests/fuzz/corpus/NAME and the
 * replay reports as "fuzz_NAME".
 */
extern const char	fuzz_name[];

/* An ident with a process-only secret (fuzz_ident_new.c); exits on failure. */
struct ident;
struct ident	*fuzz_ident_new(void);

#endif
