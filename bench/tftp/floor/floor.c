/*
 * floor: the least a lock-step TFTP server can do, as a yardstick for
 * bench/tftp/run.sh (never a server to use). It answers each read request
 * with an OACK for the options asked (blksize, tsize) and then, block by
 * block, one send of a block of zeros that is already in memory for each
 * ACK: no file, no timers, no retransmits, no checks beyond the block
 * number. Each transfer gets its own thread sleeping in a blocking recv:
 * of the designs tried for the concurrent case (one epoll loop, two epoll
 * loops, a thread per transfer), that one was the fastest here with 32
 * curls on the same machine (bench/tftp/README.md). A real server cannot
 * be faster than this on the same machine, so its figures show how much of
 * a lock-step round trip, alone or with many clients, is the server's at
 * all.
 *
 * Usage: floor ADDR NAME SIZE [NAME SIZE]... (serves each NAME as SIZE
 * bytes of zeros, any other name as 6 bytes)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct transfer {
	int s;
	long blksize;
	long long size;
	int oacked; /* an OACK went out: wait for ACK 0, else send block 1 first */
};

static void *serve(void *arg) {
	struct transfer *t = arg;
	unsigned char ack[516];
	unsigned char *pkt = calloc(1, 4 + t->blksize);
	long long blocks = t->size / t->blksize + 1, b = t->oacked ? 0 : 1;
	if (pkt == NULL)
		goto out;
	pkt[1] = 3;
	if (b == 1)
		goto send_block;
	for (;;) {
		ssize_t r = recv(t->s, ack, sizeof ack, 0);
		if (r < 0)
			break; /* client gone */
		if (r < 4 || ack[1] != 4 || ((ack[2] << 8) | ack[3]) != (unsigned short)b)
			continue;
		if (b == blocks)
			break;
		b++;
	send_block:;
		long long left = t->size - (b - 1) * t->blksize;
		int len = left < t->blksize ? (int)left : (int)t->blksize;
		pkt[2] = (unsigned char)(b >> 8), pkt[3] = (unsigned char)b;
		send(t->s, pkt, 4 + len, 0);
	}
out:
	free(pkt);
	close(t->s);
	free(t);
	return NULL;
}

int main(int argc, char **argv) {
	if (argc < 4 || argc % 2 != 0) {
		fprintf(stderr, "usage: floor ADDR NAME SIZE [NAME SIZE]...\n");
		return 2;
	}
	struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons(69)};
	if (inet_pton(AF_INET, argv[1], &la.sin_addr) != 1) {
		fprintf(stderr, "floor: bad address %s\n", argv[1]);
		return 2;
	}
	int ls = socket(AF_INET, SOCK_DGRAM, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&la, sizeof la) < 0) {
		perror("floor: bind");
		return 1;
	}
	static unsigned char req[2048], oack[128];
	for (;;) {
		struct sockaddr_in peer;
		socklen_t pl = sizeof peer;
		ssize_t n = recvfrom(ls, req, sizeof req - 1, 0, (struct sockaddr *)&peer, &pl);
		if (n < 4 || req[1] != 1)
			continue;
		req[n] = 0;
		/* opcode, name, mode, then option/value pairs */
		long blksize = 512;
		int want_bs = 0, want_ts = 0;
		char *p = (char *)req + 2, *end = (char *)req + n;
		long long size = 6;
		for (int i = 2; i + 1 < argc; i += 2)
			if (!strcmp(p, argv[i]))
				size = atoll(argv[i + 1]);
		p += strlen(p) + 1; /* name */
		if (p >= end)
			continue;
		p += strlen(p) + 1; /* mode */
		while (p < end) {
			char *opt = p;
			p += strlen(p) + 1;
			if (p >= end)
				break;
			char *val = p;
			p += strlen(p) + 1;
			if (!strcasecmp(opt, "blksize")) {
				blksize = atol(val);
				if (blksize < 8 || blksize > 65464)
					blksize = 512;
				want_bs = 1;
			} else if (!strcasecmp(opt, "tsize")) {
				want_ts = 1;
			}
		}
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		struct sockaddr_in ta = la;
		ta.sin_port = 0;
		if (s < 0 || bind(s, (struct sockaddr *)&ta, sizeof ta) < 0 ||
		    connect(s, (struct sockaddr *)&peer, sizeof peer) < 0) {
			perror("floor: transfer socket");
			if (s >= 0)
				close(s);
			continue;
		}
		struct timeval tv = {.tv_sec = 2};
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		struct transfer *t = malloc(sizeof *t);
		if (t == NULL) {
			close(s);
			continue;
		}
		*t = (struct transfer){.s = s, .blksize = blksize, .size = size};
		if (want_bs || want_ts) {
			int o = 2;
			oack[0] = 0, oack[1] = 6;
			if (want_bs)
				o += sprintf((char *)oack + o, "blksize%c%ld", 0, blksize) + 1;
			if (want_ts)
				o += sprintf((char *)oack + o, "tsize%c%lld", 0, size) + 1;
			send(s, oack, o, 0);
			t->oacked = 1;
		}
		pthread_t th;
		if (pthread_create(&th, NULL, serve, t) != 0) {
			perror("floor: thread");
			close(s);
			free(t);
			continue;
		}
		pthread_detach(th);
	}
}
