/*   SPDX-License-Identifier: BSD-3-Clause
 *   Copyright (C) 2026 The spdk-harness authors.
 */

/*
 * The CRC half of the CPU ceiling of a checksum pass (bench figure 1 on
 * malloc): spdk_crc64_iso() of each 4 MiB cluster of MIB mebibytes of random
 * bytes, as the pass takes it of each cluster it has read. Prints the seconds
 * of each of REPS runs. The other half, the malloc bdev's copy, is timed with
 * spdk_dd. The memory is in hugepages, as the target's buffers are
 * (transparent ones if none are free).
 *
 *   cpu_ceiling MIB REPS
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "spdk/crc64.h"

#define CLUSTER (4u << 20)

static void *
alloc(size_t len)
{
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (p != MAP_FAILED) {
		return p;
	}
	p = aligned_alloc(2u << 20, len);
	if (p != NULL) {
		madvise(p, len, MADV_HUGEPAGE);
	}
	return p;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	uint64_t mib, reps, n, i, r, x = 0x9e3779b97f4a7c15ULL, crc, sink = 0;
	uint64_t *words;
	uint8_t *src;
	double t0;

	if (argc != 3) {
		fprintf(stderr, "usage: %s MIB REPS\n", argv[0]);
		return 2;
	}
	mib = strtoull(argv[1], NULL, 10);
	reps = strtoull(argv[2], NULL, 10);
	n = mib * (1u << 20) / CLUSTER;

	src = alloc(n * CLUSTER);
	if (src == NULL) {
		return 1;
	}
	words = (uint64_t *)src;
	for (i = 0; i < n * CLUSTER / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		words[i] = x;
	}
	for (r = 0; r < reps; r++) {
		t0 = now();
		crc = 0;
		for (i = 0; i < n; i++) {
			crc ^= spdk_crc64_iso(src + i * CLUSTER, CLUSTER, 0);
		}
		printf("%.6f\n", now() - t0);
		sink ^= crc;
	}
	/* Keep the CRCs from being optimised away */
	fprintf(stderr, "%016llx\n", (unsigned long long)sink);
	return 0;
}
