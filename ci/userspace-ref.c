/* ci/userspace-ref.c: the reference userspace UDP overlay forwarder of ci/userspace-ref.sh.
 *
 * One thread, one poll() over a TUN and a UDP socket, each fd drained until EAGAIN, 4 MiB
 * socket buffers, one read()+sendto() or recv()+write() per packet. Same wire format as
 * cnbench's flannel-udp: one inner IPv4 packet per UDP datagram, sent to the port of the peer
 * node whose pod block holds the destination. cnbench starts it in each node namespace in
 * place of its own daemon (`cnbench run -b flannel-udp --daemon-program PATH`), with
 *
 *   PATH NODE_IP PORT TUN MTU CPU|- BLOCK/LEN=PEER_IP...
 *
 * It creates the TUN (IFF_TUN|IFF_NO_PI), sets its MTU, brings it up, binds NODE_IP:PORT,
 * pins itself to CPU, prints `ready` and forwards until killed; cnbench then adds the pod
 * network's route into the TUN (the kernel deletes device and route when this process ends).
 * Build: cc -O2 -Wall -o userspace-ref ci/userspace-ref.c */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define SOCK_BUF (4 << 20)
#define MAX_PEERS 256

struct peer { uint32_t net, mask; struct sockaddr_in to; };
static struct peer peers[MAX_PEERS];
static int npeers;

static void die(const char *what)
{
	fprintf(stderr, "userspace-ref: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(const char *why)
{
	fprintf(stderr, "userspace-ref: %s\nusage: userspace-ref NODE_IP PORT TUN MTU CPU|- "
		"BLOCK/LEN=PEER_IP...\n", why);
	exit(2);
}

/* The socket's buffers: *FORCE ignores net.core.[rw]mem_max (root in its own netns may). */
static void buffer(int s, int force, int plain)
{
	int v = SOCK_BUF;
	if (setsockopt(s, SOL_SOCKET, force, &v, sizeof v) && setsockopt(s, SOL_SOCKET, plain, &v, sizeof v))
		die("setsockopt buffer");
}

int main(int argc, char **argv)
{
	struct sockaddr_in self = { .sin_family = AF_INET };
	struct ifreq ifr = { .ifr_flags = IFF_TUN | IFF_NO_PI };
	static char buf[65536];
	if (argc < 7)
		usage("missing arguments");
	self.sin_port = htons(atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &self.sin_addr) != 1 || !self.sin_port)
		usage("bad NODE_IP or PORT");
	for (int i = 6; i < argc; i++) {
		char net[32], ip[32];
		int len;
		struct peer *p = &peers[npeers];
		if (npeers == MAX_PEERS || sscanf(argv[i], "%31[0-9.]/%d=%31s", net, &len, ip) != 3 ||
		    len < 1 || len > 32 || inet_pton(AF_INET, net, &p->net) != 1 ||
		    inet_pton(AF_INET, ip, &p->to.sin_addr) != 1)
			usage("bad peer (BLOCK/LEN=PEER_IP)");
		p->mask = htonl(~0u << (32 - len));
		p->to.sin_family = AF_INET;
		p->to.sin_port = self.sin_port;
		npeers++;
	}
	if (strcmp(argv[5], "-")) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(atoi(argv[5]), &set);
		if (sched_setaffinity(0, sizeof set, &set))
			die("sched_setaffinity");
	}
	int tun = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	strncpy(ifr.ifr_name, argv[3], IFNAMSIZ - 1);
	if (tun < 0 || ioctl(tun, TUNSETIFF, &ifr))
		die("create the TUN");
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ifr.ifr_mtu = atoi(argv[4]);
	if (s < 0 || ioctl(s, SIOCSIFMTU, &ifr) || ioctl(s, SIOCGIFFLAGS, &ifr))
		die("set the TUN's MTU");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr))
		die("bring the TUN up");
	buffer(s, SO_RCVBUFFORCE, SO_RCVBUF);
	buffer(s, SO_SNDBUFFORCE, SO_SNDBUF);
	if (bind(s, (struct sockaddr *)&self, sizeof self))
		die("bind");
	if (printf("ready\n") < 0 || fflush(stdout))
		die("write ready");
	struct pollfd fds[2] = { { .fd = tun, .events = POLLIN }, { .fd = s, .events = POLLIN } };
	for (;;) {
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			die("poll");
		/* TUN -> UDP: one IPv4 packet per read, one datagram to the block's node. */
		for (ssize_t n; fds[0].revents && (n = read(tun, buf, sizeof buf)) != 0;) {
			if (n < 0 && errno == EAGAIN)
				break;
			if (n < 0 && errno != EINTR)
				die("read the TUN");
			if (n < 20 || (buf[0] >> 4) != 4)
				continue;
			uint32_t dst;
			memcpy(&dst, buf + 16, 4);
			for (int i = 0; i < npeers; i++)
				if ((dst & peers[i].mask) == peers[i].net) {
					/* A refused send (buffer full, peer unreachable) loses the packet. */
					sendto(s, buf, n, 0, (struct sockaddr *)&peers[i].to, sizeof peers[i].to);
					break;
				}
		}
		/* UDP -> TUN: one datagram per recv, one packet per write. */
		for (ssize_t n; fds[1].revents && (n = recv(s, buf, sizeof buf, 0)) != 0;) {
			if (n < 0 && errno == EAGAIN)
				break;
			if (n < 0)
				continue; /* EINTR, or an ICMP error queued for one datagram */
			if (n >= 20 && (buf[0] >> 4) == 4 && write(tun, buf, n) < 0)
				continue; /* the TUN refused it: lost */
		}
	}
}
