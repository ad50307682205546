/*
 * fwclient: a TFTP client that paces itself like PXE firmware on a real LAN,
 * for bench/tftp/run.sh. curl and atftp on the same machine acknowledge a
 * block within tens of microseconds of its arrival; firmware behind a switch
 * answers after a wire round trip and its own UNDI/SNP polling, about 200 us.
 * fwclient asks for blksize (and windowsize when -w is above 1) and tsize,
 * then waits -d microseconds after each block (lock-step) or each full window
 * before it sends the ACK, sleeping (not spinning, so it leaves the CPU to the
 * server as a remote machine would). An out-of-order block is answered, after
 * the same pause, with an ACK of the last block received in order (as EDK2's
 * Mtftp4 does); a silence of a second resends that ACK, five in a row fail.
 *
 * With -m MAX it also asks for Microsoft's variable-window extension as the
 * Windows boot manager does (windowsize and msftwindow=31416 in the request;
 * docs/windows-bootmgr-tftp.md). When the OACK grants it (msftwindow=27182),
 * every ACK carries one more byte, the window wanted next, and fwclient
 * steers it the way the boot manager is described to (emtunc.org, 2014:
 * larger on a clean line, smaller on loss); its exact rule is not published,
 * so this one is a model: from the OACK's windowsize, doubled after each
 * complete window up to MAX, halved on a gap or a silence. Without the grant
 * it keeps to the OACK's windowsize and 4-byte ACKs.
 *
 * It checks that the bytes received match the tsize of the OACK (and -s when
 * given) and writes them to -o when given, so that run.sh can check the sha256.
 *
 * Usage: fwclient [-b blksize] [-w windowsize] [-m max_window] [-d delay_us]
 *                 [-s size] [-o out] SERVER_IP FILE
 * Exit status 0 on a complete, verified download.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void pause_us(long us) {
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {
	}
}

/* send_ack acknowledges block; next > 0 adds the variable-window byte. */
static int send_ack(int s, const struct sockaddr_in *to, unsigned short block, long next) {
	unsigned char ack[5] = {0, 4, (unsigned char)(block >> 8), (unsigned char)block, (unsigned char)next};
	size_t n = next > 0 ? 5 : 4;
	return sendto(s, ack, n, 0, (const struct sockaddr *)to, sizeof *to) == (ssize_t)n ? 0 : -1;
}

/* opt returns the value of option name in an OACK body, -1 if absent. */
static long long opt(const unsigned char *b, size_t n, const char *name) {
	size_t i = 0;
	while (i < n) {
		const char *k = (const char *)b + i;
		size_t kl = strnlen(k, n - i);
		if (i + kl + 1 >= n)
			break;
		const char *v = k + kl + 1;
		size_t vl = strnlen(v, n - i - kl - 1);
		if (strcasecmp(k, name) == 0)
			return atoll(v);
		i += kl + 1 + vl + 1;
	}
	return -1;
}

int main(int argc, char **argv) {
	long blksize = 1468, window = 1, delay = 200, msft = 0;
	long long want = -1;
	const char *out = NULL;
	int c;
	while ((c = getopt(argc, argv, "b:w:m:d:s:o:")) != -1) {
		switch (c) {
		case 'b': blksize = atol(optarg); break;
		case 'w': window = atol(optarg); break;
		case 'm': msft = atol(optarg); break;
		case 'd': delay = atol(optarg); break;
		case 's': want = atoll(optarg); break;
		case 'o': out = optarg; break;
		default: return 2;
		}
	}
	/* One byte carries the window: 1..255. */
	if (argc - optind != 2 || blksize < 8 || blksize > 65464 || window < 1 || delay < 0 || msft < 0 || msft > 255 ||
	    (msft > 0 && window > msft)) {
		fprintf(stderr, "usage: fwclient [-b blksize] [-w windowsize] [-m max_window (1-255, >= windowsize)] [-d delay_us] [-s size] [-o out] SERVER_IP FILE\n");
		return 2;
	}
	const char *file = argv[optind + 1];
	/* Sleeps of 200 us, not 250: the default timer slack is 50 us. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in srv = {.sin_family = AF_INET, .sin_port = htons(69)};
	if (s < 0 || inet_pton(AF_INET, argv[optind], &srv.sin_addr) != 1) {
		fprintf(stderr, "fwclient: bad server address\n");
		return 2;
	}
	struct timeval tv = {1, 0};
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	int fd = -1;
	if (out != NULL && (fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0) {
		perror(out);
		return 1;
	}

	unsigned char req[600];
	int n = snprintf((char *)req + 2, sizeof req - 2, "%s%coctet%cblksize%c%ld%ctsize%c0%c", file, 0, 0, 0, blksize, 0, 0, 0);
	if (n < 0 || n >= (int)sizeof req - 40) {
		fprintf(stderr, "fwclient: name too long\n");
		return 2;
	}
	req[0] = 0, req[1] = 1;
	n += 2;
	if (window > 1 || msft > 0)
		n += snprintf((char *)req + n, sizeof req - n, "windowsize%c%ld%c", 0, window, 0);
	if (msft > 0)
		n += snprintf((char *)req + n, sizeof req - n, "msftwindow%c31416%c", 0, 0);
	if (sendto(s, req, n, 0, (struct sockaddr *)&srv, sizeof srv) != n) {
		perror("fwclient: send request");
		return 1;
	}

	unsigned char *pkt = malloc(4 + 65464);
	struct sockaddr_in tid = {0};
	long long got = 0, tsize = -1;
	unsigned short last = 0; /* last block received in order */
	long inwin = 0, bsize = 512, wsize = 1;
	long next = 0; /* variable window granted: the window asked in the last ACK; 0: not granted */
	int gapped = 0; /* a gap was answered and no block came in order since */
	int timeouts = 0, have_tid = 0;
	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof from;
		ssize_t r = recvfrom(s, pkt, 4 + 65464, 0, (struct sockaddr *)&from, &fl);
		if (r < 0) {
			if ((errno != EAGAIN && errno != EINTR) || ++timeouts > 5) {
				fprintf(stderr, "fwclient: %s: no answer\n", file);
				return 1;
			}
			if (have_tid) {
				if (next > 0)
					wsize = next = next > 1 ? next / 2 : 1;
				inwin = 0;
				send_ack(s, &tid, last, next);
			} else
				sendto(s, req, n, 0, (struct sockaddr *)&srv, sizeof srv);
			continue;
		}
		if (from.sin_addr.s_addr != srv.sin_addr.s_addr || r < 4)
			continue;
		if (!have_tid) {
			tid = from, have_tid = 1;
		} else if (from.sin_port != tid.sin_port) {
			continue; /* another TID: RFC 1350 says answer ERROR 5; not needed here */
		}
		timeouts = 0;
		int op = pkt[1];
		if (op == 5) {
			fprintf(stderr, "fwclient: %s: server error %d: %.*s\n", file, (pkt[2] << 8) | pkt[3], (int)(r - 4), pkt + 4);
			return 1;
		}
		if (op == 6) {
			if (got != 0 || last != 0)
				continue; /* a resent OACK */
			long long v;
			if ((v = opt(pkt + 2, r - 2, "blksize")) > 0)
				bsize = v;
			if ((v = opt(pkt + 2, r - 2, "windowsize")) > 0)
				wsize = v;
			tsize = opt(pkt + 2, r - 2, "tsize");
			if (msft > 0 && opt(pkt + 2, r - 2, "msftwindow") == 27182)
				next = wsize;
			pause_us(delay);
			send_ack(s, &tid, 0, next);
			continue;
		}
		if (op != 3)
			continue;
		unsigned short b = (pkt[2] << 8) | pkt[3];
		if (b != (unsigned short)(last + 1)) {
			/* A duplicate or a gap: ask for what follows the last block in
			 * order, with a smaller window once per loss (the rest of the
			 * window then brings the same ACK again). */
			if (next > 0 && !gapped)
				wsize = next = next > 1 ? next / 2 : 1;
			gapped = 1;
			pause_us(delay);
			send_ack(s, &tid, last, next);
			inwin = 0;
			continue;
		}
		last = b;
		gapped = 0;
		got += r - 4;
		if (fd >= 0 && write(fd, pkt + 4, r - 4) != r - 4) {
			perror(out);
			return 1;
		}
		int final = r - 4 < bsize;
		if (final || ++inwin == wsize) {
			if (next > 0 && !final)
				wsize = next = next * 2 < msft ? next * 2 : msft;
			pause_us(delay);
			send_ack(s, &tid, last, next);
			inwin = 0;
		}
		if (final)
			break;
	}
	if (fd >= 0)
		close(fd);
	if ((tsize >= 0 && got != tsize) || (want >= 0 && got != want)) {
		fprintf(stderr, "fwclient: %s: %lld bytes, tsize %lld, want %lld\n", file, got, tsize, want);
		return 1;
	}
	return 0;
}
